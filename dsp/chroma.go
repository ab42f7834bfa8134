package dsp

import "math"

// Chroma resolution and range. Three bins per semitone let EstimateKey
// measure the tuning afterwards (Gómez 2006, "Tonal description of music
// audio signals", PhD thesis, UPF: the HPCP); the range leaves out the
// lowest octaves, where a 2048-point frame at 22050 Hz cannot separate
// neighbouring semitones, and the top, where there is little pitched energy.
const (
	chromaBinsPerSemitone = 3
	chromaBins            = 12 * chromaBinsPerSemitone
	chromaMinHz           = 80
	chromaMaxHz           = 5000
	// chromaKernelWidth is the width of the Hann kernel that spreads a peak
	// over neighbouring bins, in bins. At 4.5 bins (1.5 semitones) the
	// kernel's spectrum vanishes at 2/3 and 4/3 cycles per bin, so the phase
	// of the period-3 component of the chroma moves linearly with a peak's
	// offset from equal temperament: that is what makes the tuning estimate
	// in EstimateKey unbiased.
	chromaKernelWidth = 4.5
	// chromaFloorDB drops spectral peaks this far below the frame's largest.
	chromaFloorDB = 60
	// chromaMaxPeaks bounds the peaks kept per frame (the strongest win).
	// A 4096-point frame at 22050 Hz has at most ~460 local maxima in
	// range, so normally every peak is kept and none has to be ranked.
	chromaMaxPeaks = 512
	// chromaMatchRatio is how close (relative frequency, ~34 cents) a peak
	// must lie to h times a lower peak to count as its h-th harmonic.
	chromaMatchRatio = 0.02
)

// chromaRefHz is C4 at A440 equal temperament: bin 0 of the chroma.
var chromaRefHz = 440 * math.Pow(2, -9.0/12)

// harmonicWeight is the fraction of a lower peak's amplitude taken away from
// a peak found at its h-th harmonic. Only harmonics that add a foreign pitch
// class are suppressed (3 and 6: the fifth, 5: the major third, 7: the minor
// seventh); octaves (2, 4) only reinforce the fundamental's own class. The
// weights assume harmonic amplitudes of 2/h of the fundamental's (a harmonic
// model as in Gómez 2006, §3.3, used the other way round: to remove
// partials, not to add them); on the development corpus 2/h scored better
// than 1/h and no worse than 3/h (see TestKeyCorpus).
var harmonicWeight = [8]float64{3: 2.0 / 3, 5: 2.0 / 5, 6: 2.0 / 6, 7: 2.0 / 7}

// ChromaFilter maps one magnitude spectrum to a 36-bin pitch-class profile
// (three bins per semitone, bin 0 = C at A440) from its spectral peaks, after
// removing the energy that peaks owe to a lower note's harmonics. It holds
// no per-frame state, so one filter may be shared by several goroutines.
type ChromaFilter struct {
	fftSize int
	rate    Hz
	lo, hi  int // FFT bins searched for peaks
	p       chromaParams
	k       chromaKernel
	// binQ[k] is the chroma position of FFT bin k's centre,
	// 36·log2(f_k/chromaRefHz); binInv[k] is 1/k. Together they turn a
	// refined peak's position into chroma bins with a short series instead
	// of a logarithm.
	binQ, binInv []float64
	harm         [4]harmonicMatch
}

// harmonicMatch is one harmonic that suppressHarmonics looks for: a peak at
// f loses w times the amplitude of the strongest peak in [lo·f, hi·f].
type harmonicMatch struct {
	lo, hi, w float64
}

// chromaKernel holds the sines and cosines spread steps its kernel with,
// computed once per filter rather than once per peak.
type chromaKernel struct {
	stepSin, stepCos float64 // of the angle between neighbouring bins, 2π/W
	midSin, midCos   float64 // of half that angle
}

func newChromaKernel() chromaKernel {
	step := 2 * math.Pi / chromaKernelWidth
	var k chromaKernel
	k.stepSin, k.stepCos = math.Sincos(step)
	k.midSin, k.midCos = math.Sincos(step / 2)
	return k
}

// chromaParams are the tunable parts of the filter, kept together so the
// corpus harness can compare variants; NewChromaFilter uses
// defaultChromaParams.
type chromaParams struct {
	minHz, maxHz float64
	// suppress scales harmonicWeight (0 turns suppression off, 0.5 assumes
	// harmonics of 1/h, 1.5 of 3/h).
	suppress float64
	// power is the exponent applied to peak amplitudes (1: amplitude,
	// 2: energy).
	power float64
}

var defaultChromaParams = chromaParams{minHz: chromaMinHz, maxHz: chromaMaxHz, suppress: 1, power: 1}

// NewChromaFilter prepares the mapping for spectra of an fftSize-point FFT
// of a signal sampled at rate.
func NewChromaFilter(fftSize int, rate Hz) *ChromaFilter {
	return newChromaFilter(fftSize, rate, defaultChromaParams)
}

func newChromaFilter(fftSize int, rate Hz, p chromaParams) *ChromaFilter {
	c := &ChromaFilter{fftSize: fftSize, rate: rate, p: p, k: newChromaKernel()}
	if fftSize < 4 || !(rate > 0) {
		return c
	}
	binHz := float64(rate) / float64(fftSize)
	c.lo = int(math.Floor(p.minHz / binHz))
	if c.lo < 1 {
		c.lo = 1
	}
	c.hi = int(math.Ceil(p.maxHz / binHz))
	if c.hi > fftSize/2-1 {
		c.hi = fftSize/2 - 1
	}
	if c.hi <= c.lo {
		return c
	}
	c.binQ = make([]float64, c.hi+1)
	c.binInv = make([]float64, c.hi+1)
	for k := c.lo; k <= c.hi; k++ {
		c.binQ[k] = chromaBins * math.Log2(float64(k)*binHz/chromaRefHz)
		c.binInv[k] = 1 / float64(k)
	}
	i := 0
	for h, w := range harmonicWeight {
		if w != 0 && i < len(c.harm) {
			c.harm[i] = harmonicMatch{
				lo: (1 - chromaMatchRatio) / float64(h),
				hi: (1 + chromaMatchRatio) / float64(h),
				w:  p.suppress * w,
			}
			i++
		}
	}
	return c
}

// Bins is the number of chroma values per frame: 36, three per semitone
// starting at C.
func (c *ChromaFilter) Bins() int { return chromaBins }

type spectralPeak struct {
	hz, amp float64
	q       float64 // position in chroma bins, 36·log2(hz/chromaRefHz)
}

// Apply writes the chroma of mag (fftSize/2+1 magnitudes) into dst (Bins
// long). Values are linear amplitudes, summed over the peaks that fall in
// each bin; EstimateKey normalises and compresses them. Apply does not
// allocate. A short mag or dst leaves what cannot be computed at zero.
func (c *ChromaFilter) Apply(mag []float64, dst []float32) {
	for i := range dst {
		dst[i] = 0
	}
	if len(dst) < chromaBins || c.hi <= c.lo || len(mag) < c.hi+2 {
		return
	}
	var peaks [chromaMaxPeaks]spectralPeak
	n := c.findPeaks(mag, &peaks)
	if c.p.suppress > 0 {
		suppressHarmonics(peaks[:n], &c.harm)
	}
	var acc [chromaBins]float64
	for _, p := range peaks[:n] {
		if p.amp <= 0 {
			continue
		}
		a := p.amp
		if c.p.power != 1 {
			a = math.Pow(a, c.p.power)
		}
		c.k.spread(&acc, p.q, a)
	}
	for i, v := range acc {
		dst[i] = float32(v)
	}
}

// findPeaks collects the local maxima of mag between c.lo and c.hi that lie
// within chromaFloorDB of the largest, refined by parabolic interpolation of
// the log magnitude (Smith & Serra 1987, "PARSHL", §6: for a Hann window the
// frequency error stays within a few hundredths of a bin). It returns how
// many it put in peaks, in ascending frequency.
func (c *ChromaFilter) findPeaks(mag []float64, peaks *[chromaMaxPeaks]spectralPeak) int {
	mag = mag[:c.hi+2]
	// A plain comparison, not max: the builtin's NaN and signed-zero care
	// costs more than the whole loop otherwise does.
	maxMag := 0.0
	for _, m := range mag[c.lo : c.hi+1] {
		if m > maxMag {
			maxMag = m
		}
	}
	if !(maxMag > 0) || math.IsInf(maxMag, 0) {
		return 0
	}
	floor := maxMag * math.Pow(10, -chromaFloorDB/20)
	binHz := float64(c.rate) / float64(c.fftSize)
	n, shuffled := 0, false
	for k := c.lo; k <= c.hi; k++ {
		m := mag[k]
		if !(m > floor) || !(m > mag[k-1]) || !(m >= mag[k+1]) {
			continue
		}
		// Logarithms relative to the peak: a, g ≤ 0.
		inv := 1 / m
		a, g := logRatio(mag[k-1], m, inv), logRatio(mag[k+1], m, inv)
		off, den := 0.0, a+g
		if den < 0 {
			off = 0.5 * (a - g) / den
		}
		if off > 0.5 || off < -0.5 {
			off = 0
		}
		p := spectralPeak{
			hz:  (float64(k) + off) * binHz,
			amp: m * smallExp(-0.25*(a-g)*off),
			// log2(k+off) = log2 k + log2(1 + off/k), |off/k| ≤ 1/14.
			q: c.binQ[k] + chromaBins/math.Ln2*smallLog1p(off*c.binInv[k]),
		}
		if n < len(peaks) {
			peaks[n] = p
			n++
			continue
		}
		// Full: replace the weakest peak if this one is stronger.
		w := 0
		for i := range peaks {
			if peaks[i].amp < peaks[w].amp {
				w = i
			}
		}
		if p.amp > peaks[w].amp {
			peaks[w] = p
			shuffled = true
		}
	}
	if shuffled {
		for i := 1; i < n; i++ {
			for j := i; j > 0 && peaks[j].hz < peaks[j-1].hz; j-- {
				peaks[j], peaks[j-1] = peaks[j-1], peaks[j]
			}
		}
	}
	return n
}

// logRatio is ln(max(x, 1e-300)/m) for a magnitude x next to a peak m > 0
// (inv = 1/m): one logarithm of the ratio rather than two, unless the
// ratio would leave the normal floating-point range.
func logRatio(x, m, inv float64) float64 {
	if x < 1e-300 {
		x = 1e-300
	}
	if r := x * inv; r >= 0x1p-1022 {
		return fastLog(r)
	}
	return fastLog(x) - fastLog(m)
}

// smallLog1p is ln(1+u) for |u| ≤ 1/14 by its series to u⁸ (error below
// 1e-10), grouped so that the terms are computed side by side.
func smallLog1p(u float64) float64 {
	u2 := u * u
	u4 := u2 * u2
	return u*(1-u*(1.0/2)) + u2*u*((1.0/3)-u*(1.0/4)) +
		u4*u*((1.0/5)-u*(1.0/6)) + u4*u2*u*((1.0/7)-u*(1.0/8))
}

// smallExp is e^x, by its Taylor series to x⁷ (relative error below 1e-9)
// when |x| ≤ 0.25 — the peak corrections findPeaks makes almost always are —
// and by math.Exp otherwise. The terms are grouped in pairs so that they
// are computed side by side rather than in one long chain.
func smallExp(x float64) float64 {
	if x > 0.25 || x < -0.25 {
		return math.Exp(x)
	}
	x2 := x * x
	x4 := x2 * x2
	return (1 + x) + x2*((1.0/2)+x*(1.0/6)) +
		x4*(((1.0/24)+x*(1.0/120))+x2*((1.0/720)+x*(1.0/5040)))
}

// suppressHarmonics lowers each peak by the amplitude expected of it as the
// 3rd, 5th, 6th or 7th harmonic of a lower peak, so that a single note does
// not light up its fifth and third in the chroma. peaks must be in ascending
// frequency; each is reduced by its fundamentals' original amplitudes.
func suppressHarmonics(peaks []spectralPeak, harm *[4]harmonicMatch) {
	var taken [chromaMaxPeaks]float64
	taken1 := taken[:len(peaks)]
	// One harmonic at a time: the window f·[lo, hi] of the possible
	// fundamentals only moves up as the peak does, so its start is a pointer
	// walking once over the peaks instead of a search per peak.
	for h := range harm {
		m := harm[h]
		a := 0
		for i := range peaks {
			fi := peaks[i].hz
			lo, hi := fi*m.lo, fi*m.hi
			for a < i && peaks[a].hz < lo {
				a++
			}
			best := 0.0
			for j := a; j < i && peaks[j].hz <= hi; j++ {
				if v := peaks[j].amp; v > best {
					best = v
				}
			}
			taken1[i] += m.w * best
		}
	}
	for i, t := range taken1 {
		if t > 0 {
			peaks[i].amp = max(0, peaks[i].amp-t)
		}
	}
}

// spread adds amp to acc around the fractional bin position q (circular)
// with the Hann kernel of width chromaKernelWidth.
func (k *chromaKernel) spread(acc *[chromaBins]float64, q, amp float64) {
	const half = chromaKernelWidth / 2
	lo := int(math.Ceil(q - half))
	// cos²(πd/W) = (1 + cos(2πd/W))/2, stepped by the angle-addition
	// formula from the first bin's angle, which lies in [−π, −π+step).
	step := 2 * math.Pi / chromaKernelWidth
	sn, cs := k.start(step * (float64(lo) - q))
	s1, c1 := k.stepSin, k.stepCos
	idx := lo % chromaBins
	if idx < 0 {
		idx += chromaBins
	}
	amp *= 0.5
	for b := lo; float64(b) < q+half; b++ {
		acc[idx] += amp * (1 + cs)
		cs, sn = cs*c1-sn*s1, sn*c1+cs*s1
		if idx++; idx == chromaBins {
			idx = 0
		}
	}
}

// start returns sin θ and cos θ for θ in [−π, −π+2π/chromaKernelWidth]
// by Taylor series about the middle of that range (error below 1e-9), which
// is all spread needs and much cheaper than math.Sincos's range reduction.
func (k *chromaKernel) start(theta float64) (sin, cos float64) {
	const mid = math.Pi / chromaKernelWidth // half the range, ≈ 0.70
	v := theta + math.Pi - mid              // |v| ≤ mid
	v2 := v * v
	sv := v * (1 - v2*(1.0/6-v2*(1.0/120-v2*(1.0/5040-v2*(1.0/362880)))))
	cv := 1 - v2*(1.0/2-v2*(1.0/24-v2*(1.0/720-v2*(1.0/40320-v2*(1.0/3628800)))))
	sm, cm := k.midSin, k.midCos
	// θ = −π + mid + v: sin θ = −sin(mid+v), cos θ = −cos(mid+v).
	return -(sm*cv + cm*sv), -(cm*cv - sm*sv)
}
