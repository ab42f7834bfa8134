package stages

import (
	"context"
	"testing"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/internal/audiotest"
)

// BenchmarkAnalyzeFLAC runs the whole analysis of a 3-minute 44.1 kHz
// stereo FLAC song stage after stage with the default configuration, and
// reports the CPU time of decoding and of everything after it, and the
// whole analysis as a multiple of decoding alone (x-decode): the cost of
// analysis over what any program that reads the song pays. Run it on one
// core (-cpu 1) for the figure the README gives.
func BenchmarkAnalyzeFLAC(b *testing.B) {
	path := audiotest.BenchSong(b, "flac")
	ctx := context.Background()
	an := config.Default().Analysis
	dec := Decode(decode.Options{MaxSeconds: an.MaxSeconds, MaxDuration: an.MaxDuration})
	resample := Resample(dsp.Hz(an.SampleRate))
	chunks := Chunks(ChunkOptions{Seconds: an.ChunkSeconds, OverlapSeconds: an.ChunkOverlapSeconds, MaxChunks: an.MaxChunks})
	fft := FFT(FFTOptions{Size: an.FFTSize, Hop: an.Hop})()
	agg := Aggregate(AggregateOptions{KeyProfile: dsp.KeyProfile(an.KeyProfile)})
	var decoding, after float64
	for b.Loop() {
		start := processCPUSeconds()
		song, err := dec(ctx, Job{Name: path})
		if err != nil {
			b.Fatal(err)
		}
		decoded := processCPUSeconds()
		sig, err := resample(ctx, song)
		if err != nil {
			b.Fatal(err)
		}
		cs, err := chunks(ctx, sig)
		if err != nil {
			b.Fatal(err)
		}
		parts := make([]*Frames, len(cs))
		for j, c := range cs {
			if parts[j], err = fft(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		r, err := agg(ctx, parts)
		if err != nil {
			b.Fatal(err)
		}
		if !(r.BPM > 0) {
			b.Fatalf("no tempo: %+v", r)
		}
		decoding += decoded - start
		after += processCPUSeconds() - decoded
	}
	reportRealtime(b, audiotest.BenchSeconds, decoding+after)
	if decoding > 0 {
		b.ReportMetric(decoding/float64(b.N), "decode-s/op")
		b.ReportMetric(after/float64(b.N), "after-s/op")
		b.ReportMetric((decoding+after)/decoding, "x-decode")
	}
}
