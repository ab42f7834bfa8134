package pipeline

import (
	"context"
	"fmt"

	"github.com/reugn/go-streams"
)

// The adapters below connect the engine to github.com/reugn/go-streams,
// whose connectors and operators pass elements as any. That boundary is
// the only place the engine handles untyped values: elements leaving the
// engine are Item[T] values, and elements entering it may be Item[T] (from
// an Outlet, possibly filtered) or plain T values.

var (
	_ streams.Source = (*Outlet[int])(nil)
	_ streams.Flow   = (*Flow[int, int])(nil)
	_ streams.Sink   = (*Inlet[int])(nil)
)

// Outlet is a Stream seen as a go-streams Source: its elements are the
// stream's Item[T] values.
type Outlet[T any] struct {
	p   *Pipeline
	out chan any
}

// Outlet consumes the stream and returns it as a go-streams Source. Items
// leaving through it count as finished songs (see Snapshot).
func (s Stream[T]) Outlet() *Outlet[T] {
	p := s.n.p
	o := &Outlet[T]{p: p, out: make(chan any)}
	typed := make(chan Item[T])
	p.spawn(func() {
		defer close(o.out)
		done := p.ctx.Done()
		for {
			it, ok := recv(typed, done)
			if !ok {
				return
			}
			select {
			case o.out <- it:
			case <-done:
				// Counted when handed to this goroutine, but it never
				// left the engine (see emitter.send).
				p.unfinish(it.Err)
				return
			}
		}
	})
	s.connect(typed, true)
	return o
}

// Out returns the channel of Item[T] elements, closed when the stream ends.
func (o *Outlet[T]) Out() <-chan any { return o.out }

// Via streams the elements into f and returns f.
func (o *Outlet[T]) Via(f streams.Flow) streams.Flow {
	o.p.spawn(func() { o.transmit(f) })
	return f
}

// To streams the elements into sink and blocks until the sink completes.
func (o *Outlet[T]) To(sink streams.Sink) {
	// transmit runs as a pipeline goroutine: otherwise the pipeline could
	// count itself drained, and cancel, before the last element is handed
	// to the sink.
	sent := make(chan struct{})
	o.p.spawn(func() {
		defer close(sent)
		o.transmit(sink)
	})
	<-sent
	sink.AwaitCompletion()
}

// transmit copies elements into inlet and closes it at the end, also when
// the pipeline is cancelled, so go-streams parts downstream finish too.
func (o *Outlet[T]) transmit(inlet streams.Inlet) {
	in := inlet.In()
	defer close(in)
	done := o.p.ctx.Done()
	for e := range o.out {
		select {
		case in <- e:
		case <-done:
			if it, ok := e.(Item[T]); ok {
				o.p.unfinish(it.Err) // it never reached go-streams
			}
			return
		}
	}
}

// Flow is an engine Map stage seen as a go-streams Flow, so that it can sit
// between go-streams operators: it takes I or Item[I] elements and emits
// Item[O] elements. A plain I element becomes a new song named after the
// stage; an Item[I] goes on as the song it is when it left this pipeline,
// and becomes a new song of the same name (and error) when it left
// another; an element of any other type becomes a failed song, since
// go-streams offers no other place for the error.
type Flow[I, O any] struct {
	in  chan any
	out *Outlet[O]
}

// NewFlow adds a Map stage fed from go-streams.
func NewFlow[I, O any](p *Pipeline, name string, cfg StageConfig, fn func(context.Context, I) (O, error)) *Flow[I, O] {
	f := &Flow[I, O]{in: make(chan any)}
	feed := newStream(p, name, func(out chan Item[I], _ bool) {
		p.spawn(func() {
			defer close(out)
			done := p.ctx.Done()
			for {
				e, ok := recv(f.in, done)
				if !ok {
					if p.ctx.Err() != nil {
						discard(f.in)
					}
					return
				}
				it, back := toItem[I](p, name, e)
				select {
				case out <- it:
				case <-done:
					// Not taken in after all: counted as it was before.
					if back {
						p.finish(it.Ticket, it.Err)
					} else {
						p.submitted.Add(^uint64(0))
					}
					discard(f.in)
					return
				}
			}
		})
	})
	f.out = Map(p, name, cfg, feed, fn).Outlet()
	return f
}

// discard reads and drops what go-streams still writes to ch after the
// pipeline was cancelled. go-streams operators have no context: each
// goroutine of theirs ends only once the channel it writes to has taken
// everything and its writer closes it, so a channel left unread would
// block them, and whoever waits on them, for good. The reader is not a
// pipeline goroutine: it lives as long as the go-streams side keeps
// writing, and Wait must not wait for that.
func discard(ch <-chan any) {
	go func() {
		for range ch {
		}
	}()
}

// toItem turns an element arriving from go-streams into an item, and
// counts it: as a new song, or, when back is true, as a song of this
// pipeline coming back into it, no longer finished.
func toItem[I any](p *Pipeline, name string, e any) (it Item[I], back bool) {
	switch v := e.(type) {
	case Item[I]:
		switch {
		case v.Ticket == nil:
			e = v.Value
		case v.Ticket.p == p:
			// Back into the pipeline it left: the same song.
			p.unfinish(v.Err)
			v.Ticket.reopen()
			return v, true
		default:
			// Out of another pipeline: a new song here, under its name
			// and with its error, counted and timed by this pipeline.
			t := newTicket(p, v.Ticket.Name)
			p.submitted.Add(1)
			if v.Err != nil {
				t.failed.Store(true)
			}
			return Item[I]{Ticket: t, Parts: 1, Value: v.Value, Err: v.Err}, false
		}
	}
	t := newTicket(p, "")
	t.Name = fmt.Sprintf("%s #%d", name, t.ID)
	p.submitted.Add(1)
	if v, ok := e.(I); ok {
		return Item[I]{Ticket: t, Parts: 1, Value: v}, false
	}
	t.failed.Store(true)
	var zero I
	return Item[I]{Ticket: t, Parts: 1, Err: &StageError{Stage: name, Song: t.Name,
		Err: fmt.Errorf("go-streams element of type %T, want %T", e, zero)}}, false
}

// In returns the channel go-streams writes elements to; closing it ends
// the stage. Once the pipeline is cancelled, elements written to it are
// dropped.
func (f *Flow[I, O]) In() chan<- any { return f.in }

// Out returns the channel of Item[O] elements.
func (f *Flow[I, O]) Out() <-chan any { return f.out.Out() }

// Via streams the stage's output into next and returns next.
func (f *Flow[I, O]) Via(next streams.Flow) streams.Flow { return f.out.Via(next) }

// To streams the stage's output into sink and blocks until it completes.
func (f *Flow[I, O]) To(sink streams.Sink) { f.out.To(sink) }

// Inlet is an Input seen as a go-streams Sink: each T element it receives
// is submitted as a song through a Source of its own, closed when the
// go-streams side closes In.
type Inlet[T any] struct {
	in   chan any
	done chan struct{}
}

// Inlet opens a Source on the input and returns it as a go-streams Sink.
// name gives each song its name; nil names them "<input> #<n>".
func (in *Input[T]) Inlet(name func(T) string) (*Inlet[T], error) {
	src, err := in.Open()
	if err != nil {
		return nil, err
	}
	il := &Inlet[T]{in: make(chan any), done: make(chan struct{})}
	p := in.p
	p.spawn(func() {
		defer close(il.done)
		defer src.Close()
		done := p.ctx.Done()
		for n := 1; ; n++ {
			e, ok := recv(il.in, done)
			if !ok {
				if p.ctx.Err() != nil {
					discard(il.in)
				}
				return
			}
			song := fmt.Sprintf("%s #%d", in.name, n)
			var err error
			if v, isT := e.(T); isT {
				if name != nil {
					song = name(v)
				}
				_, err = src.Submit(p.ctx, song, v)
			} else {
				var zero T
				_, err = src.SubmitErr(p.ctx, song, fmt.Errorf("go-streams element of type %T, want %T", e, zero))
			}
			if err != nil {
				discard(il.in) // only when the pipeline is cancelled
				return
			}
		}
	})
	return il, nil
}

// In returns the channel go-streams writes elements to. Once the pipeline
// is cancelled, elements written to it are dropped.
func (il *Inlet[T]) In() chan<- any { return il.in }

// AwaitCompletion blocks until every element received has been submitted
// and the Inlet's source is closed.
func (il *Inlet[T]) AwaitCompletion() { <-il.done }
