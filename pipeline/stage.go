package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// emitter is a stage's side of its output channel.
type emitter[O any] struct {
	p        *Pipeline
	st       *stage
	ch       chan Item[O]
	terminal bool
	done     <-chan struct{}
}

// send delivers it downstream, blocking while the consumer's buffer is full;
// false means the pipeline was cancelled. The item is counted before the
// hand-over, not after: the consumer (a Call's caller, a router's unclaimed
// function) may read the metrics as soon as it has the item, and must find
// it counted there.
func (e *emitter[O]) send(it Item[O]) bool {
	e.st.out.Add(1)
	if e.terminal {
		e.p.finish(it.Ticket, it.Err)
	}
	select {
	case e.ch <- it:
		return true
	case <-e.done:
		e.st.out.Add(^uint64(0))
		if e.terminal {
			e.p.unfinish(it.Err)
		}
		return false
	}
}

// recv takes the next element from ch; false means ch is closed or the
// pipeline was cancelled.
func recv[E any](ch <-chan E, done <-chan struct{}) (E, bool) {
	select {
	case e, ok := <-ch:
		return e, ok
	case <-done:
		var zero E
		return zero, false
	}
}

// build wires a stage: its buffered input channel, and the workers that run
// body once the stage's own output is consumed. finish runs once, after the
// last worker returns and before the output closes.
func build[I, O any](p *Pipeline, name string, cfg StageConfig, in Stream[I],
	body func(st *stage, w int, ch <-chan Item[I], e *emitter[O]),
	finish func(e *emitter[O])) Stream[O] {
	cfg = normal(cfg)
	ch := make(chan Item[I], cfg.Buffer)
	st := newStage(p, name, cfg, func() int { return len(ch) })
	return newStream(p, name, func(out chan Item[O], terminal bool) {
		e := &emitter[O]{p: p, st: st, ch: out, terminal: terminal, done: p.ctx.Done()}
		var alive atomic.Int32
		alive.Store(int32(st.workers))
		for w := range st.workers {
			p.spawn(func() {
				defer func() {
					if alive.Add(-1) == 0 {
						if finish != nil {
							finish(e)
						}
						close(out)
					}
				}()
				body(st, w, ch, e)
			})
		}
		in.connect(ch, false)
	})
}

// call runs a stage function, turning a panic into an error.
func call[I, O any](fn func(context.Context, I) (O, error), ctx context.Context, v I) (o O, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrPanic, r)
		}
	}()
	return fn(ctx, v)
}

// raise turns err into the song's error item payload, or returns nil when
// another stage or part already failed the song (the caller then drops
// its item, so that a failed song sends exactly one item onward).
func (s *stage) raise(t *Ticket, err error) error {
	if !t.fail() {
		return nil
	}
	// A song cut off because its caller or the pipeline gave up is not
	// one the stage failed on: counted, it would show after a Ctrl-C as
	// errors of whichever stage held the songs then.
	if !errors.Is(err, context.Canceled) {
		s.errs.Add(1)
	}
	return &StageError{Stage: s.name, Song: t.Name, Err: err}
}

func (s *stage) timeoutErr() error {
	return fmt.Errorf("%w (%v)", ErrTimeout, s.p.opts.SongTimeout)
}

// apply runs fn on one item that carries no error yet: it drops parts of
// songs that already failed, and enforces the song's deadline before and
// after the call. ok false means drop the item.
func apply[I, O any](s *stage, w int, it Item[I], fn func(context.Context, I) (O, error)) (v O, err error, ok bool) {
	t := it.Ticket
	if t.failed.Load() {
		return v, nil, false
	}
	t.start()
	if t.expired(time.Now()) {
		err = s.timeoutErr()
	} else {
		start := s.begin(w)
		v, err = call(fn, t.Context(), it.Value)
		s.end(w, start, t)
		// A result that came after the deadline is a timeout too.
		if t.expired(time.Now()) {
			err = s.timeoutErr()
		} else if err == nil {
			return v, nil, true
		}
	}
	if err = s.raise(t, err); err == nil {
		return v, nil, false
	}
	var zero O
	return zero, err, true
}

// Map adds a stage that turns each item into one item of another type,
// run by cfg.Workers goroutines reading an input buffer of cfg.Buffer.
// Items arrive and leave in no particular order.
func Map[I, O any](p *Pipeline, name string, cfg StageConfig, in Stream[I], fn func(context.Context, I) (O, error)) Stream[O] {
	return MapWorker(p, name, cfg, in, func() func(context.Context, I) (O, error) { return fn })
}

// MapWorker is Map for functions with per-worker state, such as an FFT
// plan and its scratch buffers: newWorker is called once on each worker
// goroutine, and the function it returns is only ever called from there.
func MapWorker[I, O any](p *Pipeline, name string, cfg StageConfig, in Stream[I], newWorker func() func(context.Context, I) (O, error)) Stream[O] {
	return build(p, name, cfg, in, func(st *stage, w int, ch <-chan Item[I], e *emitter[O]) {
		fn := safeWorker(newWorker)
		for {
			it, ok := recv(ch, e.done)
			if !ok {
				return
			}
			st.in.Add(1)
			o := Item[O]{Ticket: it.Ticket, Part: it.Part, Parts: it.Parts, Err: it.Err}
			if it.Err == nil {
				if o.Value, o.Err, ok = apply(st, w, it, fn); !ok {
					continue
				}
			}
			if !e.send(o) {
				return
			}
		}
	}, nil)
}

// safeWorker calls newWorker; if it panics, the worker fails every item
// with that panic instead of dying and leaving its items unanswered.
func safeWorker[I, O any](newWorker func() func(context.Context, I) (O, error)) (fn func(context.Context, I) (O, error)) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("%w: new worker: %v", ErrPanic, r)
			fn = func(context.Context, I) (O, error) { var zero O; return zero, err }
		}
	}()
	return newWorker()
}

// FlatMap adds a stage that splits each whole song into parts, emitting
// them with Part = 0…n-1 and Parts = n so that a Collect further on can
// gather them again. A song split into nothing fails with ErrNoParts, so
// that it still reaches the end.
func FlatMap[I, O any](p *Pipeline, name string, cfg StageConfig, in Stream[I], fn func(context.Context, I) ([]O, error)) Stream[O] {
	return build(p, name, cfg, in, func(st *stage, w int, ch <-chan Item[I], e *emitter[O]) {
		for {
			it, ok := recv(ch, e.done)
			if !ok {
				return
			}
			st.in.Add(1)
			if it.Err != nil {
				if !e.send(Item[O]{Ticket: it.Ticket, Part: 0, Parts: 1, Err: it.Err}) {
					return
				}
				continue
			}
			vs, err, ok := apply(st, w, it, fn)
			if !ok {
				continue
			}
			if err == nil && len(vs) == 0 {
				if err = st.raise(it.Ticket, ErrNoParts); err == nil {
					continue
				}
			}
			if err != nil {
				if !e.send(Item[O]{Ticket: it.Ticket, Part: 0, Parts: 1, Err: err}) {
					return
				}
				continue
			}
			for i, v := range vs {
				if !e.send(Item[O]{Ticket: it.Ticket, Part: i, Parts: len(vs), Value: v}) {
					return
				}
			}
		}
	}, nil)
}
