package pipeline

import (
	"context"
	"fmt"
	"sync"
)

// Router is a pipeline's final sink: it hands each song's final item to
// whoever is waiting on that song (see Call), and the rest to an
// unclaimed function, so that one long-running pipeline can serve HTTP
// requests, a folder watcher and a folder walk at once.
type Router[T any] struct {
	p         *Pipeline
	unclaimed func(Item[T])

	mu      sync.Mutex
	waiters map[*Ticket]chan Item[T]
	done    chan struct{} // closed when the router's input has ended
}

// NewRouter consumes in. unclaimed, which may be nil, receives the items
// of songs nobody waits for (submitted with Source.Submit rather than
// Call); it runs on the router's goroutine, so a slow unclaimed function
// slows the whole pipeline down.
func NewRouter[T any](p *Pipeline, in Stream[T], unclaimed func(Item[T])) *Router[T] {
	r := &Router[T]{p: p, unclaimed: unclaimed, waiters: make(map[*Ticket]chan Item[T]), done: make(chan struct{})}
	ch := make(chan Item[T])
	p.spawn(func() {
		defer close(r.done)
		for {
			it, ok := recv(ch, p.ctx.Done())
			if !ok {
				return
			}
			r.deliver(it)
		}
	})
	in.connect(ch, true)
	return r
}

func (r *Router[T]) deliver(it Item[T]) {
	r.mu.Lock()
	w, ok := r.waiters[it.Ticket]
	delete(r.waiters, it.Ticket)
	abandoned := it.Ticket.abandoned.Load()
	r.mu.Unlock()
	switch {
	case ok:
		// The waiter's channel has room for exactly one item, and a song has
		// one final item; should a pipeline emit more, the extras go unclaimed.
		select {
		case w <- it:
			return
		default:
		}
	case abandoned:
		return
	}
	if r.unclaimed != nil {
		r.unclaimed(it)
	}
}

// Done is closed when the router has delivered its last item.
func (r *Router[T]) Done() <-chan struct{} { return r.done }

// Call submits v through src as a song called name and waits for that
// song's own final item while other songs flow. The returned error is the
// song's error (item.Err), or ctx's error if ctx ends first: then the song
// still runs to its end and its result is dropped. Call is safe for
// concurrent use by any number of goroutines.
func Call[I, O any](ctx context.Context, src *Source[I], r *Router[O], name string, v I) (Item[O], error) {
	return CallThen(ctx, src, r, name, v, nil)
}

// CallThen is Call that calls entered, when not nil, as soon as the song
// is in src's input or has failed to get there, before it waits for the
// result. Callers that must enter the pipeline in a given order let the
// next one submit there: songs waiting on a full input otherwise enter in
// whatever order the scheduler ran their callers.
func CallThen[I, O any](ctx context.Context, src *Source[I], r *Router[O], name string, v I, entered func()) (Item[O], error) {
	ch := make(chan Item[O], 1)
	register := func(t *Ticket) {
		// Registered before the song is sent, so its result cannot arrive
		// at the router before the router knows someone waits for it.
		r.mu.Lock()
		r.waiters[t] = ch
		r.mu.Unlock()
	}
	t, err := src.submit(ctx, Item[I]{Value: v, Parts: 1}, name, register)
	if entered != nil {
		entered()
	}
	if err != nil {
		r.forget(t)
		return Item[O]{Ticket: t}, err
	}
	select {
	case it := <-ch:
		return it, it.Err
	case <-ctx.Done():
		r.forget(t)
		return Item[O]{Ticket: t}, fmt.Errorf("song %q: %w", name, ctx.Err())
	case <-r.done:
		select {
		case it := <-ch:
			return it, it.Err
		default:
			r.forget(t)
			return Item[O]{Ticket: t}, fmt.Errorf("song %q: %w", name, ErrClosed)
		}
	}
}

// forget stops waiting for t; its result, should it still come, is dropped.
func (r *Router[T]) forget(t *Ticket) {
	if t == nil {
		return
	}
	r.mu.Lock()
	delete(r.waiters, t)
	t.abandoned.Store(true)
	r.mu.Unlock()
}
