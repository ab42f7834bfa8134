package pipeline

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestHistogramBuckets(t *testing.T) {
	for _, ns := range []uint64{0, 1, 3, 4, 7, 8, 100, 999, 1000, 12345, 1e6, 1e9, 3.6e12, math.MaxInt64} {
		i := bucketOf(ns)
		if i >= len(histogram{}.counts) {
			t.Fatalf("%d ns: bucket %d out of range", ns, i)
		}
		mid := float64(bucketMid(i))
		if ns >= 4 && math.Abs(mid-float64(ns))/float64(ns) > 0.25 {
			t.Errorf("%d ns: bucket %d reports %v, more than 25%% off", ns, i, mid)
		}
		if i > 0 && bucketOf(ns) < bucketOf(ns-1) {
			t.Errorf("buckets not monotonic at %d", ns)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	q := h.quantiles(0.5, 0.95)
	for k, want := range []time.Duration{500 * time.Microsecond, 950 * time.Microsecond} {
		if r := float64(q[k]) / float64(want); r < 0.8 || r > 1.2 {
			t.Errorf("quantile %d: %v, want ≈ %v", k, q[k], want)
		}
	}
	if m := time.Duration(h.max.Load()); m != time.Millisecond {
		t.Errorf("max %v", m)
	}
}

// TestSeriesBounded drives the sampler by hand for far more periods than
// a series holds: the series stays bounded, spans the whole run and keeps
// the peak queue.
func TestSeriesBounded(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := New(ctx, Options{SampleEvery: time.Hour})
	queue := 0
	s := newStage(p, "s", StageConfig{Workers: 2}, func() int { return queue })
	const periods = 10 * maxSamples
	for i := 1; i <= periods; i++ {
		queue = 0
		if i == periods/2 {
			queue = 7
		}
		s.busy.Add(int64(time.Millisecond)) // half of two workers' period
		s.tick(int64(i) * int64(time.Millisecond))
	}
	st := s.stats(periods * int64(time.Millisecond))
	if n := len(st.Series); n > maxSamples || n < maxSamples/2 {
		t.Fatalf("%d samples", n)
	}
	last := st.Series[len(st.Series)-1]
	peak := 0
	for _, x := range st.Series {
		peak = max(peak, x.Queue)
		if math.Abs(x.Utilisation-0.5) > 1e-9 {
			t.Fatalf("sample %+v: utilisation should be 0.5", x)
		}
	}
	if last.At != periods*time.Millisecond || peak != 7 {
		t.Errorf("last sample at %v, peak queue %d", last.At, peak)
	}
	cancel()
	p.Wait()
}

// TestBottleneck makes one stage far slower than the others and checks the
// snapshot names it and suggests more workers for it.
func TestBottleneck(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{SampleEvery: time.Millisecond})
	// Deep buffers before the slow stage keep it from ever waiting for work.
	in := NewInput[int](p, "in", 20)
	fast := Map(p, "fast", StageConfig{Workers: 1, Buffer: 20}, in.Stream(), square)
	slow := Map(p, "slow", StageConfig{Workers: 1, Buffer: 20}, fast, func(_ context.Context, v int) (int, error) {
		time.Sleep(5 * time.Millisecond)
		return v, nil
	})
	out := Map(p, "after", StageConfig{Workers: 1, Buffer: 1}, slow, square).Out()
	src, _ := in.Open()
	go func() {
		for v := range 20 {
			src.Submit(context.Background(), "s", v)
		}
		src.Close()
	}()
	for range out {
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	s := p.Snapshot()
	if s.Bottleneck != "slow" {
		t.Errorf("bottleneck %q, want slow", s.Bottleneck)
	}
	st := s.Stages[1]
	if st.SuggestedWorkers < 2 || st.P50 < 4*time.Millisecond || st.Max < 5*time.Millisecond || st.In != 20 || st.Out != 20 {
		t.Errorf("slow stage %+v", st)
	}
	if len(st.Series) == 0 {
		t.Error("no samples")
	}
	if s.Stages[0].SuggestedWorkers != 1 {
		t.Errorf("fast stage suggested %d workers", s.Stages[0].SuggestedWorkers)
	}
}

// TestCollectSuggestedWorkers runs a Collect stage that receives eight
// parts per call. Little's law needs the arrival rate in the unit the
// service time is measured in, calls; counted in parts, it used to
// suggest about eight times the workers the stage needs. One worker can
// at most be saturated, so it needs at most one more.
func TestCollectSuggestedWorkers(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 8)
	const songs, parts = 40, 8
	chunks := FlatMap(p, "chunk", StageConfig{Workers: 1, Buffer: 8}, in.Stream(), func(_ context.Context, v int) ([]int, error) {
		return make([]int, parts), nil
	})
	out := Collect(p, "aggregate", StageConfig{Workers: 1, Buffer: 64}, chunks, func(_ context.Context, vs []int) (int, error) {
		time.Sleep(time.Millisecond) // the one slow stage: busy most of the run
		return len(vs), nil
	}).Out()
	src, _ := in.Open()
	go func() {
		defer src.Close()
		for v := range songs {
			if _, err := src.Submit(context.Background(), "s", v); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for it := range out {
		if it.Err != nil || it.Value != parts {
			t.Errorf("result %d, %v", it.Value, it.Err)
		}
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	st := p.Snapshot().Stages[1]
	if st.In != songs*parts || st.Out != songs {
		t.Fatalf("aggregate in %d out %d, want %d and %d", st.In, st.Out, songs*parts, songs)
	}
	if st.SuggestedWorkers > 2 {
		t.Errorf("aggregate suggested %d workers for one worker %.0f %% busy", st.SuggestedWorkers, 100*st.Utilisation)
	}
}

// A Submit waiting at a full input is not yet a song of the pipeline's:
// counted while it waited and taken back when its caller gave up, the
// count fell, and /metrics exports it as a Prometheus counter, whose
// rate() reads any fall as a reset to zero.
func TestSubmittedNeverFalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := New(context.Background(), Options{})
	in := NewInput[int](p, "in", 0)
	hold := make(chan struct{})
	out := Map(p, "hold", StageConfig{Workers: 1, Buffer: 0}, in.Stream(), func(_ context.Context, v int) (int, error) {
		<-hold
		return v, nil
	}).Out()
	src, _ := in.Open()
	// A few songs get in (the forwarder and the stage's worker hold
	// them); the rest wait at the input until their callers give up.
	ctx, cancel := context.WithCancel(context.Background())
	const callers = 10
	var wg sync.WaitGroup
	var refused atomic.Int64
	for v := range callers {
		wg.Go(func() {
			if _, err := src.Submit(ctx, "s", v); err != nil {
				refused.Add(1)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	before := p.Snapshot().Submitted
	cancel()
	wg.Wait()
	if got := p.Snapshot().Submitted; got != before || got != callers-uint64(refused.Load()) {
		t.Errorf("submitted %d while %d callers waited, %d after they gave up; %d got in", before, refused.Load(), got, callers-refused.Load())
	}
	close(hold)
	src.Close()
	for range out {
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}
