//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/songflow/songflow/store"
)

// watchFullChild is what TestWatchResultsFileFull runs in its child.
type watchFullChild struct {
	Args  []string
	Limit uint64 // RLIMIT_FSIZE until Lift exists
	Lift  string
}

// TestWatchResultsFileFull: the disk holding results.jsonl fills up while
// a song is analysed; once there is room again its line is written, with
// the watcher left running. Before, the line was missing from the file
// until the next start. A full disk is played by a file size limit
// (RLIMIT_FSIZE) just above the size results.jsonl starts with, far above
// the store's files; the limit binds every file a process writes, so the
// watcher runs in a child process, which lifts it when the parent makes a
// file.
func TestWatchResultsFileFull(t *testing.T) {
	if env := os.Getenv("SONGFLOW_WATCH_FULL"); env != "" {
		runWatchFullChild(t, env)
		return
	}
	if testing.Short() {
		t.Skip("runs the watcher as a child process")
	}
	e := newWatchEnv(t, 0.2, 0)
	if err := os.MkdirAll(e.out, 0o755); err != nil {
		t.Fatal(err)
	}
	// A line that is no result, which the watcher keeps as it is.
	pad := append(bytes.Repeat([]byte("x"), 1<<20), '\n')
	if err := os.WriteFile(filepath.Join(e.out, watchResultsFile), pad, 0o644); err != nil {
		t.Fatal(err)
	}
	lift := filepath.Join(e.root, "lift")
	env, _ := json.Marshal(watchFullChild{Args: e.args(), Limit: uint64(len(pad)) + 256, Lift: lift})
	logPath := filepath.Join(e.root, "child.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchResultsFileFull$", "-test.v")
	cmd.Env = append(os.Environ(), "SONGFLOW_WATCH_FULL="+string(env))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log.Close()
	childLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	waitUntil(t, "the watcher to start", func() bool {
		if s := childLog(); strings.Contains(s, "--- SKIP") || strings.Contains(s, "--- FAIL") {
			t.Fatalf("child:\n%s", s)
		}
		return strings.Contains(childLog(), "watching ")
	})
	e.put(t, "a.wav", calibrationSong(t, "01-adagio-c-major.wav"))
	waitUntil(t, "a.wav's line to be refused", func() bool {
		return hasState(t, e, "a.wav", store.FileDone) && strings.Contains(childLog(), "file too large")
	})
	if n := len(jsonlLines(t, e)); n != 0 {
		t.Fatalf("%d lines written past the limit", n)
	}
	if err := os.WriteFile(lift, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a.wav's line once there is room", func() bool { return len(jsonlLines(t, e)) == 1 })
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGINT: %v\n%s", err, childLog())
	}
	if lines := jsonlLines(t, e); len(lines) != 1 || lines[0].ContentHash != files(t, e)["a.wav"].Hash {
		t.Fatalf("results.jsonl: %+v; want a.wav's line", lines)
	}
}

func runWatchFullChild(t *testing.T, env string) {
	var c watchFullChild
	if err := json.Unmarshal([]byte(env), &c); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if c.Limit > lim.Max {
		t.Skipf("file size limit %d", lim.Max)
	}
	full := lim
	full.Cur = c.Limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &full); err != nil {
		t.Fatal(err)
	}
	ctx, stop := interruptContext() // as main does
	defer stop()
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(c.Lift); err == nil {
				if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
					panic(err)
				}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if code := runWatch(ctx, c.Args, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}
