package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/store"
)

// jsonObject decodes body as one JSON object, failing the test otherwise.
func jsonObject(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

// kind names a decoded JSON value's type the way Swift's Codable sees it.
func kind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case float64:
		if x == math.Trunc(x) {
			return "int"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// wantTypes checks that m has every field with the JSON type given;
// "number" accepts integral values too.
func wantTypes(t testing.TB, what string, m map[string]any, types map[string]string) {
	t.Helper()
	for field, want := range types {
		v, ok := m[field]
		if !ok {
			t.Errorf("%s: field %q missing", what, field)
			continue
		}
		got := kind(v)
		if got != want && !(want == "number" && got == "int") {
			t.Errorf("%s: field %q is %s (%v), want %s", what, field, got, v, want)
		}
	}
}

func wantError(t testing.TB, what string, status int, body []byte, wantStatus int, wantCode string) map[string]any {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d (%s)", what, status, wantStatus, body)
	}
	m := jsonObject(t, body)
	wantTypes(t, what, m, map[string]string{"error": "string", "message": "string"})
	if m["error"] != wantCode {
		t.Errorf("%s: error %q, want %q", what, m["error"], wantCode)
	}
	return m
}

// analysisTypes are the fields and types the Swift clients decode.
var analysisTypes = map[string]string{
	"bpm": "number", "bpm_confidence": "number", "key": "string", "key_confidence": "number",
	"energy": "number", "danceability": "number", "acousticness": "number",
	"spectral_centroid": "number", "cached": "bool", "analysis_duration": "number",
	"time_signature": "string", "valence": "number", "loudness": "number",
	"dynamic_range": "number", "silence_ratio": "number", "key_details": "object",
}

func TestHealth(t *testing.T) {
	ts := newTestServer(t, Options{Port: 5051, Version: "1.2.3"}, nil)
	status, h, body := do(t, "GET", ts.URL+"/health", nil, nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, content type %q", status, h.Get("Content-Type"))
	}
	m := jsonObject(t, body)
	wantTypes(t, "health", m, map[string]string{"running": "bool", "port": "int", "version": "string",
		"status": "string", "server": "string", "timestamp": "string", "uptime": "number"})
	if m["running"] != true || m["port"] != 5051.0 || m["version"] != "1.2.3" || m["status"] != "healthy" || m["server"] != "songflow" {
		t.Errorf("health = %v", m)
	}
	if _, err := time.Parse(time.RFC3339, m["timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
}

func TestAnalyzeDataContractAndCache(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	url := ts.URL + "/analyze_data"
	body := []byte("bpm=128\nsong one")
	status, _, resp := do(t, "POST", url, body, map[string]string{
		"Content-Type": "application/octet-stream", "X-Song-Title": "One", "X-Song-Artist": "Band",
		"X-Client-Request-Id": "req-1"})
	if status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	m := jsonObject(t, resp)
	wantTypes(t, "analyze_data", m, analysisTypes)
	if m["bpm"] != 128.0 || m["key"] != "C# Minor" || m["cached"] != false || m["title"] != "One" || m["artist"] != "Band" {
		t.Errorf("first reply = %v", m)
	}
	if _, ok := m["analyzed_at"]; ok {
		t.Error("a fresh analysis has analyzed_at")
	}
	if j := ts.fake.lastJob(); j.Title != "One" || j.Artist != "Band" || string(j.Data) != string(body) {
		t.Errorf("job = %+v", j)
	}

	// Same bytes under another title: a cache hit (content, not title, is the key).
	status, _, resp = do(t, "POST", url, body, map[string]string{"X-Song-Title": "Renamed"})
	m = jsonObject(t, resp)
	if status != 200 || m["cached"] != true || m["bpm"] != 128.0 || ts.fake.calls.Load() != 1 {
		t.Fatalf("second reply %d %v, %d analyses", status, m, ts.fake.calls.Load())
	}
	wantTypes(t, "cache hit", m, map[string]string{"analyzed_at": "string"})
	if _, err := time.Parse(time.RFC3339, m["analyzed_at"].(string)); err != nil {
		t.Error(err)
	}

	// Each of these must miss the cache and run the analyzer again.
	for i, h := range []map[string]string{
		{"X-Force-Reanalyze": "yes"},
		{"X-Bypass-Cache": "1"},
		{"X-Cache-Namespace": "ios"},
		{"X-Skip-Chunk-Analysis": "true"},
	} {
		status, _, resp = do(t, "POST", url, body, h)
		m = jsonObject(t, resp)
		if status != 200 || m["cached"] != false || ts.fake.calls.Load() != int64(i+2) {
			t.Errorf("%v: %d cached=%v after %d analyses", h, status, m["cached"], ts.fake.calls.Load())
		}
		// Only the chunk header asks the pipeline for a quick analysis.
		if skip := ts.fake.lastJob().SkipChunks; skip != (h["X-Skip-Chunk-Analysis"] != "") {
			t.Errorf("%v: job SkipChunks = %v", h, skip)
		}
	}
	// A preview (different bytes, same title) never collides with the song.
	status, _, resp = do(t, "POST", url, []byte("bpm=64\npreview"), map[string]string{"X-Song-Title": "One", "X-Song-Artist": "Band"})
	if m = jsonObject(t, resp); status != 200 || m["bpm"] != 64.0 || m["cached"] != false {
		t.Errorf("preview reply %v", m)
	}
	// Untitled uploads are "Unknown".
	_, _, resp = do(t, "POST", url, []byte("bpm=99\nuntitled"), nil)
	if m = jsonObject(t, resp); m["title"] != "Unknown" || m["artist"] != "Unknown" {
		t.Errorf("untitled: title %v artist %v", m["title"], m["artist"])
	}
}

func TestTitleHeaders(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	cases := []struct{ header, want string }{
		{"Café del Mar", "Café del Mar"},                     // raw UTF-8
		{"Caf%C3%A9%20del%20Mar", "Café del Mar"},            // percent-encoded
		{"Caf\xe9 del Mar", "Café del Mar"},                  // Latin-1 byte
		{"=?UTF-8?B?Q2Fmw6kgZGVsIE1hcg==?=", "Café del Mar"}, // RFC 2047
		{"100% Pure", "100% Pure"},                           // a bare percent stays
		{"Sigur Rós – Hoppípolla", "Sigur Rós – Hoppípolla"},
		{"Bj\xc3\xb6rk \xe9t\xe9", "Björk été"}, // UTF-8 and Latin-1 glued together
		{"Caf%E9", "Caf%E9"},                    // percent-encoded Latin-1 is not decoded
	}
	for i, c := range cases {
		// The HTTP client would refuse some of these bytes, so the handler
		// is called directly with the raw header.
		req := httptest.NewRequest("POST", "/analyze_data", strings.NewReader(fmt.Sprintf("bpm=1%02d\n", i)))
		req.Header["X-Song-Title"] = []string{c.header}
		rec := httptest.NewRecorder()
		ts.srv.ServeHTTP(rec, req)
		m := jsonObject(t, rec.Body.Bytes())
		if m["title"] != c.want || ts.fake.lastJob().Title != c.want {
			t.Errorf("X-Song-Title %q → reply %q, job %q; want %q", c.header, m["title"], ts.fake.lastJob().Title, c.want)
		}
	}
}

func TestHeaderHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"": "default", "ios": "ios", "my ns/../x": "myns..x"[:0] + "mynsx", "a-b_C9": "a-b_C9",
		strings.Repeat("x", 40): strings.Repeat("x", 32), "émoji🎵": "moji",
	} {
		if got := cleanNamespace(in); got != want {
			t.Errorf("cleanNamespace(%q) = %q, want %q", in, got, want)
		}
	}
	for _, yes := range []string{"1", "true", "TRUE", "yes", "on", "y", " Y "} {
		if !truthy(yes) {
			t.Errorf("truthy(%q) = false", yes)
		}
	}
	for _, no := range []string{"", "0", "false", "no", "off", "n", "2", "maybe"} {
		if truthy(no) {
			t.Errorf("truthy(%q) = true", no)
		}
	}
	for in, want := range map[string]bool{
		`true`: true, `false`: false, `null`: false, `1`: true, `0`: false, `0.5`: true,
		`"yes"`: true, `"TRUE"`: true, `"no"`: false, `""`: false,
	} {
		f := flexBool(!want) // a decoder must set the value, not keep it
		if err := json.Unmarshal([]byte(in), &f); err != nil || bool(f) != want {
			t.Errorf("flexBool %s = %v, %v; want %v", in, f, err, want)
		}
	}
	for _, bad := range []string{`[]`, `{}`} {
		var f flexBool
		if err := json.Unmarshal([]byte(bad), &f); err == nil {
			t.Errorf("flexBool %s: no error", bad)
		}
	}
}

func TestFiniteJSON(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	for _, round := range []string{"fresh", "cached"} {
		status, _, body := do(t, "POST", ts.URL+"/analyze_data", []byte("nan\n"), nil)
		if status != 200 {
			t.Fatalf("%s: status %d: %s", round, status, body)
		}
		if bytes.Contains(body, []byte("NaN")) || bytes.Contains(body, []byte("Inf")) {
			t.Fatalf("%s: non-finite number in %s", round, body)
		}
		m := jsonObject(t, body)
		wantTypes(t, round, m, analysisTypes)
		if m["loudness"] != -70.0 || m["bpm_confidence"] != 0.0 || m["energy"] != 0.0 {
			t.Errorf("%s: loudness %v bpm_confidence %v energy %v", round, m["loudness"], m["bpm_confidence"], m["energy"])
		}
	}
	// The cache listing and the diagnostics (whose fake snapshot has a NaN
	// utilisation) are finite too.
	for _, path := range []string{"/cache", "/diagnostics", "/metrics"} {
		status, _, body := do(t, "GET", ts.URL+path, nil, nil)
		if status != 200 || bytes.Contains(body, []byte("NaN")) {
			t.Errorf("%s: status %d, NaN present: %v", path, status, bytes.Contains(body, []byte("NaN")))
		}
	}
}

// TestAnalysisTimeoutHoldsSlot: a request answered 504 because
// server.analysis_timeout passed leaves its song running in the pipeline,
// so the song keeps its admission slot until the pipeline is done with it
// (max_in_flight bounds the songs inside the pipeline, not the requests
// waiting), and its result is cached for the retry.
func TestAnalysisTimeoutHoldsSlot(t *testing.T) {
	ts := newTestServer(t, Options{MaxInFlight: 1, QueueWait: 50 * time.Millisecond, AnalysisTimeout: 100 * time.Millisecond}, nil)
	url := ts.URL + "/analyze_data"
	status, _, body := do(t, "POST", url, []byte("block\n"), nil)
	wantError(t, "deadline", status, body, 504, "timeout")

	// Its bytes are still in the pipeline, so they still count against
	// the body room.
	ts.srv.bodies.mu.Lock()
	held := ts.srv.bodies.used
	ts.srv.bodies.mu.Unlock()
	if held != int64(len("block\n")) {
		t.Errorf("body room held after the 504: %d bytes, want %d (the timed-out song's)", held, len("block\n"))
	}
	// A retry of the same song meanwhile joins the analysis still
	// running (and times out waiting, as its first request did) instead of
	// analysing the bytes again.
	status, _, body = do(t, "POST", url, []byte("block\n"), nil)
	wantError(t, "retry while the song runs", status, body, 504, "timeout")
	if n := ts.fake.jobCount(); n != 1 {
		t.Errorf("the retry analysed the song again: %d analyses", n)
	}
	// The blocked song still fills the pipeline: another song must wait
	// for the slot, and gives way after queue_wait.
	status, _, body = do(t, "POST", url, []byte("bpm=120\n"), nil)
	wantError(t, "slot still held", status, body, 503, "busy")

	close(ts.fake.release)
	// Once the song ends, its result is in the cache and the slot free.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := ts.store.Count(context.Background(), "*"); n == 1 || time.Now().After(deadline) {
			break
		}
	}
	status, _, body = do(t, "POST", url, []byte("block\n"), nil)
	var got map[string]any
	if err := json.Unmarshal(body, &got); status != 200 || err != nil || got["cached"] != true || got["bpm"] != 100.0 {
		t.Fatalf("retry after the timed-out analysis ended: status %d, body %s; want the cached result (bpm 100)", status, body)
	}
	status, _, body = do(t, "POST", url, []byte("bpm=120\n"), nil)
	if status != 200 {
		t.Errorf("slot not freed after the song ended: status %d, body %s", status, body)
	}
	// The analysis's goroutine lets go of the room just after answering.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts.srv.bodies.mu.Lock()
		held = ts.srv.bodies.used
		ts.srv.bodies.mu.Unlock()
		if held == 0 || time.Now().After(end) {
			break
		}
	}
	if held != 0 {
		t.Errorf("body room held after every song ended: %d bytes", held)
	}
	if n := ts.fake.calls.Load(); n != 2 {
		t.Errorf("analyser called %d times, want 2 (the timed-out song once, bpm=120 once)", n)
	}
	// The song refused while the slot was held was neither analysed nor
	// a cache miss.
	var st struct {
		Total  int64 `json:"total_analyses"`
		Hits   int64 `json:"cache_hits"`
		Misses int64 `json:"cache_misses"`
	}
	// The timed-out song's goroutine counts its analysis just after
	// caching it, so the count may lag the cached answer a moment.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, _, body = do(t, "GET", ts.URL+"/stats", nil, nil)
		if err := json.Unmarshal(body, &st); err != nil || st.Total >= 3 || time.Now().After(end) {
			break
		}
	}
	if st.Misses != 2 || st.Hits != 1 || st.Total != 3 {
		t.Errorf("/stats %s: want 2 misses (the songs analysed), 1 hit, 3 analyses", body)
	}
}

func TestAnalysisErrors(t *testing.T) {
	ts := newTestServer(t, Options{MaxBodyBytes: 1 << 20, AnalysisTimeout: 100 * time.Millisecond}, nil)
	url := ts.URL + "/analyze_data"
	status, _, body := do(t, "POST", url, nil, nil)
	wantError(t, "empty body", status, body, 400, "empty_body")

	status, _, body = do(t, "POST", url, bytes.Repeat([]byte("x"), 1<<20+1), nil)
	wantError(t, "too large", status, body, 413, "payload_too_large")

	status, _, body = do(t, "POST", url, []byte("unsupported\n"), nil)
	m := wantError(t, "unsupported", status, body, 415, "unsupported_format")
	if !strings.Contains(m["message"].(string), "ogg") {
		t.Errorf("415 message %q does not name the format", m["message"])
	}
	status, _, body = do(t, "POST", url, []byte("corrupt\n"), nil)
	wantError(t, "corrupt", status, body, 422, "invalid_audio")

	status, _, body = do(t, "POST", url, []byte("timeout\n"), nil)
	wantError(t, "pipeline timeout", status, body, 504, "timeout")

	// The server's own deadline (analysis_timeout) passing is a 504 too;
	// the analysis goes on (TestAnalysisTimeoutHoldsSlot) until released.
	status, _, body = do(t, "POST", url, []byte("block\n"), nil)
	m = wantError(t, "deadline", status, body, 504, "timeout")
	if msg := m["message"].(string); !strings.Contains(msg, "analysis_timeout") {
		t.Errorf("504 message %q does not name the limit that passed", msg)
	}
	// Released after the count below (its result would be cached), and
	// waited for, so that nothing runs on when the test's store closes.
	defer func() {
		close(ts.fake.release)
		for end := time.Now().Add(5 * time.Second); ts.srv.admission.inFlight() > 0 && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
	}()

	status, _, body = do(t, "POST", url, []byte("silence\n"), nil)
	wantError(t, "no tempo", status, body, 422, "analysis_failed")

	for _, path := range []string{"/analyze", "/analyze_batch", "/verify"} {
		status, _, body = do(t, "POST", ts.URL+path, []byte("{not json"), nil)
		wantError(t, path+" bad JSON", status, body, 400, "invalid_json")
		status, _, body = do(t, "POST", ts.URL+path, nil, nil)
		wantError(t, path+" empty", status, body, 400, "empty_body")
	}
	status, _, body = do(t, "GET", ts.URL+"/nowhere", nil, nil)
	wantError(t, "unknown route", status, body, 404, "not_found")
	status, h, body := do(t, "GET", ts.URL+"/analyze_data", nil, nil)
	wantError(t, "wrong method", status, body, 405, "method_not_allowed")
	if got := h.Get("Allow"); got != "POST" {
		t.Errorf("wrong method: Allow %q, want POST", got)
	}
	status, h, body = do(t, "PUT", ts.URL+"/cache/7", nil, nil)
	wantError(t, "wrong method on a wildcard route", status, body, 405, "method_not_allowed")
	if got := h.Get("Allow"); got != "DELETE" {
		t.Errorf("wrong method on a wildcard route: Allow %q, want DELETE", got)
	}
	// A GET route answers HEAD too (net/http serves it), so its Allow
	// names both, as RFC 9110 asks of a 405's Allow.
	status, h, body = do(t, "POST", ts.URL+"/health", nil, nil)
	wantError(t, "wrong method on a GET route", status, body, 405, "method_not_allowed")
	if got := h.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("wrong method on a GET route: Allow %q, want GET, HEAD", got)
	}
	if status, _, _ := do(t, "HEAD", ts.URL+"/health", nil, nil); status != 200 {
		t.Errorf("HEAD /health: %d, want 200", status)
	}
	// Nothing failed is cached.
	if n, _ := ts.store.Count(context.Background(), "*"); n != 0 {
		t.Errorf("%d failures cached", n)
	}
}

func TestBusy(t *testing.T) {
	fake := newFake()
	ts := newTestServer(t, Options{MaxInFlight: 1, QueueWait: 50 * time.Millisecond}, fake)
	first := make(chan int)
	go func() {
		status, _, _ := do(t, "POST", ts.URL+"/analyze_data", []byte("block\nfirst"), nil)
		first <- status
	}()
	// Wait until the first song holds the only slot.
	waitInFlight(t, ts.srv)
	status, h, body := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=90\nsecond"), nil)
	wantError(t, "busy", status, body, 503, "busy")
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q", h.Get("Retry-After"))
	}
	// A cache hit needs no slot.
	close(fake.release)
	if s := <-first; s != 200 {
		t.Fatalf("first request: %d", s)
	}
	fake.release = make(chan struct{})
	status, _, _ = do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=90\nsecond"), nil)
	if status != 200 {
		t.Fatalf("after the slot freed: %d", status)
	}
}

func TestProductionKeys(t *testing.T) {
	ts := newTestServer(t, Options{Production: true, RateLimitPerMinute: 3}, nil)
	ctx := context.Background()
	good, _, err := ts.store.CreateKey(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	revoked, k, _ := ts.store.CreateKey(ctx, "old")
	if _, err := ts.store.RevokeKey(ctx, strconv.FormatInt(k.ID, 10)); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := do(t, "GET", ts.URL+"/health", nil, nil); status != 200 {
		t.Errorf("/health needs a key: %d", status)
	}
	for _, route := range [][2]string{{"GET", "/stats"}, {"GET", "/cache"}, {"POST", "/cache/clear"},
		{"POST", "/shutdown"}, {"GET", "/metrics"}, {"GET", "/diagnostics"}, {"POST", "/analyze_data"},
		{"DELETE", "/cache/1"}, {"GET", "/cache/export"}, {"GET", "/cache/search?q=x"}, {"POST", "/analyze"},
		{"POST", "/analyze_batch"}, {"POST", "/verify"}} {
		status, _, body := do(t, route[0], ts.URL+route[1], []byte("bpm=1\n"), nil)
		wantError(t, route[1]+" without key", status, body, 401, "unauthorized")
		status, _, body = do(t, route[0], ts.URL+route[1], []byte("bpm=1\n"), map[string]string{"X-API-Key": "sf_wrong"})
		wantError(t, route[1]+" bad key", status, body, 403, "forbidden")
		status, _, body = do(t, route[0], ts.URL+route[1], []byte("bpm=1\n"), map[string]string{"X-API-Key": revoked})
		wantError(t, route[1]+" revoked key", status, body, 403, "forbidden")
	}
	if ts.srv.ShutdownRequested() != nil {
		select {
		case <-ts.srv.ShutdownRequested():
			t.Fatal("an unauthorised /shutdown shut the server down")
		default:
		}
	}
	// Three requests a minute: the fourth is refused with Retry-After.
	key := map[string]string{"X-API-Key": good}
	for i := range 3 {
		if status, _, body := do(t, "GET", ts.URL+"/stats", nil, key); status != 200 {
			t.Fatalf("request %d with key: %d %s", i, status, body)
		}
	}
	status, h, body := do(t, "GET", ts.URL+"/stats", nil, key)
	wantError(t, "rate limit", status, body, 429, "rate_limited")
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
		t.Errorf("Retry-After %q, want about 20 s (one token at 3/min)", h.Get("Retry-After"))
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(60) // one a second, bursts of 60
	t0 := time.Unix(1000, 0)
	for i := range 60 {
		if ok, _ := l.allow(1, t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow(1, t0)
	if ok || wait != time.Second {
		t.Fatalf("61st: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	if ok, _ := l.allow(2, t0); !ok {
		t.Fatal("another key was limited")
	}
	if ok, _ := l.allow(1, t0.Add(1500*time.Millisecond)); !ok {
		t.Fatal("no token after 1.5 s")
	}
	if ok, _ := l.allow(1, t0.Add(1600*time.Millisecond)); ok {
		t.Fatal("a second token after 1.6 s")
	}
}

func TestAnalyzeURL(t *testing.T) {
	audio := []byte("bpm=140\nfrom the web")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/song.m4a":
			w.Write(audio)
		case "/big.m4a":
			w.Write(bytes.Repeat([]byte("x"), 2<<20))
		case "/redirect":
			http.Redirect(w, r, "/song.m4a", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer upstream.Close()

	ts := newTestServer(t, Options{AllowPrivateURLs: true, MaxBodyBytes: 1 << 20}, nil)
	req := func(body string) (int, []byte) {
		status, _, b := do(t, "POST", ts.URL+"/analyze", []byte(body), map[string]string{"Content-Type": "application/json"})
		return status, b
	}
	status, body := req(fmt.Sprintf(`{"url":%q,"title":"Web","artist":"Site"}`, upstream.URL+"/song.m4a"))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	m := jsonObject(t, body)
	wantTypes(t, "analyze url", m, analysisTypes)
	if m["bpm"] != 140.0 || m["title"] != "Web" {
		t.Errorf("reply %v", m)
	}
	// audio_url, string flags and a redirect.
	status, body = req(fmt.Sprintf(`{"audio_url":%q,"force_reanalyze":"yes"}`, upstream.URL+"/redirect"))
	if m = jsonObject(t, body); status != 200 || m["cached"] != false || ts.fake.calls.Load() != 2 {
		t.Errorf("audio_url: %d %v", status, m)
	}
	status, body = req(fmt.Sprintf(`{"url":%q}`, upstream.URL+"/missing"))
	wantError(t, "404 upstream", status, body, 502, "download_failed")
	status, body = req(fmt.Sprintf(`{"url":%q}`, upstream.URL+"/big.m4a"))
	wantError(t, "too big", status, body, 502, "download_failed")
	status, body = req(`{"url":"ftp://example.com/a.mp3"}`)
	wantError(t, "ftp", status, body, 400, "url_not_allowed")
	status, body = req(`{"title":"no url"}`)
	wantError(t, "no url", status, body, 400, "missing_url")

	// Without allow_private_urls the same loopback server is refused, also
	// through a name that resolves to it: the check is on the dialled IP.
	strict := newTestServer(t, Options{}, nil)
	host := strings.Replace(upstream.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{upstream.URL + "/song.m4a", host + "/song.m4a"} {
		status, _, body := do(t, "POST", strict.URL+"/analyze", []byte(fmt.Sprintf(`{"url":%q}`, u)), nil)
		m := wantError(t, "private "+u, status, body, 400, "url_not_allowed")
		if !strings.Contains(m["message"].(string), "loopback") {
			t.Errorf("message %q does not say why", m["message"])
		}
	}
	if strict.fake.calls.Load() != 0 {
		t.Error("a refused URL reached the analyzer")
	}
}

func TestBlockedAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "::ffff:127.0.0.1": "loopback",
		"169.254.169.254": "link-local", "fe80::1": "link-local",
		"10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private", "fd00::1": "private",
		"100.64.0.1": "private", "0.0.0.0": "unspecified", "::": "unspecified", "239.1.1.1": "multicast", "224.0.0.251": "link-local",
		"93.184.216.34": "", "2606:2800:220:1::": "", "8.8.8.8": "",
	} {
		if got := blockedAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("blockedAddr(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestBatch(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	b64 := base64.StdEncoding.EncodeToString
	items := []map[string]string{
		{"audio_data": b64([]byte("bpm=100\na")), "title": "A", "artist": "X"},
		{"audio_data": "%%% not base64", "title": "B"},
		{"audio_data": b64([]byte("unsupported\n")), "title": "C"},
		{"audio_data": b64([]byte("bpm=120\nd")), "title": "D"},
	}
	body, _ := json.Marshal(items)
	status, _, resp := do(t, "POST", ts.URL+"/analyze_batch", body, map[string]string{"X-Cache-Namespace": "batch"})
	if status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	// The upload headers apply to every song of the batch: the two that
	// were analysed are cached in its namespace.
	if n, err := ts.store.Count(context.Background(), "batch"); n != 2 || err != nil {
		t.Errorf("namespace batch holds %d entries (%v), want 2", n, err)
	}
	var out []map[string]any
	if err := json.Unmarshal(resp, &out); err != nil || len(out) != 4 {
		t.Fatalf("reply %s: %v", resp, err)
	}
	for i, m := range out {
		// Every item has the result shape, failed or not (time_signature
		// is present only when measured).
		types := maps.Clone(analysisTypes)
		if m["error"] != nil {
			delete(types, "time_signature")
			types["error"], types["message"] = "string", "string"
		}
		wantTypes(t, fmt.Sprintf("item %d", i), m, types)
	}
	if out[0]["bpm"] != 100.0 || out[0]["title"] != "A" || out[0]["error"] != nil {
		t.Errorf("item 0: %v", out[0])
	}
	if out[1]["error"] != "invalid_audio_data" || out[1]["title"] != "B" {
		t.Errorf("item 1: %v", out[1])
	}
	if out[2]["error"] != "unsupported_format" {
		t.Errorf("item 2: %v", out[2])
	}
	if out[3]["bpm"] != 120.0 || out[3]["title"] != "D" {
		t.Errorf("item 3: %v", out[3])
	}
	many, _ := json.Marshal(make([]map[string]string, 11))
	status, _, resp = do(t, "POST", ts.URL+"/analyze_batch", many, nil)
	wantError(t, "11 items", status, resp, 400, "batch_too_large")
	status, _, resp = do(t, "POST", ts.URL+"/analyze_batch", []byte(`{"audio_data":"x"}`), nil)
	wantError(t, "not an array", status, resp, 400, "invalid_json")
}

func TestStatsAndDiagnostics(t *testing.T) {
	ts := newTestServer(t, Options{MaxInFlight: 3, Analysis: AnalysisSettings{SampleRate: 22050, FFTSize: 2048,
		MaxSeconds: 90, MaxDuration: 3600, Workers: map[string]int{"fft": 2}, ChunkAnalysis: true, ChunkSeconds: 10, MaxChunks: 12}}, nil)
	for _, b := range []string{"bpm=100\na", "bpm=100\na", "bpm=100\na", "bpm=110\nb"} {
		do(t, "POST", ts.URL+"/analyze_data", []byte(b), nil)
	}
	status, _, body := do(t, "GET", ts.URL+"/stats", nil, nil)
	m := jsonObject(t, body)
	wantTypes(t, "stats", m, map[string]string{"total_analyses": "int", "cache_hits": "int", "cache_misses": "int",
		"cache_hit_rate": "number", "last_updated": "string", "total_cached_songs": "int", "database_path": "string"})
	if status != 200 || m["total_analyses"] != 4.0 || m["cache_hits"] != 2.0 || m["cache_misses"] != 2.0 ||
		m["cache_hit_rate"] != 0.5 || m["total_cached_songs"] != 2.0 || m["database_path"] != ts.store.Path() {
		t.Errorf("stats = %v", m)
	}

	status, _, body = do(t, "GET", ts.URL+"/diagnostics", nil, nil)
	m = jsonObject(t, body)
	// The macOS control panel prints build as a string, marks a component
	// ✅ only when its status is "operational" (⚠️ "degraded"), reads the
	// database's cache_entries and total_analyses, and workers as an int.
	wantTypes(t, "diagnostics", m, map[string]string{"overall_status": "string", "build": "string", "build_info": "object",
		"mode": "string", "components": "object", "warnings": "array", "configuration": "object", "pipeline": "object"})
	if status != 200 || m["overall_status"] != "healthy" || m["mode"] != "development" {
		t.Errorf("diagnostics: %d %v", status, m)
	}
	for name, c := range m["components"].(map[string]any) {
		wantTypes(t, "component "+name, c.(map[string]any), map[string]string{"status": "string"})
		if st := c.(map[string]any)["status"]; st != "operational" {
			t.Errorf("component %s: status %v, want operational", name, st)
		}
	}
	db := m["components"].(map[string]any)["database"].(map[string]any)
	wantTypes(t, "database component", db, map[string]string{"cache_entries": "int", "total_analyses": "int"})
	if db["cache_entries"] != 2.0 || db["total_analyses"] != 4.0 {
		t.Errorf("database component %v, want 2 cache entries and 4 analyses", db)
	}
	an := m["configuration"].(map[string]any)["analysis"].(map[string]any)
	wantTypes(t, "configuration.analysis", an, map[string]string{"sample_rate": "int", "fft_size": "int",
		"max_duration": "number", "max_seconds": "number", "workers": "int", "stage_workers": "object", "chunk_analysis_enabled": "bool",
		"chunk_seconds": "number", "max_chunks": "int"})
	// Named as in pipeline.toml: max_duration refuses longer songs,
	// max_seconds cuts the analysis short.
	if an["sample_rate"] != 22050.0 || an["max_chunks"] != 12.0 || an["chunk_analysis_enabled"] != true ||
		an["max_duration"] != 3600.0 || an["max_seconds"] != 90.0 {
		t.Errorf("analysis config %v", an)
	}
	pipe := m["pipeline"].(map[string]any)
	stages := pipe["stages"].([]any)
	if pipe["bottleneck"] != "decode" || len(stages) != 2 || stages[0].(map[string]any)["p95_seconds"] != 0.02 {
		t.Errorf("pipeline %v", pipe)
	}
}

func TestCacheRoutes(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	songs := []struct{ body, title, artist, ns string }{
		{"bpm=100\n1", "First", "Alpha", ""},
		{"bpm=101\n2", "Second, \"quoted\"", "Beta", ""},
		{"bpm=102\n3", "Third", "Alpha", "ios"},
		{"bpm=103\n4", "=HYPERLINK(evil)", "Gamma", ""},
	}
	for _, s := range songs {
		h := map[string]string{"X-Song-Title": s.title, "X-Song-Artist": s.artist}
		if s.ns != "" {
			h["X-Cache-Namespace"] = s.ns
		}
		if status, _, b := do(t, "POST", ts.URL+"/analyze_data", []byte(s.body), h); status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		time.Sleep(2 * time.Millisecond) // distinct analyzed_at for the order check
	}
	list := func(query string) []map[string]any {
		t.Helper()
		status, _, body := do(t, "GET", ts.URL+query, nil, nil)
		if status != 200 {
			t.Fatalf("%s: %d %s", query, status, body)
		}
		var rows []map[string]any
		if err := json.Unmarshal(body, &rows); err != nil {
			t.Fatalf("%s: %v: %s", query, err, body)
		}
		return rows
	}
	titles := func(rows []map[string]any) string {
		var s []string
		for _, r := range rows {
			s = append(s, r["title"].(string))
		}
		return strings.Join(s, "|")
	}
	rows := list("/cache")
	if got := titles(rows); got != `=HYPERLINK(evil)|Second, "quoted"|First` {
		t.Errorf("/cache newest first = %s", got)
	}
	for _, r := range rows {
		wantTypes(t, "cache row", r, map[string]string{"id": "int", "title": "string", "artist": "string",
			"preview_url": "string", "analyzed_at": "string", "user_verified": "bool", "manual_bpm": "null",
			"manual_key": "null", "bpm_notes": "null", "bpm": "number", "key": "string"})
	}
	if got := titles(list("/cache?namespace=all")); got != `=HYPERLINK(evil)|Third|Second, "quoted"|First` {
		t.Errorf("namespace=all: %s", got)
	}
	if got := titles(list("/cache?namespace=*&limit=2&offset=1")); got != `Third|Second, "quoted"` {
		t.Errorf("limit/offset: %s", got)
	}
	if got := titles(list("/cache?namespace=ios")); got != "Third" {
		t.Errorf("namespace=ios: %s", got)
	}
	if got := titles(list("/cache/search?q=alpha&namespace=all")); got != "Third|First" {
		t.Errorf("search alpha: %s", got)
	}
	if got := titles(list("/cache/search?q=alpha")); got != "First" {
		t.Errorf("search alpha in default: %s", got)
	}
	status, _, body := do(t, "GET", ts.URL+"/cache?limit=x", nil, nil)
	wantError(t, "bad limit", status, body, 400, "bad_request")
	if got := titles(list("/cache/search?q=")); got != `=HYPERLINK(evil)|Second, "quoted"|First` {
		t.Errorf("empty search = %s, want what /cache lists", got)
	}

	// Export.
	status, h, body := do(t, "GET", ts.URL+"/cache/export", nil, nil)
	if status != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("export %d %q", status, h.Get("Content-Type"))
	}
	cd := h.Get("Content-Disposition")
	if !strings.HasPrefix(cd, `attachment; filename="cache_export_`) || len(cd) != len(`attachment; filename="cache_export_20260101_120000.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "Title,Artist,Preview URL,BPM,BPM Confidence (%),Key,Key Confidence (%),Energy (%),Danceability (%)," +
		"Acousticness (%),Brightness (Hz),Time Signature,Valence (%),Loudness (dB),Dynamic Range (dB),Silence Ratio (%)," +
		"Analysis Duration (s),Analyzed At"
	if got := strings.Join(recs[0], ","); got != wantHeader {
		t.Errorf("CSV header\n got %s\nwant %s", got, wantHeader)
	}
	if len(recs) != 4 {
		t.Fatalf("CSV has %d records, want header + 3", len(recs))
	}
	want := []string{`Second, "quoted"`, "Beta", "", "101.0", "80.0", "C# Minor", "70.0", "75.0", "60.0", "10.0",
		"2200", "4/4", "40.0", "-9.5", "8.5", "2.0", "0.25"}
	if got := recs[2][:len(want)]; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("CSV row\n got %q\nwant %q", got, want)
	}
	if recs[1][0] != "'=HYPERLINK(evil)" {
		t.Errorf("formula not neutralised: %q", recs[1][0])
	}
	_, _, body = do(t, "GET", ts.URL+"/cache/export", nil, map[string]string{"X-Cache-Namespace": "ios"})
	if recs, _ := csv.NewReader(bytes.NewReader(body)).ReadAll(); len(recs) != 2 || recs[1][0] != "Third" {
		t.Errorf("export of ios: %q", recs)
	}

	// Delete and clear.
	id := int64(rows[0]["id"].(float64))
	if status, _, body := do(t, "DELETE", fmt.Sprintf("%s/cache/%d", ts.URL, id), nil, nil); status != 200 {
		t.Errorf("delete: %d %s", status, body)
	}
	status, _, body = do(t, "DELETE", fmt.Sprintf("%s/cache/%d", ts.URL, id), nil, nil)
	wantError(t, "delete again", status, body, 404, "not_found")
	status, _, body = do(t, "DELETE", ts.URL+"/cache/abc", nil, nil)
	wantError(t, "delete abc", status, body, 400, "bad_request")
	status, _, body = do(t, "POST", ts.URL+"/cache/clear?namespace=ios", nil, nil)
	if m := jsonObject(t, body); status != 200 || m["cleared"] != 1.0 {
		t.Errorf("clear ios: %d %v", status, m)
	}
	if got := titles(list("/cache?namespace=all")); got != `Second, "quoted"|First` {
		t.Errorf("after delete and clear: %s", got)
	}
	do(t, "POST", ts.URL+"/cache/clear", nil, nil)
	if rows := list("/cache?namespace=all"); len(rows) != 0 {
		t.Errorf("after clear: %d rows", len(rows))
	}
}

// TestUnreadableCacheRow checks that a stored result that no longer decodes
// is left out of /cache and /cache/export rather than failing them.
func TestUnreadableCacheRow(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	h := map[string]string{"X-Cache-Namespace": "mixed", "X-Song-Title": "Good"}
	if status, _, b := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=100\ngood"), h); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	bad := store.Entry{Key: store.Key{Hash: "bad", AnalyzerVersion: "test", Namespace: "mixed"},
		Title: "Bad", Result: json.RawMessage(`{"bpm":"fast"}`)}
	if _, err := ts.store.Put(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, "GET", ts.URL+"/cache?namespace=mixed", nil, nil)
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); status != 200 || err != nil || len(rows) != 1 || rows[0]["title"] != "Good" {
		t.Errorf("/cache: %d %s", status, body)
	}
	status, _, body = do(t, "GET", ts.URL+"/cache/export?namespace=mixed", nil, nil)
	if recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll(); status != 200 || err != nil || len(recs) != 2 || recs[1][0] != "Good" {
		t.Errorf("/cache/export: %d %q", status, recs)
	}
}

func TestVerify(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("bpm=87\n" + r.URL.Path))
	}))
	defer upstream.Close()
	ts := newTestServer(t, Options{AllowPrivateURLs: true}, nil)
	u := upstream.URL + "/p.m4a"
	if status, _, b := do(t, "POST", ts.URL+"/analyze", []byte(fmt.Sprintf(`{"url":%q,"title":"T"}`, u)), nil); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	status, _, body := do(t, "POST", ts.URL+"/verify", []byte(fmt.Sprintf(`{"url":%q,"manual_bpm":174,"manual_key":"A Minor","bpm_notes":"double time"}`, u)), nil)
	m := jsonObject(t, body)
	wantTypes(t, "verify", m, map[string]string{"success": "bool", "message": "string"})
	if status != 200 || m["success"] != true {
		t.Fatalf("verify: %d %v", status, m)
	}
	_, _, body = do(t, "GET", ts.URL+"/cache", nil, nil)
	var rows []map[string]any
	json.Unmarshal(body, &rows)
	if len(rows) != 1 || rows[0]["user_verified"] != true || rows[0]["manual_bpm"] != 174.0 ||
		rows[0]["manual_key"] != "A Minor" || rows[0]["bpm_notes"] != "double time" || rows[0]["preview_url"] != u {
		t.Errorf("row after verify: %v", rows)
	}
	status, _, body = do(t, "POST", ts.URL+"/verify", []byte(`{"url":"https://nowhere/x"}`), nil)
	wantError(t, "verify unknown", status, body, 404, "not_found")
	status, _, body = do(t, "POST", ts.URL+"/verify", []byte(`{"manual_bpm":120}`), nil)
	wantError(t, "verify no url", status, body, 400, "missing_url")
	status, _, body = do(t, "POST", ts.URL+"/verify", []byte(fmt.Sprintf(`{"url":%q,"manual_bpm":-5}`, u)), nil)
	wantError(t, "verify bad bpm", status, body, 400, "bad_request")
}

func TestMetrics(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=100\n"), nil)
	do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=100\n"), nil)
	do(t, "POST", ts.URL+"/analyze_data", []byte("unsupported\n"), nil)
	do(t, "GET", ts.URL+"/nowhere", nil, nil)
	status, h, body := do(t, "GET", ts.URL+"/metrics", nil, nil)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %q", status, h.Get("Content-Type"))
	}
	text := string(body)
	for _, want := range []string{
		`songflow_http_requests_total{code="200",route="POST /analyze_data"} 2`,
		`songflow_http_requests_total{code="415",route="POST /analyze_data"} 1`,
		`songflow_http_requests_total{code="404",route="unmatched"} 1`,
		`songflow_http_request_duration_seconds_count{code="200",route="POST /analyze_data"} 2`,
		"songflow_cache_hits_total 1",
		"songflow_cache_misses_total 2",
		`songflow_stage_items_in_total{stage="decode"} 5`,
		`songflow_stage_errors_total{stage="fft"} 1`,
		`songflow_stage_service_seconds{quantile="0.95",stage="decode"} 0.02`,
		`songflow_stage_utilisation{stage="fft"} 0`,
		`songflow_pipeline_bottleneck{stage="decode"} 1`,
		"songflow_pipeline_songs_submitted_total 2",
		"songflow_http_analyses_in_flight 0",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// A second server on the same database answers from the cache: results
// survive restarts.
func TestCacheSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/cache.db"
	ctx := context.Background()
	open := func() *testServer {
		st, err := openStore(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return newTestServerWithStore(t, Options{}, nil, st)
	}
	a := open()
	do(t, "POST", a.URL+"/analyze_data", []byte("bpm=123\n"), nil)
	a.Close()
	a.store.Close()
	b := open()
	status, _, body := do(t, "POST", b.URL+"/analyze_data", []byte("bpm=123\n"), nil)
	if m := jsonObject(t, body); status != 200 || m["cached"] != true || b.fake.calls.Load() != 0 {
		t.Fatalf("after restart: %d %v", status, m)
	}
	// A new analyzer version does not reuse old results.
	st, _ := openStore(ctx, path)
	c := newTestServerWithStore(t, Options{AnalyzerVersion: "test-2"}, nil, st)
	_, _, body = do(t, "POST", c.URL+"/analyze_data", []byte("bpm=123\n"), nil)
	if m := jsonObject(t, body); m["cached"] != false || c.fake.calls.Load() != 1 {
		t.Fatalf("new analyzer version hit the old cache: %v", m)
	}
}

// serveForTest runs a server over fake with opts (analyzer version "v",
// any body accepted) on a loopback port through Serve with the given
// grace, as `songflow serve` does; Serve's error arrives on done.
func serveForTest(t *testing.T, fake *fakeAnalyzer, opts Options, grace time.Duration) (srv *Server, st *store.Store, base string, done <-chan error) {
	t.Helper()
	st, err := openStore(context.Background(), t.TempDir()+"/c.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts.AnalyzerVersion = "v"
	opts.Sniff = func([]byte) error { return nil }
	if srv, err = New(fake, st, opts); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln, grace) }()
	return srv, st, "http://" + ln.Addr().String(), served
}

// TestShutdownWaitsForTimedOutAnalysis: an analysis whose request was
// answered 504 (server.analysis_timeout) still runs; a shutdown gives it
// the grace period and Serve returns only after it ended and its result
// was cached, so the store and pipeline are not closed under it.
func TestShutdownWaitsForTimedOutAnalysis(t *testing.T) {
	fake := newFake()
	srv, st, base, done := serveForTest(t, fake, Options{AnalysisTimeout: 50 * time.Millisecond}, 5*time.Second)
	status, _, body := do(t, "POST", base+"/analyze_data", []byte("block\n"), nil)
	wantError(t, "analysis_timeout", status, body, 504, "timeout")
	if status, _, _ := do(t, "POST", base+"/shutdown", nil, nil); status != 200 {
		t.Fatalf("shutdown: %d", status)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while the timed-out analysis still ran", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(fake.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after the analysis ended")
	}
	if n, err := st.Count(context.Background(), "*"); n != 1 || err != nil {
		t.Errorf("%d results cached (%v), want the timed-out song's", n, err)
	}
	if n := srv.admission.inFlight(); n != 0 {
		t.Errorf("%d slots held after Serve returned", n)
	}
}

func TestShutdown(t *testing.T) {
	fake := newFake()
	srv, _, base, done := serveForTest(t, fake, Options{}, 200*time.Millisecond)

	// A song still analysing when the grace period ends is cancelled and
	// its request answered, not left hanging.
	inflight := make(chan int, 1)
	go func() {
		status, _, _ := do(t, "POST", base+"/analyze_data", []byte("block\n"), nil)
		inflight <- status
	}()
	waitInFlight(t, srv)
	status, _, body := do(t, "POST", base+"/shutdown", nil, nil)
	if m := jsonObject(t, body); status != 200 || m["message"] != "Server shutting down..." {
		t.Fatalf("shutdown: %d %v", status, m)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after /shutdown")
	}
	select {
	case s := <-inflight:
		if s != 503 {
			t.Errorf("in-flight request ended %d, want 503", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the in-flight request hung")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// waitInFlight waits until a song holds a pipeline slot.
func waitInFlight(t *testing.T, srv *Server) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); srv.admission.inFlight() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no song entered the pipeline")
		}
	}
}

// waitWaiters waits until n requests wait on analyses already running,
// and fails with msg if they never do.
func waitWaiters(t *testing.T, srv *Server, n int, msg string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		srv.flightMu.Lock()
		waiting := 0
		for _, f := range srv.flights {
			waiting += f.waiters
		}
		srv.flightMu.Unlock()
		if waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
	}
}

// The default sniff turns unsupported uploads away before they take a
// pipeline slot: the analyzer never sees them, even when every slot is busy.
func TestSniffBeforeAdmission(t *testing.T) {
	fake := newFake()
	st, err := openStore(context.Background(), t.TempDir()+"/c.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(fake, st, Options{AnalyzerVersion: "v", MaxInFlight: 1, QueueWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv.admission.slots <- struct{}{} // every slot taken
	for _, body := range []string{"OggS\x00\x02\x00\x00\x00\x00\x00\x00", "wvpk\x20\x00\x00\x00\x10\x04\x00\x00", "plain text, not audio"} {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("POST", "/analyze_data", strings.NewReader(body)))
		wantError(t, fmt.Sprintf("%.4q", body), rec.Code, rec.Body.Bytes(), 415, "unsupported_format")
	}
	if fake.calls.Load() != 0 {
		t.Errorf("the analyzer saw %d unsupported uploads", fake.calls.Load())
	}
}

// Latin-1 and UTF-8 bytes in a header arrive intact over a real
// connection (Go's HTTP client would refuse to send some of them).
func TestTitleHeaderOnTheWire(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "bpm=77\nwire"
	fmt.Fprintf(conn, "POST /analyze_data HTTP/1.1\r\nHost: x\r\nX-Song-Title: Caf\xe9\r\nX-Song-Artist: Bj\xc3\xb6rk\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if m["title"] != "Café" || m["artist"] != "Björk" {
		t.Errorf("title %q artist %q", m["title"], m["artist"])
	}
}

// Identical uploads arriving together share one analysis; each still gets
// its own title back.
func TestIdenticalUploadsShareAnalysis(t *testing.T) {
	fake := newFake()
	ts := newTestServer(t, Options{}, fake)
	body := []byte("block\nsame bytes")
	const n = 5
	titles := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, map[string]string{"X-Song-Title": fmt.Sprint("copy ", i)})
			statuses[i] = status
			titles[i], _ = jsonObject(t, resp)["title"].(string)
		}()
	}
	// Let every request arrive and find the first one running.
	waitInFlight(t, ts.srv)
	waitWaiters(t, ts.srv, n-1, "the requests did not all arrive")
	close(fake.release)
	wg.Wait()
	if got := fake.calls.Load(); got != 1 {
		t.Errorf("%d analyses of one song", got)
	}
	for i := range n {
		if statuses[i] != 200 || titles[i] != fmt.Sprint("copy ", i) {
			t.Errorf("request %d: %d title %q", i, statuses[i], titles[i])
		}
	}
}

// A client that leaves while its song is in the pipeline does not stop
// the song (the pipeline would finish it anyway): it keeps its slot, and
// its result reaches the cache and whoever retries the same bytes.
func TestClientLeavingKeepsAnalysis(t *testing.T) {
	fake := newFake()
	ts := newTestServer(t, Options{MaxInFlight: 1}, fake)
	body := []byte("block\nclient gives up")
	ctx, leave := context.WithCancel(context.Background())
	left := make(chan struct{})
	go func() {
		defer close(left)
		req := httptest.NewRequest("POST", "/analyze_data", bytes.NewReader(body)).WithContext(ctx)
		ts.srv.ServeHTTP(httptest.NewRecorder(), req)
	}()
	waitInFlight(t, ts.srv)
	// The slot is taken before the analysis's goroutine calls Analyze.
	for deadline := time.Now().Add(20 * time.Second); fake.jobCount() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the song was never analysed")
		}
	}
	leave()
	if err := fake.lastCtx().Err(); err != nil {
		t.Fatalf("the client leaving stopped its analysis: %v", err)
	}
	if n := ts.srv.admission.inFlight(); n != 1 {
		t.Errorf("%d songs hold a slot while the song is still analysed, want 1", n)
	}

	// The client retries: it joins the analysis still running.
	retry := make(chan map[string]any, 1)
	go func() {
		status, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, nil)
		m := jsonObject(t, resp)
		m["status"] = status
		retry <- m
	}()
	waitWaiters(t, ts.srv, 1, "the retry did not join the running analysis")
	close(fake.release)
	<-left
	if m := <-retry; m["status"] != 200 || m["bpm"] != 100.0 {
		t.Errorf("retry: %v", m)
	}
	if n := fake.calls.Load(); n != 1 {
		t.Errorf("%d analyses of one song", n)
	}
	if n, err := ts.store.Count(context.Background(), "*"); n != 1 || err != nil {
		t.Errorf("%d results cached (%v), want the one the first client left", n, err)
	}
}

// The cache is keyed by content, so one recording uploaded under two
// names is one entry; each reply still carries the name its request gave.
func TestCacheHitKeepsRequestTitle(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	body := []byte("bpm=126\nsame recording")
	do(t, "POST", ts.URL+"/analyze_data", body, map[string]string{"X-Song-Title": "Album Cut", "X-Song-Artist": "Band"})
	status, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, map[string]string{"X-Song-Title": "Compilation Cut"})
	m := jsonObject(t, resp)
	if status != 200 || m["cached"] != true {
		t.Fatalf("second upload: %d %v", status, m)
	}
	if m["title"] != "Compilation Cut" || m["artist"] != "Band" {
		t.Errorf("cache hit: title %q artist %q, want %q and the cached artist %q", m["title"], m["artist"], "Compilation Cut", "Band")
	}
}

// A panic while analysing a song answers that song with a 500 and must
// not leave its flight behind: every later upload of the same bytes would
// wait on it for ever.
func TestPanicLandsFlight(t *testing.T) {
	var panicked atomic.Bool
	ts := newTestServer(t, Options{Sniff: func([]byte) error {
		if panicked.CompareAndSwap(false, true) {
			panic("sniffer bug")
		}
		return nil
	}}, nil)
	body := []byte("bpm=111\npanics once")
	status, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, nil)
	if m := jsonObject(t, resp); status != http.StatusInternalServerError || m["error"] != "internal_error" {
		t.Errorf("the upload whose analysis panicked: %d %v, want 500 internal_error", status, m)
	}
	ts.srv.flightMu.Lock()
	left := len(ts.srv.flights)
	ts.srv.flightMu.Unlock()
	if left != 0 {
		t.Fatalf("%d flights left behind by the panic", left)
	}
	status, _, resp = do(t, "POST", ts.URL+"/analyze_data", body, nil)
	if m := jsonObject(t, resp); status != 200 || m["bpm"] != 111.0 {
		t.Errorf("the same bytes again: %d %v", status, m)
	}
}

// A batch's songs run on goroutines of their own, out of reach of
// net/http's recovery: a panic in one song's analysis must fail that song
// alone, keep the server up, and give back its pipeline slot.
func TestBatchSurvivesPanic(t *testing.T) {
	ts := newTestServer(t, Options{MaxInFlight: 1, QueueWait: 5 * time.Second}, nil)
	status, _, resp := do(t, "POST", ts.URL+"/analyze_batch", batchBody("panic\n", "bpm=97\n"), nil)
	if status != http.StatusOK {
		t.Fatalf("batch with a panicking song: %d %s", status, resp)
	}
	var items []map[string]any
	if err := json.Unmarshal(resp, &items); err != nil || len(items) != 2 {
		t.Fatalf("batch reply %s: %v", resp, err)
	}
	if items[0]["error"] != "internal_error" {
		t.Errorf("the panicking song: %v, want error internal_error", items[0])
	}
	if items[1]["bpm"] != 97.0 {
		t.Errorf("the song beside it: %v, want bpm 97", items[1])
	}
	// With one slot, this hangs until QueueWait and answers 503 if the
	// panic kept it.
	if status, _, resp := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=98\n"), nil); status != 200 {
		t.Errorf("a song after the panic: %d %s", status, resp)
	}
	if n := ts.srv.admission.inFlight(); n != 0 {
		t.Errorf("%d pipeline slots still taken", n)
	}
}

// batchBody is an /analyze_batch body carrying the given songs.
func batchBody(songs ...string) []byte {
	items := make([]batchItem, len(songs))
	for i, s := range songs {
		items[i] = batchItem{AudioData: base64.StdEncoding.EncodeToString([]byte(s)), Title: fmt.Sprintf("song %d", i)}
	}
	b, err := json.Marshal(items)
	if err != nil {
		panic(err)
	}
	return b
}

// A request that joins an analysis already running for the same bytes is
// answered without analysing again: /stats counts it as a cache hit.
func TestJoinedFlightCountsAsHit(t *testing.T) {
	fake := newFake()
	ts := newTestServer(t, Options{}, fake)
	first := make(chan int, 1)
	go func() {
		status, _, _ := do(t, "POST", ts.URL+"/analyze_data", []byte("block\n"), nil)
		first <- status
	}()
	waitInFlight(t, ts.srv)
	second := make(chan map[string]any, 1)
	go func() {
		status, _, resp := do(t, "POST", ts.URL+"/analyze_data", []byte("block\n"), nil)
		m := jsonObject(t, resp)
		m["status"] = float64(status)
		second <- m
	}()
	waitWaiters(t, ts.srv, 1, "the second upload never joined the first")
	close(fake.release)
	if s := <-first; s != 200 {
		t.Fatalf("first upload: %d", s)
	}
	if m := <-second; m["status"] != 200.0 || m["cached"] != true {
		t.Errorf("the upload that joined: %v, want 200 and cached", m)
	}
	if n := fake.calls.Load(); n != 1 {
		t.Errorf("%d analyses, want 1", n)
	}
	_, _, resp := do(t, "GET", ts.URL+"/stats", nil, nil)
	m := jsonObject(t, resp)
	if m["total_analyses"] != 2.0 || m["cache_hits"] != 1.0 || m["cache_misses"] != 1.0 {
		t.Errorf("/stats after one analysis answering two requests: %v", m)
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Upload bodies are held in memory until their song is done, so the
// server reads one only when there is room for it: at most max_in_flight
// bodies of the largest size. A request that finds no room within the
// queue wait is turned away with 503 before its body is read, so many
// large uploads at once cannot exhaust memory while they queue.
func TestBodyBudget(t *testing.T) {
	fake := newFake()
	const limit = 64
	ts := newTestServer(t, Options{MaxInFlight: 1, MaxBodyBytes: limit, QueueWait: 50 * time.Millisecond}, fake)
	first := make(chan int, 1)
	go func() {
		status, _, _ := do(t, "POST", ts.URL+"/analyze_data", []byte("block\n"+strings.Repeat("x", limit-6)), nil)
		first <- status
	}()
	waitInFlight(t, ts.srv)

	body := &countingReader{r: strings.NewReader("bpm=120\n" + strings.Repeat("y", 20))}
	req := httptest.NewRequest("POST", "/analyze_data", body)
	req.ContentLength = 28
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("second upload while the first holds every byte: %d %q, want 503 with Retry-After", rec.Code, rec.Body.String())
	}
	if n := body.n.Load(); n != 0 {
		t.Errorf("read %d bytes of a body there was no room for", n)
	}

	close(fake.release)
	if s := <-first; s != http.StatusOK {
		t.Errorf("first upload: %d", s)
	}
	// With the first song done its room is free again.
	if status, _, resp := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=120\n"), nil); status != http.StatusOK {
		t.Errorf("upload after the first finished: %d %s", status, resp)
	}
}

// signalReader closes started on its first Read.
type signalReader struct {
	r       io.Reader
	once    sync.Once
	started chan struct{}
}

func (s *signalReader) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	return s.r.Read(p)
}

// A client that announces a large body and sends it slowly holds room
// only for what it has sent, so it cannot keep other uploads out.
func TestSlowBodyHoldsLittleRoom(t *testing.T) {
	const limit = 4 * roomChunk
	ts := newTestServer(t, Options{MaxInFlight: 1, MaxBodyBytes: limit, QueueWait: 50 * time.Millisecond}, nil)
	pr, pw := io.Pipe()
	slow := &signalReader{r: pr, started: make(chan struct{})}
	req := httptest.NewRequest("POST", "/analyze_data", slow)
	req.ContentLength = limit
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts.srv.ServeHTTP(rec, req)
	}()
	<-slow.started // the slow upload is being read, and nothing has come

	if status, _, resp := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=120\n"), nil); status != http.StatusOK {
		t.Errorf("upload beside a stalled one announcing the largest body: %d %s", status, resp)
	}

	if _, err := pw.Write([]byte("bpm=90\n")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	<-done
	if rec.Code != http.StatusOK {
		t.Errorf("the slow upload, once sent: %d %s", rec.Code, rec.Body.String())
	}
}

// A download for /analyze takes room as its bytes arrive, as an upload
// does: with an upload holding all but 600 bytes of the room, a request
// of a few bytes still gets in, but a 4000-byte download does not.
func TestDownloadTakesRoom(t *testing.T) {
	fake := newFake()
	const limit = 4096
	ts := newTestServer(t, Options{MaxInFlight: 1, MaxBodyBytes: limit, QueueWait: 50 * time.Millisecond, AllowPrivateURLs: true}, fake)
	first := make(chan int, 1)
	go func() {
		status, _, _ := do(t, "POST", ts.URL+"/analyze_data", []byte("block\n"+strings.Repeat("x", limit-600-6)), nil)
		first <- status
	}()
	waitInFlight(t, ts.srv)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bpm=120\n"+strings.Repeat("z", 4000))
	}))
	defer remote.Close()
	status, _, resp := do(t, "POST", ts.URL+"/analyze", []byte(`{"url":"`+remote.URL+`"}`), nil)
	// Turned away for want of room, not later for want of a slot.
	if status != http.StatusServiceUnavailable || !strings.Contains(string(resp), "room") {
		t.Errorf("a download larger than the room left: %d %s, want 503 for want of room", status, resp)
	}
	close(fake.release)
	if s := <-first; s != http.StatusOK {
		t.Errorf("first upload: %d", s)
	}
	if status, _, resp := do(t, "POST", ts.URL+"/analyze", []byte(`{"url":"`+remote.URL+`"}`), nil); status != http.StatusOK {
		t.Errorf("the same download with the room free: %d %s", status, resp)
	}
}

// limit=0 has no meaning in the contract: it is refused as a bad value,
// like a negative or non-numeric limit or offset, on /cache and on
// /cache/search alike, rather than read as one row or as no limit.
func TestCacheListLimitZero(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	for i := range 3 {
		h := map[string]string{"X-Song-Title": fmt.Sprintf("Song %d", i)}
		if status, _, b := do(t, "POST", ts.URL+"/analyze_data", []byte(fmt.Sprintf("bpm=%d\n", 100+i)), h); status != 200 {
			t.Fatalf("%d %s", status, b)
		}
	}
	for _, q := range []string{"/cache?limit=0", "/cache/search?q=Song&limit=0", "/cache?limit=-1", "/cache?limit=x",
		"/cache?offset=-1", "/cache?limit=0&offset=1"} {
		status, _, body := do(t, "GET", ts.URL+q, nil, nil)
		m := wantError(t, q, status, body, http.StatusBadRequest, "bad_request")
		if msg, _ := m["message"].(string); !strings.Contains(msg, "limit") && !strings.Contains(msg, "offset") {
			t.Errorf("%s: message %q names no parameter", q, msg)
		}
	}
	for q, want := range map[string]int{"/cache?limit=1": 1, "/cache?limit=2&offset=0": 2, "/cache/search?q=Song&limit=1": 1, "/cache?offset=0": 3} {
		status, _, body := do(t, "GET", ts.URL+q, nil, nil)
		if rows := rowsOf(t, status, body); len(rows) != want {
			t.Errorf("%s: %d rows, want %d", q, len(rows), want)
		}
	}
}

// namespace=all and * select every namespace on the cache routes, as the
// contract says, so no song may be cached under a namespace those names
// would shadow: "all" in any case (also once cleaned to it) and "*" are
// refused with 400 on every route that stores a song, before anything is
// read, downloaded or analysed.
func TestReservedNamespaces(t *testing.T) {
	var downloads atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		downloads.Add(1)
		io.WriteString(w, "bpm=130\n")
	}))
	defer upstream.Close()
	ts := newTestServer(t, Options{AllowPrivateURLs: true}, nil)
	batch := `[{"audio_data":"` + base64.StdEncoding.EncodeToString([]byte("bpm=131\n")) + `"}]`
	for _, ns := range []string{"all", "ALL", "All", " all ", "a.l.l", "*", " * "} {
		h := map[string]string{"X-Cache-Namespace": ns}
		status, _, body := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=132\n"), h)
		m := wantError(t, "upload to "+ns, status, body, http.StatusBadRequest, "invalid_namespace")
		if msg, _ := m["message"].(string); !strings.Contains(msg, "reserved") {
			t.Errorf("upload to %q: message %q does not say why", ns, msg)
		}
		status, _, body = do(t, "POST", ts.URL+"/analyze_batch", []byte(batch), h)
		wantError(t, "batch to "+ns, status, body, http.StatusBadRequest, "invalid_namespace")
		req, _ := json.Marshal(map[string]string{"url": upstream.URL + "/a.mp3", "cache_namespace": ns})
		status, _, body = do(t, "POST", ts.URL+"/analyze", req, nil)
		wantError(t, "/analyze to "+ns, status, body, http.StatusBadRequest, "invalid_namespace")
		status, _, body = do(t, "POST", ts.URL+"/analyze", []byte(fmt.Sprintf(`{"url":%q}`, upstream.URL+"/b.mp3")), h)
		wantError(t, "/analyze with header "+ns, status, body, http.StatusBadRequest, "invalid_namespace")
	}
	if n, d := ts.fake.calls.Load(), downloads.Load(); n != 0 || d != 0 {
		t.Errorf("refused namespaces led to %d analyses and %d downloads", n, d)
	}

	// Names that merely contain "all" are ordinary namespaces.
	for i, ns := range []string{"allegro", "all_songs", "default"} {
		h := map[string]string{"X-Cache-Namespace": ns}
		if status, _, b := do(t, "POST", ts.URL+"/analyze_data", []byte(fmt.Sprintf("bpm=%d\n", 140+i)), h); status != 200 {
			t.Fatalf("upload to %s: %d %s", ns, status, b)
		}
	}
	for q, want := range map[string]int{"allegro": 1, "all_songs": 1, "all": 3, "ALL": 3, "*": 3, "a.l.l": 3} {
		status, _, body := do(t, "GET", ts.URL+"/cache?namespace="+url.QueryEscape(q), nil, nil)
		if rows := rowsOf(t, status, body); len(rows) != want {
			t.Errorf("namespace=%s: %d rows, want %d", q, len(rows), want)
		}
	}
}

// TestNoRateLimitShownAsZero: a server without a rate limit (0 in
// pipeline.toml, -1 in Options) reports 0 in /diagnostics, as the
// configuration file writes it, not the internal -1.
func TestNoRateLimitShownAsZero(t *testing.T) {
	ts := newTestServer(t, Options{RateLimitPerMinute: -1}, nil)
	_, _, body := do(t, "GET", ts.URL+"/diagnostics", nil, nil)
	cfg := jsonObject(t, body)["configuration"].(map[string]any)["server"].(map[string]any)
	if got := cfg["rate_limit_per_minute"]; got != 0.0 {
		t.Errorf("rate_limit_per_minute %v, want 0 (no limit)", got)
	}
}

// TestMultipartUploadHint: a multipart form posted to /analyze_data is
// refused as an unknown format, with the hint that the body must be the
// file itself.
func TestMultipartUploadHint(t *testing.T) {
	ts := newTestServer(t, Options{Sniff: func(b []byte) error {
		return fmt.Errorf("%w: first bytes %x", decode.ErrUnsupported, b[:min(4, len(b))])
	}}, nil)
	body := "--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF\r\n--xyz--\r\n"
	status, _, resp := do(t, "POST", ts.URL+"/analyze_data", []byte(body), map[string]string{"Content-Type": "multipart/form-data; boundary=xyz"})
	m := wantError(t, "multipart", status, resp, http.StatusUnsupportedMediaType, "unsupported_format")
	if msg := m["message"].(string); !strings.Contains(msg, "not a multipart form") {
		t.Errorf("415 message %q gives no hint about the multipart body", msg)
	}
	// A raw body of an unknown format gets no such hint.
	status, _, resp = do(t, "POST", ts.URL+"/analyze_data", []byte("hello"), nil)
	m = wantError(t, "raw", status, resp, http.StatusUnsupportedMediaType, "unsupported_format")
	if msg := m["message"].(string); strings.Contains(msg, "multipart") {
		t.Errorf("raw body: message %q mentions multipart", msg)
	}
	// Refused by the sniffer, before the pipeline, it reads as the
	// pipeline's decode stage words it.
	if msg := m["message"].(string); !strings.HasPrefix(msg, `decode: song "upload`) {
		t.Errorf("raw body: message %q, want the decode stage's form", msg)
	}
}

// When a shutdown's grace ends with a request still in flight but no
// analysis outliving its request, the log says that requests were
// cancelled, and nothing about analyses that outlived their requests:
// there were none, and the first cancellation already covered any.
func TestShutdownLogsOnlyWhatItCancels(t *testing.T) {
	upstream, started := stalledUpstream(t)
	var logs logBuffer
	srv, _, base, done := serveForTest(t, newFake(), Options{AllowPrivateURLs: true, Logger: logs.logger()}, 50*time.Millisecond)
	replied := make(chan struct{})
	go func() {
		defer close(replied)
		do(t, "POST", base+"/analyze", []byte(fmt.Sprintf(`{"url":%q}`, upstream.URL+"/song")), nil)
	}()
	<-started
	srv.RequestShutdown()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	<-replied
	log := logs.String()
	if !strings.Contains(log, "cancelling requests in flight") {
		t.Errorf("the log does not say the download's request was cancelled:\n%s", log)
	}
	if strings.Contains(log, "outlived their requests") {
		t.Errorf("the log says analyses outlived their requests when none ran:\n%s", log)
	}
}

// A batch's songs do not turn each other away: on a server busy with
// nothing but the batch, with fewer slots than songs and a queue wait
// shorter than a song's analysis, every song is analysed, none answered
// busy for want of a slot its own siblings held.
func TestBatchSongsWaitForEachOther(t *testing.T) {
	fake := newFake()
	fake.delay = 150 * time.Millisecond
	ts := newTestServer(t, Options{MaxInFlight: 1, QueueWait: 50 * time.Millisecond}, fake)
	status, _, resp := do(t, "POST", ts.URL+"/analyze_batch", batchBody("bpm=101\na", "bpm=102\nb", "bpm=103\nc"), nil)
	if status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	var out []map[string]any
	if err := json.Unmarshal(resp, &out); err != nil || len(out) != 3 {
		t.Fatalf("reply %s: %v", resp, err)
	}
	for i, m := range out {
		if want := float64(101 + i); m["error"] != nil || m["bpm"] != want {
			t.Errorf("song %d: error %v (%v), bpm %v, want %g", i, m["error"], m["message"], m["bpm"], want)
		}
	}
}

// A request whose context has already ended (its client gone, or the
// server past a shutdown's grace) takes no pipeline slot, even a free
// one: it is answered 503 cancelled, as when it would have had to wait
// for a slot, and starts no analysis nobody waits for. At shutdown such
// an analysis would be counted a cache miss, and would start after Serve
// began waiting for the analyses running.
func TestEndedRequestTakesNoSlot(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", "/analyze_data", strings.NewReader("bpm=120\n")).WithContext(ctx)
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, req)
	wantError(t, "request already ended", rec.Code, rec.Body.Bytes(), http.StatusServiceUnavailable, "cancelled")
	if n := ts.fake.calls.Load(); n != 0 {
		t.Errorf("%d analyses started for a request that had ended", n)
	}
	if n := ts.srv.admission.inFlight(); n != 0 {
		t.Errorf("%d slots held", n)
	}
}
