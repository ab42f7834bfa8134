package dsp

import (
	"math"
	"strconv"
	"testing"
)

// edgeSignals are the inputs no song-level result may turn into NaN or
// ±Inf: nothing, silence, DC, a lone impulse, full-scale square waves
// (one at the Nyquist frequency), noise at and beyond full scale, and
// stretches of music-like sound damaged by NaN or infinite samples, which
// a float WAV file can hold.
func edgeSignals(rate Hz) map[string][]float32 {
	n := int(3 * rate)
	fill := func(f func(i int) float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = f(i)
		}
		return x
	}
	square := func(hz float64) []float32 {
		half := max(1, int(float64(rate)/hz/2))
		return fill(func(i int) float32 {
			if i/half%2 == 0 {
				return 1
			}
			return -1
		})
	}
	damaged := func(v float32, every int) []float32 {
		x := musicLike(n, rate, 5)
		for i := every / 2; i < len(x); i += every {
			x[i] = v
		}
		return x
	}
	impulse := make([]float32, n)
	impulse[n/2] = 1
	return map[string][]float32{
		"empty":            nil,
		"one sample":       {0.5},
		"100 samples":      toneAt(440, rate, 100, 0.5, 0),
		"silence":          make([]float32, n),
		"DC +1":            fill(func(int) float32 { return 1 }),
		"DC −1e-3":         fill(func(int) float32 { return -1e-3 }),
		"impulse":          impulse,
		"square 1 kHz":     square(1000),
		"square 55 Hz":     square(55),
		"square Nyquist":   square(float64(rate) / 2),
		"noise":            benchSong(n),
		"float32 extremes": fill(func(i int) float32 { return float32(1-2*(i%3%2)) * math.MaxFloat32 }),
		"subnormal":        fill(func(i int) float32 { return float32(i%2) * 1e-45 }),
		"one NaN":          damaged(float32(math.NaN()), n),
		"NaN every 0.1 s":  damaged(float32(math.NaN()), int(rate/10)),
		"one +Inf":         damaged(float32(math.Inf(1)), n),
		"one −Inf":         damaged(float32(math.Inf(-1)), n),
		"Inf every 0.5 s":  damaged(float32(math.Inf(1)), int(rate/2)),
		"all NaN":          fill(func(int) float32 { return float32(math.NaN()) }),
	}
}

// songFeatures runs x (mono, at rate) through the analysis the pipeline
// makes: the mixdown resampled to 22050 Hz, 2048/512 frames, their RMS,
// centroid, flatness, onset strength (kept where the frame is above
// −80 dBFS, as the fft stage does) and chroma, in 20 s chunks.
func songFeatures(t *testing.T, x []float32, rate Hz) (onsets [][]float32, chroma []float32, feel FeelInput) {
	t.Helper()
	r, err := NewResampler(rate, testRate)
	if err != nil {
		t.Fatal(err)
	}
	y := r.ResampleMixInto(nil, [][]float32{x, x})
	st, err := NewSTFT(2048, 512)
	if err != nil {
		t.Fatal(err)
	}
	od := NewOnsetDetector(2048, testRate)
	cf := NewChromaFilter(2048, testRate)
	buf := make([]float32, cf.Bins())
	feel.FrameRate = testRate / 512
	chunk := 20 * testRate
	for start := 0; start < len(y) || start == 0; start += chunk {
		c := y[start:min(start+chunk, len(y))]
		od.Reset()
		var o []float32
		st.Walk(c, func(f *Frame) bool {
			rms, cen, flat := frameShape(f)
			feel.RMS = append(feel.RMS, float32(rms))
			feel.Centroid = append(feel.Centroid, float32(cen))
			feel.Flatness = append(feel.Flatness, float32(flat))
			onset := float32(od.Next(f))
			if !(rms >= 1e-4) {
				onset = 0
			}
			o = append(o, onset)
			feel.Onset = append(feel.Onset, onset)
			cf.Apply(f.Mag, buf)
			chroma = append(chroma, buf...)
			return true
		})
		onsets = append(onsets, o)
		if len(y) == 0 {
			break
		}
	}
	return onsets, chroma, feel
}

func checkFinite(t *testing.T, name string, vals ...float64) {
	t.Helper()
	for i, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Errorf("%s: value %d is %v (all: %v)", name, i, v, vals)
			return
		}
	}
}

func checkUnit(t *testing.T, name string, vals ...float64) {
	t.Helper()
	for i, v := range vals {
		if !(v >= 0 && v <= 1) {
			t.Errorf("%s: value %d is %v, outside 0..1", name, i, v)
		}
	}
}

// TestSongResultsFinite runs every exported function that returns a
// song-level number over the edge signals, at a source rate with an exact
// 2:1 path and at one with an interpolated one, and requires finite
// results in their documented ranges.
func TestSongResultsFinite(t *testing.T) {
	for _, rate := range []Hz{44100, 37800.5} {
		for name, x := range edgeSignals(rate) {
			name := name + " at " + ftoa(float64(rate))
			l := MeasureLoudness([][]float32{x, x}, rate, 0)
			checkFinite(t, name+": loudness", l.Integrated, l.Range, l.TruePeak)
			if l.Integrated < SilentLUFS || l.Range < 0 || l.TruePeak < SilentDBTP || l.TruePeak > MaxDBTP {
				t.Errorf("%s: loudness %+v outside its documented range", name, l)
			}

			onsets, chroma, feelIn := songFeatures(t, x, rate)
			te := EstimateTempo(onsets, feelIn.FrameRate)
			checkFinite(t, name+": tempo", te.BPM, te.Confidence)
			checkUnit(t, name+": tempo confidence", te.Confidence)
			if te.BPM != 0 && (te.BPM < MinBPM || te.BPM > MaxBPM) {
				t.Errorf("%s: tempo %g BPM outside %g–%g", name, te.BPM, MinBPM, MaxBPM)
			}
			for _, c := range te.Candidates {
				checkFinite(t, name+": tempo candidate", c.BPM, c.Score)
			}

			for _, p := range KeyProfiles() {
				k := EstimateKey(chroma, 36, p)
				checkFinite(t, name+": key", append(k.Scores[:], k.Confidence, k.TuningCents)...)
				checkUnit(t, name+": key confidence", k.Confidence)
			}

			feelIn.BPM, feelIn.PulseClarity = te.BPM, te.Confidence
			f := DescribeFeel(feelIn)
			checkFinite(t, name+": feel", f.Energy, f.Danceability, f.Acousticness, f.Valence, f.SpectralCentroid, f.DynamicRange, f.SilenceRatio)
			checkUnit(t, name+": feel", f.Energy, f.Danceability, f.Acousticness, f.Valence, f.SilenceRatio)
		}
	}
}

// The estimators take their inputs from other stages, and may be handed
// damaged ones directly: non-finite onset strengths or level evidence
// must give finite results, and one damaged frame must not cost the tempo.
func TestEstimatorsFiniteOnDamagedInput(t *testing.T) {
	onsets, frameRate := tempoOnsets(clickTrack(120, 40))
	clean := EstimateTempo(onsets, frameRate)
	for name, v := range map[string]float32{"NaN": float32(math.NaN()), "+Inf": float32(math.Inf(1)), "−Inf": float32(math.Inf(-1)), "max": math.MaxFloat32} {
		damaged := make([][]float32, len(onsets))
		for i, o := range onsets {
			damaged[i] = append([]float32(nil), o...)
			damaged[i][len(o)/3] = v
		}
		est := EstimateTempo(damaged, frameRate)
		checkFinite(t, "tempo with a "+name+" onset", est.BPM, est.Confidence)
		// One damaged frame in a chunk is no reason to lose the tempo
		// that the rest of the chunk holds. (A finite value, however
		// large, is measured as it is.)
		if name != "max" && math.Abs(est.BPM-clean.BPM) > 0.5 {
			t.Errorf("one %s onset per chunk: %.1f BPM, %.1f without", name, est.BPM, clean.BPM)
		}
	}
	nan, inf := math.NaN(), math.Inf(1)
	for name, levels := range map[string][]MetricalLevel{
		"NaN strength": {{BPM: 60, Strength: nan, Salience: 1}, {BPM: 120, Strength: 3, Salience: 1}},
		"Inf strength": {{BPM: 60, Strength: inf, Salience: 1}, {BPM: 120, Strength: 3, Salience: 1}},
		"NaN salience": {{BPM: 60, Strength: 3, Salience: nan}, {BPM: 120, Strength: 3, Salience: 1}},
		"Inf salience": {{BPM: 60, Strength: 3, Salience: inf}, {BPM: 120, Strength: 3, Salience: 1}},
		"NaN tempo":    {{BPM: nan, Strength: 3, Salience: 1}, {BPM: 120, Strength: 3, Salience: 1}},
		"Inf tempo":    {{BPM: inf, Strength: 3, Salience: 1}, {BPM: 120, Strength: 3, Salience: 1}},
	} {
		best, post := DecideOctave(levels)
		checkFinite(t, "DecideOctave with "+name, post...)
		checkUnit(t, "DecideOctave with "+name, post...)
		if best < 0 || best >= len(levels) {
			t.Errorf("DecideOctave with %s: index %d", name, best)
		}
	}
}

// Rates that are finite but absurd (no decoder reports them, but the
// functions take any float) must give the documented empty results, not
// overflow int: Go leaves the value of such a conversion to the platform
// (amd64 and arm64 differ), and a lag table or a list of block bounds
// sized by it would exhaust memory or index out of range.
func TestAbsurdRates(t *testing.T) {
	x := musicLike(48000, 48000, 1)
	for _, rate := range []float64{1e12, 1e19, 1e300, math.MaxFloat64} {
		l := MeasureLoudness([][]float32{x, x}, Hz(rate), 0)
		if l.Integrated != SilentLUFS || l.Range != 0 {
			t.Errorf("loudness at %g Hz: %+v, want the silent sentinels", rate, l)
		}
	}
	onsets, _ := tempoOnsets(clickTrack(120, 40))
	for _, rate := range []float64{1e-300, 1e-9, 0.5, 1e6, 1e9, 1e300, math.MaxFloat64} {
		est := EstimateTempo(onsets, Hz(rate))
		checkFinite(t, "tempo at frame rate "+ftoa(rate), est.BPM, est.Confidence)
		in := FeelInput{FrameRate: Hz(rate), RMS: onsets[0], Centroid: onsets[0], Flatness: onsets[0], Onset: onsets[0]}
		f := DescribeFeel(in)
		checkFinite(t, "feel at frame rate "+ftoa(rate), f.Energy, f.Danceability, f.Acousticness, f.Valence)
	}
}

// The frame primitives give finite values for any finite input, however
// loud, and recover after a damaged frame: one NaN or infinite sample may
// spoil the frames that hold it, not the ones after.
func TestFramePrimitivesRecover(t *testing.T) {
	st, _ := NewSTFT(2048, 512)
	od := NewOnsetDetector(2048, testRate)
	cf := NewChromaFilter(2048, testRate)
	buf := make([]float32, cf.Bins())
	for name, v := range map[string]float32{"NaN": float32(math.NaN()), "+Inf": float32(math.Inf(1)), "−Inf": float32(math.Inf(-1))} {
		x := sine(3, 440, 0.5)
		at := len(x) / 2
		x[at] = v
		od.Reset()
		st.Walk(x, func(f *Frame) bool {
			o := od.Next(f)
			cf.Apply(f.Mag, buf)
			spoilt := f.Index*512 <= at && at < f.Index*512+2048
			if spoilt {
				// The damaged frame itself is no onset either.
				if !(o >= 0) || math.IsInf(o, 0) {
					t.Errorf("%s: frame %d holding it has onset %v", name, f.Index, o)
				}
				return true
			}
			checkFinite(t, name+": onset after the damage", o)
			checkFinite(t, name+": energy", f.Energy())
			for _, c := range buf {
				checkFinite(t, name+": chroma", float64(c))
			}
			return true
		})
	}
	loud := make([]float32, 4096)
	for i := range loud {
		loud[i] = float32(1-2*(i%2)) * math.MaxFloat32
	}
	fr := st.Transform(loud)
	checkFinite(t, "full-scale float32 frame", fr.Energy())
	checkFinite(t, "full-scale float32 frame", fr.Power...)
	od.Reset()
	od.Next(fr)
	checkFinite(t, "onset of a full-scale float32 frame", od.Next(st.Transform(make([]float32, 2048))))
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
