package dsp

// The chroma filter as it was before it was made faster, kept verbatim so
// that TestChromaMatchesReference can hold the fast one to the same output.

import "math"

type refPeak struct {
	hz, amp float64
}

// Apply writes the chroma of mag (fftSize/2+1 magnitudes) into dst (Bins
// long). Values are linear amplitudes, summed over the peaks that fall in
// each bin; EstimateKey normalises and compresses them. Apply does not
// allocate. A short mag or dst leaves what cannot be computed at zero.
func refChromaApply(c *ChromaFilter, mag []float64, dst []float32) {
	for i := range dst {
		dst[i] = 0
	}
	if len(dst) < chromaBins || c.hi <= c.lo || len(mag) < c.hi+2 {
		return
	}
	var peaks [chromaMaxPeaks]refPeak
	n := refFindPeaks(c, mag, &peaks)
	if c.p.suppress > 0 {
		refSuppressHarmonics(peaks[:n], c.p.suppress)
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
		refSpread(&acc, q, a)
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
func refFindPeaks(c *ChromaFilter, mag []float64, peaks *[chromaMaxPeaks]refPeak) int {
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
		a, b, g := refLogMag(mag[k-1]), math.Log(m), refLogMag(mag[k+1])
		off, den := 0.0, a-2*b+g
		if den < 0 {
			off = 0.5 * (a - g) / den
		}
		if off > 0.5 || off < -0.5 {
			off = 0
		}
		p := refPeak{
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
func refLogMag(m float64) float64 {
	if m < 1e-300 {
		return math.Log(1e-300)
	}
	return math.Log(m)
}

// suppressHarmonics lowers each peak by the amplitude expected of it as the
// 3rd, 5th, 6th or 7th harmonic of a lower peak, so that a single note does
// not light up its fifth and third in the chroma. peaks must be in ascending
// frequency; each is reduced by its fundamentals' original amplitudes.
func refSuppressHarmonics(peaks []refPeak, scale float64) {
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
func refSpread(acc *[chromaBins]float64, q, amp float64) {
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
