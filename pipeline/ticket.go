package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Ticket is one song's identity while its parts flow through the pipeline.
// A Source creates it; every Item of the song points to it.
type Ticket struct {
	ID        uint64    // unique within the pipeline, in submission order
	Name      string    // the song's name, used in every error
	Submitted time.Time // when Submit was called

	p *Pipeline
	// ctx is the context of the song's current pass through the engine;
	// reopen starts a new one, so that whoever still holds the context of
	// an earlier pass finds it done for good. first is the first pass's.
	ctx   atomic.Pointer[songContext]
	first songContext
	times []atomic.Int64 // busy nanoseconds per stage index
	// started is when the first stage began work on the song, as pipeline
	// time (Pipeline.now, on the monotonic clock) plus one, 0 before: the
	// song's deadline counts from there. Kept on the monotonic clock, as
	// Submitted is, so that a step of the wall clock moves no deadline.
	started atomic.Int64
	// early is set by whoever makes a context's Done channel, before it
	// looks whether the song has started, so that start, after starting
	// the clock, finds a context made before and arms its deadline.
	early atomic.Bool

	// failed is set by whichever stage first turns the song into an error;
	// that stage alone emits the error item, and every stage drops the
	// song's other parts, so exactly one item of a failed song goes on.
	failed atomic.Bool
	// abandoned is set when the caller of Call stopped waiting.
	abandoned atomic.Bool
}

func newTicket(p *Pipeline, name string) *Ticket {
	now := time.Now()
	t := &Ticket{
		ID:        p.nextID.Add(1),
		Name:      name,
		Submitted: now,
		p:         p,
		times:     make([]atomic.Int64, p.stageCount()),
	}
	t.first.t = t
	t.ctx.Store(&t.first)
	return t
}

// StageTimes returns the busy time each stage has spent on this song so
// far, keyed by stage name. It is safe to call while the song flows.
func (t *Ticket) StageTimes() map[string]time.Duration {
	t.p.mu.Lock()
	stages := t.p.stages
	t.p.mu.Unlock()
	m := make(map[string]time.Duration, len(t.times))
	for i := range t.times {
		if d := t.times[i].Load(); d > 0 && i < len(stages) {
			m[stages[i].name] = time.Duration(d)
		}
	}
	return m
}

// Failed reports whether the song has already turned into an error.
func (t *Ticket) Failed() bool { return t.failed.Load() }

func (t *Ticket) addTime(stage int, d time.Duration) {
	if stage < len(t.times) {
		t.times[stage].Add(int64(d))
	}
}

// fail marks the song failed and reports whether this call did so; only
// the caller that gets true may emit the song's error item.
func (t *Ticket) fail() bool { return t.failed.CompareAndSwap(false, true) }

// Started returns when the first stage began work on the song, and false
// before that.
func (t *Ticket) Started() (time.Time, bool) {
	ns := t.started.Load()
	if ns == 0 {
		return time.Time{}, false
	}
	return t.p.started.Add(time.Duration(ns - 1)), true
}

// Deadline returns the time by which the song must be done: the
// pipeline's SongTimeout after the first stage began work on it. Waiting
// to enter the pipeline does not count, so that a long queue of songs
// (a calibration folder, a burst of uploads) does not fail the songs at
// its end; waiting between stages does, since a song that stalls there
// is what the deadline is for. It returns false before work began.
func (t *Ticket) Deadline() (time.Time, bool) {
	s, ok := t.Started()
	if !ok {
		return time.Time{}, false
	}
	return s.Add(t.p.opts.SongTimeout), true
}

// start starts the song's clock, once, and returns its deadline.
func (t *Ticket) start() time.Time {
	if t.started.Load() == 0 && t.started.CompareAndSwap(0, t.p.now()+1) && t.early.Load() {
		t.ctx.Load().armDeadline()
	}
	d, _ := t.Deadline()
	return d
}

func (t *Ticket) expired(now time.Time) bool {
	d, ok := t.Deadline()
	return ok && !now.Before(d)
}

// release frees the song's deadline timer, if one was made, and ends the
// song's context. The cancelled context is kept: a stage function still at
// work on another part of the song, or a context derived from its own
// (whose watcher calls Done and Err again later), must keep seeing the
// same closed Done channel and a non-nil Err, as the context contract
// requires; a nil Err there panics inside package context.
func (t *Ticket) release() {
	c := t.ctx.Load()
	c.mu.Lock()
	c.over = true
	if c.cancel != nil {
		c.cancel()
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
}

// reopen gives a song that comes back into the engine through a go-streams
// adapter a live context again: a new one, since the context of its last
// pass must stay done for whoever still holds it (see release).
func (t *Ticket) reopen() {
	t.ctx.Store(&songContext{t: t})
}

// Context returns the context a stage function sees for this song: done
// when the song's deadline passes, when the song's final item has left
// the engine, or when the pipeline is cancelled. It carries the ticket
// (see TicketFrom). Asked for before work on the song began, it has no
// deadline yet, and asking does not start the song's clock.
func (t *Ticket) Context() context.Context { return t.ctx.Load() }

type ticketKey struct{}

// TicketFrom returns the ticket of the song a stage function is working
// on, from the context the engine passed to it.
func TicketFrom(ctx context.Context) (*Ticket, bool) {
	t, ok := ctx.Value(ticketKey{}).(*Ticket)
	return t, ok
}

// songContext is the context stage functions receive, one for each pass
// of the song through the engine. It costs nothing per call: the deadline
// timer behind Done is only made if a stage function asks for it, since
// most stage functions never block.
type songContext struct {
	t *Ticket

	mu       sync.Mutex
	deadline context.Context // made on the first Done call only
	cancel   context.CancelFunc
	// arm and timer end a context made before work on the song began
	// (so without a deadline) once the deadline, known from then, passes.
	arm   context.CancelCauseFunc
	timer *time.Timer
	// over is set once the song's final item has left the engine. Parts
	// of a failed song may still be inside a stage function then; their
	// context must stay done, with an error, rather than start over.
	over bool
}

func (c *songContext) Deadline() (time.Time, bool) { return c.t.Deadline() }

func (c *songContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadlineCtx().Done()
}

func (c *songContext) Err() error {
	c.mu.Lock()
	d := c.deadline
	if d == nil && c.over {
		// Made now, so that Err keeps returning what it returns here.
		d = c.deadlineCtx()
	}
	c.mu.Unlock()
	if d != nil {
		err := d.Err()
		if err != nil && errors.Is(context.Cause(d), context.DeadlineExceeded) {
			return context.DeadlineExceeded // the deadline armed by start
		}
		return err
	}
	t := c.t
	if err := t.p.ctx.Err(); err != nil {
		return err
	}
	if t.expired(time.Now()) {
		return context.DeadlineExceeded
	}
	return nil
}

// deadlineCtx returns the song's deadline context, making it on first use;
// once the song is over it is made already cancelled. c.mu is held.
func (c *songContext) deadlineCtx() context.Context {
	if c.deadline == nil {
		t := c.t
		t.early.Store(true) // before looking at started: see start
		if d, ok := t.Deadline(); ok {
			c.deadline, c.cancel = context.WithDeadline(t.p.ctx, d)
		} else {
			// Asked for by whoever holds the ticket while the song waits
			// to enter, or after a song that failed before it entered
			// ended: asking must not start the clock, so the deadline
			// is armed when work begins, if it does.
			ctx, cancel := context.WithCancelCause(t.p.ctx)
			c.deadline, c.arm = ctx, cancel
			c.cancel = func() { cancel(nil) }
		}
		if c.over {
			c.cancel()
		}
	}
	return c.deadline
}

// armDeadline ends a context made before work on the song began once the
// song's deadline, known now, passes.
func (c *songContext) armDeadline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.arm == nil || c.over || c.timer != nil {
		return
	}
	d, _ := c.t.Deadline()
	arm := c.arm
	c.timer = time.AfterFunc(time.Until(d), func() { arm(context.DeadlineExceeded) })
}

func (c *songContext) Value(key any) any {
	if _, ok := key.(ticketKey); ok {
		return c.t
	}
	return c.t.p.ctx.Value(key)
}
