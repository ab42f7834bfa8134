package dsp

import (
	"math"
	"math/rand"
	"testing"
)

const testRate = 22050

// chromaOf runs the STFT (2048/512) and the chroma filter over x.
func chromaOf(t testing.TB, x []float32, rate Hz) ([]float32, int) {
	t.Helper()
	st, err := NewSTFT(2048, 512)
	if err != nil {
		t.Fatal(err)
	}
	cf := NewChromaFilter(2048, rate)
	bins := cf.Bins()
	out := make([]float32, 0, st.FrameCount(len(x))*bins)
	buf := make([]float32, bins)
	st.Walk(x, func(f *Frame) bool {
		cf.Apply(f.Mag, buf)
		out = append(out, buf...)
		return true
	})
	return out, bins
}

// midiHz is the frequency of MIDI note n at A440 detuned by cents.
func midiHz(n int, cents float64) float64 {
	return 440 * math.Pow(2, (float64(n-69)+cents/100)/12)
}

// addTone adds a harmonic tone (amplitudes 1/h, h = 1..6) with a plucked
// decay to x[start:start+n].
func addTone(x []float32, start, n int, hz, amp float64, rate float64) {
	for i := 0; i < n && start+i < len(x); i++ {
		tt := float64(i) / rate
		env := amp * math.Exp(-2*tt) * math.Min(1, tt*200)
		v := 0.0
		for h := 1; h <= 6; h++ {
			if float64(h)*hz < rate/2 {
				v += math.Sin(2*math.Pi*float64(h)*hz*tt) / float64(h)
			}
		}
		x[start+i] += float32(env * v)
	}
}

// cadence renders I–IV–V–I (minor: i–iv–V–i with the raised leading tone)
// in the key with the given tonic, as root-position triads with the root
// doubled an octave below, plus a scale run over the top: what a listener
// hears as unambiguously in that key.
func cadence(tonic int, minor bool, cents float64) []float32 {
	const chordSec = 0.6
	third := 4
	if minor {
		third = 3
	}
	// Chords as semitone offsets from the tonic.
	chords := [][]int{
		{0, third, 7},
		{5, 5 + third, 12},
		{7, 11, 14},
		{0, third, 7},
	}
	if !minor {
		chords[1] = []int{5, 9, 12}
	}
	n := int(chordSec * testRate)
	x := make([]float32, n*len(chords)*2)
	base := 48 + tonic // C3 …
	for rep := 0; rep < 2; rep++ {
		for c, ch := range chords {
			start := (rep*len(chords) + c) * n
			addTone(x, start, n, midiHz(base+ch[0]-12, cents), 0.15, testRate)
			for _, s := range ch {
				addTone(x, start, n, midiHz(base+s, cents), 0.1, testRate)
			}
		}
	}
	return x
}

func TestEstimateKeyCadences(t *testing.T) {
	for _, profile := range KeyProfiles() {
		for tonic := 0; tonic < 12; tonic += 1 {
			for _, minor := range []bool{false, true} {
				want := Key{Tonic: tonic, Minor: minor}
				ch, bins := chromaOf(t, cadence(tonic, minor, 0), testRate)
				got := EstimateKey(ch, bins, profile)
				if got.Key != want {
					t.Errorf("%s: %v cadence: got %v (runner-up %v)", profile, want, got.Key, got.RunnerUp)
				}
				if math.Abs(got.TuningCents) > 5 {
					t.Errorf("%s: %v cadence in tune: tuning %.1f cents", profile, want, got.TuningCents)
				}
				if got.Confidence <= 0 || got.Confidence > 1 {
					t.Errorf("%s: %v confidence %v outside (0, 1]", profile, want, got.Confidence)
				}
				if got.Frames == 0 {
					t.Errorf("%s: %v cadence: rests on no frames", profile, want)
				}
			}
		}
	}
}

func TestEstimateKeyTuning(t *testing.T) {
	for _, tc := range []struct {
		cents float64
		key   Key
	}{
		{30, Key{Tonic: 2}},
		{-20, Key{Tonic: 9, Minor: true}},
		{45, Key{Tonic: 5}},
		{12, Key{Tonic: 11, Minor: true}},
	} {
		ch, bins := chromaOf(t, cadence(tc.key.Tonic, tc.key.Minor, tc.cents), testRate)
		got := EstimateKey(ch, bins, "")
		if math.Abs(got.TuningCents-tc.cents) > 4 {
			t.Errorf("%v played %+.0f cents off: tuning measured %+.1f", tc.key, tc.cents, got.TuningCents)
		}
		if got.Key != tc.key {
			t.Errorf("%v played %+.0f cents off: key %v", tc.key, tc.cents, got.Key)
		}
	}
}

func TestChromaSine(t *testing.T) {
	// A sine on each pitch class from C4 to B4 lands on that class's centre
	// bin, whatever the FFT bin grid.
	cf := NewChromaFilter(2048, testRate)
	st, _ := NewSTFT(2048, 512)
	dst := make([]float32, cf.Bins())
	for pc := 0; pc < 12; pc++ {
		x := make([]float32, 2048)
		hz := midiHz(60+pc, 0)
		for i := range x {
			x[i] = float32(0.5 * math.Sin(2*math.Pi*hz*float64(i)/testRate))
		}
		cf.Apply(st.Transform(x).Mag, dst)
		best := 0
		for i, v := range dst {
			if v > dst[best] {
				best = i
			}
		}
		if best != 3*pc {
			t.Errorf("%.1f Hz: peak in bin %d, want %d (%v)", hz, best, 3*pc, dst)
		}
		// The kernel is symmetric: the bins either side get equal shares.
		l, r := dst[(3*pc+35)%36], dst[3*pc+1]
		if math.Abs(float64(l-r)) > 0.15*float64(dst[best]) {
			t.Errorf("%.1f Hz: neighbours %v and %v unbalanced", hz, l, r)
		}
	}
}

func TestChromaHarmonicSuppression(t *testing.T) {
	// One C3 note with strong harmonics: its 3rd harmonic is a G, its 5th
	// an E. After suppression C must dominate both clearly.
	x := make([]float32, 8192)
	hz := midiHz(48, 0)
	for i := range x {
		tt := float64(i) / testRate
		v := 0.0
		for h := 1; h <= 6; h++ {
			v += math.Sin(2*math.Pi*float64(h)*hz*tt) / float64(h)
		}
		x[i] = float32(0.2 * v)
	}
	ch, bins := chromaOf(t, x, testRate)
	var pc [12]float64
	frames := len(ch) / bins
	for f := 2; f < frames-4; f++ {
		var one [12]float64
		foldChroma(ch[f*bins:(f+1)*bins], 3, 0, &one)
		for i := range pc {
			pc[i] += one[i]
		}
	}
	// Without suppression G gets 1/3 + 1/6 of C's 1 + 1/2 + 1/4: 0.29.
	if g := pc[7] / pc[0]; g > 0.1 {
		t.Errorf("G/C = %.3f after harmonic suppression, want < 0.1 (%v)", g, pc)
	}
	if e := pc[4] / pc[0]; e > 0.1 {
		t.Errorf("E/C = %.3f after harmonic suppression, want < 0.1", e)
	}
}

func TestEstimateKeyDegenerate(t *testing.T) {
	huge := make([]float32, 36*10)
	for i := range huge {
		huge[i] = 3e38
	}
	nan := make([]float32, 36*4)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	for name, in := range map[string][]float32{
		"nil": nil, "zeros": make([]float32, 36*100), "huge": huge, "nan": nan,
	} {
		got := EstimateKey(in, 36, "")
		all := append(got.Scores[:], got.Confidence, got.TuningCents)
		for _, v := range all {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: non-finite value in %+v", name, got)
				break
			}
		}
		if got.Profile != DefaultKeyProfile {
			t.Errorf("%s: profile %q", name, got.Profile)
		}
	}
	if got := EstimateKey(make([]float32, 36*10), 36, ""); got.Confidence != 0 || got.Frames != 0 {
		t.Errorf("silence: confidence %v on %d frames, want 0 on none", got.Confidence, got.Frames)
	}
	if got := EstimateKey(make([]float32, 35), 35, ""); got.Confidence != 0 {
		t.Errorf("bins not a multiple of 12: confidence %v, want 0", got.Confidence)
	}
}

func TestKeyString(t *testing.T) {
	want := []string{"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"}
	for i, n := range want {
		if got := (Key{Tonic: i}).String(); got != n+" Major" {
			t.Errorf("Key{%d}: %q", i, got)
		}
		if got := (Key{Tonic: i, Minor: true}).String(); got != n+" Minor" {
			t.Errorf("Key{%d, minor}: %q", i, got)
		}
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Key
	}{
		{"C Major", Key{0, false}},
		{"C# Minor", Key{1, true}},
		{"Eb major", Key{3, false}},
		{"A#/B♭", Key{10, false}},
		{"C♯/D♭ minor", Key{1, true}},
		{"D", Key{2, false}},
		{"Bbm", Key{10, true}},
		{"F# min", Key{6, true}},
		{"bm", Key{11, true}},
		{"Cb major", Key{11, false}},
		{"E# minor", Key{5, true}},
		{"A:minor", Key{9, true}},
		{"  G   Major ", Key{7, false}},
		{"AM", Key{9, false}},
		{"Gbmaj", Key{6, false}},
		{"D#/Ebm", Key{3, true}},
	} {
		got, err := ParseKey(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "H major", "C dorian", "X", "C/", "7"} {
		if k, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) = %v, want an error", bad, k)
		}
	}
	// Every spelled key parses back to itself.
	for i := range 24 {
		k := KeyAt(i)
		if got, err := ParseKey(k.String()); err != nil || got != k {
			t.Errorf("round trip %v: %v, %v", k, got, err)
		}
	}
}

// BenchmarkChromaApply measures the chroma of real-ish frames (the
// cadence's spectra), reporting audio seconds per second of work.
func BenchmarkChromaApply(b *testing.B) { benchChroma(b, cadence(2, false, 0)) }

// BenchmarkEstimateKey measures the song-level estimate on 5 minutes of
// chroma frames.
func BenchmarkEstimateKey(b *testing.B) {
	ch, bins := chromaOf(b, cadence(9, true, 0), testRate)
	frames := 300 * testRate / 512
	song := make([]float32, 0, frames*bins)
	for len(song) < frames*bins {
		song = append(song, ch...)
	}
	song = song[:frames*bins]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		EstimateKey(song, bins, "")
	}
	b.ReportMetric(300*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// BenchmarkDescribeFeel measures the feel descriptors on 5 minutes of
// frame features.
func BenchmarkDescribeFeel(b *testing.B) {
	frames := 300 * testRate / 512
	in := FeelInput{FrameRate: testRate / 512}
	for i := range frames {
		v := float32(0.1 + 0.05*math.Sin(float64(i)))
		in.RMS = append(in.RMS, v)
		in.Centroid = append(in.Centroid, 1000)
		in.Flatness = append(in.Flatness, 0.1)
		in.Onset = append(in.Onset, float32(i%21)/21)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		DescribeFeel(in)
	}
	b.ReportMetric(300*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// TestEstimateKeyNoise: noise sounds every pitch class alike, so it has no
// key, however its chance correlations fall; a cadence has one.
func TestEstimateKeyNoise(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for k, seconds := range []float64{5, 30, 5, 30} {
		x := make([]float32, int(seconds*22050))
		var brown float64
		for i := range x {
			w := rng.NormFloat64()
			if k < 2 {
				x[i] = float32(0.2 * w)
			} else {
				brown = 0.995*brown + w
				x[i] = float32(0.02 * brown)
			}
		}
		chroma, bins := chromaOf(t, x, 22050)
		if est := EstimateKey(chroma, bins, ""); est.Found() || est.Confidence != 0 {
			t.Errorf("noise #%d, %g s: key %v at confidence %.2f (spread %.3f), want none", k, seconds, est.Key, est.Confidence, est.Spread)
		}
	}
	chroma, bins := chromaOf(t, cadence(2, false, 0), 22050)
	if est := EstimateKey(chroma, bins, ""); !est.Found() || est.Key != (Key{Tonic: 2}) {
		t.Errorf("D major cadence: %v found %v (spread %.3f)", est.Key, est.Found(), est.Spread)
	}
}
