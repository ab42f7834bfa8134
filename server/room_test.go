package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// pipedUpload is an /analyze_data request whose body the test writes as
// it likes; a write to the pipe returns once the server has read it.
type pipedUpload struct {
	pr   *io.PipeReader
	pw   *io.PipeWriter
	rec  *httptest.ResponseRecorder
	done chan struct{}
}

func startPipedUpload(ctx context.Context, srv *Server, size int64) *pipedUpload {
	pr, pw := io.Pipe()
	u := &pipedUpload{pr: pr, pw: pw, rec: httptest.NewRecorder(), done: make(chan struct{})}
	req := httptest.NewRequest("POST", "/analyze_data", pr).WithContext(ctx)
	req.ContentLength = size
	go func() {
		defer close(u.done)
		srv.ServeHTTP(u.rec, req)
	}()
	return u
}

// Uploads that arrive together and do not fit the room at once must not
// each fill part of it and all wait for the rest, until every one of them
// is turned away (and again when their clients retry): the younger gives
// way at once, with a 503 and Retry-After, and the older one is read and
// analysed.
func TestUploadsTogetherLargerThanRoom(t *testing.T) {
	const limit = 4 * roomChunk
	// The room holds one largest body; the queue wait is long, so that
	// only giving way, not the timeout, can end the wait.
	ts := newTestServer(t, Options{MaxInFlight: 1, MaxBodyBytes: limit, QueueWait: time.Hour}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // a failed test does not leave its requests waiting
	song := func(bpm int) []byte {
		b := bytes.Repeat([]byte("x"), limit)
		copy(b, fmt.Sprintf("bpm=%d\n", bpm))
		return b
	}
	older, younger := song(120), song(130)

	a := startPipedUpload(ctx, ts.srv, limit)
	defer a.pr.Close()
	if _, err := a.pw.Write(older[:limit/2]); err != nil { // read by the server once Write returns
		t.Fatal(err)
	}
	b := startPipedUpload(ctx, ts.srv, limit)
	defer b.pr.Close()
	go func() {
		b.pw.Write(younger)
		b.pw.Close()
	}()
	// The younger upload takes what is left of the room and waits for more.
	for deadline := time.Now().Add(20 * time.Second); ts.srv.bodies.TryAcquire(1); time.Sleep(time.Millisecond) {
		ts.srv.bodies.Release(1)
		if time.Now().After(deadline) {
			t.Fatal("the second upload never filled the room")
		}
	}
	// Now the older one needs room the younger one holds.
	go func() {
		a.pw.Write(older[limit/2:])
		a.pw.Close()
	}()
	for _, u := range []*pipedUpload{a, b} {
		select {
		case <-u.done:
		case <-time.After(30 * time.Second):
			t.Fatal("uploads larger than the room together wait for each other")
		}
	}
	if a.rec.Code != http.StatusOK {
		t.Errorf("older upload: %d %s, want 200", a.rec.Code, a.rec.Body)
	}
	var m map[string]any
	json.Unmarshal(b.rec.Body.Bytes(), &m)
	if b.rec.Code != http.StatusServiceUnavailable || m["error"] != "busy" || b.rec.Header().Get("Retry-After") == "" {
		t.Errorf("younger upload: %d %s, want 503 busy with Retry-After", b.rec.Code, b.rec.Body)
	}
	room := bodyRoom(ts.srv.opts.MaxBodyBytes, ts.srv.opts.MaxInFlight)
	if !ts.srv.bodies.TryAcquire(room) {
		t.Error("the uploads kept room")
	} else {
		ts.srv.bodies.Release(room)
	}
	// The younger one, sent again, gets in.
	if status, _, resp := do(t, "POST", ts.URL+"/analyze_data", younger, nil); status != http.StatusOK {
		t.Errorf("younger upload sent again: %d %.200s", status, resp)
	}
}

// Serve leaves no goroutine behind, the downloader's included: the
// keep-alive connection a download for /analyze left open to its server
// is closed when Serve returns, not whenever that server or an idle timer
// gets round to it.
func TestServeClosesDownloadConnections(t *testing.T) {
	closed := make(chan struct{})
	var once sync.Once
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bpm=120\n")
	}))
	upstream.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			once.Do(func() { close(closed) })
		}
	}
	upstream.Start()
	defer upstream.Close()
	st, err := openStore(context.Background(), t.TempDir()+"/c.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(newFake(), st, Options{AnalyzerVersion: "v", AllowPrivateURLs: true, Sniff: func([]byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	// Only Serve, not the idle timer, may close the connection here.
	srv.fetcher.client.Transport.(*http.Transport).IdleConnTimeout = 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln, 5*time.Second) }()
	status, _, body := do(t, "POST", "http://"+ln.Addr().String()+"/analyze", []byte(`{"url":"`+upstream.URL+`/song.mp3"}`), nil)
	if status != http.StatusOK {
		t.Fatalf("/analyze: %d %s", status, body)
	}
	srv.RequestShutdown()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
	}
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Error("the download's keep-alive connection outlived Serve")
	}
}

// The room's rules, one by one: the youngest of the readers holding room
// gives way only when every byte taken is held by a waiting reader and no
// waiting reader's part fits; while a body that is complete (or a reader
// still reading) holds room, readers wait for it; and a wait that ends
// takes its reader out of the queue, so the readers behind it go on.
func TestRoomGivesWay(t *testing.T) {
	ctx := context.Background()
	r := newRoom(100)
	if err := r.acquire(ctx, 1, 0, 40, time.Hour); err != nil { // reader 1
		t.Fatal(err)
	}
	if err := r.acquire(ctx, 2, 0, 40, time.Hour); err != nil { // reader 2
		t.Fatal(err)
	}
	if err := r.acquire(ctx, 3, 0, 10, time.Hour); err != nil { // reader 3
		t.Fatal(err)
	}
	got := make(chan error, 3)
	go func() { got <- r.acquire(ctx, 2, 40, 30, time.Hour) }()
	go func() { got <- r.acquire(ctx, 3, 10, 30, time.Hour) }()
	// Reader 1 still reads: nobody gives way while it might give room back.
	waitWaiting(t, r, 2)
	go func() { got <- r.acquire(ctx, 1, 40, 30, time.Hour) }()
	// Now all three wait for room only they hold: the youngest gives way.
	if err := <-got; err != errGaveWay {
		t.Fatalf("first answer %v, want the youngest to give way", err)
	}
	r.Release(10) // reader 3 gives its bytes back
	// 20 bytes free: reader 1 (older) is served before reader 2, and then
	// reader 2 must give way too.
	if err := <-got; err != errGaveWay {
		t.Fatalf("second answer %v, want reader 2 to give way", err)
	}
	r.Release(40)
	if err := <-got; err != nil {
		t.Fatalf("reader 1: %v", err)
	}

	// A complete body (reader 1's 70 bytes) holds room: a waiter waits
	// for it, and a wait that times out leaves the queue.
	if err := r.acquire(ctx, 4, 0, 50, time.Millisecond); err != errRoomTimeout {
		t.Fatalf("reader 4: %v, want a timeout", err)
	}
	if !r.TryAcquire(30) {
		t.Fatal("the room is not free after the waiter left")
	}
	r.Release(100)

	// When nothing would be given back, a younger reader whose part
	// fits goes on (it may finish its body) rather than giving way.
	r.acquire(ctx, 5, 0, 60, time.Hour)
	r.acquire(ctx, 6, 0, 30, time.Hour)
	go func() { got <- r.acquire(ctx, 5, 60, 30, time.Hour) }()
	waitWaiting(t, r, 1)
	if err := r.acquire(ctx, 6, 30, 5, time.Hour); err != nil {
		t.Fatalf("younger reader that fits: %v", err)
	}
	r.Release(35) // its body is done and analysed
	if err := <-got; err != nil {
		t.Fatalf("older reader: %v", err)
	}
	r.Release(90)
	if !r.TryAcquire(100) {
		t.Fatal("room left over")
	}
}

// waitWaiting waits until n readers wait for room.
func waitWaiting(t *testing.T, r *room, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		k := len(r.waiting)
		r.mu.Unlock()
		if k == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d readers wait, want %d", k, n)
		}
	}
}
