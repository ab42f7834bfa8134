package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/stages"
)

// newAnalyzer starts the analysis pipeline every front door shares,
// applying the calibration map named by analysis.calibration when set. A
// map that cannot be loaded is a *config.Error, like any bad setting.
func newAnalyzer(ctx context.Context, cfg config.Config) (*stages.Analyzer, error) {
	var opts []stages.Option
	if cfg.Analysis.Calibration != "" {
		m, err := calibration.Load(cfg.Analysis.Calibration)
		if err != nil {
			return nil, &config.Error{Key: "analysis.calibration", Msg: err.Error()}
		}
		opts = append(opts, stages.WithAdjust(m.Apply))
	}
	return stages.NewAnalyzer(ctx, cfg, opts...)
}

// startAnalyzer is newAnalyzer for a command that tells a configuration
// error (exit status 2) from a pipeline that would not start (1). It
// reports the failure on stderr, prefixed with the command's name.
func startAnalyzer(ctx context.Context, cfg config.Config, cmd string, stderr io.Writer) (*stages.Analyzer, int) {
	a, err := newAnalyzer(ctx, cfg)
	if err == nil {
		return a, 0
	}
	if ce := (*config.Error)(nil); errors.As(err, &ce) {
		fmt.Fprintf(stderr, "songflow %s: %v\n", cmd, err)
		return nil, 2
	}
	fmt.Fprintf(stderr, "songflow %s: start the pipeline: %v\n", cmd, err)
	return nil, 1
}

// stageConfigs lists every stage's settings in pipeline order.
func stageConfigs(s config.Stages) []pipeline.StageConfig {
	return []pipeline.StageConfig{s.Decode, s.Resample, s.Chunk, s.FFT, s.Aggregate}
}

// inOrder calls fn(0, entered), fn(1, entered), … fn(n−1, entered), each
// in a goroutine of its own, at most limit at once (the songs a pipeline
// can hold: every front door hands the analyzer no more than keep its
// stages busy, however many files it has), and in turn: fn(i) starts only
// once fn(i−1) has called its entered (or returned), so songs given to
// the analyzer through AnalyzeThen enter the pipeline in the order given.
// Goroutines started together otherwise reach a full pipeline's input in
// whatever order the scheduler runs them, and the first song may wait
// behind dozens of later ones. It stops starting calls when ctx is done
// (a call then starts without waiting for its turn, to fail at once),
// waits for those it started, and returns how many it started.
func inOrder(ctx context.Context, n, limit int, fn func(i int, entered func())) (started int) {
	slots := make(chan struct{}, max(1, limit))
	var wg sync.WaitGroup
	defer wg.Wait()
	turn := make(chan struct{})
	close(turn)
	for i := range n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		// Checked after the select, which picks at random when both
		// are ready: a cancelled run starts nothing more.
		if ctx.Err() != nil {
			return i
		}
		mine, next := turn, make(chan struct{})
		turn = next
		var once sync.Once
		entered := func() { once.Do(func() { close(next) }) }
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer entered()
			select {
			case <-mine:
			case <-ctx.Done():
			}
			fn(i, entered)
		}()
	}
	return n
}
