package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/songflow/songflow/internal/latin1"
	"github.com/songflow/songflow/reports"
	"github.com/songflow/songflow/stages"
)

const analyzeUsage = "usage: songflow analyze FILE... [--config FILE]"

// runAnalyze prints one JSON object per file, in the order given, as soon
// as that file and every file before it are done. Files are analysed
// concurrently through one pipeline.
func runAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("analyze", analyzeUsage, stderr)
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, analyzeUsage)
		return 2
	}
	cfg, _, ok := loadConfig(*path, stderr)
	if !ok {
		return 2
	}
	// A failed write to stdout (a full disk, a closed pipe) stops the run
	// (cancel): the results are what the user asked for, and lost they
	// must not pass for success.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a, err := newAnalyzer(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "songflow analyze: %v\n", err)
		return 2
	}
	defer a.Close()

	type outcome struct {
		res stages.Result
		err error
	}
	done := make([]chan outcome, len(files))
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range files {
		done[i] = make(chan outcome, 1)
	}
	// Files enter the pipeline in the order given, as calibrate's do:
	// earlier files, whose lines are printed first, are not left to win a
	// race to the pipeline's input.
	wg.Add(1)
	go func() {
		defer wg.Done()
		started := inOrder(ctx, len(files), inFlightLimit(cfg), func(i int, entered func()) {
			r, err := a.AnalyzeThen(ctx, stages.Job{Name: files[i]}, entered)
			done[i] <- outcome{r, err}
		})
		for i := started; i < len(files); i++ {
			done[i] <- outcome{err: fmt.Errorf("analyze %s: %w", files[i], ctx.Err())}
		}
	}()
	failed, notRun := 0, 0
	for i, f := range files {
		o := <-done[i]
		if o.err != nil && errors.Is(o.err, context.Canceled) && ctx.Err() != nil {
			// Cut off or never started by Ctrl-C (a failed write
			// returns before any more lines): that is what the line
			// says, as calibrate lists such songs, rather than Go's
			// "context canceled", which tells a user nothing.
			notRun++
			o.err = errors.New(notAnalysed + "interrupted")
		}
		// The line names the file in UTF-8, as results.jsonl does: a
		// name that is not (Latin-1 "caf\xe9.wav" from an old archive)
		// has its stray bytes read as Latin-1, where encoding/json would
		// write U+FFFD and two such files would print the same name. An
		// error may quote the name as the system gave it, so it too.
		name := latin1.ToUTF8(f)
		var line []byte
		if o.err == nil {
			o.res.File = name
			if line, o.err = jsonLine(o.res); o.err != nil {
				o.err = fmt.Errorf("%s: encode the result: %w", f, o.err)
			}
		}
		if o.err != nil {
			failed++
			line, _ = jsonLine(analyzeError{name, latin1.ToUTF8(o.err.Error())})
		}
		if _, err := stdout.Write(line); err != nil {
			fmt.Fprintf(stderr, "songflow analyze: write the result of %s: %v\n", f, err)
			return 1
		}
	}
	if notRun > 0 {
		fmt.Fprintf(stderr, "songflow analyze: interrupted; %d of %s not analysed\n", notRun, reports.Plural(len(files), "file"))
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// analyzeError is the line analyze prints for a file it could not analyse.
type analyzeError struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// jsonLine encodes v as one line of JSON, HTML characters unescaped.
func jsonLine(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
