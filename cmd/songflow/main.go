// Command songflow analyses songs — tempo, key, loudness and feel — with a
// dataflow pipeline whose stages are tuned in pipeline.toml.
//
// Usage:
//
//	songflow calibrate DIR [--config FILE] [--out DIR] [--fit]
//	songflow analyze [--config FILE] FILE...
//	songflow watch DIR [--config FILE] [--out DIR] [--db FILE] [--stop-timeout SECONDS]
//	songflow serve [--config FILE] [--addr HOST:PORT]
//	songflow bench [--config FILE] [--repeat N] [PATH...]
//	songflow config [--config FILE] | songflow config --check FILE
//	songflow keys create|list|revoke
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

const usage = `songflow analyses songs: tempo, key, loudness and feel.

Usage:
  songflow calibrate DIR [--config FILE] [--out DIR] [--fit]   accuracy and speed reports for a folder with known answers
  songflow analyze [--config FILE] FILE...                     one JSON line per file
  songflow watch DIR [--config FILE] [--out DIR] [--db FILE] [--stop-timeout SECONDS]
                                                               analyse every song in DIR or dropped into it later, once
  songflow serve [--config FILE] [--addr HOST:PORT]            the HTTP server the apps talk to
  songflow bench [--config FILE] [--repeat N] [PATH...]        x-real-time, stages and memory, files read from the page cache
  songflow config [--config FILE]                              print the effective configuration
  songflow config --check FILE                                 validate a configuration file
  songflow keys create|list|revoke                             API keys for production mode

The configuration is pipeline.toml in the current folder when it exists,
else the built-in defaults; environment variables and flags override it.
`

func main() {
	tuneGC(os.Getenv("GOGC"))
	ctx, stop := interruptContext()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// interruptContext returns a context that ends at the first SIGINT or
// SIGTERM, when the commands begin a graceful stop. The handler goes with
// that first signal, so a second one ends the process at once, as people
// expect of Ctrl-C pressed again while a stop takes its time.
func interruptContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sig:
		case <-ctx.Done():
		}
		// Gone before the context ends: whoever sees it end may take the
		// next signal to be final.
		signal.Stop(sig)
		cancel()
	}()
	return ctx, cancel
}

// gcPercent is the garbage collector's target, unless GOGC says otherwise.
// songflow's heap is mostly a few decoded songs, large arrays of floats
// the collector never scans, so a collection costs little however often
// it runs; Go's default of 100 % lets the heap grow to twice what is live
// before collecting, which for an hour-long MP3 is 2.9 GB resident where
// 25 % keeps it at 2.0 GB, at the same speed (a calibrate of 96 songs:
// 374 MiB and 289 MiB).
const gcPercent = 25

// tuneGC sets the collector's target to gcPercent when the user has not
// set one with GOGC (the value of which is gogc).
func tuneGC(gogc string) {
	if gogc == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// run dispatches a subcommand and returns the process exit status:
// 0 success, 1 failure of the work, 2 usage or configuration error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "calibrate":
		return runCalibrate(ctx, rest, stdout, stderr)
	case "analyze":
		return runAnalyze(ctx, rest, stdout, stderr)
	case "watch":
		return runWatch(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "config":
		return runConfig(ctx, rest, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "songflow: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// newFlags makes a subcommand's flag set: its errors, and its usage line
// and flags on -h, go to stderr, and every subcommand takes --config.
func newFlags(name, usage string, stderr io.Writer) (fs *flag.FlagSet, config *string) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return fs, fs.String("config", "", "configuration file (default ./pipeline.toml when present)")
}

// flagExit is the exit status for a failed parse of a command's flags: 0
// when the user asked for -h (the usage was printed, as asked), 2 for a
// mistake.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// parseInterspersed parses fs's flags wherever they stand among the
// positional arguments, which it returns in order: the flag package stops
// at the first positional one, and users write "calibrate DIR --out X".
// After "--" every argument is positional, as the flag package has it, so
// that a file whose name starts with "-" can be named.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// Parse stops before the first positional argument, or just
		// after a "--", which it consumes.
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
