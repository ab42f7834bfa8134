package dsp

import (
	"os"
	"path/filepath"
	"testing"
)

// corpusPaths returns the folder of the development corpus's raw renders
// (SONGFLOW_CORPUS_RAW: 22050 Hz mono float32 little-endian <id>.f32) and
// its truth.csv (SONGFLOW_CORPUS_TRUTH, else ../shared/corpus beside the
// repo), skipping the test when no renders are named.
func corpusPaths(t *testing.T) (raw, truth string) {
	raw = os.Getenv("SONGFLOW_CORPUS_RAW")
	if raw == "" {
		t.Skip("SONGFLOW_CORPUS_RAW not set: no corpus to measure on")
	}
	truth = os.Getenv("SONGFLOW_CORPUS_TRUTH")
	if truth == "" {
		truth = filepath.Join("..", "..", "shared", "corpus", "truth.csv")
	}
	return raw, truth
}
