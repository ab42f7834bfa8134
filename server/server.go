// Package server is songflow's HTTP front door: the source stage through
// which the Swift apps submit songs. Every upload becomes one job for the
// long-running analysis pipeline, its result comes back to the waiting
// request, and results are cached in the SQLite store by content hash.
//
// The routes and JSON shapes are those the Swift clients already decode
// (see the serve issue); every number in a reply is finite, every error is
// {"error": code, "message": text}, and overload is a quick 503 with
// Retry-After rather than a request that hangs.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// Analyzer is what the server needs from the analysis engine;
// *stages.Analyzer provides it.
type Analyzer interface {
	// Analyze blocks until job's result is ready or ctx ends; many
	// goroutines call it at once.
	Analyze(ctx context.Context, job stages.Job) (stages.Result, error)
	// Snapshot reports the engine's metrics for /diagnostics and /metrics.
	Snapshot() pipeline.Snapshot
}

// AnalysisSettings are the analysis configuration values /diagnostics
// reports.
type AnalysisSettings struct {
	SampleRate    int            // Hz, the rate songs are analysed at
	FFTSize       int            // samples per STFT frame
	MaxSeconds    float64        // analysed length of a song; 0 = whole song
	MaxDuration   float64        // longer songs are refused; 0 = no limit
	Workers       map[string]int // by stage name
	ChunkAnalysis bool           // /diagnostics' chunk_analysis_enabled
	ChunkSeconds  float64
	MaxChunks     int
}

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	Port            int    // reported by /health; default 5050
	Version         string // songflow's build version
	AnalyzerVersion string // part of every cache key: a new analyzer never reuses old results

	MaxBodyBytes       int64         // largest upload; default 200 MiB
	AnalysisTimeout    time.Duration // each song's deadline; default 180 s
	Production         bool          // require X-API-Key on every route but /health
	RateLimitPerMinute int           // per API key in production; default 60
	MaxInFlight        int           // songs inside the pipeline at once; default 4
	QueueWait          time.Duration // longest wait for a pipeline slot before 503; default 10 s
	AllowPrivateURLs   bool          // let /analyze fetch from loopback and private networks
	DownloadTimeout    time.Duration // for /analyze; default 60 s

	// Sniff rejects data the decoder cannot read, before the song takes a
	// pipeline slot, so an unsupported upload gets its 415 at once even
	// when the server is busy. Default: decode.Sniff's verdict.
	Sniff func(data []byte) error

	Analysis AnalysisSettings // reported by /diagnostics only
	Logger   *slog.Logger     // default: discard
}

func (o *Options) defaults() {
	if o.Port == 0 {
		o.Port = 5050
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 200 << 20
	}
	if o.AnalysisTimeout <= 0 {
		o.AnalysisTimeout = 180 * time.Second
	}
	if o.RateLimitPerMinute == 0 {
		o.RateLimitPerMinute = 60
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 4
	}
	if o.QueueWait <= 0 {
		o.QueueWait = 10 * time.Second
	}
	if o.DownloadTimeout <= 0 {
		o.DownloadTimeout = 60 * time.Second
	}
	if o.Sniff == nil {
		o.Sniff = func(data []byte) error {
			_, err := decode.Sniff(data)
			return err
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server answers the songflow HTTP API. Create it with New; it is an
// http.Handler, and Serve runs it on a listener until shut down.
type Server struct {
	opts     Options
	analyzer Analyzer
	store    *store.Store
	log      *slog.Logger
	started  time.Time

	mux       *http.ServeMux
	metrics   *metrics
	admission *admission
	// bodies is the room, in bytes, for upload and download bodies held
	// in memory at once (see roomReader); readers counts the readers that
	// have taken some, to tell the older from the younger.
	bodies  *room
	readers atomic.Uint64
	limiter *rateLimiter
	fetcher *downloader

	flightMu sync.Mutex
	flights  map[store.Key]*flight // analyses running, by cache key

	shutdownOnce sync.Once
	shutdownCh   chan struct{}

	// Each connection is a goroutine and a socket: a client that opens one
	// and goes quiet must not keep them. idle bounds a keep-alive
	// connection between requests, stall the wait for a request's header,
	// for each next part of its body and for each part of a reply to
	// leave (see statusWriter). A whole upload has no deadline:
	// a 200 MB song over a slow phone link may take minutes, and that is
	// fine while its bytes keep coming.
	idle, stall time.Duration

	// life ends when Serve gives up on the requests in flight; analyses,
	// which outlive the client that asked (see run), end with it.
	life    context.Context
	endLife context.CancelFunc
	// background counts the analyses running on goroutines of their own
	// (see run), which may outlive their requests: Serve waits for them.
	background sync.WaitGroup
}

// New returns a Server answering with a and caching in st. The server does
// not own either: the caller closes them after Serve returns.
func New(a Analyzer, st *store.Store, opts Options) (*Server, error) {
	if a == nil || st == nil {
		return nil, errors.New("server: nil analyzer or store")
	}
	opts.defaults()
	if opts.AnalyzerVersion == "" {
		return nil, errors.New("server: empty analyzer version: the cache key needs it")
	}
	s := &Server{
		opts:       opts,
		analyzer:   a,
		store:      st,
		log:        opts.Logger,
		started:    time.Now(),
		mux:        http.NewServeMux(),
		admission:  newAdmission(opts.MaxInFlight, opts.QueueWait),
		bodies:     newRoom(bodyRoom(opts.MaxBodyBytes, opts.MaxInFlight)),
		shutdownCh: make(chan struct{}),
		flights:    map[store.Key]*flight{},
		idle:       2 * time.Minute,
		stall:      30 * time.Second,
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	check := publicOnly
	if opts.AllowPrivateURLs {
		check = nil
	}
	s.fetcher = newDownloader(opts.DownloadTimeout, opts.MaxBodyBytes, check)
	if opts.Production {
		s.limiter = newRateLimiter(opts.RateLimitPerMinute)
	}
	s.metrics = newMetrics(a.Snapshot, s.admission.inFlight)
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	open := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, h) }
	guarded := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, s.guard(h)) }

	open("GET /health", s.handleHealth)
	guarded("POST /analyze_data", s.handleAnalyzeData)
	guarded("POST /analyze", s.handleAnalyzeURL)
	guarded("POST /analyze_batch", s.handleAnalyzeBatch)
	guarded("GET /stats", s.handleStats)
	guarded("GET /diagnostics", s.handleDiagnostics)
	guarded("GET /cache", s.handleCacheList)
	guarded("GET /cache/search", s.handleCacheSearch)
	guarded("GET /cache/export", s.handleCacheExport)
	guarded("DELETE /cache/{id}", s.handleCacheDelete)
	guarded("POST /cache/clear", s.handleCacheClear)
	guarded("POST /verify", s.handleVerify)
	guarded("POST /shutdown", s.handleShutdown)
	guarded("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP)
	// The catch-all takes what no route above matches, so that the mux's
	// own plain-text 404 and 405 never reach a client.
	s.mux.HandleFunc("/", s.notRouted)
}

// notRouted answers a request no route matches: 405 when the path
// exists for another method, else 404, both in the JSON error shape
// (the mux's own replies are plain text). The 405's Allow names every
// method the path answers, HEAD included where GET is: the mux serves
// HEAD on GET routes.
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" {
			allowed = append(allowed, m)
			if m == http.MethodGet {
				allowed = append(allowed, http.MethodHead)
			}
		}
	}
	if len(allowed) == 0 {
		writeError(w, http.StatusNotFound, "not_found", "no route "+r.URL.Path)
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path))
}

// statusWriter remembers the status code written, for the metrics, and
// gives each part of a reply until stall to leave: a client that stops
// reading a reply larger than the socket buffers (a /cache page, an
// export) would otherwise hold its handler, and the rows it holds, for
// ever.
type statusWriter struct {
	http.ResponseWriter
	code  int
	rc    *http.ResponseController
	stall time.Duration
}

// writePart is the most of a reply one write deadline covers, so that a
// large reply over a slow link is cut off only when it stops moving.
const writePart = 64 << 10

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	written := 0
	for len(b) > 0 {
		part := b[:min(len(b), writePart)]
		// A handler called without a connection has no deadline to set.
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.stall))
		n, err := w.ResponseWriter.Write(part)
		written += n
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP routes r and records its route, status and latency.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// net/http clears the write deadlines set here once the reply is
	// out, before the connection's next request.
	sw := &statusWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: s.stall}
	s.route(sw, r)
	// The pattern the mux matched, not the path, labels the metrics: a
	// fixed set.
	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	s.metrics.observe(route, code, time.Since(start).Seconds())
}

// route runs the handler the mux picks for r. A panic in it answers 500
// in the JSON error shape the clients decode, where net/http would drop
// the connection without a word; a reply already begun can only be cut
// off, as net/http does.
func (s *Server) route(sw *statusWriter, r *http.Request) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p)
		}
		s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
		if sw.code != 0 {
			panic(http.ErrAbortHandler)
		}
		clear(sw.Header()) // what the handler meant for its own reply
		writeError(sw, http.StatusInternalServerError, "internal_error", "the server failed to answer "+r.Method+" "+r.URL.Path)
	}()
	s.mux.ServeHTTP(sw, r)
}

// guard enforces API keys and the per-key rate limit in production mode.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.opts.Production {
			h(w, r)
			return
		}
		secret := r.Header.Get("X-API-Key")
		if secret == "" {
			s.metrics.rejected.WithLabelValues("unauthorized").Inc()
			writeError(w, http.StatusUnauthorized, "unauthorized", "an X-API-Key header is required")
			return
		}
		key, err := s.store.CheckKey(r.Context(), secret)
		switch {
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrKeyRevoked):
			s.metrics.rejected.WithLabelValues("unauthorized").Inc()
			writeError(w, http.StatusForbidden, "forbidden", "the API key is not valid")
			return
		case err != nil:
			s.log.Error("check API key", "err", err)
			writeError(w, http.StatusInternalServerError, "internal_error", "cannot check the API key")
			return
		}
		if ok, wait := s.limiter.allow(key.ID, time.Now()); !ok {
			s.metrics.rejected.WithLabelValues("rate_limited").Inc()
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("more than %d requests a minute for this key", s.opts.RateLimitPerMinute))
			return
		}
		h(w, r)
	}
}

// writeJSON writes v as a JSON reply with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a NaN or infinity that escaped scrubbing can get here; the
		// client still gets the error shape it decodes.
		status = http.StatusInternalServerError
		body, _ = json.Marshal(apiError{Error: "internal_error", Message: "cannot encode reply: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// apiError is the body of every error reply.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, apiError{Error: code, Message: message})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	writeJSON(w, http.StatusOK, struct {
		Running   bool    `json:"running"`
		Port      int     `json:"port"`
		Version   string  `json:"version"`
		Status    string  `json:"status"`
		Server    string  `json:"server"`
		Timestamp string  `json:"timestamp"`
		Uptime    float64 `json:"uptime"`
	}{true, s.opts.Port, s.opts.Version, "healthy", "songflow", now.UTC().Format(time.RFC3339), now.Sub(s.started).Seconds()})
}

func (s *Server) handleShutdown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "Server shutting down..."})
	s.log.Info("shutdown requested over HTTP", "remote", r.RemoteAddr)
	s.RequestShutdown()
}

// RequestShutdown asks Serve to stop, as POST /shutdown does.
func (s *Server) RequestShutdown() {
	s.shutdownOnce.Do(func() { close(s.shutdownCh) })
}

// ShutdownRequested is closed once POST /shutdown has been answered.
func (s *Server) ShutdownRequested() <-chan struct{} { return s.shutdownCh }

// Serve answers requests on ln until ctx ends or a shutdown is requested,
// then shuts down gracefully: it stops accepting, lets requests in flight
// finish for up to grace, then cancels what is left and waits briefly for
// those handlers to answer. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	defer s.endLife()
	// Downloads leave keep-alive connections, each a socket and two
	// goroutines, that would otherwise outlive Serve until the remote end
	// or the idle timeout closes them.
	defer s.fetcher.client.CloseIdleConnections()
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.stall,
		IdleTimeout:       s.idle,
		BaseContext:       func(net.Listener) context.Context { return s.life },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
		s.log.Info("shutting down", "cause", context.Cause(ctx))
	case <-s.shutdownCh:
	}

	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		// Grace is over: cancel the analyses still running so their
		// handlers answer, then drop the connections.
		s.log.Warn("grace period over, cancelling requests in flight", "grace", grace)
		s.endLife()
		// A second Shutdown waits for the cancelled handlers' replies to
		// go out and their connections to fall idle: closing as soon as
		// the handlers had returned cut some replies off unsent (the
		// client read EOF instead of 503), the more so on a busy machine.
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer fcancel()
		if hs.Shutdown(fctx) != nil {
			hs.Close()
		}
	}
	// Analyses that outlived their requests (answered 504 at
	// analysis_timeout) get what is left of the grace, then are cancelled;
	// either way they end before Serve returns, so that the pipeline and
	// the store they write to are not closed under them. When the grace
	// ran out above, endLife has cancelled them already: waiting on the
	// spent sctx would only race its Done against their ending, and
	// claim to cancel analyses that may never have been there.
	if err == nil && !s.waitBackground(sctx) {
		s.log.Warn("grace period over, cancelling analyses that outlived their requests", "grace", grace)
		s.endLife()
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer bcancel()
	s.waitBackground(bctx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), serr)
	}
	return nil
}

// waitBackground waits until the background analyses have ended or ctx
// ends, and reports whether they ended.
func (s *Server) waitBackground(ctx context.Context) bool {
	ended := make(chan struct{})
	go func() {
		s.background.Wait()
		close(ended)
	}()
	select {
	case <-ended:
		return true
	case <-ctx.Done():
		return false
	}
}
