//go:build linux

package sinks

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/songflow/songflow/stages"
)

// inChild runs the calling test again in a child process, where child
// plays its part on a results.jsonl path the parent chose: a file size
// limit binds every file a process writes, so it cannot be set in the
// test process itself. In the child it returns parent false; in the
// parent, the path once the child has passed (the test is skipped when
// the child skipped).
func inChild(t *testing.T, env string, child func(*testing.T, string)) (path string, parent bool) {
	t.Helper()
	if path := os.Getenv(env); path != "" {
		child(t, path)
		return "", false
	}
	path = filepath.Join(t.TempDir(), "results.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skipf("child skipped:\n%s", out)
	}
	return path, true
}

// TestAppendAfterShortWrite: a write the disk cannot take whole leaves
// part of a line, and the next line must not be glued to it; nor may the
// line be lost: once there is room it is written, before the lines that
// came after it (before, it was dropped, and only a restart of the
// watcher wrote it again from the store). A full disk is played by a
// file size limit (RLIMIT_FSIZE), under which write(2) stores what fits
// and then fails with EFBIG. The limit binds every file the process
// writes, so it is set in a child process.
func TestAppendAfterShortWrite(t *testing.T) {
	path, parent := inChild(t, "SONGFLOW_SHORT_WRITE", shortWrite)
	if !parent {
		return
	}
	lines := readLines(t, path) // fails on a line glued to a torn one
	var got []string
	for _, l := range lines {
		got = append(got, l.ContentHash)
	}
	if want := []string{"h1", "h2", "h3", "h4"}; !slices.Equal(got, want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
}

// shortWrite is the child of TestAppendAfterShortWrite.
func shortWrite(t *testing.T, path string) {
	j, err := OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := j.Append("h1", stages.Result{File: "a.wav", BPM: 100, AnalyzerVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	restore := fillDisk(t, path)
	_, err = j.Append("h2", stages.Result{File: strings.Repeat("long name ", 20), AnalyzerVersion: "v1"})
	if !errors.Is(err, syscall.EFBIG) {
		t.Errorf("append over the limit: %v, want EFBIG", err)
	}
	// Still full: the next line waits behind the first.
	if wrote, err := j.Append("h3", stages.Result{File: "c.wav", BPM: 130, AnalyzerVersion: "v1"}); wrote || err == nil {
		t.Errorf("append while full: wrote %v, %v; want an error", wrote, err)
	}
	owed, has := j.Owed(), j.Has(strings.Repeat("long name ", 20), "h2", "v1")
	restore()
	if owed != 2 || has {
		t.Fatalf("while full: %d lines owed, h2 held %v; want 2, false", owed, has)
	}
	now, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if now.Size() != fi.Size() {
		t.Fatalf("after the failed writes the file is %d bytes, want %d", now.Size(), fi.Size())
	}
	if err := j.Flush(); err != nil || j.Owed() != 0 || !j.Has(strings.Repeat("long name ", 20), "h2", "v1") || !j.Has("c.wav", "h3", "v1") {
		t.Fatalf("flush with room: %v, %d owed", err, j.Owed())
	}
	if wrote, err := j.Append("h4", stages.Result{File: "d.wav", BPM: 140, AnalyzerVersion: "v1"}); err != nil || !wrote {
		t.Fatalf("append after the failed writes: %v, %v", wrote, err)
	}
}

// TestOwedLinesGoToTheFileAtThePath: lines a full disk refused are
// written, once there is room, to the file at the path, though it was
// replaced meanwhile, and not again if the new file has them already.
// Before, they went to the replaced file, unlinked. The full disk is
// played as in TestAppendAfterShortWrite, in a child process.
func TestOwedLinesGoToTheFileAtThePath(t *testing.T) {
	path, parent := inChild(t, "SONGFLOW_OWED_REPLACED", owedReplaced)
	if !parent {
		return
	}
	// h2 and h3 were owed; the new file held h3 already.
	if got, want := fileLines(t, path), []string{"h3", "h2", "h4"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

// owedReplaced is the child of TestOwedLinesGoToTheFileAtThePath.
func owedReplaced(t *testing.T, path string) {
	j, err := OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	mustAppend(t, j, "h1", true)
	restore := fillDisk(t, path)
	_, err2 := j.Append("h2", stages.Result{File: fileOf("h2"), BPM: 100, AnalyzerVersion: "v1"})
	_, err3 := j.Append("h3", stages.Result{File: fileOf("h3"), BPM: 100, AnalyzerVersion: "v1"})
	restore()
	if err2 == nil || err3 == nil || j.Owed() != 2 {
		t.Fatalf("appends while full: %v, %v, %d owed; want errors, 2 owed", err2, err3, j.Owed())
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(resultLine("h3")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil || j.Owed() != 0 {
		t.Fatalf("flush with room: %v, %d owed", err, j.Owed())
	}
	mustAppend(t, j, "h4", true)
}

// TestOwedLinesKeepAFilesOrder: while the disk is full, x.wav goes from
// A to B (appended twice, as a retry would) and back to A. Once there is
// room, B's line is written once and A's after it, so the newest line
// naming x.wav says A. Before, a line was owed once per content: A's was
// taken for written and x.wav's newest line said B. The full disk is
// played as in TestAppendAfterShortWrite, in a child process.
func TestOwedLinesKeepAFilesOrder(t *testing.T) {
	path, parent := inChild(t, "SONGFLOW_OWED_ORDER", owedOrder)
	if !parent {
		return
	}
	var got []string
	for _, l := range readLines(t, path) {
		got = append(got, l.File+" "+l.ContentHash)
	}
	if want := []string{"x.wav hA", "x.wav hB", "x.wav hA"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

// owedOrder is the child of TestOwedLinesKeepAFilesOrder.
func owedOrder(t *testing.T, path string) {
	j, err := OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	a := stages.Result{File: "x.wav", BPM: 104, AnalyzerVersion: "v1"}
	b := stages.Result{File: "x.wav", BPM: 142, AnalyzerVersion: "v1"}
	if _, err := j.Append("hA", a); err != nil {
		t.Fatal(err)
	}
	restore := fillDisk(t, path)
	_, errB := j.Append("hB", b)
	_, errB2 := j.Append("hB", b)
	owedB := j.Owed()
	_, errA := j.Append("hA", a)
	restore()
	if errB == nil || errB2 == nil || errA == nil || owedB != 1 || j.Owed() != 2 {
		t.Fatalf("appends while full: %v, %v, %v; owed %d then %d; want errors, 1 then 2", errB, errB2, errA, owedB, j.Owed())
	}
	if err := j.Flush(); err != nil || j.Owed() != 0 || !j.Has("x.wav", "hA", "v1") {
		t.Fatalf("flush with room: %v, %d owed, x.wav's newest A %v", err, j.Owed(), j.Has("x.wav", "hA", "v1"))
	}
	if wrote, err := j.Append("hA", a); err != nil || wrote {
		t.Fatalf("append A after the flush: wrote %v, %v; want nothing written", wrote, err)
	}
}

// fillDisk makes the process's writes fail past 10 bytes beyond the
// current end of the file at path, as a full disk would (RLIMIT_FSIZE),
// and returns the function that lifts the limit again.
func fillDisk(t *testing.T, path string) (restore func()) {
	t.Helper()
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
	return func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
	}
}
