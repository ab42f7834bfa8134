package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/pipeline"
)

// value is one typed setting inside a Config, seen the three ways it can
// be written: as a TOML value, as a string (environment, flag), as TOML.
type value interface {
	fromTOML(v any) error // v as BurntSushi/toml decodes into a map
	parse(s string) error
	toml() string
}

type intValue struct{ p *int }
type floatValue struct{ p *float64 }
type stringValue struct{ p *string }
type boolValue struct{ p *bool }

func (v intValue) fromTOML(x any) error {
	i, ok := x.(int64)
	if !ok {
		return fmt.Errorf("want an integer, got %s", tomlType(x))
	}
	if i < math.MinInt32 || i > math.MaxInt32 {
		return fmt.Errorf("%d is out of range", i)
	}
	*v.p = int(i)
	return nil
}

func (v intValue) parse(s string) error {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("want an integer, got %q", s)
	}
	*v.p = i
	return nil
}

func (v intValue) toml() string { return strconv.Itoa(*v.p) }

func (v floatValue) fromTOML(x any) error {
	switch f := x.(type) {
	case float64:
		*v.p = f
	case int64:
		*v.p = float64(f)
	default:
		return fmt.Errorf("want a number, got %s", tomlType(x))
	}
	return nil
}

func (v floatValue) parse(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("want a number, got %q", s)
	}
	*v.p = f
	return nil
}

func (v floatValue) toml() string {
	s := strconv.FormatFloat(*v.p, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eEnN") { // keep it a TOML float
		s += ".0"
	}
	return s
}

func (v stringValue) fromTOML(x any) error {
	s, ok := x.(string)
	if !ok {
		return fmt.Errorf("want a string, got %s", tomlType(x))
	}
	*v.p = s
	return nil
}

func (v stringValue) parse(s string) error { *v.p = s; return nil }

func (v stringValue) toml() string { return quote(*v.p) }

func (v boolValue) fromTOML(x any) error {
	b, ok := x.(bool)
	if !ok {
		return fmt.Errorf("want true or false, got %s", tomlType(x))
	}
	*v.p = b
	return nil
}

// parse accepts what launch scripts of the replaced system used.
func (v boolValue) parse(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "yes", "on":
		*v.p = true
	case "0", "f", "false", "no", "off":
		*v.p = false
	default:
		return fmt.Errorf("want true or false, got %q", s)
	}
	return nil
}

func (v boolValue) toml() string { return strconv.FormatBool(*v.p) }

func tomlType(x any) string {
	switch x.(type) {
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return fmt.Sprintf("a %T", x)
}

// quote writes s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// field describes one key: where it lives in a Config, which environment
// variables override it, and what values are valid.
type field struct {
	key   string
	bind  func(*Config) value
	env   []string
	check func(c *Config) string // "" when valid
	// reads lists the other keys check compares the value with (hop
	// with fft_size), so that an error can name the one the user set.
	reads []string
}

func ints(p func(*Config) *int) func(*Config) value {
	return func(c *Config) value { return intValue{p(c)} }
}
func floats(p func(*Config) *float64) func(*Config) value {
	return func(c *Config) value { return floatValue{p(c)} }
}
func strs(p func(*Config) *string) func(*Config) value {
	return func(c *Config) value { return stringValue{p(c)} }
}
func bools(p func(*Config) *bool) func(*Config) value {
	return func(c *Config) value { return boolValue{p(c)} }
}

// Checks shared by several keys.
func atLeast(p func(*Config) *int, lo int) func(*Config) string {
	return func(c *Config) string {
		if v := *p(c); v < lo {
			return fmt.Sprintf("must be at least %d, got %d", lo, v)
		}
		return ""
	}
}

func between(p func(*Config) *int, lo, hi int) func(*Config) string {
	return func(c *Config) string {
		if v := *p(c); v < lo || v > hi {
			return fmt.Sprintf("must be %d..%d, got %d", lo, hi, v)
		}
		return ""
	}
}

func positive(p func(*Config) *float64) func(*Config) string {
	return func(c *Config) string {
		if v := *p(c); !(v > 0) || math.IsInf(v, 0) {
			return fmt.Sprintf("must be a positive number of seconds, got %v", v)
		}
		return ""
	}
}

func nonNegative(p func(*Config) *float64) func(*Config) string {
	return func(c *Config) string {
		if v := *p(c); !(v >= 0) || math.IsInf(v, 0) {
			return fmt.Sprintf("must be 0 or more, got %v", v)
		}
		return ""
	}
}

// MaxSeconds is the longest setting in seconds: the longest that still
// fits a time.Duration (about 292 years). A longer one would wrap around
// when converted, to a negative duration on amd64, which the engine and
// server would take for "unset" or "already expired"; and the engine
// multiplies seconds by a sample rate (at most 768 kHz) into an integer
// sample count, which below this bound is exact in a float64 and fits an
// int64, and above it overflows silently (chunk_seconds = 1e300 cut
// one-sample chunks).
const MaxSeconds = math.MaxInt64 / int64(time.Second)

// MaxChunks bounds analysis.max_chunks. The chunk stage never cuts a song
// into more chunks than it takes to cover it, so the cap only bites on
// long songs, and there it is all that bounds a song's work and memory:
// each chunk is an FFT pass of its own, and every chunk's frames are held
// until the song's last one arrives. 3600 one-second chunks cover the
// longest song the decoder accepts by default (max_duration 3600 s); the
// default 20 s chunks cover it with 180. A larger cap is a typo.
const MaxChunks = 3600

// minPeriod is the least positive period of a watch timer, as for
// metrics.sample_seconds: under a nanosecond a period becomes a zero
// time.Duration, which the watcher reads as "never", and under a
// millisecond it rescans the folder or redraws the report without pause.
const minPeriod = 0.001

// positiveDuration is positive for a key that becomes a time.Duration: it
// must also be at least a nanosecond, which it would otherwise round to 0
// ("unset"), and fit a Duration.
func positiveDuration(p func(*Config) *float64) func(*Config) string {
	return func(c *Config) string {
		if msg := positive(p)(c); msg != "" {
			return msg
		}
		if v := *p(c); v*float64(time.Second) < 1 {
			return fmt.Sprintf("must be at least 1e-09 s (1 ns), got %v", v)
		}
		return fitsDuration(p)(c)
	}
}

// nonNegativeDuration is nonNegative for a key that becomes a
// time.Duration.
func nonNegativeDuration(p func(*Config) *float64) func(*Config) string {
	return func(c *Config) string {
		if msg := nonNegative(p)(c); msg != "" {
			return msg
		}
		return fitsDuration(p)(c)
	}
}

func fitsDuration(p func(*Config) *float64) func(*Config) string {
	return func(c *Config) string {
		if v := *p(c); v > float64(MaxSeconds) {
			return fmt.Sprintf("must be at most %d s, got %v", MaxSeconds, v)
		}
		return ""
	}
}

// period is nonNegativeDuration for a timer's period, where 0 means
// "never" and a positive period must be at least minPeriod.
func period(p func(*Config) *float64) func(*Config) string {
	return func(c *Config) string {
		if msg := nonNegativeDuration(p)(c); msg != "" {
			return msg
		}
		if v := *p(c); v > 0 && v < minPeriod {
			return fmt.Sprintf("must be 0 or at least %v s, got %v", minPeriod, v)
		}
		return ""
	}
}

func nonEmpty(p func(*Config) *string) func(*Config) string {
	return func(c *Config) string {
		if *p(c) == "" {
			return "must not be empty"
		}
		return ""
	}
}

// maxWorkers and maxBuffer catch typos (an extra zero or two), not real
// limits of the engine.
const (
	maxWorkers = 1024
	maxBuffer  = 1 << 16
)

func stageFields(name string, stage func(*Config) *pipeline.StageConfig, env ...string) []field {
	w := func(c *Config) *int { return &stage(c).Workers }
	b := func(c *Config) *int { return &stage(c).Buffer }
	return []field{
		{key: "stages." + name + ".workers", bind: ints(w), env: env, check: between(w, 1, maxWorkers)},
		{key: "stages." + name + ".buffer", bind: ints(b), check: between(b, 0, maxBuffer)},
	}
}

// fields lists every key in the order pipeline.toml and Write use.
var fields = func() []field {
	var fs []field
	fs = append(fs, stageFields("decode", func(c *Config) *pipeline.StageConfig { return &c.Stages.Decode }, "ANALYSIS_WORKERS")...)
	fs = append(fs, stageFields("resample", func(c *Config) *pipeline.StageConfig { return &c.Stages.Resample })...)
	fs = append(fs, stageFields("chunk", func(c *Config) *pipeline.StageConfig { return &c.Stages.Chunk })...)
	fs = append(fs, stageFields("fft", func(c *Config) *pipeline.StageConfig { return &c.Stages.FFT }, "ANALYSIS_WORKERS")...)
	fs = append(fs, stageFields("aggregate", func(c *Config) *pipeline.StageConfig { return &c.Stages.Aggregate })...)

	sampleRate := func(c *Config) *int { return &c.Analysis.SampleRate }
	fftSize := func(c *Config) *int { return &c.Analysis.FFTSize }
	hop := func(c *Config) *int { return &c.Analysis.Hop }
	chunk := func(c *Config) *float64 { return &c.Analysis.ChunkSeconds }
	overlap := func(c *Config) *float64 { return &c.Analysis.ChunkOverlapSeconds }
	maxChunks := func(c *Config) *int { return &c.Analysis.MaxChunks }
	maxSeconds := func(c *Config) *float64 { return &c.Analysis.MaxSeconds }
	maxDuration := func(c *Config) *float64 { return &c.Analysis.MaxDuration }
	songTimeout := func(c *Config) *float64 { return &c.Analysis.SongTimeout }
	keyProfile := func(c *Config) *string { return &c.Analysis.KeyProfile }
	fs = append(fs,
		field{key: "analysis.sample_rate", bind: ints(sampleRate), env: []string{"ANALYSIS_SAMPLE_RATE"}, check: func(c *Config) string {
			if v := *sampleRate(c); v < 8000 || v > 192000 {
				return fmt.Sprintf("must be 8000..192000 Hz, got %d", v)
			}
			return ""
		}},
		field{key: "analysis.fft_size", bind: ints(fftSize), env: []string{"ANALYSIS_FFT_SIZE"}, check: func(c *Config) string {
			if v := *fftSize(c); v < 64 || v > 1<<16 || v&(v-1) != 0 {
				return fmt.Sprintf("must be a power of 2 from 64 to 65536, got %d", v)
			}
			return ""
		}},
		field{key: "analysis.hop", bind: ints(hop), env: []string{"ANALYSIS_HOP_LENGTH"}, reads: []string{"analysis.fft_size"}, check: func(c *Config) string {
			if v := *hop(c); v < 1 || v > *fftSize(c) {
				return fmt.Sprintf("must be 1..fft_size (%d), got %d", *fftSize(c), v)
			}
			return ""
		}},
		field{key: "analysis.chunk_seconds", bind: floats(chunk), env: []string{"CHUNK_ANALYSIS_SECONDS"}, reads: []string{"analysis.sample_rate", "analysis.fft_size"}, check: func(c *Config) string {
			if msg := positive(chunk)(c); msg != "" {
				return msg
			}
			if msg := fitsDuration(chunk)(c); msg != "" {
				return msg
			}
			// A chunk shorter than one STFT frame is analysed as one
			// zero-padded frame whatever its length: chunk_seconds would
			// no longer set what is analysed, and no tempo fits in it.
			an := c.Analysis
			if math.Round(an.ChunkSeconds*float64(an.SampleRate)) < float64(an.FFTSize) {
				least := math.Ceil(float64(an.FFTSize)/float64(an.SampleRate)*1e6) / 1e6
				return fmt.Sprintf("must be at least one STFT frame, fft_size / sample_rate = %d / %d Hz = %v s, got %v",
					an.FFTSize, an.SampleRate, least, an.ChunkSeconds)
			}
			return ""
		}},
		field{key: "analysis.chunk_overlap_seconds", bind: floats(overlap), env: []string{"CHUNK_OVERLAP_SECONDS"}, reads: []string{"analysis.chunk_seconds"}, check: func(c *Config) string {
			// The chunk stage counts a song's chunks as those that cover
			// it at an advance of chunk − overlap, so an overlap near the
			// chunk fills max_chunks with near-copies and the work per
			// second of audio grows without bound. Half a chunk already
			// puts every moment in two chunks, all an overlap is for (a
			// beat cut by one chunk's edge is whole in its neighbour).
			if v, half := *overlap(c), *chunk(c)/2; !(v >= 0) || v > half {
				return fmt.Sprintf("must be 0 to half of chunk_seconds (%v), got %v", half, v)
			}
			return ""
		}},
		field{key: "analysis.max_chunks", bind: ints(maxChunks), env: []string{"MAX_CHUNK_BATCHES"}, check: between(maxChunks, 1, MaxChunks)},
		field{key: "analysis.max_seconds", bind: floats(maxSeconds), env: []string{"MAX_ANALYSIS_SECONDS"}, check: nonNegativeDuration(maxSeconds)},
		field{key: "analysis.max_duration", bind: floats(maxDuration), check: nonNegative(maxDuration)},
		field{key: "analysis.song_timeout", bind: floats(songTimeout), check: positiveDuration(songTimeout)},
		field{key: "analysis.calibration", bind: strs(func(c *Config) *string { return &c.Analysis.Calibration })},
		field{key: "analysis.key_profile", bind: strs(keyProfile), check: func(c *Config) string {
			// The analysis would take an unknown name for its default: a
			// typo must not silently measure with another profile.
			v := *keyProfile(c)
			if v == "" || slices.Contains(dsp.KeyProfiles(), dsp.KeyProfile(v)) {
				return ""
			}
			names := make([]string, 0, len(dsp.KeyProfiles()))
			for _, p := range dsp.KeyProfiles() {
				names = append(names, strconv.Quote(string(p)))
			}
			last := len(names) - 1
			return fmt.Sprintf("must be %s or %s (\"\" = %s), got %q", strings.Join(names[:last], ", "), names[last], dsp.DefaultKeyProfile, v)
		}},
	)

	sample := func(c *Config) *float64 { return &c.Metrics.SampleSeconds }
	fs = append(fs, field{key: "metrics.sample_seconds", bind: floats(sample), check: func(c *Config) string {
		if v := *sample(c); !(v >= 0.001) || math.IsInf(v, 0) {
			return fmt.Sprintf("must be at least 0.001 s, got %v", v)
		}
		return fitsDuration(sample)(c)
	}})

	addr := func(c *Config) *string { return &c.Server.Addr }
	db := func(c *Config) *string { return &c.Server.DBPath }
	body := func(c *Config) *int { return &c.Server.MaxBodyMB }
	atimeout := func(c *Config) *float64 { return &c.Server.AnalysisTimeout }
	rate := func(c *Config) *int { return &c.Server.RateLimitPerMinute }
	inflight := func(c *Config) *int { return &c.Server.MaxInFlight }
	qwait := func(c *Config) *float64 { return &c.Server.QueueWait }
	fs = append(fs,
		field{key: "server.addr", bind: strs(addr), check: nonEmpty(addr)},
		field{key: "server.db_path", bind: strs(db), check: nonEmpty(db)},
		field{key: "server.max_body_mb", bind: ints(body), check: atLeast(body, 1)},
		field{key: "server.analysis_timeout", bind: floats(atimeout), check: positiveDuration(atimeout)},
		field{key: "server.production", bind: bools(func(c *Config) *bool { return &c.Server.Production }), env: []string{"PRODUCTION_MODE"}},
		field{key: "server.rate_limit_per_minute", bind: ints(rate), check: atLeast(rate, 0)},
		field{key: "server.max_in_flight", bind: ints(inflight), check: atLeast(inflight, 1)},
		// 0 cannot mean "no wait": the server reads a zero wait as its default.
		field{key: "server.queue_wait", bind: floats(qwait), check: positiveDuration(qwait)},
		field{key: "server.allow_private_urls", bind: bools(func(c *Config) *bool { return &c.Server.AllowPrivateURLs })},
	)

	settle := func(c *Config) *float64 { return &c.Watch.SettleSeconds }
	rescan := func(c *Config) *float64 { return &c.Watch.RescanSeconds }
	report := func(c *Config) *float64 { return &c.Watch.ReportSeconds }
	fs = append(fs,
		field{key: "watch.settle_seconds", bind: floats(settle), check: nonNegativeDuration(settle)},
		field{key: "watch.rescan_seconds", bind: floats(rescan), check: period(rescan)},
		field{key: "watch.report_seconds", bind: floats(report), check: period(report)},
	)
	return fs
}()

func lookup(key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

// isTable reports whether key is a table of the schema ("stages",
// "stages.fft"), i.e. a prefix of some field's key.
func isTable(key string) bool {
	for _, f := range fields {
		if strings.HasPrefix(f.key, key+".") {
			return true
		}
	}
	return false
}
