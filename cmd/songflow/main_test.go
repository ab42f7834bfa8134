package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), nil, &out, &errOut); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut.String())
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[stages.fft]\nworkers = 0\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "--check", bad}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "stages.fft.workers") || !strings.Contains(errOut.String(), "line 2") {
		t.Errorf("bad file: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"config", "--check", filepath.Join("..", "..", "pipeline.toml")}, &out, &errOut); code != 0 {
		t.Errorf("shipped pipeline.toml: exit %d, stderr %q", code, errOut.String())
	}
}

func TestConfigPrintsOrigins(t *testing.T) {
	t.Setenv("ANALYSIS_HOP_LENGTH", "256")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "hop = 256 # env ANALYSIS_HOP_LENGTH") {
		t.Errorf("effective configuration lacks the env override:\n%s", out.String())
	}
}

// TestAnalyze runs two calibration songs of known tempo and key and one
// file that is not audio: one JSON line each, in order, and exit 1.
func TestAnalyze(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	cal := filepath.Join("..", "..", "testdata", "calibration")
	files := []string{
		filepath.Join(cal, "01-adagio-c-major.wav"),
		filepath.Join(cal, "notes.txt"),
		filepath.Join(cal, "07-house-d-minor.mp3"),
	}
	var out, errOut bytes.Buffer
	// A flag after the files, as users write it.
	args := append(append([]string{"analyze"}, files...), "--config", filepath.Join("..", "..", "pipeline.toml"))
	code := run(context.Background(), args, &out, &errOut)
	if code != 1 {
		t.Errorf("exit %d, want 1 (one file failed); stderr %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	var recs [3]map[string]any
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &recs[i]); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if recs[i]["file"] != files[i] {
			t.Errorf("line %d is for %v, want %s", i, recs[i]["file"], files[i])
		}
	}
	if e, _ := recs[1]["error"].(string); !strings.Contains(e, "notes.txt") || !strings.Contains(e, "unknown format") {
		t.Errorf("error for notes.txt = %q, want it named with the reason", e)
	}
	for i, want := range map[int]struct {
		bpm float64
		key string
	}{0: {60, "C Major"}, 2: {124, "D Minor"}} {
		bpm, _ := recs[i]["bpm"].(float64)
		if bpm < want.bpm*0.96 || bpm > want.bpm*1.04 || recs[i]["key"] != want.key {
			t.Errorf("%s: bpm %v key %v, want %v and %s", files[i], bpm, recs[i]["key"], want.bpm, want.key)
		}
	}
}

// TestBench gives --repeat after the file, as the README writes it.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	song := filepath.Join("..", "..", "testdata", "calibration", "05-shuffle-d-major.wav")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bench", song, "--repeat", "2"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"songs            2 analysed, 0 failed", "audio            24.0 s", "per core", "peak memory", "bottleneck"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	for _, stage := range []string{"decode", "resample", "chunk", "fft", "aggregate"} {
		if !strings.Contains(out.String(), stage) {
			t.Errorf("bench output lacks stage %s", stage)
		}
	}
}

// TestNotAudio checks the one rule every front door uses to tell audio
// from other files, including an ID3 tag too long for the sniffed head.
func TestNotAudio(t *testing.T) {
	dir := t.TempDir()
	id3 := func(size int) []byte {
		// ID3v2.4 header with a synchsafe size, then padding.
		h := []byte{'I', 'D', '3', 4, 0, 0, byte(size >> 21 & 0x7f), byte(size >> 14 & 0x7f), byte(size >> 7 & 0x7f), byte(size & 0x7f)}
		return append(h, make([]byte, size)...)
	}
	wav, err := os.ReadFile(filepath.Join("..", "..", "testdata", "calibration", "05-shuffle-d-major.wav"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		data  []byte
		audio bool
	}{
		{"song.wav", wav, true},
		{"notes.txt", []byte("These are notes."), false},
		{"empty.mp3", nil, false},
		// Cover art larger than the sniffed head: the audio lies beyond.
		{"big-tag.mp3", id3(sniffBytes + 100), true},
		// A short file that is only a tag holds no audio at all.
		{"only-tag.mp3", id3(100), false},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		reason := notAudio(p)
		if (reason == "") != c.audio {
			t.Errorf("%s: notAudio = %q, want audio %v", c.name, reason, c.audio)
		}
		if got := sniffAudio(c.data); got != reason {
			t.Errorf("%s: sniffAudio = %q, notAudio = %q; they must agree", c.name, got, reason)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "")
	fit := fs.Bool("fit", false, "")
	pos, err := parseInterspersed(fs, []string{"--fit", "a", "--out", "x", "b", "c"})
	if err != nil || !slices.Equal(pos, []string{"a", "b", "c"}) || *out != "x" || !*fit {
		t.Errorf("positional %q, --out %q, --fit %v, err %v", pos, *out, *fit, err)
	}
	if _, err := parseInterspersed(fs, []string{"a", "--bogus"}); err == nil {
		t.Error("an unknown flag after a positional argument was accepted")
	}
	// After "--" everything is a file, however it is spelled: before, only
	// the first argument after it was, and `analyze -- a.wav -b.wav`
	// failed with "flag provided but not defined: -b.wav".
	*out = ""
	pos, err = parseInterspersed(fs, []string{"--out", "x", "--", "a", "-b", "--out", "--"})
	if err != nil || !slices.Equal(pos, []string{"a", "-b", "--out", "--"}) || *out != "x" {
		t.Errorf("after --: positional %q, --out %q, err %v", pos, *out, err)
	}
	pos, err = parseInterspersed(fs, []string{"a", "--", "-b"})
	if err != nil || !slices.Equal(pos, []string{"a", "-b"}) {
		t.Errorf("-- after a positional argument: positional %q, err %v", pos, err)
	}
}

// TestCommandErrors covers the usage and configuration errors of analyze,
// bench, config and keys: each names its cause on stderr and exits 2
// (usage, configuration) or 1 (nothing to work on).
func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.toml", "[stages.fft]\nworkers = 0\n")
	profile := write("profile.toml", "[analysis]\nkey_profile = \"krumhansl-kessler\"\n")
	noMap := write("nomap.toml", fmt.Sprintf("[analysis]\ncalibration = %q\n", filepath.Join(dir, "missing.json")))
	notes := write("notes.txt", "not audio")
	song := filepath.Join("..", "..", "testdata", "calibration", "05-shuffle-d-major.wav")
	for _, tc := range []struct {
		args []string
		code int
		want string // on stderr
	}{
		{[]string{"analyze"}, 2, "usage: songflow analyze"},
		{[]string{"analyze", song, "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"analyze", song, "--config", bad}, 2, "file " + bad + " line 2: stages.fft.workers: must be 1..1024, got 0"},
		{[]string{"analyze", song, "--config", profile}, 2, "file " + profile + " line 2: analysis.key_profile: must be "},
		{[]string{"analyze", song, "--config", noMap}, 2, "songflow: file " + noMap + " line 2: analysis.calibration: calibration: open "},
		{[]string{"bench", song, "--repeat", "0"}, 2, "--repeat must be at least 1"},
		{[]string{"bench", song, song, "--repeat", "4611686018427387904"}, 2, "--repeat 4611686018427387904: too many runs of 2 files"},
		{[]string{"bench", song, "--config", bad}, 2, "stages.fft.workers"},
		{[]string{"bench", song, "--config", noMap}, 2, "songflow: file " + noMap + " line 2: analysis.calibration: calibration: open "},
		{[]string{"bench", filepath.Join(dir, "missing")}, 2, "missing"},
		{[]string{"bench", notes}, 1, "no audio files found"},
		{[]string{"config", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"config", "--config", bad}, 2, "file " + bad + " line 2: stages.fft.workers"},
		{[]string{"config", "--check", profile}, 2, "analysis.key_profile"},
		{[]string{"config", "--check", filepath.Join(dir, "none.toml")}, 2, "none.toml"},
		{[]string{"keys"}, 2, "songflow keys create"},
		{[]string{"keys", "-h"}, 0, "songflow keys create"},
		{[]string{"keys", "list", "--config", bad}, 2, "stages.fft.workers"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut)
		if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d, stderr with %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
		if strings.Contains(errOut.String(), "unknown subcommand") {
			t.Errorf("%q: stderr %q", tc.args, errOut.String())
		}
	}
}

// TestHelpExitsZero checks -h on every command prints that command's
// usage and exits 0: the user asked for it, nothing went wrong.
func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{
		{"analyze", "-h"}, {"bench", "-h"}, {"calibrate", "-h"}, {"watch", "-h"},
		{"config", "-h"}, {"serve", "-h"}, {"keys", "-h"}, {"keys", "create", "-h"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, &out, &errOut)
		if code != 0 || !strings.Contains(errOut.String(), "songflow "+args[0]) {
			t.Errorf("%v: exit %d, stderr %q; want 0 and the usage", args, code, errOut.String())
		}
	}
}

// TestUsageNamesEveryFlag checks that the overview songflow prints with
// no command names every flag each command's own -h lists, so that the
// two cannot drift apart (the overview once left out watch --stop-timeout).
func TestUsageNamesEveryFlag(t *testing.T) {
	for _, cmd := range []string{"analyze", "bench", "calibrate", "config", "serve", "watch"} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{cmd, "-h"}, &out, &errOut); code != 0 {
			t.Fatalf("%s -h: exit %d", cmd, code)
		}
		var lines []string
		for _, l := range strings.Split(usage, "\n") {
			if strings.HasPrefix(l, "  songflow "+cmd+" ") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			t.Errorf("usage has no line for %s", cmd)
			continue
		}
		for _, l := range strings.Split(errOut.String(), "\n") {
			if !strings.HasPrefix(l, "  -") {
				continue
			}
			name := strings.Fields(l)[0][1:]
			if all := strings.Join(lines, "\n"); !strings.Contains(all, "--"+name+" ") && !strings.Contains(all, "--"+name+"]") {
				t.Errorf("usage's %s line does not name --%s: %q", cmd, name, lines)
			}
		}
	}
}

// songflow lowers the collector's target, but never over the user's GOGC.
func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	tuneGC("")
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, gcPercent)
	}
	tuneGC("200")
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=200: GC percent changed to %d", got)
	}
}
