package reports

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	textunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/unicode/norm"

	"github.com/songflow/songflow/decode"
	"github.com/songflow/songflow/dsp"
	"github.com/songflow/songflow/internal/caseless"
	"github.com/songflow/songflow/stages"
)

// Descriptor names of the reference columns a truth file may carry; they
// match the JSON names of the result fields they are compared with.
const (
	Energy       = "energy"
	Danceability = "danceability"
	Acousticness = "acousticness"
	Valence      = "valence"
	Loudness     = "loudness"
)

// Descriptors lists the reference descriptors in the order reports show them.
var Descriptors = []string{Energy, Danceability, Acousticness, Valence, Loudness}

// Truth is what is known about a song: its tempo, key and time signature
// and, optionally, reference values of the feel descriptors (0..1;
// loudness in dB as given).
type Truth struct {
	BPM float64 `json:"bpm,omitempty"` // 0 when unknown
	// Key is spelled as dsp.Key.String spells it, "C# Minor"; empty when
	// unknown.
	Key string `json:"key,omitempty"`
	// TimeSignature is spelled "N/D" ("6/8"), as the truth file gave it
	// but for "C", spelt 4/4, and "C|", 2/2; empty when unknown. It is
	// not reduced to its MeterClass, so that reports show 2/4 and 4/4
	// apart.
	TimeSignature string `json:"time_signature,omitempty"`
	// Reference holds the feel descriptors' reference values by name
	// (see Descriptors).
	Reference map[string]float64 `json:"reference,omitempty"`
	// Source says where the truth came from: the truth file's name, or
	// "tags".
	Source string `json:"source"`
	// Row is the truth file's line the truth was read from, 0 for tags.
	// Files given the same row's truth are the same song, which
	// cross-validation must not split between folds.
	Row int `json:"-"`
}

// ParsedKey returns the truth's key, and false when there is none.
func (t Truth) ParsedKey() (dsp.Key, bool) {
	if t.Key == "" {
		return dsp.Key{}, false
	}
	k, err := dsp.ParseKey(t.Key)
	return k, err == nil
}

// TruthSet is the ground truth of a calibration folder, looked up by file
// or by title and artist.
type TruthSet struct {
	// File is the truth file it was read from, relative to the folder;
	// empty when there was none and truth comes from each song's tags.
	File string
	// Unread names the truth file's columns that songflow does not read
	// (notes, a source, a header it does not know), as the header gives
	// them.
	Unread []string
	byFile map[string]Truth // slash-separated path relative to the folder
	// bySep maps the rows' paths written with backslashes, read with the
	// backslashes as separators, to their byFile keys.
	bySep   map[string]string
	byFull  map[string]Truth // whole title and artist, "title (remix)|artist"
	byMatch map[string]Truth // normalised "title|artist", only where unique
	byTitle map[string]Truth // normalised title, only where unique
	songs   int
	// rows are the rows Match accounts for: every row but one repeating
	// an earlier row word for word.
	rows []truthRow
}

// truthRow is a row of the truth file as Match reports it.
type truthRow struct {
	name string // the file as written, or "Artist - Title"
	line int
}

// UnmatchedRow is a row of the truth file that no audio file matched.
type UnmatchedRow struct {
	// Row names the song as the row does: its file, or "Artist - Title".
	Row  string `json:"row"`
	Line int    `json:"line"` // in the truth file, counting from 1
	// Ambiguous lists the files whose names equal the row's ignoring
	// case and Unicode normalisation (its backslashes read as separators
	// or not), when the row could not be given to them: they spell the
	// name differently, or another row equals it so too.
	Ambiguous []string `json:"ambiguous,omitempty"`
}

// Len returns how many songs the truth file describes.
func (s *TruthSet) Len() int { return s.songs }

// LoadTruth reads the ground truth of the calibration folder dir: dir's
// truth.csv or, failing that, the one CSV file in dir that is a Spotify
// playlist export. With neither it returns an empty set whose Match
// falls back to the songs' TBPM and TKEY tags.
func LoadTruth(dir string) (*TruthSet, error) {
	name := "truth.csv"
	// Truth.csv, as a Mac user names it, is the same file on their disk;
	// on a case-sensitive one it would be passed over silently, and two
	// spellings side by side would leave one unread without a word.
	switch names := truthByFold(dir, name); {
	case len(names) > 1:
		return nil, fmt.Errorf("truth: %s holds %d truth files, %s: keep one", dir, len(names), strings.Join(names, ", "))
	case len(names) == 1:
		name = names[0]
	}
	f, err := openRegular(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		name, err = findExport(dir)
		if err != nil {
			return nil, err
		}
		if name == "" {
			return &TruthSet{}, nil
		}
		f, err = openRegular(filepath.Join(dir, name))
	}
	if err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	defer f.Close()
	s, err := ReadTruth(f, name)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openRegular opens file, which must be a regular file or a
// link to one: opening a named pipe waits for a writer, for good and deaf
// to Ctrl-C, and a device such as /dev/zero never ends, filling memory.
func openRegular(file string) (*os.File, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if err := decode.Regular(st.Mode()); err != nil {
		return nil, &fs.PathError{Op: "open", Path: file, Err: err}
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	// Checked again on what was opened: the path may have been replaced
	// in between (by a link to /dev/zero, say).
	if st, err = f.Stat(); err == nil {
		err = decode.Regular(st.Mode())
	}
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: file, Err: err}
	}
	return f, nil
}

// truthByFold returns the files of dir whose name is name ignoring case,
// in the order ReadDir gives them (none when dir cannot be read: opening
// the file then reports why).
func truthByFold(dir, name string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var found []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(e.Name(), name) {
			found = append(found, e.Name())
		}
	}
	return found
}

// exportHead is how much of a CSV file findExport reads to find its
// header: far more than any header line.
const exportHead = 64 << 10

// findExport returns the name of the one top-level CSV file of dir whose
// header is a playlist export's, or "" when there is none.
func findExport(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("truth: %w", err)
	}
	var found []string
	for _, e := range entries {
		if e.IsDir() || !strings.EqualFold(filepath.Ext(e.Name()), ".csv") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		if st, err := os.Stat(file); err == nil && !st.Mode().IsRegular() {
			continue // a named pipe, a device (see openRegular): no export
		}
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("truth: %w", err)
		}
		// Its header is all that tells an export: the file may be a data
		// set of gigabytes lying beside the songs, read whole for nothing.
		data, err := io.ReadAll(io.LimitReader(f, exportHead))
		f.Close()
		if err != nil {
			continue
		}
		// An export that cannot be read further than its header is still
		// the truth file: reading it then names the line at fault, where
		// passing it over would take truth from tags without a word.
		text, _ := decodeTruth(data, e.Name())
		cr, _ := tableReader(text)
		hdr, err := cr.Read()
		if err != nil {
			continue
		}
		c := columns(hdr)
		if c.has("song") && c.has("artist") && c.has("bpm") {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("truth: %d playlist exports in %s (%s): name the one to use truth.csv", len(found), dir, strings.Join(found, ", "))
}

// columnIndex maps normalised header names to column indices.
type columnIndex map[string]int

// columns indexes the header hdr by its lower-cased names. A header that
// ends in its unit, in parentheses or brackets as spreadsheets label
// columns ("Tempo (BPM)", "Loudness [LUFS]"; a unit of units), is known
// by its name without it too: left unread, such a column would be passed over without
// a word, and its songs scored as having no truth. The first column of a
// name counts.
func columns(hdr []string) columnIndex {
	c := columnIndex{}
	add := func(h string, i int) {
		if _, dup := c[h]; !dup {
			c[h] = i
		}
	}
	for i, h := range hdr {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		add(h, i)
		for _, p := range [][2]string{{"(", ")"}, {"[", "]"}} {
			open := strings.LastIndex(h, p[0])
			if open <= 0 || !strings.HasSuffix(h, p[1]) {
				continue
			}
			// Only a unit the column's figures may carry, or a key's
			// notation: "Tempo (ms)" holds beat periods, no tempo.
			if u := strings.TrimSpace(h[open+1 : len(h)-1]); slices.Contains(units, u) || u == "camelot" {
				add(strings.TrimSpace(h[:open]), i)
			}
		}
	}
	return c
}

func (c columnIndex) has(name string) bool { _, ok := c[name]; return ok }

// pick returns the index of the first of names present, or -1.
func (c columnIndex) pick(names ...string) int {
	for _, n := range names {
		if i, ok := c[n]; ok {
			return i
		}
	}
	return -1
}

// ReadTruth reads a truth table from r; name is used in errors and as the
// truths' Source. Two layouts are understood, told apart by their header:
//
//   - songflow's own: a "file" column (path relative to the calibration
//     folder) or "title" and "artist" columns; "bpm"; "key";
//     "time_signature" (or "meter", "time signature", "timesig");
//     optionally "energy", "danceability", "acousticness", "valence" and
//     "loudness".
//   - a Spotify playlist export: "Song", "Artist", "BPM", "Key", "Dance",
//     "Energy", "Acoustic", "Happy", "Loud (Db)" (other columns ignored).
//     Its "Time Signature" column holds a bare count of beats per bar
//     ("4"), which is not read as truth: it is Spotify's own estimate and
//     says nothing of how the beat is divided, the very thing that tells
//     6/8 from 4/4, so scored as truth it would count every right
//     compound-meter estimate wrong. A full "6/8" written there is read.
//
// A time signature is written "N/D" ("3/4", "12/8"), "C" for 4/4 or "C|"
// for 2/2; in songflow's own layout a bare number is an error, since
// "4" could be 4/4 or 12/8.
//
// Descriptor columns may hold 0–1 or 0–100 values: a column with any
// value above 1 or written with a percent sign is read as percent, as
// are all of a playlist export's; a fraction (0.8) in such a column is an
// error naming its line, since the column mixes two scales.
// Loudness stays in dB. A number may carry its unit ("120 BPM", "72%",
// "-7 dB", "-9 LUFS"), nothing else. Keys may also be Camelot codes ("8A").
//
// Fields may be separated by commas, semicolons or tabs (the header line
// tells which; with semicolons or tabs a decimal comma is understood). A
// value past the header's columns is an error naming its line, as is a
// value in a row that names no file (or title).
// The text may be UTF-8 (a byte order mark is ignored), UTF-16 with a
// byte order mark or, when it is not valid UTF-8, Windows-1252. A "file"
// written with backslashes ("audio\song.wav") names the file it names
// with slashes, as Match explains; two rows naming one file must agree.
func ReadTruth(r io.Reader, name string) (*TruthSet, error) {
	cr, decimalComma, err := truthReader(r, name)
	if err != nil {
		return nil, err
	}
	hdr, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("truth %s: empty, not even a header line", name)
	}
	if err != nil {
		return nil, fmt.Errorf("truth %s: header: %w", name, err)
	}
	c := columns(hdr)
	fileCol := c.pick("file", "path")
	titleCol := c.pick("title", "song", "name")
	artistCol := c.pick("artist", "artists")
	bpmCol := c.pick("bpm", "tempo")
	keyCol := c.pick("key")
	// A Camelot column (a playlist export has one beside its Key) gives
	// the key where the key column is empty or missing.
	camelotCol := c.pick("camelot")
	meterCol := c.pick("time_signature", "meter", "time signature", "timesig")
	if fileCol < 0 && (titleCol < 0 || artistCol < 0) && strings.ContainsRune(strings.Join(hdr, ""), 0) {
		// Text has no NUL: quoting a header of binary back would only
		// bury the cause.
		return nil, fmt.Errorf("truth %s:1: %s", name, binaryText)
	}
	if fileCol < 0 && (titleCol < 0 || artistCol < 0) {
		return nil, fmt.Errorf("truth %s: need a \"file\" column or \"title\" and \"artist\" columns (header: %s)", name, strings.Join(hdr, ","))
	}
	if bpmCol < 0 && keyCol < 0 && meterCol < 0 {
		return nil, fmt.Errorf("truth %s: need a \"bpm\", \"key\" or \"time_signature\" column (header: %s)", name, strings.Join(hdr, ","))
	}
	desc := map[string]int{
		Energy:       c.pick("energy"),
		Danceability: c.pick("danceability", "dance"),
		Acousticness: c.pick("acousticness", "acoustic"),
		Valence:      c.pick("valence", "happy"),
		Loudness:     c.pick("loudness", "loud (db)", "loud"),
	}

	// The columns read; the others are listed in the report, so that a
	// header songflow does not know ("Tempo (ms)", "Tonart") is seen
	// rather than passed over without a word.
	read := map[int]bool{fileCol: true, titleCol: true, artistCol: true, bpmCol: true, keyCol: true, camelotCol: true, meterCol: true}
	for _, i := range desc {
		read[i] = true
	}
	var unread []string
	for i, h := range hdr {
		if h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")); h != "" && !read[i] {
			unread = append(unread, h)
		}
	}

	type row struct {
		line        int
		file, title string
		artist      string
		truth       Truth
	}
	var rows []row
	percent := map[string]bool{}
	// The first value of each descriptor column that is a percentage (above
	// 1, or written with %) and the first that can only be a fraction
	// (strictly between 0 and 1, not whole, no %): a column holding both was
	// pasted together from two scales, and reading it as percent would turn
	// its fractions into near-zero references that drag a fit off.
	type witness struct {
		line int
		s    string
	}
	percentAt, fractionAt := map[string]witness{}, map[string]witness{}
	export := c.has("song") && c.has("artist") && (c.has("dance") || c.has("acoustic") || c.has("happy") || c.has("loud (db)") || c.has("camelot"))
	// The playlist export always gives its descriptors in percent; a
	// column of 0s and 1s there (acousticness of electronic music) must
	// not be mistaken for fractions.
	if export {
		for d, i := range desc {
			if i >= 0 && d != Loudness {
				percent[d] = true
			}
		}
	}
	field := func(rec []string, i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	// value is a value column's field, empty where it says the value is
	// not known.
	value := func(rec []string, i int) string {
		s := field(rec, i)
		if notKnown(s) {
			return ""
		}
		return s
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("truth %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		// A value under no column is a row whose fields are out of place,
		// most often by a decimal comma in a comma-separated table: "0,5"
		// would be read as 0, and "120,5" at the row's end as 120.
		for i := len(hdr); i < len(rec); i++ {
			if strings.TrimSpace(rec[i]) != "" {
				return nil, fmt.Errorf("truth %s:%d: %q lies past the header's %d columns (a decimal comma in a comma-separated table? quote the value or separate the fields by semicolons)",
					name, line, rec[i], len(hdr))
			}
		}
		rw := row{line: line, file: field(rec, fileCol), title: field(rec, titleCol), artist: field(rec, artistCol)}
		if rw.file == "" && rw.title == "" {
			// A blank line, or one of empty cells or notes, is passed
			// over; a value there names no song to give it to, nor one
			// to list among the rows matching no file.
			if s := truthValue(rec, artistCol, bpmCol, keyCol, meterCol, desc); s != "" {
				what := "file"
				if fileCol < 0 {
					what = "title"
				}
				return nil, fmt.Errorf("truth %s:%d: the row holds %q but no %s to give it to", name, line, s, what)
			}
			continue
		}
		rw.truth.Source, rw.truth.Row = name, line
		if s := value(rec, bpmCol); s != "" {
			v, err := number(s, decimalComma)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("truth %s:%d: bpm %q is not a tempo", name, line, s)
			}
			rw.truth.BPM = v
		}
		s := value(rec, keyCol)
		if s == "" {
			s = value(rec, camelotCol)
		}
		if s != "" {
			k, err := parseTruthKey(s)
			if err != nil {
				return nil, fmt.Errorf("truth %s:%d: %w", name, line, err)
			}
			rw.truth.Key = k.String()
		}
		if s := value(rec, meterCol); s != "" && !(export && isCount(s)) {
			ts, err := normTimeSignature(s)
			if err != nil {
				return nil, fmt.Errorf("truth %s:%d: %w", name, line, err)
			}
			rw.truth.TimeSignature = ts
		}
		for d, i := range desc {
			s := value(rec, i)
			if s == "" {
				continue
			}
			v, err := number(s, decimalComma)
			if err != nil {
				return nil, fmt.Errorf("truth %s:%d: %s %q is not a number", name, line, d, s)
			}
			// A descriptor is a fraction or a percentage: beyond 0–100 it
			// is neither, and fitted it would drag the map off.
			if d != Loudness && (v < 0 || v > 100) {
				return nil, fmt.Errorf("truth %s:%d: %s %q is outside 0–1 and 0–100", name, line, d, s)
			}
			if rw.truth.Reference == nil {
				rw.truth.Reference = map[string]float64{}
			}
			rw.truth.Reference[d] = v
			// A percent sign says so outright: a column of "0%" and "1%"
			// has no value above 1 to tell it from fractions.
			if d != Loudness && (v > 1 || strings.HasSuffix(s, "%")) {
				percent[d] = true
				if _, seen := percentAt[d]; !seen {
					percentAt[d] = witness{line, s}
				}
			} else if d != Loudness && v > 0 && v < 1 {
				if _, seen := fractionAt[d]; !seen {
					fractionAt[d] = witness{line, s}
				}
			}
		}
		rows = append(rows, rw)
	}

	for _, d := range Descriptors {
		f, mixed := fractionAt[d]
		if !mixed || !percent[d] {
			continue
		}
		if p, ok := percentAt[d]; ok {
			return nil, fmt.Errorf("truth %s:%d: %s %q is a fraction, but line %d's %q is a percentage: write the column on one scale (a %% sign marks a small percentage)", name, f.line, d, f.s, p.line, p.s)
		}
		return nil, fmt.Errorf("truth %s:%d: %s %q is a fraction, but a playlist export's columns are percentages: write it as one", name, f.line, d, f.s)
	}
	s := &TruthSet{File: name, Unread: unread, byFile: map[string]Truth{}, bySep: map[string]string{}, byFull: map[string]Truth{}, byMatch: map[string]Truth{}, byTitle: map[string]Truth{}}
	// A normalised title or title and artist shared by rows that disagree
	// ("Song" and "Song (Extended Mix)") names no row: matching it to
	// either would score songs against another version's truth. Rows that
	// agree (a song listed twice) still match.
	type index struct {
		m         map[string]Truth
		ambiguous map[string]bool
	}
	full, match, title := index{m: s.byFull}, index{m: s.byMatch}, index{m: s.byTitle}
	add := func(ix *index, k string, t Truth) bool {
		if old, seen := ix.m[k]; seen {
			if !sameTruth(old, t) {
				if ix.ambiguous == nil {
					ix.ambiguous = map[string]bool{}
				}
				ix.ambiguous[k] = true
			}
			return false
		}
		ix.m[k] = t
		return true
	}
	paths := map[string]string{} // a row's path, backslashes as separators → its byFile key
	for _, rw := range rows {
		for d := range percent {
			if v, ok := rw.truth.Reference[d]; ok {
				rw.truth.Reference[d] = v / 100
			}
		}
		if rw.file != "" {
			f := cleanRel(rw.file)
			// audio\song.wav and audio/song.wav are one file to whoever
			// wrote them, Windows users above all; only matching, which
			// sees the files, can tell a name holding a backslash.
			sep := separated(f)
			if first, seen := paths[sep]; seen {
				if old := s.byFile[first]; !sameTruth(old, rw.truth) {
					return nil, fmt.Errorf("truth %s:%d: %s is also on line %d, with other values", name, rw.line, rw.file, old.Row)
				}
				continue
			}
			paths[sep] = f
			if sep != f {
				s.bySep[sep] = f
			}
			s.byFile[f] = rw.truth
			s.songs++
			s.rows = append(s.rows, truthRow{name: rw.file, line: rw.line})
			continue
		}
		a := normArtist(rw.artist)
		fk := fullTitle(rw.title) + "|" + a
		if old, seen := full.m[fk]; seen && sameTruth(old, rw.truth) {
			// A song listed twice is one song: whichever row a file
			// matches, the first is matched.
			rw.truth.Row = old.Row
		} else {
			name := rw.title
			if rw.artist != "" {
				name = rw.artist + " - " + rw.title
			}
			s.rows = append(s.rows, truthRow{name: name, line: rw.line})
		}
		if add(&full, fk, rw.truth) {
			s.songs++
		}
		t := normTitle(rw.title)
		add(&match, t+"|"+a, rw.truth)
		add(&title, t, rw.truth)
	}
	for _, ix := range []index{full, match, title} {
		for k := range ix.ambiguous {
			delete(ix.m, k)
		}
	}
	return s, nil
}

// truthValue returns the first field of rec, of those at the columns
// given, that holds a value (not empty, not a mark of a value not known),
// or "".
func truthValue(rec []string, artistCol, bpmCol, keyCol, meterCol int, desc map[string]int) string {
	cols := []int{artistCol, bpmCol, keyCol, meterCol}
	for _, d := range Descriptors {
		cols = append(cols, desc[d])
	}
	for _, i := range cols {
		if i < 0 || i >= len(rec) {
			continue
		}
		if s := strings.TrimSpace(rec[i]); s != "" && !notKnown(s) {
			return s
		}
	}
	return ""
}

// sameTruth reports whether two rows say the same about a song.
func sameTruth(a, b Truth) bool {
	if a.BPM != b.BPM || a.Key != b.Key || a.TimeSignature != b.TimeSignature || len(a.Reference) != len(b.Reference) {
		return false
	}
	for d, v := range a.Reference {
		if w, ok := b.Reference[d]; !ok || w != v {
			return false
		}
	}
	return true
}

// number parses a figure as people type it into spreadsheets: "128",
// "0.8", "-5 dB", "72%"; with decimalComma (a table whose fields are
// separated by semicolons or tabs, as spreadsheets write it where the
// comma is the decimal sign) also "0,8". One of units may follow the
// figure, but nothing else: "12O" (a letter O typed for a zero) is no
// tempo of 12, nor "120;Am" (a comma-separated table's field holding a
// semicolon-separated row's rest) one of 120 whose key is lost.
func number(s string, decimalComma bool) (float64, error) {
	s = strings.TrimSpace(s)
	end := len(s)
	for end > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:end])
		if !unicode.IsLetter(r) && !unicode.IsSpace(r) && r != '%' {
			break
		}
		end -= n
	}
	if unit := strings.TrimSpace(s[end:]); unit != "" && !slices.Contains(units, strings.ToLower(unit)) {
		return 0, fmt.Errorf("%q is no unit", unit)
	}
	s = strings.TrimSpace(s[:end])
	if decimalComma && strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	return strconv.ParseFloat(s, 64)
}

// units are the units, in lower case, that a figure of a truth file may
// carry: tempo, percent and loudness.
var units = []string{"bpm", "%", "db", "dbfs", "lufs", "lu"}

// isCount reports whether s is a bare whole number, as a playlist
// export's time signature column holds it.
func isCount(s string) bool {
	_, err := digits(strings.TrimSpace(s))
	return err == nil
}

// notKnown reports whether s is what spreadsheets hold in a cell whose
// value nobody knows: such a cell is empty, not a value that fails to
// parse and stops the run.
func notKnown(s string) bool {
	switch strings.ToLower(s) {
	case "-", "–", "—", "?", "n/a", "na", "none", "unknown", "tbd", "null", "nan":
		return true
	}
	return false
}

// truthReader returns a CSV reader of the table in r, named name in
// errors, and whether its numbers may use the decimal comma. The table
// is read whole: whether it is UTF-8 takes all of it to tell.
func truthReader(r io.Reader, name string) (*csv.Reader, bool, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, false, fmt.Errorf("truth %s: %w", name, err)
	}
	text, err := decodeTruth(data, name)
	if err != nil {
		return nil, false, err
	}
	cr, decimalComma := tableReader(text)
	return cr, decimalComma, nil
}

// tableReader returns a CSV reader of text, and whether its numbers may
// use the decimal comma. It takes the field separator from the header
// line: spreadsheets set to a language whose decimal sign is the comma
// save "CSV" separated by semicolons, and some tools, Excel's "Unicode
// Text" among them, write tabs.
func tableReader(text []byte) (*csv.Reader, bool) {
	comma := headerSeparator(text[:min(len(text), truthHeaderPeek)])
	cr := csv.NewReader(bytes.NewReader(text))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	return cr, comma != ','
}

// truthHeaderPeek is how much of a table is looked at to find the field
// separator of its header line.
const truthHeaderPeek = 4096

// binaryText is the error of a truth file holding NUL bytes, which no
// text table does.
const binaryText = "NUL bytes, as in a spreadsheet workbook or UTF-16 text without a byte order mark: save the table as CSV"

// decodeTruth returns the text of a truth file, named name in errors, as
// UTF-8. Spreadsheets save tables as UTF-8, often starting with a byte
// order mark, which is dropped (quoted, the first header field would be
// a parse error); as UTF-16 with a byte order mark (Excel's "Unicode
// Text"); or, on Windows, as Windows-1252 (Excel's "CSV"). Valid UTF-8
// is taken as it is: Windows-1252 would read any bytes, and UTF-8 text
// with accents is rarely also sensible Windows-1252 ("Ã©").
//
// With an error naming the line at fault, the text is that of the lines
// before it, enough to tell a playlist export by its header.
func decodeTruth(data []byte, name string) ([]byte, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		text, err := decodeUTF16(data[2:], false, name)
		return crLines(text), err
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		text, err := decodeUTF16(data[2:], true, name)
		return crLines(text), err
	}
	data = crLines(data)
	switch {
	case bytes.HasPrefix(data, []byte("\ufeff")):
		data = data[len("\ufeff"):]
		if i := invalidUTF8(data); i >= 0 {
			// The mark promises UTF-8: reading the file as anything else
			// would mangle the names that are UTF-8.
			start := bytes.LastIndexByte(data[:i], '\n') + 1
			return data[:start], fmt.Errorf("truth %s:%d: not UTF-8, though the file starts with UTF-8's byte order mark: save the table as CSV UTF-8", name, 1+bytes.Count(data[:i], []byte("\n")))
		}
		return data, nil
	case utf8.Valid(data):
		return data, nil
	}
	return decodeEightBit(data, name)
}

// crLines returns text with its lines ended by LF when they are ended by
// a carriage return alone, as classic Mac OS and Excel for Mac's older
// "CSV" ended them: to the CSV reader such a table is one long line. (A
// lone CR inside a quoted field of a table whose lines end in LF or CRLF
// stays as it is.)
func crLines(text []byte) []byte {
	if bytes.IndexByte(text, '\n') >= 0 || bytes.IndexByte(text, '\r') < 0 {
		return text
	}
	return bytes.ReplaceAll(text, []byte("\r"), []byte("\n"))
}

// invalidUTF8 returns the offset of the first byte of data that is not
// UTF-8, or -1.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// decodeUTF16 decodes UTF-16 text, its byte order mark removed, as
// decodeTruth does. The decoder would put U+FFFD for half a surrogate
// pair or a lone last byte, and a name so mangled would match no file
// without a word why: those are errors, naming their line.
func decodeUTF16(data []byte, bigEndian bool, name string) ([]byte, error) {
	var order binary.ByteOrder = binary.LittleEndian
	endian := textunicode.LittleEndian
	if bigEndian {
		order, endian = binary.BigEndian, textunicode.BigEndian
	}
	decode := func(b []byte) []byte {
		// Checked first, the text holds nothing the decoder could fail on.
		text, _ := textunicode.UTF16(endian, textunicode.IgnoreBOM).NewDecoder().Bytes(b)
		return text
	}
	const high, low, end = 0xd800, 0xdc00, 0xe000 // surrogate ranges
	line, start := 1, 0                           // the line of data[i:] and its offset
	for i := 0; i+1 < len(data); i += 2 {
		switch u := order.Uint16(data[i:]); {
		case u == '\n':
			line, start = line+1, i+2
		case u >= high && u < low && i+3 < len(data) && order.Uint16(data[i+2:]) >= low && order.Uint16(data[i+2:]) < end:
			i += 2 // a pair
		case u >= high && u < end:
			return decode(data[:start]), fmt.Errorf("truth %s:%d: not UTF-16: half a character (%#04x)", name, line, u)
		}
	}
	if len(data)%2 != 0 {
		return decode(data[:start]), fmt.Errorf("truth %s:%d: not UTF-16: an odd number of bytes, as if cut short", name, line)
	}
	return decode(data), nil
}

// decodeEightBit decodes text that is not UTF-8 in the 8-bit encoding a
// spreadsheet saved it in, as decodeTruth does: Windows-1252 (Excel's
// "CSV" on Windows, whose printable characters include Latin-1's), unless
// that reading shows signs of being wrong that the Mac Roman reading
// (Excel's "CSV" on a Mac) does not (see oddities), or Windows-1252 leaves
// one of its bytes undefined. The same bytes read well in both more often
// than not (Jay–Z in Windows-1252 is JayñZ in Mac Roman), so Mac Roman
// needs the evidence. NUL, which no text table holds, is an error naming
// its line; so is a byte Windows-1252 leaves undefined in text whose Mac
// Roman reading is odd too: the file is in another encoding or no text.
func decodeEightBit(data []byte, name string) ([]byte, error) {
	// On error the lines before the one at fault are returned decoded, so
	// that a playlist export is still known by its header.
	lineStart := func(i int) int { return bytes.LastIndexByte(data[:i], '\n') + 1 }
	if i := bytes.IndexByte(data, 0); i >= 0 {
		text, _ := decodeEightBit(data[:lineStart(i)], name)
		return text, fmt.Errorf("truth %s:%d: %s", name, 1+bytes.Count(data[:i], []byte("\n")), binaryText)
	}
	read := func(cm *charmap.Charmap) []rune {
		text := make([]rune, len(data))
		for i, c := range data {
			text[i] = cm.DecodeByte(c)
		}
		return text
	}
	win, mac := read(charmap.Windows1252), read(charmap.Macintosh)
	if undefined := slices.Index(win, utf8.RuneError); undefined >= 0 {
		if oddities(mac) > 0 {
			return data[:lineStart(undefined)], fmt.Errorf("truth %s:%d: neither UTF-8 nor Windows-1252 (byte %#02x) nor Mac Roman: save the table as CSV UTF-8",
				name, 1+bytes.Count(data[:undefined], []byte("\n")), data[undefined])
		}
		return []byte(string(mac)), nil
	}
	if oddities(win) > oddities(mac) {
		return []byte(string(mac)), nil
	}
	return []byte(string(win)), nil
}

// oddities counts the characters of text that a name or title would not
// hold and that reading a file in the wrong one of two 8-bit encodings
// gives: a capital letter inside a word that goes on in lower case
// (Windows-1252 reads Mac Roman's Beyoncé as BeyoncŽ and Für as FŸr, Mac
// Roman reads
// Windows-1252's Beyoncé as BeyoncÈ), š, ž or ƒ inside a word (Motšrhead:
// Windows-1252 holds these few Central European letters, and its files
// rarely use them but at the start of a name, as Željko), and signs no
// word holds inside a lower-case one (Mac Roman's más as m‡s). Dashes
// and ellipses are left alone: wait…what and Love—Hate are written so.
func oddities(text []rune) int {
	at := func(i int) rune {
		if i < 0 || i >= len(text) {
			return ' '
		}
		return text[i]
	}
	n := 0
	for i, r := range text {
		if r < 0x80 {
			continue
		}
		prev, next := at(i-1), at(i+1)
		switch {
		case unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsLetter(prev) && unicode.IsLower(next)):
			n++
		case strings.ContainsRune("šžƒ", r) && unicode.IsLetter(prev):
			n++
		case strings.ContainsRune("†‡‰ˆ˜‹›•™¶◊√∆∏∑", r) && unicode.IsLower(prev) && unicode.IsLower(next):
			n++
		}
	}
	return n
}

// headerSeparator returns the field separator of the first line of data:
// of comma, semicolon and tab, the one that occurs most outside quotes,
// the comma when there is none or a tie.
func headerSeparator(data []byte) rune {
	counts := map[byte]int{}
	quoted := false
	for _, c := range data {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if !quoted && (c == '\n' || c == '\r') {
			break
		}
		if !quoted {
			counts[c]++
		}
	}
	sep := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[sep] {
			sep = c
		}
	}
	return rune(sep)
}

// parseTruthKey reads a key as dsp.ParseKey does or, failing that, in the
// Camelot notation DJ software writes ("8A" is A minor, "8B" C major). A
// lone lowercase note name ("a", "f#", "eb") is refused as ambiguous:
// classical shorthand and Humdrum write minor keys so (a is A minor),
// while dsp.ParseKey, reading tags, takes a bare note for its major key.
func parseTruthKey(s string) (dsp.Key, error) {
	if t := strings.TrimSpace(s); loneLowerNote(t) {
		up := strings.ToUpper(t[:1]) + t[1:]
		return dsp.Key{}, fmt.Errorf("key %q is ambiguous: a lowercase note is a minor key in some notations and a major one in others; write %q or %q", t, up+" minor", up+" major")
	}
	k, err := dsp.ParseKey(s)
	if err == nil {
		return k, nil
	}
	if ck, ok := camelotKey(s); ok {
		return ck, nil
	}
	return dsp.Key{}, err
}

// loneLowerNote reports whether s is a lowercase note name alone: a
// letter a–g and at most one sharp or flat sign (#, b, ♯, ♭).
func loneLowerNote(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'g' {
		return false
	}
	switch s[1:] {
	case "", "#", "b", "♯", "♭":
		return true
	}
	return false
}

// camelotKey reads a Camelot code: 1–12 round the circle of fifths, "B"
// for the major key and "A" for its relative minor; 8B is C major, 9B G
// major, 7B F major, 8A A minor.
func camelotKey(s string) (dsp.Key, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 2 {
		return dsp.Key{}, false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 1 || n > 12 || s[0] == '+' || s[0] == '-' {
		return dsp.Key{}, false
	}
	major := ((7*(n-8))%12 + 12) % 12
	switch s[len(s)-1] {
	case 'B', 'b':
		return dsp.Key{Tonic: major}, true
	case 'A', 'a':
		return dsp.Key{Tonic: (major + 9) % 12, Minor: true}, true
	}
	return dsp.Key{}, false
}

// cleanRel makes a relative path comparable: slash-separated, cleaned.
func cleanRel(p string) string { return path.Clean(filepath.ToSlash(p)) }

// separated returns the cleaned path p with its backslashes read as
// separators, as Windows reads them.
func separated(p string) string { return path.Clean(strings.ReplaceAll(p, `\`, "/")) }

// lookup returns the truth about the song at rel (its path relative to
// the calibration folder) with the given tags. A truth file is searched
// by path, then by title and artist taken from the tags or, without them,
// from a file name of the form "Artist - Title": the whole title first,
// then the title without its "(…)" or " - …" version part, then that
// title alone; a normalised title only matches when the rows that have it
// agree; titles and artists match whatever their Unicode normalisation.
// Without a truth file the truth is
// the song's TBPM and TKEY tags. The bool is false when nothing is known.
//
// lookup matches paths exactly; Match, which sees every file, also
// reads backslashes as separators and matches paths ignoring case and
// normalisation.
func (s *TruthSet) lookup(rel string, tags stages.Tags) (Truth, bool) {
	if s == nil || s.File == "" {
		return tagTruth(tags)
	}
	if t, ok := s.lookupPath(rel); ok {
		return t, true
	}
	return s.lookupTitle(rel, tags)
}

// lookupPath returns the truth of the row naming the file at rel exactly.
func (s *TruthSet) lookupPath(rel string) (Truth, bool) {
	if t, ok := s.byFile[cleanRel(rel)]; ok {
		return t, true
	}
	// A bare file name in the truth file also names a song kept in a
	// subfolder, as in corpora that keep audio/ beside truth.csv.
	if dir, base := path.Split(cleanRel(rel)); dir != "" {
		if t, ok := s.byFile[base]; ok {
			return t, true
		}
	}
	return Truth{}, false
}

// lookupTitle returns the truth of the row naming the song at rel by its
// title and artist.
func (s *TruthSet) lookupTitle(rel string, tags stages.Tags) (Truth, bool) {
	title, artist := tags.Title, tags.Artist
	if title == "" || artist == "" {
		base := path.Base(cleanRel(rel))
		base = strings.TrimSuffix(base, path.Ext(base))
		if a, t, ok := strings.Cut(base, " - "); ok {
			artist, title = a, t
		} else if title == "" {
			title = base
		}
	}
	na := normArtist(artist)
	if t, ok := s.byFull[fullTitle(title)+"|"+na]; ok {
		return t, true
	}
	nt := normTitle(title)
	if t, ok := s.byMatch[nt+"|"+na]; ok {
		return t, true
	}
	if t, ok := s.byTitle[nt]; ok {
		return t, true
	}
	return Truth{}, false
}

// Match gives each record the truth about its song and returns, in the
// truth file's order, the rows that no record matched: a misspelt name or
// a lost file would otherwise shrink the report without a word.
//
// A record's truth is found as lookup finds it, from the
// title and artist analysis found (the tags, else the job's), except
// that a path row with no exact match is tried in two more ways before
// any title. A row written with backslashes, as on Windows, that no file
// has as its literal name (Linux and macOS allow backslashes in names)
// names the file at its path read with backslashes as separators. And
// on a case-insensitive file system, the users' usual one, "Song.WAV"
// names song.wav, as "é" composed (U+00E9, as spreadsheets type it)
// names "é" decomposed ("e" and U+0301, as macOS may store it) and the
// reverse: a row is given to the files whose path (or, for a bare name,
// base name) equals it ignoring case and normalisation, only when they
// all spell it alike and no other row equals it so; else none of them
// takes it, and it is returned with them as Ambiguous. A file named as
// a row is spelt, byte for byte, takes it first, so two files whose
// names differ only in form, as Linux allows, are told apart by rows
// spelt as each is.
func (s *TruthSet) Match(recs []Record) []UnmatchedRow {
	tags := func(r *Record) stages.Tags {
		t := r.Tags
		if t.Title == "" {
			t.Title = r.Title
		}
		if t.Artist == "" {
			t.Artist = r.Artist
		}
		return t
	}
	if s == nil || s.File == "" {
		for i := range recs {
			if t, ok := s.lookup(recs[i].File, tags(&recs[i])); ok {
				recs[i].Truth = &t
			}
		}
		return nil
	}
	used := map[int]bool{} // lines of the rows matched
	give := func(r *Record, t Truth) {
		r.Truth = &t
		used[t.Row] = true
	}
	pending := func() []*Record {
		var rest []*Record
		for i := range recs {
			if recs[i].Truth == nil {
				rest = append(rest, &recs[i])
			}
		}
		return rest
	}
	for i := range recs {
		if t, ok := s.lookupPath(recs[i].File); ok {
			give(&recs[i], t)
		}
	}
	// A row a file took by its literal name names no other file.
	literal := maps.Clone(used)
	for _, r := range pending() {
		if t, ok := s.lookupSeparated(r.File, literal); ok {
			give(r, t)
		}
	}
	ambiguous := s.matchFolded(pending(), used, give, func(f string) (string, bool) { return f, true })
	backslashed := func(f string) (string, bool) { return separated(f), strings.Contains(f, `\`) }
	for line, files := range s.matchFolded(pending(), used, give, backslashed) {
		ambiguous[line] = slices.Compact(slices.Sorted(slices.Values(append(ambiguous[line], files...))))
	}
	for _, r := range pending() {
		if t, ok := s.lookupTitle(r.File, tags(r)); ok {
			give(r, t)
		}
	}
	var un []UnmatchedRow
	for _, row := range s.rows {
		if !used[row.line] {
			un = append(un, UnmatchedRow{Row: row.name, Line: row.line, Ambiguous: ambiguous[row.line]})
		}
	}
	return un
}

// lookupSeparated returns the truth of the row written with backslashes
// that names the file at rel with them read as separators, by path or,
// for a bare name, by base name, unless taken, by line, holds the row.
func (s *TruthSet) lookupSeparated(rel string, taken map[int]bool) (Truth, bool) {
	name := cleanRel(rel)
	f, ok := s.bySep[name]
	if dir, base := path.Split(name); !ok && dir != "" {
		f, ok = s.bySep[base]
	}
	if !ok || taken[s.byFile[f].Row] {
		return Truth{}, false
	}
	return s.byFile[f], true
}

// matchFolded gives recs, which no row names exactly, the path rows not
// yet used that name them ignoring case, where that is unambiguous (see
// Match); a row's path is as view reads its byFile key, and rows view
// rejects are passed over. It returns the files of the ambiguous rows,
// by line.
func (s *TruthSet) matchFolded(recs []*Record, used map[int]bool, give func(*Record, Truth), view func(string) (string, bool)) map[int][]string {
	rows := map[string][]string{} // folded name → byFile keys
	for f, t := range s.byFile {
		if p, ok := view(f); ok && !used[t.Row] {
			rows[caseless.Key(p)] = append(rows[caseless.Key(p)], f)
		}
	}
	type claim struct {
		recs      []*Record
		spellings map[string]bool
	}
	claims := map[string]*claim{}
	for _, r := range recs {
		// Path first, then base name, as exact matching goes.
		name := cleanRel(r.File)
		if _, ok := rows[caseless.Key(name)]; !ok {
			dir, base := path.Split(name)
			if _, ok := rows[caseless.Key(base)]; dir == "" || !ok {
				continue
			}
			name = base
		}
		c := claims[caseless.Key(name)]
		if c == nil {
			c = &claim{spellings: map[string]bool{}}
			claims[caseless.Key(name)] = c
		}
		c.recs = append(c.recs, r)
		c.spellings[name] = true
	}
	ambiguous := map[int][]string{}
	for k, c := range claims {
		if len(rows[k]) == 1 && len(c.spellings) == 1 {
			for _, r := range c.recs {
				give(r, s.byFile[rows[k][0]])
			}
			continue
		}
		var files []string
		for _, r := range c.recs {
			files = append(files, r.File)
		}
		sort.Strings(files)
		for _, f := range rows[k] {
			ambiguous[s.byFile[f].Row] = files
		}
	}
	return ambiguous
}

// tagTruth reads the truth from a song's TBPM and TKEY tags. A TKEY that
// is not a key name (some taggers write Camelot codes) is left out. No
// tag holds a time signature, so tag truth has none.
func tagTruth(tags stages.Tags) (Truth, bool) {
	t := Truth{Source: "tags"}
	if tags.BPM > 0 {
		t.BPM = tags.BPM
	}
	if k, err := dsp.ParseKey(tags.Key); tags.Key != "" && err == nil {
		t.Key = k.String()
	}
	return t, t.BPM > 0 || t.Key != ""
}

// fullTitle reduces a whole title to lower case letters and digits.
// Like normTitle and normArtist it composes the text first: tags, file
// names and truth files hold "ř" composed or decomposed, and alnum keeps
// the composed letter but drops the decomposed one's accent.
func fullTitle(s string) string { return alnum(strings.ToLower(norm.NFC.String(s))) }

// normTitle reduces a title to what survives differing spellings: lower
// case letters and digits only, without a trailing "(feat. …)", "[…]" or
// " - Remastered …" part.
func normTitle(s string) string {
	s = strings.ToLower(norm.NFC.String(s))
	for _, cut := range []string{" (", " [", " - ", " feat.", " ft."} {
		if i := strings.Index(s, cut); i > 0 {
			s = s[:i]
		}
	}
	return alnum(s)
}

// normArtist reduces an artist credit to its first artist, letters and
// digits only: exports list "A, B" where tags say "A feat. B".
func normArtist(s string) string {
	s = strings.ToLower(norm.NFC.String(s))
	for _, sep := range []string{",", ";", " & ", " feat.", " ft.", " featuring ", " x ", " and "} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	s = strings.TrimPrefix(strings.TrimSpace(s), "the ")
	return alnum(s)
}

// alnum keeps the letters and digits of s, folding the common Latin
// accents so "Beyoncé" matches "Beyonce".
func alnum(s string) string {
	var b strings.Builder
	for _, r := range s {
		if f, ok := accents[r]; ok {
			r = f
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var accents = map[rune]rune{
	'à': 'a', 'á': 'a', 'â': 'a', 'ã': 'a', 'ä': 'a', 'å': 'a',
	'ç': 'c', 'è': 'e', 'é': 'e', 'ê': 'e', 'ë': 'e',
	'ì': 'i', 'í': 'i', 'î': 'i', 'ï': 'i', 'ñ': 'n',
	'ò': 'o', 'ó': 'o', 'ô': 'o', 'õ': 'o', 'ö': 'o', 'ø': 'o',
	'ù': 'u', 'ú': 'u', 'û': 'u', 'ü': 'u', 'ý': 'y', 'ÿ': 'y',
}
