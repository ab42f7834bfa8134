package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/songflow/songflow/sinks"
	"github.com/songflow/songflow/sources"
	"github.com/songflow/songflow/store"
)

// watchPatience bounds every wait. Generous: the machine is shared, and
// no test asserts how quickly anything happens.
const watchPatience = 120 * time.Second

// calibrationSong is a song of the shared corpus, read-only.
func calibrationSong(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(calibrationSet, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// variant returns a copy of a WAV song with one sample's low bit flipped
// near the end: other bytes, so another result, but still valid audio.
func variant(data []byte, n int) []byte {
	v := bytes.Clone(data)
	v[len(v)-2-2*n] ^= 1
	return v
}

// watchEnv is one watched folder with its output folder, store and
// configuration.
type watchEnv struct {
	root, dir, out, db, cfg string
}

func newWatchEnv(t testing.TB, settle, rescan float64) watchEnv {
	t.Helper()
	root := t.TempDir()
	e := watchEnv{root: root, dir: filepath.Join(root, "music"), out: filepath.Join(root, "out"),
		db: filepath.Join(root, "songflow.db"), cfg: filepath.Join(root, "watch.toml")}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("[watch]\nsettle_seconds = %g\nrescan_seconds = %g\nreport_seconds = 1.0\n\n[server]\ndb_path = %q\n", settle, rescan, e.db)
	if err := os.WriteFile(e.cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e watchEnv) args() []string {
	return []string{e.dir, "--config", e.cfg, "--out", e.out, "--stop-timeout", "30"}
}

func (e watchEnv) put(t testing.TB, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(e.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written under a temporary name and renamed, as sync tools do, so
	// the watcher never sees a partial file (the slow-copy test does that).
	tmp := p + ".part"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// watchLog is a bytes.Buffer safe for the watcher's goroutines.
type watchLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *watchLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *watchLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// count counts the log lines starting with prefix and mentioning file
// (any file when file is "").
func (s *watchLog) count(prefix, file string) int {
	n := 0
	for _, l := range strings.Split(s.String(), "\n") {
		if strings.HasPrefix(l, prefix+" ") && (file == "" || strings.HasPrefix(l, prefix+" "+file+":") || strings.HasPrefix(l, prefix+" "+file+" ")) {
			n++
		}
	}
	return n
}

// running is a watcher running in this process.
type running struct {
	cancel context.CancelFunc
	done   chan int
	out    *watchLog
	err    *watchLog
}

func startWatch(t testing.TB, e watchEnv) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan int, 1), out: &watchLog{}, err: &watchLog{}}
	go func() { r.done <- runWatch(ctx, e.args(), r.out, r.err) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop stops the watcher as SIGINT would and returns its exit status.
func (r *running) stop(t testing.TB) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(watchPatience):
		t.Fatal("watcher did not stop")
		return -1
	}
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(watchPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsonlLines reads results.jsonl; a torn last line is left out.
func jsonlLines(t testing.TB, e watchEnv) []sinks.Line {
	t.Helper()
	f, err := os.Open(filepath.Join(e.out, watchResultsFile))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []sinks.Line
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l sinks.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// files returns the watcher's records of e's folder, by path relative to
// it.
func files(t testing.TB, e watchEnv) map[string]store.File {
	t.Helper()
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureFiles(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The watcher records files under the folder's real path.
	dir, err := filepath.EvalSymlinks(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := st.Files(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]store.File{}
	for _, f := range fs {
		rel, _ := filepath.Rel(dir, f.Path)
		m[filepath.ToSlash(rel)] = f
	}
	return m
}

func hasState(t testing.TB, e watchEnv, rel string, s store.FileState) bool {
	f, ok := files(t, e)[rel]
	return ok && f.State == s
}

func TestWatchFolder(t *testing.T) {
	e := newWatchEnv(t, 0.3, 0.5)
	a := calibrationSong(t, "01-adagio-c-major.wav")
	b := calibrationSong(t, "05-shuffle-d-major.wav")
	c := calibrationSong(t, "09-rock-b-minor.wav")
	e.put(t, "a.wav", a)
	e.put(t, "b.wav", b)
	e.put(t, "copy of a.wav", a)                                            // same content, second name
	e.put(t, "corrupt.flac", append([]byte("fLaC"), make([]byte, 4000)...)) // audio by its magic, undecodable
	e.put(t, "notes.txt", []byte("not a song"))
	e.put(t, ".hidden.wav", c)
	e.put(t, "~$lock.wav", c)
	if err := os.WriteFile(filepath.Join(e.dir, "c.wav.crdownload"), c, 0o644); err != nil {
		t.Fatal(err)
	}
	r := startWatch(t, e)

	waitUntil(t, "the five files to be recorded", func() bool { return len(files(t, e)) == 5 })
	fs := files(t, e)
	for rel, want := range map[string]store.FileState{"a.wav": store.FileDone, "b.wav": store.FileDone,
		"copy of a.wav": store.FileDone, "corrupt.flac": store.FileFailed, "notes.txt": store.FileSkipped} {
		if fs[rel].State != want {
			t.Errorf("%s: state %q (%s), want %q", rel, fs[rel].State, fs[rel].Error, want)
		}
	}
	if fs["a.wav"].Hash != fs["copy of a.wav"].Hash || fs["corrupt.flac"].Error == "" {
		t.Errorf("records: %+v", fs)
	}
	if n := r.out.count("song", ""); n != 2 {
		t.Errorf("%d songs analysed, want 2 (the copy reuses a's result):\n%s", n, r.out)
	}
	if r.out.count("same", "") != 1 || r.out.count("failed", "corrupt.flac") != 1 {
		t.Errorf("log:\n%s", r.out)
	}
	// Two results, a line for each of the three files that have one: the
	// copy's names it.
	if lines := jsonlLines(t, e); len(lines) != 3 {
		t.Errorf("results.jsonl has %d lines, want 3", len(lines))
	}

	// A new subfolder, with a song in a folder inside it.
	e.put(t, "new/deeper/c.wav", c)
	waitUntil(t, "new/deeper/c.wav", func() bool { return hasState(t, e, "new/deeper/c.wav", store.FileDone) })

	// A rename into another folder: the old record goes, the new name
	// reuses the result.
	if err := os.Rename(filepath.Join(e.dir, "b.wav"), filepath.Join(e.dir, "new", "b renamed.wav")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the rename", func() bool {
		fs := files(t, e)
		_, old := fs["b.wav"]
		return !old && fs["new/b renamed.wav"].State == store.FileDone
	})
	if r.out.count("song", "") != 3 || r.out.count("same", "new/b renamed.wav") != 1 {
		t.Errorf("after the rename, log:\n%s", r.out)
	}

	// Rescans come and go; the corrupt file stays failed, logged once.
	summary := filepath.Join(e.out, watchSummaryFile)
	for range 3 {
		st0, _ := os.Stat(summary)
		waitUntil(t, "a report refresh", func() bool {
			st1, err := os.Stat(summary)
			return err == nil && (st0 == nil || st1.ModTime().After(st0.ModTime()))
		})
	}
	if n := r.out.count("failed", ""); n != 1 {
		t.Errorf("corrupt file logged as failed %d times, want once:\n%s", n, r.out)
	}
	// Fixed, it is analysed.
	if err := os.WriteFile(filepath.Join(e.dir, "corrupt.flac"), calibrationSong(t, "02-andante-a-minor.flac"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the fixed file", func() bool { return hasState(t, e, "corrupt.flac", store.FileDone) })

	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d, want 0; stderr:\n%s", code, r.err)
	}
	if n := r.out.count("song", ""); n != 4 {
		t.Errorf("%d songs analysed, want 4:\n%s", n, r.out)
	}
	// A line for each file done: a.wav, b.wav, the copy, c.wav, b.wav's
	// new name and the fixed file.
	lines := jsonlLines(t, e)
	if len(lines) != 6 {
		t.Fatalf("results.jsonl has %d lines, want 6", len(lines))
	}
	for _, l := range lines {
		if l.BPM <= 0 || l.Key == "" || l.ContentHash == "" || l.File == "" {
			t.Errorf("line %+v lacks a result", l)
		}
	}
	text, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| analysed | 4 |", "| failed | 1 |", "stage_utilisation.png", "| stage | workers | buffer |", "| decode | "} {
		if !strings.Contains(string(text), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, text)
		}
	}
	for _, p := range watchPlots {
		if st, err := os.Stat(filepath.Join(e.out, p)); err != nil || st.Size() == 0 {
			t.Errorf("plot %s: %v", p, err)
		}
	}
	// Plots that need ground truth are not made for a watched folder.
	for _, p := range []string{"bpm_scatter.png", "key_outcomes.png"} {
		for _, dir := range []string{e.out, filepath.Join(e.out, ".report")} {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				t.Errorf("%s was written into %s", p, dir)
			}
		}
	}
}

func TestWatchSlowCopy(t *testing.T) {
	// Writes every 20 ms against a 1.5 s settle time: the file is never
	// still long enough while being copied.
	e := newWatchEnv(t, 1.5, 60)
	r := startWatch(t, e)
	waitUntil(t, "the watcher to start", func() bool { return r.out.count("watching", "") == 1 })
	song := calibrationSong(t, "05-shuffle-d-major.wav")
	path := filepath.Join(e.dir, "slow.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const piece = 8 << 10
	for off := 0; off < len(song); off += piece {
		if _, err := f.Write(song[off:min(off+piece, len(song))]); err != nil {
			t.Fatal(err)
		}
		if _, ok := files(t, e)["slow.wav"]; ok || len(jsonlLines(t, e)) > 0 {
			t.Fatalf("a result or record after %d of %d bytes", off+piece, len(song))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "slow.wav", func() bool { return hasState(t, e, "slow.wav", store.FileDone) })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	lines := jsonlLines(t, e)
	if len(lines) != 1 || lines[0].ContentHash != store.HashContent(song) {
		t.Fatalf("results.jsonl = %+v, want one line for the whole file", lines)
	}
	if n := r.out.count("song", "slow.wav") + r.out.count("failed", "slow.wav"); n != 1 {
		t.Fatalf("slow.wav logged %d times, want once:\n%s", n, r.out)
	}
}

func TestWatchRestart(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	a := calibrationSong(t, "01-adagio-c-major.wav")
	b := calibrationSong(t, "05-shuffle-d-major.wav")
	e.put(t, "a.wav", a)
	e.put(t, "b.wav", b)
	e.put(t, "gone.wav", variant(b, 1))
	r := startWatch(t, e)
	waitUntil(t, "three songs", func() bool { return len(jsonlLines(t, e)) == 3 })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}

	// While it is down: a file added, one changed, one removed, and
	// results.jsonl loses its last line and gains a torn one, as a kill
	// between a commit and its line would leave it.
	e.put(t, "added.wav", variant(a, 1))
	changed := variant(b, 2)
	e.put(t, "b.wav", changed)
	if err := os.Remove(filepath.Join(e.dir, "gone.wav")); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(e.out, watchResultsFile)
	data, _ := os.ReadFile(jpath)
	cut := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	torn := append(data[:cut:cut], data[cut:cut+20]...)
	if err := os.WriteFile(jpath, torn, 0o644); err != nil {
		t.Fatal(err)
	}

	r = startWatch(t, e)
	waitUntil(t, "the restart to catch up", func() bool {
		fs := files(t, e)
		_, old := fs["gone.wav"]
		return !old && len(fs) == 3 && fs["added.wav"].State == store.FileDone &&
			fs["b.wav"].Hash == store.HashContent(changed) && fs["b.wav"].State == store.FileDone
	})
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	// Only the two new contents were analysed; a.wav was not touched.
	if n := r.out.count("song", ""); n != 2 || r.out.count("song", "added.wav") != 1 || r.out.count("song", "b.wav") != 1 {
		t.Fatalf("after restart, log:\n%s", r.out)
	}
	if r.out.count("recovered", "") != 1 {
		t.Errorf("the line lost from results.jsonl was not recovered:\n%s", r.out)
	}
	if !strings.Contains(r.err.String(), "songflow watch: warning: results "+jpath+": dropped a torn last line (20 bytes") {
		t.Errorf("no warning naming the torn line's file and bytes:\n%s", r.err)
	}
	// Results are by content: b's old result stays in the file, gone's
	// too; each of the five contents appears once.
	lines := jsonlLines(t, e)
	seen := map[string]int{}
	for _, l := range lines {
		seen[l.ContentHash]++
	}
	if len(lines) != 5 || len(seen) != 5 {
		t.Fatalf("results.jsonl: %d lines, %d contents; want 5 and 5", len(lines), len(seen))
	}
	if raw, _ := os.ReadFile(jpath); !bytes.HasSuffix(raw, []byte("\n")) {
		t.Fatal("results.jsonl ends in a torn line")
	}
}

// TestWatchFileChangedBack is QA's first case, end to end: x.wav holds
// song 05 (104 BPM), then song 09 (142), then song 05's bytes again. The
// newest line naming x.wav says 104 BPM, song 05 being analysed once,
// and a restart with results.jsonl deleted says the same. Before, the
// third time wrote no line ("content already analysed as x.wav"), and
// the newest line naming x.wav said 142 BPM.
func TestWatchFileChangedBack(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	a := calibrationSong(t, "05-shuffle-d-major.wav")
	b := calibrationSong(t, "09-rock-b-minor.wav")
	newestX := func() (sinks.Line, bool) {
		var newest sinks.Line
		found := false
		for _, l := range jsonlLines(t, e) {
			if l.File == "x.wav" {
				newest, found = l, true
			}
		}
		return newest, found
	}
	r := startWatch(t, e)
	for i, data := range [][]byte{a, b, a} {
		e.put(t, "x.wav", data)
		waitUntil(t, fmt.Sprintf("x.wav's line, change %d", i), func() bool {
			l, ok := newestX()
			return ok && l.ContentHash == store.HashContent(data)
		})
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	lines := jsonlLines(t, e)
	if len(lines) != 3 || lines[0].BPM == lines[1].BPM || lines[2].BPM != lines[0].BPM {
		t.Fatalf("results.jsonl: %+v; want x.wav's three results, the last the first's", lines)
	}
	if n := r.out.count("song", "x.wav"); n != 2 || r.out.count("same", "x.wav") != 1 {
		t.Errorf("x.wav analysed %d times, want twice:\n%s", n, r.out)
	}
	live := lines[2]

	// Made afresh at a restart, the file says the same of x.wav.
	if err := os.Remove(filepath.Join(e.out, watchResultsFile)); err != nil {
		t.Fatal(err)
	}
	r = startWatch(t, e)
	waitUntil(t, "the restart", func() bool { return r.out.count("watching", "") == 1 })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	if l, ok := newestX(); !ok || l.ContentHash != live.ContentHash || l.BPM != live.BPM || len(jsonlLines(t, e)) != 1 {
		t.Errorf("made afresh: %+v; want one line, x.wav's %+v", jsonlLines(t, e), live)
	}
}

// TestWatchReplacedSameSizeAndTime: a song renamed over another with the
// same size and modification time (`mv` of a `cp -p` copy) is analysed;
// before, the watcher saw the same size and time and never read it.
// Replaced again by the same bytes, it is not analysed again.
func TestWatchReplacedSameSizeAndTime(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	song := calibrationSong(t, "01-adagio-c-major.wav")
	path := e.put(t, "a.wav", song)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if sources.Identity(fi) == "" {
		t.Skip("no file identity on this system")
	}
	r := startWatch(t, e)
	waitUntil(t, "a.wav", func() bool { return hasState(t, e, "a.wav", store.FileDone) })
	other := variant(song, 1)
	replaceKeepingTime(t, path, other)
	waitUntil(t, "the replacement to be analysed", func() bool {
		f := files(t, e)["a.wav"]
		return f.State == store.FileDone && f.Hash == store.HashContent(other)
	})
	replaceKeepingTime(t, path, other)
	now, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the second replacement to be read", func() bool { return files(t, e)["a.wav"].Identity == sources.Identity(now) })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	if n := r.out.count("song", "a.wav"); n != 2 || r.out.count("same", "") != 0 {
		t.Errorf("a.wav analysed %d times, want twice:\n%s", n, r.out)
	}
	if lines := jsonlLines(t, e); len(lines) != 2 {
		t.Errorf("results.jsonl has %d lines, want 2", len(lines))
	}
}

// TestWatchSettingsChange checks that results are kept per settings: after
// analysis.max_seconds changes, a file already analysed is analysed again
// and results.jsonl gains its new result beside the old one; a restart
// with the same settings analyses nothing.
func TestWatchSettingsChange(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	song := calibrationSong(t, "01-adagio-c-major.wav")
	e.put(t, "a.wav", song)
	r := startWatch(t, e)
	waitUntil(t, "the first result", func() bool { return len(jsonlLines(t, e)) == 1 })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}

	cfg, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfg, append(cfg, "\n[analysis]\nmax_seconds = 5\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	r = startWatch(t, e)
	waitUntil(t, "the result under the new settings", func() bool { return len(jsonlLines(t, e)) == 2 })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	lines := jsonlLines(t, e)
	if lines[0].ContentHash != lines[1].ContentHash || lines[0].AnalyzerVersion == lines[1].AnalyzerVersion {
		t.Fatalf("lines: %s %s and %s %s; want one content under two versions",
			lines[0].ContentHash, lines[0].AnalyzerVersion, lines[1].ContentHash, lines[1].AnalyzerVersion)
	}
	if d0, d1 := lines[0].Duration, lines[1].Duration; !(d1 <= 5.01 && d0 > d1) {
		t.Errorf("durations %g then %g; want the second cut to 5 s", d0, d1)
	}

	r = startWatch(t, e)
	time.Sleep(time.Second)
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	if n := r.out.count("song", ""); n != 0 || len(jsonlLines(t, e)) != 2 {
		t.Errorf("same settings: %d songs analysed, %d lines; want 0 and 2:\n%s", n, len(jsonlLines(t, e)), r.out)
	}
}

// TestWatchChildProcess is the watcher run as a child process by
// TestWatchKill9; on its own it does nothing.
func TestWatchChildProcess(t *testing.T) {
	args := os.Getenv("SONGFLOW_WATCH_CHILD")
	if args == "" {
		t.Skip("only run as a child of TestWatchKill9")
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		t.Fatal(err)
	}
	ctx, stop := interruptContext() // as main does
	code := runWatch(ctx, argv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func TestWatchKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the watcher as a child process several times")
	}
	e := newWatchEnv(t, 0.2, 60)
	wavs := [][]byte{calibrationSong(t, "01-adagio-c-major.wav"), calibrationSong(t, "05-shuffle-d-major.wav"), calibrationSong(t, "09-rock-b-minor.wav")}
	const songs = 8
	for i := range songs {
		e.put(t, fmt.Sprintf("album %d/song %d.wav", i%2, i), variant(wavs[i%3], i))
	}
	e.put(t, "album 0/duplicate.wav", variant(wavs[0], 0))
	logPath := filepath.Join(e.root, "child.log")
	start := func() *exec.Cmd {
		log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestWatchChildProcess$")
		argv, _ := json.Marshal(e.args())
		cmd.Env = append(os.Environ(), "SONGFLOW_WATCH_CHILD="+string(argv))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		log.Close()
		return cmd
	}
	done := func() int {
		n := 0
		for _, f := range files(t, e) {
			if f.State == store.FileDone {
				n++
			}
		}
		return n
	}
	// Kill it as soon as each new result is committed: the moment between
	// the store's commit and the line in results.jsonl is the delicate one.
	kills := 0
	for prev := 0; kills < 4 && prev < songs-1; kills++ {
		cmd := start()
		waitUntil(t, "a new result", func() bool { return done() > prev })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		prev = done()
		t.Logf("kill %d: %d of %d files done", kills+1, prev, songs+1)
	}
	// The last run finishes the folder and stops on SIGINT.
	cmd := start()
	waitUntil(t, "every file", func() bool { return done() == songs+1 })
	// All files may have been done before this run: wait until it is up
	// (its signal handler is installed before it says "watching"), or the
	// interrupt would kill it before it can stop cleanly.
	waitUntil(t, "the last run to start", func() bool {
		log, _ := os.ReadFile(logPath)
		return strings.Count(string(log), "watching ") == kills+1
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("after SIGINT: %v\n%s", err, log)
	}

	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := st.Count(context.Background(), store.WatchNamespace)
	if err != nil || n != songs {
		t.Fatalf("store holds %d results (%v), want %d", n, err, songs)
	}
	// One line per file (the duplicate has its own), songs results.
	lines := jsonlLines(t, e)
	seen := map[string]int{}
	named := map[string]string{}
	for _, l := range lines {
		seen[l.ContentHash]++
		named[l.File] = l.ContentHash
	}
	if len(lines) != songs+1 || len(named) != songs+1 || len(seen) != songs {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("results.jsonl: %d lines, %d files, %d contents; want %d, %d, %d\n%s", len(lines), len(named), len(seen), songs+1, songs+1, songs, log)
	}
	for rel, f := range files(t, e) {
		if named[rel] != f.Hash {
			t.Errorf("%s: result missing from results.jsonl", f.Path)
		}
	}
}

// BenchmarkWatchFolder drops a folder of 20 songs (the first 12 of the
// calibration corpus and 8 WAV copies with changed bytes) into a watched
// folder and measures the throughput until all 20 results are written,
// then the wait of one more song: from the end of its write to its line
// in results.jsonl (settle time + analysis).
func BenchmarkWatchFolder(b *testing.B) {
	names := []string{"01-adagio-c-major.wav", "02-andante-a-minor.flac", "03-ballad-g-major.mp3", "04-groove-e-minor.m4a",
		"05-shuffle-d-major.wav", "06-pop-f-major.flac", "07-house-d-minor.mp3", "08-disco-bb-major.m4a",
		"09-rock-b-minor.wav", "10-punk-e-major.flac", "11-dnb-fs-minor.mp3", "12-gallop-eb-major.m4a"}
	wavs := [][]byte{calibrationSong(b, names[0]), calibrationSong(b, names[4]), calibrationSong(b, names[8])}
	var wall, audio, wait time.Duration
	for range b.N {
		e := newWatchEnv(b, 0.5, 60)
		for _, n := range names {
			e.put(b, n, calibrationSong(b, n))
		}
		for i := range 8 {
			e.put(b, fmt.Sprintf("copy-%d.wav", i), variant(wavs[i%3], i+1))
		}
		t0 := time.Now()
		r := startWatch(b, e)
		waitUntil(b, "20 results", func() bool { return len(jsonlLines(b, e)) == 20 })
		wall += time.Since(t0)
		for _, l := range jsonlLines(b, e) {
			audio += time.Duration(l.Duration * float64(time.Second))
		}
		e.put(b, "late.wav", variant(wavs[0], 100))
		t1 := time.Now()
		for len(jsonlLines(b, e)) < 21 {
			time.Sleep(5 * time.Millisecond)
		}
		wait += time.Since(t1)
		if code := r.stop(b); code != 0 {
			b.Fatalf("exit status %d", code)
		}
	}
	b.ReportMetric(20*float64(b.N)/wall.Seconds(), "songs/s")
	b.ReportMetric(audio.Seconds()/wall.Seconds(), "x-realtime")
	b.ReportMetric(wait.Seconds()/float64(b.N), "s-write-to-result")
}

// TestWatchStoreFailureRetried: a song the store cannot record while it
// is full is recorded once the store works again, with the watcher left
// running and the file untouched. Before, it was not looked at again
// until it changed or the watcher was restarted.
func TestWatchStoreFailureRetried(t *testing.T) {
	e := newWatchEnv(t, 0.2, 0)
	r := startWatch(t, e)
	waitUntil(t, "the watcher to start", func() bool { return r.out.count("watching", "") == 1 })
	restore := failRecords(t, e.db)
	e.put(t, "a.wav", calibrationSong(t, "01-adagio-c-major.wav"))
	waitUntil(t, "the store to refuse a.wav", func() bool {
		s := r.err.String()
		return strings.Contains(s, "record file ") && strings.Contains(s, "a.wav")
	})
	restore()
	waitUntil(t, "a.wav", func() bool { return hasState(t, e, "a.wav", store.FileDone) })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	if n := r.out.count("song", "a.wav"); n != 1 || len(jsonlLines(t, e)) != 1 {
		t.Fatalf("a.wav logged %d times, %d lines; want once, 1:\n%s", n, len(jsonlLines(t, e)), r.out)
	}
}

// wantResults waits until results.jsonl holds as many results as songs,
// then checks they are those of songs, each once (lines that are not
// results are not counted).
func wantResults(t *testing.T, e watchEnv, what string, songs ...[]byte) {
	t.Helper()
	want := map[string]bool{}
	for _, s := range songs {
		want[store.HashContent(s)] = true
	}
	var lines []sinks.Line
	waitUntil(t, what, func() bool {
		lines = jsonlLines(t, e)
		return len(lines) >= len(want)
	})
	seen := map[string]int{}
	for _, l := range lines {
		seen[l.ContentHash]++
	}
	for h := range want {
		if seen[h] != 1 {
			t.Errorf("%s: result %s appears %d times", what, h, seen[h])
		}
	}
	if len(lines) != len(want) {
		t.Errorf("%s: results.jsonl holds %d results, want %d", what, len(lines), len(want))
	}
}

// TestWatchResultsFileRemovedOrReplaced: results.jsonl deleted, replaced
// by an edited copy, and renamed away (a log rotation) while the watcher
// runs. Each time the file at the path comes to hold what a restart would
// give it, every result of the folder once, with no song analysed again,
// and the file renamed away is left alone. Before, every later result
// went to the old file, unlinked or moved, until the next start.
func TestWatchResultsFileRemovedOrReplaced(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	a := calibrationSong(t, "01-adagio-c-major.wav")
	b := calibrationSong(t, "05-shuffle-d-major.wav")
	c, d := variant(a, 1), variant(b, 1)
	e.put(t, "a.wav", a)
	e.put(t, "b.wav", b)
	r := startWatch(t, e)
	wantResults(t, e, "a and b", a, b)
	jpath := filepath.Join(e.out, watchResultsFile)

	// Deleted to start afresh, then a new song.
	if err := os.Remove(jpath); err != nil {
		t.Fatal(err)
	}
	e.put(t, "c.wav", c)
	wantResults(t, e, "a, b and c in a new file", a, b, c)

	// Replaced, as an editor saves: the user kept a's line only, and
	// added a note.
	var aLine []byte
	data, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	for l := range bytes.Lines(data) {
		if bytes.Contains(l, []byte(store.HashContent(a))) {
			aLine = l
		}
	}
	tmp := filepath.Join(e.out, ".results.jsonl.swp")
	if err := os.WriteFile(tmp, append(bytes.Clone(aLine), "my note\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, jpath); err != nil {
		t.Fatal(err)
	}
	e.put(t, "d.wav", d)
	wantResults(t, e, "a to d in the edited file", a, b, c, d)
	if data, _ := os.ReadFile(jpath); bytes.Count(data, []byte("my note\n")) != 1 {
		t.Errorf("the note is not kept once:\n%s", data)
	}

	// Renamed away, with no new song to write.
	rotated := jpath + ".1"
	if err := os.Rename(jpath, rotated); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(rotated)
	wantResults(t, e, "a to d in the file made after the rename", a, b, c, d)
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	if after, _ := os.ReadFile(rotated); !bytes.Equal(after, before) {
		t.Errorf("the file renamed away was written to:\n%s", after)
	}
	if n := r.out.count("song", ""); n != 4 {
		t.Errorf("%d songs analysed, want 4:\n%s", n, r.out)
	}

	// A restart finds nothing to add.
	r = startWatch(t, e)
	waitUntil(t, "the restart", func() bool { return r.out.count("watching", "") == 1 })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	if r.out.count("recovered", "") != 0 || r.out.count("song", "") != 0 {
		t.Errorf("the restart changed things:\n%s", r.out)
	}
	wantResults(t, e, "a to d after the restart", a, b, c, d)
}

// TestWatchTimeoutRetriedAtNextStart: a song that runs out of time
// (analysis.song_timeout, here far too short for any song) is tried once
// in the run, whatever the rescans, and again at the next start, where
// it is analysed. Before, it was recorded as failed for good: the next
// start left it alone.
func TestWatchTimeoutRetriedAtNextStart(t *testing.T) {
	e := newWatchEnv(t, 0.2, 0.2)
	cfg, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfg, append(bytes.Clone(cfg), "\n[analysis]\nsong_timeout = 1e-6\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	song := calibrationSong(t, "01-adagio-c-major.wav")
	e.put(t, "a.wav", song)
	r := startWatch(t, e)
	waitUntil(t, "a.wav to be recorded", func() bool { _, ok := files(t, e)["a.wav"]; return ok })
	// Rescans come and go (every 0.2 s); the song is not tried again.
	summary := filepath.Join(e.out, watchSummaryFile)
	for range 2 {
		st0, _ := os.Stat(summary)
		waitUntil(t, "a report refresh", func() bool {
			st1, err := os.Stat(summary)
			return err == nil && (st0 == nil || st1.ModTime().After(st0.ModTime()))
		})
	}
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	if rec := files(t, e)["a.wav"]; rec.State != store.FileTimedOut || !strings.Contains(rec.Error, "deadline") {
		t.Errorf("after a timeout a.wav is %s (%s), want %s", rec.State, rec.Error, store.FileTimedOut)
	}
	if n := r.out.count("timed out", "a.wav"); n != 1 || r.out.count("failed", "") != 0 {
		t.Errorf("a.wav tried %d times, want once:\n%s", n, r.out)
	}
	if text, err := os.ReadFile(summary); err != nil || !strings.Contains(string(text), "| timed out (tried again at the next start) | 1 |") {
		t.Errorf("summary.md (%v) does not count the timeout:\n%s", err, text)
	}

	if err := os.WriteFile(e.cfg, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	r = startWatch(t, e)
	waitUntil(t, "a.wav at the next start", func() bool { return hasState(t, e, "a.wav", store.FileDone) })
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	if n := r.out.count("song", "a.wav"); n != 1 {
		t.Errorf("a.wav analysed %d times at the next start, want once:\n%s", n, r.out)
	}
	wantResults(t, e, "a.wav's result", song)
}

// TestWatchStopWithNothingInFlight: a watcher stopped with no song in
// flight says nothing of abandoning songs, even with no grace at all
// (--stop-timeout 0), where the grace runs out as the workers end.
func TestWatchStopWithNothingInFlight(t *testing.T) {
	e := newWatchEnv(t, 0.05, 0)
	// Each stop is a race between the idle workers and a grace of zero:
	// a few of them make a wrong word all but certain to show.
	for i := range 8 {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr watchLog
		args := []string{e.dir, "--config", e.cfg, "--out", e.out, "--stop-timeout", "0"}
		done := make(chan int, 1)
		go func() { done <- runWatch(ctx, args, &stdout, &stderr) }()
		waitUntil(t, "the watcher to start", func() bool { return strings.Contains(stdout.String(), "watching ") })
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("stop %d: exit %d, want 0; stderr:\n%s", i, code, stderr.String())
		}
		if strings.Contains(stdout.String(), "abandoning") {
			t.Fatalf("stop %d with nothing in flight speaks of abandoning songs:\n%s", i, stdout.String())
		}
	}
}

// TestWatchStopWhileStarting: a stop signal that comes while the watcher
// is starting (opening the store, reading its records, which a big or
// busy store makes take a while) is a clean stop: exit 0, no error.
// Before, Ctrl-C then was reported as a failure, "store …: files under
// …: context canceled", with exit status 1.
func TestWatchStopWhileStarting(t *testing.T) {
	e := newWatchEnv(t, 0.05, 0)
	for _, opened := range []bool{false, true} {
		if opened {
			// The store made already: the stop is met reading it.
			r := startWatch(t, e)
			waitUntil(t, "the watcher to start", func() bool { return strings.Contains(r.out.String(), "watching ") })
			if code := r.stop(t); code != 0 {
				t.Fatalf("first run: exit %d", code)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stdout, stderr watchLog
		if code := runWatch(ctx, e.args(), &stdout, &stderr); code != 0 || stderr.String() != "" {
			t.Errorf("store made %v: exit %d, errors %q; want 0 and none", opened, code, stderr.String())
		}
		if strings.Contains(stdout.String(), "watching ") {
			t.Errorf("store made %v: started watching after the stop:\n%s", opened, stdout.String())
		}
	}
	// The store open: the stop is met reading the folder's records.
	w, logs := newUnitWatch(t, &stubAnalyser{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code := w.run(ctx); code != 0 || logs.err.String() != "" {
		t.Errorf("stopped reading the records: exit %d, errors %q; want 0 and none", code, logs.err.String())
	}
}

// watchRefuses runs the watcher with args and wants it to refuse to
// start (what names the case): to end with exit status code and msg in
// its errors, without having said it is watching.
func watchRefuses(t *testing.T, what string, args []string, code int, msg string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr watchLog
	done := make(chan int, 1)
	go func() { done <- runWatch(ctx, args, &stdout, &stderr) }()
	deadline := time.After(watchPatience)
	for {
		select {
		case got := <-done:
			if got != code || !strings.Contains(stderr.String(), msg) {
				t.Fatalf("%s: exit status %d, stderr %q; want %d and %q", what, got, stderr.String(), code, msg)
			}
			return
		case <-time.After(20 * time.Millisecond):
			if stdout.count("watching", "") > 0 {
				cancel()
				<-done
				t.Fatalf("%s: the watcher started:\n%s", what, stdout.String())
			}
		case <-deadline:
			t.Fatalf("%s: the watcher neither refused nor started", what)
		}
	}
}
