package decode

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// bitWriter writes big-endian bit fields, the inverse of bitReader.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) put(v uint32, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 != 0 {
			w.b[len(w.b)-1] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
}

func (w *bitWriter) align() {
	for w.n%8 != 0 {
		w.put(0, 1)
	}
}

// verbatimElement writes an SCE or CPE header saying the samples follow
// as they are, a partial frame of len(samples[0]) samples, then the
// samples, interleaved.
func verbatimElement(w *bitWriter, depth int, samples ...[]int32) {
	tag := uint32(alacSCE)
	if len(samples) == 2 {
		tag = alacCPE
	}
	w.put(tag, 3)
	w.put(0, 4)                        // instance
	w.put(0, 12)                       // reserved
	w.put(1, 1)                        // partial frame
	w.put(0, 2)                        // no shifted bytes
	w.put(1, 1)                        // verbatim
	w.put(uint32(len(samples[0])), 32) // samples in this frame
	for i := range samples[0] {
		for _, s := range samples {
			w.put(uint32(s[i])&(1<<depth-1), depth)
		}
	}
}

var testALACConfig = alacConfig{frameLength: 4096, bitDepth: 16, pb: 40, mb: 10, kb: 14, channels: 1, rate: 44100}

// TestALACSkipsDataAndFill checks that fill and data stream elements,
// which carry no audio, are skipped, byte-aligned or not, and that a
// verbatim partial frame decodes to its samples.
func TestALACSkipsDataAndFill(t *testing.T) {
	w := &bitWriter{}
	w.put(alacFIL, 3)
	w.put(2, 4) // two bytes of fill
	w.put(0xabcd, 16)
	w.put(alacDSE, 3)
	w.put(0, 4) // instance
	w.put(1, 1) // byte-aligned
	w.put(3, 8) // three bytes
	w.align()
	w.put(0x010203, 24)
	want := []int32{1000, -2, 32767, -32768}
	verbatimElement(w, 16, want)
	w.put(alacEND, 3)
	w.align()

	d := newALACDecoder(testALACConfig)
	out, err := d.decode(w.b, make([][]float32, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out[0]) != len(want) {
		t.Fatalf("%d samples, want %d", len(out[0]), len(want))
	}
	for i, v := range want {
		if got := out[0][i]; got != float32(v)/32768 {
			t.Errorf("sample %d: %g, want %g", i, got, float32(v)/32768)
		}
	}
}

// TestALACVerbatimPair24 checks a channel pair of 24-bit samples stored
// verbatim: interleaved, sign-extended from 24 bits.
func TestALACVerbatimPair24(t *testing.T) {
	cfg := testALACConfig
	cfg.bitDepth, cfg.channels = 24, 2
	left, right := []int32{-8388608, 5, 8388607}, []int32{7, -1, 0}
	w := &bitWriter{}
	verbatimElement(w, 24, left, right)
	w.put(alacEND, 3)
	out, err := newALACDecoder(cfg).decode(w.b, make([][]float32, 2), 0)
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range [][]int32{left, right} {
		for i, v := range want {
			if got := out[c][i]; got != float32(v)/(1<<23) {
				t.Errorf("channel %d sample %d: %g, want %g", c, i, got, float32(v)/(1<<23))
			}
		}
	}
}

// TestALACPredictorSpecialOrders checks the two orders the FIR loop does
// not run: 0 passes residuals through, 31 integrates them (a first-order
// predictor), wrapping at the channel's width as the encoder's did.
func TestALACPredictorSpecialOrders(t *testing.T) {
	in := []int32{5, 3, -10, 32767, 1}
	out := make([]int32, len(in))
	unpredict(in, out, nil, 0, 16, 0)
	if !slices.Equal(out, in) {
		t.Errorf("order 0: %v, want %v", out, in)
	}
	unpredict(in, out, nil, 31, 16, 0)
	// 5, 8, -2, 32765, then 32766 stays inside 16 bits.
	if want := []int32{5, 8, -2, 32765, 32766}; !slices.Equal(out, want) {
		t.Errorf("order 31: %v, want %v", out, want)
	}
	in[4] = 10 // 32765 + 10 wraps to -32761 in 16 bits
	unpredict(in, in, nil, 31, 16, 0)
	if in[4] != -32761 {
		t.Errorf("order 31 in place: last sample %d, want -32761", in[4])
	}
}

// TestALACDamagedFrames checks that frames that cannot be right give
// errors rather than samples: cut short, more channels than configured,
// reserved bits set, an element type ALAC never uses.
func TestALACDamagedFrames(t *testing.T) {
	good := &bitWriter{}
	verbatimElement(good, 16, []int32{1, 2, 3, 4, 5, 6, 7, 8})
	good.put(alacEND, 3)

	pair := &bitWriter{}
	verbatimElement(pair, 16, []int32{1}, []int32{2})

	reserved := &bitWriter{}
	reserved.put(alacSCE, 3)
	reserved.put(0, 4)
	reserved.put(1, 12)

	coupling := &bitWriter{}
	coupling.put(alacCCE, 3)

	for _, c := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"cut short", good.b[:len(good.b)-6], "ends early"},
		{"empty", nil, "ends early"},
		{"pair in a mono stream", pair.b, "more channels"},
		{"reserved bits", reserved.b, "reserved"},
		{"coupling element", coupling.b, "element type 2"},
	} {
		_, err := newALACDecoder(testALACConfig).decode(c.frame, make([][]float32, 1), 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}

// TestALACConfigRefused checks the decoder configs refused before any
// frame is read.
func TestALACConfigRefused(t *testing.T) {
	good := []byte{0, 0, 16, 0, 0, 16, 40, 10, 14, 2, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xac, 0x44}
	if _, err := parseALACConfig(good); err != nil {
		t.Fatalf("a stereo 16-bit config: %v", err)
	}
	set := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", good[:20], ErrCorrupt},
		{"bit depth 12", set(5, 12), ErrCorrupt},
		{"no channels", set(9, 0), ErrCorrupt},
		{"six channels", set(9, 6), ErrUnsupported},
		{"frame length 0", slices.Concat([]byte{0, 0, 0, 0}, good[4:]), ErrCorrupt},
		{"version 1", set(4, 1), ErrUnsupported},
	} {
		if _, err := parseALACConfig(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestALACTruncated checks that an ALAC file whose media data was cut
// short, with its movie box (which ffmpeg writes last) kept, is refused
// as corrupt or truncated, never returned as a shorter song.
func TestALACTruncated(t *testing.T) {
	b, err := os.ReadFile(fixtures + "alac_s16_stereo_44k.m4a")
	if err != nil {
		t.Fatal(err)
	}
	mdat := bytes.Index(b, []byte("mdat")) + 4
	moov := bytes.Index(b, []byte("moov")) - 4
	if mdat < 4 || moov < mdat {
		t.Fatalf("fixture layout: mdat at %d, moov at %d", mdat, moov)
	}
	for _, cut := range []int{mdat + 100, (mdat + moov) / 2} {
		data := slices.Concat(b[:cut], b[moov:])
		_, err := Bytes(context.Background(), "cut.m4a", data, Options{})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cut.m4a") {
			t.Errorf("cut at byte %d of %d: %v, want ErrCorrupt naming the file", cut, moov, err)
		}
	}
}
