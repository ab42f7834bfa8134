package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/songflow/songflow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// split and join model the chunk and aggregate stages: song v becomes
// v%5+1 parts with values 10v+i, and joining checks they come back in
// Part order.
func split(_ context.Context, v int) ([]int, error) {
	parts := make([]int, v%5+1)
	for i := range parts {
		parts[i] = 10*v + i
	}
	return parts, nil
}

func join(_ context.Context, parts []int) (int, error) {
	sum := 0
	for i, p := range parts {
		if p%10 != i {
			return 0, fmt.Errorf("part %d holds %d: out of order", i, p)
		}
		sum += p
	}
	return sum, nil
}

// want is join(split(square(v))) worked out by hand: n parts 10v²+i.
func want(v int) int {
	sq := v * v
	n := sq%5 + 1
	return 10*sq*n + n*(n-1)/2
}

func square(_ context.Context, v int) (int, error) { return v * v, nil }

func TestResultsIndependentOfWorkers(t *testing.T) {
	for _, workers := range []int{1, 2, 8} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			defer goleak.VerifyNone(t)
			cfg := StageConfig{Workers: workers, Buffer: 2}
			p := New(context.Background(), Options{})
			in := NewInput[int](p, "in", 2)
			sq := Map(p, "square", cfg, in.Stream(), square)
			parts := FlatMap(p, "split", cfg, sq, split)
			same := Map(p, "same", cfg, parts, func(_ context.Context, v int) (int, error) { return v, nil })
			joined := Collect(p, "join", cfg, same, join)
			var mu sync.Mutex
			got := map[string]Item[int]{}
			NewRouter(p, joined, func(it Item[int]) {
				mu.Lock()
				got[it.Ticket.Name] = it
				mu.Unlock()
			})
			src, err := in.Open()
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			for v := range n {
				if _, err := src.Submit(context.Background(), fmt.Sprint(v), v); err != nil {
					t.Fatal(err)
				}
			}
			src.Close()
			if err := p.Wait(); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if len(got) != n {
				t.Fatalf("got %d results, want %d", len(got), n)
			}
			for v := range n {
				it := got[fmt.Sprint(v)]
				if it.Err != nil || it.Value != want(v) {
					t.Errorf("song %d: got %d, %v; want %d", v, it.Value, it.Err, want(v))
				}
			}
			s := p.Snapshot()
			if s.Submitted != n || s.Completed != n || s.Failed != 0 || s.InFlight != 0 {
				t.Errorf("snapshot songs: %+v", s)
			}
			if s.Stages[1].Out != s.Stages[2].In || s.Stages[3].In != s.Stages[2].Out || s.Stages[3].Out != n {
				t.Errorf("stage counts do not chain: %+v", s.Stages)
			}
		})
	}
}

// TestBackpressure holds the sink slow and checks that the songs accepted
// but not yet delivered never exceed the pipeline's buffers and workers.
func TestBackpressure(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	const inBuf = 3
	cfgs := []StageConfig{{Workers: 2, Buffer: 4}, {Workers: 1, Buffer: 0}, {Workers: 3, Buffer: 5}}
	in := NewInput[int](p, "in", inBuf)
	s := in.Stream()
	for i, c := range cfgs {
		s = Map(p, fmt.Sprint("stage", i), c, s, square)
	}
	// The input counts as a stage with one worker (its forwarder), and the
	// sink may hold the one item it has read but not yet counted.
	bound := inBuf + 1 + 1
	for _, c := range cfgs {
		bound += c.Workers + c.Buffer
	}
	out := s.Out()
	var submitted, consumed atomic.Int64
	var worst int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		src, _ := in.Open()
		defer src.Close()
		for v := range 10 * bound {
			if _, err := src.Submit(context.Background(), "x", v); err != nil {
				t.Error(err)
				return
			}
			if d := submitted.Add(1) - consumed.Load(); d > worst {
				worst = d
			}
		}
	}()
	for range out {
		consumed.Add(1)
		time.Sleep(200 * time.Microsecond) // slow sink: lets the pipeline fill up
	}
	<-done
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if worst > int64(bound) {
		t.Errorf("in flight reached %d, bound is %d", worst, bound)
	}
	if consumed.Load() != int64(10*bound) {
		t.Errorf("consumed %d of %d", consumed.Load(), 10*bound)
	}
}

func TestErrorAndPanicIsolation(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 1)
	var secondCalls sync.Map
	first := Map(p, "fft", StageConfig{Workers: 2, Buffer: 1}, in.Stream(), func(_ context.Context, v int) (int, error) {
		switch v {
		case 3:
			return 0, errors.New("bad frame")
		case 5:
			var m map[string]int
			m["boom"] = 1 // panics: assignment to nil map
		}
		return v, nil
	})
	second := Map(p, "aggregate", StageConfig{Workers: 2, Buffer: 1}, first, func(_ context.Context, v int) (int, error) {
		secondCalls.Store(v, true)
		return v + 100, nil
	})
	got := map[int]Item[int]{}
	var mu sync.Mutex
	NewRouter(p, second, func(it Item[int]) {
		var v int
		fmt.Sscan(it.Ticket.Name, &v)
		mu.Lock()
		got[v] = it
		mu.Unlock()
	})
	src, _ := in.Open()
	for v := range 10 {
		src.Submit(context.Background(), fmt.Sprint(v), v)
	}
	src.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for v := range 10 {
		it := got[v]
		switch v {
		case 3, 5:
			var se *StageError
			if !errors.As(it.Err, &se) || se.Stage != "fft" || se.Song != fmt.Sprint(v) {
				t.Errorf("song %d: error %v, want a StageError from fft", v, it.Err)
			}
			if _, called := secondCalls.Load(v); called {
				t.Errorf("song %d: later stage ran on a failed song", v)
			}
		default:
			if it.Err != nil || it.Value != v+100 {
				t.Errorf("song %d: got %d, %v", v, it.Value, it.Err)
			}
		}
	}
	if want := `fft: song "3": bad frame`; got[3].Err == nil || got[3].Err.Error() != want {
		t.Errorf("error text %q, want %q", got[3].Err, want)
	}
	if !errors.Is(got[5].Err, ErrPanic) || !strings.Contains(got[5].Err.Error(), "nil map") {
		t.Errorf("panic error %v", got[5].Err)
	}
	s := p.Snapshot()
	if s.Failed != 2 || s.Completed != 8 || s.Stages[0].Errors != 2 || s.Stages[1].Errors != 0 {
		t.Errorf("snapshot: failed %d completed %d stage errors %d %d", s.Failed, s.Completed, s.Stages[0].Errors, s.Stages[1].Errors)
	}
}

// TestCollectFailedPart fails one part of a song and checks that the song
// ends with exactly that error while its other parts are dropped and the
// interleaved songs around it are unaffected.
func TestCollectFailedPart(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 4)
	cfg := StageConfig{Workers: 4, Buffer: 8}
	parts := FlatMap(p, "chunk", cfg, in.Stream(), func(_ context.Context, v int) ([]int, error) {
		return []int{10 * v, 10*v + 1, 10*v + 2, 10*v + 3}, nil
	})
	fft := Map(p, "fft", cfg, parts, func(_ context.Context, v int) (int, error) {
		if v == 72 {
			return 0, errors.New("NaN in spectrum")
		}
		return v, nil
	})
	joined := Collect(p, "aggregate", cfg, fft, join)
	out := joined.Out()
	src, _ := in.Open()
	go func() {
		for v := range 20 {
			src.Submit(context.Background(), fmt.Sprint(v), v)
		}
		src.Close()
	}()
	count := map[string]int{}
	for it := range out {
		count[it.Ticket.Name]++
		if it.Ticket.Name == "7" {
			if it.Err == nil || it.Err.Error() != `fft: song "7": NaN in spectrum` {
				t.Errorf("song 7: %v", it.Err)
			}
			continue
		}
		var v int
		fmt.Sscan(it.Ticket.Name, &v)
		if it.Err != nil || it.Value != 40*v+6 {
			t.Errorf("song %d: %d, %v", v, it.Value, it.Err)
		}
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for v := range 20 {
		if c := count[fmt.Sprint(v)]; c != 1 {
			t.Errorf("song %d: %d results", v, c)
		}
	}
}

func TestTimeoutInStage(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: 20 * time.Millisecond})
	in := NewInput[int](p, "in", 1)
	slow := Map(p, "decode", StageConfig{Workers: 1}, in.Stream(), func(ctx context.Context, v int) (int, error) {
		if v == 1 {
			<-ctx.Done() // a song that would hang without its deadline
			return 0, ctx.Err()
		}
		return v, nil
	})
	out := slow.Out()
	src, _ := in.Open()
	go func() {
		src.Submit(context.Background(), "hang", 1)
		src.Submit(context.Background(), "fine", 2)
		src.Close()
	}()
	got := map[string]Item[int]{}
	for it := range out {
		got[it.Ticket.Name] = it
	}
	p.Wait()
	if err := got["hang"].Err; !errors.Is(err, ErrTimeout) || !strings.HasPrefix(err.Error(), `decode: song "hang": song deadline passed`) {
		t.Errorf("hung song: %v", err)
	}
	if got["fine"].Err != nil && !errors.Is(got["fine"].Err, ErrTimeout) {
		t.Errorf("other song: %v", got["fine"].Err)
	}
}

// TestLateResultIsTimeout has a stage function ignore its context and
// succeed after the song's deadline: the song fails with the timeout, from
// that stage, and the next stage never sees it.
func TestLateResultIsTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: 20 * time.Millisecond})
	in := NewInput[int](p, "in", 1)
	slow := Map(p, "slow", StageConfig{Workers: 1}, in.Stream(), func(_ context.Context, v int) (int, error) {
		time.Sleep(60 * time.Millisecond)
		return v, nil
	})
	var nextCalls atomic.Int32
	next := Map(p, "next", StageConfig{Workers: 1}, slow, func(_ context.Context, v int) (int, error) {
		nextCalls.Add(1)
		return v, nil
	})
	out := next.Out()
	src, _ := in.Open()
	src.Submit(context.Background(), "late", 1)
	src.Close()
	var got []Item[int]
	for it := range out {
		got = append(got, it)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !errors.Is(got[0].Err, ErrTimeout) || !strings.HasPrefix(got[0].Err.Error(), `slow: song "late"`) {
		t.Fatalf("results %+v, want one timeout from slow", got)
	}
	if n := nextCalls.Load(); n != 0 {
		t.Errorf("next stage called %d times for a timed-out song", n)
	}
}

// TestTimeoutInCollect keeps one part of a song stuck: Collect must emit
// the timeout while that part is still missing, and drop it when it comes.
func TestTimeoutInCollect(t *testing.T) {
	defer goleak.VerifyNone(t)
	// Long enough that parts 0 and 2 reach aggregate before the deadline
	// even on a loaded machine, so that it is aggregate's timer that fires.
	p := New(context.Background(), Options{SongTimeout: 300 * time.Millisecond})
	in := NewInput[int](p, "in", 1)
	parts := FlatMap(p, "chunk", StageConfig{Workers: 1}, in.Stream(), func(_ context.Context, v int) ([]int, error) {
		return []int{0, 1, 2}, nil
	})
	stuck := make(chan struct{})
	fft := Map(p, "fft", StageConfig{Workers: 3, Buffer: 3}, parts, func(_ context.Context, v int) (int, error) {
		if v == 1 {
			<-stuck
		}
		return v, nil
	})
	agg := Collect(p, "aggregate", StageConfig{Workers: 1}, fft, join)
	out := agg.Out()
	src, _ := in.Open()
	src.Submit(context.Background(), "song", 0)
	src.Close()
	it := <-out // arrives while part 1 is still stuck
	if !errors.Is(it.Err, ErrTimeout) || !strings.HasPrefix(it.Err.Error(), `aggregate: song "song"`) {
		t.Errorf("result %v, want a timeout from aggregate", it.Err)
	}
	close(stuck)
	for it := range out {
		t.Errorf("late item %+v", it)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(); s.Failed != 1 || s.InFlight != 0 {
		t.Errorf("failed %d in flight %d", s.Failed, s.InFlight)
	}
}

func TestCancelMidRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, Options{})
	in := NewInput[int](p, "in", 2)
	started := make(chan struct{}, 100)
	block := Map(p, "slow", StageConfig{Workers: 2, Buffer: 2}, in.Stream(), func(ctx context.Context, v int) (int, error) {
		started <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	})
	parts := FlatMap(p, "split", StageConfig{Workers: 2, Buffer: 2}, block, split)
	joined := Collect(p, "join", StageConfig{Workers: 2, Buffer: 2}, parts, join)
	r := NewRouter(p, joined, nil)
	src, _ := in.Open()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := range 20 {
				if _, err := Call(context.Background(), src, r, fmt.Sprint(i, v), v); err == nil {
					t.Errorf("song got a result after cancel")
				}
			}
		}()
	}
	<-started
	<-started
	cancel()
	if err := p.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait: %v, want context.Canceled", err)
	}
	wg.Wait()
	if _, err := src.Submit(context.Background(), "late", 1); err == nil {
		t.Error("submit after cancel succeeded")
	}
	src.Close()
}

// TestCallRouting runs several sources at once, each with several callers
// and some fire-and-forget songs: every caller must get its own song back.
func TestCallRouting(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 2)
	cfg := StageConfig{Workers: 3, Buffer: 2}
	parts := FlatMap(p, "split", cfg, Map(p, "square", cfg, in.Stream(), square), split)
	joined := Collect(p, "join", cfg, parts, join)
	var unclaimed sync.Map
	r := NewRouter(p, joined, func(it Item[int]) {
		if _, dup := unclaimed.LoadOrStore(it.Ticket.Name, it.Value); dup {
			t.Errorf("unclaimed %q twice", it.Ticket.Name)
		}
	})
	var wg sync.WaitGroup
	for s := range 3 {
		src, err := in.Open()
		if err != nil {
			t.Fatal(err)
		}
		var swg sync.WaitGroup
		for c := range 4 {
			swg.Add(1)
			go func() {
				defer swg.Done()
				for k := range 25 {
					v := 1000*s + 100*c + k
					it, err := Call(context.Background(), src, r, fmt.Sprint("call ", v), v)
					if err != nil || it.Value != want(v) || it.Ticket.Name != fmt.Sprint("call ", v) {
						t.Errorf("call %d: got %d (%s), %v; want %d", v, it.Value, it.Ticket.Name, err, want(v))
					}
				}
			}()
		}
		swg.Add(1)
		go func() {
			defer swg.Done()
			for k := range 10 {
				src.Submit(context.Background(), fmt.Sprint("ff ", s, k), k)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			swg.Wait()
			src.Close()
		}()
	}
	wg.Wait()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	n := 0
	unclaimed.Range(func(k, v any) bool {
		n++
		if !strings.HasPrefix(k.(string), "ff ") {
			t.Errorf("caller's song %v went unclaimed", k)
		}
		return true
	})
	if n != 30 {
		t.Errorf("%d unclaimed, want 30", n)
	}
	if s := p.Snapshot(); s.Completed != 330 || s.InFlight != 0 {
		t.Errorf("completed %d in flight %d", s.Completed, s.InFlight)
	}
}

// TestCallAbandoned gives up on a song while it is stuck in a stage: the
// caller gets its context's error, and the late result neither blocks the
// router nor reaches the unclaimed function.
func TestCallAbandoned(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 1)
	release := make(chan struct{})
	entered := make(chan struct{})
	st := Map(p, "slow", StageConfig{Workers: 2}, in.Stream(), func(_ context.Context, v int) (int, error) {
		if v == 0 {
			close(entered)
			<-release
		}
		return v, nil
	})
	var unclaimed atomic.Int32
	r := NewRouter(p, st, func(Item[int]) { unclaimed.Add(1) })
	src, _ := in.Open()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	if _, err := Call(ctx, src, r, "abandoned", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Call: %v, want context.Canceled", err)
	}
	close(release)
	if it, err := Call(context.Background(), src, r, "next", 7); err != nil || it.Value != 7 {
		t.Errorf("next call: %d, %v", it.Value, err)
	}
	src.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if unclaimed.Load() != 0 {
		t.Errorf("abandoned result went to unclaimed")
	}
}

func TestStageTimesAndTicketContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: time.Hour})
	in := NewInput[int](p, "in", 1)
	var seen *Ticket
	a := Map(p, "a", StageConfig{Workers: 1}, in.Stream(), func(ctx context.Context, v int) (int, error) {
		seen, _ = TicketFrom(ctx)
		want, _ := seen.Deadline()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(want) || d.Before(seen.Submitted.Add(time.Hour)) {
			t.Errorf("deadline %v %v, want %v: an hour after work began", d, ok, want)
		}
		time.Sleep(time.Millisecond)
		return v, nil
	})
	r := NewRouter(p, Map(p, "b", StageConfig{Workers: 1}, a, square), nil)
	src, _ := in.Open()
	it, err := Call(context.Background(), src, r, "s", 3)
	src.Close()
	p.Wait()
	if err != nil || seen != it.Ticket {
		t.Fatalf("ticket in context %p, item's %p, %v", seen, it.Ticket, err)
	}
	times := it.Ticket.StageTimes()
	if times["a"] < time.Millisecond || len(times) != 2 {
		t.Errorf("stage times %v, want a ≥ 1ms and b", times)
	}
}

func TestOpenAfterClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 1)
	out := Map(p, "m", StageConfig{}, in.Stream(), square).Out()
	src, _ := in.Open()
	src.Close()
	src.Close() // idempotent
	for range out {
	}
	if _, err := in.Open(); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after close: %v", err)
	}
	if _, err := src.Submit(context.Background(), "x", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after close: %v", err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestSongContextEndsWithSong fails one part of a song while another part
// is still inside a stage function, waiting on its song's context: when
// the song's error leaves the engine that context is done, and it must
// then say why, like any context. Its Err used to be nil after Done had
// closed, and a context derived from it (context.WithCancel in a stage
// function) then either never ended, hanging the stage, or panicked inside
// package context ("missing cancel error"), taking the process down.
func TestSongContextEndsWithSong(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: time.Hour})
	in := NewInput[int](p, "in", 1)
	parts := FlatMap(p, "chunk", StageConfig{Workers: 1}, in.Stream(), func(_ context.Context, v int) ([]int, error) {
		return []int{0, 1}, nil
	})
	waiting := make(chan struct{})
	var errAfterDone, derivedErr, lateDerivedErr error
	sameDone := true
	fft := Map(p, "fft", StageConfig{Workers: 2, Buffer: 2}, parts, func(ctx context.Context, v int) (int, error) {
		if v == 0 {
			<-waiting
			return 0, errors.New("NaN in spectrum")
		}
		derived, cancel := context.WithCancel(ctx)
		defer cancel()
		done := ctx.Done()
		close(waiting)
		<-done // the song failed on part 0 and its result went out
		errAfterDone = ctx.Err()
		sameDone = ctx.Done() == done
		if errAfterDone == nil {
			return 0, nil // waiting on derived would hang
		}
		<-derived.Done()
		derivedErr = derived.Err()
		late, cancelLate := context.WithCancel(ctx)
		defer cancelLate()
		lateDerivedErr = late.Err()
		return 0, ctx.Err()
	})
	out := Collect(p, "aggregate", StageConfig{Workers: 1}, fft, join).Out()
	src, _ := in.Open()
	if _, err := src.Submit(context.Background(), "song", 0); err != nil {
		t.Fatal(err)
	}
	src.Close()
	var got []Item[int]
	for it := range out {
		got = append(got, it)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Err == nil || got[0].Err.Error() != `fft: song "song": NaN in spectrum` {
		t.Fatalf("results %+v, want the one error from fft", got)
	}
	if !errors.Is(errAfterDone, context.Canceled) || !sameDone {
		t.Fatalf("song context after its song ended: Err %v, same Done channel %v; want context.Canceled, true", errAfterDone, sameDone)
	}
	if !errors.Is(derivedErr, context.Canceled) || !errors.Is(lateDerivedErr, context.Canceled) {
		t.Errorf("derived contexts: Err %v and %v, want context.Canceled", derivedErr, lateDerivedErr)
	}
}

// TestDeliveredSongIsCounted reads the metrics the moment a song's result
// reaches its receiver: the song must already count as finished, and as
// emitted by the last stage. It used to be counted only after the
// hand-over, so a report taken when the last Call returned (calibrate,
// bench) could miss the last song.
func TestDeliveredSongIsCounted(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 1)
	var delivered uint64
	var short []string
	// Each Snapshot makes the router slower than the stage, so the stage's
	// worker is usually parked in the hand-over when the router takes an
	// item: the window in which the count used to lag.
	NewRouter(p, Map(p, "square", StageConfig{Workers: 1, Buffer: 4}, in.Stream(), square), func(it Item[int]) {
		delivered++
		if s := p.Snapshot(); s.Completed < delivered || s.Stages[0].Out < delivered {
			short = append(short, fmt.Sprintf("song %s: completed %d, out %d, delivered %d", it.Ticket.Name, s.Completed, s.Stages[0].Out, delivered))
		}
	})
	src, _ := in.Open()
	for v := range 200 {
		if _, err := src.Submit(context.Background(), fmt.Sprint(v), v); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(short) > 0 {
		t.Errorf("%d of %d songs delivered before they were counted, first: %s", len(short), delivered, short[0])
	}
	if s := p.Snapshot(); s.Completed != 200 || s.InFlight != 0 || s.Stages[0].Out != 200 {
		t.Errorf("completed %d, in flight %d, out %d", s.Completed, s.InFlight, s.Stages[0].Out)
	}
}

// TestCollectKeepsNoPartsOfFailedSong replays a race between two Collect
// workers: one takes a part of a song and sees it still healthy; before it
// stores the part, the song fails upstream and the other worker passes its
// error on and drops its parts. The part stored late used to open a new
// group that could never complete: it held the song's parts, and a timer,
// until the song's deadline.
func TestCollectKeepsNoPartsOfFailedSong(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, Options{SongTimeout: time.Hour})
	g := &gather[int]{groups: make(map[*Ticket]*group[int]), wake: make(chan struct{}, 1)}
	song := newTicket(p, "song")
	// The first worker has checked song.Failed() and is about to call add.
	song.fail()  // a stage failed another part
	g.drop(song) // the second worker passed the error on
	if parts, err := g.add(Item[int]{Ticket: song, Part: 1, Parts: 3, Value: 7}); parts != nil || err != nil {
		t.Errorf("add: %v, %v; want nothing", parts, err)
	}
	if n := len(g.groups); n != 0 {
		t.Errorf("%d groups kept for a failed song", n)
	}
	g.close()
	cancel()
	p.Wait()
}

// Songs queued to enter a busy pipeline are not failed by the wait: each
// song's deadline counts from when work on it began. Forty songs through
// one worker that takes 20 ms each queue for 0.8 s, longer than the
// 0.5 s deadline, yet each is worked on for only 20 ms.
func TestDeadlineCountsFromWork(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: 500 * time.Millisecond})
	in := NewInput[int](p, "in", 0)
	st := Map(p, "slow", StageConfig{Workers: 1}, in.Stream(), func(ctx context.Context, v int) (int, error) {
		time.Sleep(20 * time.Millisecond)
		return v, nil
	})
	r := NewRouter(p, st, nil)
	src, _ := in.Open()
	const n = 40
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Call(context.Background(), src, r, fmt.Sprint("song", i), i)
			errs <- err
		}()
	}
	wg.Wait()
	src.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a song waiting its turn failed: %v", err)
		}
	}
}

// TestDeadlineOnMonotonicClock checks that a song's start and deadline
// carry a monotonic clock reading, as Submitted does and as the deadline
// did when it counted from Submit. Counted on the wall clock alone, a step
// of the system clock (NTP at boot, a VM resumed) would move every song's
// deadline: stepped forward, every song in flight times out at once;
// stepped back, songs run on past their timeout, and the expiry check
// (wall) and the deadline context's timer (monotonic) disagree, so a stage
// function that gives up on ctx.Done fails its song with a bare
// context.DeadlineExceeded instead of ErrTimeout.
func TestDeadlineOnMonotonicClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: time.Hour})
	in := NewInput[int](p, "in", 1)
	var started, deadline, ctxDeadline time.Time
	st := Map(p, "a", StageConfig{Workers: 1}, in.Stream(), func(ctx context.Context, v int) (int, error) {
		tk, _ := TicketFrom(ctx)
		started, _ = tk.Started()
		deadline, _ = tk.Deadline()
		ctxDeadline, _ = ctx.Deadline()
		return v, nil
	})
	r := NewRouter(p, st, nil)
	src, _ := in.Open()
	_, err := Call(context.Background(), src, r, "s", 1)
	src.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// A time's String ends in "m=±<seconds>" exactly when it carries a
	// monotonic clock reading.
	for what, tm := range map[string]time.Time{"Started": started, "Deadline": deadline, "ctx.Deadline": ctxDeadline} {
		if !strings.Contains(tm.String(), " m=") {
			t.Errorf("%s %v has no monotonic clock reading", what, tm)
		}
	}
	if d := deadline.Sub(started); d != time.Hour {
		t.Errorf("deadline %v after the start, want 1h", d)
	}
}

// TestContextAskedBeforeWorkStartsNoClock watches a song's context from
// its ticket while the song still waits to enter the pipeline. Asking
// must not start the song's clock, or the song's wait to enter would
// count towards its deadline after all; it used to start it. The context
// still ends with the song, and still ends at the deadline, counted from
// when work began, for a stage function that waits on it.
func TestContextAskedBeforeWorkStartsNoClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SongTimeout: 50 * time.Millisecond})
	in := NewInput[int](p, "in", 2)
	st := Map(p, "wait", StageConfig{Workers: 1}, in.Stream(), func(ctx context.Context, v int) (int, error) {
		if v == 1 {
			<-ctx.Done() // only the deadline ends this
			return 0, ctx.Err()
		}
		return v, nil
	})
	src, _ := in.Open()
	fine, err := src.Submit(context.Background(), "fine", 0)
	if err != nil {
		t.Fatal(err)
	}
	hang, err := src.Submit(context.Background(), "hang", 1)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing consumes the stage yet, so both songs wait in the input.
	fineDone, hangDone := fine.Context().Done(), hang.Context().Done()
	for _, tk := range []*Ticket{fine, hang} {
		if s, ok := tk.Started(); ok {
			t.Errorf("song %q started at %v by a look at its context", tk.Name, s)
		}
		if d, ok := tk.Context().Deadline(); ok {
			t.Errorf("song %q has a deadline, %v, before work on it began", tk.Name, d)
		}
	}
	got := map[string]Item[int]{}
	out := st.Out()
	src.Close()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for it := range out {
			got[it.Ticket.Name] = it
		}
	}()
	await(t, ended, "a stage function waiting on its song's deadline")
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := got["fine"].Err; err != nil && !errors.Is(err, ErrTimeout) {
		t.Errorf("fine: %v", err) // a timeout only if the machine stalled for 50 ms
	}
	if err := got["hang"].Err; !errors.Is(err, ErrTimeout) {
		t.Errorf("hang: %v, want a timeout", err)
	}
	for what, done := range map[*Ticket]<-chan struct{}{fine: fineDone, hang: hangDone} {
		select {
		case <-done:
		default:
			t.Errorf("song %q over, its context not done", what.Name)
		}
		if err := what.Context().Err(); err == nil {
			t.Errorf("song %q over, its context's Err nil", what.Name)
		}
	}
	if d, ok := hang.Context().Deadline(); !ok {
		t.Error("song with no deadline after work on it began")
	} else if s, _ := hang.Started(); !d.Equal(s.Add(50 * time.Millisecond)) {
		t.Errorf("deadline %v, want %v", d, s.Add(50*time.Millisecond))
	}
}

// TestSubmitErrNeverStarts ends a song that failed before it entered:
// no stage ever works on it, so asking for its context afterwards must
// not report that work on it began.
func TestSubmitErrNeverStarts(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 1)
	r := NewRouter(p, Map(p, "m", StageConfig{}, in.Stream(), square), nil)
	src, _ := in.Open()
	tk, err := src.SubmitErr(context.Background(), "unreadable", errors.New("bad file"))
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	<-r.Done()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := tk.Context().Err(); err == nil {
		t.Error("context of an ended song: Err nil")
	}
	select {
	case <-tk.Context().Done():
	default:
		t.Error("context of an ended song not done")
	}
	if s, ok := tk.Started(); ok {
		t.Errorf("song no stage worked on started at %v", s)
	}
}

// TestConsumeAfterClose submits songs and closes the input before the
// last stage's output is consumed, as a batch run may: the songs wait in
// the input's buffer, and the pipeline has not drained until they are
// through. It used to count itself drained the moment the input closed,
// since no stage goroutine ran yet: it cancelled itself, the songs were
// lost and Wait reported success.
func TestConsumeAfterClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 3)
	st := Map(p, "square", StageConfig{Workers: 2}, in.Stream(), square)
	src, _ := in.Open()
	for v := range 3 {
		if _, err := src.Submit(context.Background(), fmt.Sprint(v), v); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	sum := 0
	for it := range st.Out() {
		if it.Err != nil {
			t.Errorf("song %s: %v", it.Ticket.Name, it.Err)
		}
		sum += it.Value
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := p.Snapshot(); sum != 0+1+4 || s.Completed != 3 || s.InFlight != 0 {
		t.Errorf("sum %d, completed %d, in flight %d; want 5, 3, 0", sum, s.Completed, s.InFlight)
	}
}

// A song cut off by the pipeline's end (Ctrl-C cancels the context it
// runs under) is no failure of the stage working on it: the stage's error
// count stays 0, as the calibrate report's stage table, which counts
// failures, needs after a Ctrl-C.
func TestCancelledSongIsNoStageError(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, Options{})
	in := NewInput[int](p, "in", 1)
	started := make(chan struct{})
	out := Map(p, "decode", StageConfig{Workers: 1, Buffer: 1}, in.Stream(), func(ctx context.Context, v int) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	NewRouter(p, out, nil)
	src, _ := in.Open()
	if _, err := src.Submit(context.Background(), "song", 1); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	src.Close()
	if err := p.Wait(); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait: %v, want context.Canceled", err)
	}
	if s := p.Snapshot(); s.Stages[0].Errors != 0 {
		t.Errorf("stage errors %d after a cancelled song, want 0", s.Stages[0].Errors)
	}
}

// A song that a FlatMap splits into nothing (a decode that yields no
// chunks) would otherwise never reach Collect and never finish: it must
// fail once, with ErrNoParts and the stage's name, while the other songs
// go through.
func TestFlatMapNoParts(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 4)
	cfg := StageConfig{Workers: 2, Buffer: 4}
	parts := FlatMap(p, "chunk", cfg, in.Stream(), func(_ context.Context, v int) ([]int, error) {
		if v == 3 {
			return nil, nil
		}
		return []int{10 * v, 10*v + 1}, nil
	})
	out := Collect(p, "aggregate", cfg, parts, join).Out()
	src, _ := in.Open()
	go func() {
		for v := range 6 {
			src.Submit(context.Background(), fmt.Sprint(v), v)
		}
		src.Close()
	}()
	count := map[string]int{}
	for it := range out {
		count[it.Ticket.Name]++
		var se *StageError
		switch {
		case it.Ticket.Name == "3":
			if !errors.Is(it.Err, ErrNoParts) || !errors.As(it.Err, &se) || se.Stage != "chunk" {
				t.Errorf("song 3, split into nothing: %v, want chunk's ErrNoParts", it.Err)
			}
		case it.Err != nil:
			t.Errorf("song %s: %v", it.Ticket.Name, it.Err)
		}
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for v := range 6 {
		if c := count[fmt.Sprint(v)]; c != 1 {
			t.Errorf("song %d: %d results, want 1", v, c)
		}
	}
	if s := p.Snapshot(); s.Completed != 5 || s.Failed != 1 {
		t.Errorf("songs %+v, want 5 completed and 1 failed", s)
	}
}

// Once one part of a song fails, the song's result is that error, and
// its other parts are not worked on: one worker takes the parts in order,
// so after part 0 fails, parts 1 to 3 of that song never reach fn.
func TestFailedSongSkipsItsOtherParts(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 1)
	parts := FlatMap(p, "chunk", StageConfig{Workers: 1, Buffer: 8}, in.Stream(), func(_ context.Context, v int) ([]int, error) {
		return []int{10 * v, 10*v + 1, 10*v + 2, 10*v + 3}, nil
	})
	var calls atomic.Int32
	fft := Map(p, "fft", StageConfig{Workers: 1, Buffer: 8}, parts, func(_ context.Context, v int) (int, error) {
		calls.Add(1)
		if v == 70 {
			return 0, errors.New("NaN in spectrum")
		}
		return v, nil
	})
	out := Collect(p, "aggregate", StageConfig{Workers: 1}, fft, join).Out()
	src, _ := in.Open()
	go func() {
		src.Submit(context.Background(), "7", 7)
		src.Close()
	}()
	var results []Item[int]
	for it := range out {
		results = append(results, it)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Err == nil {
		t.Fatalf("results %+v, want one failure", results)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("fft ran %d times on a song whose first part failed, want 1", n)
	}
}
