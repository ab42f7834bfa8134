package decode

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchSeconds is the length of the benchmark song: a typical 3 minutes.
const benchSeconds = 180

// benchSong returns a 3-minute 44.1 kHz stereo song in the given format,
// encoding it once into the temporary directory (the files are far too
// big to commit). It skips the benchmark when the encoder is missing.
func benchSong(b *testing.B, ext string) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "songflow-decode-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "song."+ext)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	wav := filepath.Join(dir, "song.wav")
	if _, err := os.Stat(wav); err != nil {
		if _, err := exec.LookPath("sox"); err != nil {
			b.Skip("sox not installed")
		}
		// Music-like content: a sweep, a chord and some noise.
		cmd := exec.Command("sox", "-R", "-n", "-r", "44100", "-c", "2", "-b", "16", wav,
			"synth", "180", "sine", "110-8000", "pinknoise", "gain", "-9")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sox: %v: %s", err, msg)
		}
	}
	// Encode to a temporary name so an interrupted run leaves no
	// half-written song behind.
	tmp := out + ".tmp." + ext
	var cmd *exec.Cmd
	switch ext {
	case "wav":
		return wav
	case "flac":
		cmd = exec.Command("flac", "-s", "-f", "-o", tmp, wav)
	case "mp3":
		cmd = exec.Command("lame", "--quiet", "-V", "2", wav, tmp)
	case "m4a":
		cmd = exec.Command("ffmpeg", "-loglevel", "error", "-y", "-i", wav, "-c:a", "aac", "-b:a", "256k", tmp)
	}
	if cmd.Err != nil {
		b.Skipf("%s not installed", cmd.Args[0])
	}
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v: %s", cmd.Path, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		b.Fatal(err)
	}
	return out
}

func benchDecode(b *testing.B, ext string) {
	path := benchSong(b, ext)
	b.ResetTimer()
	for b.Loop() {
		a, err := File(context.Background(), path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if d := a.Duration(); d < benchSeconds-1 || d > benchSeconds+1 {
			b.Fatalf("decoded %.1f s, want %d", d, benchSeconds)
		}
	}
	b.ReportMetric(benchSeconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

func BenchmarkDecodeWAV(b *testing.B)  { benchDecode(b, "wav") }
func BenchmarkDecodeFLAC(b *testing.B) { benchDecode(b, "flac") }
func BenchmarkDecodeMP3(b *testing.B)  { benchDecode(b, "mp3") }
func BenchmarkDecodeAAC(b *testing.B)  { benchDecode(b, "m4a") }
