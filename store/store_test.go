package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "cache.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// clock returns a fake time source that advances one second per call, so
// the order of writes is the order of their analyzed_at.
func clock() func() time.Time {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Second)
	}
}

func result(bpm float64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"bpm":%g,"key":"C# Minor"}`, bpm))
}

func TestHashContent(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2, appendix B.1.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashContent([]byte("abc")); got != want {
		t.Fatalf("HashContent(abc) = %s, want %s", got, want)
	}
}

func TestHashReaderMatchesHashContent(t *testing.T) {
	// Results stored under HashContent must be found by HashReader's key.
	data := []byte(strings.Repeat("songflow ", 100000))
	got, n, err := HashReader(strings.NewReader(string(data)))
	if err != nil || n != int64(len(data)) || got != HashContent(data) {
		t.Fatalf("HashReader = %s, %d, %v; want %s, %d", got, n, err, HashContent(data), len(data))
	}
}

func TestWALAndReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	mode, err := s.JournalMode(ctx)
	if err != nil || mode != "wal" {
		t.Fatalf("journal mode = %q, %v; want wal", mode, err)
	}
	k := Key{Hash: HashContent([]byte("song")), AnalyzerVersion: "v1", Namespace: "default"}
	id, err := s.Put(ctx, Entry{Key: k, Title: "Café", Artist: "Björk", Result: result(128)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, "cache_hits", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	e, ok, err := s2.Get(ctx, k)
	if err != nil || !ok {
		t.Fatalf("after reopen Get = %v, %v", ok, err)
	}
	if e.ID != id || e.Title != "Café" || e.Artist != "Björk" || string(e.Result) != string(result(128)) {
		t.Fatalf("after reopen got %+v", e)
	}
	c, err := s2.Counter(ctx, "cache_hits")
	if err != nil || c.Value != 3 || c.UpdatedAt.IsZero() {
		t.Fatalf("counter after reopen = %+v, %v", c, err)
	}
}

func TestKeyParts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	base := Key{Hash: HashContent([]byte("full song")), AnalyzerVersion: "v1", Namespace: "default"}
	preview := base
	preview.Hash = HashContent([]byte("preview"))
	otherVersion := base
	otherVersion.AnalyzerVersion = "v2"
	otherNS := base
	otherNS.Namespace = "ios"
	chunkless := base
	chunkless.SkipChunks = true
	keys := []Key{base, preview, otherVersion, otherNS, chunkless}
	for i, k := range keys {
		if _, err := s.Put(ctx, Entry{Key: k, Title: "Same Title", Artist: "Same Artist", Result: result(float64(100 + i))}); err != nil {
			t.Fatal(err)
		}
	}
	for i, k := range keys {
		e, ok, err := s.Get(ctx, k)
		if err != nil || !ok {
			t.Fatalf("Get(%+v) = %v, %v", k, ok, err)
		}
		if want := string(result(float64(100 + i))); string(e.Result) != want {
			t.Errorf("Get(%+v) = %s, want %s: keys collided", k, e.Result, want)
		}
	}
	if n, _ := s.Count(ctx, AllNamespaces); n != len(keys) {
		t.Fatalf("Count(all) = %d, want %d", n, len(keys))
	}
	if n, _ := s.Count(ctx, "ios"); n != 1 {
		t.Fatalf("Count(ios) = %d, want 1", n)
	}
	if _, ok, _ := s.Get(ctx, Key{Hash: "nope", AnalyzerVersion: "v1", Namespace: "default"}); ok {
		t.Fatal("Get of an unknown hash found something")
	}
}

func TestPutReplacesButKeepsVerification(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	k := Key{Hash: "h", AnalyzerVersion: "v1", Namespace: "default"}
	id, err := s.Put(ctx, Entry{Key: k, Title: "Old", PreviewURL: "https://x/a.m4a", Result: result(90)})
	if err != nil {
		t.Fatal(err)
	}
	bpm := 91.5
	if n, err := s.Verify(ctx, "https://x/a.m4a", Verification{ManualBPM: &bpm, ManualKey: "A Minor", BPMNotes: "half time"}); err != nil || n != 1 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	id2, err := s.Put(ctx, Entry{Key: k, Title: "New", Result: result(92)})
	if err != nil {
		t.Fatal(err)
	}
	if id2 != id {
		t.Fatalf("re-put changed id %d → %d", id, id2)
	}
	e, err := s.GetByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if e.Title != "New" || string(e.Result) != string(result(92)) || e.PreviewURL != "https://x/a.m4a" {
		t.Errorf("after re-put: %+v", e)
	}
	if !e.UserVerified || e.ManualBPM == nil || *e.ManualBPM != 91.5 || e.ManualKey != "A Minor" || e.BPMNotes != "half time" {
		t.Errorf("verification lost: %+v", e)
	}
	if n, _ := s.Verify(ctx, "https://unknown", Verification{}); n != 0 {
		t.Errorf("Verify of unknown url marked %d", n)
	}
	if _, err := s.Put(ctx, Entry{Key: k, Result: json.RawMessage(`{bad`)}); err == nil {
		t.Error("Put accepted invalid JSON")
	}
	if _, err := s.Put(ctx, Entry{Key: Key{Hash: "h"}, Result: result(1)}); err == nil {
		t.Error("Put accepted a key without version and namespace")
	}
}

func TestListSearchDeleteClear(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	s.now = clock()
	songs := []struct{ title, artist, ns string }{
		{"Alpha", "Zed", "default"},
		{"Beta 100%", "Café Tacvba", "default"},
		{"Gamma_x", "Zed", "ios"},
		{"Delta", "Other", "default"},
	}
	for i, song := range songs {
		k := Key{Hash: fmt.Sprint(i), AnalyzerVersion: "v1", Namespace: song.ns}
		if _, err := s.Put(ctx, Entry{Key: k, Title: song.title, Artist: song.artist, Result: result(100)}); err != nil {
			t.Fatal(err)
		}
	}
	titles := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Title)
		}
		return out
	}
	check := func(q Query, want ...string) {
		t.Helper()
		es, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := titles(es); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("List(%+v) = %q, want %q", q, got, want)
		}
	}
	check(Query{Namespace: "default"}, "Delta", "Beta 100%", "Alpha")
	check(Query{Namespace: AllNamespaces}, "Delta", "Gamma_x", "Beta 100%", "Alpha")
	check(Query{Namespace: AllNamespaces, Limit: 2, Offset: 1}, "Gamma_x", "Beta 100%")
	check(Query{Namespace: AllNamespaces, Search: "zed"}, "Gamma_x", "Alpha")
	check(Query{Namespace: "default", Search: "zed"}, "Alpha")
	check(Query{Namespace: AllNamespaces, Search: "café"}, "Beta 100%")
	// LIKE wildcards in the query are literal.
	check(Query{Namespace: AllNamespaces, Search: "%"}, "Beta 100%")
	check(Query{Namespace: AllNamespaces, Search: "a_x"}, "Gamma_x")
	check(Query{Namespace: "nobody"})

	es, _ := s.List(ctx, Query{Namespace: "ios"})
	if err := s.Delete(ctx, es[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, es[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	if _, err := s.GetByID(ctx, es[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetByID of deleted = %v", err)
	}
	if n, err := s.Clear(ctx, "default"); err != nil || n != 3 {
		t.Fatalf("Clear(default) = %d, %v", n, err)
	}
	if n, _ := s.Count(ctx, AllNamespaces); n != 0 {
		t.Fatalf("after clear %d rows remain", n)
	}
}

// Many goroutines writing at once must all succeed: busy_timeout and WAL
// make SQLite queue them rather than fail with SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := Key{Hash: fmt.Sprint(i % 10), AnalyzerVersion: "v1", Namespace: "default"}
			if _, err := s.Put(ctx, Entry{Key: k, Result: result(float64(i))}); err != nil {
				errs <- err
			}
			if err := s.Add(ctx, "total", 1); err != nil {
				errs <- err
			}
			if _, _, err := s.Get(ctx, k); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c, _ := s.Counter(ctx, "total"); c.Value != n {
		t.Errorf("total = %d, want %d", c.Value, n)
	}
	if c, _ := s.Count(ctx, AllNamespaces); c != 10 {
		t.Errorf("rows = %d, want 10", c)
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	secret, k, err := s.CreateKey(ctx, "ios app")
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) < 40 || secret[:3] != "sf_" || k.Prefix != secret[:9] {
		t.Fatalf("key %q prefix %q", secret, k.Prefix)
	}
	secret2, _, err := s.CreateKey(ctx, "mac")
	if err != nil || secret2 == secret {
		t.Fatalf("second key %q, %v", secret2, err)
	}
	// Only the hash is stored.
	var stored string
	if err := s.db.QueryRow(`SELECT group_concat(hash || name || prefix) FROM api_keys`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, secret) || strings.Contains(stored, secret2) {
		t.Fatal("a full key is stored in the database")
	}
	got, err := s.CheckKey(ctx, secret)
	if err != nil || got.ID != k.ID || got.Name != "ios app" {
		t.Fatalf("CheckKey = %+v, %v", got, err)
	}
	if _, err := s.CheckKey(ctx, secret+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CheckKey(wrong) = %v", err)
	}
	if _, err := s.RevokeKey(ctx, "sf_"); err == nil {
		t.Fatal("an ambiguous prefix revoked a key")
	}
	if _, err := s.RevokeKey(ctx, fmt.Sprint(k.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckKey(ctx, secret); !errors.Is(err, ErrKeyRevoked) {
		t.Fatalf("CheckKey(revoked) = %v", err)
	}
	if _, err := s.RevokeKey(ctx, fmt.Sprint(k.ID)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking twice = %v", err)
	}
	if _, err := s.CheckKey(ctx, secret2); err != nil {
		t.Fatalf("other key affected: %v", err)
	}
	keys, err := s.Keys(ctx)
	if err != nil || len(keys) != 2 || !keys[0].Revoked() || keys[1].Revoked() {
		t.Fatalf("Keys = %+v, %v", keys, err)
	}
}

// A database path may hold the characters that end or escape the path in
// a SQLite URI or a DSN: the database must be the file named, opened with
// the DSN's settings, and not a file named by the part before the '?'.
func TestOpenPathWithURICharacters(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	path := filepath.Join(parent, "a?b#c%41 d", "cache.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var ms int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&ms); err != nil || ms != busyTimeout.Milliseconds() {
		t.Errorf("busy_timeout = %d, %v; want %d: the DSN's settings were lost", ms, err, busyTimeout.Milliseconds())
	}
	k := Key{Hash: "h", AnalyzerVersion: "v1", Namespace: "default"}
	if _, err := s.Put(ctx, Entry{Key: k, Result: result(120)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no database at the path given: %v", err)
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "a?b#c%41 d" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %q; want only the database's folder", parent, names)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok, err := s.Get(ctx, k); err != nil || !ok {
		t.Fatalf("after reopen Get = %v, %v; want the stored entry", ok, err)
	}
}

// Writers in one process must queue for each other however long the
// queue is, rather than each poll SQLite's lock until busy_timeout runs
// out and fail with SQLITE_BUSY (which the server logs as a lost cache
// write or counter). The timeout is made tiny here so that polling fails
// at once; busy_timeout remains for other processes' writes.
func TestWritersInOneProcessNeverBusy(t *testing.T) {
	saved := busyTimeout
	busyTimeout = time.Millisecond
	t.Cleanup(func() { busyTimeout = saved })
	ctx := context.Background()
	s, _ := openTemp(t)
	if err := s.EnsureFiles(ctx); err != nil {
		t.Fatal(err)
	}
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := Key{Hash: fmt.Sprint(i), AnalyzerVersion: "v1", Namespace: "default"}
			if _, err := s.Put(ctx, Entry{Key: k, Result: big}); err != nil {
				errs <- err
			}
			if err := s.Add(ctx, "total", 1); err != nil {
				errs <- err
			}
			f := File{Path: fmt.Sprintf("/music/%d.wav", i), Hash: k.Hash, AnalyzerVersion: "v1", State: FileDone}
			k.Namespace = "watch"
			if err := s.RecordFile(ctx, f, &Entry{Key: k, Result: big}); err != nil {
				errs <- err
			}
			if _, _, err := s.CreateKey(ctx, fmt.Sprint("key ", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	busy := 0
	for err := range errs {
		if busy++; busy <= 3 {
			t.Error(err)
		}
	}
	if busy > 0 {
		t.Fatalf("%d of %d writes failed", busy, 4*n)
	}
	if c, _ := s.Counter(ctx, "total"); c.Value != n {
		t.Errorf("total = %d, want %d", c.Value, n)
	}
}

// Search is documented as case-insensitive; SQLite's LIKE folds only
// ASCII, so a user typing "édith" or "кино" found nothing.
func TestSearchFoldsCaseBeyondASCII(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	s.now = clock()
	songs := []struct{ title, artist string }{
		{"La Vie en rose", "Édith Piaf"},
		{"Группа крови", "Кино"},
		{"Hyperballad", "BJÖRK"},
		{"Ace of Spades", "Motörhead"},
		// As macOS file names and tags may hold it: "e" + combining acute.
		{"Halo", "Beyonce\u0301"},
	}
	for i, song := range songs {
		k := Key{Hash: fmt.Sprint(i), AnalyzerVersion: "v1", Namespace: "default"}
		if _, err := s.Put(ctx, Entry{Key: k, Title: song.title, Artist: song.artist, Result: result(100)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ search, want string }{
		{"édith", "La Vie en rose"},
		{"ÉDITH PIAF", "La Vie en rose"},
		{"кино", "Группа крови"},
		{"ГРУППА", "Группа крови"},
		{"björk", "Hyperballad"},
		{"MOTÖRHEAD", "Ace of Spades"},
		{"vie EN", "La Vie en rose"},
		// Canonically equivalent spellings find each other.
		{"beyoncé", "Halo"},
		{"BEYONCE\u0301", "Halo"},
		{"e\u0301dith", "La Vie en rose"},
	} {
		es, err := s.List(ctx, Query{Namespace: AllNamespaces, Search: c.search})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Title != c.want {
			var got []string
			for _, e := range es {
				got = append(got, e.Title)
			}
			t.Errorf("search %q found %q, want [%q]", c.search, got, c.want)
		}
	}
}

// An empty address names no download: Verify("") must not mark every
// uploaded song (stored without a preview URL) as verified.
func TestVerifyEmptyURLMarksNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	k := Key{Hash: "upload", AnalyzerVersion: "v1", Namespace: "default"}
	id, err := s.Put(ctx, Entry{Key: k, Result: result(100)})
	if err != nil {
		t.Fatal(err)
	}
	bpm := 50.0
	if n, err := s.Verify(ctx, "", Verification{ManualBPM: &bpm}); err != nil || n != 0 {
		t.Fatalf("Verify(\"\") = %d, %v; want 0, nil", n, err)
	}
	if e, err := s.GetByID(ctx, id); err != nil || e.UserVerified || e.ManualBPM != nil {
		t.Fatalf("upload after Verify(\"\") = %+v, %v; want it unverified", e, err)
	}
}

// Two revocations of one key racing (two `songflow keys revoke`, or one
// and the server's process) must not both succeed: the second would
// report a revocation it did not make and move the recorded time.
func TestRevokeKeyRevokedMeanwhile(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	_, k, err := s.CreateKey(ctx, "ios app")
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	other.now = func() time.Time { return first }
	// RevokeKey reads the clock after finding the key and before writing:
	// the other revocation lands there.
	s.now = func() time.Time {
		s.now = time.Now
		if _, err := other.RevokeKey(ctx, fmt.Sprint(k.ID)); err != nil {
			t.Errorf("other RevokeKey: %v", err)
		}
		return first.Add(time.Hour)
	}
	if got, err := s.RevokeKey(ctx, fmt.Sprint(k.ID)); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeKey of a key revoked meanwhile = %+v, %v; want ErrNotFound", got, err)
	}
	keys, err := s.Keys(ctx)
	if err != nil || len(keys) != 1 || !keys[0].RevokedAt.Equal(first) {
		t.Fatalf("Keys = %+v, %v; want one key revoked at %v", keys, err, first)
	}
}

// Every failure names the database, so that one logged far from here (a
// full disk, a locked file, a cancelled request) says which file.
func TestErrorsNameDatabase(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.EnsureFiles(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := Key{Hash: "h", AnalyzerVersion: "v1", Namespace: "default"}
	calls := map[string]func() error{
		"Ping":        func() error { return s.Ping(ctx) },
		"JournalMode": func() error { _, err := s.JournalMode(ctx); return err },
		"Get":         func() error { _, _, err := s.Get(ctx, k); return err },
		"GetByID":     func() error { _, err := s.GetByID(ctx, 1); return err },
		"Put":         func() error { _, err := s.Put(ctx, Entry{Key: k, Result: result(1)}); return err },
		"List":        func() error { _, err := s.List(ctx, Query{Namespace: AllNamespaces, Search: "x"}); return err },
		"Count":       func() error { _, err := s.Count(ctx, AllNamespaces); return err },
		"Delete":      func() error { return s.Delete(ctx, 1) },
		"Clear":       func() error { _, err := s.Clear(ctx, AllNamespaces); return err },
		"Verify":      func() error { _, err := s.Verify(ctx, "https://x/a.m4a", Verification{}); return err },
		"Add":         func() error { return s.Add(ctx, "c", 1) },
		"Counter":     func() error { _, err := s.Counter(ctx, "c"); return err },
		"CreateKey":   func() error { _, _, err := s.CreateKey(ctx, "k"); return err },
		"Keys":        func() error { _, err := s.Keys(ctx); return err },
		"RevokeKey":   func() error { _, err := s.RevokeKey(ctx, "1"); return err },
		"CheckKey":    func() error { _, err := s.CheckKey(ctx, "sf_x"); return err },
		"EnsureFiles": func() error { return s.EnsureFiles(ctx) },
		"File":        func() error { _, _, err := s.File(ctx, "/a"); return err },
		"Files":       func() error { _, err := s.Files(ctx, "/"); return err },
		"FileWithContent": func() error {
			_, _, err := s.FileWithContent(ctx, "h", "v1")
			return err
		},
		"RecordFile": func() error {
			return s.RecordFile(ctx, File{Path: "/a", State: FileSkipped}, nil)
		},
		"ForgetFile":     func() error { return s.ForgetFile(ctx, "/a") },
		"IntegrityCheck": func() error { return s.IntegrityCheck(ctx) },
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), s.Path()) {
			t.Errorf("%s with a cancelled context: %v; want context.Canceled naming %s", name, err, s.Path())
		}
	}
}

// A write the disk has no room for fails with an error naming the
// database, and the database stays usable.
func TestFullDatabase(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	// max_page_count is a setting of the connection: keep to one.
	s.db.SetMaxOpenConns(1)
	var pages int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	k := Key{Hash: "big", AnalyzerVersion: "v1", Namespace: "default"}
	big := json.RawMessage(`{"pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	_, err := s.Put(ctx, Entry{Key: k, Result: big})
	if err == nil || !strings.Contains(err.Error(), "full") || !strings.Contains(err.Error(), s.Path()) {
		t.Fatalf("Put on a full database: %v; want a full-database error naming %s", err, s.Path())
	}
	if _, ok, err := s.Get(ctx, k); err != nil || ok {
		t.Fatalf("Get after the failed Put = %v, %v; want nothing stored", ok, err)
	}
	if _, err := s.Put(ctx, Entry{Key: Key{Hash: "small", AnalyzerVersion: "v1", Namespace: "default"}, Result: result(1)}); err != nil {
		t.Fatalf("small Put after the failed one: %v", err)
	}
}

// SetPreviewURL changes the address alone: a result stored after the
// caller last read the entry stays, where reading the entry and putting
// it back with the new address would restore the older result.
func TestSetPreviewURLKeepsNewerResult(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	k := Key{Hash: "song", AnalyzerVersion: "v1", Namespace: "default"}
	if _, err := s.Put(ctx, Entry{Key: k, PreviewURL: "https://a/1", Result: result(100)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, Entry{Key: k, Result: result(120)}); err != nil { // a reanalysis
		t.Fatal(err)
	}
	if ok, err := s.SetPreviewURL(ctx, k, "https://a/2"); err != nil || !ok {
		t.Fatalf("SetPreviewURL = %v, %v; want true, nil", ok, err)
	}
	e, ok, err := s.Get(ctx, k)
	if err != nil || !ok {
		t.Fatalf("Get: %v, %v", ok, err)
	}
	if e.PreviewURL != "https://a/2" || string(e.Result) != string(result(120)) {
		t.Errorf("after SetPreviewURL: url %q, result %s; want https://a/2 and the 120 BPM result", e.PreviewURL, e.Result)
	}
	other := Key{Hash: "absent", AnalyzerVersion: "v1", Namespace: "default"}
	if ok, err := s.SetPreviewURL(ctx, other, "https://a/3"); err != nil || ok {
		t.Errorf("SetPreviewURL of a missing entry = %v, %v; want false, nil", ok, err)
	}
}

// A db_path pointing at another program's SQLite database (the replaced
// Python server's cache, say) must be refused, naming the file, rather
// than have songflow's tables added to it. A database songflow made,
// before it marked its databases, still opens, and is marked.
func TestOpenRefusesAnotherProgramsDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	foreign := filepath.Join(dir, "songs.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE songs (title TEXT, artist TEXT, bpm REAL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, foreign)
	if err == nil {
		s.Close()
		t.Fatal("opened another program's database")
	}
	if msg := err.Error(); !strings.Contains(msg, foreign) || !strings.Contains(msg, "songs") {
		t.Errorf("error %q should name the file and its tables", msg)
	}
	db, err = sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'results'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("results table added to the foreign database: %d, %v", n, err)
	}

	// songflow's own, made before databases were marked: application_id 0.
	ours := filepath.Join(dir, "cache.db")
	s, err = Open(ctx, ours)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`PRAGMA application_id = 0`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, ours)
	if err != nil {
		t.Fatalf("reopen an unmarked songflow database: %v", err)
	}
	defer s.Close()
	var id int64
	if err := s.db.QueryRow(`PRAGMA application_id`).Scan(&id); err != nil || id != applicationID {
		t.Errorf("application_id %d, %v; want %d", id, err, applicationID)
	}
}
