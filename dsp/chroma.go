package dsp

// ChromaFilter maps one magnitude spectrum to pitch-class energies.
type ChromaFilter struct {
	bins int
}

// NewChromaFilter prepares the mapping for spectra of an fftSize-point FFT
// of a signal sampled at rate.
func NewChromaFilter(fftSize int, rate Hz) *ChromaFilter { return &ChromaFilter{bins: 36} }

// Bins is the number of chroma values per frame.
func (c *ChromaFilter) Bins() int { return c.bins }

// Apply writes the chroma of mag (fftSize/2+1 magnitudes) into dst (Bins long).
func (c *ChromaFilter) Apply(mag []float64, dst []float32) {
	for i := range dst {
		dst[i] = 0
	}
}
