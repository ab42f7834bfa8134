package stages

import (
	"context"
	"os"
	"testing"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/internal/audiotest"
)

// afterDecode is every stage that follows decoding, with the settings of
// an, run one after another on one goroutine, as the benchmarks need.
type afterDecode struct {
	resample func(context.Context, *Song) (*Signal, error)
	chunks   func(context.Context, *Signal) ([]*Chunk, error)
	fft      func(context.Context, *Chunk) (*Frames, error)
	agg      func(context.Context, []*Frames) (Result, error)
}

func newAfterDecode(an config.Analysis) afterDecode {
	return afterDecode{
		resample: Resample(dsp.Hz(an.SampleRate)),
		chunks:   Chunks(ChunkOptions{Seconds: an.ChunkSeconds, OverlapSeconds: an.ChunkOverlapSeconds, MaxChunks: an.MaxChunks}),
		fft:      FFT(FFTOptions{Size: an.FFTSize, Hop: an.Hop})(),
		agg:      Aggregate(AggregateOptions{KeyProfile: dsp.KeyProfile(an.KeyProfile)}),
	}
}

func (a afterDecode) run(b *testing.B, song *Song) Result {
	ctx := context.Background()
	sig, err := a.resample(ctx, song)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := a.chunks(ctx, sig)
	if err != nil {
		b.Fatal(err)
	}
	parts := make([]*Frames, len(cs))
	for j, c := range cs {
		if parts[j], err = a.fft(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	r, err := a.agg(ctx, parts)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkAnalyzeFLAC runs the whole analysis of a 3-minute 44.1 kHz
// stereo FLAC song stage after stage with the default configuration, and
// reports the CPU time of decoding and of everything after it, and the
// whole analysis as a multiple of decoding alone (x-decode): the cost of
// analysis over what any program that reads the song pays. Run it on one
// core (-cpu 1) for the figure the README gives.
//
// SONGFLOW_BENCH_FLAC names another FLAC file to measure instead, such as
// a song with a beat, whose tempo, metre and confidence the pink-noise
// sweep (no pulse, so no tempo) never reach.
func BenchmarkAnalyzeFLAC(b *testing.B) {
	path := os.Getenv("SONGFLOW_BENCH_FLAC")
	if path == "" {
		path = audiotest.BenchSong(b, "flac")
	}
	an := config.Default().Analysis
	dec := Decode(decode.Options{MaxSeconds: an.MaxSeconds, MaxDuration: an.MaxDuration})
	after := newAfterDecode(an)
	var decoding, rest float64
	for b.Loop() {
		start := processCPUSeconds()
		song, err := dec(context.Background(), Job{Name: path})
		if err != nil {
			b.Fatal(err)
		}
		decoded := processCPUSeconds()
		if r := after.run(b, song); !(r.Duration > 0) {
			b.Fatalf("unexpected result: %+v", r)
		}
		decoding += decoded - start
		rest += processCPUSeconds() - decoded
	}
	reportRealtime(b, audiotest.BenchSeconds, decoding+rest)
	if decoding > 0 {
		b.ReportMetric(decoding/float64(b.N), "decode-s/op")
		b.ReportMetric(rest/float64(b.N), "after-s/op")
		b.ReportMetric((decoding+rest)/decoding, "x-decode")
	}
}
