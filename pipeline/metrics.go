package pipeline

import (
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Snapshot is the pipeline's metrics at one moment: the one view that
// reports, the CLI and the HTTP /metrics endpoint all read.
type Snapshot struct {
	Started   time.Time     // when the pipeline was made
	Elapsed   time.Duration // since Started, or until the run ended
	Submitted uint64        // songs
	Completed uint64        // songs whose final item carried no error
	Failed    uint64        // songs whose final item carried an error
	InFlight  int           // submitted, not yet finished
	Inputs    []InputStats  // in the order they were made
	Stages    []StageStats  // in pipeline order
	// Bottleneck names the stage with the highest utilisation, "" before
	// any stage has worked.
	Bottleneck string
}

// InputStats describes one input.
type InputStats struct {
	Name    string
	Buffer  int // submitted songs the input's channel holds at most
	Sources int // open sources
	Queue   int // songs submitted, not yet taken by the first stage
}

// StageStats describes one stage over the run so far.
type StageStats struct {
	Name            string
	Workers, Buffer int
	In, Out, Errors uint64        // items received, items emitted, songs failed here (not those cancelled)
	Busy            time.Duration // worker time spent in the stage function, calls still running included
	// Utilisation is Busy / (Workers × Elapsed), 0..1.
	Utilisation float64
	// P50, P95 and Max are the service time of one call of the stage
	// function; the percentiles come from a log-bucketed histogram and are
	// accurate to within a quarter octave (≈19 %).
	P50, P95, Max time.Duration
	Queue         int // items waiting in the input buffer now
	// SuggestedWorkers applies Little's law: workers busy on average =
	// arrival rate × mean service time, plus 25 % headroom, and at least
	// one more than now for a saturated stage, whose arrival rate its own
	// slowness holds down. It assumes there are cores to run them.
	SuggestedWorkers int
	// Series is sampled every SampleEvery. It is bounded: once full,
	// neighbouring samples are merged and the period doubles, so a run of
	// days keeps its whole shape at a coarser resolution.
	Series []Sample
}

// Sample is one point of a stage's time series.
type Sample struct {
	At          time.Duration // since Started, end of the sampled period
	Queue       int           // the longest input queue seen in the period
	Utilisation float64       // mean over the period, 0..1
}

// maxSamples bounds each stage's series; a power of two so halving is exact.
const maxSamples = 1024

// headroom is the spare capacity SuggestedWorkers leaves, so that a stage
// runs at about 80 % utilisation and absorbs bursts.
const headroom = 1.25

// saturated is the utilisation above which a stage is taken to limit its
// own arrival rate.
const saturated = 0.9

// histogram counts durations in log-linear buckets: four per octave of
// nanoseconds, so a percentile costs one pass over a fixed array and a
// record costs one atomic add.
type histogram struct {
	counts [252]atomic.Uint64
	max    atomic.Int64
}

func bucketOf(ns uint64) int {
	if ns < 4 {
		return int(ns)
	}
	e := bits.Len64(ns) - 1
	return 4*(e-1) + int(ns>>(e-2)&3)
}

// bucketMid is the middle of bucket i, the value a percentile reports.
func bucketMid(i int) time.Duration {
	if i < 4 {
		return time.Duration(i)
	}
	e := i/4 + 1
	lo := uint64(4+i%4) << (e - 2)
	width := uint64(1) << (e - 2)
	return time.Duration(lo + width/2)
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantiles returns the q-quantiles of what was recorded, in order.
func (h *histogram) quantiles(qs ...float64) []time.Duration {
	var c [len(histogram{}.counts)]uint64
	var n uint64
	for i := range h.counts {
		c[i] = h.counts[i].Load()
		n += c[i]
	}
	out := make([]time.Duration, len(qs))
	if n == 0 {
		return out
	}
	for k, q := range qs {
		rank := uint64(math.Ceil(q * float64(n)))
		if rank < 1 {
			rank = 1
		}
		var cum uint64
		for i := range c {
			cum += c[i]
			if cum >= rank {
				out[k] = bucketMid(i)
				break
			}
		}
		if m := time.Duration(h.max.Load()); out[k] > m {
			out[k] = m
		}
	}
	return out
}

// stage is the untyped part of a stage: identity and metrics.
type stage struct {
	p       *Pipeline
	name    string
	idx     int
	workers int
	buffer  int
	queue   func() int

	in, out, errs atomic.Uint64
	calls         atomic.Uint64 // completed calls of the stage function
	busy          atomic.Int64  // nanoseconds of completed calls
	active        []atomic.Int64
	hist          histogram

	series series
}

// normal returns cfg with the engine's floor applied: at least one
// worker, no negative buffer. The config package rejects such values;
// the engine still never deadlocks on them.
func normal(cfg StageConfig) StageConfig {
	cfg.Workers = max(cfg.Workers, 1)
	cfg.Buffer = max(cfg.Buffer, 0)
	return cfg
}

// newStage registers a stage's metrics; queue reports its input length.
func newStage(p *Pipeline, name string, cfg StageConfig, queue func() int) *stage {
	cfg = normal(cfg)
	s := &stage{p: p, name: name, workers: cfg.Workers, buffer: cfg.Buffer,
		active: make([]atomic.Int64, cfg.Workers), queue: queue}
	s.series.stride = 1
	p.register(s)
	return s
}

// begin notes that worker w started a call at pipeline time now, so that
// utilisation counts calls still running.
func (s *stage) begin(w int) int64 {
	now := s.p.now()
	s.active[w].Store(now + 1)
	return now
}

// end records a call that began at start and returns its duration.
func (s *stage) end(w int, start int64, t *Ticket) time.Duration {
	d := time.Duration(s.p.now() - start)
	s.active[w].Store(0)
	s.busy.Add(int64(d))
	s.calls.Add(1)
	s.hist.record(d)
	if t != nil {
		t.addTime(s.idx, d)
	}
	return d
}

// busyAt is the busy time up to pipeline time now, running calls included.
func (s *stage) busyAt(now int64) int64 {
	b := s.busy.Load()
	for i := range s.active {
		if a := s.active[i].Load(); a != 0 && now >= a-1 {
			b += now - (a - 1)
		}
	}
	return b
}

type series struct {
	mu       sync.Mutex
	samples  []Sample
	stride   int // sampling periods per stored sample
	n        int // periods accumulated
	qmax     int
	util     float64
	lastBusy int64
	lastAt   int64
}

// tick records one sampling period ending at pipeline time now.
func (s *stage) tick(now int64) {
	sr := &s.series
	sr.mu.Lock()
	defer sr.mu.Unlock()
	busy := s.busyAt(now)
	dt := now - sr.lastAt
	u := 0.0
	if dt > 0 {
		u = clamp01(float64(busy-sr.lastBusy) / (float64(s.workers) * float64(dt)))
	}
	sr.lastBusy, sr.lastAt = busy, now
	sr.qmax = max(sr.qmax, s.queue())
	sr.util += u
	sr.n++
	if sr.n < sr.stride {
		return
	}
	sr.samples = append(sr.samples, Sample{At: time.Duration(now), Queue: sr.qmax, Utilisation: sr.util / float64(sr.n)})
	sr.n, sr.qmax, sr.util = 0, 0, 0
	if len(sr.samples) == maxSamples {
		// Merge neighbours: the series keeps the whole run at half the
		// resolution, and from now on each sample spans twice the periods.
		for i := 0; i < maxSamples/2; i++ {
			a, b := sr.samples[2*i], sr.samples[2*i+1]
			sr.samples[i] = Sample{At: b.At, Queue: max(a.Queue, b.Queue), Utilisation: (a.Utilisation + b.Utilisation) / 2}
		}
		sr.samples = sr.samples[:maxSamples/2]
		sr.stride *= 2
	}
}

func clamp01(x float64) float64 {
	switch {
	case x < 0 || math.IsNaN(x):
		return 0
	case x > 1:
		return 1
	}
	return x
}

func (s *stage) stats(now int64) StageStats {
	q := s.hist.quantiles(0.5, 0.95)
	busy := s.busyAt(now)
	st := StageStats{
		Name:    s.name,
		Workers: s.workers,
		Buffer:  s.buffer,
		In:      s.in.Load(),
		Out:     s.out.Load(),
		Errors:  s.errs.Load(),
		Busy:    time.Duration(busy),
		P50:     q[0],
		P95:     q[1],
		Max:     time.Duration(s.hist.max.Load()),
		Queue:   s.queue(),
	}
	if now > 0 {
		st.Utilisation = clamp01(float64(busy) / (float64(s.workers) * float64(now)))
	}
	st.SuggestedWorkers = s.workers
	if calls := s.calls.Load(); calls > 0 && now > 0 {
		// The arrival rate is counted in calls, the unit the service time
		// is measured in: a Collect stage receives many parts per call.
		rate := float64(calls) / (float64(now) / 1e9)            // calls per second
		service := float64(s.busy.Load()) / float64(calls) / 1e9 // seconds per call
		w := int(math.Ceil(rate * service * headroom))
		if st.Utilisation >= saturated {
			w = max(w, s.workers+1)
		}
		st.SuggestedWorkers = max(w, 1)
	}
	s.series.mu.Lock()
	st.Series = append([]Sample(nil), s.series.samples...)
	s.series.mu.Unlock()
	return st
}

// sample runs the metrics clock until the pipeline drains or is cancelled.
func (p *Pipeline) sample() {
	defer p.wg.Done()
	tk := time.NewTicker(p.opts.SampleEvery)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			p.tickAll()
		case <-p.idle:
			p.stop()
			return
		case <-p.ctx.Done():
			p.stop()
			return
		}
	}
}

func (p *Pipeline) tickAll() {
	now := p.now()
	p.mu.Lock()
	stages := p.stages
	p.mu.Unlock()
	for _, s := range stages {
		s.tick(now)
	}
}

func (p *Pipeline) stop() {
	p.tickAll()
	p.ended.CompareAndSwap(0, max(p.now(), 1))
	// Nothing is left to run; release the context's resources. A drained
	// pipeline has already recorded that it drained, so Wait returns nil.
	p.cancel()
}

// Snapshot returns the metrics now. It is cheap and safe to call at any
// time from any goroutine.
func (p *Pipeline) Snapshot() Snapshot {
	now := p.ended.Load()
	if now == 0 {
		now = p.now()
	}
	p.mu.Lock()
	stages := p.stages
	inputs := p.inputs
	p.mu.Unlock()
	sub, comp, fail := p.submitted.Load(), p.completed.Load(), p.failed.Load()
	snap := Snapshot{
		Started:   p.started,
		Elapsed:   time.Duration(now),
		Submitted: sub,
		Completed: comp,
		Failed:    fail,
		InFlight:  max(int(int64(sub)-int64(comp)-int64(fail)), 0),
		Stages:    make([]StageStats, len(stages)),
		Inputs:    make([]InputStats, len(inputs)),
	}
	best := 0.0
	for i, s := range stages {
		snap.Stages[i] = s.stats(now)
		if u := snap.Stages[i].Utilisation; u > best {
			best, snap.Bottleneck = u, s.name
		}
	}
	for i, in := range inputs {
		snap.Inputs[i] = in.stats()
	}
	return snap
}
