// Package config reads songflow's configuration: pipeline.toml, the
// environment variables of the system songflow replaces, and command-line
// flags, in increasing precedence. Decoding is strict: a key that is not
// known, a value of the wrong type or out of range is an *Error naming the
// key, so that a typo never silently runs with a default.
package config

import (
	"fmt"
	"time"

	"github.com/songflow/songflow/pipeline"
)

// Config is the whole of songflow's configuration.
type Config struct {
	Stages   Stages   `toml:"stages"`
	Analysis Analysis `toml:"analysis"`
	Metrics  Metrics  `toml:"metrics"`
	Server   Server   `toml:"server"`
	Watch    Watch    `toml:"watch"`
}

// Stages holds the worker count and input buffer of each analysis stage.
type Stages struct {
	Decode    pipeline.StageConfig `toml:"decode"`
	Resample  pipeline.StageConfig `toml:"resample"`
	Chunk     pipeline.StageConfig `toml:"chunk"`
	FFT       pipeline.StageConfig `toml:"fft"`
	Aggregate pipeline.StageConfig `toml:"aggregate"`
}

// Analysis holds the signal-processing settings.
type Analysis struct {
	SampleRate          int     `toml:"sample_rate"`           // Hz, the rate songs are resampled to
	FFTSize             int     `toml:"fft_size"`              // samples per STFT frame, a power of 2
	Hop                 int     `toml:"hop"`                   // samples between frames
	ChunkSeconds        float64 `toml:"chunk_seconds"`         // length of one analysis chunk
	ChunkOverlapSeconds float64 `toml:"chunk_overlap_seconds"` // overlap of consecutive chunks
	MaxChunks           int     `toml:"max_chunks"`            // chunks analysed per song at most
	MaxSeconds          float64 `toml:"max_seconds"`           // audio decoded per song at most; 0 = whole song
	MaxDuration         float64 `toml:"max_duration"`          // longer songs are refused unless MaxSeconds cuts them; 0 = no limit
	SongTimeout         float64 `toml:"song_timeout"`          // seconds a song may take in the pipeline
	Calibration         string  `toml:"calibration"`           // calibration.json from `calibrate --fit`; "" = none
	KeyProfile          string  `toml:"key_profile"`           // key profile name; "" = the analysis default
}

// Metrics configures the engine's metrics.
type Metrics struct {
	SampleSeconds float64 `toml:"sample_seconds"` // period of the metrics time series
}

// Server configures `songflow serve`.
type Server struct {
	Addr               string  `toml:"addr"`                  // host:port `songflow serve` listens on
	DBPath             string  `toml:"db_path"`               // SQLite database of results and API keys, shared by serve, watch and keys
	MaxBodyMB          int     `toml:"max_body_mb"`           // largest upload, and largest download for /analyze, MiB
	AnalysisTimeout    float64 `toml:"analysis_timeout"`      // seconds a request waits for its result
	Production         bool    `toml:"production"`            // every route but /health needs an X-API-Key
	RateLimitPerMinute int     `toml:"rate_limit_per_minute"` // per client; 0 = no limit
	MaxInFlight        int     `toml:"max_in_flight"`         // analyses at once, all clients
	QueueWait          float64 `toml:"queue_wait"`            // seconds a request may wait for a slot
	AllowPrivateURLs   bool    `toml:"allow_private_urls"`    // /analyze may fetch from private and loopback addresses
}

// Watch configures `songflow watch`.
type Watch struct {
	SettleSeconds float64 `toml:"settle_seconds"` // quiet time before a new file is read
	RescanSeconds float64 `toml:"rescan_seconds"` // full rescan period; 0 = never
	ReportSeconds float64 `toml:"report_seconds"` // report period
}

// Default returns the built-in configuration, the one pipeline.toml
// spells out. It is tuned for a machine with two cores: decode and FFT,
// the heaviest stages, get two workers each.
func Default() Config {
	return Config{
		Stages: Stages{
			Decode:    pipeline.StageConfig{Workers: 2, Buffer: 4},
			Resample:  pipeline.StageConfig{Workers: 1, Buffer: 2},
			Chunk:     pipeline.StageConfig{Workers: 1, Buffer: 2},
			FFT:       pipeline.StageConfig{Workers: 2, Buffer: 8},
			Aggregate: pipeline.StageConfig{Workers: 1, Buffer: 16},
		},
		Analysis: Analysis{
			SampleRate:   22050,
			FFTSize:      2048,
			Hop:          512,
			ChunkSeconds: 20,
			MaxChunks:    20,
			MaxDuration:  3600,
			SongTimeout:  600,
		},
		Metrics: Metrics{SampleSeconds: 0.1},
		Server: Server{
			Addr:               "127.0.0.1:5050",
			DBPath:             "songflow.db",
			MaxBodyMB:          200,
			AnalysisTimeout:    180,
			RateLimitPerMinute: 60,
			MaxInFlight:        16,
			QueueWait:          10,
		},
		Watch: Watch{SettleSeconds: 2, RescanSeconds: 60, ReportSeconds: 60},
	}
}

// PipelineOptions returns the engine options this configuration sets.
func (c Config) PipelineOptions() pipeline.Options {
	return pipeline.Options{
		SongTimeout: seconds(c.Analysis.SongTimeout),
		SampleEvery: seconds(c.Metrics.SampleSeconds),
	}
}

// seconds converts a configured number of seconds to a Duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Error is a configuration error: which key, where, and what is wrong.
type Error struct {
	Key    string // dotted key, "analysis.sample_rate"; "" for a syntax error
	Line   int    // line in the file, 0 when unknown or not from a file
	Msg    string // what is wrong
	Origin string // where the bad value came from, as in Origins
}

// Error spells the error as "origin line N: key: msg", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	s := ""
	if e.Origin != "" {
		s = e.Origin
		if e.Line > 0 {
			s += fmt.Sprintf(" line %d", e.Line)
		}
		s += ": "
	} else if e.Line > 0 {
		s = fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Msg
}

// Origins tells, for each dotted key, where its effective value came from:
// "default", "file <path>", "env <NAME>" or "flag".
type Origins map[string]string
