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
	// Band b covers the spectrum bins [bandLo[b], bandLo[b]+bandWidth[b]).
	bandLo    []int
	bandWidth []float64
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
	return &OnsetDetector{
		bandLo:    lo,
		bandWidth: width,
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
	var flux float64
	for b, e := range cur {
		// Mean power per bin keeps wide high bands from dominating.
		v := math.Log1p(onsetCompression * e / d.bandWidth[b])
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
