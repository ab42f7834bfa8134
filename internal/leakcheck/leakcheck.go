// Package leakcheck fails a package's tests when a goroutine they started
// outlives them.
package leakcheck

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Patience is how long Main waits for goroutines to end after the last
// test. goleak.VerifyTestMain waits about half a second, and on a loaded
// two-core machine a test's own goroutine, or a connection a closed server
// is tearing down, can take longer to be scheduled and exit: that is no
// leak, while a goroutine still running seconds later is.
const Patience = 5 * time.Second

// Main runs the tests of m, then fails the run if goroutines other than
// the testing package's own are still running Patience after the last
// test, listing them; it exits with the tests' status otherwise. Call it
// from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := settle(Patience); err != nil {
			fmt.Fprintf(os.Stderr, "leakcheck: goroutines still running %v after the tests: %v\n", Patience, err)
			code = 1
		}
	}
	os.Exit(code)
}

// settle returns nil as soon as no goroutine is left running, or goleak's
// report of those still running after patience.
func settle(patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
