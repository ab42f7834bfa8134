package dsp

import (
	"math"
	"testing"
)

func TestSmallExp(t *testing.T) {
	for x := -3.0; x <= 3; x += 0.01 {
		if got, want := smallExp(x), math.Exp(x); math.Abs(got-want) > 1e-9*want {
			t.Errorf("smallExp(%g) = %.12g, want %.12g", x, got, want)
		}
	}
}

func TestChromaKernelStart(t *testing.T) {
	k := newChromaKernel()
	step := 2 * math.Pi / chromaKernelWidth
	for i := 0; i <= 100; i++ {
		theta := -math.Pi + step*float64(i)/100
		s, c := k.start(theta)
		if math.Abs(s-math.Sin(theta)) > 1e-9 || math.Abs(c-math.Cos(theta)) > 1e-9 {
			t.Errorf("start(%g) = %g, %g; want %g, %g", theta, s, c, math.Sin(theta), math.Cos(theta))
		}
	}
}

func TestSmallLog1p(t *testing.T) {
	for u := -1.0 / 14; u <= 1.0/14; u += 0.001 {
		if got, want := smallLog1p(u), math.Log1p(u); math.Abs(got-want) > 1e-10 {
			t.Errorf("smallLog1p(%g) = %.14g, want %.14g", u, got, want)
		}
	}
}

func TestLogRatio(t *testing.T) {
	for _, c := range [][2]float64{{0.5, 1}, {1e-12, 3}, {0, 0.01}, {0, 1e10}, {1e-300, 1e300}, {2e-310, 1}} {
		x, m := c[0], c[1]
		want := math.Log(max(x, 1e-300)) - math.Log(m)
		if got := logRatio(x, m, 1/m); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("logRatio(%g, %g) = %.12g, want %.12g", x, m, got, want)
		}
	}
}

// BenchmarkChromaNoisy measures the chroma of frames of a tone in noise,
// about 125 spectral peaks per frame: the busy case, where every peak is
// refined, checked against its possible fundamentals and spread.
func BenchmarkChromaNoisy(b *testing.B) {
	x := whiteNoise(4, 0.05, 5)
	tone := sine(4, 220, 0.3)
	for i := range x {
		x[i] += tone[i]
	}
	benchChroma(b, x)
}

// benchChroma measures ChromaFilter.Apply on the spectra of x, reporting
// audio seconds per second of work.
func benchChroma(b *testing.B, x []float32) {
	st, err := NewSTFT(2048, 512)
	if err != nil {
		b.Fatal(err)
	}
	var mags [][]float64
	st.Walk(x, func(f *Frame) bool {
		mags = append(mags, append([]float64(nil), f.Mag...))
		return true
	})
	cf := NewChromaFilter(2048, testRate)
	dst := make([]float32, cf.Bins())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cf.Apply(mags[i%len(mags)], dst)
	}
	b.ReportMetric(512.0/testRate*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}
