//go:build !unix

package stages

// processCPUSeconds is unavailable here; benchmarks then report wall time only.
func processCPUSeconds() float64 { return 0 }
