package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func openFiles(t *testing.T) *Store {
	t.Helper()
	s, _ := openTemp(t)
	ctx := context.Background()
	// Twice: the tables must be created idempotently.
	for range 2 {
		if err := s.EnsureFiles(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestRecordFileDoneWritesResultAndFile(t *testing.T) {
	ctx := context.Background()
	s := openFiles(t)
	dir := filepath.Join(t.TempDir(), "music")
	k := Key{Hash: HashContent([]byte("song")), AnalyzerVersion: "v1", Namespace: "watch"}
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	a := File{Path: filepath.Join(dir, "a.wav"), Size: 4, ModTime: mtime, Hash: k.Hash, AnalyzerVersion: "v1", State: FileDone}
	if err := s.RecordFile(ctx, a, &Entry{Key: k, Title: "A", Result: result(120)}); err != nil {
		t.Fatalf("first record: %v", err)
	}
	// The same content under a second name: the stored result is kept
	// (DO NOTHING).
	b := a
	b.Path = filepath.Join(dir, "sub", "b.wav")
	if err := s.RecordFile(ctx, b, &Entry{Key: k, Title: "B", Result: result(99)}); err != nil {
		t.Fatalf("second record: %v", err)
	}
	e, ok, err := s.Get(ctx, k)
	if err != nil || !ok || e.Title != "A" || string(e.Result) != string(result(120)) {
		t.Fatalf("result = %+v, %v, %v; want the first one kept", e, ok, err)
	}
	got, ok, err := s.File(ctx, a.Path)
	if err != nil || !ok {
		t.Fatalf("File(a) = %v, %v", ok, err)
	}
	if !got.ModTime.Equal(mtime) || got.Size != 4 || got.State != FileDone || got.Hash != k.Hash {
		t.Fatalf("File(a) = %+v; want mtime %v to the nanosecond, size 4, done", got, mtime)
	}
	files, err := s.Files(ctx, dir)
	if err != nil || len(files) != 2 || files[0].Path != a.Path || files[1].Path != b.Path {
		t.Fatalf("Files(dir) = %+v, %v; want a then sub/b", files, err)
	}
	// A sibling folder whose name extends dir's is not inside dir.
	other := File{Path: dir + "-other" + string(filepath.Separator) + "c.wav", Hash: "x", AnalyzerVersion: "v1", State: FileSkipped, Error: "not audio"}
	if err := s.RecordFile(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	if files, _ := s.Files(ctx, dir); len(files) != 2 {
		t.Fatalf("Files(dir) holds %d files, want 2 (the -other folder is outside)", len(files))
	}
	if err := s.ForgetFile(ctx, a.Path); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.File(ctx, a.Path); ok {
		t.Fatal("forgotten file still recorded")
	}
	if _, ok, _ := s.Get(ctx, k); !ok {
		t.Fatal("forgetting a file removed its result; b still needs it")
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRecordFileFailedAndFileWithContent(t *testing.T) {
	ctx := context.Background()
	s := openFiles(t)
	dir := t.TempDir()
	bad := File{Path: filepath.Join(dir, "bad.mp3"), Size: 10, ModTime: time.Unix(100, 0), Hash: "h1", AnalyzerVersion: "v1", State: FileFailed, Error: "decode: bad frame"}
	if err := s.RecordFile(ctx, bad, nil); err != nil {
		t.Fatalf("record failed file: %v", err)
	}
	f, ok, err := s.FileWithContent(ctx, "h1", "v1")
	if err != nil || !ok || f.State != FileFailed || f.Error != "decode: bad frame" {
		t.Fatalf("FileWithContent = %+v, %v, %v", f, ok, err)
	}
	if _, ok, _ := s.FileWithContent(ctx, "h1", "v2"); ok {
		t.Fatal("a failure under another analyzer version matched")
	}
	// The file changes and is analysed: the row is replaced, not added.
	k := Key{Hash: "h2", AnalyzerVersion: "v1", Namespace: "watch"}
	good := bad
	good.Hash, good.State, good.Error, good.Size = "h2", FileDone, "", 11
	if err := s.RecordFile(ctx, good, &Entry{Key: k, Result: result(100)}); err != nil {
		t.Fatalf("record fixed file: %v", err)
	}
	files, _ := s.Files(ctx, dir)
	if len(files) != 1 || files[0].State != FileDone || files[0].Error != "" || files[0].Size != 11 {
		t.Fatalf("files = %+v; want one done row", files)
	}
	if _, ok, _ := s.FileWithContent(ctx, "h1", "v1"); ok {
		t.Fatal("old content still recorded after the file changed")
	}
}

func TestRecordFileRejectsIncomplete(t *testing.T) {
	ctx := context.Background()
	s := openFiles(t)
	cases := []struct {
		name string
		f    File
		r    *Entry
	}{
		{"no path", File{State: FileDone}, &Entry{Key: Key{Hash: "h", AnalyzerVersion: "v", Namespace: "n"}, Result: result(1)}},
		{"no state", File{Path: "/x"}, nil},
		{"done without result", File{Path: "/x", State: FileDone}, nil},
		{"incomplete key", File{Path: "/x", State: FileDone}, &Entry{Key: Key{Hash: "h"}, Result: result(1)}},
		{"result not JSON", File{Path: "/x", State: FileDone}, &Entry{Key: Key{Hash: "h", AnalyzerVersion: "v", Namespace: "n"}, Result: json.RawMessage(`{"bpm":`)}},
	}
	for _, c := range cases {
		if err := s.RecordFile(ctx, c.f, c.r); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if files, _ := s.Files(ctx, ""); len(files) != 0 {
		t.Fatalf("a rejected record left rows: %+v", files)
	}
}

// TestFileIdentityAndOldTable: a record keeps the file's identity, and a
// watch_files table made before identities were kept gains the column,
// its rows reading as having none (the watcher then reads the file once).
func TestFileIdentityAndOldTable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := filepath.Join(t.TempDir(), "old.wav")
	for _, q := range []string{
		`CREATE TABLE watch_files (
			path             TEXT PRIMARY KEY,
			size             INTEGER NOT NULL,
			mtime_ns         INTEGER NOT NULL,
			content_hash     TEXT    NOT NULL,
			analyzer_version TEXT    NOT NULL,
			state            TEXT    NOT NULL,
			error            TEXT    NOT NULL DEFAULT '',
			updated_at       TEXT    NOT NULL
		)`,
		`INSERT INTO watch_files VALUES ('` + old + `', 4, 100, 'h0', 'v1', 'skipped', 'not audio', '2026-01-02T03:04:05.000000000Z')`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := s.EnsureFiles(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if f, ok, err := s.File(ctx, old); err != nil || !ok || f.Identity != "" || f.Hash != "h0" {
		t.Fatalf("old row = %+v, %v, %v; want it kept, without identity", f, ok, err)
	}
	f := File{Path: old, Size: 4, ModTime: time.Unix(0, 100), Identity: "2049:1234:1700000000000000000", Hash: "h1", AnalyzerVersion: "v1", State: FileSkipped, Error: "not audio"}
	if err := s.RecordFile(ctx, f, nil); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.File(ctx, old); err != nil || !ok || got.Identity != f.Identity || got.Hash != "h1" {
		t.Fatalf("File = %+v, %v, %v; want identity %q", got, ok, err, f.Identity)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

// Files takes a folder however it is spelt: the root, or with a trailing
// separator.
func TestFilesUnderRootAndTrailingSeparator(t *testing.T) {
	ctx := context.Background()
	s := openFiles(t)
	for _, p := range []string{"/a.wav", "/x/b.wav", "/xy/c.wav"} {
		if err := s.RecordFile(ctx, File{Path: p, Hash: "h", AnalyzerVersion: "v1", State: FileSkipped}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		dir  string
		want []string
	}{
		{"/", []string{"/a.wav", "/x/b.wav", "/xy/c.wav"}},
		{"/x", []string{"/x/b.wav"}},
		{"/x/", []string{"/x/b.wav"}},
	} {
		files, err := s.Files(ctx, c.dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("Files(%q) = %q, want %q", c.dir, got, c.want)
		}
	}
}
