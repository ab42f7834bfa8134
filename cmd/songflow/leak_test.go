package main

import (
	"testing"

	"github.com/songflow/songflow/internal/leakcheck"
)

// Every goroutine a test starts must end with it: the commands' pipelines,
// watchers and servers included.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
