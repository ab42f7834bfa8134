//go:build unix

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A configuration read from a named pipe (`--config <(…)`), which has no
// size to check beforehand, still loads: the size limit is a limit on
// what is read. A device that never ends, /dev/zero, is refused at the
// limit, naming it.
func TestFileFromPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipeline.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot make a named pipe: %v", err)
	}
	wrote := make(chan error, 1)
	go func() {
		// Opening the pipe for writing waits for Load to open it for
		// reading.
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			wrote <- err
			return
		}
		_, err = w.WriteString("[analysis]\nhop = 256\n[stages.fft]\nworkers = 3\n")
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		wrote <- err
	}()
	c, o, err := Load(fifo, nil)
	// Had Load not opened the pipe, the writer would wait for good:
	// opening the other end without waiting lets it finish.
	if r, rerr := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); rerr == nil {
		defer r.Close()
	}
	if werr := <-wrote; werr != nil {
		t.Fatalf("writing the pipe: %v", werr)
	}
	if err != nil {
		t.Fatalf("Load from a named pipe: %v", err)
	}
	if c.Analysis.Hop != 256 || c.Stages.FFT.Workers != 3 || o["analysis.hop"] != "file "+fifo {
		t.Errorf("from the pipe: hop %d, fft workers %d, origin %q; want 256, 3, the pipe", c.Analysis.Hop, c.Stages.FFT.Workers, o["analysis.hop"])
	}

	_, _, err = Load("/dev/zero", nil)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "/dev/zero") || !strings.Contains(err.Error(), strconv.Itoa(maxFileSize)) {
		t.Errorf("/dev/zero: %v; want an *Error naming it and the limit of %d bytes", err, maxFileSize)
	}
}
