package dsp

import (
	"math"
	"math/rand/v2"
	"testing"
)

// feelOf measures x (at testRate) the way the FFT stage does: per 2048/512
// frame the RMS of the samples, the centroid and flatness of the power
// spectrum and the onset strength.
func feelOf(t *testing.T, x []float32, hints FeelInput) Feel {
	t.Helper()
	return DescribeFeel(feelInputOf(t, x, hints))
}

// feelInputOf is the FeelInput feelOf describes.
func feelInputOf(t *testing.T, x []float32, hints FeelInput) FeelInput {
	t.Helper()
	st, err := NewSTFT(2048, 512)
	if err != nil {
		t.Fatal(err)
	}
	od := NewOnsetDetector(2048, testRate)
	in := hints
	in.FrameRate = testRate / 512
	st.Walk(x, func(f *Frame) bool {
		rms, cen, flat := frameShape(f)
		in.RMS = append(in.RMS, float32(rms))
		in.Centroid = append(in.Centroid, float32(cen))
		in.Flatness = append(in.Flatness, float32(flat))
		in.Onset = append(in.Onset, float32(od.Next(f)))
		return true
	})
	return in
}

// frameShape is what the FFT stage measures of a frame of a 2048-point
// STFT at testRate: the RMS of its samples, and the centroid and flatness
// of its power spectrum.
func frameShape(f *Frame) (rms, centroid, flatness float64) {
	var ss float64
	for _, v := range f.Samples {
		ss += v * v
	}
	var pw, pwf, logSum float64
	for k, p := range f.Power {
		pw += p
		pwf += p * float64(k) * testRate / 2048
		logSum += math.Log(p + 1e-20)
	}
	if pw > 0 {
		centroid = pwf / pw
		flatness = math.Exp(logSum/float64(len(f.Power))) / (pw / float64(len(f.Power)))
	}
	return math.Sqrt(ss / float64(len(f.Samples))), centroid, flatness
}

func sine(sec, hz, amp float64) []float32 {
	x := make([]float32, int(sec*testRate))
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*hz*float64(i)/testRate))
	}
	return x
}

func whiteNoise(sec, amp float64, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, int(sec*testRate))
	for i := range x {
		x[i] = float32(amp * (2*r.Float64() - 1))
	}
	return x
}

// kickPattern is a four-on-the-floor kick drum at bpm: a decaying 55 Hz
// thump with a click on every beat.
func kickPattern(sec, bpm float64) []float32 {
	x := make([]float32, int(sec*testRate))
	beat := int(60 / bpm * testRate)
	for start := 0; start < len(x); start += beat {
		for i := 0; i < beat && start+i < len(x); i++ {
			tt := float64(i) / testRate
			hz := 55 + 100*math.Exp(-tt*40)
			x[start+i] += float32(0.8 * math.Exp(-tt*12) * math.Sin(2*math.Pi*hz*tt))
		}
	}
	return x
}

// drone is a sustained chord with a slow, irregular swell: no pulse.
func drone(sec float64) []float32 {
	x := make([]float32, int(sec*testRate))
	for i := range x {
		tt := float64(i) / testRate
		env := 0.3 + 0.1*math.Sin(2*math.Pi*0.07*tt) + 0.05*math.Sin(2*math.Pi*0.23*tt+1)
		v := math.Sin(2*math.Pi*110*tt) + 0.5*math.Sin(2*math.Pi*165*tt) + 0.3*math.Sin(2*math.Pi*220.5*tt)
		x[i] = float32(env * v / 1.8)
	}
	return x
}

// plucked repeats a decaying harmonic tone (a rough plucked string) with
// notes at irregular times.
func plucked(sec float64) []float32 {
	x := make([]float32, int(sec*testRate))
	notes := []int{57, 60, 64, 62, 59, 55, 60, 64}
	starts := []float64{0, 0.7, 1.2, 2.1, 2.6, 3.5, 4.3, 4.8}
	for j := 0; float64(j/len(starts))*5.5 < sec; j++ {
		at := starts[j%len(starts)] + 5.5*float64(j/len(starts))
		s := int(at * testRate)
		if s >= len(x) {
			break
		}
		addTone(x, s, len(x)-s, midiHz(notes[j%len(notes)], 0), 0.3, testRate)
	}
	return x
}

// distortedNoise is white noise driven hard into a clipper.
func distortedNoise(sec float64) []float32 {
	x := whiteNoise(sec, 4, 7)
	for i, v := range x {
		x[i] = float32(math.Max(-0.9, math.Min(0.9, float64(v))))
	}
	return x
}

func TestFeelEnergy(t *testing.T) {
	noise := feelOf(t, whiteNoise(10, 0.5, 1), FeelInput{})
	quiet := feelOf(t, sine(10, 440, 0.05), FeelInput{})
	if !(noise.Energy > quiet.Energy+0.3) {
		t.Errorf("energy: white noise %.3f, quiet sine %.3f: want noise clearly above", noise.Energy, quiet.Energy)
	}
	// A louder sine is more energetic than the same sine quieter.
	loud := feelOf(t, sine(10, 440, 0.7), FeelInput{})
	if !(loud.Energy > quiet.Energy) {
		t.Errorf("energy: loud sine %.3f not above quiet sine %.3f", loud.Energy, quiet.Energy)
	}
}

func TestFeelDanceability(t *testing.T) {
	kick := feelOf(t, kickPattern(20, 124), FeelInput{})
	dr := feelOf(t, drone(20), FeelInput{})
	if !(kick.Danceability > dr.Danceability+0.3) {
		t.Errorf("danceability: four-on-the-floor %.3f, drone %.3f: want the kick clearly above", kick.Danceability, dr.Danceability)
	}
	if kick.Danceability < 0.6 {
		t.Errorf("danceability of a steady kick at 124 BPM: %.3f, want ≥ 0.6", kick.Danceability)
	}
	// BPM is a hint only: the pulse is measured from the onsets.
	hinted := feelOf(t, kickPattern(20, 124), FeelInput{BPM: 124})
	if math.Abs(hinted.Danceability-kick.Danceability) > 1e-9 {
		t.Errorf("danceability changed with the BPM hint: %.3f vs %.3f", hinted.Danceability, kick.Danceability)
	}
}

// A song whose every frame is quieter than the silence threshold but
// whose onsets still carry a pulse (the FFT stage lifts a quiet song's
// spectra before measuring them) is as danceable as the same song played
// loud: danceability is the pulse, not the level. Such a song (a master
// turned down 40 dB, −55 LUFS) kept its tempo at confidence 1 yet had
// danceability 0, where 2 dB louder it had 0.6.
func TestFeelDanceabilityOfQuietSong(t *testing.T) {
	in := feelInputOf(t, kickPattern(20, 124), FeelInput{BPM: 124, PulseClarity: 1})
	loud := DescribeFeel(in)
	quiet := in
	quiet.RMS = make([]float32, len(in.RMS))
	for i, r := range in.RMS {
		quiet.RMS[i] = r * 1e-3 // 60 dB down: every frame below −60 dBFS
	}
	f := DescribeFeel(quiet)
	if f.SilenceRatio != 1 {
		t.Fatalf("silence ratio %.3f, want 1 (every frame below −60 dBFS)", f.SilenceRatio)
	}
	if math.Abs(f.Danceability-loud.Danceability) > 1e-9 || loud.Danceability < 0.6 {
		t.Errorf("danceability of a steady kick at 124 BPM: %.3f with every frame below the silence threshold, %.3f loud", f.Danceability, loud.Danceability)
	}
}

func TestFeelAcousticness(t *testing.T) {
	pl := feelOf(t, plucked(12), FeelInput{})
	dist := feelOf(t, distortedNoise(12), FeelInput{})
	if !(pl.Acousticness > dist.Acousticness+0.4) {
		t.Errorf("acousticness: plucked tone %.3f, distorted noise %.3f: want the plucked tone clearly above", pl.Acousticness, dist.Acousticness)
	}
}

func TestFeelValenceMode(t *testing.T) {
	x := plucked(12)
	maj := feelOf(t, x, FeelInput{KeyConfidence: 0.8, BPM: 120})
	mnr := feelOf(t, x, FeelInput{KeyConfidence: 0.8, BPM: 120, Minor: true})
	if !(maj.Valence > mnr.Valence) {
		t.Errorf("valence: major %.3f not above minor %.3f", maj.Valence, mnr.Valence)
	}
	slow := feelOf(t, x, FeelInput{KeyConfidence: 0.8, BPM: 60})
	if !(maj.Valence > slow.Valence) {
		t.Errorf("valence: 120 BPM %.3f not above 60 BPM %.3f", maj.Valence, slow.Valence)
	}
}

func TestFeelSilenceAndLevels(t *testing.T) {
	// Half the signal silent, half a sine: silence ratio ≈ 0.5.
	x := append(make([]float32, 5*testRate), sine(5, 330, 0.3)...)
	f := feelOf(t, x, FeelInput{})
	if math.Abs(f.SilenceRatio-0.5) > 0.02 {
		t.Errorf("silence ratio of a half-silent signal: %.3f, want 0.5 ± 0.02", f.SilenceRatio)
	}
	// A steady sine: centroid at its frequency, no dynamic range.
	s := feelOf(t, sine(5, 1000, 0.3), FeelInput{})
	if math.Abs(s.SpectralCentroid-1000) > 20 {
		t.Errorf("centroid of a 1 kHz sine: %.1f Hz", s.SpectralCentroid)
	}
	if s.DynamicRange > 0.5 {
		t.Errorf("dynamic range of a steady sine: %.2f dB, want ≈ 0", s.DynamicRange)
	}
	// A sine whose second half is 20 dB quieter: dynamic range ≈ 20 dB.
	y := append(sine(5, 440, 0.5), sine(5, 440, 0.05)...)
	if d := feelOf(t, y, FeelInput{}).DynamicRange; math.Abs(d-20) > 1 {
		t.Errorf("dynamic range of a 20 dB step: %.2f dB", d)
	}
}

func TestFeelFinite(t *testing.T) {
	huge := make([]float32, 1000)
	nan := make([]float32, 1000)
	for i := range huge {
		huge[i] = 3e38
		nan[i] = float32(math.NaN())
	}
	zeros := make([]float32, 1000)
	cases := map[string]FeelInput{
		"empty":  {},
		"zeros":  {FrameRate: 43, RMS: zeros, Centroid: zeros, Flatness: zeros, Onset: zeros},
		"huge":   {FrameRate: 43, RMS: huge, Centroid: huge, Flatness: huge, Onset: huge, BPM: 1e300, PulseClarity: 1e300, KeyConfidence: 1e300},
		"nan":    {FrameRate: Hz(math.NaN()), RMS: nan, Centroid: nan, Flatness: nan, Onset: nan, BPM: math.NaN(), PulseClarity: math.NaN(), KeyConfidence: math.NaN()},
		"ragged": {FrameRate: 43, RMS: huge[:10], Onset: zeros[:3]},
	}
	for name, in := range cases {
		f := DescribeFeel(in)
		vals := []float64{f.Energy, f.Danceability, f.Acousticness, f.Valence, f.SpectralCentroid, f.DynamicRange, f.SilenceRatio}
		for i, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: field %d is %v (%+v)", name, i, v, f)
			}
		}
		for _, v := range []float64{f.Energy, f.Danceability, f.Acousticness, f.Valence, f.SilenceRatio} {
			if v < 0 || v > 1 {
				t.Errorf("%s: %v outside 0..1 (%+v)", name, v, f)
			}
		}
	}
	if f := DescribeFeel(cases["zeros"]); f.SilenceRatio != 1 {
		t.Errorf("all-zero input: silence ratio %v, want 1", f.SilenceRatio)
	}
}

// A steady tone's onset strength is the window's ripple as the frames
// slide over its period: periodic, so its normalised autocorrelation is
// near 1, but no pulse (nor a tempo: TestTempoSteadyTone). Its frames are
// taken as the fft stage takes them, with no onset in the frames that run
// past the end, whose cut-off tone had hidden the ripple's regularity
// behind one large spike.
func TestFeelSteadyToneHasNoPulse(t *testing.T) {
	for _, hz := range []float64{110, 220, 440, 1000} {
		x := sine(20, hz, 0.3)
		st, err := NewSTFT(2048, 512)
		if err != nil {
			t.Fatal(err)
		}
		od := NewOnsetDetector(2048, testRate)
		in := FeelInput{FrameRate: testRate / 512}
		st.Walk(x, func(f *Frame) bool {
			rms, cen, flat := frameShape(f)
			in.RMS = append(in.RMS, float32(rms))
			in.Centroid = append(in.Centroid, float32(cen))
			in.Flatness = append(in.Flatness, float32(flat))
			var o float64
			if f.Index*512+2048 <= len(x) {
				o = od.Next(f)
			}
			in.Onset = append(in.Onset, float32(o))
			return true
		})
		if d := DescribeFeel(in).Danceability; d > 0.05 {
			t.Errorf("steady %g Hz sine: danceability %.3f", hz, d)
		}
	}
}
