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
		if len(s.Channels) == 1 {
			// Resample hands back a mono song at the analysis rate as is.
			return &Signal{Info: s.Info, Rate: rate, Mono: r.Resample(s.Channels[0])}, nil
		}
		// Mixing down a stretch at a time as the resampler needs it keeps
		// the mixdown in cache instead of writing and rereading a copy of
		// the song.
		return &Signal{Info: s.Info, Rate: rate, Mono: r.ResampleMixInto(nil, s.Channels)}, nil
	}
}
