package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/stages"
)

// Tolerance is the relative tempo error still counted as correct by
// Accuracy1 and Accuracy2 (Gouyon et al. 2006, "An experimental comparison
// of audio tempo induction algorithms": 4 %).
const Tolerance = 0.04

// octaveFactors are the metrical levels Accuracy2 forgives: the truth's
// tempo times these is also counted correct.
var octaveFactors = [...]float64{1.0 / 3, 0.5, 1, 2, 3}

// within reports whether est is within tol (relative) of want.
func within(est, want, tol float64) bool {
	return want > 0 && math.Abs(est-want) <= (tol+boundarySlack)*want
}

// boundarySlack keeps an estimate exactly at the tolerance inside it.
// Decimal tempi are not exact in binary: 41.6 − 40 comes out a hair
// above 0.04 × 40, which would count an estimate 4 % off as a miss for
// some tempi and a hit for others. The slack is far below the 0.1 BPM
// resolution of estimates and truths.
const boundarySlack = 1e-9

// Accuracy1 reports whether the estimated tempo est is within tol
// (relative, e.g. [Tolerance]) of the true tempo.
func Accuracy1(est, truth, tol float64) bool { return within(est, truth, tol) }

// Accuracy2 reports whether est is within tol of the true tempo or of
// the true tempo times 1/3, 1/2, 2 or 3: it forgives octave errors, which
// are often a matter of which metrical level one taps.
func Accuracy2(est, truth, tol float64) bool {
	for _, f := range octaveFactors {
		if within(est, truth*f, tol) {
			return true
		}
	}
	return false
}

// AmongCandidates reports whether any of the candidate tempi is within
// tol of the true tempo: how often an app showing the candidates offers
// the right tempo as one of its choices.
func AmongCandidates(candidates []stages.TempoCandidate, truth, tol float64) bool {
	for _, c := range candidates {
		if within(c.BPM, truth, tol) {
			return true
		}
	}
	return false
}

// TempoOutcome names how an estimated tempo relates to the true one.
type TempoOutcome string

// Tempo outcomes. Double means the estimate is twice the truth; Third
// means it is a third of it.
const (
	TempoCorrect TempoOutcome = "correct"
	TempoDouble  TempoOutcome = "double"
	TempoHalf    TempoOutcome = "half"
	TempoTriple  TempoOutcome = "triple"
	TempoThird   TempoOutcome = "third"
	TempoOther   TempoOutcome = "other"
)

// TempoOutcomes lists the tempo outcomes in the order reports show them.
var TempoOutcomes = []TempoOutcome{TempoCorrect, TempoDouble, TempoHalf, TempoTriple, TempoThird, TempoOther}

// ClassifyTempo names the relation of est to truth at tolerance tol. The
// empty outcome means there is nothing to classify (no true tempo).
func ClassifyTempo(est, truth, tol float64) TempoOutcome {
	switch {
	case truth <= 0:
		return ""
	case within(est, truth, tol):
		return TempoCorrect
	case within(est, 2*truth, tol):
		return TempoDouble
	case within(est, truth/2, tol):
		return TempoHalf
	case within(est, 3*truth, tol):
		return TempoTriple
	case within(est, truth/3, tol):
		return TempoThird
	}
	return TempoOther
}

// KeyOutcome names how an estimated key relates to the true one, in the
// categories of the MIREX audio key detection task.
type KeyOutcome string

// Key outcomes. Fifth means the estimate is the truth's dominant (a
// perfect fifth above, same mode); Relative means the relative major or
// minor; Parallel the same tonic in the other mode.
const (
	KeyCorrect  KeyOutcome = "correct"
	KeyFifth    KeyOutcome = "fifth"
	KeyRelative KeyOutcome = "relative"
	KeyParallel KeyOutcome = "parallel"
	KeyOther    KeyOutcome = "other"
)

// KeyOutcomes lists the key outcomes in the order reports show them.
var KeyOutcomes = []KeyOutcome{KeyCorrect, KeyFifth, KeyRelative, KeyParallel, KeyOther}

// ClassifyKey names the relation of the estimated key to the true one.
func ClassifyKey(est, truth dsp.Key) KeyOutcome {
	d := ((est.Tonic-truth.Tonic)%12 + 12) % 12
	switch {
	case est.Minor == truth.Minor && d == 0:
		return KeyCorrect
	case est.Minor == truth.Minor && d == 7:
		return KeyFifth
	// The relative minor's tonic lies a minor third below the major's.
	case !est.Minor && truth.Minor && d == 3, est.Minor && !truth.Minor && d == 9:
		return KeyRelative
	case est.Minor != truth.Minor && d == 0:
		return KeyParallel
	}
	return KeyOther
}

// Weight is the outcome's credit in the MIREX weighted key score: 1 for
// the same key, 0.5 for the fifth, 0.3 relative, 0.2 parallel, else 0.
func (o KeyOutcome) Weight() float64 {
	switch o {
	case KeyCorrect:
		return 1
	case KeyFifth:
		return 0.5
	case KeyRelative:
		return 0.3
	case KeyParallel:
		return 0.2
	}
	return 0
}

// MeterOutcome names how an estimated time signature relates to the
// true one.
type MeterOutcome string

// Meter outcomes. Missing means the song has a true time signature but
// the analysis emitted none: it is told apart from a wrong one because
// the estimator may choose to stay silent when unsure.
const (
	MeterCorrect MeterOutcome = "correct"
	MeterWrong   MeterOutcome = "wrong"
	MeterMissing MeterOutcome = "missing"
)

// meterAnswers returns the time signatures the analysis emits, in the
// order reports show them; a constant answer is one of them.
func meterAnswers() []string { return []string{"4/4", "3/4", "6/8", "9/8"} }

// MeterClass returns the class of the time signature ts: how its beats
// are grouped (4 for twos or fours, 3 for threes, 0 for not known) and
// how each beat is divided (2 or 3; 0 for a meter outside the classes).
// The beat is what the tempo counts: a quarter in simple meters, a
// dotted note in compound ones. ok is false when ts is not a time
// signature ("N/D", "C" or "C|"; see parseTimeSignature).
func MeterClass(ts string) (beats, division int, ok bool) {
	n, d, err := parseTimeSignature(ts)
	if err != nil {
		return 0, 0, false
	}
	simple := d <= 4 // a half, quarter or whole note is the beat itself
	switch {
	// An audio estimator hears duple grouping in 2/4 and 4/4 alike: which
	// strong beat starts the bar is notation, not sound.
	case simple && (n == 2 || n == 4 || n == 8):
		return 4, 2, true
	case simple && n == 3:
		return 3, 2, true
	// 3/8 has one dotted beat per bar: the grouping of beats is not
	// written, so any grouping of triple-divided beats is right.
	case n == 3 && (d == 8 || d == 16):
		return 0, 3, true
	// 6/8 and 12/8 are two and four dotted beats, told apart no better
	// than 2/4 from 4/4; 6/4 and 12/16 are the same at another note value.
	case (n == 6 || n == 12) && (d == 4 || d == 8 || d == 16):
		return 4, 3, true
	case n == 9 && (d == 4 || d == 8 || d == 16):
		return 3, 3, true
	}
	// 5/4, 7/8 and the like are outside the analysis's vocabulary: a
	// division of 0 keeps every estimate from matching them.
	return n, 0, true
}

// ClassifyMeter names the relation of the estimated time signature est to
// the true one. The empty outcome means there is nothing to classify (no
// true time signature).
func ClassifyMeter(est, truth string) MeterOutcome {
	tb, td, ok := MeterClass(truth)
	if !ok {
		return ""
	}
	if strings.TrimSpace(est) == "" {
		return MeterMissing
	}
	eb, ed, ok := MeterClass(est)
	switch {
	case !ok, td == 0, ed != td:
		// An estimate that is no time signature is a miss, as an
		// unreadable key is; a truth outside the classes matches none.
		return MeterWrong
	case tb == 0, eb == tb:
		return MeterCorrect
	}
	return MeterWrong
}

// constantMeter returns the most songs of truths that one time signature
// of the analysis's vocabulary would get right, given for every song, and
// that time signature; the first in the vocabulary's order wins a tie, and
// with no truths the answer is "". It tries each answer against
// ClassifyMeter rather than counting the commonest true class, because a
// truth such as 3/8 is matched by two answers.
func constantMeter(truths []string) (int, string) {
	best, answer := 0, ""
	for _, a := range meterAnswers() {
		n := 0
		for _, t := range truths {
			if ClassifyMeter(a, t) == MeterCorrect {
				n++
			}
		}
		if n > best || answer == "" && len(truths) > 0 {
			best, answer = n, a
		}
	}
	return best, answer
}

// parseTimeSignature reads a time signature as people write it: "3/4",
// " 6 / 8 ", "C" for common time (4/4) and "C|" or "¢" for cut time
// (2/2), the musical symbols included. The numerator must be 1..32 and
// the denominator a power of two up to 32: anything else is a typo, not a
// meter anybody plays.
func parseTimeSignature(s string) (num, den int, err error) {
	t := strings.Join(strings.Fields(s), "")
	switch strings.ToUpper(t) {
	case "C", "\U0001D134":
		return 4, 4, nil
	case "C|", "¢", "\U0001D135":
		return 2, 2, nil
	}
	n, d, found := strings.Cut(t, "/")
	num, nerr := digits(n)
	den, derr := digits(d)
	switch {
	case !found && nerr == nil:
		return 0, 0, fmt.Errorf("time signature %q names no note value: write it as N/D, as 4/4 or 12/8", s)
	case !found, nerr != nil, derr != nil:
		return 0, 0, fmt.Errorf("time signature %q is not N/D, as 3/4 or 6/8", s)
	case num < 1 || num > 32 || den < 1 || den > 32 || den&(den-1) != 0:
		return 0, 0, fmt.Errorf("time signature %q: want 1 to 32 beats over a note value of 1, 2, 4, 8, 16 or 32", s)
	}
	return num, den, nil
}

// digits parses a whole number written with digits only: strconv.Atoi
// would also take "+3" and "-3", which are no part of a time signature.
func digits(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return strconv.Atoi(s)
}

// normTimeSignature spells a time signature as reports show it, "N/D".
func normTimeSignature(s string) (string, error) {
	n, d, err := parseTimeSignature(s)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(n) + "/" + strconv.Itoa(d), nil
}

// TempoPair is one song's estimated and true tempo, in BPM.
type TempoPair struct{ Est, Truth float64 }

// ToleranceCurve is Accuracy1 and Accuracy2 over a range of tolerances:
// how much of the score hangs on the choice of 4 %.
type ToleranceCurve struct {
	Tolerance []float64 // relative, 0.01 = 1 %
	Acc1      []float64 // fraction of songs, 0..1
	Acc2      []float64 // fraction of songs, 0..1
}

// ToleranceCurves computes Accuracy1 and Accuracy2 of pairs at steps+1
// tolerances evenly spaced from 0 to maxTol. With no pairs the accuracies
// are zero.
func ToleranceCurves(pairs []TempoPair, maxTol float64, steps int) ToleranceCurve {
	if steps < 1 {
		steps = 1
	}
	var c ToleranceCurve
	for i := 0; i <= steps; i++ {
		tol := maxTol * float64(i) / float64(steps)
		var a1, a2 int
		for _, p := range pairs {
			if Accuracy1(p.Est, p.Truth, tol) {
				a1++
			}
			if Accuracy2(p.Est, p.Truth, tol) {
				a2++
			}
		}
		c.Tolerance = append(c.Tolerance, tol)
		c.Acc1 = append(c.Acc1, frac(a1, len(pairs)))
		c.Acc2 = append(c.Acc2, frac(a2, len(pairs)))
	}
	return c
}

func frac(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// ConfidenceBin is the accuracy of the songs whose confidence fell in
// [Lo, Hi).
type ConfidenceBin struct {
	Lo, Hi   float64
	Songs    int
	Accuracy float64 // fraction correct, 0..1; 0 when Songs is 0
}

// ConfidenceBins splits (confidence, correct) observations into n equal
// bins over 0..1 (the last one includes 1) and gives each bin's accuracy.
// A confidence that predicts correctness shows accuracy rising bin by bin.
// Confidences outside 0..1 count in the end bin nearest them; NaN ones in
// none. An n below 1 is taken as 1.
func ConfidenceBins(conf []float64, correct []bool, n int) []ConfidenceBin {
	n = max(n, 1)
	bins := make([]ConfidenceBin, n)
	hits := make([]int, n)
	for i := range bins {
		bins[i].Lo = float64(i) / float64(n)
		bins[i].Hi = float64(i+1) / float64(n)
	}
	for i, c := range conf {
		if i >= len(correct) {
			break
		}
		if math.IsNaN(c) {
			continue // no confidence given: this song belongs in no bin
		}
		// Clamping before the conversion keeps an infinite confidence in
		// the end bin it points to: int(±Inf) is undefined in Go.
		b := int(math.Floor(min(1, max(0, c)) * float64(n)))
		b = min(n-1, b)
		bins[b].Songs++
		if correct[i] {
			hits[b]++
		}
	}
	for i := range bins {
		bins[i].Accuracy = frac(hits[i], bins[i].Songs)
	}
	return bins
}

// Reliability measures how well a confidence predicts correctness: its
// Brier score ([calibration.Brier]) and that of the constant forecast
// ([calibration.BrierConstant]), which a confidence that predicts
// correctness scores below; one that merely ranks songs may not.
type Reliability struct {
	Songs    int             // observations scored: those with a confidence that is not NaN
	Brier    float64         // of the confidence
	Constant float64         // of the constant forecast
	Bins     []ConfidenceBin // accuracy by confidence ([ConfidenceBins])
}

// Beats reports whether the confidence forecasts better than the
// constant.
func (r Reliability) Beats() bool { return r.Songs > 0 && r.Brier < r.Constant }

// MeasureReliability scores (confidence, correct) observations. A NaN
// confidence is no forecast and its song is left out; confidences outside
// 0..1 are clamped, as a probability must be. The bins are those of
// ConfidenceBins with n bins.
func MeasureReliability(conf []float64, correct []bool, n int) Reliability {
	r := Reliability{Bins: ConfidenceBins(conf, correct, n)}
	var x []float64
	var y []bool
	for i, c := range conf {
		if i < len(correct) && !math.IsNaN(c) {
			x, y = append(x, c), append(y, correct[i])
		}
	}
	if r.Songs = len(x); r.Songs > 0 {
		r.Brier, r.Constant = calibration.Brier(x, y), calibration.BrierConstant(y)
	}
	return r
}
