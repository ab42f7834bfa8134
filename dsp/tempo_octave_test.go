package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rockBeat is a rock beat with the kick on the first beat of each bar of
// four only, the snare on 2 and 4 and a closed hi-hat on every eighth
// note as loud as the kick: a full-band onset every half beat, which the
// beat-rate prior reads as a beat twice as fast.
func rockBeat(bpm, seconds float64) []float32 {
	return drums(bpm, seconds, drumKit{kickEvery: 4, snare: true, hat: 1})
}

// fastBeat is a fast piece: the kick on the first beat of each bar of
// four, and a closed hi-hat on every eighth note, on the beats and
// between them (twice the beat rate).
func fastBeat(bpm, seconds float64) []float32 {
	return drums(bpm, seconds, drumKit{kickEvery: 4, hat: 1})
}

// TestTempoRockBeatNotDoubled: with hi-hats on every eighth note the
// prior alone doubles a rock beat of 85–95 BPM (as it doubled the corpus's
// freedoom_e2m2 and dearjondoe, 87 read as 174); the kick marking every
// fourth beat, once every eight eighth notes, brings it back to the
// beat. The candidates must follow the choice: the estimate first, the
// doubled tempo offered below it.
func TestTempoRockBeatNotDoubled(t *testing.T) {
	for _, bpm := range []float64{85, 90, 95} {
		x := rockBeat(bpm, 60)
		if prior := EstimateTempo(tempoOnsets(x)); math.Abs(prior.BPM/(2*bpm)-1) > 0.01 {
			t.Logf("%.0f BPM rock beat: without the registers estimated %.1f, no longer the doubled tempo this test guards against", bpm, prior.BPM)
		}
		est := EstimateTempoChunks(tempoChunks(x))
		if math.Abs(est.BPM-bpm) > 0.1 {
			t.Errorf("%.0f BPM rock beat: estimated %.2f (candidates %v)", bpm, est.BPM, est.Candidates)
			continue
		}
		doubled := false
		for i, c := range est.Candidates {
			if i == 0 && (c.BPM != est.BPM || c.Score != 1) || i > 0 && !(c.Score >= 0 && c.Score < 1) {
				t.Errorf("%.0f BPM rock beat: candidates %v inconsistent with the estimate %.1f", bpm, est.Candidates, est.BPM)
			}
			doubled = doubled || i > 0 && math.Abs(c.BPM/(2*est.BPM)-1) < 0.01
		}
		if !doubled {
			t.Errorf("%.0f BPM rock beat: candidates %v do not offer the doubled tempo", bpm, est.Candidates)
		}
	}
}

// TestTempoFastBeatKept: a fast beat whose kick marks each bar of four
// and whose hi-hats play its eighths (360 a minute) stays fast: the kick
// recurs every four beats, not eight.
func TestTempoFastBeatKept(t *testing.T) {
	for _, bpm := range []float64{160, 180} {
		est := EstimateTempoChunks(tempoChunks(fastBeat(bpm, 60)))
		if math.Abs(est.BPM-bpm) > 0.2 {
			t.Errorf("%.0f BPM fast beat: estimated %.2f (candidates %v)", bpm, est.BPM, est.Candidates)
		}
	}
}

// TestHalfTempoCheck runs the register check on hand-built prepared
// signals: 40 frames a second, a level at 120 BPM (a pulse every 20
// frames) chosen over its half, 60 BPM, by 0.6 to 0.4.
func TestHalfTempoCheck(t *testing.T) {
	const (
		rate   = 40.0
		period = 20 // frames at 120 BPM
		n      = 1000
	)
	// pulses returns n frames with height h every every frames from
	// offset.
	pulses := func(every, offset int, h float64) []float64 {
		x := make([]float64, n)
		for i := offset; i < n; i += every {
			x[i] = h
		}
		return x
	}
	levels := []MetricalLevel{{BPM: 120, Ratio: 1}, {BPM: 60, Ratio: 0.5}, {BPM: 240, Ratio: 2}}
	prior := []float64{0.6, 0.4, 0}
	analysis := func(frames int, low []float64) *tempoAnalysis {
		return &tempoAnalysis{
			rate:      rate,
			chunks:    [][]float64{pulses(period, 0, 1)[:frames]},
			registers: []registerOnsets{{low: low, weight: float64(frames)}},
			levels:    levels,
		}
	}
	for _, tc := range []struct {
		name      string
		frames    int
		low       []float64
		levels    []MetricalLevel
		halve     bool
		unchanged bool
	}{
		// The kick every eight pulses (the bar of four slow beats): the
		// level is the tatum.
		{name: "kick every 8", frames: n, low: pulses(8*period, 0, 1), halve: true},
		// The kick every four pulses: the bar of four fast beats.
		{name: "kick every 4", frames: n, low: pulses(4*period, 0, 1)},
		// The kick on every pulse: no bar at all.
		{name: "kick on every pulse", frames: n, low: pulses(period, 0, 1)},
		// Shorter than 24 pulses: no evidence, nothing changes.
		{name: "short chunk", frames: 23 * period, low: pulses(8*period, 0, 1)[:23*period], unchanged: true},
		// No bass or kick at all: no bar to measure.
		{name: "no low onsets", frames: n, unchanged: true},
		// No level an octave below.
		{name: "no half level", frames: n, low: pulses(8*period, 0, 1),
			levels: []MetricalLevel{{BPM: 120, Ratio: 1}, {BPM: 80, Ratio: 2.0 / 3}, {BPM: 240, Ratio: 2}}, unchanged: true},
	} {
		a := analysis(tc.frames, tc.low)
		if tc.levels != nil {
			a.levels = tc.levels
		}
		best, post := a.halfTempoCheck(0, append([]float64(nil), prior...))
		want := 0
		if tc.halve {
			want = 1
		}
		if best != want {
			t.Errorf("%s: chose level %d (%v BPM), want %d; posterior %v", tc.name, best, a.levels[best].BPM, want, post)
		}
		var sum float64
		for i, p := range post {
			sum += p
			if p > post[best] {
				t.Errorf("%s: level %d's posterior %.3g beats the chosen level's %.3g", tc.name, i, p, post[best])
			}
		}
		if math.Abs(sum-1) > 1e-9 || post[2] != 0 {
			t.Errorf("%s: posterior %v", tc.name, post)
		}
		if tc.unchanged && (post[0] != prior[0] || post[1] != prior[1]) {
			t.Errorf("%s: posterior %v changed from %v without evidence", tc.name, post, prior)
		}
	}

	// The evidence itself. The kick on one pulse in eight: its class of
	// the cycle of eight has twice the mean of its class of four (ln 2),
	// of which shuffling the bars of four keeps ln 2 less what chance
	// alone gives (about 0.18 with 12 bars).
	e, ok := analysis(n, pulses(8*period, 0, 1)).halfTempoEvidence(period)
	if !ok || !(e.BarAccent > 0.4 && e.BarAccent < math.Ln2) {
		t.Errorf("kick every 8 pulses: evidence %+v, %v; want a bar accent in (0.4, ln 2)", e, ok)
	}
	// The kick every four pulses recurs every eight no more than every
	// four: no accent at all.
	if e, ok := analysis(n, pulses(4*period, 0, 1)).halfTempoEvidence(period); !ok || math.Abs(e.BarAccent) > 1e-12 {
		t.Errorf("kick every 4 pulses: evidence %+v, %v; want bar accent 0", e, ok)
	}
}

// TestBarAccentNull: evenly spaced pulses of random level have no bar, and
// their bar accent is 0 in expectation, where ln(S(8P)/S(4P)) alone is
// well above it (the largest of eight means outgrows the largest of
// four by chance).
func TestBarAccentNull(t *testing.T) {
	const (
		period = 21.5 // frames: 120 BPM at 43 frames a second
		frames = 861  // 20 s
		trials = 200
	)
	rng := rand.New(rand.NewPCG(1, 2))
	var raw, accent float64
	for range trials {
		x := make([]float64, frames)
		for t := 3.0; t < frames-1; t += period {
			x[int(t)] = 0.5 + rng.Float64()
		}
		a, ok := barAccent(x, period)
		if !ok {
			t.Fatal("no bar accent measured")
		}
		_, every8 := strongestPhase(x, 8*period)
		_, every4 := strongestPhase(x, 4*period)
		raw += math.Log(every8/every4) / trials
		accent += a / trials
	}
	t.Logf("random-level clicks: mean ln(S(8P)/S(4P)) %.3f, mean bar accent %.3f", raw, accent)
	if math.Abs(accent) > 0.02 || raw < 0.05 {
		t.Errorf("random-level clicks: mean bar accent %.3f (want about 0), raw %.3f", accent, raw)
	}
}
