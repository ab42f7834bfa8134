package dsp

import "math"

// OnsetDetector turns successive short-time spectra into an onset strength
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
	// Bands [0, lowEnd) start below RegisterLowHz: the low register of
	// OnsetFlux.
	lowEnd int
}

// OnsetFlux is one frame's onset strength, over all bands and over the
// low register alone.
type OnsetFlux struct {
	// All is the onset strength, summed over every band (what Next
	// returns).
	All float64
	// Low sums the bands that start below RegisterLowHz: kick drum and
	// bass, which mark the bar.
	Low float64
}

// RegisterLowHz is the upper edge of OnsetFlux's low register: below
// 200 Hz sit the kick drum's body and the bass notes (snares and voices
// keep most of their energy above). A band belongs to the register its
// lowest bin is in.
const RegisterLowHz Hz = 200

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
	// Bands rise in frequency, so the register is a run of them.
	lowEnd := n
	for b := n - 1; b >= 0; b-- {
		if Hz(float64(lo[b])*binHz) >= RegisterLowHz {
			lowEnd = b
		}
	}
	return &OnsetDetector{
		bandLo:    lo,
		bandWidth: width,
		bandGain:  gain,
		cur:       make([]float64, n),
		prev:      make([]float64, n),
		lowEnd:    lowEnd,
	}
}

// SetLift multiplies the band powers by g (1 unless set) before they are
// compressed: a song far quieter than the compression is set for has its
// notes near the knee, where their rises measure small.
func (d *OnsetDetector) SetLift(g float64) {
	for b, w := range d.bandWidth {
		d.bandGain[b] = onsetCompression * g / w
	}
}

// Reset forgets the previous frame, as at the start of a new signal.
func (d *OnsetDetector) Reset() { d.primed = false }

// Next takes the next frame of the signal and returns its onset strength,
// from the frame's bin powers (Frame.Power). The first frame after a reset
// has no predecessor and scores 0.
func (d *OnsetDetector) Next(f *Frame) float64 { return d.NextFlux(f).All }

// NextFlux is Next with the onset strength of the low register as well:
// the same band differences, the low register's summed apart.
func (d *OnsetDetector) NextFlux(f *Frame) OnsetFlux {
	pow := f.Power
	cur := d.cur
	// Bands are runs of consecutive bins: summing each run in turn needs no
	// per-bin band lookup.
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
// increase over the previous frame's, overall and in the low register,
// and keeps them for the next frame.
func (d *OnsetDetector) flux() OnsetFlux {
	cur := d.cur
	gain := d.bandGain[:len(cur)]
	prev := d.prev[:len(cur)]
	// The low register is a run of bands, summed before the rest (no
	// per-band register test); all runs on through every band in order,
	// so that All is the same sum whatever the register.
	var low, all float64
	low, all = rise(cur[:d.lowEnd], prev, gain, 0)
	_, all = rise(cur[d.lowEnd:], prev[d.lowEnd:], gain[d.lowEnd:], all)
	d.cur, d.prev = d.prev, cur
	if !d.primed {
		// No predecessor: the values above compared against stale ones.
		d.primed = true
		return OnsetFlux{}
	}
	return OnsetFlux{All: all, Low: low}
}

// rise log-compresses the band energies cur in place (gain, then log1p)
// and returns the sum of their rectified increases over prev, and total:
// all with each increase added to it in turn.
func rise(cur, prev, gain []float64, all float64) (sum, total float64) {
	prev, gain = prev[:len(cur)], gain[:len(cur)]
	total = all
	for b, e := range cur {
		// Mean power per bin keeps wide high bands from dominating.
		v := log1pNonNeg(gain[b] * e)
		if diff := v - prev[b]; diff > 0 {
			sum += diff
			total += diff
		}
		cur[b] = v
	}
	return sum, total
}
