package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/internal/audiotest"
	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// fakeAnalyzer answers from the bytes it is given, so each test knows the
// right answer: the body's first line picks the behaviour.
//
//	"bpm=N ..."   a result with that tempo (and key "C# Minor")
//	"nan"         a result full of NaN and infinities
//	"unsupported" a decode.ErrUnsupported error naming "ogg"
//	"corrupt"     a decode.ErrCorrupt error
//	"timeout"     a pipeline.ErrTimeout error
//	"block"       waits until ctx ends or release is closed
//	"silence"     a result with no tempo
type fakeAnalyzer struct {
	calls   atomic.Int64
	delay   time.Duration // every call takes this long
	release chan struct{}
	// snapshotPanics makes Snapshot panic, as a bug would.
	snapshotPanics atomic.Bool

	mu   sync.Mutex
	jobs []stages.Job
	ctxs []context.Context // each job's context, in the order of jobs
}

func newFake() *fakeAnalyzer { return &fakeAnalyzer{release: make(chan struct{})} }

func (f *fakeAnalyzer) lastJob() stages.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.jobs[len(f.jobs)-1]
}

// jobCount is how many jobs Analyze has been given.
func (f *fakeAnalyzer) jobCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

// lastCtx is the context the latest job was analysed under.
func (f *fakeAnalyzer) lastCtx() context.Context {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ctxs[len(f.ctxs)-1]
}

func knownResult(bpm float64) stages.Result {
	return stages.Result{
		BPM: bpm, BPMConfidence: 0.8, TimeSignature: "4/4",
		BPMCandidates: []stages.TempoCandidate{{BPM: bpm, Score: 1}, {BPM: bpm / 2, Score: 0.5}},
		Key:           "C# Minor", KeyConfidence: 0.7,
		KeyDetails: stages.KeyDetails{TuningCents: -3, Profile: "krumhansl", RunnerUp: "E Major",
			Scores: []stages.KeyScore{{Key: "C# Minor", Score: 0.9}}},
		Loudness: -9.5, LoudnessRange: 6, TruePeak: -0.4,
		Energy: 0.75, Danceability: 0.6, Acousticness: 0.1, Valence: 0.4,
		SpectralCentroid: 2200, DynamicRange: 8.5, SilenceRatio: 0.02,
		Duration: 30, SampleRate: 44100, Channels: 2, Format: "wav", AnalyzerVersion: "test-1",
		AnalysisDuration: 0.25,
	}
}

func (f *fakeAnalyzer) Analyze(ctx context.Context, job stages.Job) (stages.Result, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.jobs = append(f.jobs, job)
	f.ctxs = append(f.ctxs, ctx)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return stages.Result{}, fmt.Errorf("analyze %s: %w", job.Name, ctx.Err())
		}
	}
	head, _, _ := strings.Cut(string(job.Data), "\n")
	var bpm float64
	switch {
	case strings.HasPrefix(head, "bpm="):
		fmt.Sscanf(head, "bpm=%g", &bpm)
		r := knownResult(bpm)
		r.File, r.Title, r.Artist = job.Name, job.Title, job.Artist
		return r, nil
	case head == "nan":
		r := knownResult(120)
		r.BPMConfidence, r.Energy, r.Valence = math.NaN(), math.Inf(1), math.NaN()
		r.Loudness, r.TruePeak = math.Inf(-1), math.Inf(-1)
		r.KeyDetails.Scores[0].Score = math.NaN()
		r.StageSeconds = map[string]float64{"fft": math.NaN()}
		return r, nil
	case head == "unsupported":
		return stages.Result{}, fmt.Errorf("decode %s: %w: ogg", job.Name, decode.ErrUnsupported)
	case head == "corrupt":
		return stages.Result{}, fmt.Errorf("decode %s: %w", job.Name, decode.ErrCorrupt)
	case head == "timeout":
		return stages.Result{}, fmt.Errorf("analyze %s: %w", job.Name, pipeline.ErrTimeout)
	case head == "panic":
		panic("fake analyzer bug")
	case head == "silence":
		return knownResult(0), nil
	case head == "block":
		select {
		case <-f.release:
			return knownResult(100), nil
		case <-ctx.Done():
			return stages.Result{}, fmt.Errorf("analyze %s: %w", job.Name, ctx.Err())
		}
	}
	return stages.Result{}, errors.New("fake: unknown test body")
}

func (f *fakeAnalyzer) Snapshot() pipeline.Snapshot {
	if f.snapshotPanics.Load() {
		panic("fake snapshot bug")
	}
	return pipeline.Snapshot{
		Elapsed: 2 * time.Second, Submitted: uint64(f.calls.Load()), Completed: uint64(f.calls.Load()),
		Stages: []pipeline.StageStats{
			{Name: "decode", Workers: 2, Buffer: 4, In: 5, Out: 5, Busy: time.Second, Utilisation: 0.25,
				P50: 10 * time.Millisecond, P95: 20 * time.Millisecond, Max: 30 * time.Millisecond, Queue: 1, SuggestedWorkers: 1},
			{Name: "fft", Workers: 1, Buffer: 4, In: 9, Out: 9, Errors: 1, Utilisation: math.NaN()},
		},
		Bottleneck: "decode",
	}
}

// testServer is a server on 127.0.0.1 with a fake analyzer and a fresh
// store.
type testServer struct {
	*httptest.Server
	srv   *Server
	fake  *fakeAnalyzer
	store *store.Store
}

func newTestServer(t testing.TB, opts Options, fake *fakeAnalyzer) *testServer {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	return newTestServerWithStore(t, opts, fake, st)
}

func newTestServerWithStore(t testing.TB, opts Options, fake *fakeAnalyzer, st *store.Store) *testServer {
	t.Helper()
	if fake == nil {
		fake = newFake()
	}
	if opts.AnalyzerVersion == "" {
		opts.AnalyzerVersion = "test-1"
	}
	if opts.Sniff == nil {
		// The fake reads text bodies no decoder would accept.
		opts.Sniff = func([]byte) error { return nil }
	}
	srv, err := New(fake, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv) // binds 127.0.0.1
	t.Cleanup(func() {
		ts.Close()
		st.Close()
	})
	return &testServer{Server: ts, srv: srv, fake: fake, store: st}
}

// wavFile makes a 16-bit stereo PCM WAV file of the given length, a 440 Hz
// tone with a click every half second; 30 s is the size of a store
// preview.
func wavFile(seconds float64, rate int) []byte { return audiotest.ClickTrack(seconds, rate) }

// do sends a request and returns the status, headers and body.
func do(t testing.TB, method, url string, body []byte, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func openStore(ctx context.Context, path string) (*store.Store, error) { return store.Open(ctx, path) }

func newLoopbackServer(t testing.TB, h http.Handler) *httptest.Server {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}
