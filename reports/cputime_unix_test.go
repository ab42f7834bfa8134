//go:build unix

package reports

import (
	"testing"
	"time"
)

// TestCPUTime checks that spinning makes the process's CPU time grow, in
// nanoseconds (a unit off by 1000 would never reach 20 ms, or pass at
// once). Other processes share the cores, so the CPU time is not compared
// with the wall time.
func TestCPUTime(t *testing.T) {
	before := CPUTime()
	if before <= 0 {
		t.Fatalf("CPU time %v before spinning", before)
	}
	start := time.Now()
	for CPUTime()-before < 20*time.Millisecond {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("CPU time grew by %v in 10 s of spinning", CPUTime()-before)
		}
	}
	if wall := time.Since(start); wall < 5*time.Millisecond {
		t.Errorf("20 ms of CPU time in %v of wall time on one goroutine", wall)
	}
}
