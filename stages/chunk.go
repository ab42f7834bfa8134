package stages

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/songflow/songflow/dsp"
)

// ChunkOptions sets how the chunk stage cuts a song into analysis windows.
type ChunkOptions struct {
	// Seconds is the length of a window; it must be positive.
	Seconds float64
	// OverlapSeconds is the least overlap between neighbouring windows, in
	// [0, Seconds).
	OverlapSeconds float64
	// MaxChunks caps the windows per song; 0 or less means no cap.
	MaxChunks int
}

// Chunks returns the chunk stage's function, which cuts a Signal into windows
// of opts.Seconds. (It is not named Chunk because that is the type of what
// it emits.)
//
// A song no longer than one window is one chunk of the whole song. A longer
// song gets as many full windows as it takes to cover it with at least
// OverlapSeconds of overlap, capped at MaxChunks; either way the windows are
// spread evenly, the first starting at 0 and the last ending at the song's
// end, so a capped song is sampled across its whole length rather than only
// at its start (with MaxChunks = 1 the one window starts at 0). Each chunk's
// Samples is a slice of the Signal's samples, not a copy, with its capacity
// cut at its end.
func Chunks(opts ChunkOptions) func(context.Context, *Signal) ([]*Chunk, error) {
	return func(ctx context.Context, s *Signal) ([]*Chunk, error) {
		if s == nil || s.Info == nil {
			return nil, errors.New("chunk: signal without song info")
		}
		name := s.Info.Name
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("chunk %s: %w", name, err)
		}
		n := len(s.Mono)
		if n == 0 {
			return nil, fmt.Errorf("chunk %s: empty signal", name)
		}
		if !(s.Rate > 0) || math.IsInf(float64(s.Rate), 0) {
			return nil, fmt.Errorf("chunk %s: sample rate %v Hz", name, s.Rate)
		}
		if !(opts.Seconds > 0) || math.IsInf(opts.Seconds, 0) || !(opts.OverlapSeconds >= 0) || opts.OverlapSeconds >= opts.Seconds {
			return nil, fmt.Errorf("chunk %s: window %g s with overlap %g s: need a positive window and 0 ≤ overlap < window", name, opts.Seconds, opts.OverlapSeconds)
		}
		win := max(1, int(math.Round(opts.Seconds*float64(s.Rate))))
		hop := max(1, int(math.Round((opts.Seconds-opts.OverlapSeconds)*float64(s.Rate))))

		count := 1
		if n > win {
			count = 1 + (n-win+hop-1)/hop
		}
		if opts.MaxChunks > 0 {
			count = min(count, opts.MaxChunks)
		}
		if s.Info.SkipChunks {
			count = 1
		}
		win = min(win, n)
		chunks := make([]*Chunk, count)
		for i := range chunks {
			start := 0
			if count > 1 {
				// round(i·(n-win)/(count-1)) in integers: exact offsets.
				span := int64(n - win)
				start = int((int64(i)*span*2 + int64(count-1)) / int64(2*(count-1)))
			}
			chunks[i] = &Chunk{
				Info:    s.Info,
				Rate:    s.Rate,
				Index:   i,
				Count:   count,
				Offset:  dsp.Seconds(float64(start) / float64(s.Rate)),
				Samples: s.Mono[start : start+win : start+win],
			}
		}
		return chunks, nil
	}
}
