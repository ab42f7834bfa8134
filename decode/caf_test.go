package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestCAFDamaged checks the CAF files that must be refused, each with the
// reason, and the one liberty the format allows: a data chunk of unknown
// size (-1) runs to the end of the file.
func TestCAFDamaged(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(fixtures + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pcm, alac := read("caf_s16_stereo_44k.caf"), read("alac_s16_stereo_44k.caf")
	// edit returns a copy of b with the 4-byte chunk type old (the first
	// one) changed by fn.
	edit := func(b []byte, old string, fn func(b []byte, at int)) []byte {
		b = bytes.Clone(b)
		at := bytes.Index(b, []byte(old))
		if at < 0 {
			t.Fatalf("no %q chunk", old)
		}
		fn(b, at)
		return b
	}
	rename := func(b []byte, old, typ string) []byte {
		return edit(b, old, func(b []byte, at int) { copy(b[at:], typ) })
	}
	dataAt := bytes.Index(pcm, []byte("data"))
	if dataAt < 0 || int64(binary.BigEndian.Uint64(pcm[dataAt+4:]))+int64(dataAt)+12 != int64(len(pcm)) {
		t.Fatal("the PCM fixture's data chunk is not the last")
	}
	unknownSize := edit(pcm, "data", func(b []byte, at int) { binary.BigEndian.PutUint64(b[at+4:], 1<<64-1) })
	// ffmpeg writes the packet table after the data; a recorder that
	// leaves the data's size unknown must write it before.
	d, p := bytes.Index(alac, []byte("data")), bytes.Index(alac, []byte("pakt"))
	if d < 0 || p < d {
		t.Fatal("the ALAC fixture's packet table does not follow its data")
	}
	openALAC := slices.Concat(alac[:d], alac[p:], alac[d:p])
	binary.BigEndian.PutUint64(openALAC[d+len(alac)-p+4:], 1<<64-1)
	want, err := Bytes(context.Background(), "whole.caf", pcm, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Bytes(context.Background(), "open.caf", unknownSize, Options{})
	if err != nil || got.Frames() != want.Frames() {
		t.Errorf("data size -1: %v, %d frames; want %d", err, got.Frames(), want.Frames())
	}

	for _, c := range []struct {
		name string
		data []byte
		want error
		says string
	}{
		{"cut in the data", pcm[:len(pcm)-1000], ErrCorrupt, "corrupt or truncated: the CAF data chunk claims"},
		{"no description first", rename(pcm, "desc", "free"), ErrCorrupt, "does not start with its stream description"},
		{"no data", rename(pcm, "data", "free"), ErrEmpty, "no audio data"},
		{"version 2", edit(pcm, "caff", func(b []byte, at int) { b[at+5] = 2 }), ErrUnsupported, "CAF version 2"},
		{"ALAC without packet table", rename(alac, "pakt", "free"), ErrCorrupt, "no packet table"},
		{"ALAC without cookie", rename(alac, "kuki", "free"), ErrCorrupt, "ALAC decoder config of 0 bytes"},
		{"ALAC cut", alac[:len(alac)-3000], ErrCorrupt, "the CAF data chunk claims"},
		{"ALAC of unknown size cut", openALAC[:len(openALAC)-3000], ErrCorrupt, "runs past the end of the CAF data"},
	} {
		_, err := Bytes(context.Background(), "bad.caf", c.data, Options{})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "bad.caf") {
			t.Errorf("%s: %v; want %v saying %q and naming the file", c.name, err, c.want, c.says)
		}
	}
}

// cafChunk returns a CAF chunk: type, 64-bit size, body.
func cafChunk(typ string, body []byte) []byte {
	return slices.Concat([]byte(typ), binary.BigEndian.AppendUint64(nil, uint64(len(body))), body)
}

// alacCookie returns the 24-byte ALACSpecificConfig of cfg.
func alacCookie(cfg alacConfig) []byte {
	be := binary.BigEndian
	b := be.AppendUint32(nil, cfg.frameLength)
	b = append(b, 0, byte(cfg.bitDepth), byte(cfg.pb), byte(cfg.mb), byte(cfg.kb), byte(cfg.channels))
	b = be.AppendUint16(b, 255) // maxRun
	b = be.AppendUint32(b, 0)   // maxFrameBytes
	b = be.AppendUint32(b, 0)   // avgBitRate
	return be.AppendUint32(b, cfg.rate)
}

// cafALACFile returns a CAF file of the ALAC frames in packets, with the
// packet table's valid and priming frame counts and the cookie as given.
func cafALACFile(cfg alacConfig, cookie []byte, packets [][]byte, valid int64, priming int32) []byte {
	be := binary.BigEndian
	desc := be.AppendUint64(nil, math.Float64bits(float64(cfg.rate)))
	desc = append(desc, "alac"...)
	desc = be.AppendUint32(desc, 0)
	desc = be.AppendUint32(desc, 0)
	desc = be.AppendUint32(desc, cfg.frameLength)
	desc = be.AppendUint32(desc, uint32(cfg.channels))
	desc = be.AppendUint32(desc, 0)
	pakt := be.AppendUint64(nil, uint64(len(packets)))
	pakt = be.AppendUint64(pakt, uint64(valid))
	pakt = be.AppendUint32(pakt, uint32(priming))
	pakt = be.AppendUint32(pakt, 0)
	data := []byte{0, 0, 0, 0} // edit count
	for _, p := range packets {
		n := len(p)
		var v []byte
		for first := true; first || n > 0; first = false {
			b := byte(n & 0x7f)
			if !first {
				b |= 0x80
			}
			v = append([]byte{b}, v...)
			n >>= 7
		}
		pakt = append(pakt, v...)
		data = append(data, p...)
	}
	return slices.Concat([]byte("caff\x00\x01\x00\x00"), cafChunk("desc", desc), cafChunk("kuki", cookie),
		cafChunk("pakt", pakt), cafChunk("data", data))
}

// silentALAC returns n ALAC frames of digital silence, frameLength
// samples of each of cfg's channels: a dozen bytes each, as zeros go as
// one run.
func silentALAC(cfg alacConfig, n int) [][]byte {
	var e alacElement
	for range cfg.channels {
		e.chans = append(e.chans, alacChannel{pbFactor: 4, resid: make([]int32, cfg.frameLength)})
	}
	w := &bitWriter{}
	compressedElement(w, cfg, e)
	w.put(alacEND, 3)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = w.b
	}
	return frames
}

// TestCAFALACAllocation checks that a packet table cannot make the
// decoder allocate for samples it will never return: the priming frames
// it drops, or valid frames far beyond what the packets could hold. The
// packets are silence, a dozen bytes for 4096 samples, which fill any
// room allocated in proportion to the file's size.
func TestCAFALACAllocation(t *testing.T) {
	cfg := testALACConfig
	packets := silentALAC(cfg, 500)
	n := int64(len(packets)) * int64(cfg.frameLength)
	for _, c := range []struct {
		name       string
		valid      int64
		priming    int32
		wantErr    error
		wantFrames int64
	}{
		{"priming past the audio", 4096, 1 << 28, ErrEmpty, 0},
		{"priming", 0, int32(n - 4096), nil, 4096},
		{"valid frames beyond the packets", 1 << 28, 0, nil, n},
	} {
		data := cafALACFile(cfg, alacCookie(cfg), packets, c.valid, c.priming)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a, err := Bytes(context.Background(), "silence.caf", data, Options{})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, c.wantErr) || err == nil && int64(a.Frames()) != c.wantFrames {
			t.Errorf("%s: %v, want %v and %d frames", c.name, err, c.wantErr, c.wantFrames)
		}
		// The bound fuzzDecode holds every input to, for the 8 MB of
		// samples decoded (whether or not they are kept).
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20+uint64(len(data))*64+uint64(n)*4*3 {
			t.Errorf("%s: allocated %d MB for %d KB of file and %d samples", c.name, alloc>>20, len(data)>>10, n)
		}
	}
}

// TestCAFZeroFilled checks a CAF file whose description is followed by
// zeros (space reserved by a recorder that never wrote it) is refused at
// little cost, though every 12 zero bytes read as an empty chunk: 64 MB
// of them cost a read of the file per chunk, seconds in all.
func TestCAFZeroFilled(t *testing.T) {
	pcm, err := os.ReadFile(fixtures + "caf_s16_stereo_44k.caf")
	if err != nil {
		t.Fatal(err)
	}
	head := pcm[:8+12+32] // the file header and the desc chunk
	if string(head[8:12]) != "desc" {
		t.Fatal("the fixture does not start with its desc chunk")
	}
	r := &countReads{r: padded{head, 64 << 20, zeros}}
	_, err = named("zeros.caf")(decode(context.Background(), r, 64<<20, Options{}))
	if !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), "zeros.caf") {
		t.Errorf("%v, want ErrEmpty naming the file", err)
	}
	// 64 MB in reads of 64 KB: 1024.
	if r.reads > 2000 {
		t.Errorf("%d reads of the file to refuse it", r.reads)
	}
}

// TestCAFAACMatchesM4A checks that AAC frames rewrapped from an M4A file
// into CAF, the edit list's priming and length become the packet table's,
// decode to exactly the M4A's samples.
func TestCAFAACMatchesM4A(t *testing.T) {
	m4a, err := File(context.Background(), fixtures+"aac_stereo_44k.m4a", Options{})
	if err != nil {
		t.Fatal(err)
	}
	caf, err := File(context.Background(), fixtures+"aac_stereo_44k.caf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if caf.Format != AAC || caf.Rate != m4a.Rate || len(caf.Channels) != len(m4a.Channels) {
		t.Fatalf("CAF: %s %d Hz %d channels; M4A: %d Hz %d channels", caf.Format, caf.Rate, len(caf.Channels), m4a.Rate, len(m4a.Channels))
	}
	for c := range m4a.Channels {
		if !slices.Equal(caf.Channels[c], m4a.Channels[c]) {
			t.Errorf("channel %d: %d samples differ from the M4A's %d", c, len(caf.Channels[c]), len(m4a.Channels[c]))
		}
	}
	if caf.Frames() != 26460 {
		t.Errorf("%d frames, the packet table keeps 26460", caf.Frames())
	}
}

// TestCAFLowRate checks that a CAF file at a rate below what songflow
// analyses is refused as other formats are: unsupported, naming the rate.
func TestCAFLowRate(t *testing.T) {
	b, err := os.ReadFile(fixtures + "caf_s8_mono_8k.caf")
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, []byte("desc")) + 12
	b = bytes.Clone(b)
	binary.BigEndian.PutUint64(b[at:], math.Float64bits(999))
	_, err = Bytes(context.Background(), "slow.caf", b, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "CAF sample rate 999 Hz") {
		t.Errorf("%v, want ErrUnsupported saying CAF sample rate 999 Hz", err)
	}
}
