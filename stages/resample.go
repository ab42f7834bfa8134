package stages

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/songflow/songflow/dsp"
)

// Resample returns the resample stage's function: it measures loudness on
// the source channels at their own rate (the last stage that sees them),
// stores it in song.Info.Loudness, mixes down to mono and resamples to rate.
//
// The returned function is safe to run on many workers at once. It keeps one
// Resampler per source rate, built on first use, since building one computes
// its filter tables and a Resampler is immutable once built.
func Resample(rate dsp.Hz) func(context.Context, *Song) (*Signal, error) {
	var (
		mu    sync.Mutex
		cache = make(map[dsp.Hz]*dsp.Resampler)
	)
	resampler := func(from dsp.Hz) (*dsp.Resampler, error) {
		mu.Lock()
		defer mu.Unlock()
		if r, ok := cache[from]; ok {
			return r, nil
		}
		r, err := dsp.NewResampler(from, rate)
		if err != nil {
			return nil, err
		}
		cache[from] = r
		return r, nil
	}
	return func(ctx context.Context, s *Song) (*Signal, error) {
		if s == nil || s.Info == nil {
			return nil, errors.New("resample: song without info")
		}
		name := s.Info.Name
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("resample %s: %w", name, err)
		}
		if len(s.Channels) == 0 {
			return nil, fmt.Errorf("resample %s: no channels", name)
		}
		r, err := resampler(s.Info.SampleRate)
		if err != nil {
			return nil, fmt.Errorf("resample %s: %w", name, err)
		}
		s.Info.Loudness = dsp.MeasureLoudness(s.Channels, s.Info.SampleRate)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("resample %s: %w", name, err)
		}
		return &Signal{Info: s.Info, Rate: rate, Mono: r.Resample(mixdown(s.Channels))}, nil
	}
}

// mixdown averages the channels (over the shortest one's length). A mono
// song is returned as it is, without a copy.
func mixdown(channels [][]float32) []float32 {
	if len(channels) == 1 {
		return channels[0]
	}
	n := len(channels[0])
	for _, c := range channels {
		n = min(n, len(c))
	}
	mono := make([]float32, n)
	g := 1 / float32(len(channels))
	if len(channels) == 2 { // the common case in one pass over memory
		a, b := channels[0][:n], channels[1][:n]
		for i := range mono {
			mono[i] = (a[i] + b[i]) * g
		}
		return mono
	}
	for _, c := range channels {
		for i, v := range c[:n] {
			mono[i] += v
		}
	}
	for i := range mono {
		mono[i] *= g
	}
	return mono
}
