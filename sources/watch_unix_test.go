//go:build unix

package sources

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFolderReplacedStaysWatched: a folder renamed over another (an empty
// one of the same name, as a sync tool replaces an album) is watched like
// a new one. Before, the Watcher took the new folder for the old one,
// which it had watched, added no watch, and a file put in it afterwards
// was found by rescans only: with none, never.
func TestFolderReplacedStaysWatched(t *testing.T) {
	h := start(t, WatchOptions{Settle: 50 * time.Millisecond}, nil) // no rescans
	h.next(true)
	album := filepath.Join(h.dir, "album")
	old := filepath.Join(album, "old.flac")
	write(t, old, "old")
	if e := h.next(false); e.Kind != Settled || e.Path != old {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, old)
	}
	if err := os.Remove(old); err != nil {
		t.Fatal(err)
	}
	if e := h.next(false); e.Kind != Removed || e.Path != old {
		t.Fatalf("event = %v %s, want removed %s", e.Kind, e.Path, old)
	}
	staging := filepath.Join(t.TempDir(), "album")
	write(t, filepath.Join(staging, "one.flac"), "one")
	// os.Rename refuses to replace a folder; rename(2) replaces an empty one.
	if err := syscall.Rename(staging, album); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(album, "one.flac")
	if e := h.next(false); e.Kind != Settled || e.Path != one {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, one)
	}
	two := filepath.Join(album, "two.flac")
	write(t, two, "two")
	if e := h.next(false); e.Kind != Settled || e.Path != two {
		t.Fatalf("event = %v %s, want settled %s", e.Kind, e.Path, two)
	}
}

// TestWatchLimitReportedOnce: folders past the system's limit of watches
// are reported once for the tree, in words that do not send the user to
// a full disk, while another folder that cannot be watched is still
// named. Before, a library of 200,000 album folders watched by a user
// whose limit was 192,536 printed 3,665 lines of "watch …/album260: no
// space left on device".
func TestWatchLimitReportedOnce(t *testing.T) {
	var errs []string
	dir := t.TempDir()
	w, err := NewWatcher(dir, WatchOptions{OnError: func(err error) { errs = append(errs, err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.fw.Close()
	for range 2 { // two scans
		for i := range 1000 {
			w.addFailed(filepath.Join(dir, fmt.Sprintf("album%d", i)), syscall.ENOSPC)
		}
	}
	locked := filepath.Join(dir, "locked")
	w.addFailed(locked, syscall.EACCES)
	if runtime.GOOS != "linux" {
		if len(errs) != 1001 {
			t.Errorf("%d reports, want one per folder: ENOSPC is no watch limit here", len(errs))
		}
		return
	}
	if len(errs) != 2 {
		t.Fatalf("%d reports, want 2 (the limit, once; the locked folder):\n%s", len(errs), strings.Join(errs[:min(len(errs), 5)], "\n"))
	}
	if !strings.Contains(errs[0], "fs.inotify.max_user_watches") || !strings.Contains(errs[0], dir) {
		t.Errorf("the limit is reported as %q; want the tree and the setting to raise named", errs[0])
	}
	if !strings.Contains(errs[1], locked) {
		t.Errorf("a folder that cannot be watched for another reason is reported as %q", errs[1])
	}
}
