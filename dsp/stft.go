package dsp

import (
	"fmt"
	"math"
	"math/bits"

	"gonum.org/v1/gonum/dsp/fourier"
	gwindow "gonum.org/v1/gonum/dsp/window"
)

// STFT computes the short-time Fourier transform of a signal with a Hann
// window (Allen & Rabiner 1977, "A unified approach to short-time Fourier
// analysis and synthesis"). It owns its FFT buffers, so walking a signal
// allocates nothing; for the same reason an STFT must not be used by two
// goroutines at once: give each worker its own.
//
// A real frame of N samples is transformed as a complex sequence of N/2
// points (even samples real, odd samples imaginary) with gonum's in-place
// radix-4 or radix-2 FFT, then split into the real spectrum (Brigham 1988,
// "The Fast Fourier Transform and its Applications", §9.3). For N = 2048
// that is about three times faster than gonum's FFTPACK real transform;
// sizes whose half is not a power of two use fourier.FFT.
type STFT struct {
	size, hop int
	win       []float64
	frame     Frame

	// Half-length complex path, used when size/2 is a power of two.
	z      []complex128 // packed windowed frame, transformed in place
	tw     []complex128 // exp(-2πik/size) for k in [0, size/4]
	radix4 bool         // size/2 is a power of 4: CoefficientsRadix4
	// fft is the general real transform for other sizes; nil otherwise.
	fft *fourier.FFT
	// magScale turns |X[k]| into the amplitude of the sinusoid that would
	// produce it: 2/Σw for every bin but DC and Nyquist, which are not split
	// between a positive and a negative frequency.
	magScale float64
}

// Frame is one analysed frame of a signal. Its slices belong to the STFT
// and are overwritten by the next frame: copy what must outlive the callback.
type Frame struct {
	// Index counts frames from 0; frame i starts at sample i*hop.
	Index int
	// Samples holds the frame's samples before windowing, zero-padded past
	// the end of the signal.
	Samples []float64
	// Coeffs holds the unnormalised real FFT of the windowed samples,
	// size/2+1 bins from DC to Nyquist.
	Coeffs []complex128
	// Mag holds the window-corrected magnitude of each bin: a sinusoid of
	// amplitude A centred on a bin shows A in that bin.
	Mag []float64
	// Power holds the square of each bin's Mag, computed before the square
	// root, for consumers that want power.
	Power []float64

	windowed []float64
}

// NewSTFT prepares a transform of size-sample frames taken every hop
// samples. size must be even and at least 2, hop at least 1.
func NewSTFT(size, hop int) (*STFT, error) {
	if size < 2 || size%2 != 0 {
		return nil, fmt.Errorf("stft: frame size %d is not an even number ≥ 2", size)
	}
	if hop < 1 {
		return nil, fmt.Errorf("stft: hop %d is not ≥ 1", hop)
	}
	win := make([]float64, size)
	for i := range win {
		win[i] = 1
	}
	gwindow.Hann(win)
	var sum float64
	for _, w := range win {
		sum += w
	}
	bins := size/2 + 1
	s := &STFT{
		size:     size,
		hop:      hop,
		win:      win,
		magScale: 2 / sum,
		frame: Frame{
			Samples: make([]float64, size),
			Coeffs:  make([]complex128, bins),
			Mag:     make([]float64, bins),
			Power:   make([]float64, bins),
		},
	}
	m := size / 2
	if m >= 4 && bits.OnesCount(uint(m)) == 1 {
		s.z = make([]complex128, m)
		s.radix4 = bits.TrailingZeros(uint(m))%2 == 0
		s.tw = make([]complex128, m/2+1)
		for k := range s.tw {
			sin, cos := math.Sincos(-2 * math.Pi * float64(k) / float64(size))
			s.tw[k] = complex(cos, sin)
		}
	} else {
		s.fft = fourier.NewFFT(size)
		s.frame.windowed = make([]float64, size)
	}
	return s, nil
}

// Size is the frame length in samples.
func (s *STFT) Size() int { return s.size }

// Hop is the distance between frame starts in samples.
func (s *STFT) Hop() int { return s.hop }

// Bins is the number of spectrum bins per frame, size/2+1.
func (s *STFT) Bins() int { return s.size/2 + 1 }

// Window returns the analysis window; the caller must not modify it.
func (s *STFT) Window() []float64 { return s.win }

// BinFreq is the centre frequency of bin k for a signal sampled at rate.
func (s *STFT) BinFreq(k int, rate Hz) Hz { return Hz(float64(k) * float64(rate) / float64(s.size)) }

// FrameCount is the number of frames Walk yields for n samples: one frame
// starts at every multiple of hop below n, so that consecutive chunks whose
// lengths are multiples of hop tile one seamless frame grid.
func (s *STFT) FrameCount(n int) int {
	if n <= 0 {
		return 0
	}
	return (n + s.hop - 1) / s.hop
}

// Walk transforms x frame by frame and calls fn with each frame in order.
// The frame is valid only until fn returns. Walk stops early, returning
// false, if fn returns false.
func (s *STFT) Walk(x []float32, fn func(f *Frame) bool) bool {
	n := s.FrameCount(len(x))
	for i := 0; i < n; i++ {
		s.load(x, i*s.hop)
		s.frame.Index = i
		s.transform()
		if !fn(&s.frame) {
			return false
		}
	}
	return true
}

// Transform analyses a single frame starting at x[0] (zero-padded when x is
// shorter than the frame) and returns it, valid until the next call.
func (s *STFT) Transform(x []float32) *Frame {
	s.load(x, 0)
	s.frame.Index = 0
	s.transform()
	return &s.frame
}

func (s *STFT) load(x []float32, start int) {
	buf := s.frame.Samples
	end := start + s.size
	if end > len(x) {
		end = len(x)
	}
	m := copyF32(buf, x[start:end])
	clear(buf[m:])
}

func copyF32(dst []float64, src []float32) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i := range dst {
		dst[i] = float64(src[i])
	}
	return n
}

func (s *STFT) transform() {
	if s.fft != nil {
		s.transformReal()
		return
	}
	f := &s.frame
	x, w, z := f.Samples, s.win, s.z
	m := len(z)
	x, w = x[:2*m], w[:2*m]
	for n := range z {
		xp, wp := x[2*n:2*n+2:2*n+2], w[2*n:2*n+2:2*n+2]
		z[n] = complex(xp[0]*wp[0], xp[1]*wp[1])
	}
	if s.radix4 {
		fourier.CoefficientsRadix4(z)
	} else {
		fourier.CoefficientsRadix2(z)
	}
	// With E and O the spectra of the even and odd samples,
	// Z[k] = E[k] + iO[k], and E, O are Hermitian, so
	// E[k] = (Z[k] + conj Z[m-k])/2, O[k] = -i(Z[k] - conj Z[m-k])/2 and
	// X[k] = E[k] + W^k O[k], X[m-k] = conj(E[k] - W^k O[k]), W = e^{-2πi/N}.
	c, mag, pow, tw := f.Coeffs[:m+1], f.Mag[:m+1], f.Power[:m+1], s.tw[:m/2+1]
	scale := s.magScale
	scale2 := scale * scale
	z0 := z[0]
	c[0] = complex(real(z0)+imag(z0), 0)
	c[m] = complex(real(z0)-imag(z0), 0)
	mag[0] = math.Abs(real(c[0])) * scale * 0.5
	mag[m] = math.Abs(real(c[m])) * scale * 0.5
	pow[0], pow[m] = mag[0]*mag[0], mag[m]*mag[m]
	for k := 1; k <= m/2; k++ {
		a, b := z[k], z[m-k]
		// e = E[k], o = O[k], expanded to keep the arithmetic real.
		er, ei := 0.5*(real(a)+real(b)), 0.5*(imag(a)-imag(b))
		or, oi := 0.5*(imag(a)+imag(b)), -0.5*(real(a)-real(b))
		t := tw[k]
		pr := real(t)*or - imag(t)*oi
		pi := real(t)*oi + imag(t)*or
		xr, xi := er+pr, ei+pi
		yr, yi := er-pr, pi-ei
		c[k] = complex(xr, xi)
		c[m-k] = complex(yr, yi)
		// math.Sqrt rather than cmplx.Abs: Hypot's overflow care costs
		// time and spectra never come near overflow.
		px, py := (xr*xr+xi*xi)*scale2, (yr*yr+yi*yi)*scale2
		pow[k], pow[m-k] = px, py
		mag[k], mag[m-k] = math.Sqrt(px), math.Sqrt(py)
	}
}

// transformReal is the general path through gonum's real FFT.
func (s *STFT) transformReal() {
	f := &s.frame
	for i, v := range f.Samples {
		f.windowed[i] = v * s.win[i]
	}
	s.fft.Coefficients(f.Coeffs, f.windowed)
	last := len(f.Coeffs) - 1
	scale2 := s.magScale * s.magScale
	for k, c := range f.Coeffs {
		p := (real(c)*real(c) + imag(c)*imag(c)) * scale2
		if k == 0 || k == last {
			p *= 0.25
		}
		f.Power[k] = p
		f.Mag[k] = math.Sqrt(p)
	}
}

// Energy returns Σ|X[k]|²/N over the full two-sided spectrum of the frame's
// unnormalised coefficients, which by Parseval's theorem equals the energy
// Σ(w·x)² of the windowed frame.
func (f *Frame) Energy() float64 {
	n := 2 * (len(f.Coeffs) - 1)
	last := len(f.Coeffs) - 1
	var e float64
	for k, c := range f.Coeffs {
		p := real(c)*real(c) + imag(c)*imag(c)
		if k != 0 && k != last {
			p *= 2 // the mirrored negative-frequency bin
		}
		e += p
	}
	return e / float64(n)
}
