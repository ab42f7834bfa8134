package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/internal/caseless"
	"github.com/songflow/songflow/reports"
	"github.com/songflow/songflow/stages"
)

const calibrateUsage = "usage: songflow calibrate DIR [--config FILE] [--out DIR] [--fit]"

// calibrateFolds is the number of cross-validation folds --fit uses.
const calibrateFolds = 5

// plainProgressEvery is how often progress is printed when stderr is not
// a terminal (a log file, CI).
const plainProgressEvery = 5 * time.Second

// runCalibrate analyses every song under a folder with known answers and
// writes the accuracy and throughput report. Exit status: 0 when the run
// completed (failed songs are reported, not fatal), 2 on a usage or
// configuration error, 1 when nothing could be analysed.
func runCalibrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset, cfgPath := newFlags("calibrate", calibrateUsage, stderr)
	outDir := fset.String("out", "", "report folder (default reports/<UTC timestamp>)")
	// --fit recalibrates the confidences from true tempi and keys alone:
	// the help must say so, or a truth without descriptor columns never
	// tries it.
	fit := fset.Bool("fit", false, "fit calibration.json from the truth: maps for its descriptor columns (energy, valence, …)\nand bpm_confidence, key_confidence recalibrated by its tempi and keys")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, calibrateUsage)
		return 2
	}
	dir := pos[0]
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		fmt.Fprintf(stderr, "songflow calibrate: %s: %v\n", dir, err)
		return 2
	}
	// --fit replaces the calibration map: the configured one need not load.
	cfg, origins, ok := loadConfigFor(*cfgPath, stderr, !*fit)
	if !ok {
		return 2
	}
	truth, err := reports.LoadTruth(dir)
	if err != nil {
		fmt.Fprintf(stderr, "songflow calibrate: %v\n", err)
		return 2
	}
	out := *outDir
	if out == "" {
		out = filepath.Join("reports", time.Now().UTC().Format("20060102T150405Z"))
	}
	// The report is written after every song is analysed: a report
	// folder that cannot be made or written must fail now, not then.
	if err := checkOutDir(out); err != nil {
		fmt.Fprintf(stderr, "songflow calibrate: --out %s: %v\n", out, err)
		return 2
	}
	out, made, err := makeOutDir(out, *outDir == "")
	if err != nil {
		fmt.Fprintf(stderr, "songflow calibrate: --out %s: %v\n", out, err)
		return 2
	}
	if made {
		// A run that ends before its report leaves no empty folder
		// behind; Remove takes only an empty one.
		defer os.Remove(out)
	}

	songs, skipped, err := walkCalibration(ctx, dir, truth.File, out)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "songflow calibrate: interrupted while listing %s; nothing analysed\n", dir)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "songflow calibrate: %v\n", err)
		return 1
	}
	for _, s := range skipped {
		fmt.Fprintf(stderr, "skipped %s: %s\n", s.File, s.Reason)
	}
	if len(songs) == 0 {
		fmt.Fprintf(stderr, "songflow calibrate: no audio files under %s\n", dir)
		return 1
	}

	// A calibration map in force is applied as in analysis, except when
	// fitting a new one: that must see the raw measurements. The report
	// still shows the configuration as given.
	acfg := cfg
	if *fit {
		acfg.Analysis.Calibration = ""
	}
	a, code := startAnalyzer(ctx, acfg, "calibrate", stderr)
	if a == nil {
		return code
	}
	run := &reports.Run{Dir: dir, TruthFile: truth.File, Skipped: skipped, Cores: runtime.GOMAXPROCS(0)}
	run.Started = time.Now()
	cpu0 := reports.CPUTime()
	run.Records = analyseAll(ctx, a, dir, songs, inFlightLimit(cfg), newProgress(stderr, len(songs)), run.Started)
	run.Wall = time.Since(run.Started)
	if cpu := reports.CPUTime(); cpu0 > 0 && cpu > cpu0 {
		run.CPU = cpu - cpu0
	}
	if err := a.Close(); err != nil {
		fmt.Fprintf(stderr, "songflow calibrate: stop the pipeline: %v\n", err)
	}
	// Read once the pipeline has ended: it samples the stages' series one
	// last time then, so the figures reach the end of the run (and a run
	// shorter than one period has a sample at all).
	run.Metrics = a.Snapshot()
	run.PeakRSS = reports.PeakRSS()
	var cfgText bytes.Buffer
	if err := config.Write(&cfgText, cfg, origins); err != nil {
		fmt.Fprintf(stderr, "songflow calibrate: %v\n", err)
	}
	run.Config = cfgText.String()
	if *fit && cfg.Analysis.Calibration != "" {
		// The report shows the configuration as given; without this
		// line it would pass the raw results off as calibrated ones.
		run.Config = fmt.Sprintf("# analysis.calibration %q was not applied: --fit fits its map to the raw measurements\n", cfg.Analysis.Calibration) + run.Config
	}

	run.UnmatchedTruth = notSkipped(truth.Match(run.Records), skipped)
	run.TruthUnread = truth.Unread
	// Interrupted, the report covers the songs finished: those the
	// interrupt left out were not analysed, which is no failure of
	// theirs, and are listed as skipped. Their truth rows were matched
	// above, so they are not named unmatched.
	var notRun []reports.Skipped
	if ctx.Err() != nil {
		run.Records, notRun = finishedOnly(run.Records)
		run.Skipped = append(run.Skipped, notRun...)
	}
	if *fit {
		fitCalibration(run, out)
	}
	sum, err := reports.Write(out, run)
	if err != nil {
		fmt.Fprintf(stderr, "songflow calibrate: %v\n", err)
		return 1
	}
	sum.Headline(stdout)
	if run.FitFile != "" {
		fmt.Fprintf(stdout, "calibration map written to %s\n", run.FitFile)
	} else if run.FitNote != "" {
		fmt.Fprintf(stdout, "fit: %s\n", run.FitNote)
	}
	fmt.Fprintf(stdout, "report written to %s\n", out)
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "songflow calibrate: interrupted; the report covers the %s finished; %d not analysed, listed as skipped\n", reports.Plural(len(run.Records), "song"), len(notRun))
		return 1
	}
	if sum.Analysed == 0 {
		fmt.Fprintln(stderr, "songflow calibrate: no song could be analysed")
		return 1
	}
	return 0
}

// checkOutDir reports why the folder out could not be made or used: it,
// or the nearest of its parents that exists, is not a folder.
func checkOutDir(out string) error {
	for p := filepath.Clean(out); ; {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is a file, not a folder", p)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}

// notSkipped drops the truth rows that name a file the walk skipped (an
// unreadable file, one that is not audio): the skip and its reason are
// listed already, and "matches no audio file" would say the file is not
// there.
func notSkipped(rows []reports.UnmatchedRow, skipped []reports.Skipped) []reports.UnmatchedRow {
	// Folded as Match folds names: case, Unicode normalisation and
	// backslashes as separators.
	norm := func(name string) string {
		return caseless.Key(path.Clean(strings.ReplaceAll(filepath.ToSlash(name), `\`, "/")))
	}
	files := make(map[string]bool, len(skipped))
	for _, s := range skipped {
		files[norm(s.File)] = true
	}
	return slices.DeleteFunc(rows, func(r reports.UnmatchedRow) bool { return files[norm(r.Row)] })
}

// makeOutDir makes the report folder out and checks that a file can be
// written in it. A default folder (named for the second the run started)
// must be new: two runs started in the same second would otherwise write
// their reports over each other, so the second gets out-2, and so on. It
// returns the folder used and whether it made it.
func makeOutDir(out string, fresh bool) (dir string, made bool, err error) {
	dir = out
	if fresh {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return out, false, err
		}
		for i := 2; ; i++ {
			err := os.Mkdir(dir, 0o755)
			if err == nil {
				made = true
				break
			}
			if !errors.Is(err, fs.ErrExist) || i > 1000 {
				return dir, false, err
			}
			dir = fmt.Sprintf("%s-%d", out, i)
		}
	} else {
		if _, err := os.Stat(out); errors.Is(err, fs.ErrNotExist) {
			made = true
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return out, false, err
		}
	}
	probe, err := os.CreateTemp(dir, ".songflow-write-check-*")
	if err != nil {
		if made {
			os.Remove(dir)
		}
		return dir, false, fmt.Errorf("cannot write the report there: %w", err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return dir, made, nil
}

// walkCalibration lists the audio files under dir, relative to it and in
// lexical order, and the other files with the reason each is skipped. It
// leaves out hidden folders and the report folder out when it lies
// inside dir. Audio is recognised by its bytes, not its name. It stops
// with ctx's error when ctx ends.
func walkCalibration(ctx context.Context, dir, truthFile, out string) (songs []string, skipped []reports.Skipped, err error) {
	absOut, _ := filepath.Abs(out)
	root := dir
	if st, err := os.Lstat(dir); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		// The folder may be named through a link to it, as a corpus kept
		// on another disk often is. WalkDir would take the link for a
		// file and not descend; with a trailing separator the system
		// resolves it, and the paths walked keep the name as given.
		root = dir + string(filepath.Separator)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		// A library on a slow or network disk takes a while to list:
		// Ctrl-C must not wait for the end of it.
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil && path == root {
			return fmt.Errorf("walk %s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		if err != nil {
			// One folder the walk cannot read must not cost the run the
			// songs in all the others.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in the listing already
			}
			skipped = append(skipped, reports.Skipped{File: rel, Reason: "unreadable: " + err.Error()})
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(path); path != root && (strings.HasPrefix(d.Name(), ".") || abs == absOut) {
				return filepath.SkipDir
			}
			// `calibrate .` writes its reports into the folder it
			// calibrates; the next run takes each earlier report as one
			// thing that is not songs, not as a dozen files.
			if path != root && isReport(path) {
				skipped = append(skipped, reports.Skipped{File: rel, Reason: "an earlier songflow report, not songs"})
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			// Corpora often link their songs rather than copy them: a
			// link to a file is that file. Links to folders are not
			// followed, which keeps the walk free of loops.
			if d.Type()&fs.ModeSymlink == 0 {
				skipped = append(skipped, reports.Skipped{File: rel, Reason: "not a regular file"})
				return nil
			}
			st, err := os.Stat(path)
			if err != nil {
				skipped = append(skipped, reports.Skipped{File: rel, Reason: "broken link: " + err.Error()})
				return nil
			}
			if !st.Mode().IsRegular() {
				skipped = append(skipped, reports.Skipped{File: rel, Reason: "link to a folder or special file, not followed"})
				return nil
			}
		}
		// Folded: on a case-insensitive file system truth.csv opens Truth.csv.
		if truthFile != "" && strings.EqualFold(filepath.ToSlash(rel), filepath.ToSlash(truthFile)) {
			skipped = append(skipped, reports.Skipped{File: rel, Reason: "ground truth, not audio"})
			return nil
		}
		if reason := notAudio(path); reason != "" {
			skipped = append(skipped, reports.Skipped{File: rel, Reason: reason})
			return nil
		}
		songs = append(songs, rel)
		return nil
	})
	sort.Strings(songs)
	return songs, skipped, err
}

// isReport reports whether the folder at path holds a calibrate report:
// its summary and its results side by side.
func isReport(path string) bool {
	for _, name := range []string{reports.SummaryMarkdown, reports.ResultsJSON} {
		if st, err := os.Stat(filepath.Join(path, name)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// notAudio sniffs the start of the file at path and says why it is not
// audio songflow can read, or "" when it looks like audio.
func notAudio(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	head := make([]byte, sniffBytes+1) // one more byte tells whether the file goes on
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err.Error()
	}
	return sniffAudio(head[:n])
}

// sniffBytes is how much of a file's start is sniffed for its format.
const sniffBytes = 64 << 10

// sniffAudio says why data (a whole file, or at least its first
// sniffBytes+1 bytes) is not audio songflow reads, or "" when it looks
// like audio. An ID3 tag longer than the sniffed head (cover art) hides
// the audio behind it; such a file counts as audio, and decoding will say
// if it is not.
func sniffAudio(data []byte) string {
	head := data[:min(len(data), sniffBytes)]
	if _, err := decode.Sniff(head); err != nil {
		if bytes.HasPrefix(head, []byte("ID3")) && len(data) > len(head) {
			return ""
		}
		return "not audio: " + err.Error()
	}
	return ""
}

// inFlightLimit bounds the songs handed to the analyzer at once: enough
// to fill every stage's workers and buffers, so the pipeline never
// starves, without a goroutine per song for huge folders.
func inFlightLimit(cfg config.Config) int {
	n := 1
	for _, s := range stageConfigs(cfg.Stages) {
		n += max(1, s.Workers) + s.Buffer
	}
	return n
}

// analyser is the part of stages.Analyzer calibrate uses.
type analyser interface {
	AnalyzeThen(ctx context.Context, job stages.Job, entered func()) (stages.Result, error)
}

// progress is told of each finished song.
type progress interface {
	Done(failed bool)
	Finish()
}

// analyseAll runs every song through a, at most limit at once, and
// returns one record per song in the order of songs, each stamped with
// the time it finished.
func analyseAll(ctx context.Context, a analyser, dir string, songs []string, limit int, prog progress, start time.Time) []reports.Record {
	recs := make([]reports.Record, len(songs))
	started := inOrder(ctx, len(songs), limit, func(i int, entered func()) {
		res, err := a.AnalyzeThen(ctx, stages.Job{Name: filepath.Join(dir, songs[i])}, entered)
		rec := reports.Record{Result: res, Finished: time.Since(start).Seconds()}
		rec.File = songs[i]
		if err != nil {
			rec.Error = err.Error()
			if ctx.Err() != nil {
				// Cut off by the interrupt: it says nothing about the song.
				rec.Error = notAnalysed + rec.Error
			}
		}
		recs[i] = rec
		if !strings.HasPrefix(rec.Error, notAnalysed) {
			prog.Done(err != nil)
		}
	})
	for j := started; j < len(songs); j++ {
		recs[j] = reports.Record{Result: stages.Result{File: songs[j]}, Error: notAnalysed + ctx.Err().Error()}
	}
	prog.Finish()
	return recs
}

// notAnalysed starts the error of a song whose analysis the interrupt
// prevented or cut off.
const notAnalysed = "not analysed: "

// finishedOnly returns the records of the songs whose analysis ended by
// itself, in success or failure, and lists the others, which the
// interrupt prevented or cut off, as skipped.
func finishedOnly(recs []reports.Record) (finished []reports.Record, notRun []reports.Skipped) {
	for _, r := range recs {
		if strings.HasPrefix(r.Error, notAnalysed) {
			notRun = append(notRun, reports.Skipped{File: r.File, Reason: "not analysed: interrupted"})
			continue
		}
		finished = append(finished, r)
	}
	return finished, notRun
}

// fitCalibration fits descriptor maps to the run's reference values and
// confidence recalibrations to its outcomes, and writes calibration.json
// into out, recording the outcome in run.
func fitCalibration(run *reports.Run, out string) {
	// A report folder used again may hold an earlier run's map: "not
	// written" alone would pass it off as this run's.
	defer func() {
		if run.FitFile != "" {
			return
		}
		if _, err := os.Stat(filepath.Join(out, "calibration.json")); err == nil {
			run.FitNote += "; the calibration.json already in " + out + " is an earlier run's, left as it was"
		}
	}()
	var obs []calibration.Observation
	for _, r := range run.Records {
		if r.Error != "" || r.Truth == nil {
			continue
		}
		song := r.File
		if r.Truth.Row > 0 {
			// One truth row can name several files (a bare name in
			// two subfolders, a title in two formats): one song.
			song = fmt.Sprintf("%s:%d", r.Truth.Source, r.Truth.Row)
		}
		r.Score()
		correct := map[string]bool{}
		if r.TempoOutcome != "" {
			correct["bpm_confidence"] = r.TempoOutcome == reports.TempoCorrect
		}
		if r.KeyOutcome != "" {
			correct["key_confidence"] = r.KeyOutcome == reports.KeyCorrect
		}
		obs = append(obs, calibration.Observation{Result: r.Result, Reference: r.Truth.Reference, Correct: correct, Song: song})
	}
	m, fits, err := calibration.Fit(obs, calibrateFolds)
	if errors.Is(err, calibration.ErrNoReference) {
		m = &calibration.Map{Version: calibration.Version, Features: map[string]calibration.Linear{}}
	}
	run.Fit = fits
	run.ConfidenceFit = m.FitConfidences(obs, calibrateFolds)
	if len(fits)+len(run.ConfidenceFit) == 0 {
		run.FitNote = "no fit: the truth has no tempo, key or descriptor columns (energy, danceability, acousticness, valence, loudness) for the analysed songs"
		return
	}
	if len(m.Features)+len(m.Confidences) == 0 {
		fitted := slices.ContainsFunc(fits, func(f calibration.FeatureFit) bool { return f.Skipped == "" }) ||
			slices.ContainsFunc(run.ConfidenceFit, func(f calibration.ConfidenceFit) bool { return f.Skipped == "" })
		if !fitted {
			run.FitNote = fmt.Sprintf("too few songs with reference values or differing outcomes to fit a map (each needs %d): calibration.json not written", calibration.MinSongs)
		} else {
			run.FitNote = "no map lowered the cross-validated error: calibration.json not written"
		}
		return
	}
	path := filepath.Join(out, "calibration.json")
	if err := m.WriteFile(path); err != nil {
		run.FitNote = fmt.Sprintf("could not write calibration.json: %v", err)
		return
	}
	run.FitFile = path
}

// newProgress shows progress on w: a bar when w is a terminal, else a
// plain line every few seconds, which logs and CI keep readable.
func newProgress(w io.Writer, total int) progress {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return newBarProgress(w, total)
		}
	}
	return newPlainProgress(w, total, plainProgressEvery)
}

// barProgress draws a progress bar of total songs: done/total, songs/s
// and the time elapsed and left.
type barProgress struct {
	mu          sync.Mutex
	bar         *progressbar.ProgressBar
	done, total int
}

// newBarProgress draws the bar on w, a terminal, counting time from now.
func newBarProgress(w io.Writer, total int) *barProgress {
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("calibrate"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("songs"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	// Left to itself the bar starts its clock when the first song is
	// done, and then shows thousands of songs/s and no time left.
	bar.StartWithoutRender()
	return &barProgress{bar: bar, total: total}
}

func (p *barProgress) Done(bool) {
	p.mu.Lock()
	p.done++
	p.bar.Add(1)
	p.mu.Unlock()
}

func (p *barProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done < p.total {
		// Interrupted: filling the bar would claim every song done.
		// Before the first song nothing was drawn to end.
		if p.done > 0 {
			p.bar.Exit()
		}
		return
	}
	p.bar.Finish()
}

// plainProgress prints "calibrate: 7/12 songs (1 failed), 1.3 songs/s,
// ETA 4s" every period, and once more at the end.
type plainProgress struct {
	w      io.Writer
	total  int
	start  time.Time
	mu     sync.Mutex
	done   int
	failed int
	stop   chan struct{}
	ended  chan struct{}
}

func newPlainProgress(w io.Writer, total int, every time.Duration) *plainProgress {
	p := &plainProgress{w: w, total: total, start: time.Now(), stop: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(p.ended)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.print()
			case <-p.stop:
				p.print()
				return
			}
		}
	}()
	return p
}

func (p *plainProgress) Done(failed bool) {
	p.mu.Lock()
	p.done++
	if failed {
		p.failed++
	}
	p.mu.Unlock()
}

func (p *plainProgress) Finish() {
	close(p.stop)
	<-p.ended
}

func (p *plainProgress) print() {
	p.mu.Lock()
	done, failed := p.done, p.failed
	p.mu.Unlock()
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "calibrate: %d/%d songs (%d failed), %.2f songs/s, ETA %s\n", done, p.total, failed, rate, eta)
}
