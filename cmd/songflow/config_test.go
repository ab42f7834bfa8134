package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/songflow/songflow/calibration"
)

// loadText writes text to a pipeline.toml of its own and loads it as
// every command does. It returns the file's path, whether it loaded, and
// what loadConfig printed.
func loadText(t *testing.T, text string) (path string, ok bool, stderr string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "pipeline.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	_, _, ok = loadConfig(path, &errb)
	return path, ok, errb.String()
}

type loadCase struct {
	text string
	want string // the error after "file PATH ", "" when the file loads
}

func checkLoads(t *testing.T, cases []loadCase) {
	t.Helper()
	for _, tc := range cases {
		path, ok, stderr := loadText(t, tc.text)
		switch {
		case tc.want == "" && !ok:
			t.Errorf("%q: refused: %s", tc.text, stderr)
		case tc.want != "" && ok:
			t.Errorf("%q: loaded; want refused with %q", tc.text, tc.want)
		case tc.want != "" && !strings.HasPrefix(stderr, "songflow: file "+path+" "+tc.want):
			t.Errorf("%q: stderr %q, want %q", tc.text, stderr, "songflow: file "+path+" "+tc.want)
		}
	}
}

// TestLoadConfigMaxChunks: analysis.max_chunks is 1..maxChunks, from the
// file (with its line) and from the environment alike.
func TestLoadConfigMaxChunks(t *testing.T) {
	checkLoads(t, []loadCase{
		{"[analysis]\nmax_chunks = 3600\n", ""},
		{"[analysis]\nmax_chunks = 3601\n", "line 2: analysis.max_chunks: must be 1..3600, got 3601"},
		{"# songs\n\n[analysis]\nsample_rate = 22050\nmax_chunks = 2000000000\n", "line 5: analysis.max_chunks: must be 1..3600, got 2000000000"},
	})
	t.Setenv("MAX_CHUNK_BATCHES", "20000")
	path, ok, stderr := loadText(t, "[analysis]\nmax_chunks = 20\n")
	if want := "songflow: env MAX_CHUNK_BATCHES: analysis.max_chunks: must be 1..3600, got 20000\n"; ok || stderr != want {
		t.Errorf("env over %s: ok %v, stderr %q, want %q", path, ok, stderr, want)
	}
}

// writeMap writes a valid calibration map to path.
func writeMap(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &calibration.Map{Version: calibration.Version, Songs: 12,
		Features: map[string]calibration.Linear{"energy": {Slope: 0.9, Intercept: 0.05, Clamp: true}}}
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestLoadConfigCalibration: analysis.calibration must name a map that
// calibration.Load accepts, checked when the configuration is loaded.
func TestLoadConfigCalibration(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	writeMap(t, good)
	notJSON := filepath.Join(dir, "notjson.json")
	os.WriteFile(notJSON, []byte("calibration, please\n"), 0o644)
	unknown := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknown, []byte(fmt.Sprintf(`{"version": %d, "features": {"tempo": {"slope": 1}}}`, calibration.Version)), 0o644)
	text := func(p string) string { return fmt.Sprintf("[analysis]\nsample_rate = 22050\ncalibration = %q\n", p) }
	checkLoads(t, []loadCase{
		{text(good), ""},
		{text(filepath.Join(dir, "missing.json")), "line 3: analysis.calibration: calibration: open " + filepath.Join(dir, "missing.json") + ": no such file or directory"},
		{text(notJSON), "line 3: analysis.calibration: calibration " + notJSON + ": invalid character"},
		{text(unknown), "line 3: analysis.calibration: calibration " + unknown + `: unknown feature "tempo"`},
		{text(dir), "line 3: analysis.calibration: calibration " + dir + ": "}, // a folder
	})

	// config --check refuses it too; calibrate --fit, which replaces the
	// map, does not.
	path, _, _ := loadText(t, text(filepath.Join(dir, "missing.json")))
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "--check", path}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "file "+path+" line 3: analysis.calibration: ") {
		t.Errorf("config --check: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if _, _, ok := loadConfigFor(path, &errb, false); !ok {
		t.Errorf("without the calibration check: %s", errb.String())
	}
}

// TestLoadConfigCalibrationRelative: a relative analysis.calibration is
// taken from the current folder, at load as when the analyzer starts, not
// from the configuration file's folder.
func TestLoadConfigCalibrationRelative(t *testing.T) {
	work, etc := t.TempDir(), t.TempDir()
	writeMap(t, filepath.Join(work, "maps", "cal.json"))
	writeMap(t, filepath.Join(etc, "beside.json"))
	cfgPath := filepath.Join(etc, "pipeline.toml")
	t.Chdir(work)

	write := func(p string) {
		if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf("[analysis]\ncalibration = %q\n", p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join("maps", "cal.json"))
	var errb bytes.Buffer
	cfg, _, ok := loadConfig(cfgPath, &errb)
	if !ok {
		t.Fatalf("maps/cal.json under the current folder: %s", errb.String())
	}
	a, err := newAnalyzer(context.Background(), cfg)
	if err != nil {
		t.Fatalf("the analyzer does not find what the load found: %v", err)
	}
	a.Close()

	write("beside.json") // next to the configuration, not in the current folder
	errb.Reset()
	if cfg, _, ok = loadConfig(cfgPath, &errb); ok {
		t.Fatal("beside.json, not in the current folder, loaded")
	}
	want := "songflow: file " + cfgPath + " line 2: analysis.calibration: calibration: open beside.json: no such file or directory (a relative path is taken from the current folder)\n"
	if errb.String() != want {
		t.Errorf("stderr %q\nwant   %q", errb.String(), want)
	}
	if _, err := newAnalyzer(context.Background(), cfg); err == nil {
		t.Error("the analyzer loaded beside.json, which the load refused")
	}

	// A relative path that was found, to a damaged map, gets no hint
	// about folders: the folder was right.
	if err := os.WriteFile(filepath.Join(work, "maps", "bad.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join("maps", "bad.json"))
	errb.Reset()
	if _, _, ok = loadConfig(cfgPath, &errb); ok {
		t.Fatal("a damaged map loaded")
	}
	if got := errb.String(); !strings.Contains(got, "bad.json") || strings.Contains(got, "relative path") {
		t.Errorf("damaged map under a relative path: %q, want the file named and no folder hint", got)
	}
}
