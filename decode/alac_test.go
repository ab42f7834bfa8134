package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
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
		{"nine channels", set(9, 9), ErrCorrupt},
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

// putRice writes n with the Golomb–Rice code bitReader.rice reads:
// parameter k, modulus m, escaped to escBits bits when the quotient needs
// nine or more prefix bits.
func putRice(w *bitWriter, n, k, m uint32, escBits int) {
	q := n
	if k > 1 {
		q = n / m
	}
	if q >= 9 {
		w.put(1<<9-1, 9)
		w.put(n, escBits)
		return
	}
	w.put(1<<q-1, int(q))
	w.put(0, 1)
	if k <= 1 {
		return
	}
	if r := n % m; r == 0 {
		w.put(0, int(k)-1) // the reader's peek sees a value below 2
	} else {
		w.put(r+1, int(k))
	}
}

// putResiduals codes one channel's residuals as riceDecode reads them:
// the test's own encoder, so that frames can use what ffmpeg's encoder
// never writes. It tracks the same running mean, and sends runs of zeros
// as counts whenever the mean falls low enough.
func putResiduals(w *bitWriter, res []int32, mb, pb, kb uint32, maxBits int) {
	fold := func(v int32) uint32 {
		if v < 0 {
			return uint32(-2*int64(v) - 1)
		}
		return uint32(2 * v)
	}
	mean, zmode := mb, uint32(0)
	for c := 0; c < len(res); {
		k := min(uint32(31-bits.LeadingZeros32(mean/512+3)), kb)
		n := fold(res[c]) - zmode // after a short run the next value is not zero
		putRice(w, n, k, 1<<k-1, maxBits)
		c++
		mean += pb*(n+zmode) - pb*mean/512
		if n > 0xffff {
			mean = 0xffff
		}
		zmode = 0
		if mean*4 < 512 && c < len(res) {
			k := uint32(bits.LeadingZeros32(mean)) - 24 + (mean+16)/64
			run := uint32(0)
			for c+int(run) < len(res) && res[c+int(run)] == 0 && run < 65535 {
				run++
			}
			putRice(w, run, k, (1<<k-1)&(1<<kb-1), 16)
			c += int(run)
			if run < 65535 {
				zmode = 1
			}
			mean = 0
		}
	}
}

// alacChannel is one channel of a compressed element: its predictor and
// the residuals coded for it.
type alacChannel struct {
	mode, denShift, pbFactor uint32
	coefs                    []int16
	resid                    []int32
}

// alacElement describes a compressed SCE (one channel) or CPE (two).
type alacElement struct {
	partial    bool
	shiftBytes int
	mixBits    uint32
	mixRes     int8
	chans      []alacChannel
	shifted    [][]uint32 // per channel, the low bytes shifted out
}

// compressedElement writes e as the element header and the residuals of
// each channel, the low bytes shifted out between them.
func compressedElement(w *bitWriter, cfg alacConfig, e alacElement) {
	k := len(e.chans)
	n := len(e.chans[0].resid)
	tag := uint32(alacSCE)
	if k == 2 {
		tag = alacCPE
	}
	w.put(tag, 3)
	w.put(0, 4) // instance
	w.put(0, 12)
	partial := uint32(0)
	if e.partial {
		partial = 1
	}
	w.put(partial, 1)
	w.put(uint32(e.shiftBytes), 2)
	w.put(0, 1) // compressed
	if e.partial {
		w.put(uint32(n), 32)
	}
	w.put(e.mixBits, 8)
	w.put(uint32(uint8(e.mixRes)), 8)
	for _, c := range e.chans {
		w.put(c.mode, 4)
		w.put(c.denShift, 4)
		w.put(c.pbFactor, 3)
		w.put(uint32(len(c.coefs)), 5)
		for _, v := range c.coefs {
			w.put(uint32(uint16(v)), 16)
		}
	}
	for i := range n * min(e.shiftBytes, 1) {
		for c := range k {
			w.put(e.shifted[c][i], 8*e.shiftBytes)
		}
	}
	chanBits := cfg.bitDepth - 8*e.shiftBytes + k - 1
	for _, c := range e.chans {
		putResiduals(w, c.resid, cfg.mb, cfg.pb*c.pbFactor/4, cfg.kb, chanBits)
	}
}

// TestALACKeepsDepth checks samples whose matrix or shifted-in bytes give
// more bits than the stream's depth, as only damaged data does: the
// reference decoder and ffmpeg store each sample in bitDepth bits, keeping
// the low ones, so the samples stay within full scale.
func TestALACKeepsDepth(t *testing.T) {
	for _, c := range []struct {
		name  string
		depth int
		e     alacElement
		want  [2]int32 // first sample of each channel, as the reference gives it
	}{
		// l = 32767 + 32767 − (32767 >> 7) = 65279, kept as −257.
		{"16-bit pair", 16, alacElement{mixBits: 7, mixRes: 1, chans: []alacChannel{
			{resid: []int32{32767}}, {resid: []int32{32767}}}}, [2]int32{-257, 32512}},
		// With a byte shifted out, 17 bits remain per channel: −65536
		// and 65535 shifted left by 8 need 25 bits, kept as 0 and −256 | 0xab.
		{"24-bit pair with a byte shifted", 24, alacElement{shiftBytes: 1, chans: []alacChannel{
			{resid: []int32{-65536}}, {resid: []int32{65535}}}, shifted: [][]uint32{{0}, {0xab}}},
			[2]int32{0, -256 | 0xab}},
	} {
		cfg := testALACConfig
		cfg.bitDepth, cfg.channels = c.depth, 2
		c.e.partial = true
		w := &bitWriter{}
		compressedElement(w, cfg, c.e)
		w.put(alacEND, 3)
		out, err := newALACDecoder(cfg).decode(w.b, make([][]float32, 2), 0)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		scale := float32(int64(1) << (c.depth - 1))
		for ch := range 2 {
			if got := out[ch][0] * scale; got != float32(c.want[ch]) {
				t.Errorf("%s: channel %d: %g, want %d", c.name, ch, got, c.want[ch])
			}
		}
	}
}

// TestALACRateRefused checks the sample rates an ALAC track's decoder
// config may not claim: beyond any audio's, refused as damaged as every
// other format's is, rather than returned as a song of a few
// microseconds; and below what songflow analyses, refused as unsupported,
// naming the codec the MP4 file holds rather than the container's AAC.
func TestALACRateRefused(t *testing.T) {
	b, err := os.ReadFile(fixtures + "alac_s16_mono_22k.m4a")
	if err != nil {
		t.Fatal(err)
	}
	// The cookie box: size, 'alac', version and flags, then the config,
	// whose last four bytes are the rate.
	at := bytes.LastIndex(b, []byte("alac")) + 4 + 4 + 20
	if at < 28 || binary.BigEndian.Uint32(b[at:]) != 22050 {
		t.Fatal("no ALAC cookie with the rate 22050 in the fixture")
	}
	for _, c := range []struct {
		rate uint32
		want error
		says string
	}{
		{768001, ErrCorrupt, "768001"},
		{1 << 31, ErrCorrupt, "2147483648"},
		{1<<32 - 1, ErrCorrupt, "4294967295"},
		{999, ErrUnsupported, "ALAC sample rate 999 Hz, outside the 1000–768000 Hz"},
	} {
		data := bytes.Clone(b)
		binary.BigEndian.PutUint32(data[at:], c.rate)
		_, err := Bytes(context.Background(), "rate.m4a", data, Options{})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("rate %d: %v, want %v saying %q", c.rate, err, c.want, c.says)
		}
	}
}

// TestALACCompressedElements checks compressed elements with what
// ffmpeg's encoder never writes, and so the fixtures never hold: 20- and
// 32-bit samples, bytes shifted out of a mono channel and of a 32-bit
// pair, the prediction mode that first integrates the residuals, orders 0
// and 31 given explicitly (31 with its coefficients, read and ignored),
// escaped residuals of the channel's full width, and runs of zeros, one
// of them the longest a frame may hold. Orders 0 and 31 predict nothing
// beyond sums, so the test can work out the samples itself.
func TestALACCompressedElements(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// residuals mixes small values, zeros in runs and values of the
	// channel's full width, which the coder escapes.
	residuals := func(n, chanBits int) []int32 {
		r := make([]int32, n)
		for i := 0; i < n; i++ {
			switch rng.IntN(8) {
			case 0:
				i += rng.IntN(200)
			case 1:
				r[i] = int32(rng.Uint32()) >> (32 - chanBits)
			default:
				r[i] = int32(rng.IntN(64)) - 32
			}
		}
		return r
	}
	// samples is what the decoder must make of a channel's residuals.
	samples := func(c alacChannel, chanBits int) []int32 {
		ext := func(v int32) int32 { return v << (32 - chanBits) >> (32 - chanBits) }
		integrate := func(in []int32) []int32 {
			out := slices.Clone(in)
			for j := 1; j < len(out); j++ {
				out[j] = ext(out[j] + out[j-1])
			}
			return out
		}
		out := slices.Clone(c.resid)
		if c.mode != 0 {
			out = integrate(out)
		}
		if len(c.coefs) == 31 {
			out = integrate(out)
		}
		return out
	}
	coefs31 := make([]int16, 31)
	for i := range coefs31 {
		coefs31[i] = int16(rng.Uint32())
	}
	for _, c := range []struct {
		name        string
		depth       int
		frameLength uint32
		e           alacElement
	}{
		{"20-bit mono", 20, 4096, alacElement{chans: []alacChannel{{pbFactor: 4}}}},
		{"20-bit pair, mixed", 20, 4096, alacElement{mixBits: 2, mixRes: 3, chans: []alacChannel{
			{mode: 15, pbFactor: 4}, {pbFactor: 2, coefs: coefs31}}}},
		{"32-bit mono, 2 bytes shifted", 32, 4096, alacElement{shiftBytes: 2, chans: []alacChannel{
			{mode: 15, pbFactor: 4, coefs: coefs31}}}},
		{"32-bit pair, 2 bytes shifted, mixed", 32, 4096, alacElement{shiftBytes: 2, mixBits: 2, mixRes: 2,
			chans: []alacChannel{{pbFactor: 4}, {mode: 1, pbFactor: 7}}}},
		{"32-bit mono, nothing shifted", 32, 1000, alacElement{partial: true, chans: []alacChannel{{pbFactor: 4}}}},
		{"24-bit mono, a byte shifted", 24, 4096, alacElement{shiftBytes: 1, chans: []alacChannel{{pbFactor: 4}}}},
		// The longest frame, nearly all one run of zeros, whose count
		// only the escape to 16 bits can give.
		{"16-bit mono, a long run", 16, 1 << 16, alacElement{chans: []alacChannel{{pbFactor: 4}}}},
	} {
		cfg := testALACConfig
		cfg.bitDepth, cfg.channels, cfg.frameLength = c.depth, len(c.e.chans), c.frameLength
		k := len(c.e.chans)
		chanBits := c.depth - 8*c.e.shiftBytes + k - 1
		n := int(c.frameLength)
		if c.e.partial {
			n = 777
		}
		want := make([][]int32, k)
		for ch := range c.e.chans {
			if c.frameLength == 1<<16 {
				c.e.chans[ch].resid = make([]int32, n) // zeros, then one sample of each sign
				c.e.chans[ch].resid[n-2], c.e.chans[ch].resid[n-1] = 5, -5
			} else {
				c.e.chans[ch].resid = residuals(n, chanBits)
			}
			want[ch] = samples(c.e.chans[ch], chanBits)
		}
		if k == 2 && c.e.mixRes != 0 {
			for i := range n {
				u, v := want[0][i], want[1][i]
				l := u + v - int32(c.e.mixRes)*v>>c.e.mixBits
				want[0][i], want[1][i] = l, l-v
			}
		}
		if c.e.shiftBytes > 0 {
			c.e.shifted = make([][]uint32, k)
			for ch := range k {
				for i := range n {
					low := rng.Uint32() & (1<<(8*c.e.shiftBytes) - 1)
					c.e.shifted[ch] = append(c.e.shifted[ch], low)
					want[ch][i] = want[ch][i]<<(8*c.e.shiftBytes) | int32(low)
				}
			}
		}
		w := &bitWriter{}
		compressedElement(w, cfg, c.e)
		w.put(alacEND, 3)
		out, err := newALACDecoder(cfg).decode(w.b, make([][]float32, k), 0)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		scale := 1 / float32(int64(1)<<(c.depth-1))
		for ch := range k {
			if len(out[ch]) != n {
				t.Errorf("%s: channel %d has %d samples, want %d", c.name, ch, len(out[ch]), n)
				continue
			}
			for i, v := range want[ch] {
				v = v << (32 - c.depth) >> (32 - c.depth)
				if out[ch][i] != float32(v)*scale {
					t.Errorf("%s: channel %d sample %d: %g, want %d", c.name, ch, i, out[ch][i]/scale, v)
					break
				}
			}
		}
	}
}

// TestALACEditListSkips checks the samples an edit list skips are
// dropped, and the ones after them kept, up to the edit's length: the
// fixtures' edit lists skip nothing.
func TestALACEditListSkips(t *testing.T) {
	b, err := os.ReadFile(fixtures + "alac_s16_mono_22k.m4a")
	if err != nil {
		t.Fatal(err)
	}
	// elst: version and flags, one entry: 300 ms of the movie from media
	// time 0, which becomes 5000 (of 22050 a second).
	at := bytes.Index(b, []byte("elst")) + 4
	if at < 4 || binary.BigEndian.Uint32(b[at+4:]) != 1 || binary.BigEndian.Uint32(b[at+12:]) != 0 {
		t.Fatal("the fixture's edit list is not one edit from media time 0")
	}
	data := bytes.Clone(b)
	binary.BigEndian.PutUint32(data[at+12:], 5000)
	ref := readRef(t, "alac_s16_mono_22k.m4a", false)
	for _, opts := range []Options{{}, {MaxSeconds: 0.01}} {
		a, err := Bytes(context.Background(), "edit.m4a", data, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := ref[5000:]
		if opts.MaxSeconds > 0 {
			want = want[:221] // ⌈0.01 × 22050⌉
		}
		if !slices.Equal(a.Channels[0], want) {
			t.Errorf("%+v: %d samples, want the reference's %d after its first 5000", opts, a.Frames(), len(want))
		}
	}
}

// TestALACVerbatimWide checks verbatim elements of 20 and 32 bits, which
// ffmpeg's encoder never writes (and its decoder refuses for a 32-bit
// pair): each sample read whole, sign-extended, scaled by its depth.
func TestALACVerbatimWide(t *testing.T) {
	for _, c := range []struct {
		depth   int
		samples [][]int32
	}{
		{20, [][]int32{{-1 << 19, 1<<19 - 1, -1, 0, 12345}}},
		{32, [][]int32{{math.MinInt32, math.MaxInt32, -1}, {1, math.MinInt32 + 1, -123456789}}},
	} {
		cfg := testALACConfig
		cfg.bitDepth, cfg.channels = c.depth, len(c.samples)
		w := &bitWriter{}
		verbatimElement(w, c.depth, c.samples...)
		w.put(alacEND, 3)
		out, err := newALACDecoder(cfg).decode(w.b, make([][]float32, cfg.channels), 0)
		if err != nil {
			t.Fatalf("%d bits: %v", c.depth, err)
		}
		scale := 1 / float32(int64(1)<<(c.depth-1))
		for ch, want := range c.samples {
			for i, v := range want {
				if out[ch][i] != float32(v)*scale {
					t.Errorf("%d bits, channel %d sample %d: %g, want %g", c.depth, ch, i, out[ch][i], float32(v)*scale)
				}
			}
		}
	}
}

// TestALACSixPointOneOrder checks that a 7-channel frame, coded as Apple's
// 6.1 layout (C L R Ls Rs Cs LFE: an SCE, two CPEs, an SCE and the LFE),
// comes out in the WAVE order of 6.1 that FLAC and WAV give and loudness
// weighting expects: L R C LFE Cs Ls Rs, the back centre before the
// surround pair. ffmpeg keeps Cs last (its 6.1(back) layout), which would
// weigh the left surround as a front channel and the back centre as a
// surround one.
func TestALACSixPointOneOrder(t *testing.T) {
	cfg := testALACConfig
	cfg.channels = 7
	// One sample per channel, each naming its channel.
	const c, l, r, ls, rs, cs, lfe = 100, 200, 300, 400, 500, 600, 700
	w := &bitWriter{}
	verbatimElement(w, 16, []int32{c})
	verbatimElement(w, 16, []int32{l}, []int32{r})
	verbatimElement(w, 16, []int32{ls}, []int32{rs})
	verbatimElement(w, 16, []int32{cs})
	verbatimElement(w, 16, []int32{lfe}) // an LFE element decodes as an SCE
	w.put(alacEND, 3)
	out, err := newALACDecoder(cfg).decode(w.b, make([][]float32, cfg.channels), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{l, r, c, lfe, cs, ls, rs}
	for i, v := range want {
		if len(out[i]) != 1 || out[i][0] != float32(v)/(1<<15) {
			t.Errorf("channel %d holds %v, want [%g]", i, out[i], float32(v)/(1<<15))
		}
	}
}
