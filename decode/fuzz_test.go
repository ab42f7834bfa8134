package decode

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fuzzDecode decodes data and checks the invariants every input must
// keep: no panic (decode recovers from the libraries' own, but none may
// escape), an error naming the input, or audio that is well formed.
func fuzzDecode(t *testing.T, data []byte) {
	for _, opts := range []Options{{MaxDuration: 60}, {MaxSeconds: 0.05}} {
		a, err := Bytes(context.Background(), "fuzz.in", data, opts)
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
	for _, b := range fixtureFiles(f, "*.aac") {
		f.Add(b)
	}
	f.Fuzz(fuzzDecode)
}
