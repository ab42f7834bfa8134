//go:build unix

package reports

import (
	"runtime"
	"syscall"
	"time"
)

// PeakRSS returns the largest resident set size the process has had, in
// bytes (getrusage's ru_maxrss), or 0 when the system will not say.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	// Darwin reports bytes; Linux and the BSDs kilobytes.
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

// CPUTime returns the user and system time the process has used so far,
// or 0 when the system will not say.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
