// Package sources finds the songs songflow analyses. Its Watcher keeps
// track of a folder tree and says when a file in it is ready to be read:
// present, and unchanged for a settle time, so that a file still being
// copied in is never read half-written.
//
// Change notification comes from fsnotify, which has no "finished
// writing" event and does not watch subfolders by itself: the Watcher
// adds a watch to every folder as it appears, decides readiness by
// polling size and modification time, and walks the whole tree
// periodically to catch what notification missed (queue overflow, network
// filesystems, events lost while a folder was being added).
//
// A symbolic link to a file is a file of the tree, read through the link;
// a change to the file it points to is seen by the rescans (notification
// comes for the file's own name, maybe outside the tree). A link to a
// folder is not followed.
package sources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event a Watcher sends.
const (
	// Settled: the file's size and modification time have not changed
	// for the settle time. It is sent again only after the file changes,
	// is replaced by another (even one of the same size and time), or
	// its permissions or owner do (it may be readable only now).
	Settled EventKind = iota + 1
	// Removed: a file reported Settled is gone (deleted, or renamed or
	// moved away; its new name, if inside the tree, settles on its own).
	Removed
	// Scanned: a full walk of the tree finished. Paths lists every file
	// it found that is not ignored, so a consumer can drop what it knows
	// of files that are gone, including those removed while it was not
	// running. The first event of every run is a Scanned.
	Scanned
)

// String names the kind in lower case: "settled", "removed" or "scanned".
func (k EventKind) String() string {
	switch k {
	case Settled:
		return "settled"
	case Removed:
		return "removed"
	case Scanned:
		return "scanned"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one report of a Watcher.
type Event struct {
	Kind     EventKind
	Path     string    // Settled, Removed: the file, under the watched folder
	Size     int64     // Settled: the size that held still
	ModTime  time.Time // Settled: the modification time that held still
	Identity string    // Settled: the file's Identity as it held still
	Since    time.Time // Settled: when first seen as it held still (its last change, or its arrival with an older ModTime)
	Paths    []string  // Scanned: every file found, sorted
}

// WatchOptions configure a Watcher. The zero value settles at once and
// never rescans.
type WatchOptions struct {
	// Settle is how long a file's size and modification time must stay
	// the same, as observed by the Watcher, before it is Settled.
	Settle time.Duration
	// Rescan is the period of full walks of the tree after the first;
	// 0 means never.
	Rescan time.Duration
	// Poll is how often files waiting to settle are looked at. The
	// default is a quarter of Settle, between 10 ms and 500 ms.
	Poll time.Duration
	// Skip, when not nil, leaves out more paths (files or folders) than
	// Ignored does: the watcher's own output folder and database.
	Skip func(path string) bool
	// OnError, when not nil, is told of problems that do not stop the
	// Watcher: an unreadable subfolder, a folder that cannot be watched
	// (it is still found by rescans), a notification error.
	OnError func(error)
}

// Ignored reports whether a file or folder name is one a watcher leaves
// alone: hidden names (".DS_Store", ".sync", "._song.mp3" included),
// Office lock files ("~$…"), backup copies editors and tools leave beside
// a file ("song.wav~"), and the temporary names browsers, download
// managers, torrent and sync clients write to before renaming the
// finished file (".part", ".partial", ".crdownload", ".download",
// ".opdownload", ".crswap", ".tmp"; qBittorrent's ".!qB", µTorrent's
// ".!ut", BitTorrent's ".!bt", Resilio Sync's ".!sync", BitComet's
// ".bc!"). A torrent client's file fills in pieces, in any order and with
// pauses longer than any settle time, often at its full size from the
// start: read under its temporary name, it would give a result (or a
// failure) made of missing pieces. The folders systems and NAS boxes
// keep beside a library are left alone too: a recycle bin's songs are
// deleted ones, and a snapshot's are copies ("$RECYCLE.BIN", "System
// Volume Information", "lost+found"; Synology's "#recycle", "#snapshot"
// and "@eaDir"; QNAP's "@Recycle" and "@Recently-Snapshot").
func Ignored(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "~$") || strings.HasSuffix(base, "~") {
		return true
	}
	lower := strings.ToLower(base)
	switch lower {
	case "$recycle.bin", "system volume information", "lost+found", "#recycle", "#snapshot", "@eadir", "@recycle", "@recently-snapshot":
		return true
	}
	for _, ext := range []string{".part", ".partial", ".crdownload", ".download", ".opdownload", ".crswap", ".tmp", ".!qb", ".!ut", ".!bt", ".!sync", ".bc!"} {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// stamp is what a file looked like: the facts that change when it is
// written to or replaced by another file. Size and time alone miss a
// replacement that keeps them (`mv`, `cp -p`); the identity catches it.
type stamp struct {
	size  int64
	mtime time.Time
	id    string
}

func stampOf(fi fs.FileInfo) stamp { return stamp{fi.Size(), fi.ModTime(), Identity(fi)} }

func (s stamp) equal(o stamp) bool {
	return s.size == o.size && s.mtime.Equal(o.mtime) && s.id == o.id
}

// pending is a file waiting to settle: the stamp last seen and when it
// was first seen.
type pending struct {
	stamp
	since time.Time
}

// Watcher watches one folder tree. Its state belongs to the goroutine
// running Run, so it needs no locks; create it with NewWatcher and run it
// once.
type Watcher struct {
	dir  string
	opts WatchOptions
	fw   *fsnotify.Watcher

	pending map[string]pending
	settled map[string]stamp // files reported Settled, as they were then
	watched map[string]bool  // folders with an fsnotify watch
	// said holds the folder errors reported, by folder and what failed
	// ("add", "read"): a folder that stays unreadable is reported once,
	// not at every rescan. An error a full scan no longer meets is
	// forgotten (the folder recovered, or is gone), so that it is
	// reported again should it come back. met collects the errors the
	// scan under way meets; nil outside scans.
	said   map[sayKey]string
	met    map[sayKey]bool
	outbox []Event
}

type sayKey struct{ path, what string }

// NewWatcher prepares to watch the folder dir and everything below it.
// Nothing is watched until Run.
func NewWatcher(dir string, opts WatchOptions) (*Watcher, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("watch %s: not a folder", dir)
	}
	if opts.Poll <= 0 {
		opts.Poll = min(max(opts.Settle/4, 10*time.Millisecond), 500*time.Millisecond)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	return &Watcher{
		dir:     filepath.Clean(dir),
		opts:    opts,
		fw:      fw,
		pending: map[string]pending{},
		settled: map[string]stamp{},
		watched: map[string]bool{},
		said:    map[sayKey]string{},
	}, nil
}

// Run watches until ctx ends, sending events on out, then releases the
// notification resources and returns nil. It never blocks on out for
// long: events queue inside the Watcher while the consumer is busy, so
// notifications keep being drained. Run must be called once.
func (w *Watcher) Run(ctx context.Context, out chan<- Event) error {
	defer w.fw.Close()
	w.scan()
	poll := time.NewTicker(w.opts.Poll)
	defer poll.Stop()
	var rescan <-chan time.Time
	if w.opts.Rescan > 0 {
		t := time.NewTicker(w.opts.Rescan)
		defer t.Stop()
		rescan = t.C
	}
	for {
		var (
			send chan<- Event
			next Event
		)
		if len(w.outbox) > 0 {
			send, next = out, w.outbox[0]
		}
		select {
		case <-ctx.Done():
			return nil
		case send <- next:
			w.outbox[0] = Event{}
			w.outbox = w.outbox[1:]
		case ev, ok := <-w.fw.Events:
			if !ok {
				return errors.New("watch: notification stopped")
			}
			w.handle(ev)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return errors.New("watch: notification stopped")
			}
			w.report(fmt.Errorf("watch %s: %w", w.dir, err))
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.scan() // events were lost: look at everything
			}
		case <-poll.C:
			w.settle(time.Now())
		case <-rescan:
			w.scan()
		}
	}
}

func (w *Watcher) report(err error) {
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
}

// reportOnce reports err unless the same error was reported for k before.
func (w *Watcher) reportOnce(k sayKey, err error) {
	if w.met != nil {
		w.met[k] = true
	}
	if w.said[k] == err.Error() {
		return
	}
	w.said[k] = err.Error()
	w.report(err)
}

// skip reports whether path is left out. The root itself never is.
func (w *Watcher) skip(path string) bool {
	if path == w.dir {
		return false
	}
	return Ignored(path) || (w.opts.Skip != nil && w.opts.Skip(path))
}

// handle reacts to one notification. Notifications only say where to
// look; what the Watcher does depends on what it finds there now.
func (w *Watcher) handle(ev fsnotify.Event) {
	path := filepath.Clean(ev.Name)
	if w.skip(path) {
		return
	}
	fi, err := statFile(path)
	if err != nil {
		// Gone (removed, or renamed away): forget it and what lay below.
		if path == w.dir {
			w.rootGone(err)
		}
		w.gone(path)
		return
	}
	switch {
	case fi.IsDir():
		if w.watched[path] && (ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
			// A folder appeared here, maybe in place of another (renamed
			// over it, or removed and made again before this was read):
			// the watches of the old one went with it, and marking the
			// new one watched without a watch would leave what is added
			// to it to rescans. Watch it and what is below anew.
			w.unwatch(path)
		}
		// A new folder (or one moved in): watch it and everything in it.
		// Files created before its watch was added are found by the walk.
		w.walk(path, nil)
	case fi.Mode().IsRegular():
		if ev.Has(fsnotify.Chmod) {
			// chmod and chown leave size and time alone; without this a
			// file its reader could not open would never come back.
			delete(w.settled, path)
		}
		w.touch(path, stampOf(fi), time.Now())
	default:
		// No file to read (a device, a pipe, a link to a folder or to
		// nothing): if a file was here, it is gone.
		w.gone(path)
	}
}

// statFile returns what the Watcher goes by for the entry at path. A
// symbolic link stands for what it points to, so that a song linked into
// the folder is read like any other; a link to a folder is not followed
// (a tree could then hold itself), and the caller finds no regular file.
func statFile(path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return fi, err
	}
	target, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if target.IsDir() {
		return fi, nil // the link itself: neither a folder nor a file
	}
	return target, nil
}

// gone forgets path and everything below it, reporting the settled files
// among them as Removed.
func (w *Watcher) gone(path string) {
	w.unwatch(path)
	prefix := path + string(filepath.Separator)
	w.forget(func(p string) bool { return p == path || strings.HasPrefix(p, prefix) })
}

// unwatch removes the watches of path and the folders below it.
func (w *Watcher) unwatch(path string) {
	prefix := path + string(filepath.Separator)
	for d := range w.watched {
		if d == path || strings.HasPrefix(d, prefix) {
			_ = w.fw.Remove(d) // usually already gone with the folder
			delete(w.watched, d)
		}
	}
}

// forget drops the files drop selects, pending or settled, and reports the
// settled ones as Removed, in name order.
func (w *Watcher) forget(drop func(path string) bool) {
	for p := range w.pending {
		if drop(p) {
			delete(w.pending, p)
		}
	}
	var removed []string
	for p := range w.settled {
		if drop(p) {
			removed = append(removed, p)
			delete(w.settled, p)
		}
	}
	sort.Strings(removed)
	for _, p := range removed {
		w.outbox = append(w.outbox, Event{Kind: Removed, Path: p})
	}
}

// touch notes that the file at path looks like s at time now: unless it
// was settled looking like that, it waits (again) to settle.
func (w *Watcher) touch(path string, s stamp, now time.Time) {
	if old, ok := w.settled[path]; ok && old.equal(s) {
		return
	}
	if p, ok := w.pending[path]; ok && p.equal(s) {
		return
	}
	w.pending[path] = pending{stamp: s, since: now}
}

// settle looks at every file waiting to settle and reports those whose
// stamp has held for the settle time.
func (w *Watcher) settle(now time.Time) {
	var ready []string
	for path, p := range w.pending {
		fi, err := statFile(path)
		if err != nil || !fi.Mode().IsRegular() {
			delete(w.pending, path)
			if err != nil {
				w.gone(path)
			}
			continue
		}
		if s := stampOf(fi); !s.equal(p.stamp) {
			w.pending[path] = pending{stamp: s, since: now}
			continue
		}
		if now.Sub(p.since) >= w.opts.Settle {
			ready = append(ready, path)
		}
	}
	sort.Strings(ready) // a folder dropped at once is analysed in name order
	for _, path := range ready {
		p := w.pending[path]
		delete(w.pending, path)
		w.settled[path] = p.stamp
		w.outbox = append(w.outbox, Event{Kind: Settled, Path: path, Size: p.size, ModTime: p.mtime, Identity: p.id, Since: p.since})
	}
}

// walk visits the tree at root, adding a watch to every folder before
// reading it (so nothing created meanwhile is missed) and noting every
// file. seen, when not nil, collects the files found.
func (w *Watcher) walk(root string, seen map[string]bool) {
	now := time.Now()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root && errors.Is(err, fs.ErrNotExist) {
				if root == w.dir {
					w.rootGone(err)
				}
				return nil // vanished since it was noticed
			}
			w.reportOnce(sayKey{path, "read"}, fmt.Errorf("watch %s: %w", path, err))
			return nil // WalkDir skips what it could not read
		}
		if w.skip(path) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if !w.watched[path] {
				if err := w.fw.Add(path); err != nil {
					w.addFailed(path, err)
				} else {
					w.watched[path] = true
				}
			}
			return nil
		}
		var fi fs.FileInfo
		switch {
		case d.Type().IsRegular():
			fi, err = d.Info()
		case d.Type()&fs.ModeSymlink != 0:
			fi, err = statFile(path) // the file a link stands for
		default:
			return nil
		}
		if err != nil || !fi.Mode().IsRegular() {
			return nil // removed since the folder was read, or no file
		}
		if seen != nil {
			seen[path] = true
		}
		w.touch(path, stampOf(fi), now)
		return nil
	})
	if err != nil {
		w.report(fmt.Errorf("watch %s: %w", root, err))
	}
}

// rootGone reports that the watched folder itself is gone, once until a
// scan finds it again: a watcher whose folder was deleted, renamed or
// unmounted would otherwise watch nothing without a word.
func (w *Watcher) rootGone(err error) {
	again := "it is looked for again at every rescan"
	if w.opts.Rescan <= 0 {
		again = "rescans are off (watch.rescan_seconds = 0): it is not looked for again until a restart"
	}
	w.reportOnce(sayKey{w.dir, "gone"}, fmt.Errorf("watch %s: the watched folder is gone (deleted, renamed or unmounted; %w); %s", w.dir, err, again))
}

// addFailed reports that the folder at path could not be watched. The
// system's limit of watches is reported once for the tree, not once per
// folder past it: a library of many albums would otherwise print a line
// for each, and inotify's "no space left on device" sends its reader to
// a disk that is not full.
func (w *Watcher) addFailed(path string, err error) {
	if watchLimitReached(err) {
		w.reportOnce(sayKey{w.dir, "limit"}, fmt.Errorf("watch %s: the system's limit of folder watches is reached (%w: raise fs.inotify.max_user_watches with sysctl): new files in the folders past it are found by rescans only",
			w.dir, err))
		return
	}
	w.reportOnce(sayKey{path, "add"}, fmt.Errorf("watch %s: %w (new files in it are found by rescans only, if it can be read)", path, err))
}

// scan walks the whole tree, forgets the files that are gone and reports
// what it found.
func (w *Watcher) scan() {
	// A folder whose removal went unnoticed would otherwise never be
	// watched again if it came back.
	for d := range w.watched {
		if fi, err := os.Lstat(d); err != nil || !fi.IsDir() {
			_ = w.fw.Remove(d)
			delete(w.watched, d)
		}
	}
	seen := map[string]bool{}
	w.met = map[sayKey]bool{}
	w.walk(w.dir, seen)
	maps.DeleteFunc(w.said, func(k sayKey, _ string) bool { return !w.met[k] })
	w.met = nil
	w.forget(func(p string) bool { return !seen[p] })
	paths := make([]string, 0, len(seen))
	for p := range seen {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	w.outbox = append(w.outbox, Event{Kind: Scanned, Paths: paths})
}
