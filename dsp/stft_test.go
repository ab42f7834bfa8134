package dsp

import (
	"math"
	"math/cmplx"
	"testing"

	"gonum.org/v1/gonum/dsp/fourier"
)

func testSine(n int, rate, freq, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/rate))
	}
	return x
}

func TestSTFTSineBinAndMagnitude(t *testing.T) {
	const rate, size = 22050.0, 2048
	s, err := NewSTFT(size, 512)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bin int
		amp float64
	}{{93, 0.5}, {10, 1}, {500, 0.01}} {
		freq := float64(tc.bin) * rate / size // centred on a bin
		f := s.Transform(testSine(size, rate, freq, tc.amp))
		best := 0
		for k, m := range f.Mag {
			if m > f.Mag[best] {
				best = k
			}
		}
		if best != tc.bin {
			t.Errorf("%.1f Hz: peak in bin %d, want %d", freq, best, tc.bin)
		}
		// Gonum's Hann is symmetric (N-1 in the cosine), so a bin-centred
		// sine is off by a hair from the periodic window's exact answer.
		if got := f.Mag[best]; math.Abs(got-tc.amp) > 0.002*tc.amp {
			t.Errorf("%.1f Hz: magnitude %.5f, want %.5f", freq, got, tc.amp)
		}
		if got, want := float64(s.BinFreq(best, rate)), freq; math.Abs(got-want) > 1e-9 {
			t.Errorf("BinFreq(%d) = %g, want %g", best, got, want)
		}
	}
}

func TestSTFTParseval(t *testing.T) {
	s, err := NewSTFT(1024, 256)
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic broadband signal: a few sines plus an LCG noise.
	x := make([]float32, 5000)
	seed := uint32(1)
	for i := range x {
		seed = seed*1664525 + 1013904223
		x[i] = float32(0.3*math.Sin(0.05*float64(i))+0.2*math.Sin(1.3*float64(i))) +
			float32(seed>>8)/float32(1<<24) - 0.5
	}
	frames := 0
	s.Walk(x, func(f *Frame) bool {
		var timeEnergy float64
		for i, v := range f.Samples {
			w := v * s.Window()[i]
			timeEnergy += w * w
		}
		if got := f.Energy(); math.Abs(got-timeEnergy) > 1e-9*timeEnergy {
			t.Fatalf("frame %d: spectrum energy %g, time energy %g", f.Index, got, timeEnergy)
		}
		frames++
		return true
	})
	if want := s.FrameCount(len(x)); frames != want || want != 20 {
		t.Errorf("walked %d frames, FrameCount %d, want 20", frames, want)
	}
}

func TestSTFTBadParameters(t *testing.T) {
	for _, p := range [][2]int{{0, 1}, {1023, 256}, {1024, 0}} {
		if _, err := NewSTFT(p[0], p[1]); err == nil {
			t.Errorf("NewSTFT(%d, %d) gave no error", p[0], p[1])
		}
	}
}

// clickTrain places a decaying noise burst every period samples from start.
func testClickTrain(n int, start, period float64, amp float32) []float32 {
	x := make([]float32, n)
	seed := uint32(7)
	for c := start; int(c) < n; c += period {
		for j := 0; j < 200 && int(c)+j < n; j++ {
			seed = seed*1664525 + 1013904223
			noise := float32(seed>>8)/float32(1<<23) - 1
			x[int(c)+j] += amp * noise * float32(math.Exp(-float64(j)/40))
		}
	}
	return x
}

func TestOnsetPeaksAtClicks(t *testing.T) {
	const rate, size, hop = 22050.0, 2048, 512
	period := 0.5 * rate // 120 BPM
	start := 3000.0
	x := testClickTrain(int(6*rate), start, period, 0.5)
	s, _ := NewSTFT(size, hop)
	d := NewOnsetDetector(size, rate)
	var onset []float64
	s.Walk(x, func(f *Frame) bool {
		onset = append(onset, d.Next(f))
		return true
	})
	// A click at sample c first enters the frame that starts at
	// c-size+1, so its rise is spread over the frames overlapping it: look
	// for the peak among them.
	top := testMaxOf(onset)
	near := make([]bool, len(onset))
	for c := start; c < float64(len(x)); c += period {
		w := int(c) / hop
		lo, hi := max(w-size/hop, 0), min(w+1, len(onset)-1)
		peak := 0.0
		for i := lo; i <= hi; i++ {
			peak = math.Max(peak, onset[i])
			near[i] = true
		}
		if peak < 0.5*top {
			t.Errorf("click at frame %d: onset peak %.3f, strongest %.3f", w, peak, top)
		}
	}
	// Between clicks the signal is silent or decaying: no onset there.
	for i, v := range onset {
		if !near[i] && v > 0.05*top {
			t.Errorf("onset %.3f at frame %d, away from every click", v, i)
		}
	}
}

func testMaxOf(x []float64) float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	return m
}

func BenchmarkSTFTOnset(b *testing.B) {
	const rate = 22050.0
	x := testSine(int(180*rate), rate, 440, 0.5)
	s, _ := NewSTFT(2048, 512)
	d := NewOnsetDetector(2048, rate)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Reset()
		s.Walk(x, func(f *Frame) bool { d.Next(f); return true })
	}
	b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// TestSTFTMatchesRealFFT checks the half-length complex path (radix-4 for
// 2048, radix-2 for 1024 and 32) and the general path (24) against gonum's
// real FFT of the same windowed frame, bin by bin.
func TestSTFTMatchesRealFFT(t *testing.T) {
	for _, size := range []int{2048, 1024, 32, 24} {
		s, err := NewSTFT(size, size/4)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, size)
		seed := uint32(3)
		for i := range x {
			seed = seed*1664525 + 1013904223
			x[i] = float32(0.4*math.Sin(0.21*float64(i))) + float32(seed>>8)/float32(1<<24) - 0.5
		}
		f := s.Transform(x)
		w := make([]float64, size)
		for i, v := range x {
			w[i] = float64(v) * s.Window()[i]
		}
		want := fourier.NewFFT(size).Coefficients(nil, w)
		var peak float64
		for _, c := range want {
			peak = math.Max(peak, cmplx.Abs(c))
		}
		for k, c := range want {
			if d := cmplx.Abs(f.Coeffs[k] - c); d > 1e-12*peak {
				t.Fatalf("size %d bin %d: %v, want %v", size, k, f.Coeffs[k], c)
			}
			m := cmplx.Abs(c) * 2 / sumOf(s.Window())
			if k == 0 || k == size/2 {
				m /= 2
			}
			if math.Abs(f.Mag[k]-m) > 1e-12*peak {
				t.Fatalf("size %d bin %d: magnitude %g, want %g", size, k, f.Mag[k], m)
			}
		}
	}
}

func sumOf(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

// BenchmarkSTFT measures the transform alone (window, FFT, spectrum and
// magnitudes) over 3 minutes at 22050 Hz, 2048/512.
func BenchmarkSTFT(b *testing.B) {
	const rate = 22050.0
	x := testSine(int(180*rate), rate, 440, 0.5)
	s, _ := NewSTFT(2048, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Walk(x, func(f *Frame) bool { return true })
	}
	b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// BenchmarkFFTFloor measures the FFTs the STFT of BenchmarkSTFT is built on,
// for as many frames: gonum's 1024-point radix-4 complex FFT (what STFT
// uses) and gonum's 2048-point real FFT (FFTPACK, what it used before).
func BenchmarkFFTFloor(b *testing.B) {
	const frames = 180 * 22050 / 512
	x := make([]float64, 2048)
	for i := range x {
		x[i] = math.Sin(0.37 * float64(i))
	}
	b.Run("radix4-1024", func(b *testing.B) {
		z := make([]complex128, 1024)
		for i := 0; i < b.N; i++ {
			for f := 0; f < frames; f++ {
				for n := range z {
					z[n] = complex(x[2*n], x[2*n+1])
				}
				fourier.CoefficientsRadix4(z)
			}
		}
		b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
	})
	b.Run("fftpack-real-2048", func(b *testing.B) {
		fft := fourier.NewFFT(2048)
		c := make([]complex128, 1025)
		for i := 0; i < b.N; i++ {
			for f := 0; f < frames; f++ {
				fft.Coefficients(c, x)
			}
		}
		b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
	})
}

// Power is Mag squared on every path of the STFT (radix-4, radix-2 and the
// general real FFT), so that consumers of power need not square again.
func TestFramePowerIsMagSquared(t *testing.T) {
	for _, size := range []int{2048, 1024, 1536} {
		s, err := NewSTFT(size, size/4)
		if err != nil {
			t.Fatal(err)
		}
		s.Walk(musicLike(22050*2, 22050, 5), func(f *Frame) bool {
			for k, m := range f.Mag {
				if p := f.Power[k]; math.Abs(p-m*m) > 1e-12*(m*m) {
					t.Fatalf("size %d frame %d bin %d: power %g, magnitude² %g", size, f.Index, k, p, m*m)
				}
			}
			return true
		})
	}
}
