// Package store keeps songflow's analysis results, counters and API keys in
// one SQLite database (through the pure-Go modernc.org/sqlite driver), so
// that the HTTP server's cache and the folder watcher share what they have
// computed and both survive restarts.
//
// Results are keyed by what determines them: the SHA-256 of the audio bytes,
// the analyzer version, a namespace and whether chunk analysis was skipped.
// Two uploads of the same bytes under different titles are one result; a
// 30-second preview and the full song are two.
//
// The database runs in WAL mode so readers never wait for the single writer,
// and every write is one statement or one short transaction, so a process
// killed at any moment leaves either the old row or the new one. Other
// parts of songflow may keep their own tables here: add them in their own
// file of this package with CREATE TABLE IF NOT EXISTS in a method that
// runs before first use (see migrate for the tables this file owns).
package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/songflow/songflow/internal/caseless"
)

// timeLayout is fixed-width so that text comparison in SQL orders times.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// ErrNotFound is returned when a row asked for by id does not exist.
var ErrNotFound = errors.New("store: not found")

// Store is an open songflow database. It is safe for concurrent use; it
// holds one connection pool, released by Close.
type Store struct {
	db   *sql.DB
	path string
	now  func() time.Time
	// write holds a token while one of this Store's writes runs: see
	// lockWrite.
	write chan struct{}
}

// Open opens (creating if needed) the database at path and brings its
// schema up to date. The directory holding path is created too.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	abs, err := filepath.Abs(path) // /stats and logs show where the data really is
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	path = abs
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", filepath.Dir(path), err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path, now: time.Now, write: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// dsn names the database at the absolute path for the driver, with the
// settings every connection needs. It is a file: URI with the path
// escaped because in a plain file name the driver takes everything after
// the first '?' as settings, so a '?' in a folder's name would open
// another file without them.
//
// busy_timeout makes a write wait for another process's instead of
// failing with SQLITE_BUSY; immediate transactions take the write lock
// up front so a read never has to be upgraded (which cannot wait and
// would fail).
func dsn(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/…
	}
	// SQLite decodes %XX in a URI's path and ends the path at '?' or '#'.
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file://" + p + fmt.Sprintf("?_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()) +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"
}

// busyTimeout is how long a statement waits for another process's write
// lock before it fails with SQLITE_BUSY. A variable so that tests can
// make contention fail at once.
var busyTimeout = 10 * time.Second

// lockWrite waits until none of s's other writes is running and returns
// the function that ends this one. Writers in one process thus queue
// here, in turn and for as long as ctx allows, rather than each polling
// SQLite's lock: polling is no queue, so under load a writer could go
// unserved for all of busyTimeout, while others were served, and fail
// with SQLITE_BUSY. busy_timeout is left with the writes of other
// processes (serve, watch, keys), a few at a time. Reads do not wait:
// WAL lets them run beside the writer.
func (s *Store) lockWrite(ctx context.Context) (unlock func(), err error) {
	select {
	case s.write <- struct{}{}:
		return func() { <-s.write }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errorf returns an error naming the database, so that one logged far
// from here (a full disk, a locked or unreadable file) says which file.
func (s *Store) errorf(format string, a ...any) error {
	return fmt.Errorf("store %s: %w", s.path, fmt.Errorf(format, a...))
}

// Close releases the connection pool. Writes already returned are durable.
func (s *Store) Close() error { return s.db.Close() }

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// JournalMode reports SQLite's journal mode ("wal" once open).
func (s *Store) JournalMode(ctx context.Context) (string, error) {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return "", s.errorf("journal mode: %w", err)
	}
	return mode, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.errorf("ping: %w", err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS results (
			id               INTEGER PRIMARY KEY AUTOINCREMENT,
			content_hash     TEXT    NOT NULL,
			analyzer_version TEXT    NOT NULL,
			namespace        TEXT    NOT NULL,
			skip_chunks      INTEGER NOT NULL,
			title            TEXT    NOT NULL DEFAULT '',
			artist           TEXT    NOT NULL DEFAULT '',
			preview_url      TEXT    NOT NULL DEFAULT '',
			result           TEXT    NOT NULL,
			analyzed_at      TEXT    NOT NULL,
			user_verified    INTEGER NOT NULL DEFAULT 0,
			manual_bpm       REAL,
			manual_key       TEXT    NOT NULL DEFAULT '',
			bpm_notes        TEXT    NOT NULL DEFAULT '',
			UNIQUE (content_hash, analyzer_version, namespace, skip_chunks)
		)`,
		`CREATE INDEX IF NOT EXISTS results_by_time ON results (analyzed_at)`,
		`CREATE INDEX IF NOT EXISTS results_by_url ON results (preview_url)`,
		`CREATE TABLE IF NOT EXISTS counters (
			name       TEXT PRIMARY KEY,
			value      INTEGER NOT NULL,
			updated_at TEXT NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS api_keys (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			name       TEXT NOT NULL,
			prefix     TEXT NOT NULL,
			hash       TEXT NOT NULL UNIQUE,
			created_at TEXT NOT NULL,
			revoked_at TEXT
		)`,
	}
	if err := s.createAll(ctx, append([]string{claimStmt}, stmts...)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// applicationID marks a database as songflow's in its header (SQLite's
// PRAGMA application_id; the bytes spell "Sgfl").
const applicationID = 0x5367666c

// claimStmt stands first in migrate's transaction: claim runs it, after
// checking that the database is songflow's to write.
const claimStmt = "claim"

// claim makes sure the database in tx is songflow's before songflow adds
// its tables: one it marked, an empty one, or one it made before it
// marked its databases (it has songflow's results table). Any other
// database belongs to another program, which does not expect songflow's
// tables in it, so it is refused: a server.db_path pointed at the old
// server's cache, or at an app's own data, must not change that file.
func claim(ctx context.Context, tx *sql.Tx) error {
	var id int64
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&id); err != nil {
		return err
	}
	if id == applicationID {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return err
	}
	tables, err := collect(rows, func(r scanner) (string, error) {
		var name string
		return name, r.Scan(&name)
	})
	if err != nil {
		return err
	}
	var ours int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('results')
		WHERE name = 'content_hash'`).Scan(&ours); err != nil {
		return err
	}
	if id != 0 || len(tables) > 0 && ours == 0 {
		return fmt.Errorf("another program's database (application id %#x, tables %s), not songflow's: choose another path",
			id, strings.Join(tables, ", "))
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID))
	return err
}

// createAll runs schema statements in one transaction that takes the write
// lock before it reads anything. Run one by one, each CREATE … IF NOT
// EXISTS would start by reading the schema and then need the write lock,
// an upgrade that in WAL mode fails at once with SQLITE_BUSY when another
// connection has written in between.
//
// On a database that does not exist yet even that is not enough: the
// first statement of each new connection switches the file to WAL mode,
// which needs the file to itself and, when another process is doing the
// same, fails with SQLITE_BUSY without waiting out busy_timeout. So a busy
// database is tried again, within the same ten seconds busy_timeout
// allows; it happens only while serve, watch or a reader open a new
// database together.
func (s *Store) createAll(ctx context.Context, stmts []string) error {
	deadline := time.Now().Add(busyTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		err := s.createOnce(ctx, stmts)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (s *Store) createOnce(ctx context.Context, stmts []string) error {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see _txlock in dsn
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range stmts {
		if q == claimStmt {
			err = claim(ctx, tx)
		} else {
			_, err = tx.ExecContext(ctx, q)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// isBusy reports whether err is SQLite's SQLITE_BUSY, in any of its
// extended forms.
func isBusy(err error) bool {
	var e interface{ Code() int }
	return errors.As(err, &e) && e.Code()&0xff == sqliteBusy
}

// sqliteBusy is SQLite's primary result code SQLITE_BUSY.
const sqliteBusy = 5

// HashContent is the content hash results are keyed by: the hex SHA-256 of
// the audio file's bytes.
func HashContent(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// HashReader is HashContent of everything r yields, computed as it streams
// by so that a file of any size can be keyed without holding it in memory.
// n is how many bytes were read.
func HashReader(r io.Reader) (hash string, n int64, err error) {
	h := sha256.New()
	if n, err = io.Copy(h, r); err != nil {
		return "", n, fmt.Errorf("store: hash: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Key identifies one cached result.
type Key struct {
	Hash            string // HashContent of the audio bytes
	AnalyzerVersion string // results from another analyzer version never match
	Namespace       string // lets clients keep separate caches; "default" if unsure
	SkipChunks      bool   // analysed without chunk analysis
}

// Entry is one stored result with what the user has added to it.
type Entry struct {
	ID         int64
	Key        Key
	Title      string
	Artist     string
	PreviewURL string // where the audio was downloaded from, if it was
	// Result is the analysis as a JSON object (a stages.Result encoded by
	// the caller). Keeping it opaque keeps this package free of the
	// analysis engine, so `songflow keys` needs no engine to run.
	Result     json.RawMessage
	AnalyzedAt time.Time

	// UserVerified and the fields after it are what the user asserted
	// about the song (see Verification and Verify).
	UserVerified bool
	ManualBPM    *float64 // nil when the user has not set one
	ManualKey    string
	BPMNotes     string
}

const entryColumns = `id, content_hash, analyzer_version, namespace, skip_chunks,
	title, artist, preview_url, result, analyzed_at, user_verified, manual_bpm,
	manual_key, bpm_notes`

type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan and closes rows. The slice is never
// nil, so an empty listing encodes as [] in JSON.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func scanEntry(row scanner) (Entry, error) {
	var (
		e          Entry
		skip, ver  int
		result, at string
		manual     sql.NullFloat64
	)
	err := row.Scan(&e.ID, &e.Key.Hash, &e.Key.AnalyzerVersion, &e.Key.Namespace, &skip,
		&e.Title, &e.Artist, &e.PreviewURL, &result, &at, &ver, &manual, &e.ManualKey, &e.BPMNotes)
	if err != nil {
		return Entry{}, err
	}
	e.Key.SkipChunks = skip != 0
	e.UserVerified = ver != 0
	if manual.Valid {
		v := manual.Float64
		e.ManualBPM = &v
	}
	if e.AnalyzedAt, err = time.Parse(timeLayout, at); err != nil {
		return Entry{}, fmt.Errorf("row %d: analyzed_at %q: %w", e.ID, at, err)
	}
	e.Result = json.RawMessage(result)
	return e, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Get returns the entry stored under k; ok is false when there is none.
func (s *Store) Get(ctx context.Context, k Key) (e Entry, ok bool, err error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM results
		WHERE content_hash = ? AND analyzer_version = ? AND namespace = ? AND skip_chunks = ?`,
		k.Hash, k.AnalyzerVersion, k.Namespace, boolInt(k.SkipChunks))
	e, err = scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, s.errorf("get %s: %w", k.Hash, err)
	}
	return e, true, nil
}

// GetByID returns the entry with the given id, or ErrNotFound.
func (s *Store) GetByID(ctx context.Context, id int64) (Entry, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM results WHERE id = ?`, id)
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, s.errorf("get id %d: %w", id, err)
	}
	return e, nil
}

// insertResult inserts one result row with the values resultValues gives;
// the caller adds what a row already stored under the same key does.
const insertResult = `INSERT INTO results
	(content_hash, analyzer_version, namespace, skip_chunks, title, artist, preview_url, result, analyzed_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (content_hash, analyzer_version, namespace, skip_chunks) `

// resultValues checks that e can be stored (a complete key, a JSON result)
// and returns the values of insertResult; a zero AnalyzedAt means now.
func (s *Store) resultValues(e Entry) ([]any, error) {
	if e.Key.Hash == "" || e.Key.AnalyzerVersion == "" || e.Key.Namespace == "" {
		return nil, fmt.Errorf("incomplete key %+v", e.Key)
	}
	if !json.Valid(e.Result) {
		return nil, fmt.Errorf("result %s is not valid JSON", e.Key.Hash)
	}
	at := e.AnalyzedAt
	if at.IsZero() {
		at = s.now()
	}
	return []any{e.Key.Hash, e.Key.AnalyzerVersion, e.Key.Namespace, boolInt(e.Key.SkipChunks),
		e.Title, e.Artist, e.PreviewURL, string(e.Result), at.UTC().Format(timeLayout)}, nil
}

// Put stores e.Result under e.Key, replacing an earlier result for the same
// key but keeping what the user verified about it, and returns the row id.
// A zero AnalyzedAt means now. An empty PreviewURL, Title or Artist keeps
// the earlier one: a re-analysis that names no song does not unname it.
func (s *Store) Put(ctx context.Context, e Entry) (int64, error) {
	values, err := s.resultValues(e)
	if err != nil {
		return 0, fmt.Errorf("store: put: %w", err)
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return 0, s.errorf("put %s: %w", e.Key.Hash, err)
	}
	defer unlock()
	var id int64
	err = s.db.QueryRowContext(ctx, insertResult+`DO UPDATE SET
			title = CASE WHEN excluded.title <> '' THEN excluded.title ELSE results.title END,
			artist = CASE WHEN excluded.artist <> '' THEN excluded.artist ELSE results.artist END,
			preview_url = CASE WHEN excluded.preview_url <> '' THEN excluded.preview_url ELSE results.preview_url END,
			result = excluded.result,
			analyzed_at = excluded.analyzed_at
		RETURNING id`, values...).Scan(&id)
	if err != nil {
		return 0, s.errorf("put %s: %w", e.Key.Hash, err)
	}
	return id, nil
}

// SetPreviewURL records url as the address the result under k was last
// requested from, changing nothing else: a Get and a Put in its place
// could write back an older result over one stored in between. It
// reports whether an entry was there to update.
func (s *Store) SetPreviewURL(ctx context.Context, k Key, url string) (bool, error) {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return false, s.errorf("set preview url %s: %w", k.Hash, err)
	}
	defer unlock()
	res, err := s.db.ExecContext(ctx, `UPDATE results SET preview_url = ?
		WHERE content_hash = ? AND analyzer_version = ? AND namespace = ? AND skip_chunks = ?`,
		url, k.Hash, k.AnalyzerVersion, k.Namespace, boolInt(k.SkipChunks))
	if err != nil {
		return false, s.errorf("set preview url %s: %w", k.Hash, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// AllNamespaces means every namespace when given as the namespace to List,
// Count and Clear.
const AllNamespaces = "*"

// WatchNamespace is the namespace of `songflow watch`'s results. It is not
// the apps' "default": a client clearing its cache through the server must
// not make a watched folder's results vanish (the watcher would analyse
// the whole folder again). The server lists, searches and exports it like
// any other, but stores no song of its own there.
const WatchNamespace = "watch"

// Query selects entries for List, newest first.
type Query struct {
	Namespace string // AllNamespaces for every namespace
	Search    string // if not empty, a case-insensitive substring of title or artist
	Limit     int    // at most this many; <= 0 means no limit
	Offset    int    // how many of the selected entries to skip first
}

// foldFunc is the SQL name of caseless.Key, which List's search compares
// by because SQLite's own LIKE, lower() and NOCASE fold ASCII letters
// only: "édith" would not find "Édith Piaf", nor "кино" "Кино".
const foldFunc = "songflow_fold"

func init() {
	// The driver adds registered functions to each connection it opens,
	// so this must come before any Open.
	sqlite.MustRegisterDeterministicScalarFunction(foldFunc, 1,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return caseless.Key(v), nil
			case []byte:
				return caseless.Key(string(v)), nil
			}
			return args[0], nil
		})
}

// List returns the entries q selects, newest first.
func (s *Store) List(ctx context.Context, q Query) ([]Entry, error) {
	var (
		where []string
		args  []any
	)
	if q.Namespace != AllNamespaces {
		where = append(where, "namespace = ?")
		args = append(args, q.Namespace)
	}
	if q.Search != "" {
		// instr, not LIKE, so that % and _ in the search are literal.
		where = append(where, `(instr(`+foldFunc+`(title), ?) > 0 OR instr(`+foldFunc+`(artist), ?) > 0)`)
		p := caseless.Key(q.Search)
		args = append(args, p, p)
	}
	sqlText := `SELECT ` + entryColumns + ` FROM results`
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	sqlText += " ORDER BY analyzed_at DESC, id DESC LIMIT ? OFFSET ?"
	args = append(args, limit, max(q.Offset, 0))
	rows, err := s.db.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, s.errorf("list: %w", err)
	}
	entries, err := collect(rows, scanEntry)
	if err != nil {
		return nil, s.errorf("list: %w", err)
	}
	return entries, nil
}

// Count returns how many entries a namespace holds (AllNamespaces: all).
func (s *Store) Count(ctx context.Context, namespace string) (int, error) {
	var n int
	var err error
	if namespace == AllNamespaces {
		err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM results`).Scan(&n)
	} else {
		err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM results WHERE namespace = ?`, namespace).Scan(&n)
	}
	if err != nil {
		return 0, s.errorf("count: %w", err)
	}
	return n, nil
}

// Delete removes the entry with the given id, or returns ErrNotFound.
func (s *Store) Delete(ctx context.Context, id int64) error {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return s.errorf("delete %d: %w", id, err)
	}
	defer unlock()
	res, err := s.db.ExecContext(ctx, `DELETE FROM results WHERE id = ?`, id)
	if err != nil {
		return s.errorf("delete %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Clear removes every entry of a namespace (AllNamespaces: every entry) and
// reports how many went.
func (s *Store) Clear(ctx context.Context, namespace string) (int64, error) {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return 0, s.errorf("clear %s: %w", namespace, err)
	}
	defer unlock()
	var res sql.Result
	if namespace == AllNamespaces {
		res, err = s.db.ExecContext(ctx, `DELETE FROM results`)
	} else {
		res, err = s.db.ExecContext(ctx, `DELETE FROM results WHERE namespace = ?`, namespace)
	}
	if err != nil {
		return 0, s.errorf("clear %s: %w", namespace, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Verification is what a user asserts about a song after listening.
type Verification struct {
	ManualBPM *float64 // nil when the user gives none
	ManualKey string
	BPMNotes  string
}

// Verify marks every entry downloaded from url as verified by the user,
// recording v, and reports how many entries it marked. An empty url marks
// none: entries stored without an address were not downloaded.
func (s *Store) Verify(ctx context.Context, url string, v Verification) (int64, error) {
	if url == "" {
		return 0, nil
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return 0, s.errorf("verify %s: %w", url, err)
	}
	defer unlock()
	var bpm sql.NullFloat64
	if v.ManualBPM != nil {
		bpm = sql.NullFloat64{Float64: *v.ManualBPM, Valid: true}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE results SET user_verified = 1,
		manual_bpm = ?, manual_key = ?, bpm_notes = ? WHERE preview_url = ?`,
		bpm, v.ManualKey, v.BPMNotes, url)
	if err != nil {
		return 0, s.errorf("verify %s: %w", url, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
