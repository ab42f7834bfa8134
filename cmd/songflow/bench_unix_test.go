//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/songflow/songflow/internal/audiotest"
)

// runUnblocked runs the command args. Should it still run after a grace
// that a working command never needs, it opens and closes the write end
// of each of pipes whenever a reader waits on one, so that a command
// stuck opening or reading a named pipe ends and the test can fail
// rather than hang.
func runUnblocked(t *testing.T, args []string, pipes ...string) (code int, stdout, stderr string, blocked bool) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), args, &out, &errOut) }()
	grace := time.After(30 * time.Second)
	for {
		select {
		case code = <-done:
			return code, out.String(), errOut.String(), blocked
		case <-grace:
			blocked = true
			grace = nil
		case <-time.After(100 * time.Millisecond):
			if !blocked {
				continue
			}
			for _, p := range pipes {
				// Non-blocking: it succeeds only when a reader waits.
				if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					w.Close()
				}
			}
		}
	}
}

// TestBenchSkipsSpecialFiles: bench of a folder holding a named pipe
// beside a song measures the song. Before, listing the folder opened the
// pipe to sniff it and waited for a writer for good, where Ctrl-C could
// not reach. What bench passes over for a reason the user should hear of
// (a path named on the command line that is not audio or not a file, a
// link to nothing) is named on stderr with the reason; before, it was
// dropped without a word.
func TestBenchSkipsSpecialFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	dir := t.TempDir()
	songs := filepath.Join(dir, "songs")
	if err := os.Mkdir(songs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(songs, "a.wav"), audiotest.ClickTrack(3, 22050), 0o644); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(songs, "pipe.wav")
	named := filepath.Join(dir, "named.wav")
	for _, p := range []string{inside, named} {
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Skipf("cannot make a named pipe: %v", err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "missing.wav"), filepath.Join(songs, "gone.wav")); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("not a song\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An ordinary file that is not audio, in a folder, is passed over
	// quietly, as calibrate's truth.csv is.
	if err := os.WriteFile(filepath.Join(songs, "cover.txt"), []byte("liner notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A link to a folder named on the command line is the folder; before,
	// it was passed over as a file that would not read.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(songs, link); err != nil {
		t.Fatal(err)
	}

	code, stdout, stderr, blocked := runUnblocked(t, []string{"bench", "--repeat", "1", songs, named, notes, link}, inside, named)
	if blocked {
		t.Errorf("bench blocked on a named pipe")
	}
	if code != 0 || !strings.Contains(stdout, "songs            2 analysed, 0 failed (2 files × 1)") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant 0 and the song and its link's copy analysed", code, stdout, stderr)
	}
	for _, want := range [][]string{
		{named, "named pipe"},
		{inside, "named pipe"},
		{filepath.Join(songs, "gone.wav"), "no such file"},
		{notes, "not audio"},
	} {
		found := false
		for _, line := range strings.Split(stderr, "\n") {
			if strings.Contains(line, want[0]+":") && strings.Contains(line, want[1]) {
				found = true
			}
		}
		if !found {
			t.Errorf("stderr does not name %s with %q:\n%s", want[0], want[1], stderr)
		}
	}
	if strings.Contains(stderr, "cover.txt") {
		t.Errorf("stderr names a file in a folder that is simply not audio:\n%s", stderr)
	}
}

// TestAnalyzeNamedPipe: analyze of a named pipe answers at once with a
// line naming it and what it is. Before, opening the pipe waited for a
// writer for good, and Ctrl-C only printed the line, the process then
// waiting on the stuck decoder.
func TestAnalyzeNamedPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	pipe := filepath.Join(t.TempDir(), "pipe.wav")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Skipf("cannot make a named pipe: %v", err)
	}
	code, stdout, stderr, blocked := runUnblocked(t, []string{"analyze", pipe}, pipe)
	if blocked {
		t.Errorf("analyze blocked on a named pipe")
	}
	if code != 1 || !strings.Contains(stdout, `"file":"`+pipe+`"`) || !strings.Contains(stdout, "not a regular file but a named pipe") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant 1 and a line naming the pipe", code, stdout, stderr)
	}
}
