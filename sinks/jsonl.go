// Package sinks writes analysis results where people and other programs
// read them. Its JSONL appends one line per result to a file and keeps
// that file free of torn and repeated lines across crashes, so that a
// reader sees every result exactly once.
package sinks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/songflow/songflow/stages"
)

// Line is one line of a results.jsonl: the result's fields, with the
// content hash it is stored under.
type Line struct {
	ContentHash string `json:"content_hash"`
	stages.Result
}

// lineKey identifies a result in the file.
type lineKey struct{ hash, version string }

// JSONL is an append-only file of results, one JSON object per line,
// each result (content hash and analyzer version) at most once. It is
// safe for concurrent use.
type JSONL struct {
	path string
	mu   sync.Mutex
	f    *os.File
	has  map[lineKey]bool
	// torn is how many bytes at the end of the file a failed write left
	// (a full disk takes part of a line): they go before the next line,
	// which would otherwise be glued to them.
	torn int64
	// owed are the lines failed writes could not add, oldest first. They
	// are written before the next line and by Flush, so that a line a
	// full disk refused is late, not lost.
	owed []owedLine
}

// owedLine is a line Append could not write yet.
type owedLine struct {
	k lineKey
	b []byte // the line, newline included
}

// OpenJSONL opens the results file at path, creating it and its folder
// when needed. It first repairs what a crash or a full disk can leave: a
// last line cut short (no final newline) is cut off the file, and a
// result present twice keeps its first line only. Lines it cannot parse
// are kept as they are. warn, when not nil, is told of every repair, so
// that lost lines are not lost silently: their results are still in the
// store, for the caller to write again.
func OpenJSONL(path string, warn func(msg string)) (*JSONL, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("results %s: %w", path, err)
	}
	j := &JSONL{path: path, has: map[lineKey]bool{}}
	if warn == nil {
		warn = func(string) {}
	}
	if err := j.repair(warn); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("results %s: %w", path, err)
	}
	j.f = f
	return j, nil
}

func (j *JSONL) repair(warn func(string)) error {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("results %s: %w", j.path, err)
	}
	whole := data[:bytes.LastIndexByte(data, '\n')+1]
	torn := data[len(whole):]
	var kept bytes.Buffer
	repeated := 0
	sc := bufio.NewScanner(bytes.NewReader(whole))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var l struct {
			Hash    string `json:"content_hash"`
			Version string `json:"analyzer_version"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Hash != "" {
			k := lineKey{l.Hash, l.Version}
			if j.has[k] {
				repeated++
				continue
			}
			j.has[k] = true
		}
		kept.Write(sc.Bytes())
		kept.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("results %s: %w", j.path, err)
	}
	switch {
	case repeated > 0:
		// Replace the file in one rename, so a crash now leaves the old
		// file or the repaired one.
		tmp := j.path + ".repair"
		if err := os.WriteFile(tmp, kept.Bytes(), 0o644); err != nil {
			return fmt.Errorf("results %s: repair: %w", j.path, err)
		}
		if err := os.Rename(tmp, j.path); err != nil {
			return fmt.Errorf("results %s: repair: %w", j.path, err)
		}
		warn(fmt.Sprintf("results %s: repeated lines dropped: %d", j.path, repeated))
	case len(torn) > 0:
		// Cutting the tail off rewrites nothing, however long the file.
		if err := os.Truncate(j.path, int64(len(whole))); err != nil {
			return fmt.Errorf("results %s: drop torn last line: %w", j.path, err)
		}
	}
	if len(torn) > 0 {
		warn(fmt.Sprintf("results %s: dropped a torn last line (%d bytes at offset %d, no newline): %s",
			j.path, len(torn), len(whole), excerpt(torn)))
	}
	return nil
}

// excerpt quotes the start of b for a log line.
func excerpt(b []byte) string {
	const n = 64
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "..."
	}
	return strconv.Quote(string(b))
}

// Has reports whether the file holds the result stored under hash for
// analyzer version.
func (j *JSONL) Has(hash, version string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.has[lineKey{hash, version}]
}

// Append writes r as one line unless the file already holds the result
// for hash and r.AnalyzerVersion, and reports whether it wrote. The line
// goes out in a single write, so a crash leaves it whole or torn, never
// interleaved with another; what a failed write leaves of it is cut off.
// A line that cannot be written (a full disk) is kept, in order, and
// written before the next one or by Flush: the error says it is late.
func (j *JSONL) Append(hash string, r stages.Result) (bool, error) {
	b, err := json.Marshal(Line{ContentHash: hash, Result: r})
	if err != nil {
		return false, fmt.Errorf("results %s: %w", j.path, err)
	}
	b = append(b, '\n')
	k := lineKey{hash, r.AnalyzerVersion}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.has[k] {
		return false, nil
	}
	if !slices.ContainsFunc(j.owed, func(o owedLine) bool { return o.k == k }) {
		j.owed = append(j.owed, owedLine{k, b})
	}
	if err := j.flush(); err != nil {
		return false, err
	}
	return true, nil
}

// Flush writes the lines failed writes left owing, and returns the error
// of the first that still cannot be written.
func (j *JSONL) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.flush()
}

// Owed reports how many lines are waiting to be written.
func (j *JSONL) Owed() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.owed)
}

func (j *JSONL) flush() error {
	for len(j.owed) > 0 {
		if err := j.cutTorn(); err != nil {
			return err
		}
		o := j.owed[0]
		if n, err := j.f.Write(o.b); err != nil {
			j.torn = int64(n)
			_ = j.cutTorn() // if it fails now, it is tried again before the next line
			return fmt.Errorf("results %s: %w (lines waiting to be written: %d)", j.path, err, len(j.owed))
		}
		j.has[o.k] = true
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

// Len reports how many results the file holds.
func (j *JSONL) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.has)
}

// Close closes the file. Lines still owed (see Flush) are not written.
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("results %s: %w", j.path, err)
	}
	return nil
}
