//go:build linux

package sinks

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/songflow/songflow/stages"
)

// TestAppendAfterShortWrite: a write the disk cannot take whole leaves
// part of a line, and the next line must not be glued to it. A full disk
// is played by a file size limit (RLIMIT_FSIZE), under which write(2)
// stores what fits and then fails with EFBIG. The limit binds every file
// the process writes, so it is set in a child process.
func TestAppendAfterShortWrite(t *testing.T) {
	if path := os.Getenv("SONGFLOW_SHORT_WRITE"); path != "" {
		shortWrite(t, path)
		return
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAppendAfterShortWrite$", "-test.v")
	cmd.Env = append(os.Environ(), "SONGFLOW_SHORT_WRITE="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("child skipped:\n%s", out)
	}
	lines := readLines(t, path) // fails on a line glued to a torn one
	if len(lines) != 2 || lines[0].ContentHash != "h1" || lines[1].ContentHash != "h3" {
		t.Fatalf("lines = %+v; want h1 and h3", lines)
	}
}

// shortWrite is the child of TestAppendAfterShortWrite.
func shortWrite(t *testing.T, path string) {
	j, err := OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append("h1", stages.Result{BPM: 100, AnalyzerVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	full := lim
	full.Cur = uint64(fi.Size()) + 10
	if full.Cur > lim.Max {
		t.Skipf("file size limit %d", lim.Max)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Fatal(err)
	}
	_, err = j.Append("h2", stages.Result{File: strings.Repeat("long name ", 20), AnalyzerVersion: "v1"})
	if restore := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); restore != nil {
		t.Fatal(restore)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("append over the limit: %v, want EFBIG", err)
	}
	now, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if now.Size() != fi.Size() {
		t.Fatalf("after the failed write the file is %d bytes, want %d", now.Size(), fi.Size())
	}
	if wrote, err := j.Append("h3", stages.Result{BPM: 130, AnalyzerVersion: "v1"}); err != nil || !wrote {
		t.Fatalf("append after the failed write: %v, %v", wrote, err)
	}
}
