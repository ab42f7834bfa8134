package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/songflow/songflow/reports"
)

// TestCalibrateStageFiguresCoverTheRunsEnd runs calibrate with a metrics
// period far longer than the run: the only sample of each stage's series
// is the one the engine takes as the pipeline ends, so the utilisation
// and queue figures are drawn only if the report reads the metrics after
// the pipeline has ended, not before, when the run's last period (here
// all of it) is not yet sampled.
func TestCalibrateStageFiguresCoverTheRunsEnd(t *testing.T) {
	dir := t.TempDir()
	song, err := os.ReadFile(filepath.Join(calibrationSet, "05-shuffle-d-major.wav"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "song.wav"), song, 0o644)
	cfg := filepath.Join(t.TempDir(), "pipeline.toml")
	os.WriteFile(cfg, []byte("[metrics]\nsample_seconds = 3600\n"), 0o644)
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr bytes.Buffer
	if code := runCalibrate(context.Background(), []string{dir, "--config", cfg, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
	}
	for _, name := range []string{reports.PlotStageUtilisation, reports.PlotQueueDepth} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Without a sample the figure is the single 960×600 plot that
		// says the run was too short; with one, a panel per stage is
		// stacked, which makes the figure taller.
		if h := img.Bounds().Dy(); h <= 600 {
			t.Errorf("%s is %d pixels high: no stage series drawn, though the pipeline sampled them as it ended", name, h)
		}
	}
}
