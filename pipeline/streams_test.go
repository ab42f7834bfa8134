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

// TestGoStreamsReentryKeepsOldContextDone fails a song on one part while
// another part waits inside a stage function on the song's context, and
// sends the song's error back into the engine through a Flow. The song's
// context, done once its error left, must stay done for that stage
// function, with the same Done channel and an error, as any context must:
// re-entry used to make the very same context live again, so the stage
// function saw Err go back to nil after Done had closed, and a fresh,
// open Done channel on its next call (a worker kept busy for a song that
// had already ended; a context derived from it could panic in package
// context, "missing cancel error").
func TestGoStreamsReentryKeepsOldContextDone(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: time.Hour})
	in := NewInput[int](p, "in", 1)
	parts := FlatMap(p, "chunk", StageConfig{Workers: 1}, in.Stream(), func(_ context.Context, v int) ([]int, error) {
		return []int{0, 1}, nil
	})
	waiting := make(chan struct{})   // part 1 holds its song's context
	reentered := make(chan struct{}) // the song's error is back in the engine
	checked := make(chan struct{})
	var errAfterDone, errAfterReentry error
	sameDone := true
	fft := Map(p, "fft", StageConfig{Workers: 2, Buffer: 2}, parts, func(ctx context.Context, v int) (int, error) {
		if v == 0 {
			<-waiting
			return 0, errors.New("NaN in spectrum")
		}
		done := ctx.Done()
		close(waiting)
		<-done // the song's error left the engine
		errAfterDone = ctx.Err()
		<-reentered
		errAfterReentry = ctx.Err()
		sameDone = ctx.Done() == done
		close(checked)
		return 0, ctx.Err()
	})
	outlet := Collect(p, "aggregate", StageConfig{Workers: 1}, fft, join).Outlet()
	gate := make(chan struct{})
	again := NewFlow(p, "again", StageConfig{Workers: 1, Buffer: 1}, func(_ context.Context, v int) (int, error) {
		if v == 42 {
			<-gate
		}
		return v, nil
	})
	var results []Item[int]
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for e := range again.Out() {
			results = append(results, e.(Item[int]))
		}
	}()
	src, _ := in.Open()
	if _, err := src.Submit(context.Background(), "song", 0); err != nil {
		t.Fatal(err)
	}
	src.Close()

	again.In() <- 42 // holds the Flow's one worker
	failed, _ := (<-outlet.Out()).(Item[int])
	if failed.Err == nil {
		t.Fatalf("song left the engine without its error: %+v", failed)
	}
	again.In() <- failed
	// The Flow's feed takes the next element only once it has taken the
	// failed song back in and put it in the stage's buffer, where it waits
	// behind 42.
	again.In() <- 43
	close(reentered)
	<-checked
	close(gate)
	close(again.In())
	for range outlet.Out() {
	}
	<-collected
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(errAfterDone, context.Canceled) {
		t.Fatalf("song context once its error left: Err %v, want context.Canceled", errAfterDone)
	}
	if !errors.Is(errAfterReentry, context.Canceled) || !sameDone {
		t.Errorf("song context of the first pass once the song came back: Err %v, same Done channel %v; want context.Canceled, true", errAfterReentry, sameDone)
	}
	if len(results) != 3 {
		t.Errorf("%d results from the Flow, want 3", len(results))
	}
}

// TestGoStreamsFlowFromAnotherPipeline chains two pipelines through
// go-streams: songs leave one through an Outlet and enter the other
// through a Flow. There they are songs of the second pipeline: they used
// to be taken for songs coming back into the pipeline they left, so they
// kept that pipeline's context (cancelled once it drained, which failed
// them in the second with "context canceled"), their stage times went
// under the first pipeline's stage names, and the second pipeline's song
// counts went below zero and ended at none.
func TestGoStreamsFlowFromAnotherPipeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	a := New(context.Background(), Options{})
	in := NewInput[int](a, "in", 1)
	first := Map(a, "first", StageConfig{Workers: 1}, in.Stream(), square)
	b := New(context.Background(), Options{})
	aDrained := make(chan struct{})
	second := NewFlow(b, "second", StageConfig{Workers: 1}, func(ctx context.Context, v int) (int, error) {
		<-aDrained // the first pipeline has ended, and cancelled its context
		return v + 1, ctx.Err()
	})
	out := make(chan any, 1)
	sunk := make(chan struct{})
	chain := first.Outlet().Via(second)
	go func() {
		defer close(sunk)
		chain.To(extension.NewChanSink(out))
	}()
	src, _ := in.Open()
	if _, err := src.Submit(context.Background(), "song", 3); err != nil {
		t.Fatal(err)
	}
	src.Close()
	if err := a.Wait(); err != nil {
		t.Fatal(err)
	}
	close(aDrained)
	var got []Item[int]
	for e := range out {
		got = append(got, e.(Item[int]))
	}
	<-sunk
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Err != nil || got[0].Value != 10 || got[0].Ticket.Name != "song" {
		t.Fatalf("results %+v, want song = 10", got)
	}
	if times := got[0].Ticket.StageTimes(); times["first"] != 0 {
		t.Errorf("stage times %v: the second pipeline's song has none from the first's stages", times)
	}
	if s := b.Snapshot(); s.Submitted != 1 || s.Completed != 1 || s.Failed != 0 || s.InFlight != 0 {
		t.Errorf("second pipeline's songs: submitted %d completed %d failed %d in flight %d, want 1 1 0 0", s.Submitted, s.Completed, s.Failed, s.InFlight)
	}
	if s := a.Snapshot(); s.Submitted != 1 || s.Completed != 1 {
		t.Errorf("first pipeline's songs: submitted %d completed %d, want 1 1", s.Submitted, s.Completed)
	}
}

// TestOutletCancelCountsNoUndelivered cancels a pipeline while songs
// nobody has taken wait in an Outlet, in the Outlet's goroutine or on
// their way from there to a go-streams sink: they never left the engine,
// so they must not count as completed, as emitter.send and Input.forward
// already ensure for their own hand-overs. Both places used to count them
// completed all the same.
func TestOutletCancelCountsNoUndelivered(t *testing.T) {
	for _, c := range []struct {
		name  string
		songs int // submitted, the last one returning once the first is held
		sink  bool
	}{
		// Unbuffered all along, Submit returns only once the forwarder has
		// taken the song, so once the stage's worker has taken the one
		// before, so once the worker has handed the one before that on.
		{"outlet", 3, false},
		{"to sink", 4, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			ctx, cancel := context.WithCancel(context.Background())
			p := New(ctx, Options{})
			in := NewInput[int](p, "in", 0)
			outlet := Map(p, "square", StageConfig{Workers: 1}, in.Stream(), square).Outlet()
			var sunk chan struct{}
			if c.sink {
				sunk = make(chan struct{})
				go func() {
					defer close(sunk)
					outlet.To(stuckSink{make(chan any)})
				}()
			}
			src, _ := in.Open()
			for v := range c.songs {
				if _, err := src.Submit(context.Background(), fmt.Sprint(v), v); err != nil {
					t.Fatal(err)
				}
			}
			cancel()
			if err := p.Wait(); !errors.Is(err, context.Canceled) {
				t.Errorf("Wait: %v, want context.Canceled", err)
			}
			src.Close()
			if c.sink {
				<-sunk
			} else {
				for e := range outlet.Out() {
					t.Errorf("element %v after cancel", e)
				}
			}
			if s := p.Snapshot(); s.Completed != 0 || s.Failed != 0 || s.InFlight != c.songs {
				t.Errorf("completed %d, failed %d, in flight %d; want 0, 0, %d: no song left the engine", s.Completed, s.Failed, s.InFlight, c.songs)
			}
		})
	}
}

// stuckSink is a go-streams sink that never takes an element.
type stuckSink struct{ in chan any }

func (s stuckSink) In() chan<- any   { return s.in }
func (s stuckSink) AwaitCompletion() {}

// TestFlowCancelCountsNoUntaken cancels a pipeline while a Flow's feed
// holds an element from go-streams that its stage has no room for: the
// element never became a song of the engine, so it must not count as
// submitted, as Submit ensures when its send is cancelled. The feed used
// to count it submitted all the same.
func TestFlowCancelCountsNoUntaken(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, Options{})
	busy := make(chan struct{})
	f := NewFlow(p, "square", StageConfig{Workers: 1}, func(ctx context.Context, v int) (int, error) {
		close(busy)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	f.In() <- 1 // taken by the stage's one worker, which keeps it
	<-busy
	f.In() <- 2 // taken by the feed, which finds no room in the stage
	cancel()
	if err := p.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait: %v, want context.Canceled", err)
	}
	close(f.In())
	for e := range f.Out() {
		t.Errorf("element %v after cancel", e)
	}
	if s := p.Snapshot(); s.Submitted != 1 || s.InFlight != 1 {
		t.Errorf("submitted %d, in flight %d; want 1, 1: one element became a song", s.Submitted, s.InFlight)
	}
}
