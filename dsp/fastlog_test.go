package dsp

import (
	"math"
	"math/rand/v2"
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
	if got := log1pNonNeg(0); got != 0 {
		t.Errorf("log1pNonNeg(0) = %g, want 0", got)
	}
	for _, y := range []float64{math.Inf(1), math.NaN(), -0.5} {
		if got, want := log1pNonNeg(y), math.Log1p(y); !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("log1pNonNeg(%g) = %g, want %g", y, got, want)
		}
	}
}

// fastLog must match math.Log to 1e-12 over the whole normal range, across
// the table's entries and at the mantissa edges.
func TestFastLog(t *testing.T) {
	for _, x := range []float64{1e-300, 1e-20, 0.001, 0.5, 0.7071, 0.7072, 1, 1.4142, 1.4143, 2, math.E, 440, 1e10, 1e300} {
		if got, want := fastLog(x), math.Log(x); math.Abs(got-want) > 1e-12 {
			t.Errorf("fastLog(%g) = %.12g, want %.12g", x, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		x := math.Exp(rng.Float64()*200 - 100)
		if got, want := fastLog(x), math.Log(x); math.Abs(got-want) > 1e-12 {
			t.Fatalf("fastLog(%g) = %.12g, want %.12g", x, got, want)
		}
	}
}
