package stages

import (
	"testing"

	"github.com/songflow/songflow/internal/leakcheck"
)

// Every goroutine a test starts must end with it.
func TestMain(m *testing.M) {
	leakcheck.Main(m)
}
