package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/internal/audiotest"
	"github.com/songflow/songflow/store"
)

// syncBuffer is a bytes.Buffer safe to write from runServe while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startServe runs `songflow serve` on a free loopback port and returns its
// base URL and exit status channel.
func startServe(t *testing.T, ctx context.Context) (string, <-chan int, *syncBuffer) {
	t.Helper()
	return startServeWith(t, ctx, t.TempDir(), "")
}

// startServeWith is startServe with a database in dir and more lines for
// pipeline.toml's [server] table.
func startServeWith(t *testing.T, ctx context.Context, dir, serverTOML string) (string, <-chan int, *syncBuffer) {
	t.Helper()
	// runServe leaves GOMAXPROCS alone when the variable is set, so the
	// test binary's other tests keep theirs.
	t.Setenv("GOMAXPROCS", strconv.Itoa(runtime.GOMAXPROCS(0)))
	cfgPath := filepath.Join(dir, "pipeline.toml")
	toml := "[server]\ndb_path = " + strconv.Quote(filepath.Join(dir, "songflow.db")) + "\n" + serverTOML
	if err := os.WriteFile(cfgPath, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- runServe(ctx, []string{"--config", cfgPath, "--addr", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], code, &stdout
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited %d: %s", c, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start: %s %s", stdout.String(), stderr.String())
	return "", nil, nil
}

func waitExit(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not exit")
	}
	return -1
}

func TestServeShutdownRoute(t *testing.T) {
	base, code, stdout := startServe(t, context.Background())
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]any
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if resp.StatusCode != 200 || health["status"] != "healthy" {
		t.Fatalf("health %d %v", resp.StatusCode, health)
	}
	resp, err = http.Post(base+"/shutdown", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/shutdown answered %d", resp.StatusCode)
	}
	if c := waitExit(t, code); c != 0 {
		t.Fatalf("exit %d", c)
	}
	if !strings.Contains(stdout.String(), "stopped") {
		t.Errorf("stdout: %s", stdout.String())
	}
}

// SIGTERM and SIGINT reach runServe as the end of ctx.
func TestServeSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, code, _ := startServe(t, ctx)
	cancel()
	if c := waitExit(t, code); c != 0 {
		t.Fatalf("exit %d", c)
	}
}

// clickTrack is a 16-bit stereo 44.1 kHz WAV song of the given length: a
// tone with a click every half second (120 BPM).
func clickTrack(seconds int) []byte { return audiotest.ClickTrack(float64(seconds), 44100) }

// A signal shuts down as gracefully as /shutdown: a song being analysed
// when it arrives still gets its result, rather than the pipeline closing
// under it.
func TestServeSignalFinishesSongsInFlight(t *testing.T) {
	ctx, signal := context.WithCancel(context.Background())
	base, code, _ := startServe(t, ctx)
	type reply struct {
		status int
		body   map[string]any
		err    error
	}
	replies := make(chan reply, 1)
	go func() {
		resp, err := http.Post(base+"/analyze_data", "audio/wav", bytes.NewReader(clickTrack(240)))
		if err != nil {
			replies <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		replies <- reply{resp.StatusCode, m, err}
	}()
	// Signal once the song holds a pipeline slot.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		resp, err := http.Get(base + "/diagnostics")
		if err != nil {
			t.Fatal(err)
		}
		var diag struct {
			Components map[string]struct {
				Detail map[string]any `json:"detail"`
			} `json:"components"`
		}
		err = json.NewDecoder(resp.Body).Decode(&diag)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := diag.Components["analyzer"].Detail["in_flight"].(float64); n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the song never entered the pipeline")
		}
	}
	signal()
	r := <-replies
	if r.err != nil || r.status != 200 {
		t.Errorf("song in flight at the signal: %d %v %v", r.status, r.body, r.err)
	} else if bpm, _ := r.body["bpm"].(float64); bpm <= 0 {
		t.Errorf("song in flight at the signal: bpm %v", r.body["bpm"])
	}
	if c := waitExit(t, code); c != 0 {
		t.Fatalf("exit %d", c)
	}
}

func TestListenAddr(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	cases := []struct {
		conf, flag string
		env        map[string]string
		want       string
	}{
		{"127.0.0.1:5050", "", nil, "127.0.0.1:5050"},
		{"127.0.0.1:5050", "", map[string]string{"MAC_STUDIO_SERVER_PORT": "6060"}, "127.0.0.1:6060"},
		{"127.0.0.1:5050", "", map[string]string{"MAC_STUDIO_SERVER_HOST": "::1"}, "[::1]:5050"},
		{"127.0.0.1:5050", "127.0.0.1:7070", map[string]string{"MAC_STUDIO_SERVER_PORT": "6060"}, "127.0.0.1:7070"},
	}
	for _, c := range cases {
		got, err := listenAddr(c.conf, c.flag, env(c.env))
		if err != nil || got != c.want {
			t.Errorf("listenAddr(%q, %q, %v) = %q, %v; want %q", c.conf, c.flag, c.env, got, err, c.want)
		}
	}
	if _, err := listenAddr("127.0.0.1:5050", "", env(map[string]string{"MAC_STUDIO_SERVER_PORT": "http"})); err == nil {
		t.Error("a non-numeric port was accepted")
	}
	if _, err := listenAddr("127.0.0.1:5050", "nonsense", env(nil)); err == nil {
		t.Error("--addr without a port was accepted")
	}
}

func TestKeysCommand(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "k.db")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		c := runKeys(ctx, append(args, "--db", db), &out, &errOut)
		return c, out.String(), errOut.String()
	}
	c, secret, _ := run("create", "--name", "ios app")
	secret = strings.TrimSpace(secret)
	if c != 0 || !strings.HasPrefix(secret, "sf_") {
		t.Fatalf("create: %d %q", c, secret)
	}
	c, list, _ := run("list")
	if c != 0 || !strings.Contains(list, "ios app") || !strings.Contains(list, "active") || strings.Contains(list, secret) {
		t.Fatalf("list: %d\n%s", c, list)
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	k, err := st.CheckKey(ctx, secret)
	st.Close()
	if err != nil {
		t.Fatalf("the printed key does not check: %v", err)
	}
	if c, out, errOut := run("revoke", strconv.FormatInt(k.ID, 10)); c != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %s %s", c, out, errOut)
	}
	if c, _, _ := run("revoke", strconv.FormatInt(k.ID, 10)); c != 1 {
		t.Errorf("revoking twice: exit %d, want 1", c)
	}
	if _, list, _ = run("list"); !strings.Contains(list, "revoked") {
		t.Errorf("list after revoke:\n%s", list)
	}
	if c, _, _ := run("rotate"); c != 2 {
		t.Errorf("unknown subcommand: exit %d", c)
	}
	if c, _, _ := run("revoke"); c != 2 {
		t.Errorf("revoke without a key: exit %d", c)
	}
}

func TestServeProcs(t *testing.T) {
	cfg := config.Default()
	st := cfg.Stages
	workers := st.Decode.Workers + st.Resample.Workers + st.Chunk.Workers + st.FFT.Workers + st.Aggregate.Workers
	if got := serveProcs(cfg, 2); got != workers+2 {
		t.Errorf("serveProcs on 2 CPUs = %d, want %d (one spare P beyond the %d workers)", got, workers+2, workers)
	}
	if got := serveProcs(cfg, 64); got != 64 {
		t.Errorf("serveProcs on 64 CPUs = %d, want 64", got)
	}
}

// PRODUCTION_MODE=true turns production mode on as server.production
// does: every route but /health wants a key from `songflow keys`. And
// server.rate_limit_per_minute = 0 means no limit, not the default 60.
func TestServeProductionMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "songflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := st.CreateKey(ctx, "panel")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PRODUCTION_MODE", "true")
	base, code, _ := startServeWith(t, ctx, dir, "rate_limit_per_minute = 0\n")
	get := func(path, key string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/health", ""); s != 200 {
		t.Errorf("/health without a key: %d", s)
	}
	if s := get("/stats", ""); s != http.StatusUnauthorized {
		t.Errorf("/stats without a key: %d, want 401", s)
	}
	// More than a minute's worth at the default limit.
	for i := range 70 {
		if s := get("/stats", secret); s != 200 {
			t.Fatalf("request %d with the key: %d, want 200 (no limit)", i, s)
		}
	}
	req, _ := http.NewRequest("POST", base+"/shutdown", nil)
	req.Header.Set("X-API-Key", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := waitExit(t, code); resp.StatusCode != 200 || c != 0 {
		t.Fatalf("/shutdown with the key: %d, exit %d", resp.StatusCode, c)
	}
}
