//go:build !unix

package reports

import "time"

// PeakRSS returns 0: this system has no getrusage to ask.
func PeakRSS() int64 { return 0 }

// CPUTime returns 0: this system has no getrusage to ask.
func CPUTime() time.Duration { return 0 }
