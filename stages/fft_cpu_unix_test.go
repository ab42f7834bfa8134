//go:build unix

package stages

import "syscall"

// processCPUSeconds is the user plus system CPU time of the test process.
// Benchmarks divide work by it as well as by wall time, because on a shared
// machine the wall clock also counts time spent waiting for a core.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
