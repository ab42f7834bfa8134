package stages

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/pipeline"
)

// Analyzer runs decode → resample → chunk → fft → aggregate as one
// long-running pipeline that any number of callers feed at once. Each
// caller of Analyze gets its own song's result back while other songs flow.
type Analyzer struct {
	p      *pipeline.Pipeline
	src    *pipeline.Source[Job]
	router *pipeline.Router[Result]
	cancel context.CancelFunc
	adjust func(*Result)
}

// An Option changes how an Analyzer finishes its results.
type Option func(*Analyzer)

// WithAdjust makes the Analyzer pass every successful result through fn
// before returning it; calibration maps use it.
func WithAdjust(fn func(*Result)) Option { return func(a *Analyzer) { a.adjust = fn } }

// NewAnalyzer starts the pipeline described by cfg. It runs until Close is
// called or ctx ends.
func NewAnalyzer(ctx context.Context, cfg config.Config, opts ...Option) (*Analyzer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := pipeline.New(ctx, cfg.PipelineOptions())
	an := cfg.Analysis
	in := pipeline.NewInput[Job](p, "source", cfg.Stages.Decode.Buffer)
	src, err := in.Open()
	if err != nil {
		cancel()
		return nil, err
	}
	songs := pipeline.Map(p, "decode", cfg.Stages.Decode, in.Stream(),
		Decode(decode.Options{MaxSeconds: an.MaxSeconds, MaxDuration: an.MaxDuration}))
	signals := pipeline.Map(p, "resample", cfg.Stages.Resample, songs, Resample(dsp.Hz(an.SampleRate)))
	chunks := pipeline.FlatMap(p, "chunk", cfg.Stages.Chunk, signals,
		Chunks(ChunkOptions{Seconds: an.ChunkSeconds, OverlapSeconds: an.ChunkOverlapSeconds, MaxChunks: an.MaxChunks}))
	frames := pipeline.MapWorker(p, "fft", cfg.Stages.FFT, chunks, FFT(FFTOptions{Size: an.FFTSize, Hop: an.Hop}))
	results := pipeline.Collect(p, "aggregate", cfg.Stages.Aggregate, frames,
		Aggregate(AggregateOptions{KeyProfile: dsp.KeyProfile(an.KeyProfile)}))
	a := &Analyzer{p: p, src: src, cancel: cancel}
	a.router = pipeline.NewRouter(p, results, nil)
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Analyze runs one song through the pipeline and waits for its result.
// It is safe to call from many goroutines; the pipeline's bounded buffers
// make callers wait when it is full. The error names the song, the stage
// and the cause.
func (a *Analyzer) Analyze(ctx context.Context, job Job) (Result, error) {
	return a.AnalyzeThen(ctx, job, nil)
}

// AnalyzeThen is Analyze that calls entered, when not nil, as soon as the
// song has entered the pipeline (or failed to), before it waits for the
// result: callers feeding songs in a given order let the next one go
// there (see pipeline.CallThen).
func (a *Analyzer) AnalyzeThen(ctx context.Context, job Job, entered func()) (Result, error) {
	item, err := pipeline.CallThen(ctx, a.src, a.router, job.Name, job, entered)
	if err != nil {
		var se *pipeline.StageError
		if errors.As(err, &se) {
			return Result{File: job.Name}, err // already names the song and stage
		}
		return Result{File: job.Name}, fmt.Errorf("analyze %s: %w", job.Name, err)
	}
	r := item.Value
	r.AnalysisDuration = time.Since(item.Ticket.Submitted).Seconds()
	times := item.Ticket.StageTimes()
	r.StageSeconds = make(map[string]float64, len(times))
	for stage, d := range times {
		r.StageSeconds[stage] = d.Seconds()
	}
	if a.adjust != nil {
		a.adjust(&r)
	}
	return r, nil
}

// Snapshot reports the pipeline's per-stage metrics.
func (a *Analyzer) Snapshot() pipeline.Snapshot { return a.p.Snapshot() }

// Close stops accepting songs, lets the songs in flight finish and waits
// for every stage to end.
func (a *Analyzer) Close() error {
	a.src.Close()
	err := a.p.Wait()
	a.cancel()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
