package dsp

// FeelInput holds a song's per-frame features and song-level hints.
type FeelInput struct {
	FrameRate                      Hz
	RMS, Centroid, Flatness, Onset []float32
	BPM                            float64
	PulseClarity                   float64
	Minor                          bool
	KeyConfidence                  float64
}

// Feel holds the perceptual descriptors of a song.
type Feel struct {
	Energy, Danceability, Acousticness, Valence, SpectralCentroid, DynamicRange, SilenceRatio float64
}

// DescribeFeel computes the descriptors.
func DescribeFeel(in FeelInput) Feel { return Feel{} }
