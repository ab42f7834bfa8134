// Package audiotest makes audio files for songflow's tests that several
// packages need alike.
package audiotest

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// SparseWAV writes at path a WAV file of seconds of 8-bit mono silence at
// rate. The file is sparse: its samples take no disk, so a test can hand
// the decoder a two-hour song for the price of its 44-byte header.
func SparseWAV(path string, rate, seconds uint32) error {
	le := binary.LittleEndian
	head := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00")
	head = le.AppendUint32(head, rate)
	head = le.AppendUint32(head, rate) // bytes per second
	head = append(head, 1, 0, 8, 0)    // one byte per frame, 8 bits
	head = le.AppendUint32(append(head, "data"...), rate*seconds)
	le.PutUint32(head[4:], uint32(len(head))-8+rate*seconds)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err = f.Write(head); err == nil {
		err = f.Truncate(int64(len(head)) + int64(rate)*int64(seconds))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ClickTrack returns a 16-bit stereo WAV file of seconds at rate: a 440 Hz
// tone at 0.3 of full scale with a 10 ms, 2 kHz click every half second,
// so its tempo is 120 BPM.
func ClickTrack(seconds float64, rate int) []byte {
	return stereoWAV(seconds, rate, func(i int) float64 {
		x := 0.3 * math.Sin(2*math.Pi*440*float64(i)/float64(rate))
		if i%(rate/2) < rate/100 {
			x += 0.5 * math.Sin(2*math.Pi*2000*float64(i)/float64(rate))
		}
		return x
	})
}

// NoiseWAV returns a 16-bit stereo WAV file of seconds at rate holding
// white noise at 0.2 of full scale (RMS): no pulse, so no tempo.
func NoiseWAV(seconds float64, rate int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	return stereoWAV(seconds, rate, func(int) float64 { return max(-1, min(1, 0.2*rng.NormFloat64())) })
}

// stereoWAV returns a 16-bit stereo WAV file of seconds at rate whose
// samples, the same in both channels, are sample(0), sample(1), …
func stereoWAV(seconds float64, rate int, sample func(i int) float64) []byte {
	le := binary.LittleEndian
	n := int(seconds * float64(rate))
	data := make([]byte, 44+4*n)
	copy(data[0:], "RIFF")
	le.PutUint32(data[4:], uint32(36+4*n))
	copy(data[8:], "WAVEfmt ")
	le.PutUint32(data[16:], 16)
	le.PutUint16(data[20:], 1) // PCM
	le.PutUint16(data[22:], 2) // stereo
	le.PutUint32(data[24:], uint32(rate))
	le.PutUint32(data[28:], uint32(rate*4))
	le.PutUint16(data[32:], 4)
	le.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	le.PutUint32(data[40:], uint32(4*n))
	for i := range n {
		v := uint16(int16(32767 * sample(i)))
		le.PutUint16(data[44+4*i:], v)
		le.PutUint16(data[46+4*i:], v)
	}
	return data
}

// FloatWAV returns a 32-bit float WAV file of channels channels at rate
// holding the interleaved samples as they are, NaN and infinities too.
func FloatWAV(rate, channels int, samples []float32) []byte {
	le := binary.LittleEndian
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
	b = le.AppendUint16(b, 3) // WAVE_FORMAT_IEEE_FLOAT
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

// BenchSeconds is the length of BenchSong's song: a typical 3 minutes.
const BenchSeconds = 180

// BenchSong returns the path of a 3-minute 44.1 kHz 16-bit stereo song
// (a sine sweep over pink noise, content across the band) in the format
// named by ext: wav, flac, mp3, m4a (AAC) or alac.m4a (Apple Lossless).
// It is encoded once, with sox and the format's reference encoder (ffmpeg
// for both MP4 codecs), into the temporary directory, where
// later runs find it: the files are far too big to commit. It skips the
// benchmark when an encoder is missing.
func BenchSong(tb testing.TB, ext string) string {
	tb.Helper()
	dir := filepath.Join(os.TempDir(), "songflow-decode-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, "song."+ext)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	wav := filepath.Join(dir, "song.wav")
	if _, err := os.Stat(wav); err != nil {
		if _, err := exec.LookPath("sox"); err != nil {
			tb.Skip("sox not installed")
		}
		// Written under a temporary name and renamed, so that an
		// interrupted run leaves no half-written song for the next.
		tmp := wav + ".tmp.wav"
		cmd := exec.Command("sox", "-R", "-n", "-r", "44100", "-c", "2", "-b", "16", tmp,
			"synth", strconv.Itoa(BenchSeconds), "sine", "110-8000", "pinknoise", "gain", "-9")
		if msg, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("sox: %v: %s", err, msg)
		}
		if err := os.Rename(tmp, wav); err != nil {
			tb.Fatal(err)
		}
	}
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
	case "alac.m4a":
		cmd = exec.Command("ffmpeg", "-loglevel", "error", "-y", "-i", wav, "-c:a", "alac", tmp)
	default:
		tb.Fatalf("BenchSong: no encoder for %q", ext)
	}
	if cmd.Err != nil {
		tb.Skipf("%s not installed", cmd.Args[0])
	}
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v: %s", cmd.Path, err, msg)
	}
	if err := os.Rename(tmp, out); err != nil {
		tb.Fatal(err)
	}
	return out
}
