package sinks

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/songflow/songflow/stages"
)

// fileLines returns the lines of the file at path, by content hash where
// a line is a result and as they are where not.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && !strings.HasSuffix(string(data), "\n") {
		t.Fatalf("%s does not end in a newline:\n%s", path, data)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if l == "" {
			continue
		}
		if h, ok := strings.CutPrefix(l, `{"content_hash":"`); ok {
			l = h[:strings.IndexByte(h, '"')]
		}
		got = append(got, l)
	}
	return got
}

// fileOf is the file the tests' result with content hash is of: each
// content its own file, so that every result is a file's newest.
func fileOf(hash string) string { return hash + ".wav" }

func resultLine(hash string) string {
	return `{"content_hash":"` + hash + `","file":"` + fileOf(hash) + `","analyzer_version":"v1","bpm":100}` + "\n"
}

func mustAppend(t *testing.T, j *JSONL, hash string, want bool) {
	t.Helper()
	wrote, err := j.Append(hash, stages.Result{File: fileOf(hash), BPM: 100, AnalyzerVersion: "v1"})
	if err != nil || wrote != want {
		t.Fatalf("append %s: wrote %v, %v; want %v", hash, wrote, err, want)
	}
}

// TestAppendFollowsThePath: results.jsonl removed, renamed away, replaced
// or cut short while open. The next line goes to the file at the path
// (made again when gone), and the JSONL knows what that file holds: a
// result only the old file had is written again, one the new file has is
// not. Before, every later line went to the old file, unlinked or moved,
// and was lost to whoever read the path.
func TestAppendFollowsThePath(t *testing.T) {
	for _, tc := range []struct {
		name string
		// change does it to the file at path, which holds h1 and h2; it
		// returns the lines the file at path then holds.
		change func(t *testing.T, path string) []string
	}{
		{"removed", func(t *testing.T, path string) []string {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"folder removed", func(t *testing.T, path string) []string {
			if err := os.RemoveAll(filepath.Dir(path)); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"renamed away", func(t *testing.T, path string) []string {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"cut short in place", func(t *testing.T, path string) []string {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"replaced", func(t *testing.T, path string) []string {
			// An editor's save: a new file renamed over the old one. The
			// user dropped h1's line and added a note; h9 came from a
			// backup.
			tmp := path + ".swp"
			if err := os.WriteFile(tmp, []byte(resultLine("h2")+"my note\n"+resultLine("h9")), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return []string{"h2", "my note", "h9"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out", "results.jsonl")
			var warnings []string
			j := openWarned(t, path, &warnings)
			defer j.Close()
			mustAppend(t, j, "h1", true)
			mustAppend(t, j, "h2", true)
			now := tc.change(t, path)
			mustAppend(t, j, "h3", true)
			want := append(slices.Clone(now), "h3")
			if got := fileLines(t, path); !slices.Equal(got, want) {
				t.Fatalf("after the next line the file at the path holds %q, want %q", got, want)
			}
			held := slices.Contains(now, "h2")
			results := 1 + len(slices.DeleteFunc(slices.Clone(now), func(l string) bool { return !strings.HasPrefix(l, "h") }))
			has := func(h string) bool { return j.Has(fileOf(h), h, "v1") }
			if has("h1") || has("h2") != held || !has("h3") || j.Len() != results {
				t.Errorf("Has h1 %v h2 %v h3 %v, Len %d; want false %v true, %d", has("h1"), has("h2"), has("h3"), j.Len(), held, results)
			}
			mustAppend(t, j, "h1", true)
			mustAppend(t, j, "h2", !held)
			want = append(want, "h1")
			if !held {
				want = append(want, "h2")
			}
			if got := fileLines(t, path); !slices.Equal(got, want) {
				t.Fatalf("file at the path holds %q, want %q", got, want)
			}
			if tc.name == "renamed away" {
				if got := fileLines(t, path+".1"); !slices.Equal(got, []string{"h1", "h2"}) {
					t.Errorf("the file renamed away holds %q, want it left as it was", got)
				}
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], path) {
				t.Errorf("warnings %q; want one naming %s", warnings, path)
			}
		})
	}
}

// TestFollowTellsOfTheSwitch: Follow, with nothing to write, makes a
// deleted file again and says so on Reopened, once; an untouched file,
// even one written to, is not reopened.
func TestFollowTellsOfTheSwitch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "results.jsonl")
	j, err := OpenJSONL(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	reopened := func() bool {
		select {
		case <-j.Reopened():
			return true
		default:
			return false
		}
	}
	mustAppend(t, j, "h1", true)
	if err, again := j.Follow(), reopened(); err != nil || again {
		t.Fatalf("untouched file: Follow %v, reopened %v; want nothing to do", err, again)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err, again := j.Follow(), reopened(); err != nil || !again {
		t.Fatalf("deleted file: Follow %v, reopened %v; want a switch told on Reopened", err, again)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 || j.Len() != 0 {
		t.Fatalf("after the switch: %v, %v, Len %d; want an empty file", fi, err, j.Len())
	}
	if err, again := j.Follow(), reopened(); err != nil || again {
		t.Fatalf("Follow again: %v, reopened %v; want nothing to do", err, again)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append("h2", stages.Result{AnalyzerVersion: "v1"}); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
}
