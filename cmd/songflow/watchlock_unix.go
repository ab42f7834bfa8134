//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// outputLock is a watcher's exclusive hold on its output folder: a
// flock(2) lock on the folder's lock file, so the system drops it however
// the process ends, kill -9 included. The file left behind is harmless,
// and is never removed, since a watcher could then lock a new file of
// that name while another still holds the old one.
type outputLock struct {
	dir, path string
	mu        sync.Mutex // the workers and the report ask as well as the main loop
	f         *os.File
}

// lockOutput takes the lock on the output folder dir, or fails at once if
// another watcher holds it.
func lockOutput(dir string) (*outputLock, error) {
	l := &outputLock{dir: dir, path: filepath.Join(dir, watchLockFile)}
	f, err := l.take()
	if err != nil {
		return nil, err
	}
	l.f = f
	return l, nil
}

func (l *outputLock) take() (*os.File, error) {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", l.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: output folder %s is in use: another songflow watch holds it", l.path, l.dir)
		}
		return nil, fmt.Errorf("lock %s: %w", l.path, err)
	}
	return f, nil
}

// Renew locks the lock file at the path again when it is no longer the
// one held: the output folder or the file was deleted or replaced, and a
// second watcher would otherwise find a file nobody locks and start on
// the folder while this one still writes there. It makes the folder
// again if it is gone. It fails when another watcher holds the new file;
// a path it cannot look at now is tried at the next call. A nil lock
// (a watcher built without one, in tests) has nothing to renew.
func (l *outputLock) Renew() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now, err := os.Stat(l.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if held, herr := l.f.Stat(); err == nil && herr == nil && os.SameFile(held, now) {
		return nil
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil
	}
	f, err := l.take()
	if err != nil {
		return err
	}
	l.f.Close()
	l.f = f
	return nil
}

// Close releases the lock.
func (l *outputLock) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
