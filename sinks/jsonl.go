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
}

// OpenJSONL opens the results file at path, creating it and its folder
// when needed. It first repairs what a crash can leave: a last line cut
// short (no final newline) is dropped, and a result present twice keeps
// its first line only. Lines it cannot parse are kept as they are.
func OpenJSONL(path string) (*JSONL, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("results %s: %w", path, err)
	}
	j := &JSONL{path: path, has: map[lineKey]bool{}}
	if err := j.repair(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("results %s: %w", path, err)
	}
	j.f = f
	return j, nil
}

func (j *JSONL) repair() error {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("results %s: %w", j.path, err)
	}
	whole := data
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		whole = data[:i+1] // the torn tail goes; the store still has it
	}
	var kept bytes.Buffer
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
	if kept.Len() == len(data) {
		return nil
	}
	// Replace the file in one rename, so a crash now leaves the old file
	// or the repaired one.
	tmp := j.path + ".repair"
	if err := os.WriteFile(tmp, kept.Bytes(), 0o644); err != nil {
		return fmt.Errorf("results %s: repair: %w", j.path, err)
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("results %s: repair: %w", j.path, err)
	}
	return nil
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
// interleaved with another.
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
	if _, err := j.f.Write(b); err != nil {
		return false, fmt.Errorf("results %s: %w", j.path, err)
	}
	j.has[k] = true
	return true, nil
}

// Len reports how many results the file holds.
func (j *JSONL) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.has)
}

// Close closes the file.
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("results %s: %w", j.path, err)
	}
	return nil
}
