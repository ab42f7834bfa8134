package stages

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/dsp"
)

const fftTestRate = 22050.0

func fftTestChunk(x []float32) *Chunk {
	return &Chunk{Info: &SongInfo{Name: "test.wav"}, Rate: fftTestRate, Index: 0, Count: 1, Samples: x}
}

func fftTestSine(n int, freq, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/fftTestRate))
	}
	return x
}

func fftTestNoise(n int, amp float64) []float32 {
	x := make([]float32, n)
	seed := uint32(5)
	for i := range x {
		seed = seed*1664525 + 1013904223
		x[i] = float32(amp * (float64(seed>>8)/float64(1<<23) - 1))
	}
	return x
}

func runFFT(t *testing.T, x []float32) *Frames {
	t.Helper()
	f, err := FFT(FFTOptions{Size: 2048, Hop: 512})()(context.Background(), fftTestChunk(x))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFFTStageSine(t *testing.T) {
	n := int(2 * fftTestRate)
	f := runFFT(t, fftTestSine(n, 440, 0.5))
	want := (n + 511) / 512
	if len(f.Onset) != want || len(f.RMS) != want {
		t.Fatalf("%d onset, %d RMS values; want %d frames", len(f.Onset), len(f.RMS), want)
	}
	if s := f.ChromaStride; s < 1 || len(f.Chroma) != (want+s-1)/s*f.ChromaBins {
		t.Fatalf("%d chroma values every %d frames; want %d frames' worth", len(f.Chroma), s, want)
	}
	if got := float64(f.FrameRate); math.Abs(got-fftTestRate/512) > 1e-9 {
		t.Errorf("frame rate %g", got)
	}
	i := 10 // a frame well inside the signal
	if got, want := float64(f.RMS[i]), 0.5/math.Sqrt2; math.Abs(got-want) > 0.005 {
		t.Errorf("RMS %.4f, want %.4f", got, want)
	}
	// The Hann window's main lobe is symmetric about 440 Hz in
	// frequency, so the centroid sits on the tone.
	if got := float64(f.Centroid[i]); math.Abs(got-440) > 15 {
		t.Errorf("centroid %.1f Hz, want 440", got)
	}
	if got := f.Flatness[i]; got > 0.01 {
		t.Errorf("flatness of a sine %.4f, want near 0", got)
	}
	// A steady tone has no onsets after the first frames.
	for j := 5; j < len(f.Onset)-5; j++ {
		if f.Onset[j] > 0.5 {
			t.Errorf("onset %.3f at frame %d of a steady tone", f.Onset[j], j)
			break
		}
	}
	// A4 is pitch class 9: with three bins per semitone its chroma peak
	// is bin 27 when bin 0 is C.
	j := i / f.ChromaStride
	frame := f.Chroma[j*f.ChromaBins : (j+1)*f.ChromaBins]
	best := 0
	for b, v := range frame {
		if v > frame[best] {
			best = b
		}
	}
	if per := f.ChromaBins / 12; best/per != 9 {
		t.Errorf("chroma peak in bin %d of %d, want pitch class A", best, f.ChromaBins)
	}
}

// TestFFTStageChromaFrames checks that chroma frame j is the chroma of STFT
// frame j·ChromaStride, including a last frame that is not a multiple of
// the stride from the chunk's end.
func TestFFTStageChromaFrames(t *testing.T) {
	x := fftTestNoise(int(3*fftTestRate)+777, 0.1)
	tone := fftTestSine(len(x), 330, 0.4)
	for i := range x {
		x[i] += tone[i]
	}
	f := runFFT(t, x)
	st, err := dsp.NewSTFT(2048, 512)
	if err != nil {
		t.Fatal(err)
	}
	cf := dsp.NewChromaFilter(2048, fftTestRate)
	want := make([]float32, cf.Bins())
	got := 0
	st.Walk(x, func(fr *dsp.Frame) bool {
		if fr.Index%f.ChromaStride != 0 {
			return true
		}
		cf.Apply(fr.Mag, want)
		j := fr.Index / f.ChromaStride
		for b, v := range f.Chroma[j*f.ChromaBins : (j+1)*f.ChromaBins] {
			if v != want[b] {
				t.Fatalf("chroma frame %d bin %d: %g, want %g (STFT frame %d)", j, b, v, want[b], fr.Index)
			}
		}
		got++
		return true
	})
	if got*f.ChromaBins != len(f.Chroma) {
		t.Errorf("%d chroma frames checked, stage has %d", got, len(f.Chroma)/f.ChromaBins)
	}
}

func TestFFTStageNoiseIsFlatAndBright(t *testing.T) {
	f := runFFT(t, fftTestNoise(int(fftTestRate), 0.3))
	i := 10
	if got := f.Flatness[i]; got < 0.4 {
		t.Errorf("flatness of white noise %.3f, want ≥ 0.4 (0.56 expected for a Rayleigh-distributed spectrum)", got)
	}
	// White noise has its centroid half-way up the band the shape reads,
	// 0 to dsp.ResamplePassEdge of the Nyquist frequency.
	if want := dsp.ResamplePassEdge * fftTestRate / 4; math.Abs(float64(f.Centroid[i])-want) > 250 {
		t.Errorf("centroid of white noise %.0f Hz, want ≈ %.0f", f.Centroid[i], want)
	}
}

func TestFFTStageOnsetAtClicks(t *testing.T) {
	x := make([]float32, int(4*fftTestRate))
	noise := fftTestNoise(300, 0.5)
	clicks := []int{5000, 30000, 55000, 80000}
	for _, c := range clicks {
		for j, v := range noise {
			x[c+j] += v * float32(math.Exp(-float64(j)/50))
		}
	}
	f := runFFT(t, x)
	var top float32
	for _, v := range f.Onset {
		top = max(top, v)
	}
	for _, c := range clicks {
		// The click enters the frames that start up to 2048 samples
		// before it.
		lo, hi := max(0, (c-2048)/512), c/512+1
		var peak float32
		for i := lo; i <= hi; i++ {
			peak = max(peak, f.Onset[i])
		}
		if peak < 0.5*top {
			t.Errorf("click at sample %d: onset peak %.2f of %.2f", c, peak, top)
		}
	}
}

func TestFFTStageCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := FFT(FFTOptions{Size: 2048, Hop: 512})()(ctx, fftTestChunk(make([]float32, 10000)))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestFFTStageBadOptions(t *testing.T) {
	_, err := FFT(FFTOptions{Size: 1000, Hop: 0})()(context.Background(), fftTestChunk(make([]float32, 100)))
	if err == nil {
		t.Error("hop 0 accepted")
	}
	c := fftTestChunk(make([]float32, 100))
	c.Rate = 0
	if _, err := FFT(FFTOptions{Size: 2048, Hop: 512})()(context.Background(), c); err == nil {
		t.Error("rate 0 accepted")
	}
}

// BenchmarkFFTStage runs the stage on 3 minutes of a 22050 Hz mixture (the
// analysis rate; the stage never sees the source rate) in 20 s chunks.
func BenchmarkFFTStage(b *testing.B) {
	const seconds = 180
	x := fftTestNoise(seconds*fftTestRate, 0.05)
	tone := fftTestSine(len(x), 220, 0.3)
	for i := range x {
		x[i] += tone[i]
	}
	stage := FFT(FFTOptions{Size: 2048, Hop: 512})()
	chunk := int(20 * fftTestRate)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPUSeconds()
	for i := 0; i < b.N; i++ {
		for s := 0; s < len(x); s += chunk {
			c := fftTestChunk(x[s:min(s+chunk, len(x))])
			if _, err := stage(context.Background(), c); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRealtime(b, seconds, processCPUSeconds()-cpu)
}

// reportRealtime reports audio seconds processed per second of wall time
// and, where the platform tells, per second of the process's CPU time: the
// one-core speed on a machine whose other users steal wall time.
func reportRealtime(b *testing.B, audioSeconds, cpuSeconds float64) {
	b.ReportMetric(audioSeconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
	if cpuSeconds > 0 {
		b.ReportMetric(audioSeconds*float64(b.N)/cpuSeconds, "x-realtime-cpu")
	}
}

// TestSpectralShapeDirect checks the blocked centroid and flatness against
// their definitions summed bin by bin with one logarithm per bin, on
// spectra from a few dB to far below the flatness floor, of odd and even
// lengths.
func TestSpectralShapeDirect(t *testing.T) {
	seed := uint32(11)
	rnd := func() float64 {
		seed = seed*1664525 + 1013904223
		return float64(seed>>8) / float64(1<<24)
	}
	for _, n := range []int{2, 3, 17, 33, 1025} {
		for _, scale := range []float64{1, 1e-3, 1e-7} {
			mag, hz := make([]float64, n), make([]float64, n)
			for k := range mag {
				mag[k] = scale * rnd() * rnd()
				hz[k] = float64(k) * 10.77
			}
			var sm, sf, sp, sl float64
			for k := shapeFromBin; k < n; k++ {
				p := math.Max(mag[k]*mag[k], flatnessFloor)
				sm += mag[k]
				sf += mag[k] * hz[k]
				sp += p
				sl += math.Log(p)
			}
			m := float64(n - shapeFromBin)
			var wantC, wantF float64
			if m > 0 {
				wantC, wantF = sf/sm, math.Exp(sl/m)/(sp/m)
			}
			pow := make([]float64, n)
			for k, m := range mag {
				pow[k] = m * m
			}
			c, f := spectralShape(mag, pow, hz)
			if math.Abs(float64(c)-wantC) > 1e-5*wantC || math.Abs(float64(f)-wantF) > 1e-5*wantF {
				t.Errorf("%d bins at %g: centroid %g flatness %g, want %g and %g", n, scale, c, f, wantC, wantF)
			}
		}
	}
	if c, f := spectralShape(make([]float64, 1025), make([]float64, 1025), make([]float64, 1025)); c != 0 || f != 1 {
		t.Errorf("silence: centroid %g flatness %g, want 0 and 1 (every bin at the floor)", c, f)
	}
}

// TestFFTStageRMS checks the per-frame RMS against the frames' own
// samples, for hops that tile a frame and hops that do not, on a length
// that leaves a zero-padded last frame, and on a loud passage followed by
// digital silence, whose frames must measure exactly 0.
func TestFFTStageRMS(t *testing.T) {
	x := fftTestNoise(int(2*fftTestRate)+333, 0.3)
	clear(x[len(x)/2:])
	for _, opts := range []FFTOptions{{Size: 2048, Hop: 512}, {Size: 2048, Hop: 500}, {Size: 1024, Hop: 1024}} {
		f, err := FFT(opts)()(context.Background(), fftTestChunk(x))
		if err != nil {
			t.Fatal(err)
		}
		st, err := dsp.NewSTFT(opts.Size, opts.Hop)
		if err != nil {
			t.Fatal(err)
		}
		st.Walk(x, func(fr *dsp.Frame) bool {
			want := refRMS(x, fr.Index*opts.Hop, opts.Size)
			if got := float64(f.RMS[fr.Index]); math.Abs(got-want) > 1e-6*want+1e-9 {
				t.Fatalf("%+v frame %d: RMS %g, want %g", opts, fr.Index, got, want)
			}
			return true
		})
	}
}

// refRMS is the RMS the fft stage gives the size-sample frame of x that
// starts at start, summed directly: of the frame's own samples (none of the
// zero padding past the end of x) less the mean of the size samples of x
// that end where the frame's own samples end, over size.
func refRMS(x []float32, start, size int) float64 {
	hi := min(len(x), start+size)
	from := max(0, hi-size)
	var mean, dev float64
	for _, v := range x[from:hi] {
		mean += float64(v) / float64(hi-from)
	}
	for _, v := range x[start:hi] {
		dev += (float64(v) - mean) * (float64(v) - mean)
	}
	return math.Sqrt(dev / float64(size))
}

// A DC offset is inaudible: noise with one measures the RMS of the noise
// alone, and digital silence with one stays silent (RMS 0, below the
// noise floor, no onset), where the plain RMS would read the offset,
// −40 dBFS here.
func TestFFTStageRMSIgnoresDC(t *testing.T) {
	x := fftTestNoise(int(2*fftTestRate), 0.3)
	clear(x[len(x)/2:])
	plain := runFFT(t, x)
	for i := range x {
		x[i] += 0.01
	}
	offset := runFFT(t, x)
	const size, hop = 2048, 512
	for i, got := range offset.RMS {
		want := plain.RMS[i]
		if math.Abs(float64(got-want)) > 1e-5*float64(want)+1e-6 {
			t.Fatalf("frame %d: RMS %g with the offset, %g without", i, got, want)
		}
		if i*hop >= len(x)/2 && (got > noiseFloorRMS || offset.Onset[i] != 0) {
			t.Fatalf("silent frame %d with an offset: RMS %g, onset %g", i, got, offset.Onset[i])
		}
	}
}

// A frame that runs past the chunk's end holds the signal cut off by the
// zero padding; the cut is no onset. A steady tone scored a spike of 40–70
// there, more than a drum hit, in the last frames of every chunk.
func TestFFTStageNoOnsetAtChunkEnd(t *testing.T) {
	for _, hz := range []float64{110, 220, 1000} {
		f := runFFT(t, fftTestSine(3*fftTestRate, hz, 0.3))
		for i := 5; i < len(f.Onset); i++ {
			if f.Onset[i] >= 1 {
				t.Errorf("%g Hz tone: onset %.2f at frame %d of %d", hz, f.Onset[i], i, len(f.Onset))
			}
		}
	}
}

// The last frame of a chunk may hold a single sample. Taken about its own
// mean, it measured 0, so a full-scale square wave ended on a silent frame
// without onset or chroma; about the mean of the last frame-long stretch it
// measures the sample.
func TestFFTStageRMSOfShortLastFrame(t *testing.T) {
	const size, hop = 2048, 512
	for _, n := range []int{20*hop + 1, 20*hop + 3, 3*hop + 1} {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
			if (i/25)%2 == 1 {
				x[i] = -1
			}
		}
		f := runFFT(t, x)
		last := len(f.RMS) - 1
		want := refRMS(x, last*hop, size)
		if got := float64(f.RMS[last]); !(got >= silenceTestRMS) || math.Abs(got-want) > 1e-6*want {
			t.Errorf("%d samples: last frame (%d samples) RMS %g, want %g", n, n-last*hop, got, want)
		}
	}
	// A DC offset stays out of a short last frame too.
	x := make([]float32, 20*hop+1)
	for i := range x {
		x[i] = 0.01
	}
	if f := runFFT(t, x); f.RMS[len(f.RMS)-1] > noiseFloorRMS {
		t.Errorf("offset silence: last frame RMS %g", f.RMS[len(f.RMS)-1])
	}
}

// silenceTestRMS is the feel descriptors' silence threshold, −60 dBFS.
const silenceTestRMS = 1e-3

// A NaN, infinite or absurdly large sample (a float WAV file can hold
// any) must cost the RMS of the frames that hold it only, not of every
// frame after it in the chunk. A large finite one did: its square in a
// running sum of the chunk left every later frame's Σx² to the rounding
// of a difference of two numbers near 1e76, so 0, and 3/4 of a 2 s chunk
// of noise at −10 dBFS measured as silence.
func TestFFTStageRMSAfterNonFiniteSample(t *testing.T) {
	const size, hop = 2048, 512
	for _, bad := range []float64{math.NaN(), math.Inf(1), 3e38, 1e10} {
		x := fftTestNoise(int(2*fftTestRate), 0.3)
		at := 5000
		x[at] = float32(bad)
		f := runFFT(t, x)
		for i, got := range f.RMS {
			if i*hop <= at && at < i*hop+size {
				continue // holds the sample
			}
			if want := refRMS(x, i*hop, size); !(math.Abs(float64(got)-want) <= 1e-6*want) {
				t.Fatalf("%v at sample %d: frame %d RMS %g, want %g", bad, at, i, got, want)
			}
		}
	}
}

// BenchmarkAfterDecode runs everything that follows decoding on one core,
// one stage after another: a 3-minute 44.1 kHz stereo song resampled to
// 22050 Hz (with its loudness measured), cut into chunks, through the FFT
// stage and aggregated into a result, all with the default configuration.
func BenchmarkAfterDecode(b *testing.B) {
	const rate, seconds = 44100, 180
	n := rate * seconds
	l, r := make([]float32, n), make([]float32, n)
	seed := uint32(3)
	for i := range l {
		seed = seed*1664525 + 1013904223
		noise := 0.05 * (float64(seed>>8)/float64(1<<23) - 1)
		// A tone with a beat on every half second, over noise.
		env := math.Exp(-float64(i%(rate/2)) / (0.05 * rate))
		v := 0.3*math.Sin(2*math.Pi*220*float64(i)/rate) + noise*(0.3+env)
		l[i], r[i] = float32(v), float32(0.8*v)
	}
	song := &Song{
		Info:     &SongInfo{Name: "bench.wav", SampleRate: rate, Channels: 2, Duration: seconds},
		Channels: [][]float32{l, r},
	}
	after := newAfterDecode(config.Default().Analysis)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPUSeconds()
	for i := 0; i < b.N; i++ {
		after.run(b, song)
	}
	reportRealtime(b, seconds, processCPUSeconds()-cpu)
}

// A DC offset is inaudible, so it must not move the spectral shape either:
// the Hann window spreads it over bin 1 as well as bin 0, where it pulled
// the centroid of a song with a −10 dBFS offset (as some tracker modules
// carry) from 2314 Hz down to 1804 and its flatness down with it, so its
// energy fell by 0.1 and its acousticness rose by 0.2.
func TestFFTStageShapeIgnoresDC(t *testing.T) {
	for _, dc := range []float32{0.01, 0.3} {
		x := fftTestNoise(int(fftTestRate), 0.1)
		// A band-limited tone too, so the flatness is not pinned near 1.
		for i, v := range fftTestSine(len(x), 440, 0.3) {
			x[i] += v
		}
		plain := runFFT(t, x)
		for i := range x {
			x[i] += dc
		}
		offset := runFFT(t, x)
		for i := 4; i < 30; i++ {
			c0, c1 := float64(plain.Centroid[i]), float64(offset.Centroid[i])
			f0, f1 := float64(plain.Flatness[i]), float64(offset.Flatness[i])
			if math.Abs(c1-c0) > 0.01*c0 || math.Abs(f1-f0) > 0.01*f0 {
				t.Fatalf("offset %g, frame %d: centroid %.0f Hz, flatness %.4f; without it %.0f Hz, %.4f", dc, i, c1, f1, c0, f0)
			}
		}
	}
}

// The same music from a 44.1 kHz and a 48 kHz file has the same spectral
// shape: the half-band filter of 2:1 resampling folds the top octave back
// where the other path attenuates it, so the shape reads only the band
// below dsp.ResamplePassEdge, where both are flat. Read to the Nyquist
// frequency, these partials' centroids came out 5430 and 4203 Hz.
func TestSpectralShapeSameFromAnySourceRate(t *testing.T) {
	partials := []float64{440, 2000, 6000, 9500, 10500, 13000, 16000}
	shape := func(rate float64) (centroid, flatness float64) {
		x := make([]float32, int(3*rate))
		for i := range x {
			for _, f := range partials {
				x[i] += float32(0.1 * math.Sin(2*math.Pi*f*float64(i)/rate))
			}
		}
		song := &Song{Info: &SongInfo{Name: "partials", SampleRate: dsp.Hz(rate), Channels: 1}, Channels: [][]float32{x}}
		sig, err := Resample(fftTestRate)(context.Background(), song)
		if err != nil {
			t.Fatal(err)
		}
		f := runFFT(t, sig.Mono)
		frames := f.Centroid[4 : len(f.Centroid)-4] // away from the edges
		for i, c := range frames {
			centroid += float64(c) / float64(len(frames))
			flatness += float64(f.Flatness[4+i]) / float64(len(frames))
		}
		return centroid, flatness
	}
	c44, f44 := shape(44100)
	c48, f48 := shape(48000)
	if math.Abs(c44-c48) > 0.01*c48 || math.Abs(f44-f48) > 0.01 {
		t.Errorf("centroid %.0f Hz from 44.1 kHz, %.0f Hz from 48 kHz; flatness %.3f and %.3f", c44, c48, f44, f48)
	}
}
