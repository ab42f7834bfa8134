package dsp

import (
	"math"
	"sort"
)

// FeelInput holds what DescribeFeel needs: a song's per-frame features (one
// value per STFT frame, all slices the same length) and song-level hints.
type FeelInput struct {
	// FrameRate is frames per second (sample rate / hop).
	FrameRate Hz
	// RMS is each frame's linear full-scale RMS, Centroid its spectral
	// centroid in Hz, Flatness the spectral flatness of its power spectrum
	// (geometric / arithmetic mean, 0..1), Onset its onset strength.
	RMS, Centroid, Flatness, Onset []float32
	// BPM and PulseClarity (0..1) come from the tempo estimate when there
	// is one; zero means unknown. Danceability measures the pulse itself
	// and only leans on these.
	BPM          float64
	PulseClarity float64
	// Minor and KeyConfidence come from the key estimate.
	Minor         bool
	KeyConfidence float64
}

// Feel holds a song's perceptual descriptors. Each is a documented function
// of measured signal properties, not a trained model: they order songs
// sensibly (noise is more energetic than a quiet sine, a steady kick more
// danceable than a drone), and a calibration layer can map them onto a
// reference scale.
type Feel struct {
	// Energy (0..1) is perceived intensity: 0.55·L + 0.25·B + 0.2·N, where
	// L maps the RMS level of the non-silent frames from −45 dBFS (0) to
	// −5 dBFS (1), B is the brightness (the spectral centroid from 250 Hz,
	// 0, to 4 kHz, 1, on a log scale) and N the noisiness (mean spectral
	// flatness from −30 dB, 0, to 0 dB, 1).
	Energy float64
	// Danceability (0..1) is the strength of a regular pulse at a danceable
	// tempo: the largest normalised autocorrelation of the onset strength
	// (with its 2-second moving average removed) at beat periods of
	// 0.25–1.5 s (40–240 BPM), each weighted by 0.5 + 0.5·G, where G is a
	// Gaussian in log tempo centred on 120 BPM with a standard deviation of
	// one octave. When the tempo estimate gives a pulse clarity, it takes a
	// quarter of the weight. Onset strength with fewer onsets than a tempo
	// needs (see EstimateTempo) has no pulse: a steady tone's is only the
	// window's ripple, periodic and so perfectly "regular".
	Danceability float64
	// Acousticness (0..1) is how much the sound resembles acoustic
	// instruments: 0.45·T + 0.25·W + 0.3·D, where T is the tonality (mean
	// spectral flatness from 0 dB, 0, to −25 dB, 1), W the warmth (spectral
	// centroid from 4 kHz, 0, down to 400 Hz, 1, on a log scale) and D the
	// dynamics (DynamicRange from 0, 0, to 24 dB, 1): acoustic sounds are
	// harmonic, not very bright, and decay instead of holding a
	// compressed level.
	Acousticness float64
	// Valence (0..1) is musical positiveness: 0.4·M + 0.2·P + 0.2·B +
	// 0.2·Energy, where M is 0.5 ± 0.5·key confidence (+ for major, − for
	// minor), P the tempo from 60 BPM (0) to 160 BPM (1) (BPM when given,
	// else the pulse period measured for danceability, else 0.5), and B the
	// brightness as in Energy.
	Valence float64
	// SpectralCentroid is the energy-weighted mean spectral centroid of the
	// non-silent frames, in Hz.
	SpectralCentroid float64
	// DynamicRange is the spread of loudness over the song: the ratio of
	// the 95th to the 10th percentile of the non-silent frames' RMS, in dB.
	DynamicRange float64
	// SilenceRatio (0..1) is the fraction of frames whose RMS is below
	// −60 dBFS.
	SilenceRatio float64
}

// Thresholds of the feel definitions (see Feel's field comments).
const (
	silenceRMS          = 0.001 // −60 dBFS
	energyLevelLowDB    = -45.0
	energyLevelHighDB   = -5.0
	brightLowHz         = 250.0
	brightHighHz        = 4000.0
	noiseLowDB          = -30.0
	tonalFullDB         = -25.0
	warmHighHz          = 4000.0
	warmLowHz           = 400.0
	dynamicFullDB       = 24.0
	pulseMinSeconds     = 0.25
	pulseMaxSeconds     = 1.5
	pulseDetrendSeconds = 2.0
	danceCentreBPM      = 120.0
	valenceSlowBPM      = 60.0
	valenceFastBPM      = 160.0
)

// DescribeFeel computes the feel descriptors. Non-finite feature values
// are ignored (a frame whose RMS is not finite counts as silent); empty or
// silent input gives finite values (silence ratio 1 for all-silent input,
// 0 for no frames at all).
func DescribeFeel(in FeelInput) Feel {
	var f Feel
	n := len(in.RMS)
	if n == 0 {
		return f
	}
	// Level, centroid and flatness over the non-silent frames.
	var silent int
	var power, centroidW, flatSum float64
	var flatN int
	active := make([]float64, 0, n)
	for i, r := range in.RMS {
		rms := float64(r)
		if !isFinite(rms) || rms < silenceRMS {
			silent++
			continue
		}
		active = append(active, rms)
		p := rms * rms
		power += p
		if i < len(in.Centroid) && isFinite(float64(in.Centroid[i])) && in.Centroid[i] >= 0 {
			centroidW += p * float64(in.Centroid[i])
		}
		if i < len(in.Flatness) && isFinite(float64(in.Flatness[i])) && in.Flatness[i] >= 0 {
			flatSum += float64(in.Flatness[i])
			flatN++
		}
	}
	f.SilenceRatio = float64(silent) / float64(n)
	// Danceability is the pulse alone, measured before the level is
	// looked at: a song whose every frame is below the silence threshold
	// may still have onsets (the FFT stage lifts a quiet song's spectra
	// before measuring them) and a tempo, and a master turned down 40 dB
	// lost its danceability of 0.6 to 0 while keeping its tempo. Silence
	// and dither carry no onsets, so they still have none.
	pulse, period := pulseRegularity(in.Onset, float64(in.FrameRate))
	f.Danceability = pulse
	if in.PulseClarity > 0 && isFinite(in.PulseClarity) {
		f.Danceability = 0.75*pulse + 0.25*clampUnit(in.PulseClarity)
	}
	f.Danceability = clampUnit(f.Danceability)
	if len(active) == 0 || !isFinite(power) {
		return f
	}
	f.SpectralCentroid = finiteOrZero(centroidW / power)
	sort.Float64s(active)
	lo, hi := active[int(0.10*float64(len(active)-1))], active[int(math.Round(0.95*float64(len(active)-1)))]
	f.DynamicRange = finiteOrZero(20 * math.Log10(hi/lo))

	levelDB := 10 * math.Log10(power/float64(len(active)))
	flatDB := noiseLowDB
	if flatN > 0 && flatSum > 0 {
		flatDB = 10 * math.Log10(flatSum/float64(flatN))
	}
	level := unitRamp(levelDB, energyLevelLowDB, energyLevelHighDB)
	bright := unitLogRamp(f.SpectralCentroid, brightLowHz, brightHighHz)
	noisy := unitRamp(flatDB, noiseLowDB, 0)
	f.Energy = clampUnit(0.55*level + 0.25*bright + 0.2*noisy)

	tonal := unitRamp(-flatDB, 0, -tonalFullDB)
	warm := 1 - unitLogRamp(f.SpectralCentroid, warmLowHz, warmHighHz)
	dyn := unitRamp(f.DynamicRange, 0, dynamicFullDB)
	f.Acousticness = clampUnit(0.45*tonal + 0.25*warm + 0.3*dyn)

	mode := 0.5 + 0.5*clampUnit(in.KeyConfidence)
	if in.Minor {
		mode = 0.5 - 0.5*clampUnit(in.KeyConfidence)
	}
	tempo := 0.5
	switch {
	case in.BPM > 0 && isFinite(in.BPM):
		tempo = unitRamp(in.BPM, valenceSlowBPM, valenceFastBPM)
	case period > 0:
		tempo = unitRamp(60/period, valenceSlowBPM, valenceFastBPM)
	}
	f.Valence = clampUnit(0.4*mode + 0.2*tempo + 0.2*bright + 0.2*f.Energy)
	return f
}

// pulseRegularity returns the danceability pulse score (0..1) of an onset
// strength signal at frameRate frames per second, and the beat period in
// seconds where it peaks (0 when there is no pulse to speak of). It is the
// normalised autocorrelation of the detrended onset signal, weighted
// towards danceable tempi, at its best beat period (the periodicity
// measure behind Ellis 2007, "Beat tracking by dynamic programming", §3.1).
// The autocorrelation is blind to scale, so a signal without minOnsets
// onsets, the least a tempo needs, has no pulse.
func pulseRegularity(onset []float32, frameRate float64) (score, period float64) {
	n := len(onset)
	if !hasOnsets([][]float32{onset}, nil) {
		return 0, 0
	}
	// The longest lag is checked against the signal as a float: at an
	// absurd frame rate it would overflow int, where Go leaves the
	// conversion's result to the platform.
	longest := math.Floor(pulseMaxSeconds * frameRate)
	if !(frameRate > 0) || !(2*longest <= float64(n)) {
		return 0, 0
	}
	minLag := max(1, int(math.Ceil(pulseMinSeconds*frameRate)))
	maxLag := int(longest)
	if maxLag < minLag {
		return 0, 0
	}
	// Detrend with a centred moving average, via a prefix sum.
	prefix := make([]float64, n+1)
	for i, v := range onset {
		x := float64(v)
		if !isFinite(x) {
			x = 0
		}
		prefix[i+1] = prefix[i] + x
	}
	half := int(pulseDetrendSeconds * frameRate / 2)
	d := make([]float64, n)
	var energy float64
	for i, v := range onset {
		x := float64(v)
		if !isFinite(x) {
			x = 0
		}
		a, b := max(0, i-half), min(n, i+half+1)
		d[i] = x - (prefix[b]-prefix[a])/float64(b-a)
		energy += d[i] * d[i]
	}
	if !(energy > 0) || !isFinite(energy) {
		return 0, 0
	}
	for lag := minLag; lag <= maxLag; lag++ {
		var s float64
		for i := 0; i+lag < n; i++ {
			s += d[i] * d[i+lag]
		}
		// Unbiased: compensate for the shrinking overlap.
		r := s / energy * float64(n) / float64(n-lag)
		bpm := 60 * frameRate / float64(lag)
		z := math.Log2(bpm / danceCentreBPM)
		w := 0.5 + 0.5*math.Exp(-0.5*z*z)
		if v := r * w; v > score {
			score, period = v, float64(lag)/frameRate
		}
	}
	return clampUnit(score), period
}

// unitRamp maps x linearly from [lo, hi] onto [0, 1], clamped.
func unitRamp(x, lo, hi float64) float64 { return clampUnit((x - lo) / (hi - lo)) }

// unitLogRamp is unitRamp on a log-frequency scale; non-positive x gives 0.
func unitLogRamp(x, lo, hi float64) float64 {
	if !(x > 0) {
		return 0
	}
	return clampUnit(math.Log(x/lo) / math.Log(hi/lo))
}

// finiteOrZero turns a non-finite value into 0.
func finiteOrZero(x float64) float64 {
	if !isFinite(x) {
		return 0
	}
	return x
}
