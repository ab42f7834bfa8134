package leakcheck

import (
	"testing"
	"time"
)

// A goroutine that ends within the patience is waited for; one that does
// not is reported.
func TestSettle(t *testing.T) {
	done := make(chan struct{})
	go func() { time.Sleep(700 * time.Millisecond); close(done) }()
	if err := settle(3 * time.Second); err != nil {
		t.Errorf("a goroutine ending after 0.7 s: %v", err)
	}
	<-done

	stop := make(chan struct{})
	go func() { <-stop }()
	if err := settle(200 * time.Millisecond); err == nil {
		t.Error("a goroutine blocked for good: no error")
	}
	close(stop)
	if err := settle(3 * time.Second); err != nil {
		t.Errorf("after it ended: %v", err)
	}
}
