package stages

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/songflow/songflow/dsp"
)

// cadenceSong is 40 s at 22050 Hz: a I–IV–V–I cadence in C major (one
// chord per bar of four, piano-like decaying tones with a few harmonics)
// over a click on every beat at bpm.
func cadenceSong(bpm float64) []float32 { return cadenceSongIn(bpm, 4, 40) }

// cadenceSongIn is cadenceSong with beatsPerBar beats to the bar, seconds
// long.
func cadenceSongIn(bpm float64, beatsPerBar int, seconds float64) []float32 {
	return chordSong(bpm, beatsPerBar, seconds, [][]float64{ // MIDI notes
		{48, 60, 64, 67}, // C
		{53, 60, 65, 69}, // F
		{55, 59, 62, 67}, // G
		{48, 60, 64, 67}, // C
	})
}

// chordSong is cadenceSongIn with other chords, one a bar in turn.
func chordSong(bpm float64, beatsPerBar int, seconds float64, chords [][]float64) []float32 {
	x := make([]float32, int(seconds*fftTestRate))
	beat := 60 / bpm * fftTestRate
	seed := uint32(9)
	for b := 0; ; b++ {
		start := int(float64(b) * beat)
		if start >= len(x) {
			break
		}
		// Click: a short noise burst.
		for j := 0; j < 300 && start+j < len(x); j++ {
			seed = seed*1664525 + 1013904223
			x[start+j] += 0.3 * float32(math.Exp(-float64(j)/40)) * (float32(seed>>8)/float32(1<<23) - 1)
		}
		if b%beatsPerBar != 0 {
			continue
		}
		chord := chords[(b/beatsPerBar)%len(chords)]
		for j := 0; j < int(float64(beatsPerBar)*beat) && start+j < len(x); j++ {
			t := float64(j) / fftTestRate
			env := math.Exp(-t / 1.5)
			var v float64
			for _, m := range chord {
				f := 440 * math.Pow(2, (m-69)/12)
				for h := 1.0; h <= 3; h++ {
					v += math.Sin(2*math.Pi*f*h*t) / (h * h)
				}
			}
			x[start+j] += float32(0.05 * env * v)
		}
	}
	return x
}

// songFrames runs the real fft stage over x in 20 s chunks.
func songFrames(t testing.TB, info *SongInfo, x []float32) []*Frames {
	t.Helper()
	stage := FFT(FFTOptions{Size: 2048, Hop: 512})()
	chunk := int(20 * fftTestRate)
	count := (len(x) + chunk - 1) / chunk
	var parts []*Frames
	for i := 0; i < count; i++ {
		c := &Chunk{Info: info, Rate: fftTestRate, Index: i, Count: count,
			Offset: dsp.Seconds(i * 20), Samples: x[i*chunk : min((i+1)*chunk, len(x))]}
		f, err := stage(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, f)
	}
	return parts
}

func TestAggregateCadence(t *testing.T) {
	info := &SongInfo{
		Name: "cadence.flac", Format: "flac", SampleRate: 44100, Channels: 2,
		Duration: 40, SourceDuration: 40, Title: "Cadence",
		Tags:     Tags{Artist: "Test", BPM: 100},
		Loudness: dsp.Loudness{Integrated: -14.2, Range: 3.5, TruePeak: -1.1},
	}
	const bpm = 100.0
	r, err := Aggregate(AggregateOptions{})(context.Background(), songFrames(t, info, cadenceSong(bpm)))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.BPM-bpm) > 0.5 {
		t.Errorf("BPM %.2f, want %.0f (candidates %v)", r.BPM, bpm, r.BPMCandidates)
	}
	if len(r.BPMCandidates) == 0 || r.BPMCandidates[0].BPM != r.BPM {
		t.Errorf("candidates %v do not start with the BPM %.1f", r.BPMCandidates, r.BPM)
	}
	if r.BPMConfidence <= 0 || r.BPMConfidence > 1 {
		t.Errorf("BPM confidence %.3f outside (0, 1]", r.BPMConfidence)
	}
	if r.Key != "C Major" {
		t.Errorf("key %q, want C Major (details %+v)", r.Key, r.KeyDetails)
	}
	if r.TimeSignature != "4/4" {
		t.Errorf("time signature %q, want 4/4", r.TimeSignature)
	}
	if len(r.KeyDetails.Scores) != 24 || r.KeyDetails.Scores[0].Key != r.Key {
		t.Errorf("key scores %v: want 24, best first", r.KeyDetails.Scores)
	}
	want := Result{
		File: "cadence.flac", Title: "Cadence", Artist: "Test",
		Loudness: -14.2, LoudnessRange: 3.5, TruePeak: -1.1,
		Duration: 40, SampleRate: 44100, Channels: 2, Format: "flac",
		AnalyzerVersion: AnalyzerVersion, Tags: info.Tags,
	}
	got := Result{
		File: r.File, Title: r.Title, Artist: r.Artist,
		Loudness: r.Loudness, LoudnessRange: r.LoudnessRange, TruePeak: r.TruePeak,
		Duration: r.Duration, SampleRate: r.SampleRate, Channels: r.Channels, Format: r.Format,
		AnalyzerVersion: r.AnalyzerVersion, Tags: r.Tags,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("source facts\n got %+v\nwant %+v", got, want)
	}
	if r.SpectralCentroid <= 0 || r.Energy <= 0 {
		t.Errorf("feel not filled: centroid %.1f, energy %.3f", r.SpectralCentroid, r.Energy)
	}
	checkFinite(t, r)
}

// checkFinite fails if any number in r is NaN or infinite; encoding/json
// refuses those, so a successful Marshal proves it.
func checkFinite(t *testing.T, r Result) {
	t.Helper()
	if _, err := json.Marshal(r); err != nil {
		t.Errorf("result does not encode: %v", err)
	}
}

func TestAggregateSilenceIsFinite(t *testing.T) {
	info := &SongInfo{
		Name: "silence.wav", Format: "wav", SampleRate: 22050, Channels: 1, Duration: 25,
		Loudness: dsp.Loudness{Integrated: math.Inf(-1), Range: math.NaN(), TruePeak: math.Inf(-1)},
	}
	r, err := Aggregate(AggregateOptions{})(context.Background(), songFrames(t, info, make([]float32, 25*fftTestRate)))
	if err != nil {
		t.Fatal(err)
	}
	checkFinite(t, r)
	if r.BPM != 0 || r.BPMConfidence != 0 {
		t.Errorf("silence has tempo %.1f (confidence %.2f)", r.BPM, r.BPMConfidence)
	}
	// No key either: "C Major" at confidence 0 would read as an answer.
	if r.Key != "" || r.KeyConfidence != 0 {
		t.Errorf("silence has key %q (confidence %.2f)", r.Key, r.KeyConfidence)
	}
	// The levels a silent measurement reports, whichever way it is silent.
	want := dsp.MeasureLoudness([][]float32{make([]float32, 25*22050)}, 22050, 0)
	if r.Loudness != want.Integrated || r.TruePeak != want.TruePeak || r.LoudnessRange != want.Range {
		t.Errorf("silent levels %.1f LUFS, %.1f LU, %.1f dBTP", r.Loudness, r.LoudnessRange, r.TruePeak)
	}
}

func TestAggregateRejectsBadParts(t *testing.T) {
	agg := Aggregate(AggregateOptions{})
	if _, err := agg(context.Background(), nil); err == nil {
		t.Error("no parts accepted")
	}
	a := &SongInfo{Name: "a"}
	parts := songFrames(t, a, make([]float32, 30*fftTestRate))
	parts[1].Info = &SongInfo{Name: "b"}
	if _, err := agg(context.Background(), parts); err == nil {
		t.Error("parts of two songs accepted")
	}
	parts = songFrames(t, a, make([]float32, 30*fftTestRate))
	parts[1].RMS = parts[1].RMS[:3]
	if _, err := agg(context.Background(), parts); err == nil {
		t.Error("ragged series accepted")
	}
}

func BenchmarkAggregate(b *testing.B) {
	info := &SongInfo{Name: "bench.wav", SampleRate: 22050, Channels: 1, Duration: 180}
	x := make([]float32, 0, 180*fftTestRate)
	for len(x) < 180*fftTestRate {
		x = append(x, cadenceSong(100)...)
	}
	parts := songFrames(b, info, x[:180*fftTestRate])
	agg := Aggregate(AggregateOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := agg(context.Background(), parts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// ditherSong is n samples of 16-bit TPDF dither on digital silence: what a
// silent passage holds after an encoder or a DAW reduced it to 16 bits.
func ditherSong(n int) []float32 {
	x := make([]float32, n)
	seed := uint32(11)
	uniform := func() float64 {
		seed = seed*1664525 + 1013904223
		return float64(seed>>8) / float64(1<<24)
	}
	for i := range x {
		// The sum of two uniform values is triangular over ±1 LSB.
		x[i] = float32(math.Round(uniform()+uniform()-1)) / 32768
	}
	return x
}

// TestAggregateDitherIsSilence checks that a song of dither alone gets no
// tempo and no key: onset and chroma are level-free, so without the noise
// floor the dither's random fluctuations gave it a tempo and a key with
// some confidence.
func TestAggregateDitherIsSilence(t *testing.T) {
	info := &SongInfo{Name: "dither.wav", Format: "wav", SampleRate: 22050, Channels: 1, Duration: 45}
	r, err := Aggregate(AggregateOptions{})(context.Background(), songFrames(t, info, ditherSong(45*fftTestRate)))
	if err != nil {
		t.Fatal(err)
	}
	checkFinite(t, r)
	if r.BPM != 0 || r.BPMConfidence != 0 || len(r.BPMCandidates) != 0 {
		t.Errorf("dither has tempo %.1f (confidence %.2f, candidates %v)", r.BPM, r.BPMConfidence, r.BPMCandidates)
	}
	if r.Key != "" || r.KeyConfidence != 0 || len(r.KeyDetails.Scores) != 0 {
		t.Errorf("dither has key %q with confidence %.2f", r.Key, r.KeyConfidence)
	}
	if r.SilenceRatio != 1 {
		t.Errorf("dither: silence ratio %.2f, want 1", r.SilenceRatio)
	}
}

// TestAggregateTempoAfterDither checks that music after a long dithered
// intro is analysed as if the intro were not there.
func TestAggregateTempoAfterDither(t *testing.T) {
	const bpm = 120.0
	music := cadenceSong(bpm)
	x := append(ditherSong(40*fftTestRate), music...)
	info := &SongInfo{Name: "intro.wav", Format: "wav", SampleRate: 22050, Channels: 1, Duration: dsp.Seconds(len(x) / fftTestRate)}
	r, err := Aggregate(AggregateOptions{})(context.Background(), songFrames(t, info, x))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.BPM/bpm-1) > 0.01 {
		t.Errorf("after a dithered intro: %.1f BPM, want %.0f", r.BPM, bpm)
	}
	if r.Key != "C Major" {
		t.Errorf("after a dithered intro: key %s, want C Major", r.Key)
	}
}

// analyse runs x, mono at fftTestRate, through the chunk, fft and
// aggregate stages.
func analyse(t *testing.T, x []float32, opts ChunkOptions) Result {
	t.Helper()
	ctx := context.Background()
	info := &SongInfo{Name: "song.wav", SampleRate: fftTestRate, Channels: 1, Duration: dsp.Seconds(len(x)) / fftTestRate,
		// As the resample stage measures it.
		Loudness: dsp.MeasureLoudness([][]float32{x}, fftTestRate, 0)}
	chunks, err := Chunks(opts)(ctx, &Signal{Info: info, Rate: fftTestRate, Mono: x})
	if err != nil {
		t.Fatal(err)
	}
	fft := FFT(FFTOptions{Size: 2048, Hop: 512})()
	parts := make([]*Frames, len(chunks))
	for i, c := range chunks {
		if parts[i], err = fft(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Aggregate(AggregateOptions{})(ctx, parts)
	if err != nil {
		t.Fatal(err)
	}
	checkFinite(t, r)
	return r
}

// A steady tone has no tempo and no pulse, however many chunks it fills:
// the cut-off tone in the last frames of every chunk scored as an onset,
// and from four chunks on those gave it a tempo (77 BPM at 220 Hz). Tones
// rich in harmonics ripple more as the frames slide over their period, and
// the ripple repeats with it: a 55 Hz sawtooth got 143 BPM at confidence
// 0.73, and a drone of three partials with a slow swell danced (0.90) as
// well as a kick drum.
func TestSteadyTonesHaveNoPulse(t *testing.T) {
	n := int(100 * fftTestRate)
	tone := func(f func(s float64) float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(f(float64(i) / fftTestRate))
		}
		return x
	}
	tones := map[string][]float32{
		"220 Hz sine":  fftTestSine(n, 220, 0.3),
		"1 kHz sine":   fftTestSine(n, 1000, 0.3),
		"55 Hz saw":    tone(func(s float64) float64 { return 0.3 * (2*math.Mod(55*s, 1) - 1) }),
		"82 Hz square": tone(func(s float64) float64 { return 0.2 * math.Copysign(1, math.Sin(2*math.Pi*82.4*s)) }),
		"organ chord": tone(func(s float64) float64 {
			var v float64
			for _, f := range []float64{130.81, 164.81, 196, 261.63} {
				for h := 1.0; h <= 20; h++ {
					v += math.Sin(2*math.Pi*f*h*s) / h
				}
			}
			return 0.05 * v
		}),
		"drone": tone(func(s float64) float64 {
			swell := 0.3 + 0.1*math.Sin(2*math.Pi*0.07*s) + 0.05*math.Sin(2*math.Pi*0.23*s+1)
			return swell * (math.Sin(2*math.Pi*110*s) + 0.5*math.Sin(2*math.Pi*165*s) + 0.3*math.Sin(2*math.Pi*220.5*s)) / 1.8
		}),
	}
	for name, x := range tones {
		r := analyse(t, x, ChunkOptions{Seconds: 20, MaxChunks: 20})
		if r.BPM != 0 || len(r.BPMCandidates) != 0 || r.Danceability > 0.05 || r.TimeSignature != "" {
			t.Errorf("%s, 100 s: %.1f BPM (confidence %.2f), danceability %.2f, time signature %q", name, r.BPM, r.BPMConfidence, r.Danceability, r.TimeSignature)
		}
	}
}

// A quiet recording keeps its tempo: brushed noise bursts at 100 BPM over
// a soft chord, at −50 LUFS, measured no onsets strong enough to count
// before its spectra were lifted to a normal level.
func TestQuietSongKeepsItsTempo(t *testing.T) {
	n := int(30 * fftTestRate)
	x := make([]float32, n)
	seed := uint32(9)
	period := 60.0 / 100 * fftTestRate
	for start := 0.1 * fftTestRate; int(start) < n; start += period {
		burst := 0.25 * fftTestRate
		for i := 0; i < int(burst) && int(start)+i < n; i++ {
			s := float64(i) / fftTestRate
			seed = seed*1664525 + 1013904223
			noise := float64(seed>>8)/float64(1<<23) - 1
			x[int(start)+i] += float32(0.017 * math.Min(1, s/0.04) * math.Exp(-s*10) * noise)
		}
	}
	for i := range x {
		s := float64(i) / fftTestRate
		x[i] += float32(0.001 * (math.Sin(2*math.Pi*220*s) + math.Sin(2*math.Pi*277.2*s) + math.Sin(2*math.Pi*329.6*s)))
	}
	r := analyse(t, x, ChunkOptions{Seconds: 20, MaxChunks: 20})
	if math.Abs(r.BPM-100) > 1 || r.Loudness > -45 {
		t.Errorf("brushes at %.1f LUFS: %.1f BPM (confidence %.2f), want 100 at about −50 LUFS", r.Loudness, r.BPM, r.BPMConfidence)
	}
}

// Issue #4's order, through the stages a song takes: a steady
// four-on-the-floor kick is clearly more danceable than a drone.
func TestAggregateKickMoreDanceableThanDrone(t *testing.T) {
	n := int(20 * fftTestRate)
	drone, kick := make([]float32, n), make([]float32, n)
	for i := range drone {
		s := float64(i) / fftTestRate
		swell := 0.3 + 0.1*math.Sin(2*math.Pi*0.07*s) + 0.05*math.Sin(2*math.Pi*0.23*s+1)
		drone[i] = float32(swell * (math.Sin(2*math.Pi*110*s) + 0.5*math.Sin(2*math.Pi*165*s) + 0.3*math.Sin(2*math.Pi*220.5*s)) / 1.8)
	}
	period := 60.0 / 124 * fftTestRate // samples per beat at 124 BPM
	beat := int(period)
	for start := 0; start < n; start += beat {
		for i := 0; i < beat && start+i < n; i++ {
			s := float64(i) / fftTestRate
			hz := 55 + 100*math.Exp(-s*40)
			kick[start+i] += float32(0.8 * math.Exp(-s*12) * math.Sin(2*math.Pi*hz*s))
		}
	}
	dance := func(name string, x []float32) float64 {
		info := &SongInfo{Name: name, SampleRate: fftTestRate, Channels: 1, Duration: 20}
		r, err := Aggregate(AggregateOptions{})(context.Background(), songFrames(t, info, x))
		if err != nil {
			t.Fatal(err)
		}
		return r.Danceability
	}
	if d, k := dance("drone", drone), dance("kick", kick); !(k > d+0.3) {
		t.Errorf("danceability: four-on-the-floor %.3f, drone %.3f; want the kick clearly above", k, d)
	}
}

// Chunks spread evenly over a song overlap when it is not a whole number of
// chunks long, even with no overlap configured: 30 s in 20 s chunks are
// 0–20 s and 10–30 s. The shared stretch must count once: 10 s of silence
// before 20 s of sound are a third of the song, not a quarter, and three
// hits heard by both chunks are three onsets, too few for a tempo, not six.
func TestAggregateOverlapCountsOnce(t *testing.T) {
	x := fftTestNoise(30*fftTestRate, 0.2)
	clear(x[:10*fftTestRate])
	spread := analyse(t, x, ChunkOptions{Seconds: 20, MaxChunks: 20})
	tiled := analyse(t, x, ChunkOptions{Seconds: 10, MaxChunks: 20})
	if math.Abs(spread.SilenceRatio-1.0/3) > 0.01 || math.Abs(spread.SilenceRatio-tiled.SilenceRatio) > 0.005 {
		t.Errorf("silence ratio %.3f in overlapping chunks, %.3f in 10 s chunks; want 1/3", spread.SilenceRatio, tiled.SilenceRatio)
	}
	// The same with the overlap asked for: 20 s chunks 10 s apart.
	overlap := analyse(t, x, ChunkOptions{Seconds: 20, OverlapSeconds: 10, MaxChunks: 20})
	if math.Abs(overlap.SilenceRatio-tiled.SilenceRatio) > 0.005 {
		t.Errorf("silence ratio %.3f with 10 s overlap, %.3f in 10 s chunks", overlap.SilenceRatio, tiled.SilenceRatio)
	}

	hits := make([]float32, 25*fftTestRate)
	for _, at := range []float64{9, 10, 11} { // in both 0–20 s and 5–25 s
		s := int(at * fftTestRate)
		for j, v := range fftTestNoise(300, 0.5) {
			hits[s+j] += v * float32(math.Exp(-float64(j)/40))
		}
	}
	if r := analyse(t, hits, ChunkOptions{Seconds: 20, MaxChunks: 20}); r.BPM != 0 {
		t.Errorf("three hits in overlapping chunks: %.1f BPM (confidence %.2f)", r.BPM, r.BPMConfidence)
	}
}

// ownFrames partitions a song's frames among its chunks: positions kept
// rise strictly from part to part (no stretch counted twice) and, where
// the chunks cover the song, lie at most one hop apart (none dropped),
// however the chunk stage cut it, on a frame grid its offsets fall on or
// not.
func TestOwnFramesPartition(t *testing.T) {
	const rate, hop = 22050, 512
	for _, seconds := range []float64{5, 20, 20.01, 25, 41, 65, 99.9, 780} {
		for _, o := range []ChunkOptions{{20, 0, 20}, {20, 10, 20}, {20, 3.3, 20}, {7.77, 0, 0}, {20, 0, 3}} {
			sig := &Signal{Info: &SongInfo{Name: "song"}, Rate: rate, Mono: make([]float32, int(seconds*rate))}
			chunks, err := Chunks(o)(context.Background(), sig)
			if err != nil {
				t.Fatal(err)
			}
			parts := make([]*Frames, len(chunks))
			for i, c := range chunks {
				n := (len(c.Samples) + hop - 1) / hop
				parts[i] = &Frames{Info: c.Info, Index: i, Count: c.Count, Offset: c.Offset, FrameRate: dsp.Hz(rate) / hop, Onset: make([]float32, n)}
			}
			own := ownFrames(parts)
			last := math.Inf(-1)
			covered := 0
			for i, p := range parts {
				if own[i][0] < 0 || own[i][0] > own[i][1] || own[i][1] > len(p.Onset) {
					t.Fatalf("%g s, %+v: part %d owns %v of %d frames", seconds, o, i, own[i], len(p.Onset))
				}
				for j := own[i][0]; j < own[i][1]; j++ {
					pos := float64(p.Offset)*rate/hop + float64(j)
					if pos <= last+1e-9 {
						t.Fatalf("%g s, %+v: part %d frame %d at %.3f, not after %.3f", seconds, o, i, j, pos, last)
					}
					if o.MaxChunks == 0 && pos > last+1+1e-9 && last > math.Inf(-1) {
						t.Fatalf("%g s, %+v: part %d frame %d at %.3f leaves a gap after %.3f", seconds, o, i, j, pos, last)
					}
					last = pos
					covered++
				}
			}
			if whole := (len(sig.Mono) + hop - 1) / hop; o.MaxChunks == 0 && (covered < whole-len(parts) || covered > whole+len(parts)) {
				t.Errorf("%g s, %+v: %d frames kept, the song has %d", seconds, o, covered, whole)
			}
		}
	}
}

// TestAggregateTimeSignature: the same cadence with its chord changing
// every three beats is a waltz, and noise, which has no beat, has no time
// signature either.
func TestAggregateTimeSignature(t *testing.T) {
	for _, c := range []struct {
		bpm   float64
		beats int
		want  string
	}{
		{90, 3, "3/4"}, {140, 3, "3/4"}, {90, 4, "4/4"}, {140, 4, "4/4"},
	} {
		r := analyse(t, cadenceSongIn(c.bpm, c.beats, 60), ChunkOptions{Seconds: 20, MaxChunks: 20})
		if math.Abs(r.BPM/c.bpm-1) > 0.04 {
			t.Errorf("%d beats to the bar at %v BPM: tempo %.1f", c.beats, c.bpm, r.BPM)
			continue
		}
		if r.TimeSignature != c.want {
			t.Errorf("%d beats to the bar at %v BPM: time signature %q, want %q", c.beats, c.bpm, r.TimeSignature, c.want)
		}
	}
	noise := make([]float32, 60*fftTestRate)
	seed := uint32(5)
	for i := range noise {
		seed = seed*1664525 + 1013904223
		noise[i] = 0.2 * (float32(seed>>8)/float32(1<<23) - 1)
	}
	if r := analyse(t, noise, ChunkOptions{Seconds: 20, MaxChunks: 20}); r.TimeSignature != "" {
		t.Errorf("white noise: time signature %q (%.1f BPM at confidence %.2f), want none", r.TimeSignature, r.BPM, r.BPMConfidence)
	}
}

// The key's mode and confidence reach the valence: DescribeFeel weighs
// mode by 0.4, as 0.5 ± 0.5·confidence (+ major, − minor), so the same
// 20 s song in C major and in C minor (i–iv–V–i: the third of the tonic
// and subdominant chords lowered) differs in valence by 0.2 times the sum
// of the two key confidences, give or take what the lowered thirds do to
// brightness and energy (well under 0.05).
func TestAggregateValenceFollowsMode(t *testing.T) {
	run := func(name string, chords [][]float64) Result {
		info := &SongInfo{Name: name, SampleRate: 22050, Channels: 1, Duration: 20}
		x := chordSong(100, 4, 20, chords)
		r, err := Aggregate(AggregateOptions{})(context.Background(), songFrames(t, info, x))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	major := run("major.wav", [][]float64{{48, 60, 64, 67}, {53, 60, 65, 69}, {55, 59, 62, 67}, {48, 60, 64, 67}})
	minor := run("minor.wav", [][]float64{{48, 60, 63, 67}, {53, 60, 65, 68}, {55, 59, 62, 67}, {48, 60, 63, 67}})
	if major.Key != "C Major" || minor.Key != "C Minor" {
		t.Fatalf("keys %q and %q, want C Major and C Minor", major.Key, minor.Key)
	}
	want := 0.2 * (major.KeyConfidence + minor.KeyConfidence)
	if got := major.Valence - minor.Valence; want < 0.2 || math.Abs(got-want) > 0.05 {
		t.Errorf("valence major %.3f, minor %.3f: differ by %.3f, want %.3f (key confidences %.2f, %.2f)",
			major.Valence, minor.Valence, got, want, major.KeyConfidence, minor.KeyConfidence)
	}
}
