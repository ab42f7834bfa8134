//go:build unix

package sources

import (
	"os"
	"path/filepath"
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
