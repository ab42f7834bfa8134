package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/songflow/songflow/dsp"
)

// Apple Lossless (ALAC), as specified by Apple's open-source reference
// codec (2011): per channel an adaptive FIR predictor whose residuals are
// coded with an adaptive Golomb–Rice code, stereo decorrelated by a
// weighted mid/side matrix.

// alacConfig is the ALACSpecificConfig of an 'alac' sample entry (its
// "magic cookie").
type alacConfig struct {
	frameLength uint32 // samples per channel in a full frame
	bitDepth    int
	pb, mb, kb  uint32 // adaptive Golomb parameters
	channels    int
	rate        uint32
}

// alacMaxChannels is the most channels an ALAC stream has.
const alacMaxChannels = 8

// alacPair is the most channels one element (a channel pair) codes.
const alacPair = 2

// alacPlaces gives, for a stream of n channels, the WAVE position (L R C
// LFE, then the surround pairs) of each channel in the order the frame's
// elements code them: centre first, then the pairs, the LFE last, as
// Apple's ALAC channel layouts define them (3: C L R; 4: C L R Cs; 5:
// C L R Ls Rs; 6: adds LFE; 7: C L R Ls Rs Cs LFE; 8: C Lc Rc L R Ls Rs
// LFE). 6.1 comes out as WAVE's, FLAC's and loudness weighting's 6.1,
// L R C LFE Cs Ls Rs, the back centre before the surround pair (ffmpeg
// keeps it last, in its 6.1(back) layout).
var alacPlaces = [alacMaxChannels][]int{
	{0},
	{0, 1},
	{2, 0, 1},
	{2, 0, 1, 3},
	{2, 0, 1, 3, 4},
	{2, 0, 1, 4, 5, 3},
	{2, 0, 1, 5, 6, 4, 3},
	{2, 6, 7, 0, 1, 4, 5, 3},
}

// parseALACConfig reads the 24-byte ALACSpecificConfig.
func parseALACConfig(b []byte) (alacConfig, error) {
	if len(b) < 24 {
		return alacConfig{}, fmt.Errorf("%w: ALAC decoder config of %d bytes, want 24", ErrCorrupt, len(b))
	}
	be := binary.BigEndian
	c := alacConfig{
		frameLength: be.Uint32(b),
		bitDepth:    int(b[5]),
		pb:          uint32(b[6]),
		mb:          uint32(b[7]),
		kb:          uint32(b[8]),
		channels:    int(b[9]),
		rate:        be.Uint32(b[20:]),
	}
	switch {
	case b[4] != 0:
		return c, unsupported("ALAC version %d is not supported", b[4])
	case c.bitDepth != 16 && c.bitDepth != 20 && c.bitDepth != 24 && c.bitDepth != 32:
		return c, fmt.Errorf("%w: ALAC bit depth %d", ErrCorrupt, c.bitDepth)
	case c.channels == 0:
		return c, fmt.Errorf("%w: ALAC config with no channels", ErrCorrupt)
	case c.channels > alacMaxChannels:
		return c, fmt.Errorf("%w: ALAC config with %d channels, at most %d", ErrCorrupt, c.channels, alacMaxChannels)
	case c.frameLength == 0 || c.frameLength > 1<<16:
		// The reference encoder writes 4096; a larger claim would only
		// make the decoder allocate.
		return c, fmt.Errorf("%w: ALAC frame length %d", ErrCorrupt, c.frameLength)
	case c.kb > 31:
		return c, fmt.Errorf("%w: ALAC Rice limit kb %d", ErrCorrupt, c.kb)
	}
	return c, nil
}

// decodeALACTrack decodes an MP4 track of ALAC frames, one frame per
// sample.
func decodeALACTrack(in *input, tr *mp4Track) (*Audio, error) {
	cfg, err := parseALACConfig(tr.alac)
	if err != nil {
		return nil, err
	}
	rate := int64(cfg.rate)
	if rate == 0 {
		rate = int64(tr.timescale)
	}
	if err := checkRate("ALAC", float64(rate)); err != nil {
		return nil, err
	}
	// Media time to samples; the clamp keeps a lying table from
	// overflowing the product.
	samples := func(t int64) int64 { return min(t, 1<<40) * rate / int64(tr.timescale) }
	total := samples(int64(min(tr.durations, 1<<62)))
	if tr.durations == 0 {
		total = int64(min(tr.count, 1<<32)) * int64(cfg.frameLength)
	}
	skip := samples(tr.editSkip)
	total -= skip
	if tr.editLength >= 0 {
		total = min(total, samples(tr.editLength))
	}
	return decodeALAC(in, cfg, rate, skip, max(total, 0), tr.frames(in))
}

// decodeALAC decodes the ALAC frames that frames visits, dropping the
// first skip samples and keeping total after them.
func decodeALAC(in *input, cfg alacConfig, rate, skip, total int64, frames frameWalker) (*Audio, error) {
	srcDur := float64(total) / float64(rate)
	want := in.wantFrames(int(rate))
	if want < 0 {
		if err := in.checkLength(srcDur); err != nil {
			return nil, err
		}
		want = total
	}
	want = min(want, total)
	// Only the kept samples are stored (the skipped ones are dropped as
	// they come), and the room a header claims for them is trusted only
	// as far as the file's size could back it: a frame of silence is a
	// dozen bytes for 4096 samples, so a packet table or edit list
	// claiming billions would otherwise have the first growth past the
	// room allocated up front allocate them all.
	pre := min(want, (in.size-in.start)*preallocPerByte/int64(cfg.channels))
	chans := newChannels(cfg.channels, pre, in.size-in.start)
	dec := newALACDecoder(cfg)
	// The largest frame: every sample stored verbatim, and the headers.
	maxFrame := uint32(min(uint64(cfg.frameLength)*uint64(cfg.channels)*uint64(cfg.bitDepth)/8+1024, 1<<31))
	buf := make([]byte, 0, 64<<10)
	err := frames(maxFrame, func(i uint64, off int64, n uint32) (bool, error) {
		if i&255 == 0 {
			if err := in.ctx.Err(); err != nil {
				return false, err
			}
		}
		if uint32(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := in.r.ReadAt(buf, off); err != nil {
			return false, fmt.Errorf("%w: ALAC frame %d at byte %d: %v", ErrCorrupt, i, off, err)
		}
		var err error
		if chans, err = dec.decode(buf, chans, pre); err != nil {
			return false, fmt.Errorf("%w: ALAC frame %d: %v", ErrCorrupt, i, err)
		}
		if skip > 0 {
			// Dropped as they come, at most a frame at a time.
			d := min(skip, int64(len(chans[0])))
			for c := range chans {
				chans[c] = chans[c][:copy(chans[c], chans[c][d:])]
			}
			skip -= d
		}
		return skip > 0 || int64(len(chans[0])) < want, nil
	})
	if err != nil {
		return nil, err
	}
	for c := range chans {
		chans[c] = chans[c][:min(want, int64(len(chans[c])))]
	}
	if in.opts.MaxSeconds <= 0 {
		srcDur = float64(len(chans[0])) / float64(rate)
	}
	return &Audio{Format: ALAC, Rate: int(rate), Channels: chans, Layout: alacLayout(len(chans)), SourceDuration: srcDur}, nil
}

// alacLayout is the speaker layout of Apple's ALAC channel layouts (see
// alacPlaces) where it is not the default of the channel count: four
// channels are C L R Cs, not quadraphony, and eight are 7.1 with its
// extra pair in front (Lc Rc), not at the sides.
func alacLayout(n int) dsp.ChannelMask {
	switch n {
	case 4:
		return centreSurround
	case 8:
		return sevenOneFront
	}
	return 0
}

// centreSurround is L R C Cs in WAVE order: four channels as ALAC and AAC
// (channel configuration 4) carry them, a back centre behind three in
// front rather than quadraphony's pairs.
const centreSurround = dsp.SpeakerFrontLeft | dsp.SpeakerFrontRight | dsp.SpeakerFrontCenter | dsp.SpeakerBackCenter

// sevenOneFront is 7.1 with the extra pair between the front ones, L R C
// LFE Ls Rs Lc Rc in WAVE order, which ALAC and AAC (channel
// configuration 7) carry.
const sevenOneFront = dsp.SpeakerFrontLeft | dsp.SpeakerFrontRight | dsp.SpeakerFrontCenter | dsp.SpeakerLowFrequency |
	dsp.SpeakerBackLeft | dsp.SpeakerBackRight | dsp.SpeakerFrontLeftOfCenter | dsp.SpeakerFrontRightOfCenter

// alacDecoder decodes the frames (MP4 samples, CAF packets) of one ALAC
// stream.
type alacDecoder struct {
	cfg   alacConfig
	place []int             // WAVE position of each coded channel
	resid [alacPair][]int32 // an element's residuals per channel
	pred  [alacPair][]int32 // its decoded samples
	coefs [alacPair][32]int16
}

func newALACDecoder(cfg alacConfig) *alacDecoder {
	d := &alacDecoder{cfg: cfg, place: alacPlaces[cfg.channels-1]}
	for c := range min(cfg.channels, alacPair) {
		d.resid[c] = make([]int32, cfg.frameLength)
		d.pred[c] = make([]int32, cfg.frameLength)
	}
	return d
}

// Syntactic element tags of an ALAC frame.
const (
	alacSCE = 0 // single channel element
	alacCPE = 1 // channel pair element
	alacCCE = 2 // coupling channel element (never written)
	alacLFE = 3 // low-frequency element, coded as an SCE
	alacDSE = 4 // data stream element: skipped
	alacPCE = 5 // program config element (never written)
	alacFIL = 6 // fill element: skipped
	alacEND = 7
)

var errALACOverrun = errors.New("the frame ends early")

// decode decodes one frame and appends its samples, full scale ±1, to
// out, one slice per channel.
func (d *alacDecoder) decode(frame []byte, out [][]float32, expect int64) ([][]float32, error) {
	r := &bitReader{b: frame}
	ch, n := 0, -1
	for {
		tag := r.read(3)
		if r.overrun() {
			return out, errALACOverrun
		}
		switch tag {
		case alacSCE, alacLFE, alacCPE:
			k := 1
			if tag == alacCPE {
				k = 2
			}
			if ch+k > d.cfg.channels {
				return out, fmt.Errorf("the frame has more channels than the config's %d", d.cfg.channels)
			}
			got, err := d.element(r, k)
			if err != nil {
				return out, err
			}
			if r.overrun() {
				return out, errALACOverrun
			}
			if n >= 0 && got != n {
				return out, fmt.Errorf("elements of %d and %d samples in one frame", n, got)
			}
			n = got
			scale := float32(1) / float32(int64(1)<<(d.cfg.bitDepth-1))
			// Damaged data can leave a pair's matrix, or take back its
			// shifted-out bytes, with more bits than the stream's depth:
			// keep the low bitDepth of them, as the reference decoder and
			// ffmpeg do by storing each sample in that many, so samples
			// stay within full scale.
			wrap := uint(32 - d.cfg.bitDepth)
			for c := range k {
				o := d.place[ch+c]
				out[o] = makeRoom(out[o], n, expect)
				for _, v := range d.pred[c][:n] {
					out[o] = append(out[o], float32(v<<wrap>>wrap)*scale)
				}
			}
			ch += k
			if ch == d.cfg.channels {
				// As the reference decoder does, stop once every channel
				// is in: what follows is padding, or an END tag.
				return out, nil
			}
		case alacDSE:
			r.read(4) // element instance tag
			aligned := r.read(1) == 1
			size := r.read(8)
			if size == 255 {
				size += r.read(8)
			}
			if aligned {
				r.align()
			}
			r.skip(8 * int(size))
		case alacFIL:
			size := r.read(4)
			if size == 15 {
				size += r.read(8) - 1
			}
			r.skip(8 * int(size))
		case alacEND:
			if ch != d.cfg.channels {
				return out, fmt.Errorf("a frame with %d of %d channels", ch, d.cfg.channels)
			}
			return out, nil
		default:
			return out, fmt.Errorf("element type %d is not allowed in ALAC", tag)
		}
		if r.overrun() {
			return out, errALACOverrun
		}
	}
}

// element decodes an SCE (k = 1) or a CPE (k = 2) into d.pred[:k] and
// returns its number of samples per channel.
func (d *alacDecoder) element(r *bitReader, k int) (int, error) {
	r.read(4) // element instance tag
	if r.read(12) != 0 {
		return 0, errors.New("nonzero reserved bits in an element header")
	}
	partial := r.read(1) == 1
	shiftBytes := int(r.read(2))
	verbatim := r.read(1) == 1
	n := int(d.cfg.frameLength)
	if partial {
		n = int(r.read(16)<<16 | r.read(16))
		if n > int(d.cfg.frameLength) {
			return 0, fmt.Errorf("a frame of %d samples, the config allows %d", n, d.cfg.frameLength)
		}
	}
	if shiftBytes == 3 {
		return 0, errors.New("3 shifted bytes")
	}
	if verbatim {
		// Samples stored as they are, interleaved, bitDepth bits each.
		depth := d.cfg.bitDepth
		for i := range n {
			for c := range k {
				v := r.read(depth)
				d.pred[c][i] = int32(v<<(32-depth)) >> (32 - depth)
			}
		}
		return n, nil
	}

	shift := 8 * shiftBytes
	chanBits := d.cfg.bitDepth - shift + k - 1 // a pair's side channel needs one bit more
	if chanBits < 1 || chanBits > 32 {
		return 0, fmt.Errorf("%d bits per residual", chanBits)
	}
	mixBits, mixRes := r.read(8), int32(int8(r.read(8)))
	var mode, denShift, pbFactor, order [alacPair]uint32
	for c := range k {
		mode[c], denShift[c] = r.read(4), r.read(4)
		pbFactor[c], order[c] = r.read(3), r.read(5)
		for j := range order[c] {
			d.coefs[c][j] = int16(r.read(16))
		}
	}
	var shiftBits bitReader
	if shift > 0 {
		// The low bytes the encoder shifted out come after the headers
		// and before the residuals; read them after.
		shiftBits = *r
		r.skip(shift * n * k)
	}
	for c := range k {
		if err := d.riceDecode(r, d.resid[c][:n], d.cfg.pb*pbFactor[c]/4, chanBits); err != nil {
			return 0, err
		}
		if mode[c] != 0 {
			unpredict(d.resid[c][:n], d.resid[c][:n], nil, 31, chanBits, 0)
		}
		unpredict(d.resid[c][:n], d.pred[c][:n], d.coefs[c][:order[c]], int(order[c]), chanBits, denShift[c])
	}
	if k == 2 && mixRes != 0 {
		u, v := d.pred[0][:n], d.pred[1][:n]
		for i := range n {
			l := u[i] + v[i] - (mixRes*v[i])>>mixBits
			u[i], v[i] = l, l-v[i]
		}
	}
	if shift > 0 {
		// Interleaved, a sample of each channel in turn.
		for i := range n {
			for c := range k {
				d.pred[c][i] = d.pred[c][i]<<shift | int32(shiftBits.read(shift))
			}
		}
		if shiftBits.overrun() {
			return 0, errALACOverrun
		}
	}
	return n, nil
}

// Adaptive Golomb–Rice constants of the reference codec.
const (
	agQBShift    = 9
	agQB         = 1 << agQBShift
	agMMulShift  = 2
	agMDenShift  = agQBShift - agMMulShift - 1
	agMOff       = 1 << (agMDenShift - 2)
	agBitOff     = 24
	agMaxPrefix  = 9
	agRunBits    = 16 // bits of an escaped zero-run length
	agMeanClamp  = 0xffff
	agMaxRunDone = 65535
)

// riceDecode fills out with the signed residuals of one channel. The code
// adapts its parameter k to a running mean of the magnitudes; when the
// mean falls low enough, runs of zeros are sent as one count.
func (d *alacDecoder) riceDecode(r *bitReader, out []int32, pb uint32, maxBits int) error {
	mean := d.cfg.mb
	wb := uint32(1)<<d.cfg.kb - 1
	zmode := uint32(0)
	for c := 0; c < len(out); {
		k := min(uint32(31-bits.LeadingZeros32(mean>>agQBShift+3)), d.cfg.kb)
		n := r.rice(k, uint32(1)<<k-1, maxBits)
		v := n + zmode
		out[c] = int32((v + 1) >> 1)
		if v&1 != 0 {
			out[c] = -out[c]
		}
		c++
		mean = pb*(n+zmode) + mean - (pb*mean)>>agQBShift
		if n > agMeanClamp {
			mean = agMeanClamp
		}
		zmode = 0
		if mean<<agMMulShift < agQB && c < len(out) {
			zmode = 1
			k := uint32(bits.LeadingZeros32(mean)) - agBitOff + (mean+agMOff)>>agMDenShift
			run := r.rice(k, (uint32(1)<<k-1)&wb, agRunBits)
			if uint64(c)+uint64(run) > uint64(len(out)) {
				return errors.New("a run of zeros past the frame's end")
			}
			clear(out[c : c+int(run)])
			c += int(run)
			if run >= agMaxRunDone {
				zmode = 0
			}
			mean = 0
		}
		if r.overrun() {
			return errALACOverrun
		}
	}
	return nil
}

// unpredict inverts the adaptive FIR predictor of order n (coefficients
// coefs, which it adapts in place by sign-sign LMS, as the encoder did)
// over the residuals in, writing the samples, sign-extended from
// chanBits, to out. Order 31 is the special first-order difference, which
// may run in place.
func unpredict(in, out []int32, coefs []int16, n int, chanBits int, denShift uint32) {
	if len(in) == 0 {
		return
	}
	s := uint(32 - chanBits)
	ext := func(v int32) int32 { return int32(uint32(v)<<s) >> s }
	out[0] = in[0]
	switch {
	case n == 0:
		copy(out[1:], in[1:])
		return
	case n == 31:
		prev := out[0]
		for j := 1; j < len(in); j++ {
			prev = ext(in[j] + prev)
			out[j] = prev
		}
		return
	}
	for j := 1; j <= n && j < len(in); j++ {
		out[j] = ext(in[j] + out[j-1])
	}
	var half int32
	if denShift > 0 {
		half = 1 << (denShift - 1)
	}
	for j := n + 1; j < len(in); j++ {
		// hist[n-1-i] is the sample i+1 steps back, which coefficient i
		// weighs; top, the oldest, is the reference they are taken from.
		top, hist := out[j-n-1], out[j-n:j]
		var sum int32
		for i, c := range coefs {
			sum += int32(c) * (hist[n-1-i] - top)
		}
		res := in[j]
		out[j] = ext(res + top + (sum+half)>>denShift)
		// Nudge each coefficient towards reducing the error, oldest tap
		// first, until the residual's magnitude is accounted for.
		switch {
		case res > 0:
			for i := n - 1; i >= 0; i-- {
				dd := top - hist[n-1-i]
				sg := sign(dd)
				coefs[i] -= int16(sg)
				res -= int32(n-i) * ((sg * dd) >> denShift)
				if res <= 0 {
					break
				}
			}
		case res < 0:
			for i := n - 1; i >= 0; i-- {
				dd := top - hist[n-1-i]
				sg := sign(dd)
				coefs[i] += int16(sg)
				res -= int32(n-i) * ((-sg * dd) >> denShift)
				if res >= 0 {
					break
				}
			}
		}
	}
}

func sign(v int32) int32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// bitReader reads big-endian bit fields. Reading past the end yields
// zeros and marks the reader overrun, which callers check once per
// element rather than on every read.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) overrun() bool { return r.pos > 8*len(r.b) }

// peek32 returns the next 32 bits, zero past the end.
func (r *bitReader) peek32() uint32 {
	i, off := r.pos>>3, uint(r.pos&7)
	if i >= 0 && i+8 <= len(r.b) {
		return uint32(binary.BigEndian.Uint64(r.b[i:]) << off >> 32)
	}
	var w uint64
	for j := range 8 {
		w <<= 8
		if i+j < len(r.b) {
			w |= uint64(r.b[i+j])
		}
	}
	return uint32(w << off >> 32)
}

// read returns the next n bits, 0 ≤ n ≤ 32.
func (r *bitReader) read(n int) uint32 {
	if n == 0 {
		return 0
	}
	v := r.peek32() >> (32 - n)
	r.pos += n
	return v
}

func (r *bitReader) skip(n int) { r.pos += n }

func (r *bitReader) align() { r.pos = (r.pos + 7) &^ 7 }

// rice reads one adaptive Rice code with parameter k and modulus m
// (2^k − 1 for residuals, less for a run of zeros): a unary prefix, then k
// bits, or k − 1 when they would start with a zero bit and stand for no
// remainder. Nine or more prefix bits escape to a value stored in escBits
// bits.
func (r *bitReader) rice(k, m uint32, escBits int) uint32 {
	q := uint32(bits.LeadingZeros32(^r.peek32()))
	if q >= agMaxPrefix {
		r.pos += agMaxPrefix
		return r.read(escBits)
	}
	r.pos += int(q) + 1
	if k == 0 {
		return q * m
	}
	v := r.peek32() >> (32 - k)
	if v < 2 {
		r.pos += int(k) - 1
		return q * m
	}
	r.pos += int(k)
	return q*m + v - 1
}
