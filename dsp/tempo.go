package dsp

import (
	"math"
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
	// signal has no periodicity at all (silence).
	BPM float64
	// Confidence, 0..1, is how much of the evidence agrees with BPM: the
	// share of chunks whose own best period matches it, tempered by how
	// clearly the octave decision preferred this metrical level.
	Confidence float64
	// Candidates holds up to three distinct tempi, best first; the first
	// is BPM.
	Candidates []TempoCandidate
}

// EstimateTempo finds the beat rate of a song from its onset strength
// signal, given as the onset envelopes of the song's chunks (in order, each
// sampled at frameRate). Chunks need not be contiguous: periodicity
// evidence is accumulated chunk by chunk.
//
// The method follows Percival & Tzanetakis 2014 ("Streamlined tempo
// estimation based on autocorrelation and cross-correlation with pulses",
// IEEE/ACM TASLP 22(12)): a generalised autocorrelation of the onset signal
// with harmonic enhancement proposes candidate periods, cross-correlation
// with pulse trains scores them; an explicit octave decision (DecideOctave)
// then picks the metrical level, and a fine pulse-train search over every
// chunk refines the period.
func EstimateTempo(onsets [][]float32, frameRate Hz) TempoEstimate {
	a := newTempoAnalysis(onsets, frameRate)
	return a.estimate()
}

// tempoAnalysis holds the song-wide evidence the estimate is made from.
type tempoAnalysis struct {
	rate   float64     // onset frames per second
	chunks [][]float64 // prepared onset signals, one per chunk
	acf    []float64   // accumulated generalised autocorrelation by lag
	weight []float64   // how many chunks contributed to each lag
	// perChunk holds each chunk's own normalised autocorrelation, for
	// measuring how consistently the chunks agree.
	perChunk [][]float64
}

// Generalised autocorrelation exponent (Percival & Tzanetakis 2014 §II-B
// use 0.5): compressing the magnitude spectrum before the inverse transform
// sharpens the lag peaks of pulse-like signals.
const gacfExponent = 0.5

// Harmonic enhancement: a beat period τ also shows at 2τ and 4τ, so the
// evidence for τ adds theirs (Percival & Tzanetakis 2014 §II-C).
var tempoHarmonics = [...]float64{1, 2, 4}

func newTempoAnalysis(onsets [][]float32, frameRate Hz) *tempoAnalysis {
	a := &tempoAnalysis{rate: float64(frameRate)}
	maxLag := int(math.Ceil(a.lagOf(MinBPM)*tempoHarmonics[len(tempoHarmonics)-1])) + 2
	a.acf = make([]float64, maxLag+1)
	a.weight = make([]float64, maxLag+1)
	var fft *fourier.FFT
	var buf []float64
	var coeff []complex128
	for _, o := range onsets {
		x := prepareOnset(o, a.rate)
		if x == nil {
			continue
		}
		a.chunks = append(a.chunks, x)
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

// prepareOnset removes the slowly varying part of an onset envelope
// (a moving average over onsetDetrendSeconds) and keeps what rises above
// it, so loud passages do not outweigh the pulse, and returns nil for a
// chunk with no onsets at all.
func prepareOnset(o []float32, rate float64) []float64 {
	if len(o) < 4 {
		return nil
	}
	half := max(1, int(onsetDetrendSeconds*rate/2))
	x := make([]float64, len(o))
	var run float64
	// Prefix sums make the centred moving average O(n).
	prefix := make([]float64, len(o)+1)
	for i, v := range o {
		run += float64(v)
		prefix[i+1] = run
	}
	var any bool
	for i, v := range o {
		lo, hi := max(0, i-half), min(len(o), i+half+1)
		mean := (prefix[hi] - prefix[lo]) / float64(hi-lo)
		if d := float64(v) - mean; d > 0 {
			x[i] = d
			any = true
		}
	}
	if !any {
		return nil
	}
	return x
}

const onsetDetrendSeconds = 1.0

func (a *tempoAnalysis) lagOf(bpm float64) float64 { return 60 * a.rate / bpm }
func (a *tempoAnalysis) bpmOf(lag float64) float64 { return 60 * a.rate / lag }

// at interpolates r at a fractional lag (linear; r is smooth at the
// onset frame rate's scale once accumulated).
func interpAt(r []float64, lag float64) float64 {
	if lag < 0 {
		return 0
	}
	i := int(lag)
	if i+1 >= len(r) {
		return 0
	}
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
	period := a.lagOf(bpm)
	var on, all float64
	for _, x := range a.chunks {
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
	// Half-frame phase steps: a pulse between two frames is still found.
	for phi := 0.0; phi < period; phi += 0.5 {
		var sum float64
		k := 0
		for t := phi; t < float64(len(x)-1); t += period {
			sum += interpAt(x, t)
			k++
		}
		if k > 0 && sum/float64(k) > best {
			best = sum / float64(k)
		}
	}
	return best, mean
}

func (a *tempoAnalysis) estimate() TempoEstimate {
	if len(a.chunks) == 0 {
		return TempoEstimate{}
	}
	peaks := a.peaks(a.acf)
	if len(peaks) == 0 {
		return TempoEstimate{}
	}
	// The strongest periodicity fixes the pulse family; the octave
	// decision picks the metrical level within it.
	levels := metricalLevels(peaks[0].BPM)
	for i := range levels {
		levels[i].Strength = a.pulseScore(levels[i].BPM)
		levels[i].Salience = a.salience(a.acf, levels[i].BPM)
	}
	choice, margin := DecideOctave(levels)
	bpm := a.refine(levels[choice].BPM)

	est := TempoEstimate{BPM: bpm}
	est.Candidates = a.candidates(bpm, peaks)
	est.Confidence = a.confidence(bpm, margin)
	return est
}

// MetricalLevel is one tempo of a pulse family (the beat, its multiples and
// its subdivisions) with the evidence the octave decision weighs.
type MetricalLevel struct {
	BPM float64
	// Ratio to the family's strongest periodicity: 1/3, 1/2, 1, 2, 3, ….
	Ratio float64
	// Strength is the pulse-train alignment: mean onset on the best-phase
	// pulses over the mean onset (1 = none).
	Strength float64
	// Salience is the harmonically enhanced autocorrelation.
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

// Preferred-tempo prior: listeners tap most readily near 120 BPM, and
// their preference falls off as a log-normal over tempo (van Noorden &
// Moelants 1999, "Resonance in the perception of musical pulse"; Moelants
// 2002, "Preferred tempo reconsidered").
const (
	preferredBPM    = 120.0
	preferredOctave = 1.0 // standard deviation of the prior, in octaves
)

// DecideOctave picks the metrical level the beat is most likely at and
// returns its index in levels with the margin (0..1) by which it won. Each
// level's evidence is its pulse-train strength above chance, weighted by
// the preferred-tempo prior.
func DecideOctave(levels []MetricalLevel) (best int, margin float64) {
	if len(levels) == 0 {
		return 0, 0
	}
	scores := make([]float64, len(levels))
	for i, l := range levels {
		z := math.Log2(l.BPM/preferredBPM) / preferredOctave
		prior := math.Exp(-0.5 * z * z)
		scores[i] = math.Max(l.Strength-1, 0) * prior
	}
	second := 0.0
	for i, s := range scores {
		if s > scores[best] {
			best = i
		}
	}
	for i, s := range scores {
		if i != best && s > second {
			second = s
		}
	}
	if scores[best] <= 0 {
		return best, 0
	}
	return best, 1 - second/scores[best]
}

// refine searches the pulse-train score finely around bpm (±2 %, 0.02 BPM
// steps): over a song's worth of pulses, a period off by 0.1 BPM drifts by
// whole frames, so the peak is sharp.
func (a *tempoAnalysis) refine(bpm float64) float64 {
	best, bestScore := bpm, a.pulseScore(bpm)
	for b := bpm * 0.98; b <= bpm*1.02; b += 0.02 {
		if s := a.pulseScore(b); s > bestScore {
			best, bestScore = b, s
		}
	}
	return math.Round(best*10) / 10
}

// candidates lists bpm and the next strongest distinct salience peaks.
func (a *tempoAnalysis) candidates(bpm float64, peaks []TempoCandidate) []TempoCandidate {
	top := a.salience(a.acf, bpm)
	out := []TempoCandidate{{BPM: bpm, Score: 1}}
	for _, p := range peaks {
		if len(out) == 3 {
			break
		}
		distinct := true
		for _, c := range out {
			if math.Abs(math.Log(p.BPM/c.BPM)) < math.Log(1.04) {
				distinct = false
			}
		}
		if distinct {
			score := 0.0
			if top > 0 {
				score = math.Min(p.Score/top, 1)
			}
			out = append(out, TempoCandidate{BPM: math.Round(p.BPM*10) / 10, Score: score})
		}
	}
	return out
}

// confidence is the share of chunks whose own strongest periodicity lies
// in bpm's pulse family within 4 %, times the octave decision's margin
// folded into 0.5..1 (a clear periodicity with an unsure level is half
// right).
func (a *tempoAnalysis) confidence(bpm float64, margin float64) float64 {
	if len(a.perChunk) == 0 {
		return 0
	}
	agree := 0
	for _, r := range a.perChunk {
		p := a.peaks(r)
		if len(p) == 0 {
			continue
		}
		for _, l := range metricalLevels(bpm) {
			if math.Abs(p[0].BPM/l.BPM-1) < 0.04 {
				agree++
				break
			}
		}
	}
	c := float64(agree) / float64(len(a.perChunk)) * (0.5 + 0.5*margin)
	return math.Max(0, math.Min(1, c))
}
