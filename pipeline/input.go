package pipeline

import (
	"context"
	"fmt"
	"sync"
)

// Input is where songs enter a pipeline. Several sources (a folder walk, a
// folder watcher, HTTP requests) may feed one input at once, each through
// its own Source; the input closes when the last of them closes.
type Input[T any] struct {
	p      *Pipeline
	name   string
	ch     chan Item[T]
	stream Stream[T]
	st     *inputStats

	mu      sync.Mutex
	open    int  // open sources
	sending int  // Submits between their check and their send
	closing bool // the last source closed; no more sources
	closed  bool // ch is closed
}

type inputStats struct {
	name   string
	buffer int
	mu     *sync.Mutex
	open   *int
	queue  func() int
}

func (s *inputStats) stats() InputStats {
	s.mu.Lock()
	n := *s.open
	s.mu.Unlock()
	return InputStats{Name: s.name, Buffer: s.buffer, Sources: n, Queue: s.queue()}
}

// NewInput returns an input whose channel holds up to buffer submitted
// songs before Submit blocks.
func NewInput[T any](p *Pipeline, name string, buffer int) *Input[T] {
	in := &Input[T]{p: p, name: name, ch: make(chan Item[T], max(buffer, 0))}
	in.st = &inputStats{name: name, buffer: cap(in.ch), mu: &in.mu, open: &in.open,
		queue: func() int { return len(in.ch) }}
	p.mu.Lock()
	p.inputs = append(p.inputs, in.st)
	p.mu.Unlock()
	p.hold() // released by forward, once the input has closed and drained
	in.stream = newStream(p, name, in.forward)
	return in
}

// Stream returns the songs submitted to the input, for the first stage.
func (in *Input[T]) Stream() Stream[T] { return in.stream }

// forward moves submitted songs into the first stage's input channel.
// It ends the input's hold on the pipeline once the input has closed and
// its last song has gone on (or the pipeline is cancelled): not when the
// input closes, since songs may still wait in its buffer for a consumer
// yet to be connected, and the pipeline has not drained until they are
// through.
func (in *Input[T]) forward(out chan Item[T], terminal bool) {
	in.p.spawn(func() {
		defer in.p.release()
		defer close(out)
		done := in.p.ctx.Done()
		for {
			it, ok := recv(in.ch, done)
			if !ok {
				return
			}
			// Counted before the hand-over, as in emitter.send.
			if terminal {
				in.p.finish(it.Ticket, it.Err)
			}
			select {
			case out <- it:
			case <-done:
				if terminal {
					in.p.unfinish(it.Err)
				}
				return
			}
		}
	})
}

// Open returns a new Source feeding the input. It fails once the input has
// closed, that is after its last Source closed.
func (in *Input[T]) Open() (*Source[T], error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closing {
		return nil, fmt.Errorf("open source on input %q: %w", in.name, ErrClosed)
	}
	in.open++
	return &Source[T]{in: in}, nil
}

// Source is one feeder of an Input. Its methods are safe for concurrent use.
type Source[T any] struct {
	in     *Input[T]
	closed bool // guarded by in.mu
}

// Submit sends v into the pipeline as a new song called name and returns
// its ticket. It blocks while the input is full (backpressure) until ctx or
// the pipeline is done.
func (s *Source[T]) Submit(ctx context.Context, name string, v T) (*Ticket, error) {
	return noTicketOnError(s.submit(ctx, Item[T]{Value: v, Parts: 1}, name, nil))
}

func noTicketOnError(t *Ticket, err error) (*Ticket, error) {
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SubmitErr sends a song that has already failed, so that a source's own
// error (an unreadable file, a bad upload) reaches the sink like any other
// song's result. The error is wrapped in a StageError naming the input.
func (s *Source[T]) SubmitErr(ctx context.Context, name string, err error) (*Ticket, error) {
	return noTicketOnError(s.submit(ctx, Item[T]{Err: &StageError{Stage: s.in.name, Song: name, Err: err}, Parts: 1}, name, nil))
}

// submit creates the ticket, lets hook see it before the song can possibly
// reach a sink (Call registers its waiter there), and sends. When the send
// fails it still returns the ticket the hook saw.
func (s *Source[T]) submit(ctx context.Context, it Item[T], name string, hook func(*Ticket)) (*Ticket, error) {
	in := s.in
	in.mu.Lock()
	if s.closed || in.closing {
		in.mu.Unlock()
		return nil, fmt.Errorf("submit %q to input %q: %w", name, in.name, ErrClosed)
	}
	in.sending++
	in.mu.Unlock()
	defer in.doneSending()

	// Checked first: a select below with room in the buffer could
	// otherwise still accept a song after cancellation.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("submit %q: %w", name, err)
	}
	if in.p.ctx.Err() != nil {
		return nil, fmt.Errorf("submit %q to input %q: %w", name, in.name, ErrClosed)
	}
	t := newTicket(in.p, name)
	it.Ticket = t
	if it.Err != nil {
		t.failed.Store(true)
	}
	if hook != nil {
		hook(t)
	}
	select {
	case in.ch <- it:
		// Counted once in, never taken back: /metrics exports the count
		// as a Prometheus counter, which must not fall, and a caller
		// that gave up waiting to enter is no song of the pipeline's.
		// The song may finish before the count, so InFlight clamps at 0.
		in.p.submitted.Add(1)
		return t, nil
	case <-ctx.Done():
		return t, fmt.Errorf("submit %q: %w", name, ctx.Err())
	case <-in.p.ctx.Done():
		return t, fmt.Errorf("submit %q: %w", name, ErrClosed)
	}
}

func (in *Input[T]) doneSending() {
	in.mu.Lock()
	in.sending--
	in.closeIfDone()
	in.mu.Unlock()
}

// closeIfDone closes the channel once the last source has closed and no
// Submit is still sending; in.mu is held.
func (in *Input[T]) closeIfDone() {
	if in.closing && in.sending == 0 && !in.closed {
		close(in.ch)
		in.closed = true
	}
}

// Close ends this source. When it is the last open source of its input,
// the input closes: what was submitted drains through the pipeline and the
// pipeline ends. Close is idempotent.
func (s *Source[T]) Close() {
	in := s.in
	in.mu.Lock()
	defer in.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	in.open--
	if in.open == 0 {
		in.closing = true
		in.closeIfDone()
	}
}
