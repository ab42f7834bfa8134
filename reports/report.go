package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/songflow/songflow/calibration"
	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/internal/latin1"
	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/stages"
)

// Record is one song of a calibration run: the analysis result (its
// fields inline), the truth it is scored against and the outcome.
type Record struct {
	stages.Result
	Truth *Truth `json:"truth,omitempty"` // nil when nothing is known of the song
	// TempoOutcome, KeyOutcome and MeterOutcome are set by Score; empty
	// for a failed song and where the truth has nothing to score against.
	TempoOutcome TempoOutcome `json:"tempo_outcome,omitempty"`
	KeyOutcome   KeyOutcome   `json:"key_outcome,omitempty"`
	MeterOutcome MeterOutcome `json:"meter_outcome,omitempty"`
	// Error is why the song could not be analysed; the result fields are
	// then empty.
	Error string `json:"error,omitempty"`
	// Finished is when the song's result came back, in seconds since the
	// run started: the throughput plot is drawn from it.
	Finished float64 `json:"finished_seconds"`
}

// Score fills in the record's outcome categories from its result and
// truth. A failed song, or one without truth, gets none.
func (r *Record) Score() {
	r.TempoOutcome, r.KeyOutcome, r.MeterOutcome = "", "", ""
	if r.Error != "" || r.Truth == nil {
		return
	}
	if r.Truth.BPM > 0 {
		r.TempoOutcome = ClassifyTempo(r.BPM, r.Truth.BPM, Tolerance)
	}
	if tk, ok := r.Truth.ParsedKey(); ok {
		if ek, err := dsp.ParseKey(r.Key); err == nil {
			r.KeyOutcome = ClassifyKey(ek, tk)
		} else {
			r.KeyOutcome = KeyOther // no usable estimate is a miss
		}
	}
	r.MeterOutcome = ClassifyMeter(r.TimeSignature, r.Truth.TimeSignature)
}

// Skipped is a file of the calibration folder that was not analysed.
type Skipped struct {
	File   string `json:"file"`   // relative to the calibration folder
	Reason string `json:"reason"` // why it was not analysed, for people
}

// Run is everything a calibration run produced, the input to [Write].
type Run struct {
	Dir       string // the calibration folder
	TruthFile string // the truth file used, "" when truth came from tags
	// TruthUnread names the truth file's columns that were not read
	// ([TruthSet.Unread]).
	TruthUnread []string
	Records     []Record  // one per song analysed or failed
	Skipped     []Skipped // files not analysed
	// UnmatchedTruth are the truth file's rows that no song matched
	// ([TruthSet.Match]).
	UnmatchedTruth []UnmatchedRow
	Started        time.Time
	Wall           time.Duration // wall time of the analysis
	Cores          int           // GOMAXPROCS during the run
	// CPU is the user and system time the process spent during the run,
	// 0 when unknown: the per-core speed is audio seconds per CPU second,
	// as `songflow bench` and the benchmarks count it.
	CPU     time.Duration
	PeakRSS int64             // bytes, the process's maximum resident set size
	Metrics pipeline.Snapshot // the pipeline's, at the end of the run
	// Config is the configuration in force, as pipeline.toml text.
	Config string
	// Fit holds the --fit results, nil when no fit was asked for;
	// FitNote explains a fit that could not be made.
	Fit []calibration.FeatureFit
	// ConfidenceFit holds the --fit recalibrations of the confidences.
	ConfidenceFit []calibration.ConfidenceFit
	FitFile       string // where the fitted calibration.json was written; "" when it was not
	FitNote       string
}

// Summary holds a run's headline figures.
type Summary struct {
	// Songs counts the records, Analysed and Failed them by outcome;
	// Skipped counts the files not analysed.
	Songs, Analysed, Failed, Skipped int
	// TruthFile and UnmatchedTruth are the run's, for the headline.
	TruthFile      string
	UnmatchedTruth []UnmatchedRow
	// TempoScored and KeyScored count the analysed songs with a true
	// tempo and key; the accuracies are fractions of them.
	TempoScored int
	Accuracy1   float64 // see [Accuracy1]
	Accuracy2   float64 // see [Accuracy2]
	// InCandidates is the share whose true tempo is among bpm_candidates.
	InCandidates        float64
	TempoOutcomes       map[TempoOutcome]int
	KeyScored           int
	KeyWeighted         float64 // mean MIREX weighted score, 0..1
	KeyOutcomes         map[KeyOutcome]int
	AudioSeconds        float64 // of the analysed songs
	Wall                time.Duration
	XRealTime           float64 // seconds of audio per second of wall time
	XRealTimePerCore    float64 // seconds of audio per CPU second; a floor from Cores when CPU is unknown
	SongsPerSecond      float64 // analysed songs per second of wall time
	PeakRSS             int64   // bytes
	Bottleneck          string  // the stage with the highest utilisation
	BottleneckUtilising float64 // its utilisation, 0..1

	// TempoFailed and KeyFailed count the failed songs with a true tempo
	// and key: no score counts them, and the report says so.
	TempoFailed, KeyFailed int

	// TempoReliability and KeyReliability say how well bpm_confidence
	// predicts Accuracy1 and key_confidence the exact key.
	TempoReliability, KeyReliability Reliability

	// Meter scores the time signatures.
	Meter MeterSummary
}

// MeterSummary scores the time signatures of a run's analysed songs that
// have a true one.
type MeterSummary struct {
	// Scored counts the analysed songs with a true time signature,
	// Emitted those of them the analysis gave one, Correct those whose
	// one was right: Correct/Emitted is the accuracy when it speaks,
	// Correct/Scored counts its silence against it.
	Scored, Emitted, Correct int
	// Failed counts the failed songs with a true time signature: no
	// score counts them.
	Failed int
	// Constant is how many of the scored songs ConstantAnswer, the one
	// time signature that would be right most often if always given,
	// gets right: a score at or below it is no better than a guess that
	// ignores the audio.
	Constant       int
	ConstantAnswer string
	// Confusion counts the scored songs by true time signature, as the
	// truth file wrote it, then by the one emitted ("" for none).
	Confusion map[string]map[string]int
}

// Summarise computes the headline figures of run from its records; the
// records must have been scored ([Record.Score]).
func Summarise(run *Run) Summary {
	s := Summary{
		Songs:          len(run.Records),
		Skipped:        len(run.Skipped),
		TruthFile:      run.TruthFile,
		UnmatchedTruth: run.UnmatchedTruth,
		TempoOutcomes:  map[TempoOutcome]int{},
		KeyOutcomes:    map[KeyOutcome]int{},
		Wall:           run.Wall,
		PeakRSS:        run.PeakRSS,
		Bottleneck:     run.Metrics.Bottleneck,
	}
	var a1, a2, inCands int
	var kw float64
	var meterTruths []string
	for _, r := range run.Records {
		if r.Error != "" {
			s.Failed++
			if r.Truth != nil {
				if r.Truth.BPM > 0 {
					s.TempoFailed++
				}
				if _, ok := r.Truth.ParsedKey(); ok {
					s.KeyFailed++
				}
				if _, _, ok := MeterClass(r.Truth.TimeSignature); ok {
					s.Meter.Failed++
				}
			}
			continue
		}
		s.Analysed++
		s.AudioSeconds += r.Duration
		if r.TempoOutcome != "" {
			s.TempoScored++
			s.TempoOutcomes[r.TempoOutcome]++
			if Accuracy1(r.BPM, r.Truth.BPM, Tolerance) {
				a1++
			}
			if Accuracy2(r.BPM, r.Truth.BPM, Tolerance) {
				a2++
			}
			if AmongCandidates(r.BPMCandidates, r.Truth.BPM, Tolerance) {
				inCands++
			}
		}
		if r.KeyOutcome != "" {
			s.KeyScored++
			s.KeyOutcomes[r.KeyOutcome]++
			kw += r.KeyOutcome.Weight()
		}
		if r.MeterOutcome != "" {
			s.Meter.add(r.Truth.TimeSignature, r.TimeSignature, r.MeterOutcome)
			meterTruths = append(meterTruths, r.Truth.TimeSignature)
		}
	}
	s.Meter.Constant, s.Meter.ConstantAnswer = constantMeter(meterTruths)
	tc, tok, kc, kok := confidenceObservations(run)
	s.TempoReliability = MeasureReliability(tc, tok, confidenceBins)
	s.KeyReliability = MeasureReliability(kc, kok, confidenceBins)
	s.Accuracy1 = frac(a1, s.TempoScored)
	s.Accuracy2 = frac(a2, s.TempoScored)
	s.InCandidates = frac(inCands, s.TempoScored)
	if s.KeyScored > 0 {
		s.KeyWeighted = kw / float64(s.KeyScored)
	}
	if w := run.Wall.Seconds(); w > 0 {
		s.XRealTime = s.AudioSeconds / w
		s.SongsPerSecond = float64(s.Analysed) / w
		switch {
		case run.CPU > 0:
			s.XRealTimePerCore = s.AudioSeconds / run.CPU.Seconds()
		case run.Cores > 0:
			// Without a CPU clock, assume every core was busy: a floor.
			s.XRealTimePerCore = s.XRealTime / float64(run.Cores)
		}
	}
	for _, st := range run.Metrics.Stages {
		if st.Name == s.Bottleneck {
			s.BottleneckUtilising = st.Utilisation
		}
	}
	return s
}

// add counts one scored song with the true time signature truth, the
// emitted one est and their outcome.
func (m *MeterSummary) add(truth, est string, o MeterOutcome) {
	m.Scored++
	if o != MeterMissing {
		m.Emitted++
	}
	if o == MeterCorrect {
		m.Correct++
	}
	if m.Confusion == nil {
		m.Confusion = map[string]map[string]int{}
	}
	if m.Confusion[truth] == nil {
		m.Confusion[truth] = map[string]int{}
	}
	m.Confusion[truth][est]++
}

// Headline writes the summary's main figures in a few plain lines, as the
// calibrate command prints them at the end of a run.
func (s Summary) Headline(w io.Writer) error {
	var b strings.Builder
	files := "files"
	if s.Skipped == 1 {
		files = "file"
	}
	fmt.Fprintf(&b, "songs %d analysed, %d failed, %d %s skipped\n", s.Analysed, s.Failed, s.Skipped, files)
	if n := len(s.UnmatchedTruth); n > 0 {
		rows, verb := "rows", "match"
		if n == 1 {
			rows, verb = "row", "matches"
		}
		var names []string
		for _, u := range s.UnmatchedTruth[:min(n, headlineRows)] {
			if len(u.Ambiguous) > 0 {
				u.Row += " (ambiguous case)"
			}
			names = append(names, u.Row)
		}
		more := ""
		if n > headlineRows {
			more = fmt.Sprintf(" and %d more", n-headlineRows)
		}
		fmt.Fprintf(&b, "truth  %d %s of %s %s no audio file: %s%s\n", n, rows, s.TruthFile, verb, strings.Join(names, ", "), more)
	}
	switch {
	case s.TempoScored > 0:
		fmt.Fprintf(&b, "tempo  Accuracy1 %.1f %%  Accuracy2 %.1f %%  among candidates %.1f %%  (%s with a true tempo%s)\n", 100*s.Accuracy1, 100*s.Accuracy2, 100*s.InCandidates, Plural(s.TempoScored, "song"), failedNote("; ", s.TempoFailed))
	case s.TempoFailed > 0:
		fmt.Fprintf(&b, "tempo  no true tempi among the analysed songs (%s)\n", failedNote("", s.TempoFailed))
	default:
		b.WriteString("tempo  no true tempi: not scored\n")
	}
	switch {
	case s.KeyScored > 0:
		fmt.Fprintf(&b, "key    weighted score %.3f  (%s of %s with a true key%s)\n", s.KeyWeighted, s.keyCounts(), Plural(s.KeyScored, "song"), failedNote("; ", s.KeyFailed))
	case s.KeyFailed > 0:
		fmt.Fprintf(&b, "key    no true keys among the analysed songs (%s)\n", failedNote("", s.KeyFailed))
	default:
		b.WriteString("key    no true keys: not scored\n")
	}
	// Unlike tempo and key, most truth files have no time signatures:
	// the line is left out rather than saying so on every run.
	switch m := s.Meter; {
	case m.Scored > 0:
		whenEmitted := "—"
		if m.Emitted > 0 {
			whenEmitted = pct(m.Correct, m.Emitted)
		}
		fmt.Fprintf(&b, "meter  correct %s  when emitted %s  emitted %s  always %s %s  (%s with a true time signature%s)\n",
			pct(m.Correct, m.Scored), whenEmitted, pct(m.Emitted, m.Scored), m.ConstantAnswer, pct(m.Constant, m.Scored),
			Plural(m.Scored, "song"), failedNote("; ", m.Failed))
	case m.Failed > 0:
		fmt.Fprintf(&b, "meter  no true time signatures among the analysed songs (%s)\n", failedNote("", m.Failed))
	}
	fmt.Fprintf(&b, "speed  %.1f s of audio in %.2f s: %.1f× real time (%.1f× per core), %.2f songs/s, peak memory %s\n",
		s.AudioSeconds, s.Wall.Seconds(), s.XRealTime, s.XRealTimePerCore, s.SongsPerSecond, mib(s.PeakRSS))
	if s.Bottleneck != "" {
		fmt.Fprintf(&b, "bottleneck %s (%.0f %% busy)\n", s.Bottleneck, 100*s.BottleneckUtilising)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// failedNote says, after sep, that n failed songs had a truth the scores
// leave out; it is empty when n is 0.
func failedNote(sep string, n int) string {
	if n == 0 {
		return ""
	}
	return sep + Plural(n, "failed song") + " with one not scored"
}

// headlineRows is how many unmatched truth rows the headline names; the
// summary lists them all.
const headlineRows = 5

func (s Summary) keyCounts() string {
	var parts []string
	for _, o := range KeyOutcomes {
		parts = append(parts, fmt.Sprintf("%d %s", s.KeyOutcomes[o], o))
	}
	return strings.Join(parts, ", ")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// Files written by [Write], relative to the report folder.
const (
	ResultsJSON     = "results.json"
	ResultsCSV      = "results.csv"
	SummaryMarkdown = "summary.md"
)

// Write writes the report of run into dir (created if needed):
// results.json, results.csv, summary.md and the PNG plots. It scores
// every record first and returns the summary it wrote.
func Write(dir string, run *Run) (Summary, error) {
	for i := range run.Records {
		run.Records[i].Score()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Summary{}, fmt.Errorf("report: %w", err)
	}
	s := Summarise(run)
	writers := []struct {
		name  string
		write func(io.Writer, *Run, Summary) error
	}{
		{ResultsJSON, writeJSON},
		{ResultsCSV, writeCSV},
		{SummaryMarkdown, writeSummary},
	}
	for _, w := range writers {
		if err := writeFile(filepath.Join(dir, w.name), func(f io.Writer) error { return w.write(f, run, s) }); err != nil {
			return s, err
		}
	}
	if err := writePlots(dir, run); err != nil {
		return s, err
	}
	return s, nil
}

// writeFile writes path through write into a temporary file beside it,
// renamed over path only once complete: a failed write (a full disk)
// leaves the file as it was rather than half written, and a reader of a
// report watch refreshes never sees half a file.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// CreateTemp makes the file private; a report is for reading.
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("report %s: %w", path, err)
	}
	return nil
}

// Results is the content of results.json.
type Results struct {
	// Dir, TruthFile, Songs and Skipped are the Run's Dir, TruthFile,
	// Records and Skipped.
	Dir       string    `json:"dir"`
	TruthFile string    `json:"truth_file,omitempty"`
	Songs     []Record  `json:"songs"`
	Skipped   []Skipped `json:"skipped"`
	// UnmatchedTruth are the rows of TruthFile that no song matched.
	UnmatchedTruth []UnmatchedRow `json:"unmatched_truth,omitempty"`
}

func writeJSON(w io.Writer, run *Run, _ Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Empty lists are written as [], not null: readers iterate them.
	// Copies, so that the names can be made UTF-8 without touching the
	// run's records, which name the files as they are on disk. JSON
	// carries UTF-8 only: encoding/json would write "caf\xe9.wav" and
	// "caf\xe8.wav" alike as "caf\ufffd.wav", where latin1 keeps them
	// apart and readable.
	songs := make([]Record, len(run.Records))
	for i, r := range run.Records {
		// An error quotes the name too, as the system gave it.
		r.File, r.Error = latin1.ToUTF8(r.File), latin1.ToUTF8(r.Error)
		// A failed song's lists are empty, as an analysed one's are
		// when there is nothing in them: readers iterate them, and
		// Swift's JSONDecoder refuses a null for an array.
		if r.BPMCandidates == nil {
			r.BPMCandidates = []stages.TempoCandidate{}
		}
		if r.KeyDetails.Scores == nil {
			r.KeyDetails.Scores = []stages.KeyScore{}
		}
		songs[i] = r
	}
	skipped := make([]Skipped, len(run.Skipped))
	for i, k := range run.Skipped {
		k.File, k.Reason = latin1.ToUTF8(k.File), latin1.ToUTF8(k.Reason)
		skipped[i] = k
	}
	return enc.Encode(Results{Dir: latin1.ToUTF8(run.Dir), TruthFile: latin1.ToUTF8(run.TruthFile), Songs: songs, Skipped: skipped, UnmatchedTruth: run.UnmatchedTruth})
}

// stageNames returns the stages in pipeline order as the metrics list
// them, then any others the records mention, sorted.
func stageNames(run *Run) []string {
	var names []string
	for _, st := range run.Metrics.Stages {
		names = append(names, st.Name)
	}
	var extra []string
	for _, r := range run.Records {
		for n := range r.StageSeconds {
			if !slices.Contains(names, n) && !slices.Contains(extra, n) {
				extra = append(extra, n)
			}
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}

func writeCSV(w io.Writer, run *Run, _ Summary) error {
	stageCols := stageNames(run)
	hdr := []string{"file", "title", "artist", "format", "sample_rate", "channels", "duration",
		"bpm", "bpm_confidence", "bpm_candidates", "time_signature",
		"key", "key_confidence", "key_runner_up", "key_profile", "tuning_cents", "key_scores",
		"loudness", "loudness_range", "true_peak",
		"energy", "danceability", "acousticness", "valence", "spectral_centroid", "dynamic_range", "silence_ratio",
		"analyzer_version", "analysis_duration", "tag_bpm", "tag_key",
		"truth_source", "truth_bpm", "truth_key", "truth_time_signature"}
	for _, d := range Descriptors {
		hdr = append(hdr, "truth_"+d)
	}
	hdr = append(hdr, "tempo_outcome", "key_outcome", "key_score", "meter_outcome", "error", "finished_seconds")
	for _, n := range stageCols {
		hdr = append(hdr, "stage_"+n+"_seconds")
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(hdr); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	// A tag that is absent is an empty cell, as results.json leaves the
	// field out: 0 would read as a tagged tempo of 0.
	tagBPM := func(v float64) string {
		if v > 0 {
			return num(v)
		}
		return ""
	}
	for _, r := range run.Records {
		var cands, keyScores []string
		for _, c := range r.BPMCandidates {
			cands = append(cands, fmt.Sprintf("%.1f:%.3f", c.BPM, c.Score))
		}
		// Key names hold a space: the pairs are split by semicolons.
		for _, k := range r.KeyDetails.Scores {
			keyScores = append(keyScores, fmt.Sprintf("%s:%.3f", k.Key, k.Score))
		}
		row := []string{latin1.ToUTF8(r.File), r.Title, r.Artist, r.Format, strconv.Itoa(r.SampleRate), strconv.Itoa(r.Channels), num(r.Duration),
			num(r.BPM), num(r.BPMConfidence), strings.Join(cands, " "), r.TimeSignature,
			r.Key, num(r.KeyConfidence), r.KeyDetails.RunnerUp, r.KeyDetails.Profile, num(r.KeyDetails.TuningCents), strings.Join(keyScores, "; "),
			num(r.Loudness), num(r.LoudnessRange), num(r.TruePeak),
			num(r.Energy), num(r.Danceability), num(r.Acousticness), num(r.Valence), num(r.SpectralCentroid), num(r.DynamicRange), num(r.SilenceRatio),
			r.AnalyzerVersion, num(r.AnalysisDuration), tagBPM(r.Tags.BPM), r.Tags.Key}
		if r.Error != "" {
			// A failed song has no result: its cells are empty, as an
			// absent tag's are, not zeros that read as a tempo of 0 or
			// a loudness of 0 LUFS and enter a spreadsheet's averages.
			clear(row[1:])
		}
		if t := r.Truth; t != nil {
			// No true tempo is an empty cell, as results.json leaves it
			// out: a 0 would read as a tempo every estimate misses.
			truthBPM := ""
			if t.BPM > 0 {
				truthBPM = num(t.BPM)
			}
			row = append(row, t.Source, truthBPM, t.Key, t.TimeSignature)
			for _, d := range Descriptors {
				if v, ok := t.Reference[d]; ok {
					row = append(row, num(v))
				} else {
					row = append(row, "")
				}
			}
		} else {
			row = append(row, "", "", "", "")
			for range Descriptors {
				row = append(row, "")
			}
		}
		score := ""
		if r.KeyOutcome != "" {
			score = num(r.KeyOutcome.Weight())
		}
		row = append(row, string(r.TempoOutcome), string(r.KeyOutcome), score, string(r.MeterOutcome), latin1.ToUTF8(r.Error), num(r.Finished))
		for _, n := range stageCols {
			if v, ok := r.StageSeconds[n]; ok {
				row = append(row, num(v))
			} else {
				row = append(row, "")
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// codeList spells names as Markdown code, separated by commas.
func codeList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = Code(n)
	}
	return strings.Join(quoted, ", ")
}

func writeSummary(w io.Writer, run *Run, s Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Calibration report\n\n")
	fmt.Fprintf(&b, "Folder %s, run started %s UTC.", Code(run.Dir), run.Started.UTC().Format("2006-01-02 15:04:05"))
	if run.TruthFile != "" {
		fmt.Fprintf(&b, " Ground truth from %s.", Code(run.TruthFile))
		if len(run.TruthUnread) > 0 {
			fmt.Fprintf(&b, " Its columns not read: %s.", codeList(run.TruthUnread))
		}
		b.WriteString("\n\n")
	} else {
		b.WriteString(" No truth file: ground truth from the songs' TBPM and TKEY tags.\n\n")
	}

	b.WriteString("## Songs\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| songs | %d |\n| analysed | %d |\n| failed | %d |\n| files skipped | %d |\n", s.Songs, s.Analysed, s.Failed, s.Skipped)
	if run.TruthFile != "" {
		fmt.Fprintf(&b, "| truth rows matching no file | %d |\n", len(run.UnmatchedTruth))
	}
	// The scores count the analysed songs only: a failed song's truth
	// is counted apart, so that the rows add up to what the truth holds.
	fmt.Fprintf(&b, "| analysed, with a true tempo | %d |\n", s.TempoScored)
	if s.TempoFailed > 0 {
		fmt.Fprintf(&b, "| failed, with a true tempo (not scored) | %d |\n", s.TempoFailed)
	}
	fmt.Fprintf(&b, "| analysed, with a true key | %d |\n", s.KeyScored)
	if s.KeyFailed > 0 {
		fmt.Fprintf(&b, "| failed, with a true key (not scored) | %d |\n", s.KeyFailed)
	}
	b.WriteString("\n")
	if s.Failed > 0 {
		b.WriteString("Failed songs (not scored):\n\n")
		for _, r := range run.Records {
			if r.Error != "" {
				fmt.Fprintf(&b, "- %s: %s\n", Code(r.File), oneLine(r.Error))
			}
		}
		b.WriteString("\n")
	}
	if len(run.Skipped) > 0 {
		b.WriteString("Skipped files:\n\n")
		for _, k := range run.Skipped {
			fmt.Fprintf(&b, "- %s: %s\n", Code(k.File), oneLine(k.Reason))
		}
		b.WriteString("\n")
	}
	if len(run.UnmatchedTruth) > 0 {
		fmt.Fprintf(&b, "Rows of %s that match no audio file:\n\n", Code(run.TruthFile))
		for _, u := range run.UnmatchedTruth {
			fmt.Fprintf(&b, "- %s (line %d)", Code(u.Row), u.Line)
			if len(u.Ambiguous) > 0 {
				fmt.Fprintf(&b, ": ambiguous ignoring case: %s", codeList(u.Ambiguous))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}

	b.WriteString("## Accuracy\n\n")
	fmt.Fprintf(&b, "Scored over the analysed songs that have a truth. Tempo is correct within %g %%;\n", 100*Tolerance)
	b.WriteString("Accuracy2 also accepts ×⅓, ×½, ×2 and ×3 the true tempo; \"among candidates\" counts\n")
	b.WriteString("the songs whose true tempo is one of the three `bpm_candidates` (the estimate, its other\n")
	b.WriteString("octave and its other grouping, ×⅔ or ×3/2). The key score is MIREX's:\n")
	b.WriteString("1 same key, 0.5 the fifth above, 0.3 relative, 0.2 parallel, 0 otherwise.\n\n")
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	switch {
	case s.TempoScored > 0:
		fmt.Fprintf(&b, "| tempo Accuracy1 | %.1f %% (%d of %d) |\n", 100*s.Accuracy1, round(s.Accuracy1*float64(s.TempoScored)), s.TempoScored)
		fmt.Fprintf(&b, "| tempo Accuracy2 | %.1f %% (%d of %d) |\n", 100*s.Accuracy2, round(s.Accuracy2*float64(s.TempoScored)), s.TempoScored)
		fmt.Fprintf(&b, "| true tempo among `bpm_candidates` | %.1f %% (%d of %d) |\n", 100*s.InCandidates, round(s.InCandidates*float64(s.TempoScored)), s.TempoScored)
	case s.TempoFailed > 0:
		// The truth has tempi, of failed songs only: "no true tempi"
		// would deny what the songs table above counts.
		fmt.Fprintf(&b, "| tempo | no true tempi among the analysed songs (%s) |\n", failedNote("", s.TempoFailed))
	default:
		b.WriteString("| tempo | no true tempi |\n")
	}
	switch {
	case s.KeyScored > 0:
		fmt.Fprintf(&b, "| key weighted score | %.3f (%s) |\n", s.KeyWeighted, Plural(s.KeyScored, "song"))
	case s.KeyFailed > 0:
		fmt.Fprintf(&b, "| key | no true keys among the analysed songs (%s) |\n", failedNote("", s.KeyFailed))
	default:
		b.WriteString("| key | no true keys |\n")
	}
	b.WriteString("\n| tempo outcome | songs |\n|---|---|\n")
	for _, o := range TempoOutcomes {
		fmt.Fprintf(&b, "| %s | %d |\n", o, s.TempoOutcomes[o])
	}
	b.WriteString("\n| key outcome | songs |\n|---|---|\n")
	for _, o := range KeyOutcomes {
		fmt.Fprintf(&b, "| %s | %d |\n", o, s.KeyOutcomes[o])
	}
	b.WriteString("\nMisses:\n\n")
	misses := 0
	for _, r := range run.Records {
		tempoMiss := r.TempoOutcome != "" && r.TempoOutcome != TempoCorrect
		keyMiss := r.KeyOutcome != "" && r.KeyOutcome != KeyCorrect
		if tempoMiss || keyMiss {
			misses++
			var parts []string
			switch {
			case r.TempoOutcome != "" && r.BPM <= 0:
				parts = append(parts, fmt.Sprintf("no tempo found for %g", r.Truth.BPM))
			case r.TempoOutcome != "":
				parts = append(parts, fmt.Sprintf("tempo %.1f BPM for %g (%s)", r.BPM, r.Truth.BPM, r.TempoOutcome))
			}
			if r.KeyOutcome != "" {
				parts = append(parts, fmt.Sprintf("key %s for %s (%s)", orDash(r.Key), r.Truth.Key, r.KeyOutcome))
			}
			fmt.Fprintf(&b, "- %s: %s\n", Code(r.File), strings.Join(parts, ", "))
		}
	}
	if misses == 0 {
		b.WriteString("- none\n")
	}

	writeMeter(&b, s.Meter)
	writeReliability(&b, s)

	b.WriteString("\n## Speed\n\n")
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| seconds of audio | %.1f |\n| wall time | %.2f s |\n", s.AudioSeconds, s.Wall.Seconds())
	fmt.Fprintf(&b, "| × real time | %.1f |\n| × real time per core (audio seconds per CPU second; %d cores) | %.1f |\n", s.XRealTime, run.Cores, s.XRealTimePerCore)
	fmt.Fprintf(&b, "| songs per second | %.2f |\n| peak memory (max RSS) | %s |\n\n", s.SongsPerSecond, mib(s.PeakRSS))

	if len(run.Metrics.Stages) > 0 {
		b.WriteString("## Stages\n\n")
		b.WriteString("Utilisation is the fraction of the stage's workers' time spent working; service\n")
		b.WriteString("times are per call of the stage function (one song, or one chunk for fft).\n\n")
		b.WriteString(StageTable(run.Metrics))
		if s.Bottleneck != "" {
			fmt.Fprintf(&b, "\n**Bottleneck: %s** (%.0f %% busy). Give it the suggested workers (cores allowing) and\n", s.Bottleneck, 100*s.BottleneckUtilising)
			b.WriteString("run again; if the bottleneck moves, the next stage takes its turn. Suggested workers,\n")
			b.WriteString("to paste into `pipeline.toml` (or pass with `--config`):\n\n")
		} else {
			b.WriteString("\nSuggested workers, to paste into `pipeline.toml`:\n\n")
		}
		b.WriteString("```toml\n")
		b.WriteString(Suggestion(run.Metrics))
		b.WriteString("```\n\n")
	}

	if run.Fit != nil || run.ConfidenceFit != nil || run.FitNote != "" {
		b.WriteString("## Calibration fit\n\n")
		if run.FitNote != "" {
			fmt.Fprintf(&b, "%s\n\n", run.FitNote)
		}
		if len(run.Fit) > 0 {
			b.WriteString("A linear map per descriptor (clamped to 0..1, loudness unclamped), fitted by least squares.\n")
			b.WriteString("MAE after is cross-validated: every song is corrected by a map fitted on the other folds only.\n")
			b.WriteString("A map is kept only where it lowers that error.\n\n")
			b.WriteString("| feature | songs | folds | MAE before | MAE after (CV) | slope | intercept | kept |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|\n")
			for _, f := range run.Fit {
				if f.Skipped != "" {
					fmt.Fprintf(&b, "| %s | %d | | %.3f | | | | no: %s |\n", f.Feature, f.Songs, f.MAEBefore, f.Skipped)
					continue
				}
				fmt.Fprintf(&b, "| %s | %d | %d | %.3f | %.3f | %.3f | %.3f | %s |\n", f.Feature, f.Songs, f.Folds, f.MAEBefore, f.MAEAfter, f.Linear.Slope, f.Linear.Intercept, yesNo(f.Kept))
			}
			b.WriteString("\n")
		}
		if len(run.ConfidenceFit) > 0 {
			b.WriteString("A Platt scaling per confidence, σ(slope·logit(c) + intercept), fitted by maximum likelihood to\n")
			b.WriteString("whether each song was right (tempo by Accuracy1, key by the exact key). Brier after is\n")
			b.WriteString("cross-validated: every song is recalibrated by a fit on the other folds only, and the\n")
			b.WriteString("constant forecast is those folds' hit rate. A recalibration is kept only where it lowers\n")
			b.WriteString("the Brier score; one that does not also beat the constant tells songs apart no better than the hit rate.\n\n")
			b.WriteString("| confidence | songs | folds | Brier before | Brier after (CV) | constant forecast (CV) | slope | intercept | kept |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
			for _, f := range run.ConfidenceFit {
				if f.Skipped != "" {
					fmt.Fprintf(&b, "| %s | %d | | %.3f | | %.3f | | | no: %s |\n", f.Confidence, f.Songs, f.BrierBefore, f.Constant, f.Skipped)
					continue
				}
				fmt.Fprintf(&b, "| %s | %d | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n", f.Confidence, f.Songs, f.Folds, f.BrierBefore, f.BrierAfter, f.Constant, f.Logistic.Slope, f.Logistic.Intercept, yesNo(f.Kept))
			}
			b.WriteString("\n")
		}
		if run.FitFile != "" {
			fmt.Fprintf(&b, "Written to `%s`; set `analysis.calibration` in `pipeline.toml` to apply it.\n\n", run.FitFile)
		}
	}

	b.WriteString("## Plots\n\n")
	for _, p := range plotFiles {
		fmt.Fprintf(&b, "![%s](%s)\n", strings.TrimSuffix(p, ".png"), p)
	}
	b.WriteString("\n## Configuration used\n\n```toml\n")
	b.WriteString(strings.TrimRight(run.Config, "\n"))
	b.WriteString("\n```\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMeter writes the time signature section: coverage, accuracy
// among the songs given one and among all with a truth, the constant
// answer's score, and which time signature was emitted for which. With no
// true time signatures there is nothing to say, and no section.
func writeMeter(b *strings.Builder, m MeterSummary) {
	if m.Scored+m.Failed == 0 {
		return
	}
	b.WriteString("\n## Time signature\n\n")
	b.WriteString("Scored over the analysed songs that have a true time signature. An estimate is correct\n")
	b.WriteString("when it divides the beat as the truth does, in two or in three, and groups the beats as\n")
	b.WriteString("it does, in twos or fours or in threes: audio cannot tell 2/4 from 4/4, nor 6/8 from\n")
	b.WriteString("12/8. 3/8, one beat a bar, only needs the beat divided in three; 5/4, 7/8 and other\n")
	b.WriteString("meters that none of 4/4, 3/4, 6/8 and 9/8 stands for are never correct. The constant\n")
	b.WriteString("answer is the one time signature that, given for every song, would be right most often.\n\n")
	fmt.Fprintf(b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(b, "| analysed, with a true time signature | %d |\n", m.Scored)
	if m.Failed > 0 {
		fmt.Fprintf(b, "| failed, with a true time signature (not scored) | %d |\n", m.Failed)
	}
	if m.Scored == 0 {
		return
	}
	fmt.Fprintf(b, "| time signature emitted | %s (%d of %d) |\n", pct(m.Emitted, m.Scored), m.Emitted, m.Scored)
	if m.Emitted > 0 {
		fmt.Fprintf(b, "| correct, of those emitted | %s (%d of %d) |\n", pct(m.Correct, m.Emitted), m.Correct, m.Emitted)
	} else {
		b.WriteString("| correct, of those emitted | none emitted |\n")
	}
	fmt.Fprintf(b, "| correct, of all with a truth | %s (%d of %d) |\n", pct(m.Correct, m.Scored), m.Correct, m.Scored)
	fmt.Fprintf(b, "| constant answer, always %s | %s (%d of %d) |\n", m.ConstantAnswer, pct(m.Constant, m.Scored), m.Constant, m.Scored)

	// Columns: the vocabulary, then anything else emitted (a newer
	// analyser's), then none; rows in numeric order of the truth.
	answers := meterAnswers()
	cols := slices.Clone(answers)
	var truths []string
	for t, row := range m.Confusion {
		truths = append(truths, t)
		for e := range row {
			if e != "" && !slices.Contains(cols, e) {
				cols = append(cols, e)
			}
		}
	}
	slices.Sort(cols[len(answers):])
	slices.SortFunc(truths, compareTimeSignatures)
	cols = append(cols, "")
	b.WriteString("\nSongs by true time signature, as the truth file writes it, and the one emitted:\n\n| truth |")
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", orEmDash(c))
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, t := range truths {
		fmt.Fprintf(b, "| %s |", t)
		for _, c := range cols {
			fmt.Fprintf(b, " %d |", m.Confusion[t][c])
		}
		b.WriteString("\n")
	}
}

// compareTimeSignatures orders time signatures by numerator, then
// denominator, so that 3/4 comes before 12/8 as a reader counts; what
// does not parse goes last, by its text.
func compareTimeSignatures(a, b string) int {
	an, ad, aerr := parseTimeSignature(a)
	bn, bd, berr := parseTimeSignature(b)
	switch {
	case aerr != nil || berr != nil:
		if (aerr != nil) != (berr != nil) {
			if aerr != nil {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	case an != bn:
		return an - bn
	}
	return ad - bd
}

// pct writes n of d as a percentage, as the summary gives accuracies.
func pct(n, d int) string { return fmt.Sprintf("%.1f %%", 100*frac(n, d)) }

// orEmDash writes a table cell for s, the dash of a table for none.
func orEmDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// writeReliability writes the confidence section: accuracy per
// confidence bin and the Brier score against the constant forecast.
func writeReliability(b *strings.Builder, s Summary) {
	t, k := s.TempoReliability, s.KeyReliability
	if t.Songs+k.Songs == 0 {
		return
	}
	b.WriteString("\n## Confidence\n\n")
	b.WriteString("How often the analysis is right at each confidence it reports: tempo by Accuracy1,\n")
	b.WriteString("key by the exact key. The Brier score is the mean squared gap between confidence and\n")
	b.WriteString("outcome (1 right, 0 wrong); a confidence that predicts correctness scores below the\n")
	b.WriteString("constant forecast, which says the hit rate for every song.\n\n")
	b.WriteString("| confidence | tempo songs | tempo correct | key songs | key correct |\n|---|---|---|---|---|\n")
	cell := func(bins []ConfidenceBin, i int) string {
		if i >= len(bins) || bins[i].Songs == 0 {
			return "0 | —"
		}
		return fmt.Sprintf("%d | %.0f %%", bins[i].Songs, 100*bins[i].Accuracy)
	}
	for i := range max(len(t.Bins), len(k.Bins)) {
		lo, hi := 0.0, 0.0
		if i < len(t.Bins) {
			lo, hi = t.Bins[i].Lo, t.Bins[i].Hi
		} else {
			lo, hi = k.Bins[i].Lo, k.Bins[i].Hi
		}
		fmt.Fprintf(b, "| %.1f–%.1f | %s | %s |\n", lo, hi, cell(t.Bins, i), cell(k.Bins, i))
	}
	b.WriteString("\n| confidence | songs | Brier score | constant forecast | predicts correctness |\n|---|---|---|---|---|\n")
	for _, r := range []struct {
		name string
		r    Reliability
	}{{"`bpm_confidence`", t}, {"`key_confidence`", k}} {
		if r.r.Songs == 0 {
			continue
		}
		verdict := yesNo(r.r.Beats())
		if r.r.Constant == 0 {
			// Every song right, or every one wrong: there is no
			// difference between songs for a confidence to predict.
			verdict = "— (one outcome only)"
		}
		fmt.Fprintf(b, "| %s | %d | %.3f | %.3f | %s |\n", r.name, r.r.Songs, r.r.Brier, r.r.Constant, verdict)
	}
}

// StageTable renders the stages' figures as a Markdown table: settings,
// items, errors, utilisation, service times and suggested workers.
func StageTable(m pipeline.Snapshot) string {
	var b strings.Builder
	b.WriteString("| stage | workers | buffer | in | out | errors | utilisation | p50 | p95 | max | suggested workers |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, st := range m.Stages {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %.0f %% | %s | %s | %s | %d |\n",
			st.Name, st.Workers, st.Buffer, st.In, st.Out, st.Errors, 100*st.Utilisation,
			dur(st.P50), dur(st.P95), dur(st.Max), st.SuggestedWorkers)
	}
	return b.String()
}

// Suggestion renders the stages' suggested worker counts as pipeline.toml
// sections, the counts in force alongside as comments.
func Suggestion(m pipeline.Snapshot) string {
	var b strings.Builder
	for i, st := range m.Stages {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "[stages.%s]\nworkers = %d # now %d, %.0f %% busy\nbuffer = %d\n", st.Name, max(1, st.SuggestedWorkers), st.Workers, 100*st.Utilisation, st.Buffer)
	}
	return b.String()
}

func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func round(v float64) int { return int(math.Round(v)) }

// oneLine writes s, an error or a reason, on one line and in UTF-8: it
// may quote a file name as the system gave it, whose stray bytes are read
// as Latin-1.
func oneLine(s string) string { return strings.Join(strings.Fields(latin1.ToUTF8(s)), " ") }

// Code writes s, a file name or path, as a Markdown code span that shows
// it as it is whatever it holds: a name that is not UTF-8 with its stray
// bytes read as Latin-1, control characters (a newline in a file name would end the
// list item) as Go escapes, and a backtick inside fenced by a longer run
// of them.
func Code(s string) string {
	s = latin1.ToUTF8(s)
	if strings.ContainsFunc(s, unicode.IsControl) {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if fence != "`" || strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
