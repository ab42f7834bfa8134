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
// turns a chunk into per-frame features (onset strength, RMS, spectral
// centroid and flatness, chroma) so that whole spectra go no further.
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
	binHz  []float64 // centre frequency of each bin
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
	w.binHz = make([]float64, s.Bins())
	for k := range w.binHz {
		w.binHz[k] = float64(s.BinFreq(k, rate))
	}
	return nil
}

func (w *fftWorker) run(ctx context.Context, c *Chunk) (*Frames, error) {
	if err := w.setup(c.Rate); err != nil {
		return nil, fmt.Errorf("fft %s chunk %d: %w", chunkName(c), c.Index, err)
	}
	n := w.stft.FrameCount(len(c.Samples))
	bins := w.chroma.Bins()
	// One backing array for the four per-frame series: one allocation
	// instead of four.
	series := make([]float32, 4*n)
	f := &Frames{
		Info:       c.Info,
		Index:      c.Index,
		Count:      c.Count,
		Offset:     c.Offset,
		FrameRate:  c.Rate / dsp.Hz(w.opts.Hop),
		Onset:      series[0*n : 1*n : 1*n],
		RMS:        series[1*n : 2*n : 2*n],
		Centroid:   series[2*n : 3*n : 3*n],
		Flatness:   series[3*n : 4*n : 4*n],
		Chroma:     make([]float32, n*bins),
		ChromaBins: bins,
	}
	w.onset.Reset()
	var err error
	w.stft.Walk(c.Samples, func(fr *dsp.Frame) bool {
		// A chunk is 20 s of work at most; checking every ~100 frames
		// keeps cancellation prompt without measurable cost.
		if fr.Index%128 == 0 {
			if err = ctx.Err(); err != nil {
				return false
			}
		}
		i := fr.Index
		f.Onset[i] = float32(w.onset.Next(fr.Mag))
		f.RMS[i] = float32(frameRMS(fr.Samples))
		f.Centroid[i], f.Flatness[i] = spectralShape(fr.Mag, w.binHz)
		w.chroma.Apply(fr.Mag, f.Chroma[i*bins:(i+1)*bins])
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("fft %s chunk %d: %w", chunkName(c), c.Index, err)
	}
	return f, nil
}

func chunkName(c *Chunk) string {
	if c.Info != nil {
		return c.Info.Name
	}
	return "(unnamed)"
}

func frameRMS(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s / float64(len(x)))
}

// flatnessFloor is the power below which bins count as this value in the
// flatness, so digital silence does not send the geometric mean to zero
// (−100 dB, as in the usual definitions).
const flatnessFloor = 1e-10

// spectralShape returns the spectral centroid (Hz, magnitude weighted) and
// the spectral flatness of the power spectrum (Gray & Markel 1974, "A
// spectral-flatness measure for studying the autocorrelation method of
// linear prediction of speech analysis": geometric over arithmetic mean),
// both over all bins but DC. The geometric mean multiplies blocks of 16
// powers before one logarithm: each factor is in [1e-10, ~1], so a block
// cannot underflow, and the frame costs 64 logarithms instead of 1024.
func spectralShape(mag, binHz []float64) (centroid, flatness float32) {
	var sumMag, sumFM, sumPow, logSum float64
	prod := 1.0
	n := 0
	for k := 1; k < len(mag); k++ {
		m := mag[k]
		sumMag += m
		sumFM += m * binHz[k]
		p := max(m*m, flatnessFloor)
		sumPow += p
		prod *= p
		n++
		if n%16 == 0 {
			logSum += math.Log(prod)
			prod = 1
		}
	}
	logSum += math.Log(prod)
	if sumMag > 0 {
		centroid = float32(sumFM / sumMag)
	}
	if n > 0 && sumPow > 0 {
		fl := math.Exp(logSum/float64(n)) / (sumPow / float64(n))
		flatness = float32(math.Min(1, math.Max(0, fl)))
	}
	return centroid, flatness
}
