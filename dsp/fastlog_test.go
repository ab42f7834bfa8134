package dsp

import (
	"math"
	"testing"
)

// The onset detector's logarithm must match math.Log1p to well within what
// a difference of log band energies can resolve, over the whole range a
// band's compressed power spans, zero included.
func TestLog1pNonNeg(t *testing.T) {
	for _, y := range []float64{0, 1e-300, 1e-17, 1e-12, 1e-6, 1e-3, 0.1, 0.4142, 0.5, 1, 2, 3.7, 10, 1e3, 1e6, 1e12, 1e100, 1e308} {
		for _, f := range []float64{1, 1.0001, 1.3, 1.77} {
			v := y * f
			if got, want := log1pNonNeg(v), math.Log1p(v); math.Abs(got-want) > 2e-9 {
				t.Errorf("log1pNonNeg(%g) = %.17g, want %.17g", v, got, want)
			}
		}
	}
	// Across the mantissa tables' entries and their edges.
	for i := 0; i < 5000; i++ {
		v := math.Ldexp(1+float64(i)/5000, i%7-3) - 1
		if v < 0 {
			continue
		}
		if got, want := log1pNonNeg(v), math.Log1p(v); math.Abs(got-want) > 2e-9 {
			t.Errorf("log1pNonNeg(%g) = %.17g, want %.17g", v, got, want)
		}
	}
	for x := 1e-300; x < 1e300; x *= 1.7 {
		if got, want := tableLog(x), math.Log(x); math.Abs(got-want) > 1e-12 {
			t.Fatalf("tableLog(%g) = %.17g, want %.17g", x, got, want)
		}
	}
	if got := log1pNonNeg(0); got != 0 {
		t.Errorf("log1pNonNeg(0) = %g, want 0", got)
	}
	for _, y := range []float64{math.Inf(1), math.NaN(), -0.5} {
		if got, want := log1pNonNeg(y), math.Log1p(y); !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("log1pNonNeg(%g) = %g, want %g", y, got, want)
		}
	}
}

// NextPower on a frame's powers scores what Next does on its magnitudes,
// on each of the STFT's paths (radix-4, radix-2, general real FFT).
func TestOnsetNextPowerMatchesNext(t *testing.T) {
	const rate = 22050
	for _, size := range []int{2048, 1024, 1536} {
		s, _ := NewSTFT(size, size/4)
		a, b := NewOnsetDetector(size, rate), NewOnsetDetector(size, rate)
		x := musicLike(rate*3, rate, 5)
		s.Walk(x, func(f *Frame) bool {
			for k, m := range f.Mag {
				if p := f.Power[k]; math.Abs(p-m*m) > 1e-12*(m*m) {
					t.Fatalf("size %d frame %d bin %d: power %g, magnitude² %g", size, f.Index, k, p, m*m)
				}
			}
			got, want := b.NextPower(f.Power), a.Next(f.Mag)
			if math.Abs(got-want) > 1e-9*(1+math.Abs(want)) {
				t.Fatalf("size %d frame %d: NextPower %g, Next %g", size, f.Index, got, want)
			}
			return true
		})
	}
}
