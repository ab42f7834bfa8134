package dsp

import (
	"math"
	"math/rand/v2"
	"slices"
)

// The register check of the octave decision. The beat-rate prior favours
// the faster of two octaves that the onsets support alike, and on the
// development corpus it doubled a slow beat whose eighth notes a drummer
// plays on the hi-hat (87 BPM read as 174). The low register tells the
// two apart where the full-band onset cannot: the bass and kick drum mark
// the bar (Goto 2001, "An audio-based real-time beat tracking system and
// its applications"; Klapuri, Eronen & Astola 2006, "Analysis of the
// meter of acoustic musical signals"), so a level whose bar of four
// pulses the kick marks only every other time is the tatum of a beat an
// octave slower. (A second cue, the hi-hats playing half-way between the
// level's pulses, was tried and dropped: its weight did not survive
// cross-validation on the corpus, where slow beats with busy hats are
// common.)

// registerOnsets is one chunk's low register onsets (TempoChunk.Low),
// prepared as its onset signal is (prepareOnset).
type registerOnsets struct {
	// low is nil when the register shows no rise in the chunk, or the
	// chunk came without register onsets (then weight is 0).
	low []float64
	// weight is the chunk's say in the song's evidence: the frames it
	// owns, so that a stretch two chunks hold counts once.
	weight float64
}

// prepareRegisters prepares chunk c's register onsets; own is the range of
// its frames it owns. A chunk without register onsets of its onset's
// length gets weight 0: it has no say.
func prepareRegisters(c TempoChunk, own [2]int, rate float64) registerOnsets {
	if len(c.Low) != len(c.Onset) || len(c.Onset) == 0 {
		return registerOnsets{}
	}
	return registerOnsets{
		low:    prepareOnset(c.Low, rate),
		weight: float64(max(0, own[1]-own[0])),
	}
}

// own is the range of c's frames that it owns: c.Own within Onset, or all
// of Onset for the zero range.
func (c TempoChunk) own() [2]int {
	if c.Own == ([2]int{}) {
		return [2]int{0, len(c.Onset)}
	}
	lo := min(max(0, c.Own[0]), len(c.Onset))
	return [2]int{lo, max(lo, min(len(c.Onset), c.Own[1]))}
}

// halfTempoEvidence is what the low register says about whether a level
// of period P (in frames) is the beat, or the tatum of a beat an octave
// slower.
type halfTempoEvidence struct {
	// BarAccent is how much more a pulse every eight periods stands out
	// in the low register's onsets (bass and kick) than chance makes it:
	// ln(S(8P)/S(4P)), S(T) the largest mean over phases of the onsets
	// every T frames, less its mean over surrogates whose bars of four
	// periods are shuffled (barAccent). A beat an octave slower has its
	// bar of four at 8P, and the kick marks it; if P is the beat, 8P is
	// two bars, marked no more than one, and BarAccent is 0 in
	// expectation, as it is for evenly spaced clicks.
	BarAccent float64
}

// halfTempoMinPeriods is how long, in periods of the level, a chunk must
// be to measure halfTempoEvidence: three spans of the eight periods
// BarAccent folds at.
const halfTempoMinPeriods = 24

// halfTempoEvidence measures halfTempoEvidence for a level of period
// frames, as the means over the chunks long enough for it weighted by the
// frames they own. It reports false when no chunk measures it: none long
// enough, none with register onsets, or none with a low onset.
func (a *tempoAnalysis) halfTempoEvidence(period float64) (halfTempoEvidence, bool) {
	var e halfTempoEvidence
	var weight float64
	for i, x := range a.chunks {
		r := a.registers[i]
		if r.weight <= 0 || r.low == nil || float64(len(x)) < halfTempoMinPeriods*period {
			continue
		}
		bar, ok := barAccent(r.low, period)
		if !ok {
			continue
		}
		e.BarAccent += r.weight * bar
		weight += r.weight
	}
	if !(weight > 0) {
		return halfTempoEvidence{}, false
	}
	e.BarAccent /= weight
	return e, true
}

// Constants of the register check (halfTempoEvidence.logOdds): logistic
// regression of whether the slower level is right on the bar accent, with
// ln(s_F / s_F/2) as a fixed offset and a ridge of 0.01 on the weight
// (fitHalfTempo), over the development corpus's pieces where exactly one
// of the two levels is right. Leave-one-source-group-out cross-validation
// (TestHalfTempoCV; a source and its pitch- and tempo-shifted renders
// held out together) keeps the in-sample gain. With ln(s_F / s_F/2) ≥ 0,
// no bar accent below −halfTempoBias/halfTempoBarWeight (0.149) halves a
// tempo.
const (
	halfTempoBias      = -2.267
	halfTempoBarWeight = 15.21
)

// logOdds is how far, in the log of the octave decision's scores, the
// evidence favours the level an octave slower: the slower level is the
// beat when ln(s_F / s_F/2) falls below it.
func (e halfTempoEvidence) logOdds() float64 {
	return halfTempoBias + halfTempoBarWeight*e.BarAccent
}

// maxRegisterLogOdds bounds the weight the register check gives a
// posterior (e^±30), so that it stays finite: far beyond any the
// evidence needs to move a choice.
const maxRegisterLogOdds = 30

// halfTempoCheck is the register check of the octave decision: given the
// level the prior and the onsets chose (best, with the posterior over
// a.levels), it weighs the level an octave below it (if among the levels
// with a score) by the registers' log-odds (halfTempoEvidence.logOdds)
// and returns the new choice and posterior: the slower level when its
// weighted score beats the chosen one's, which is when ln(s_F / s_F/2)
// < logOdds. Weighting the posterior rather than only moving the choice
// keeps the candidates' scores relative to the estimate below 1 either
// way. Without a slower level or register evidence nothing changes.
func (a *tempoAnalysis) halfTempoCheck(best int, posterior []float64) (int, []float64) {
	if best < 0 || best >= len(a.levels) || !(posterior[best] > 0) {
		return best, posterior
	}
	half := a.halfLevel(best, posterior)
	if half < 0 {
		return best, posterior
	}
	e, ok := a.halfTempoEvidence(a.lagOf(a.levels[best].BPM))
	if !ok {
		return best, posterior
	}
	// margin > 0: the slower level wins.
	margin := e.logOdds() - math.Log(posterior[best]/posterior[half])
	if math.IsNaN(margin) {
		return best, posterior
	}
	out := slices.Clone(posterior)
	out[half] = posterior[best] * math.Exp(math.Max(-maxRegisterLogOdds, math.Min(maxRegisterLogOdds, margin)))
	var sum float64
	for _, p := range out {
		sum += p
	}
	for i := range out {
		out[i] /= sum
	}
	if margin > 0 {
		best = half
	}
	return best, out
}

// halfLevel is the index of the level an octave below level best with a
// score in posterior, or -1 when there is none.
func (a *tempoAnalysis) halfLevel(best int, posterior []float64) int {
	for i, l := range a.levels {
		if atRatio(l.BPM, a.levels[best].BPM, 0.5) && posterior[i] > 0 {
			return i
		}
	}
	return -1
}

// barSurrogates is how many shuffles of a chunk's bars barAccent averages
// over: its chance level's standard error is then a eleventh of the
// shuffles' own spread (with 24 it moved the register check's margin by
// about 0.1 on the corpus, as much as some pieces' margins). They cost
// about a millisecond a minute of audio.
const barSurrogates = 128

// barAccent is halfTempoEvidence.BarAccent of one chunk's prepared low
// register onsets x, for a level of period frames; false when x holds too
// few periods or no onset on them.
//
// The onsets are read on a grid locked to the level, row j holding the
// period from frame j·period in steps of at most half a frame, over whole
// groups of four rows (bars of four periods). S(8P) and S(4P) are then the
// largest means, over the grid's columns and the rows' positions in a
// cycle of eight or four, that strongestPhase takes along the onsets.
// The largest of eight means exceeds the largest of four by chance alone,
// the more so the fewer the rows: evenly spaced clicks of random level
// gave ln(S(8P)/S(4P)) of 0.2 to 0.27. That chance level is measured, not
// modelled: the statistic is taken again on surrogates with the bars of
// four in shuffled order (the surrogate-data test of Theiler et al. 1992,
// "Testing for nonlinearity in time series: the method of surrogate
// data", with a block permutation that keeps the structure under test's
// null, the four-period cycle, intact). Shuffling bars leaves each row's
// place in the cycle of four, so S(4P) is the same in every surrogate,
// while any recurrence every eight periods is lost; what the statistic
// shows beyond the surrogates' mean is the bars' alternation. A signal
// whose bars of four are exchangeable (no recurrence every eight periods)
// scores 0 in expectation. The shuffles are seeded: the same onsets give
// the same accent.
func barAccent(x []float64, period float64) (float64, bool) {
	if !(period >= 1) {
		return 0, false
	}
	// Whole bars of four rows, every grid point before x's last frame
	// (where interpAt reads).
	bars := int(float64(len(x)-1)/period) / 4
	if bars < 2 {
		return 0, false
	}
	cols := int(math.Ceil(2 * period))
	step := period / float64(cols)
	rows := 4 * bars
	grid := make([]float64, rows*cols)
	for j := range rows {
		for c := range cols {
			grid[j*cols+c] = interpAt(x, float64(j)*period+float64(c)*step)
		}
	}
	// order[b] is the bar that sits b-th: the identity for the onsets
	// themselves, a shuffle for a surrogate.
	order := make([]int, bars)
	for b := range order {
		order[b] = b
	}
	sums := make([]float64, 8*cols)
	// largest is S(g·P) of the grid with its bars in order: the largest
	// mean over the columns and the rows' places in a cycle of g.
	largest := func(g int) float64 {
		clear(sums)
		for pos := range rows {
			j := 4*order[pos/4] + pos%4
			s := sums[(pos%g)*cols : (pos%g+1)*cols]
			for c, v := range grid[j*cols : (j+1)*cols] {
				s[c] += v
			}
		}
		var best float64
		for r := range g {
			// Rows at place r in the cycle of g.
			k := (rows - r + g - 1) / g
			for _, v := range sums[r*cols : (r+1)*cols] {
				best = max(best, v/float64(k))
			}
		}
		return best
	}
	every4 := largest(4)
	every8 := largest(8)
	if !(every4 > 0 && every8 > 0) {
		return 0, false
	}
	accent := math.Log(every8 / every4)
	rng := rand.New(rand.NewPCG(0x5eed, uint64(bars)))
	var chance float64
	for range barSurrogates {
		rng.Shuffle(bars, func(i, j int) { order[i], order[j] = order[j], order[i] })
		chance += math.Log(largest(8) / every4)
	}
	return accent - chance/barSurrogates, true
}
