package sources

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// patience bounds every wait for an event. It is generous because the
// machine is shared; no test asserts how quickly anything happens.
const patience = 20 * time.Second

type harness struct {
	t   *testing.T
	dir string
	w   *Watcher
	ev  chan Event
}

// start runs a Watcher on a fresh temp folder prepared by setup.
func start(t *testing.T, opts WatchOptions, setup func(dir string)) *harness {
	t.Helper()
	dir := t.TempDir()
	if setup != nil {
		setup(dir)
	}
	if opts.OnError == nil {
		opts.OnError = func(err error) { t.Logf("watcher: %v", err) }
	}
	w, err := NewWatcher(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: dir, w: w, ev: make(chan Event)}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, h.ev) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// next waits for the next event that is not a Scanned, unless scans is
// set.
func (h *harness) next(scans bool) Event {
	h.t.Helper()
	timeout := time.After(patience)
	for {
		select {
		case e := <-h.ev:
			if e.Kind == Scanned && !scans {
				continue
			}
			return e
		case <-timeout:
			h.t.Fatalf("no event within %v", patience)
			return Event{}
		}
	}
}

func write(t *testing.T, path string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		"song.mp3":                  false,
		"dir/Song.FLAC":             false,
		"my.partition.wav":          false,
		".DS_Store":                 true,
		"dir/.hidden.wav":           true,
		"._song.mp3":                true,
		"song.mp3.part":             true,
		"song.mp3.PART":             true,
		"song.flac.crdownload":      true,
		"song.m4a.download":         true,
		"song.wav.partial":          true,
		"x.tmp":                     true,
		"song.flac.!qB":             true,
		"song.mp3.!ut":              true,
		"song.mp3.!bt":              true,
		"song.wav.!sync":            true,
		"song.mp3.bc!":              true,
		"song.mp3.opdownload":       true,
		"song.wav.crswap":           true,
		"Oh!.mp3":                   false,
		"Bang!.wav":                 false,
		"~$notes.docx":              true,
		"album/~$lock.wav":          true,
		"song.wav~":                 true,
		"album/Song.FLAC~":          true,
		"song~.wav":                 false,
		"nested/.sync/partial.flac": false, // the folder is skipped by the walk, not by this name
		"share/#recycle":            true,
		"share/@eaDir":              true,
		"D:/$RECYCLE.BIN":           true,
		"vol/lost+found":            true,
		"share/@Recycle":            true,
		"#recycle.mp3":              false,
	} {
		if got := Ignored(name); got != want {
			t.Errorf("Ignored(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestExistingFilesSettleOnceAndFirstEventIsScan(t *testing.T) {
	h := start(t, WatchOptions{Settle: 100 * time.Millisecond}, func(dir string) {
		write(t, filepath.Join(dir, "a.wav"), "aaaa")
		write(t, filepath.Join(dir, "sub", "deeper", "b.flac"), "bb")
		write(t, filepath.Join(dir, ".DS_Store"), "x")
		write(t, filepath.Join(dir, "c.mp3.part"), "x")
		write(t, filepath.Join(dir, ".hidden", "d.wav"), "x")
	})
	first := h.next(true)
	want := []string{filepath.Join(h.dir, "a.wav"), filepath.Join(h.dir, "sub", "deeper", "b.flac")}
	if first.Kind != Scanned || !slices.Equal(first.Paths, want) {
		t.Fatalf("first event = %+v, want Scanned with %v", first, want)
	}
	got := []Event{h.next(false), h.next(false)}
	for i, e := range got {
		if e.Kind != Settled || e.Path != want[i] {
			t.Fatalf("event %d = %v %s, want settled %s", i, e.Kind, e.Path, want[i])
		}
	}
	if got[0].Size != 4 || got[1].Size != 2 {
		t.Fatalf("sizes %d, %d; want 4, 2", got[0].Size, got[1].Size)
	}
	// A file written afterwards is the next event: the two files above
	// were reported once only.
	c := filepath.Join(h.dir, "c.wav")
	write(t, c, "ccc")
	if e := h.next(false); e.Kind != Settled || e.Path != c {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, c)
	}
}

func TestSlowWriteSettlesOnceWhenComplete(t *testing.T) {
	// Writes come every 20 ms and the settle time is 1.5 s: the file is
	// never still long enough while it is being written.
	h := start(t, WatchOptions{Settle: 1500 * time.Millisecond}, nil)
	if e := h.next(true); e.Kind != Scanned || len(e.Paths) != 0 {
		t.Fatalf("first event = %+v, want an empty scan", e)
	}
	path := filepath.Join(h.dir, "slow.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 50
	for i := range writes {
		if _, err := f.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-h.ev:
			if e.Kind != Scanned {
				t.Fatalf("after %d of %d writes: %v %s (size %d) before the file was complete", i+1, writes, e.Kind, e.Path, e.Size)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	e := h.next(false)
	if e.Kind != Settled || e.Path != path || e.Size != 10*writes {
		t.Fatalf("event = %+v, want settled %s of %d bytes", e, path, 10*writes)
	}
	// Changing the file makes it settle again, once.
	write(t, path, "changed")
	if e := h.next(false); e.Kind != Settled || e.Size != 7 {
		t.Fatalf("after a change: %+v, want settled, 7 bytes", e)
	}
}

func TestNewSubfolderRenameAndRemove(t *testing.T) {
	h := start(t, WatchOptions{Settle: 50 * time.Millisecond}, nil)
	h.next(true) // the initial, empty scan
	// A folder tree appears at once, as when an album is moved in.
	staging := t.TempDir()
	write(t, filepath.Join(staging, "album", "cd1", "01.flac"), "one")
	album := filepath.Join(h.dir, "album")
	if err := os.Rename(filepath.Join(staging, "album"), album); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(album, "cd1", "01.flac")
	if e := h.next(false); e.Kind != Settled || e.Path != one {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, one)
	}
	// A file created in the new folder afterwards: the folder is watched.
	two := filepath.Join(album, "cd1", "02.flac")
	write(t, two, "two")
	if e := h.next(false); e.Kind != Settled || e.Path != two {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, two)
	}
	// A rename is the old name removed and the new one settled.
	renamed := filepath.Join(h.dir, "renamed.flac")
	if err := os.Rename(two, renamed); err != nil {
		t.Fatal(err)
	}
	got := map[EventKind]string{}
	for range 2 {
		e := h.next(false)
		got[e.Kind] = e.Path
	}
	if got[Removed] != two || got[Settled] != renamed {
		t.Fatalf("after rename: %v; want removed %s and settled %s", got, two, renamed)
	}
	// Removing the folder removes what was settled in it.
	if err := os.RemoveAll(album); err != nil {
		t.Fatal(err)
	}
	if e := h.next(false); e.Kind != Removed || e.Path != one {
		t.Fatalf("event = %v %s, want removed %s", e.Kind, e.Path, one)
	}
}

// TestSymlinkedFiles: a link to a song is a file of the tree, settled with
// the size of the file it points to, whether there at the start or made
// later; a link to a folder is not followed. Before, links were passed
// over and a song linked into the folder was never offered.
func TestSymlinkedFiles(t *testing.T) {
	elsewhere := t.TempDir()
	write(t, filepath.Join(elsewhere, "song.wav"), "linked song")
	write(t, filepath.Join(elsewhere, "folder", "inside.wav"), "x")
	var early string
	h := start(t, WatchOptions{Settle: 50 * time.Millisecond}, func(dir string) {
		early = filepath.Join(dir, "early.wav")
		if err := os.Symlink(filepath.Join(elsewhere, "song.wav"), early); err != nil {
			t.Skipf("no symlinks here: %v", err)
		}
		if err := os.Symlink(filepath.Join(elsewhere, "folder"), filepath.Join(dir, "folder")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(elsewhere, "missing.wav"), filepath.Join(dir, "dangling.wav")); err != nil {
			t.Fatal(err)
		}
	})
	if e := h.next(true); e.Kind != Scanned || !slices.Equal(e.Paths, []string{early}) {
		t.Fatalf("first event = %+v, want Scanned with %s only", e, early)
	}
	if e := h.next(false); e.Kind != Settled || e.Path != early || e.Size != int64(len("linked song")) {
		t.Fatalf("event = %+v, want settled %s of %d bytes", e, early, len("linked song"))
	}
	late := filepath.Join(h.dir, "late.wav")
	if err := os.Symlink(filepath.Join(elsewhere, "song.wav"), late); err != nil {
		t.Fatal(err)
	}
	if e := h.next(false); e.Kind != Settled || e.Path != late {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, late)
	}
	if err := os.Remove(late); err != nil {
		t.Fatal(err)
	}
	if e := h.next(false); e.Kind != Removed || e.Path != late {
		t.Fatalf("event = %v %s, want removed %s", e.Kind, e.Path, late)
	}
}

func TestPermissionChangeSettlesAgain(t *testing.T) {
	// A file its reader could not open (a copy that kept the source's
	// restrictive mode) is fixed with chmod, which changes neither size
	// nor modification time: it must be offered again.
	a := ""
	h := start(t, WatchOptions{Settle: 50 * time.Millisecond}, func(dir string) {
		a = filepath.Join(dir, "a.wav")
		write(t, a, "aaaa")
		if err := os.Chmod(a, 0o200); err != nil {
			t.Fatal(err)
		}
	})
	if e := h.next(false); e.Kind != Settled || e.Path != a {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, a)
	}
	if err := os.Chmod(a, 0o644); err != nil {
		t.Fatal(err)
	}
	if e := h.next(false); e.Kind != Settled || e.Path != a || e.Size != 4 {
		t.Fatalf("after chmod: %+v, want settled %s again", e, a)
	}
}

func TestReplacementWithSameSizeAndTimeSettlesAgain(t *testing.T) {
	// `mv new.wav song.wav` over a settled file, the new one with the same
	// size and modification time (as `cp -p` leaves them): before, the
	// stamps matched and the new bytes were never offered.
	a := ""
	h := start(t, WatchOptions{Settle: 50 * time.Millisecond}, func(dir string) {
		a = filepath.Join(dir, "a.wav")
		write(t, a, "aaaa")
	})
	first := h.next(false)
	if first.Kind != Settled || first.Path != a {
		t.Fatalf("event = %v %s, want settled %s", first.Kind, first.Path, a)
	}
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if first.Identity == "" || first.Identity != Identity(fi) {
		t.Skipf("no file identity on this system (event's %q, file's %q)", first.Identity, Identity(fi))
	}
	tmp := a + ".tmp" // an ignored name, as a sync tool's
	write(t, tmp, "bbbb")
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, a); err != nil {
		t.Fatal(err)
	}
	e := h.next(false)
	if e.Kind != Settled || e.Path != a || e.Size != first.Size || !e.ModTime.Equal(first.ModTime) || e.Identity == first.Identity {
		t.Fatalf("after the replacement: %+v, want settled %s, same size and time, another identity than %q", e, a, first.Identity)
	}
}

func TestRescanFindsWhatNotificationMissed(t *testing.T) {
	h := start(t, WatchOptions{Settle: 10 * time.Millisecond, Rescan: 200 * time.Millisecond}, nil)
	h.next(true)
	// Drop the folder's notification, as an overflow or a network
	// filesystem would: only the rescan can find the new file.
	if err := h.w.fw.Remove(h.dir); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(h.dir, "a.wav")
	write(t, a, "a")
	if e := h.next(false); e.Kind != Settled || e.Path != a {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, a)
	}
	// And its removal.
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if e := h.next(false); e.Kind != Removed || e.Path != a {
		t.Fatalf("event = %v %s, want removed %s", e.Kind, e.Path, a)
	}
}

func TestNewWatcherErrors(t *testing.T) {
	if _, err := NewWatcher(filepath.Join(t.TempDir(), "missing"), WatchOptions{}); err == nil {
		t.Error("missing folder: no error")
	}
	f := filepath.Join(t.TempDir(), "file")
	write(t, f, "x")
	if _, err := NewWatcher(f, WatchOptions{}); err == nil {
		t.Error("a file: no error")
	}
}

// TestUnreadableFolderReportedOnce: a folder that cannot be read is
// reported once, not again at every rescan, and again only once it could
// be watched and then failed anew.
func TestUnreadableFolderReportedOnce(t *testing.T) {
	var errs []string
	w, err := NewWatcher(t.TempDir(), WatchOptions{OnError: func(err error) { errs = append(errs, err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.fw.Close()
	k := sayKey{"/x/locked", "read"}
	for range 3 { // three rescans
		w.reportOnce(k, errors.New("watch /x/locked: permission denied"))
	}
	w.reportOnce(sayKey{"/x/locked", "add"}, errors.New("watch /x/locked: permission denied (found by rescans only)"))
	if len(errs) != 2 {
		t.Fatalf("reported %d times: %q; want once per failure", len(errs), errs)
	}
	w.reportOnce(k, errors.New("watch /x/locked: input/output error"))
	if len(errs) != 3 {
		t.Errorf("a new error for the folder was not reported: %q", errs)
	}

	if os.Geteuid() == 0 {
		t.Skip("root reads any folder; the walk needs another user")
	}
	dir := t.TempDir()
	locked := filepath.Join(dir, "locked")
	if err := os.Mkdir(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)
	errs = nil
	w2, err := NewWatcher(dir, WatchOptions{OnError: func(err error) { errs = append(errs, err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.fw.Close()
	w2.scan()
	first := len(errs)
	w2.scan()
	w2.scan()
	if first == 0 || len(errs) != first {
		t.Errorf("unreadable folder: %d reports after the first scan, %d after three: %q", first, len(errs), errs)
	}
	// Readable again, then not: the new failure is reported.
	os.Chmod(locked, 0o755)
	w2.scan()
	os.Chmod(locked, 0)
	w2.scan()
	if len(errs) == first {
		t.Errorf("a folder unreadable again after it recovered was not reported: %q", errs)
	}
}

// TestWatchedFolderGoneIsReported: the watched folder itself deleted (or
// renamed, or its drive unmounted) is said once, and watched again when a
// rescan finds it back; gone again, it is said again. Before, the watcher
// went on watching nothing without a word.
func TestWatchedFolderGoneIsReported(t *testing.T) {
	var (
		mu   sync.Mutex
		errs []string
	)
	reported := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errs)
	}
	h := start(t, WatchOptions{Settle: 20 * time.Millisecond, Rescan: 50 * time.Millisecond, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}}, nil)
	h.next(true)
	waitGone := func(n int) {
		t.Helper()
		deadline := time.Now().Add(patience)
		for len(reported()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("after %d removals of the watched folder, reports %q", n, reported())
			}
			select {
			case <-h.ev:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	for round := 1; round <= 2; round++ {
		if err := os.RemoveAll(h.dir); err != nil {
			t.Fatal(err)
		}
		waitGone(round)
		time.Sleep(200 * time.Millisecond) // rescans meanwhile say nothing more
		if got := reported(); len(got) != round || !strings.Contains(got[round-1], h.dir) || !strings.Contains(got[round-1], "gone") {
			t.Fatalf("reports %q; want one per removal, naming %s", got, h.dir)
		}
		song := filepath.Join(h.dir, "back.wav")
		write(t, song, "back")
		e := h.next(false)
		for e.Kind == Removed { // the last round's song
			e = h.next(false)
		}
		if e.Kind != Settled || e.Path != song {
			t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, song)
		}
	}
}

// TestSettledSinceArrival: a file moved into the folder with an old
// modification time settles with Since the moment the Watcher saw it
// arrive, not that time, so that the wait for its result is measured from
// its arrival.
func TestSettledSinceArrival(t *testing.T) {
	h := start(t, WatchOptions{Settle: 50 * time.Millisecond}, nil)
	h.next(true)
	outside := filepath.Join(t.TempDir(), "old.flac")
	write(t, outside, "old")
	old := time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(outside, old, old); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	moved := filepath.Join(h.dir, "old.flac")
	if err := os.Rename(outside, moved); err != nil {
		t.Fatal(err)
	}
	e := h.next(false)
	if e.Kind != Settled || e.Path != moved || !e.ModTime.Equal(old) {
		t.Fatalf("event = %+v, want settled %s with its time of %v", e, moved, old)
	}
	if e.Since.Before(before) || e.Since.After(time.Now()) {
		t.Errorf("since %v; want the moment it arrived, after %v", e.Since, before)
	}
}
