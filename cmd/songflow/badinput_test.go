package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/songflow/songflow/internal/audiotest"
)

// TestAnalyzeBadInput runs analyze on a folder of bad files among good
// ones, as a user hands them over: each bad file gets a line naming it
// and saying why it was refused, and the good files in the same run,
// one of them a FLAC named .mp3, still get their results.
func TestAnalyzeBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	testdata := filepath.Join("..", "..", "testdata")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	copyOf := func(name, from string) string {
		t.Helper()
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, data)
	}
	noise := make([]byte, 3000)
	rand.NewChaCha8([32]byte{1}).Read(noise)

	type want struct {
		says []string // in the error; none for a result
		bpm  float64
		key  string
		fmt  string
	}
	files := []struct {
		path string
		want want
	}{
		{write("empty.wav", nil), want{says: []string{"no audio", "the file is empty"}}},
		{copyOf("adagio.wav", filepath.Join(testdata, "calibration", "01-adagio-c-major.wav")), want{bpm: 60, key: "C Major", fmt: "wav"}},
		{write("noise.wav", noise), want{says: []string{"unsupported format", "unknown format"}}},
		{copyOf("cut.mp3", filepath.Join(testdata, "decode", "bad_truncated.mp3")), want{says: []string{"corrupt or truncated", "the MP3 frame at byte"}}},
		{copyOf("andante.mp3", filepath.Join(testdata, "calibration", "02-andante-a-minor.flac")), want{bpm: 72, key: "A Minor", fmt: "flac"}},
		{twoHourWAV(t, filepath.Join(dir, "two-hours.wav")), want{says: []string{"song too long", "7200 s", "analysis.max_duration"}}},
		{write("adagio.aif", aiffOf(t, filepath.Join(testdata, "calibration", "01-adagio-c-major.wav"))), want{bpm: 60, key: "C Major", fmt: "aiff"}},
		{copyOf("ulaw.aifc", filepath.Join(testdata, "decode", "bad_ulaw.aifc")), want{says: []string{"unsupported format", "µ-law"}}},
		{copyOf("cut.aiff", filepath.Join(testdata, "decode", "bad_truncated.aiff")), want{says: []string{"corrupt or truncated", "SSND"}}},
		{copyOf("ulaw.caf", filepath.Join(testdata, "decode", "bad_ulaw.caf")), want{says: []string{"unsupported format", "CAF holding µ-law"}}},
	}
	args := []string{"analyze", "--config", filepath.Join("..", "..", "pipeline.toml")}
	for _, f := range files {
		args = append(args, f.path)
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != 1 {
		t.Errorf("exit %d, want 1 (some files failed); stderr %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(files) {
		t.Fatalf("%d lines for %d files:\n%s", len(lines), len(files), out.String())
	}
	for i, f := range files {
		var rec struct {
			File   string  `json:"file"`
			Error  string  `json:"error"`
			BPM    float64 `json:"bpm"`
			Key    string  `json:"key"`
			Format string  `json:"format"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		name := filepath.Base(f.path)
		if rec.File != f.path {
			t.Errorf("line %d is for %q, want %s", i, rec.File, f.path)
		}
		if len(f.want.says) > 0 {
			if !strings.Contains(rec.Error, f.path) {
				t.Errorf("%s: error %q does not name the file", name, rec.Error)
			}
			for _, s := range f.want.says {
				if !strings.Contains(rec.Error, s) {
					t.Errorf("%s: error %q does not say %q", name, rec.Error, s)
				}
			}
			continue
		}
		if rec.Error != "" {
			t.Errorf("%s: %s", name, rec.Error)
			continue
		}
		if rec.Format != f.want.fmt || rec.Key != f.want.key || rec.BPM < f.want.bpm*0.96 || rec.BPM > f.want.bpm*1.04 {
			t.Errorf("%s: %s, %v BPM, %q; want %s, %v BPM, %q", name, rec.Format, rec.BPM, rec.Key, f.want.fmt, f.want.bpm, f.want.key)
		}
	}
}

// twoHourWAV writes a sparse WAV file of two hours of silence at path
// and returns path.
func twoHourWAV(t *testing.T, path string) string {
	t.Helper()
	if err := audiotest.SparseWAV(path, 8000, 2*3600); err != nil {
		t.Fatal(err)
	}
	return path
}

// aiffOf returns the 16-bit PCM WAV file at path as an AIFF file: the
// same samples, big-endian, so that its results must be the WAV's.
func aiffOf(t *testing.T, path string) []byte {
	t.Helper()
	wav, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var channels, bits uint16
	var rate uint32
	var pcm []byte
	for off := 12; off+8 <= len(wav); {
		id, size := string(wav[off:off+4]), int(binary.LittleEndian.Uint32(wav[off+4:]))
		body := wav[off+8 : min(len(wav), off+8+size)]
		switch id {
		case "fmt ":
			channels, rate, bits = binary.LittleEndian.Uint16(body[2:]), binary.LittleEndian.Uint32(body[4:]), binary.LittleEndian.Uint16(body[14:])
		case "data":
			pcm = body
		}
		off += 8 + size + size&1
	}
	if bits != 16 || len(pcm) == 0 {
		t.Fatalf("%s: %d bits, %d bytes of samples; want 16-bit PCM", path, bits, len(pcm))
	}
	be := func(v ...any) []byte {
		var b bytes.Buffer
		for _, x := range v {
			binary.Write(&b, binary.BigEndian, x)
		}
		return b.Bytes()
	}
	// The rate as an 80-bit extended float: biased exponent, then the
	// mantissa with its integer bit set.
	e := math.Floor(math.Log2(float64(rate)))
	comm := be(channels, uint32(len(pcm)/int(2*channels)), bits, uint16(16383+e), uint64(rate)<<(63-uint(e)))
	ssnd := be(uint32(0), uint32(0))
	for i := 0; i+1 < len(pcm); i += 2 {
		ssnd = append(ssnd, pcm[i+1], pcm[i])
	}
	out := be([]byte("FORM"), uint32(4+8+len(comm)+8+len(ssnd)), []byte("AIFF"), []byte("COMM"), uint32(len(comm)))
	out = append(out, comm...)
	out = append(out, be([]byte("SSND"), uint32(len(ssnd)))...)
	return append(out, ssnd...)
}
