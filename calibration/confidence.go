package calibration

import (
	"math"
	"slices"

	"github.com/songflow/songflow/stages"
)

// Confidences are the result fields a map can recalibrate, by their JSON
// names: each says how likely a result is right, and a calibration
// folder's truth says how often it was.
var Confidences = []string{"bpm_confidence", "key_confidence"}

// Logistic is one confidence's recalibration by Platt scaling (Platt
// 1999, "Probabilistic outputs for support vector machines"): the
// confidence c becomes σ(Slope·logit(c) + Intercept), still 0..1 and in
// the same order, but now matching how often songs at each confidence
// were right.
type Logistic struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
}

// logitFloor keeps logit finite at confidences of exactly 0 or 1.
const logitFloor = 1e-3

func logit(c float64) float64 {
	c = min(1-logitFloor, max(logitFloor, c))
	return math.Log(c / (1 - c))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// At recalibrates the confidence c.
func (l Logistic) At(c float64) float64 { return sigmoid(l.Slope*logit(c) + l.Intercept) }

// confidenceField points at the result field named by its JSON name, or
// is nil. The second value says whether the result has the estimate the
// confidence is about: a song with no tempo or key keeps its 0.
func confidenceField(r *stages.Result, name string) (*float64, bool) {
	switch name {
	case "bpm_confidence":
		return &r.BPMConfidence, r.BPM > 0
	case "key_confidence":
		return &r.KeyConfidence, r.Key != ""
	}
	return nil, false
}

// applyConfidences recalibrates r's confidences in place.
func (m *Map) applyConfidences(r *stages.Result) {
	for name, l := range m.Confidences {
		if p, has := confidenceField(r, name); p != nil && has {
			if y := l.At(*p); finite(y) {
				*p = y
			}
		}
	}
}

// ConfidenceFit reports how one confidence's recalibration was fitted
// and how well it forecasts correctness on songs it was not fitted on.
type ConfidenceFit struct {
	Confidence string // its JSON name
	Songs      int    // songs whose outcome is known
	Folds      int    // cross-validation folds used; 0 when skipped
	// BrierBefore is the Brier score of the confidence as analysed (mean
	// squared difference from the outcome, 1 right and 0 wrong);
	// BrierAfter that of the recalibrated one, each song recalibrated by
	// a map fitted on the other folds only. Constant is the Brier score
	// of forecasting for every song the hit rate of the other folds (of
	// all the songs when skipped): what a recalibration must beat to
	// tell songs apart at all.
	BrierBefore, BrierAfter, Constant float64
	Logistic                          Logistic // fitted on all the songs
	// Kept says whether the map recalibrates this confidence: only when
	// cross-validation shows it lowers the Brier score.
	Kept bool
	// Skipped gives the reason a confidence was not fitted; empty
	// otherwise.
	Skipped string
}

// FitConfidences fits a Platt scaling per confidence to the outcomes in
// obs (Observation.Correct), judged by folds-fold cross-validation with
// songs dealt to folds as [Fit] deals them, and adds to m those that
// lower the cross-validated Brier score. It reports on every confidence
// some song has an outcome for.
func (m *Map) FitConfidences(obs []Observation, folds int) []ConfidenceFit {
	var fits []ConfidenceFit
	for _, name := range Confidences {
		var x []float64
		var y []bool
		var song []int
		var songs songNumbers
		for _, o := range obs {
			right, ok := o.Correct[name]
			r := o.Result
			p, has := confidenceField(&r, name)
			if !ok || p == nil || !has || !finite(*p) {
				continue
			}
			x, y = append(x, *p), append(y, right)
			song = append(song, songs.of(o.Song))
		}
		if len(x) == 0 {
			continue
		}
		m.Songs = max(m.Songs, songs.n)
		cf := ConfidenceFit{Confidence: name, Songs: songs.n, BrierBefore: Brier(x, y), Constant: BrierConstant(y)}
		switch {
		case songs.n < MinSongs:
			cf.Skipped = tooFew(songs.n)
		case !slices.Contains(y, true) || !slices.Contains(y, false):
			// Every song right (or every one wrong): nothing tells a
			// likely song from an unlikely one.
			cf.Skipped = "every song has the same outcome"
		}
		if cf.Skipped != "" {
			fits = append(fits, cf)
			continue
		}
		cf.Folds = min(max(folds, 2), songs.n)
		var sq, sqConst float64
		for f := 0; f < cf.Folds; f++ {
			var tx []float64
			var ty []bool
			hits := 0.0
			for i := range x {
				if song[i]%cf.Folds != f {
					tx, ty = append(tx, x[i]), append(ty, y[i])
					if y[i] {
						hits++
					}
				}
			}
			l := plattFit(tx, ty)
			for i := range x {
				if song[i]%cf.Folds == f {
					sq += sqErr(l.At(x[i]), y[i])
					sqConst += sqErr(hits/float64(len(ty)), y[i])
				}
			}
		}
		cf.BrierAfter = sq / float64(len(x))
		cf.Constant = sqConst / float64(len(x))
		cf.Logistic = plattFit(x, y)
		cf.Kept = cf.BrierAfter < cf.BrierBefore
		if cf.Kept {
			if m.Confidences == nil {
				m.Confidences = map[string]Logistic{}
			}
			m.Confidences[name] = cf.Logistic
		}
		fits = append(fits, cf)
	}
	return fits
}

// plattFit fits σ(a·logit(x) + b) to the outcomes y by maximum
// likelihood (Newton's method), with Platt's targets (N₊+1)/(N₊+2) and
// 1/(N₋+2) in place of 1 and 0: they keep the fit finite when a
// threshold separates right from wrong perfectly, and pull a fit on few
// songs towards the hit rate.
//
// The slope is kept at 0 or above, so that a recalibration never turns
// the order of confidences round: where the likelihood would be highest
// with a negative slope (higher confidences right less often, in these
// songs) it is highest at slope 0 among the others, the log-likelihood
// being concave, and the fit is the constant σ(b) = mean target. So too
// when the confidences do not vary: they say nothing about a slope,
// which Newton's steps would otherwise set by the path they happen to
// take, along (z, 1), and which would then decide every other
// confidence's fate, often upside down.
func plattFit(x []float64, y []bool) Logistic {
	var pos, neg float64
	for _, v := range y {
		if v {
			pos++
		} else {
			neg++
		}
	}
	hi, lo := (pos+1)/(pos+2), 1/(neg+2)
	z := make([]float64, len(x))
	t := make([]float64, len(x))
	for i := range x {
		z[i] = logit(x[i])
		t[i] = lo
		if y[i] {
			t[i] = hi
		}
	}
	if len(t) == 0 {
		return Logistic{}
	}
	var mean float64
	for _, v := range t {
		mean += v
	}
	mean /= float64(len(t))
	flat := Logistic{Intercept: math.Log(mean / (1 - mean))}
	if slices.Max(z)-slices.Min(z) < 1e-9 {
		return flat
	}
	var a, b float64
	// The log-likelihood is concave in (a, b); a tiny ridge keeps the
	// Hessian invertible when the z hardly vary.
	const ridge = 1e-9
	for range 100 {
		var ga, gb, haa, hab, hbb float64
		for i := range z {
			p := sigmoid(a*z[i] + b)
			d := p - t[i]
			w := p * (1 - p)
			ga += d * z[i]
			gb += d
			haa += w * z[i] * z[i]
			hab += w * z[i]
			hbb += w
		}
		haa += ridge
		hbb += ridge
		det := haa*hbb - hab*hab
		if !(det > 0) {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		a, b = a-da, b-db
		if math.Abs(da)+math.Abs(db) < 1e-10 {
			break
		}
	}
	if !(a >= 0) {
		return flat
	}
	return Logistic{Slope: a, Intercept: b}
}

func sqErr(p float64, right bool) float64 {
	if right {
		return (1 - p) * (1 - p)
	}
	return p * p
}

// Brier is the Brier score (Brier 1950, "Verification of forecasts
// expressed in terms of probability") of the forecasts conf, clamped to
// 0..1, against the outcomes right: the mean squared difference between
// forecast and outcome (1 right, 0 wrong). Lower is better.
func Brier(conf []float64, right []bool) float64 {
	var s float64
	for i, c := range conf {
		s += sqErr(min(1, max(0, c)), right[i])
	}
	return s / float64(len(conf))
}

// BrierConstant is the Brier score of the best constant forecast, the
// hit rate p of right itself: p(1−p). A confidence that predicts
// correctness scores below it.
func BrierConstant(right []bool) float64 {
	var hits float64
	for _, v := range right {
		if v {
			hits++
		}
	}
	p := hits / float64(len(right))
	return p * (1 - p)
}
