package stages

import (
	"context"
	"fmt"
	"math"

	"github.com/songflow/songflow/dsp"
)

// FFTOptions sets the short-time Fourier transform of the fft stage.
type FFTOptions struct {
	Size int // frame length in samples (analysis.fft_size, default 2048)
	Hop  int // samples between frames (analysis.hop, default 512)
}

// FFT returns a factory of fft stage functions, one per worker: each owns
// its FFT plan and buffers, which are not safe to share. A stage function
// turns a chunk into per-frame features (onset strength, overall and of
// the low register, RMS, spectral centroid and flatness, and
// chroma on every dsp.KeyFrameStride-th frame) so that whole spectra go no
// further.
func FFT(opts FFTOptions) func() func(context.Context, *Chunk) (*Frames, error) {
	return func() func(context.Context, *Chunk) (*Frames, error) {
		w := &fftWorker{opts: opts}
		return w.run
	}
}

// fftWorker is one worker's reusable state; the analysers are rebuilt only
// when the sample rate changes.
type fftWorker struct {
	opts   FFTOptions
	rate   dsp.Hz
	stft   *dsp.STFT
	onset  *dsp.OnsetDetector
	chroma *dsp.ChromaFilter
	binHz  []float64  // centre frequency of each bin
	blocks []blockSum // Σx and Σx² of the chunk's blocks, reused between chunks
}

func (w *fftWorker) setup(rate dsp.Hz) error {
	if w.stft != nil && w.rate == rate {
		return nil
	}
	if !(rate > 0) || math.IsInf(float64(rate), 0) {
		return fmt.Errorf("sample rate %v", rate)
	}
	s, err := dsp.NewSTFT(w.opts.Size, w.opts.Hop)
	if err != nil {
		return err
	}
	w.stft, w.rate = s, rate
	w.onset = dsp.NewOnsetDetector(w.opts.Size, rate)
	w.chroma = dsp.NewChromaFilter(w.opts.Size, rate)
	// The spectral shape reads the bins below the band every resampling
	// path leaves flat (see spectralShape).
	top := dsp.ResamplePassEdge * float64(rate) / 2
	w.binHz = make([]float64, 0, s.Bins())
	for k := range s.Bins() {
		if f := float64(s.BinFreq(k, rate)); f <= top {
			w.binHz = append(w.binHz, f)
		}
	}
	return nil
}

func (w *fftWorker) run(ctx context.Context, c *Chunk) (*Frames, error) {
	if err := w.setup(c.Rate); err != nil {
		return nil, fmt.Errorf("fft %s chunk %d: %w", chunkName(c), c.Index, err)
	}
	n := w.stft.FrameCount(len(c.Samples))
	bins := w.chroma.Bins()
	const stride = dsp.KeyFrameStride
	// One backing array for the five per-frame series: one allocation
	// instead of five.
	series := make([]float32, 5*n)
	f := &Frames{
		Info:         c.Info,
		Index:        c.Index,
		Count:        c.Count,
		Offset:       c.Offset,
		FrameRate:    c.Rate / dsp.Hz(w.opts.Hop),
		Onset:        series[0*n : 1*n : 1*n],
		RMS:          series[1*n : 2*n : 2*n],
		Centroid:     series[2*n : 3*n : 3*n],
		Flatness:     series[3*n : 4*n : 4*n],
		OnsetLow:     series[4*n : 5*n : 5*n],
		Chroma:       make([]float32, (n+stride-1)/stride*bins),
		ChromaBins:   bins,
		ChromaStride: stride,
	}
	w.onset.Reset()
	// Set for every chunk: a worker's detector serves song after song.
	lift := 1.0
	if c.Info != nil {
		lift = onsetLift(c.Info.Loudness.Integrated)
	}
	w.onset.SetLift(lift)
	// A whole frame's Σx and Σx² are sums of its blocks' (g samples, a
	// divisor of the hop and the frame): each sample is added and squared
	// once, not once per frame that holds it. Sums of blocks rather than
	// differences of running sums over the chunk: a sample far above full
	// scale (a damaged float file) would leave every later frame's sums
	// to the rounding of a difference of two huge numbers.
	size, hop := w.opts.Size, w.opts.Hop
	g := gcd(size, hop)
	w.blocks = blockSums(w.blocks, c.Samples, g)
	blocks, per := w.blocks, size/g
	var err error
	w.stft.Walk(c.Samples, func(fr *dsp.Frame) bool {
		// A chunk is 20 s of work by default; checking every ~100 frames
		// keeps cancellation prompt without measurable cost.
		if fr.Index%128 == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		i := fr.Index
		lo := min(i*hop, len(c.Samples))
		hi := min(i*hop+size, len(c.Samples))
		whole := hi-lo == size
		// A frame that runs past the chunk's end holds the signal cut off
		// where the zero padding starts: the cut spreads over the whole
		// spectrum, a rise of energy in every band that is no onset (a
		// steady tone scored one at the end of every chunk, and so got a
		// tempo from four chunks on). Such frames carry no onset.
		var onset dsp.OnsetFlux
		if whole {
			onset = w.onset.NextFlux(fr)
		}
		// The RMS is of the frame less its mean: a DC offset (a cheap
		// converter's, a few tenths of a percent) is inaudible, yet left
		// in it would lift every silent frame above the −60 dBFS silence
		// threshold and the −80 dBFS noise floor, and add to the level the
		// feel descriptors read. The mean is that of the frame-long stretch
		// ending where the frame's samples end: the frame's own samples,
		// but for a frame past the chunk's end, whose few last samples
		// are no stretch to take a mean over (one sample is its own mean:
		// it measured 0, silent, however loud). The zero padding adds
		// nothing, as before.
		var s, ss, dc float64
		from := max(0, hi-size)
		if whole {
			for _, b := range blocks[lo/g:][:per] {
				s += b.x
				ss += b.xx
			}
			dc = s
		} else {
			// At most size/hop frames a chunk: summed sample by sample.
			for j, v := range c.Samples[from:hi] {
				dc += float64(v)
				if from+j >= lo {
					s += float64(v)
					ss += float64(v) * float64(v)
				}
			}
		}
		// Σ(x − μ)² over the frame's hi − lo samples, μ = dc/(hi − from).
		// Rounding can leave a silent frame's value a hair below 0.
		mu := dc / float64(hi-from)
		dev := ss - mu*(2*s-float64(hi-lo)*mu)
		rms := math.Sqrt(max(0, dev) / float64(size))
		f.RMS[i] = float32(rms)
		f.Centroid[i], f.Flatness[i] = spectralShape(fr.Mag, fr.Power, w.binHz)
		if !(rms >= noiseFloorRMS) {
			// Onset and chroma are level-free: left in, dither would
			// lend a silent song a tempo and a key.
			return true
		}
		f.Onset[i] = float32(onset.All)
		f.OnsetLow[i] = float32(onset.Low)
		if i%stride == 0 {
			j := i / stride
			w.chroma.Apply(fr.Mag, f.Chroma[j*bins:(j+1)*bins])
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("fft %s chunk %d: %w", chunkName(c), c.Index, err)
	}
	return f, nil
}

// onsetLift is the power gain a quiet song's spectra take before onset
// detection. The detector's compression knee sits at −60 dB per bin re full
// scale, below the quietest partials of mastered music (the development
// corpus measures −10 to −33 LUFS); in a song far quieter the notes sit near
// the knee, where their rises measure small, and it lost its tempo (a
// corpus piece turned down to −50 LUFS did). Songs quieter than quietLUFS
// are lifted to it, by at most maxLiftDB; silence is left alone.
func onsetLift(lufs float64) float64 {
	if !(lufs < quietLUFS) || lufs <= dsp.SilentLUFS {
		return 1
	}
	return math.Pow(10, min(quietLUFS-lufs, maxLiftDB)/10)
}

const (
	quietLUFS = -35.0
	maxLiftDB = 30.0
)

// noiseFloorRMS (−80 dBFS) is the frame RMS below which a frame holds no
// music, only digital silence, dither (16-bit TPDF dither measures about
// −98 dBFS) or a lossy encoder's noise: such frames carry no onset
// strength and no chroma. Mastered music, even in its quietest passages,
// stays above it.
const noiseFloorRMS = 1e-4

func chunkName(c *Chunk) string {
	if c.Info != nil {
		return c.Info.Name
	}
	return "(unnamed)"
}

// blockSum is Σx and Σx² over a block of a chunk's samples.
type blockSum struct{ x, xx float64 }

// blockSums returns, in buf's storage when it has the capacity, the sums of
// x and x² over each whole g-sample block of x: element b sums x[b·g …
// (b+1)·g). Two interleaved sums halve the dependency chains.
func blockSums(buf []blockSum, x []float32, g int) []blockSum {
	n := len(x) / g
	if cap(buf) < n {
		buf = make([]blockSum, n)
	}
	buf = buf[:n]
	for b := range buf {
		q := x[b*g : (b+1)*g : (b+1)*g]
		var s0, s1, ss0, ss1 float64
		i := 0
		for ; i+2 <= len(q); i += 2 {
			u, v := float64(q[i]), float64(q[i+1])
			s0 += u
			s1 += v
			ss0 += u * u
			ss1 += v * v
		}
		if i < len(q) {
			u := float64(q[i])
			s0 += u
			ss0 += u * u
		}
		buf[b] = blockSum{s0 + s1, ss0 + ss1}
	}
	return buf
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// flatnessFloor is the power below which bins count as this value in the
// flatness, so digital silence does not send the geometric mean to zero
// (−100 dB, as in the usual definitions).
const flatnessFloor = 1e-10

// shapeFromBin is the first bin the spectral shape reads. A DC offset is
// inaudible, but the Hann window's main lobe spreads it over bin 1 as well
// as bin 0: half its amplitude, 6 dB down, and under −75 dB from bin 2 on
// (Harris 1978, "On the use of windows for harmonic analysis with the
// discrete Fourier transform", Proc. IEEE 66(1), §V: the Hann window's
// main lobe reaches its first zero two bins out). Read from bin 1, a
// −10 dBFS offset (some tracker modules carry one) pulled a song's
// centroid down by a fifth. Bin 1 lies below 11 Hz at the default
// 22050 Hz and 2048 samples, where music has nothing to hear.
const shapeFromBin = 2

// spectralShape returns the spectral centroid (Hz, magnitude weighted) and
// the spectral flatness of the power spectrum (Gray & Markel 1974, "A
// spectral-flatness measure for studying the autocorrelation method of
// linear prediction of speech analysis": geometric over arithmetic mean),
// both over the bins binHz gives the frequencies of but the first
// shapeFromBin, from the bins' magnitudes mag and powers pow (their
// squares, as in dsp.Frame).
//
// The FFT stage gives the frequencies of the bins below
// dsp.ResamplePassEdge of the Nyquist frequency only: above it
// the half-band filter of a 44.1 kHz source folds the top octave back
// while the others' attenuate it, and the same song's centroid came out
// 5 % apart from 44.1 and 48 kHz files.
//
// The geometric mean needs Σ ln p. Powers are multiplied in blocks of 16
// (each factor is in [1e-10, ~1], so a block cannot underflow); each
// block's binary exponent is moved into an integer sum and its mantissa
// into a running product, so the frame costs one logarithm instead of one
// per bin.
func spectralShape(mag, pow, binHz []float64) (centroid, flatness float32) {
	end := min(len(mag), len(pow), len(binHz))
	if end <= shapeFromBin {
		return 0, 0
	}
	mag, pow, binHz = mag[shapeFromBin:end], pow[shapeFromBin:end], binHz[shapeFromBin:end]
	n := len(mag)
	var sumMag, sumFM, sumPow float64
	exp2 := 0   // Σ of the blocks' binary exponents
	mant := 1.0 // product of the blocks' mantissas, kept in [1, 2)
	for len(mag) > 0 {
		blk := min(16, len(mag))
		m, pw, f := mag[:blk], pow[:blk], binHz[:blk]
		// Two interleaved products and sums halve the dependency chains.
		var sm0, sm1, sf0, sf1, sp0, sp1 float64
		pr0, pr1 := 1.0, 1.0
		i := 0
		for ; i+2 <= blk; i += 2 {
			a, b := m[i], m[i+1]
			sm0 += a
			sm1 += b
			sf0 += a * f[i]
			sf1 += b * f[i+1]
			pa, pb := pw[i], pw[i+1]
			if pa < flatnessFloor {
				pa = flatnessFloor
			}
			if pb < flatnessFloor {
				pb = flatnessFloor
			}
			sp0 += pa
			sp1 += pb
			pr0 *= pa
			pr1 *= pb
		}
		if i < blk {
			a := m[i]
			sm0 += a
			sf0 += a * f[i]
			pa := max(pw[i], flatnessFloor)
			sp0 += pa
			pr0 *= pa
		}
		sumMag += sm0 + sm1
		sumFM += sf0 + sf1
		sumPow += sp0 + sp1
		e, fr := splitExp(pr0 * pr1)
		exp2 += e
		e, mant = splitExp(mant * fr)
		exp2 += e
		mag, pow, binHz = mag[blk:], pow[blk:], binHz[blk:]
	}
	if sumMag > 0 {
		centroid = float32(sumFM / sumMag)
	}
	if sumPow > 0 {
		logMean := (float64(exp2)*math.Ln2 + math.Log(mant)) / float64(n)
		fl := math.Exp(logMean) / (sumPow / float64(n))
		flatness = float32(math.Min(1, math.Max(0, fl)))
	}
	return centroid, flatness
}

// splitExp splits x into m·2^e with m in [1, 2) when x is a positive normal
// number, and leaves anything else (NaN, zero, subnormal) to math.Frexp.
func splitExp(x float64) (e int, m float64) {
	b := math.Float64bits(x)
	if be := int(b >> 52); be > 0 && be < 0x7ff {
		return be - 1023, math.Float64frombits(b&(1<<52-1) | 1023<<52)
	}
	m, e = math.Frexp(x)
	return e, m
}
