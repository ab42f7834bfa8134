package reports

import (
	"path/filepath"
	"testing"

	"github.com/songflow/songflow/stages"
)

// TestResultsCSVKeyScores: results.csv holds every result field, the
// score of every key (key_details.scores) included, as results.json does.
// Before, only the runner-up's name was there.
func TestResultsCSVKeyScores(t *testing.T) {
	run := fakeRun()
	run.Records[0].KeyDetails = stages.KeyDetails{Profile: "temperley", RunnerUp: "A Minor",
		Scores: []stages.KeyScore{{Key: "C Major", Score: 0.8126}, {Key: "A Minor", Score: 0.5}, {Key: "F# Major", Score: -0.25}}}
	dir := t.TempDir()
	if _, err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsCSV))
	col := -1
	for i, h := range rows[0] {
		if h == "key_scores" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("results.csv has no key_scores column: %v", rows[0])
	}
	if got, want := rows[1][col], "C Major:0.813; A Minor:0.500; F# Major:-0.250"; got != want {
		t.Errorf("key_scores %q, want %q", got, want)
	}
	if got := rows[6][col]; got != "" {
		t.Errorf("the failed song's key_scores %q, want none", got)
	}
}
