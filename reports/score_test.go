package reports

import (
	"math"
	"testing"

	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/stages"
)

func TestAccuracy(t *testing.T) {
	tests := []struct {
		est, truth float64
		acc1, acc2 bool
	}{
		{120, 120, true, true},
		{124.8, 120, true, true},   // +4 % exactly: inside
		{124.9, 120, false, false}, // just outside, and not near 2× or ½×
		{115.2, 120, true, true},   // −4 % exactly
		{240, 120, false, true},    // double
		{60, 120, false, true},     // half
		{40, 120, false, true},     // third
		{360, 120, false, true},    // triple
		{180, 120, false, false},   // 3/2 is not forgiven
		{80, 120, false, false},    // 2/3 neither
		{0, 120, false, false},
		{120, 0, false, false}, // no truth never scores
	}
	for _, tt := range tests {
		if got := Accuracy1(tt.est, tt.truth, Tolerance); got != tt.acc1 {
			t.Errorf("Accuracy1(%g, %g) = %v, want %v", tt.est, tt.truth, got, tt.acc1)
		}
		if got := Accuracy2(tt.est, tt.truth, Tolerance); got != tt.acc2 {
			t.Errorf("Accuracy2(%g, %g) = %v, want %v", tt.est, tt.truth, got, tt.acc2)
		}
	}
}

func TestAmongCandidates(t *testing.T) {
	tests := []struct {
		cands []float64
		truth float64
		want  bool
	}{
		// A 6/8 piece read in quarters: the dotted-quarter beat (×⅔) is
		// offered as the third candidate.
		{[]float64{160, 80, 106.7}, 106.67, true},
		{[]float64{196, 98, 130.7}, 98, true},
		{[]float64{196, 98, 130.7}, 105, false}, // 98 is 6.7 % off
		{[]float64{124.8}, 120, true},           // +4 %: inside
		{nil, 120, false},
		{[]float64{120}, 0, false}, // no truth never scores
	}
	for _, tt := range tests {
		var cands []stages.TempoCandidate
		for _, b := range tt.cands {
			cands = append(cands, stages.TempoCandidate{BPM: b})
		}
		if got := AmongCandidates(cands, tt.truth, Tolerance); got != tt.want {
			t.Errorf("AmongCandidates(%v, %g) = %v, want %v", tt.cands, tt.truth, got, tt.want)
		}
	}
}

func TestClassifyTempo(t *testing.T) {
	tests := []struct {
		est, truth float64
		want       TempoOutcome
	}{
		{100, 100, TempoCorrect},
		{201, 100, TempoDouble},
		{49, 100, TempoHalf},
		{300, 100, TempoTriple},
		{33.4, 100, TempoThird},
		{150, 100, TempoOther},
		{100, 0, ""},
	}
	for _, tt := range tests {
		if got := ClassifyTempo(tt.est, tt.truth, Tolerance); got != tt.want {
			t.Errorf("ClassifyTempo(%g, %g) = %q, want %q", tt.est, tt.truth, got, tt.want)
		}
	}
}

func TestClassifyKey(t *testing.T) {
	C, Cm := dsp.Key{Tonic: 0}, dsp.Key{Tonic: 0, Minor: true}
	G, Gm := dsp.Key{Tonic: 7}, dsp.Key{Tonic: 7, Minor: true}
	F := dsp.Key{Tonic: 5}
	Am, A := dsp.Key{Tonic: 9, Minor: true}, dsp.Key{Tonic: 9}
	Ebm, Eb := dsp.Key{Tonic: 3, Minor: true}, dsp.Key{Tonic: 3}
	Dm := dsp.Key{Tonic: 2, Minor: true}
	tests := []struct {
		est, truth dsp.Key
		want       KeyOutcome
		weight     float64
	}{
		{C, C, KeyCorrect, 1},
		{G, C, KeyFifth, 0.5},   // estimate is the truth's dominant
		{F, C, KeyOther, 0},     // the subdominant earns nothing in MIREX
		{Dm, Gm, KeyFifth, 0.5}, // minor dominant: D minor over G minor
		{Am, C, KeyRelative, 0.3},
		{C, Am, KeyRelative, 0.3},
		{Eb, Cm, KeyRelative, 0.3}, // C minor's relative major is E♭
		{Ebm, C, KeyOther, 0},
		{Cm, C, KeyParallel, 0.2},
		{A, Am, KeyParallel, 0.2},
		{dsp.Key{Tonic: 1}, C, KeyOther, 0},
		{G, Cm, KeyOther, 0}, // a fifth away but the mode differs
	}
	for _, tt := range tests {
		got := ClassifyKey(tt.est, tt.truth)
		if got != tt.want || got.Weight() != tt.weight {
			t.Errorf("ClassifyKey(%v, %v) = %q (weight %g), want %q (%g)", tt.est, tt.truth, got, got.Weight(), tt.want, tt.weight)
		}
	}
}

func TestToleranceCurves(t *testing.T) {
	// Hand-worked: errors of 0 %, 2 %, 5 % and an exact double.
	pairs := []TempoPair{{100, 100}, {102, 100}, {105, 100}, {200, 100}}
	c := ToleranceCurves(pairs, 0.08, 8)
	if len(c.Tolerance) != 9 {
		t.Fatalf("got %d tolerances, want 9", len(c.Tolerance))
	}
	want1 := []float64{0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 0.75}
	want2 := []float64{0.5, 0.5, 0.75, 0.75, 0.75, 1, 1, 1, 1}
	for i := range want1 {
		if math.Abs(c.Tolerance[i]-float64(i)/100) > 1e-12 {
			t.Errorf("tolerance[%d] = %g", i, c.Tolerance[i])
		}
		if c.Acc1[i] != want1[i] || c.Acc2[i] != want2[i] {
			t.Errorf("at %g: Acc1 %g Acc2 %g, want %g %g", c.Tolerance[i], c.Acc1[i], c.Acc2[i], want1[i], want2[i])
		}
	}
}

func TestConfidenceBins(t *testing.T) {
	conf := []float64{0.05, 0.15, 0.55, 0.6, 0.95, 1.0}
	ok := []bool{false, true, true, false, true, true}
	bins := ConfidenceBins(conf, ok, 5)
	want := []struct {
		songs int
		acc   float64
	}{{2, 0.5}, {0, 0}, {1, 1}, {1, 0}, {2, 1}} // 0.6 opens bin 3
	for i, w := range want {
		if bins[i].Songs != w.songs || bins[i].Accuracy != w.acc {
			t.Errorf("bin %d [%g,%g): %d songs acc %g, want %d %g", i, bins[i].Lo, bins[i].Hi, bins[i].Songs, bins[i].Accuracy, w.songs, w.acc)
		}
	}
}

// A NaN confidence must cost only its own song: the songs after it still
// count, and infinite confidences land in the end bins they point to.
func TestConfidenceBinsSkipsNaN(t *testing.T) {
	conf := []float64{0.1, math.NaN(), 0.9, math.Inf(1), math.Inf(-1), 1.5}
	ok := []bool{true, true, false, true, false, true}
	bins := ConfidenceBins(conf, ok, 5)
	if bins[0].Songs != 2 || bins[0].Accuracy != 0.5 {
		t.Errorf("bin 0: %d songs acc %g, want 2 songs (0.1 and -Inf) acc 0.5", bins[0].Songs, bins[0].Accuracy)
	}
	if bins[4].Songs != 3 || math.Abs(bins[4].Accuracy-2.0/3) > 1e-12 {
		t.Errorf("bin 4: %d songs acc %g, want 3 songs (0.9, +Inf, 1.5) acc 2/3", bins[4].Songs, bins[4].Accuracy)
	}
}
