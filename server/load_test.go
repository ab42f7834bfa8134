package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// Fifty uploads at once against two pipeline slots: each gets its own
// correct result, a 415 for the unsupported ones, or a 503 — none hangs —
// and /health keeps answering meanwhile.
func TestConcurrentUploads(t *testing.T) {
	fake := newFake()
	fake.delay = 40 * time.Millisecond
	ts := newTestServer(t, Options{MaxInFlight: 2, QueueWait: 150 * time.Millisecond}, fake)

	// Mixed formats: the fake reads the first line, the rest imitates
	// each container's magic bytes so the hashes differ.
	magic := []string{"RIFF....WAVEfmt ", "fLaC", "ID3\x04", "....ftypM4A ", "OggS"}
	const n = 50
	type outcome struct {
		status int
		bpm    float64
		err    string
	}
	outcomes := make([]outcome, n)

	stopHealth := probeHealth(t, ts.URL)

	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := fmt.Sprintf("bpm=%d", 60+i)
			if i%5 == 4 {
				first = "unsupported"
			}
			body := []byte(first + "\n" + magic[i%len(magic)] + fmt.Sprint(i))
			status, _, resp := do(t, "POST", ts.URL+"/analyze_data", body, map[string]string{"X-Song-Title": fmt.Sprint("song ", i)})
			var m map[string]any
			if err := json.Unmarshal(resp, &m); err != nil {
				t.Errorf("upload %d: %v: %s", i, err, resp)
				return
			}
			o := outcome{status: status}
			if v, ok := m["bpm"].(float64); ok {
				o.bpm = v
			}
			if v, ok := m["error"].(string); ok {
				o.err = v
			}
			outcomes[i] = o
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		t.Fatal("uploads hung")
	}
	healthLat := stopHealth()

	var ok, busy, unsupported int
	for i, o := range outcomes {
		switch {
		case o.status == 200 && i%5 != 4 && o.bpm == float64(60+i):
			ok++
		case o.status == 503 && o.err == "busy":
			busy++
		case o.status == 415 && i%5 == 4 && o.err == "unsupported_format":
			unsupported++
		default:
			t.Errorf("upload %d: %+v", i, o)
		}
	}
	if ok == 0 || busy == 0 {
		t.Errorf("ok %d, busy %d: the test should see both", ok, busy)
	}
	healthMax := healthLat[len(healthLat)-1]
	t.Logf("50 uploads: %d ok, %d busy (503), %d unsupported (415); /health %d probes, p50 %v, max %v",
		ok, busy, unsupported, len(healthLat), healthLat[len(healthLat)/2], healthMax)
	if healthMax > time.Second {
		t.Errorf("/health took %v under load", healthMax)
	}
	if got := ts.srv.admission.inFlight(); got != 0 {
		t.Errorf("%d slots still held", got)
	}
}

// BenchmarkUploadPreview posts 30-second WAV previews (44.1 kHz stereo,
// 5.3 MB, a tone with a click every half second), each analysed afresh, from four clients at once. "fake" measures
// the server's own cost (hashing, SQLite, JSON); "real" runs the analysis
// pipeline with the default configuration.
func BenchmarkUploadPreview(b *testing.B) {
	preview := wavFile(30, 44100)
	b.Run("fake", func(b *testing.B) {
		ts := newTestServer(b, Options{MaxInFlight: 4}, nil)
		// Every body differs so it is analysed, not a cache hit; the fake
		// reads only the first line.
		body := append([]byte("bpm=120\n"), preview...)
		benchUploads(b, ts, body)
	})
	b.Run("real", func(b *testing.B) {
		cfg := config.Default()
		a, err := stages.NewAnalyzer(context.Background(), cfg)
		if err != nil {
			b.Skip("analyzer:", err)
		}
		defer a.Close()
		st, err := store.Open(context.Background(), b.TempDir()+"/cache.db")
		if err != nil {
			b.Fatal(err)
		}
		srv, err := New(a, st, Options{AnalyzerVersion: stages.AnalyzerVersion, MaxInFlight: cfg.Server.MaxInFlight})
		if err != nil {
			b.Fatal(err)
		}
		ts := &testServer{Server: newLoopbackServer(b, srv), srv: srv, store: st}
		defer st.Close()
		benchUploads(b, ts, preview)
	})
}

func benchUploads(b *testing.B, ts *testServer, body []byte) {
	const clients = 4
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	headers := map[string]string{"X-Force-Reanalyze": "1", "X-Song-Title": "Preview"}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	var wg sync.WaitGroup
	next := make(chan uint32)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each request's bytes differ in the last sample, so none is
			// a cache hit or shares another's analysis.
			mine := slices.Clone(body)
			for i := range next {
				binary.LittleEndian.PutUint32(mine[len(mine)-4:], i)
				start := time.Now()
				status, _, resp := do(b, "POST", ts.URL+"/analyze_data", mine, headers)
				d := time.Since(start)
				if status != 200 {
					b.Errorf("status %d: %s", status, resp)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	for i := range b.N {
		next <- uint32(i)
	}
	close(next)
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*95)/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(30*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// probeHealth asks ts/health every few milliseconds until the returned
// stop is called, failing the test on an error or a non-200 reply. stop
// returns the latencies seen, sorted, and fails the test if there are none.
func probeHealth(t testing.TB, url string) (stop func() []time.Duration) {
	quit := make(chan struct{})
	done := make(chan struct{})
	var lat []time.Duration
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-quit:
				return
			case <-time.After(5 * time.Millisecond):
			}
			start := time.Now()
			resp, err := client.Get(url + "/health")
			if err != nil {
				t.Errorf("/health: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/health: %d", resp.StatusCode)
			}
			lat = append(lat, time.Since(start))
		}
	}()
	return func() []time.Duration {
		close(quit)
		<-done
		if len(lat) == 0 {
			t.Fatal("no /health probe completed")
		}
		slices.Sort(lat)
		return lat
	}
}
