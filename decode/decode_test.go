package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/songflow/songflow/internal/audiotest"
)

const fixtures = "../testdata/decode/"

// readRef reads ffmpeg's interleaved decode of a fixture: f32le for the
// lossless formats, s16le for the lossy ones.
func readRef(t *testing.T, name string, s16 bool) []float32 {
	t.Helper()
	b, err := os.ReadFile(fixtures + name + ".ref")
	if err != nil {
		t.Fatal(err)
	}
	if s16 {
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = float32(int16(binary.LittleEndian.Uint16(b[2*i:]))) / (1 << 15)
		}
		return out
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func interleave(chans [][]float32) []float32 {
	n := len(chans[0])
	out := make([]float32, 0, n*len(chans))
	for i := range n {
		for _, c := range chans {
			out = append(out, c[i])
		}
	}
	return out
}

// TestLosslessMatchesFFmpeg checks every WAV, AIFF, CAF, FLAC and ALAC fixture decodes to
// exactly the float samples ffmpeg produces.
func TestLosslessMatchesFFmpeg(t *testing.T) {
	cases := []struct {
		file     string
		format   Format
		rate, ch int
	}{
		{"wav_u8_mono_8k.wav", WAV, 8000, 1},
		{"wav_s16_stereo_44k.wav", WAV, 44100, 2},
		{"wav_s24_stereo_48k.wav", WAV, 48000, 2},
		{"wav_s32_mono_16k.wav", WAV, 16000, 1},
		{"wav_f32_stereo_22k.wav", WAV, 22050, 2},
		{"wav_f64_mono_11k.wav", WAV, 11025, 1},
		{"wav_s16_6ch_48k.wav", WAV, 48000, 6},
		{"wav_ext_s24_stereo_44k.wav", WAV, 44100, 2},
		{"wav_chunks_s24_mono_11k.wav", WAV, 11025, 1},
		{"aiff_s16_stereo_44k.aiff", AIFF, 44100, 2},
		{"aiff_s24_mono_48k.aif", AIFF, 48000, 1},
		{"aiff_s8_mono_8k.aiff", AIFF, 8000, 1},
		{"aiff_s32_mono_16k.aiff", AIFF, 16000, 1},
		{"aiff_id3_s16_mono_22k.aiff", AIFF, 22050, 1},
		{"aifc_sowt_stereo_22k.aifc", AIFF, 22050, 2},
		{"aifc_fl32_mono_11k.aifc", AIFF, 11025, 1},
		{"aifc_fl64_mono_11k.aifc", AIFF, 11025, 1},
		{"flac_s16_stereo_44k.flac", FLAC, 44100, 2},
		{"flac_s24_mono_96k.flac", FLAC, 96000, 1},
		{"flac_s8_mono_8k.flac", FLAC, 8000, 1},
		{"flac_s16_3ch_32k.flac", FLAC, 32000, 3},
		// Frame headers that give no bits per sample, "as in
		// STREAMINFO": read as if they gave none.
		{"flac_s18_mono_8k.flac", FLAC, 8000, 1},
		{"flac_id3_s16_stereo_22k.flac", FLAC, 22050, 2},
		// Tone, digital silence and full-scale noise; a partial last frame.
		{"alac_s16_stereo_44k.m4a", ALAC, 44100, 2},
		{"alac_s24_stereo_48k.m4a", ALAC, 48000, 2},
		{"alac_s16_mono_22k.m4a", ALAC, 22050, 1},
		{"alac_verbatim_s16_stereo_44k.m4a", ALAC, 44100, 2},
		{"alac_qt_s16_mono_22k.mov", ALAC, 22050, 1},
		// Surround, coded centre first, comes out in WAVE order.
		{"alac_30_48k.m4a", ALAC, 48000, 3},
		{"alac_51_48k.m4a", ALAC, 48000, 6},
		{"alac_71wide_48k.m4a", ALAC, 48000, 8},
		{"alac_s16_stereo_44k.caf", ALAC, 44100, 2},
		{"caf_s16_stereo_44k.caf", CAF, 44100, 2},
		{"caf_s24le_mono_48k.caf", CAF, 48000, 1},
		{"caf_f32_mono_22k.caf", CAF, 22050, 1},
		{"caf_s8_mono_8k.caf", CAF, 8000, 1},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			a, err := File(context.Background(), fixtures+c.file, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if a.Format != c.format || a.Rate != c.rate || len(a.Channels) != c.ch {
				t.Fatalf("got %s %d Hz %d channels, want %s %d Hz %d", a.Format, a.Rate, len(a.Channels), c.format, c.rate, c.ch)
			}
			got, want := interleave(a.Channels), readRef(t, c.file, false)
			if len(got) != len(want) {
				t.Fatalf("%d samples, ffmpeg has %d", len(got), len(want))
			}
			bad, first := 0, -1
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					if first < 0 {
						first = i
					}
					bad++
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d samples differ from ffmpeg's; first at %d: %g, want %g", bad, len(got), first, got[first], want[first])
			}
			if d := a.SourceDuration - float64(len(got)/c.ch)/float64(c.rate); math.Abs(d) > 1e-9 {
				t.Errorf("SourceDuration %g, off by %g", a.SourceDuration, d)
			}
		})
	}
}

// snrAt returns the SNR in dB of got against ref when got[i] is compared
// with ref[i+lag] (per channel, interleaved with ch channels), over the
// overlap.
func snrAt(got, ref []float32, ch, lag int) float64 {
	var sig, noise float64
	n := len(got) / ch
	m := len(ref) / ch
	for i := range n {
		j := i + lag
		if j < 0 || j >= m {
			continue
		}
		for c := range ch {
			r := float64(ref[j*ch+c])
			d := float64(got[i*ch+c]) - r
			sig += r * r
			noise += d * d
		}
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

// TestLossyMatchesFFmpeg checks MP3 and AAC fixtures against ffmpeg's
// decode: after finding the best alignment within ±2048 samples, the SNR
// must be at least 60 dB, the alignment must be the expected one (0 where
// the LAME header or the MP4 edit list says how to trim) and the length
// must match.
func TestLossyMatchesFFmpeg(t *testing.T) {
	cases := []struct {
		file     string
		rate, ch int
		lag      int // where ffmpeg's decode starts relative to ours
		lenDiff  int // our length minus ffmpeg's, per channel
	}{
		{"mp3_cbr_stereo_44k.mp3", 44100, 2, 0, 0},
		{"mp3_vbr_stereo_48k.mp3", 48000, 2, 0, 0},
		{"mp3_tagged_mono_44k.mp3", 44100, 1, 0, 0},
		// Frames too small for a LAME header: nothing to trim, by either.
		{"mp3_mono_22k.mp3", 22050, 1, 0, 0},
		// Padded MPEG-2 frames that go-mp3 alone reads a byte short.
		{"mp3_cbr32_mono_22k.mp3", 22050, 1, 0, 0},
		// ffmpeg skips the priming the edit list names but keeps the
		// padding after the edit's end.
		{"aac_stereo_44k.m4a", 44100, 2, 0, 26460 - 26624},
		// A QuickTime movie: its decoder config sits in a 'wave' box.
		{"aac_qt_mono_32k.mov", 32000, 1, 0, 8000 - 8192},
		// ADTS has no edit list; ffmpeg keeps the encoder's 1024 samples
		// of priming, which faad2 holds back.
		{"aac_adts_mono_32k.aac", 32000, 1, 1024, -1024},
		// The same frames in CAF: ffmpeg reads neither the priming nor
		// the length the packet table gives, and keeps all 27 frames.
		{"aac_stereo_44k.caf", 44100, 2, 1024, 26460 - 27648},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			a, err := File(context.Background(), fixtures+c.file, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if a.Rate != c.rate || len(a.Channels) != c.ch {
				t.Fatalf("got %d Hz %d channels, want %d Hz %d", a.Rate, len(a.Channels), c.rate, c.ch)
			}
			got, ref := interleave(a.Channels), readRef(t, c.file, true)
			// Align on the first 8192 samples, then measure over all.
			head := got[:min(len(got), 8192*c.ch)]
			bestHead, bestLag := math.Inf(-1), 0
			for lag := -2048; lag <= 2048; lag++ {
				if s := snrAt(head, ref, c.ch, lag); s > bestHead {
					bestHead, bestLag = s, lag
				}
			}
			best := snrAt(got, ref, c.ch, bestLag)
			t.Logf("best lag %d, SNR %.1f dB, %d samples (ffmpeg %d)", bestLag, best, len(got)/c.ch, len(ref)/c.ch)
			if bestLag != c.lag {
				t.Errorf("best alignment at lag %d, want %d", bestLag, c.lag)
			}
			if best < 60 {
				t.Errorf("SNR %.1f dB against ffmpeg, want ≥ 60", best)
			}
			if d := len(got)/c.ch - len(ref)/c.ch; d != c.lenDiff {
				t.Errorf("length differs from ffmpeg's by %d samples, want %d", d, c.lenDiff)
			}
		})
	}
}

// TestAACLowRate checks that AAC-LC at 22.05 kHz, which faad2 decodes at
// twice the rate, reports that rate and the right length.
func TestAACLowRate(t *testing.T) {
	a, err := File(context.Background(), fixtures+"aac_adts_lc_22k.noref.aac", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Rate != 44100 || len(a.Channels) != 1 {
		t.Fatalf("%d Hz %d channels, want 44100 Hz mono", a.Rate, len(a.Channels))
	}
	// 0.3 s of audio plus at most one frame of encoder padding.
	if d := a.Duration(); d < 0.3 || d > 0.3+2048.0/44100 {
		t.Errorf("duration %.3f s, want 0.3 s", d)
	}
}

func TestTags(t *testing.T) {
	cases := []struct {
		file, title, artist, key string
		bpm                      float64
	}{
		{"mp3_tagged_mono_44k.mp3", "Tagged Song", "Tag Artist", "Am", 128},
		{"flac_id3_s16_stereo_22k.flac", "FLAC With ID3", "Tag Tester", "F#m", 120},
		{"aiff_id3_s16_mono_22k.aiff", "AIFF With ID3", "Tag Tester", "Dm", 96},
		{"caf_s16_stereo_44k.caf", "CAF With Info", "Tag Tester", "Eb", 132},
		{"caf_s8_mono_8k.caf", "", "", "", 0},
		{"wav_s16_stereo_44k.wav", "", "", "", 0},
		// A RIFF INFO list before the fmt chunk: INAM and IART.
		{"wav_chunks_s24_mono_11k.wav", "Chunk test", "songflow", "", 0},
		{"aiff_s16_stereo_44k.aiff", "", "", "", 0},
	}
	for _, c := range cases {
		a, err := File(context.Background(), fixtures+c.file, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Title != c.title || a.Artist != c.artist || a.TagKey != c.key || a.TagBPM != c.bpm {
			t.Errorf("%s: tags %q %q %q %v, want %q %q %q %v", c.file, a.Title, a.Artist, a.TagKey, a.TagBPM, c.title, c.artist, c.key, c.bpm)
		}
	}
}

// TestWrongExtension checks the name plays no part: a WAV, a FLAC and an
// M4A named .mp3, and an MP3 named .wav, decode as what they are.
func TestWrongExtension(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		file, as string
		format   Format
	}{
		{"wav_u8_mono_8k.wav", "song.mp3", WAV},
		{"flac_s16_stereo_44k.flac", "song.mp3", FLAC},
		{"aac_stereo_44k.m4a", "song.mp3", AAC},
		{"mp3_cbr_stereo_44k.mp3", "song.wav", MP3},
	} {
		data, err := os.ReadFile(fixtures + c.file)
		if err != nil {
			t.Fatal(err)
		}
		renamed := filepath.Join(dir, c.as)
		if err := os.WriteFile(renamed, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want, err := File(context.Background(), fixtures+c.file, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := File(context.Background(), renamed, Options{})
		if err != nil {
			t.Errorf("%s named %s: %v", c.file, c.as, err)
			continue
		}
		if a.Format != c.format || a.Frames() != want.Frames() {
			t.Errorf("%s named %s: decoded as %s with %d frames, want %s with %d", c.file, c.as, a.Format, a.Frames(), c.format, want.Frames())
		}
	}
	// The fixture made for this by make.sh.
	a, err := File(context.Background(), fixtures+"bad_is_wav.mp3", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Format != WAV || a.Frames() != 4000 {
		t.Errorf("bad_is_wav.mp3: decoded as %s with %d frames, want wav with 4000", a.Format, a.Frames())
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		file string
		err  error
		says string
	}{
		{"bad_empty.wav", ErrEmpty, "empty"},
		{"bad_html.mp3", ErrUnsupported, "first bytes 3c 68 74 6d"},
		{"bad_garbage.bin", ErrUnsupported, "unknown format"},
		{"bad_vorbis.ogg", ErrUnsupported, "Ogg"},
		{"bad_ulaw.caf", ErrUnsupported, "CAF holding µ-law"},
		// Valid since FLAC 1.4, but beyond mewkiz/flac: not damage.
		{"bad_s32_mono_8k.flac", ErrUnsupported, "FLAC with 32 bits per sample"},
		{"bad_fragmented.m4a", ErrUnsupported, "fragmented MP4"},
		{"bad_truncated.mp3", ErrCorrupt, "the MP3 frame at byte"},
		{"bad_truncated.flac", ErrCorrupt, "corrupt or truncated: the FLAC frame at sample"},
		{"bad_4gb.wav", ErrCorrupt, "the WAV data chunk claims"},
		{"bad_truncated.aiff", ErrCorrupt, "corrupt or truncated: the AIFF SSND chunk claims"},
		{"bad_ulaw.aifc", ErrUnsupported, "AIFF-C with µ-law compression"},
		{"does_not_exist.wav", os.ErrNotExist, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := File(context.Background(), fixtures+c.file, Options{})
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want one wrapping %v", err, c.err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.file) || !strings.Contains(msg, c.says) {
				t.Errorf("error %q should name the file and say %q", msg, c.says)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
				t.Errorf("allocated %d bytes for a bad file", n)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	wav, _ := os.ReadFile(fixtures + "wav_u8_mono_8k.wav")
	mp3, _ := os.ReadFile(fixtures + "mp3_tagged_mono_44k.mp3")
	cases := []struct {
		head []byte
		want Format
		err  error
		says string
	}{
		{wav[:64], WAV, nil, ""},
		{mp3, MP3, nil, ""},
		{[]byte("fLaC\x00\x00\x00\x22"), FLAC, nil, ""},
		{[]byte("\x00\x00\x00\x20ftypM4A "), AAC, nil, ""},
		{[]byte("OggS\x00\x02"), "", ErrUnsupported, "Ogg"},
		{[]byte("FORM\x00\x00\x00\x00AIFF"), AIFF, nil, ""},
		{[]byte("FORM\x00\x00\x00\x00AIFC"), AIFF, nil, ""},
		{[]byte("FORM\x00\x00\x00\x00ILBM"), "", ErrUnsupported, "unknown format"},
		{[]byte("<html>"), "", ErrUnsupported, "first bytes 3c 68 74 6d"},
		{[]byte{0xff, 0xfd, 0x90, 0x00}, "", ErrUnsupported, "layer II"},
		// MPEG-1 layer III, bitrate index 0, 44.1 kHz: lame --freeformat.
		{[]byte{0xff, 0xfb, 0x00, 0x44, 0x00, 0x00}, "", ErrUnsupported, "free-format MP3"},
		{nil, "", ErrEmpty, "empty"},
		{[]byte("ID3\x03\x00\x00\x00\x00\x00\x00"), "", ErrEmpty, "ID3"},
		// As ffmpeg writes them (-f w64, .wma, .ac3).
		{[]byte("riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb"), "", ErrUnsupported, "Wave64"},
		{[]byte("\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9"), "", ErrUnsupported, "WMA"},
		{[]byte("\x0b\x77\x4e\x0c\x14\x40"), "", ErrUnsupported, "AC-3"},
	}
	for _, c := range cases {
		got, err := Sniff(c.head)
		if got != c.want || !errors.Is(err, c.err) || err != nil && !strings.Contains(err.Error(), c.says) {
			t.Errorf("Sniff(% x…) = %q, %v; want %q, %v saying %q", c.head[:min(8, len(c.head))], got, err, c.want, c.err, c.says)
		}
	}
}

// TestMaxSeconds checks a cut decode gives exactly the start of the full
// decode, ceil(MaxSeconds × rate) frames of it, while SourceDuration still
// tells the whole length.
func TestMaxSeconds(t *testing.T) {
	for _, f := range []string{"wav_s16_stereo_44k.wav", "flac_s16_stereo_44k.flac", "mp3_cbr_stereo_44k.mp3",
		"mp3_mono_22k.mp3", "aac_stereo_44k.m4a", "aac_adts_mono_32k.aac",
		// Decoded at twice its core rate (implicit SBR): the cut is
		// counted at the rate the samples come out at, so 0.05 s is
		// 2205 samples at 44.1 kHz, not twice 1103 at 22.05 kHz.
		"aac_adts_lc_22k.noref.aac"} {
		full, err := File(context.Background(), fixtures+f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, secs := range []float64{0.1, 0.05} {
			cut, err := File(context.Background(), fixtures+f, Options{MaxSeconds: secs})
			if err != nil {
				t.Fatal(err)
			}
			want := int(math.Ceil(secs * float64(full.Rate)))
			if cut.Frames() != want || len(cut.Channels) != len(full.Channels) {
				t.Errorf("%s, %g s: %d frames × %d channels, want %d × %d", f, secs, cut.Frames(), len(cut.Channels), want, len(full.Channels))
				continue
			}
			for c := range cut.Channels {
				for i, v := range cut.Channels[c] {
					if v != full.Channels[c][i] {
						t.Fatalf("%s: channel %d sample %d is %g, full decode has %g", f, c, i, v, full.Channels[c][i])
					}
				}
			}
			if math.Abs(cut.SourceDuration-full.SourceDuration) > 0.03 {
				t.Errorf("%s: SourceDuration %.3f when cut, %.3f in full", f, cut.SourceDuration, full.SourceDuration)
			}
		}
	}
}

func TestMaxDuration(t *testing.T) {
	for _, f := range []string{"wav_s32_mono_16k.wav", "flac_s8_mono_8k.flac", "mp3_cbr_stereo_44k.mp3", "aac_stereo_44k.m4a", "aac_adts_mono_32k.aac"} {
		_, err := File(context.Background(), fixtures+f, Options{MaxDuration: 0.2})
		if !errors.Is(err, ErrTooLong) {
			t.Errorf("%s: error %v, want ErrTooLong", f, err)
		}
		// A cut decode does not need the whole song, so the limit does
		// not apply.
		if _, err := File(context.Background(), fixtures+f, Options{MaxDuration: 0.2, MaxSeconds: 0.1}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := File(ctx, fixtures+"flac_s16_stereo_44k.flac", Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestBytesEqualsFile(t *testing.T) {
	for _, f := range []string{"flac_id3_s16_stereo_22k.flac", "mp3_vbr_stereo_48k.mp3", "aac_stereo_44k.m4a"} {
		data, err := os.ReadFile(fixtures + f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Bytes(context.Background(), f, data, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := File(context.Background(), fixtures+f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		x, y := interleave(a.Channels), interleave(b.Channels)
		if len(x) != len(y) || a.Title != b.Title {
			t.Fatalf("%s: Bytes and File differ", f)
		}
		for i := range x {
			if x[i] != y[i] {
				t.Fatalf("%s: Bytes and File differ at %d", f, i)
			}
		}
	}
}

// fixtureFiles lists the fixtures (not references or the script), for
// seeding fuzz targets.
func fixtureFiles(tb testing.TB, pattern string) [][]byte {
	names, err := filepath.Glob(fixtures + pattern)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, n := range names {
		if strings.HasSuffix(n, ".ref") || strings.HasSuffix(n, ".sh") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestConcurrent decodes AAC (whose decoders share one WebAssembly
// instance) and the other formats from several goroutines at once; every
// result must equal the one decoded alone.
func TestConcurrent(t *testing.T) {
	files := []string{"aac_stereo_44k.m4a", "aac_adts_mono_32k.aac", "mp3_cbr_stereo_44k.mp3", "flac_s16_stereo_44k.flac"}
	want := make(map[string][]float32)
	for _, f := range files {
		a, err := File(context.Background(), fixtures+f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want[f] = interleave(a.Channels)
	}
	errs := make(chan error, 4*len(files))
	for range 4 {
		for _, f := range files {
			go func() {
				a, err := File(context.Background(), fixtures+f, Options{})
				if err == nil {
					got := interleave(a.Channels)
					if len(got) != len(want[f]) {
						err = errors.New(f + ": length differs when decoded concurrently")
					}
					for i := range min(len(got), len(want[f])) {
						if got[i] != want[f][i] {
							err = errors.New(f + ": samples differ when decoded concurrently")
							break
						}
					}
				}
				errs <- err
			}()
		}
	}
	for range 4 * len(files) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestWAVChunkWalk builds WAV files chunk by chunk: the walk skips chunks
// it does not read, pads odd sizes, and tells a missing fmt chunk
// (corrupt) from a missing data chunk (no audio).
func TestWAVChunkWalk(t *testing.T) {
	// Mono 16-bit PCM at 8 kHz.
	fmtChunk := wavChunk("fmt ", []byte{1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0})
	data := wavChunk("data", []byte{0x00, 0x40, 0x00, 0xc0}) // +0.5, -0.5
	odd := wavChunk("LIST", []byte("odd"))

	a, err := Bytes(context.Background(), "ok", riffWAV(odd, fmtChunk, odd, data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Rate != 8000 || len(a.Channels) != 1 || !slices.Equal(a.Channels[0], []float32{0.5, -0.5}) {
		t.Errorf("decoded rate %d, channels %v; want 8000 Hz, [[0.5 -0.5]]", a.Rate, a.Channels)
	}
	for _, c := range []struct {
		name string
		data []byte
		err  error
		says string
	}{
		{"no fmt", riffWAV(odd), ErrCorrupt, "no fmt chunk"},
		{"header only", riffWAV(), ErrCorrupt, "no fmt chunk"},
		{"no data", riffWAV(fmtChunk, odd), ErrEmpty, "no data chunk"},
		{"torn chunk header", append(riffWAV(fmtChunk), "dat"...), ErrEmpty, "no data chunk"},
		{"data before fmt", riffWAV(data, fmtChunk), ErrCorrupt, "before its fmt chunk"},
	} {
		_, err := Bytes(context.Background(), c.name, c.data, Options{})
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v saying %q", c.name, err, c.err, c.says)
		}
	}
}

// TestMakeRoom checks how channel slices grow past what was allocated up
// front: straight to the announced length in one step, and by append's
// own rule when the stream turns out longer.
func TestMakeRoom(t *testing.T) {
	ch := make([]float32, 8)
	// Room left: the same backing array comes back.
	roomy := make([]float32, 4, 16)
	if got := makeRoom(roomy, 12, 1000); &got[:1][0] != &roomy[:1][0] || cap(got) != 16 {
		t.Errorf("with room for 12 more, makeRoom reallocated (cap %d)", cap(got))
	}
	// Full, with 1000 announced: one allocation that holds them all, not a
	// doubling (16) or a quarter step (10).
	got := makeRoom(ch, 4, 1000)
	if cap(got) < 1000 || cap(got) > 1100 {
		t.Errorf("full at 8 of 1000 announced: cap %d, want about 1000", cap(got))
	}
	if len(got) != 8 || got[7] != ch[7] {
		t.Errorf("makeRoom lost samples: len %d", len(got))
	}
	// Past the announced length (a header that under-claims), there is
	// still room for what is added.
	over := makeRoom(make([]float32, 1000), 64, 1000)
	if cap(over)-len(over) < 64 {
		t.Errorf("past the announced length: room for %d, want 64", cap(over)-len(over))
	}
	// Nothing announced (0) or a negative claim: plain growth.
	if got := makeRoom(ch, 3, 0); cap(got)-len(got) < 3 {
		t.Errorf("nothing announced: room for %d, want 3", cap(got)-len(got))
	}
}

// TestWAVStreamingDataSize checks the data sizes a writer leaves when it
// cannot seek back to fill them in, 0 and 0xFFFFFFFF: both mean the
// samples run to the end of the file, as ffmpeg reads them.
func TestWAVStreamingDataSize(t *testing.T) {
	for _, size := range []uint32{0, 0xffffffff} {
		b := []byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00")
		// Mono 16-bit PCM at 8 kHz.
		b = append(b, 1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0)
		b = binary.LittleEndian.AppendUint32(append(b, "data"...), size)
		b = append(b, 0x00, 0x40, 0x00, 0xc0, 0x00, 0x20) // +0.5, -0.5, +0.25
		a, err := Bytes(context.Background(), "stream.wav", b, Options{})
		if err != nil {
			t.Errorf("data size %#x: %v", size, err)
			continue
		}
		if want := []float32{0.5, -0.5, 0.25}; len(a.Channels) != 1 || !slices.Equal(a.Channels[0], want) {
			t.Errorf("data size %#x: decoded %v, want [%v]", size, a.Channels, want)
		}
	}
}

// TestAACChannelOrder checks surround AAC comes out in the WAVE order
// (L R C LFE, then the surround pairs) that ffmpeg gives and loudness
// weighting expects: each channel must match the same channel of
// ffmpeg's decode, not another one.
func TestAACChannelOrder(t *testing.T) {
	for _, c := range []struct {
		file string
		ch   int
	}{{"aac_51_48k.m4a", 6}, {"aac_71_48k.m4a", 8}} {
		a, err := File(context.Background(), fixtures+c.file, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if len(a.Channels) != c.ch {
			t.Errorf("%s: %d channels, want %d", c.file, len(a.Channels), c.ch)
			continue
		}
		ref := readRef(t, c.file, true)
		for i, got := range a.Channels {
			// The channel alone, interleaved as one channel, against
			// ffmpeg's channel i.
			var want []float32
			for j := i; j < len(ref); j += c.ch {
				want = append(want, ref[j])
			}
			if snr := snrAt(got, want, 1, 0); snr < 40 {
				t.Errorf("%s: channel %d matches ffmpeg's channel %d at only %.1f dB", c.file, i, i, snr)
			}
		}
	}
}

// TestMP3JunkAfterFrames checks bytes after the last frame that are not a
// tag the decoder knows (an ID3v2 tag appended with a picture, say) add
// nothing, even when they hold what looks like a frame header: a lone
// sync word found while skipping junk is no frame.
func TestMP3JunkAfterFrames(t *testing.T) {
	clean, want := decodeFixture(t, "mp3_cbr_stereo_44k.mp3")
	// An MPEG-1 layer III header of the stream's kind (128 kbit/s,
	// 44.1 kHz): a 417-byte frame.
	fake := []byte{0xff, 0xfb, 0x90, 0x64}
	for _, c := range []struct {
		name string
		tail []byte
	}{
		{"fits", slices.Concat([]byte("3DI junk"), fake, make([]byte, 600))},
		{"runs past the end", slices.Concat([]byte("3DI junk"), fake, make([]byte, 100))},
	} {
		a, err := Bytes(context.Background(), c.name, slices.Concat(clean, c.tail), Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Frames() != want.Frames() || a.SourceDuration != want.SourceDuration {
			t.Errorf("%s: %d frames, %.4f s; without the junk %d frames, %.4f s", c.name, a.Frames(), a.SourceDuration, want.Frames(), want.SourceDuration)
		}
	}
}

// mp3Frames returns where the MPEG frames of an MP3 fixture start, its
// header frame (if any) first, and where the last ends: a file cut at one
// of the starts ends exactly between two frames.
func mp3Frames(t *testing.T, b []byte) ([]int, int) {
	t.Helper()
	off := 0
	if len(b) >= 10 && string(b[:3]) == "ID3" {
		off = 10 + (int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9]))
	}
	var starts []int
	for {
		h, ok := parseMPEGHeader(b[off:])
		if !ok || off+h.size() > len(b) {
			break
		}
		starts = append(starts, off)
		off += h.size()
	}
	if len(starts) < 10 {
		t.Fatalf("%d frames found; the fixture has more", len(starts))
	}
	return starts, off
}

// id3v1 is an ID3v1 tag, as taggers append it after the last frame.
var id3v1 = slices.Concat([]byte("TAGA Title"), make([]byte, 128-10))

// TestMP3CutBetweenFrames checks an MP3 cut exactly between two frames,
// which no frame header shows, is reported truncated when its Xing/Info
// header says how many frames the encoder wrote, but not when it is
// short by no more than encoders disagree by, nor because of a tag after
// its frames, nor because MaxSeconds stopped the decode early.
func TestMP3CutBetweenFrames(t *testing.T) {
	for _, f := range []string{"mp3_cbr_stereo_44k.mp3", "mp3_vbr_stereo_48k.mp3", "mp3_tagged_mono_44k.mp3"} {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(fixtures + f)
			if err != nil {
				t.Fatal(err)
			}
			starts, end := mp3Frames(t, b)
			tail := b[end:] // the tagged fixture's ID3v1 tag
			n := len(starts) - 1
			says := fmt.Sprintf("header says %d frames, the file holds", n)
			cut := func(k int) []byte { return slices.Concat(b[:starts[k]], tail) }
			cases := []struct {
				name      string
				data      []byte
				opts      Options
				truncated bool
			}{
				{"whole", b, Options{}, false},
				{"whole, first 0.05 s", b, Options{MaxSeconds: 0.05}, false},
				{"whole, then an ID3v1 tag", slices.Concat(b, id3v1), Options{}, false},
				// Within the slack for encoders that count a frame or two
				// differently.
				{"two frames short", cut(n - 1), Options{}, false},
				{"three frames short", cut(n - 2), Options{}, true},
				{"cut in half", cut(n / 2), Options{}, true},
				{"cut in half, then an ID3v1 tag", slices.Concat(cut(n/2), id3v1), Options{}, true},
				// The file holds fewer frames than its header says,
				// however little of it is decoded.
				{"cut in half, first 0.05 s", cut(n / 2), Options{MaxSeconds: 0.05}, true},
			}
			for _, c := range cases {
				name := c.name + " " + f
				a, err := Bytes(context.Background(), name, c.data, c.opts)
				if !c.truncated {
					if err != nil {
						t.Errorf("%s: %v", c.name, err)
					} else if c.opts.MaxSeconds == 0 && a.Frames() == 0 {
						t.Errorf("%s: no samples", c.name)
					}
					continue
				}
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) ||
					!strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), says) {
					t.Errorf("%s: %v, want ErrCorrupt naming the input and saying truncated, %q", c.name, err, says)
				}
			}
		})
	}
}

// TestMP3CutWithoutHeader checks an MP3 without a Xing/Info or VBRI
// header, cut between two frames, decodes to the shorter song it holds:
// nothing in it says how long it was.
func TestMP3CutWithoutHeader(t *testing.T) {
	mono, err := os.ReadFile(fixtures + "mp3_mono_22k.mp3")
	if err != nil {
		t.Fatal(err)
	}
	cbr, err := os.ReadFile(fixtures + "mp3_cbr_stereo_44k.mp3")
	if err != nil {
		t.Fatal(err)
	}
	cbrStarts, _ := mp3Frames(t, cbr)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"mp3_mono_22k.mp3", mono},
		// The Info frame taken out.
		{"mp3_cbr_stereo_44k.mp3 without Info", slices.Concat(cbr[:cbrStarts[0]], cbr[cbrStarts[1]:])},
	} {
		if bytes.Contains(c.data[:512], []byte("Info")) || bytes.Contains(c.data[:512], []byte("Xing")) {
			t.Fatalf("%s has a Xing/Info header", c.name)
		}
		whole, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		starts, _ := mp3Frames(t, c.data)
		half, err := Bytes(context.Background(), c.name+" cut in half", c.data[:starts[len(starts)/2]], Options{})
		if err != nil {
			t.Errorf("%s cut in half: %v", c.name, err)
			continue
		}
		if half.Frames() >= whole.Frames() {
			t.Errorf("%s cut in half: %d frames, the whole file %d", c.name, half.Frames(), whole.Frames())
		}
	}
}

// TestMP3HeaderClaims checks the counts of a Xing header with only a byte
// count, of a VBRI header, and of a Xing header claiming more frames than
// any file holds: each is compared with what the file holds.
func TestMP3HeaderClaims(t *testing.T) {
	b, err := os.ReadFile(fixtures + "mp3_cbr_stereo_44k.mp3")
	if err != nil {
		t.Fatal(err)
	}
	starts, end := mp3Frames(t, b)
	n := len(starts) - 1
	be := binary.BigEndian
	x := bytes.Index(b, []byte("Info")) // then flags, frames, bytes, TOC, quality, LAME
	if x < 0 || be.Uint32(b[x+4:]) != 15 || be.Uint32(b[x+8:]) != uint32(n) {
		t.Fatalf("the fixture's Info header is not as expected: % x", b[x:x+16])
	}
	// Only a byte count: the flags without frames, and the rest of the
	// frame moved up over the frame count, so the frame keeps its size.
	bytesOnly := slices.Concat(b[:x+4], be.AppendUint32(nil, 14), b[x+12:starts[1]], make([]byte, 4), b[starts[1]:])
	// A VBRI header frame: the Info frame's header, zeros, and at byte 36
	// "VBRI", version 1, delay, quality, then bytes and frames.
	vbri := slices.Clone(b)
	clear(vbri[starts[0]+4 : starts[1]])
	v := slices.Concat([]byte("VBRI"), []byte{0, 1, 0, 0, 0, 75}, be.AppendUint32(nil, uint32(end-starts[0])), be.AppendUint32(nil, uint32(n)))
	copy(vbri[starts[0]+36:], v)
	huge := slices.Clone(b)
	be.PutUint32(huge[x+8:], 0xffffffff)

	for _, c := range []struct {
		name string
		data []byte
		says string // "" when the file is whole
	}{
		{"bytes only, whole", bytesOnly, ""},
		{"bytes only, cut in half", bytesOnly[:starts[n/2]], "Info header says 10448 bytes of frames, the file holds"},
		{"VBRI, whole", vbri, ""},
		{"VBRI, cut in half", vbri[:starts[n/2]], fmt.Sprintf("VBRI header says %d frames, the file holds %d", n, n/2-1)},
		{"four billion frames", huge, fmt.Sprintf("Info header says 4294967295 frames, the file holds %d", n)},
	} {
		_, err := Bytes(context.Background(), c.name, c.data, Options{})
		if c.says == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), "corrupt or truncated: the MP3's "+c.says) {
			t.Errorf("%s: %v, want ErrCorrupt naming the input and saying %q", c.name, err, c.says)
		}
	}
}

// TestFLACPictureClaim checks a FLAC PICTURE block whose data length
// claims 4 GB, in a file of a few kilobytes, costs no more than the file:
// the tag reader allocates the claimed length up front, so such a block
// is not handed to it. The audio still decodes.
func TestFLACPictureClaim(t *testing.T) {
	clean, err := os.ReadFile(fixtures + "flac_s8_mono_8k.flac")
	if err != nil {
		t.Fatal(err)
	}
	// fLaC, then STREAMINFO (4-byte header, 34 bytes), which stays first;
	// the picture block goes after it.
	si := slices.Clone(clean[4 : 4+4+34])
	si[0] &^= 0x80                               // no longer the last block, if it was
	pic := binary.BigEndian.AppendUint32(nil, 3) // front cover
	pic = binary.BigEndian.AppendUint32(pic, 9)
	pic = append(pic, "image/png"...)
	pic = binary.BigEndian.AppendUint32(pic, 0) // no description
	pic = append(pic, make([]byte, 16)...)
	pic = binary.BigEndian.AppendUint32(pic, 0xfffffff0)
	pic = append(pic, "\x89PNG"...)
	hdr := []byte{6, 0, byte(len(pic) >> 8), byte(len(pic))}
	data := slices.Concat([]byte("fLaC"), si, hdr, pic, clean[4+4+34:])

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a, err := Bytes(context.Background(), "picture.flac", data, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if a.Frames() != 4000 {
		t.Errorf("%d frames, want 4000", a.Frames())
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("allocated %d MB for a %d-byte file", n>>20, len(data))
	}
}

// TestPreallocBoundedByData checks that what a stream announces buys no
// more memory up front than a small multiple of its bytes: here 100 KB
// of 8-byte ADTS frames, each announcing 1024 samples of 7.1, whose
// payloads the decoder rejects. Taking the frames' word for their
// samples made this cost over 400 MB before the first frame failed.
func TestPreallocBoundedByData(t *testing.T) {
	// ADTS header: MPEG-4, no CRC, AAC-LC at 48 kHz, channel
	// configuration 7, frame length 8, buffer fullness 0x7ff, one raw
	// data block; then a payload byte that is no AAC.
	frame := []byte{0xff, 0xf1, 1<<6 | 3<<2 | 1, 3 << 6, 8 >> 3, 0x1f, 0xfc, 0x00}
	data := bytes.Repeat(frame, 12800)
	// go-faad2 builds its WebAssembly runtime, tens of MB, on first use:
	// built here first, it is not counted against the frames below (run
	// alone, this test would otherwise fail).
	decodeFixture(t, "aac_adts_mono_32k.aac")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Bytes(context.Background(), "tiny-frames.aac", data, Options{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "tiny-frames.aac") {
		t.Errorf("error %v, want ErrCorrupt naming the input", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("allocated %d MB for %d KB of frames that do not decode", n>>20, len(data)>>10)
	}
}

// TestID3BeforeAudio checks an ID3v2 tag put before any format (taggers
// write one to whatever file they are given) changes nothing: the audio
// after it decodes as it does without the tag. An MP4 file's sample
// offsets count from the start of the MP4 data, not of the file.
func TestID3BeforeAudio(t *testing.T) {
	// ID3v2.4 header, 128 bytes of padding.
	id3 := append([]byte{'I', 'D', '3', 4, 0, 0, 0, 0, 1, 0}, make([]byte, 128)...)
	for _, f := range []string{"wav_u8_mono_8k.wav", "flac_s8_mono_8k.flac", "mp3_cbr_stereo_44k.mp3",
		"aac_stereo_44k.m4a", "aac_adts_mono_32k.aac"} {
		clean, err := os.ReadFile(fixtures + f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Bytes(context.Background(), f, clean, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := Bytes(context.Background(), "tagged "+f, slices.Concat(id3, clean), Options{})
		if err != nil {
			t.Errorf("%s after an ID3 tag: %v", f, err)
			continue
		}
		if got.Format != want.Format || !slices.Equal(interleave(got.Channels), interleave(want.Channels)) {
			t.Errorf("%s after an ID3 tag: %s, %d frames; without the tag %s, %d frames, or the samples differ",
				f, got.Format, got.Frames(), want.Format, want.Frames())
		}
	}
}

// TestHeaderClaims checks headers that claim what the data cannot back,
// or that no audio has (no channels, a rate of 0 Hz or of gigahertz, two
// hours in a file of a second): each gives its own error, from the
// header, before any sample is decoded, and costs little memory.
func TestHeaderClaims(t *testing.T) {
	// wav builds a WAV file whose fmt chunk says channels, rate and bits
	// of PCM, followed by data.
	wav := func(channels uint16, rate uint32, bits uint16, data []byte) []byte {
		le := binary.LittleEndian
		b := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00")
		b = le.AppendUint16(b, channels)
		b = le.AppendUint32(b, rate)
		b = le.AppendUint32(b, rate*uint32(channels)*uint32(bits/8))
		b = le.AppendUint16(b, channels*(bits/8))
		b = le.AppendUint16(b, bits)
		b = le.AppendUint32(append(b, "data"...), uint32(len(data)))
		b = append(b, data...)
		le.PutUint32(b[4:], uint32(len(b)-8))
		return b
	}
	// flacInfo returns the FLAC fixture with its STREAMINFO rate and
	// total samples replaced.
	flacFile, err := os.ReadFile(fixtures + "flac_s8_mono_8k.flac")
	if err != nil {
		t.Fatal(err)
	}
	flacInfo := func(rate uint32, samples uint64) []byte {
		b := slices.Clone(flacFile)
		// fLaC, the block header, then 10 bytes of block and frame sizes
		// before 20 bits of rate, 3 of channels, 5 of bits and 36 of
		// samples.
		p := 4 + 4 + 10
		v := binary.BigEndian.Uint64(b[p:])
		v = v&^(0xfffff<<44|1<<36-1) | uint64(rate)<<44 | samples&(1<<36-1)
		binary.BigEndian.PutUint64(b[p:], v)
		return b
	}
	// m4aLength returns the M4A fixture with every sample's duration in
	// its time-to-sample table set to delta, and its edit list, which
	// would cut the length back, lengthened to match.
	m4aFile, err := os.ReadFile(fixtures + "aac_stereo_44k.m4a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Bytes(context.Background(), "m4a", m4aFile, Options{}); err != nil {
		t.Fatal(err) // and the AAC decoder's first use, which compiles it, is out of the way
	}
	m4aLength := func(delta uint32) []byte {
		b := slices.Clone(m4aFile)
		be := binary.BigEndian
		p := bytes.Index(b, []byte("stts")) + 4 // version and flags, entry count, entries
		for i := range int(be.Uint32(b[p+4:])) {
			be.PutUint32(b[p+8+8*i+4:], delta)
		}
		p = bytes.Index(b, []byte("elst")) + 4 // version 0: 32-bit segment durations
		for i := range int(be.Uint32(b[p+4:])) {
			be.PutUint32(b[p+8+12*i:], 0xffffffff)
		}
		return b
	}
	hour := Options{MaxDuration: 3600}
	const outside = ", outside the 1000–768000 Hz songflow analyses"
	cases := []struct {
		name string
		data []byte
		opts Options
		err  error
		says string
	}{
		{"wav no channels", wav(0, 8000, 16, make([]byte, 100)), Options{}, ErrCorrupt, "0 channels"},
		{"wav 0 Hz", wav(1, 0, 16, make([]byte, 100)), Options{}, ErrCorrupt, "sample rate 0 Hz" + outside},
		{"wav 4 GHz", wav(1, 0xffffffff, 16, make([]byte, 100)), Options{}, ErrCorrupt, "sample rate 4294967295 Hz" + outside},
		// A second of 44.1 kHz whose header says 1 Hz: the rate is what
		// is wrong, not the 44100 s the file would last at it.
		{"wav 1 Hz", wav(1, 1, 16, make([]byte, 2*44100)), hour, ErrUnsupported, "WAV sample rate 1 Hz" + outside},
		{"wav 999 Hz", wav(1, 999, 16, make([]byte, 2*44100)), hour, ErrUnsupported, "WAV sample rate 999 Hz" + outside},
		{"wav 768001 Hz", wav(1, 768001, 16, make([]byte, 100)), hour, ErrCorrupt, "WAV sample rate 768001 Hz" + outside},
		{"wav 0 bits", wav(1, 8000, 0, make([]byte, 100)), Options{}, ErrUnsupported, "0 bits"},
		// 65535 channels of 16 bits: 4 bytes are not one frame.
		{"wav 65535 channels", wav(65535, 8000, 16, make([]byte, 4)), Options{}, ErrEmpty, "no samples"},
		{"flac 0 Hz", flacInfo(0, 4000), Options{}, ErrCorrupt, "FLAC sample rate 0 Hz" + outside},
		// 4000 samples at 1 Hz would be 4000 s, past the hour.
		{"flac 1 Hz", flacInfo(1, 4000), hour, ErrUnsupported, "FLAC sample rate 1 Hz" + outside},
		{"flac 800 kHz", flacInfo(800000, 4000), hour, ErrCorrupt, "FLAC sample rate 800000 Hz" + outside},
		// Two hours at 8 kHz in an 11 KB file: too long by its header,
		// and when no limit applies, short of what it claims.
		{"flac 2 h", flacInfo(8000, 2*3600*8000), hour, ErrTooLong, "7200 s, the limit is 3600 s"},
		{"flac 2 h, no limit", flacInfo(8000, 2*3600*8000), Options{}, ErrCorrupt, "stream info says 57600000 samples, the file holds 4000"},
		// 27 samples of 2^31 units of 1/44100 s each: 15 days.
		{"m4a 2 weeks", m4aLength(1 << 31), hour, ErrTooLong, "the limit is 3600 s"},
	}
	for _, c := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Bytes(context.Background(), c.name, c.data, c.opts)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v naming the input and saying %q", c.name, err, c.err, c.says)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
			t.Errorf("%s: allocated %d MB", c.name, n>>20)
		}
	}
}

// TestTwoHourWAV checks a two-hour file is refused by its header when the
// limit is an hour, without reading its samples (the file is sparse: its
// 58 MB cost no disk, and reading them would show in the allocations).
func TestTwoHourWAV(t *testing.T) {
	const rate, seconds = 8000, 2 * 3600
	path := filepath.Join(t.TempDir(), "two-hours.wav")
	if err := audiotest.SparseWAV(path, rate, seconds); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := File(context.Background(), path, Options{MaxDuration: 3600})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "two-hours.wav") || !strings.Contains(err.Error(), "7200 s") {
		t.Errorf("error %v, want ErrTooLong naming the file and its 7200 s", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("allocated %d KB to refuse it", n>>10)
	}
	// Its first second is still there to analyse.
	a, err := File(context.Background(), path, Options{MaxDuration: 3600, MaxSeconds: 1})
	if err != nil || a.Frames() != rate || math.Abs(a.SourceDuration-seconds) > 1e-9 {
		t.Errorf("first second: %v; want %d frames of a %d s song", err, rate, seconds)
	}
}

// TestAACObjectTypeNotDecoded checks AAC of an object type the decoder
// does not implement is called unsupported, saying which, not corrupt:
// an ADTS stream of the SSR profile, and MP4 configurations of xHE-AAC
// (USAC) and AAC-ELD, as a phone or a streaming service may write them.
func TestAACObjectTypeNotDecoded(t *testing.T) {
	clean, err := os.ReadFile(fixtures + "aac_adts_mono_32k.aac")
	if err != nil {
		t.Fatal(err)
	}
	ssr := slices.Clone(clean)
	for i := 0; i+7 <= len(ssr); {
		h, ok := parseADTS(ssr[i:])
		if !ok {
			t.Fatalf("no ADTS frame at byte %d", i)
		}
		ssr[i+2] = ssr[i+2]&0x3f | 2<<6 // profile 2: object type 3, SSR
		i += h.length
	}
	_, err = Bytes(context.Background(), "ssr.aac", ssr, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "ssr.aac") || !strings.Contains(err.Error(), "SSR") {
		t.Errorf("SSR stream: %v, want ErrUnsupported naming the file and SSR", err)
	}
	for _, c := range []struct {
		asc  []byte
		says string
	}{
		// Object type 31 escapes to 32 + 6 bits: 42, USAC, at 48 kHz
		// (index 3), stereo, then the start of its UsacConfig.
		{[]byte{0xf9, 0x46, 0x40, 0x00}, "USAC"},
		// 39, ER AAC ELD, at 48 kHz, stereo.
		{[]byte{0xf8, 0xe6, 0x40, 0x00}, "ELD"},
	} {
		_, err := newAACDecoder(c.asc)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("config % x: %v, want ErrUnsupported saying %s", c.asc, err, c.says)
		}
	}
	// Damage stays damage: object type 0 is no object type.
	if _, err := newAACDecoder([]byte{0x00, 0x00}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("config 00 00: %v, want ErrCorrupt", err)
	}
}

// padded is an io.ReaderAt of head followed, up to size, by the bytes
// fill gives for each offset, made as they are read, so a test can hand a
// decoder a gigabyte without holding it.
type padded struct {
	head []byte
	size int64
	fill func(off int64) byte
}

func (r padded) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.size-off))
	for i := range n {
		if o := off + int64(i); o < int64(len(r.head)) {
			p[i] = r.head[o]
		} else {
			p[i] = r.fill(o)
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// junk is pseudo-random filler for padded; zeros is zero filler.
func junk(off int64) byte { return byte(uint64(off) * 0x9e3779b97f4a7c15 >> 56) }
func zeros(int64) byte    { return 0 }

// TestJunkHeedsContext checks a stream followed by a gigabyte of junk
// (an upload of garbage behind a few real frames) stops promptly when its
// context ends: the frame scan skipping the junk byte by byte looks at
// the context as often as the decoding does, not once per thousand frames
// found, which never came.
func TestJunkHeedsContext(t *testing.T) {
	for _, f := range []string{"mp3_cbr_stereo_44k.mp3", "aac_adts_mono_32k.aac"} {
		head, err := os.ReadFile(fixtures + f)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		done := make(chan error, 1)
		go func() {
			_, err := decode(ctx, padded{head, 1 << 30, junk}, 1<<30, Options{})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s and junk: %v, want context.DeadlineExceeded", f, err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("%s and junk: still scanning 2 s after the context ended", f)
		}
		cancel()
	}
}

// countReads is an io.ReaderAt that counts the reads made of it.
type countReads struct {
	r     io.ReaderAt
	reads int
}

func (c *countReads) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

// TestZeroFilled checks files whose header is followed by zeros (a
// recorder that reserved the space and crashed, a download whose pieces
// never came) are refused at little cost, though each 8 or 4 zero bytes
// read as an empty chunk or metadata block: 64 MB of them cost a read of
// the file per chunk, or a call of the FLAC library per block, seconds
// in all, deaf to the context.
func TestZeroFilled(t *testing.T) {
	flac, err := os.ReadFile(fixtures + "flac_s8_mono_8k.flac")
	if err != nil {
		t.Fatal(err)
	}
	// fLaC and the STREAMINFO block, marked as not the last.
	flacHead := slices.Concat(flac[:4], []byte{flac[4] &^ 0x80}, flac[5:4+4+34])
	for _, c := range []struct {
		name string
		head []byte
		err  error
		says string
	}{
		{"zeros.wav", []byte("RIFF\x00\x00\x00\x00WAVE"), ErrCorrupt, "no fmt chunk"},
		// Zeros read as a STREAMINFO block, which comes once.
		{"zeros.flac", flacHead, ErrCorrupt, "second STREAMINFO"},
	} {
		r := &countReads{r: padded{c.head, 64 << 20, zeros}}
		_, err := named(c.name)(decode(context.Background(), r, 64<<20, Options{}))
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v naming the file and saying %q", c.name, err, c.err, c.says)
		}
		// 64 MB in reads of 64 KB: 1024.
		if r.reads > 2000 {
			t.Errorf("%s: %d reads of the file to refuse it", c.name, r.reads)
		}
	}
}

// TestFLACManyBlocks checks a FLAC file with two million empty PADDING
// blocks (valid, if made up: 8 MB of them) decodes at little cost. Each
// block cost the decoding library a call and the tag reader a read of the
// file, seconds in all, deaf to any deadline; the tags of a file with
// more blocks than any real one are no longer read.
func TestFLACManyBlocks(t *testing.T) {
	clean, err := os.ReadFile(fixtures + "flac_s8_mono_8k.flac")
	if err != nil {
		t.Fatal(err)
	}
	// fLaC, STREAMINFO (not the last block), the padding, then the
	// fixture's other blocks and frames.
	si := slices.Clone(clean[4 : 4+4+34])
	si[0] &^= 0x80
	data := slices.Concat(clean[:4], si, bytes.Repeat([]byte{1, 0, 0, 0}, 2<<20), clean[4+4+34:])
	r := &countReads{r: bytes.NewReader(data)}
	a, err := decode(context.Background(), r, int64(len(data)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Frames() != 4000 {
		t.Errorf("%d frames, want 4000", a.Frames())
	}
	// 8 MB in reads of 64 KB: 128, for the blocks and again for the tags.
	if r.reads > 1000 {
		t.Errorf("%d reads of an %d MB file", r.reads, len(data)>>20)
	}
}

// TestM4AManyBoxes checks an M4A file with a million empty free boxes
// (valid, if made up: 8 MB of them) between its media data and its movie
// box decodes at little cost: the box walk and the tag reader each took a
// read of the file per box, deaf to any deadline.
func TestM4AManyBoxes(t *testing.T) {
	clean, want := decodeFixture(t, "aac_stereo_44k.m4a")
	// The movie box comes last; boxes before it shift no sample.
	moov := bytes.Index(clean, []byte("moov")) - 4
	data := slices.Concat(clean[:moov], bytes.Repeat([]byte("\x00\x00\x00\x08free"), 1<<20), clean[moov:])
	r := &countReads{r: bytes.NewReader(data)}
	a, err := decode(context.Background(), r, int64(len(data)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Frames() != want.Frames() || a.Title != want.Title {
		t.Errorf("%d frames, title %q; without the boxes %d, %q", a.Frames(), a.Title, want.Frames(), want.Title)
	}
	// 8 MB in reads of 64 KB: 128, for the boxes and again for the tags;
	// and one per AAC frame.
	if r.reads > 1000 {
		t.Errorf("%d reads of an %d MB file", r.reads, len(data)>>20)
	}
}

// TestFLACTrailingData checks what taggers and tools append after a FLAC
// stream's last frame, an ID3v1 or APEv2 tag or zeros, is not taken for a
// damaged frame: the song decodes as it does without it, as in ffmpeg,
// also when STREAMINFO does not say how many samples there are.
func TestFLACTrailingData(t *testing.T) {
	clean, want := decodeFixture(t, "flac_s8_mono_8k.flac")
	// The total samples, the last 36 bits of STREAMINFO's first 18
	// bytes, set to 0: unknown, as a stream written to a pipe says.
	unknown := slices.Clone(clean)
	p := 4 + 4 + 10
	binary.BigEndian.PutUint64(unknown[p:], binary.BigEndian.Uint64(unknown[p:])&^(1<<36-1))
	// An APEv2 tag: one item, between its header and footer.
	item := slices.Concat(binary.LittleEndian.AppendUint32(nil, 4), make([]byte, 4), []byte("Title\x00Song"))
	ape := func(flags uint32) []byte {
		b := []byte("APETAGEX")
		for _, v := range []uint32{2000, uint32(len(item) + 32), 1, flags} {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
		return append(b, make([]byte, 8)...)
	}
	apeTag := slices.Concat(ape(1<<31|1<<29), item, ape(1<<31))
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"ID3v1", slices.Concat(clean, id3v1)},
		{"APEv2", slices.Concat(clean, apeTag)},
		{"APEv2 and ID3v1", slices.Concat(clean, apeTag, id3v1)},
		{"zeros", slices.Concat(clean, make([]byte, 100))},
		{"ID3v1, length unknown", slices.Concat(unknown, id3v1)},
	} {
		a, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Errorf("%s after the frames: %v", c.name, err)
			continue
		}
		if !slices.Equal(interleave(a.Channels), interleave(want.Channels)) || a.SourceDuration != want.SourceDuration {
			t.Errorf("%s after the frames: %d frames, %.4f s; without it %d frames, %.4f s, or the samples differ",
				c.name, a.Frames(), a.SourceDuration, want.Frames(), want.SourceDuration)
		}
	}
	// Damage after the frames is still damage when STREAMINFO does not
	// say the song is complete without it.
	_, err := Bytes(context.Background(), "zeros, length unknown", slices.Concat(unknown, make([]byte, 100)), Options{})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("zeros after a stream of unknown length: %v, want ErrCorrupt", err)
	}
}

// TestM4ATimescale checks an M4A file whose audio track is timed in units
// other than its samples (here half-samples: 88200 per second for
// 44.1 kHz audio, as a track timed at 90 kHz is) decodes to the same
// samples: the priming its edit list skips, 2048 units here, is the same
// 1024 samples, which the decoder already holds back. Taking them for
// 2048 samples cut 512 more from the start than the encoder put there.
func TestM4ATimescale(t *testing.T) {
	clean, want := decodeFixture(t, "aac_stereo_44k.m4a")
	b := slices.Clone(clean)
	be := binary.BigEndian
	double := func(p int) { be.PutUint32(b[p:], 2*be.Uint32(b[p:])) }
	// Version 0 boxes: after the version and flags, mdhd has creation and
	// modification times, then the timescale and duration; stts and elst
	// have an entry count, then entries of a count and a duration, or of
	// a duration (in the movie's timescale, which stays) and a media time.
	p := bytes.Index(b, []byte("mdhd")) + 4
	double(p + 12)
	double(p + 16)
	p = bytes.Index(b, []byte("stts")) + 4
	for i := range int(be.Uint32(b[p+4:])) {
		double(p + 8 + 8*i + 4)
	}
	p = bytes.Index(b, []byte("elst")) + 4
	for i := range int(be.Uint32(b[p+4:])) {
		if int32(be.Uint32(b[p+8+12*i+4:])) > 0 {
			double(p + 8 + 12*i + 4)
		}
	}
	for _, opts := range []Options{{}, {MaxSeconds: 0.1}} {
		a, err := Bytes(context.Background(), "half-samples.m4a", b, opts)
		if err != nil {
			t.Fatal(err)
		}
		w := want.Channels[0][:min(len(want.Channels[0]), a.Frames())]
		if a.Rate != want.Rate || !slices.Equal(a.Channels[0], w) || math.Abs(a.SourceDuration-want.SourceDuration) > 1e-9 {
			lag := 0
			for l := range 2048 {
				if slices.Equal(a.Channels[0][:4096], want.Channels[0][l:l+4096]) {
					lag = l
				}
			}
			t.Errorf("%+v: %d Hz, %d frames, %.4f s, starting %d samples in; timed in samples %d Hz, %d frames, %.4f s",
				opts, a.Rate, a.Frames(), a.SourceDuration, lag, want.Rate, want.Frames(), want.SourceDuration)
		}
	}
}

// TestMP3RepackedFromMidStream checks the MPEG-2 repacking (lsfRepacker)
// of a stream that starts at a frame whose data begins in frames that are
// not there, as a stream cut or resumed after junk does: that frame is
// silent, and from the first frame that has all its data on, the samples
// are those of the whole stream's decode.
func TestMP3RepackedFromMidStream(t *testing.T) {
	b, whole := decodeFixture(t, "mp3_cbr32_mono_22k.mp3")
	starts, _ := mp3Frames(t, b)
	// A frame past the fade-in whose main_data_begin, the first byte of
	// its side information, reaches back into the frames before it.
	k := len(starts) / 2
	for ; k < len(starts) && b[starts[k]+4] == 0; k++ {
	}
	if k == len(starts) {
		t.Fatal("no frame draws on the bit reservoir")
	}
	cut, err := Bytes(context.Background(), "cut.mp3", b[starts[k]:], Options{})
	if err != nil {
		t.Fatal(err)
	}
	const spf = 576
	if want := (len(starts) - k) * spf; cut.Frames() != want {
		t.Fatalf("%d samples from the last %d frames, want %d", cut.Frames(), len(starts)-k, want)
	}
	for i, v := range cut.Channels[0][:spf] {
		if v != 0 {
			t.Fatalf("sample %d of the frame whose data is not there is %g, want silence", i, v)
		}
	}
	// The frame without its data, the next that draw on the reservoir
	// from before the cut, and one more for the filter banks' overlap.
	settled := 4 * spf
	got, want := cut.Channels[0][settled:], whole.Channels[0][k*spf+settled:]
	if !slices.Equal(got, want) {
		t.Errorf("from frame %d of the cut stream on, the samples differ from the whole stream's", settled/spf)
	}
}

// TestWAVID3Chunk checks the tags of a WAV file, which taggers and DJ
// software write as an ID3v2 tag in an "id3 " chunk, before or after the
// samples, are read: title, artist, BPM and key.
func TestWAVID3Chunk(t *testing.T) {
	frame := func(id, text string) []byte {
		body := append([]byte{0}, text...) // ISO-8859-1
		return slices.Concat([]byte(id), binary.BigEndian.AppendUint32(nil, uint32(len(body))), []byte{0, 0}, body)
	}
	frames := slices.Concat(frame("TIT2", "Wav Title"), frame("TPE1", "Wav Artist"), frame("TBPM", "124"), frame("TKEY", "Gm"))
	n := len(frames)
	id3 := slices.Concat([]byte{'I', 'D', '3', 3, 0, 0, byte(n >> 21 & 127), byte(n >> 14 & 127), byte(n >> 7 & 127), byte(n & 127)}, frames)
	// Mono 16-bit PCM at 8 kHz.
	fmtChunk := wavChunk("fmt ", []byte{1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0})
	data := wavChunk("data", make([]byte, 1000))
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"id3 chunk last", riffWAV(fmtChunk, data, wavChunk("id3 ", id3))},
		{"ID3 chunk first", riffWAV(wavChunk("ID3 ", id3), wavChunk("LIST", []byte("odd")), fmtChunk, data)},
	} {
		a, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Title != "Wav Title" || a.Artist != "Wav Artist" || a.TagBPM != 124 || a.TagKey != "Gm" {
			t.Errorf("%s: tags %q %q %v %q, want \"Wav Title\" \"Wav Artist\" 124 \"Gm\"", c.name, a.Title, a.Artist, a.TagBPM, a.TagKey)
		}
	}
}

// decodeFixture reads the fixture name and decodes it whole, for tests
// that compare a variant of the file with the original.
func decodeFixture(t *testing.T, name string) ([]byte, *Audio) {
	t.Helper()
	data, err := os.ReadFile(fixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Bytes(context.Background(), name, data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return data, a
}

// wavChunk is a RIFF chunk: its id, its size and its body, padded to an
// even length as RIFF requires.
func wavChunk(id string, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32([]byte(id), uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// riffWAV is a WAV file of the given chunks, its RIFF size filled in.
func riffWAV(chunks ...[]byte) []byte {
	b := slices.Concat(append([][]byte{[]byte("RIFF\x00\x00\x00\x00WAVE")}, chunks...)...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// A file whose rate is far below audio's (a damaged header, or a data
// logger's samples) is refused as unsupported, naming the rate: the
// analysis could not resample it, and failed there with an error the
// front doors took for their own fault.
func TestSampleRateTooLow(t *testing.T) {
	fmtc := binary.LittleEndian.AppendUint16(nil, 1)  // PCM
	fmtc = binary.LittleEndian.AppendUint16(fmtc, 1)  // mono
	fmtc = binary.LittleEndian.AppendUint32(fmtc, 8)  // 8 Hz
	fmtc = binary.LittleEndian.AppendUint32(fmtc, 16) // bytes per second
	fmtc = binary.LittleEndian.AppendUint16(fmtc, 2)  // block align
	fmtc = binary.LittleEndian.AppendUint16(fmtc, 16) // bits
	wav := riffWAV(wavChunk("fmt ", fmtc), wavChunk("data", make([]byte, 400)))
	_, err := Bytes(context.Background(), "slow.wav", wav, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "slow.wav") || !strings.Contains(err.Error(), "8 Hz") {
		t.Errorf("WAV at 8 Hz: %v; want unsupported, naming the file and the rate", err)
	}
}

// TestRateRefusedBeforeLength checks the containers whose header states
// any rate, AIFF's as an 80-bit float and CAF's as a 64-bit one: a rate
// outside what songflow analyses is refused as such, naming the rate and
// the range, before the length the rate would give is judged. At 1 Hz
// the fixtures' thousands of samples last hours, past MaxDuration.
func TestRateRefusedBeforeLength(t *testing.T) {
	const outside = ", outside the 1000–768000 Hz songflow analyses"
	// extended encodes v > 0 as an IEEE 754 80-bit extended-precision
	// number, AIFF's sample rate.
	extended := func(v float64) []byte {
		frac, exp := math.Frexp(v) // v = frac·2^exp, frac in [0.5, 1)
		b := binary.BigEndian.AppendUint16(nil, uint16(exp+16382))
		return binary.BigEndian.AppendUint64(b, uint64(math.Ldexp(frac, 64)))
	}
	aiff, err := os.ReadFile(fixtures + "aiff_s8_mono_8k.aiff")
	if err != nil {
		t.Fatal(err)
	}
	caf, err := os.ReadFile(fixtures + "caf_s8_mono_8k.caf")
	if err != nil {
		t.Fatal(err)
	}
	// The COMM chunk: channels, frames, bits, then the rate.
	aiffRate := bytes.Index(aiff, []byte("COMM")) + 8 + 8
	if !bytes.Equal(aiff[aiffRate:aiffRate+10], extended(8000)) {
		t.Fatalf("no COMM chunk with the rate 8000 in the AIFF fixture")
	}
	withAIFF := func(rate []byte) []byte {
		b := bytes.Clone(aiff)
		copy(b[aiffRate:], rate)
		return b
	}
	// The desc chunk's body starts with the rate.
	cafRate := bytes.Index(caf, []byte("desc")) + 12
	if math.Float64frombits(binary.BigEndian.Uint64(caf[cafRate:])) != 8000 {
		t.Fatalf("no desc chunk with the rate 8000 in the CAF fixture")
	}
	withCAF := func(rate float64) []byte {
		b := bytes.Clone(caf)
		binary.BigEndian.PutUint64(b[cafRate:], math.Float64bits(rate))
		return b
	}
	nan := []byte{0x7f, 0xff, 0xc0, 0, 0, 0, 0, 0, 0, 0}
	for _, c := range []struct {
		name string
		data []byte
		err  error
		says string
	}{
		{"aiff 1 Hz", withAIFF(extended(1)), ErrUnsupported, "AIFF sample rate 1 Hz" + outside},
		{"aiff 999.5 Hz", withAIFF(extended(999.5)), ErrUnsupported, "AIFF sample rate 999.5 Hz" + outside},
		{"aiff 1 MHz", withAIFF(extended(1e6)), ErrCorrupt, "AIFF sample rate 1000000 Hz" + outside},
		{"aiff NaN", withAIFF(nan), ErrCorrupt, "AIFF sample rate NaN Hz" + outside},
		{"caf 1 Hz", withCAF(1), ErrUnsupported, "CAF sample rate 1 Hz" + outside},
		{"caf 0.5 Hz", withCAF(0.5), ErrUnsupported, "CAF sample rate 0.5 Hz" + outside},
		{"caf 1e300 Hz", withCAF(1e300), ErrCorrupt, "CAF sample rate 1e+300 Hz" + outside},
		{"caf -8000 Hz", withCAF(-8000), ErrCorrupt, "CAF sample rate -8000 Hz" + outside},
	} {
		_, err := Bytes(context.Background(), c.name, c.data, Options{MaxDuration: 3600})
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want %v naming the input and saying %q", c.name, err, c.err, c.says)
		}
	}
}

// mp3Input is the input decode gives the MP3 data.
func mp3Input(t *testing.T, data []byte) *input {
	t.Helper()
	r := bytes.NewReader(data)
	format, start, err := sniffAt(r, int64(len(data)))
	if err != nil || format != MP3 {
		t.Fatalf("sniff: %v %v", format, err)
	}
	return &input{ctx: context.Background(), r: r, size: int64(len(data)), start: start}
}

// mp3Songs are the MP3 fixtures that decode and the calibration set's
// MP3 songs (22 s of music each), by name.
func mp3Songs(t *testing.T) map[string][]byte {
	t.Helper()
	songs := map[string][]byte{}
	for _, pattern := range []string{fixtures + "mp3_*.mp3", "../testdata/calibration/*.mp3"} {
		names, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			songs[filepath.Base(n)] = b
		}
	}
	if len(songs) < 8 {
		t.Fatalf("%d MP3 songs found", len(songs))
	}
	return songs
}

// A decoder started cold some frames into an MP3 gives, from the end of
// its run-in on, the samples of a decoder that started at the first
// frame, bit for bit: every frame's reservoir and filter-bank state is
// rebuilt by then. Each segment is decoded raw (no gapless trim) and
// compared with the same frames of the whole decode, in 2, 3 and 7
// segments and, for the short fixtures, with a cut before every frame
// (mp3_vbr_bursts_24k: MPEG-2 VBR, tiny frames before large ones), so
// that no segment relies on the fallback to one decoder.
func TestMP3SegmentsDecodeAsOne(t *testing.T) {
	for name, data := range mp3Songs(t) {
		in := mp3Input(t, data)
		st, err := walkMP3(in, in.start, audioEnd(in.r, in.start, in.size))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.goMP3Short {
			continue // decoded in one piece (mp3SegmentCount)
		}
		spf := st.first.samples()
		nch := 1
		if !st.first.mono {
			nch = 2
		}
		raw := func() mp3Out {
			total := int64(st.frames) * int64(spf)
			chans := make([][]float32, nch)
			for c := range chans {
				chans[c] = make([]float32, total)
			}
			return mp3Out{chans: chans, nch: nch, spf: spf, want: total}
		}
		whole := raw()
		if _, err := decodeMP3Segment(in, st, whole, mp3Segment{0, 0, st.frames}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		maxBegin := 511
		if st.first.version != mpeg1 {
			maxBegin = 255
		}
		cuts := []int{2, 3, 7}
		if st.frames <= 300 {
			cuts = append(cuts, st.frames) // a cut before every frame
		}
		for _, k := range cuts {
			parts := raw()
			for _, sg := range splitMP3(st.index, k, maxBegin) {
				got, err := decodeMP3Segment(in, st, parts, sg)
				if err != nil || got != parts.kept(sg) {
					t.Fatalf("%s, %d segments: %+v gave %d samples (%v), want %d", name, k, sg, got, err, parts.kept(sg))
				}
			}
			for c := range nch {
				for i, v := range parts.chans[c] {
					if v != whole.chans[c][i] {
						t.Fatalf("%s, %d segments: channel %d sample %d (frame %d) is %g, one decoder gives %g",
							name, k, c, i, i/spf, v, whole.chans[c][i])
					}
				}
			}
		}
	}
}

// Decoding in segments at once gives the Audio of one decoder: the same
// samples after the gapless trim, the same length and duration, also when
// only the start is decoded.
func TestMP3SegmentsAudio(t *testing.T) {
	for name, data := range mp3Songs(t) {
		for _, opts := range []Options{{}, {MaxSeconds: 0.3}} {
			in := mp3Input(t, data)
			in.opts = opts
			one, err := decodeMP3In(in, 1)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, k := range []int{2, 3, 5} {
				a, err := decodeMP3In(in, k)
				if err != nil {
					t.Fatalf("%s, %d segments: %v", name, k, err)
				}
				if a.Rate != one.Rate || a.SourceDuration != one.SourceDuration || len(a.Channels) != len(one.Channels) {
					t.Fatalf("%s, %d segments: %d Hz, %g s, %d channels; one decoder: %d Hz, %g s, %d channels",
						name, k, a.Rate, a.SourceDuration, len(a.Channels), one.Rate, one.SourceDuration, len(one.Channels))
				}
				for c := range a.Channels {
					if !slices.Equal(a.Channels[c], one.Channels[c]) {
						t.Fatalf("%s, %d segments, %+v: channel %d differs (%d samples, one decoder %d)",
							name, k, opts, c, len(a.Channels[c]), len(one.Channels[c]))
					}
				}
			}
		}
	}
}

// A FLAC stream decoded in segments at once, each decoder starting at the
// first intact frame past its cut, gives one decoder's samples bit for
// bit: FLAC frames carry no state from one to the next. Every segment
// must decode cleanly (no fallback to one decoder); the fixtures of a
// few frames are cut in as many segments as their frames allow.
func TestFLACSegmentsDecodeAsOne(t *testing.T) {
	var names []string
	for _, pattern := range []string{fixtures + "flac_*.flac", "../testdata/calibration/*.flac"} {
		found, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, found...)
	}
	if len(names) < 5 {
		t.Fatalf("%d FLAC songs found", len(names))
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		newInput := func() *input {
			r := bytes.NewReader(data)
			_, start, err := sniffAt(r, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			return &input{ctx: context.Background(), r: r, size: int64(len(data)), start: start}
		}
		one, err := decodeFLACIn(newInput(), 1)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, fs, _ := flacSegmentsOf(t, data)
		if si := fs.si; si.BlockSizeMin != si.BlockSizeMax || si.NSamples == 0 {
			continue // decoded in one piece
		}
		for _, k := range []int{2, 3, 7} {
			if frames := fs.si.NSamples / uint64(fs.si.BlockSizeMax); frames < uint64(4*k) {
				continue // too few frames for a cut to fall before the last
			}
			_, fs, audio := flacSegmentsOf(t, data)
			chans, ok := fs.decode(audio, k)
			if !ok {
				t.Fatalf("%s, %d segments: fell back to one decoder", filepath.Base(name), k)
			}
			for c := range one.Channels {
				if !slices.Equal(chans[c], one.Channels[c]) {
					t.Fatalf("%s, %d segments: channel %d differs from one decoder's", filepath.Base(name), k, c)
				}
			}
			a, err := decodeFLACIn(newInput(), k)
			if err != nil || a.SourceDuration != one.SourceDuration || !slices.Equal(a.Channels[0], one.Channels[0]) {
				t.Fatalf("%s, %d segments: %v, %g s (one decoder %g s)", filepath.Base(name), k, err, a.SourceDuration, one.SourceDuration)
			}
		}
	}
}

// Non-finite float samples (NaN, ±Inf) are damage and read as silence,
// as a DAW plays them: one NaN reaching the analysis's sums made a whole
// song's energy 0 and its key none. A float WAV with a NaN, +Inf or −Inf
// about every 1000 samples decodes to the samples of the same file with zeros
// there; so do the float AIFF-C (32- and 64-bit) and CAF fixtures given
// an all-ones NaN, which reads as one in either byte order, every 500
// samples.
func TestNonFiniteSamplesAreSilence(t *testing.T) {
	const rate = 8000
	clean := make([]float32, 2*rate)
	for i := range clean {
		clean[i] = float32(0.3 * math.Sin(2*math.Pi*440*float64(i/2)/rate))
	}
	damaged, zeroed := slices.Clone(clean), slices.Clone(clean)
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	// 1001 apart, so that both channels take their share.
	for i := 0; i < len(clean); i += 1001 {
		damaged[i], zeroed[i] = bad[i/1001%len(bad)], 0
	}
	got, err := Bytes(context.Background(), "damaged.wav", audiotest.FloatWAV(rate, 2, damaged), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := Bytes(context.Background(), "zeroed.wav", audiotest.FloatWAV(rate, 2, zeroed), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for c := range want.Channels {
		if i := slices.IndexFunc(got.Channels[c], func(v float32) bool { return v != v || math.IsInf(float64(v), 0) }); i >= 0 {
			t.Errorf("WAV channel %d: sample %d is %g", c, i, got.Channels[c][i])
		}
		if !slices.Equal(got.Channels[c], want.Channels[c]) {
			t.Errorf("WAV channel %d differs from the file with zeros in place of NaN and ±Inf", c)
		}
	}

	for _, f := range []struct {
		name      string
		data, bps int // byte offset of the samples, bytes per sample
	}{
		{"aifc_fl32_mono_11k.aifc", 72, 4},
		{"aifc_fl64_mono_11k.aifc", 72, 8},
		{"caf_f32_mono_22k.caf", 130, 4},
	} {
		b, err := os.ReadFile(fixtures + f.name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Bytes(context.Background(), f.name, b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Clone(b)
		ch := want.Channels[0]
		for i := 100; i < len(ch); i += 500 {
			if ch[i] == 0 {
				t.Fatalf("%s: sample %d is already 0", f.name, i)
			}
			copy(b[f.data+i*f.bps:], bytes.Repeat([]byte{0xff}, f.bps))
			ch[i] = 0
		}
		got, err := Bytes(context.Background(), f.name, b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Channels[0], ch) {
			t.Errorf("%s: NaN every 500 samples does not decode as zeros there", f.name)
		}
	}
}
