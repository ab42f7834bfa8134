package sinks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/songflow/songflow/stages"
)

func readLines(t *testing.T, path string) []Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// openWarned opens the JSONL at path, failing the test if it cannot, and
// collects its warnings in *warnings.
func openWarned(t *testing.T, path string, warnings *[]string) *JSONL {
	t.Helper()
	j, err := OpenJSONL(path, func(msg string) { *warnings = append(*warnings, msg) })
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestAppendOncePerResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "results.jsonl")
	j, err := OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := stages.Result{File: "a.wav", BPM: 120, Key: "A Minor", AnalyzerVersion: "v1"}
	for i, want := range []bool{true, false} {
		wrote, err := j.Append("h1", r)
		if err != nil || wrote != want {
			t.Fatalf("append %d: wrote %v, err %v; want %v", i, wrote, err, want)
		}
	}
	// Another analyzer version of the same bytes is another result, and
	// the file's newest.
	r2 := r
	r2.AnalyzerVersion = "v2"
	if wrote, _ := j.Append("h1", r2); !wrote {
		t.Fatal("another analyzer version not written")
	}
	if !j.Has("a.wav", "h1", "v2") || j.Has("a.wav", "h1", "v1") || j.Has("b.wav", "h1", "v2") || j.Len() != 1 {
		t.Fatalf("Has/Len wrong: len %d", j.Len())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0].ContentHash != "h1" || lines[0].BPM != 120 || lines[0].File != "a.wav" || lines[1].AnalyzerVersion != "v2" {
		t.Fatalf("lines = %+v", lines)
	}
	// Reopened, it still knows what it holds.
	j, err = OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if wrote, _ := j.Append("h1", r2); wrote {
		t.Fatal("reopened file appended a result it holds")
	}
}

// TestAppendNewestLinePerFile: x.wav holds song A, then B, then A again
// (QA's case: 104, 142, then 104 BPM); a copy of A is y.wav. Every change
// gets a line naming the file, so the newest line naming x.wav says A,
// and y.wav has a line of its own. Before, a result was written once per
// content: A's second time and the copy got no line, and the newest line
// naming x.wav said B.
func TestAppendNewestLinePerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	j, err := OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := stages.Result{File: "x.wav", BPM: 104, AnalyzerVersion: "v1"}
	b := stages.Result{File: "x.wav", BPM: 142, AnalyzerVersion: "v1"}
	copyA := a
	copyA.File = "y.wav"
	for i, step := range []struct {
		hash string
		r    stages.Result
		want bool
	}{
		{"hA", a, true},
		{"hB", b, true},
		{"hA", a, true},      // back to A: the newest line naming x.wav held B
		{"hA", a, false},     // x.wav's newest line holds A
		{"hA", copyA, true},  // a copy: a line under its own name
		{"hA", copyA, false}, // once
	} {
		if wrote, err := j.Append(step.hash, step.r); err != nil || wrote != step.want {
			t.Fatalf("step %d: wrote %v, %v; want %v", i, wrote, err, step.want)
		}
	}
	if !j.Has("x.wav", "hA", "v1") || j.Has("x.wav", "hB", "v1") || !j.Has("y.wav", "hA", "v1") || j.Len() != 2 {
		t.Errorf("Has x A %v, x B %v, y A %v, Len %d; want true false true, 2",
			j.Has("x.wav", "hA", "v1"), j.Has("x.wav", "hB", "v1"), j.Has("y.wav", "hA", "v1"), j.Len())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	var got []string
	newest := map[string]float64{}
	for _, l := range lines {
		got = append(got, l.File+" "+l.ContentHash)
		newest[l.File] = l.BPM
	}
	if want := []string{"x.wav hA", "x.wav hB", "x.wav hA", "y.wav hA"}; !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	if newest["x.wav"] != 104 || newest["y.wav"] != 104 {
		t.Errorf("newest line per file: %v; want 104 BPM for both", newest)
	}

	// Reopened, the newest line per file is known: A again is nothing new,
	// B is.
	j, err = OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if wrote, err := j.Append("hA", a); err != nil || wrote {
		t.Fatalf("reopened: append A to x.wav: wrote %v, %v; want nothing written", wrote, err)
	}
	if wrote, err := j.Append("hB", b); err != nil || !wrote {
		t.Fatalf("reopened: append B to x.wav: wrote %v, %v; want written", wrote, err)
	}
}

func TestOpenRepairsTornAndRepeatedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	content := strings.Join([]string{
		`{"content_hash":"h1","file":"a.wav","analyzer_version":"v1","bpm":100}`,
		`{"content_hash":"h2","file":"b.wav","analyzer_version":"v1","bpm":110}`,
		`{"content_hash":"h1","file":"a.wav","analyzer_version":"v1","bpm":100}`, // repeated
		`not json, kept`,
		`{"content_hash":"h3","file":"c.wav","analyzer_version":"v1","bp`, // torn by a kill
	}, "\n")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	j := openWarned(t, path, &warnings)
	if len(warnings) != 2 || !strings.Contains(warnings[0], "repeated lines dropped: 1") || !strings.Contains(warnings[1], "torn last line") {
		t.Errorf("warnings = %q; want one for the repeated line, one for the torn one", warnings)
	}
	if j.Has("c.wav", "h3", "v1") || !j.Has("a.wav", "h1", "v1") || !j.Has("b.wav", "h2", "v1") {
		t.Fatal("wrong results known after repair")
	}
	if wrote, err := j.Append("h3", stages.Result{File: "c.wav", BPM: 130, AnalyzerVersion: "v1"}); err != nil || !wrote {
		t.Fatalf("append h3: %v, %v", wrote, err)
	}
	j.Close()
	data, _ := os.ReadFile(path)
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(got) != 4 || got[2] != "not json, kept" || !strings.Contains(got[3], `"content_hash":"h3"`) || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("repaired file:\n%s", data)
	}
}

// TestOpenKeepsAFilesHistory: the repair on open drops a line only when
// it repeats the newest earlier line of the file it names. x.wav went
// from A to B and back to A: all three lines stay, so the newest line
// naming x.wav still says A, and a copy's line naming y.wav stays; A
// written twice in a row for x.wav (a write repeated) loses its second
// line. Lines of the older format, one per content, load as they are.
// Before, every line of a result an earlier line held was dropped: x.wav's
// newest line became B's and y.wav lost its line.
func TestOpenKeepsAFilesHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	content := strings.Join([]string{
		`{"content_hash":"hA","file":"x.wav","analyzer_version":"v1","bpm":104}`,
		`{"content_hash":"hB","file":"x.wav","analyzer_version":"v1","bpm":142}`,
		`{"content_hash":"hA","file":"x.wav","analyzer_version":"v1","bpm":104}`,  // back to A: kept
		`{"content_hash":"hA","file":"x.wav","analyzer_version":"v1","bpm":104}`,  // repeated: dropped
		`{"content_hash":"hA","file":"y.wav","analyzer_version":"v1","bpm":104}`,  // a copy: kept
		`{"content_hash":"hC","file":"old.wav","analyzer_version":"v0","bpm":90}`, // an older version: kept
	}, "\n") + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	j := openWarned(t, path, &warnings)
	defer j.Close()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "repeated lines dropped: 1") {
		t.Errorf("warnings = %q; want one for the one repeated line", warnings)
	}
	var got []string
	newest := map[string]float64{}
	for _, l := range readLines(t, path) {
		got = append(got, l.File+" "+l.ContentHash)
		newest[l.File] = l.BPM
	}
	if want := []string{"x.wav hA", "x.wav hB", "x.wav hA", "y.wav hA", "old.wav hC"}; !slices.Equal(got, want) {
		t.Fatalf("repaired file holds %q, want %q", got, want)
	}
	if newest["x.wav"] != 104 {
		t.Errorf("newest line naming x.wav says %g BPM, want A's 104", newest["x.wav"])
	}
	if !j.Has("x.wav", "hA", "v1") || j.Has("x.wav", "hB", "v1") || !j.Has("y.wav", "hA", "v1") || !j.Has("old.wav", "hC", "v0") || j.Len() != 3 {
		t.Errorf("wrong results known after the repair: Len %d", j.Len())
	}
	if wrote, err := j.Append("hA", stages.Result{File: "x.wav", BPM: 104, AnalyzerVersion: "v1"}); err != nil || wrote {
		t.Errorf("append A to x.wav after the repair: wrote %v, %v; want nothing written", wrote, err)
	}
}

// TestOpenCutsTornLastLine: a file ending mid-line, as a kill or a full
// disk leaves it, loses that partial line when opened, with a warning
// naming the file and the bytes dropped; the next line starts on a line of
// its own. Before, a warning was never given.
func TestOpenCutsTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	good := `{"content_hash":"h1","analyzer_version":"v1","bpm":100}` + "\n"
	torn := `{"content_hash":"h2","analyzer_version":"v1","bp`
	if err := os.WriteFile(path, []byte(good+torn), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	j := openWarned(t, path, &warnings)
	defer j.Close()
	if len(warnings) != 1 || !strings.Contains(warnings[0], path) ||
		!strings.Contains(warnings[0], fmt.Sprintf("%d bytes", len(torn))) || !strings.Contains(warnings[0], `content_hash`) {
		t.Errorf("warnings = %q; want one naming %s and the %d bytes dropped", warnings, path, len(torn))
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != int64(len(good)) || !os.SameFile(before, after) {
		t.Errorf("file is %d bytes (same file: %v); want cut in place to %d", after.Size(), os.SameFile(before, after), len(good))
	}
	if !j.Has("", "h1", "v1") || j.Has("", "h2", "v1") {
		t.Fatal("wrong results known after the cut")
	}
	if wrote, err := j.Append("h2", stages.Result{BPM: 110, AnalyzerVersion: "v1"}); err != nil || !wrote {
		t.Fatalf("append h2: %v, %v", wrote, err)
	}
	if lines := readLines(t, path); len(lines) != 2 || lines[1].ContentHash != "h2" || lines[1].BPM != 110 {
		t.Fatalf("lines = %+v", lines)
	}
	// A whole file is left alone, without a word.
	warnings = nil
	j2, err := OpenJSONL(path, func(msg string) { warnings = append(warnings, msg) })
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if len(warnings) != 0 {
		t.Errorf("a whole file gave warnings %q", warnings)
	}
}

// TestAppendNameNotUTF8: files whose names are not UTF-8 (Latin-1
// "Beyonc\xe9.mp3" from an old zip, and "Beyonc\xe8.mp3" beside it) are
// named in their lines with those bytes read as Latin-1, each its own, and
// a reopened file knows it holds both lines. Before, the JSONL looked the
// lines up by the raw names, so every start found them missing, wrote
// them again and, at the next start, dropped them as repeated; and
// written as JSON writes such bytes, U+FFFD, the two names were one.
func TestAppendNameNotUTF8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	var warnings []string
	j := openWarned(t, path, &warnings)
	names := []string{"Beyonc\xe9 \xff.mp3", "Beyonc\xe8 \xff.mp3"}
	results := make([]stages.Result, len(names))
	for i, name := range names {
		results[i] = stages.Result{File: name, BPM: 120, AnalyzerVersion: "v1"}
		if wrote, err := j.Append("h1", results[i]); !wrote || err != nil {
			t.Fatalf("first append of %q: wrote %v, err %v", name, wrote, err)
		}
		if wrote, _ := j.Append("h1", results[i]); wrote {
			t.Fatalf("a line held for %q written again", name)
		}
	}
	j.Close()
	for run := range 2 {
		j = openWarned(t, path, &warnings)
		for i, name := range names {
			if !j.Has(name, "h1", "v1") {
				t.Errorf("run %d: reopened file does not know it holds %q's line", run, name)
			}
			if wrote, _ := j.Append("h1", results[i]); wrote {
				t.Errorf("run %d: reopened file appended %q's result, which it holds", run, name)
			}
		}
		j.Close()
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0].File != "Beyoncé ÿ.mp3" || lines[1].File != "Beyoncè ÿ.mp3" {
		t.Fatalf("lines = %+v", lines)
	}
}
