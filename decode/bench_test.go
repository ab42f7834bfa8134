package decode

import (
	"context"
	"testing"

	"github.com/songflow/songflow/internal/audiotest"
)

func benchDecode(b *testing.B, ext string) {
	path := audiotest.BenchSong(b, ext)
	const seconds = audiotest.BenchSeconds
	b.ResetTimer()
	for b.Loop() {
		a, err := File(context.Background(), path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if d := a.Duration(); d < seconds-1 || d > seconds+1 {
			b.Fatalf("decoded %.1f s, want %d", d, seconds)
		}
	}
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

func BenchmarkDecodeWAV(b *testing.B)  { benchDecode(b, "wav") }
func BenchmarkDecodeFLAC(b *testing.B) { benchDecode(b, "flac") }
func BenchmarkDecodeMP3(b *testing.B)  { benchDecode(b, "mp3") }
func BenchmarkDecodeAAC(b *testing.B)  { benchDecode(b, "m4a") }
func BenchmarkDecodeALAC(b *testing.B) { benchDecode(b, "alac.m4a") }
