package stages

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/dsp"
)

// signalOf is a signal of n samples at rate whose sample i holds i, so a
// chunk's first sample tells where it starts.
func signalOf(n int, rate dsp.Hz) *Signal {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i)
	}
	return &Signal{Info: &SongInfo{Name: "song.flac"}, Rate: rate, Mono: x}
}

func TestChunkOffsets(t *testing.T) {
	const rate = 100 // a low rate keeps the signals small; offsets are in seconds
	cases := []struct {
		name    string
		seconds float64 // song length
		opts    ChunkOptions
		offsets []float64
		length  float64 // seconds per chunk
	}{
		{"shorter than a window", 5, ChunkOptions{20, 0, 20}, []float64{0}, 5},
		{"exactly one window", 20, ChunkOptions{20, 0, 20}, []float64{0}, 20},
		{"whole windows", 60, ChunkOptions{20, 0, 20}, []float64{0, 20, 40}, 20},
		{"overlap", 50, ChunkOptions{20, 10, 20}, []float64{0, 10, 20, 30}, 20},
		// 65 s needs four 20 s windows; spread evenly they overlap by 5 s.
		{"remainder spread", 65, ChunkOptions{20, 0, 20}, []float64{0, 15, 30, 45}, 20},
		// 780 s would take 39 windows; 20 are spread over the whole song.
		{"capped", 780, ChunkOptions{20, 0, 20}, []float64{0, 40, 80, 120, 160, 200, 240, 280, 320, 360, 400, 440, 480, 520, 560, 600, 640, 680, 720, 760}, 20},
		{"capped with overlap", 100, ChunkOptions{20, 5, 3}, []float64{0, 40, 80}, 20},
		{"cap of one", 100, ChunkOptions{20, 0, 1}, []float64{0}, 20},
		{"no cap", 100, ChunkOptions{20, 0, 0}, []float64{0, 20, 40, 60, 80}, 20},
		// 30.01 s takes three 20 s windows at a 10 s hop: 0, 5.005, 10.01 s
		// (rounded to whole samples: 5.01 s at 100 Hz).
		{"rounding", 30.01, ChunkOptions{20, 10, 20}, []float64{0, 5.01, 10.01}, 20},
	}
	for _, c := range cases {
		sig := signalOf(int(c.seconds*rate+0.5), rate)
		chunks, err := Chunks(c.opts)(context.Background(), sig)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(chunks) != len(c.offsets) {
			t.Fatalf("%s: %d chunks, want %d", c.name, len(chunks), len(c.offsets))
		}
		for i, ch := range chunks {
			if ch.Index != i || ch.Count != len(chunks) || ch.Info != sig.Info || ch.Rate != rate {
				t.Errorf("%s chunk %d: index %d count %d info %p rate %g", c.name, i, ch.Index, ch.Count, ch.Info, ch.Rate)
			}
			start := int(c.offsets[i]*rate + 0.5)
			if float64(ch.Offset) != float64(start)/rate {
				t.Errorf("%s chunk %d: offset %v s, want %v s", c.name, i, ch.Offset, float64(start)/rate)
			}
			if want := int(c.length*rate + 0.5); len(ch.Samples) != want || cap(ch.Samples) != want {
				t.Errorf("%s chunk %d: %d samples (cap %d), want %d", c.name, i, len(ch.Samples), cap(ch.Samples), want)
			}
			if &ch.Samples[0] != &sig.Mono[start] {
				t.Errorf("%s chunk %d: samples are not the signal's own from %d", c.name, i, start)
			}
		}
		last := chunks[len(chunks)-1]
		if end := int(float64(last.Offset)*rate+0.5) + len(last.Samples); c.opts.MaxChunks != 1 && end != len(sig.Mono) {
			t.Errorf("%s: last chunk ends at %d, want the song's end %d", c.name, end, len(sig.Mono))
		}
	}
}

func TestChunkErrors(t *testing.T) {
	ctx := context.Background()
	empty := &Signal{Info: &SongInfo{Name: "empty.mp3"}, Rate: 22050}
	if _, err := Chunks(ChunkOptions{20, 0, 20})(ctx, empty); err == nil || !strings.Contains(err.Error(), "empty.mp3") {
		t.Errorf("empty signal: error %v, want one naming the song", err)
	}
	for _, o := range []ChunkOptions{{0, 0, 20}, {-1, 0, 20}, {20, 20, 20}, {20, -1, 20}, {20, 30, 20}} {
		if _, err := Chunks(o)(ctx, signalOf(100, 10)); err == nil || !strings.Contains(err.Error(), "song.flac") {
			t.Errorf("options %+v: error %v, want one naming the song", o, err)
		}
	}
	if _, err := Chunks(ChunkOptions{20, 0, 20})(ctx, &Signal{Info: &SongInfo{Name: "x"}, Rate: 0, Mono: []float32{1}}); err == nil {
		t.Error("rate 0: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Chunks(ChunkOptions{20, 0, 20})(cctx, signalOf(100, 10)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}

// A job that asks to skip chunk analysis gets the first window only,
// whatever the configuration allows.
func TestChunkSkip(t *testing.T) {
	sig := signalOf(100*100, 100)
	sig.Info.SkipChunks = true
	chunks, err := Chunks(ChunkOptions{20, 0, 20})(context.Background(), sig)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 1 || chunks[0].Offset != 0 || len(chunks[0].Samples) != 20*100 || chunks[0].Count != 1 {
		t.Fatalf("got %d chunks (first at %v s, %d samples), want one 20 s window at 0", len(chunks), chunks[0].Offset, len(chunks[0].Samples))
	}
}

// TestChunkBoundsAreWhereTheStageBehaves cuts a song with the extreme
// chunk settings the configuration accepts, and just past them: inside, every
// chunk is as long as configured and the count stays that of a cover at
// half-chunk steps; past them the chunk stage silently misbehaves, which
// is why the checks exist.
func TestChunkBoundsAreWhereTheStageBehaves(t *testing.T) {
	const rate = 22050
	sig := &Signal{Info: &SongInfo{Name: "song"}, Rate: rate, Mono: make([]float32, 600*rate)}
	cut := func(o ChunkOptions) []*Chunk {
		t.Helper()
		cs, err := Chunks(o)(context.Background(), sig)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		return cs
	}
	// Shortest accepted chunk: one 2048-sample frame.
	if cs := cut(ChunkOptions{Seconds: 0.09288, MaxChunks: config.MaxChunks}); len(cs[0].Samples) != 2048 {
		t.Errorf("shortest chunk: %d samples, want 2048", len(cs[0].Samples))
	}
	// Longest accepted chunk: the whole song, even at the highest rate.
	hi := &Signal{Info: sig.Info, Rate: 192000, Mono: sig.Mono}
	if cs, err := Chunks(ChunkOptions{Seconds: float64(config.MaxSeconds), MaxChunks: config.MaxChunks})(context.Background(), hi); err != nil || len(cs) != 1 || len(cs[0].Samples) != len(sig.Mono) {
		t.Errorf("longest chunk: %d chunks, err %v; want the whole song in one", len(cs), err)
	}
	// Most overlap accepted, highest cap: 20 s chunks 10 s apart cover
	// 600 s with 1 + 58 = 59 chunks, twice the song's audio at most.
	if cs := cut(ChunkOptions{Seconds: 20, OverlapSeconds: 10, MaxChunks: config.MaxChunks}); len(cs) != 59 {
		t.Errorf("half-chunk overlap: %d chunks, want 59", len(cs))
	}
	// An overlap a microsecond short of the chunk: the count is that of a
	// one-sample advance, 12,789,001 chunks of 20 s for a 10-minute song,
	// and only max_chunks stops it.
	if cs := cut(ChunkOptions{Seconds: 20, OverlapSeconds: 20 - 1e-6, MaxChunks: config.MaxChunks}); len(cs) != config.MaxChunks {
		t.Errorf("overlap of 20 s − 1 µs: %d chunks, want the cap %d", len(cs), config.MaxChunks)
	}
}
