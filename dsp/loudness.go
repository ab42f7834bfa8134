package dsp

import (
	"math"
	"slices"
)

// Loudness is the EBU R128 measurement of a programme.
type Loudness struct {
	Integrated float64 // LUFS, ITU-R BS.1770-4 gated
	Range      float64 // LU, EBU Tech 3342
	TruePeak   float64 // dBTP
}

// Floors reported instead of values that cannot be measured, so that a
// Loudness is always finite.
const (
	// SilentLUFS is the integrated loudness of a programme in which no
	// 400 ms block passes the absolute gate: silence, anything quieter
	// than −70 LUFS, or less than 400 ms of audio. It is the gate itself,
	// below which BS.1770-4 measures nothing.
	SilentLUFS = -70.0
	// SilentDBTP is the true peak of digital silence, and the lowest true
	// peak reported.
	SilentDBTP = -200.0
	// MaxDBTP is the highest true peak reported (a float sample can lie
	// as far as 770 dB above full scale).
	MaxDBTP = 200.0
)

// BS.1770-4 constants.
const (
	loudnessOffset  = -0.691 // dB; makes a 1 kHz full-scale sine in one channel read −3.01 LUFS
	absoluteGate    = -70.0  // LUFS
	relativeGate    = -10.0  // LU below the absolutely gated loudness
	lraRelativeGate = -20.0  // LU, EBU Tech 3342
	segmentSeconds  = 0.1    // gating blocks and short-term windows step by 100 ms
	momentarySegs   = 4      // 400 ms gating block
	shortTermSegs   = 30     // 3 s short-term window (EBU Tech 3342)
	surroundWeight  = 1.41   // BS.1770-4 Table 3, Ls and Rs
	truePeakFactor  = 4      // BS.1770-4 Annex 2 oversampling
	truePeakHalf    = 6      // interpolator half-width: 12 taps per phase, as in Annex 2
	truePeakBeta    = 5.0    // Kaiser β of the interpolator
	truePeakBlock   = 16     // samples per block of the true-peak shortcut
)

// The analog prototypes of BS.1770-4's 48 kHz K-weighting tables: the
// bilinear transforms of these, prewarped at their corners, reproduce every
// printed digit of Tables 1 and 2.
const (
	kTableRate = 48000.0 // Hz, the rate the standard tabulates
	shelfF0    = 1681.974450955533
	shelfGain  = 3.999843853973347 // dB
	shelfQ     = 0.7071752369554196
	shelfVbEx  = 0.4996667741545416 // band gain exponent of the prototype
	rlbF0      = 38.13547087602444  // Hz, corner of the RLB high-pass
	rlbQ       = 0.5003270373238773
)

// biquad is a second-order IIR section, a0 normalised to 1.
type biquad struct{ b0, b1, b2, a1, a2 float64 }

// power is |H|² of b at w radians per sample. Expanded around z = 0, it
// is accurate for the shelf, whose poles and zeros lie far from z = 1.
func (b biquad) power(w float64) float64 {
	c1, c2 := math.Cos(w), math.Cos(2*w)
	num := b.b0*b.b0 + b.b1*b.b1 + b.b2*b.b2 + 2*(b.b0*b.b1+b.b1*b.b2)*c1 + 2*b.b0*b.b2*c2
	den := 1 + b.a1*b.a1 + b.a2*b.a2 + 2*(b.a1+b.a1*b.a2)*c1 + 2*b.a2*c2
	return num / den
}

// kWeighting returns the two K-weighting stages of ITU-R BS.1770-4 Annex 1
// (Tables 1 and 2) for a sample rate: the head-related high shelf and the
// RLB high-pass. The standard tabulates them for 48 kHz and asks other
// rates for the same frequency response; TestKWeightingMatches48k measures
// how closely each rate gets it (within 0.03 dB from 11 kHz up, 0.07 dB at
// 8 kHz). The rate must be above 2·rlbF0 (76 Hz), which MeasureLoudness
// sees to.
//
// The high-pass is the bilinear transform of its prototype (its corner lies
// far below any Nyquist frequency), with the table's numerator 1, −2, 1.
// That numerator gives the pass band a gain of a0, 1.005 at 48 kHz but
// growing as the rate falls (1.030 at 8 kHz, +0.22 dB over the table); the
// shelf's numerator takes the difference, so the cascade's gain is the
// table's at every rate while the high-pass keeps its cheap numerator.
func kWeighting(rate Hz) (shelf, highpass biquad) {
	fs := float64(rate)
	highpass, gain := rlbHighPass(fs)
	_, tableGain := rlbHighPass(kTableRate)
	shelf = headShelf(fs)
	g := tableGain / gain
	shelf.b0, shelf.b1, shelf.b2 = g*shelf.b0, g*shelf.b1, g*shelf.b2
	return shelf, highpass
}

// rlbHighPass is the bilinear transform of the RLB high-pass at fs, with
// numerator 1, −2, 1, and the pass-band gain that numerator gives it.
func rlbHighPass(fs float64) (hp biquad, gain float64) {
	k := math.Tan(math.Pi * rlbF0 / fs)
	a0 := 1 + k/rlbQ + k*k
	return biquad{b0: 1, b1: -2, b2: 1, a1: 2 * (k*k - 1) / a0, a2: (1 - k/rlbQ + k*k) / a0}, a0
}

// headShelf is the K-weighting's high shelf at fs. At 48 kHz and above it
// is the bilinear transform of the prototype, which at 48 kHz is the table.
// Below, the transform squeezes the whole prototype under the Nyquist
// frequency, which lifts the shelf near it (by up to 0.28 dB at 8 kHz),
// and cannot place the corner at all at 3364 Hz or less. There a
// magnitude-matched design (the prototype's poles mapped by z = e^{sT}, the
// numerator fitted to the target's magnitude at three frequencies: the
// approach of Vicanek 2016, "Matched Second Order Digital Filters") stays
// closer to the table's shelf, and the closer of the two is taken: the
// matched design up to about 22.5 kHz.
func headShelf(fs float64) biquad {
	if fs >= kTableRate {
		return bilinearShelf(fs)
	}
	table := bilinearShelf(kTableRate)
	target := func(f float64) float64 { return table.power(2 * math.Pi * f / kTableRate) }
	matched := matchedShelf(fs, target)
	if fs <= 2*shelfF0 {
		return matched
	}
	bilinear := bilinearShelf(fs)
	if shelfMisfit(bilinear, fs, target) <= shelfMisfit(matched, fs, target) {
		return bilinear
	}
	return matched
}

// bilinearShelf is the bilinear transform of the shelf prototype at fs,
// prewarped at its corner; fs must exceed 2·shelfF0.
func bilinearShelf(fs float64) biquad {
	k := math.Tan(math.Pi * shelfF0 / fs)
	vh := math.Pow(10, shelfGain/20)
	vb := math.Pow(vh, shelfVbEx)
	a0 := 1 + k/shelfQ + k*k
	return biquad{
		b0: (vh + vb*k/shelfQ + k*k) / a0,
		b1: 2 * (k*k - vh) / a0,
		b2: (vh - vb*k/shelfQ + k*k) / a0,
		a1: 2 * (k*k - 1) / a0,
		a2: (1 - k/shelfQ + k*k) / a0,
	}
}

// matchedShelf is the shelf at fs with the prototype's poles mapped by
// z = e^{sT} and the numerator chosen so that |H|² equals target (a
// function of Hz) at 0, fs/4 and fs/2. With |B|² = P0 + P1·cos ω +
// P2·cos 2ω, those three values fix b0+b1+b2, b0−b1+b2 and (b0−b2)² + b1².
func matchedShelf(fs float64, target func(f float64) float64) biquad {
	w0 := 2 * math.Pi * shelfF0 / fs
	zeta := 1 / (2 * shelfQ)
	r := math.Exp(-zeta * w0)
	var b biquad
	b.a1 = -2 * r * math.Cos(w0*math.Sqrt(1-zeta*zeta))
	b.a2 = r * r
	den := func(w float64) float64 { return biquad{b0: 1, a1: b.a1, a2: b.a2}.power(w) }
	sum := math.Sqrt(target(0) / den(0))          // b0 + b1 + b2
	alt := math.Sqrt(target(fs/2) / den(math.Pi)) // b0 − b1 + b2
	quarter := target(fs/4) / den(math.Pi/2)      // (b0 − b2)² + b1²
	b.b1 = (sum - alt) / 2
	diff := math.Sqrt(max(0, quarter-b.b1*b.b1)) // b0 − b2
	b.b0, b.b2 = ((sum+alt)/2+diff)/2, ((sum+alt)/2-diff)/2
	return b
}

// shelfMisfit is the largest deviation, in dB, of s at fs from target over
// the band, at 1/12-octave steps down from the Nyquist frequency to 10 Hz.
func shelfMisfit(s biquad, fs float64, target func(f float64) float64) float64 {
	var worst float64
	step := math.Pow(2, 1.0/12)
	for f := fs / 2; f >= 10; f /= step {
		worst = max(worst, math.Abs(10*math.Log10(s.power(2*math.Pi*f/fs)/target(f))))
	}
	return worst
}

// ChannelMask says which loudspeaker each channel of a programme feeds, in
// the bits of WAVE_FORMAT_EXTENSIBLE's dwChannelMask (Microsoft,
// "Multiple channel audio data and WAVE files"), which FLAC keeps as
// WAVEFORMATEXTENSIBLE_CHANNEL_MASK and CoreAudio's channel bitmap shares:
// the channels take the set bits in ascending order. 0 means the layout
// WAVE and FLAC give the channel count (see DefaultChannelMask). Loudness
// weighs each channel by where its speaker stands.
type ChannelMask uint32

// The speakers of ChannelMask, the bits of dwChannelMask in order. Bits
// above SpeakerSideRight are height speakers.
const (
	SpeakerFrontLeft ChannelMask = 1 << iota
	SpeakerFrontRight
	SpeakerFrontCenter
	SpeakerLowFrequency
	SpeakerBackLeft
	SpeakerBackRight
	SpeakerFrontLeftOfCenter
	SpeakerFrontRightOfCenter
	SpeakerBackCenter
	SpeakerSideLeft
	SpeakerSideRight
)

// DefaultChannelMask is the layout of n channels that carry none of their
// own: FLAC's fixed assignments for 1 to 8 channels (RFC 9639 §9.1.3),
// which are WAVE's defaults too. Mono is the centre; more than eight
// channels have no default, and 0 is returned.
func DefaultChannelMask(n int) ChannelMask {
	const (
		stereo = SpeakerFrontLeft | SpeakerFrontRight
		back   = SpeakerBackLeft | SpeakerBackRight
		side   = SpeakerSideLeft | SpeakerSideRight
	)
	switch n {
	case 1:
		return SpeakerFrontCenter
	case 2:
		return stereo
	case 3:
		return stereo | SpeakerFrontCenter
	case 4:
		return stereo | back
	case 5:
		return stereo | SpeakerFrontCenter | back
	case 6:
		return stereo | SpeakerFrontCenter | SpeakerLowFrequency | back
	case 7:
		return stereo | SpeakerFrontCenter | SpeakerLowFrequency | SpeakerBackCenter | side
	case 8:
		return stereo | SpeakerFrontCenter | SpeakerLowFrequency | back | side
	}
	return 0
}

// channelWeights are the BS.1770-4 weights G_i of n channels laid out as
// mask says (0: DefaultChannelMask). The LFE is left out; a speaker
// between ±60° and ±120° of azimuth weighs 1.41 (BS.1770-4 Table 3, and
// its rule by position for larger layouts), every other one 1. The side
// pair stands there; the back pair does too when the layout has no side
// pair, as the surrounds of 5.1 and quadraphony, named "back" in WAVE, are
// set at ±110° (ITU-R BS.775), and stands behind the sides (±135°…±150°)
// when it has. Channels past the mask's speakers weigh 1.
func channelWeights(mask ChannelMask, n int) []float64 {
	if mask == 0 {
		mask = DefaultChannelMask(n)
	}
	sides := mask&(SpeakerSideLeft|SpeakerSideRight) != 0
	w := make([]float64, n)
	i := 0
	for bit := ChannelMask(1); bit != 0 && i < n; bit <<= 1 {
		if mask&bit == 0 {
			continue
		}
		w[i] = 1
		switch bit {
		case SpeakerLowFrequency:
			w[i] = 0
		case SpeakerSideLeft, SpeakerSideRight:
			w[i] = surroundWeight
		case SpeakerBackLeft, SpeakerBackRight:
			if !sides {
				w[i] = surroundWeight
			}
		}
		i++
	}
	for ; i < n; i++ {
		w[i] = 1
	}
	return w
}

// MeasureLoudness measures a programme per ITU-R BS.1770-4 and EBU R128:
// integrated loudness of 400 ms blocks (75 % overlap) gated at −70 LUFS and
// at −10 LU relative, loudness range per EBU Tech 3342 (3 s windows every
// 100 ms, gated at −70 LUFS and −20 LU relative, 10th to 95th percentile)
// and true peak per BS.1770-4 Annex 2 (4× oversampling). channels hold the
// samples of each channel, full scale ±1, feeding the speakers layout
// names (0: the default layout of their count, see ChannelMask); a
// shorter channel limits the measurement to its length. NaN and infinite samples are
// measured as 0.
//
// The result is always finite: Integrated is SilentLUFS when nothing passes
// the absolute gate (silence, or under 400 ms of audio), Range is 0 when
// fewer than two 3 s windows pass its gates, and TruePeak lies within
// [SilentDBTP, MaxDBTP].
func MeasureLoudness(channels [][]float32, rate Hz, layout ChannelMask) Loudness {
	out := Loudness{Integrated: SilentLUFS, Range: 0, TruePeak: SilentDBTP}
	// At or below twice the RLB corner a signal holds nothing the
	// K-weighting passes, and the high-pass cannot be built.
	if len(channels) == 0 || !(rate > 2*rlbF0) || math.IsInf(float64(rate), 0) {
		return out
	}
	n := len(channels[0])
	for _, c := range channels {
		n = min(n, len(c))
	}
	out.TruePeak = truePeakDB(channels, n)

	// Segment j spans samples [bound[j], bound[j+1]); rounding keeps the
	// blocks within one sample of 100 ms at any rate.
	var bounds []int
	for j := 0; ; j++ {
		// Compared before the conversion: at an absurd rate the bound
		// would overflow int, whose value Go then leaves to the platform.
		b := math.Round(float64(j) * segmentSeconds * float64(rate))
		if b > float64(n) {
			break
		}
		bounds = append(bounds, int(b))
	}
	segs := len(bounds) - 1
	if segs < momentarySegs {
		return out
	}
	energy := weightedEnergies(channels, layout, bounds, rate)
	if slices.ContainsFunc(energy, func(e float64) bool { return !isFinite(e) }) {
		// Finite samples cannot overflow the filters, so a non-finite
		// segment means a NaN or infinite sample, which would stay in the
		// filters' state and blank every block after it.
		energy = weightedEnergies(zeroNonFinite(channels, bounds[segs]), layout, bounds, rate)
	}

	blocks := windowPowers(energy, bounds, momentarySegs)
	out.Integrated = gatedLoudness(blocks)
	out.Range = loudnessRange(windowPowers(energy, bounds, shortTermSegs))
	if !isFinite(out.Integrated) {
		out.Integrated = SilentLUFS
	}
	if !isFinite(out.Range) {
		out.Range = 0
	}
	return out
}

// weightedEnergies returns Σ_i G_i Σ y_i² of each segment between bounds,
// y_i the K-weighted channel i, G_i as layout gives it.
func weightedEnergies(channels [][]float32, layout ChannelMask, bounds []int, rate Hz) []float64 {
	segs := len(bounds) - 1
	energy := make([]float64, segs)
	shelf, hp := kWeighting(rate)
	var todo []int // channels that count, filtered two at a time
	weights := channelWeights(layout, len(channels))
	for i, g := range weights {
		if g != 0 {
			todo = append(todo, i)
		}
	}
	end := bounds[segs]
	for len(todo) >= 2 {
		a, b := todo[0], todo[1]
		kWeightedEnergy2(channels[a][:end], channels[b][:end], bounds, shelf, hp, weights[a], weights[b], energy)
		todo = todo[2:]
	}
	if len(todo) == 1 {
		kWeightedEnergy(channels[todo[0]][:end], bounds, shelf, hp, weights[todo[0]], energy)
	}
	return energy
}

// zeroNonFinite returns copies of the first n samples of channels with
// every NaN and infinite sample set to 0: such a sample is damage, not a
// level, and MeasureLoudness measures the programme around it.
func zeroNonFinite(channels [][]float32, n int) [][]float32 {
	out := make([][]float32, len(channels))
	for c, x := range channels {
		y := make([]float32, n)
		for i, v := range x[:n] {
			if isFinite(float64(v)) {
				y[i] = v
			}
		}
		out[c] = y
	}
	return out
}

// kWeightedEnergy runs x through the two K-weighting stages and adds
// g·Σy² of each segment to energy.
func kWeightedEnergy(x []float32, bounds []int, s, h biquad, g float64, energy []float64) {
	// Direct form I: the state is the last inputs and outputs of each
	// stage, which stays well conditioned for the RLB pole near z = 1.
	// The high-pass's numerator is 1, −2, 1 at every rate, as in the
	// standard's table.
	var x1, x2, y1, y2, z1, z2 float64
	for j := range energy {
		var acc float64
		for _, v := range x[bounds[j]:bounds[j+1]] {
			in := float64(v)
			y := (s.b0*in + s.b1*x1 + s.b2*x2 - s.a2*y2) - s.a1*y1
			x2, x1 = x1, in
			z := (y - 2*y1 + y2 - h.a2*z2) - h.a1*z1
			y2, y1 = y1, y
			z2, z1 = z1, z
			acc += z * z
		}
		energy[j] += g * acc
	}
}

// kWeightedEnergy2 is kWeightedEnergy for two channels at once: their
// filters are independent chains, so interleaving them hides the latency
// of each recursion.
func kWeightedEnergy2(xa, xb []float32, bounds []int, s, h biquad, ga, gb float64, energy []float64) {
	var ax1, ax2, ay1, ay2, az1, az2 float64
	var bx1, bx2, by1, by2, bz1, bz2 float64
	for j := range energy {
		var accA, accB float64
		lo, hi := bounds[j], bounds[j+1]
		sa, sb := xa[lo:hi], xb[lo:hi]
		sb = sb[:len(sa)]
		for i, va := range sa {
			ina, inb := float64(va), float64(sb[i])
			// The previous output enters last, so each recursion waits
			// for one multiply and one add per sample, not three steps.
			ya := (s.b0*ina + s.b1*ax1 + s.b2*ax2 - s.a2*ay2) - s.a1*ay1
			yb := (s.b0*inb + s.b1*bx1 + s.b2*bx2 - s.a2*by2) - s.a1*by1
			ax2, ax1 = ax1, ina
			bx2, bx1 = bx1, inb
			za := (ya - 2*ay1 + ay2 - h.a2*az2) - h.a1*az1
			zb := (yb - 2*by1 + by2 - h.a2*bz2) - h.a1*bz1
			ay2, ay1 = ay1, ya
			by2, by1 = by1, yb
			az2, az1 = az1, za
			bz2, bz1 = bz1, zb
			accA += za * za
			accB += zb * zb
		}
		energy[j] += ga*accA + gb*accB
	}
}

// windowPowers returns the mean weighted square of every window of w
// consecutive segments, one per segment step.
func windowPowers(energy []float64, bounds []int, w int) []float64 {
	if len(energy) < w {
		return nil
	}
	p := make([]float64, len(energy)-w+1)
	var sum float64
	for j := range w - 1 {
		sum += energy[j]
	}
	for j := range p {
		sum += energy[j+w-1]
		p[j] = sum / float64(bounds[j+w]-bounds[j])
		sum -= energy[j]
	}
	return p
}

func powerToLUFS(p float64) float64 { return loudnessOffset + 10*math.Log10(p) }

func lufsToPower(l float64) float64 { return math.Pow(10, (l-loudnessOffset)/10) }

// gatedLoudness is the BS.1770-4 Annex 1 gated (integrated) loudness of
// 400 ms block powers: that of the blocks above −70 LUFS and less than
// 10 LU below the loudness of those.
func gatedLoudness(blocks []float64) float64 {
	abs := lufsToPower(absoluteGate)
	mean, n := meanAbove(blocks, abs)
	if n == 0 {
		return SilentLUFS
	}
	rel := max(abs, lufsToPower(powerToLUFS(mean)+relativeGate))
	if mean, n = meanAbove(blocks, rel); n == 0 {
		return SilentLUFS
	}
	return powerToLUFS(mean)
}

// meanAbove is the mean of the powers above gate, and how many there are.
func meanAbove(powers []float64, gate float64) (mean float64, n int) {
	var sum float64
	for _, p := range powers {
		if p > gate {
			sum += p
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// loudnessRange is the EBU Tech 3342 loudness range of short-term powers.
func loudnessRange(short []float64) float64 {
	abs := lufsToPower(absoluteGate)
	mean, n := meanAbove(short, abs)
	if n < 2 {
		return 0
	}
	rel := max(abs, lufsToPower(powerToLUFS(mean)+lraRelativeGate))
	var kept []float64
	for _, p := range short {
		if p > rel {
			kept = append(kept, powerToLUFS(p))
		}
	}
	if len(kept) < 2 {
		return 0
	}
	slices.Sort(kept)
	return percentile(kept, 0.95) - percentile(kept, 0.10)
}

// percentile interpolates linearly between the closest ranks of sorted x.
// EBU Tech 3342 names the 10th and 95th percentiles but no estimator; its
// reference code takes the nearest rank, which differs from this by less
// than the gap between neighbouring short-term values.
func percentile(x []float64, q float64) float64 {
	pos := q * float64(len(x)-1)
	i := int(pos)
	if i >= len(x)-1 {
		return x[len(x)-1]
	}
	f := pos - float64(i)
	return x[i] + f*(x[i+1]-x[i])
}

// truePeakDB is the largest absolute value of the channels (first n samples)
// upsampled four times, in dBTP (BS.1770-4 Annex 2).
//
// Interpolation costs 36 multiplies per input sample, so it is skipped
// wherever it provably cannot raise the running peak (which starts at the
// sample peak, a lower bound): a whole block when Σ|h|·max|x| over its
// neighbourhood stays below the peak, or when a bound from its largest
// samples and second differences does (loud but smooth stretches), and a
// single point when its six central taps plus the bound on the other six
// stay below it. Every bound holds with a margin for float32 rounding, so
// the shortcut never changes the result.
func truePeakDB(channels [][]float32, n int) float64 {
	// The interpolating phases of a windowed sinc cut off at the input
	// Nyquist frequency; phase 0 is the input sample itself. Tap i weighs
	// x[k-half+1+i] for a point frac after sample k.
	const taps, core = 2 * truePeakHalf, 6
	const coreFrom = truePeakHalf - core/2 // first central tap
	// roundMargin covers the float32 rounding of the central estimate (a
	// few ulps of Σ|h·x| ≤ 2·max|x|), in units of max|x|.
	const roundMargin = 1e-5
	var phases [truePeakFactor - 1][taps]float32
	var tail [truePeakFactor - 1]float64 // Σ|h| outside the central taps
	var bound float64                    // max over phases of Σ|h|
	for p := range phases {
		frac := float64(p+1) / truePeakFactor
		var l1 float64
		for i := range taps {
			u := frac + float64(truePeakHalf-1-i)
			x := u / truePeakHalf
			h := float32(sinc(u) * besselI0(truePeakBeta*math.Sqrt(max(0, 1-x*x))) / besselI0(truePeakBeta))
			phases[p][i] = h
			l1 += math.Abs(float64(h))
			if i < coreFrom || i >= coreFrom+core {
				tail[p] += math.Abs(float64(h))
			}
		}
		bound = max(bound, l1)
	}
	// The kernel is even, so the phase at 3/4 is the phase at 1/4 reversed
	// and the phase at 1/2 is its own reverse. On the central window c,
	// with s_j = c_j + c_{5-j} and d_j = c_j - c_{5-j}, the 1/4 and 3/4
	// estimates are E+O and E−O (E from s, O from d) and the 1/2 estimate
	// comes from s alone: nine multiplies for the three phases, and
	// max(|E+O|, |E−O|) = |E|+|O| tests the outer two at once.
	var even, odd, mid [core / 2]float32
	q, m := phases[0][coreFrom:coreFrom+core], phases[1][coreFrom:coreFrom+core]
	for j := range even {
		even[j] = float32((float64(q[j]) + float64(q[core-1-j])) / 2)
		odd[j] = float32((float64(q[j]) - float64(q[core-1-j])) / 2)
		mid[j] = m[j]
	}
	tailOuter := max(tail[0], tail[2]) + roundMargin
	tailMid := tail[1] + roundMargin

	// A second bound for smooth stretches: every phase is exactly a·x_k +
	// b·x_{k+1} plus Σ c_m·Δ²x_m over the second differences inside its
	// window (solve h_i = c_{i-1} − 2c_i + c_{i+1} from both ends, and a
	// and b from the two middle taps). So |y| ≤ (|a|+|b|)·max(|x_k|,
	// |x_{k+1}|) + Σ|c|·max|Δ²x|, which stays near the sample peak where
	// the signal is dominated by frequencies well below Nyquist, however
	// loud, while Σ|h|·max|x| exceeds it by 90 %.
	var lin, curve [truePeakFactor - 1]float64
	for p, h := range phases {
		var c [taps + 1]float64 // c[m] weighs Δ²x at tap m, 0 < m < taps-1; the rest stay 0
		for i := 0; i < truePeakHalf-1; i++ {
			c[i+1] = float64(h[i]) + 2*c[i] - c[max(i-1, 0)] // c[0] = 0
		}
		for i := taps - 1; i > truePeakHalf; i-- {
			c[i-1] = float64(h[i]) + 2*c[i] - c[i+1]
		}
		k := truePeakHalf - 1
		a := float64(h[k]) - (c[k-1] - 2*c[k] + c[k+1])
		b := float64(h[k+1]) - (c[k] - 2*c[k+1] + c[k+2])
		lin[p] = math.Abs(a) + math.Abs(b)
		for _, v := range c {
			curve[p] += math.Abs(v)
		}
	}
	linMax, curveMax := slices.Max(lin[:]), slices.Max(curve[:])

	// Block maxima of |x| as float bits: for non-negative floats the bit
	// patterns order like the values, and integer max is branch-free.
	nb := (n + truePeakBlock - 1) / truePeakBlock
	blockMax := make([]uint32, nb*len(channels))
	var peakBits uint32
	for c, x := range channels {
		bm := blockMax[c*nb : (c+1)*nb]
		peakBits = max(peakBits, blockAbsMaxBits(bm, x[:n]))
	}
	if peakBits >= math.Float32bits(float32(math.Inf(1))) {
		// A NaN or infinite sample would make the peak and every bound
		// it touches NaN or infinite: measure the programme around it.
		return truePeakDB(zeroNonFinite(channels, n), n)
	}
	peak := math.Float32frombits(peakBits)
	for c, x := range channels {
		x = x[:n]
		bm := blockMax[c*nb : (c+1)*nb]
		for b := range bm {
			nearBits := bm[b] // windows reach truePeakHalf ≤ truePeakBlock samples out
			if b > 0 {
				nearBits = max(nearBits, bm[b-1])
			}
			if b+1 < len(bm) {
				nearBits = max(nearBits, bm[b+1])
			}
			near := float64(math.Float32frombits(nearBits))
			if near*bound <= float64(peak) {
				continue
			}
			lo, hi := b*truePeakBlock, min(n, (b+1)*truePeakBlock)
			// Points whose window leaves x are few: interpolate them all.
			for lo < hi && lo-truePeakHalf+1 < 0 {
				peak = max(peak, edgePeak(&phases, x, lo))
				lo++
			}
			for hi > lo && hi-truePeakHalf+taps > n {
				hi--
				peak = max(peak, edgePeak(&phases, x, hi))
			}
			if lo >= hi {
				continue
			}
			// The smooth-stretch bound: the largest neighbour pair and
			// the largest second difference inside any window.
			pair := float64(max(math.Float32frombits(bm[b]), abs32(x[hi]))) // x[lo … hi]
			bend := float64(math.Float32frombits(bendMaxBits(x[lo-truePeakHalf+1 : hi+truePeakHalf])))
			if linMax*pair+curveMax*bend+roundMargin*near <= float64(peak) {
				continue
			}
			// A point needs interpolating when its central estimate
			// lies outside ±lim; the tests are written without abs so
			// that the values stay in float registers.
			limOuter := peak - float32(tailOuter*near)
			limMid := peak - float32(tailMid*near)
			for k := lo; k < hi; k++ {
				cw := x[k-truePeakHalf+1+coreFrom:][:core:core]
				s0, s1, s2 := cw[0]+cw[5], cw[1]+cw[4], cw[2]+cw[3]
				d0, d1, d2 := cw[0]-cw[5], cw[1]-cw[4], cw[2]-cw[3]
				e := even[0]*s0 + even[1]*s1 + even[2]*s2
				o := odd[0]*d0 + odd[1]*d1 + odd[2]*d2
				h := mid[0]*s0 + mid[1]*s1 + mid[2]*s2
				a, b := e+o, e-o
				if a > limOuter || -a > limOuter || b > limOuter || -b > limOuter {
					w := x[k-truePeakHalf+1:][:taps:taps]
					peak = max(peak, abs32(dot(phases[0][:], w)), abs32(dot(phases[2][:], w)))
					limOuter = peak - float32(tailOuter*near)
					limMid = peak - float32(tailMid*near)
				}
				if h > limMid || -h > limMid {
					w := x[k-truePeakHalf+1:][:taps:taps]
					peak = max(peak, abs32(dot(phases[1][:], w)))
					limOuter = peak - float32(tailOuter*near)
					limMid = peak - float32(tailMid*near)
				}
			}
		}
	}
	if peak == 0 {
		return SilentDBTP
	}
	return min(MaxDBTP, max(SilentDBTP, 20*math.Log10(float64(peak))))
}

// blockAbsMaxBits sets bm[b] to absMaxBits of block b of x (truePeakBlock
// samples, the last one possibly shorter) and returns the largest. One loop
// over the whole blocks, rather than a call per block, saves a sixth of the
// work.
func blockAbsMaxBits(bm []uint32, x []float32) uint32 {
	// The loop body reads q[0] … q[15]: it stops compiling if a block
	// is ever not 16 samples, rather than silently skipping samples.
	const _ = uint(truePeakBlock-16) + uint(16-truePeakBlock)
	const abs = ^uint32(1 << 31)
	var peak uint32
	whole := min(len(bm), len(x)/truePeakBlock)
	for b := range bm[:whole] {
		q := x[b*truePeakBlock : (b+1)*truePeakBlock : (b+1)*truePeakBlock]
		m0 := max(math.Float32bits(q[0])&abs, math.Float32bits(q[4])&abs, math.Float32bits(q[8])&abs, math.Float32bits(q[12])&abs)
		m1 := max(math.Float32bits(q[1])&abs, math.Float32bits(q[5])&abs, math.Float32bits(q[9])&abs, math.Float32bits(q[13])&abs)
		m2 := max(math.Float32bits(q[2])&abs, math.Float32bits(q[6])&abs, math.Float32bits(q[10])&abs, math.Float32bits(q[14])&abs)
		m3 := max(math.Float32bits(q[3])&abs, math.Float32bits(q[7])&abs, math.Float32bits(q[11])&abs, math.Float32bits(q[15])&abs)
		m := max(m0, m1, m2, m3)
		bm[b] = m
		peak = max(peak, m)
	}
	for b := whole; b < len(bm); b++ {
		bm[b] = absMaxBits(x[b*truePeakBlock : min(len(x), (b+1)*truePeakBlock)])
		peak = max(peak, bm[b])
	}
	return peak
}

// absMaxBits is the bit pattern of max|x| (0 for no samples). Four
// running maxima let the comparisons of consecutive samples overlap.
func absMaxBits(x []float32) uint32 {
	const abs = ^uint32(1 << 31)
	var m0, m1, m2, m3 uint32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		q := x[i : i+4 : i+4]
		m0 = max(m0, math.Float32bits(q[0])&abs)
		m1 = max(m1, math.Float32bits(q[1])&abs)
		m2 = max(m2, math.Float32bits(q[2])&abs)
		m3 = max(m3, math.Float32bits(q[3])&abs)
	}
	for ; i < len(x); i++ {
		m0 = max(m0, math.Float32bits(x[i])&abs)
	}
	return max(m0, m1, m2, m3)
}

// bendMaxBits is the bit pattern of the largest |x[i-1] − 2x[i] + x[i+1]|.
func bendMaxBits(x []float32) uint32 {
	const abs = ^uint32(1 << 31)
	var m0, m1 uint32
	i := 0
	for ; i+3 < len(x); i += 2 {
		q := x[i : i+4 : i+4]
		m0 = max(m0, math.Float32bits(q[0]-2*q[1]+q[2])&abs)
		m1 = max(m1, math.Float32bits(q[1]-2*q[2]+q[3])&abs)
	}
	if i+2 < len(x) {
		m0 = max(m0, math.Float32bits(x[i]-2*x[i+1]+x[i+2])&abs)
	}
	return max(m0, m1)
}

// edgePeak is the largest interpolated magnitude after sample k of x when
// the interpolator's window reaches past an end of x, where x is zero.
func edgePeak(phases *[truePeakFactor - 1][2 * truePeakHalf]float32, x []float32, k int) float32 {
	var peak float32
	for p := range phases {
		peak = max(peak, abs32(edgeDot(phases[p][:], x, k-truePeakHalf+1)))
	}
	return peak
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
