package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/songflow/songflow/store"
)

// logBuffer collects a server's log lines; the server writes from many
// goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// rowsOf decodes a /cache or /cache/search reply.
func rowsOf(t *testing.T, status int, body []byte) []map[string]any {
	t.Helper()
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); status != http.StatusOK || err != nil {
		t.Fatalf("cache listing: %d %v: %s", status, err, body)
	}
	return rows
}

// X-Force-Reanalyze skips the cache read but still writes: the next
// plain request for the same bytes is a hit.
func TestForceReanalyzeStillWrites(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	url := ts.URL + "/analyze_data"
	body := []byte("bpm=131\nforced")
	h := map[string]string{"X-Cache-Namespace": "forced", "X-Force-Reanalyze": "on"}
	if status, _, resp := do(t, "POST", url, body, h); status != 200 || jsonObject(t, resp)["cached"] != false {
		t.Fatalf("forced upload: %d %s", status, resp)
	}
	status, _, resp := do(t, "POST", url, body, map[string]string{"X-Cache-Namespace": "forced"})
	if m := jsonObject(t, resp); status != 200 || m["cached"] != true || ts.fake.calls.Load() != 1 {
		t.Errorf("plain upload after a forced one: %d %v after %d analyses, want a cache hit after 1", status, m, ts.fake.calls.Load())
	}
}

// A forced re-analysis that names no song keeps the title and artist the
// cache already has for those bytes: it used to overwrite them with
// "Unknown". A song never named lists as "Unknown".
func TestForceReanalyzeKeepsTheName(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	url := ts.URL + "/analyze_data"
	body := []byte("bpm=99\nnamed")
	named := map[string]string{"X-Song-Title": "Jóga", "X-Song-Artist": "Björk"}
	if status, _, resp := do(t, "POST", url, body, named); status != 200 {
		t.Fatalf("named upload: %d %s", status, resp)
	}
	if status, _, resp := do(t, "POST", url, body, map[string]string{"X-Force-Reanalyze": "1"}); status != 200 {
		t.Fatalf("forced upload: %d %s", status, resp)
	}
	status, _, resp := do(t, "POST", url, body, nil)
	if m := jsonObject(t, resp); status != 200 || m["cached"] != true || m["title"] != "Jóga" || m["artist"] != "Björk" {
		t.Errorf("nameless cache hit: %d %v, want the stored name", status, m)
	}
	if status, _, resp := do(t, "POST", url, []byte("bpm=98\nnameless"), nil); status != 200 {
		t.Fatalf("nameless upload: %d %s", status, resp)
	}
	_, _, resp = do(t, "GET", ts.URL+"/cache", nil, nil)
	var rows []map[string]any
	if err := json.Unmarshal(resp, &rows); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprint(r["title"], " / ", r["artist"]))
	}
	if want := []string{"Unknown / Unknown", "Jóga / Björk"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("cache rows %q, want %q", got, want)
	}
	if ts.fake.calls.Load() != 3 {
		t.Errorf("%d analyses, want 3", ts.fake.calls.Load())
	}
}

// A request answered by an analysis another request started is a cache
// hit to the client too: cached true comes with analyzed_at, as on every
// cache hit.
func TestJoinedFlightHasAnalyzedAt(t *testing.T) {
	fake := newFake()
	ts := newTestServer(t, Options{}, fake)
	first := make(chan int, 1)
	go func() {
		status, _, _ := do(t, "POST", ts.URL+"/analyze_data", []byte("block\njoined"), nil)
		first <- status
	}()
	waitInFlight(t, ts.srv)
	second := make(chan []byte, 1)
	go func() {
		_, _, resp := do(t, "POST", ts.URL+"/analyze_data", []byte("block\njoined"), nil)
		second <- resp
	}()
	waitWaiters(t, ts.srv, 1, "the second upload never joined the first")
	close(fake.release)
	<-first
	m := jsonObject(t, <-second)
	wantTypes(t, "joined upload", m, map[string]string{"cached": "bool", "analyzed_at": "string"})
	if at, ok := m["analyzed_at"].(string); ok {
		if _, err := time.Parse(time.RFC3339, at); err != nil || m["cached"] != true {
			t.Errorf("joined upload: cached %v, analyzed_at %q (%v)", m["cached"], at, err)
		}
	}
}

// The cache is shared with the watcher, which stores every result it
// gets, titled or not, tempo or not. A client naming the watcher's
// namespace must still get a bpm above 0 or the no-tempo error, and a
// title and artist.
func TestCacheHitOnWatcherRow(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	ctx := context.Background()
	put := func(data string, bpm float64) {
		res := knownResult(bpm)
		res.Title, res.Artist = "", ""
		blob, _ := json.Marshal(res)
		key := store.Key{Hash: store.HashContent([]byte(data)), AnalyzerVersion: "test-1", Namespace: store.WatchNamespace}
		if _, err := ts.store.Put(ctx, store.Entry{Key: key, Result: blob}); err != nil {
			t.Fatal(err)
		}
	}
	put("bpm=0\nsilent file", 0)
	put("bpm=120\nuntagged file", 120)
	h := map[string]string{"X-Cache-Namespace": "watch"}

	status, _, body := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=0\nsilent file"), h)
	wantError(t, "silent song from the cache", status, body, http.StatusUnprocessableEntity, "analysis_failed")

	status, _, body = do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=120\nuntagged file"), h)
	m := jsonObject(t, body)
	wantTypes(t, "untitled song from the cache", m, map[string]string{"title": "string", "artist": "string"})
	if status != 200 || m["cached"] != true || m["bpm"] != 120.0 || m["title"] != "Unknown" || m["artist"] != "Unknown" {
		t.Errorf("untitled song from the cache: %d %v", status, m)
	}
	if n := ts.fake.calls.Load(); n != 0 {
		t.Errorf("%d analyses, want both answered from the cache", n)
	}

	// Clients read the watcher's namespace but never write it: a song
	// analysed there, new or forced, is answered and not cached, and the
	// watcher's row keeps its result.
	status, _, body = do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=97\nnew file"), h)
	if m := jsonObject(t, body); status != 200 || m["bpm"] != 97.0 || m["cached"] != false {
		t.Errorf("new song under watch: %d %v", status, m)
	}
	force := map[string]string{"X-Cache-Namespace": "watch", "X-Force-Reanalyze": "1"}
	status, _, body = do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=120\nuntagged file"), force)
	if m := jsonObject(t, body); status != 200 || m["cached"] != false {
		t.Errorf("forced song under watch: %d %v", status, m)
	}
	if n := ts.fake.calls.Load(); n != 2 {
		t.Errorf("%d analyses, want 2", n)
	}
	if n, err := ts.store.Count(ctx, store.WatchNamespace); err != nil || n != 2 {
		t.Errorf("the watcher's namespace holds %d rows (%v), want its own 2", n, err)
	}
	e, ok, err := ts.store.Get(ctx, store.Key{Hash: store.HashContent([]byte("bpm=120\nuntagged file")), AnalyzerVersion: "test-1", Namespace: store.WatchNamespace})
	if err != nil || !ok || e.Title != "" {
		t.Errorf("the watcher's row after a forced upload: %+v %v %v, want it untouched", e, ok, err)
	}
}

// /verify finds a song by the address the client analysed it from, also
// when that analysis was a cache hit on bytes first fetched from another
// address (preview links carry tokens that change) or uploaded, or
// joined an analysis another address started.
func TestVerifyByLatestURL(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The same bytes at every address; the path picks the song.
		io.WriteString(w, strings.TrimPrefix(r.URL.Path, "/")+"\n")
	}))
	defer upstream.Close()
	fake := newFake()
	ts := newTestServer(t, Options{AllowPrivateURLs: true}, fake)
	analyzeURL := func(u string) (int, map[string]any) {
		status, _, body := do(t, "POST", ts.URL+"/analyze", []byte(fmt.Sprintf(`{"url":%q}`, u)), nil)
		return status, jsonObject(t, body)
	}
	verify := func(u string) {
		t.Helper()
		status, _, body := do(t, "POST", ts.URL+"/verify", []byte(fmt.Sprintf(`{"url":%q,"manual_bpm":99}`, u)), nil)
		if m := jsonObject(t, body); status != 200 || m["success"] != true {
			t.Errorf("verify %s: %d %v", u, status, m)
		}
	}

	// Two tokens for one preview; verify after each.
	a1, a2 := upstream.URL+"/bpm=140?token=1", upstream.URL+"/bpm=140?token=2"
	if status, m := analyzeURL(a1); status != 200 || m["cached"] != false {
		t.Fatalf("first address: %d %v", status, m)
	}
	verify(a1)
	if status, m := analyzeURL(a2); status != 200 || m["cached"] != true {
		t.Fatalf("second address: %d %v", status, m)
	}
	verify(a2)
	_, _, body := do(t, "GET", ts.URL+"/cache", nil, nil)
	rows := rowsOf(t, 200, body)
	if len(rows) != 1 || rows[0]["preview_url"] != a2 || rows[0]["user_verified"] != true || rows[0]["manual_bpm"] != 99.0 {
		t.Errorf("row after two addresses: %v", rows)
	}

	// Uploaded first, then fetched.
	do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=141\n"), map[string]string{"X-Cache-Namespace": "up"})
	up := upstream.URL + "/bpm=141"
	if status, _, body := do(t, "POST", ts.URL+"/analyze", []byte(fmt.Sprintf(`{"url":%q,"cache_namespace":"up"}`, up)), nil); status != 200 {
		t.Fatalf("fetch after upload: %d %s", status, body)
	}
	verify(up)

	// Two addresses at once: the second joins the first's analysis.
	b1, b2 := upstream.URL+"/block?token=1", upstream.URL+"/block?token=2"
	done := make(chan struct{})
	go func() {
		defer close(done)
		analyzeURL(b1)
	}()
	waitInFlight(t, ts.srv)
	joined := make(chan map[string]any, 1)
	go func() {
		_, m := analyzeURL(b2)
		joined <- m
	}()
	waitWaiters(t, ts.srv, 1, "the second address never joined the first")
	close(fake.release)
	<-done
	if m := <-joined; m["cached"] != true {
		t.Fatalf("the joined address: %v", m)
	}
	verify(b2)
}

// One malformed song in a batch fails alone, as a result-shaped item;
// only a body that is not an array fails the request.
func TestBatchMalformedItems(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	good := base64.StdEncoding.EncodeToString([]byte("bpm=100\nfine"))
	body := `[{"audio_data":"` + good + `","title":"A","extra":{"ignored":[1,2]}}, 5, {"audio_data":7,"title":"C"}, null, "text"]`
	status, _, resp := do(t, "POST", ts.URL+"/analyze_batch", []byte(body), nil)
	if status != http.StatusOK {
		t.Fatalf("batch with malformed songs: %d %s", status, resp)
	}
	var out []map[string]any
	if err := json.Unmarshal(resp, &out); err != nil || len(out) != 5 {
		t.Fatalf("reply %s: %v", resp, err)
	}
	wantErr := []string{"", "invalid_item", "invalid_item", "empty_body", "invalid_item"}
	for i, m := range out {
		types := maps.Clone(analysisTypes)
		if wantErr[i] != "" {
			delete(types, "time_signature")
			types["error"], types["message"] = "string", "string"
		}
		types["title"], types["artist"] = "string", "string"
		wantTypes(t, fmt.Sprintf("item %d", i), m, types)
		if got, _ := m["error"].(string); got != wantErr[i] {
			t.Errorf("item %d: error %q, want %q", i, got, wantErr[i])
		}
	}
	if out[0]["bpm"] != 100.0 || out[0]["title"] != "A" {
		t.Errorf("item 0: %v", out[0])
	}
	if out[2]["title"] != "C" {
		t.Errorf("item 2 lost its title: %v", out[2]["title"])
	}
}

// Request bodies of the wrong JSON shape get a 400 naming the problem;
// unknown fields are ignored, and flags and numbers come as clients
// send them.
func TestJSONBodyTypes(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "bpm=150\n"+r.URL.Path)
	}))
	defer upstream.Close()
	ts := newTestServer(t, Options{AllowPrivateURLs: true}, nil)
	u := upstream.URL + "/typed.mp3"
	for _, c := range []struct{ path, body, field string }{
		{"/analyze", `[{"url":"` + u + `"}]`, ""},
		{"/analyze", `{"url":5}`, "url"},
		{"/analyze", `{"url":"` + u + `","title":7}`, "title"},
		{"/analyze", `{"url":"` + u + `","force_reanalyze":{"yes":true}}`, `{"yes":true}`},
		{"/analyze", `{"url":"` + u + `"} trailing`, ""},
		{"/verify", `["` + u + `"]`, ""},
		{"/verify", `{"url":"` + u + `","manual_bpm":"fast"}`, "fast"},
		{"/verify", `{"url":"` + u + `","manual_bpm":"NaN"}`, "NaN"},
		{"/analyze_batch", `{"audio_data":"eA=="}`, ""},
	} {
		status, _, body := do(t, "POST", ts.URL+c.path, []byte(c.body), nil)
		m := wantError(t, c.path+" "+c.body, status, body, 400, "invalid_json")
		if msg, _ := m["message"].(string); !strings.Contains(msg, c.field) {
			t.Errorf("%s %s: message %q does not name %q", c.path, c.body, msg, c.field)
		}
	}
	if n := ts.fake.calls.Load(); n != 0 {
		t.Fatalf("%d malformed requests reached the analyzer", n)
	}

	// Unknown fields, flags as a string and a number, the namespace in
	// the body.
	body := `{"url":"` + u + `","title":"Typed","unknown":{"nested":[1,"x"]},"force_reanalyze":"yes","skip_chunk_analysis":1,"cache_namespace":"web"}`
	status, _, resp := do(t, "POST", ts.URL+"/analyze", []byte(body), map[string]string{"X-Cache-Namespace": "ignored"})
	if m := jsonObject(t, resp); status != 200 || m["bpm"] != 150.0 || m["title"] != "Typed" {
		t.Fatalf("lenient /analyze: %d %v", status, m)
	}
	if !ts.fake.lastJob().SkipChunks {
		t.Error("skip_chunk_analysis 1 did not reach the pipeline")
	}
	_, _, resp = do(t, "GET", ts.URL+"/cache?namespace=web", nil, nil)
	if rows := rowsOf(t, 200, resp); len(rows) != 1 || rows[0]["preview_url"] != u {
		t.Errorf("cache_namespace web holds %v", rows)
	}
	// Without cache_namespace the header names it.
	do(t, "POST", ts.URL+"/analyze", []byte(`{"url":"`+upstream.URL+`/other.mp3"}`), map[string]string{"X-Cache-Namespace": "hdr"})
	_, _, resp = do(t, "GET", ts.URL+"/cache?namespace=hdr", nil, nil)
	if rows := rowsOf(t, 200, resp); len(rows) != 1 {
		t.Errorf("X-Cache-Namespace for /analyze: namespace hdr holds %d rows, want 1", len(rows))
	}

	// manual_bpm as a number in a string, then "" to clear it.
	for _, c := range []struct {
		bpm  string
		want any
	}{{`"174"`, 174.0}, {`""`, nil}, {`87.5`, 87.5}, {`null`, nil}} {
		status, _, resp = do(t, "POST", ts.URL+"/verify", []byte(`{"url":"`+u+`","manual_bpm":`+c.bpm+`}`), nil)
		if m := jsonObject(t, resp); status != 200 || m["success"] != true {
			t.Errorf("verify manual_bpm %s: %d %v", c.bpm, status, m)
			continue
		}
		_, _, resp = do(t, "GET", ts.URL+"/cache?namespace=web", nil, nil)
		if rows := rowsOf(t, 200, resp); len(rows) != 1 || rows[0]["manual_bpm"] != c.want {
			t.Errorf("after manual_bpm %s: rows %v, want one with manual_bpm %v", c.bpm, rows, c.want)
		}
	}
}

// Titles arrive in JSON with bytes that are not UTF-8; the reply is
// still valid UTF-8 JSON, as Swift's decoder requires.
func TestInvalidUTF8InJSONTitles(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	audio := base64.StdEncoding.EncodeToString([]byte("bpm=90\nutf8"))
	body := []byte(`[{"audio_data":"` + audio + "\",\"title\":\"Caf\xe9\",\"artist\":\"\xff\xfe\"}]")
	status, _, resp := do(t, "POST", ts.URL+"/analyze_batch", body, nil)
	if status != 200 || !utf8.Valid(resp) {
		t.Fatalf("batch with Latin-1 in its JSON: %d, valid UTF-8 %v: %q", status, utf8.Valid(resp), resp)
	}
	var out []map[string]any
	if err := json.Unmarshal(resp, &out); err != nil || len(out) != 1 || out[0]["title"] != "Caf\uFFFD" || out[0]["artist"] != "\uFFFD\uFFFD" {
		t.Errorf("reply %s: %v", resp, err)
	}
}

// The search text is data, never SQL or a LIKE pattern, and a namespace
// is cut to its safe characters.
func TestCacheSearchIsLiteral(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	for i, title := range []string{"100% Pure", "Under_score", "Plain", "O'Brien"} {
		h := map[string]string{"X-Song-Title": title}
		if status, _, b := do(t, "POST", ts.URL+"/analyze_data", []byte(fmt.Sprintf("bpm=%d\n", 100+i)), h); status != 200 {
			t.Fatalf("%d %s", status, b)
		}
	}
	for q, want := range map[string]string{
		"%":                      "100% Pure",
		"_":                      "Under_score",
		"' OR 1=1 --":            "",
		`" OR ""="`:              "",
		"O'Brien":                "O'Brien",
		"../../etc/passwd":       "",
		"plain":                  "Plain",
		"%'; DROP TABLE results": "",
	} {
		status, _, body := do(t, "GET", ts.URL+"/cache/search?namespace=all&q="+urlQueryEscape(q), nil, nil)
		var titles []string
		for _, r := range rowsOf(t, status, body) {
			titles = append(titles, r["title"].(string))
		}
		if got := strings.Join(titles, "|"); got != want {
			t.Errorf("search %q: %q, want %q", q, got, want)
		}
	}
	// Namespaces keep only [A-Za-z0-9_-]: what is left of these names
	// the empty namespace OR11 and the default one.
	for ns, want := range map[string]int{"' OR '1'='1": 0, "../default": 4, "default%": 4} {
		status, _, body := do(t, "GET", ts.URL+"/cache?namespace="+urlQueryEscape(ns), nil, nil)
		if rows := rowsOf(t, status, body); len(rows) != want {
			t.Errorf("namespace %q listed %d rows, want %d", ns, len(rows), want)
		}
	}
	// Every row is still there.
	_, _, body := do(t, "GET", ts.URL+"/cache?namespace=all", nil, nil)
	if rows := rowsOf(t, 200, body); len(rows) != 4 {
		t.Errorf("%d rows left, want 4", len(rows))
	}
}

func urlQueryEscape(s string) string {
	r := httptest.NewRequest("GET", "/", nil)
	q := r.URL.Query()
	q.Set("x", s)
	return strings.TrimPrefix(q.Encode(), "x=")
}

// Ids in /cache/{id} are integers; anything else is refused before it
// reaches the store, and a path with dot segments never deletes.
func TestCacheIDPaths(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=100\n"), nil)
	for _, id := range []string{"1%20OR%201=1", "1;DROP%20TABLE%20results", "%2e%2e%2fstats", "99999999999999999999", "0x1", "1.0"} {
		status, _, body := do(t, "DELETE", ts.URL+"/cache/"+id, nil, nil)
		wantError(t, "DELETE /cache/"+id, status, body, 400, "bad_request")
	}
	status, _, body := do(t, "DELETE", ts.URL+"/cache/-1", nil, nil)
	wantError(t, "DELETE /cache/-1", status, body, 404, "not_found")
	// The mux cleans dot segments by redirecting; nothing is deleted on
	// the way.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("DELETE", ts.URL+"/cache/1/../../stats", nil)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/stats" {
		t.Errorf("DELETE /cache/1/../../stats: %d to %q, want a redirect to /stats", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n, _ := ts.store.Count(context.Background(), store.AllNamespaces); n != 1 {
		t.Errorf("%d rows left, want 1", n)
	}
}

// Deleting a row while it is listed, deleted again and hit by uploads:
// one delete wins, the others are 404, and every listing and upload is
// answered whole.
func TestConcurrentDeleteAndRead(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	body := []byte("bpm=120\nraced")
	_, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, nil)
	id := int64(jsonObject(t, resp)["cache_id"].(float64))
	const n = 8
	var deleted, notFound atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(3)
		go func() {
			defer wg.Done()
			status, _, b := do(t, "DELETE", fmt.Sprintf("%s/cache/%d", ts.URL, id), nil, nil)
			switch status {
			case 200:
				deleted.Add(1)
			case 404:
				notFound.Add(1)
			default:
				t.Errorf("DELETE: %d %s", status, b)
			}
		}()
		go func() {
			defer wg.Done()
			status, _, b := do(t, "GET", ts.URL+"/cache", nil, nil)
			rowsOf(t, status, b)
		}()
		go func() {
			defer wg.Done()
			status, _, b := do(t, "POST", ts.URL+"/analyze_data", body, nil)
			if m := jsonObject(t, b); status != 200 || m["bpm"] != 120.0 {
				t.Errorf("upload beside the delete: %d %v", status, m)
			}
		}()
	}
	wg.Wait()
	if deleted.Load() != 1 || notFound.Load() != n-1 {
		t.Errorf("%d deletes succeeded and %d found nothing, want 1 and %d", deleted.Load(), notFound.Load(), n-1)
	}
}

// postChunked posts an upload of n bytes, a tempo line and zeros, to
// /analyze_data without announcing its length (chunked), as a client
// streaming a file does.
func postChunked(t *testing.T, ts *testServer, n int) (int, []byte) {
	t.Helper()
	head := "bpm=1\n"
	req, err := http.NewRequest("POST", ts.URL+"/analyze_data", io.MultiReader(strings.NewReader(head), bytes.NewReader(make([]byte, n-len(head)))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// An upload of unknown length is cut off at the limit: 413 as for one
// that announces its size, and not analysed.
func TestChunkedUploadTooLarge(t *testing.T) {
	ts := newTestServer(t, Options{MaxBodyBytes: 1 << 20}, nil)
	status, body := postChunked(t, ts, 2<<20)
	wantError(t, "chunked upload over the limit", status, body, http.StatusRequestEntityTooLarge, "payload_too_large")
	if ts.fake.calls.Load() != 0 {
		t.Error("the cut upload was analysed")
	}
}

// The limit is exact for an upload of unknown length: server.max_body_mb
// to the byte is analysed, one byte more is refused. (The 2 MB upload
// above is refused as well by a reader cut off at twice the limit, or at
// one byte less.)
func TestChunkedUploadLimitIsExact(t *testing.T) {
	const limit = 1 << 20
	ts := newTestServer(t, Options{MaxBodyBytes: limit}, nil)
	status, body := postChunked(t, ts, limit+1)
	wantError(t, "chunked upload one byte over the limit", status, body, http.StatusRequestEntityTooLarge, "payload_too_large")
	if status, body := postChunked(t, ts, limit); status == http.StatusRequestEntityTooLarge || ts.fake.calls.Load() != 1 {
		t.Errorf("chunked upload of exactly the limit: status %d (%s), %d analyses, want it analysed", status, body, ts.fake.calls.Load())
	}
}

// A large title header round-trips; a header beyond net/http's limit is
// refused without harm to the server.
func TestLargeHeaders(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	title := strings.Repeat("é", 32<<10)
	status, _, body := do(t, "POST", ts.URL+"/analyze_data", []byte("bpm=100\nlong title"), map[string]string{"X-Song-Title": title})
	if m := jsonObject(t, body); status != 200 || m["title"] != title {
		t.Errorf("64 KiB title: %d, title of %d bytes", status, len(fmt.Sprint(m["title"])))
	}
	req, _ := http.NewRequest("POST", ts.URL+"/analyze_data", strings.NewReader("bpm=100\nhuge header"))
	req.Header.Set("X-Song-Title", strings.Repeat("x", 2<<20))
	// The server may close the connection before the client has sent
	// the header, so the client may see that instead of the 431.
	if resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("2 MiB header: %d, want 431", resp.StatusCode)
		}
	}
	if status, _, _ := do(t, "GET", ts.URL+"/health", nil, nil); status != 200 {
		t.Errorf("/health after a huge header: %d", status)
	}
	if n := ts.fake.calls.Load(); n != 1 {
		t.Errorf("%d analyses, want only the long title's", n)
	}
}

// X-Client-Request-Id is logged for every song, whatever its outcome;
// an API key never is.
func TestRequestIDLoggedKeyNot(t *testing.T) {
	var logs logBuffer
	ts := newTestServer(t, Options{Production: true, Logger: logs.logger()}, nil)
	secret, _, err := ts.store.CreateKey(context.Background(), "app")
	if err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"bpm=100\n", "bpm=100\n", "unsupported\n", "silence\n"} {
		id := fmt.Sprintf("req-%d-%d", i, 7919)
		status, _, resp := do(t, "POST", ts.URL+"/analyze_data", []byte(body), map[string]string{"X-API-Key": secret, "X-Client-Request-Id": id})
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			t.Fatalf("key refused: %s", resp)
		}
		if !strings.Contains(logs.String(), id) {
			t.Errorf("request %d (%s, answered %d): its id %s is not in the log", i, strings.TrimSpace(body), status, id)
		}
	}
	do(t, "GET", ts.URL+"/stats", nil, map[string]string{"X-API-Key": secret + "x"})
	if strings.Contains(logs.String(), secret) {
		t.Error("the API key is in the log")
	}
}

// A bug that panics in a handler answers that request 500 in the JSON
// error shape, instead of a dropped connection, and the server goes on.
func TestHandlerPanicIsJSON(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	ts.fake.snapshotPanics.Store(true)
	status, h, body := do(t, "GET", ts.URL+"/diagnostics", nil, nil)
	wantError(t, "panicking /diagnostics", status, body, http.StatusInternalServerError, "internal_error")
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	ts.fake.snapshotPanics.Store(false)
	if status, _, _ := do(t, "GET", ts.URL+"/diagnostics", nil, nil); status != 200 {
		t.Errorf("/diagnostics after the panic: %d", status)
	}
}

// /analyze_data takes the raw bytes whatever the Content-Type says: a
// form or multipart type is not parsed, and the bytes reach the analyzer
// as they were sent.
func TestAnalyzeDataAnyContentType(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	for i, ct := range []string{"", "audio/mpeg", "application/json", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "text/plain; charset=latin1", "nonsense"} {
		body := []byte(fmt.Sprintf("bpm=%d\na=1&b=2", 100+i))
		status, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, map[string]string{"Content-Type": ct})
		if m := jsonObject(t, resp); status != 200 || m["bpm"] != float64(100+i) || !bytes.Equal(ts.fake.lastJob().Data, body) {
			t.Errorf("Content-Type %q: %d %v, job data %q", ct, status, m, ts.fake.lastJob().Data)
		}
	}
}

// /diagnostics names the mode; in production it has no warning that
// every route is open.
func TestDiagnosticsMode(t *testing.T) {
	for _, production := range []bool{false, true} {
		ts := newTestServer(t, Options{Production: production}, nil)
		secret, _, err := ts.store.CreateKey(context.Background(), "panel")
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := do(t, "GET", ts.URL+"/diagnostics", nil, map[string]string{"X-API-Key": secret})
		m := jsonObject(t, body)
		want, warned := "development", false
		if production {
			want = "production"
		}
		for _, w := range m["warnings"].([]any) {
			warned = warned || strings.Contains(w.(string), "no API key is required")
		}
		if status != 200 || m["mode"] != want || warned == production {
			t.Errorf("production %v: %d mode %v, warnings %v", production, status, m["mode"], m["warnings"])
		}
	}
}

// A download address's query string and userinfo (preview addresses
// carry signed tokens there) never reach the log, nor any message in a
// reply, whether the song is analysed, fails to download or fails to
// analyse; the cache row keeps the whole address, which /verify matches.
func TestDownloadTokensNotLogged(t *testing.T) {
	const secret = "SECRET"
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/song.mp3":
			io.WriteString(w, "bpm=120\nsong")
		case "/userinfo.mp3":
			io.WriteString(w, "bpm=121\nuserinfo")
		case "/song.ogg":
			io.WriteString(w, "unsupported\n")
		case "/quiet.mp3":
			io.WriteString(w, "silence\n")
		case "/away":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer upstream.Close()
	// An address nothing listens on, so that the dial fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	var logs logBuffer
	ts := newTestServer(t, Options{AllowPrivateURLs: true, Logger: logs.logger()}, nil)
	song := upstream.URL + "/song.mp3?token=" + secret
	withUser := strings.Replace(upstream.URL, "://", "://user:"+secret+"@", 1) + "/userinfo.mp3"
	for _, c := range []struct {
		url    string
		status int
	}{
		{song, http.StatusOK},
		{song, http.StatusOK}, // from the cache
		{withUser, http.StatusOK},
		{upstream.URL + "/gone.mp3?token=" + secret, http.StatusBadGateway},
		{closed + "/refused.mp3?token=" + secret + "#" + secret, http.StatusBadGateway},
		{upstream.URL + "/away?to=" + url.QueryEscape(closed+"/moved.mp3?token="+secret), http.StatusBadGateway},
		{upstream.URL + "/song.ogg?token=" + secret, http.StatusUnsupportedMediaType},
		{upstream.URL + "/quiet.mp3?token=" + secret, http.StatusUnprocessableEntity},
		{"http://example.com/bad.mp3?token=" + secret + "\x7f", http.StatusBadRequest},
		{"http://user:" + secret + "@example.com:x/bad.mp3", http.StatusBadRequest},
	} {
		body, _ := json.Marshal(map[string]string{"url": c.url})
		status, _, resp := do(t, "POST", ts.URL+"/analyze", body, map[string]string{"X-Client-Request-Id": "tok"})
		if status != c.status {
			t.Errorf("%q: %d, want %d: %s", c.url, status, c.status, resp)
		}
		if strings.Contains(string(resp), secret) {
			t.Errorf("%q: the reply holds the secret: %s", c.url, resp)
		}
	}

	// /verify still finds the row by the whole address, and says so
	// without the token.
	for _, c := range []struct {
		url    string
		status int
	}{{song, http.StatusOK}, {upstream.URL + "/unknown.mp3?token=" + secret, http.StatusNotFound}} {
		status, _, resp := do(t, "POST", ts.URL+"/verify", []byte(fmt.Sprintf(`{"url":%q,"manual_bpm":60}`, c.url)), nil)
		if status != c.status || strings.Contains(string(resp), secret) {
			t.Errorf("verify %q: %d %s, want %d without the secret", c.url, status, resp, c.status)
		}
	}
	_, _, resp := do(t, "GET", ts.URL+"/cache", nil, nil)
	found := false
	for _, row := range rowsOf(t, 200, resp) {
		found = found || row["preview_url"] == song && row["user_verified"] == true
	}
	if !found {
		t.Errorf("no verified row with preview_url %q: %s", song, resp)
	}

	log := logs.String()
	if strings.Contains(log, secret) {
		t.Errorf("the secret is in the log:\n%s", log)
	}
	// The log still says what happened, and where.
	for _, want := range []string{"download failed", "/gone.mp3", "/refused.mp3", "/moved.mp3", "/song.mp3", "/song.ogg", "/quiet.mp3"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not mention %q:\n%s", want, log)
		}
	}
}

// The control panel's Clear button and its emptied search field ask for
// /cache/search?q= (and the old server's smoke test for /cache/search
// with no q at all) and decode the reply as rows: an empty search lists
// what /cache lists, in its namespace, page by page.
func TestCacheSearchEmptyQuery(t *testing.T) {
	ts := newTestServer(t, Options{}, nil)
	for i, ns := range []string{"", "", "ios"} {
		h := map[string]string{"X-Song-Title": fmt.Sprintf("Song %d", i), "X-Cache-Namespace": ns}
		if status, _, b := do(t, "POST", ts.URL+"/analyze_data", []byte(fmt.Sprintf("bpm=%d\n", 100+i)), h); status != 200 {
			t.Fatalf("upload %d: %d %s", i, status, b)
		}
	}
	for _, c := range []struct {
		search, list string
		rows         int
	}{
		{"/cache/search?q=", "/cache", 2},
		{"/cache/search", "/cache", 2},
		{"/cache/search?q=%20%20", "/cache", 2},
		{"/cache/search?artist=&title=", "/cache", 2},
		{"/cache/search?q=&namespace=all", "/cache?namespace=all", 3},
		{"/cache/search?q=&namespace=ios", "/cache?namespace=ios", 1},
		{"/cache/search?q=&limit=1&offset=1", "/cache?limit=1&offset=1", 1},
		{"/cache/search?q=&namespace=*&limit=2", "/cache?namespace=*&limit=2", 2},
		{"/cache/search?q=&namespace=nonesuch", "/cache?namespace=nonesuch", 0},
		{"/cache/search?q=Song&namespace=all", "/cache?namespace=all", 3},
	} {
		status, _, got := do(t, "GET", ts.URL+c.search, nil, nil)
		if n := len(rowsOf(t, status, got)); n != c.rows {
			t.Errorf("GET %s: %d rows, want %d", c.search, n, c.rows)
		}
		_, _, want := do(t, "GET", ts.URL+c.list, nil, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("GET %s differs from GET %s:\n got %s\nwant %s", c.search, c.list, got, want)
		}
	}
}

// A body still waiting for room when its request is cancelled (as every
// request is once a shutdown's grace period is over, and the client may
// still be there to read the reply) gets a 503 with Retry-After, like
// every other 503: a client retries when it says.
func TestRoomWaitCancelledHasRetryAfter(t *testing.T) {
	ts := newTestServer(t, Options{MaxBodyBytes: 1 << 20, MaxInFlight: 1, QueueWait: time.Minute}, nil)
	size := bodyRoom(ts.srv.opts.MaxBodyBytes, ts.srv.opts.MaxInFlight)
	if !ts.srv.bodies.TryAcquire(size) {
		t.Fatal("the room is not free at the start")
	}
	defer ts.srv.bodies.Release(size)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rr := &roomReader{s: ts.srv, ctx: ctx, age: ts.srv.readers.Add(1)}
	f := ts.srv.acquireRoom(ctx, rr, 1)
	if f == nil {
		t.Fatal("room given to a cancelled request while the room is full")
	}
	rec := httptest.NewRecorder()
	f.write(rec)
	wantError(t, "cancelled wait for room", rec.Code, rec.Body.Bytes(), http.StatusServiceUnavailable, "cancelled")
	if ra := rec.Header().Get("Retry-After"); ra == "" {
		t.Error("503 without Retry-After")
	}
}
