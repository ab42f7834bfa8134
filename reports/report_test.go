package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gonum.org/v1/plot/plotutil"

	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/stages"
)

// fakeRun is a run of six songs with hand-picked outcomes: tempo correct,
// double, half, other and two without a tempo truth; keys correct, fifth,
// relative, parallel, other; one failure; one skipped file.
func fakeRun() *Run {
	song := func(file string, bpm, conf float64, key string, kconf float64, truthBPM float64, truthKey string) Record {
		return Record{
			Result: stages.Result{File: file, BPM: bpm, BPMConfidence: conf, Key: key, KeyConfidence: kconf,
				Duration: 30, Format: "wav", SampleRate: 22050, Channels: 1,
				BPMCandidates: []stages.TempoCandidate{{BPM: bpm, Score: 1}, {BPM: bpm / 2, Score: 0.5}},
				StageSeconds:  map[string]float64{"decode": 0.01, "fft": 0.02}},
			Truth: &Truth{BPM: truthBPM, Key: truthKey, Source: "truth.csv"},
		}
	}
	recs := []Record{
		song("a.wav", 120.5, 0.9, "C Major", 0.9, 120, "C Major"), // correct, correct
		song("b.wav", 180, 0.3, "G Major", 0.5, 90, "C Major"),    // double, fifth
		song("c.wav", 70, 0.5, "A Minor", 0.7, 140, "C Major"),    // half, relative
		song("d.wav", 100, 0.1, "C Minor", 0.2, 133, "C Major"),   // other, parallel
		song("e.wav", 128, 0.95, "F# Major", 0.1, 0, "C Major"),   // -, other
		{Result: stages.Result{File: "f.mp3"}, Error: "decode f.mp3: corrupt frame", Truth: &Truth{BPM: 100, Key: "D Major"}},
	}
	for i := range recs {
		recs[i].Finished = 0.4 * float64(i+1)
	}
	series := func(scale float64) []pipeline.Sample {
		var s []pipeline.Sample
		for i := 1; i <= 20; i++ {
			s = append(s, pipeline.Sample{At: time.Duration(i) * 120 * time.Millisecond, Queue: int(scale * float64(i%7)), Utilisation: min(1, scale*float64(i%9)/8)})
		}
		return s
	}
	snap := pipeline.Snapshot{Bottleneck: "fft", Stages: []pipeline.StageStats{
		{Name: "decode", Workers: 2, Buffer: 4, In: 6, Out: 5, Errors: 1, Utilisation: 0.3, P50: 9 * time.Millisecond, P95: 20 * time.Millisecond, Max: 25 * time.Millisecond, SuggestedWorkers: 1, Series: series(0.3)},
		{Name: "resample", Workers: 1, Buffer: 4, In: 5, Out: 5, Utilisation: 0.1, SuggestedWorkers: 1, Series: series(0.1)},
		{Name: "fft", Workers: 2, Buffer: 16, In: 50, Out: 50, Utilisation: 0.95, P50: 400 * time.Microsecond, SuggestedWorkers: 3, Series: series(1)},
	}}
	return &Run{Dir: "testdata/x", TruthFile: "truth.csv", TruthUnread: []string{"notes", "Tempo (ms)"}, Records: recs,
		Skipped: []Skipped{{File: "notes.txt", Reason: "not audio: unknown format"}},
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Wall: 2500 * time.Millisecond, Cores: 2, PeakRSS: 80 << 20,
		Metrics: snap, Config: "[stages.decode]\nworkers = 2\n"}
}

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("SONGFLOW_REPORT_DIR"); d != "" {
		dir = d // to look at the plots
	}
	run := fakeRun()
	s, err := Write(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	// Hand-worked from fakeRun: 4 songs with a tempo truth, 1 correct,
	// 3 within octave factors (double, half; 133 vs 100 is not).
	if s.Songs != 6 || s.Analysed != 5 || s.Failed != 1 || s.Skipped != 1 {
		t.Errorf("counts %+v", s)
	}
	if s.TempoScored != 4 || s.Accuracy1 != 0.25 || s.Accuracy2 != 0.75 {
		t.Errorf("tempo: scored %d Acc1 %g Acc2 %g, want 4 0.25 0.75", s.TempoScored, s.Accuracy1, s.Accuracy2)
	}
	// Candidates are the estimate and its half: b's half is its truth,
	// c's (35) and d's (50) are not.
	if s.InCandidates != 0.5 {
		t.Errorf("among candidates %g, want 0.5", s.InCandidates)
	}
	if want := (1 + 0.5 + 0.3 + 0.2 + 0) / 5; s.KeyScored != 5 || !near(s.KeyWeighted, want) {
		t.Errorf("key: scored %d weighted %g, want 5 %g", s.KeyScored, s.KeyWeighted, want)
	}
	if s.AudioSeconds != 150 || !near(s.XRealTime, 60) || !near(s.XRealTimePerCore, 30) || !near(s.SongsPerSecond, 2) {
		t.Errorf("speed %+v", s)
	}
	// With the CPU time known, per core is audio seconds per CPU second:
	// 150 s of audio in 3 s of CPU.
	run.CPU = 3 * time.Second
	if s := Summarise(run); !near(s.XRealTimePerCore, 50) {
		t.Errorf("per core with CPU time %v: %g, want 50", run.CPU, s.XRealTimePerCore)
	}
	wantTempo := map[TempoOutcome]int{TempoCorrect: 1, TempoDouble: 1, TempoHalf: 1, TempoOther: 1}
	for o, n := range wantTempo {
		if s.TempoOutcomes[o] != n {
			t.Errorf("tempo outcome %s: %d, want %d", o, s.TempoOutcomes[o], n)
		}
	}
	for _, o := range KeyOutcomes {
		if s.KeyOutcomes[o] != 1 {
			t.Errorf("key outcome %s: %d, want 1", o, s.KeyOutcomes[o])
		}
	}

	res, b := readResults(t, dir)
	if len(res.Songs) != 6 || res.Songs[1].TempoOutcome != TempoDouble || res.Songs[1].KeyOutcome != KeyFifth ||
		res.Songs[5].Error == "" || len(res.Skipped) != 1 || res.Songs[0].StageSeconds["fft"] != 0.02 {
		t.Errorf("results.json: %s", b)
	}
	// Result fields sit at the top level of each record.
	if !bytes.Contains(b, []byte(`"bpm": 120.5`)) || !bytes.Contains(b, []byte(`"tempo_outcome": "double"`)) {
		t.Errorf("results.json lacks flat fields: %.400s", b)
	}

	rows := readCSV(t, filepath.Join(dir, ResultsCSV))
	if len(rows) != 7 {
		t.Fatalf("results.csv has %d rows, want header + 6", len(rows))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"file", "bpm", "key", "truth_bpm", "truth_key", "tempo_outcome", "key_outcome", "error", "stage_decode_seconds", "stage_fft_seconds"} {
		if _, ok := col[h]; !ok {
			t.Errorf("results.csv has no %q column", h)
		}
	}
	if rows[3][col["tempo_outcome"]] != "half" || rows[3][col["key_outcome"]] != "relative" || rows[3][col["key_score"]] != "0.3" || rows[6][col["error"]] == "" {
		t.Errorf("results.csv row c: %v", rows[3])
	}
	// e.wav has a true key but no true tempo: results.json leaves the
	// tempo out, and results.csv must not write it as 0.
	if rows[5][col["truth_bpm"]] != "" || rows[5][col["truth_key"]] != "C Major" || rows[3][col["truth_bpm"]] != "140" {
		t.Errorf("results.csv truth_bpm %q (e.wav, no true tempo) and %q (c.wav, 140), want \"\" and \"140\"", rows[5][col["truth_bpm"]], rows[3][col["truth_bpm"]])
	}

	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| tempo Accuracy1 | 25.0 % (1 of 4) |", "| tempo Accuracy2 | 75.0 % (3 of 4) |", "| true tempo among `bpm_candidates` | 50.0 % (2 of 4) |",
		"| key weighted score | 0.400 (5 songs) |", "**Bottleneck: fft**", "[stages.fft]\nworkers = 3 # now 2",
		"notes.txt", "corrupt frame", "| × real time | 60.0 |", "Ground truth from `truth.csv`. Its columns not read: `notes`, `Tempo (ms)`.\n",
		"| decode | 2 | 4 | 6 | 5 | 1 | 30 % | 9.0 ms | 20.0 ms | 25.0 ms | 1 |\n",
		"| fft | 2 | 16 | 50 | 50 | 0 | 95 % | 400 µs | 0 | 0 | 3 |\n"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}

	var head bytes.Buffer
	if err := s.Headline(&head); err != nil || !strings.Contains(head.String(), "Accuracy1 25.0 %") ||
		!strings.Contains(head.String(), ", 1 file skipped\n") {
		t.Errorf("headline %q %v", head.String(), err)
	}
	checkPlots(t, dir)
}

// checkPlots checks every plot decodes as PNG at the size Write draws.
func checkPlots(t *testing.T, dir string) {
	t.Helper()
	for _, name := range PlotFiles() {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Error(err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 400 {
			t.Errorf("%s is %v, too small to read", name, b)
		}
	}
}

func TestWriteReportEmpty(t *testing.T) {
	// Nothing analysed, no metrics: the plots say so instead of failing.
	dir := t.TempDir()
	s, err := Write(dir, &Run{Dir: "x", Records: []Record{{Result: stages.Result{File: "a.wav"}, Error: "boom"}}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Analysed != 0 || s.Failed != 1 || s.Accuracy1 != 0 {
		t.Errorf("%+v", s)
	}
	checkPlots(t, dir)
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestPeakRSS(t *testing.T) {
	// Hold 64 MiB live: the peak must be at least that.
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	if got := PeakRSS(); got < 64<<20 {
		t.Errorf("PeakRSS %d bytes with 64 MiB in use", got)
	}
	_ = buf[len(buf)-1]
}

// Songs an interrupted run never started are not drawn as finished at
// 0 s: the throughput plot counts only the songs that came back, and its
// mean only those analysed (one, in 2 s), as the summary's songs/s does.
func TestThroughputLeavesOutSongsNotAnalysed(t *testing.T) {
	run := &Run{Wall: 2 * time.Second, Records: []Record{
		{Result: stages.Result{File: "a.wav"}, Finished: 1},
		{Result: stages.Result{File: "b.wav"}, Error: "analyze b.wav: context canceled", Finished: 2},
		{Result: stages.Result{File: "c.wav"}, Error: "not analysed: context canceled"},
		{Result: stages.Result{File: "d.wav"}, Error: "not analysed: context canceled"},
	}}
	p, err := throughput(run)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Title.Text, "mean 0.50 songs/s") || p.Y.Max > 1.08+1e-9 {
		t.Errorf("title %q, y max %g: want 1 song analysed and 1 failed in 2 s", p.Title.Text, p.Y.Max)
	}
}

// Truth rows no file matched are named on one console line, the first
// few of them, and all of them in summary.md and results.json.
func TestWriteReportUnmatchedTruth(t *testing.T) {
	dir := t.TempDir()
	run := fakeRun()
	run.UnmatchedTruth = []UnmatchedRow{
		{Row: "gone.wav", Line: 3},
		{Row: "Twin.mp3", Line: 4, Ambiguous: []string{"a/twin.mp3", "b/TWIN.mp3"}},
		{Row: "Nobody - Missing", Line: 5},
		{Row: "d.wav", Line: 6}, {Row: "e.wav", Line: 7}, {Row: "f.wav", Line: 8},
	}
	s, err := Write(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	if err := s.Headline(&head); err != nil {
		t.Fatal(err)
	}
	const line = "truth  6 rows of truth.csv match no audio file: gone.wav, Twin.mp3 (ambiguous case), Nobody - Missing, d.wav, e.wav and 1 more\n"
	if !strings.Contains(head.String(), line) {
		t.Errorf("headline\n%s\nlacks\n%s", head.String(), line)
	}

	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| truth rows matching no file | 6 |",
		"Rows of `truth.csv` that match no audio file:\n\n- `gone.wav` (line 3)\n" +
			"- `Twin.mp3` (line 4): ambiguous ignoring case: `a/twin.mp3`, `b/TWIN.mp3`\n" +
			"- `Nobody - Missing` (line 5)\n",
		"- `f.wav` (line 8)\n",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}

	res, _ := readResults(t, dir)
	if res.TruthFile != "truth.csv" || !reflect.DeepEqual(res.UnmatchedTruth, run.UnmatchedTruth) {
		t.Errorf("results.json truth file %q, unmatched %+v", res.TruthFile, res.UnmatchedTruth)
	}

	// None unmatched: not a word more.
	run = fakeRun()
	s, err = Write(t.TempDir(), run)
	if err != nil {
		t.Fatal(err)
	}
	head.Reset()
	s.Headline(&head)
	if strings.Contains(head.String(), "truth") {
		t.Errorf("headline with every row matched:\n%s", head.String())
	}
}

// plotRun has a song right, a song with a true tempo for which the
// analysis found none (bpm 0, a miss), and two failed songs with truth,
// which the scores leave out; 10 s of wall time.
func plotRun() *Run {
	return &Run{Wall: 10 * time.Second, Records: []Record{
		{Result: stages.Result{File: "a.wav", BPM: 120, Duration: 30}, Truth: &Truth{BPM: 120}, Finished: 4},
		{Result: stages.Result{File: "b.wav", Duration: 30}, Truth: &Truth{BPM: 100}, Finished: 6},
		{Result: stages.Result{File: "c.wav"}, Truth: &Truth{BPM: 90, Key: "C Major"}, Error: "decode c.wav: corrupt", Finished: 1},
		{Result: stages.Result{File: "d.wav"}, Truth: &Truth{BPM: 90}, Error: "decode d.wav: corrupt", Finished: 2},
	}}
}

// The tolerance plot at 4 % must show the Accuracy1 and Accuracy2 the
// summary reports, over the same songs: a song with no tempo estimate is
// a miss in both.
func TestTolerancePlotMatchesSummary(t *testing.T) {
	run := plotRun()
	for i := range run.Records {
		run.Records[i].Score()
	}
	s := Summarise(run)
	if s.TempoScored != 2 || s.Accuracy1 != 0.5 || s.Accuracy2 != 0.5 {
		t.Fatalf("summary: %d scored, Acc1 %g Acc2 %g; want 2, 0.5, 0.5", s.TempoScored, s.Accuracy1, s.Accuracy2)
	}
	c, n := toleranceCurve(run)
	i := slices.Index(c.Tolerance, Tolerance)
	if i < 0 {
		t.Fatalf("the curve has no point at %g: %v", Tolerance, c.Tolerance)
	}
	if n != s.TempoScored || c.Acc1[i] != s.Accuracy1 || c.Acc2[i] != s.Accuracy2 {
		t.Errorf("plot at 4 %%: %d songs, Acc1 %g Acc2 %g; summary %d, %g, %g", n, c.Acc1[i], c.Acc2[i], s.TempoScored, s.Accuracy1, s.Accuracy2)
	}
	// The scatter's log axes cannot show bpm 0: it says so.
	p, err := bpmScatter(run)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Title.Text, "1 song with no tempo estimate not shown") {
		t.Errorf("scatter title %q does not mention the song it leaves out", p.Title.Text)
	}
}

// The throughput plot's mean must be the songs per second the summary
// reports: analysed songs over the wall time. Failed songs are drawn
// apart, not counted as throughput.
func TestThroughputMatchesSummary(t *testing.T) {
	run := plotRun()
	s := Summarise(run)
	p, err := throughput(run)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("mean %.2f songs/s", s.SongsPerSecond)
	if s.SongsPerSecond != 0.2 || !strings.Contains(p.Title.Text, want) {
		t.Errorf("title %q, summary %g songs/s: want %q", p.Title.Text, s.SongsPerSecond, want)
	}
	if p.Y.Max > 2*1.08+1e-9 {
		t.Errorf("y axis up to %g for 2 analysed songs", p.Y.Max)
	}
	// All failed: nothing analysed, and the plot still draws.
	for i := range run.Records {
		run.Records[i].Error = "boom"
	}
	if _, err := throughput(run); err != nil {
		t.Error(err)
	}
}

// Failed songs with a truth are not in the accuracy denominators, and
// the report says so where it counts the songs with a truth.
func TestReportSaysFailedSongsAreNotScored(t *testing.T) {
	dir := t.TempDir()
	s, err := Write(dir, plotRun())
	if err != nil {
		t.Fatal(err)
	}
	if s.TempoScored != 2 || s.TempoFailed != 2 || s.KeyScored != 0 || s.KeyFailed != 1 {
		t.Errorf("tempo %d scored %d failed, key %d scored %d failed; want 2 2 0 1", s.TempoScored, s.TempoFailed, s.KeyScored, s.KeyFailed)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| analysed, with a true tempo | 2 |\n", "| failed, with a true tempo (not scored) | 2 |\n",
		"| analysed, with a true key | 0 |\n", "| failed, with a true key (not scored) | 1 |\n"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	var head bytes.Buffer
	s.Headline(&head)
	if !strings.Contains(head.String(), "(2 songs with a true tempo; 2 failed songs with one not scored)") ||
		!strings.Contains(head.String(), "key    no true keys among the analysed songs (1 failed song with one not scored)") {
		t.Errorf("headline:\n%s", head.String())
	}
	checkTables(t, string(md))
}

// A run of no songs still writes results.json with a list of songs, as
// it does the skipped files, not null.
func TestResultsJSONNoSongs(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(dir, &Run{Dir: "x"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if songs, ok := res["songs"].([]any); !ok || len(songs) != 0 {
		t.Errorf("songs = %#v, want []", res["songs"])
	}
	checkPlots(t, dir)
}

// results.csv keeps the header's column count on every row, whatever a
// title holds, and summary.md's tables stay well formed.
func TestWriteReportAwkwardText(t *testing.T) {
	dir := t.TempDir()
	run := fakeRun()
	run.Records[0].Title = "Hello, \"World\"\nPart 2"
	run.Records[0].Artist = "A | B"
	run.Records[5].Error = "decode f.mp3: bad frame\nat offset 12, \"x\""
	if _, err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, ResultsCSV))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll() // fails on a row of another width
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 || rows[1][1] != run.Records[0].Title || rows[1][2] != "A | B" {
		t.Errorf("results.csv rows %d, title %q artist %q", len(rows), rows[1][1], rows[1][2])
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	checkTables(t, string(md))
}

// checkTables checks that every row of every Markdown table in md has as
// many cells as its header.
func checkTables(t *testing.T, md string) {
	t.Helper()
	cells := func(line string) int { return strings.Count(strings.Trim(line, "|"), "|") + 1 }
	want := 0
	for i, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = 0
			continue
		}
		if want == 0 {
			want = cells(line)
			continue
		}
		if got := cells(line); got != want {
			t.Errorf("summary.md line %d has %d cells, its table %d: %q", i+1, got, want, line)
		}
	}
}

// The confidence section reports the same songs the accuracy counts:
// a right song at 0.9 and a missed one at 0.3 miss by 0.1 and 0.3, Brier
// (0.01 + 0.09)/2 = 0.05 against the constant's ½·½; failed songs are
// left out.
func TestReportConfidenceSection(t *testing.T) {
	run := plotRun()
	run.Records[0].BPMConfidence = 0.9
	run.Records[1].BPMConfidence = 0.3
	run.Records[2].BPMConfidence = 0.99 // failed: no forecast to score
	dir := t.TempDir()
	s, err := Write(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	r := s.TempoReliability
	if r.Songs != 2 || math.Abs(r.Brier-0.05) > 1e-12 || r.Constant != 0.25 || !r.Beats() {
		t.Errorf("tempo reliability %+v; want 2 songs, Brier 0.05, constant 0.25", r)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Confidence", "| 0.8–1.0 | 1 | 100 % |", "| 0.2–0.4 | 1 | 0 % |", "| `bpm_confidence` | 2 | 0.050 | 0.250 | yes |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "`key_confidence` |") {
		t.Error("summary.md scores key_confidence with no true key among the analysed songs")
	}
	// All right: nothing to predict, and the report does not call the
	// confidence a failure for it.
	run.Records[1].BPM = 100
	if _, err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	if md, _ = os.ReadFile(filepath.Join(dir, SummaryMarkdown)); !strings.Contains(string(md), "| `bpm_confidence` | 2 | 0.250 | 0.000 | — (one outcome only) |") {
		t.Errorf("summary.md with every tempo right:\n%s", md)
	}
}

// A report file whose writing fails keeps its previous content, and no
// temporary file is left beside it.
func TestWriteFileIsWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SummaryMarkdown)
	if err := writeFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "first\n"); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := writeFile(path, func(w io.Writer) error {
		io.WriteString(w, "half of the sec")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want it to wrap the cause and name %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "first\n" {
		t.Errorf("after a failed write the file holds %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only %s", len(entries), SummaryMarkdown)
	}
	if st, err := os.Stat(path); err != nil {
		t.Error(err)
	} else if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode())
	}
}

// Where every song is right, Accuracy1 and Accuracy2 are equal at every
// tolerance (the shipped calibration set's 100 % and 100 %): the
// Accuracy2 line, drawn first and as wide, lay entirely under
// Accuracy1's, so the plot's legend named a series nobody could see.
// It must show in the plot area, not only in the legend (bottom right).
func TestTolerancePlotShowsBothCurvesWhenEqual(t *testing.T) {
	run := &Run{Records: []Record{
		{Result: stages.Result{File: "a.wav", BPM: 120}, Truth: &Truth{BPM: 120}},
		{Result: stages.Result{File: "b.wav", BPM: 91}, Truth: &Truth{BPM: 90}},
	}}
	p, err := bpmTolerance(run)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	count := func(c color.Color) int {
		r0, g0, b0, _ := c.RGBA()
		n := 0
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Min.X+b.Dx()/2; x++ { // left half: no legend
				r, g, bb, _ := img.At(x, y).RGBA()
				if r == r0 && g == g0 && bb == b0 {
					n++
				}
			}
		}
		return n
	}
	acc2, acc1 := count(plotutil.Color(0)), count(plotutil.Color(1))
	if acc1 < 500 || acc2 < 500 {
		t.Errorf("left half of the plot: %d pixels of Accuracy1's colour, %d of Accuracy2's; both curves must be visible", acc1, acc2)
	}
}

// readCSV reads the whole CSV file at path.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// meterRun is a run whose songs have true time signatures 4/4, 4/4, 3/4,
// 6/8 and 3/8 and were given 4/4, none, 3/4, 3/4 and 6/8: correct,
// missing, correct, wrong (6/8 divides the beat in three), correct (3/8
// is one beat a bar, divided in three). Besides, a failed song with a
// true 3/4 and one with no true time signature, neither scored.
func meterRun() *Run {
	song := func(file, est, truth string) Record {
		return Record{Result: stages.Result{File: file, BPM: 100, Duration: 30, TimeSignature: est},
			Truth: &Truth{BPM: 100, TimeSignature: truth, Source: "truth.csv"}}
	}
	return &Run{Dir: "x", TruthFile: "truth.csv", Wall: time.Second, Records: []Record{
		song("a.wav", "4/4", "4/4"),
		song("b.wav", "", "4/4"),
		song("c.wav", "3/4", "3/4"),
		song("d.wav", "3/4", "6/8"),
		song("e.wav", "6/8", "3/8"),
		{Result: stages.Result{File: "f.wav"}, Truth: &Truth{BPM: 100, TimeSignature: "3/4"}, Error: "decode f.wav: corrupt"},
		song("g.wav", "4/4", ""),
	}}
}

// The time signature section, hand-worked from meterRun: 4 of 5 emitted,
// 3 of those 4 correct, 3 of all 5; always 4/4 gets a.wav and b.wav, 2
// of 5 (always 6/8 ties, with d.wav and e.wav, and comes later).
func TestReportMeterSection(t *testing.T) {
	dir := t.TempDir()
	s, err := Write(dir, meterRun())
	if err != nil {
		t.Fatal(err)
	}
	m := s.Meter
	if m.Scored != 5 || m.Emitted != 4 || m.Correct != 3 || m.Failed != 1 || m.Constant != 2 || m.ConstantAnswer != "4/4" {
		t.Errorf("meter summary %+v; want 5 scored, 4 emitted, 3 correct, 1 failed, constant 4/4 right for 2", m)
	}
	wantConfusion := map[string]map[string]int{
		"4/4": {"4/4": 1, "": 1},
		"3/4": {"3/4": 1},
		"6/8": {"3/4": 1},
		"3/8": {"6/8": 1},
	}
	if !reflect.DeepEqual(m.Confusion, wantConfusion) {
		t.Errorf("confusion %v, want %v", m.Confusion, wantConfusion)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(md), "\n## Time signature\n")
	section, _, _ = strings.Cut(section, "\n## ")
	if !found {
		t.Fatalf("summary.md has no time signature section:\n%s", md)
	}
	const tables = `| measure | value |
|---|---|
| analysed, with a true time signature | 5 |
| failed, with a true time signature (not scored) | 1 |
| time signature emitted | 80.0 % (4 of 5) |
| correct, of those emitted | 75.0 % (3 of 4) |
| correct, of all with a truth | 60.0 % (3 of 5) |
| constant answer, always 4/4 | 40.0 % (2 of 5) |

Songs by true time signature, as the truth file writes it, and the one emitted:

| truth | 4/4 | 3/4 | 6/8 | 9/8 | — |
|---|---|---|---|---|---|
| 3/4 | 0 | 1 | 0 | 0 | 0 |
| 3/8 | 0 | 0 | 1 | 0 | 0 |
| 4/4 | 1 | 0 | 0 | 0 | 1 |
| 6/8 | 0 | 1 | 0 | 0 | 0 |
`
	if !strings.HasSuffix(section, "\n\n"+tables) {
		t.Errorf("time signature section:\n%s\nwant it to end with:\n%s", section, tables)
	}
	var head bytes.Buffer
	if err := s.Headline(&head); err != nil {
		t.Fatal(err)
	}
	if want := "meter  correct 60.0 %  when emitted 75.0 %  emitted 80.0 %  always 4/4 40.0 %  (5 songs with a true time signature; 1 failed song with one not scored)\n"; !strings.Contains(head.String(), want) {
		t.Errorf("headline:\n%s\nlacks %q", head.String(), want)
	}

	// results.json carries the true time signature in the truth and the
	// outcome beside the others.
	res, b := readResults(t, dir)
	wantOutcomes := []MeterOutcome{MeterCorrect, MeterMissing, MeterCorrect, MeterWrong, MeterCorrect, "", ""}
	for i, r := range res.Songs {
		if r.MeterOutcome != wantOutcomes[i] {
			t.Errorf("results.json %s: meter_outcome %q, want %q", r.File, r.MeterOutcome, wantOutcomes[i])
		}
	}
	if res.Songs[4].Truth.TimeSignature != "3/8" || res.Songs[4].TimeSignature != "6/8" || !bytes.Contains(b, []byte(`"meter_outcome": "missing"`)) {
		t.Errorf("results.json e.wav: %+v", res.Songs[4])
	}

	// results.csv likewise.
	rows := readCSV(t, filepath.Join(dir, ResultsCSV))
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for i, want := range []struct{ truth, outcome string }{
		{"4/4", "correct"}, {"4/4", "missing"}, {"3/4", "correct"}, {"6/8", "wrong"}, {"3/8", "correct"}, {"3/4", ""}, {"", ""},
	} {
		row := rows[i+1]
		if row[col["truth_time_signature"]] != want.truth || row[col["meter_outcome"]] != want.outcome {
			t.Errorf("results.csv %s: truth_time_signature %q meter_outcome %q, want %q %q",
				row[col["file"]], row[col["truth_time_signature"]], row[col["meter_outcome"]], want.truth, want.outcome)
		}
	}
}

// A time signature outside the vocabulary, as a newer analyser might
// emit, gets a column of its own rather than vanishing from the table.
func TestReportMeterConfusionOtherAnswer(t *testing.T) {
	run := meterRun()
	run.Records[0].TimeSignature = "2/4"
	dir := t.TempDir()
	s, err := Write(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	if s.Meter.Correct != 3 || s.Meter.Confusion["4/4"]["2/4"] != 1 {
		t.Errorf("meter summary %+v; 2/4 for 4/4 is correct and counted under 2/4", s.Meter)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| truth | 4/4 | 3/4 | 6/8 | 9/8 | 2/4 | — |\n|---|---|---|---|---|---|---|\n", "| 4/4 | 0 | 0 | 0 | 0 | 1 | 1 |\n"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
}

// Without true time signatures there is no section and no headline line:
// most truth files have none.
func TestReportNoMeterSection(t *testing.T) {
	dir := t.TempDir()
	s, err := Write(dir, fakeRun())
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	s.Headline(&head)
	if strings.Contains(string(md), "Time signature") || strings.Contains(head.String(), "meter") || s.Meter.Scored != 0 {
		t.Errorf("a run without true time signatures reports them:\n%s\n%s", head.String(), md)
	}
}

// readResults reads the results.json that Write put in dir, decoded and
// as written.
func readResults(t *testing.T, dir string) (Results, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ResultsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return res, b
}

// TestReportNamesNotUTF8: file names that are not UTF-8 (Latin-1 from an
// old archive or a Samba share) stay apart, and readable, in every file
// of the report, each stray byte read as Latin-1 as results.jsonl and the
// server read them. Before, results.json wrote every such byte as U+FFFD,
// so "caf\xe9.wav" and "caf\xe8.wav" both became "caf\ufffd.wav" and
// neither could be told from the other, and results.csv and summary.md
// held text that is not UTF-8.
func TestReportNamesNotUTF8(t *testing.T) {
	dir := t.TempDir()
	run := fakeRun()
	run.Records[0].File = "caf\xe9.wav"
	run.Records[1].File = "caf\xe8.wav"
	run.Records[5].File = "f\xfc.mp3"                          // the failed song, listed in summary.md
	run.Records[5].Error = "open f\xfc.mp3: permission denied" // as the system quotes it
	run.Skipped[0].File = "not\xe9s.txt"
	if _, err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	if run.Records[0].File != "caf\xe9.wav" {
		t.Errorf("Write changed the run's record to %q", run.Records[0].File)
	}
	res, _ := readResults(t, dir)
	var got []string
	for _, s := range res.Songs {
		got = append(got, s.File)
	}
	if want := []string{"café.wav", "cafè.wav"}; !slices.Equal(got[:2], want) || got[5] != "fü.mp3" {
		t.Errorf("results.json songs %q, want %q first and fü.mp3 last", got, want)
	}
	if res.Skipped[0].File != "notés.txt" {
		t.Errorf("results.json skipped %q, want notés.txt", res.Skipped[0].File)
	}
	rows := readCSV(t, filepath.Join(dir, ResultsCSV))
	if rows[1][0] != "café.wav" || rows[2][0] != "cafè.wav" {
		t.Errorf("results.csv files %q and %q, want café.wav and cafè.wav", rows[1][0], rows[2][0])
	}
	for _, name := range []string{ResultsCSV, SummaryMarkdown} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) {
			t.Errorf("%s is not UTF-8", name)
		}
		if name == SummaryMarkdown && (!bytes.Contains(b, []byte("`fü.mp3`")) || !bytes.Contains(b, []byte("`notés.txt`"))) {
			t.Errorf("summary.md does not name fü.mp3 and notés.txt:\n%s", b)
		}
	}
}

// TestReportNoScoreWhenTruthFailed: when every song with a true key
// failed, summary.md's accuracy table says the analysed songs had none, as
// the headline does, not that there are no true keys: the songs table
// above it counts the failed songs' true keys. Before, it said "no true
// keys" of a truth file that had them.
func TestReportNoScoreWhenTruthFailed(t *testing.T) {
	dir := t.TempDir()
	// No analysed song has a true key, a failed one has; nor, now, a
	// true tempo, which the failed ones have.
	run := plotRun()
	for i := range run.Records {
		if run.Records[i].Error == "" {
			run.Records[i].Truth = nil
		}
	}
	s, err := Write(dir, run)
	if err != nil {
		t.Fatal(err)
	}
	if s.TempoScored != 0 || s.TempoFailed == 0 || s.KeyScored != 0 || s.KeyFailed == 0 {
		t.Fatalf("tempo %d scored %d failed, key %d scored %d failed; want none scored, some failed", s.TempoScored, s.TempoFailed, s.KeyScored, s.KeyFailed)
	}
	md, err := os.ReadFile(filepath.Join(dir, SummaryMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("| tempo | no true tempi among the analysed songs (%s) |\n", failedNote("", s.TempoFailed)),
		fmt.Sprintf("| key | no true keys among the analysed songs (%s) |\n", failedNote("", s.KeyFailed)),
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	checkTables(t, string(md))
}
