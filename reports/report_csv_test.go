package reports

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
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

// results.csv's columns, in order: the truth's time signature sits with
// the other truths and its outcome with the other outcomes; the rest keep
// their places, which spreadsheets built on the file rely on.
func TestResultsCSVHeader(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, fakeRun()); err != nil {
		t.Fatal(err)
	}
	want := []string{"file", "title", "artist", "format", "sample_rate", "channels", "duration",
		"bpm", "bpm_confidence", "bpm_candidates", "time_signature",
		"key", "key_confidence", "key_runner_up", "key_profile", "tuning_cents", "key_scores",
		"loudness", "loudness_range", "true_peak",
		"energy", "danceability", "acousticness", "valence", "spectral_centroid", "dynamic_range", "silence_ratio",
		"analyzer_version", "analysis_duration", "tag_bpm", "tag_key",
		"truth_source", "truth_bpm", "truth_key", "truth_time_signature",
		"truth_energy", "truth_danceability", "truth_acousticness", "truth_valence", "truth_loudness",
		"tempo_outcome", "key_outcome", "key_score", "meter_outcome", "error", "finished_seconds",
		"stage_decode_seconds", "stage_resample_seconds", "stage_fft_seconds"}
	rows := readCSV(t, filepath.Join(dir, ResultsCSV))
	if !slices.Equal(rows[0], want) {
		t.Errorf("results.csv header\n%q\nwant\n%q", rows[0], want)
	}
	for i, row := range rows {
		if len(row) != len(want) {
			t.Errorf("results.csv row %d has %d fields, want %d", i, len(row), len(want))
		}
	}
}

// TestResultsCSVTagBPM: a song without a BPM tag has an empty tag_bpm
// cell, as results.json leaves the field out; a tagged one has its value.
func TestResultsCSVTagBPM(t *testing.T) {
	run := fakeRun()
	run.Records[0].Tags.BPM = 128
	run.Records[1].Tags.BPM = 0
	dir := t.TempDir()
	if _, err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsCSV))
	col := slices.Index(rows[0], "tag_bpm")
	if col < 0 {
		t.Fatalf("results.csv has no tag_bpm column: %v", rows[0])
	}
	if rows[1][col] != "128" || rows[2][col] != "" {
		t.Errorf("tag_bpm cells %q and %q, want \"128\" and empty", rows[1][col], rows[2][col])
	}
}

// TestCode: a file name shows as a Markdown code span whatever it holds;
// a newline in it no longer ends the list item it is written in.
func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"song.wav":      "`song.wav`",
		"a\nb.wav":      "`a\\nb.wav`",
		"tab\there.mp3": "`tab\\there.mp3`",
		"it`s.wav":      "`` it`s.wav ``",
		"`x.wav":        "`` `x.wav ``",
		"é ü.flac":      "`é ü.flac`",
	} {
		if got := Code(in); got != want {
			t.Errorf("Code(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReportFailedSongHasNoResult: a failed song's row in results.csv
// has empty result cells, as an absent tag or truth has: a 0 would read
// as a measurement (a tempo of 0, a loudness of 0 LUFS) and enter every
// spreadsheet average of the column. Its record in results.json keeps
// every field, with lists as [] rather than null, which readers iterate
// and Swift's JSONDecoder refuses for an array. Before, the row held
// zeros and the record nulls.
func TestReportFailedSongHasNoResult(t *testing.T) {
	dir := t.TempDir()
	run := fakeRun() // the last song failed
	if _, err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsCSV))
	failed := rows[6]
	for i, h := range rows[0] {
		if h == "file" || strings.HasPrefix(h, "truth_") || h == "error" || h == "finished_seconds" {
			continue
		}
		if failed[i] != "" {
			t.Errorf("the failed song's %s is %q, want an empty cell", h, failed[i])
		}
	}
	res, raw := readResults(t, dir)
	if bytes.Contains(raw, []byte("null")) {
		t.Errorf("results.json holds a null:\n%s", raw)
	}
	if r := res.Songs[5]; r.Error == "" || r.BPMCandidates == nil || r.KeyDetails.Scores == nil {
		t.Errorf("failed record error %q, bpm_candidates %v, key_details.scores %v; want the error and empty lists", r.Error, r.BPMCandidates, r.KeyDetails.Scores)
	}
}
