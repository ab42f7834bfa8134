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

// Estimates exactly 4 % off are inside, whatever the tempo: 41.6 − 40
// is a hair above 0.04 × 40 in binary, and 114.4 − 110 above 4.4, which
// a bare comparison counted as misses.
func TestAccuracyExactBoundary(t *testing.T) {
	tests := []struct{ est, truth float64 }{
		{41.6, 40}, {38.4, 40}, {114.4, 110}, {31.2, 32.5}, {57.2, 55}, {52.8, 55},
	}
	for _, tt := range tests {
		if !Accuracy1(tt.est, tt.truth, Tolerance) || !Accuracy2(tt.est, tt.truth, Tolerance) {
			t.Errorf("Accuracy1/2(%g, %g) false: exactly 4 %% off", tt.est, tt.truth)
		}
		if got := ClassifyTempo(tt.est, tt.truth, Tolerance); got != TempoCorrect {
			t.Errorf("ClassifyTempo(%g, %g) = %q, want correct", tt.est, tt.truth, got)
		}
		if !AmongCandidates([]stages.TempoCandidate{{BPM: tt.est}}, tt.truth, Tolerance) {
			t.Errorf("AmongCandidates(%g, %g) false", tt.est, tt.truth)
		}
		// The same boundary an octave away: Accuracy2 forgives it.
		if !Accuracy2(2*tt.est, tt.truth, Tolerance) || ClassifyTempo(2*tt.est, tt.truth, Tolerance) != TempoDouble {
			t.Errorf("%g for %g: want Accuracy2 and double", 2*tt.est, tt.truth)
		}
	}
	// Just beyond stays outside.
	if Accuracy1(41.7, 40, Tolerance) || Accuracy1(114.5, 110, Tolerance) {
		t.Error("4.25 % and 4.09 % off counted correct")
	}
}

// Keys are compared by pitch class, so the truth's spelling does not
// matter: mir_eval treats "Db major" and "C# major" as one key.
func TestScoreEnharmonicKeys(t *testing.T) {
	tests := []struct {
		est, truth string
		want       KeyOutcome
	}{
		{"C# Major", "Db major", KeyCorrect},
		{"G# Major", "Db major", KeyFifth},    // A♭ is D♭'s dominant
		{"F# Major", "Db major", KeyOther},    // G♭ is its subdominant
		{"A# Minor", "Db major", KeyRelative}, // B♭ minor
		{"C# Minor", "Db", KeyParallel},
		{"C# Minor", "Gb minor", KeyFifth},
		{"", "Db major", KeyOther}, // no key found is a miss
	}
	for _, tt := range tests {
		r := Record{Result: stages.Result{Key: tt.est}, Truth: &Truth{Key: tt.truth}}
		r.Score()
		if r.KeyOutcome != tt.want {
			t.Errorf("estimate %q for truth %q: %q, want %q", tt.est, tt.truth, r.KeyOutcome, tt.want)
		}
	}
}

// An exported function must not panic on a bin count it cannot use.
func TestConfidenceBinsNoBins(t *testing.T) {
	for _, n := range []int{0, -1} {
		bins := ConfidenceBins([]float64{0.5, 1}, []bool{true, false}, n)
		if len(bins) != 1 || bins[0].Songs != 2 || bins[0].Accuracy != 0.5 {
			t.Errorf("n = %d: %+v, want one bin of both songs", n, bins)
		}
	}
}

// Worked by hand: forecasts 0.9, 0.8, 0.3, 0.6 for outcomes 1, 1, 0, 0
// square their misses to 0.01, 0.04, 0.09, 0.36: Brier 0.125. The hit rate
// is ½, so the constant scores ¼ and the confidence beats it. The NaN
// forecast is left out and 1.5 is clamped to 1 (miss 0 on a hit).
func TestMeasureReliability(t *testing.T) {
	r := MeasureReliability([]float64{0.9, 0.8, 0.3, 0.6, math.NaN()}, []bool{true, true, false, false, true}, 5)
	if r.Songs != 4 || math.Abs(r.Brier-0.125) > 1e-12 || r.Constant != 0.25 || !r.Beats() {
		t.Errorf("got %d songs, Brier %g, constant %g, beats %v; want 4, 0.125, 0.25, true", r.Songs, r.Brier, r.Constant, r.Beats())
	}
	// 0.5 three times and 1.5 (clamped to 1) on a 3-in-4 record miss by
	// ¼, ¼, ¼ and 0: Brier 0.1875, the constant's ¾·¼ exactly. A tie is
	// not a win.
	r = MeasureReliability([]float64{0.5, 0.5, 0.5, 1.5}, []bool{true, true, false, true}, 5)
	if math.Abs(r.Brier-(0.25*3+0)/4) > 1e-12 || r.Constant != 0.1875 || r.Beats() {
		t.Errorf("got Brier %g constant %g beats %v; want 0.1875, 0.1875, false", r.Brier, r.Constant, r.Beats())
	}
	if r := MeasureReliability(nil, nil, 5); r.Songs != 0 || r.Beats() {
		t.Errorf("no songs: %+v", r)
	}
}

// Every mapping of MeterClass, worked by hand from the classes: beats
// grouped in twos or fours (4) or threes (3), each divided in two or three.
func TestMeterClass(t *testing.T) {
	tests := []struct {
		ts              string
		beats, division int
		ok              bool
	}{
		// Duple or quadruple grouping, beat in two: 2 and 4 are one class.
		{"2/4", 4, 2, true}, {"4/4", 4, 2, true}, {"2/2", 4, 2, true}, {"4/2", 4, 2, true},
		{"8/4", 4, 2, true}, {"2/1", 4, 2, true}, {"4/1", 4, 2, true}, {"8/2", 4, 2, true}, {"8/1", 4, 2, true},
		{"C", 4, 2, true}, {"c", 4, 2, true}, {"C|", 4, 2, true}, {"¢", 4, 2, true}, {"\U0001D134", 4, 2, true}, {"\U0001D135", 4, 2, true},
		{" 4 / 4 ", 4, 2, true}, {"\t3/4\n", 3, 2, true},
		// Triple grouping, beat in two.
		{"3/4", 3, 2, true}, {"3/2", 3, 2, true}, {"3/1", 3, 2, true},
		// One compound beat a bar: grouping unknown.
		{"3/8", 0, 3, true}, {"3/16", 0, 3, true},
		// Compound duple or quadruple.
		{"6/8", 4, 3, true}, {"12/8", 4, 3, true}, {"6/4", 4, 3, true}, {"12/16", 4, 3, true}, {"6/16", 4, 3, true}, {"12/4", 4, 3, true},
		// Compound triple.
		{"9/8", 3, 3, true}, {"9/4", 3, 3, true}, {"9/16", 3, 3, true},
		// Outside the classes: a division no estimate has.
		{"5/4", 5, 0, true}, {"7/8", 7, 0, true}, {"5/8", 5, 0, true}, {"4/8", 4, 0, true}, {"2/8", 2, 0, true},
		{"8/8", 8, 0, true}, {"6/2", 6, 0, true}, {"3/32", 3, 0, true}, {"1/4", 1, 0, true}, {"32/32", 32, 0, true},
		// Not time signatures.
		{"", 0, 0, false}, {"4", 0, 0, false}, {"4/", 0, 0, false}, {"/4", 0, 0, false}, {"4/3", 0, 0, false},
		{"0/4", 0, 0, false}, {"33/4", 0, 0, false}, {"4/64", 0, 0, false}, {"4/0", 0, 0, false}, {"-3/4", 0, 0, false},
		{"+3/4", 0, 0, false}, {"3/4/4", 0, 0, false}, {"3.0/4", 0, 0, false}, {"waltz", 0, 0, false}, {"C#", 0, 0, false},
		{"99999999999999999999/4", 0, 0, false},
	}
	for _, tt := range tests {
		b, d, ok := MeterClass(tt.ts)
		if b != tt.beats || d != tt.division || ok != tt.ok {
			t.Errorf("MeterClass(%q) = %d, %d, %v; want %d, %d, %v", tt.ts, b, d, ok, tt.beats, tt.division, tt.ok)
		}
	}
}

func TestClassifyMeter(t *testing.T) {
	tests := []struct {
		est, truth string
		want       MeterOutcome
	}{
		{"4/4", "4/4", MeterCorrect},
		{"4/4", "2/4", MeterCorrect}, // two and four beats are one class
		{"4/4", "C", MeterCorrect},
		{"4/4", "C|", MeterCorrect},
		{"4/4", "12/8", MeterWrong}, // same grouping, beat divided otherwise
		{"4/4", "3/4", MeterWrong},
		{"3/4", "3/4", MeterCorrect},
		{"3/4", "3/2", MeterCorrect},
		{"3/4", "6/8", MeterWrong},
		{"3/4", "9/8", MeterWrong}, // same grouping, beat divided otherwise
		{"6/8", "6/8", MeterCorrect},
		{"6/8", "12/8", MeterCorrect},
		{"6/8", "6/4", MeterCorrect},
		{"6/8", "9/8", MeterWrong},
		{"9/8", "9/8", MeterCorrect},
		{"9/8", "9/16", MeterCorrect},
		{"6/8", "3/8", MeterCorrect}, // one beat a bar: any triple division
		{"9/8", "3/8", MeterCorrect},
		{"9/8", "3/16", MeterCorrect},
		{"3/4", "3/8", MeterWrong},
		{"4/4", "3/8", MeterWrong},
		{"4/4", "5/4", MeterWrong}, // outside the classes: never correct
		{"6/8", "7/8", MeterWrong},
		{"5/4", "5/4", MeterWrong}, // not even by an estimate written alike
		{" 6 / 8 ", "6/8", MeterCorrect},
		{"garbage", "4/4", MeterWrong}, // no usable estimate is a miss
		{"", "4/4", MeterMissing},
		{"  ", "5/4", MeterMissing},
		{"4/4", "", ""}, // no truth: nothing to score
		{"", "", ""},
		{"4/4", "garbage", ""},
	}
	for _, tt := range tests {
		if got := ClassifyMeter(tt.est, tt.truth); got != tt.want {
			t.Errorf("ClassifyMeter(%q, %q) = %q, want %q", tt.est, tt.truth, got, tt.want)
		}
	}
}

// The constant answer is the vocabulary's best score, the first in its
// order on a tie: 3/8 counts for both 6/8 and 9/8.
func TestConstantMeter(t *testing.T) {
	tests := []struct {
		truths []string
		n      int
		answer string
	}{
		{nil, 0, ""},
		{[]string{"4/4", "4/4", "3/4", "6/8", "3/8"}, 2, "4/4"}, // 4/4 and 6/8 tie at 2
		{[]string{"4/4", "6/8", "3/8", "3/8"}, 3, "6/8"},
		{[]string{"3/8", "9/8", "3/4"}, 2, "9/8"},
		{[]string{"5/4", "7/8"}, 0, "4/4"},
	}
	for _, tt := range tests {
		if n, a := constantMeter(tt.truths); n != tt.n || a != tt.answer {
			t.Errorf("constantMeter(%q) = %d, %q; want %d, %q", tt.truths, n, a, tt.n, tt.answer)
		}
	}
}
