package server

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/internal/audiotest"
	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// realServer serves through the real analysis pipeline with small stage
// buffers, so that back-pressure is exercised.
func realServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	cfg := config.Default()
	for _, st := range []*pipeline.StageConfig{&cfg.Stages.Decode, &cfg.Stages.Resample, &cfg.Stages.Chunk, &cfg.Stages.FFT, &cfg.Stages.Aggregate} {
		st.Buffer = 1
	}
	a, err := stages.NewAnalyzer(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	opts.AnalyzerVersion = stages.AnalyzerVersion
	srv, err := New(a, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := newLoopbackServer(t, srv)
	t.Cleanup(func() {
		ts.Close()
		a.Close()
		st.Close()
	})
	return &testServer{Server: ts, srv: srv, store: st}
}

// The calibration songs through the real pipeline: Swift types, the
// decoder's errors mapped to 415 and 422.
func TestRealAnalyzer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the analysis pipeline")
	}
	ts := realServer(t, Options{})
	for _, name := range []string{"01-adagio-c-major.wav", "03-ballad-g-major.mp3", "04-groove-e-minor.m4a", "06-pop-f-major.flac"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "calibration", name))
		if err != nil {
			t.Fatal(err)
		}
		status, _, body := do(t, "POST", ts.URL+"/analyze_data", data, map[string]string{"X-Song-Title": name})
		if status != 200 {
			t.Errorf("%s: %d %s", name, status, body)
			continue
		}
		m := jsonObject(t, body)
		types := maps.Clone(analysisTypes)
		delete(types, "time_signature") // present only when measured
		wantTypes(t, name, m, types)
		if bpm := m["bpm"].(float64); bpm <= 0 {
			t.Errorf("%s: bpm %v", name, bpm)
		}
		t.Logf("%s: bpm %.1f key %s loudness %.1f in %.2fs", name, m["bpm"], m["key"], m["loudness"], m["analysis_duration"])
	}
	status, _, body := do(t, "POST", ts.URL+"/analyze_data", []byte("OggS\x00\x02"+strings.Repeat("\x00", 64)), nil)
	m := wantError(t, "ogg", status, body, 415, "unsupported_format")
	if !strings.Contains(strings.ToLower(m["message"].(string)), "ogg") {
		t.Errorf("415 message %q does not name Ogg", m["message"])
	}
	wav := wavFile(1, 8000)
	status, _, body = do(t, "POST", ts.URL+"/analyze_data", wav[:100], nil)
	wantError(t, "truncated wav", status, body, 422, "invalid_audio")
	// Noise has no pulse, so no tempo: the apps need a bpm above 0, and
	// get the no-tempo answer, not a bpm at confidence 0.
	status, _, body = do(t, "POST", ts.URL+"/analyze_data", audiotest.NoiseWAV(20, 22050), nil)
	wantError(t, "white noise", status, body, 422, "analysis_failed")
}

// Fifty uploads of mixed formats at once through the real pipeline with
// one-item buffers and three admission slots: each gets the same answer
// its file always gets, or a 503, or a 415 for the Ogg ones; none hangs;
// /health answers meanwhile though both cores are busy.
func TestConcurrentUploadsReal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the analysis pipeline")
	}
	// As songflow serve runs: a P to spare beyond the stage workers (see
	// serveProcs in cmd/songflow), or /health waits behind them.
	cfg := config.Default().Stages
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.NumCPU(),
		cfg.Decode.Workers+cfg.Resample.Workers+cfg.Chunk.Workers+cfg.FFT.Workers+cfg.Aggregate.Workers+2)))
	ts := realServer(t, Options{MaxInFlight: 3, QueueWait: 2 * time.Second})
	names, _ := filepath.Glob(filepath.Join("..", "testdata", "calibration", "*.*"))
	var files [][]byte
	var fileNames []string
	for _, n := range names {
		if ext := filepath.Ext(n); ext == ".wav" || ext == ".flac" || ext == ".mp3" || ext == ".m4a" {
			data, err := os.ReadFile(n)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, data)
			fileNames = append(fileNames, filepath.Base(n))
		}
	}
	if len(files) < 4 {
		t.Skip("calibration songs missing")
	}
	ogg := []byte("OggS\x00\x02" + strings.Repeat("\x00", 64))

	stopHealth := probeHealth(t, ts.URL)

	type outcome struct {
		status   int
		bpm      float64
		key, err string
	}
	const n = 50
	out := make([]outcome, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := ogg
			if i%10 != 9 {
				body = files[i%len(files)]
			}
			status, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, map[string]string{"X-Force-Reanalyze": "1"})
			var m map[string]any
			if err := json.Unmarshal(resp, &m); err != nil {
				t.Errorf("upload %d: %v: %s", i, err, resp)
				return
			}
			o := outcome{status: status}
			o.bpm, _ = m["bpm"].(float64)
			o.key, _ = m["key"].(string)
			o.err, _ = m["error"].(string)
			out[i] = o
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("uploads hung")
	}
	elapsed := time.Since(start)
	health := stopHealth()

	first := map[int]outcome{}
	var ok, busy, unsupported int
	for i, o := range out {
		f := i % len(files)
		switch {
		case o.status == 200 && i%10 != 9:
			if ref, seen := first[f]; seen && (ref.bpm != o.bpm || ref.key != o.key) {
				t.Errorf("upload %d of %s: %.2f %s, earlier %.2f %s", i, fileNames[f], o.bpm, o.key, ref.bpm, ref.key)
			}
			first[f] = o
			ok++
		case o.status == 503 && o.err == "busy":
			busy++
		case o.status == 415 && i%10 == 9:
			unsupported++
		default:
			t.Errorf("upload %d (%s): %+v", i, fileNames[f], o)
		}
	}
	hmax := health[len(health)-1]
	t.Logf("50 real uploads in %v: %d ok, %d busy (503), %d unsupported (415); /health %d probes, p50 %v, p95 %v, max %v",
		elapsed.Round(time.Millisecond), ok, busy, unsupported, len(health), health[len(health)/2],
		health[len(health)*95/100], hmax)
	if hmax > time.Second {
		t.Errorf("/health took %v under load", hmax)
	}
	if ok == 0 {
		t.Error("no upload succeeded")
	}
}
