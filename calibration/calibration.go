// Package calibration fits and applies the linear maps that bring
// songflow's feel descriptors (energy, danceability, acousticness,
// valence, loudness) onto the scale of a reference such as Spotify's, and
// the recalibrations that make its confidences (bpm_confidence,
// key_confidence) say how often results are right on a user's music.
//
// A map is fitted per feature by least squares, and per confidence by
// Platt scaling, on a calibration folder's songs, judged by k-fold
// cross-validation (the error on songs the fit did not see), written as
// calibration.json, and applied to every result when pipeline.toml's
// analysis.calibration names that file.
package calibration

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/songflow/songflow/stages"
	"gonum.org/v1/gonum/stat"
)

// Features are the result fields a map can correct, by their JSON names.
// Every one but loudness lives in 0..1 and is clamped there.
var Features = []string{"energy", "danceability", "acousticness", "valence", "loudness"}

// Version is the calibration.json format version this package writes.
// It reads version 1 too: version 2 added confidences.
const Version = 2

// Linear is one feature's correction: y = Slope·x + Intercept, clamped to
// 0..1 when Clamp is set.
type Linear struct {
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	Clamp     bool    `json:"clamp"`
}

// At applies the correction to x.
func (l Linear) At(x float64) float64 {
	y := l.Slope*x + l.Intercept
	if l.Clamp {
		y = min(1, max(0, y))
	}
	return y
}

// Map is a set of per-feature corrections, the content of calibration.json.
type Map struct {
	Version int `json:"version"` // the format version the map was written in
	// Songs is how many songs the map was fitted on.
	Songs int `json:"songs"`
	// Features holds the corrections, by JSON name (see [Features]); a
	// feature without one is left as analysed.
	Features map[string]Linear `json:"features"`
	// Confidences recalibrate the confidences, by JSON name.
	Confidences map[string]Logistic `json:"confidences,omitempty"`
}

// Load reads a calibration.json written by [Map.WriteFile].
func Load(path string) (*Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer f.Close()
	m, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("calibration %s: %w", path, err)
	}
	return m, nil
}

// Read decodes a calibration map from r and checks it: one JSON object
// and nothing after it, a known version, known features with finite
// coefficients clamped as Fit clamps them, and recalibrations that keep
// the order of confidences. A map Fit could not have written is refused
// rather than applied: it would put results outside their documented
// ranges.
func Read(r io.Reader) (*Map, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var m Map
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	// A second value or stray text means a damaged or concatenated file,
	// whose first map alone would otherwise be applied without a word.
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more after the map: want a single JSON object")
	}
	if m.Version < 1 || m.Version > Version {
		return nil, fmt.Errorf("version %d, want 1 to %d", m.Version, Version)
	}
	if m.Version < 2 && len(m.Confidences) > 0 {
		return nil, fmt.Errorf("version %d has no confidences", m.Version)
	}
	if m.Songs < 0 {
		return nil, fmt.Errorf("songs %d, want 0 or more", m.Songs)
	}
	for name, l := range m.Features {
		if !slices.Contains(Features, name) {
			return nil, fmt.Errorf("unknown feature %q (known: %v)", name, Features)
		}
		if !finite(l.Slope) || !finite(l.Intercept) {
			return nil, fmt.Errorf("feature %s: coefficients must be finite", name)
		}
		// Unclamped, a 0..1 feature's map can leave 0..1 (and a missing
		// or null entry reads as an unclamped zero map); clamped,
		// loudness in LUFS would be squeezed into 0..1.
		if l.Clamp != clamped(name) {
			return nil, fmt.Errorf("feature %s: clamp %v, want %v", name, l.Clamp, clamped(name))
		}
	}
	for name, l := range m.Confidences {
		if !slices.Contains(Confidences, name) {
			return nil, fmt.Errorf("unknown confidence %q (known: %v)", name, Confidences)
		}
		if !finite(l.Slope) || !finite(l.Intercept) {
			return nil, fmt.Errorf("confidence %s: coefficients must be finite", name)
		}
		// plattFit never returns a negative slope: one would rank the
		// least confident results highest.
		if l.Slope < 0 {
			return nil, fmt.Errorf("confidence %s: slope %g, want 0 or more (a recalibration keeps the order of confidences)", name, l.Slope)
		}
	}
	return &m, nil
}

// clamped reports whether the map of the feature named name is clamped
// to 0..1: every feature's but loudness, which is in LUFS.
func clamped(name string) bool { return name != "loudness" }

// Write encodes the map as indented JSON.
func (m *Map) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// WriteFile writes the map to path.
func (m *Map) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("calibration: %w", err)
	}
	if err := m.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("calibration %s: %w", path, err)
	}
	return f.Close()
}

// Apply corrects r's descriptors and recalibrates its confidences in
// place. A nil map leaves r as it is.
func (m *Map) Apply(r *stages.Result) {
	if m == nil {
		return
	}
	m.applyConfidences(r)
	for name, l := range m.Features {
		if p := field(r, name); p != nil {
			if y := l.At(*p); finite(y) {
				*p = y
			}
		}
	}
}

// field points at the result field named by its JSON name, or is nil.
func field(r *stages.Result, name string) *float64 {
	switch name {
	case "energy":
		return &r.Energy
	case "danceability":
		return &r.Danceability
	case "acousticness":
		return &r.Acousticness
	case "valence":
		return &r.Valence
	case "loudness":
		return &r.Loudness
	}
	return nil
}

// Measured returns the value of the feature named name in r.
func Measured(r stages.Result, name string) (float64, bool) {
	p := field(&r, name)
	if p == nil {
		return 0, false
	}
	return *p, true
}

// Observation is one file for fitting: what songflow measured and the
// reference values (by feature name) it should have given.
type Observation struct {
	Result    stages.Result      // as analysed, before any map is applied
	Reference map[string]float64 // by JSON name, as in Features
	// Correct says, by confidence name, whether the result it is about
	// was right (bpm_confidence: the tempo by Accuracy1;
	// key_confidence: the exact key).
	Correct map[string]bool
	// Song names the song the file holds. Files of the same song (one
	// recording in several formats, or one truth row matching several
	// files) are kept in one fold: a map fitted on one copy would
	// otherwise be scored on another and its error look smaller than it
	// is. Empty means a song of its own.
	Song string
}

// FeatureFit reports how one feature's map was fitted and how well it
// does on songs it was not fitted on.
type FeatureFit struct {
	Feature string // its JSON name
	Songs   int    // songs with a reference value for the feature
	Folds   int    // cross-validation folds used; 0 when skipped
	// MAEBefore is the mean absolute error of the uncorrected values;
	// MAEAfter that of the corrections, each song corrected by a map
	// fitted on the other folds only.
	MAEBefore, MAEAfter float64
	Linear              Linear // fitted on all the songs
	// Kept says whether the map uses this feature: only when
	// cross-validation shows it reduces the error.
	Kept bool
	// Skipped gives the reason a feature was not fitted; empty otherwise.
	Skipped string
}

// MinSongs is the fewest songs with a reference value a feature needs to
// be fitted: with fewer, every cross-validation fold's training set is
// too small to fit a line to.
const MinSongs = 4

// tooFew is the reason a fit on n songs, fewer than MinSongs, is skipped,
// as the report prints it: "1 song", not "1 songs".
func tooFew(n int) string {
	if n == 1 {
		return fmt.Sprintf("1 song, need %d", MinSongs)
	}
	return fmt.Sprintf("%d songs, need %d", n, MinSongs)
}

// ErrNoReference is returned by [Fit] when no song has a reference value.
var ErrNoReference = errors.New("calibration: no song has reference descriptor values")

// Fit fits a linear map per feature to obs by least squares and
// estimates its error by folds-fold cross-validation (folds is capped at
// the number of songs; at least 2). Songs are dealt to folds in turn, in
// the order they first appear in obs, all files of a song to the same
// fold, so the result depends only on the order of obs. The map holds
// the features whose cross-validated error is below the uncorrected one.
func Fit(obs []Observation, folds int) (*Map, []FeatureFit, error) {
	m := &Map{Version: Version, Features: map[string]Linear{}}
	var fits []FeatureFit
	found := false
	for _, name := range Features {
		var x, y []float64
		var song []int // index of each file's song, in order of first appearance
		var songs songNumbers
		for _, o := range obs {
			ref, ok := o.Reference[name]
			v, _ := Measured(o.Result, name)
			if !ok || !finite(ref) || !finite(v) {
				continue
			}
			x, y = append(x, v), append(y, ref)
			song = append(song, songs.of(o.Song))
		}
		if len(x) == 0 {
			continue
		}
		found = true
		m.Songs = max(m.Songs, songs.n)
		ff := FeatureFit{Feature: name, Songs: songs.n, MAEBefore: mae(x, y, Linear{Slope: 1})}
		if songs.n < MinSongs {
			ff.Skipped = tooFew(songs.n)
			fits = append(fits, ff)
			continue
		}
		if slices.Min(y) == slices.Max(y) {
			// The best line is then that constant, which would erase
			// the feature for every song analysed after; a reference
			// column of one value is more likely an export's default
			// (a playlist tool's acousticness 0 for every electronic
			// track) than a measurement.
			ff.Skipped = "every song has the same reference value"
			fits = append(fits, ff)
			continue
		}
		clamp := clamped(name)
		ff.Folds = min(max(folds, 2), songs.n)
		fold := make([]int, len(song))
		for i, s := range song {
			fold[i] = s % ff.Folds
		}
		ff.MAEAfter = crossValidate(x, y, fold, ff.Folds, clamp)
		ff.Linear = leastSquares(x, y, clamp)
		ff.Kept = ff.MAEAfter < ff.MAEBefore
		if ff.Kept {
			m.Features[name] = ff.Linear
		}
		fits = append(fits, ff)
	}
	if !found {
		return nil, nil, ErrNoReference
	}
	return m, fits, nil
}

// songNumbers numbers songs in the order they first appear, so that the
// files of one song can be dealt to one fold.
type songNumbers struct {
	index map[string]int
	n     int
}

// of returns song's number; an empty name is a song of its own.
func (s *songNumbers) of(song string) int {
	if i, seen := s.index[song]; seen && song != "" {
		return i
	}
	if s.index == nil {
		s.index = map[string]int{}
	}
	i := s.n
	s.n++
	if song != "" {
		s.index[song] = i
	}
	return i
}

// crossValidate returns the mean absolute error of k-fold predictions:
// each file, in fold[i] (0..k-1), is predicted by a line fitted to the
// files of the other folds.
func crossValidate(x, y []float64, fold []int, k int, clamp bool) float64 {
	var sum float64
	for f := 0; f < k; f++ {
		var tx, ty []float64
		for i := range x {
			if fold[i] != f {
				tx, ty = append(tx, x[i]), append(ty, y[i])
			}
		}
		l := leastSquares(tx, ty, clamp)
		for i := range x {
			if fold[i] == f {
				sum += math.Abs(l.At(x[i]) - y[i])
			}
		}
	}
	return sum / float64(len(x))
}

// leastSquares fits y ≈ a·x + b by ordinary least squares. When x does
// not vary there is no slope to find and the line is the mean of y.
func leastSquares(x, y []float64, clamp bool) Linear {
	if stat.Variance(x, nil) <= 1e-12 {
		return Linear{Intercept: stat.Mean(y, nil), Clamp: clamp}
	}
	b, a := stat.LinearRegression(x, y, nil, false)
	return Linear{Slope: a, Intercept: b, Clamp: clamp}
}

func mae(x, y []float64, l Linear) float64 {
	var s float64
	for i := range x {
		s += math.Abs(l.At(x[i]) - y[i])
	}
	return s / float64(len(x))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
