package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// FileState is what the folder watcher concluded about one file.
type FileState string

// The states a watched file can be in. Done, failed and skipped are final
// until the file changes: a failed or skipped file is not looked at again
// while its size, modification time and identity stay the same. Timed out
// is not: running out of time says more of the machine than of the file,
// which the watcher analyses again at its next start.
const (
	FileDone     FileState = "done"    // analysed; its result is in the results table
	FileFailed   FileState = "failed"  // analysis failed; Error says why
	FileSkipped  FileState = "skipped" // not audio songflow reads; Error says why
	FileTimedOut FileState = "timeout" // the analysis ran past its deadline; Error says so
)

// File is the watcher's record of one file in a watched folder. Size,
// ModTime and Identity are what the file looked like when it was read, so
// a later scan can tell an unchanged file without reading it.
type File struct {
	Path    string // absolute
	Size    int64
	ModTime time.Time
	// Identity is the watcher's token for which file this is (on unix its
	// device, inode and change time), so that another file renamed over
	// it with the same size and time is read; "" where there is none, and
	// in records made before it was kept.
	Identity        string
	Hash            string // HashContent of the bytes read; "" when they could not be read
	AnalyzerVersion string // of the analysis State reports on
	State           FileState
	Error           string    // why the file is not done; "" when it is
	UpdatedAt       time.Time // when the record was last written; set by RecordFile
}

// EnsureFiles creates the folder watcher's table when it does not exist:
// watch_files, one row per file seen, and adds the columns an older
// songflow did not make. It is idempotent; call it once after Open. (The
// watch_journal table an older songflow kept is no longer used: the lines
// due in a results.jsonl are those of the files its folder holds.)
func (s *Store) EnsureFiles(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS watch_files (
			path             TEXT PRIMARY KEY,
			size             INTEGER NOT NULL,
			mtime_ns         INTEGER NOT NULL,
			content_hash     TEXT    NOT NULL,
			analyzer_version TEXT    NOT NULL,
			state            TEXT    NOT NULL,
			error            TEXT    NOT NULL DEFAULT '',
			updated_at       TEXT    NOT NULL,
			identity         TEXT    NOT NULL DEFAULT ''
		)`,
		`CREATE INDEX IF NOT EXISTS watch_files_by_hash ON watch_files (content_hash, analyzer_version)`,
	}
	if err := s.createAll(ctx, stmts); err != nil {
		return s.errorf("watch tables: %w", err)
	}
	if err := s.addColumn(ctx, "watch_files", "identity", `TEXT NOT NULL DEFAULT ''`); err != nil {
		return s.errorf("watch tables: %w", err)
	}
	return nil
}

// addColumn adds a column to a table made before the column existed.
// The check is repeated under the write lock because serve and watch may
// open the same old database together, and SQLite has no ADD COLUMN IF
// NOT EXISTS.
func (s *Store) addColumn(ctx context.Context, table, column, decl string) error {
	const has = `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`
	var n int
	if err := s.db.QueryRowContext(ctx, has, table, column).Scan(&n); err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	if n > 0 {
		return nil
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	defer unlock()
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see _txlock in dsn
	if err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	defer tx.Rollback() // a no-op once committed
	if err := tx.QueryRowContext(ctx, has, table, column).Scan(&n); err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+decl); err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	return nil
}

const fileColumns = `path, size, mtime_ns, content_hash, analyzer_version, state, error, updated_at, identity`

func scanFile(row scanner) (File, error) {
	var (
		f     File
		mtime int64
		at    string
		state string
	)
	if err := row.Scan(&f.Path, &f.Size, &mtime, &f.Hash, &f.AnalyzerVersion, &state, &f.Error, &at, &f.Identity); err != nil {
		return File{}, err
	}
	f.ModTime = time.Unix(0, mtime).UTC()
	f.State = FileState(state)
	var err error
	if f.UpdatedAt, err = time.Parse(timeLayout, at); err != nil {
		return File{}, fmt.Errorf("file %s: updated_at %q: %w", f.Path, at, err)
	}
	return f, nil
}

// File returns the record of the file at path; ok is false when there is
// none.
func (s *Store) File(ctx context.Context, path string) (f File, ok bool, err error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM watch_files WHERE path = ?`, path)
	f, err = scanFile(row)
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, false, nil
	}
	if err != nil {
		return File{}, false, s.errorf("file %s: %w", path, err)
	}
	return f, true, nil
}

// Files returns the records of every file inside the folder dir (at any
// depth), ordered by path.
func (s *Store) Files(ctx context.Context, dir string) ([]File, error) {
	// A range on the primary key rather than LIKE: paths may hold % and _.
	// The range is of the paths that begin with dir and a separator (which
	// the root, and a folder given with a trailing one, already end in).
	lo := dir
	if !strings.HasSuffix(lo, string(os.PathSeparator)) {
		lo += string(os.PathSeparator)
	}
	hi := lo[:len(lo)-1] + string(rune(os.PathSeparator)+1)
	rows, err := s.db.QueryContext(ctx, `SELECT `+fileColumns+` FROM watch_files
		WHERE path >= ? AND path < ? ORDER BY path`, lo, hi)
	if err != nil {
		return nil, s.errorf("files under %s: %w", dir, err)
	}
	files, err := collect(rows, scanFile)
	if err != nil {
		return nil, s.errorf("files under %s: %w", dir, err)
	}
	return files, nil
}

// FileWithContent returns a record of some file whose bytes hash to hash
// and that was looked at by the given analyzer version, preferring a done
// one; ok is false when there is none. It lets the watcher treat a copy of
// a file it already failed on like the original.
func (s *Store) FileWithContent(ctx context.Context, hash, analyzerVersion string) (f File, ok bool, err error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM watch_files
		WHERE content_hash = ? AND analyzer_version = ?
		ORDER BY state = 'done' DESC, path LIMIT 1`, hash, analyzerVersion)
	f, err = scanFile(row)
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, false, nil
	}
	if err != nil {
		return File{}, false, s.errorf("file with content %s: %w", hash, err)
	}
	return f, true, nil
}

// RecordFile writes the record of f and, for a done file, its result r in
// one transaction, so that a process killed at any moment leaves both or
// neither. A result already stored under r.Key is kept as it is (same key,
// same analysis).
func (s *Store) RecordFile(ctx context.Context, f File, r *Entry) error {
	if f.Path == "" || f.State == "" {
		return fmt.Errorf("store: record file: incomplete record %+v", f)
	}
	if f.State == FileDone && r == nil {
		return fmt.Errorf("store: record file %s: done without a result", f.Path)
	}
	var (
		values []any
		err    error
	)
	if r != nil {
		if values, err = s.resultValues(*r); err != nil {
			return fmt.Errorf("store: record file %s: %w", f.Path, err)
		}
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return s.errorf("record file %s: %w", f.Path, err)
	}
	defer unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.errorf("record file %s: %w", f.Path, err)
	}
	defer tx.Rollback() // a no-op once committed
	now := s.now().UTC().Format(timeLayout)
	if r != nil {
		if _, err := tx.ExecContext(ctx, insertResult+`DO NOTHING`, values...); err != nil {
			return s.errorf("record file %s: result: %w", f.Path, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO watch_files (`+fileColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
			content_hash = excluded.content_hash, analyzer_version = excluded.analyzer_version,
			state = excluded.state, error = excluded.error, updated_at = excluded.updated_at,
			identity = excluded.identity`,
		f.Path, f.Size, f.ModTime.UnixNano(), f.Hash, f.AnalyzerVersion, string(f.State), f.Error, now, f.Identity); err != nil {
		return s.errorf("record file %s: %w", f.Path, err)
	}
	if err := tx.Commit(); err != nil {
		return s.errorf("record file %s: commit: %w", f.Path, err)
	}
	return nil
}

// ForgetFile deletes the record of the file at path, which is gone. Its
// result stays: the same bytes elsewhere, now or later, reuse it.
func (s *Store) ForgetFile(ctx context.Context, path string) error {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return s.errorf("forget file %s: %w", path, err)
	}
	defer unlock()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM watch_files WHERE path = ?`, path); err != nil {
		return s.errorf("forget file %s: %w", path, err)
	}
	return nil
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check and returns nil
// when it answers "ok", else an error holding its findings.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return s.errorf("integrity check: %w", err)
	}
	msgs, err := collect(rows, func(row scanner) (m string, err error) {
		err = row.Scan(&m)
		return m, err
	})
	if err != nil {
		return s.errorf("integrity check: %w", err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return s.errorf("integrity check: %v", msgs)
}
