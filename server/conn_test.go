package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/songflow/songflow/store"
)

// A client that stops sending in the middle of its body is answered 408
// once stall passes with nothing new, and the room its bytes held is
// given back.
func TestStalledBodyTimesOut(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	ts.srv.stall = 200 * time.Millisecond
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /analyze_data HTTP/1.1\r\nHost: songflow\r\nContent-Length: 1000\r\n\r\nbpm=120\n")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a hang fails, not blocks, the test
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if m := jsonObject(t, body); resp.StatusCode != http.StatusRequestTimeout || m["error"] != "request_timeout" {
		t.Errorf("stalled upload: %d %v, want 408 request_timeout", resp.StatusCode, m)
	}
	room := bodyRoom(ts.srv.opts.MaxBodyBytes, ts.srv.opts.MaxInFlight)
	if !ts.srv.bodies.TryAcquire(room) {
		t.Error("the stalled upload's room was not given back")
	} else {
		ts.srv.bodies.Release(room)
	}
}

// The stall bound is per part, not per body: an upload that keeps coming
// may take many times stall, and once it is in, an analysis longer than
// stall is not cut off by a read deadline left on the connection.
func TestSteadySlowBodyIsRead(t *testing.T) {
	fake := newFake()
	fake.delay = 600 * time.Millisecond
	ts := newTestServer(t, Options{}, fake)
	ts.srv.stall = 300 * time.Millisecond
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "bpm=84\n")
		for range 12 {
			time.Sleep(100 * time.Millisecond)
			io.WriteString(pw, "0123456789")
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", ts.URL+"/analyze_data", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := jsonObject(t, body); resp.StatusCode != 200 || m["bpm"] != 84.0 {
		t.Errorf("slow but steady upload: %d %v", resp.StatusCode, m)
	}
}

// Serve closes a keep-alive connection left idle, and one whose request
// header never ends, so neither holds a goroutine for ever.
func TestQuietConnectionsClosed(t *testing.T) {
	st, err := openStore(context.Background(), t.TempDir()+"/c.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(newFake(), st, Options{AnalyzerVersion: "v", Sniff: func([]byte) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv.idle, srv.stall = 200*time.Millisecond, 200*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, time.Second) }()
	defer func() {
		cancel()
		<-done
	}()

	closed := func(conn net.Conn, what string) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.ReadAll(conn)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the server kept the connection open", what)
		}
	}

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /health HTTP/1.1\r\nHost: songflow\r\n\r\n")
	idle.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("/health: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	closed(idle, "keep-alive connection left idle")

	partial, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer partial.Close()
	fmt.Fprintf(partial, "GET /health HTTP/1.1\r\nHo")
	closed(partial, "request header never finished")
}

// A client that asks for a reply larger than the socket buffers and
// stops reading it is cut off once stall passes with nothing sent, so
// its handler, and the rows it holds, do not wait for it for ever.
func TestStalledReaderCutOff(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	ts.srv.stall = 200 * time.Millisecond
	// 16 MB of rows: more than loopback's socket buffers hold.
	title := strings.Repeat("t", 100<<10)
	for i := range 160 {
		key := store.Key{Hash: fmt.Sprint("h", i), AnalyzerVersion: "test-1", Namespace: "big"}
		if _, err := ts.store.Put(context.Background(), store.Entry{Key: key, Title: title, Result: []byte(`{"bpm":100}`)}); err != nil {
			t.Fatal(err)
		}
	}
	// The server behind a wrapper that counts the requests it is handling.
	var active atomic.Int64
	counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		ts.srv.ServeHTTP(w, r)
	}))
	defer counted.Close()
	conn, err := net.Dial("tcp", counted.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(conn, "GET /cache?namespace=big&limit=1000 HTTP/1.1\r\nHost: songflow\r\n\r\n")
	// Wait for the handler to start, then for it to give up.
	for deadline := time.Now().Add(20 * time.Second); active.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the listing never started")
		}
	}
	for deadline := time.Now().Add(20 * time.Second); active.Load() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the handler still waits for a client that stopped reading")
		}
	}
}

// The write deadlines a reply sets do not reach the next request on a
// keep-alive connection: a 100 Continue sent long after them still goes
// out, and the upload is answered.
func TestWriteDeadlineNotLeftBehind(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	ts.srv.stall = 100 * time.Millisecond
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second)) // a hang fails, not blocks, the test
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET /health HTTP/1.1\r\nHost: songflow\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	time.Sleep(3 * ts.srv.stall) // the reply's write deadline passes

	body := "bpm=93\ncontinued"
	fmt.Fprintf(conn, "POST /analyze_data HTTP/1.1\r\nHost: songflow\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	if _, err := br.ReadString('\n'); err != nil { // the blank line after it
		t.Fatal(err)
	}
	io.WriteString(conn, body)
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the upload: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if m := jsonObject(t, b); resp.StatusCode != 200 || m["bpm"] != 93.0 {
		t.Errorf("upload after a pause: %d %v", resp.StatusCode, m)
	}
}
