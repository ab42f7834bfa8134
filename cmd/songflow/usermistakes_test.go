package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// errDiskFull is what failingWriter answers every write with.
var errDiskFull = errors.New("no space left on device")

// failingWriter is a stdout that cannot be written: a full disk, as with
// `songflow analyze x.wav > /dev/full`.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// TestAnalyzeWriteError: analyze whose results cannot be written says so,
// naming the file and the cause, and exits 1. Before, it exited 0 with
// every result lost.
func TestAnalyzeWriteError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	song := filepath.Join(calibrationSet, "05-shuffle-d-major.wav")
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"analyze", song, song}, failingWriter{}, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), song) || !strings.Contains(errOut.String(), errDiskFull.Error()) {
		t.Errorf("exit %d, stderr %q; want 1 and the file and the write error named", code, errOut.String())
	}
}

// TestKeysCreateUnprintable: a key whose secret could not be printed is
// revoked, and the command fails. Before, it exited 0 leaving an active
// key whose secret, "shown only this once", nobody had.
func TestKeysCreateUnprintable(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "k.db")
	var errOut bytes.Buffer
	if code := runKeys(ctx, []string{"create", "--name", "lost", "--db", db}, failingWriter{}, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), errDiskFull.Error()) || !strings.Contains(errOut.String(), "revoked") {
		t.Errorf("exit %d, stderr %q; want 1, the write error and the key revoked", code, errOut.String())
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !k.Revoked() {
			t.Errorf("key %d (%s) is active, its secret unprinted", k.ID, k.Name)
		}
	}
}

// TestWatchRefusesOutputAroundFolder: a watched folder that is the
// output folder, or lies inside it, is refused at once. Before, the
// watcher took every file in it for one of its own and, without a word,
// analysed nothing.
func TestWatchRefusesOutputAroundFolder(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	e.put(t, "a.wav", calibrationSong(t, "05-shuffle-d-major.wav"))
	for _, out := range []string{e.dir, e.root} {
		watchRefuses(t, "--out "+out, []string{e.dir, "--config", e.cfg, "--out", out}, 2, "lies in the output folder "+out)
		if _, err := os.Stat(filepath.Join(out, watchResultsFile)); err == nil {
			t.Errorf("--out %s: the refused watcher wrote %s", out, watchResultsFile)
		}
	}
	// An output folder inside the watched one is fine.
	r := startWatch(t, watchEnv{dir: e.dir, out: filepath.Join(e.dir, "out"), cfg: e.cfg})
	waitUntil(t, "the song to be analysed", func() bool { return r.out.count("song", "a.wav") == 1 })
	if code := r.stop(t); code != 0 {
		t.Errorf("output folder inside the watched one: exit %d; stderr:\n%s", code, r.err)
	}
}

// TestCalibrateOutIsAFile: a report folder that is a file, or lies under
// one, is refused before any song is analysed. Before, calibrate analysed
// the whole folder and only then failed to write the report.
func TestCalibrateOutIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "report")
	if err := os.WriteFile(file, []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{file, filepath.Join(file, "sub", "dir")} {
		var stdout, stderr bytes.Buffer
		code := runCalibrate(context.Background(), []string{calibrationSet, "--out", out}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), file+" is a file, not a folder") {
			t.Errorf("--out %s: exit %d, stderr %q; want 2 and the file named", out, code, stderr.String())
		}
		if strings.Contains(stderr.String(), "calibrate: ") && strings.Contains(stderr.String(), " songs (") {
			t.Errorf("--out %s: songs were analysed before the folder was refused:\n%s", out, stderr.String())
		}
	}
}

// interruptedAnalyser answers the songs named ok* and bad* at once (bad*
// with an error) and holds the others until the run is interrupted.
type interruptedAnalyser struct {
	mu      sync.Mutex
	answers int
	quick   int           // how many ok* and bad* songs there are
	allDone chan struct{} // closed when every quick song is answered
}

func (f *interruptedAnalyser) AnalyzeThen(ctx context.Context, job stages.Job, entered func()) (stages.Result, error) {
	entered()
	return f.Analyze(ctx, job)
}

func (f *interruptedAnalyser) Analyze(ctx context.Context, job stages.Job) (stages.Result, error) {
	base := filepath.Base(job.Name)
	if !strings.HasPrefix(base, "ok") && !strings.HasPrefix(base, "bad") {
		<-ctx.Done()
		return stages.Result{File: job.Name}, fmt.Errorf("analyze %s: song %q: %w", job.Name, job.Name, ctx.Err())
	}
	defer func() {
		f.mu.Lock()
		f.answers++
		if f.answers == f.quick {
			close(f.allDone)
		}
		f.mu.Unlock()
	}()
	if strings.HasPrefix(base, "bad") {
		return stages.Result{File: job.Name}, fmt.Errorf("analyze %s: decode: corrupt", job.Name)
	}
	return stages.Result{File: job.Name, BPM: 120, Duration: 10}, nil
}

// TestAnalyseAllInterrupted: the songs an interrupt cuts off, in flight
// or never started, are no failures: the progress does not count them
// failed, and the report leaves them out, listed as skipped, while a real
// failure stays one. Before, each was a failed song "context canceled".
func TestAnalyseAllInterrupted(t *testing.T) {
	songs := []string{"ok1.wav", "bad1.wav", "slow1.wav", "ok2.wav", "slow2.wav", "later1.wav", "later2.wav"}
	fa := &interruptedAnalyser{quick: 3, allDone: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-fa.allDone
		cancel()
	}()
	prog := &countProgress{}
	// Room for five songs at once: later* start when ok* and bad* are
	// done, or never, and either way are cut off like slow*.
	recs := analyseAll(ctx, fa, "root", songs, 5, prog, time.Now())
	if prog.failed != 1 || prog.done != 3 {
		t.Errorf("progress counted %d songs done, %d failed; want 3 and 1", prog.done, prog.failed)
	}
	finished, notRun := finishedOnly(recs)
	var got []string
	for _, r := range finished {
		got = append(got, r.File)
	}
	if strings.Join(got, " ") != "ok1.wav bad1.wav ok2.wav" {
		t.Errorf("finished songs %q, want ok1.wav bad1.wav ok2.wav", got)
	}
	if finished[1].Error == "" {
		t.Errorf("the failed song lost its error: %+v", finished[1])
	}
	got = nil
	for _, s := range notRun {
		got = append(got, s.File)
		if !strings.Contains(s.Reason, "interrupted") {
			t.Errorf("%s: reason %q", s.File, s.Reason)
		}
	}
	if strings.Join(got, " ") != "slow1.wav slow2.wav later1.wav later2.wav" {
		t.Errorf("not analysed %q, want slow1.wav slow2.wav later1.wav later2.wav", got)
	}
}

// TestCalibrateInterrupted runs calibrate interrupted before it has
// listed the folder: it stops there, says so and exits 1, with no report
// (it knows no songs to report on). Interrupted later, it reports the
// songs finished and lists the rest as not analysed
// (TestAnalyseAllInterrupted).
func TestCalibrateInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr bytes.Buffer
	if code := runCalibrate(ctx, []string{calibrationSet, "--out", out}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q; want 1 and the interrupt named", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("results.json of a run interrupted before it listed a song: %v", err)
	}
}

// TestBenchInterrupted: bench interrupted before it has read the files
// stops reading, analyses nothing and prints no figures (they would
// describe no run); it says it was interrupted, once, and exits 1.
func TestBenchInterrupted(t *testing.T) {
	song := filepath.Join(calibrationSet, "05-shuffle-d-major.wav")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"bench", song, "--repeat", "3"}, &stdout, &stderr)
	if code != 1 || stdout.Len() != 0 || strings.Count(stderr.String(), "interrupted") != 1 ||
		strings.Contains(stderr.String(), "context canceled") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant 1, no figures, and the interrupt named once", code, stdout.String(), stderr.String())
	}
}

func TestBenchWriteError(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	song := filepath.Join(calibrationSet, "05-shuffle-d-major.wav")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"bench", song, "--repeat", "1"}, failingWriter{}, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), errDiskFull.Error()) {
		t.Errorf("exit %d, stderr %q; want 1 and the write error", code, stderr.String())
	}
}

// TestWatchStopTimeoutNegative: a negative --stop-timeout is refused with
// the reason, not with the bare usage line.
func TestWatchStopTimeoutNegative(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	// NaN and 1e10 s would convert to an undefined or negative grace.
	for _, v := range []string{"-1", "NaN", "1e10"} {
		var stdout, stderr bytes.Buffer
		if code := runWatch(context.Background(), []string{e.dir, "--out", e.out, "--stop-timeout", v}, &stdout, &stderr); code != 2 ||
			!strings.Contains(stderr.String(), "--stop-timeout must be 0..9223372036 seconds") {
			t.Errorf("%s: exit %d, stderr %q; want 2 and the reason", v, code, stderr.String())
		}
	}
}

// keys list and revoke on a database that does not exist say so, and
// leave no empty database behind; create makes one.
func TestKeysMissingDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "typo.db")
	for _, args := range [][]string{{"list"}, {"revoke", "1"}} {
		var out, errb bytes.Buffer
		code := runKeys(context.Background(), append(args, "--db", db), &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "no database at "+db) {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
		if _, err := os.Stat(db); err == nil {
			t.Fatalf("%v made %s", args, db)
		}
	}
	var out, errb bytes.Buffer
	if code := runKeys(context.Background(), []string{"create", "--db", db}, &out, &errb); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errb.String())
	}
}

// TestAnalyzeNamesNotUTF8: files whose names are not UTF-8 (Latin-1 from
// an old archive) keep names apart in analyze's lines, each stray byte
// read as Latin-1, as results.jsonl writes them. Before, encoding/json
// wrote every such byte as U+FFFD: "caf\xe9.wav" and "caf\xe8.wav" both
// printed as "caf\ufffd.wav", and nobody could tell whose line was whose.
func TestAnalyzeNamesNotUTF8(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	dir := t.TempDir()
	song := filepath.Join(dir, "caf\xe9.wav")
	if err := os.WriteFile(song, calibrationSong(t, "05-shuffle-d-major.wav"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "caf\xe8.wav")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"analyze", song, missing}, &out, &errOut); code != 1 {
		t.Errorf("exit %d, want 1 (one file missing); stderr %s", code, errOut.String())
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var line struct{ File, Error string }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if strings.ContainsRune(line.File+line.Error, utf8.RuneError) {
			t.Errorf("line %q holds U+FFFD", l)
		}
		got = append(got, line.File)
	}
	if want := []string{filepath.Join(dir, "café.wav"), filepath.Join(dir, "cafè.wav")}; !slices.Equal(got, want) {
		t.Errorf("lines name %q, want %q", got, want)
	}
}

// TestBenchDefaultFolderMissing: bench run without a path outside the
// repository says that the folder it looked for is its default, and how
// to name songs instead. Before, it said only "lstat
// testdata/calibration: no such file or directory", a path the user never
// typed.
func TestBenchDefaultFolderMissing(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"bench", "--repeat", "1"}, &out, &errOut)
	if code != 2 || !strings.Contains(errOut.String(), "no FILE or DIR given") ||
		!strings.Contains(errOut.String(), filepath.Join("testdata", "calibration")) {
		t.Errorf("exit %d, stderr %q; want 2 and the default folder named as the default", code, errOut.String())
	}
}

// TestAnalyzeInterrupted: files that Ctrl-C kept from being analysed
// have lines that say so, and stderr says the run was interrupted, as
// calibrate and bench say it. Before, each line's error was Go's "context
// canceled" and stderr said nothing.
func TestAnalyzeInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before any file entered the pipeline
	files := []string{filepath.Join(calibrationSet, "05-shuffle-d-major.wav"), filepath.Join(calibrationSet, "notes.txt")}
	var out, errOut bytes.Buffer
	if code := run(ctx, append([]string{"analyze"}, files...), &out, &errOut); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(files) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(files), out.String())
	}
	for i, l := range lines {
		var line struct{ File, Error string }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if line.File != files[i] || line.Error != "not analysed: interrupted" {
			t.Errorf("line %q; want %s not analysed: interrupted", l, files[i])
		}
	}
	if want := "songflow analyze: interrupted; 2 of 2 files not analysed\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut.String(), want)
	}
}

// TestCalibrateHelpSaysFitRecalibratesConfidences: calibrate -h says
// what --fit fits from a truth of tempi and keys alone, as the README
// does. Before, it spoke of the descriptor columns only, and a user whose
// truth.csv has no energy or valence had no reason to try it.
func TestCalibrateHelpSaysFitRecalibratesConfidences(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"calibrate", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "bpm_confidence") || !strings.Contains(errOut.String(), "key_confidence") {
		t.Errorf("calibrate -h does not say --fit recalibrates the confidences:\n%s", errOut.String())
	}
}
