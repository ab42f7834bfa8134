package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/reugn/go-streams/extension"
	"github.com/reugn/go-streams/flow"
	"go.uber.org/goleak"
)

func even(v int) bool { return v%2 == 0 }

// TestGoStreamsFlow puts an engine stage between go-streams parts:
// ChanSource → Filter → engine Flow → ChanSink.
func TestGoStreamsFlow(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := make(chan any)
	out := make(chan any, 10)
	stage := NewFlow(p, "square", StageConfig{Workers: 2, Buffer: 2}, square)
	go func() {
		for v := range 10 {
			in <- v
		}
		in <- "not an int"
		close(in)
	}()
	extension.NewChanSource(in).Via(flow.NewFilter(func(e any) bool {
		v, ok := e.(int)
		return !ok || even(v)
	}, 1)).Via(stage).To(extension.NewChanSink(out))
	var got []int
	var failed int
	for e := range out {
		it := e.(Item[int])
		if it.Err != nil {
			failed++
			continue
		}
		got = append(got, it.Value)
	}
	sort.Ints(got)
	if fmt.Sprint(got) != "[0 4 16 36 64]" || failed != 1 {
		t.Errorf("got %v and %d failures, want [0 4 16 36 64] and 1", got, failed)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(); s.Submitted != 6 || s.Completed != 5 || s.Failed != 1 {
		t.Errorf("songs %+v", s)
	}
}

// TestGoStreamsSourceAndSink feeds an engine input from go-streams and
// filters the engine's output with a go-streams operator.
func TestGoStreamsSourceAndSink(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	input := NewInput[int](p, "in", 2)
	squares := Map(p, "square", StageConfig{Workers: 2, Buffer: 2}, input.Stream(), square)
	inlet, err := input.Inlet(func(v int) string { return fmt.Sprint("song ", v) })
	if err != nil {
		t.Fatal(err)
	}
	feed := make(chan any)
	go func() {
		for v := range 10 {
			feed <- v
		}
		close(feed)
	}()
	go extension.NewChanSource(feed).Via(flow.NewFilter(even, 1)).To(inlet)

	out := make(chan any, 10)
	squares.Outlet().Via(flow.NewFilter(func(it Item[int]) bool { return it.Value > 10 }, 1)).To(extension.NewChanSink(out))
	var got []string
	for e := range out {
		it := e.(Item[int])
		got = append(got, fmt.Sprint(it.Ticket.Name, "=", it.Value))
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[song 4=16 song 6=36 song 8=64]" {
		t.Errorf("got %v", got)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestGoStreamsReentryContext sends songs out of the engine to a
// go-streams operator and back into an engine stage: the song's context,
// ended when the song left, must be live again for the stage it re-enters.
func TestGoStreamsReentryContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	input := NewInput[int](p, "in", 2)
	first := Map(p, "first", StageConfig{Workers: 1}, input.Stream(), func(ctx context.Context, v int) (int, error) {
		ctx.Done() // makes the song's deadline context, ended when it leaves
		return v, nil
	})
	again := NewFlow(p, "again", StageConfig{Workers: 1}, func(ctx context.Context, v int) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("context done on re-entry")
		default:
		}
		return v, nil
	})
	out := make(chan any, 10)
	go first.Outlet().Via(flow.NewFilter(func(Item[int]) bool { return true }, 1)).Via(again).To(extension.NewChanSink(out))
	src, _ := input.Open()
	for v := range 5 {
		if _, err := src.Submit(context.Background(), fmt.Sprint(v), v); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	n := 0
	for e := range out {
		it := e.(Item[int])
		n++
		if it.Err != nil {
			t.Errorf("song %s: %v", it.Ticket.Name, it.Err)
		}
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(); n != 5 || s.Completed != 5 || s.Failed != 0 {
		t.Errorf("%d results; snapshot completed %d failed %d", n, s.Completed, s.Failed)
	}
}

// TestGoStreamsCancelReleasesUpstream cancels a pipeline while go-streams
// operators still feed an engine Flow and an Inlet. go-streams has no
// context: its goroutines end only when the channel they write to is read
// until they close it. The adapters used to stop reading at cancellation,
// which left every go-streams goroutine upstream, and the caller of To,
// blocked for good.
func TestGoStreamsCancelReleasesUpstream(t *testing.T) {
	pass := func(any) bool { return true }
	t.Run("flow", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		ctx, cancel := context.WithCancel(context.Background())
		p := New(ctx, Options{})
		stage := NewFlow(p, "square", StageConfig{Workers: 1}, square)
		feed := make(chan any)
		sunk := make(chan any, 16)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			extension.NewChanSource(feed).Via(flow.NewFilter(pass, 1)).Via(stage).To(extension.NewChanSink(sunk))
		}()
		feed <- 1
		// The first square out means To has started its goroutine: the
		// pipeline's goroutines may not begin after Wait does.
		first := make(chan struct{})
		go func() { <-sunk; close(first) }()
		await(t, first, "the first element through the Flow")
		cancelThenFeed(t, p, cancel, feed, ended, "a cancelled Flow")
	})
	t.Run("inlet", func(t *testing.T) {
		defer goleak.VerifyNone(t)
		ctx, cancel := context.WithCancel(context.Background())
		p := New(ctx, Options{})
		input := NewInput[int](p, "in", 0)
		out := Map(p, "square", StageConfig{Workers: 1}, input.Stream(), square).Out()
		inlet, err := input.Inlet(nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range out {
			}
		}()
		feed := make(chan any)
		ended := make(chan struct{})
		go func() {
			defer close(ended)
			extension.NewChanSource(feed).Via(flow.NewFilter(pass, 1)).To(inlet)
		}()
		feed <- 1
		cancelThenFeed(t, p, cancel, feed, ended, "a cancelled Inlet")
	})
}

// cancelThenFeed cancels p, then feeds ten more elements into the
// go-streams chain through what and closes feed: the feeding and the
// chain (ended) must both finish.
func cancelThenFeed(t *testing.T, p *Pipeline, cancel context.CancelFunc, feed chan<- any, ended <-chan struct{}, what string) {
	t.Helper()
	cancel()
	if err := p.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait: %v, want context.Canceled", err)
	}
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for v := range 10 {
			feed <- v
		}
		close(feed)
	}()
	await(t, fed, "go-streams source feeding "+what)
	await(t, ended, "go-streams chain through "+what)
}

// await fails the test if done is not closed within a minute: a guard
// against hanging the test binary, not a timing assertion.
func await(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s: still blocked after a minute", what)
	}
}
