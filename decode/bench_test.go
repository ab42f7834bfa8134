package decode

import (
	"context"
	"math"
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

// BenchmarkDecodeWAVFloat decodes 3 minutes of 44.1 kHz stereo 32-bit
// float WAV held in memory: BenchSong's WAV is 16-bit, and float samples
// take a conversion path of their own.
func BenchmarkDecodeWAVFloat(b *testing.B) {
	const rate, seconds = 44100, audiotest.BenchSeconds
	samples := make([]float32, 2*rate*seconds)
	for i := range samples {
		samples[i] = float32(0.3 * math.Sin(2*math.Pi*440*float64(i/2)/rate))
	}
	data := audiotest.FloatWAV(rate, 2, samples)
	b.ResetTimer()
	for b.Loop() {
		a, err := Bytes(context.Background(), "float.wav", data, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if a.Frames() != rate*seconds {
			b.Fatalf("decoded %d frames, want %d", a.Frames(), rate*seconds)
		}
	}
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}
