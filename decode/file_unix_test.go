//go:build unix

package decode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFileNotRegular: a named pipe, a link to one, a folder or a device
// given as a song is refused at once with an error naming it. Before, a
// named pipe that no program writes blocked File in open(2) for good,
// where no cancellation reaches: `songflow analyze pipe.wav` hung, and
// Ctrl-C could not stop it.
func TestFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.wav")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a named pipe: %v", err)
	}
	link := filepath.Join(dir, "link.wav")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, says string }{
		{fifo, "named pipe"},
		{link, "named pipe"},
		{dir, "folder"},
		{os.DevNull, "device"},
	}
	for _, c := range cases {
		done := make(chan error, 1)
		go func() {
			_, err := File(context.Background(), c.path, Options{})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			// Open the pipe's other end, which ends the blocked open,
			// so that the goroutine ends with the test.
			w, werr := os.OpenFile(fifo, os.O_RDWR, 0)
			err = <-done
			if werr == nil {
				w.Close()
			}
			t.Errorf("%s: File blocked (then returned %v)", c.path, err)
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.path) ||
			!strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one naming the file and saying it is not a regular file but a %s", c.path, err, c.says)
		}
	}
}
