package dsp

import (
	"math"
	"math/rand"
	"testing"
)

const tempoTestRate = 22050.0

// tempoOnsets runs the STFT and onset detector over x in 20 s chunks, as
// the pipeline does.
func tempoOnsets(x []float32) ([][]float32, Hz) {
	chunks, rate := tempoChunks(x)
	out := make([][]float32, len(chunks))
	for i, c := range chunks {
		out[i] = c.Onset
	}
	return out, rate
}

// tempoChunks is tempoOnsets with the registers' onsets: the tempo
// estimate's input as the chunk, fft and aggregate stages give it.
func tempoChunks(x []float32) ([]TempoChunk, Hz) {
	s, _ := NewSTFT(2048, 512)
	d := NewOnsetDetector(2048, tempoTestRate)
	return tempoCorpusOnsets(s, d, x), Hz(tempoTestRate / 512)
}

// hit adds a percussive sound at sample at: a decaying tone (freq > 0)
// or a decaying noise burst (freq == 0).
func hit(x []float32, at int, freq, amp, decay float64, seed *uint32) {
	for j := 0; at+j < len(x) && j < int(6*decay); j++ {
		env := amp * math.Exp(-float64(j)/decay)
		var v float64
		if freq > 0 {
			v = math.Sin(2 * math.Pi * freq * float64(j) / tempoTestRate)
		} else {
			*seed = *seed*1664525 + 1013904223
			v = float64(*seed>>8)/float64(1<<23) - 1
		}
		x[at+j] += float32(env * v)
	}
}

func clickTrack(bpm, seconds float64) []float32 {
	x := make([]float32, int(seconds*tempoTestRate))
	seed := uint32(3)
	period := 60 / bpm * tempoTestRate
	for t := 1000.0; int(t) < len(x); t += period {
		hit(x, int(t), 0, 0.5, 60, &seed)
	}
	return x
}

// randomHits places the same bursts at random times (mean rate 2 per s):
// no tempo at all.
func randomHits(seconds float64) []float32 {
	x := make([]float32, int(seconds*tempoTestRate))
	seed, burst := uint32(17), uint32(3)
	for t := 1000; t < len(x); {
		hit(x, t, 0, 0.5, 60, &burst)
		seed = seed*1664525 + 1013904223
		t += int(float64(seed>>8) / float64(1<<24) * tempoTestRate)
	}
	return x
}

func TestTempoClickTracks(t *testing.T) {
	random := EstimateTempoChunks(tempoChunks(randomHits(45)))
	for _, bpm := range []float64{60, 90, 120.5, 140, 174} {
		est := EstimateTempoChunks(tempoChunks(clickTrack(bpm, 45)))
		if math.Abs(est.BPM-bpm) > 0.1 {
			t.Errorf("%.1f BPM click track: estimated %.2f (candidates %v)", bpm, est.BPM, est.Candidates)
		}
		// Confidence must rank a steady click above random hits.
		if est.Confidence <= 2*random.Confidence {
			t.Errorf("%.1f BPM click track: confidence %.2f, random hits %.2f", bpm, est.Confidence, random.Confidence)
		}
		if len(est.Candidates) == 0 || est.Candidates[0].BPM != est.BPM {
			t.Errorf("%.1f BPM: candidates %v do not start with the estimate", bpm, est.Candidates)
		}
	}
}

// hiHat adds a hi-hat-like sound at sample at: decaying noise through a
// second difference, which keeps mostly the top octaves, as cymbals do.
func hiHat(x []float32, at int, amp, decay float64, seed *uint32) {
	var p1, p2 float64
	for j := 0; at+j < len(x) && j < int(6*decay); j++ {
		*seed = *seed*1664525 + 1013904223
		v := float64(*seed>>8)/float64(1<<23) - 1
		d := (v - 2*p1 + p2) / 4
		p2, p1 = p1, v
		x[at+j] += float32(amp * math.Exp(-float64(j)/decay) * d)
	}
}

// drumKit says which drums a generated beat plays: the kick every
// kickEvery beats, the snare on the beats between (when snare), and a
// closed hi-hat on every eighth note, the off-beats included, at hat
// times the kick's amplitude.
type drumKit struct {
	kickEvery int
	snare     bool
	hat       float64
}

// drums plays kit at bpm for seconds.
func drums(bpm, seconds float64, kit drumKit) []float32 {
	x := make([]float32, int(seconds*tempoTestRate))
	seed := uint32(11)
	beat := 60 / bpm * tempoTestRate
	for i := 0; ; i++ {
		t := 500 + float64(i)*beat
		if int(t) >= len(x) {
			break
		}
		if i%kit.kickEvery == 0 {
			hit(x, int(t), 60, 0.6, 2000, &seed) // kick
		} else if kit.snare && i%2 == 1 {
			hit(x, int(t), 0, 0.4, 1500, &seed) // snare
		}
		hiHat(x, int(t), 0.6*kit.hat, 300, &seed)
		hiHat(x, int(t+beat/2), 0.6*kit.hat, 300, &seed)
	}
	return x
}

// drumPattern is a rock beat: kick on 1 and 3, snare on 2 and 4, hi-hats
// on the eighths at hat times the kick's amplitude.
func drumPattern(bpm, seconds, hat float64) []float32 {
	return drums(bpm, seconds, drumKit{kickEvery: 2, snare: true, hat: hat})
}

// TestTempoDrumPattern checks that busy off-beats do not double the tempo
// of a beat in the range where the beat-rate prior is tempted (80–105 BPM)
// or above it: hats at 0.8 of the kick's amplitude are about 8 dB below
// it in RMS, a loud mix. The registers' onsets go in as the pipeline
// gives them, so the octave decision's register check weighs in too.
func TestTempoDrumPattern(t *testing.T) {
	for _, bpm := range []float64{85, 96, 104, 128, 174} {
		est := EstimateTempoChunks(tempoChunks(drumPattern(bpm, 60, 0.8)))
		if math.Abs(est.BPM-bpm) > 0.1 {
			t.Errorf("%.0f BPM drum pattern: estimated %.2f (candidates %v)", bpm, est.BPM, est.Candidates)
		}
	}
}

func TestTempoSilence(t *testing.T) {
	est := EstimateTempoChunks(tempoChunks(make([]float32, int(10*tempoTestRate))))
	if est.BPM != 0 || est.Confidence != 0 {
		t.Errorf("silence: %+v, want zero estimate", est)
	}
	if est := EstimateTempo(nil, 43); est.BPM != 0 {
		t.Errorf("no chunks: %+v", est)
	}
	clicks, _ := tempoChunks(clickTrack(120, 20))
	for _, rate := range []float64{0, -43, math.Inf(1), math.NaN()} {
		if est := EstimateTempoChunks(clicks, Hz(rate)); est.BPM != 0 || est.Confidence != 0 || len(est.Candidates) != 0 {
			t.Errorf("frame rate %v: %+v, want zero estimate", rate, est)
		}
	}
}

func TestDecideOctave(t *testing.T) {
	level := func(bpm, strength, salience float64) MetricalLevel {
		return MetricalLevel{BPM: bpm, Strength: strength, Salience: salience}
	}
	for _, tc := range []struct {
		name   string
		levels []MetricalLevel
		want   float64
	}{
		// Equal evidence: the level with the most beats wins, up to the
		// fastest beat rate.
		{"prior breaks ties", []MetricalLevel{level(50, 5, 1), level(100, 5, 1), level(200, 5, 1)}, 200},
		{"beat limit", []MetricalLevel{level(70, 5, 1), level(140, 5, 1), level(280, 5, 1)}, 140},
		{"just above the beat limit", []MetricalLevel{level(106, 5, 1), level(212, 5, 1)}, 106},
		// Off-beats a twentieth of the beats (a soft hi-hat between
		// drum hits), half the share a beat needs: 120 BPM counts half,
		// too little for its extra beats to win.
		{"ornamental off-beats", []MetricalLevel{level(60, 5, 1), level(120, 3.1, 1)}, 60},
		// Empty off-beats: 120 BPM measures half of 60 BPM's strength
		// (1 + (5-1)/2 would be the limit), so it is a subdivision
		// nobody plays, however comfortable its rate.
		{"empty off-beats", []MetricalLevel{level(60, 5, 1), level(120, 2.9, 1)}, 60},
		// The same pair with off-beats as strong as the beats: 120 is
		// as real a pulse as 60, with twice the beats.
		{"full off-beats", []MetricalLevel{level(60, 5, 1), level(120, 5, 1)}, 120},
		// Much stronger evidence outweighs the prior's preference.
		{"evidence beats prior", []MetricalLevel{level(80, 9, 1), level(120, 1.2, 0.1)}, 80},
		// No pulse evidence anywhere: nothing is chosen over the first.
		{"no evidence", []MetricalLevel{level(90, 1, 0), level(120, 0.8, 0)}, 90},
	} {
		best, post := DecideOctave(tc.levels)
		if got := tc.levels[best].BPM; got != tc.want {
			t.Errorf("%s: chose %.0f BPM (posterior %.3f), want %.0f", tc.name, got, post, tc.want)
		}
		var sum float64
		for _, p := range post {
			if p < 0 || p > 1 {
				t.Errorf("%s: posterior %v outside 0..1", tc.name, post)
			}
			sum += p
		}
		if sum != 0 && math.Abs(sum-1) > 1e-9 {
			t.Errorf("%s: posterior sums to %g", tc.name, sum)
		}
	}
	if best, post := DecideOctave(nil); best != 0 || len(post) != 0 {
		t.Errorf("no levels: %d %v", best, post)
	}
}

// TestOffbeatWeight checks that off-beats falling short of the share
// count the faster level down in proportion instead of ruling it out, so
// that the slower level's octave share stays a measure of doubt.
func TestOffbeatWeight(t *testing.T) {
	level := func(bpm, strength float64) MetricalLevel {
		return MetricalLevel{BPM: bpm, Strength: strength, Salience: 1}
	}
	for _, tc := range []struct {
		fast float64 // strength of the 120 BPM level; 60 BPM has 5
		want float64
	}{
		{5, 1},     // off-beats as strong as the beats
		{3.2, 1},   // off-beats carry exactly offbeatShare: (2·3.2−5−1)/4 = 0.1
		{3.1, 0.5}, // half the share
		{3.0, 0},   // off-beats at chance
		{2.5, 0},   // below chance
		{1.0, 0},   // nothing at all
	} {
		levels := []MetricalLevel{level(60, 5), level(120, tc.fast)}
		if got := offbeatWeight(levels, 1); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("120 BPM at strength %g: weight %g, want %g", tc.fast, got, tc.want)
		}
		if got := offbeatWeight(levels, 0); got != 1 {
			t.Errorf("60 BPM, no half partner: weight %g, want 1", got)
		}
	}
	// Off-beats at half the share: 60 BPM still wins, but 120 keeps a
	// posterior, so the decision is not reported as certain.
	best, post := DecideOctave([]MetricalLevel{level(60, 5), level(120, 3.1)})
	if best != 0 || !(post[1] > 0.1) {
		t.Errorf("off-beats at half the share: chose %d, posterior %v; want 60 BPM with 120 above 0.1", best, post)
	}
}

// TestTempoCandidates checks that the candidates are the estimate, its
// other octave and its other grouping (×⅔ or ×3/2), even when a level
// such as a bar (×⅓) scores more than the grouping.
func TestTempoCandidates(t *testing.T) {
	level := func(bpm, strength, salience float64) MetricalLevel {
		return MetricalLevel{BPM: bpm, Strength: strength, Salience: salience}
	}
	// A 6/8 piece strummed in quarters at 160: the bar (53.3) and the
	// half (80) outscore the dotted-quarter beat (106.7), whose salience
	// peak lies at 107.4; the candidate is the estimate's exact ⅔.
	levels := []MetricalLevel{
		level(53.3, 13, 1), level(80, 9, 0.5), level(107.4, 6.6, 0.76),
		level(160, 9.5, 0.9), level(320, 5, 0.3),
	}
	best, post := DecideOctave(levels)
	if levels[best].BPM != 160 {
		t.Fatalf("chose %g BPM, want 160 (posterior %v)", levels[best].BPM, post)
	}
	got := candidateList(160, levels, post, best)
	var bpms []float64
	for _, c := range got {
		bpms = append(bpms, c.BPM)
		if c.Score < 0 || c.Score > 1 {
			t.Errorf("candidate %+v: score outside 0..1", c)
		}
	}
	want := map[float64]bool{160: true, 80: true, 106.7: true}
	if len(bpms) != 3 || bpms[0] != 160 || !want[bpms[1]] || !want[bpms[2]] || bpms[1] == bpms[2] {
		t.Errorf("candidates %v, want 160 then 80 and 106.7", bpms)
	}
	// With no grouping relative among the levels, the next likeliest
	// level fills the place.
	levels = []MetricalLevel{level(60, 9, 1), level(120, 7, 0.8), level(30, 12, 0.9)}
	best, post = DecideOctave(levels)
	if got := candidateList(levels[best].BPM, levels, post, best); len(got) != 3 {
		t.Errorf("no grouping relative: candidates %v, want 3", got)
	}
}

// BenchmarkEstimateTempo times the song-level tempo estimate for 3 minutes
// of onset frames (9 chunks of 20 s), the part the aggregate stage adds
// after the fft stage.
func BenchmarkEstimateTempo(b *testing.B) {
	const seconds = 180
	chunks, rate := tempoChunks(drumPattern(113, seconds, 0.8))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		EstimateTempoChunks(chunks, rate)
	}
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// TestTempoRefineStaysInRange checks that the fine search around a level
// at the edge of the reported range cannot leave it, even when the pulses
// lie just outside.
func TestTempoRefineStaysInRange(t *testing.T) {
	rate := 22050.0 / 512
	pulses := func(bpm float64) [][]float64 {
		x := make([]float64, int(120*rate))
		for t := 0.0; t < float64(len(x)); t += 60 * rate / bpm {
			x[int(t)] = 1
		}
		return [][]float64{x}
	}
	for _, c := range []struct{ pulses, level float64 }{{29.5, 30}, {305, 299}} {
		a := &tempoAnalysis{rate: rate, chunks: pulses(c.pulses)}
		if got := a.refine(c.level); got < MinBPM || got > MaxBPM {
			t.Errorf("pulses at %g BPM, level %g: refined to %g, outside %g–%g", c.pulses, c.level, got, MinBPM, MaxBPM)
		}
	}
}

// TestTempoSteadyTone checks that steady tones, whose onset strength is
// only the window's ripple, and a single hit get no tempo, while a click
// track at the slowest reported tempo still does.
func TestTempoSteadyTone(t *testing.T) {
	for _, freq := range []float64{55, 100, 440, 1000} {
		x := make([]float32, int(45*tempoTestRate))
		for i := range x {
			x[i] = float32(0.5 * math.Sin(2*math.Pi*freq*float64(i)/tempoTestRate))
		}
		if est := EstimateTempoChunks(tempoChunks(x)); est.BPM != 0 || est.Confidence != 0 {
			t.Errorf("steady %g Hz sine: %.1f BPM, confidence %.2f; want none", freq, est.BPM, est.Confidence)
		}
	}
	for _, seconds := range []float64{0.5, 3, 30} {
		x := make([]float32, int(seconds*tempoTestRate))
		seed := uint32(1)
		hit(x, int(0.1*tempoTestRate), 220, 0.5, 0.3*tempoTestRate, &seed)
		if est := EstimateTempoChunks(tempoChunks(x)); est.BPM != 0 {
			t.Errorf("one hit in %g s: %.1f BPM", seconds, est.BPM)
		}
	}
	if est := EstimateTempoChunks(tempoChunks(clickTrack(30, 60))); math.Abs(est.BPM-30) > 0.1 {
		t.Errorf("30 BPM click track: %.1f BPM", est.BPM)
	}
}

// TestTempoEnvelopeLengths runs the estimator on onset envelopes far from
// the pipeline's 20 s chunks: a tenth of a second, one second (three
// pulses, too few for a tempo), three seconds, and two hours in one chunk,
// where the lag tables and the pulse search must neither index past their
// ends nor grow with anything but the input.
func TestTempoEnvelopeLengths(t *testing.T) {
	const rate = tempoTestRate / 512
	const period = 21 // frames: 123.05 BPM
	want := 60 * rate / period
	pulses := func(seconds float64) []float32 {
		o := make([]float32, int(seconds*rate))
		for i := 5; i < len(o); i += period {
			o[i] = 50 // a drum hit's onset strength
		}
		return o
	}
	for _, c := range []struct {
		seconds float64
		bpm     float64 // 0: no tempo
	}{{0.1, 0}, {1, 0}, {3, want}, {7200, want}} {
		if c.seconds > 60 && testing.Short() {
			continue
		}
		est := EstimateTempo([][]float32{pulses(c.seconds)}, rate)
		if math.Abs(est.BPM-c.bpm) > 0.1 || !(est.Confidence >= 0 && est.Confidence <= 1) {
			t.Errorf("%g s of pulses at %.2f BPM: %.2f BPM, confidence %g; want %.2f", c.seconds, want, est.BPM, est.Confidence, c.bpm)
		}
	}
}

// Chunks that overlap hold the same onsets twice: EstimateTempoChunks
// counts only the frames each chunk owns towards the minOnsets a tempo
// needs, so three pulses heard by two chunks are still too few.
func TestTempoOverlappingCountsOnsetsOnce(t *testing.T) {
	const rate = tempoTestRate / 512
	// Two 200-frame chunks of a 240-frame song, the second from frame 40:
	// the first owns the frames before the middle of their overlap (frame
	// 120), the second the rest.
	song := make([]float32, 240)
	for _, i := range []int{50, 71, 92} {
		song[i] = 50
	}
	both := [][]float32{song[:200], song[40:]}
	own := [][2]int{{0, 120}, {80, 200}}
	if !hasOnsets(both, nil) {
		t.Fatal("six pulses in two chunks count too few onsets; the test needs enough")
	}
	if hasOnsets(both, own) {
		t.Error("three pulses in two overlapping chunks count as enough onsets")
	}
	chunks := func(own [][2]int) []TempoChunk {
		out := make([]TempoChunk, len(both))
		for i, o := range both {
			out[i] = TempoChunk{Onset: o, Own: own[i]}
		}
		return out
	}
	if est := EstimateTempoChunks(chunks(own), rate); est.BPM != 0 {
		t.Errorf("three pulses in two overlapping chunks: %.1f BPM", est.BPM)
	}
	// Where no chunk repeats another, the estimate is EstimateTempo's.
	all := [][2]int{{0, 200}, {0, 200}}
	if a, b := EstimateTempoChunks(chunks(all), rate), EstimateTempo(both, rate); a.BPM != b.BPM || a.Confidence != b.Confidence {
		t.Errorf("owning every frame: %+v, EstimateTempo %+v", a, b)
	}
}

// TestTempoConfidenceOfNoise: a pulse-train at the best phase finds some
// onsets in any dense texture, so white noise measured a pulse as strong
// as a metal song's and got a tempo at confidence 0.70. Noise has no
// pulse to be right about: its confidence must be near 0, while a click
// track's stays high.
func TestTempoConfidenceOfNoise(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for k := range 12 {
		seconds := []float64{20, 20, 30, 60}[k%4]
		x := make([]float32, int(seconds*tempoTestRate))
		for i := range x {
			x[i] = float32(0.2 * rng.NormFloat64())
		}
		if est := EstimateTempoChunks(tempoChunks(x)); est.BPM != 0 || est.Confidence != 0 || len(est.Candidates) != 0 {
			t.Errorf("%g s of white noise (#%d): %.1f BPM at confidence %.2f, candidates %v; want no tempo", seconds, k, est.BPM, est.Confidence, est.Candidates)
		}
	}
	// An undivided beat counts half (TestTempoConfidenceDividedBeat).
	if est := EstimateTempoChunks(tempoChunks(clickTrack(120, 30))); est.Confidence < 0.45 {
		t.Errorf("120 BPM click track: confidence %.2f", est.Confidence)
	}
}

// TestTempoConfidenceDividedBeat: a beat with hats between its beats is a
// beat; a click on every beat and nothing between may be counted at half
// the rate, so its confidence is at most one half, the drum pattern's well
// above that.
func TestTempoConfidenceDividedBeat(t *testing.T) {
	drums := EstimateTempoChunks(tempoChunks(drumPattern(120, 60, 0.8)))
	clicks := EstimateTempoChunks(tempoChunks(clickTrack(120, 60)))
	if math.Abs(drums.BPM-120) > 0.1 || math.Abs(clicks.BPM-120) > 0.1 {
		t.Fatalf("tempi %.1f and %.1f, want 120", drums.BPM, clicks.BPM)
	}
	if drums.Confidence < 0.8 {
		t.Errorf("drum pattern confidence %.2f, want at least 0.8", drums.Confidence)
	}
	if clicks.Confidence <= 0 || clicks.Confidence > 0.5 {
		t.Errorf("click track confidence %.2f, want above 0 and at most 0.5", clicks.Confidence)
	}
}

func TestDivisionWeight(t *testing.T) {
	for _, c := range []struct{ divided, want float64 }{
		{0, 0.5}, {0.1, 0.75}, {0.2, 1}, {0.9, 1},
	} {
		if got := divisionWeight(c.divided); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("divisionWeight(%v) = %v, want %v", c.divided, got, c.want)
		}
	}
}
