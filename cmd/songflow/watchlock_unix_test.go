//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWatchOutputFolderLocked: a watcher whose output folder another one
// holds fails at once, saying so, and leaves the folder alone; the lock
// goes with the process that held it. Before, both ran and interleaved
// their lines in results.jsonl.
func TestWatchOutputFolderLocked(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	if err := os.MkdirAll(e.out, 0o755); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(e.out, watchLockFile)
	f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	refused := func(what string) {
		t.Helper()
		watchRefuses(t, what, e.args(), 1, "output folder "+e.out+" is in use: another songflow watch holds it")
	}
	refused("lock held by the test")
	for _, p := range []string{filepath.Join(e.out, watchResultsFile), e.db} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the refused watcher created %s", p)
		}
	}

	// Released, the folder takes a watcher, which holds it in turn.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r := startWatch(t, e)
	waitUntil(t, "the watcher to start", func() bool { return r.out.count("watching", "") == 1 })
	refused("a watcher running")
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
	g, err := os.OpenFile(lock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := syscall.Flock(int(g.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("lock still held after the watcher stopped: %v", err)
	}
}
