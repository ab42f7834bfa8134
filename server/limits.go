package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
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
// none came free in time, and ctx's error when ctx ended first. A ctx
// already ended gets no slot even when one is free: the song would run,
// on a goroutine of its own, for a client that is gone or a server that
// is shutting down, as it would not had it had to wait.
func (a *admission) acquire(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
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

// cancelledRetryAfter is the Retry-After of a 503 for a request whose
// context ended under it. A client still there to read the reply is one
// whose server is stopping at the end of its grace period, and may try
// again once the server is back.
const cancelledRetryAfter = "5"

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

// acquireRoom waits at most the queue wait for room for n bytes of body
// for rr. It answers 503 when no room came free in time, or when rr is to
// give way to older bodies (see room), as admission does for analysis
// slots.
func (s *Server) acquireRoom(ctx context.Context, rr *roomReader, n int64) *failure {
	err := s.bodies.acquire(ctx, rr.age, rr.held, n, s.opts.QueueWait)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &failure{status: http.StatusServiceUnavailable, code: "cancelled", message: "the request ended while it waited: " + ctx.Err().Error(),
			retryAfter: cancelledRetryAfter}
	}
	s.metrics.rejected.WithLabelValues("busy").Inc()
	message := fmt.Sprintf("the bodies being received and analysed fill the server's room for them (%d × server.max_body_mb); none finished within %v", max(s.opts.MaxInFlight, 1), s.opts.QueueWait)
	if errors.Is(err, errGaveWay) {
		message = fmt.Sprintf("the bodies arriving together fill the server's room for them (%d × server.max_body_mb) and none could finish: this one, the youngest, gave way to older ones", max(s.opts.MaxInFlight, 1))
	}
	return &failure{status: http.StatusServiceUnavailable, code: "busy", message: message, retryAfter: retryAfter(s.opts.QueueWait)}
}

// room is the memory, in bytes, for the upload and download bodies held
// at once, which readers take a part at a time as their bytes arrive (see
// roomReader). An older reader is served first. When every byte taken is
// held by a reader waiting for more, none will ever be given back: bodies
// that arrived together and are larger than the room together have each
// filled part of it. Then the youngest of them gives way at once, and the
// older ones go on; waiting for the queue wait would turn every one of
// them away, and again each time their clients retry.
type room struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiting []*roomWait // oldest reader first
	blocked int64       // bytes held by the readers in waiting
}

// roomWait is a reader waiting for room.
type roomWait struct {
	age  uint64     // the reader's place in the order readers began
	n    int64      // bytes it asks for
	held int64      // bytes it holds already
	done chan error // gets nil once the n bytes are the reader's, errGaveWay if it is to give way
}

var (
	// errGaveWay ends a wait for room that can only end by one body giving way.
	errGaveWay = errors.New("gave way to older bodies")
	// errRoomTimeout ends a wait for room longer than the queue wait.
	errRoomTimeout = errors.New("no room within the queue wait")
)

func newRoom(size int64) *room { return &room{size: size} }

// TryAcquire takes n bytes if they are free and no reader waits.
func (r *room) TryAcquire(n int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.waiting) == 0 && r.size-r.used >= n {
		r.used += n
		return true
	}
	return false
}

// Release gives back n bytes.
func (r *room) Release(n int64) {
	if n == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.used -= n
	r.settle()
}

// acquire takes n bytes for the reader of the given age, which holds held
// bytes already, waiting at most wait for them. It fails with ctx's error,
// errRoomTimeout, or errGaveWay.
func (r *room) acquire(ctx context.Context, age uint64, held, n int64, wait time.Duration) error {
	r.mu.Lock()
	if r.size-r.used >= n && (len(r.waiting) == 0 || r.waiting[0].age > age) {
		r.used += n
		r.mu.Unlock()
		return nil
	}
	w := &roomWait{age: age, n: n, held: held, done: make(chan error, 1)}
	i, _ := slices.BinarySearchFunc(r.waiting, age, func(w *roomWait, age uint64) int { return cmp.Compare(w.age, age) })
	r.waiting = slices.Insert(r.waiting, i, w)
	r.blocked += held
	r.settle()
	r.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case err = <-w.done:
		return err
	case <-t.C:
		err = errRoomTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.waiting, w); i >= 0 {
		r.waiting = slices.Delete(r.waiting, i, i+1)
		r.blocked -= held
		r.settle() // younger readers it kept waiting may fit
		return err
	}
	return <-w.done // answered meanwhile
}

// settle gives room to the waiting readers, oldest first, while the
// oldest fits, and picks the reader to give way when nothing would ever
// be given back. The caller holds r.mu.
func (r *room) settle() {
	for len(r.waiting) > 0 && r.size-r.used >= r.waiting[0].n {
		w := r.waiting[0]
		r.waiting = slices.Delete(r.waiting, 0, 1)
		r.used += w.n
		r.blocked -= w.held
		w.done <- nil
	}
	if len(r.waiting) == 0 || r.used != r.blocked {
		return // someone else holds room, and will give it back
	}
	// Nothing will be given back. A younger reader that fits may still
	// finish its body (which then waits for its analysis, and gives the
	// room back after it); else the youngest holding room gives way.
	for i, w := range r.waiting {
		if r.size-r.used >= w.n {
			r.waiting = slices.Delete(r.waiting, i, i+1)
			r.used += w.n
			r.blocked -= w.held
			w.done <- nil
			return
		}
	}
	for i := len(r.waiting) - 1; i >= 0; i-- {
		if w := r.waiting[i]; w.held > 0 {
			r.waiting = slices.Delete(r.waiting, i, i+1)
			r.blocked -= w.held
			w.done <- errGaveWay
			return // once it has given its bytes back, settle looks again
		}
	}
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
	age  uint64   // the reader's place in the order readers began; 0 before its first read
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
	if rr.age == 0 {
		rr.age = rr.s.readers.Add(1)
	}
	if f := rr.s.acquireRoom(rr.ctx, rr, int64(len(p))); f != nil {
		rr.f = f
		return 0, errNoRoom
	}
	n, err := rr.r.Read(p)
	rr.s.bodies.Release(int64(len(p) - n))
	rr.held += int64(n)
	return n, err
}
