package dsp

import (
	"math"
	"testing"
)

// meterChunks computes what the FFT stage hands the aggregate stage for
// x, in 20 s chunks: onset strength on every frame and chroma on every
// KeyFrameStride-th.
func meterChunks(x []float32) ([]MeterChunk, [][]float32, int) {
	s, _ := NewSTFT(2048, 512)
	d := NewOnsetDetector(2048, tempoTestRate)
	cf := NewChromaFilter(2048, tempoTestRate)
	buf := make([]float32, cf.Bins())
	var chunks []MeterChunk
	var onsets [][]float32
	n := int(20 * tempoTestRate)
	for start := 0; start < len(x); start += n {
		d.Reset()
		var c MeterChunk
		s.Walk(x[start:min(start+n, len(x))], func(f *Frame) bool {
			c.Onset = append(c.Onset, float32(d.Next(f)))
			if f.Index%KeyFrameStride == 0 {
				cf.Apply(f.Mag, buf)
				c.Chroma = append(c.Chroma, buf...)
			}
			return true
		})
		chunks = append(chunks, c)
		onsets = append(onsets, c.Onset)
	}
	return chunks, onsets, cf.Bins()
}

// progression is I–IV–V–vi in C: root MIDI notes of four triads, each
// {root, third, fifth}.
var progression = [][3]int{{48, 52, 55}, {53, 57, 60}, {55, 59, 62}, {57, 60, 64}}

// meterPiece renders seconds of music at bpm with beatsPerBar beats to the
// bar, each beat divided in division notes: on the first note of each bar
// the chord's bass note, loud; on every other note the chord's upper
// tones, softer, the first note of each beat a little louder than the
// notes within it. The chord moves on at every bar line, as harmony
// usually does.
func meterPiece(bpm float64, beatsPerBar, division int, seconds float64) []float32 {
	x := make([]float32, int(seconds*tempoTestRate))
	note := 60 / bpm / float64(division) * tempoTestRate
	for i := 0; ; i++ {
		at := int(1000 + float64(i)*note)
		if at >= len(x) {
			break
		}
		bar := i / (beatsPerBar * division)
		chord := progression[bar%len(progression)]
		n := int(2 * note)
		switch {
		case i%(beatsPerBar*division) == 0:
			addTone(x, at, n, midiHz(chord[0]-12, 0), 0.5, tempoTestRate)
			addTone(x, at, n, midiHz(chord[0], 0), 0.3, tempoTestRate)
		case i%division == 0:
			addTone(x, at, n, midiHz(chord[1], 0), 0.2, tempoTestRate)
			addTone(x, at, n, midiHz(chord[2], 0), 0.2, tempoTestRate)
		default:
			addTone(x, at, n, midiHz(chord[1+i%2]+12, 0), 0.12, tempoTestRate)
		}
	}
	return x
}

func TestEstimateMeterKnownPieces(t *testing.T) {
	cases := []struct {
		bpm             float64
		beats, division int
		want            string
	}{
		{120, 4, 2, "4/4"},
		{96, 4, 2, "4/4"},
		{150, 3, 2, "3/4"},
		{100, 3, 2, "3/4"},
		{80, 2, 3, "6/8"},
		{66, 4, 3, "6/8"},
		{60, 3, 3, "9/8"},
	}
	for _, c := range cases {
		chunks, onsets, bins := meterChunks(meterPiece(c.bpm, c.beats, c.division, 60))
		m, ev := EstimateMeter(chunks, bins, KeyFrameStride, Hz(tempoTestRate/512), c.bpm)
		if got := m.String(); got != c.want {
			t.Errorf("%d beats of %d at %v BPM: got %q, want %q (%+v)", c.beats, c.division, c.bpm, got, c.want, ev)
		}
		// The same through the tempo the estimator finds: the aggregate
		// stage's path. Below 70 BPM it counts a compound beat's eighths
		// (×3), as the beat-rate prior prefers, and the metre is then the
		// eighths' own; the test says so rather than skip silently.
		tempo := EstimateTempo(onsets, Hz(tempoTestRate/512))
		if c.bpm < 70 && c.division == 3 {
			if math.Abs(tempo.BPM/(3*c.bpm)-1) > 0.04 {
				t.Errorf("%d beats of %d at %v BPM: tempo estimated at %.1f, want the eighths' %v", c.beats, c.division, c.bpm, tempo.BPM, 3*c.bpm)
			}
			continue
		}
		if math.Abs(tempo.BPM/c.bpm-1) > 0.04 {
			t.Errorf("%d beats of %d at %v BPM: tempo estimated at %.1f", c.beats, c.division, c.bpm, tempo.BPM)
			continue
		}
		if m, _ := EstimateMeter(chunks, bins, KeyFrameStride, Hz(tempoTestRate/512), tempo.BPM); m.String() != c.want {
			t.Errorf("%d beats of %d at %v BPM, estimated %.1f: got %q, want %q", c.beats, c.division, c.bpm, tempo.BPM, m, c.want)
		}
	}
}

// TestEstimateMeterNoBars: a metronome has a beat but no bars, so it may
// not be given a time signature. (A song with no beat at all gets none
// because it gets no tempo confidence: see the aggregate stage.)
func TestEstimateMeterNoBars(t *testing.T) {
	chunks, _, bins := meterChunks(clickTrack(120, 60))
	if m, ev := EstimateMeter(chunks, bins, KeyFrameStride, Hz(tempoTestRate/512), 120); m != (Meter{}) {
		t.Errorf("click track: got %q, want none (%+v)", m, ev)
	}
}

func TestEstimateMeterDegenerate(t *testing.T) {
	rate := Hz(tempoTestRate / 512)
	chunks, _, bins := meterChunks(meterPiece(120, 3, 2, 60))
	short, _, _ := meterChunks(meterPiece(120, 3, 2, 8))
	nan := []MeterChunk{{Onset: make([]float32, 2000), Chroma: make([]float32, 500*bins)}}
	for i := range nan[0].Onset {
		nan[0].Onset[i] = float32(math.NaN())
	}
	for _, c := range []struct {
		name   string
		chunks []MeterChunk
		bins   int
		stride int
		rate   Hz
		bpm    float64
	}{
		{"no tempo", chunks, bins, KeyFrameStride, rate, 0},
		{"NaN tempo", chunks, bins, KeyFrameStride, rate, math.NaN()},
		{"infinite tempo", chunks, bins, KeyFrameStride, rate, math.Inf(1)},
		{"no frame rate", chunks, bins, KeyFrameStride, 0, 120},
		{"zero stride", chunks, bins, 0, rate, 120},
		{"no chunks", nil, bins, KeyFrameStride, rate, 120},
		{"8 s: too few beats", short, bins, KeyFrameStride, rate, 120},
		{"NaN onsets", nan, bins, KeyFrameStride, rate, 120},
	} {
		if m, ev := EstimateMeter(c.chunks, c.bins, c.stride, c.rate, c.bpm); m != (Meter{}) {
			t.Errorf("%s: got %q, want none (%+v)", c.name, m, ev)
		}
	}
	// Without chroma the accents alone still decide.
	bare := make([]MeterChunk, len(chunks))
	for i, c := range chunks {
		bare[i] = MeterChunk{Onset: c.Onset}
	}
	if m, ev := EstimateMeter(bare, 0, KeyFrameStride, rate, 120); m.String() != "3/4" {
		t.Errorf("waltz without chroma: got %q, want 3/4 (%+v)", m, ev)
	}
	// Chroma too short for the bins it claims is no chroma, not a panic.
	_, want := EstimateMeter(bare, 0, KeyFrameStride, rate, 120)
	if _, got := EstimateMeter(chunks, 1<<40, KeyFrameStride, rate, 120); got != want {
		t.Errorf("2⁴⁰ bins: %+v, want the accents alone: %+v", got, want)
	}
}

func TestMeterString(t *testing.T) {
	for _, c := range []struct {
		m    Meter
		want string
	}{
		{Meter{4, 2}, "4/4"}, {Meter{3, 2}, "3/4"}, {Meter{4, 3}, "6/8"}, {Meter{3, 3}, "9/8"},
		{Meter{}, ""}, {Meter{5, 2}, ""}, {Meter{4, 0}, ""},
	} {
		if got := c.m.String(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.m, got, c.want)
		}
	}
}

func TestFoldContrast(t *testing.T) {
	// An accent every third value, twelve values: mean 5/3, standard
	// deviation √(8/9). Folded by three, the best position holds 3, and
	// chance would give the best of three positions of four values
	// 0.846284·√(8/9)/√4 = 0.398940 above the mean: (3 − 0.398940)/(5/3)
	// − 1 = 0.560635. Folded by four, every position holds the mean and chance
	// 1.029375·√(8/9)/√3 above it: −0.336192.
	x := []float64{3, 1, 1, 3, 1, 1, 3, 1, 1, 3, 1, 1}
	if got := foldContrast(x, 3); math.Abs(got-0.560635) > 1e-6 {
		t.Errorf("fold by 3: got %v, want 0.560635", got)
	}
	if got := foldContrast(x, 4); math.Abs(got+0.336192) > 1e-6 {
		t.Errorf("fold by 4: got %v, want -0.336192", got)
	}
	// A constant series has no cycle and no chance excess.
	if got := foldContrast([]float64{2, 2, 2, 2, 2, 2}, 3); got != 0 {
		t.Errorf("constant: got %v, want 0", got)
	}
	if got := foldContrast(make([]float64, 12), 3); got != 0 {
		t.Errorf("zeros: got %v, want 0", got)
	}
}

// TestEstimateMeterOverlapCountsOnce: two chunks holding nearly the same
// 21 s hold 21 beats at 60 BPM, too few; counted twice they would pass.
func TestEstimateMeterOverlapCountsOnce(t *testing.T) {
	x := meterPiece(60, 3, 2, 21)
	n := int(20 * tempoTestRate)
	first, _, bins := meterChunks(x[:n])
	second, _, _ := meterChunks(x[len(x)-n:])
	both := []MeterChunk{first[0], second[0]}
	rate := Hz(tempoTestRate / 512)
	if m, ev := EstimateMeter(both, bins, KeyFrameStride, rate, 60); m == (Meter{}) {
		t.Fatalf("the same chunks counted twice: no metre (%+v); the test needs one", ev)
	}
	// The second starts shift frames after the first; the first owns the
	// frames before the middle of their overlap, the second the rest.
	shift := (len(x) - n) / 512
	mid := (shift + len(first[0].Onset)) / 2
	both[0].Own = [2]int{0, mid}
	both[1].Own = [2]int{mid - shift, len(second[0].Onset)}
	if m, ev := EstimateMeter(both, bins, KeyFrameStride, rate, 60); m != (Meter{}) {
		t.Errorf("21 beats in two overlapping chunks: %q (%+v), want none", m, ev)
	}
}
