package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Default option values, used where an Options field is zero.
const (
	DefaultSongTimeout = 10 * time.Minute
	DefaultSampleEvery = 100 * time.Millisecond
)

// StageConfig sets one stage's parallelism and the capacity of its input
// channel, the two knobs pipeline.toml tunes per stage.
type StageConfig struct {
	Workers int `toml:"workers"` // goroutines running the stage function; < 1 means 1
	Buffer  int `toml:"buffer"`  // items that may wait in the stage's input channel
}

// Options tune a Pipeline as a whole.
type Options struct {
	// SongTimeout is each song's deadline, counted from when the first
	// stage begins work on it (see Ticket.Deadline). Zero means
	// DefaultSongTimeout.
	SongTimeout time.Duration
	// SampleEvery is the period of the metrics time series. Zero means
	// DefaultSampleEvery.
	SampleEvery time.Duration
}

// ErrClosed is returned when submitting to, or waiting on, a pipeline or
// input that has ended.
var ErrClosed = errors.New("pipeline closed")

// Pipeline owns the stages, inputs and routers built on it, their
// goroutines and their metrics. Build every stage before the first song is
// submitted; a Pipeline is safe for concurrent use once built.
type Pipeline struct {
	ctx     context.Context
	cancel  context.CancelFunc
	opts    Options
	started time.Time

	wg sync.WaitGroup
	// live counts inputs not yet closed and drained, and running stage
	// goroutines; when it falls to zero every input has closed and
	// drained, and the pipeline is over.
	live     atomic.Int64
	idle     chan struct{}
	idleOnce sync.Once
	drained  atomic.Bool
	ended    atomic.Int64 // nanoseconds since started when the run ended; 0 while running

	mu     sync.Mutex
	stages []*stage
	inputs []*inputStats

	nextID                       atomic.Uint64
	submitted, completed, failed atomic.Uint64
}

// New returns an empty pipeline whose goroutines stop when ctx is done.
func New(ctx context.Context, opts Options) *Pipeline {
	if opts.SongTimeout <= 0 {
		opts.SongTimeout = DefaultSongTimeout
	}
	if opts.SampleEvery <= 0 {
		opts.SampleEvery = DefaultSampleEvery
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Pipeline{
		ctx:     ctx,
		cancel:  cancel,
		opts:    opts,
		started: time.Now(),
		idle:    make(chan struct{}),
	}
	p.wg.Add(1)
	go p.sample()
	return p
}

// Wait blocks until every goroutine of the pipeline has ended: either every
// input was closed and everything in flight reached the end, in which case
// Wait returns nil, or the context was cancelled, in which case it returns
// the context's error.
func (p *Pipeline) Wait() error {
	p.wg.Wait()
	if p.drained.Load() {
		return nil
	}
	return p.ctx.Err()
}

// Context returns the pipeline's context, done when the pipeline is
// cancelled or has drained.
func (p *Pipeline) Context() context.Context { return p.ctx }

// Options returns the options in effect, defaults filled in.
func (p *Pipeline) Options() Options { return p.opts }

// now is the monotonic time since the pipeline started, in nanoseconds.
func (p *Pipeline) now() int64 { return int64(time.Since(p.started)) }

// hold marks one more live input or goroutine.
func (p *Pipeline) hold() { p.live.Add(1) }

// release marks one input or goroutine as ended.
func (p *Pipeline) release() {
	if p.live.Add(-1) == 0 {
		p.idleOnce.Do(func() {
			p.drained.Store(p.ctx.Err() == nil)
			close(p.idle)
		})
	}
}

// spawn runs f on a goroutine that Wait waits for.
func (p *Pipeline) spawn(f func()) {
	p.hold()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.release()
		f()
	}()
}

// register adds a stage's metrics in pipeline order.
func (p *Pipeline) register(s *stage) {
	p.mu.Lock()
	s.idx = len(p.stages)
	p.stages = append(p.stages, s)
	p.mu.Unlock()
}

func (p *Pipeline) stageCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.stages)
}

// finish counts a song's final item as it leaves the engine.
func (p *Pipeline) finish(t *Ticket, err error) {
	if err != nil {
		p.failed.Add(1)
	} else {
		p.completed.Add(1)
	}
	t.release()
}

// unfinish undoes finish's count for an item that did not leave the
// engine after all (the pipeline was cancelled during the hand-over), or
// that left it and comes back in through a go-streams adapter, so that a
// song is counted once.
func (p *Pipeline) unfinish(err error) {
	if err != nil {
		p.failed.Add(^uint64(0))
	} else {
		p.completed.Add(^uint64(0))
	}
}
