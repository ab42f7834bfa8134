//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestWatchOutputFolderDeleted: a watcher whose output folder is deleted
// under it makes the folder and its lock again, so a second watcher
// started on the folder afterwards is still refused. Before, the first
// watcher made results.jsonl again but not the lock, and the second ran
// beside it, both analysing every file dropped in.
func TestWatchOutputFolderDeleted(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	r := startWatch(t, e)
	waitUntil(t, "the watcher to start", func() bool { return r.out.count("watching", "") == 1 })
	if err := os.RemoveAll(e.out); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(e.out, watchLockFile)
	waitUntil(t, "the lock to be taken again", func() bool {
		f, err := os.OpenFile(lock, os.O_RDWR, 0)
		if err != nil {
			return false
		}
		defer f.Close()
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
	})
	watchRefuses(t, "after the folder was deleted", e.args(), 1, "output folder "+e.out+" is in use: another songflow watch holds it")
	if code := r.stop(t); code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, r.err)
	}
}

// TestOutputLockRenewLost: when another holder has taken a new lock file
// at the path (the folder deleted and claimed by another watcher before
// this one saw it), Renew fails, saying the folder is in use.
func TestOutputLockRenewLost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	os.MkdirAll(dir, 0o755)
	l, err := lockOutput(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Renew(); err != nil {
		t.Fatalf("renew of a lock still held: %v", err)
	}
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	other, err := lockOutput(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := l.Renew(); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Errorf("renew after another took the folder: %v, want in use", err)
	}
}

// TestWatchStopsWhenFolderTaken: a watcher that finds another holding the
// lock of its output folder (the folder deleted and claimed before the
// watcher could take it again) stops at once, exits 1, and writes nothing
// more there: no results.jsonl, no report.
func TestWatchStopsWhenFolderTaken(t *testing.T) {
	e := newWatchEnv(t, 0.2, 60)
	r := startWatch(t, e)
	waitUntil(t, "the watcher to start", func() bool { return r.out.count("watching", "") == 1 })
	lock := filepath.Join(e.out, watchLockFile)
	var held *os.File
	// The watcher looks at its lock every second: claim the folder in
	// between, trying again if the watcher got there first.
	for try := 0; held == nil; try++ {
		if try == 20 {
			t.Fatal("could not claim the deleted folder before the watcher")
		}
		os.RemoveAll(e.out)
		os.MkdirAll(e.out, 0o755)
		f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			held = f
		} else {
			f.Close()
			time.Sleep(100 * time.Millisecond)
		}
	}
	defer held.Close()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
	case <-time.After(watchPatience):
		t.Fatal("the watcher did not stop after losing its folder")
	}
	if !strings.Contains(r.err.String(), "is in use") {
		t.Errorf("stderr does not say the folder is in use:\n%s", r.err)
	}
	ents, _ := os.ReadDir(e.out)
	for _, d := range ents {
		if d.Name() != watchLockFile {
			t.Errorf("the watcher wrote %s into the folder it lost", d.Name())
		}
	}
}
