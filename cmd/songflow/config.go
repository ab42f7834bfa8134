package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/config"
)

// defaultConfigFile is read when no --config is given and it exists.
const defaultConfigFile = "pipeline.toml"

// loadConfig reads the configuration the way every subcommand does:
// built-in defaults, then path (or ./pipeline.toml when path is empty and
// the file exists), then the environment. It reports problems on stderr.
// Beyond config.Load's own checks it refuses what checkLoaded does.
func loadConfig(path string, stderr io.Writer) (config.Config, config.Origins, bool) {
	return loadConfigFor(path, stderr, true)
}

// loadConfigFor is loadConfig; withCalibration false leaves the
// calibration map unchecked, for `calibrate --fit`, which fits a new map
// in place of the configured one and must not be refused for it.
func loadConfigFor(path string, stderr io.Writer, withCalibration bool) (config.Config, config.Origins, bool) {
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	cfg, origins, err := config.Load(path, os.LookupEnv)
	if err == nil {
		err = checkLoaded(cfg, origins, path, withCalibration)
	}
	if err != nil {
		fmt.Fprintf(stderr, "songflow: %v\n", err)
		return cfg, origins, false
	}
	return cfg, origins, true
}

// maxChunks bounds analysis.max_chunks. The chunk stage never cuts a song
// into more chunks than it takes to cover it (1 + ⌈(length − chunk) /
// advance⌉, advance = chunk_seconds − chunk_overlap_seconds), so the cap
// only ever bites on long songs, and it is all that bounds a song's work
// and memory: each chunk is an FFT pass of its own over chunk_seconds of
// audio, and every chunk's frames are held by the aggregate stage until
// the song's last one arrives. 3600 chunks cover the longest song the
// decoder accepts by default (max_duration 3600 s) with one-second chunks;
// the default 20 s chunks cover it with 180. A larger cap is never reached
// by a sensible setting; it is a typo (an extra zero or two).
const maxChunks = 3600

// maxLoadSeconds bounds chunk_seconds and max_seconds as config bounds
// every setting that becomes a time.Duration (about 292 years). The
// engine multiplies them by a sample rate (the analysis rate, at most
// 192 kHz; a source's, at most 768 kHz) and converts the product to an
// integer sample count; below this bound the product is exact in a
// float64 and fits an int64. Above it the conversion overflows, and
// silently so (on amd64): chunk_seconds = 1e300 makes the chunk stage cut
// one-sample chunks, and max_seconds = 1e300 makes the FLAC decoder alone
// apply max_duration.
const maxLoadSeconds = math.MaxInt64 / int64(time.Second)

// minPeriod is the least positive watch.rescan_seconds and
// watch.report_seconds, as config asks of metrics.sample_seconds: a
// period under a nanosecond becomes a zero time.Duration, which the
// watcher reads as "never", and one under a millisecond rescans the folder
// or redraws the report without pause.
const minPeriod = 0.001

// loadChecks are the checks config.Validate does not make, in its key
// order. Like its checks, each returns "" when the value is valid.
var loadChecks = []struct {
	key   string
	check func(c *config.Config) string
}{
	{"analysis.chunk_seconds", func(c *config.Config) string {
		an := c.Analysis
		if an.ChunkSeconds > float64(maxLoadSeconds) {
			return fmt.Sprintf("must be at most %d s, got %v", maxLoadSeconds, an.ChunkSeconds)
		}
		// The chunk stage rounds chunk_seconds × sample_rate to samples
		// (at least one). A chunk shorter than one STFT frame is one
		// zero-padded frame whatever its length: chunk_seconds would no
		// longer set what is analysed, and no tempo fits in one frame.
		if math.Round(an.ChunkSeconds*float64(an.SampleRate)) < float64(an.FFTSize) {
			least := math.Ceil(float64(an.FFTSize)/float64(an.SampleRate)*1e6) / 1e6
			return fmt.Sprintf("must be at least one STFT frame, fft_size / sample_rate = %d / %d Hz = %v s, got %v",
				an.FFTSize, an.SampleRate, least, an.ChunkSeconds)
		}
		return ""
	}},
	{"analysis.chunk_overlap_seconds", func(c *config.Config) string {
		// config refuses an overlap of a whole chunk or more. An overlap
		// close to it misbehaves too: the chunk stage counts a song's
		// chunks as those needed to cover it at an advance of chunk −
		// overlap (at least one sample), so a song just longer than a
		// chunk fills max_chunks with near-copies, and the FFT work per
		// second of audio grows as chunk / (chunk − overlap), without
		// bound. Half a chunk already puts every moment of the song in two
		// chunks, all an overlap is for (a beat cut by one chunk's edge is
		// whole in its neighbour), at twice the work; more only repeats it.
		an := c.Analysis
		if half := an.ChunkSeconds / 2; an.ChunkOverlapSeconds > half {
			return fmt.Sprintf("must be at most half of chunk_seconds (%v s), got %v: each chunk must start at least half a chunk after the one before",
				half, an.ChunkOverlapSeconds)
		}
		return ""
	}},
	{"analysis.max_chunks", func(c *config.Config) string {
		if v := c.Analysis.MaxChunks; v > maxChunks {
			return fmt.Sprintf("must be 1..%d, got %d", maxChunks, v)
		}
		return ""
	}},
	{"analysis.max_seconds", func(c *config.Config) string {
		if v := c.Analysis.MaxSeconds; v > float64(maxLoadSeconds) {
			return fmt.Sprintf("must be at most %d s, got %v", maxLoadSeconds, v)
		}
		return ""
	}},
	{"watch.rescan_seconds", func(c *config.Config) string { return period(c.Watch.RescanSeconds) }},
	{"watch.report_seconds", func(c *config.Config) string { return period(c.Watch.ReportSeconds) }},
}

// period checks a watch period where 0 has a meaning of its own.
func period(v float64) string {
	if v > 0 && v < minPeriod {
		return fmt.Sprintf("must be 0 or at least %v s, got %v", minPeriod, v)
	}
	return ""
}

// checkLoaded refuses, as config.Load refuses an out-of-range value, what
// config.Load lets through but the engine cannot use: the loadChecks, and
// unless withCalibration is false an analysis.calibration map that does
// not load. path is the file config.Load read ("" for none). The error is
// a *config.Error naming the key, where its value came from and, for a
// file, the line.
func checkLoaded(c config.Config, o config.Origins, path string, withCalibration bool) error {
	for _, lc := range loadChecks {
		if msg := lc.check(&c); msg != "" {
			return loadError(o, path, lc.key, msg)
		}
	}
	// The map is read by calibration.Load, as newAnalyzer reads it when
	// the pipeline starts, from the same path: a relative one is taken
	// from the current folder, not from the configuration file's.
	if p := c.Analysis.Calibration; withCalibration && p != "" {
		if _, err := calibration.Load(p); err != nil {
			msg := err.Error()
			if !filepath.IsAbs(p) {
				msg += " (a relative path is taken from the current folder)"
			}
			return loadError(o, path, "analysis.calibration", msg)
		}
	}
	return nil
}

func loadError(o config.Origins, path, key, msg string) *config.Error {
	e := &config.Error{Key: key, Msg: msg, Origin: o[key]}
	if strings.HasPrefix(e.Origin, "file ") {
		e.Line = keyLine(path, key)
	}
	return e
}

var (
	tableLine = regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]`)
	keyAssign = regexp.MustCompile(`^\s*([A-Za-z0-9_.\-]+)\s*=`)
)

// keyLine returns the line of a dotted key in the TOML file at path, or
// failing that of the nearest table holding it; 0 when it finds neither.
// It places keys as config.Load does for its own errors (its keyLines and
// lineOf, which package config does not export), so that both kinds of
// error give the same line: the plain `[table]` / `key = value` layout of
// pipeline.toml, the last assignment of a key, the first header of a
// table.
func keyLine(path, key string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	lines := map[string]int{}
	table := ""
	for i, l := range strings.Split(string(data), "\n") {
		if m := tableLine.FindStringSubmatch(l); m != nil {
			table = m[1]
			if _, seen := lines[table]; !seen {
				lines[table] = i + 1
			}
			continue
		}
		if m := keyAssign.FindStringSubmatch(l); m != nil {
			k := m[1]
			if table != "" {
				k = table + "." + k
			}
			lines[k] = i + 1
		}
	}
	for {
		if n, ok := lines[key]; ok {
			return n
		}
		i := strings.LastIndex(key, ".")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
}

// runConfig prints the effective configuration, or validates a file.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("config", "usage: songflow config [--config FILE] [--check FILE]", stderr)
	check := fs.String("check", "", "validate this configuration file and exit")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "songflow config: unexpected argument %q\n", pos[0])
		return 2
	}
	if *check != "" {
		// config.Check is config.Load without the environment; the file
		// must also pass checkLoaded, as loadConfig would have it.
		cfg, origins, err := config.Load(*check, nil)
		if err == nil {
			err = checkLoaded(cfg, origins, *check, true)
		}
		if err != nil {
			fmt.Fprintf(stderr, "songflow config: %v\n", err)
			return 2
		}
		fmt.Fprintf(stdout, "%s: ok\n", *check)
		return 0
	}
	cfg, origins, ok := loadConfig(*path, stderr)
	if !ok {
		return 2
	}
	if err := config.Write(stdout, cfg, origins); err != nil && !errors.Is(err, io.ErrShortWrite) {
		fmt.Fprintf(stderr, "songflow config: %v\n", err)
		return 1
	}
	return 0
}
