package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/sinks"
	"github.com/songflow/songflow/sources"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// stubAnalyser stands in for the pipeline: it answers every job with
// res (and err) without reading anything.
type stubAnalyser struct {
	mu     sync.Mutex
	jobs   []string
	res    stages.Result
	err    error
	during func(job stages.Job) // when not nil, called inside Analyze
}

func (f *stubAnalyser) Analyze(ctx context.Context, job stages.Job) (stages.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, job.Name)
	if f.during != nil {
		f.during(job)
	}
	return f.res, f.err
}

// newUnitWatch is a folderWatch over a fresh temp folder with its own
// store and results file, analysing with an; nothing runs until the test
// calls its methods.
func newUnitWatch(t *testing.T, an watchAnalyser) (*folderWatch, *running) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "music")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(root, "songflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureFiles(ctx); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	jl, err := sinks.OpenJSONL(filepath.Join(out, watchResultsFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jl.Close() })
	work, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	logs := &running{out: &watchLog{}, err: &watchLog{}}
	return &folderWatch{
		dir: dir, out: out, db: filepath.Join(root, "songflow.db"),
		st: st, jl: jl, an: an, version: "test-version",
		log: &lockedWriter{w: logs.out}, errLog: &lockedWriter{w: logs.err},
		work: work, cancelWork: cancel,
		claims: map[string]chan struct{}{},
	}, logs
}

// settledEvent is the event a Watcher sends for the file at path as it is
// now.
func settledEvent(t *testing.T, path string) sources.Event {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return sources.Event{Kind: sources.Settled, Path: path, Size: fi.Size(), ModTime: fi.ModTime(), Identity: sources.Identity(fi)}
}

// sparseFile makes a file of size bytes that starts with head and holds
// no disk blocks beyond it.
func sparseFile(t *testing.T, path string, head []byte, size int64) {
	t.Helper()
	if err := os.WriteFile(path, head, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// TestWatchProcessStreamsBigFiles drops a big file that is not audio and
// a big WAV into the folder: each is hashed and recorded without being
// held in memory whole (before, every worker read its file whole, so a
// film or disk image in the folder cost its size in RAM).
func TestWatchProcessStreamsBigFiles(t *testing.T) {
	const size = 256 << 20
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major", Duration: 60}}
	w, logs := newUnitWatch(t, an)

	film := filepath.Join(w.dir, "film.mkv")
	sparseFile(t, film, []byte("not a song at all"), size)
	wav := filepath.Join(w.dir, "long.wav")
	hdr := make([]byte, 44)
	copy(hdr, "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], size-8)
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1)     // PCM
	binary.LittleEndian.PutUint16(hdr[22:], 2)     // channels
	binary.LittleEndian.PutUint32(hdr[24:], 44100) // rate
	binary.LittleEndian.PutUint32(hdr[28:], 44100*4)
	binary.LittleEndian.PutUint16(hdr[32:], 4)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], size-44)
	sparseFile(t, wav, hdr, size)

	for _, path := range []string{film, wav} {
		ev := settledEvent(t, path)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		w.process(ev)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > size/4 {
			t.Errorf("%s: processing a %d MiB file allocated %d MiB", w.rel(path), size>>20, grew>>20)
		}
	}
	if s := logs.err.String(); s != "" {
		t.Errorf("errors: %s", s)
	}
	for path, want := range map[string]store.FileState{film: store.FileSkipped, wav: store.FileDone} {
		rec, ok, err := w.st.File(context.Background(), path)
		if err != nil || !ok || rec.State != want {
			t.Fatalf("%s: record %+v, %v, %v; want state %s", w.rel(path), rec, ok, err, want)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		hash, _, err := store.HashReader(f)
		f.Close()
		if err != nil || rec.Hash != hash {
			t.Errorf("%s: hash %s, want %s (%v)", w.rel(path), rec.Hash, hash, err)
		}
	}
	if len(an.jobs) != 1 || an.jobs[0] != wav || !w.jl.Has("long.wav", mustRecord(t, w, wav).Hash, w.version) {
		t.Errorf("analysed %v, want only %s with its line in results.jsonl", an.jobs, wav)
	}
}

func mustRecord(t *testing.T, w *folderWatch, path string) store.File {
	t.Helper()
	rec, ok, err := w.st.File(context.Background(), path)
	if err != nil || !ok {
		t.Fatalf("%s: no record (%v)", path, err)
	}
	return rec
}

// TestWatchProcessFileChangedDuringAnalysis: the analysis reads the file
// from disk after it was hashed, so a file rewritten meanwhile must not
// have that result (or failure) recorded under the old bytes' hash; it
// settles again and comes back.
func TestWatchProcessFileChangedDuringAnalysis(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	for _, fail := range []bool{false, true} {
		an := analyserThat(fail)
		w, logs := newUnitWatch(t, an)
		path := putSong(t, w, "a.wav", song)
		an.during = func(stages.Job) {
			if err := os.WriteFile(path, variant(song, 1)[:len(song)-100], 0o644); err != nil {
				t.Error(err)
			}
		}
		w.process(settledEvent(t, path))
		if len(an.jobs) != 1 {
			t.Fatalf("analysed %d times, want once", len(an.jobs))
		}
		if rec, ok, err := w.st.File(context.Background(), path); err != nil || ok {
			t.Errorf("fail=%v: recorded %+v (%v) for a file rewritten during its analysis", fail, rec, err)
		}
		if w.jl.Len() != 0 || logs.out.count("song", "") != 0 || logs.out.count("failed", "") != 0 {
			t.Errorf("fail=%v: %d lines; log:\n%s", fail, w.jl.Len(), logs.out)
		}
	}
}

// TestWatchSymlinkedFolder watches a folder through a symlink, with the
// output folder inside it reached through the same link: its songs are
// analysed (before, the walk did not enter the link and nothing was ever
// found), and the watcher's own files are left alone.
func TestWatchSymlinkedFolder(t *testing.T) {
	e := newWatchEnv(t, 0.3, 60)
	link := filepath.Join(e.root, "link")
	if err := os.Symlink(e.dir, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	// The output folder sorts before the songs, so a watcher that reads
	// its own files does so before it analyses b.wav.
	via := watchEnv{root: e.root, dir: link, out: filepath.Join(link, "0out"), db: e.db, cfg: e.cfg}
	e.put(t, "a.wav", calibrationSong(t, "01-adagio-c-major.wav"))
	r := startWatch(t, via)
	waitUntil(t, "a.wav", func() bool { return hasState(t, e, "a.wav", store.FileDone) })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}

	// The second run finds results.jsonl, summary.md and the plots in
	// the tree at its first scan.
	r2 := startWatch(t, via)
	waitUntil(t, "the watcher to start", func() bool { return r2.out.count("watching", "") == 1 })
	e.put(t, "b.wav", calibrationSong(t, "05-shuffle-d-major.wav"))
	waitUntil(t, "b.wav", func() bool { return hasState(t, e, "b.wav", store.FileDone) })
	if code := r2.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r2.err)
	}
	if fs := files(t, e); len(fs) != 2 {
		t.Errorf("records %v, want a.wav and b.wav only", fs)
	}
	for _, log := range []*watchLog{r.out, r2.out} {
		if log.count("skipped", "") != 0 {
			t.Errorf("the watcher read its own files:\n%s", log)
		}
	}
	if lines := jsonlLines(t, via); len(lines) != 2 {
		t.Errorf("results.jsonl has %d lines, want 2", len(lines))
	}
}

// TestWatchProcessStoreErrorsNameTheFile: a store that cannot give back a
// result is reported with the file it was for. Before, one such error was
// dropped without a word (the file was silently never looked at again in
// this run) and another named only a content hash.
func TestWatchProcessStoreErrorsNameTheFile(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	w, logs := newUnitWatch(t, an)
	ctx := context.Background()

	// A done file whose stored result can no longer be read back.
	done := putSong(t, w, "done.wav", song)
	w.process(settledEvent(t, done))
	if len(an.jobs) != 1 || !hasRecord(t, w, done, store.FileDone) {
		t.Fatalf("done.wav: analysed %v", an.jobs)
	}
	db, err := sql.Open("sqlite", w.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `UPDATE results SET analyzed_at = 'not a time'`); err != nil {
		t.Fatal(err)
	}
	w.process(settledEvent(t, done))
	if s := logs.err.String(); !strings.Contains(s, "done.wav: ") || !strings.Contains(s, "not a time") {
		t.Errorf("an unreadable result of done.wav was reported as %q", s)
	}

	// A new file whose content has a stored result that is not a result.
	other := variant(song, 1)
	if _, err := w.st.Put(ctx, store.Entry{Key: w.key(store.HashContent(other)), Result: []byte(`[1]`)}); err != nil {
		t.Fatal(err)
	}
	path := putSong(t, w, "other.wav", other)
	w.process(settledEvent(t, path))
	if s := logs.err.String(); !strings.Contains(s, "other.wav: ") {
		t.Errorf("a bad stored result for other.wav was reported as %q", s)
	}
}

func hasRecord(t *testing.T, w *folderWatch, path string, s store.FileState) bool {
	t.Helper()
	rec, ok, err := w.st.File(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return ok && rec.State == s
}

// TestWatchResultLineAfterClearedCache: a kill between a result's commit
// and its line in results.jsonl, then the watch namespace cleared through
// the server before the restart. The restart cannot recover the line (the
// result is gone) and analyses the file again; the new result must get
// its line. Before, the key was already journaled, so no line was ever
// written.
func TestWatchResultLineAfterClearedCache(t *testing.T) {
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	w, _ := newUnitWatch(t, an)
	ctx := context.Background()
	path := putSong(t, w, "a.wav", calibrationSong(t, "01-adagio-c-major.wav"))
	w.process(settledEvent(t, path))
	hash := mustRecord(t, w, path).Hash
	if !w.jl.Has("a.wav", hash, w.version) {
		t.Fatal("no line after the first analysis")
	}

	// The kill: the line never made it. Then the cache is cleared.
	reopenResults(t, w, []byte{})
	if _, err := w.st.Clear(ctx, store.WatchNamespace); err != nil {
		t.Fatal(err)
	}

	// The restart.
	if err := w.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	w.process(settledEvent(t, path))
	if len(an.jobs) != 2 {
		t.Fatalf("analysed %d times, want twice (the result was cleared)", len(an.jobs))
	}
	if !w.jl.Has("a.wav", hash, w.version) {
		t.Fatal("the new result has no line in results.jsonl")
	}
}

// replaceKeepingTime renames a new file holding data over path, with
// path's modification time, as `mv` of a `cp -p` copy leaves it.
func replaceKeepingTime(t *testing.T, path string, data []byte) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if now, err := os.Stat(path); err != nil || now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("replacement of %s changed its size or time (%v)", path, err)
	}
}

// TestWatchProcessReplacedFile: a file renamed over a recorded one with
// the same size and modification time is read and, its bytes being new,
// analysed (before, size and time matched the record and it was skipped
// unread); replaced again by the same bytes it is read but not analysed,
// and not logged; untouched, it is not even read.
func TestWatchProcessReplacedFile(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	w, logs := newUnitWatch(t, an)
	path := putSong(t, w, "a.wav", song)
	w.process(settledEvent(t, path))
	first := mustRecord(t, w, path)
	if first.Identity == "" {
		t.Skip("no file identity on this system")
	}

	// Untouched: the record is not written again, so the file was not
	// hashed.
	w.process(settledEvent(t, path))
	if rec := mustRecord(t, w, path); len(an.jobs) != 1 || !rec.UpdatedAt.Equal(first.UpdatedAt) {
		t.Fatalf("untouched file: analysed %d times, record rewritten %v; want once, not rewritten", len(an.jobs), !rec.UpdatedAt.Equal(first.UpdatedAt))
	}

	other := variant(song, 1)
	replaceKeepingTime(t, path, other)
	w.process(settledEvent(t, path))
	rec := mustRecord(t, w, path)
	if len(an.jobs) != 2 || rec.Hash != store.HashContent(other) || rec.Identity == first.Identity {
		t.Fatalf("after a replacement with other bytes: analysed %d times, hash %s identity %q; want twice, %s, not %q",
			len(an.jobs), rec.Hash, rec.Identity, store.HashContent(other), first.Identity)
	}
	if !w.jl.Has("a.wav", rec.Hash, w.version) {
		t.Error("the new bytes' result has no line in results.jsonl")
	}

	replaceKeepingTime(t, path, other)
	ev := settledEvent(t, path)
	w.process(ev)
	again := mustRecord(t, w, path)
	if len(an.jobs) != 2 || again.Identity != ev.Identity || again.Hash != rec.Hash {
		t.Fatalf("after a replacement with the same bytes: analysed %d times, record %+v; want twice, identity %q", len(an.jobs), again, ev.Identity)
	}
	if n := logs.out.count("song", "") + logs.out.count("same", ""); n != 2 || logs.err.String() != "" {
		t.Errorf("log:\n%s\nerrors:\n%s", logs.out, logs.err)
	}
}

// TestWatchReconcileKeepsToItsFolder: two folders watched into their own
// output folders with one store (the default db_path is shared). Before,
// the start of the second wrote every result the first had ever stored
// into its own results.jsonl, as "recovered"; a result of its own folder
// lost in a kill is still written again.
func TestWatchReconcileKeepsToItsFolder(t *testing.T) {
	ctx := context.Background()
	song := calibrationSong(t, "01-adagio-c-major.wav")
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	w, _ := newUnitWatch(t, an)
	a := putSong(t, w, "a.wav", song)
	w.process(settledEvent(t, a))
	if !hasRecord(t, w, a, store.FileDone) {
		t.Fatal("a.wav not analysed")
	}

	root := t.TempDir()
	dir := filepath.Join(root, "other music")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(root, "other out", watchResultsFile)
	openOther := func() *folderWatch {
		jl, err := sinks.OpenJSONL(jpath, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { jl.Close() })
		logs := &running{out: &watchLog{}, err: &watchLog{}}
		return &folderWatch{
			dir: dir, out: filepath.Dir(jpath), db: w.db,
			st: w.st, jl: jl, an: an, version: w.version,
			log: &lockedWriter{w: logs.out}, errLog: &lockedWriter{w: logs.err},
			work: w.work, cancelWork: w.cancelWork,
			claims: map[string]chan struct{}{},
		}
	}
	other := openOther()
	if err := other.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n := other.jl.Len(); n != 0 {
		t.Fatalf("the other folder's results.jsonl holds %d results of the first folder, want none", n)
	}
	b := filepath.Join(dir, "b.wav")
	if err := os.WriteFile(b, variant(song, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	other.process(settledEvent(t, b))
	bHash := mustRecord(t, other, b).Hash
	if !other.jl.Has("b.wav", bHash, w.version) || other.jl.Len() != 1 {
		t.Fatalf("after b.wav: %d lines, b's %v; want b's only", other.jl.Len(), other.jl.Has("b.wav", bHash, w.version))
	}

	// A kill took b's line: the next start writes it again, and only it.
	if err := other.jl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jpath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	again := openOther()
	if err := again.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if !again.jl.Has("b.wav", bHash, w.version) || again.jl.Len() != 1 {
		t.Fatalf("after the restart: %d lines, b's %v; want b's only", again.jl.Len(), again.jl.Has("b.wav", bHash, w.version))
	}
}

// failRecords makes the store refuse every record of a file, as a full
// disk would, until the returned function is called.
func failRecords(t *testing.T, db string) (restore func()) {
	t.Helper()
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	exec := func(q string) {
		t.Helper()
		if _, err := conn.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TRIGGER full_disk BEFORE INSERT ON watch_files BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`)
	return func() { exec(`DROP TRIGGER full_disk`) }
}

// TestWatchProcessStoreFailureIsRetried: a file whose record the store
// refuses asks to be tried again (before, it was given up on until it
// changed), and the next try records the analysis made the first time
// instead of analysing again.
func TestWatchProcessStoreFailureIsRetried(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	for _, fail := range []bool{false, true} {
		an := analyserThat(fail)
		w, logs := newUnitWatch(t, an)
		path := putSong(t, w, "a.wav", song)
		restore := failRecords(t, w.db)
		if retry := w.process(settledEvent(t, path)); !retry {
			t.Fatalf("fail=%v: the store refused the record, yet no retry asked for", fail)
		}
		if rec, ok, err := w.st.File(context.Background(), path); err != nil || ok {
			t.Fatalf("fail=%v: recorded %+v (%v) though the store refused", fail, rec, err)
		}
		restore()
		if retry := w.process(settledEvent(t, path)); retry {
			t.Fatalf("fail=%v: the store works again, yet a retry asked for:\n%s", fail, logs.err)
		}
		want := store.FileDone
		if fail {
			want = store.FileFailed
		}
		if !hasRecord(t, w, path, want) || len(an.jobs) != 1 {
			t.Fatalf("fail=%v: after the retry, record %+v, analysed %d times; want %s, once", fail, mustRecord(t, w, path), len(an.jobs), want)
		}
		if n := logs.out.count("song", "a.wav") + logs.out.count("failed", "a.wav"); n != 1 || (!fail && w.jl.Len() != 1) {
			t.Fatalf("fail=%v: logged %d times, %d lines:\n%s", fail, n, w.jl.Len(), logs.out)
		}
	}
}

// putSong writes data as the song name in w's folder and returns its path.
func putSong(t *testing.T, w *folderWatch, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// resultHashes returns the content hashes of the results in the file at
// w's results.jsonl, in order.
func resultHashes(t *testing.T, w *folderWatch) []string {
	t.Helper()
	var hs []string
	for _, l := range jsonlLines(t, watchEnv{out: w.out}) {
		hs = append(hs, l.ContentHash)
	}
	return hs
}

// fileLines returns the lines of w's results.jsonl as "file content_hash",
// in order.
func fileLines(t *testing.T, w *folderWatch) []string {
	t.Helper()
	var ls []string
	for _, l := range jsonlLines(t, watchEnv{out: w.out}) {
		ls = append(ls, l.File+" "+l.ContentHash)
	}
	return ls
}

// newestLine returns the newest line of w's results.jsonl naming file,
// as a reader taking the newest line per file sees it.
func newestLine(t *testing.T, w *folderWatch, file string) (sinks.Line, bool) {
	t.Helper()
	var newest sinks.Line
	found := false
	for _, l := range jsonlLines(t, watchEnv{out: w.out}) {
		if l.File == file {
			newest, found = l, true
		}
	}
	return newest, found
}

// bpmByContent stands in for the pipeline: it reads the song and answers
// with the tempo given for its bytes, so that a line tells which bytes it
// is of.
type bpmByContent struct {
	mu   sync.Mutex
	bpm  map[string]float64 // by content hash
	jobs []string
}

func (a *bpmByContent) Analyze(ctx context.Context, job stages.Job) (stages.Result, error) {
	data, err := os.ReadFile(job.Name)
	if err != nil {
		return stages.Result{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jobs = append(a.jobs, job.Name)
	return stages.Result{BPM: a.bpm[store.HashContent(data)], Key: "C Major"}, nil
}

func (a *bpmByContent) analysed() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.jobs)
}

// rewrite writes data over the song at path in place and gives it the
// modification time base+n seconds: each rewrite another time, so that
// the record's size and time never match by chance.
func rewrite(t *testing.T, path string, data []byte, base time.Time, n int) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Duration(n) * time.Second)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestWatchProcessFileChangedBack is QA's first case: x.wav holds song
// A (104 BPM), then song B (142), then A's bytes again. Each time the
// newest line naming x.wav is x.wav's result now, A's the last time,
// though A is not analysed again; a restart writes nothing more, and a
// results.jsonl made afresh from the store says the same. Before, the
// third time wrote no line (A's result was in the file, under x.wav's
// first line), and the newest line naming x.wav said 142 BPM.
func TestWatchProcessFileChangedBack(t *testing.T) {
	song := calibrationSong(t, "05-shuffle-d-major.wav")
	a, b := song, variant(song, 1)
	an := &bpmByContent{bpm: map[string]float64{store.HashContent(a): 104, store.HashContent(b): 142}}
	w, logs := newUnitWatch(t, an)
	x := filepath.Join(w.dir, "x.wav")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, step := range []struct {
		data     []byte
		bpm      float64
		analysed int
	}{{a, 104, 1}, {b, 142, 2}, {a, 104, 2}} {
		rewrite(t, x, step.data, base, i)
		if retry := w.process(settledEvent(t, x)); retry {
			t.Fatalf("step %d: a retry asked for:\n%s", i, logs.err)
		}
		l, ok := newestLine(t, w, "x.wav")
		if !ok || l.BPM != step.bpm || l.ContentHash != store.HashContent(step.data) || an.analysed() != step.analysed {
			t.Fatalf("step %d: newest line naming x.wav %+v (found %v), %d analyses; want %g BPM, %d analyses\nlog:\n%s",
				i, l, ok, an.analysed(), step.bpm, step.analysed, logs.out)
		}
	}
	if got := len(fileLines(t, w)); got != 3 {
		t.Errorf("results.jsonl holds %d lines, want 3: %q", got, fileLines(t, w))
	}
	if logs.out.count("same", "x.wav") != 1 {
		t.Errorf("log:\n%s", logs.out)
	}

	// A restart finds nothing to add.
	if err := w.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(fileLines(t, w)); got != 3 || logs.out.count("recovered", "") != 0 {
		t.Errorf("after a restart: %d lines, log:\n%s", got, logs.out)
	}
	// Made afresh from the store, the file says the same of x.wav.
	reopenResults(t, w, []byte{})
	if err := w.reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, ok := newestLine(t, w, "x.wav"); !ok || l.BPM != 104 || len(fileLines(t, w)) != 1 {
		t.Errorf("made afresh: %q, newest line naming x.wav %+v; want one line, 104 BPM", fileLines(t, w), l)
	}
}

// reopenResults closes w's results.jsonl and opens it again, as a
// restart does; content, when not nil, first replaces the whole file (an
// empty one: what a kill before the first line leaves).
func reopenResults(t *testing.T, w *folderWatch, content []byte) {
	t.Helper()
	path := filepath.Join(w.out, watchResultsFile)
	if err := w.jl.Close(); err != nil {
		t.Fatal(err)
	}
	if content != nil {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	jl, err := sinks.OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jl.Close() })
	w.jl = jl
}

// TestWatchReconcileRenamesAndCopies is QA's second case: a.wav is
// analysed, then renamed to b.wav and copied to c.wav. b.wav and c.wav
// get lines of their own as they are seen, with nothing analysed again;
// and where an older songflow left the file with a.wav's line only, the
// next start (reconcile) writes b.wav's and c.wav's, and the start after
// it nothing. Before, the only line named a.wav, which is gone.
func TestWatchReconcileRenamesAndCopies(t *testing.T) {
	ctx := context.Background()
	song := calibrationSong(t, "05-shuffle-d-major.wav")
	hash := store.HashContent(song)
	an := &bpmByContent{bpm: map[string]float64{hash: 104}}
	w, logs := newUnitWatch(t, an)
	a := putSong(t, w, "a.wav", song)
	w.process(settledEvent(t, a))
	jpath := filepath.Join(w.out, watchResultsFile)
	onlyA, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}

	b, c := filepath.Join(w.dir, "b.wav"), filepath.Join(w.dir, "c.wav")
	if err := os.Rename(a, b); err != nil {
		t.Fatal(err)
	}
	putSong(t, w, "c.wav", song)
	w.forget(a) // the watcher's Removed event
	w.process(settledEvent(t, b))
	w.process(settledEvent(t, c))
	want := []string{"a.wav " + hash, "b.wav " + hash, "c.wav " + hash}
	if got := fileLines(t, w); !slices.Equal(got, want) || an.analysed() != 1 {
		t.Fatalf("after the rename and the copy: %q, %d analyses; want %q, 1\nerrors:\n%s", got, an.analysed(), want, logs.err)
	}

	// The file as an older songflow left it: a.wav's line only.
	reopenResults(t, w, onlyA)
	if err := w.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fileLines(t, w); !slices.Equal(got, want) {
		t.Fatalf("after reconcile: %q, want %q", got, want)
	}
	for _, f := range []string{"b.wav", "c.wav"} {
		if l, ok := newestLine(t, w, f); !ok || l.BPM != 104 {
			t.Errorf("%s: newest line %+v (found %v), want 104 BPM", f, l, ok)
		}
	}
	if n := logs.out.count("recovered", ""); n != 1 || !strings.Contains(logs.out.String(), "recovered 2 results") {
		t.Errorf("log:\n%s", logs.out)
	}

	// The next start, and a reconcile in the same run, add nothing.
	reopenResults(t, w, nil)
	for range 2 {
		if err := w.reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := fileLines(t, w); !slices.Equal(got, want) || logs.out.count("recovered", "") != 1 || an.analysed() != 1 {
		t.Errorf("after another start: %q, %d analyses; want %q, 1\nlog:\n%s", got, an.analysed(), want, logs.out)
	}
}

// TestWatchProcessAfterResultsFileRemoved: results.jsonl is deleted while
// the watch runs. A copy of a song analysed before, then a new song, get
// their lines in the file at the path, and writing back the folder's
// results (what the watch does when the file is switched) adds the line
// of the file only the deleted file had, a.wav's, and repeats none.
// Before, the copy's line was taken for written (it was, in the deleted
// file) and the new song's went to the deleted file.
func TestWatchProcessAfterResultsFileRemoved(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	w, logs := newUnitWatch(t, an)
	w.process(settledEvent(t, putSong(t, w, "a.wav", song)))
	if err := os.Remove(filepath.Join(w.out, watchResultsFile)); err != nil {
		t.Fatal(err)
	}
	w.process(settledEvent(t, putSong(t, w, "copy of a.wav", song)))
	w.process(settledEvent(t, putSong(t, w, "b.wav", variant(song, 1))))
	// Twice: the second finds nothing to add.
	for range 2 {
		if err := w.reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a, b := store.HashContent(song), store.HashContent(variant(song, 1))
	want := []string{"copy of a.wav " + a, "b.wav " + b, "a.wav " + a}
	if got := fileLines(t, w); !slices.Equal(got, want) || len(an.jobs) != 2 {
		t.Fatalf("results.jsonl holds %q after %d analyses, want %q after 2\nerrors:\n%s", got, len(an.jobs), want, logs.err)
	}
}

// nextStart is w as the watcher's next start over the same folder, store
// and results file sees it: none of this run's own state.
func nextStart(w *folderWatch) *folderWatch {
	return &folderWatch{
		dir: w.dir, out: w.out, db: w.db,
		st: w.st, jl: w.jl, an: w.an, version: w.version,
		log: w.log, errLog: w.errLog,
		work: w.work, cancelWork: w.cancelWork,
		claims: map[string]chan struct{}{},
	}
}

// TestWatchProcessTimeoutRetriedAtNextStart: a song whose deadline passed
// (analysis.song_timeout) is not failed for good: the machine may have
// been busy. It is not tried again in the same run, however often it
// comes back unchanged, and a copy of it gets a try of its own; the next
// start tries it again. Before, it was recorded as failed like a corrupt
// file, and never analysed again until it changed.
func TestWatchProcessTimeoutRetriedAtNextStart(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	for _, timeout := range []error{
		&pipeline.StageError{Stage: "fft", Song: "a.wav", Err: fmt.Errorf("%w (%v)", pipeline.ErrTimeout, 2*time.Minute)},
		fmt.Errorf("analyze a.wav: %w", context.DeadlineExceeded),
	} {
		an := &stubAnalyser{err: timeout}
		w, logs := newUnitWatch(t, an)
		a := putSong(t, w, "a.wav", song)
		w.process(settledEvent(t, a))
		w.process(settledEvent(t, a)) // a chmod, say
		if rec := mustRecord(t, w, a); rec.State != store.FileTimedOut || rec.Error != timeout.Error() || len(an.jobs) != 1 {
			t.Errorf("%v: record %+v after %d analyses; want timed out, after 1", timeout, rec, len(an.jobs))
		}
		if logs.out.count("timed out", "a.wav") != 1 || logs.out.count("failed", "") != 0 {
			t.Errorf("%v: log:\n%s", timeout, logs.out)
		}
		cp := putSong(t, w, "copy of a.wav", song)
		w.process(settledEvent(t, cp))
		if len(an.jobs) != 2 {
			t.Errorf("%v: the copy of a song that timed out was analysed %d times, want once", timeout, len(an.jobs)-1)
		}

		an.err, an.res = nil, stages.Result{BPM: 120, Key: "C Major"}
		next := nextStart(w)
		next.process(settledEvent(t, a))
		next.process(settledEvent(t, cp))
		if !hasRecord(t, w, a, store.FileDone) || !hasRecord(t, w, cp, store.FileDone) || len(an.jobs) != 3 {
			t.Errorf("%v: next start: a %+v, copy %+v after %d analyses; want both done after 3", timeout, mustRecord(t, w, a), mustRecord(t, w, cp), len(an.jobs))
		}
		// One result, a line for each file that has it.
		h := store.HashContent(song)
		if got := fileLines(t, w); !slices.Equal(got, []string{"a.wav " + h, "copy of a.wav " + h}) {
			t.Errorf("%v: results.jsonl holds %q", timeout, got)
		}
		if logs.err.String() != "" {
			t.Errorf("%v: errors:\n%s", timeout, logs.err)
		}
	}
}

// TestWatchProcessCorruptStaysFailed: a file the analysis rejects is
// failed until it changes, across starts too.
func TestWatchProcessCorruptStaysFailed(t *testing.T) {
	an := &stubAnalyser{err: errors.New(`decode: song "bad.flac": corrupt`)}
	w, _ := newUnitWatch(t, an)
	bad := putSong(t, w, "bad.flac", calibrationSong(t, "01-adagio-c-major.wav"))
	w.process(settledEvent(t, bad))
	nextStart(w).process(settledEvent(t, bad))
	if !hasRecord(t, w, bad, store.FileFailed) || len(an.jobs) != 1 {
		t.Fatalf("record %+v after %d analyses; want failed after 1", mustRecord(t, w, bad), len(an.jobs))
	}
}

// TestWatchProcessRetriesTimeoutRecordedAsFailed: a song an older
// songflow recorded as failed because its deadline passed is tried again
// at the next start, like one recorded as timed out.
func TestWatchProcessRetriesTimeoutRecordedAsFailed(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	w, _ := newUnitWatch(t, an)
	a := putSong(t, w, "a.wav", song)
	ev := settledEvent(t, a)
	old := store.File{Path: a, Size: ev.Size, ModTime: ev.ModTime, Identity: ev.Identity, Hash: store.HashContent(song),
		AnalyzerVersion: w.version, State: store.FileFailed, Error: `fft: song "` + a + `": song deadline passed (2m0s)`}
	if err := w.st.RecordFile(context.Background(), old, nil); err != nil {
		t.Fatal(err)
	}
	w.process(ev)
	if !hasRecord(t, w, a, store.FileDone) || len(an.jobs) != 1 {
		t.Fatalf("record %+v after %d analyses; want done after 1", mustRecord(t, w, a), len(an.jobs))
	}
}

// TestWatchProcessAbandonedIsNotRecorded: a song whose analysis was
// cancelled, by the stop or by the pipeline closing under it, says nothing
// about the file: nothing is recorded, and the next start analyses it.
// Before, a song the pipeline closed under was recorded as failed.
func TestWatchProcessAbandonedIsNotRecorded(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	for _, stop := range []bool{true, false} {
		an := &stubAnalyser{err: fmt.Errorf(`song "a.wav": %w`, pipeline.ErrClosed)}
		w, logs := newUnitWatch(t, an)
		if stop {
			an.err = fmt.Errorf(`song "a.wav": %w`, context.Canceled)
			an.during = func(stages.Job) { w.cancelWork() }
		}
		a := putSong(t, w, "a.wav", song)
		if retry := w.process(settledEvent(t, a)); retry {
			t.Errorf("stop=%v: a retry asked for", stop)
		}
		if rec, ok, err := w.st.File(context.Background(), a); err != nil || ok {
			t.Errorf("stop=%v: recorded %+v (%v)", stop, rec, err)
		}
		if s := logs.out.String(); strings.Contains(s, "failed") {
			t.Errorf("stop=%v: log:\n%s", stop, s)
		}
	}
}

// TestWatchProcessStopsHashingAtStop: a stop ends the reading of a file
// as it ends an analysis, so that the watcher exits within --stop-timeout
// whatever it was reading. Before, a file was hashed to its end whatever
// happened: a 40 GB disk image dropped into the folder held a stop with a
// 1 s grace for four minutes, and was then recorded as skipped.
func TestWatchProcessStopsHashingAtStop(t *testing.T) {
	an := &stubAnalyser{}
	w, logs := newUnitWatch(t, an)
	img := filepath.Join(w.dir, "disk.img")
	sparseFile(t, img, []byte("not a song at all"), 1<<40) // hashing it all takes minutes
	ev := settledEvent(t, img)
	done := make(chan bool)
	go func() { done <- w.process(ev) }()
	time.Sleep(50 * time.Millisecond) // reading by now
	w.cancelWork()
	select {
	case retry := <-done:
		if retry {
			t.Error("a retry asked for")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still reading the file 10 s after the stop")
	}
	if rec, ok, err := w.st.File(context.Background(), img); err != nil || ok {
		t.Errorf("recorded %+v (%v); want nothing, the file is read again at the next start", rec, err)
	}
	if s := logs.err.String() + logs.out.String(); s != "" {
		t.Errorf("log:\n%s", s)
	}
	if len(an.jobs) != 0 {
		t.Errorf("analysed %v", an.jobs)
	}
}

// TestWatchProcessWaitFromArrival: the report's wait from a file's last
// write to its result is measured from its arrival when it came with an
// older modification time (moved in, copied with cp -p, unpacked, or in
// the folder before the watcher started). Before, it was measured from
// the modification time alone: a song moved in with a date from 2019 had
// waited six years, and the report's median said so.
func TestWatchProcessWaitFromArrival(t *testing.T) {
	w, _ := newUnitWatch(t, &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}})
	a := putSong(t, w, "a.wav", calibrationSong(t, "01-adagio-c-major.wav"))
	old := time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(a, old, old); err != nil {
		t.Fatal(err)
	}
	ev := settledEvent(t, a)
	ev.Since = time.Now().Add(-2 * time.Second) // seen arriving, settled since
	w.process(ev)
	if len(w.waits) != 1 || w.waits[0] < 2*time.Second || w.waits[0] > time.Minute {
		t.Errorf("waits %v; want one of 2 s and a little", w.waits)
	}
}

// analyserThat is a stub analyser that finds 120 BPM in C major or, when
// fail is set, fails as on a corrupt file.
func analyserThat(fail bool) *stubAnalyser {
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	if fail {
		an.err = errors.New("decode: corrupt")
	}
	return an
}

// TestWatchProcessNoTempoLine: a song with no tempo (a steady tone, bpm
// 0) is a result like any other, kept in results.jsonl with bpm 0, and
// its console line says it has none, as for a song with no key ("-"),
// rather than printing a tempo of 0.0 as if one had been measured.
func TestWatchProcessNoTempoLine(t *testing.T) {
	an := &stubAnalyser{res: stages.Result{BPM: 0, Key: ""}}
	w, logs := newUnitWatch(t, an)
	a := putSong(t, w, "drone.aiff", calibrationSong(t, "01-adagio-c-major.wav"))
	w.process(settledEvent(t, a))
	if !hasRecord(t, w, a, store.FileDone) || len(resultHashes(t, w)) != 1 {
		t.Fatalf("record %+v, %d lines in results.jsonl; want done and 1", mustRecord(t, w, a), len(resultHashes(t, w)))
	}
	if s := logs.out.String(); !strings.Contains(s, "song drone.aiff  bpm -  key -  ") {
		t.Errorf("log does not say the song has no tempo and no key:\n%s", s)
	}
}

// TestWatchProcessFileRecordedByAnotherWatcher: two watchers share the
// store, one of a folder and one of a subfolder of it, each writing its
// own results.jsonl. A song dropped into the subfolder and recorded by
// the first (whose settle is shorter, say) gets its line in the second's
// results.jsonl too, without being analysed again. Before, the second
// found the record, took the song for done and wrote no line: its
// results.jsonl lacked the song until its next start.
func TestWatchProcessFileRecordedByAnotherWatcher(t *testing.T) {
	song := calibrationSong(t, "01-adagio-c-major.wav")
	an := &stubAnalyser{res: stages.Result{BPM: 120, Key: "C Major"}}
	outer, _ := newUnitWatch(t, an)
	sub := filepath.Join(outer.dir, "inbox")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	innerOut := filepath.Join(t.TempDir(), "inbox out")
	jl, err := sinks.OpenJSONL(filepath.Join(innerOut, watchResultsFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jl.Close() })
	logs := &running{out: &watchLog{}, err: &watchLog{}}
	inner := &folderWatch{
		dir: sub, out: innerOut, db: outer.db,
		st: outer.st, jl: jl, an: an, version: outer.version,
		log: &lockedWriter{w: logs.out}, errLog: &lockedWriter{w: logs.err},
		work: outer.work, cancelWork: outer.cancelWork,
		claims: map[string]chan struct{}{},
	}
	for _, w := range []*folderWatch{outer, inner} {
		if err := w.reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	path := filepath.Join(sub, "a.wav")
	if err := os.WriteFile(path, song, 0o644); err != nil {
		t.Fatal(err)
	}
	ev := settledEvent(t, path)
	outer.process(ev)
	hash := mustRecord(t, outer, path).Hash
	if !outer.jl.Has("inbox/a.wav", hash, outer.version) {
		t.Fatal("the outer watcher wrote no line for inbox/a.wav")
	}
	if retry := inner.process(ev); retry {
		t.Fatal("the inner watcher asks to retry")
	}
	if !inner.jl.Has("a.wav", hash, inner.version) || inner.jl.Len() != 1 {
		t.Errorf("the inner watcher's results.jsonl: %d files, a.wav's line %v; want a.wav's", inner.jl.Len(), inner.jl.Has("a.wav", hash, inner.version))
	}
	if n := len(an.jobs); n != 1 {
		t.Errorf("analysed %d times, want once", n)
	}
	// Asked again, it writes nothing more.
	inner.process(ev)
	if l := fileLines(t, inner); len(l) != 1 {
		t.Errorf("inner lines after a second event: %q", l)
	}
}
