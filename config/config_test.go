package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pipeline.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestShippedFileIsDefault keeps pipeline.toml and Default from drifting.
func TestShippedFileIsDefault(t *testing.T) {
	c, o, err := Load("../pipeline.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("pipeline.toml differs from Default():\n file    %+v\n default %+v", c, Default())
	}
	for _, k := range Keys() {
		if o[k] != "file ../pipeline.toml" {
			t.Errorf("%s: origin %q; pipeline.toml must set every key", k, o[k])
		}
	}
	text, _ := os.ReadFile("../pipeline.toml")
	if n := strings.Count(string(text), "Default "); n < len(Keys()) {
		t.Errorf("pipeline.toml states %d defaults for %d keys", n, len(Keys()))
	}
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
	o := Default().PipelineOptions()
	if o.SongTimeout != 600*time.Second || o.SampleEvery != 100*time.Millisecond {
		t.Errorf("pipeline options %+v", o)
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, key string
		line            int
		msg             string
	}{
		{"unknown top-level", "[analysis]\nhop = 256\n\n[analyse]\nhop = 1\n", "analyse", 4, "unknown key"},
		{"unknown key", "[analysis]\nhop = 256\nsample_rat = 8000\n", "analysis.sample_rat", 3, "unknown key"},
		{"unknown stage", "[stages.mix]\nworkers = 1\n", "stages.mix", 1, "unknown key"},
		{"unknown stage key", "[stages.fft]\nworkers = 1\nthreads = 4\n", "stages.fft.threads", 3, "unknown key"},
		{"string for int", "[analysis]\nsample_rate = \"44100\"\n", "analysis.sample_rate", 2, "want an integer, got a string"},
		{"float for int", "[stages.fft]\nworkers = 2.5\n", "stages.fft.workers", 2, "want an integer, got a float"},
		{"int for bool", "[server]\nproduction = 1\n", "server.production", 2, "want true or false, got an integer"},
		{"string for float", "[analysis]\nchunk_seconds = \"20\"\n", "analysis.chunk_seconds", 2, "want a number, got a string"},
		{"value for table", "stages = 3\n", "stages", 1, "want a table, got an integer"},
		{"workers < 1", "[stages.decode]\nworkers = 0\n", "stages.decode.workers", 2, "must be 1..1024, got 0"},
		{"buffer < 0", "\n[stages.aggregate]\nbuffer = -1\n", "stages.aggregate.buffer", 3, "must be 0..65536, got -1"},
		{"sample rate low", "[analysis]\nsample_rate = 4000\n", "analysis.sample_rate", 2, "must be 8000..192000 Hz, got 4000"},
		{"sample rate high", "[analysis]\nsample_rate = 384000\n", "analysis.sample_rate", 2, "must be 8000..192000 Hz, got 384000"},
		{"fft size", "[analysis]\nfft_size = 1000\n", "analysis.fft_size", 2, "must be a power of 2 from 64 to 65536, got 1000"},
		{"hop > fft", "[analysis]\nfft_size = 512\nhop = 1024\n", "analysis.hop", 3, "must be 1..fft_size (512), got 1024"},
		{"overlap", "[analysis]\nchunk_seconds = 10\nchunk_overlap_seconds = 10\n", "analysis.chunk_overlap_seconds", 3, "must be 0 to half of chunk_seconds (5), got 10"},
		{"timeout", "[analysis]\nsong_timeout = 0\n", "analysis.song_timeout", 2, "must be a positive number of seconds, got 0"},
		{"max chunks", "[analysis]\nmax_chunks = 0\n", "analysis.max_chunks", 2, "must be 1..3600, got 0"},
		{"max chunks beyond", "[analysis]\nmax_chunks = 3601\n", "analysis.max_chunks", 2, "must be 1..3600, got 3601"},
		{"overlap past half", "[analysis]\nchunk_seconds = 10\nchunk_overlap_seconds = 5.5\n", "analysis.chunk_overlap_seconds", 3, "must be 0 to half of chunk_seconds (5), got 5.5"},
		{"chunk below a frame", "[analysis]\nchunk_seconds = 0.05\n", "analysis.chunk_seconds", 2, "must be at least one STFT frame, fft_size / sample_rate = 2048 / 22050 Hz = 0.09288 s, got 0.05"},
		{"chunk beyond Duration", "[analysis]\nchunk_seconds = 1e300\n", "analysis.chunk_seconds", 2, "must be at most 9223372036 s, got 1e+300"},
		{"max seconds beyond Duration", "[analysis]\nmax_seconds = 1e10\n", "analysis.max_seconds", 2, "must be at most 9223372036 s, got 1e+10"},
		{"rescan below a millisecond", "[watch]\nrescan_seconds = 1e-4\n", "watch.rescan_seconds", 2, "must be 0 or at least 0.001 s, got 0.0001"},
		{"report below a nanosecond", "[watch]\nreport_seconds = 1e-12\n", "watch.report_seconds", 2, "must be 0 or at least 0.001 s, got 1e-12"},
		{"sample period", "[metrics]\nsample_seconds = 0\n", "metrics.sample_seconds", 2, "must be at least 0.001 s, got 0"},
		{"in flight", "[server]\nmax_in_flight = 0\n", "server.max_in_flight", 2, "must be at least 1, got 0"},
		{"addr", "[server]\naddr = \"\"\n", "server.addr", 2, "must not be empty"},
		{"negative rescan", "[watch]\nrescan_seconds = -1\n", "watch.rescan_seconds", 2, "must be 0 or more, got -1"},
		// Seconds that a time.Duration cannot hold: they used to wrap to a
		// negative duration (the engine then ran with its default,
		// the server timed every request out) or round to 0.
		{"timeout beyond Duration", "[analysis]\nsong_timeout = 1e10\n", "analysis.song_timeout", 2, "must be at most 9223372036 s, got 1e+10"},
		{"timeout below 1 ns", "[analysis]\nsong_timeout = 1e-10\n", "analysis.song_timeout", 2, "must be at least 1e-09 s (1 ns), got 1e-10"},
		{"analysis timeout beyond Duration", "[server]\nanalysis_timeout = 1e12\n", "server.analysis_timeout", 2, "must be at most 9223372036 s, got 1e+12"},
		{"queue wait beyond Duration", "[server]\nqueue_wait = 1e10\n", "server.queue_wait", 2, "must be at most 9223372036 s, got 1e+10"},
		{"sample period beyond Duration", "[metrics]\nsample_seconds = 1e10\n", "metrics.sample_seconds", 2, "must be at most 9223372036 s, got 1e+10"},
		{"settle beyond Duration", "[watch]\nsettle_seconds = 1e10\n", "watch.settle_seconds", 2, "must be at most 9223372036 s, got 1e+10"},
		// Error paths of every kind of check and value, one case each.
		{"int beyond int32", "[stages.fft]\nworkers = 3000000000\n", "stages.fft.workers", 2, "3000000000 is out of range"},
		{"int for string", "[server]\naddr = 5050\n", "server.addr", 2, "want a string, got an integer"},
		{"array for int", "[analysis]\nhop = [256]\n", "analysis.hop", 2, "want an integer, got an array"},
		{"bool for float", "[watch]\nsettle_seconds = true\n", "watch.settle_seconds", 2, "want a number, got a boolean"},
		{"table for key", "[analysis.hop]\nx = 1\n", "analysis.hop", 1, "want an integer, got a table"},
		{"workers beyond limit", "[stages.fft]\nworkers = 1025\n", "stages.fft.workers", 2, "must be 1..1024, got 1025"},
		{"chunk zero", "[analysis]\nchunk_seconds = 0\n", "analysis.chunk_seconds", 2, "must be a positive number of seconds, got 0"},
		{"chunk infinite", "[analysis]\nchunk_seconds = inf\n", "analysis.chunk_seconds", 2, "must be a positive number of seconds, got +Inf"},
		{"overlap NaN", "[analysis]\nchunk_overlap_seconds = nan\n", "analysis.chunk_overlap_seconds", 2, "must be 0 to half of chunk_seconds (10), got NaN"},
		{"negative max seconds", "[analysis]\nmax_seconds = -1\n", "analysis.max_seconds", 2, "must be 0 or more, got -1"},
		{"negative max duration", "[analysis]\nmax_duration = -1\n", "analysis.max_duration", 2, "must be 0 or more, got -1"},
		{"key profile", "[analysis]\nkey_profile = \"Krumhansl\"\n", "analysis.key_profile", 2, `must be "krumhansl", "temperley", "shaath" or "edm" ("" = temperley), got "Krumhansl"`},
		{"sample period infinite", "[metrics]\nsample_seconds = inf\n", "metrics.sample_seconds", 2, "must be at least 0.001 s, got +Inf"},
		{"db path", "[server]\ndb_path = \"\"\n", "server.db_path", 2, "must not be empty"},
		{"body", "[server]\nmax_body_mb = 0\n", "server.max_body_mb", 2, "must be at least 1, got 0"},
		{"negative rate limit", "[server]\nrate_limit_per_minute = -1\n", "server.rate_limit_per_minute", 2, "must be at least 0, got -1"},
		{"negative queue wait", "[server]\nqueue_wait = -1\n", "server.queue_wait", 2, "must be a positive number of seconds, got -1"},
		{"zero queue wait", "[server]\nqueue_wait = 0\n", "server.queue_wait", 2, "must be a positive number of seconds, got 0"},
		// A key inside an inline table has no line of its own: the
		// table's line stands for it.
		{"inline table value", "[stages]\nfft = {workers = 0}\n", "stages.fft.workers", 2, "must be 1..1024, got 0"},
		{"inline table unknown key", "\n[stages]\nfft = {workers = 1, threads = 2}\n", "stages.fft.threads", 3, "unknown key"},
		{"dotted key", "analysis.hop = 4096\n", "analysis.hop", 1, "must be 1..fft_size (2048), got 4096"},
		// Layouts the line finder used to miss: the error came without a line.
		{"array of tables", "\n[[stages]]\nx = 1\n", "stages", 2, "want a table, got an array"},
		{"byte order mark", "\ufeff[analysis]\nhop = 0\n", "analysis.hop", 2, "must be 1..fft_size (2048), got 0"},
		{"quoted key", "[analysis]\n\n\"hop\" = 0\n", "analysis.hop", 3, "must be 1..fft_size (2048), got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.text)
			_, _, err := Load(path, nil)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want *Error", err)
			}
			if e.Key != tc.key || e.Line != tc.line || e.Msg != tc.msg || e.Origin != "file "+path {
				t.Errorf("got key %q line %d msg %q origin %q\nwant key %q line %d msg %q", e.Key, e.Line, e.Msg, e.Origin, tc.key, tc.line, tc.msg)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("message %q does not name the key", err)
			}
		})
	}
}

// TestErrorNamesTheKeySet sets a value that leaves another, compared with
// it, out of range: the error must name the key that was set, where and on
// which line, not the default it clashes with ("default: analysis.hop:
// must be 1..fft_size (256), got 512" named neither file nor line).
func TestErrorNamesTheKeySet(t *testing.T) {
	path := writeFile(t, "[analysis]\nsample_rate = 22050\nfft_size = 256\n")
	_, _, err := Load(path, nil)
	if want := "file " + path + " line 3: analysis.fft_size: makes analysis.hop (default) invalid: must be 1..fft_size (256), got 512"; err == nil || err.Error() != want {
		t.Errorf("file:\n got  %v\n want %s", err, want)
	}

	// The environment overrides the file's fft_size: it is to blame, and
	// the hop it clashes with is named with its line.
	path = writeFile(t, "[analysis]\nhop = 1024\n")
	_, _, err = Load(path, env(map[string]string{"ANALYSIS_FFT_SIZE": "512"}))
	if want := "env ANALYSIS_FFT_SIZE: analysis.fft_size: makes analysis.hop (file " + path + " line 2) invalid: must be 1..fft_size (512), got 1024"; err == nil || err.Error() != want {
		t.Errorf("env over file:\n got  %v\n want %s", err, want)
	}

	// Both from the environment: the key whose check failed is named.
	_, _, err = Load("", env(map[string]string{"ANALYSIS_FFT_SIZE": "512", "ANALYSIS_HOP_LENGTH": "1024"}))
	var e *Error
	if !errors.As(err, &e) || e.Key != "analysis.hop" || e.Origin != "env ANALYSIS_HOP_LENGTH" {
		t.Errorf("both from env: %v", err)
	}

	// The file's chunk is shorter than a frame of the environment's size.
	path = writeFile(t, "[analysis]\nchunk_seconds = 1\n")
	_, _, err = Load(path, env(map[string]string{"ANALYSIS_FFT_SIZE": "65536"}))
	if !errors.As(err, &e) || e.Key != "analysis.fft_size" || e.Origin != "env ANALYSIS_FFT_SIZE" || !strings.HasPrefix(e.Msg, "makes analysis.chunk_seconds (file "+path+" line 2) invalid: must be at least one STFT frame") {
		t.Errorf("chunk below a frame: %v", err)
	}

	c, o, _ := Load("", nil)
	if err := c.Set("analysis.fft_size", "256", o, "flag"); err == nil || err.Error() != "flag: analysis.fft_size: makes analysis.hop (default) invalid: must be 1..fft_size (256), got 512" {
		t.Errorf("flag: %v", err)
	}
}

// TestLongestTimeoutFits loads the longest song_timeout accepted: it must
// reach the engine as that duration, not wrapped round to a negative one.
func TestLongestTimeoutFits(t *testing.T) {
	c, _, err := Load(writeFile(t, "[analysis]\nsong_timeout = 9223372036\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PipelineOptions().SongTimeout; got != 9223372036*time.Second {
		t.Errorf("song timeout %v, want 9223372036s", got)
	}
}

func TestSyntaxError(t *testing.T) {
	path := writeFile(t, "[analysis]\nhop = 512\nfft_size = = 3\n")
	_, _, err := Load(path, nil)
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 {
		t.Fatalf("error %#v, want *Error on line 3", err)
	}
	if !strings.Contains(err.Error(), "line 3") {
		t.Errorf("message %q", err)
	}
}

// TestKeyProfiles accepts every profile the analysis knows, and "".
func TestKeyProfiles(t *testing.T) {
	for _, p := range []string{"", "temperley", "krumhansl", "shaath", "edm"} {
		c := Default()
		if err := c.Set("analysis.key_profile", p, nil, "flag"); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
}

// TestDuplicateTable is a TOML error the parser reports by line only.
func TestDuplicateTable(t *testing.T) {
	path := writeFile(t, "[analysis]\nhop = 256\n[analysis]\nhop = 128\n")
	_, _, err := Load(path, nil)
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 || e.Origin != "file "+path {
		t.Fatalf("error %#v, want *Error on line 3 of %s", err, path)
	}
	if !strings.Contains(err.Error(), path+" line 3: ") {
		t.Errorf("message %q does not name the file and line", err)
	}
}

// TestParseErrorKey: a TOML syntax error names the key set on its line,
// and no key rather than another one. The parser's last key read is the
// table above a bad value, or "stages" for a second [stages.decode], and
// the errors named it ("stages: Key 'stages.decode' has already been
// defined").
func TestParseErrorKey(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int
		key  string
	}{
		{"[stages.decode]\nworkers = 1\n[stages.decode]\nbuffer = 2\n", 3, ""},
		{"[analysis]\nhop = 5 6\n", 2, ""},
		{"[analysis]\nhop = 256\nhop = 128\n", 3, "analysis.hop"},
		{"[analysis]\nhop = 512\nfft_size = = 3\n", 3, "analysis.fft_size"},
	} {
		_, _, err := Load(writeFile(t, tc.text), nil)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %v, want *Error", tc.text, err)
		} else if e.Line != tc.line || e.Key != tc.key {
			t.Errorf("%q: error %v (key %q), want line %d, key %q", tc.text, err, e.Key, tc.line, tc.key)
		}
	}
}

func TestMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "none.toml"), nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, err) || !strings.Contains(err.Error(), "none.toml") {
		t.Fatalf("error %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "[analysis]\nsample_rate = 44100\nhop = 256\n[stages.fft]\nworkers = 3\n")
	c, o, err := Load(path, env(map[string]string{
		"ANALYSIS_SAMPLE_RATE":  "16000",
		"ANALYSIS_WORKERS":      "4",
		"PRODUCTION_MODE":       "true",
		"MAX_ANALYSIS_SECONDS":  "90",
		"CHUNK_OVERLAP_SECONDS": "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	check := func(key string, got, want any, origin string) {
		t.Helper()
		if got != want || o[key] != origin {
			t.Errorf("%s = %v from %q, want %v from %q", key, got, o[key], want, origin)
		}
	}
	check("analysis.sample_rate", c.Analysis.SampleRate, 16000, "env ANALYSIS_SAMPLE_RATE")
	check("analysis.hop", c.Analysis.Hop, 256, "file "+path)
	check("analysis.fft_size", c.Analysis.FFTSize, 2048, "default")
	check("stages.fft.workers", c.Stages.FFT.Workers, 4, "env ANALYSIS_WORKERS")
	check("stages.decode.workers", c.Stages.Decode.Workers, 4, "env ANALYSIS_WORKERS")
	check("stages.chunk.workers", c.Stages.Chunk.Workers, 1, "default")
	check("server.production", c.Server.Production, true, "env PRODUCTION_MODE")
	check("analysis.max_seconds", c.Analysis.MaxSeconds, 90.0, "env MAX_ANALYSIS_SECONDS")
	check("analysis.chunk_overlap_seconds", c.Analysis.ChunkOverlapSeconds, 0.0, "default")

	if err := c.Set("analysis.sample_rate", "32000", o, "flag"); err != nil {
		t.Fatal(err)
	}
	check("analysis.sample_rate", c.Analysis.SampleRate, 32000, "flag")
}

func TestEveryEnvVariable(t *testing.T) {
	c, o, err := Load("", env(map[string]string{
		"ANALYSIS_SAMPLE_RATE":   "44100",
		"ANALYSIS_FFT_SIZE":      "4096",
		"ANALYSIS_HOP_LENGTH":    "1024",
		"CHUNK_ANALYSIS_SECONDS": "30",
		"CHUNK_OVERLAP_SECONDS":  "5",
		"MAX_CHUNK_BATCHES":      "8",
		"MAX_ANALYSIS_SECONDS":   "240",
		"ANALYSIS_WORKERS":       "3",
		"PRODUCTION_MODE":        "1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Analysis
	if a.SampleRate != 44100 || a.FFTSize != 4096 || a.Hop != 1024 || a.ChunkSeconds != 30 ||
		a.ChunkOverlapSeconds != 5 || a.MaxChunks != 8 || a.MaxSeconds != 240 ||
		c.Stages.Decode.Workers != 3 || c.Stages.FFT.Workers != 3 || !c.Server.Production {
		t.Errorf("env not applied: %+v", c)
	}
	if o["analysis.hop"] != "env ANALYSIS_HOP_LENGTH" || o["analysis.max_chunks"] != "env MAX_CHUNK_BATCHES" {
		t.Errorf("origins %v", o)
	}
}

func TestEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		key  string
		from string
	}{
		{map[string]string{"ANALYSIS_SAMPLE_RATE": "fast"}, "analysis.sample_rate", "env ANALYSIS_SAMPLE_RATE"},
		{map[string]string{"ANALYSIS_SAMPLE_RATE": "1000"}, "analysis.sample_rate", "env ANALYSIS_SAMPLE_RATE"},
		{map[string]string{"ANALYSIS_WORKERS": "0"}, "stages.decode.workers", "env ANALYSIS_WORKERS"},
		{map[string]string{"PRODUCTION_MODE": "maybe"}, "server.production", "env PRODUCTION_MODE"},
		{map[string]string{"CHUNK_ANALYSIS_SECONDS": "5", "CHUNK_OVERLAP_SECONDS": "6"}, "analysis.chunk_overlap_seconds", "env CHUNK_OVERLAP_SECONDS"},
		{map[string]string{"CHUNK_ANALYSIS_SECONDS": "twenty"}, "analysis.chunk_seconds", "env CHUNK_ANALYSIS_SECONDS"},
		{map[string]string{"ANALYSIS_HOP_LENGTH": "4096"}, "analysis.hop", "env ANALYSIS_HOP_LENGTH"},
		{map[string]string{"MAX_ANALYSIS_SECONDS": "-5"}, "analysis.max_seconds", "env MAX_ANALYSIS_SECONDS"},
	} {
		_, _, err := Load("", env(tc.env))
		var e *Error
		if !errors.As(err, &e) || e.Key != tc.key || e.Origin != tc.from || e.Line != 0 {
			t.Errorf("%v: error %#v, want key %s from %s", tc.env, err, tc.key, tc.from)
		}
	}
}

func TestSetErrors(t *testing.T) {
	c, o, _ := Load("", nil)
	if err := c.Set("analysis.sampling", "1", o, "flag"); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("unknown key: %v", err)
	}
	if err := c.Set("stages.fft.workers", "two", o, "flag"); err == nil || !strings.Contains(err.Error(), "want an integer") {
		t.Errorf("bad integer: %v", err)
	}
	if err := c.Set("analysis.hop", "4096", o, "flag"); err == nil {
		t.Error("hop > fft_size accepted")
	}
	if c.Analysis.Hop != 512 || o["analysis.hop"] != "default" {
		t.Errorf("rejected Set changed the config: hop %d from %s", c.Analysis.Hop, o["analysis.hop"])
	}
	if err := c.Set("server.production", "maybe", o, "flag"); err == nil || !strings.Contains(err.Error(), "want true or false") {
		t.Errorf("bad boolean: %v", err)
	}
	if err := c.Set("analysis.chunk_seconds", "long", o, "flag"); err == nil || !strings.Contains(err.Error(), "want a number") {
		t.Errorf("bad number: %v", err)
	}
	if err := c.Set("analysis.key_profile", "temperly", o, "flag"); err == nil || err.Error() != `flag: analysis.key_profile: must be "krumhansl", "temperley", "shaath" or "edm" ("" = temperley), got "temperly"` {
		t.Errorf("bad key profile: %v", err)
	}
	if err := c.Set("server.production", "yes", o, "flag"); err != nil || !c.Server.Production {
		t.Errorf("production: %v", err)
	}
}

// TestWriteRoundTrip checks that `songflow config` output is a valid
// pipeline.toml giving back the same configuration, with origins shown.
func TestWriteRoundTrip(t *testing.T) {
	c := Default()
	o := Origins{}
	for _, k := range Keys() {
		o[k] = "default"
	}
	if err := c.Set("analysis.calibration", `C:\cal "v2".json`, o, "flag"); err != nil {
		t.Fatal(err)
	}
	c.Set("analysis.chunk_seconds", "12.5", o, "flag")
	var b bytes.Buffer
	if err := Write(&b, c, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "chunk_seconds = 12.5 # flag\n") || !strings.Contains(b.String(), "sample_rate = 22050 # default\n") {
		t.Errorf("annotations missing:\n%s", b.String())
	}
	back, _, err := Load(writeFile(t, b.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n got  %+v\n want %+v", back, c)
	}
}
