package stages

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/dsp"
)

// Decode returns the decode stage's function: it decodes job.Data, or the
// file job.Name when Data is nil, into a Song holding every channel at the
// source rate. The caller's title and artist win over the file's tags.
// Info.Loudness is left for the resample stage. Any number of workers may
// run the function at once; the segments of the songs they decode share
// as many cores as the process has (decode.Cores), unless opts.Cores says
// otherwise.
func Decode(opts decode.Options) func(context.Context, Job) (*Song, error) {
	if opts.Cores == nil {
		opts.Cores = decode.NewCores(runtime.GOMAXPROCS(0))
	}
	return func(ctx context.Context, job Job) (*Song, error) {
		var (
			a   *decode.Audio
			err error
		)
		if job.Data != nil {
			a, err = decode.Bytes(ctx, job.Name, job.Data, opts)
		} else {
			a, err = decode.File(ctx, job.Name, opts)
		}
		if err != nil {
			// The engine's error names the stage and the song; keep the reason.
			var de *decode.Error
			if errors.As(err, &de) {
				err = de.Err
			}
			if errors.Is(err, decode.ErrTooLong) {
				return nil, fmt.Errorf("%w (analysis.max_duration; set analysis.max_seconds to analyse only the start)", err)
			}
			return nil, err
		}
		info := &SongInfo{
			Name:   job.Name,
			Title:  job.Title,
			Artist: job.Artist,
			Tags: Tags{
				Title:  a.Title,
				Artist: a.Artist,
				BPM:    a.TagBPM,
				Key:    a.TagKey,
			},
			Format:         string(a.Format),
			SampleRate:     dsp.Hz(a.Rate),
			Channels:       len(a.Channels),
			Duration:       dsp.Seconds(a.Duration()),
			SourceDuration: dsp.Seconds(a.SourceDuration),
			SkipChunks:     job.SkipChunks,
		}
		if info.Title == "" {
			info.Title = a.Title
		}
		if info.Artist == "" {
			info.Artist = a.Artist
		}
		return &Song{Info: info, Channels: a.Channels, Layout: a.Layout}, nil
	}
}
