//go:build unix

package reports

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A named pipe named like a truth file is refused, or passed over when
// looking for a playlist export, rather than opened: opening it waited
// for a writer, and calibrate hung before its first song, deaf to Ctrl-C.
// (A link to /dev/zero read on until memory ran out.)
func TestLoadTruthRefusesSpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		pipe, want string
	}{
		{"truth.csv", "truth.csv: not a regular file but a named pipe"},
		{"Other.csv", ""},
	} {
		dir := t.TempDir()
		pipe := filepath.Join(dir, tc.pipe)
		if err := syscall.Mkfifo(pipe, 0o644); err != nil {
			t.Skip("no named pipes here:", err)
		}
		os.WriteFile(filepath.Join(dir, "My Playlist.csv"), []byte("Song,Artist,BPM\nHello,Adele,79\n"), 0o644)
		type loaded struct {
			s   *TruthSet
			err error
		}
		done := make(chan loaded, 1)
		go func() {
			s, err := LoadTruth(dir)
			done <- loaded{s, err}
		}()
		select {
		case got := <-done:
			switch {
			case tc.want != "" && (got.err == nil || !strings.Contains(got.err.Error(), tc.want)):
				t.Errorf("%s: error %v, want one with %q", tc.pipe, got.err, tc.want)
			case tc.want == "" && (got.err != nil || got.s.File != "My Playlist.csv"):
				t.Errorf("%s: truth %+v, error %v; want My Playlist.csv", tc.pipe, got.s, got.err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: LoadTruth still waiting on the named pipe after 5 s", tc.pipe)
			// Let the reader's open return, so the goroutine ends.
			if w, err := os.OpenFile(pipe, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		}
	}
}
