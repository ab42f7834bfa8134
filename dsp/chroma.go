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
	c := &ChromaFilter{fftSize: fftSize, rate: rate, p: p}
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
	return c
}

// Bins is the number of chroma values per frame: 36, three per semitone
// starting at C.
func (c *ChromaFilter) Bins() int { return chromaBins }

type spectralPeak struct {
	hz, amp float64
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
		suppressHarmonics(peaks[:n], c.p.suppress)
	}
	var acc [chromaBins]float64
	for _, p := range peaks[:n] {
		if p.amp <= 0 {
			continue
		}
		q := float64(chromaBins) * math.Log2(p.hz/chromaRefHz)
		a := p.amp
		if c.p.power != 1 {
			a = math.Pow(a, c.p.power)
		}
		spread(&acc, q, a)
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
	maxMag := 0.0
	for k := c.lo; k <= c.hi; k++ {
		if m := mag[k]; m > maxMag {
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
		a, b, g := logMag(mag[k-1]), math.Log(m), logMag(mag[k+1])
		off, den := 0.0, a-2*b+g
		if den < 0 {
			off = 0.5 * (a - g) / den
		}
		if off > 0.5 || off < -0.5 {
			off = 0
		}
		p := spectralPeak{
			hz:  (float64(k) + off) * binHz,
			amp: math.Exp(b - 0.25*(a-g)*off),
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

// logMag is a natural log of a magnitude that stays finite at zero.
func logMag(m float64) float64 {
	if m < 1e-300 {
		return math.Log(1e-300)
	}
	return math.Log(m)
}

// suppressHarmonics lowers each peak by the amplitude expected of it as the
// 3rd, 5th, 6th or 7th harmonic of a lower peak, so that a single note does
// not light up its fifth and third in the chroma. peaks must be in ascending
// frequency; each is reduced by its fundamentals' original amplitudes.
func suppressHarmonics(peaks []spectralPeak, scale float64) {
	var orig [chromaMaxPeaks]float64
	for i, p := range peaks {
		orig[i] = p.amp
	}
	for i := range peaks {
		fi := peaks[i].hz
		taken := 0.0
		for h, w := range harmonicWeight {
			if w == 0 {
				continue
			}
			lo, hi := fi/float64(h)*(1-chromaMatchRatio), fi/float64(h)*(1+chromaMatchRatio)
			// First peak at or above lo, by bisection over the lower peaks.
			a, b := 0, i
			for a < b {
				m := (a + b) / 2
				if peaks[m].hz < lo {
					a = m + 1
				} else {
					b = m
				}
			}
			best := 0.0
			for j := a; j < i && peaks[j].hz <= hi; j++ {
				best = math.Max(best, orig[j])
			}
			taken += scale * w * best
		}
		if taken > 0 {
			peaks[i].amp = math.Max(0, orig[i]-taken)
		}
	}
}

// spread adds amp to acc around the fractional bin position q (circular)
// with the Hann kernel of width chromaKernelWidth.
func spread(acc *[chromaBins]float64, q, amp float64) {
	const half = chromaKernelWidth / 2
	lo := int(math.Ceil(q - half))
	// cos²(πd/W) = (1 + cos(2πd/W))/2, stepped by the angle-addition
	// formula so that a peak costs one sincos however many bins it covers.
	step := 2 * math.Pi / chromaKernelWidth
	s1, c1 := math.Sincos(step)
	sn, cs := math.Sincos(step * (float64(lo) - q))
	for b := lo; float64(b) < q+half; b++ {
		idx := b % chromaBins
		if idx < 0 {
			idx += chromaBins
		}
		acc[idx] += amp * 0.5 * (1 + cs)
		cs, sn = cs*c1-sn*s1, sn*c1+cs*s1
	}
}
