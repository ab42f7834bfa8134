//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package main

// outputLock does nothing here: package syscall has no flock on this
// system (Windows would need LockFileEx from golang.org/x/sys, a
// dependency songflow does not take for this), so two watchers sharing
// an output folder are not stopped from interleaving their results.
type outputLock struct{}

func lockOutput(dir string) (*outputLock, error) { return &outputLock{}, nil }

// Renew does nothing (see outputLock).
func (*outputLock) Renew() error { return nil }

// Close does nothing (see outputLock).
func (*outputLock) Close() error { return nil }
