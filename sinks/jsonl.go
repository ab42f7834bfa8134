// Package sinks writes analysis results where people and other programs
// read them. Its JSONL appends a line whenever a file's result changes
// and keeps that file free of torn and repeated lines across crashes, so
// that the newest line naming a file is that file's current result; it
// writes to the file at its path, whatever became of the one it opened.
package sinks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/songflow/songflow/internal/latin1"
	"github.com/songflow/songflow/stages"
)

// Line is one line of a results.jsonl: the result's fields, with the
// content hash it is stored under.
type Line struct {
	ContentHash string `json:"content_hash"` // the hash Append was given
	stages.Result
}

// lineKey identifies a line: the file it names (the Result's File) and
// the result it holds, by content hash and analyzer version.
type lineKey struct{ file, hash, version string }

// jsonName is the file name a line names, in UTF-8, the only text JSON
// carries. A name that is not UTF-8 (a Latin-1 "Beyonc\xe9.mp3" from an
// old archive) has each of its stray bytes read as Latin-1 ("Beyoncé.mp3"),
// as the server reads such titles: readable, and distinct for names that
// differ in those bytes alone, where encoding/json would write every one
// as U+FFFD and two such files would share their lines, each line taken
// for the other file's and written again at every start. Lines are told
// apart by this form, the one read back from the file.
func jsonName(name string) string { return latin1.ToUTF8(name) }

// JSONL is an append-only file of results, one JSON object per line. A
// line belongs to the file it names, and the newest line naming a file is
// that file's result: a file gets a line whenever the result its newest
// line holds (content hash and analyzer version) is not the one it has
// now, so a file that changes back to bytes it held before (A, B, A) gets
// its line again, and a rename or a copy gets a line under its own name
// without the bytes being analysed again. It is safe for concurrent use.
//
// The file is the one at the path, not the one first opened: before every
// write, and when asked what it holds, the JSONL looks at the path, and
// if the file there is another (the old one was deleted, renamed away or
// replaced, as editors save and log rotations move) or was changed by
// another hand (cut short in place), it lets the old one go, reads the
// file now at the path, made afresh if there is none, and says so on
// Reopened. The results only the old file held are then missing: the
// caller writes again those that belong.
type JSONL struct {
	path     string
	warn     func(string)
	reopened chan struct{}

	mu     sync.Mutex
	closed bool
	f      *os.File // nil when the file at the path could not be opened; tried again before the next write
	// seen is the open file as the JSONL last read or wrote it: the path
	// still names that file, unchanged, while a Stat of the path finds
	// the same file with the same size and modification time.
	seen os.FileInfo
	// newest is, by the file a line names, the newest such line: what a
	// reader taking the newest line per file takes for that file's result.
	newest map[string]lineKey
	// torn is how many bytes at the end of the file a failed write left
	// (a full disk takes part of a line): they go before the next line,
	// which would otherwise be glued to them.
	torn int64
	// owed are the lines failed writes could not add, oldest first. They
	// are written before the next line and by Flush, so that a line a
	// full disk refused is late, not lost; in order, so that a file's
	// newest line is still its newest result.
	owed []owedLine
}

// owedLine is a line Append could not write yet.
type owedLine struct {
	k lineKey
	b []byte // the line, newline included
}

// OpenJSONL opens the results file at path, creating it and its folder
// when needed. It first repairs what a crash or a full disk can leave: a
// last line cut short (no final newline) is cut off the file, and a line
// that repeats the newest earlier line naming the same file (same content
// hash and analyzer version) is dropped. A line repeating an older one of
// its file is kept: the file changed back to those bytes (A, B, A), and
// without it the newest line would hold B. Lines it cannot parse are kept
// as they are; lines written before a file got a line under every name
// load too, each belonging to the file it names. The same repairs are
// made to a file found at the path later, in place of the one opened.
// warn, when not nil, is told of every repair and of every such switch,
// so that lost lines are not lost silently: their results are still in
// the store, for the caller to write again.
func OpenJSONL(path string, warn func(msg string)) (*JSONL, error) {
	if warn == nil {
		warn = func(string) {}
	}
	j := &JSONL{path: path, warn: warn, reopened: make(chan struct{}, 1)}
	if err := j.open(); err != nil {
		return nil, err
	}
	return j, nil
}

// open opens the file at the path, making it when there is none, repairs
// it and learns which results it holds.
func (j *JSONL) open() error {
	if err := os.MkdirAll(filepath.Dir(j.path), 0o755); err != nil {
		return fmt.Errorf("results %s: %w", j.path, err)
	}
	for {
		// The file is read through the descriptor later written to, so
		// that what is learnt is of that file, whatever the path names
		// meanwhile.
		f, err := os.OpenFile(j.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("results %s: %w", j.path, err)
		}
		c, err := readContents(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("results %s: %w", j.path, err)
		}
		if c.repeated > 0 {
			// Replace the file in one rename, so a crash now leaves the
			// old file or the repaired one; then open that. It is closed
			// first: Windows renames nothing over a file held open.
			f.Close()
			tmp := j.path + ".repair"
			if err := os.WriteFile(tmp, c.kept, 0o644); err != nil {
				return fmt.Errorf("results %s: repair: %w", j.path, err)
			}
			if err := os.Rename(tmp, j.path); err != nil {
				return fmt.Errorf("results %s: repair: %w", j.path, err)
			}
			j.warn(fmt.Sprintf("results %s: repeated lines dropped: %d", j.path, c.repeated))
			j.warnTorn(c)
			continue
		}
		if len(c.torn) > 0 {
			// Cutting the tail off rewrites nothing, however long the file.
			if err := f.Truncate(c.whole); err != nil {
				f.Close()
				return fmt.Errorf("results %s: drop torn last line: %w", j.path, err)
			}
			j.warnTorn(c)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("results %s: %w", j.path, err)
		}
		j.f, j.seen, j.newest, j.torn = f, fi, c.newest, 0
		return nil
	}
}

// contents is what a results file holds.
type contents struct {
	newest   map[string]lineKey // the newest line of every file named
	whole    int64              // bytes up to the last newline
	torn     []byte             // what follows: a line cut short
	repeated int                // lines repeating the newest earlier line of their file
	kept     []byte             // the whole lines, without the repeated ones
}

// readContents reads a results file and learns the newest line of every
// file it names. Only a line equal in key to its file's newest earlier
// line counts as repeated: that is what a write repeated leaves (a line
// written again after a crash), while an older line coming back is the
// file's history.
func readContents(r io.Reader) (contents, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return contents{}, err
	}
	whole := data[:bytes.LastIndexByte(data, '\n')+1]
	c := contents{newest: map[string]lineKey{}, whole: int64(len(whole)), torn: data[len(whole):]}
	var kept bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(whole))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var l struct {
			File    string `json:"file"`
			Hash    string `json:"content_hash"`
			Version string `json:"analyzer_version"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Hash != "" {
			k := lineKey{l.File, l.Hash, l.Version}
			if prev, ok := c.newest[k.file]; ok && prev == k {
				c.repeated++
				continue
			}
			c.newest[k.file] = k
		}
		kept.Write(sc.Bytes())
		kept.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return contents{}, err
	}
	c.kept = kept.Bytes()
	return c, nil
}

func (j *JSONL) warnTorn(c contents) {
	if len(c.torn) > 0 {
		j.warn(fmt.Sprintf("results %s: dropped a torn last line (%d bytes at offset %d, no newline): %s",
			j.path, len(c.torn), c.whole, excerpt(c.torn)))
	}
}

// follow makes sure the open file is the one at the path, as the JSONL
// last saw it; if not, it switches to the file now there. It is called
// with j.mu held, before every write and every answer about what the
// file holds: a Stat, cheap next to the write.
func (j *JSONL) follow() error {
	if j.closed {
		return fmt.Errorf("results %s: %w", j.path, os.ErrClosed)
	}
	if j.f != nil {
		fi, err := os.Stat(j.path)
		if err == nil && os.SameFile(fi, j.seen) && fi.Size() == j.seen.Size() && fi.ModTime().Equal(j.seen.ModTime()) {
			return nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			// Whether the path names the open file cannot be told; it is
			// looked at again before the next write.
			return fmt.Errorf("results %s: %w", j.path, err)
		}
		// The old file is no longer what the path holds: an error
		// closing it costs the new one nothing.
		_ = j.f.Close()
		j.f, j.seen, j.newest, j.torn = nil, nil, map[string]lineKey{}, 0
		j.warn(fmt.Sprintf("results %s: removed, replaced or changed by another program while open: now writing to the file at the path", j.path))
	}
	if err := j.open(); err != nil {
		return err
	}
	select {
	case j.reopened <- struct{}{}:
	default: // one is pending already
	}
	return nil
}

// Reopened returns a channel that receives after the JSONL has let go of
// its file for the one now at the path (see JSONL); several switches may
// come as one receive. The results the old file held and the new one
// lacks are missing from it: the caller writes again those that belong
// there, with Append, which skips a file whose newest line in the new
// file holds its result already.
func (j *JSONL) Reopened() <-chan struct{} { return j.reopened }

// Follow switches to the file at the path if it is no longer the one
// open, as Append does before writing; it lets a caller with nothing to
// write notice soon that the file was deleted or replaced.
func (j *JSONL) Follow() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.follow()
}

// excerpt quotes the start of b for a log line.
func excerpt(b []byte) string {
	const n = 64
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

// Has reports whether the newest line naming file in the file at the
// path holds the result stored under hash for analyzer version: whether
// a reader taking the newest line per file has that result for it. An
// older line of file with that result does not count. When the path
// cannot be looked at, it answers for the file open, if any.
func (j *JSONL) Has(file, hash, version string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.follow() // the next write reports the error
	return j.holds(lineKey{jsonName(file), hash, version})
}

// holds reports whether k is the newest line of its file. It is called
// with j.mu held.
func (j *JSONL) holds(k lineKey) bool {
	n, ok := j.newest[k.file]
	return ok && n == k
}

// lastOwed returns the newest line owed for file, if any: the one that
// file's newest line will be once the owed lines are written. It is
// called with j.mu held.
func (j *JSONL) lastOwed(file string) (lineKey, bool) {
	for i := len(j.owed) - 1; i >= 0; i-- {
		if j.owed[i].k.file == file {
			return j.owed[i].k, true
		}
	}
	return lineKey{}, false
}

// Append writes r as one line to the file at the path, naming r.File,
// unless the newest line naming r.File there already holds the result
// for hash and r.AnalyzerVersion, and reports whether it wrote. A line
// naming r.File with that result further back does not stop it: r.File
// changed since, and its newest line must say what it holds now. The line
// goes out in a single write, so a crash leaves it whole or torn, never
// interleaved with another; what a failed write leaves of it is cut off.
// A line that cannot be written (a full disk, a path that cannot be
// opened) is kept, in order, and written before the next one or by
// Flush: the error says it is late. A line is owed once however often it
// is appended while waiting, unless another result of r.File was owed
// after it.
func (j *JSONL) Append(hash string, r stages.Result) (bool, error) {
	r.File = jsonName(r.File)
	b, err := json.Marshal(Line{ContentHash: hash, Result: r})
	if err != nil {
		return false, fmt.Errorf("results %s: %w", j.path, err)
	}
	b = append(b, '\n')
	k := lineKey{r.File, hash, r.AnalyzerVersion}
	j.mu.Lock()
	defer j.mu.Unlock()
	// The path is looked at before what the file holds: a line the open
	// file holds is not in a file that replaced it.
	ferr := j.follow()
	// A line owed for the file comes after every line written: the
	// newest it will have is the last one owed.
	last, owing := j.lastOwed(k.file)
	if ferr == nil && !owing && j.holds(k) {
		return false, nil
	}
	if !owing || last != k {
		j.owed = append(j.owed, owedLine{k, b})
	}
	if ferr != nil {
		return false, j.late(ferr)
	}
	if err := j.write(); err != nil {
		return false, err
	}
	return true, nil
}

// Flush writes the lines failed writes left owing to the file at the
// path, and returns the error of the first that still cannot be written.
func (j *JSONL) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.follow(); err != nil {
		return j.late(err)
	}
	return j.write()
}

// Owed reports how many lines are waiting to be written.
func (j *JSONL) Owed() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.owed)
}

// late adds to err how many lines wait because of it.
func (j *JSONL) late(err error) error {
	if len(j.owed) == 0 {
		return err
	}
	return fmt.Errorf("%w (lines waiting to be written: %d)", err, len(j.owed))
}

// write writes the owed lines to the open file, which follow has just
// found at the path. A line its file's newest line holds already is not
// written again: the file may have replaced the one a write failed on,
// line and all.
func (j *JSONL) write() error {
	if len(j.owed) == 0 {
		return nil
	}
	// What the file is after these writes is what the next follow
	// expects to find at the path.
	defer func() {
		if fi, err := j.f.Stat(); err == nil {
			j.seen = fi
		}
	}()
	for len(j.owed) > 0 {
		o := j.owed[0]
		if !j.holds(o.k) {
			if err := j.cutTorn(); err != nil {
				return j.late(err)
			}
			if n, err := j.f.Write(o.b); err != nil {
				j.torn = int64(n)
				_ = j.cutTorn() // if it fails now, it is tried again before the next line
				return j.late(fmt.Errorf("results %s: %w", j.path, err))
			}
			j.newest[o.k.file] = o.k
		}
		j.owed[0] = owedLine{}
		j.owed = j.owed[1:]
	}
	return nil
}

// cutTorn drops what a failed write left at the end of the file. The file
// is opened for appending, so those are its last j.torn bytes.
func (j *JSONL) cutTorn() error {
	if j.torn == 0 {
		return nil
	}
	fi, err := j.f.Stat()
	if err == nil {
		err = j.f.Truncate(fi.Size() - j.torn)
	}
	if err != nil {
		return fmt.Errorf("results %s: drop %d bytes of a failed write: %w", j.path, j.torn, err)
	}
	j.torn = 0
	return nil
}

// Len reports how many files the file at the path holds a result for:
// the files its lines name, each counted once however many lines its
// changes took, since only a file's newest line is its result (see Has).
// Lines that are not results are not counted. A file renamed away or
// deleted still counts: its lines stay.
func (j *JSONL) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.follow() // the next write reports the error
	return len(j.newest)
}

// Close closes the file. Lines still owed (see Flush) are not written.
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("results %s: %w", j.path, os.ErrClosed)
	}
	j.closed = true
	if j.f == nil {
		return nil
	}
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("results %s: %w", j.path, err)
	}
	return nil
}
