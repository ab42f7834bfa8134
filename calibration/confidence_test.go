package calibration

import (
	"math"
	"strings"
	"testing"

	"github.com/songflow/songflow/stages"
)

// tempoObs is a song whose tempo was right or not at confidence c.
func tempoObs(c float64, right bool, song string) Observation {
	return Observation{
		Result:  stages.Result{BPM: 120, BPMConfidence: c},
		Correct: map[string]bool{"bpm_confidence": right},
		Song:    song,
	}
}

// An under-confident analysis (songs at 0.3 right 7 times in 10, songs
// at 0.6 right 9 times in 10) is recalibrated towards those rates: the
// maximum-likelihood fit of a two-parameter logistic on two confidence
// values reproduces each group's rate, up to Platt's target smoothing
// (targets 17/18 and 1/6 for 16 right and 4 wrong songs), which moves
// each by at most 0.06. The cross-validated Brier score falls below the
// uncorrected one, so the map keeps the recalibration.
func TestFitConfidencesRecalibrates(t *testing.T) {
	var obs []Observation
	for i := range 10 {
		obs = append(obs, tempoObs(0.3, i < 7, ""), tempoObs(0.6, i < 9, ""))
	}
	m := &Map{Version: Version, Features: map[string]Linear{}}
	fits := m.FitConfidences(obs, 5)
	if len(fits) != 1 || fits[0].Confidence != "bpm_confidence" || fits[0].Songs != 20 || !fits[0].Kept {
		t.Fatalf("fits %+v", fits)
	}
	f := fits[0]
	if !(f.BrierAfter < f.BrierBefore) {
		t.Errorf("Brier after %g, before %g", f.BrierAfter, f.BrierBefore)
	}
	l := m.Confidences["bpm_confidence"]
	for _, c := range []struct{ conf, rate float64 }{{0.3, 0.7}, {0.6, 0.9}} {
		if got := l.At(c.conf); math.Abs(got-c.rate) > 0.06 {
			t.Errorf("recalibrated %g = %.3f, want about %g", c.conf, got, c.rate)
		}
	}
	if !(l.At(0.6) > l.At(0.3)) {
		t.Error("recalibration reversed the order of confidences")
	}
	// Applied to a result: the confidence moves, a song with no tempo
	// keeps its 0.
	r := stages.Result{BPM: 100, BPMConfidence: 0.3}
	m.Apply(&r)
	if math.Abs(r.BPMConfidence-l.At(0.3)) > 1e-12 {
		t.Errorf("applied: %g", r.BPMConfidence)
	}
	none := stages.Result{}
	m.Apply(&none)
	if none.BPMConfidence != 0 {
		t.Errorf("no tempo: confidence %g", none.BPMConfidence)
	}
	// It survives the file.
	var b strings.Builder
	if err := m.Write(&b); err != nil {
		t.Fatal(err)
	}
	got, err := Read(strings.NewReader(b.String()))
	if err != nil || got.Confidences["bpm_confidence"] != l {
		t.Errorf("read back %+v, %v from %s", got, err, b.String())
	}
}

// A confidence that already says how often songs are right is left
// alone: nothing can lower its cross-validated Brier score.
func TestFitConfidencesKeepsCalibrated(t *testing.T) {
	var obs []Observation
	for i := range 20 {
		obs = append(obs, tempoObs(0.2, i < 4, ""), tempoObs(0.8, i < 16, ""))
	}
	m := &Map{Version: Version}
	fits := m.FitConfidences(obs, 5)
	if len(fits) != 1 || fits[0].Kept || len(m.Confidences) != 0 {
		t.Errorf("fits %+v, map %+v", fits, m.Confidences)
	}
}

// Perfect separation (every song above 0.5 right, every one below
// wrong) keeps the fit finite, and every song right leaves nothing to fit.
func TestFitConfidencesEdgeCases(t *testing.T) {
	var obs []Observation
	for i := range 10 {
		obs = append(obs, tempoObs(0.2+0.02*float64(i), false, ""), tempoObs(0.6+0.02*float64(i), true, ""))
	}
	m := &Map{Version: Version}
	fits := m.FitConfidences(obs, 5)
	l := m.Confidences["bpm_confidence"]
	if len(fits) != 1 || !fits[0].Kept || !finite(l.Slope) || !finite(l.Intercept) || !(l.At(0.7) > 0.8 && l.At(0.3) < 0.2) {
		t.Errorf("separable: fits %+v, map %+v", fits, l)
	}
	var all []Observation
	for i := range 10 {
		all = append(all, tempoObs(0.1*float64(i), true, ""))
	}
	m = &Map{Version: Version}
	fits = m.FitConfidences(all, 5)
	if len(fits) != 1 || fits[0].Skipped == "" || len(m.Confidences) != 0 {
		t.Errorf("all right: fits %+v", fits)
	}
	m = &Map{Version: Version}
	if fits = m.FitConfidences(obs[:3], 5); len(fits) != 1 || fits[0].Skipped == "" || fits[0].Songs != 3 {
		t.Errorf("3 songs: fits %+v", fits)
	}
}

// A recalibration keeps the order of confidences (README). Two cases
// broke it: confidences that do not vary, where the slope is not
// determined by the data and Newton's steps set it along (z, 1) — here
// 20 songs at 0.7, 5 right, gave slope −0.52, so a later song at 0.9
// came out less likely than one at 0.3 —, and confidences that, in the
// songs at hand, are right less often when higher (10 at 0.8 with 2
// right, 10 at 0.3 with 8 right), where the unconstrained fit turns them
// round. Either way the fit is the smoothed hit rate, and it is still
// kept, since it lowers the Brier score.
func TestFitConfidencesKeepsOrder(t *testing.T) {
	var constant, reversed []Observation
	for i := range 20 {
		constant = append(constant, tempoObs(0.7, i < 5, ""))
	}
	for i := range 10 {
		reversed = append(reversed, tempoObs(0.8, i < 2, ""), tempoObs(0.3, i < 8, ""))
	}
	for name, obs := range map[string][]Observation{"constant": constant, "reversed": reversed} {
		m := &Map{Version: Version}
		fits := m.FitConfidences(obs, 5)
		l, kept := m.Confidences["bpm_confidence"]
		if len(fits) != 1 || !kept || !(fits[0].BrierAfter < fits[0].BrierBefore) {
			t.Errorf("%s: fits %+v, map %+v", name, fits, m.Confidences)
			continue
		}
		if l.Slope < 0 {
			t.Errorf("%s: slope %g turns the confidences round", name, l.Slope)
		}
		for _, pair := range [][2]float64{{0.3, 0.9}, {0.05, 0.95}, {0.69, 0.71}} {
			lo, hi := l.At(pair[0]), l.At(pair[1])
			if lo > hi {
				t.Errorf("%s: %g → %.3f but %g → %.3f", name, pair[0], lo, pair[1], hi)
			}
		}
		// No ranking to learn: every song gets the smoothed hit rate.
		right := 0
		for _, o := range obs {
			if o.Correct["bpm_confidence"] {
				right++
			}
		}
		n := float64(len(obs))
		hit := (float64(right)*(float64(right)+1)/(float64(right)+2) + (n-float64(right))/(n-float64(right)+2)) / n
		if got := l.At(0.5); math.Abs(got-hit) > 1e-6 {
			t.Errorf("%s: recalibrated to %.4f, want the smoothed hit rate %.4f", name, got, hit)
		}
	}
}

// The confidences' cross-validation, worked by hand. Four songs, all at
// confidence 0.5 (so every fit is flat, σ(b) = the mean of Platt's
// targets on its training songs), right, right, right, wrong, in two
// folds by song: songs 0 and 2 in fold 0, 1 and 3 in fold 1.
//
//   - Fold 0 trains on songs 1 (right) and 3 (wrong): targets 2/3 and
//     1/3, forecast 0.5; songs 0 and 2 (both right) score 0.25 each. The
//     training hit rate, 0.5, scores the same.
//   - Fold 1 trains on songs 0 and 2 (both right): target 3/4, forecast
//     0.75; song 1 (right) scores 0.0625, song 3 (wrong) 0.5625. The hit
//     rate, 1, scores 0 and 1.
//
// So BrierAfter = (0.5 + 0.625)/4 = 0.28125 and the constant forecast's
// cross-validated score is (0.5 + 1)/4 = 0.375. A fit on all four songs
// (targets 4/5 and 1/3) would claim 0.192, and the in-sample constant
// 0.1875.
//
// Every song twice, its two files in one fold: fold 0 trains on two right
// and two wrong files (targets 3/4 and 1/4, forecast 0.5) and scores 0.25
// four times; fold 1 on four right files (target 5/6) and scores 1/36
// twice and 25/36 twice. BrierAfter = (1 + 52/36)/8 = 11/36, the
// constant's (1 + 2)/8 = 0.375 again. Folding files rather than songs
// would put each song's twin in its training set.
func TestFitConfidencesCrossValidatesBySong(t *testing.T) {
	right := []bool{true, true, true, false}
	var once, twice []Observation
	for i, r := range right {
		song := string(rune('a' + i))
		once = append(once, tempoObs(0.5, r, song))
		twice = append(twice, tempoObs(0.5, r, song), tempoObs(0.5, r, song))
	}
	for _, c := range []struct {
		name  string
		obs   []Observation
		after float64
	}{
		{"each song once", once, 0.28125},
		{"each song twice", twice, 11.0 / 36},
	} {
		m := &Map{Version: Version}
		fits := m.FitConfidences(c.obs, 2)
		if len(fits) != 1 {
			t.Fatalf("%s: fits %+v", c.name, fits)
		}
		f := fits[0]
		if f.Songs != 4 || f.Folds != 2 {
			t.Errorf("%s: %d songs in %d folds, want 4 in 2", c.name, f.Songs, f.Folds)
		}
		if math.Abs(f.BrierBefore-0.25) > 1e-12 || math.Abs(f.BrierAfter-c.after) > 1e-12 || math.Abs(f.Constant-0.375) > 1e-12 {
			t.Errorf("%s: Brier before %g, after %g, constant %g; want 0.25, %g, 0.375", c.name, f.BrierBefore, f.BrierAfter, f.Constant, c.after)
		}
		if f.Kept {
			t.Errorf("%s: kept a recalibration that scores worse out of sample", c.name)
		}
	}
}
