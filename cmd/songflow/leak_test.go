package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts must end with it: the commands' pipelines,
// watchers and servers included.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
