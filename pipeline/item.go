package pipeline

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Item is what flows between stages: one value of one song (or one part
// of it) together with the song's ticket and, once the song has failed, its
// error.
type Item[T any] struct {
	Ticket *Ticket // the song this item is part of
	// Part is this item's index among its song's Parts; Parts is 1 for a
	// whole song. FlatMap sets them, Collect gathers by them.
	Part, Parts int
	Value       T
	// Err is non-nil once the song has failed; stages pass such items on
	// untouched, and Value is then the zero value.
	Err error
}

// ErrTimeout is wrapped in the error of a song whose deadline passed.
var ErrTimeout = errors.New("song deadline passed")

// ErrPanic is wrapped in the error of a song whose stage function panicked.
var ErrPanic = errors.New("stage panicked")

// ErrNoParts is wrapped in the error of a song that a FlatMap split into
// nothing, so that every song still reaches the end of the pipeline.
var ErrNoParts = errors.New("no parts")

// StageError is the error a song carries after a stage failed on it.
type StageError struct {
	Stage string // the stage's name
	Song  string // the ticket's name
	Err   error
}

// Error names the stage and the song before the reason.
func (e *StageError) Error() string {
	return fmt.Sprintf("%s: song %q: %v", e.Stage, e.Song, e.Err)
}

// Unwrap returns the reason, so that errors.Is sees ErrTimeout, ErrPanic
// and the stage function's own errors through a StageError.
func (e *StageError) Unwrap() error { return e.Err }

// Stream is the typed output of an input or stage, waiting to be consumed
// by exactly one stage, router, Out or Outlet. Consuming is what starts the
// producer's goroutines, so that the producer writes straight into its
// consumer's buffered input channel.
type Stream[T any] struct{ n *node[T] }

type node[T any] struct {
	p     *Pipeline
	name  string
	used  atomic.Bool
	start func(out chan Item[T], terminal bool)

	outOnce sync.Once
	out     chan Item[T]
}

func newStream[T any](p *Pipeline, name string, start func(out chan Item[T], terminal bool)) Stream[T] {
	return Stream[T]{&node[T]{p: p, name: name, start: start}}
}

// Name is the name of the stage or input that produces the stream.
func (s Stream[T]) Name() string { return s.n.name }

// connect starts the producer writing into out. terminal says that out
// leaves the engine, so items sent to it are counted as finished songs.
// Building a pipeline wrongly is a programming error, hence the panics.
func (s Stream[T]) connect(out chan Item[T], terminal bool) {
	if s.n == nil {
		panic("pipeline: use of a zero Stream")
	}
	if !s.n.used.CompareAndSwap(false, true) {
		panic(fmt.Sprintf("pipeline: stream of %q consumed twice", s.n.name))
	}
	s.n.start(out, terminal)
}

// Out returns a channel delivering the stream's items, closed when the
// producer ends (inputs drained or pipeline cancelled). It makes the
// caller the stream's consumer: the channel must be read until closed or
// until the pipeline is cancelled. Further calls return the same channel.
func (s Stream[T]) Out() <-chan Item[T] {
	s.n.outOnce.Do(func() {
		s.n.out = make(chan Item[T])
		s.connect(s.n.out, true)
	})
	return s.n.out
}
