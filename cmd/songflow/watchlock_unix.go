//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockOutput takes an exclusive lock on the lock file in the output
// folder dir, or fails at once if another watcher holds it. unlock
// releases it. The lock is flock(2)'s, so the system drops it however the
// process ends, kill -9 included: the file left behind is harmless, and
// is never removed, since a watcher could then lock a new file of that
// name while another still holds the old one.
func lockOutput(dir string) (unlock func() error, err error) {
	path := filepath.Join(dir, watchLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: output folder %s is in use: another songflow watch holds it", path, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f.Close, nil
}
