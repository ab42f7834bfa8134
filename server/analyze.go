package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// unknown is the title and artist of songs whose client named neither and
// whose tags say nothing.
const unknown = "Unknown"

// song is one analysis request, however it arrived.
type song struct {
	data       []byte
	name       string // for logs and errors; a download's address as shownURL shows it
	title      string // "" when the client gave none
	artist     string
	namespace  string
	previewURL string
	force      bool // skip the cache read (still write)
	skipChunks bool
	requestID  string
	// room is the body room data was read into; an analysis that outlives
	// its request (see run) keeps it held. Nil when data holds no room.
	room *sharedRoom
}

// sharedRoom is body room (see roomReader) that the request and an
// analysis outliving it share: the last of them to let go releases it, so
// the bytes a timed-out song still has in the pipeline stay counted in
// max_in_flight × max_body_mb. A batch's songs share the room of the
// whole batch body, so one timed-out song keeps all of it counted until
// it ends: more than its own bytes, which errs on the side of memory.
type sharedRoom struct {
	holders atomic.Int32
	release func()
}

// shareRoom returns the room release frees, held once (by the request).
func shareRoom(release func()) *sharedRoom {
	r := &sharedRoom{release: release}
	r.holders.Store(1)
	return r
}

// hold adds a holder; each holder calls done once.
func (r *sharedRoom) hold() {
	if r != nil {
		r.holders.Add(1)
	}
}

func (r *sharedRoom) done() {
	if r != nil && r.holders.Add(-1) == 0 {
		r.release()
	}
}

// analysis is the reply to an analysis request: the result's fields at the
// top level, as the Swift clients decode them, plus the cache facts. A
// batch item that failed has the same shape with Error and Message set.
type analysis struct {
	stages.Result
	Cached     bool   `json:"cached"`
	AnalyzedAt string `json:"analyzed_at,omitempty"`
	CacheID    int64  `json:"cache_id,omitempty"`
	Error      string `json:"error,omitempty"`
	Message    string `json:"message,omitempty"`

	// at is when the result was made, for requests that join its
	// analysis and so are answered, as from the cache, with analyzed_at.
	at time.Time
}

// failure is an error with the HTTP status and code it is reported with.
type failure struct {
	status     int
	code       string
	message    string
	retryAfter string // Retry-After header value, if any
}

func (f *failure) write(w http.ResponseWriter) {
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	writeError(w, f.status, f.code, f.message)
}

// readBody reads a request body of at most the configured size, holding
// room for its bytes as they arrive (see roomReader). The caller calls
// release when it no longer holds the body or anything made from it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (data []byte, release func(), f *failure) {
	limit := s.opts.MaxBodyBytes
	tooLarge := &failure{status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
		message: fmt.Sprintf("the body is larger than server.max_body_mb (%d MB)", limit>>20)}
	if r.ContentLength > limit {
		return nil, nil, tooLarge
	}
	rc := http.NewResponseController(w)
	rr := &roomReader{s: s, ctx: r.Context()}
	data, err := io.ReadAll(rr.wrap(stallReader{http.MaxBytesReader(w, r.Body, limit), rc, s.stall}))
	if err == nil {
		// The body is in: the connection may now stay quiet for as long
		// as the analysis takes. (No connection, no deadline to clear.)
		// A body cut short keeps its deadline, which bounds net/http's
		// discarding of what is left of it before the reply.
		_ = rc.SetReadDeadline(time.Time{})
	}
	release = rr.release
	var mbe *http.MaxBytesError
	switch {
	case rr.f != nil:
		f = rr.f
	case errors.As(err, &mbe):
		f = tooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		f = &failure{status: http.StatusRequestTimeout, code: "request_timeout",
			message: fmt.Sprintf("no part of the body arrived for %v", s.stall)}
	case err != nil:
		f = &failure{status: http.StatusBadRequest, code: "bad_request", message: "cannot read the body: " + err.Error()}
	case len(data) == 0:
		f = &failure{status: http.StatusBadRequest, code: "empty_body", message: "the request body is empty"}
	}
	if f != nil {
		release()
		return nil, nil, f
	}
	return data, release, nil
}

func (s *Server) handleAnalyzeData(w http.ResponseWriter, r *http.Request) {
	sg, f := uploadSong(r.Header)
	if f != nil {
		f.write(w)
		return
	}
	data, release, f := s.readBody(w, r)
	if f != nil {
		f.write(w)
		return
	}
	sg.room = shareRoom(release)
	defer sg.room.done()
	sg.data = data
	sg.title = headerText(r.Header.Get("X-Song-Title"))
	sg.artist = headerText(r.Header.Get("X-Song-Artist"))
	sg.name = uploadName(sg.title, sg.artist)
	res, f := s.analyze(r.Context(), sg)
	if f != nil {
		if f.code == "unsupported_format" && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			// The form's boundary is what the sniffer saw first.
			f.message += "; the body must be the audio file's own bytes, not a multipart form (curl --data-binary @FILE, not -F)"
		}
		f.write(w)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// uploadSong is the part of a song an upload's headers set, for
// /analyze_data and for every song of /analyze_batch; it fails on a
// reserved namespace (see songNamespace).
func uploadSong(h http.Header) (song, *failure) {
	ns, f := songNamespace(h.Get("X-Cache-Namespace"))
	if f != nil {
		return song{}, f
	}
	return song{
		namespace:  ns,
		force:      truthy(h.Get("X-Force-Reanalyze")) || truthy(h.Get("X-Bypass-Cache")),
		skipChunks: truthy(h.Get("X-Skip-Chunk-Analysis")),
		requestID:  h.Get("X-Client-Request-Id"),
	}, nil
}

func uploadName(title, artist string) string {
	switch {
	case title == "" && artist == "":
		return "upload"
	case artist == "":
		return title
	}
	return artist + " - " + title
}

// urlRequest is the body of POST /analyze. The shipped clients send "url";
// "audio_url" is accepted too.
type urlRequest struct {
	URL               string   `json:"url"`
	AudioURL          string   `json:"audio_url"`
	Title             string   `json:"title"`
	Artist            string   `json:"artist"`
	CacheNamespace    string   `json:"cache_namespace"`
	ForceReanalyze    flexBool `json:"force_reanalyze"`
	SkipChunkAnalysis flexBool `json:"skip_chunk_analysis"`
}

// decodeJSON reads the body as JSON into v. The caller calls release
// when it no longer holds v (a batch's songs are decoded from it).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) (release func(), f *failure) {
	body, release, f := s.readBody(w, r)
	if f != nil {
		return nil, f
	}
	if err := json.Unmarshal(body, v); err != nil {
		release()
		return nil, &failure{status: http.StatusBadRequest, code: "invalid_json", message: "the body is not valid JSON: " + err.Error()}
	}
	return release, nil
}

func (s *Server) handleAnalyzeURL(w http.ResponseWriter, r *http.Request) {
	var req urlRequest
	release, f := s.decodeJSON(w, r, &req)
	if f != nil {
		f.write(w)
		return
	}
	release() // the request is a few fields; the download needs room of its own
	u := strings.TrimSpace(req.URL)
	if u == "" {
		u = strings.TrimSpace(req.AudioURL)
	}
	if u == "" {
		writeError(w, http.StatusBadRequest, "missing_url", `give the audio's address in "url"`)
		return
	}
	ns := req.CacheNamespace
	if ns == "" {
		ns = r.Header.Get("X-Cache-Namespace")
	}
	ns, f = songNamespace(ns)
	if f != nil {
		f.write(w)
		return
	}
	sg := song{
		// The name reaches logs, error messages and the pipeline; the
		// full address, which /verify matches, only the cache row.
		name:       shownRawURL(u),
		title:      strings.TrimSpace(req.Title),
		artist:     strings.TrimSpace(req.Artist),
		namespace:  ns,
		previewURL: u,
		force:      bool(req.ForceReanalyze),
		skipChunks: bool(req.SkipChunkAnalysis),
		requestID:  r.Header.Get("X-Client-Request-Id"),
	}
	room := &roomReader{s: s, ctx: r.Context()}
	sg.room = shareRoom(room.release)
	defer sg.room.done()
	data, err := s.fetcher.fetch(r.Context(), u, room.wrap)
	switch {
	case room.f != nil:
		room.f.write(w)
		return
	case err != nil && r.Context().Err() != nil:
		// The server cut the download short (the client left, or a
		// shutdown's grace ended), not the remote host: answered as
		// every request cancelled under it is, 503 with Retry-After,
		// rather than a 502 blaming the address.
		s.log.Warn("download cancelled", "url", sg.name, "request_id", sg.requestID, "err", err)
		s.analysisFailure(r.Context(), err).write(w)
		return
	case errors.Is(err, errURLNotAllowed):
		writeError(w, http.StatusBadRequest, "url_not_allowed", err.Error())
		return
	case err != nil:
		s.log.Warn("download failed", "url", sg.name, "request_id", sg.requestID, "err", err)
		writeError(w, http.StatusBadGateway, "download_failed", err.Error())
		return
	case len(data) == 0:
		writeError(w, http.StatusBadGateway, "download_failed", "the download is empty")
		return
	}
	sg.data = data
	res, f := s.analyze(r.Context(), sg)
	if f != nil {
		f.write(w)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// maxBatch is the most songs one /analyze_batch request may carry.
const maxBatch = 10

// batchItem is one song of POST /analyze_batch.
type batchItem struct {
	AudioData string `json:"audio_data"` // base64
	Title     string `json:"title"`
	Artist    string `json:"artist"`
}

func (s *Server) handleAnalyzeBatch(w http.ResponseWriter, r *http.Request) {
	// Each song is decoded on its own, so that one malformed song fails
	// alone, as a result object with error set, like any other failed
	// song: a client decodes the reply with one type. A reserved
	// namespace is every song's problem, so it fails the request.
	base, f := uploadSong(r.Header)
	if f != nil {
		f.write(w)
		return
	}
	var raws []json.RawMessage
	release, f := s.decodeJSON(w, r, &raws)
	if f != nil {
		f.write(w)
		return
	}
	base.room = shareRoom(release)
	defer base.room.done()
	if len(raws) == 0 {
		writeError(w, http.StatusBadRequest, "empty_batch", "the batch holds no songs")
		return
	}
	if len(raws) > maxBatch {
		writeError(w, http.StatusBadRequest, "batch_too_large",
			fmt.Sprintf("a batch holds at most %d songs, this one %d", maxBatch, len(raws)))
		return
	}
	out := make([]analysis, len(raws))
	// The batch's songs take turns, at most max_in_flight at a time: more
	// would wait for pipeline slots their own siblings hold, and be
	// answered busy after queue_wait by a server busy with nothing but
	// this batch. A song waits here for a sibling to finish, then for a
	// slot against other clients' songs only.
	turns := make(chan struct{}, min(len(raws), max(s.opts.MaxInFlight, 1)))
	var wg sync.WaitGroup
	for i := range raws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var it batchItem
			// On a field of the wrong type Unmarshal still fills the
			// others, so the failed item keeps its title.
			jerr := json.Unmarshal(raws[i], &it)
			raws[i] = nil
			sg := base
			sg.title = strings.TrimSpace(it.Title)
			sg.artist = strings.TrimSpace(it.Artist)
			sg.name = fmt.Sprintf("batch[%d] %s", i, uploadName(sg.title, sg.artist))
			var f *failure
			if jerr != nil {
				f = &failure{code: "invalid_item",
					message: fmt.Sprintf("song %d is not {audio_data, title, artist} with string values: %v", i, jerr)}
			} else {
				data, err := decodeBase64(it.AudioData)
				it.AudioData = ""
				switch {
				case err != nil:
					f = &failure{code: "invalid_audio_data", message: "audio_data is not base64: " + err.Error()}
				case len(data) == 0:
					f = &failure{code: "empty_body", message: "audio_data is empty"}
				default:
					sg.data = data
					select {
					case turns <- struct{}{}:
						out[i], f = s.analyze(r.Context(), sg)
						<-turns
					case <-r.Context().Done():
						f = s.analysisFailure(r.Context(), r.Context().Err())
					}
				}
			}
			if f != nil {
				out[i] = failedItem(sg, f)
			}
		}()
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, out)
}

// failedItem is a batch entry for a song that could not be analysed: the
// same shape as a result, so clients decode the array with one type.
func failedItem(sg song, f *failure) analysis {
	a := analysis{Error: f.code, Message: f.message}
	a.File = sg.name
	a.Title, a.Artist = orUnknown(sg.title), orUnknown(sg.artist)
	a.BPMCandidates = []stages.TempoCandidate{}
	a.KeyDetails.Scores = []stages.KeyScore{}
	return a
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	// Data URLs ("data:audio/mpeg;base64,....") carry a prefix.
	if i := strings.Index(s, ";base64,"); i >= 0 && strings.HasPrefix(s, "data:") {
		s = s[i+len(";base64,"):]
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return nil, err
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// analyze answers one song from the cache or the pipeline.
func (s *Server) analyze(ctx context.Context, sg song) (analysis, *failure) {
	key := store.Key{
		Hash:            store.HashContent(sg.data),
		AnalyzerVersion: s.opts.AnalyzerVersion,
		Namespace:       sg.namespace,
		SkipChunks:      sg.skipChunks,
	}
	log := s.log.With("song", sg.name, "request_id", sg.requestID, "namespace", sg.namespace, "hash", key.Hash[:12])
	a, f := s.answer(ctx, sg, key, log)
	switch {
	case f != nil:
		log.Warn("song not analysed", "status", f.status, "error", f.code, "message", f.message)
	case a.Cached:
		log.Info("answered from the cache", "bpm", a.BPM, "key", a.Key, "cache_id", a.CacheID)
	}
	return a, f
}

// answer is analyze's work: the cache, a running analysis of the same
// bytes, or a new one.
func (s *Server) answer(ctx context.Context, sg song, key store.Key, log *slog.Logger) (analysis, *failure) {
	if !sg.force {
		if a, f, ok := s.fromCache(ctx, key, sg, log); ok {
			if f != nil {
				return analysis{}, f
			}
			return named(a, sg), nil
		}
	}
	for {
		// Identical songs arriving together (a client retrying while its
		// first request still runs) share one analysis.
		s.flightMu.Lock()
		f, running := s.flights[key]
		if !running {
			f = &flight{done: make(chan struct{}), url: sg.previewURL}
			s.flights[key] = f
		} else {
			f.waiters++
		}
		s.flightMu.Unlock()
		if !running {
			return s.lead(ctx, f, sg, key, log)
		}
		if landed, o := s.await(ctx, f, sg.name); !landed {
			return analysis{}, o.f
		}
		if f.fail != nil && f.fail.code == "cancelled" {
			continue // the first client left; this one still wants the answer
		}
		if f.fail != nil {
			return analysis{}, f.fail
		}
		// Answered by another request's analysis: to the statistics and
		// to the client, a cache hit, with the time the result was made.
		s.hit(ctx, log)
		a := f.res
		a.Cached = true
		a.AnalyzedAt = a.at.UTC().Format(time.RFC3339)
		if sg.previewURL != "" && sg.previewURL != f.url {
			s.notePreviewURL(ctx, key, sg.previewURL, log)
		}
		return named(a, sg), nil
	}
}

// named gives a result analysed for other bytes-identical requests the
// title and artist this request named, since the cache key is the
// content alone, and "Unknown" where neither names one (a result the
// watcher stored may have no title), so the fields are always there.
func named(a analysis, sg song) analysis {
	if sg.title != "" {
		a.Title = sg.title
	}
	if sg.artist != "" {
		a.Artist = sg.artist
	}
	a.Title, a.Artist = orUnknown(a.Title), orUnknown(a.Artist)
	return a
}

// noTempo is the reply for a song in which no tempo was found: the
// clients require a bpm above 0.
func noTempo(name string) *failure {
	return &failure{status: http.StatusUnprocessableEntity, code: "analysis_failed",
		message: "no tempo found in " + name}
}

// lead runs the analysis f stands for and hands its outcome to f's
// waiters. A panic in the analysis becomes a 500 for this song alone: the
// flight lands, or its waiters and every later request for the same bytes
// would wait for it until the server restarts; and the panic goes no
// further, since a batch's songs run on goroutines of their own, where
// a panic would take the whole server down. Once the analysis runs on a
// goroutine of its own (see run), that goroutine lands the flight when
// the analysis ends, which may be after this request was answered 504:
// a retry meanwhile joins it instead of analysing the same bytes again.
func (s *Server) lead(ctx context.Context, f *flight, sg song, key store.Key, log *slog.Logger) (res analysis, fail *failure) {
	started := false
	defer func() {
		if p := recover(); p != nil {
			log.Error("analysis panicked", "panic", p, "stack", string(debug.Stack()))
			res, fail = analysis{}, &failure{status: http.StatusInternalServerError, code: "internal_error",
				message: "the analysis of " + sg.name + " stopped unexpectedly"}
			if !started {
				f.res, f.fail = res, fail
			}
		}
		if !started {
			s.land(f, key)
		}
	}()
	o := s.run(ctx, f, sg, key, log, &started)
	if !started {
		f.res, f.fail = o.a, o.f
	}
	return o.a, o.f
}

// land hands f's outcome, set before, to its waiters, and lets the next
// request for its bytes start a flight of its own.
func (s *Server) land(f *flight, key store.Key) {
	s.flightMu.Lock()
	delete(s.flights, key)
	s.flightMu.Unlock()
	close(f.done)
}

// flight is one analysis that identical concurrent requests wait for.
type flight struct {
	done    chan struct{} // closed when res and fail are set
	waiters int           // requests waiting besides the first; under Server.flightMu
	url     string        // the address the first request downloaded the song from, if any
	res     analysis
	fail    *failure
}

// run analyses sg through the pipeline and caches the result, for flight
// f. It sets *started once the analysis runs on its own goroutine, which
// then owns the admission slot, a hold on the body room and the landing
// of f.
func (s *Server) run(ctx context.Context, f *flight, sg song, key store.Key, log *slog.Logger, started *bool) outcome {
	if err := s.opts.Sniff(sg.data); err != nil {
		// Worded as the pipeline's decode stage words the same error, so
		// a client sees one form whichever found it.
		return outcome{f: s.analysisFailure(ctx, &pipeline.StageError{Stage: "decode", Song: sg.name, Err: err})}
	}
	ok, err := s.admission.acquire(ctx)
	if err != nil {
		return outcome{f: s.analysisFailure(ctx, err)}
	}
	if !ok {
		s.metrics.rejected.WithLabelValues("busy").Inc()
		return outcome{f: &failure{status: http.StatusServiceUnavailable, code: "busy",
			message:    fmt.Sprintf("%d songs are being analysed; none finished within %v", s.opts.MaxInFlight, s.opts.QueueWait),
			retryAfter: retryAfter(s.opts.QueueWait)}}
	}
	// Once admitted, the song runs to its end even if the client leaves or
	// server.analysis_timeout passes first: the pipeline finishes a song
	// whose caller stopped waiting anyway, so giving up here would free the
	// slot while the song still fills the pipeline (more than max_in_flight
	// songs inside it), and throw away the result a retrying client (or
	// one waiting on this flight) then has to pay for again. The analysis
	// therefore runs on a goroutine of its own, started at once (nothing
	// between the slot's taking and the goroutine may fail and lose it),
	// that holds the slot and the body room until the pipeline is done
	// with the song, caches its result and lands the flight; only
	// analysis.song_timeout and the end of the server stop it (Serve waits
	// for it). The request waits for it up to server.analysis_timeout.
	*started = true
	s.background.Add(1)
	sg.room.hold()
	go func() {
		defer s.background.Done()
		o := s.finishAnalysis(ctx, sg, key, log) // never panics: it recovers
		// The slot and the room are free before anyone hears the song is
		// done: a client answered must find them free.
		sg.room.done()
		s.admission.release()
		f.res, f.fail = o.a, o.f
		s.land(f, key)
	}()
	_, o := s.await(ctx, f, sg.name)
	return o
}

// await waits for flight f to land and returns its outcome, landed true.
// A request waits for it up to server.analysis_timeout, however long the
// analysis has run already, and gives up when its client leaves; the
// analysis goes on either way, and the outcome is then the 504, or the
// reply for the request's end.
func (s *Server) await(ctx context.Context, f *flight, name string) (landed bool, o outcome) {
	timer := time.NewTimer(s.opts.AnalysisTimeout)
	defer timer.Stop()
	select {
	case <-f.done:
		return true, outcome{f.res, f.fail}
	case <-timer.C:
		return false, outcome{f: timeoutFailure(name, s.opts.AnalysisTimeout)}
	case <-ctx.Done():
		return false, outcome{f: s.analysisFailure(ctx, ctx.Err())}
	}
}

// timeoutFailure is the reply to a request whose song's analysis did not
// end within server.analysis_timeout, d.
func timeoutFailure(name string, d time.Duration) *failure {
	return &failure{status: http.StatusGatewayTimeout, code: "timeout",
		message: fmt.Sprintf("analysis of %s did not finish within %v (server.analysis_timeout); it goes on, and a request for the same song meanwhile waits for it, or once it ends is answered from the cache",
			name, d)}
}

// outcome is what an analysis comes to: a result or the reply for its
// failure.
type outcome struct {
	a analysis
	f *failure
}

// finishAnalysis runs sg through the pipeline, under a context that ends
// with the server rather than the request (ctx, kept for its values), and
// caches a result with a tempo. A panic
// becomes a 500 for this song alone: the goroutine it runs on is no
// handler's, where net/http would catch it, and the server would go down.
func (s *Server) finishAnalysis(ctx context.Context, sg song, key store.Key, log *slog.Logger) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("analysis panicked", "panic", p, "stack", string(debug.Stack()))
			o = outcome{f: &failure{status: http.StatusInternalServerError, code: "internal_error",
				message: "the analysis of " + sg.name + " stopped unexpectedly"}}
		}
	}()
	// A miss is a song that will be analysed: one refused before
	// admission was neither analysed nor answered, and counted as a miss
	// it would dilute the hit rate /stats shows. It is stored once the
	// analysis ends, as the result is, so that a database another program
	// holds locked delays the analysis by no busy timeout; /stats read
	// after an answer shows it.
	s.metrics.misses.Inc()
	defer s.count(ctx, "cache_misses", log)
	dctx, stop := s.detach(ctx)
	defer stop()
	start := time.Now()
	res, err := s.analyzer.Analyze(dctx, stages.Job{Name: sg.name, Data: sg.data, Title: sg.title, Artist: sg.artist, SkipChunks: sg.skipChunks})
	if err != nil {
		return outcome{f: s.analysisFailure(dctx, err)} // analyze logs it
	}
	scrub(&res)
	if res.BPM <= 0 {
		return outcome{f: noTempo(sg.name)}
	}
	if res.AnalysisDuration <= 0 {
		res.AnalysisDuration = time.Since(start).Seconds()
	}
	if sg.title != "" {
		res.Title = sg.title
	}
	if sg.artist != "" {
		res.Artist = sg.artist
	}
	// The cache row keeps only names someone gave (the request or the
	// file's tags): a placeholder would overwrite the name an earlier
	// request gave the same bytes.
	title, artist := res.Title, res.Artist
	res.Title, res.Artist = orUnknown(res.Title), orUnknown(res.Artist)
	blob, err := json.Marshal(res)
	if err != nil {
		return outcome{f: &failure{status: http.StatusInternalServerError, code: "internal_error", message: "cannot encode the result: " + err.Error()}}
	}
	now := time.Now().UTC()
	var id int64
	if key.Namespace == store.WatchNamespace {
		// Clients read the watcher's namespace but store no song there: a
		// song stored there would replace a watched file's result with one
		// no file of the folder gave (no name, other settings).
		log.Info("not cached: clients store no song in the watcher's namespace")
	} else {
		// A client that left still paid for the analysis: keep it.
		id, err = s.store.Put(context.WithoutCancel(ctx), store.Entry{Key: key, Title: title, Artist: artist,
			PreviewURL: sg.previewURL, Result: blob, AnalyzedAt: now})
		if err != nil {
			// The answer is still good; only the cache missed a write.
			log.Error("cache write failed", "err", err)
		}
	}
	s.count(ctx, "total_analyses", log)
	log.Info("analysed", "bpm", res.BPM, "key", res.Key, "loudness", res.Loudness,
		"ms", time.Since(start).Milliseconds())
	return outcome{a: analysis{Result: res, CacheID: id, at: now}}
}

// detach returns a context with ctx's values that ends with the server
// rather than with ctx; stop releases it.
func (s *Server) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(s.life, cancel)
	return dctx, func() {
		unhook()
		cancel()
	}
}

// fromCache looks key up, counting a hit; ok is false when the song must
// be analysed. A song downloaded from an address other than the one its
// row records gets the new address, so that /verify finds the row by the
// address this client knows (tokens in preview addresses change).
func (s *Server) fromCache(ctx context.Context, key store.Key, sg song, log *slog.Logger) (a analysis, f *failure, ok bool) {
	e, ok, err := s.store.Get(ctx, key)
	if err != nil {
		// A client that left before the lookup ended it: no fault of
		// the store's, and its request ends at the slot it cannot take.
		if ctx.Err() == nil {
			log.Error("cache read failed", "err", err)
		}
		return analysis{}, nil, false
	}
	if !ok {
		return analysis{}, nil, false
	}
	var res stages.Result
	if err := json.Unmarshal(e.Result, &res); err != nil {
		log.Error("cached result unreadable; analysing again", "id", e.ID, "err", err)
		return analysis{}, nil, false
	}
	scrub(&res)
	// The row holds the latest name anyone gave these bytes; the result
	// the one its analysis was given, "Unknown" if none.
	if e.Title != "" {
		res.Title = e.Title
	}
	if e.Artist != "" {
		res.Artist = e.Artist
	}
	s.hit(ctx, log)
	if sg.previewURL != "" && sg.previewURL != e.PreviewURL {
		s.notePreviewURL(ctx, key, sg.previewURL, log)
	}
	if res.BPM <= 0 {
		// Only the watcher stores such results (this server never does),
		// in a namespace a client may name too.
		return analysis{}, noTempo(sg.name), true
	}
	return analysis{Result: res, Cached: true, AnalyzedAt: e.AnalyzedAt.UTC().Format(time.RFC3339), CacheID: e.ID}, nil, true
}

// notePreviewURL records u as the address the song under key was
// downloaded from.
func (s *Server) notePreviewURL(ctx context.Context, key store.Key, u string, log *slog.Logger) {
	if key.Namespace == store.WatchNamespace {
		return // the watcher's rows are its own (see finishAnalysis)
	}
	if _, err := s.store.SetPreviewURL(context.WithoutCancel(ctx), key, u); err != nil {
		log.Error("cache write failed", "err", err)
	}
}

// hit counts a song answered without analysing it again.
func (s *Server) hit(ctx context.Context, log *slog.Logger) {
	s.metrics.hits.Inc()
	s.count(ctx, "cache_hits", log)
	s.count(ctx, "total_analyses", log)
}

// count adds one to a persistent statistic; a failure costs only the
// statistic.
func (s *Server) count(ctx context.Context, name string, log *slog.Logger) {
	if err := s.store.Add(context.WithoutCancel(ctx), name, 1); err != nil {
		log.Error("count "+name, "err", err)
	}
}

// analysisFailure maps an analysis error to its reply.
func (s *Server) analysisFailure(ctx context.Context, err error) *failure {
	switch {
	case errors.Is(err, decode.ErrUnsupported):
		return &failure{status: http.StatusUnsupportedMediaType, code: "unsupported_format", message: err.Error()}
	case errors.Is(err, decode.ErrEmpty), errors.Is(err, decode.ErrCorrupt), errors.Is(err, decode.ErrTooLong):
		return &failure{status: http.StatusUnprocessableEntity, code: "invalid_audio", message: err.Error()}
	case errors.Is(err, pipeline.ErrTimeout), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		// The song's own deadline (analysis.song_timeout) passed in the
		// pipeline; the error says which and how long it was.
		return &failure{status: http.StatusGatewayTimeout, code: "timeout", message: "analysis timed out: " + err.Error()}
	case ctx.Err() != nil:
		// The client left, or the server is shutting down.
		return &failure{status: http.StatusServiceUnavailable, code: "cancelled", message: "the request was cancelled: " + err.Error(),
			retryAfter: cancelledRetryAfter}
	}
	return &failure{status: http.StatusInternalServerError, code: "analysis_failed", message: err.Error()}
}

// silenceLUFS stands in for the loudness of digital silence, -∞ LUFS: it
// is the absolute gate of EBU R 128 / ITU-R BS.1770-4, below which nothing
// counts as programme.
const silenceLUFS = -70

// scrub makes every number in r finite, because Swift's JSONDecoder and
// encoding/json both reject NaN and infinities. It walks r by reflection so
// fields added to stages.Result later are covered too.
func scrub(r *stages.Result) {
	if math.IsInf(r.Loudness, -1) {
		r.Loudness = silenceLUFS
	}
	if math.IsInf(r.TruePeak, -1) {
		r.TruePeak = silenceLUFS
	}
	scrubValue(reflect.ValueOf(r).Elem())
	if r.BPMCandidates == nil {
		r.BPMCandidates = []stages.TempoCandidate{}
	}
	if r.KeyDetails.Scores == nil {
		r.KeyDetails.Scores = []stages.KeyScore{}
	}
}

func scrubValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if x := v.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
			v.SetFloat(0)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scrubValue(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			scrubValue(v.Index(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			scrubValue(v.Elem())
		}
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.Float64 {
			for _, k := range v.MapKeys() {
				if x := v.MapIndex(k).Float(); math.IsNaN(x) || math.IsInf(x, 0) {
					v.SetMapIndex(k, reflect.ValueOf(0.0).Convert(v.Type().Elem()))
				}
			}
		}
	}
}
