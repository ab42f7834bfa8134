//go:build !linux

package sources

// watchLimitReached reports whether err is the system refusing a watch
// for want of watches. Only Linux's inotify says so in words that mislead
// (ENOSPC); elsewhere the error is reported as it is.
func watchLimitReached(err error) bool { return false }
