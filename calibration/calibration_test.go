package calibration

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/songflow/songflow/stages"
)

// synthetic returns n songs whose reference energy is 0.5·measured + 0.2
// plus a small deterministic wobble, and whose reference loudness is the
// measured one 3 dB louder.
func synthetic(n int) []Observation {
	obs := make([]Observation, n)
	for i := range obs {
		x := float64(i) / float64(n-1)
		wobble := 0.01 * math.Sin(float64(7*i))
		obs[i] = Observation{
			Result:    stages.Result{Energy: x, Loudness: -20 + 10*x},
			Reference: map[string]float64{"energy": 0.5*x + 0.2 + wobble, "loudness": -17 + 10*x},
		}
	}
	return obs
}

func TestFitKnownLine(t *testing.T) {
	m, fits, err := Fit(synthetic(30), 5)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.Features["energy"]
	if !ok {
		t.Fatalf("energy not kept: %+v", fits)
	}
	if math.Abs(e.Slope-0.5) > 0.01 || math.Abs(e.Intercept-0.2) > 0.01 || !e.Clamp {
		t.Errorf("energy map %+v, want slope 0.5 intercept 0.2 clamped", e)
	}
	l := m.Features["loudness"]
	if math.Abs(l.Slope-1) > 1e-9 || math.Abs(l.Intercept-3) > 1e-9 || l.Clamp {
		t.Errorf("loudness map %+v, want slope 1 intercept 3 unclamped", l)
	}
	for _, f := range fits {
		if f.Folds != 5 || f.Songs != 30 || !(f.MAEAfter < f.MAEBefore) {
			t.Errorf("%+v: want 5 folds of 30 songs, error reduced", f)
		}
	}
	// The wobble is ±0.01, so cross-validated error must be about that.
	if fits[0].Feature != "energy" || fits[0].MAEAfter > 0.01 {
		t.Errorf("energy fit %+v", fits[0])
	}
	if m.Songs != 30 {
		t.Errorf("Songs = %d", m.Songs)
	}
}

func TestCrossValidateIsOutOfSample(t *testing.T) {
	// Hand-worked, 2 folds: fold 0 tests songs 0 and 2 with the line
	// through (1,1),(3,1), i.e. y = 1, error 1+1; fold 1 tests 1 and 3
	// with y = 0 fitted to (0,0),(2,0), error 1+1. Mean 1. An in-sample
	// fit (y = 0.2x + 0.2) would claim 0.4.
	x := []float64{0, 1, 2, 3}
	y := []float64{0, 1, 0, 1}
	if got := crossValidate(x, y, []int{0, 1, 0, 1}, 2, false); math.Abs(got-1) > 1e-12 {
		t.Errorf("cross-validated MAE %g, want 1", got)
	}
	if got := mae(x, y, leastSquares(x, y, false)); math.Abs(got-0.4) > 1e-12 {
		t.Errorf("in-sample MAE %g, want 0.4", got)
	}
}

func TestFitDropsUselessFeature(t *testing.T) {
	// The measure already equals the reference: any fit can only add error.
	var obs []Observation
	for i := 0; i < 10; i++ {
		v := math.Mod(float64(i)*0.37, 1)
		obs = append(obs, Observation{Result: stages.Result{Valence: v}, Reference: map[string]float64{"valence": v + 0.02*math.Sin(float64(i))}})
	}
	obs[3].Reference["valence"] = 0.99 // an outlier the fit chases
	m, fits, err := Fit(obs, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Features["valence"]; ok || fits[0].Kept {
		t.Errorf("valence kept although correcting it does not help: %+v", fits[0])
	}
}

func TestFitTooFewAndNone(t *testing.T) {
	_, fits, err := Fit(synthetic(30)[:3], 5)
	if err != nil || len(fits) != 2 || fits[0].Skipped == "" {
		t.Errorf("3 songs: %+v %v, want skipped features", fits, err)
	}
	if _, _, err := Fit([]Observation{{Result: stages.Result{Energy: 1}}}, 5); err != ErrNoReference {
		t.Errorf("no references: err %v", err)
	}
}

func TestApplyClamps(t *testing.T) {
	m := &Map{Version: Version, Features: map[string]Linear{
		"energy":       {Slope: 2, Intercept: 0, Clamp: true},
		"acousticness": {Slope: 1, Intercept: -0.5, Clamp: true},
		"loudness":     {Slope: 1, Intercept: -30, Clamp: false},
	}}
	r := stages.Result{Energy: 0.8, Acousticness: 0.2, Loudness: -10, Valence: 0.4}
	m.Apply(&r)
	if r.Energy != 1 || r.Acousticness != 0 || r.Loudness != -40 || r.Valence != 0.4 {
		t.Errorf("applied: energy %g acousticness %g loudness %g valence %g", r.Energy, r.Acousticness, r.Loudness, r.Valence)
	}
	var nilMap *Map
	nilMap.Apply(&r) // must not panic
}

func TestWriteLoadRoundTrip(t *testing.T) {
	m, _, err := Fit(synthetic(12), 4)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "calibration.json")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Features["energy"] != m.Features["energy"] || got.Songs != 12 {
		t.Errorf("loaded %+v, wrote %+v", got, m)
	}
	var buf bytes.Buffer
	if err := got.Write(&buf); err != nil || !strings.Contains(buf.String(), `"slope"`) {
		t.Errorf("Write: %v %s", err, buf.String())
	}
}

func TestReadRejects(t *testing.T) {
	for _, in := range []string{
		`{"version":3,"features":{}}`,
		`{"version":0,"features":{}}`,
		`{"version":1,"features":{"tempo":{"slope":1,"intercept":0}}}`,
		`{"version":1,"features":{},"confidences":{"bpm_confidence":{"slope":1,"intercept":0}}}`,
		`{"version":2,"features":{},"confidences":{"bpm":{"slope":1,"intercept":0}}}`,
		`{"version":1,"features":{},"extra":1}`,
		`not json`,
	} {
		if _, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%s) succeeded", in)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

// A folder holding every song twice (say as WAV and as MP3) must show the
// same cross-validated error as one holding each song once: the copies
// of a song share a fold, so no song is scored by a map fitted on its
// twin.
func TestFitKeepsASongsFilesInOneFold(t *testing.T) {
	once := make([]Observation, 7)
	for i := range once {
		x := float64(i) / 6
		// References unrelated to the measure: a map fitted on other
		// songs cannot predict them, but one fitted on a twin would.
		ref := math.Mod(float64(i)*0.618, 1)
		once[i] = Observation{Result: stages.Result{Energy: x}, Reference: map[string]float64{"energy": ref}, Song: string(rune('a' + i))}
	}
	twice := append(append([]Observation{}, once...), once...)
	_, fitsOnce, err := Fit(once, 5)
	if err != nil {
		t.Fatal(err)
	}
	_, fitsTwice, err := Fit(twice, 5)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fitsOnce[0], fitsTwice[0]
	if math.Abs(a.MAEAfter-b.MAEAfter) > 1e-12 || a.Songs != 7 || b.Songs != 7 || b.Folds != 5 {
		t.Errorf("each song once: %+v; twice: %+v; want the same songs, folds and cross-validated error", a, b)
	}

	// Without names every file is a song of its own.
	for i := range twice {
		twice[i].Song = ""
	}
	_, fits, err := Fit(twice, 5)
	if err != nil {
		t.Fatal(err)
	}
	if fits[0].Songs != 14 {
		t.Errorf("unnamed files: %d songs, want 14", fits[0].Songs)
	}
}

// Degenerate folders: more folds asked for than there are songs, a
// feature no song has a reference for, and references that are all the
// same (the regression has no slope to find). Hand-worked: 4 songs, so
// 4 folds of one song each; every training set's references are 0.6, so
// every prediction is 0.6 and the error after is 0; before, it is the
// mean of |x − 0.6| over x = 0, ⅓, ⅔, 1: (0.6 + 0.2667 + 0.0667 + 0.4)/4.
func TestFitDegenerate(t *testing.T) {
	var obs []Observation
	for i := range 4 {
		x := float64(i) / 3
		obs = append(obs, Observation{Result: stages.Result{Energy: x, Valence: 0.5}, Reference: map[string]float64{"energy": 0.6, "valence": 0.25 * float64(i)}})
	}
	m, fits, err := Fit(obs, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fits) != 2 || fits[0].Feature != "energy" || fits[1].Feature != "valence" {
		t.Fatalf("fits %+v, want energy and valence only (no song has the others)", fits)
	}
	// Every song's energy reference is 0.6: the best line is that
	// constant, which would erase the feature, so energy is not fitted.
	e := fits[0]
	wantBefore := (0.6 + (0.6 - 1.0/3) + (2.0/3 - 0.6) + 0.4) / 4
	if e.Songs != 4 || math.Abs(e.MAEBefore-wantBefore) > 1e-12 || e.Kept || e.Skipped != "every song has the same reference value" {
		t.Errorf("energy %+v, want 4 songs, MAE %g before, skipped for one reference value", e, wantBefore)
	}
	if l, ok := m.Features["energy"]; ok {
		t.Errorf("energy map %+v, want none", l)
	}
	// Valence measured the same for every song: the map is the mean of
	// the references, and cross-validation predicts each song by the mean
	// of the other three: for 0, 0.25, 0.5, 0.75 the errors are 0.5, 1/6,
	// 1/6, 0.5, mean 1/3, against 0.25·(0.5+0.25+0+0.25) = 0.25 before.
	v := fits[1]
	if math.Abs(v.MAEBefore-0.25) > 1e-12 || math.Abs(v.MAEAfter-1.0/3) > 1e-12 || v.Kept {
		t.Errorf("valence %+v, want MAE 0.25 before, 1/3 after, not kept", v)
	}
	for _, f := range fits {
		for _, c := range []float64{f.MAEBefore, f.MAEAfter, f.Linear.Slope, f.Linear.Intercept} {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				t.Errorf("%s: non-finite figure in %+v", f.Feature, f)
			}
		}
	}
}

// A calibration.json that Fit could not have written must not load: a map
// that leaves a 0..1 feature unclamped (or clamps loudness, in dB, to
// 0..1) puts results outside their documented range, a recalibration
// with a negative slope turns the order of confidences round, and a
// second value or stray text after the map is a damaged or concatenated
// file whose first half would otherwise be applied silently.
func TestReadRejectsWhatFitCannotWrite(t *testing.T) {
	for _, in := range []string{
		`{"version":2,"features":{"energy":{"slope":2,"intercept":0,"clamp":false}}}`,
		`{"version":2,"features":{"valence":{}}}`,
		`{"version":2,"features":{"danceability":null}}`,
		`{"version":1,"features":{"loudness":{"slope":1,"intercept":3,"clamp":true}}}`,
		`{"version":2,"features":{},"confidences":{"key_confidence":{"slope":-1,"intercept":0}}}`,
		`{"version":2,"songs":-3,"features":{}}`,
		`{"version":2,"features":{}} garbage`,
		`{"version":2,"features":{}}{"version":2,"features":{}}`,
	} {
		if m, err := Read(strings.NewReader(in)); err == nil {
			t.Errorf("Read(%s) = %+v, want an error", in, m)
		}
	}
	// What Fit writes, and a file ending in blank lines, still load.
	for _, in := range []string{
		`{"version":2,"songs":12,"features":{"energy":{"slope":0.5,"intercept":0.2,"clamp":true},"loudness":{"slope":1,"intercept":3,"clamp":false}},"confidences":{"bpm_confidence":{"slope":0,"intercept":-0.4}}}` + "\n\n",
		`{"version":1,"features":{"acousticness":{"slope":1,"intercept":-0.1,"clamp":true}}}`,
	} {
		if _, err := Read(strings.NewReader(in)); err != nil {
			t.Errorf("Read(%s): %v", in, err)
		}
	}
}

// MinSongs counts songs, not files: three songs, each as two files, are
// still too few to fit a map on, however many rows they make.
func TestFitTooFewSongsInManyFiles(t *testing.T) {
	var obs []Observation
	for i, o := range synthetic(3) {
		o.Song = string(rune('a' + i))
		obs = append(obs, o, o)
	}
	m, fits, err := Fit(obs, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fits {
		if f.Songs != 3 || f.Skipped == "" || f.Folds != 0 {
			t.Errorf("%s: %+v, want 3 songs and skipped", f.Feature, f)
		}
	}
	if len(m.Features) != 0 {
		t.Errorf("fitted %v on 3 songs", m.Features)
	}
}

// A fit skipped for a single song says "1 song", as the report's other
// counts do, not "1 songs".
func TestFitSkippedOneSong(t *testing.T) {
	obs := []Observation{{
		Result:    stages.Result{Energy: 0.4, BPM: 120, BPMConfidence: 0.7},
		Reference: map[string]float64{"energy": 0.5},
		Correct:   map[string]bool{"bpm_confidence": true},
	}}
	m, fits, err := Fit(obs, 5)
	if err != nil {
		t.Fatal(err)
	}
	conf := m.FitConfidences(obs, 5)
	if len(fits) != 1 || len(conf) != 1 {
		t.Fatalf("fits %+v, confidence fits %+v, want one each", fits, conf)
	}
	for _, skipped := range []string{fits[0].Skipped, conf[0].Skipped} {
		if want := "1 song, need 4"; skipped != want {
			t.Errorf("skipped %q, want %q", skipped, want)
		}
	}
	if _, fits, _ := Fit(append(obs, obs[0]), 5); fits[0].Skipped != "2 songs, need 4" {
		t.Errorf("two songs: skipped %q", fits[0].Skipped)
	}
}
