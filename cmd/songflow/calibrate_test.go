package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/reports"
	"github.com/songflow/songflow/stages"
)

const calibrationSet = "../../testdata/calibration"

func TestWalkCalibration(t *testing.T) {
	songs, skipped, err := walkCalibration(context.Background(), calibrationSet, "truth.csv", filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	if len(songs) < 10 {
		t.Errorf("%d songs found: %v", len(songs), songs)
	}
	formats := map[string]bool{}
	for _, s := range songs {
		formats[filepath.Ext(s)] = true
	}
	for _, ext := range []string{".wav", ".flac", ".mp3", ".m4a"} {
		if !formats[ext] {
			t.Errorf("no %s song in the calibration set", ext)
		}
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[filepath.ToSlash(s.File)] = s.Reason
	}
	if !strings.HasPrefix(reasons["notes.txt"], "not audio") {
		t.Errorf("notes.txt: %q", reasons["notes.txt"])
	}
	if reasons["truth.csv"] == "" || reasons["make.sh"] == "" || reasons["gen/main.go"] == "" {
		t.Errorf("skipped: %v", reasons)
	}
}

func TestWalkCalibrationSniffsBytes(t *testing.T) {
	dir := t.TempDir()
	wav := calibrationSong(t, "01-adagio-c-major.wav")
	// Audio with a misleading name is found; text named .mp3 is not.
	os.WriteFile(filepath.Join(dir, "song.dat"), wav, 0o644)
	os.WriteFile(filepath.Join(dir, "fake.mp3"), []byte("hello, this is text\n"), 0o644)
	os.Mkdir(filepath.Join(dir, ".hidden"), 0o755)
	os.WriteFile(filepath.Join(dir, ".hidden", "x.wav"), wav, 0o644)
	out := filepath.Join(dir, "report")
	os.Mkdir(out, 0o755)
	os.WriteFile(filepath.Join(out, "y.wav"), wav, 0o644)
	songs, skipped, err := walkCalibration(context.Background(), dir, "", out)
	if err != nil {
		t.Fatal(err)
	}
	if len(songs) != 1 || songs[0] != "song.dat" {
		t.Errorf("songs %v", songs)
	}
	if len(skipped) != 1 || skipped[0].File != "fake.mp3" {
		t.Errorf("skipped %v", skipped)
	}
}

// fakeAnalyser answers from a table, failing songs not in it, and records
// how many calls were in flight at once.
type fakeAnalyser struct {
	bpm            map[string]float64
	mu             sync.Mutex
	inFlight, peak int
}

func (f *fakeAnalyser) AnalyzeThen(ctx context.Context, job stages.Job, entered func()) (stages.Result, error) {
	entered()
	return f.Analyze(ctx, job)
}

func (f *fakeAnalyser) Analyze(ctx context.Context, job stages.Job) (stages.Result, error) {
	f.mu.Lock()
	f.inFlight++
	f.peak = max(f.peak, f.inFlight)
	f.mu.Unlock()
	time.Sleep(time.Millisecond)
	f.mu.Lock()
	f.inFlight--
	f.mu.Unlock()
	bpm, ok := f.bpm[filepath.Base(job.Name)]
	if !ok {
		return stages.Result{File: job.Name}, fmt.Errorf("analyze %s: decode: %w", job.Name, errors.New("corrupt"))
	}
	return stages.Result{File: job.Name, BPM: bpm, Duration: 10, StageSeconds: map[string]float64{"decode": 0.001}}, nil
}

type countProgress struct {
	mu           sync.Mutex
	done, failed int
	finished     bool
}

func (c *countProgress) Done(failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done++
	if failed {
		c.failed++
	}
}

func (c *countProgress) Finish() { c.finished = true }

func TestAnalyseAll(t *testing.T) {
	var songs []string
	fa := &fakeAnalyser{bpm: map[string]float64{}}
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("s%02d.wav", i)
		songs = append(songs, filepath.Join("sub", name))
		if i%10 != 3 {
			fa.bpm[name] = float64(60 + i)
		}
	}
	prog := &countProgress{}
	recs := analyseAll(context.Background(), fa, "root", songs, 5, prog, time.Now())
	if len(recs) != 40 || prog.done != 40 || prog.failed != 4 || !prog.finished {
		t.Fatalf("%d records, progress %+v", len(recs), prog)
	}
	if fa.peak > 5 {
		t.Errorf("%d songs in flight, limit 5", fa.peak)
	}
	for i, r := range recs {
		if r.File != songs[i] {
			t.Errorf("record %d is %s, want %s (input order, relative path)", i, r.File, songs[i])
		}
		if failed := i%10 == 3; failed != (r.Error != "") || (!failed && r.BPM != float64(60+i)) {
			t.Errorf("record %d: %+v", i, r)
		}
		if r.Finished <= 0 {
			t.Errorf("record %d has no finishing time", i)
		}
	}
}

func TestAnalyseAllCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	recs := analyseAll(ctx, &fakeAnalyser{}, "root", []string{"a.wav", "b.wav"}, 1, &countProgress{}, time.Now())
	for _, r := range recs {
		if r.Error == "" {
			t.Errorf("%s: no error after cancellation", r.File)
		}
	}
}

func TestPlainProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newPlainProgress(&buf, 3, time.Hour)
	p.Done(false)
	p.Done(true)
	p.Finish()
	if got := buf.String(); !strings.HasPrefix(got, "calibrate: 2/3 songs (1 failed), ") || !strings.Contains(got, "ETA") {
		t.Errorf("progress line %q", got)
	}
}

func TestCalibrateUsage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[stages.decode]\nworkers = 0\n"), 0o644)
	for _, args := range [][]string{
		{calibrationSet, "--config", bad},
		{},
		{"--bogus", calibrationSet},
		{calibrationSet, "extra"},
		{filepath.Join(t.TempDir(), "missing")},
		{filepath.Join(calibrationSet, "notes.txt")},
	} {
		var out, errb bytes.Buffer
		if code := runCalibrate(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("calibrate %q: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

func TestCalibrateNothingToAnalyse(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("no songs here"), 0o644)
	var out, errb bytes.Buffer
	if code := runCalibrate(context.Background(), []string{dir, "--out", filepath.Join(dir, "r")}, &out, &errb); code != 1 {
		t.Errorf("exit %d, want 1; stderr %q", code, errb.String())
	}
	if !strings.Contains(errb.String(), "readme.txt") {
		t.Errorf("the skipped file is not listed: %q", errb.String())
	}
}

// TestCalibrateEndToEnd runs the whole pipeline on the calibration set and
// checks the report against what its own results imply.
func TestCalibrateEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline on the calibration set")
	}
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr bytes.Buffer
	code := runCalibrate(context.Background(), []string{calibrationSet, "--out", out, "--fit"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	t.Logf("stdout:\n%s", stdout.String())

	res, _ := readResults(t, out)
	if len(res.Songs) < 10 {
		t.Fatalf("%d songs in results.json", len(res.Songs))
	}
	skippedNotes := false
	for _, s := range res.Skipped {
		skippedNotes = skippedNotes || s.File == "notes.txt"
	}
	if !skippedNotes {
		t.Errorf("notes.txt not listed as skipped: %v", res.Skipped)
	}

	// Score results.json independently of package reports' helpers.
	var tempoN, acc1, acc2, keyN, failed int
	// The set's truth writes time signatures as the analysis spells them,
	// so an emitted one is correct when it is the same string.
	var meterN, emitted, meterOK int
	meterTruths := map[string]bool{}
	var keySum, audio float64
	for _, s := range res.Songs {
		if s.Error != "" {
			failed++
			continue
		}
		audio += s.Duration
		if s.Truth == nil {
			t.Errorf("%s has no truth", s.File)
			continue
		}
		if len(s.StageSeconds) == 0 {
			t.Errorf("%s has no per-stage timings", s.File)
		}
		if tb := s.Truth.BPM; tb > 0 {
			tempoN++
			if math.Abs(s.BPM-tb) <= 0.04*tb {
				acc1++
			}
			for _, f := range []float64{1.0 / 3, 0.5, 1, 2, 3} {
				if math.Abs(s.BPM-f*tb) <= 0.04*f*tb {
					acc2++
					break
				}
			}
		}
		if ts := s.Truth.TimeSignature; ts != "" {
			meterN++
			meterTruths[ts] = true
			if s.TimeSignature != "" {
				emitted++
			}
			if s.TimeSignature == ts {
				meterOK++
			}
		}
		if s.Truth.Key != "" {
			keyN++
			tk, err1 := dsp.ParseKey(s.Truth.Key)
			ek, err2 := dsp.ParseKey(s.Key)
			if err1 != nil {
				t.Errorf("%s: truth key %q: %v", s.File, s.Truth.Key, err1)
			}
			if err2 == nil {
				d := ((ek.Tonic-tk.Tonic)%12 + 12) % 12
				switch {
				case ek == tk:
					keySum += 1
				case ek.Minor == tk.Minor && d == 7:
					keySum += 0.5
				case !ek.Minor && tk.Minor && d == 3, ek.Minor && !tk.Minor && d == 9:
					keySum += 0.3
				case ek.Minor != tk.Minor && d == 0:
					keySum += 0.2
				}
			}
		}
	}
	if tempoN < 10 || keyN < 10 {
		t.Fatalf("only %d songs with a tempo truth and %d with a key truth were analysed (%d failed)", tempoN, keyN, failed)
	}

	md, err := os.ReadFile(filepath.Join(out, reports.SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	summary := string(md)
	figure := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(summary)
		if m == nil {
			t.Fatalf("summary.md has no match for %s:\n%s", re, summary)
		}
		return m[1]
	}
	pct := func(n, d int) string { return strconv.FormatFloat(100*float64(n)/float64(d), 'f', 1, 64) }
	if got := figure(`\| tempo Accuracy1 \| ([0-9.]+) %`); got != pct(acc1, tempoN) {
		t.Errorf("summary Accuracy1 %s %%, results imply %s %% (%d of %d)", got, pct(acc1, tempoN), acc1, tempoN)
	}
	if got := figure(`\| tempo Accuracy2 \| ([0-9.]+) %`); got != pct(acc2, tempoN) {
		t.Errorf("summary Accuracy2 %s %%, results imply %s %%", got, pct(acc2, tempoN))
	}
	if got, want := figure(`\| key weighted score \| ([0-9.]+) `), strconv.FormatFloat(keySum/float64(keyN), 'f', 3, 64); got != want {
		t.Errorf("summary key score %s, results imply %s", got, want)
	}
	// The set has songs in triple and in compound time, so that the
	// time signature's scoring is shown with known answers.
	for _, ts := range []string{"4/4", "3/4", "6/8"} {
		if !meterTruths[ts] {
			t.Errorf("no song of the calibration set has the true time signature %s", ts)
		}
	}
	if got, want := figure(`\| time signature emitted \| [0-9.]+ % \(([0-9]+ of [0-9]+)\) \|`), fmt.Sprintf("%d of %d", emitted, meterN); got != want {
		t.Errorf("summary: time signature emitted for %s, results imply %s", got, want)
	}
	if got, want := figure(`\| correct, of all with a truth \| [0-9.]+ % \(([0-9]+ of [0-9]+)\) \|`), fmt.Sprintf("%d of %d", meterOK, meterN); got != want {
		t.Errorf("summary: time signature correct for %s, results imply %s", got, want)
	}
	if !strings.Contains(stdout.String(), "meter  correct "+pct(meterOK, meterN)+" %") {
		t.Errorf("stdout lacks the meter headline: %s", stdout.String())
	}
	if got := figure(`\| failed \| ([0-9]+) \|`); got != strconv.Itoa(failed) {
		t.Errorf("summary failed %s, results have %d", got, failed)
	}
	if got, want := figure(`\| seconds of audio \| ([0-9.]+) \|`), strconv.FormatFloat(audio, 'f', 1, 64); got != want {
		t.Errorf("summary audio %s s, results add up to %s s", got, want)
	}
	for _, want := range []string{"Bottleneck:", "[stages.decode]", "## Configuration used", "## Calibration fit"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if !strings.Contains(stdout.String(), "Accuracy1 "+pct(acc1, tempoN)+" %") {
		t.Errorf("stdout lacks the Accuracy1 headline: %s", stdout.String())
	}
	if strings.Contains(stdout.String(), "truth ") || len(res.UnmatchedTruth) != 0 || strings.Contains(summary, "match no audio file") {
		t.Errorf("every truth row has its song, yet some are reported unmatched: %v\n%s", res.UnmatchedTruth, stdout.String())
	}

	if m, err := calibration.Load(filepath.Join(out, "calibration.json")); err != nil {
		t.Errorf("--fit: %v", err)
	} else if len(m.Features) == 0 {
		t.Error("--fit wrote an empty map")
	}
	if !strings.Contains(summary, "MAE after (CV)") {
		t.Error("summary.md has no cross-validated fit table")
	}
	for _, name := range append(reports.PlotFiles(), reports.ResultsCSV) {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	for _, name := range reports.PlotFiles() {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 400 || b.Dx() > 4000 {
			t.Errorf("%s is %dx%d", name, b.Dx(), b.Dy())
		}
	}
}

// TestCalibrateSpotifyExport matches a song to a playlist export by the
// "Artist - Title" of its file name.
func TestCalibrateSpotifyExport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	dir := t.TempDir()
	wav := calibrationSong(t, "01-adagio-c-major.wav")
	os.WriteFile(filepath.Join(dir, "Synth Band - Adagio.wav"), wav, 0o644)
	os.WriteFile(filepath.Join(dir, "My Playlist.csv"), []byte("Song,Artist,BPM,Key,Dance,Energy,Acoustic,Happy,Loud (Db),Camelot\n"+
		"Adagio (Remastered),Synth Band,60,C,30,25,10,50,-8 db,8B\n"), 0o644)
	out := filepath.Join(dir, "report")
	var stdout, stderr bytes.Buffer
	if code := runCalibrate(context.Background(), []string{dir, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	res, b := readResults(t, out)
	if len(res.Songs) != 1 || res.TruthFile != "My Playlist.csv" {
		t.Fatalf("results: %s", b)
	}
	tr := res.Songs[0].Truth
	if tr == nil || tr.BPM != 60 || tr.Key != "C Major" || tr.Reference["energy"] != 0.25 || tr.Reference["loudness"] != -8 {
		t.Errorf("truth %+v", tr)
	}
	if res.Songs[0].TempoOutcome == "" || res.Songs[0].KeyOutcome == "" {
		t.Errorf("not scored: %+v", res.Songs[0])
	}
}

// TestCalibrateUnmatchedTruth: a truth row that names no file, or names
// one only ignoring case and ambiguously, is reported on the console, in
// summary.md and in results.json; a row naming one file only ignoring
// case gives that file its truth.
func TestCalibrateUnmatchedTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the pipeline")
	}
	dir := t.TempDir()
	wav := calibrationSong(t, "01-adagio-c-major.wav")
	for _, name := range []string{"song.wav", "b/Twin.wav", "c/TWIN.wav"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, wav, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	truth := "file,bpm,key\nSong.WAV,60,C\nmissing.wav,100,D\ntwin.wav,90,E\n"
	if err := os.WriteFile(filepath.Join(dir, "truth.csv"), []byte(truth), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report")
	var stdout, stderr bytes.Buffer
	if code := runCalibrate(context.Background(), []string{dir, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	const line = "truth  2 rows of truth.csv match no audio file: missing.wav, twin.wav (ambiguous case)\n"
	if !strings.Contains(stdout.String(), line) {
		t.Errorf("stdout lacks %q:\n%s", line, stdout.String())
	}

	md, err := os.ReadFile(filepath.Join(out, reports.SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	want := "Rows of `truth.csv` that match no audio file:\n\n- `missing.wav` (line 3)\n" +
		"- `twin.wav` (line 4): ambiguous ignoring case: `" + filepath.FromSlash("b/Twin.wav") + "`, `" + filepath.FromSlash("c/TWIN.wav") + "`\n"
	if !strings.Contains(string(md), want) || !strings.Contains(string(md), "| truth rows matching no file | 2 |") {
		t.Errorf("summary.md lacks the unmatched rows %q:\n%s", want, md)
	}

	res, _ := readResults(t, out)
	wantRows := []reports.UnmatchedRow{
		{Row: "missing.wav", Line: 3},
		{Row: "twin.wav", Line: 4, Ambiguous: []string{filepath.FromSlash("b/Twin.wav"), filepath.FromSlash("c/TWIN.wav")}},
	}
	if res.TruthFile != "truth.csv" || res.Dir != dir || !reflect.DeepEqual(res.UnmatchedTruth, wantRows) {
		t.Errorf("results.json: dir %q, truth file %q, unmatched %+v; want %q, truth.csv, %+v", res.Dir, res.TruthFile, res.UnmatchedTruth, dir, wantRows)
	}
	truths := map[string]*reports.Truth{}
	for _, s := range res.Songs {
		truths[filepath.ToSlash(s.File)] = s.Truth
	}
	if tr := truths["song.wav"]; tr == nil || tr.BPM != 60 || tr.Key != "C Major" {
		t.Errorf("song.wav's truth %+v, want Song.WAV's row", tr)
	}
	if truths["b/Twin.wav"] != nil || truths["c/TWIN.wav"] != nil || len(truths) != 3 {
		t.Errorf("truths %v: the twins must have none", truths)
	}
}

// TestBadCalibrationMap: a calibration map in force that cannot be loaded
// is a configuration error (exit 2), refused with the configuration, for
// calibrate and watch alike, except
// when calibrate --fit is to replace it: fitting sees the raw
// measurements, and the report still shows the configuration as given.
func TestBadCalibrationMap(t *testing.T) {
	dir, etc := t.TempDir(), t.TempDir()
	wav := calibrationSong(t, "01-adagio-c-major.wav")
	os.WriteFile(filepath.Join(dir, "song.wav"), wav, 0o644)
	missing := filepath.Join(etc, "missing.json")
	cfg := filepath.Join(etc, "cal.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[analysis]\ncalibration = %q\n\n[server]\ndb_path = %q\n", missing, filepath.Join(etc, "songflow.db"))), 0o644)

	for _, cmd := range []string{"calibrate", "watch"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{cmd, dir, "--config", cfg, "--out", filepath.Join(etc, cmd)}, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "songflow: file "+cfg+" line 2: analysis.calibration: ") {
			t.Errorf("%s: exit %d, want 2; stderr %q", cmd, code, errb.String())
		}
	}

	if testing.Short() {
		return
	}
	out := filepath.Join(etc, "fit")
	var stdout, stderr bytes.Buffer
	if code := runCalibrate(context.Background(), []string{dir, "--config", cfg, "--out", out, "--fit"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--fit: exit %d: %s", code, stderr.String())
	}
	md, err := os.ReadFile(filepath.Join(out, reports.SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("calibration = %q", missing); !strings.Contains(string(md), want) {
		t.Errorf("summary.md's configuration lacks %s", want)
	}
}

func TestInFlightLimit(t *testing.T) {
	var cfg config.Config
	st := &cfg.Stages
	st.Decode.Workers, st.Decode.Buffer = 2, 4
	st.Resample.Workers, st.Resample.Buffer = 1, 4
	st.Chunk.Workers, st.Chunk.Buffer = 0, 8 // 0 workers count as 1
	st.FFT.Workers, st.FFT.Buffer = 3, 16
	st.Aggregate.Workers, st.Aggregate.Buffer = 1, 2
	// One more than every stage's workers and buffers: 1 + 6 + 5 + 9 + 19 + 3.
	if got := inFlightLimit(cfg); got != 43 {
		t.Errorf("inFlightLimit = %d, want 43", got)
	}
}

// When one truth row names a song kept in two subfolders (the same songs
// as WAV and as MP3, say), --fit must judge the map as if each song were
// there once: both files of a song fall in the same fold.
func TestFitCalibrationKeepsASongInOneFold(t *testing.T) {
	var truth strings.Builder
	truth.WriteString("file,bpm,energy\n")
	for i := 0; i < 7; i++ {
		fmt.Fprintf(&truth, "%c.wav,120,%g\n", 'a'+i, math.Mod(float64(i)*0.618, 1))
	}
	set, err := reports.ReadTruth(strings.NewReader(truth.String()), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	fit := func(folders ...string) calibration.FeatureFit {
		t.Helper()
		run := &reports.Run{}
		for _, dir := range folders { // the files in lexical order, as walked
			for i := 0; i < 7; i++ {
				file := filepath.Join(dir, string(rune('a'+i))+".wav")
				run.Records = append(run.Records, reports.Record{Result: stages.Result{File: file, Energy: float64(i) / 6}})
			}
		}
		if un := set.Match(run.Records); len(un) != 0 {
			t.Fatalf("truth rows unmatched: %+v", un)
		}
		fitCalibration(run, t.TempDir())
		if len(run.Fit) != 1 {
			t.Fatalf("fits %+v, note %q", run.Fit, run.FitNote)
		}
		return run.Fit[0]
	}
	once, twice := fit("wav"), fit("mp3", "wav")
	if math.Abs(once.MAEAfter-twice.MAEAfter) > 1e-12 || once.Kept != twice.Kept || twice.Songs != 7 {
		t.Errorf("each song once: %+v; twice: %+v; want the same cross-validated error", once, twice)
	}
}

// With too few songs to fit any feature, the note says so; it must not
// claim that cross-validation rejected maps it never fitted.
func TestFitCalibrationTooFewSongsNote(t *testing.T) {
	run := &reports.Run{}
	for i := range calibration.MinSongs - 1 {
		run.Records = append(run.Records, reports.Record{
			Result: stages.Result{File: fmt.Sprintf("%d.wav", i), Energy: float64(i) / 4},
			Truth:  &reports.Truth{Reference: map[string]float64{"energy": float64(i) / 3}, Source: "truth.csv", Row: i + 2},
		})
	}
	fitCalibration(run, t.TempDir())
	if len(run.Fit) != 1 || run.Fit[0].Skipped == "" || run.FitFile != "" {
		t.Fatalf("fits %+v, file %q", run.Fit, run.FitFile)
	}
	if strings.Contains(run.FitNote, "cross-validated") || !strings.Contains(run.FitNote, "too few songs") {
		t.Errorf("note %q, want it to say there were too few songs", run.FitNote)
	}
}

// A song linked into the calibration folder is analysed like a copy; a
// broken link and a link to a folder are listed as skipped with why.
func TestWalkCalibrationFollowsLinksToFiles(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	song, err := filepath.Abs(filepath.Join(calibrationSet, "01-adagio-c-major.wav"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ target, name string }{
		{song, "linked.wav"},
		{filepath.Join(src, "gone.wav"), "broken.wav"},
		{src, "folder"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.name)); err != nil {
			t.Skipf("no symbolic links here: %v", err)
		}
	}
	songs, skipped, err := walkCalibration(context.Background(), dir, "", filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	if len(songs) != 1 || songs[0] != "linked.wav" {
		t.Errorf("songs %v, want [linked.wav]", songs)
	}
	reasons := map[string]string{}
	for _, s := range skipped {
		reasons[s.File] = s.Reason
	}
	if !strings.HasPrefix(reasons["broken.wav"], "broken link") || !strings.Contains(reasons["folder"], "not followed") || len(reasons) != 2 {
		t.Errorf("skipped %v", reasons)
	}
}

// TestWalkCalibrationUnreadableFolder checks that a folder the walk cannot
// read is listed as skipped, with the reason, and the other songs are
// still analysed. Its path is made longer than the system allows (a test
// running as root reads every folder whatever its permissions).
func TestWalkCalibrationUnreadableFolder(t *testing.T) {
	dir := t.TempDir()
	song := calibrationSong(t, "01-adagio-c-major.wav")
	if err := os.WriteFile(filepath.Join(dir, "a.wav"), song, 0o644); err != nil {
		t.Fatal(err)
	}
	// Folders are made one inside the other through os.Root, whose calls
	// take paths relative to an open folder, so each stays short.
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("d", 200)
	depth := 0
	for ; len(dir)+depth*(len(name)+1) < 5000; depth++ {
		if err := root.Mkdir(name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := root.OpenRoot(name)
		root.Close()
		if err != nil {
			t.Fatal(err)
		}
		root = next
	}
	root.Close()
	songs, skipped, err := walkCalibration(context.Background(), dir, "", filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatalf("one unreadable folder stopped the walk: %v", err)
	}
	if len(songs) != 1 || songs[0] != "a.wav" {
		t.Errorf("songs %v, want [a.wav]", songs)
	}
	if len(skipped) != 1 || !strings.HasPrefix(skipped[0].File, name) || !strings.Contains(skipped[0].Reason, "unreadable") {
		t.Errorf("skipped %+v, want the deep folder, unreadable", skipped)
	}
}

// A truth with tempi but no descriptor columns still recalibrates an
// under-confident bpm_confidence (songs at 0.3 right 7 times in 10, at
// 0.6 9 times in 10): calibration.json holds the recalibration alone, and
// the report shows its cross-validated Brier score.
func TestFitCalibrationConfidenceOnly(t *testing.T) {
	run := &reports.Run{}
	for i := range 20 {
		conf, bpm := 0.3, 120.0
		if i%2 == 1 {
			conf = 0.6
		}
		if (conf == 0.3 && i/2 >= 7) || (conf == 0.6 && i/2 >= 9) {
			bpm = 240 // an octave off: wrong by Accuracy1
		}
		run.Records = append(run.Records, reports.Record{
			Result: stages.Result{File: fmt.Sprintf("%02d.wav", i), BPM: bpm, BPMConfidence: conf},
			Truth:  &reports.Truth{BPM: 120, Source: "truth.csv", Row: i + 2},
		})
	}
	out := t.TempDir()
	fitCalibration(run, out)
	if run.FitFile == "" || len(run.Fit) != 0 || len(run.ConfidenceFit) != 1 || !run.ConfidenceFit[0].Kept {
		t.Fatalf("file %q, fits %+v, confidence fits %+v, note %q", run.FitFile, run.Fit, run.ConfidenceFit, run.FitNote)
	}
	m, err := calibration.Load(run.FitFile)
	if err != nil {
		t.Fatal(err)
	}
	r := stages.Result{BPM: 100, BPMConfidence: 0.6}
	m.Apply(&r)
	if !(r.BPMConfidence > 0.8 && r.BPMConfidence < 0.95) {
		t.Errorf("0.6 recalibrated to %g, want about 0.9", r.BPMConfidence)
	}
	if _, err := reports.Write(out, run); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, reports.SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| bpm_confidence | 20 | 5 |") {
		t.Errorf("summary.md has no confidence fit row:\n%s", md)
	}
}

// readResults reads the results.json of the report in out, and its bytes
// for messages.
func readResults(t *testing.T, out string) (reports.Results, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, reports.ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var res reports.Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res, b
}

// An earlier report inside the calibrated folder (`calibrate .` puts its
// reports there) is one skipped entry, not its files one by one; a song
// beside it in the same parent folder is still found.
func TestWalkCalibrationSkipsEarlierReports(t *testing.T) {
	dir := t.TempDir()
	song := calibrationSong(t, "01-adagio-c-major.wav")
	report := filepath.Join(dir, "reports", "20261127T101010Z")
	os.MkdirAll(report, 0o755)
	for _, name := range []string{reports.SummaryMarkdown, reports.ResultsJSON, reports.ResultsCSV, "bpm_scatter.png"} {
		os.WriteFile(filepath.Join(report, name), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(report, "copy.wav"), song, 0o644) // inside a report: not a song
	os.WriteFile(filepath.Join(dir, "reports", "song.wav"), song, 0o644)
	songs, skipped, err := walkCalibration(context.Background(), dir, "", filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	want := []reports.Skipped{{File: filepath.Join("reports", "20261127T101010Z"), Reason: "an earlier songflow report, not songs"}}
	if !reflect.DeepEqual(songs, []string{filepath.Join("reports", "song.wav")}) || !reflect.DeepEqual(skipped, want) {
		t.Errorf("songs %v, skipped %+v", songs, skipped)
	}
}

// Ctrl-C while the folder is listed stops the listing, not after it.
func TestWalkCalibrationCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	songs, _, err := walkCalibration(ctx, calibrationSet, "truth.csv", filepath.Join(t.TempDir(), "out"))
	if !errors.Is(err, context.Canceled) || len(songs) != 0 {
		t.Errorf("cancelled walk: %d songs, %v; want none and context.Canceled", len(songs), err)
	}
}

// TestMakeOutDir: default report folders are named for the second a run
// started, so a second run in the same second gets a folder of its own
// instead of writing over the first's report; a folder given with --out
// is used as it is, made when missing; and a folder that cannot be
// written in is refused before any song is analysed.
func TestMakeOutDir(t *testing.T) {
	base := filepath.Join(t.TempDir(), "reports", "20261128T040057Z")
	first, made, err := makeOutDir(base, true)
	if err != nil || first != base || !made {
		t.Fatalf("first run: %q made %v, %v; want %q made", first, made, err, base)
	}
	second, made, err := makeOutDir(base, true)
	if err != nil || second != base+"-2" || !made {
		t.Fatalf("second run in the same second: %q made %v, %v; want %q made", second, made, err, base+"-2")
	}
	if ents, _ := os.ReadDir(first); len(ents) != 0 {
		t.Errorf("the write check left files behind: %v", ents)
	}

	given := filepath.Join(t.TempDir(), "a", "b")
	if dir, made, err := makeOutDir(given, false); err != nil || dir != given || !made {
		t.Errorf("--out %s: %q made %v, %v", given, dir, made, err)
	}
	// Given again, it exists: used as it is, not made.
	if dir, made, err := makeOutDir(given, false); err != nil || dir != given || made {
		t.Errorf("--out %s again: %q made %v, %v", given, dir, made, err)
	}

	t.Run("unwritable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes into read-only folders; this case needs another user")
		}
		ro := filepath.Join(t.TempDir(), "ro")
		if err := os.Mkdir(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		if _, _, err := makeOutDir(ro, false); err == nil || !strings.Contains(err.Error(), "cannot write the report there") {
			t.Errorf("read-only --out: error %v, want it refused", err)
		}
	})
}

// TestNotSkipped: a truth row naming a file the walk skipped (unreadable,
// not audio) is not reported as matching no file; the skip says why.
func TestNotSkipped(t *testing.T) {
	rows := []reports.UnmatchedRow{{Row: "unread.wav", Line: 2}, {Row: `audio\gone.wav`, Line: 3}, {Row: `sub\locked.wav`, Line: 4}, {Row: "Other.WAV", Line: 5}}
	skipped := []reports.Skipped{{File: "unread.wav", Reason: "permission denied"}, {File: "sub/locked.wav", Reason: "permission denied"}, {File: "other.wav", Reason: "not audio"}}
	got := notSkipped(rows, skipped)
	if len(got) != 1 || got[0].Row != `audio\gone.wav` {
		t.Errorf("unmatched rows %+v, want only the missing audio\\gone.wav", got)
	}
}
