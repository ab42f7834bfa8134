package server

import (
	"testing"

	"github.com/songflow/songflow/internal/leakcheck"
)

// Every goroutine a test starts, the server's included, must end with it:
// a request or analysis that outlives its test is one that would outlive
// its client in production.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
