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
// The returned function is safe to run on many workers at once. It keeps the
// Resamplers of the last few source rates it met (see resamplers), since
// building one computes its filter tables and a Resampler is immutable once
// built.
func Resample(rate dsp.Hz) func(context.Context, *Song) (*Signal, error) {
	rs := &resamplers{to: rate}
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
		r, err := rs.get(s.Info.SampleRate)
		if err != nil {
			return nil, fmt.Errorf("resample %s: %w", name, err)
		}
		s.Info.Loudness = dsp.MeasureLoudness(s.Channels, s.Info.SampleRate, s.Layout)
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

// keptResamplers is how many source rates' Resamplers the stage keeps: as
// many as a collection commonly mixes (44.1 and 48 kHz and their multiples),
// and few enough that their tables, up to a few MB each for a rate far
// above the target, stay small. A rate that was forgotten costs one more
// table build, milliseconds for the common rates.
const keptResamplers = 8

// resamplers keeps the Resamplers of the source rates used most recently.
// Source rates come from the files, anything a header claims up to
// 768 kHz, so a stage that kept one per rate ever met would grow without
// bound in a server fed arbitrary uploads.
type resamplers struct {
	to     dsp.Hz
	mu     sync.Mutex
	recent []*dsp.Resampler // most recently used first
}

// get returns the Resampler from rate from to rs.to, building it when it
// is not kept and then forgetting the least recently used one.
func (rs *resamplers) get(from dsp.Hz) (*dsp.Resampler, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i, r := range rs.recent {
		if r.From() == from {
			copy(rs.recent[1:i+1], rs.recent[:i])
			rs.recent[0] = r
			return r, nil
		}
	}
	r, err := dsp.NewResampler(from, rs.to)
	if err != nil {
		return nil, err
	}
	if len(rs.recent) < keptResamplers {
		rs.recent = append(rs.recent, nil)
	}
	copy(rs.recent[1:], rs.recent)
	rs.recent[0] = r
	return r, nil
}
