package server

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

// cacheRow is one cached result as /cache lists it: the result's fields
// plus what the user added.
type cacheRow struct {
	stages.Result
	ID           int64    `json:"id"`
	Title        string   `json:"title"`
	Artist       string   `json:"artist"`
	PreviewURL   string   `json:"preview_url"`
	AnalyzedAt   string   `json:"analyzed_at"`
	UserVerified bool     `json:"user_verified"`
	ManualBPM    *float64 `json:"manual_bpm"`
	ManualKey    *string  `json:"manual_key"`
	BPMNotes     *string  `json:"bpm_notes"`
	Namespace    string   `json:"namespace"`
	ContentHash  string   `json:"content_hash"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toRow(e store.Entry) (cacheRow, error) {
	row := cacheRow{
		ID: e.ID, Title: orUnknown(e.Title), Artist: orUnknown(e.Artist), PreviewURL: e.PreviewURL,
		AnalyzedAt: e.AnalyzedAt.UTC().Format(time.RFC3339), UserVerified: e.UserVerified,
		ManualBPM: e.ManualBPM, ManualKey: nullable(e.ManualKey), BPMNotes: nullable(e.BPMNotes),
		Namespace: e.Key.Namespace, ContentHash: e.Key.Hash,
	}
	if err := json.Unmarshal(e.Result, &row.Result); err != nil {
		return cacheRow{}, fmt.Errorf("cache row %d: %w", e.ID, err)
	}
	scrub(&row.Result)
	return row, nil
}

// requestNamespace is the namespace a cache route works on: the namespace
// query parameter, else the X-Cache-Namespace header, else "default";
// "all" or "*" mean every namespace.
func requestNamespace(r *http.Request) string {
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = r.Header.Get("X-Cache-Namespace")
	}
	if clean, all := listNamespace(ns); !all {
		return clean
	}
	return store.AllNamespaces
}

// queryInt reads an integer query parameter of at least least (0 or 1).
func queryInt(r *http.Request, name string, def, least int) (int, *failure) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		what := "a non-negative integer"
		if least > 0 {
			what = "a positive integer"
		}
		return 0, &failure{status: http.StatusBadRequest, code: "bad_request",
			message: fmt.Sprintf("%s must be %s, not %q", name, what, v)}
	}
	return n, nil
}

// maxListed caps one /cache page.
const maxListed = 1000

func (s *Server) listRows(w http.ResponseWriter, r *http.Request, search string) {
	// limit=0 is refused rather than read as "no limit" or as one row:
	// the contract gives it no meaning, and either reading would surprise.
	limit, f := queryInt(r, "limit", 100, 1)
	if f != nil {
		f.write(w)
		return
	}
	offset, f := queryInt(r, "offset", 0, 0)
	if f != nil {
		f.write(w)
		return
	}
	rows, err := s.rows(r, store.Query{Namespace: requestNamespace(r), Search: search,
		Limit: min(limit, maxListed), Offset: offset})
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

// rows lists the entries q selects as rows, leaving out (and logging) any
// whose stored result cannot be read.
func (s *Server) rows(r *http.Request, q store.Query) ([]cacheRow, error) {
	entries, err := s.store.List(r.Context(), q)
	if err != nil {
		return nil, err
	}
	rows := make([]cacheRow, 0, len(entries))
	for _, e := range entries {
		row, err := toRow(e)
		if err != nil {
			s.log.Error("unreadable cache row", "err", err)
			continue
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (s *Server) internal(w http.ResponseWriter, err error) {
	s.log.Error("internal error", "err", err)
	writeError(w, http.StatusInternalServerError, "internal_error", err.Error())
}

func (s *Server) handleCacheList(w http.ResponseWriter, r *http.Request) {
	s.listRows(w, r, "")
}

// handleCacheSearch lists the rows whose title or artist holds q. An
// empty or missing q holds in every row, so it lists as /cache does: the
// control panel asks for q= when its search field is cleared, and
// decodes the reply as rows.
func (s *Server) handleCacheSearch(w http.ResponseWriter, r *http.Request) {
	s.listRows(w, r, strings.TrimSpace(r.URL.Query().Get("q")))
}

func (s *Server) handleCacheDelete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("cache id %q is not an integer", r.PathValue("id")))
		return
	}
	switch err := s.store.Delete(r.Context(), id); {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no cached result %d", id))
	case err != nil:
		s.internal(w, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": fmt.Sprintf("Deleted cached result %d", id)})
	}
}

func (s *Server) handleCacheClear(w http.ResponseWriter, r *http.Request) {
	ns := requestNamespace(r)
	n, err := s.store.Clear(r.Context(), ns)
	if err != nil {
		s.internal(w, err)
		return
	}
	s.log.Info("cache cleared", "namespace", ns, "rows", n)
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "cleared": n,
		"message": fmt.Sprintf("Cleared %d cached results", n)})
}

// exportColumns are the CSV header the Swift control panel's export has
// always had.
var exportColumns = [...]string{
	"Title", "Artist", "Preview URL", "BPM", "BPM Confidence (%)", "Key", "Key Confidence (%)",
	"Energy (%)", "Danceability (%)", "Acousticness (%)", "Brightness (Hz)", "Time Signature",
	"Valence (%)", "Loudness (dB)", "Dynamic Range (dB)", "Silence Ratio (%)",
	"Analysis Duration (s)", "Analyzed At",
}

// csvText keeps spreadsheet programs from running a cell as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func num(x float64, decimals int) string { return strconv.FormatFloat(x, 'f', decimals, 64) }

func pct(x float64) string { return num(100*x, 1) }

func exportRecord(row cacheRow) []string {
	r := row.Result
	return []string{
		csvText(row.Title), csvText(row.Artist), csvText(row.PreviewURL),
		num(r.BPM, 1), pct(r.BPMConfidence), r.Key, pct(r.KeyConfidence),
		pct(r.Energy), pct(r.Danceability), pct(r.Acousticness), num(r.SpectralCentroid, 0),
		r.TimeSignature, pct(r.Valence), num(r.Loudness, 1), num(r.DynamicRange, 1),
		pct(r.SilenceRatio), num(r.AnalysisDuration, 2), row.AnalyzedAt,
	}
}

func (s *Server) handleCacheExport(w http.ResponseWriter, r *http.Request) {
	rows, err := s.rows(r, store.Query{Namespace: requestNamespace(r)})
	if err != nil {
		s.internal(w, err)
		return
	}
	name := "cache_export_" + time.Now().Format("20060102_150405") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	cw := csv.NewWriter(w)
	cw.Write(exportColumns[:])
	for _, row := range rows {
		cw.Write(exportRecord(row))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.log.Warn("cache export cut short", "err", err)
	}
}

// verifyRequest is the body of POST /verify.
type verifyRequest struct {
	URL       string     `json:"url"`
	ManualBPM flexNumber `json:"manual_bpm"`
	ManualKey string     `json:"manual_key"`
	BPMNotes  string     `json:"bpm_notes"`
}

func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	var req verifyRequest
	release, f := s.decodeJSON(w, r, &req)
	if f != nil {
		f.write(w)
		return
	}
	release()
	req.URL = strings.TrimSpace(req.URL)
	if req.URL == "" {
		writeError(w, http.StatusBadRequest, "missing_url", `give the song's address in "url"`)
		return
	}
	bpm := req.ManualBPM.p
	if bpm != nil && (*bpm <= 0 || *bpm > 1000) {
		writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("manual_bpm %g is not a tempo", *bpm))
		return
	}
	// Rows are matched by the whole address, token and all, as /analyze
	// stored it; logs and messages show only its shownURL form.
	n, err := s.store.Verify(r.Context(), req.URL, store.Verification{
		ManualBPM: bpm, ManualKey: strings.TrimSpace(req.ManualKey), BPMNotes: req.BPMNotes})
	shown := shownRawURL(req.URL)
	if err != nil {
		// The store's error names the address it was given.
		s.internal(w, errors.New(strings.ReplaceAll(err.Error(), req.URL, shown)))
		return
	}
	if n == 0 {
		writeError(w, http.StatusNotFound, "not_found", "no cached result was downloaded from "+shown)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true,
		"message": fmt.Sprintf("Verified %d cached result(s) for %s", n, shown)})
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var counters [3]store.Counter
	for i, name := range []string{"total_analyses", "cache_hits", "cache_misses"} {
		c, err := s.store.Counter(ctx, name)
		if err != nil {
			s.internal(w, err)
			return
		}
		counters[i] = c
	}
	songs, err := s.store.Count(ctx, store.AllNamespaces)
	if err != nil {
		s.internal(w, err)
		return
	}
	last := s.started
	for _, c := range counters {
		if c.UpdatedAt.After(last) {
			last = c.UpdatedAt
		}
	}
	hits, misses := counters[1].Value, counters[2].Value
	rate := 0.0
	if hits+misses > 0 {
		rate = float64(hits) / float64(hits+misses)
	}
	writeJSON(w, http.StatusOK, struct {
		TotalAnalyses    int64   `json:"total_analyses"`
		CacheHits        int64   `json:"cache_hits"`
		CacheMisses      int64   `json:"cache_misses"`
		CacheHitRate     float64 `json:"cache_hit_rate"`
		LastUpdated      string  `json:"last_updated"`
		TotalCachedSongs int     `json:"total_cached_songs"`
		DatabasePath     string  `json:"database_path"`
	}{counters[0].Value, hits, misses, rate, last.UTC().Format(time.RFC3339), songs, s.store.Path()})
}

// stageReport is one stage of the engine snapshot in /diagnostics, with
// durations in seconds.
type stageReport struct {
	Name             string  `json:"name"`
	Workers          int     `json:"workers"`
	Buffer           int     `json:"buffer"`
	In               uint64  `json:"in"`
	Out              uint64  `json:"out"`
	Errors           uint64  `json:"errors"`
	BusySeconds      float64 `json:"busy_seconds"`
	Utilisation      float64 `json:"utilisation"`
	P50Seconds       float64 `json:"p50_seconds"`
	P95Seconds       float64 `json:"p95_seconds"`
	MaxSeconds       float64 `json:"max_seconds"`
	Queue            int     `json:"queue"`
	SuggestedWorkers int     `json:"suggested_workers"`
}

type pipelineReport struct {
	ElapsedSeconds float64       `json:"elapsed_seconds"`
	Submitted      uint64        `json:"submitted"`
	Completed      uint64        `json:"completed"`
	Failed         uint64        `json:"failed"`
	InFlight       int           `json:"in_flight"`
	Bottleneck     string        `json:"bottleneck"`
	Stages         []stageReport `json:"stages"`
}

// component is one part of the server in /diagnostics. Status is
// "operational", "degraded" (working, with a warning saying why) or
// "error": the words the macOS control panel marks ✅, ⚠️ and ❌.
type component struct {
	Status string         `json:"status"`
	Detail map[string]any `json:"detail,omitempty"`
	// The panel shows these two of the database's.
	CacheEntries  *int   `json:"cache_entries,omitempty"`
	TotalAnalyses *int64 `json:"total_analyses,omitempty"`
}

const (
	statusOperational = "operational"
	statusDegraded    = "degraded"
	statusError       = "error"
)

func (s *Server) handleDiagnostics(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	o := s.opts
	warnings := []string{}
	overall := "healthy"

	db := component{Status: statusOperational, Detail: map[string]any{"path": s.store.Path()}}
	if mode, err := s.store.JournalMode(ctx); err != nil {
		db.Status, overall = statusError, "degraded"
		warnings = append(warnings, "database: "+err.Error())
	} else {
		db.Detail["journal_mode"] = mode
		if n, err := s.store.Count(ctx, store.AllNamespaces); err == nil {
			db.CacheEntries = &n
		}
		if c, err := s.store.Counter(ctx, "total_analyses"); err == nil {
			db.TotalAnalyses = &c.Value
		}
	}

	snap := s.analyzer.Snapshot()
	rep := pipelineReport{ElapsedSeconds: snap.Elapsed.Seconds(), Submitted: snap.Submitted,
		Completed: snap.Completed, Failed: snap.Failed, InFlight: snap.InFlight,
		Bottleneck: snap.Bottleneck, Stages: []stageReport{}}
	for _, st := range snap.Stages {
		rep.Stages = append(rep.Stages, stageReport{Name: st.Name, Workers: st.Workers, Buffer: st.Buffer,
			In: st.In, Out: st.Out, Errors: st.Errors, BusySeconds: st.Busy.Seconds(),
			Utilisation: finite(st.Utilisation), P50Seconds: st.P50.Seconds(), P95Seconds: st.P95.Seconds(),
			MaxSeconds: st.Max.Seconds(), Queue: st.Queue, SuggestedWorkers: st.SuggestedWorkers})
	}
	inFlight := s.admission.inFlight()
	engine := component{Status: statusOperational, Detail: map[string]any{"in_flight": inFlight, "max_in_flight": o.MaxInFlight}}
	if inFlight >= o.MaxInFlight {
		engine.Status = statusDegraded
		warnings = append(warnings, fmt.Sprintf("analyzer: all %d slots busy; new songs wait up to %v", o.MaxInFlight, o.QueueWait))
	}
	mode := "development"
	if o.Production {
		mode = "production"
	} else {
		warnings = append(warnings, "development mode: no API key is required")
	}
	if o.AllowPrivateURLs {
		warnings = append(warnings, "server.allow_private_urls is on: /analyze may fetch from private networks")
	}
	stageWorkers := o.Analysis.Workers
	if stageWorkers == nil {
		stageWorkers = map[string]int{}
	}
	// The replaced server's workers were its process pool; the engine's
	// closest figure is how many stage workers can run at once.
	workers := 0
	for _, n := range stageWorkers {
		workers += n
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"overall_status": overall,
		"build":          fmt.Sprintf("songflow %s (%s, %s)", o.Version, o.AnalyzerVersion, runtime.Version()),
		"build_info": map[string]string{"version": o.Version, "analyzer_version": o.AnalyzerVersion,
			"go_version": runtime.Version()},
		"mode": mode,
		"components": map[string]component{
			"database": db,
			"analyzer": engine,
			"http":     {Status: statusOperational, Detail: map[string]any{"uptime": time.Since(s.started).Seconds()}},
		},
		"warnings": warnings,
		"configuration": map[string]any{
			"analysis": map[string]any{
				"sample_rate":            o.Analysis.SampleRate,
				"fft_size":               o.Analysis.FFTSize,
				"max_duration":           finite(o.Analysis.MaxDuration),
				"max_seconds":            finite(o.Analysis.MaxSeconds),
				"workers":                workers,
				"stage_workers":          stageWorkers,
				"chunk_analysis_enabled": o.Analysis.ChunkAnalysis,
				"chunk_seconds":          finite(o.Analysis.ChunkSeconds),
				"max_chunks":             o.Analysis.MaxChunks,
			},
			"server": map[string]any{
				"port": o.Port, "max_body_mb": o.MaxBodyBytes >> 20,
				"analysis_timeout": o.AnalysisTimeout.Seconds(), "max_in_flight": o.MaxInFlight,
				"queue_wait": o.QueueWait.Seconds(), "rate_limit_per_minute": max(0, o.RateLimitPerMinute), // 0 = no limit, as in pipeline.toml
				"allow_private_urls": o.AllowPrivateURLs, "database_path": s.store.Path(),
			},
		},
		"pipeline": rep,
	})
}
