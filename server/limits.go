package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// bucket is a token bucket: it holds at most burst tokens, gains rate
// tokens per second, and each request takes one.
type bucket struct {
	tokens float64
	last   time.Time
}

// rateLimiter keeps one token bucket per API key.
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[int64]*bucket
}

// newRateLimiter allows perMinute requests a minute per key, in bursts of
// up to perMinute; perMinute <= 0 disables limiting.
func newRateLimiter(perMinute int) *rateLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &rateLimiter{rate: float64(perMinute) / 60, burst: float64(perMinute), buckets: map[int64]*bucket{}}
}

// allow takes a token from key's bucket at time now. When there is none it
// returns false and how long until there will be one.
func (l *rateLimiter) allow(key int64, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(l.burst, b.tokens+dt*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// admission bounds how many songs are inside the pipeline at once, so that
// overload turns into quick 503s instead of requests that hang.
type admission struct {
	slots chan struct{}
	wait  time.Duration
}

func newAdmission(maxInFlight int, wait time.Duration) *admission {
	return &admission{slots: make(chan struct{}, max(maxInFlight, 1)), wait: wait}
}

// acquire waits at most the queue wait for a slot. It returns false when
// none came free in time, and ctx's error when ctx ended first.
func (a *admission) acquire(ctx context.Context) (bool, error) {
	select {
	case a.slots <- struct{}{}:
		return true, nil
	default:
	}
	if a.wait <= 0 {
		return false, nil
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (a *admission) release() { <-a.slots }

// inFlight is how many songs hold a slot now.
func (a *admission) inFlight() int { return len(a.slots) }

// retryAfter is the whole seconds, at least one, a client should wait.
func retryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// bodyRoom is the bytes of bodies the server holds in memory at once: as
// many bodies of the largest size as songs may be analysed at once. A body
// stays in memory until its song is done, so without a bound every
// client queueing for a slot would add its upload to the heap.
func bodyRoom(maxBody int64, maxInFlight int) int64 {
	n := int64(max(maxInFlight, 1))
	if maxBody > math.MaxInt64/n {
		return math.MaxInt64
	}
	return maxBody * n
}

// acquireRoom waits at most the queue wait for room for n bytes of body.
// It answers 503 when no room came free in time, as admission does for
// analysis slots.
func (s *Server) acquireRoom(ctx context.Context, n int64) *failure {
	if s.bodies.TryAcquire(n) {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.QueueWait)
	err := s.bodies.Acquire(wctx, n)
	cancel()
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &failure{status: http.StatusServiceUnavailable, code: "cancelled", message: "the request ended while it waited: " + ctx.Err().Error()}
	}
	s.metrics.rejected.WithLabelValues("busy").Inc()
	return &failure{status: http.StatusServiceUnavailable, code: "busy",
		message:    fmt.Sprintf("the bodies being received and analysed fill the server's room for them (%d × server.max_body_mb); none finished within %v", max(s.opts.MaxInFlight, 1), s.opts.QueueWait),
		retryAfter: retryAfter(s.opts.QueueWait)}
}

// stallReader gives each read of a request body until d from its start
// to bring bytes, so a client that stops sending mid-body is cut off
// without a bound on how long a steadily arriving upload may take.
type stallReader struct {
	r  io.Reader
	rc *http.ResponseController
	d  time.Duration
}

func (sr stallReader) Read(p []byte) (int, error) {
	// A handler called without a connection has no deadline to set.
	_ = sr.rc.SetReadDeadline(time.Now().Add(sr.d))
	return sr.r.Read(p)
}

// roomChunk is the most room a body reader takes at a time.
const roomChunk = 256 << 10

// roomReader reads a body while holding room for every byte it has read,
// taking the room for each read, at most roomChunk, before the bytes
// arrive: a client that announces a large body and sends it slowly holds
// only what it has sent and the chunk it is being waited for, so it
// cannot keep the room from everyone else.
type roomReader struct {
	s    *Server
	ctx  context.Context
	r    io.Reader
	held int64    // bytes of room held: the bytes read so far
	f    *failure // why reading stopped for want of room
}

// wrap makes rr read from r.
func (rr *roomReader) wrap(r io.Reader) io.Reader {
	rr.r = r
	return rr
}

// release gives back the room rr holds, once nothing made from the bytes
// it read is held any more.
func (rr *roomReader) release() {
	rr.s.bodies.Release(rr.held)
	rr.held = 0
}

// errNoRoom stops a read for want of room; roomReader.f says more.
var errNoRoom = errors.New("no room for the body")

func (rr *roomReader) Read(p []byte) (int, error) {
	// Past the largest body the size limit's reader only looks for one
	// more byte to refuse the body: nothing more to hold.
	want := min(int64(len(p)), roomChunk, rr.s.opts.MaxBodyBytes-rr.held)
	if want <= 0 {
		return rr.r.Read(p)
	}
	p = p[:want]
	if f := rr.s.acquireRoom(rr.ctx, int64(len(p))); f != nil {
		rr.f = f
		return 0, errNoRoom
	}
	n, err := rr.r.Read(p)
	rr.s.bodies.Release(int64(len(p) - n))
	rr.held += int64(n)
	return n, err
}
