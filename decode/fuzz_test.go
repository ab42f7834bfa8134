package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fuzzTimeout bounds the time one input may take to decode. The fuzzing
// engine has no per-input limit of its own, so without it a hang would
// stall the run rather than fail it with the input that caused it.
const fuzzTimeout = 10 * time.Second

// fuzzDecode decodes data and checks the invariants every input must
// keep: no panic (decode recovers from the libraries' own, but none may
// escape), no hang, no allocation out of proportion to the audio produced,
// an error naming the input, or audio that is well formed and no longer
// than the options allow.
func fuzzDecode(t *testing.T, data []byte) {
	for _, opts := range []Options{{MaxDuration: 60}, {MaxSeconds: 0.05}} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		a, err := decodeWithin(t, data, opts)
		runtime.ReadMemStats(&after)
		out := uint64(0)
		if err == nil {
			out = uint64(a.Frames()) * uint64(len(a.Channels)) * 4
		}
		// Room for the decoders' own buffers and the sample slices'
		// growth, but not for a header's claim that the data never backs.
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20+uint64(len(data))*64+out*3 {
			t.Fatalf("%+v: allocated %d MB for %d bytes of input and %d bytes of output", opts, n>>20, len(data), out)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.in") {
				t.Fatalf("error does not name the input: %v", err)
			}
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLong) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			continue
		}
		if a.Rate <= 0 || len(a.Channels) == 0 || a.Frames() == 0 {
			t.Fatalf("audio without rate, channels or samples: %d Hz, %d channels, %d frames", a.Rate, len(a.Channels), a.Frames())
		}
		for _, c := range a.Channels {
			if len(c) != a.Frames() {
				t.Fatalf("channels of different lengths")
			}
		}
		if opts.MaxSeconds > 0 {
			if limit := int(math.Ceil(opts.MaxSeconds * float64(a.Rate))); a.Frames() > limit {
				t.Fatalf("MaxSeconds %g at %d Hz: %d frames, want at most %d", opts.MaxSeconds, a.Rate, a.Frames(), limit)
			}
		} else if d := a.Duration(); d > opts.MaxDuration+0.25 {
			// A quarter second of slack: a decoder may finish the frame
			// that crosses the limit.
			t.Fatalf("MaxDuration %g: decoded %.2f s", opts.MaxDuration, d)
		}
	}
}

// decodeWithin decodes data, failing t if that takes longer than
// fuzzTimeout: the context stops the package's own loops, and the
// watchdog catches a hang inside a library that never looks at it.
func decodeWithin(t *testing.T, data []byte, opts Options) (*Audio, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeout)
	defer cancel()
	type result struct {
		a   *Audio
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := Bytes(ctx, "fuzz.in", data, opts)
		done <- result{a, err}
	}()
	select {
	case r := <-done:
		if errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("%+v: decoding took more than %v", opts, fuzzTimeout)
		}
		return r.a, r.err
	case <-time.After(fuzzTimeout + 5*time.Second):
		t.Fatalf("%+v: decoding hung for more than %v", opts, fuzzTimeout+5*time.Second)
		return nil, nil
	}
}

func FuzzSniff(f *testing.F) {
	for _, b := range fixtureFiles(f, "*") {
		f.Add(b[:min(len(b), 64)])
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		format, err := Sniff(head)
		if (format == "") == (err == nil) {
			t.Fatalf("Sniff = %q, %v: want exactly one of format and error", format, err)
		}
	})
}

func FuzzWAV(f *testing.F) {
	for _, b := range fixtureFiles(f, "wav_*.wav") {
		f.Add(b)
	}
	f.Add(fixtureFiles(f, "bad_4gb.wav")[0])
	f.Fuzz(fuzzDecode)
}

func FuzzAIFF(f *testing.F) {
	for _, pattern := range []string{"aif*_*.aif*", "bad_*.aif*"} {
		for _, b := range fixtureFiles(f, pattern) {
			f.Add(b)
		}
	}
	f.Fuzz(fuzzDecode)
}

func FuzzCAF(f *testing.F) {
	for _, pattern := range []string{"*.caf"} {
		for _, b := range fixtureFiles(f, pattern) {
			f.Add(b)
		}
	}
	f.Fuzz(fuzzDecode)
}

func FuzzFLAC(f *testing.F) {
	for _, b := range fixtureFiles(f, "flac_*.flac") {
		f.Add(b)
	}
	f.Fuzz(fuzzDecode)
}

func FuzzMP3(f *testing.F) {
	for _, b := range fixtureFiles(f, "*.mp3") {
		f.Add(b)
	}
	f.Fuzz(fuzzDecode)
}

func FuzzAAC(f *testing.F) {
	for _, b := range fixtureFiles(f, "*.m4a") {
		f.Add(b)
	}
	for _, b := range fixtureFiles(f, "*.mov") {
		f.Add(b)
	}
	for _, b := range fixtureFiles(f, "*.aac") {
		f.Add(b)
	}
	f.Fuzz(fuzzDecode)
}

// FuzzM4A fuzzes the MP4 container parser. FuzzAAC mutates whole files,
// whose bytes are mostly compressed audio; here only the movie box, which
// holds the sample tables that say where each frame lies and how long
// the song is, is mutated, and the rest of a fixture stays as it was.
func FuzzM4A(f *testing.F) {
	type around struct{ before, after []byte }
	var files []around
	for _, b := range slices.Concat(fixtureFiles(f, "*.m4a"), fixtureFiles(f, "*.mov")) {
		for off := 0; off+8 <= len(b); {
			size := int(binary.BigEndian.Uint32(b[off:]))
			if size < 8 || off+size > len(b) {
				break
			}
			if string(b[off+4:off+8]) == "moov" {
				files = append(files, around{b[:off], b[off+size:]})
				f.Add(uint8(len(files)-1), b[off+8:off+size])
				break
			}
			off += size
		}
	}
	if len(files) == 0 {
		f.Fatal("no M4A fixture with a movie box")
	}
	f.Fuzz(func(t *testing.T, which uint8, moov []byte) {
		file := files[int(which)%len(files)]
		size := binary.BigEndian.AppendUint32(nil, uint32(8+len(moov)))
		fuzzDecode(t, slices.Concat(file.before, size, []byte("moov"), moov, file.after))
	})
}

// FuzzALAC fuzzes the ALAC frame decoder directly, with the decoder
// config and one frame taken from each ALAC fixture: whole-file fuzzing
// spends most of its mutations on the container.
func FuzzALAC(f *testing.F) {
	for _, b := range slices.Concat(fixtureFiles(f, "alac_*.m4a"), fixtureFiles(f, "alac_*.mov")) {
		in := &input{ctx: context.Background(), r: bytes.NewReader(b), size: int64(len(b))}
		moov, err := readMoov(in)
		if err != nil {
			f.Fatal(err)
		}
		kids, err := boxes(moov)
		if err != nil {
			f.Fatal(err)
		}
		for _, k := range kids {
			tr, err := parseTrak(k.body, 0, in.size)
			if k.typ != "trak" || err != nil || tr == nil || tr.codec != "alac" {
				continue
			}
			err = tr.eachSample(in.size, 1<<20, func(i, off uint64, size uint32) (bool, error) {
				f.Add(tr.alac, b[off:off+uint64(size)])
				return i < 2, nil
			})
			if err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, cookie, frame []byte) {
		cfg, err := parseALACConfig(cookie)
		if err != nil {
			return
		}
		out, err := newALACDecoder(cfg).decode(frame, make([][]float32, cfg.channels), 0)
		if err != nil {
			return
		}
		for _, c := range out {
			if len(c) != len(out[0]) || len(c) > int(cfg.frameLength) {
				t.Fatalf("channels of %d and %d samples, frame length %d", len(c), len(out[0]), cfg.frameLength)
			}
		}
	})
}
