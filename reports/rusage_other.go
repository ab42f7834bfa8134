//go:build !unix

package reports

// PeakRSS returns 0: this system has no getrusage to ask.
func PeakRSS() int64 { return 0 }
