package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneSongIsNotSongs checks the counts the headline and summary.md
// give for a single scored song read "1 song", not "1 songs".
func TestOneSongIsNotSongs(t *testing.T) {
	run := fakeRun()
	run.Records = run.Records[:1] // a.wav: tempo and key both correct
	dir := t.TempDir()
	s, err := Write(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	s.Headline(&head)
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(1 song with a true tempo)", "of 1 song with a true key)"} {
		if !strings.Contains(head.String(), want) {
			t.Errorf("headline lacks %q:\n%s", want, head.String())
		}
	}
	if want := "| key weighted score | 1.000 (1 song) |"; !strings.Contains(string(md), want) {
		t.Errorf("summary.md lacks %q", want)
	}
	if strings.Contains(head.String()+string(md), "1 songs") {
		t.Errorf("\"1 songs\" in the headline or summary.md:\n%s", head.String())
	}
}

// A song with a true tempo but none found is listed among the misses as
// such, not as a tempo of 0.0 BPM.
func TestMissWithNoTempo(t *testing.T) {
	run := fakeRun()
	run.Records = run.Records[:1]
	run.Records[0].BPM, run.Records[0].BPMCandidates = 0, nil
	dir := t.TempDir()
	if _, err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "- `a.wav`: no tempo found for 120") || strings.Contains(string(md), "0.0 BPM") {
		t.Errorf("summary.md misses list:\n%s", md)
	}
}
