package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/reports"
)

// TestWalkCalibrationLinkedFolder: a calibration folder named through a
// link to it, as corpora kept on another disk often are, is walked like
// the folder itself. Before, the walk listed the link as "." skipped, not
// followed, and calibrate found no audio.
func TestWalkCalibrationLinkedFolder(t *testing.T) {
	real, links := t.TempDir(), t.TempDir()
	song := calibrationSong(t, "01-adagio-c-major.wav")
	if err := os.MkdirAll(filepath.Join(real, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.wav", filepath.Join("sub", "b.wav")} {
		if err := os.WriteFile(filepath.Join(real, name), song, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(links, "corpus")
	if err := os.Symlink(real, dir); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	songs, skipped, err := walkCalibration(context.Background(), dir, "", filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(songs, " ") != "a.wav "+filepath.Join("sub", "b.wav") || len(skipped) != 0 {
		t.Errorf("songs %q, skipped %v; want a.wav and sub/b.wav, nothing skipped", songs, skipped)
	}
}

// barRate matches the bar's count and rate, as in "(1/4, 12 songs/s)".
var barRate = regexp.MustCompile(`\((\d+)/(\d+), (\d+) songs/s\)`)

// TestBarProgressRateFromStart: the terminal bar's rate and ETA count from
// the start of the run. Before, its clock started when the first song
// finished, so the first line claimed thousands of songs/s and an ETA of
// 0 s. A song that took at least 50 ms means at most 20 songs/s; the
// sleep only makes the true rate lower, so the check cannot flake.
func TestBarProgressRateFromStart(t *testing.T) {
	var buf bytes.Buffer
	p := newBarProgress(&buf, 4)
	time.Sleep(50 * time.Millisecond)
	p.Done(false)
	p.Finish()
	m := barRate.FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatalf("no count and rate in the bar: %q", buf.String())
	}
	if rate, _ := strconv.Atoi(m[3]); m[1] != "1" || rate > 20 {
		t.Errorf("bar shows %s songs done at %d songs/s after one song in ≥ 50 ms: %q", m[1], rate, buf.String())
	}
}

// TestBarProgressInterrupted: a run stopped before every song is done
// leaves the bar where it was. Before, Finish filled it, claiming 100 %
// and every song done after Ctrl-C.
func TestBarProgressInterrupted(t *testing.T) {
	var buf bytes.Buffer
	p := newBarProgress(&buf, 5)
	p.Done(false)
	p.Done(true)
	p.Finish()
	if out := buf.String(); strings.Contains(out, "5/5") || strings.Contains(out, "100%") {
		t.Errorf("interrupted after 2 of 5 songs, the bar claims them all: %q", out)
	}

	buf.Reset()
	p = newBarProgress(&buf, 2)
	p.Done(false)
	p.Done(false)
	p.Finish()
	if out := buf.String(); !strings.Contains(out, "2/2") || !strings.Contains(out, "100%") {
		t.Errorf("every song done, the bar is not full: %q", out)
	}
}

// TestCalibrateFitSaysConfiguredMapNotApplied: --fit analyses without the
// calibration map the configuration names, so that the new map is fitted
// to raw measurements; the report's configuration says so. Before, it
// showed the map as in force, and a reader took the results for
// calibrated ones.
func TestCalibrateFitSaysConfiguredMapNotApplied(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "songs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.wav"), calibrationSong(t, "01-adagio-c-major.wav"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "truth.csv"), []byte("file,bpm,key,energy\na.wav,60,C Major,0.25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mapPath := filepath.Join(tmp, "calibration.json")
	m := &calibration.Map{Version: calibration.Version, Songs: 9, Features: map[string]calibration.Linear{"energy": {Slope: 0, Intercept: 0.123, Clamp: true}}}
	if err := m.WriteFile(mapPath); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(tmp, "pipeline.toml")
	if err := os.WriteFile(cfg, []byte("[analysis]\ncalibration = "+strconv.Quote(mapPath)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "report")
	var stdout, stderr bytes.Buffer
	if code := runCalibrate(context.Background(), []string{dir, "--config", cfg, "--out", out, "--fit"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	res, _ := readResults(t, out)
	if len(res.Songs) != 1 || res.Songs[0].Energy == 0.123 {
		t.Fatalf("the configured map was applied under --fit: %+v", res.Songs)
	}
	md, err := os.ReadFile(filepath.Join(out, reports.SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	_, used, _ := strings.Cut(string(md), "## Configuration used")
	if !strings.Contains(used, mapPath) || !strings.Contains(used, "not applied") {
		t.Errorf("the configuration shown names the map %s without saying --fit did not apply it:\n%s", mapPath, used)
	}
}
