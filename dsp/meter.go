package dsp

import "math"

// Meter is how a song's beats group into bars and divide into notes.
//
// The grouping is read the way Gouyon & Herrera (2003, "Determination of
// the meter of musical audio signals: seeking recurrences in beat segment
// descriptors", AES 114th Convention) read it: from the beat-synchronous
// descriptors that recur with the bar, here the harmony (chords change on
// the bar line, Goto & Muraoka 1999) and the accents of the onset signal.
// The division is read from where onsets fall inside the beat.
type Meter struct {
	// BeatsPerBar is 3 for triple time and 4 for duple or quadruple time
	// (two and four beats to the bar are not told apart: a bar of four is
	// two bars of two, and harmony and accents say the same of both); 0
	// when the metre was not measured.
	BeatsPerBar int
	// Division is 2 when the beat divides in two (simple time) and 3 when
	// it divides in three (compound time: jigs, shuffles, swung eighths);
	// 0 when the metre was not measured.
	Division int
}

// String spells the metre as the time signature a musician would write
// with the song's beat as its beat: the quarter note in simple time and
// the dotted quarter in compound time, so "4/4", "3/4", "6/8" or "9/8"
// (6/8 standing for 12/8 too); "" for an unmeasured metre.
func (m Meter) String() string {
	switch {
	case m.BeatsPerBar == 4 && m.Division == 2:
		return "4/4"
	case m.BeatsPerBar == 3 && m.Division == 2:
		return "3/4"
	case m.BeatsPerBar == 4 && m.Division == 3:
		return "6/8"
	case m.BeatsPerBar == 3 && m.Division == 3:
		return "9/8"
	}
	return ""
}

// MeterChunk is one analysis chunk's evidence for EstimateMeter: its
// onset strength signal, one value per frame, and its chroma, Bins values
// for every Stride-th frame (frame-major, as ChromaFilter.Apply makes
// them).
type MeterChunk struct {
	Onset  []float32
	Chroma []float32
	// Own is the range [lo, hi) of Onset's frames that no other chunk
	// repeats (see TempoChunk); the zero range means all of
	// them. Beats outside it still shape the chunk's folds but count
	// towards no total, so a stretch two chunks hold counts once.
	Own [2]int
}

// MeterEvidence is what EstimateMeter measured, for tests and reports.
type MeterEvidence struct {
	// Beats is how many beats the grouping was measured over.
	Beats int
	// Triple and Quadruple are how strongly the chord changes and the
	// accents recur every three and every four beats: the contrast of the
	// beat-synchronous series folded at that period beyond chance (see
	// foldContrast), chord changes and accents added; never below 0.
	Triple, Quadruple float64
	// Halves and Thirds are the onset strength half-way through the beat
	// and at its thirds (the stronger of the two), relative to the onset
	// strength on the beat.
	Halves, Thirds float64
}

// Thresholds of the metre decisions. On the development corpus the number
// of pieces given their written time signature stays the same for any
// triple-to-quadruple ratio from 0.5 to 1.3 and any thirds-to-halves ratio
// from 1.0 to 2.0.
const (
	// meterTripleRatio is how large the triple evidence must be against
	// the quadruple evidence for triple time: a bar of four also recurs
	// partly every three beats by chance, never the other way round.
	meterTripleRatio = 0.9
	// meterMinGrouping is the least bar-level evidence beyond chance
	// (triple or quadruple) for a grouping to be reported: below it
	// neither the harmony nor the accents mark bars, as in a metronome.
	meterMinGrouping = 0.02
	// meterThirdsOverHalves and meterMinThirds: a beat divides in three
	// when onsets at its thirds clearly outweigh those half-way through
	// it and are not stray (a third of the onset on the beat at least).
	meterThirdsOverHalves = 1.3
	meterMinThirds        = 0.3
	// meterBarBeats is the unit in which beats are taken, the least
	// common multiple of 3 and 4, so that each fold sees whole bars.
	meterBarBeats = 12
	// meterMinBeats is the least number of beats a metre is reported
	// from: two bar-units of 12.
	meterMinBeats = 2 * meterBarBeats
)

// EstimateMeter measures the metre of a song whose beat is bpm, from its
// chunks' onset and chroma series sampled at frameRate (chroma every
// stride frames, bins values each). It returns the zero Meter when the
// evidence is too thin to decide: a tempo that is not positive, fewer than
// meterMinBeats beats, or no bar-level recurrence at all.
func EstimateMeter(chunks []MeterChunk, bins, stride int, frameRate Hz, bpm float64) (Meter, MeterEvidence) {
	var ev MeterEvidence
	rate := float64(frameRate)
	if !(bpm > 0) || !(rate > 0) || math.IsInf(rate, 0) || math.IsInf(bpm, 0) || stride < 1 || bins < 0 {
		return Meter{}, ev
	}
	period := 60 * rate / bpm
	var on, halves, thirds float64
	for _, c := range chunks {
		o := prepareOnset(c.Onset, rate)
		if o == nil || period < 3 || float64(len(o)) < float64(meterBarBeats+2)*period {
			continue
		}
		chroma := c.Chroma
		if bins == 0 || len(chroma) < bins {
			chroma = nil // accents alone
		}
		b := beatGrid(o, period)
		acc, nov := beatSeries(o, chroma, bins, stride, b, period)
		lo, hi := c.Own[0], c.Own[1]
		if lo == 0 && hi == 0 {
			hi = len(o)
		}
		var owned []float64
		for _, t := range b {
			if t >= float64(lo) && t < float64(hi) {
				owned = append(owned, t)
			}
		}
		d := beatDivision(o, owned, period)
		on, halves, thirds = on+d.on, halves+d.halves, thirds+d.thirds
		// Novelty starts at the second beat; both series are cut to whole
		// bar-units so each position in a bar of 3 or 4 is seen equally.
		n := (len(nov) - 1) / meterBarBeats * meterBarBeats
		if n < meterBarBeats || len(owned) == 0 {
			continue
		}
		a, h := acc[1:n+1], nov[1:n+1]
		w := float64(min(len(owned), n))
		ev.Triple += w * (foldContrast(a, 3) + foldContrast(h, 3))
		ev.Quadruple += w * (foldContrast(a, 4) + foldContrast(h, 4))
		ev.Beats += int(w)
	}
	if ev.Beats == 0 || on <= 0 {
		return Meter{}, ev
	}
	// Chance is taken out of each chunk's evidence; what is left may be
	// below 0 in a chunk, and only the song's total says there are no bars.
	ev.Triple = max(0, ev.Triple/float64(ev.Beats))
	ev.Quadruple = max(0, ev.Quadruple/float64(ev.Beats))
	ev.Halves, ev.Thirds = halves/on, thirds/on
	if ev.Beats < meterMinBeats || max(ev.Triple, ev.Quadruple) < meterMinGrouping {
		return Meter{}, ev
	}
	m := Meter{BeatsPerBar: 4, Division: 2}
	if ev.Triple > meterTripleRatio*ev.Quadruple {
		m.BeatsPerBar = 3
	}
	if ev.Thirds > meterThirdsOverHalves*ev.Halves && ev.Thirds > meterMinThirds {
		m.Division = 3
	}
	return m, ev
}

// beatGrid places beats period frames apart at the phase where the onset
// signal is strongest on average, leaving room for a whole beat after the
// last one.
func beatGrid(o []float64, period float64) []float64 {
	phase, _ := strongestPhase(o, period)
	var b []float64
	for t := phase; t+period < float64(len(o)-1); t += period {
		b = append(b, t)
	}
	return b
}

// division is the onset strength summed over beats: on them, half-way
// through them, and at their thirds (the stronger of the two).
type division struct{ on, halves, thirds float64 }

// beatDivision measures where onsets fall inside the beats of prepared
// onset signal o, placed at beats period frames apart.
func beatDivision(o []float64, beats []float64, period float64) division {
	var d division
	w := peakWindow(period)
	for _, t := range beats {
		d.on += peakNear(o, t, w)
		d.halves += peakNear(o, t+period/2, w)
		d.thirds += max(peakNear(o, t+period/3, w), peakNear(o, t+2*period/3, w))
	}
	return d
}

// beatSeries returns, for each beat, its accent (the onset peak at the
// beat) and its chord change: the cosine distance between the
// log-compressed chroma summed over the beat and over the beat before
// (0 for the first beat and where either beat has no chroma).
func beatSeries(o []float64, chroma []float32, bins, stride int, beats []float64, period float64) (acc, nov []float64) {
	acc = make([]float64, len(beats))
	nov = make([]float64, len(beats))
	w := peakWindow(period)
	for j, t := range beats {
		acc[j] = peakNear(o, t, w)
	}
	if bins <= 0 || len(chroma) < bins {
		return acc, nov
	}
	frames := len(chroma) / bins
	sums := make([]float64, len(beats)*bins)
	var peak float64
	for j, t := range beats {
		lo := int(math.Ceil(t / float64(stride)))
		hi := int(math.Ceil((t + period) / float64(stride)))
		s := sums[j*bins : (j+1)*bins]
		for k := max(lo, 0); k < min(hi, frames); k++ {
			for i, v := range chroma[k*bins : (k+1)*bins] {
				if f := float64(v); f > 0 && isFinite(f) {
					s[i] += f
				}
			}
		}
		for _, v := range s {
			peak = max(peak, v)
		}
	}
	if peak <= 0 {
		return acc, nov
	}
	// Log compression (as for the key) keeps one loud note from deciding
	// whether the harmony changed.
	for i, v := range sums {
		sums[i] = math.Log1p(100 * v / peak)
	}
	for j := 1; j < len(beats); j++ {
		a, b := sums[(j-1)*bins:j*bins], sums[j*bins:(j+1)*bins]
		var ab, aa, bb float64
		for i := range a {
			ab += a[i] * b[i]
			aa += a[i] * a[i]
			bb += b[i] * b[i]
		}
		if aa > 0 && bb > 0 {
			nov[j] = 1 - ab/math.Sqrt(aa*bb)
		}
	}
	return acc, nov
}

// peakWindow is how many frames either side of a position in the beat an
// onset may fall and still count as there: a twelfth of the beat, which
// keeps the windows at its half and its thirds apart at any tempo.
func peakWindow(period float64) int { return int(period / 12) }

// peakNear is the largest value of x within w frames of t.
func peakNear(x []float64, t float64, w int) float64 {
	c := int(math.Round(t))
	var m float64
	for i := max(c-w, 0); i <= min(c+w, len(x)-1); i++ {
		m = max(m, x[i])
	}
	return m
}

// foldContrast is how much more x holds at its strongest position in a
// cycle of g than on average, beyond what chance alone would give it: the
// best of the g position means, less the excess over the mean that the
// best of g means of x's values in random order is expected to have, over
// the overall mean, less one; so a series with no cycle, such as the
// chord changes of noise, scores about 0 however unsteady it is, and may
// score below 0. It is 0 when x is all zero.
func foldContrast(x []float64, g int) float64 {
	var all float64
	for _, v := range x {
		all += v
	}
	if all <= 0 || len(x) < g {
		return 0
	}
	mean := all / float64(len(x))
	var best, ss float64
	for p := range g {
		var s float64
		k := 0
		for i := p; i < len(x); i += g {
			s += x[i]
			k++
		}
		best = max(best, s/float64(k))
	}
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(ss / float64(len(x)))
	chance := expectedMaxNormal(g) * sd / math.Sqrt(float64(len(x))/float64(g))
	return (best-chance)/mean - 1
}

// expectedMaxNormal is the expected largest of g independent standard
// normal values (Tippett 1925), for the bar lengths g = 3 and 4.
func expectedMaxNormal(g int) float64 {
	if g == 3 {
		return 0.846284
	}
	return 1.029375
}
