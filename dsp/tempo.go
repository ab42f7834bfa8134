package dsp

import (
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Tempo range the estimator reports, in beats per minute.
const (
	MinBPM = 30.0
	MaxBPM = 300.0
)

// TempoCandidate is one tempo hypothesis and its score, relative to the
// best hypothesis (which scores 1).
type TempoCandidate struct {
	BPM   float64
	Score float64
}

// TempoEstimate is the tempo of a song.
type TempoEstimate struct {
	// BPM is the beat rate, refined to 0.1 BPM or better; 0 when the
	// onsets show no pulse (silence, a steady tone, noise).
	BPM float64
	// Confidence, 0..1, estimates the probability that BPM is right: the
	// share of chunks whose own best period is a metrical level of it,
	// halved when nothing sounds between the beats (BPM may then be a
	// level too fast), and lowered as the pulse nears noise's.
	Confidence float64
	// Candidates holds up to three distinct tempi, best first; the first
	// is BPM.
	Candidates []TempoCandidate
}

// EstimateTempo finds the beat rate of a song from its onset strength
// signal, given as the onset envelopes of the song's chunks (in order, each
// sampled at frameRate). Chunks need not be contiguous: periodicity
// evidence is accumulated chunk by chunk. It is EstimateTempoChunks
// without the registers' onsets, so the octave decision goes without the
// register check.
//
// The method follows Percival & Tzanetakis 2014 ("Streamlined tempo
// estimation based on autocorrelation and cross-correlation with pulses",
// IEEE/ACM TASLP 22(12)): a generalised autocorrelation of the onset signal
// with harmonic enhancement proposes candidate periods, cross-correlation
// with pulse trains scores them; an explicit octave decision (DecideOctave,
// then the register check of EstimateTempoChunks) picks the metrical
// level, and a fine pulse-train search over every chunk refines the
// period. A frame rate that is not positive and finite gives the zero
// estimate.
func EstimateTempo(onsets [][]float32, frameRate Hz) TempoEstimate {
	return EstimateTempoChunks(onsetChunks(onsets), frameRate)
}

// onsetChunks makes chunks of onsets alone, each owning all its frames.
func onsetChunks(onsets [][]float32) []TempoChunk {
	chunks := make([]TempoChunk, len(onsets))
	for i, o := range onsets {
		chunks[i].Onset = o
	}
	return chunks
}

// TempoChunk is one analysis chunk of a song as the tempo estimate reads
// it: per-frame onset strengths, sampled at the estimate's frame rate.
type TempoChunk struct {
	// Onset is the onset strength signal (OnsetFlux.All).
	Onset []float32
	// Low is the onset strength of the low register (OnsetFlux.Low), one
	// value per frame of Onset. Nil, or of another length, it gives the
	// register check of the octave decision no evidence.
	Low []float32
	// Own is the range [lo, hi) of Onset's frames that no other chunk
	// repeats; the zero range means all of them. Only onsets there count
	// towards the minOnsets a song needs, so that an onset heard by two
	// chunks is one onset, and the register check weighs a chunk by its
	// own frames. The periodicity evidence still comes from every chunk's
	// whole envelope.
	Own [2]int
}

// EstimateTempoChunks finds the beat rate of a song from its chunks'
// onset strength signals, as EstimateTempo does, and lets the low
// register's onsets correct the octave decision (halfTempoCheck): a song
// whose bass and kick mark every eighth pulse of the chosen level more
// than chance would has its beat an octave slower. Chunks
// may overlap (the same stretch of the song in two chunks): see
// TempoChunk.Own.
func EstimateTempoChunks(chunks []TempoChunk, frameRate Hz) TempoEstimate {
	if !(frameRate > 0) || math.IsInf(float64(frameRate), 0) {
		// The lag range is sized from the rate: it would not exist.
		return TempoEstimate{}
	}
	a := newTempoAnalysisChunks(chunks, frameRate)
	return a.estimate()
}

// tempoAnalysis holds the song-wide evidence the estimate is made from.
type tempoAnalysis struct {
	rate   float64     // onset frames per second
	chunks [][]float64 // prepared onset signals, one per chunk
	// registers holds, for each of chunks, its prepared register onsets
	// (zero when the chunk came without them).
	registers []registerOnsets
	acf       []float64 // accumulated generalised autocorrelation by lag
	weight    []float64 // how many chunks contributed to each lag
	// perChunk holds each chunk's own normalised autocorrelation, for
	// measuring how consistently the chunks agree.
	perChunk [][]float64
	// levels are the metrical levels the octave decision weighed.
	levels []MetricalLevel
	// prior is the beat-rate prior of the octave decision.
	prior tempoPrior
}

// Generalised autocorrelation exponent (Percival & Tzanetakis 2014 §II-B
// use 0.5): compressing the magnitude spectrum before the inverse transform
// sharpens the lag peaks of pulse-like signals.
const gacfExponent = 0.5

// Harmonic enhancement: a beat period τ also shows at 2τ and 4τ, so the
// evidence for τ adds theirs (Percival & Tzanetakis 2014 §II-C).
var tempoHarmonics = [...]float64{1, 2, 4}

// newTempoAnalysisChunks prepares the song-wide evidence of chunks.
func newTempoAnalysisChunks(chunks []TempoChunk, frameRate Hz) *tempoAnalysis {
	a := &tempoAnalysis{rate: float64(frameRate), prior: defaultPrior}
	onsets := make([][]float32, len(chunks))
	owned := make([][2]int, len(chunks))
	for i, c := range chunks {
		onsets[i] = c.Onset
		owned[i] = c.own()
	}
	// Lags reach four periods of the slowest beat, but a chunk shows no
	// periodicity beyond half its length (see below): the tables need
	// not outgrow the longest chunk, however high the frame rate.
	longest := 0
	for _, o := range onsets {
		longest = max(longest, len(o))
	}
	maxLag := int(min(math.Ceil(a.lagOf(MinBPM)*tempoHarmonics[len(tempoHarmonics)-1])+2, float64(longest)))
	a.acf = make([]float64, maxLag+1)
	a.weight = make([]float64, maxLag+1)
	if !hasOnsets(onsets, owned) {
		return a
	}
	var fft *fourier.FFT
	var buf []float64
	var coeff []complex128
	for i, o := range onsets {
		x := prepareOnset(o, a.rate)
		if x == nil {
			continue
		}
		a.chunks = append(a.chunks, x)
		a.registers = append(a.registers, prepareRegisters(chunks[i], owned[i], a.rate))
		n := 1
		for n < 2*len(x) {
			n *= 2
		}
		if fft == nil || fft.Len() != n {
			fft = fourier.NewFFT(n)
			buf = make([]float64, n)
			coeff = make([]complex128, n/2+1)
		}
		copy(buf, x)
		clear(buf[len(x):])
		fft.Coefficients(coeff, buf)
		for i, c := range coeff {
			coeff[i] = complex(math.Pow(real(c)*real(c)+imag(c)*imag(c), gacfExponent/2), 0)
		}
		fft.Sequence(buf, coeff)
		if buf[0] <= 0 {
			continue
		}
		own := make([]float64, maxLag+1)
		for lag := range own {
			if lag >= len(x)/2 {
				break // too few overlapping frames to trust
			}
			// Undo the triangular bias of a finite signal's ACF, then
			// normalise so every chunk has the same say.
			v := buf[lag] / buf[0] * float64(len(x)) / float64(len(x)-lag)
			own[lag] = v
			a.acf[lag] += v
			a.weight[lag]++
		}
		a.perChunk = append(a.perChunk, own)
	}
	for lag, w := range a.weight {
		if w > 0 {
			a.acf[lag] /= w
		}
	}
	return a
}

// A song has a tempo to find only when at least minOnsets onsets, peaks
// of the onset strength reaching minOnsetStrength, give it intervals to
// compare: three intervals at least. minOnsetStrength is a rise of ten
// nepers over the bands: 4.3 dB in ten of them, as a note's partials or a
// drum hit give. A steady tone's spectrum ripples only by the window's
// leakage as the frames slide over its period, and that ripple repeats
// with the period, so the estimator, blind to scale, would time it as a
// confident beat (and danceability as a regular pulse): it peaks at 0.3
// for a 100 Hz sine, 6.4 for a 55 Hz sawtooth, 6.8 for a four-note organ
// chord of twenty harmonics each (TestSteadyTonesHaveNoPulse). Music's
// onsets reach 30 and more: at its 99th percentile, the quietest piece of
// the development corpus reaches 38.
const (
	minOnsetStrength = 10.0
	minOnsets        = 4
)

// hasOnsets reports whether the onset signals hold minOnsets onsets,
// counting in each signal only the frames own gives it (all of them when
// own is nil or has no entry for it). A peak is found against its
// neighbours in the whole signal.
func hasOnsets(onsets [][]float32, own [][2]int) bool {
	n := 0
	for c, o := range onsets {
		lo, hi := 0, len(o)
		if c < len(own) {
			lo, hi = max(0, own[c][0]), min(len(o), own[c][1])
		}
		for i := lo; i < hi; i++ {
			v := onsetAt(o, i)
			if v >= minOnsetStrength && (i == 0 || v > onsetAt(o, i-1)) && (i+1 == len(o) || v >= onsetAt(o, i+1)) {
				n++
			}
		}
	}
	return n >= minOnsets
}

// onsetAt is o[i], or 0 where it is NaN or infinite: such a value is
// damage (a NaN or infinite sample in the frame), not an onset, and left
// in it would poison every running sum and mean it enters.
func onsetAt(o []float32, i int) float64 {
	v := float64(o[i])
	if !isFinite(v) {
		return 0
	}
	return v
}

// prepareOnset removes the slowly varying part of an onset envelope
// (a moving average over onsetDetrendSeconds) and keeps what rises above
// it, so loud passages do not outweigh the pulse, and returns nil for a
// chunk with no onsets at all.
func prepareOnset(o []float32, rate float64) []float64 {
	if len(o) < 4 {
		return nil
	}
	// A window wider than the chunk is the whole chunk; bounding it first
	// keeps the conversion in int's range at any frame rate.
	half := max(1, int(min(onsetDetrendSeconds*rate/2, float64(len(o)))))
	x := make([]float64, len(o))
	var run float64
	// Prefix sums make the centred moving average O(n).
	prefix := make([]float64, len(o)+1)
	for i := range o {
		run += onsetAt(o, i)
		prefix[i+1] = run
	}
	var rises bool
	for i := range o {
		lo, hi := max(0, i-half), min(len(o), i+half+1)
		mean := (prefix[hi] - prefix[lo]) / float64(hi-lo)
		if d := onsetAt(o, i) - mean; d > 0 {
			x[i] = d
			rises = true
		}
	}
	if !rises {
		return nil
	}
	return x
}

const onsetDetrendSeconds = 1.0

func (a *tempoAnalysis) lagOf(bpm float64) float64 { return 60 * a.rate / bpm }

// interpAt interpolates r at a fractional lag (linear; r is smooth at the
// onset frame rate's scale once accumulated).
func interpAt(r []float64, lag float64) float64 {
	// Tested as a float: a lag beyond int's range (an absurd frame rate)
	// has no defined conversion.
	if !(lag >= 0 && lag < float64(len(r)-1)) {
		return 0
	}
	i := int(lag)
	f := lag - float64(i)
	return r[i]*(1-f) + r[i+1]*f
}

// salience is the harmonically enhanced autocorrelation at the period of
// bpm.
func (a *tempoAnalysis) salience(r []float64, bpm float64) float64 {
	lag := a.lagOf(bpm)
	var s float64
	for _, h := range tempoHarmonics {
		s += interpAt(r, lag*h)
	}
	return s
}

// Salience grid: 1/96 octave (0.7 %) steps, finer than the 4 % tolerance
// and refined afterwards.
const salienceStepsPerOctave = 96

// peaks returns the local maxima of the salience over MinBPM..MaxBPM,
// strongest first, each refined by parabolic interpolation on the
// log-tempo grid.
func (a *tempoAnalysis) peaks(r []float64) []TempoCandidate {
	n := int(math.Log2(MaxBPM/MinBPM)*salienceStepsPerOctave) + 1
	s := make([]float64, n)
	bpmAt := func(i float64) float64 { return MinBPM * math.Exp2(i/salienceStepsPerOctave) }
	for i := range s {
		s[i] = a.salience(r, bpmAt(float64(i)))
	}
	var out []TempoCandidate
	for i := 1; i+1 < n; i++ {
		if s[i] > s[i-1] && s[i] >= s[i+1] && s[i] > 0 {
			d := s[i-1] - 2*s[i] + s[i+1]
			off := 0.0
			if d < 0 {
				off = 0.5 * (s[i-1] - s[i+1]) / d
			}
			out = append(out, TempoCandidate{BPM: bpmAt(float64(i) + off), Score: s[i]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out
}

// pulseScore cross-correlates the song's onset signal with a pulse train
// of the period of bpm, at the best phase for each chunk, and returns the
// mean onset strength on the pulses relative to the mean onset strength
// overall (1 = no alignment).
func (a *tempoAnalysis) pulseScore(bpm float64) float64 {
	return a.pulseScoreOn(a.chunks, bpm)
}

func (a *tempoAnalysis) pulseScoreOn(chunks [][]float64, bpm float64) float64 {
	period := a.lagOf(bpm)
	var on, all float64
	for _, x := range chunks {
		best, mean := bestPhase(x, period)
		on += best * float64(len(x))
		all += mean * float64(len(x))
	}
	if all <= 0 {
		return 0
	}
	return on / all
}

// bestPhase returns the largest mean of x over the pulses φ, φ+P, φ+2P, …
// for φ in [0, P), and the mean of x.
func bestPhase(x []float64, period float64) (best, mean float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	_, best = strongestPhase(x, period)
	return best, mean
}

// strongestPhase returns the phase φ in [0, P) whose pulses φ, φ+P, φ+2P, …
// hold the largest mean of x, and that mean. Half-frame phase steps find a
// pulse between two frames; a phase past the end holds no pulse, however
// long the period.
func strongestPhase(x []float64, period float64) (phase, best float64) {
	for phi := 0.0; phi < min(period, float64(len(x))); phi += 0.5 {
		if m := pulseMean(x, phi, period); m > best {
			best, phase = m, phi
		}
	}
	return phase, best
}

// pulseMean is the mean of x, linearly interpolated, over the pulses
// start, start+P, start+2P, … before its last frame; 0 when there are
// none.
func pulseMean(x []float64, start, period float64) float64 {
	var sum float64
	k := 0
	for t := start; t < float64(len(x)-1); t += period {
		sum += interpAt(x, t)
		k++
	}
	if k == 0 {
		return 0
	}
	return sum / float64(k)
}

func (a *tempoAnalysis) estimate() TempoEstimate {
	if len(a.chunks) == 0 {
		return TempoEstimate{}
	}
	peaks := a.peaks(a.acf)
	if len(peaks) == 0 {
		return TempoEstimate{}
	}
	a.levels = a.candidateLevels(peaks)
	choice, posterior := a.decideOctave(a.prior)
	bpm := a.refine(a.levels[choice].BPM)

	// Onsets that show no pulse (noise, a free-time drone) have no tempo:
	// a BPM at confidence 0 would be shown and used as an answer, and
	// scored as one.
	pulse := pulseWeight(a.pulseContrast(bpm))
	if pulse == 0 {
		return TempoEstimate{}
	}
	est := TempoEstimate{BPM: bpm}
	est.Candidates = candidateList(bpm, a.levels, posterior, choice)
	est.Confidence = a.confidence(bpm, pulse)
	return est
}

// MetricalLevel is one tempo hypothesis with the evidence the decisions
// weigh.
type MetricalLevel struct {
	BPM float64
	// Ratio to the salience peak it was derived from: 1/3, 1/2, 1, 2, ….
	Ratio float64
	// Strength is the pulse-train alignment: mean onset on the best-phase
	// pulses over the mean onset (1 = none).
	Strength float64
	// Salience is the harmonically enhanced autocorrelation, relative to
	// the strongest peak's.
	Salience float64
}

// metricalLevels lists the levels related to bpm by the ratios music uses
// between beat and bar or beat and subdivision (duple and triple), within
// the reported range.
func metricalLevels(bpm float64) []MetricalLevel {
	var out []MetricalLevel
	for _, r := range []float64{1.0 / 4, 1.0 / 3, 1.0 / 2, 2.0 / 3, 1, 3.0 / 2, 2, 3, 4} {
		b := bpm * r
		if b >= MinBPM && b <= MaxBPM {
			out = append(out, MetricalLevel{BPM: b, Ratio: r})
		}
	}
	return out
}

// tempoFamilies is how many of the strongest salience peaks seed the
// candidate levels: the strongest periodicity may be a dotted or triplet
// relative of the beat (3/4, 4/3 of it), which the next peaks cover.
const tempoFamilies = 3

// candidateLevels gathers the metrical levels of the strongest salience
// peaks, merging levels closer than 2 %, and measures each.
func (a *tempoAnalysis) candidateLevels(peaks []TempoCandidate) []MetricalLevel {
	var out []MetricalLevel
	for _, p := range peaks[:min(len(peaks), tempoFamilies)] {
		for _, l := range metricalLevels(p.BPM) {
			dup := false
			for _, o := range out {
				if math.Abs(math.Log(l.BPM/o.BPM)) < math.Log(1.02) {
					dup = true
					break
				}
			}
			if !dup {
				out = append(out, l)
			}
		}
	}
	top := a.salience(a.acf, peaks[0].BPM)
	for i := range out {
		out[i].Strength = a.pulseScore(out[i].BPM)
		if top > 0 {
			out[i].Salience = a.salience(a.acf, out[i].BPM) / top
		}
	}
	return out
}

// familyTolerance is how far (in octaves, ~2 %) two tempi may be from an
// exact power-of-two ratio and still count as one pulse family.
const familyTolerance = 0.03

// atRatio reports whether tempo a is ratio times tempo b, within
// familyTolerance.
func atRatio(a, b, ratio float64) bool {
	return math.Abs(math.Log2(a/b)-math.Log2(ratio)) < familyTolerance
}

// Beat-rate prior. The pulse-train strength is a mean per pulse, so it
// cannot say whether a song has twice as many beats as a slower level
// would give it; the evidence a level collects over a song grows with the
// number of its beats, as an agent's score does in Dixon's beat tracker
// (Dixon 2001, "Automatic extraction of tempo and beat from expressive
// performances"). The prior therefore weights each level by its beat rate,
// up to the fastest tempo Percival & Tzanetakis 2014 consider a beat
// (210 BPM); faster pulses are subdivisions.
const beatMaxBPM = 210.0

// Weights of the two evidence terms in DecideOctave: square roots, so that
// neither the pulse-train strength nor the salience alone can outvote the
// prior by an octave.
const (
	strengthExponent = 0.5
	salienceExponent = 0.5
)

// DecideOctave picks the level the beat is most likely at among candidate
// metrical levels (the beat, its multiples and subdivisions), and returns
// its index with each level's posterior probability. A level's score is
// the beat-rate prior times its pulse-train strength above chance and its
// autocorrelation salience, each raised to a weight: the evidence says
// which pulse family the onsets follow and how strongly each octave is
// played, the prior how many beats each octave puts in the song.
func DecideOctave(levels []MetricalLevel) (best int, posterior []float64) {
	return defaultPrior.decide(levels)
}

// tempoPrior is the beat-rate prior with its upper limit in BPM. It is a
// value, not a constant alone, so that the corpus test can cross-validate
// the limit (TestTempoPriorCV).
type tempoPrior struct{ maxBPM float64 }

var defaultPrior = tempoPrior{beatMaxBPM}

// weight is the prior weight of a beat at bpm.
func (p tempoPrior) weight(bpm float64) float64 {
	if bpm > p.maxBPM {
		return 0
	}
	return bpm / p.maxBPM
}

// decideOctave is the octave decision of the estimate: DecideOctave's
// choice among a.levels under prior p, then the register check
// (halfTempoCheck), which may move it an octave down.
func (a *tempoAnalysis) decideOctave(p tempoPrior) (best int, posterior []float64) {
	best, posterior = p.decide(a.levels)
	return a.halfTempoCheck(best, posterior)
}

// decide is DecideOctave under prior p.
func (p tempoPrior) decide(levels []MetricalLevel) (best int, posterior []float64) {
	posterior = make([]float64, len(levels))
	var sum float64
	for i, l := range levels {
		posterior[i] = p.weight(l.BPM) * offbeatWeight(levels, i) *
			math.Pow(math.Max(l.Strength-1, 0), strengthExponent) *
			math.Pow(math.Max(l.Salience, 0), salienceExponent)
		if !isFinite(posterior[i]) {
			// Non-finite evidence is no evidence: it would make every
			// level's share NaN.
			posterior[i] = 0
		}
		sum += posterior[i]
	}
	if !(sum > 0) {
		clear(posterior)
		return 0, posterior
	}
	for i := range posterior {
		posterior[i] /= sum
		if posterior[i] > posterior[best] {
			best = i
		}
	}
	return best, posterior
}

// refine searches the pulse-train score finely around bpm (±2 %, 0.02 BPM
// steps, within MinBPM..MaxBPM) and interpolates the peak with a parabola:
// over a song's worth of pulses a period off by 0.1 BPM drifts by whole
// frames, so the peak is sharp. The search runs on the onset signal
// smoothed by a Gaussian of one frame, so that the score varies smoothly
// with the period instead of in steps of the frame grid.
func (a *tempoAnalysis) refine(bpm float64) float64 {
	smooth := make([][]float64, len(a.chunks))
	for i, x := range a.chunks {
		smooth[i] = gaussianSmooth(x, 1)
	}
	const step = 0.02
	// The window stays inside the range the estimator reports.
	lo, hi := max(bpm*0.98, MinBPM), min(bpm*1.02, MaxBPM)
	n := max(0, int((hi-lo)/step))
	scores := make([]float64, n+1)
	best := 0
	for i := range scores {
		scores[i] = a.pulseScoreOn(smooth, lo+float64(i)*step)
		if scores[i] > scores[best] {
			best = i
		}
	}
	at := float64(best)
	if best > 0 && best < n {
		l, c, r := scores[best-1], scores[best], scores[best+1]
		if d := l - 2*c + r; d < 0 {
			at += 0.5 * (l - r) / d
		}
	}
	return math.Round((lo+at*step)*10) / 10
}

// gaussianSmooth convolves x with a Gaussian of standard deviation sigma
// samples (truncated at 3 sigma).
func gaussianSmooth(x []float64, sigma float64) []float64 {
	half := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*half+1)
	for i := range k {
		d := float64(i-half) / sigma
		k[i] = math.Exp(-0.5 * d * d)
	}
	out := make([]float64, len(x))
	for i := range x {
		var s, w float64
		for j, kv := range k {
			if t := i + j - half; t >= 0 && t < len(x) {
				s += kv * x[t]
				w += kv
			}
		}
		out[i] = s / w
	}
	return out
}

// offbeatWeight says how far level i could be the beat rather than a
// subdivision of the level at half its tempo: the pulses it adds, halfway
// between the slower level's, should carry at least offbeatShare of the
// slower level's onset strength above chance. If S is the slower level's
// strength and the off-beats have strength s, the faster level measures
// (S + s)/2. Off-beats carrying the whole share, and a level with no
// half-tempo partner among the candidates, weigh 1; weaker off-beats weigh
// their share of it, down to 0 for none. The weight tapers rather than
// cuts so that the posterior keeps measuring doubt: a level whose
// off-beats fall just short stays in its octave's share, which a cut-off
// would set to certainty for the slower level.
func offbeatWeight(levels []MetricalLevel, i int) float64 {
	for _, l := range levels {
		if atRatio(levels[i].BPM, l.BPM, 2) {
			if l.Strength <= 1 {
				return 1
			}
			offbeat := 2*levels[i].Strength - l.Strength
			return math.Max(0, math.Min(1, (offbeat-1)/(offbeatShare*(l.Strength-1))))
		}
	}
	return 1
}

// offbeatShare is the share of the beats' excess onset strength the
// off-beats of a faster level must carry to count in full as beats
// themselves: less than a tenth is an ornament such as a soft hi-hat
// between drum hits, not a pulse a player counts (TestTempoDrumPattern:
// hats 8 dB below the kick carry less, and with no share required the
// 104 BPM beat doubles).
const offbeatShare = 0.1

// candidateList gives the estimate and the two readings a listener
// would offer instead: the likeliest other octave (half or double the
// beat) and the likeliest other grouping (×⅔ or ×3/2: a 6/8 bar counted
// in dotted quarters where it was counted in quarters, or the reverse).
// Those are the two ways a tempo is commonly wrong, so an app can offer
// both as one-tap corrections. When either is missing among the levels,
// the likeliest remaining level takes its place. Each scores its
// posterior relative to the estimate's.
func candidateList(bpm float64, levels []MetricalLevel, posterior []float64, choice int) []TempoCandidate {
	out := []TempoCandidate{{BPM: bpm, Score: 1}}
	if posterior[choice] <= 0 {
		return out
	}
	ref := levels[choice].BPM
	// ratioOf returns the ratio among rs that level i stands in to the
	// estimate's level, or 0.
	ratioOf := func(i int, rs ...float64) float64 {
		for _, r := range rs {
			if atRatio(levels[i].BPM, ref, r) {
				return r
			}
		}
		return 0
	}
	octave := func(i int) float64 { return ratioOf(i, 0.5, 2) }
	meter := func(i int) float64 { return ratioOf(i, 2.0/3, 1.5) }
	used := []float64{bpm}
	// pick adds the likeliest level that ratio accepts (any level when
	// ratio is nil) and is not within 4 % of a tempo already listed. A
	// relative at an exact ratio is given as the refined estimate times
	// that ratio, finer than the level's own salience peak (0.1 BPM rather
	// than the peak grid's 0.7 %), so a tap on it lands on the pulse. It
	// reports whether it added one.
	pick := func(ratio func(int) float64) bool {
		best, r := -1, 0.0
		for i, l := range levels {
			ri := 0.0
			if ratio != nil {
				if ri = ratio(i); ri == 0 {
					continue
				}
			}
			if i == choice || slices.ContainsFunc(used, func(u float64) bool { return math.Abs(math.Log(l.BPM/u)) < math.Log(1.04) }) {
				continue
			}
			if best < 0 || posterior[i] > posterior[best] ||
				posterior[i] == posterior[best] && l.Salience > levels[best].Salience {
				best, r = i, ri
			}
		}
		if best < 0 {
			return false
		}
		b := levels[best].BPM
		if r > 0 {
			b = math.Min(MaxBPM, math.Max(MinBPM, bpm*r))
		}
		b = math.Round(b*10) / 10
		used = append(used, b)
		out = append(out, TempoCandidate{BPM: b, Score: posterior[best] / posterior[choice]})
		return true
	}
	pick(octave)
	pick(meter)
	for len(out) < 3 && pick(nil) {
	}
	alt := out[1:]
	sort.SliceStable(alt, func(i, j int) bool { return alt[i].Score > alt[j].Score })
	return out
}

// confidence estimates the probability that bpm is right: the share of
// chunks whose own strongest periodicity is a metrical level of bpm (the
// family is right), halved for a beat with nothing between its beats (it
// may be a level too fast: divisionWeight), times pulse, the probability
// that the song has a pulse at all (pulseWeight). The octave decision's posterior is not in it: on the
// development corpus it told right octaves from wrong ones no better than
// chance (AUC 0.53), where the beat's division does (0.75).
func (a *tempoAnalysis) confidence(bpm, pulse float64) float64 {
	c := a.agreeShare(bpm) * divisionWeight(a.divided(bpm)) * pulse
	return math.Max(0, math.Min(1, c))
}

// divided is the onset strength between the beats at bpm, half-way
// through them or at their thirds, relative to the onset strength on them,
// over all chunks.
func (a *tempoAnalysis) divided(bpm float64) float64 {
	period := a.lagOf(bpm)
	var d division
	for _, o := range a.chunks {
		if float64(len(o)) < 2*period {
			continue
		}
		c := beatDivision(o, beatGrid(o, period), period)
		d.on, d.halves, d.thirds = d.on+c.on, d.halves+c.halves, d.thirds+c.thirds
	}
	if d.on <= 0 {
		return 0
	}
	return (d.halves + d.thirds) / d.on
}

// divisionWeight turns how divided the beat is into the probability that
// it is not a level too fast: music's beat is rarely its fastest pulse,
// so a beat with no onsets between its beats may be the subdivision of a
// slower one, and the estimate counts half. Onsets between the beats a
// fifth as strong as on them count as a divided beat.
func divisionWeight(divided float64) float64 {
	return 0.5 + 0.5*math.Min(1, divided/fullDivision)
}

// fullDivision is the onset strength between the beats, relative to that
// on them, from which a beat counts as divided: a fifth, where the
// development corpus's estimates a level too fast (its tatum counted as
// the beat) measure 0.00–0.17.
const fullDivision = 0.2

// pulseContrast is how far the pulse-train strength at bpm stands above
// chance, as a share of its own height above none (1): 0 when it is no
// stronger than the strength the same onsets give at unrelated tempi, 1
// when those are no better than none. The best phase of any pulse train
// finds some onsets in a dense texture, and the estimate is the strongest
// of many trains, so strength alone does not tell a pulse from noise:
// white noise measures 1.4–1.6, as strong as a dense metal song's 1.9.
// Chance is therefore the ninth decile of the strengths at chanceTempi
// that are no simple ratio of bpm (a pulse recurs at those): the estimate
// of noise is the best of such draws, where music's stands clear of them.
func (a *tempoAnalysis) pulseContrast(bpm float64) float64 {
	s := a.pulseScore(bpm)
	if !(s > 1) {
		return 0
	}
	var chance []float64
	for i := range chanceTempi {
		t := chanceLow * math.Pow(chanceHigh/chanceLow, float64(i)/(chanceTempi-1))
		if !relatedTempo(t, bpm) {
			chance = append(chance, a.pulseScore(t))
		}
	}
	if len(chance) == 0 {
		return 0
	}
	sort.Float64s(chance)
	return (s - chance[len(chance)*9/10]) / (s - 1)
}

// relatedTempo reports whether tempo t is within 4 % of bpm times a ratio
// between metrical levels (¼ to 4, duple and triple), where a pulse at
// bpm also shows.
func relatedTempo(t, bpm float64) bool {
	for _, r := range []float64{1.0 / 4, 1.0 / 3, 1.0 / 2, 2.0 / 3, 3.0 / 4, 1, 4.0 / 3, 3.0 / 2, 2, 3, 4} {
		if math.Abs(math.Log(t/(bpm*r))) < math.Log(1.04) {
			return true
		}
	}
	return false
}

// The tempi that measure a song's chance level: a twenty-fourth of an
// octave apart over the beat range.
const (
	chanceLow   = 40.0
	chanceHigh  = 240.0
	chanceTempi = 64
)

// pulseWeight turns a pulse contrast into the probability that there is
// a pulse to be right about: 0 up to noContrast, 1 from fullContrast. On
// the development corpus the contrast is 0.55 and more; on 120 stretches
// of white and coloured noise, 20 s to 3 min, 0.23 at most and 0.03 but
// for one (TestTempoConfidenceOfNoise).
func pulseWeight(contrast float64) float64 {
	return math.Max(0, math.Min(1, (contrast-noContrast)/(fullContrast-noContrast)))
}

const (
	noContrast   = 0.25
	fullContrast = 0.5
)

// agreeShare is the share of chunks whose own strongest periodicity is a
// metrical level of bpm, duple or triple (relatedTempo). That takes in
// ×3/2 and ×2/3, the dotted levels Accuracy2 does not forgive, because in
// triple time the half bar is often a chunk's strongest periodicity
// (harmonic enhancement favours the period whose double is the bar): with
// octaves alone every chunk of a waltz disagreed with its beat (a 3/4 song
// at 90 BPM had confidence 0), and with the dotted levels left out a 3/4
// corpus piece at its written tempo still did.
func (a *tempoAnalysis) agreeShare(bpm float64) float64 {
	if len(a.perChunk) == 0 {
		return 0
	}
	agree := 0
	for _, r := range a.perChunk {
		if p := a.peaks(r); len(p) > 0 && relatedTempo(p[0].BPM, bpm) {
			agree++
		}
	}
	return float64(agree) / float64(len(a.perChunk))
}
