package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

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
	for i, f := range files {
		done[i] = make(chan outcome, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := a.Analyze(ctx, stages.Job{Name: f})
			done[i] <- outcome{r, err}
		}()
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	failed := 0
	for i, f := range files {
		o := <-done[i]
		if o.err != nil {
			failed++
			enc.Encode(struct {
				File  string `json:"file"`
				Error string `json:"error"`
			}{f, o.err.Error()})
			continue
		}
		o.res.File = f
		enc.Encode(o.res)
	}
	wg.Wait()
	if failed > 0 {
		return 1
	}
	return 0
}
