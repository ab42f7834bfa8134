package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/reports"
	"github.com/songflow/songflow/stages"
)

const benchUsage = "usage: songflow bench [FILE|DIR...] [--config FILE] [--repeat N]"

// runBench measures the pipeline's speed on real files: every audio file
// under the given paths (default testdata/calibration) is read once, so
// that it is in the page cache, and then analysed --repeat times, so disk
// speed does not count. It reports
// x-real-time against wall time and against CPU time (seconds of audio per
// second of one core), each stage's own x-real-time, the bottleneck and the
// peak resident memory.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl, path := newFlags("bench", benchUsage, stderr)
	repeat := fl.Int("repeat", 3, "times each file is analysed")
	roots, err := parseInterspersed(fl, args)
	if err != nil {
		return flagExit(err)
	}
	if *repeat < 1 {
		fmt.Fprintln(stderr, "songflow bench: --repeat must be at least 1")
		return 2
	}
	cfg, _, ok := loadConfig(*path, stderr)
	if !ok {
		return 2
	}
	if len(roots) == 0 {
		// The default is the repository's calibration set, found only
		// from the repository's root: elsewhere, "lstat
		// testdata/calibration" would name a path the user never typed.
		def := filepath.Join("testdata", "calibration")
		if _, err := os.Stat(def); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "songflow bench: no FILE or DIR given, and the default %s is not in this folder: run bench from the repository's root, or name the songs to bench\n", def)
			return 2
		}
		roots = []string{def}
	}
	files, err := benchFiles(roots, func(path, reason string) {
		fmt.Fprintf(stderr, "songflow bench: skipped %s: %s\n", path, reason)
	})
	if err != nil {
		fmt.Fprintf(stderr, "songflow bench: %v\n", err)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "songflow bench: no audio files found")
		return 1
	}
	// files × repeat runs must be countable: beyond, the count wrapped
	// around and bench "analysed" a negative number of songs, exit 0.
	if *repeat > math.MaxInt/len(files) {
		fmt.Fprintf(stderr, "songflow bench: --repeat %d: too many runs of %s\n", *repeat, reports.Plural(len(files), "file"))
		return 2
	}
	// Reading every file once puts it in the page cache, so the timed runs
	// measure analysis, not the disk, without holding the files in the
	// heap: a folder larger than memory stays benchable, and the peak
	// memory reported is the analysis's own.
	for _, f := range files {
		if err := warm(ctx, f); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "songflow bench: interrupted while reading the files; nothing analysed")
				return 1
			}
			fmt.Fprintf(stderr, "songflow bench: %v\n", err)
			return 1
		}
	}

	a, err := newAnalyzer(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "songflow bench: %v\n", err)
		return 2
	}
	cpu0 := reports.CPUTime()
	start := time.Now()
	var (
		mu     sync.Mutex
		audio  float64
		failed int
		notRun int
	)
	n := len(files) * *repeat
	started := inOrder(ctx, n, inFlightLimit(cfg), func(i int, entered func()) {
		f := files[i%len(files)]
		res, err := a.AnalyzeThen(ctx, stages.Job{Name: f}, entered)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			notRun++ // cut off by the interrupt: no failure of the song's
		case err != nil:
			failed++
			fmt.Fprintf(stderr, "songflow bench: %v\n", err)
		default:
			audio += res.Duration
		}
	})
	notRun += n - started
	wall := time.Since(start).Seconds()
	cpu := (reports.CPUTime() - cpu0).Seconds()
	snap := a.Snapshot()
	a.Close()

	songs := len(files)**repeat - failed - notRun
	fmt.Fprintf(stdout, "songs            %d analysed, %d failed (%s × %d)\n", songs, failed, reports.Plural(len(files), "file"), *repeat)
	if notRun > 0 {
		fmt.Fprintf(stdout, "interrupted      %d not analysed\n", notRun)
	}
	fmt.Fprintf(stdout, "audio            %.1f s\n", audio)
	fmt.Fprintf(stdout, "wall time        %.2f s  → %.0f× real time, %.2f songs/s\n", wall, audio/wall, float64(songs)/wall)
	if cpu > 0 {
		fmt.Fprintf(stdout, "CPU time         %.2f s  → %.0f× real time per core\n", cpu, audio/cpu)
	} else {
		fmt.Fprintln(stdout, "CPU time         unknown on this system")
	}
	fmt.Fprintf(stdout, "peak memory      %.0f MiB (resident)\n", float64(reports.PeakRSS())/(1<<20))
	fmt.Fprintf(stdout, "bottleneck       %s\n\n", snap.Bottleneck)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tworkers\tbusy s\tx-real-time\tutilisation\tp50 ms\tp95 ms\tsuggested workers\t")
	for _, s := range snap.Stages {
		x := 0.0
		if s.Busy > 0 {
			x = audio / s.Busy.Seconds()
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f×\t%.0f%%\t%.1f\t%.1f\t%d\t\n", s.Name, s.Workers, s.Busy.Seconds(), x,
			100*s.Utilisation, ms(s.P50), ms(s.P95), s.SuggestedWorkers)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "songflow bench: write the figures: %v\n", err)
		return 1
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "songflow bench: interrupted; the figures cover the %s finished\n", reports.Plural(songs, "song"))
		return 1
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// warm reads the file at path through once, stopping early when ctx is
// cancelled.
func warm(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := f.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchFiles lists the audio files under roots, recognised by their
// bytes. It opens only regular files (and links to them): opening a named
// pipe waits for a writer, for good and deaf to Ctrl-C. Paths it passes over
// are told to skip with the reason, except ordinary files inside a folder
// that are simply not audio (cover art, notes), as calibrate passes them
// over: a path named on the command line, a special file, a broken link
// or a file that cannot be read is one the user means to hear of.
func benchFiles(roots []string, skip func(path, reason string)) ([]string, error) {
	var files []string
	for _, root := range roots {
		// A link to a folder named on the command line is followed: the
		// user named the folder. WalkDir follows a root's link only when
		// the root ends in a separator.
		if st, err := os.Stat(root); err == nil && st.IsDir() && !os.IsPathSeparator(root[len(root)-1]) {
			root += string(filepath.Separator)
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if p != root && err != nil {
				// An unreadable folder below a root: the rest is still measured.
				skip(p, err.Error())
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if err != nil || d.IsDir() {
				return err
			}
			st, err := os.Stat(p) // follows a link to what it names
			if err != nil {
				if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
					err = pe.Err // p is named already
				}
				skip(p, err.Error())
				return nil
			}
			if err := decode.Regular(st.Mode()); err != nil {
				why := err.Error()
				if st.IsDir() {
					// WalkDir went into the real folders: this one is
					// named by a link, which could make a loop.
					why = "a link to a folder, not followed"
				}
				skip(p, why)
				return nil
			}
			switch why := notAudio(p); {
			case why == "":
				files = append(files, p)
			case p == root || !strings.HasPrefix(why, "not audio"):
				skip(p, why)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}
