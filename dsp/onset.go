package dsp

import "math"

// OnsetDetector turns successive magnitude spectra into an onset strength
// signal: the half-wave rectified increase of log-compressed energy in
// logarithmically spaced bands, summed over the bands (the spectral flux of
// Böck, Krebs & Schedl 2012, "Evaluating the online capabilities of onset
// detection methods", with a band filterbank). Grouping bins into bands
// first makes the onset of a note count once however many bins it spreads
// over, and costs a log per band instead of per bin.
//
// An OnsetDetector keeps the previous frame, so it must see the frames of
// one signal in order, and is not safe for concurrent use.
type OnsetDetector struct {
	// Band b covers the spectrum bins [bandLo[b], bandLo[b]+bandWidth[b]);
	// bandGain[b] is onsetCompression/bandWidth[b], which turns its
	// energy into the compressed mean power per bin.
	bandLo    []int
	bandWidth []float64
	bandGain  []float64
	cur, prev []float64
	primed    bool
}

// Onset filterbank: bands of a semitone above onsetLinearUntil, one bin
// each below (where semitones are narrower than a bin), from onsetLowest
// to onsetHighest. The range keeps kick drums and drops the hiss above
// the cymbals' body.
const (
	onsetLowest    = 30.0
	onsetHighest   = 11000.0
	bandsPerOctave = 12.0
	// λ in log(1 + λ·P) for P the mean power per bin of amplitude-
	// corrected magnitudes: 1e6 puts a bin at −60 dB near the knee, so the
	// flux follows relative (dB) changes over the whole musical range and
	// stays linear-ish, not noisy, in near silence.
	onsetCompression = 1e6
)

// NewOnsetDetector prepares a detector for spectra of an fftSize-point FFT
// of a signal sampled at rate.
func NewOnsetDetector(fftSize int, rate Hz) *OnsetDetector {
	bins := fftSize/2 + 1
	binHz := float64(rate) / float64(fftSize)
	bandOf := make([]int32, bins)
	band := int32(-1)
	var lastEdge float64
	for k := range bandOf {
		f := float64(k) * binHz
		if f < onsetLowest || f > onsetHighest {
			bandOf[k] = -1
			continue
		}
		// A new band starts when this bin is a semitone above the
		// current band's first bin, or the band is still empty.
		if band < 0 || f >= lastEdge*math.Pow(2, 1/bandsPerOctave) {
			band++
			lastEdge = f
		}
		bandOf[k] = band
	}
	n := int(band) + 1
	lo := make([]int, n)
	width := make([]float64, n)
	for k, b := range bandOf {
		if b >= 0 {
			if width[b] == 0 {
				lo[b] = k
			}
			width[b]++
		}
	}
	gain := make([]float64, n)
	for b, w := range width {
		gain[b] = onsetCompression / w
	}
	return &OnsetDetector{
		bandLo:    lo,
		bandWidth: width,
		bandGain:  gain,
		cur:       make([]float64, n),
		prev:      make([]float64, n),
	}
}

// Bands is the number of filterbank bands.
func (d *OnsetDetector) Bands() int { return len(d.cur) }

// Reset forgets the previous frame, as at the start of a new signal.
func (d *OnsetDetector) Reset() { d.primed = false }

// Next takes the next frame's window-corrected magnitudes (fftSize/2+1 of
// them, as in Frame.Mag) and returns its onset strength. The first frame
// after a reset has no predecessor and scores 0.
func (d *OnsetDetector) Next(mag []float64) float64 {
	cur := d.cur
	// Bands are runs of consecutive bins: summing each run in turn gives
	// the same sums as a per-bin band lookup without the lookup.
	for b, lo := range d.bandLo {
		hi := min(lo+int(d.bandWidth[b]), len(mag))
		var e float64
		for _, m := range mag[min(lo, hi):hi] {
			e += m * m
		}
		cur[b] = e
	}
	return d.flux()
}

// NextPower is Next for the frame's bin powers, the squares of its
// magnitudes (Frame.Power), which spares squaring them again.
func (d *OnsetDetector) NextPower(pow []float64) float64 {
	cur := d.cur
	for b, lo := range d.bandLo {
		hi := min(lo+int(d.bandWidth[b]), len(pow))
		p := pow[min(lo, hi):hi]
		// Two partial sums let the additions of wide bands overlap.
		var e0, e1 float64
		i := 0
		for ; i+2 <= len(p); i += 2 {
			e0 += p[i]
			e1 += p[i+1]
		}
		if i < len(p) {
			e0 += p[i]
		}
		cur[b] = e0 + e1
	}
	return d.flux()
}

// flux log-compresses the band energies in d.cur, returns the rectified
// increase over the previous frame's and keeps them for the next frame.
func (d *OnsetDetector) flux() float64 {
	cur := d.cur
	gain := d.bandGain[:len(cur)]
	var flux float64
	for b, e := range cur {
		// Mean power per bin keeps wide high bands from dominating.
		v := log1pNonNeg(gain[b] * e)
		cur[b] = v
		if d.primed {
			if diff := v - d.prev[b]; diff > 0 {
				flux += diff
			}
		}
	}
	d.cur, d.prev = d.prev, cur
	if !d.primed {
		d.primed = true
		return 0
	}
	return flux
}

// log1pNonNeg is ln(1+y) for y ≥ 0, as tableLog(1+y): rounding 1+y moves
// the result by at most 1.2e-16 and tableLog is good to 2e-13, so
// the error is absolute, not relative, which is what the flux's
// differences of logs need. Infinite, NaN or negative y go to math.Log1p.
func log1pNonNeg(y float64) float64 {
	if y >= 0 && y <= math.MaxFloat64 {
		return tableLog(1 + y)
	}
	return math.Log1p(y)
}

// logTableBits is how many leading mantissa bits index the tables of
// tableLog.
const logTableBits = 8

// logTableLn[i] is ln(1 + i/256) and logTableInv[i] its argument's
// inverse, for the mantissas that tableLog starts from.
var logTableLn, logTableInv = func() (ln, inv [1 << logTableBits]float64) {
	for i := range ln {
		c := 1 + float64(i)/(1<<logTableBits)
		ln[i], inv[i] = math.Log(c), 1/c
	}
	return ln, inv
}()

// tableLog is the natural logarithm of a positive, finite, normal x (the
// caller rules out the rest): the exponent from the bits, the mantissa m
// in [1, 2) as the tabulated c = 1 + i/256 just below it times 1 + r,
// r = (m−c)/c in [0, 1/256), and ln(1 + r) by its series to r⁴ (error
// below r⁵/5 < 2e-13). No division and no special cases: a third of
// fastLog's cost.
func tableLog(x float64) float64 {
	b := math.Float64bits(x)
	e := float64(int64(b>>52&0x7ff) - 1023)
	i := b >> (52 - logTableBits) & (1<<logTableBits - 1)
	m := math.Float64frombits(b&(1<<52-1) | 1023<<52) // [1, 2)
	c := math.Float64frombits(i<<(52-logTableBits) | 1023<<52)
	r := (m - c) * logTableInv[i]
	r2 := r * r
	return (e*math.Ln2 + logTableLn[i]) + (r - r2*((0.5-r*(1.0/3))+r2*0.25))
}
