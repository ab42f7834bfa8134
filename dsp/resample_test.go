package dsp

import (
	"math"
	"slices"
	"testing"
)

// toneAt returns n samples of amp·sin(2πft+phase) sampled at rate.
func toneAt(f, rate Hz, n int, amp, phase float64) []float32 {
	x := make([]float32, n)
	w := 2 * math.Pi * float64(f) / float64(rate)
	for i := range x {
		x[i] = float32(amp * math.Sin(w*float64(i)+phase))
	}
	return x
}

// fitTone fits a·sin(ωi)+b·cos(ωi) to x by least squares and returns the
// amplitude, the phase and the RMS of what is left.
func fitTone(x []float32, f, rate Hz) (amp, phase, residual float64) {
	w := 2 * math.Pi * float64(f) / float64(rate)
	var ss, cc, sc, ys, yc float64
	for i, v := range x {
		s, c := math.Sincos(w * float64(i))
		ss += s * s
		cc += c * c
		sc += s * c
		ys += float64(v) * s
		yc += float64(v) * c
	}
	det := ss*cc - sc*sc
	a := (ys*cc - yc*sc) / det
	b := (yc*ss - ys*sc) / det
	var e float64
	for i, v := range x {
		s, c := math.Sincos(w * float64(i))
		d := float64(v) - a*s - b*c
		e += d * d
	}
	return math.Hypot(a, b), math.Atan2(b, a), math.Sqrt(e / float64(len(x)))
}

func rmsOf(x []float32) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / float64(len(x)))
}

func ampDB(x float64) float64 { return 20 * math.Log10(x) }

var ratePairs = []struct{ from, to Hz }{
	{44100, 22050},
	{22050, 44100},
	{44100, 48000},
	{48000, 44100},
	{48000, 12000},
	{8000, 22050},
	{37800, 22050},
	{96000, 22050},
	{44100, 22050.5}, // not whole numbers: interpolated table
	{44100, 22051},   // 22051/44100 has too many phases: interpolated table
}

// trimEdges drops the ends where the filter reaches past the signal.
func trimEdges(x []float32, r *Resampler) []float32 {
	edge := 2*r.half + 16
	return x[edge : len(x)-edge]
}

func TestResamplePassband(t *testing.T) {
	for _, p := range ratePairs {
		r, err := NewResampler(p.from, p.to)
		if err != nil {
			t.Fatal(err)
		}
		nyq := math.Min(float64(p.from), float64(p.to)) / 2
		var worst float64
		for _, frac := range []float64{0.002, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.7, 0.74, 0.76, ResamplePassEdge} {
			f := Hz(frac * nyq)
			in := toneAt(f, p.from, int(p.from/2), 0.5, 0.3)
			out := r.Resample(in)
			// The output must be the same sine at the output rate, with the
			// same phase at t = 0: no delay.
			amp, ph, res := fitTone(trimEdges(out, r), f, p.to)
			want := math.Mod(0.3+2*math.Pi*float64(f)*float64(2*r.half+16)/float64(p.to), 2*math.Pi)
			dph := math.Remainder(ph-want, 2*math.Pi)
			g := ampDB(amp / 0.5)
			worst = math.Max(worst, math.Abs(g))
			if math.Abs(g) > 0.1 {
				t.Errorf("%g→%g: %.1f Hz gain %.4f dB, want within ±0.1 dB", p.from, p.to, f, g)
			}
			if math.Abs(dph) > 1e-3 {
				t.Errorf("%g→%g: %.1f Hz phase off by %.2g rad: the output is delayed", p.from, p.to, f, dph)
			}
			if d := ampDB(res / 0.5 * math.Sqrt2); d > -80 {
				t.Errorf("%g→%g: %.1f Hz residual %.1f dB, want ≤ -80 dB (images or distortion)", p.from, p.to, f, d)
			}
		}
		t.Logf("%g→%g: passband ripple %.5f dB (%d taps)", p.from, p.to, worst, r.taps)
	}
}

// Between the pass edge (0.77 of the lower Nyquist) and the stop edge the
// gain falls steadily, through half the amplitude (−6.02 dB) at the
// filter's cutoff, the middle of the transition band: a windowed sinc's
// response there is half its passband gain whatever the window. (The
// half-band filter of a 2:1 decimation has its cutoff at the Nyquist
// frequency itself, where no tone can be fitted; TestResampleHalfBand
// checks its other half.)
func TestResampleTransitionBand(t *testing.T) {
	for _, p := range ratePairs {
		r, err := NewResampler(p.from, p.to)
		if err != nil {
			t.Fatal(err)
		}
		nyq := math.Min(float64(p.from), float64(p.to)) / 2
		prev := 0.0
		pass, stop := r.transition()
		cutoff := (pass + stop) / 2
		for _, q := range []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8} {
			frac := pass + q*(stop-pass)
			if frac > 0.97 {
				break
			}
			f := Hz(frac * nyq)
			in := toneAt(f, p.from, int(p.from/2), 0.5, 0.3)
			amp, _, _ := fitTone(trimEdges(r.Resample(in), r), f, p.to)
			g := ampDB(amp / 0.5)
			if g >= prev {
				t.Errorf("%g→%g: %.1f Hz gain %.2f dB, not below the %.2f dB of the frequency before", p.from, p.to, f, g, prev)
			}
			if frac == cutoff && math.Abs(g-ampDB(0.5)) > 0.1 {
				t.Errorf("%g→%g: %.1f Hz (the cutoff) gain %.3f dB, want %.3f ± 0.1 dB", p.from, p.to, f, g, ampDB(0.5))
			}
			prev = g
		}
	}
}

// Sines near the Nyquist frequency, where the filter is busiest. Through
// the transition band (0.77 to 1.0 of the lower Nyquist frequency) the
// output keeps the input's timing: the kernel is symmetric about the
// output sample, so the delay is zero at every frequency, not only in the
// flat band. And when the rate goes up, the images a tone leaves above the
// input's Nyquist frequency (at f_in − f) are the stopband's to remove: at
// most −80 dB, whichever tone up to 0.995 of that Nyquist frequency.
func TestResampleNearNyquist(t *testing.T) {
	pairs := append(slices.Clone(ratePairs),
		struct{ from, to Hz }{11025, 44100},
		struct{ from, to Hz }{22050, 48000},
		struct{ from, to Hz }{22050, 44100.5},
	)
	for _, p := range pairs {
		r, err := NewResampler(p.from, p.to)
		if err != nil {
			t.Fatal(err)
		}
		nyq := math.Min(float64(p.from), float64(p.to)) / 2
		worstDelay, worstImage := 0.0, math.Inf(-1)
		for _, frac := range []float64{0.8, 0.85, 0.9, 0.93, 0.96, 0.98, 0.99, 0.995} {
			f := Hz(frac * nyq)
			in := toneAt(f, p.from, int(p.from/2), 0.5, 0.3)
			// Leave out the ends, where the window reaches past the
			// tone's abrupt start and end: 2·half+16 samples at the
			// lower rate, which trimEdges falls short of when the rate
			// goes up more than twofold.
			edge := int(float64(2*r.half+16) * math.Max(1, float64(p.to/p.from)))
			out := r.Resample(in)
			out = out[edge : len(out)-edge]
			amp, ph, res := fitTone(out, f, p.to)
			if g := ampDB(amp / 0.5); g > -40 {
				want := math.Mod(0.3+2*math.Pi*float64(f)*float64(edge)/float64(p.to), 2*math.Pi)
				// The phase error as a delay, in output samples.
				delay := math.Abs(math.Remainder(ph-want, 2*math.Pi)) / (2 * math.Pi * float64(f) / float64(p.to))
				worstDelay = math.Max(worstDelay, delay)
				if delay > 0.005 {
					t.Errorf("%g→%g: %.1f Hz (%.3f × Nyquist, gain %.1f dB) delayed by %.4f samples, want 0", p.from, p.to, f, frac, g, delay)
				}
			}
			if p.to > p.from {
				image := ampDB(res / 0.5 * math.Sqrt2)
				worstImage = math.Max(worstImage, image)
				if image > -80 {
					t.Errorf("%g→%g: %.1f Hz (%.3f × Nyquist) leaves images at %.1f dB, want ≤ −80 dB", p.from, p.to, f, frac, image)
				}
			}
		}
		if p.to > p.from {
			t.Logf("%g→%g: largest delay %.5f samples, largest image %.1f dB", p.from, p.to, worstDelay, worstImage)
		} else {
			t.Logf("%g→%g: largest delay %.5f samples", p.from, p.to, worstDelay)
		}
	}
}

// Nothing from the stop edge up (the Nyquist frequency, or for a 2:1
// half-band filter 1.23 times it) comes out above −80 dB.
func TestResampleStopband(t *testing.T) {
	for _, p := range ratePairs {
		if p.to > p.from {
			continue // no input above the lower Nyquist; images are checked in the passband test
		}
		r, err := NewResampler(p.from, p.to)
		if err != nil {
			t.Fatal(err)
		}
		nyq := float64(p.to) / 2
		worst := math.Inf(-1)
		_, stop := r.transition()
		for _, frac := range []float64{1.001, 1.005, 1.01, 1.03, 1.05, 1.1, 1.2, 1.5, 2, 3, 5, 7} {
			frac *= stop
			f := frac * nyq
			if f >= 0.995*float64(p.from)/2 {
				continue
			}
			in := toneAt(Hz(f), p.from, int(p.from/2), 1, 0.1)
			out := trimEdges(r.Resample(in), r)
			a := ampDB(rmsOf(out) * math.Sqrt2)
			worst = math.Max(worst, a)
			if a > -80 {
				t.Errorf("%g→%g: %.1f Hz (%.3f × Nyquist) comes out at %.1f dB, want ≤ -80 dB", p.from, p.to, f, frac, a)
			}
		}
		t.Logf("%g→%g: worst stopband level %.1f dB", p.from, p.to, worst)
	}
}

// The half-band filter of a 2:1 decimation is complementary about the
// output Nyquist frequency f_N: a tone at f_N(1+d) folds to f_N(1−d) with
// the amplitude 1 − H(f_N(1−d)), so what the tone at f_N(1−d) loses the
// one mirrored above f_N brings, and a pair of them adds to exactly one.
// From the pass edge down, the fold is below −80 dB (TestResampleStopband).
func TestResampleHalfBand(t *testing.T) {
	for _, p := range []struct{ from, to Hz }{{44100, 22050}, {48000, 24000}} {
		r, err := NewResampler(p.from, p.to)
		if err != nil {
			t.Fatal(err)
		}
		if pass, stop := r.transition(); r.hb == nil || stop != 2-pass {
			t.Fatalf("%g→%g: not a half-band filter", p.from, p.to)
		}
		nyq := float64(p.to) / 2
		for _, d := range []float64{0.03, 0.08, 0.12, 0.16, 0.2} {
			below, above := Hz((1-d)*nyq), Hz((1+d)*nyq)
			direct, _, _ := fitTone(trimEdges(r.Resample(toneAt(below, p.from, int(p.from/2), 0.5, 0.3)), r), below, p.to)
			folded, _, _ := fitTone(trimEdges(r.Resample(toneAt(above, p.from, int(p.from/2), 0.5, 0.3)), r), below, p.to)
			if sum := (direct + folded) / 0.5; math.Abs(sum-1) > 1e-4 {
				t.Errorf("%g→%g: d = %g: gains %.5f below and %.5f folded from above sum to %.6f, want 1", p.from, p.to, d, direct/0.5, folded/0.5, sum)
			}
		}
	}
}

func TestResampleRoundTrip(t *testing.T) {
	down, _ := NewResampler(44100, 22050)
	up, _ := NewResampler(22050, 44100)
	in := toneAt(1000, 44100, 44100, 0.5, 0)
	back := up.Resample(down.Resample(in))
	if len(back) != len(in) {
		t.Fatalf("round trip length %d, want %d", len(back), len(in))
	}
	edge := 2 * (down.half + up.half)
	var sig, noise float64
	for i := edge; i < len(in)-edge; i++ {
		d := float64(back[i]) - float64(in[i])
		sig += float64(in[i]) * float64(in[i])
		noise += d * d
	}
	snr := 10 * math.Log10(sig/noise)
	t.Logf("1 kHz 44100→22050→44100 SNR %.1f dB", snr)
	if snr < 70 {
		t.Errorf("round trip SNR %.1f dB, want ≥ 70 dB", snr)
	}
}

// A click at input time t must come out at output sample t·to.
func TestResampleClickTiming(t *testing.T) {
	for _, p := range ratePairs {
		r, _ := NewResampler(p.from, p.to)
		in := make([]float32, int(p.from))
		// A position whose output time is a whole output sample when the
		// ratio is rational.
		n := 4000
		if r.exact {
			n = int(r.m) * int(4000/r.m+1)
		}
		in[n] = 1
		out := r.Resample(in)
		want := int(math.Round(float64(n) * float64(p.to) / float64(p.from)))
		best := 0
		for i := range out {
			if math.Abs(float64(out[i])) > math.Abs(float64(out[best])) {
				best = i
			}
		}
		if best != want {
			t.Errorf("%g→%g: click at input %d peaks at output %d, want %d", p.from, p.to, n, best, want)
		}
		// Symmetric around the peak when it lands exactly on a sample.
		if r.exact {
			if d := math.Abs(float64(out[want-1] - out[want+1])); d > 1e-6 {
				t.Errorf("%g→%g: click response not symmetric: %g vs %g", p.from, p.to, out[want-1], out[want+1])
			}
		}
	}
}

func TestResampleLength(t *testing.T) {
	cases := []struct {
		from, to Hz
		n, want  int
	}{
		{44100, 22050, 3, 2},
		{44100, 22050, 44100, 22050},
		{44100, 48000, 441, 480},
		{44100, 48000, 1, 1},
		{48000, 12000, 5, 1},
		{48000, 12000, 6, 2},
		{8000, 22050, 160, 441},
		{44100, 22050.5, 88200, 44101},
		{44100, 22050, 0, 0},
	}
	for _, c := range cases {
		r, err := NewResampler(c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(r.Resample(make([]float32, c.n))); got != c.want {
			t.Errorf("%g→%g of %d samples: %d out, want %d", c.from, c.to, c.n, got, c.want)
		}
	}
}

func TestResampleIntoReusesBuffer(t *testing.T) {
	r, _ := NewResampler(44100, 22050)
	in := toneAt(1000, 44100, 4410, 0.5, 0)
	want := r.Resample(in)
	buf := make([]float32, 0, 5000)
	got := r.ResampleInto(buf, in)
	if len(got) != len(want) || &got[0] != &buf[:1][0] {
		t.Fatalf("ResampleInto gave %d samples in a new buffer, want %d in the given one", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("ResampleInto differs from Resample at %d", i)
		}
	}
	if small := r.ResampleInto(make([]float32, 3), in); len(small) != len(want) {
		t.Errorf("too small a buffer: %d samples, want %d", len(small), len(want))
	}
}

func TestResampleEqualRatesPassThrough(t *testing.T) {
	r, err := NewResampler(22050, 22050)
	if err != nil {
		t.Fatal(err)
	}
	in := toneAt(440, 22050, 100, 1, 0)
	out := r.Resample(in)
	if &out[0] != &in[0] || len(out) != len(in) {
		t.Error("equal rates did not return the input slice")
	}
}

func TestResampleBadRates(t *testing.T) {
	for _, c := range []struct{ from, to Hz }{
		{0, 22050}, {44100, 0}, {-44100, 22050}, {Hz(math.NaN()), 22050},
		{Hz(math.Inf(1)), 22050}, {1e9, 22050}, {44100, 10},
	} {
		if _, err := NewResampler(c.from, c.to); err == nil {
			t.Errorf("NewResampler(%g, %g) = nil error", c.from, c.to)
		}
	}
}

// The zero signal and signals shorter than the filter stay finite and silent.
func TestResampleShortAndSilent(t *testing.T) {
	for _, p := range ratePairs {
		r, _ := NewResampler(p.from, p.to)
		for _, n := range []int{0, 1, 2, 7, 100} {
			for _, v := range r.Resample(make([]float32, n)) {
				if v != 0 {
					t.Fatalf("%g→%g: silence of %d samples gave %g", p.from, p.to, n, v)
				}
			}
		}
	}
}

func TestResampleConcurrent(t *testing.T) {
	r, _ := NewResampler(44100, 48000)
	in := toneAt(1000, 44100, 20000, 0.5, 0)
	want := r.Resample(in)
	done := make(chan []float32)
	for range 4 {
		go func() { done <- r.Resample(in) }()
	}
	for range 4 {
		got := <-done
		for i := range got {
			if got[i] != want[i] {
				t.Fatal("concurrent Resample calls disagree")
			}
		}
	}
}

// benchSong is n samples of a signal with content across the band.
func benchSong(n int) []float32 {
	x := make([]float32, n)
	var seed uint32 = 1
	for i := range x {
		seed = seed*1664525 + 1013904223
		x[i] = 0.3*float32(math.Sin(float64(i)*0.0627)) + float32(int32(seed))/(1<<33)
	}
	return x
}

func benchResample(b *testing.B, from, to Hz) {
	r, err := NewResampler(from, to)
	if err != nil {
		b.Fatal(err)
	}
	in := benchSong(int(180 * from)) // 3 minutes
	dst := make([]float32, r.OutputLen(len(in)))
	seconds := float64(len(in)) / float64(from)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.ResampleInto(dst, in)
	}
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

func BenchmarkResample44100To22050(b *testing.B) { benchResample(b, 44100, 22050) }
func BenchmarkResample48000To22050(b *testing.B) { benchResample(b, 48000, 22050) }
func BenchmarkResample44100To48000(b *testing.B) { benchResample(b, 44100, 48000) }
func BenchmarkResampleIrrational(b *testing.B)   { benchResample(b, 44100, 22050.5) }

// Mixing a stretch at a time must give exactly what resampling the whole
// mixdown gives, at every ratio, across stretch boundaries and at the ends.
func TestResampleMixIntoMatchesMixdown(t *testing.T) {
	for _, p := range append(ratePairs, struct{ from, to Hz }{22050, 22050}) {
		r, err := NewResampler(p.from, p.to)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, r.taps + 3, 3*mixBlock + 17} {
			for chans := 1; chans <= 3; chans++ {
				channels := make([][]float32, chans)
				for c := range channels {
					// Channels of unequal length: the shortest one counts.
					channels[c] = musicLike(n+c, p.from, uint32(c+1))
				}
				mono := make([]float32, n)
				signs := Polarities(channels)
				for c, ch := range channels {
					for i := range mono {
						mono[i] += signs[c] * ch[i]
					}
				}
				for i := range mono {
					mono[i] *= 1 / float32(chans)
				}
				want := r.ResampleInto(nil, mono)
				got := r.ResampleMixInto(nil, channels)
				if len(got) != len(want) {
					t.Fatalf("%g→%g, %d samples × %d: %d outputs, want %d", p.from, p.to, n, chans, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%g→%g, %d samples × %d: output %d is %g, want %g", p.from, p.to, n, chans, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func BenchmarkResampleMix44100To22050(b *testing.B) {
	r, err := NewResampler(44100, 22050)
	if err != nil {
		b.Fatal(err)
	}
	l := benchSong(180 * 44100)
	rr := append([]float32(nil), l[44100:]...)
	rr = append(rr, l[:44100]...)
	out := make([]float32, r.OutputLen(len(l)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.ResampleMixInto(out, [][]float32{l, rr})
	}
	b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// TestPolarities checks the downmix signs on channels of known relation
// (a copy keeps +1, an inverted copy gets −1), and that the mixdown of a
// stereo pair in anti-phase is the signal itself instead of nothing.
func TestPolarities(t *testing.T) {
	const n = 44100
	l := musicLike(n, 44100, 1)
	inv := negate(l)
	silent := make([]float32, n)
	cases := []struct {
		name     string
		channels [][]float32
		want     []float32
	}{
		{"mono", [][]float32{l}, []float32{1}},
		{"copy", [][]float32{l, l}, []float32{1, 1}},
		{"inverted", [][]float32{l, inv}, []float32{1, -1}},
		{"three, middle inverted", [][]float32{l, inv, l}, []float32{1, -1, 1}},
		{"silent first channel", [][]float32{silent, inv}, []float32{1, 1}},
		// Independent channels (hard-panned instruments) correlate
		// near 0, whichever the sign: they are not a polarity fault.
		{"independent", [][]float32{l, musicLike(n, 44100, 7)}, []float32{1, 1}},
		{"independent, one inverted", [][]float32{l, negate(musicLike(n, 44100, 7))}, []float32{1, 1}},
		// Mostly inverted, with a little of its own: still anti-phase.
		{"inverted plus a fifth of another", [][]float32{l, mixed(inv, musicLike(n, 44100, 7), 0.2)}, []float32{1, -1}},
	}
	for _, c := range cases {
		got := Polarities(c.channels)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: signs %v, want %v", c.name, got, c.want)
		}
	}
	r, err := NewResampler(44100, 44100)
	if err != nil {
		t.Fatal(err)
	}
	mix := r.ResampleMixInto(nil, [][]float32{l, inv})
	for i := range mix {
		if mix[i] != l[i] {
			t.Fatalf("anti-phase mixdown sample %d is %g, want %g", i, mix[i], l[i])
		}
	}
}

func negate(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = -v
	}
	return out
}

// mixed returns x + g·y.
func mixed(x, y []float32, g float32) []float32 {
	out := make([]float32, len(x))
	for i := range out {
		out[i] = x[i] + g*y[i]
	}
	return out
}
