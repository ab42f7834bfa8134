package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// Processes that open a new database at once (serve and watch share one,
// and a test may read it while the watcher creates it) must all get it:
// creating the tables may not fail with SQLITE_BUSY, which WAL mode
// returns at once, without waiting, when an autocommit statement that
// began by reading the schema finds another connection has written since.
func TestConcurrentOpenCreatesTables(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("r%d.db", round))
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(ctx, path)
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				if err := s.EnsureFiles(ctx); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
