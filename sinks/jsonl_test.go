package sinks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	// Another analyzer version of the same bytes is another result.
	r2 := r
	r2.AnalyzerVersion = "v2"
	if wrote, _ := j.Append("h1", r2); !wrote {
		t.Fatal("another analyzer version not written")
	}
	if !j.Has("h1", "v1") || j.Has("h2", "v1") || j.Len() != 2 {
		t.Fatalf("Has/Len wrong: len %d", j.Len())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 || lines[0].ContentHash != "h1" || lines[0].BPM != 120 || lines[0].File != "a.wav" {
		t.Fatalf("lines = %+v", lines)
	}
	// Reopened, it still knows what it holds.
	j, err = OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if wrote, _ := j.Append("h1", r); wrote {
		t.Fatal("reopened file appended a result it holds")
	}
}

func TestOpenRepairsTornAndRepeatedLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	content := strings.Join([]string{
		`{"content_hash":"h1","analyzer_version":"v1","bpm":100}`,
		`{"content_hash":"h2","analyzer_version":"v1","bpm":110}`,
		`{"content_hash":"h1","analyzer_version":"v1","bpm":100}`, // repeated
		`not json, kept`,
		`{"content_hash":"h3","analyzer_version":"v1","bp`, // torn by a kill
	}, "\n")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	j, err := OpenJSONL(path, func(msg string) { warnings = append(warnings, msg) })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "repeated lines dropped: 1") || !strings.Contains(warnings[1], "torn last line") {
		t.Errorf("warnings = %q; want one for the repeated line, one for the torn one", warnings)
	}
	if j.Has("h3", "v1") || !j.Has("h1", "v1") || !j.Has("h2", "v1") {
		t.Fatal("wrong results known after repair")
	}
	if wrote, err := j.Append("h3", stages.Result{BPM: 130, AnalyzerVersion: "v1"}); err != nil || !wrote {
		t.Fatalf("append h3: %v, %v", wrote, err)
	}
	j.Close()
	data, _ := os.ReadFile(path)
	got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(got) != 4 || got[2] != "not json, kept" || !strings.Contains(got[3], `"content_hash":"h3"`) || !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("repaired file:\n%s", data)
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
	j, err := OpenJSONL(path, func(msg string) { warnings = append(warnings, msg) })
	if err != nil {
		t.Fatal(err)
	}
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
	if !j.Has("h1", "v1") || j.Has("h2", "v1") {
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
