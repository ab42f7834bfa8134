package decode

import (
	"context"
	"encoding/binary"
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
	data := floatWAV(rate, 2, samples)
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

// floatWAV returns a 32-bit float WAV file of the interleaved samples of
// channels channels at rate.
func floatWAV(rate, channels int, samples []float32) []byte {
	le := binary.LittleEndian
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
	b = le.AppendUint16(b, wavFloat)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*channels*4))
	b = le.AppendUint16(b, uint16(channels*4))
	b = le.AppendUint16(b, 32)
	b = le.AppendUint32(append(b, "data"...), uint32(4*len(samples)))
	for _, v := range samples {
		b = le.AppendUint32(b, math.Float32bits(v))
	}
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}
