package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/pipeline"
	"github.com/songflow/songflow/reports"
	"github.com/songflow/songflow/sinks"
	"github.com/songflow/songflow/sources"
	"github.com/songflow/songflow/stages"
	"github.com/songflow/songflow/store"
)

const watchUsage = "usage: songflow watch DIR [--config FILE] [--out DIR] [--db FILE] [--stop-timeout SECONDS]"

// Files the watcher keeps in its output folder.
const (
	watchResultsFile = "results.jsonl"
	watchSummaryFile = "summary.md"
	watchLockFile    = "songflow.lock"
)

// watchPlots are the calibrate report's plots that make sense without
// ground truth; the watcher's summary shows them.
var watchPlots = []string{reports.PlotStageUtilisation, reports.PlotQueueDepth, reports.PlotThroughput}

// runWatch keeps a folder analysed: every audio file in it, and every one
// added or changed later, is analysed once, its result stored and
// appended to OUT/results.jsonl. It runs until ctx ends (SIGINT, SIGTERM),
// then finishes or abandons the songs in flight within --stop-timeout and
// exits 0. Exit status 2 is a usage or configuration error, 1 a failure
// to start (store, output folder, pipeline).
func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset, cfgPath := newFlags("watch", watchUsage, stderr)
	outDir := fset.String("out", "songflow-watch", "folder for results.jsonl, summary.md and the plots")
	dbPath := fset.String("db", "", "SQLite database (default server.db_path, shared with songflow serve)")
	stopSecs := fset.Float64("stop-timeout", 10, "seconds songs in flight may take to finish after a stop signal")
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, watchUsage)
		return 2
	}
	// NaN and seconds past a Duration's range would convert to an
	// undefined or negative grace, abandoning songs in flight at once.
	if !(*stopSecs >= 0 && *stopSecs <= float64(config.MaxSeconds)) {
		fmt.Fprintf(stderr, "songflow watch: --stop-timeout must be 0..%d seconds, got %g\n", config.MaxSeconds, *stopSecs)
		return 2
	}
	// The folder is watched under its real path: a walk does not enter a
	// symlink, so through one nothing would be found, and the records of
	// its files must not depend on the name it was reached by.
	dir, err := filepath.Abs(pos[0])
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(dir); err == nil && !st.IsDir() {
			err = errors.New("not a folder")
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "songflow watch: %s: %v\n", pos[0], err)
		return 2
	}
	cfg, origins, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 2
	}
	if *dbPath != "" {
		cfg.Server.DBPath = *dbPath
	}
	out, err := filepath.Abs(*outDir)
	if err != nil {
		fmt.Fprintf(stderr, "songflow watch: %v\n", err)
		return 2
	}
	db, err := filepath.Abs(cfg.Server.DBPath)
	if err != nil {
		fmt.Fprintf(stderr, "songflow watch: %v\n", err)
		return 2
	}

	// Results are kept under the analyzer's version and a digest of the
	// settings that change results, as serve's cache is: a new calibration
	// map or max_seconds analyses every file again.
	version, err := analyzerVersion(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "songflow watch: %v\n", err)
		return 2
	}

	// One watcher per output folder: a second one would interleave its
	// lines in results.jsonl with the first's, and could cut off, as torn,
	// a line the first is writing. The lock is held until everything
	// below is closed.
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintf(stderr, "songflow watch: %v\n", err)
		return 1
	}
	// The watcher leaves its output folder alone (skip): the folder
	// watched must not be it or lie inside it, or nothing would ever be
	// analysed. An output folder inside the watched one is fine.
	if real, err := filepath.EvalSymlinks(out); err == nil && (real == dir || strings.HasPrefix(dir, real+string(filepath.Separator)) || real == string(filepath.Separator)) {
		fmt.Fprintf(stderr, "songflow watch: %s lies in the output folder %s, whose files the watcher leaves alone: nothing would be analysed; choose another --out\n", pos[0], *outDir)
		return 2
	}
	lock, err := lockOutput(out)
	if err != nil {
		fmt.Fprintf(stderr, "songflow watch: %v\n", err)
		return 1
	}
	defer lock.Close()

	st, err := store.Open(ctx, db)
	if err != nil {
		return startFailed(ctx, err, stdout, stderr)
	}
	defer st.Close()
	if err := st.EnsureFiles(ctx); err != nil {
		return startFailed(ctx, err, stdout, stderr)
	}
	// A line the repair drops has its result in the store: reconcile
	// writes it again.
	jl, err := sinks.OpenJSONL(filepath.Join(out, watchResultsFile), func(msg string) {
		fmt.Fprintf(stderr, "songflow watch: warning: %s\n", msg)
	})
	if err != nil {
		fmt.Fprintf(stderr, "songflow watch: %v\n", err)
		return 1
	}
	defer jl.Close()
	// Both exist now. Their real paths are what the watcher's own files
	// look like in the (real) tree, so that it leaves them alone.
	if resolved, err := filepath.EvalSymlinks(out); err == nil {
		out = resolved
	}
	if resolved, err := filepath.EvalSymlinks(db); err == nil {
		db = resolved
	}

	// The pipeline outlives the stop signal by the grace period, so songs
	// in flight can finish; work is cancelled when that runs out.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	a, code := startAnalyzer(work, cfg, "watch", stderr)
	if a == nil {
		return code
	}
	var cfgText bytes.Buffer
	_ = config.Write(&cfgText, cfg, origins)

	w := &folderWatch{
		dir: dir, out: out, db: db,
		cfg: cfg, cfgText: cfgText.String(),
		st: st, jl: jl, lock: lock, an: a, snapshot: a.Snapshot,
		version: version,
		log:     &lockedWriter{w: stdout}, errLog: &lockedWriter{w: stderr},
		work: work, cancelWork: cancelWork,
		stopGrace: time.Duration(*stopSecs * float64(time.Second)),
		claims:    map[string]chan struct{}{},
	}
	code = w.run(ctx)
	if err := a.Close(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "songflow watch: stop the pipeline: %v\n", err)
	}
	return code
}

// stoppedStarting reports whether err, met while the watcher was
// starting (opening the store, reading its records: a big or busy store
// takes a while), is only the stop signal that came meanwhile. That is a
// clean stop, exit 0, with nothing analysed and nothing lost, not a
// failure to report as "context canceled".
func stoppedStarting(ctx context.Context, err error) bool {
	return ctx.Err() != nil && errors.Is(err, context.Canceled)
}

// startFailed reports err, met while starting, and returns the exit
// status: 1, or 0 when err is only the stop signal (stoppedStarting).
func startFailed(ctx context.Context, err error, stdout, stderr io.Writer) int {
	if stoppedStarting(ctx, err) {
		fmt.Fprintln(stdout, "stopped before watching: nothing analysed")
		return 0
	}
	fmt.Fprintf(stderr, "songflow watch: %v\n", err)
	return 1
}

// watchAnalyser is the part of stages.Analyzer the watcher uses.
type watchAnalyser interface {
	Analyze(ctx context.Context, job stages.Job) (stages.Result, error)
}

// lockedWriter serialises whole lines from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format+"\n", args...)
}

// folderWatch is one run of the watch command.
type folderWatch struct {
	dir, out, db string
	cfg          config.Config
	cfgText      string
	st           *store.Store
	jl           *sinks.JSONL
	lock         *outputLock
	// lost is set when another watcher took the output folder (see
	// outputLock.Renew): from then on nothing more is written there.
	lost        atomic.Bool
	an          watchAnalyser
	snapshot    func() pipeline.Snapshot
	version     string
	log, errLog *lockedWriter

	work       context.Context // analysis and store writes; outlives the stop signal by stopGrace
	cancelWork context.CancelFunc
	stopGrace  time.Duration

	// lineMu orders the lines a worker writes after its commits against
	// a reconcile, which writes lines from the store as it read it: a
	// file recorded with new bytes during a reconcile gets its line after
	// the one the reconcile wrote from its old record, so that the file's
	// newest line is its new result, not the old one.
	lineMu sync.Mutex

	mu      sync.Mutex
	claims  map[string]chan struct{} // content hashes being analysed
	unsaved map[string]analysis      // analyses the store failed to record, by content hash
	// timedOut holds the files whose analysis ran out of time in this run:
	// they wait for the next start, so that one that always does is not
	// analysed again and again.
	timedOut map[string]bool
	records  []reports.Record // songs analysed by this run, for the report
	waits    []time.Duration  // from a file's last change (lastChange) to its result
	started  time.Time
	cpu0     time.Duration // the process's CPU time at started
	counts   watchCounts
}

// watchCounts counts what a run made of the files it was given.
type watchCounts struct{ analysed, same, failed, timedOut, skipped int }

// run feeds settled files to a pool of workers until ctx ends, then stops
// within the grace period and writes the last report.
func (w *folderWatch) run(ctx context.Context) int {
	w.started, w.cpu0 = time.Now(), reports.CPUTime()
	if err := w.reconcile(ctx); err != nil {
		if stoppedStarting(ctx, err) {
			w.log.printf("stopped before watching: nothing analysed")
			return 0
		}
		w.errLog.printf("songflow watch: %v", err)
		return 1
	}
	src, err := sources.NewWatcher(w.dir, sources.WatchOptions{
		Settle:  watchSeconds(w.cfg.Watch.SettleSeconds),
		Rescan:  watchSeconds(w.cfg.Watch.RescanSeconds),
		Skip:    w.skip,
		OnError: func(err error) { w.errLog.printf("songflow watch: %v", err) },
	})
	if err != nil {
		w.errLog.printf("songflow watch: %v", err)
		return 1
	}
	w.log.printf("watching %s (results in %s, store %s)", w.dir, w.out, w.db)

	events := make(chan sources.Event)
	srcDone := make(chan error, 1)
	go func() { srcDone <- src.Run(ctx, events) }()

	reportStop := make(chan struct{})
	reportDone := make(chan struct{})
	go w.reportLoop(reportStop, reportDone)

	type outcome struct {
		ev    sources.Event
		retry bool // the store failed: try the file again later
	}
	jobs := make(chan sources.Event)
	finished := make(chan outcome)
	var wg sync.WaitGroup
	for range watchWorkers(w.cfg) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range jobs {
				retry := w.process(ev)
				select {
				case finished <- outcome{ev, retry}:
				case <-w.work.Done():
				}
			}
		}()
	}

	// The queue holds at most one event per file, the newest; a file being
	// processed waits in again until its worker is done with it.
	var (
		order   []string
		waiting = map[string]sources.Event{}
		busy    = map[string]bool{}
		again   = map[string]sources.Event{}
	)
	// A file the store could not record (a full disk, a database locked
	// too long) would not be offered again until it changed, nor a line
	// a full disk refused be written until the next start, nor a new
	// results.jsonl be given the folder's results when the store cannot
	// be read: all are tried again after a delay that doubles while they
	// keep failing.
	var (
		retry      = map[string]sources.Event{}
		retried    = map[string]bool{} // in the queue or in flight because of a retry
		resync     bool                // results.jsonl was switched and still lacks results
		retryDelay = watchRetryFirst
		retryC     <-chan time.Time
		retryTimer *time.Timer
	)
	defer func() {
		if retryTimer != nil {
			retryTimer.Stop()
		}
	}()
	armRetry := func() {
		if retryC == nil && (len(retry) > 0 || w.jl.Owed() > 0 || resync) {
			retryTimer = time.NewTimer(retryDelay)
			retryC = retryTimer.C
		}
	}
	enqueue := func(ev sources.Event) {
		if _, ok := waiting[ev.Path]; !ok {
			order = append(order, ev.Path)
		}
		waiting[ev.Path] = ev
	}
	drop := func(path string) {
		if _, ok := waiting[path]; ok {
			delete(waiting, path)
			order = slices.DeleteFunc(order, func(p string) bool { return p == path })
		}
		delete(again, path)
		delete(retry, path)
	}
	armRetry() // reconcile may have left lines owing
	// Lines go to the results.jsonl at the path, checked before each
	// write; this finds one deleted or replaced while no song comes.
	follow := time.NewTicker(watchFollowEvery)
	defer follow.Stop()
loop:
	for {
		var (
			send chan<- sources.Event
			head sources.Event
		)
		if len(order) > 0 {
			send, head = jobs, waiting[order[0]]
		}
		select {
		case <-ctx.Done():
			break loop
		case err := <-srcDone:
			if err != nil {
				w.errLog.printf("songflow watch: %v", err)
			}
			break loop
		case send <- head:
			delete(waiting, head.Path)
			order = order[1:]
			busy[head.Path] = true
		case o := <-finished:
			path := o.ev.Path
			delete(busy, path)
			if retried[path] && !o.retry {
				retryDelay = watchRetryFirst // the store works again
			}
			delete(retried, path)
			if ev, ok := again[path]; ok {
				delete(again, path)
				enqueue(ev)
			} else if o.retry {
				retry[path] = o.ev
			}
			armRetry()
		case <-follow.C:
			// The lock first: a folder deleted and made again must be
			// this watcher's before its results.jsonl is.
			if !w.ownFolder() {
				break loop
			}
			// An error is left to the next write, which reports it with
			// the line it keeps waiting; said here it would be said every
			// tick.
			_ = w.jl.Follow()
		case <-w.jl.Reopened():
			if !w.ownFolder() {
				break loop
			}
			resync = !w.resync(w.work)
			armRetry()
		case <-retryC:
			if !w.ownFolder() {
				break loop
			}
			retryC = nil
			retryDelay = min(2*retryDelay, watchRetryMax)
			if resync {
				resync = !w.resync(w.work)
			}
			if err := w.jl.Flush(); err != nil {
				w.errLog.printf("songflow watch: %v", err)
			} else if len(retry) == 0 && !resync {
				retryDelay = watchRetryFirst // all lines written
			}
			for _, path := range slices.Sorted(maps.Keys(retry)) {
				enqueue(retry[path])
				retried[path] = true
				delete(retry, path)
			}
			armRetry()
		case ev := <-events:
			switch ev.Kind {
			case sources.Settled:
				delete(retry, ev.Path) // this newer event replaces it
				if busy[ev.Path] {
					again[ev.Path] = ev
				} else {
					enqueue(ev)
				}
			case sources.Removed:
				drop(ev.Path)
				w.forget(ev.Path)
			case sources.Scanned:
				w.prune(ev.Paths)
			}
		}
	}

	// Stop: no new songs; those in flight get the grace period.
	w.log.printf("stopping: waiting up to %v for the %s in flight", w.stopGrace, reports.Plural(len(busy), "song"))
	close(jobs)
	idle := make(chan struct{})
	go func() { wg.Wait(); close(idle) }()
	grace := time.NewTimer(w.stopGrace)
	defer grace.Stop()
	inFlight := len(busy)
	for waitingForWorkers := true; waitingForWorkers; {
		select {
		case <-finished:
			inFlight--
		case <-idle:
			waitingForWorkers = false
		case <-grace.C:
			// A grace of zero runs out as idle workers end: only songs
			// still in flight are abandoned, and only then is it said.
			if inFlight > 0 {
				w.log.printf("stop: abandoning the songs still in flight; they are analysed next time")
			}
			w.cancelWork()
		}
	}
	if w.lost.Load() {
		// The folder is another watcher's: its results.jsonl and report
		// are that watcher's to write.
		close(reportStop)
		<-reportDone
		return 1
	}
	if err := w.jl.Flush(); err != nil {
		w.errLog.printf("songflow watch: %v; the next start writes them from the store", err)
	}
	select {
	case <-w.jl.Reopened():
		resync = true
	default:
	}
	if resync {
		// A file switched during the stop gets the folder's results now,
		// not only at the next start: store reads, quick, and the work
		// context may be cancelled already.
		w.resync(context.WithoutCancel(w.work))
	}
	close(reportStop)
	<-reportDone
	if ctx.Err() == nil {
		return 1 // the source failed
	}
	w.log.printf("stopped: %d analysed, %d same content as another file, %d failed, %d timed out, %d skipped",
		w.counts.analysed, w.counts.same, w.counts.failed, w.counts.timedOut, w.counts.skipped)
	return 0
}

// How long a file the store could not record, or a line results.jsonl
// could not take, waits before it is tried again: at first, and at most
// (the wait doubles while the tries fail).
const (
	watchRetryFirst = time.Second
	watchRetryMax   = time.Minute
)

// watchFollowEvery is how often the watcher looks whether results.jsonl
// was deleted or replaced when it has no line to write.
const watchFollowEvery = time.Second

// watchWorkers is how many files are processed at once: enough to keep
// every stage of the pipeline busy, each holding one file's bytes.
func watchWorkers(cfg config.Config) int {
	n := 1
	for _, s := range []struct{ w, b int }{
		{cfg.Stages.Decode.Workers, cfg.Stages.Decode.Buffer},
		{cfg.Stages.Resample.Workers, cfg.Stages.Resample.Buffer},
		{cfg.Stages.Aggregate.Workers, 0},
	} {
		n += max(1, s.w) + s.b
	}
	return n
}

// skip leaves the watcher's own files out of the watched tree when they
// lie inside it: its output folder and database would otherwise change
// under every result and be read again and again.
func (w *folderWatch) skip(path string) bool {
	if path == w.out || strings.HasPrefix(path, w.out+string(filepath.Separator)) {
		return true
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if path == w.db+suffix {
			return true
		}
	}
	return false
}

// reconcile makes the newest line naming each file of the folder recorded
// as done hold that file's result: after a kill between a commit and its
// line, when OpenJSONL has cut off a torn last line, or for a file an
// older songflow recorded without a line of its own (a copy or a rename
// of bytes analysed before), the line is written now, under the file's
// own path. A file whose newest line holds its result gets none, so a
// second reconcile writes nothing. Only this folder's files count: the
// store may be shared by watchers of other folders, whose results do not
// belong in this file.
func (w *folderWatch) reconcile(ctx context.Context) error {
	// Held throughout: a file recorded meanwhile gets its line after the
	// one written here from its older record (see lineMu).
	w.lineMu.Lock()
	defer w.lineMu.Unlock()
	files, err := w.st.Files(ctx, w.dir)
	if err != nil {
		return err
	}
	added := 0
	for _, f := range files {
		rel := w.rel(f.Path)
		if f.State != store.FileDone || w.jl.Has(rel, f.Hash, f.AnalyzerVersion) {
			continue
		}
		k := store.Key{Hash: f.Hash, AnalyzerVersion: f.AnalyzerVersion, Namespace: store.WatchNamespace}
		e, ok, err := w.st.Get(ctx, k)
		if err != nil {
			return err
		}
		if !ok {
			continue // the result was deleted (cache cleared); the file is analysed again
		}
		var res stages.Result
		if err := json.Unmarshal(e.Result, &res); err != nil {
			return fmt.Errorf("result %s: %w", k.Hash, err)
		}
		// The stored result names the first file that had these bytes;
		// the line is this file's.
		res.File = rel
		// A line the disk has no room for is owed, and written later.
		if wrote, err := w.jl.Append(k.Hash, res); err != nil {
			w.errLog.printf("songflow watch: %v", err)
		} else if wrote {
			added++
		}
	}
	if added > 0 {
		w.log.printf("recovered %d results missing from %s", added, watchResultsFile)
	}
	return nil
}

// resync gives a results.jsonl the watcher found in place of its own
// (deleted, renamed away, replaced by an edited copy) what a start would:
// the folder's results, from the store. No song is analysed again, and
// no line repeated: Append skips a file whose newest line in the new file
// holds its result. It reports false when the store could not be read,
// to be tried again.
func (w *folderWatch) resync(ctx context.Context) bool {
	if err := w.reconcile(ctx); err != nil {
		w.errLog.printf("songflow watch: %s: write back the folder's results: %v", filepath.Join(w.out, watchResultsFile), err)
		return false
	}
	return true
}

// forget drops the record of a file that is gone; its result stays.
func (w *folderWatch) forget(path string) {
	if err := w.st.ForgetFile(w.work, path); err != nil {
		w.errLog.printf("songflow watch: %v", err)
	}
}

// prune forgets the recorded files a full scan did not find, including
// those removed while the watcher was not running.
func (w *folderWatch) prune(present []string) {
	files, err := w.st.Files(w.work, w.dir)
	if err != nil {
		w.errLog.printf("songflow watch: %v", err)
		return
	}
	for _, f := range files {
		if _, found := slices.BinarySearch(present, f.Path); !found {
			w.forget(f.Path)
		}
	}
}

func (w *folderWatch) rel(path string) string {
	if r, err := filepath.Rel(w.dir, path); err == nil {
		return filepath.ToSlash(r)
	}
	return path
}

func (w *folderWatch) key(hash string) store.Key {
	return store.Key{Hash: hash, AnalyzerVersion: w.version, Namespace: store.WatchNamespace}
}

// claim makes the caller the only one analysing content hash until it
// calls release; a second file with the same bytes waits and then finds
// the first one's result. ok is false when work was cancelled meanwhile.
func (w *folderWatch) claim(hash string) (release func(), ok bool) {
	for {
		w.mu.Lock()
		ch, taken := w.claims[hash]
		if !taken {
			ch = make(chan struct{})
			w.claims[hash] = ch
			w.mu.Unlock()
			return func() {
				w.mu.Lock()
				delete(w.claims, hash)
				w.mu.Unlock()
				close(ch)
			}, true
		}
		w.mu.Unlock()
		select {
		case <-ch:
		case <-w.work.Done():
			return nil, false
		}
	}
}

// analysis is what the analyser said of some bytes.
type analysis struct {
	res stages.Result
	err error
	ms  int64
}

// process brings one settled file's record up to date: nothing when it is
// recorded as it is now, else read, hash, and analyse unless its bytes
// have been analysed (or failed) before. It reports whether the file must
// be tried again later: the store failed, so nothing was recorded, and
// the Watcher offers the file again only when it changes. An analysis
// the store could not record is kept for that next try.
func (w *folderWatch) process(ev sources.Event) (retry bool) {
	ctx := w.work
	rel := w.rel(ev.Path)
	rec, known, err := w.st.File(ctx, ev.Path)
	if err != nil {
		w.errLog.printf("songflow watch: %v", err)
		return true
	}
	// Size and time alone would take a file renamed over this one with
	// the same size and time (mv, cp -p) for the one recorded; its
	// identity tells them apart without reading either.
	if known && rec.Size == ev.Size && rec.ModTime.Equal(ev.ModTime) && rec.Identity == ev.Identity && rec.AnalyzerVersion == w.version {
		switch {
		case rec.State == store.FileDone:
			if e, ok, err := w.st.Get(ctx, w.key(rec.Hash)); err != nil {
				w.errLog.printf("songflow watch: %s: %v", rel, err)
				return true
			} else if ok {
				// Another watcher sharing the store (of a folder holding
				// this one, or of this folder into another output folder)
				// may have recorded the file since this one started: its
				// line is due here too, from the stored result.
				if !w.jl.Has(rel, rec.Hash, rec.AnalyzerVersion) {
					var res stages.Result
					if err := json.Unmarshal(e.Result, &res); err != nil {
						w.errLog.printf("songflow watch: %s: stored result %s: %v", rel, rec.Hash, err)
						return false
					}
					w.appendLine(rec.Path, e.Key.Hash, res)
				}
				return false
			}
			// The result was deleted (the server's cache was cleared): analyse again.
		case !ranOutOfTime(rec) || w.timedOutHere(ev.Path):
			// A failure or a skip is recorded once, and retried only when
			// the file changes; a timeout is retried once a run.
			return false
		}
	}
	// The file is hashed as it streams by and analysed from disk, never
	// held whole: a film or disk image dropped into the folder would
	// otherwise cost its size in memory, once per worker.
	hash, head, opened, err := hashFile(ctx, ev.Path, sniffBytes+1)
	if err != nil {
		if ctx.Err() != nil {
			return false // abandoned at stop, mid-read: says nothing about the file
		}
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errChangedWhileRead) {
			w.errLog.printf("songflow watch: %s: %v", rel, err)
		}
		return false
	}
	// The bytes count only if the file did not change while being read;
	// if it did, it settles again and comes back.
	if !w.unchanged(ev, opened) {
		return false
	}
	f := store.File{Path: ev.Path, Size: ev.Size, ModTime: ev.ModTime, Identity: ev.Identity, Hash: hash, AnalyzerVersion: w.version}
	// said reports whether the file's own record already says s of these
	// bytes: it was replaced by the same content, touched, or recorded
	// before identities were kept. Its record is then brought up to date
	// without a word.
	said := func(s store.FileState) bool {
		return known && rec.Hash == hash && rec.AnalyzerVersion == w.version && rec.State == s
	}
	if reason := sniffAudio(head); reason != "" {
		f.State, f.Error = store.FileSkipped, reason
		if !w.record(f, nil, nil) {
			return true
		}
		if !said(f.State) {
			w.count(func() { w.counts.skipped++ })
			w.log.printf("skipped %s: %s", rel, reason)
		}
		return false
	}
	release, ok := w.claim(f.Hash)
	if !ok {
		return false
	}
	defer release()

	// Bytes analysed before, under this name or another.
	if e, ok, err := w.st.Get(ctx, w.key(f.Hash)); err != nil {
		w.errLog.printf("songflow watch: %s: %v", rel, err)
		return true
	} else if ok {
		var res stages.Result
		if err := json.Unmarshal(e.Result, &res); err != nil {
			w.errLog.printf("songflow watch: %s: stored result %s: %v", rel, f.Hash, err)
			return false
		}
		f.State = store.FileDone
		if !w.record(f, &e, &res) {
			return true
		}
		if !said(f.State) {
			w.count(func() { w.counts.same++ })
			w.log.printf("same %s: content already analysed as %s", rel, res.File)
		}
		return false
	}
	// A copy of a song that ran out of time gets a try of its own.
	if prev, ok, err := w.st.FileWithContent(ctx, f.Hash, w.version); err == nil && ok && prev.State == store.FileFailed && !ranOutOfTime(prev) {
		f.State, f.Error = store.FileFailed, prev.Error
		if !w.record(f, nil, nil) {
			return true
		}
		if !said(f.State) {
			w.count(func() { w.counts.failed++ })
			w.log.printf("failed %s: same content as %s: %s", rel, w.rel(prev.Path), oneLineErr(prev.Error))
		}
		return false
	}

	a, ok := w.takeUnsaved(f.Hash)
	if !ok {
		start := time.Now()
		a.res, a.err = w.an.Analyze(ctx, stages.Job{Name: ev.Path})
		if ctx.Err() != nil {
			return false // abandoned at stop: says nothing about the file
		}
		if errors.Is(a.err, context.Canceled) || errors.Is(a.err, pipeline.ErrClosed) {
			// Nor does a pipeline stopping under the song: it is analysed
			// at the next start.
			w.errLog.printf("songflow watch: %s: %v", rel, a.err)
			return false
		}
		a.ms = time.Since(start).Milliseconds()
		// The analysis read the file again, from disk: it belongs to the
		// bytes hashed only if the file is still the one that was hashed.
		if !w.unchanged(ev, opened) {
			return false
		}
	}
	if a.err != nil {
		f.State, f.Error = store.FileFailed, a.err.Error()
		if errors.Is(a.err, pipeline.ErrTimeout) || errors.Is(a.err, context.DeadlineExceeded) {
			f.State = store.FileTimedOut
		}
		if !w.record(f, nil, nil) {
			w.keepUnsaved(f.Hash, a)
			return true
		}
		w.addRecord(reports.Record{Result: stages.Result{File: rel}, Error: a.err.Error(), Finished: time.Since(w.started).Seconds()}, 0)
		if f.State == store.FileTimedOut {
			w.noteTimedOut(ev.Path)
			w.log.printf("timed out %s: %s; tried again at the next start", rel, oneLineErr(a.err.Error()))
			return false
		}
		w.count(func() { w.counts.failed++ })
		w.log.printf("failed %s: %s", rel, oneLineErr(a.err.Error()))
		return false
	}
	res := a.res
	res.File = rel
	// The line in results.jsonl says which settings made it: a file gets
	// a line again when its content or those settings change.
	res.AnalyzerVersion = w.version
	blob, err := json.Marshal(res)
	if err != nil {
		w.errLog.printf("songflow watch: result of %s: %v", rel, err)
		return false
	}
	f.State = store.FileDone
	e := store.Entry{Key: w.key(f.Hash), Title: res.Title, Artist: res.Artist, Result: blob}
	if !w.record(f, &e, &res) {
		w.keepUnsaved(f.Hash, a)
		return true
	}
	now := time.Now()
	w.count(func() { w.counts.analysed++ })
	w.addRecord(reports.Record{Result: stages.Result{File: rel, Duration: res.Duration, BPM: res.BPM, Key: res.Key}, Finished: now.Sub(w.started).Seconds()}, now.Sub(lastChange(ev)))
	w.log.printf("song %s  bpm %s  key %s  loudness %.1f LUFS  %d ms", rel, bpmText(res.BPM), orDashString(res.Key), res.Loudness, a.ms)
	return false
}

// lastChange is when the file of a Settled event was last written, as
// far as the watcher can tell: its modification time, unless the file
// arrived later than that (moved in, copied with cp -p, unpacked, or in
// the folder before the watcher started), when it is the moment the
// watcher first saw it. The report's "last write to result" is measured
// from it; from the modification time alone, a song moved in with a
// date from 2019 waited six years.
func lastChange(ev sources.Event) time.Time {
	if ev.Since.After(ev.ModTime) {
		return ev.Since
	}
	return ev.ModTime
}

// ranOutOfTime reports whether rec is of a file whose analysis ran past
// its deadline (analysis.song_timeout). A songflow before the timed out
// state recorded that as a failure, told by its message.
func ranOutOfTime(rec store.File) bool {
	switch rec.State {
	case store.FileTimedOut:
		return true
	case store.FileFailed:
		return strings.Contains(rec.Error, pipeline.ErrTimeout.Error()) || strings.Contains(rec.Error, context.DeadlineExceeded.Error())
	}
	return false
}

// noteTimedOut notes that the analysis of the file at path ran out of
// time in this run.
func (w *folderWatch) noteTimedOut(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timedOut == nil {
		w.timedOut = map[string]bool{}
	}
	w.timedOut[path] = true
	w.counts.timedOut++
}

// timedOutHere reports whether the analysis of the file at path ran out
// of time in this run.
func (w *folderWatch) timedOutHere(path string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.timedOut[path]
}

// keepUnsaved keeps the analysis of the bytes hashing to hash, which the
// store could not record, for the next try.
func (w *folderWatch) keepUnsaved(hash string, a analysis) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.unsaved == nil {
		w.unsaved = map[string]analysis{}
	}
	w.unsaved[hash] = a
}

// takeUnsaved returns and forgets the analysis kept for hash, if any.
func (w *folderWatch) takeUnsaved(hash string) (analysis, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.unsaved[hash]
	delete(w.unsaved, hash)
	return a, ok
}

// hashFile reads the file at path once, from start to end, and returns
// the content hash of its bytes, its first n bytes and what it looked
// like when opened. It stops when ctx ends: a film or disk image of many
// gigabytes, or a file on a slow network drive, would otherwise hold a
// worker, and so the stop, for as long as reading it takes, far past
// --stop-timeout.
func hashFile(ctx context.Context, path string, n int) (hash string, head []byte, opened os.FileInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, nil, err
	}
	defer f.Close()
	if opened, err = f.Stat(); err != nil {
		return "", nil, nil, err
	}
	head = make([]byte, n)
	m, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	head = head[:m]
	hash, total, err := store.HashReader(io.MultiReader(bytes.NewReader(head), ctxReader{ctx, f}))
	if err != nil {
		return "", nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if total != opened.Size() {
		return "", nil, nil, fmt.Errorf("read %s: %w", path, errChangedWhileRead)
	}
	return hash, head, opened, nil
}

// ctxReader reads from r until ctx ends, then fails with ctx's error.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// errChangedWhileRead says a file's length changed while it was hashed;
// it settles again and comes back.
var errChangedWhileRead = errors.New("changed while read")

// unchanged reports whether the file at ev.Path is still the one opened,
// as ev saw it settle: same file, size and modification time.
func (w *folderWatch) unchanged(ev sources.Event, opened os.FileInfo) bool {
	if opened.Size() != ev.Size || !opened.ModTime().Equal(ev.ModTime) || sources.Identity(opened) != ev.Identity {
		return false
	}
	now, err := os.Stat(ev.Path)
	if err != nil {
		return false
	}
	return os.SameFile(opened, now) && now.Size() == ev.Size && now.ModTime().Equal(ev.ModTime)
}

// record commits f (and e, when done, whose Result is res encoded) and
// reports whether it did. The commit is not cancelled by the stop: a
// finished analysis is kept.
func (w *folderWatch) record(f store.File, e *store.Entry, res *stages.Result) bool {
	if err := w.st.RecordFile(context.WithoutCancel(w.work), f, e); err != nil {
		w.errLog.printf("songflow watch: %v", err)
		return false
	}
	if e != nil {
		// The line is due now, after the commit: a kill in between is
		// repaired at the next start (reconcile), and a line the disk has
		// no room for is written later.
		w.appendLine(f.Path, e.Key.Hash, *res)
	}
	return true
}

// appendLine appends the line of the file at path, whose bytes hash to
// hash and whose result is res, to results.jsonl, if the folder is still
// this watcher's. The line names this file, whichever first had the bytes
// (res.File), so that its newest line is its result after a rename, a
// copy or a change back to older bytes. Appending writes nothing when
// that line is the newest already, so every done file makes sure of its
// line.
func (w *folderWatch) appendLine(path, hash string, res stages.Result) {
	if !w.ownFolder() {
		return
	}
	res.File = w.rel(path)
	w.lineMu.Lock()
	_, err := w.jl.Append(hash, res)
	w.lineMu.Unlock()
	if err != nil {
		w.errLog.printf("songflow watch: %v", err)
	}
}

// ownFolder reports whether the output folder is still this watcher's,
// taking its lock again if the folder or the lock file was deleted (see
// outputLock.Renew); it is asked before anything is written there. The
// first time it finds another watcher holding the folder, it says so,
// marks the folder lost and ends the work in flight (those songs are
// analysed at the next start).
func (w *folderWatch) ownFolder() bool {
	if w.lost.Load() {
		return false
	}
	if err := w.lock.Renew(); err != nil {
		if !w.lost.Swap(true) {
			w.errLog.printf("songflow watch: %v; stopping at once, writing nothing more there: the output folder is no longer this watcher's", err)
			w.cancelWork()
		}
		return false
	}
	return true
}

func (w *folderWatch) count(fn func()) {
	w.mu.Lock()
	fn()
	w.mu.Unlock()
}

func (w *folderWatch) addRecord(r reports.Record, wait time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.records = append(w.records, r)
	if wait > 0 {
		w.waits = append(w.waits, wait)
	}
}

func oneLineErr(s string) string { return strings.Join(strings.Fields(s), " ") }

func orDashString(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bpmText is a tempo for the console: "-" for a song with no tempo (bpm
// 0: a steady tone, silence), as for a song with no key, not a tempo of
// 0.0 that reads as if one had been measured.
func bpmText(bpm float64) string {
	if bpm <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", bpm)
}

// reportLoop writes the report every watch.report_seconds, and once more
// when stop closes.
func (w *folderWatch) reportLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var tick <-chan time.Time
	if every := watchSeconds(w.cfg.Watch.ReportSeconds); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
		case <-stop:
			w.writeReport()
			return
		}
		w.writeReport()
	}
}

// writeReport writes OUT/summary.md and the three speed plots. The plots
// are rendered into a scratch folder and renamed into OUT, so a reader
// never sees a half-written file.
func (w *folderWatch) writeReport() {
	if !w.ownFolder() {
		return
	}
	w.mu.Lock()
	recs := slices.Clone(w.records)
	waits := slices.Clone(w.waits)
	counts := w.counts
	w.mu.Unlock()
	run := &reports.Run{
		Dir: w.dir, Records: recs, Started: w.started, Wall: time.Since(w.started),
		Cores: runtime.GOMAXPROCS(0), PeakRSS: reports.PeakRSS(), Metrics: w.snapshot(), Config: w.cfgText,
	}
	if cpu := reports.CPUTime(); w.cpu0 > 0 && cpu > w.cpu0 {
		run.CPU = cpu - w.cpu0
	}
	for i := range run.Records {
		run.Records[i].Score()
	}
	sum := reports.Summarise(run)
	scratch := filepath.Join(w.out, ".report")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		w.errLog.printf("songflow watch: report: %v", err)
		return
	}
	if err := reports.WriteSpeedPlots(scratch, run); err != nil {
		w.errLog.printf("songflow watch: report: %v", err)
		return
	}
	for _, p := range watchPlots {
		if err := os.Rename(filepath.Join(scratch, p), filepath.Join(w.out, p)); err != nil {
			w.errLog.printf("songflow watch: report: %v", err)
		}
	}
	var b strings.Builder
	writeWatchSummary(&b, w, run, sum, counts, waits)
	tmp := filepath.Join(w.out, watchSummaryFile+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		w.errLog.printf("songflow watch: report: %v", err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(w.out, watchSummaryFile)); err != nil {
		w.errLog.printf("songflow watch: report: %v", err)
	}
}

func writeWatchSummary(b *strings.Builder, w *folderWatch, run *reports.Run, s reports.Summary, c watchCounts, waits []time.Duration) {
	fmt.Fprintf(b, "# Watch report\n\n")
	fmt.Fprintf(b, "Folder `%s`, watched since %s UTC; this report %s UTC (refreshed every %g s).\n\n",
		w.dir, w.started.UTC().Format("2006-01-02 15:04:05"), time.Now().UTC().Format("2006-01-02 15:04:05"), w.cfg.Watch.ReportSeconds)
	b.WriteString("## Files since start\n\n| | |\n|---|---|\n")
	fmt.Fprintf(b, "| analysed | %d |\n| same content as a file analysed before | %d |\n| failed | %d |\n| timed out (tried again at the next start) | %d |\n| skipped (not audio) | %d |\n",
		c.analysed, c.same, c.failed, c.timedOut, c.skipped)
	fmt.Fprintf(b, "| files with a result in `%s` (all runs) | %d |\n\n", watchResultsFile, w.jl.Len())
	if s.Failed > 0 {
		b.WriteString("Failed songs:\n\n")
		for _, r := range run.Records {
			if r.Error != "" {
				fmt.Fprintf(b, "- %s: %s\n", reports.Code(r.File), oneLineErr(r.Error))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("## Speed\n\n| measure | value |\n|---|---|\n")
	fmt.Fprintf(b, "| seconds of audio analysed | %.1f |\n| wall time since start | %.1f s |\n", s.AudioSeconds, s.Wall.Seconds())
	fmt.Fprintf(b, "| × real time over the wall time | %.1f (%.1f per core: audio seconds per CPU second; %d cores) |\n", s.XRealTime, s.XRealTimePerCore, run.Cores)
	fmt.Fprintf(b, "| songs per second over the wall time | %.3f |\n", s.SongsPerSecond)
	if len(waits) > 0 {
		slices.Sort(waits)
		fmt.Fprintf(b, "| last write to result, median | %.2f s |\n| last write to result, max | %.2f s |\n",
			waits[len(waits)/2].Seconds(), waits[len(waits)-1].Seconds())
	}
	fmt.Fprintf(b, "| peak memory (max RSS) | %.0f MiB |\n\n", float64(s.PeakRSS)/(1<<20))
	if len(run.Metrics.Stages) > 0 {
		b.WriteString("## Stages\n\n" + reports.StageTable(run.Metrics))
		if s.Bottleneck != "" {
			fmt.Fprintf(b, "\nBottleneck: **%s** (%.0f %% busy). Suggested workers for `pipeline.toml`:\n\n", s.Bottleneck, 100*s.BottleneckUtilising)
		} else {
			b.WriteString("\nSuggested workers for `pipeline.toml`:\n\n")
		}
		b.WriteString("```toml\n" + reports.Suggestion(run.Metrics) + "```\n\n")
	}
	b.WriteString("## Plots\n\n")
	for _, p := range watchPlots {
		fmt.Fprintf(b, "![%s](%s)\n", strings.TrimSuffix(p, ".png"), p)
	}
}

// watchSeconds converts a configured number of seconds to a Duration.
func watchSeconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
