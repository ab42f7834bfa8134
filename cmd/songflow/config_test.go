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
	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/stages"
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

// TestLoadConfigChunkOverlap: consecutive chunks must start at least half
// a chunk apart; an overlap of a whole chunk or more stays config's error.
func TestLoadConfigChunkOverlap(t *testing.T) {
	checkLoads(t, []loadCase{
		{"[analysis]\nchunk_seconds = 20.0\nchunk_overlap_seconds = 10.0\n", ""},
		{"[analysis]\nchunk_seconds = 20.0\nchunk_overlap_seconds = 10.5\n",
			"line 3: analysis.chunk_overlap_seconds: must be at most half of chunk_seconds (10 s), got 10.5: "},
		{"[analysis]\nchunk_overlap_seconds = 19.999999\n", // 20 s chunks 1 µs apart
			"line 2: analysis.chunk_overlap_seconds: must be at most half of chunk_seconds (10 s), got 19.999999"},
		{"[analysis]\nchunk_seconds = 4.0\nchunk_overlap_seconds = 4.0\n",
			"line 3: analysis.chunk_overlap_seconds: must be at least 0 and less than chunk_seconds (4), got 4"},
	})
}

// TestLoadConfigChunkSeconds: a chunk holds at least one STFT frame and
// its length in samples cannot overflow.
func TestLoadConfigChunkSeconds(t *testing.T) {
	checkLoads(t, []loadCase{
		{"[analysis]\nchunk_seconds = 0.09288\n", ""}, // 2048 samples at 22050 Hz
		{"[analysis]\nchunk_seconds = 9223372036.0\n", ""},
		{"[analysis]\nchunk_seconds = 0.05\n",
			"line 2: analysis.chunk_seconds: must be at least one STFT frame, fft_size / sample_rate = 2048 / 22050 Hz = 0.09288 s, got 0.05"},
		{"[analysis]\nfft_size = 65536\nsample_rate = 8000\nchunk_seconds = 8.0\n",
			"line 4: analysis.chunk_seconds: must be at least one STFT frame, fft_size / sample_rate = 65536 / 8000 Hz = 8.192 s, got 8"},
		{"[analysis]\nchunk_seconds = 1e300\n", "line 2: analysis.chunk_seconds: must be at most 9223372036 s, got 1e+300"},
	})
}

// TestChunkBoundsAreWhereTheStageBehaves cuts a song with the extreme
// chunk settings the checks accept, and just past them: inside, every
// chunk is as long as configured and the count stays that of a cover at
// half-chunk steps; past them the chunk stage silently misbehaves, which
// is why the checks exist.
func TestChunkBoundsAreWhereTheStageBehaves(t *testing.T) {
	const rate = 22050
	sig := &stages.Signal{Info: &stages.SongInfo{Name: "song"}, Rate: rate, Mono: make([]float32, 600*rate)}
	cut := func(o stages.ChunkOptions) []*stages.Chunk {
		t.Helper()
		cs, err := stages.Chunks(o)(context.Background(), sig)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		return cs
	}
	// Shortest accepted chunk: one 2048-sample frame.
	if cs := cut(stages.ChunkOptions{Seconds: 0.09288, MaxChunks: maxChunks}); len(cs[0].Samples) != 2048 {
		t.Errorf("shortest chunk: %d samples, want 2048", len(cs[0].Samples))
	}
	// Longest accepted chunk: the whole song, even at the highest rate.
	hi := &stages.Signal{Info: sig.Info, Rate: 192000, Mono: sig.Mono}
	if cs, err := stages.Chunks(stages.ChunkOptions{Seconds: float64(maxLoadSeconds), MaxChunks: maxChunks})(context.Background(), hi); err != nil || len(cs) != 1 || len(cs[0].Samples) != len(sig.Mono) {
		t.Errorf("longest chunk: %d chunks, err %v; want the whole song in one", len(cs), err)
	}
	// Most overlap accepted, highest cap: 20 s chunks 10 s apart cover
	// 600 s with 1 + 58 = 59 chunks, twice the song's audio at most.
	if cs := cut(stages.ChunkOptions{Seconds: 20, OverlapSeconds: 10, MaxChunks: maxChunks}); len(cs) != 59 {
		t.Errorf("half-chunk overlap: %d chunks, want 59", len(cs))
	}
	// An overlap a microsecond short of the chunk: the count is that of a
	// one-sample advance, 12,789,001 chunks of 20 s for a 10-minute song,
	// and only max_chunks stops it.
	if cs := cut(stages.ChunkOptions{Seconds: 20, OverlapSeconds: 20 - 1e-6, MaxChunks: maxChunks}); len(cs) != maxChunks {
		t.Errorf("overlap of 20 s − 1 µs: %d chunks, want the cap %d", len(cs), maxChunks)
	}
}

// TestLoadConfigMaxSeconds: max_seconds must fit a sample count.
func TestLoadConfigMaxSeconds(t *testing.T) {
	checkLoads(t, []loadCase{
		{"[analysis]\nmax_seconds = 9223372036.0\n", ""},
		{"[analysis]\nmax_seconds = 1e300\n", "line 2: analysis.max_seconds: must be at most 9223372036 s, got 1e+300"},
	})
}

// TestLoadConfigWatchPeriods: a watch period is 0 or at least 1 ms; under
// a nanosecond it would silently mean 0 ("never", "only at the end").
func TestLoadConfigWatchPeriods(t *testing.T) {
	checkLoads(t, []loadCase{
		{"[watch]\nrescan_seconds = 0.0\nreport_seconds = 0.0\n", ""},
		{"[watch]\nrescan_seconds = 0.001\nreport_seconds = 0.001\n", ""},
		{"[watch]\nrescan_seconds = 1e-10\n", "line 2: watch.rescan_seconds: must be 0 or at least 0.001 s, got 1e-10"},
		{"[watch]\nrescan_seconds = 60.0\nreport_seconds = 0.0001\n", "line 3: watch.report_seconds: must be 0 or at least 0.001 s, got 0.0001"},
	})
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
}

// TestKeyLine places keys as config.Load does for its own errors.
func TestKeyLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.toml")
	text := "# c\n[stages.fft]\nworkers = 2\n\n[analysis]\n  max_chunks=5\nmax_chunks = 6\n[stages]\nchunk = { workers = 1 }\n"
	os.WriteFile(path, []byte(text), 0o644)
	for key, want := range map[string]int{
		"stages.fft.workers":     3,
		"analysis.max_chunks":    7, // the last assignment
		"analysis.hop":           5, // not set: its table
		"stages.chunk.workers":   9, // in an inline table
		"watch.settle_seconds":   0,
		"stages.decode.workers":  8,
		"analysis.chunk_seconds": 5,
	} {
		if got := keyLine(path, key); got != want {
			t.Errorf("keyLine(%s) = %d, want %d", key, got, want)
		}
	}
	// The same line config.Load gives for a key it refuses itself.
	os.WriteFile(path, []byte("[analysis]\n\nhop = 0\n"), 0o644)
	_, _, err := config.Load(path, nil)
	if want := fmt.Sprintf("line %d: analysis.hop", keyLine(path, "analysis.hop")); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("config.Load: %v, want %q", err, want)
	}
}
