package dsp

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas/gonum"
)

// Band-limited resampling by windowed-sinc interpolation (Smith, "Digital
// Audio Resampling", CCRMA 2002) with a Kaiser window designed by Kaiser's
// formulas (Oppenheim & Schafer, Discrete-Time Signal Processing, §7.6).

const (
	// resampleStopbandDB is the Kaiser design attenuation. The Kaiser
	// formulas are approximate at the band edge; 85 dB leaves a margin over
	// the 80 dB the stopband must reach at the Nyquist frequency itself.
	resampleStopbandDB = 85
	// ResamplePassEdge and resampleStopEdge bound the transition band as
	// fractions of the lower of the two Nyquist frequencies: flat to 0.77,
	// fully attenuated from 1.0, so nothing folds back into the output band
	// (but see the half-band filter below).
	//
	// The pass edge is set by what the analysis at 22050 Hz needs, not by
	// hi-fi playback: chroma reads the spectrum below ~5 kHz and so stays
	// in the flat band; the onset flux takes differences of log band
	// energies, in which a fixed gain cancels, so the 8.5–11 kHz bands that
	// fall in the transition band still report their changes (above 9.9 kHz
	// they were in the transition band already at a 0.9 edge); the spectral
	// centroid and flatness read only the flat band (see below). The
	// filter's length is inversely proportional to the
	// transition width (Kaiser's formula): 96 instead of 218 taps at a 0.9
	// edge, for 48 → 22.05 kHz's ratio; 0.77 is the widest edge that keeps
	// 2:1 ratios at 96 taps, six rounds of the dot kernel (see coef).
	//
	// An exact 2:1 decimation (44.1 → 22.05 kHz) uses a half-band filter
	// instead (fillHalfBand): its transition band runs from 0.77 to 1.23
	// of the output Nyquist frequency, so what lies between 1 and 1.23 of
	// it folds into the band between 0.77 and 1 (8.5–11 kHz), weighted by
	// the filter's own fall there: at most as strong as the signal just
	// below the Nyquist frequency. Only the onset flux and the spectral
	// shape read that band, and what folds into it is the top of the same
	// hi-hats and cymbals, whose onsets are the onsets anyway; below 0.77
	// every fold stays under −80 dB. In exchange, every other tap is zero:
	// 12 multiplies per output sample instead of 96.
	//
	// Below ResamplePassEdge every path is flat, the half-band one too, and
	// nothing folds: a measure that must not depend on the source's rate
	// (the FFT stage's spectral centroid and flatness) reads only that band.
	ResamplePassEdge = 0.77
	resampleStopEdge = 1.0

	// maxExactPhases bounds the polyphase table of an exact rational ratio
	// L/M (one phase per L). Ratios with more phases, and rates that are not
	// whole numbers, use an interpolated table of interpPhases phases.
	maxExactPhases  = 4096
	maxExactTaps    = 1 << 20
	interpPhases    = 512
	maxRate         = 10e6
	maxRateRatio    = 256
	rateIntegralEps = 1e-9
)

// Resampler converts a signal from one sample rate to another. It is
// immutable once built, so one Resampler may serve many goroutines at once;
// building it computes the filter tables, so reuse it for a rate pair.
type Resampler struct {
	from, to Hz
	// Output sample k lies at input position k*m/l (exact mode) or k*step
	// (interpolated mode).
	l, m  int64
	step  float64
	exact bool
	// half is the filter half-width in input samples; every output sample
	// is a dot product over taps = 2*half input samples.
	half, taps, stride int
	// coef holds the polyphase table, phase-major, taps coefficients per
	// phase at every stride: taps rounded up to whole 64-byte groups, so
	// that every phase starts aligned for the BLAS kernel, which otherwise
	// multiplies its first few products one at a time. Windows inside the
	// signal are multiplied over the whole stride, the zeros past taps
	// included: the kernel then runs only its 16-wide loop, without the
	// 4-wide and scalar tails that cost as much as two of its rounds.
	// phase: phases = l in exact mode, interpPhases+1 in interpolated mode.
	coef []float32
	// hb holds, for an exact 2:1 decimation, the half-band filter's
	// halfBandTaps taps at odd distances 1, 3, …, 23 from the output
	// sample's input sample, whose own tap is ½; every other tap is zero
	// (see fillHalfBand). Nil otherwise.
	hb []float32
}

// NewResampler prepares a resampler from rate from to rate to. It reports an
// error for rates that are not positive and finite, above 10 MHz, or more
// than 256 times apart.
func NewResampler(from, to Hz) (*Resampler, error) {
	for _, r := range []Hz{from, to} {
		if !(r > 0) || math.IsInf(float64(r), 0) || r > maxRate {
			return nil, fmt.Errorf("resample %g Hz → %g Hz: rate %g Hz out of range (0, %g]", from, to, r, float64(maxRate))
		}
	}
	lo, hi := math.Min(float64(from), float64(to)), math.Max(float64(from), float64(to))
	if hi/lo > maxRateRatio {
		return nil, fmt.Errorf("resample %g Hz → %g Hz: ratio above %d", from, to, maxRateRatio)
	}
	r := &Resampler{from: from, to: to}
	if from == to {
		return r, nil
	}
	fi, ti := math.Round(float64(from)), math.Round(float64(to))
	integral := math.Abs(fi-float64(from)) < rateIntegralEps && math.Abs(ti-float64(to)) < rateIntegralEps
	halfBand := integral && fi == 2*ti
	if halfBand {
		r.l, r.m, r.exact = 1, 2, true
	}
	pass, stop := r.transition()

	// The kernel, in units of input samples: a low-pass at the centre of
	// the transition band, whose width sets the length (Kaiser's formula).
	scale := lo / float64(from) // lower Nyquist relative to input Nyquist
	cutoff := (pass + stop) / 2 * scale
	width := (stop - pass) / 2 * scale // cycles/sample
	n := (resampleStopbandDB - 7.95) / (14.36 * width)
	r.half = int(math.Ceil(n/2)) + 1
	r.taps = 2 * r.half
	r.stride = (r.taps + 15) &^ 15
	beta := 0.1102 * (resampleStopbandDB - 8.7)
	kernel := func(u float64) float64 {
		x := u / float64(r.half)
		if x <= -1 || x >= 1 {
			return 0
		}
		return cutoff * sinc(cutoff*u) * besselI0(beta*math.Sqrt(1-x*x))
	}

	if halfBand {
		r.fillHalfBand(kernel)
		return r, nil
	}
	if integral {
		g := gcd(int64(fi), int64(ti))
		r.l, r.m = int64(ti)/g, int64(fi)/g
		r.exact = r.l <= maxExactPhases && r.l*int64(r.taps) <= maxExactTaps
	}
	if r.exact {
		r.coef = make([]float32, int(r.l)*r.stride)
		for p := int64(0); p < r.l; p++ {
			r.fillPhase(r.coef[int(p)*r.stride:][:r.taps], float64(p)/float64(r.l), kernel)
		}
		return r, nil
	}
	r.step = float64(from) / float64(to)
	r.coef = make([]float32, (interpPhases+1)*r.stride)
	for p := 0; p <= interpPhases; p++ {
		r.fillPhase(r.coef[p*r.stride:][:r.taps], float64(p)/interpPhases, kernel)
	}
	return r, nil
}

// fillPhase writes the taps for an output sample frac input samples after
// input sample n0; tap i multiplies input sample n0-half+1+i. Each phase is
// normalised to unit DC gain so that phases do not modulate a constant.
func (r *Resampler) fillPhase(dst []float32, frac float64, kernel func(float64) float64) {
	var sum float64
	v := make([]float64, len(dst))
	for i := range v {
		v[i] = kernel(frac + float64(r.half-1-i))
		sum += v[i]
	}
	for i := range v {
		dst[i] = float32(v[i] / sum)
	}
}

// transition returns the edges of the filter's transition band, as
// fractions of the lower Nyquist frequency: ResamplePassEdge to
// resampleStopEdge, or for an exact 2:1 decimation the half-band filter's,
// symmetric about the Nyquist frequency.
func (r *Resampler) transition() (pass, stop float64) {
	if r.exact && r.l == 1 && r.m == 2 {
		return ResamplePassEdge, 2 - ResamplePassEdge
	}
	return ResamplePassEdge, resampleStopEdge
}

// fillHalfBand builds the filter of an exact 2:1 decimation. Its cutoff
// is the output Nyquist frequency, half the input's, so the sinc vanishes
// at every even distance but 0: a half-band filter (Mintzer 1982, "On
// half-band, third-band, and Nth-band FIR filters and their design", IEEE
// Trans. ASSP 30(5)), whose transition band is symmetric about that
// Nyquist frequency. The zeros are set exactly,
// the centre tap to ½ and the odd taps scaled to sum to ½, so the DC gain
// is 1 and the response stays complementary about the Nyquist frequency:
// H(f_N − δ) + H(f_N + δ) = 1.
func (r *Resampler) fillHalfBand(kernel func(float64) float64) {
	r.coef = make([]float32, r.stride)
	var odd float64
	for u := 1; u < r.half; u += 2 {
		odd += 2 * kernel(float64(u))
	}
	for u := 1; u < r.half; u += 2 {
		g := float32(kernel(float64(u)) * 0.5 / odd)
		r.hb = append(r.hb, g)
		// Tap i multiplies input n0-half+1+i: distance u at i = half-1±u.
		r.coef[r.half-1-u], r.coef[r.half-1+u] = g, g
	}
	r.coef[r.half-1] = 0.5
	if len(r.hb) != halfBandTaps {
		// Another design length: the general path, over coef.
		r.hb = nil
	}
}

// From is the input sample rate.
func (r *Resampler) From() Hz { return r.from }

// To is the output sample rate.
func (r *Resampler) To() Hz { return r.to }

// OutputLen is the length of the output for n input samples:
// round(n*to/from).
func (r *Resampler) OutputLen(n int) int {
	if r.from == r.to {
		return n
	}
	if r.exact {
		return int((int64(n)*r.l*2 + r.m) / (2 * r.m))
	}
	return int(math.Round(float64(n) * float64(r.to) / float64(r.from)))
}

// Resample returns in converted to the output rate. Output sample k is the
// band-limited signal at input time k/to, so a sound keeps its timing; the
// signal is taken to be zero outside in. When the rates are equal, in itself
// is returned.
func (r *Resampler) Resample(in []float32) []float32 {
	if r.from == r.to {
		return in
	}
	return r.ResampleInto(make([]float32, r.OutputLen(len(in))), in)
}

// ResampleInto is Resample writing into dst, and returns
// dst[:OutputLen(len(in))]. When dst has the capacity it allocates nothing,
// so a caller can reuse one buffer; otherwise it allocates a new one. When
// the rates are equal, in is copied.
func (r *Resampler) ResampleInto(dst, in []float32) []float32 {
	need := r.OutputLen(len(in))
	if cap(dst) < need {
		dst = make([]float32, need)
	}
	out := dst[:need]
	if r.from == r.to {
		copy(out, in)
	} else {
		r.convert(out, 0, in, 0, len(in))
	}
	return out
}

// mixBlock is how many output samples ResampleMixInto produces from one
// mixed stretch of input: enough that the windows' overlap between
// stretches is mixed only a few per cent more than once, small enough that
// the stretch stays in cache.
const mixBlock = 4096

// ResampleMixInto is ResampleInto for the mixdown of channels over the
// shortest one's length: their average, each channel taken with the
// polarity Polarities gives it. It mixes a stretch at a time as the output
// needs it: the result equals ResampleInto of the full mixdown, without
// holding that mixdown in memory. It returns dst[:OutputLen(n)] for that
// length n.
func (r *Resampler) ResampleMixInto(dst []float32, channels [][]float32) []float32 {
	if len(channels) == 0 {
		return dst[:0]
	}
	n := len(channels[0])
	for _, c := range channels {
		n = min(n, len(c))
	}
	if len(channels) == 1 {
		return r.ResampleInto(dst, channels[0][:n])
	}
	need := r.OutputLen(n)
	if cap(dst) < need {
		dst = make([]float32, need)
	}
	out := dst[:need]
	signs := Polarities(channels)
	if r.from == r.to {
		mixInto(out, channels, signs, 0)
		return out
	}
	var seg []float32
	for k0 := 0; k0 < need; k0 += mixBlock {
		k1 := min(need, k0+mixBlock)
		lo, hi := r.inputStart(k0), r.inputStart(k1-1)+r.stride
		lo, hi = max(lo, 0), min(hi, n)
		if hi < lo {
			hi = lo
		}
		if cap(seg) < hi-lo {
			seg = make([]float32, hi-lo, mixBlock*int(math.Ceil(float64(r.from)/float64(r.to)))+r.stride+2)
		}
		seg = seg[:hi-lo]
		mixInto(seg, channels, signs, lo)
		r.convert(out[k0:k1], k0, seg, lo, n)
	}
	return out
}

// mixInto writes the average of channels, each times its sign, from
// sample from onwards into dst, adding the channels in order and scaling
// once, as a full mixdown would.
func mixInto(dst []float32, channels [][]float32, signs []float32, from int) {
	g := 1 / float32(len(channels))
	if len(channels) == 2 {
		// The first channel is the reference: its sign is always +1.
		a, b := channels[0][from:][:len(dst)], channels[1][from:][:len(dst)]
		if signs[1] > 0 {
			for i := range dst {
				dst[i] = (a[i] + b[i]) * g
			}
		} else {
			for i := range dst {
				dst[i] = (a[i] - b[i]) * g
			}
		}
		return
	}
	clear(dst)
	for c, ch := range channels {
		s := signs[c]
		for i, v := range ch[from:][:len(dst)] {
			dst[i] += s * v
		}
	}
	for i := range dst {
		dst[i] *= g
	}
}

// Polarities reads polarityRun samples in every polarityStride: 1/16 of
// a song, in runs of 256 (6 ms at 44.1 kHz).
const (
	polarityRun    = 256
	polarityStride = 4096
)

// antiPhaseLoss is the share of the channels' mean power below which a
// pair's plain average counts as cancelled (a tenth, −10 dB; a correlation
// below −0.8 for channels of equal power). Music mixed for stereo keeps a
// correlation above 0, and even wide mixes stay near 0; a correlation
// meter near −1 is a polarity fault.
const antiPhaseLoss = 0.1

// Polarities returns the sign, +1 or −1, each channel is mixed down with:
// −1 for a channel in anti-phase with the first, whose plain average with
// it would keep less than antiPhaseLoss of their power. A polarity fault
// in a recording or a master, or a tracker module's surround effect, makes
// such channels; averaged as they are, they cancel and leave the analysis
// only the residue of their difference.
func Polarities(channels [][]float32) []float32 {
	signs := make([]float32, len(channels))
	for i := range signs {
		signs[i] = 1
	}
	if len(channels) < 2 {
		return signs
	}
	ref := channels[0]
	for c, ch := range channels[1:] {
		n := min(len(ref), len(ch))
		// A sample of the song settles it: reading a run of polarityRun
		// samples in every polarityStride keeps the pass from streaming
		// the whole song through the cache.
		var aa, bb, ab float64
		for start := 0; start < n; start += polarityStride {
			a, b := ref[start:min(n, start+polarityRun)], ch[start:min(n, start+polarityRun)]
			for i, x := range a {
				y := float64(b[i])
				aa += float64(x) * float64(x)
				bb += y * y
				ab += float64(x) * y
			}
		}
		// The plain average's power, (aa+bb+2ab)/4, against the
		// channels' mean power, (aa+bb)/2.
		if (aa+bb+2*ab)/4 < antiPhaseLoss*(aa+bb)/2 {
			signs[c+1] = -1
		}
	}
	return signs
}

// inputStart is the first input sample in the window of output sample k.
func (r *Resampler) inputStart(k int) int {
	if r.exact {
		return int(int64(k)*r.m/r.l) - r.half + 1
	}
	return int(math.Floor(float64(k)*r.step)) - r.half + 1
}

// convert computes output samples k0 … k0+len(out)-1 of a signal of n
// samples, of which seg holds samples base … base+len(seg)-1: every sample
// that the windows reach inside [0, n).
func (r *Resampler) convert(out []float32, k0 int, seg []float32, base, n int) {
	if r.hb != nil {
		r.halfBand(out, k0, seg, base, n)
	} else if r.exact {
		r.rational(out, k0, seg, base, n)
	} else {
		r.interpolated(out, k0, seg, base, n)
	}
}

// dot is Σ a[i]·b[i] with len(b) >= len(a), for short a: eight-wide
// groups let the compiler drop all but one bounds check per group, and four
// accumulators keep the adds from serialising on one register.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += aa[0]*bb[0] + aa[4]*bb[4]
		s1 += aa[1]*bb[1] + aa[5]*bb[5]
		s2 += aa[2]*bb[2] + aa[6]*bb[6]
		s3 += aa[3]*bb[3] + aa[7]*bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dotLong is dot for the long kernels of the resampler, through gonum's
// BLAS, whose amd64 assembly multiplies four floats per instruction. It
// calls the implementation directly rather than through blas32's interface
// value, and passes the filter second: the kernel aligns on its second
// operand, and the filter phases are aligned.
func dotLong(a, b []float32) float32 {
	return gonum.Implementation{}.Sdot(len(a), b[:len(a)], 1, a, 1)
}

// window returns the taps samples of a signal of n samples starting at
// start, from seg holding samples base onwards, or false when they reach
// outside the signal.
func window(seg []float32, base, n, start, taps int) ([]float32, bool) {
	if start < 0 || start+taps > n {
		return nil, false
	}
	return seg[start-base : start-base+taps], true
}

// edgeDot is dot for a window reaching outside in, where in is zero.
func edgeDot(h, in []float32, start int) float32 {
	var acc float32
	for i, c := range h {
		if j := start + i; j >= 0 && j < len(in) {
			acc += c * in[j]
		}
	}
	return acc
}

// rational handles to/from = l/m exactly: output k lies k·m/l input samples
// in, so its phase is (k·m mod l) and no rounding accumulates.
func (r *Resampler) rational(out []float32, k0 int, seg []float32, base, n int) {
	taps, stride := r.taps, r.stride
	// k·m = n0·l + p, stepped without dividing: a 64-bit division per
	// output costs as much as a quarter of its dot product.
	whole, frac := int(r.m/r.l), int(r.m%r.l)
	l := int(r.l)
	pos := int64(k0) * r.m
	n0, p := int(pos/r.l), int(pos%r.l)
	// Windows inside the signal, stride samples long (see coef), end where
	// off+stride passes limit, with off the window's start in seg.
	limit := min(n-base, len(seg))
	coef := r.coef
	for k := 0; k < len(out); {
		off := n0 - r.half + 1 - base
		if off+base < 0 || off+stride > limit {
			out[k] = edgeDot(coef[p*stride:][:taps], seg, off)
			k++
			n0 += whole
			if p += frac; p >= l {
				p -= l
				n0++
			}
			continue
		}
		// A run of windows inside the signal, in a loop that keeps little
		// alive across the dot product's call: with the edge cases in it,
		// reloading their state cost a fifth as much as the dot itself.
		for ; k < len(out) && off+stride <= limit; k++ {
			out[k] = dotLong(coef[p*stride:][:stride], seg[off:][:stride])
			off += whole
			if p += frac; p >= l {
				p -= l
				off++
			}
		}
		n0 = off + base + r.half - 1
	}
}

// halfBandTaps is the number of odd taps on each side of the half-band
// filter that the design constants give (50 taps, 25 on each side, of
// which 12 are odd distances below 25 and the rest zero).
const halfBandTaps = 12

// halfBand handles an exact 2:1 decimation: output k is ½·x[2k] plus
// Σ g_j·(x[2k−u] + x[2k+u]) over the odd distances u = 2j+1 ≤ 23: 12
// multiplies where the general path would take 96, written out with
// constant indices so that the compiler checks no bounds inside, and in
// four independent sums. Calling the dot kernel instead would cost more
// than the arithmetic.
func (r *Resampler) halfBand(out []float32, k0 int, seg []float32, base, n int) {
	gg := (*[halfBandTaps]float32)(r.hb)
	limit := min(n-base, len(seg))
	for k := range out {
		c := 2 * (k0 + k)
		off := c - r.half + 1 - base
		if off+base < 0 || off+r.taps > limit {
			out[k] = edgeDot(r.coef[:r.taps], seg, off)
			continue
		}
		// w[t] is x[c−23+t]: distance u lies at w[23−u] and w[23+u].
		w := (*[47]float32)(seg[c-base-23 : c-base+24])
		a0 := gg[0]*(w[22]+w[24]) + gg[4]*(w[14]+w[32]) + gg[8]*(w[6]+w[40])
		a1 := gg[1]*(w[20]+w[26]) + gg[5]*(w[12]+w[34]) + gg[9]*(w[4]+w[42])
		a2 := gg[2]*(w[18]+w[28]) + gg[6]*(w[10]+w[36]) + gg[10]*(w[2]+w[44])
		a3 := gg[3]*(w[16]+w[30]) + gg[7]*(w[8]+w[38]) + gg[11]*(w[0]+w[46])
		out[k] = 0.5*w[23] + ((a0 + a1) + (a2 + a3))
	}
}

// interpolated handles any ratio: the taps for a fractional position are
// interpolated linearly between the two nearest of interpPhases phases.
func (r *Resampler) interpolated(out []float32, k0 int, seg []float32, base, n int) {
	taps := r.taps
	for k := range out {
		t := float64(k0+k) * r.step
		n0 := math.Floor(t)
		f := (t - n0) * interpPhases
		p := int(f)
		if p >= interpPhases {
			p = interpPhases - 1
		}
		a := float32(f - float64(p))
		h0 := r.coef[p*r.stride:][:r.stride]
		h1 := r.coef[(p+1)*r.stride:][:r.stride]
		start := int(n0) - r.half + 1
		var v0, v1 float32
		if x, ok := window(seg, base, n, start, r.stride); ok {
			v0, v1 = dotLong(h0, x), dotLong(h1, x)
		} else {
			v0, v1 = edgeDot(h0[:taps], seg, start-base), edgeDot(h1[:taps], seg, start-base)
		}
		out[k] = v0 + a*(v1-v0)
	}
}

// sinc is the normalised sinc, sin(πx)/(πx).
func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (Abramowitz & Stegun 9.6.12), which converges
// quickly for the β of audio windows.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 500; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
