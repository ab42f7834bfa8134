package reports

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"golang.org/x/text/encoding/charmap"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/songflow/songflow/stages"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/unicode/norm"
)

func TestReadTruthFileColumn(t *testing.T) {
	const in = "file,bpm,key,energy,danceability,loudness\n" +
		"a/one.wav,120,C# Minor,80,55,-7.5\n" +
		"two.flac,92.5,Eb major,30,100,-12\n" +
		"\n" +
		"three.mp3,,,,,\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	one, ok := s.lookup(filepath.FromSlash("a/one.wav"), stages.Tags{})
	if !ok || one.BPM != 120 || one.Key != "C# Minor" || one.Source != "truth.csv" {
		t.Fatalf("one = %+v, %v", one, ok)
	}
	// 0–100 columns are scaled to 0..1; loudness stays in dB.
	if one.Reference[Energy] != 0.8 || one.Reference[Danceability] != 0.55 || one.Reference[Loudness] != -7.5 {
		t.Errorf("one's reference = %v", one.Reference)
	}
	two, _ := s.lookup("./two.flac", stages.Tags{})
	if two.Key != "D# Major" || two.BPM != 92.5 || two.Reference[Danceability] != 1 {
		t.Errorf("two = %+v", two)
	}
	// A bare name in the truth file also finds the song in a subfolder;
	// a name with a folder must match exactly.
	if sub, ok := s.lookup(filepath.FromSlash("audio/two.flac"), stages.Tags{}); !ok || sub.BPM != 92.5 {
		t.Errorf("audio/two.flac = %+v, %v; want two.flac's truth", sub, ok)
	}
	if _, ok := s.lookup(filepath.FromSlash("b/one.wav"), stages.Tags{}); ok {
		t.Error("b/one.wav must not take a/one.wav's truth")
	}
	three, ok := s.lookup("three.mp3", stages.Tags{})
	if !ok || three.BPM != 0 || three.Key != "" || three.Reference != nil {
		t.Errorf("three = %+v, %v; want known but empty", three, ok)
	}
	if _, ok := s.lookup("four.wav", stages.Tags{BPM: 100}); ok {
		t.Error("a song missing from the truth file must have no truth, not its tags")
	}
}

func TestReadTruthFractionColumnsStay(t *testing.T) {
	const in = "file,bpm,key,valence\nx.wav,100,A,0.25\ny.wav,100,A,1\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.lookup("x.wav", stages.Tags{})
	y, _ := s.lookup("y.wav", stages.Tags{})
	if x.Reference[Valence] != 0.25 || y.Reference[Valence] != 1 || x.Key != "A Major" {
		t.Errorf("x %+v y %+v", x, y)
	}
}

// A value written with a percent sign is a percentage even when no value
// of its column exceeds 1: "1%" is 0.01, not 1.
func TestReadTruthPercentSign(t *testing.T) {
	const in = "file,bpm,acousticness,energy\nx.wav,100,1%,0.5\ny.wav,100,0.5 %,0.25\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := s.lookup("x.wav", stages.Tags{})
	y, _ := s.lookup("y.wav", stages.Tags{})
	if x.Reference[Acousticness] != 0.01 || y.Reference[Acousticness] != 0.005 {
		t.Errorf("acousticness %g and %g, want 0.01 and 0.005", x.Reference[Acousticness], y.Reference[Acousticness])
	}
	if x.Reference[Energy] != 0.5 || y.Reference[Energy] != 0.25 {
		t.Errorf("energy %g and %g, want the fractions as written", x.Reference[Energy], y.Reference[Energy])
	}
}

// A column pasted together from a 0–1 and a 0–100 source is refused at its
// first fraction, naming a percentage it clashes with: read as percent, its
// 0.8 would have been a reference of 0.008. Whole 0s and 1s, and small
// percentages written with a % sign, fit either scale and are no clash.
func TestReadTruthMixedScales(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"file,bpm,energy\nx.wav,100,0.8\ny.wav,100,75\n", `truth.csv:2: energy "0.8" is a fraction, but line 3's "75" is a percentage`},
		{"file,bpm,energy\nx.wav,100,75\ny.wav,100,0.8\n", `truth.csv:3: energy "0.8" is a fraction, but line 2's "75" is a percentage`},
		{"file,bpm,valence\nx.wav,100,40%\ny.wav,100,.5\n", `truth.csv:3: valence ".5" is a fraction, but line 2's "40%" is a percentage`},
		{"Song,Artist,BPM,Dance,Energy\nA,B,120,61,0.7\n", `playlist.csv:2: energy "0.7" is a fraction, but a playlist export's columns are percentages`},
	} {
		name := "truth.csv"
		if strings.HasPrefix(tc.in, "Song") {
			name = "playlist.csv"
		}
		if _, err := ReadTruth(strings.NewReader(tc.in), name); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
	for _, in := range []string{
		"file,bpm,energy\nx.wav,100,1\ny.wav,100,0\nz.wav,100,75\n",
		"file,bpm,energy\nx.wav,100,0.5%\ny.wav,100,75\n",
		"file,bpm,energy,loudness\nx.wav,100,0.5,-0.5\ny.wav,100,0.25,-9\n",
	} {
		if _, err := ReadTruth(strings.NewReader(in), "truth.csv"); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// A descriptor outside 0–100 is neither a fraction nor a percentage: the
// file is refused at the line, rather than fitted with a reference of 2.
func TestReadTruthReferenceRange(t *testing.T) {
	for _, bad := range []string{"200", "-0.5", "100.5"} {
		in := "file,bpm,acousticness\nx.wav,100,0.5\ny.wav,100," + bad + "\n"
		if _, err := ReadTruth(strings.NewReader(in), "truth.csv"); err == nil || !strings.Contains(err.Error(), "truth.csv:3: acousticness") {
			t.Errorf("acousticness %s: error %v, want it refused at line 3", bad, err)
		}
	}
	// 100 and 0 are in range; loudness is in dB and has no such range.
	in := "file,bpm,acousticness,loudness\nx.wav,100,100,-60\ny.wav,100,0,3\n"
	if _, err := ReadTruth(strings.NewReader(in), "truth.csv"); err != nil {
		t.Errorf("in-range references refused: %v", err)
	}
}

func TestReadTruthTitleArtist(t *testing.T) {
	const in = "title,artist,bpm,key\n" +
		"Crème Brûlée (Remastered 2011),The Band,100,Am\n" +
		"Intro,Someone,80,C\n" +
		"Intro,Someone Else,90,D\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	// From tags, differently spelled.
	got, ok := s.lookup("x/01.mp3", stages.Tags{Title: "Creme Brulee", Artist: "Band, The Horns"})
	if !ok || got.BPM != 100 || got.Key != "A Minor" {
		t.Errorf("by tags: %+v %v", got, ok)
	}
	// From an "Artist - Title" file name.
	got, ok = s.lookup("x/Someone Else - Intro.flac", stages.Tags{})
	if !ok || got.BPM != 90 {
		t.Errorf("by file name: %+v %v", got, ok)
	}
	// A title shared by two rows does not match without the artist.
	if got, ok := s.lookup("intro.wav", stages.Tags{Title: "Intro"}); ok {
		t.Errorf("ambiguous title matched %+v", got)
	}
}

func TestReadTruthSpotifyExport(t *testing.T) {
	const in = "#,Song,Artist,Popularity,BPM,Genres,Parent Genres,Album,Album Date,Time,Dance,Energy,Acoustic,Instrumental,Happy,Speech,Live,Loud (Db),Key,Time Signature,Added At,Spotify Track Id,Album Label,Camelot,Spotify Track Img,Song Preview\n" +
		`1,Levitating (feat. DaBaby),"Dua Lipa, DaBaby",80,103,"dance pop, pop",Pop,Future Nostalgia,2020-03-27,03:23,70,83,1,0,92,6,7,-4 db,F♯/G♭ minor,4,2024-01-01,abc,Warner,11A,,` + "\n" +
		`2,Get Lucky,Daft Punk,75,116,house,Electronic,RAM,2013-05-17,06:09,79,81,4,0,86,4,10,-8 db,A#/B♭,4,2024-01-01,def,Columbia,6B,,` + "\n" +
		`3,Clocks,Coldplay,70,131,rock,Rock,AROBTTH,2002,05:07,58,75,60,50,26,3,10,-7 db,D#,4,2024-01-01,ghi,Parlophone,5B,,` + "\n"
	s, err := ReadTruth(strings.NewReader(in), "playlist.csv")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.lookup("Dua Lipa - Levitating.mp3", stages.Tags{})
	if !ok || got.BPM != 103 || got.Key != "F# Minor" {
		t.Fatalf("Levitating: %+v %v", got, ok)
	}
	want := map[string]float64{Danceability: 0.70, Energy: 0.83, Acousticness: 0.01, Valence: 0.92, Loudness: -4}
	for d, v := range want {
		if math.Abs(got.Reference[d]-v) > 1e-12 {
			t.Errorf("Levitating %s = %g, want %g", d, got.Reference[d], v)
		}
	}
	got, ok = s.lookup("x.m4a", stages.Tags{Title: "Get Lucky (Radio Edit)", Artist: "Daft Punk feat. Pharrell Williams"})
	if !ok || got.Key != "A# Major" || got.BPM != 116 {
		t.Errorf("Get Lucky: %+v %v", got, ok)
	}
	got, ok = s.lookup("Coldplay - Clocks.flac", stages.Tags{})
	if !ok || got.Key != "D# Major" {
		t.Errorf("Clocks: %+v %v", got, ok)
	}
}

func TestReadTruthErrors(t *testing.T) {
	for _, in := range []string{
		"bpm,key\n120,C\n",                 // no file or title+artist
		"file,artist\nx.wav,y\n",           // no bpm or key
		"file,bpm,key\nx.wav,fast,C\n",     // bad tempo
		"file,bpm,key\nx.wav,120,H-moll\n", // bad key
	} {
		if _, err := ReadTruth(strings.NewReader(in), "truth.csv"); err == nil {
			t.Errorf("ReadTruth(%q) succeeded, want an error", in)
		}
	}
}

func TestLoadTruthFromTags(t *testing.T) {
	s, err := LoadTruth(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.lookup("a.mp3", stages.Tags{BPM: 128, Key: "Gm"})
	if !ok || got.BPM != 128 || got.Key != "G Minor" || got.Source != "tags" {
		t.Errorf("from tags: %+v %v", got, ok)
	}
	if got, ok := s.lookup("b.mp3", stages.Tags{Key: "8A"}); ok {
		t.Errorf("an unparseable TKEY and no TBPM gave truth %+v", got)
	}
}

func TestLoadTruthFindsExport(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "other.csv"), []byte("a,b\n1,2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "My Playlist.csv"), []byte("Song,Artist,BPM,Key\nHello,Adele,79,F minor\n"), 0o644)
	s, err := LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != "My Playlist.csv" {
		t.Errorf("read %q", s.File)
	}
	if got, ok := s.lookup("Adele - Hello.mp3", stages.Tags{}); !ok || got.BPM != 79 {
		t.Errorf("Hello: %+v %v", got, ok)
	}
}

// Looking for a playlist export reads the header of each CSV file, not
// the whole file: a data set of gigabytes beside the songs cost its size
// in memory (a 400 MB features.csv: 896 MiB peak, in the report's figure).
func TestFindExportReadsHeadersOnly(t *testing.T) {
	dir := t.TempDir()
	big, err := os.Create(filepath.Join(dir, "features.csv"))
	if err != nil {
		t.Fatal(err)
	}
	big.WriteString("id,a,b\n")
	// Sparse: no disk is used for the rest, read back as zeros.
	if err := big.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	big.Close()
	os.WriteFile(filepath.Join(dir, "My Playlist.csv"), []byte("Song,Artist,BPM,Key\nHello,Adele,79,F minor\n"), 0o644)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := LoadTruth(dir)
	runtime.ReadMemStats(&after)
	if err != nil || s.File != "My Playlist.csv" {
		t.Fatalf("truth file %v, err %v; want My Playlist.csv", s, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("finding the export allocated %d MiB beside a 256 MiB CSV file", alloc>>20)
	}
}

func TestLoadTruthCalibrationSet(t *testing.T) {
	s, err := LoadTruth(filepath.Join("..", "testdata", "calibration"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.lookup("08-disco-bb-major.m4a", stages.Tags{})
	if !ok || got.BPM != 132 || got.Key != "A# Major" || got.Reference[Energy] != 0.72 {
		t.Errorf("08: %+v %v", got, ok)
	}
	if s.Len() < 10 {
		t.Errorf("%d songs in the calibration truth", s.Len())
	}
}

// A playlist export's descriptors are percent even when a column holds
// only 0s and 1s, as Acoustic does for electronic music: 1 means 0.01.
func TestReadTruthSpotifyExportSmallPercents(t *testing.T) {
	const in = "Song,Artist,BPM,Key,Dance,Energy,Acoustic,Happy,Loud (Db),Camelot\n" +
		"One More Time,Daft Punk,123,D major,61,70,1,47,-8 db,10B\n" +
		"Strobe,deadmau5,128,B major,55,60,0,10,-9 db,1B\n"
	s, err := ReadTruth(strings.NewReader(in), "playlist.csv")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.lookup("Daft Punk - One More Time.mp3", stages.Tags{})
	if !ok {
		t.Fatal("One More Time not found")
	}
	want := map[string]float64{Danceability: 0.61, Energy: 0.70, Acousticness: 0.01, Valence: 0.47, Loudness: -8}
	for d, v := range want {
		if math.Abs(got.Reference[d]-v) > 1e-12 {
			t.Errorf("%s = %g, want %g", d, got.Reference[d], v)
		}
	}
}

// Two versions of a song by one artist normalise to the same title: each
// must still find its own row by its whole title, a third spelling must
// find neither, and a song listed twice alike must still match.
func TestReadTruthVersionsOfASong(t *testing.T) {
	const in = "Song,Artist,BPM,Key\n" +
		"Strobe,deadmau5,128,B major\n" +
		"Strobe (Club Edit),deadmau5,126,B major\n" +
		"Intro,The xx,100,A minor\n" +
		"Intro,The xx,100,A minor\n"
	s, err := ReadTruth(strings.NewReader(in), "playlist.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.lookup("deadmau5 - Strobe.mp3", stages.Tags{}); !ok || got.BPM != 128 {
		t.Errorf("Strobe: %+v %v, want 128", got, ok)
	}
	if got, ok := s.lookup("x.mp3", stages.Tags{Title: "Strobe (Club Edit)", Artist: "deadmau5"}); !ok || got.BPM != 126 {
		t.Errorf("Strobe (Club Edit): %+v %v, want 126", got, ok)
	}
	if got, ok := s.lookup("x.mp3", stages.Tags{Title: "Strobe (Radio Edit)", Artist: "deadmau5"}); ok {
		t.Errorf("Strobe (Radio Edit) matched %+v; two versions disagree, so it must match none", got)
	}
	if got, ok := s.lookup("intro.flac", stages.Tags{Title: "Intro"}); !ok || got.BPM != 100 {
		t.Errorf("Intro by title alone: %+v %v, want its row", got, ok)
	}
	if s.Len() != 3 {
		t.Errorf("Len %d, want 3", s.Len())
	}
}

// A file given twice with different values is an error naming both
// lines; given twice alike it is harmless.
func TestReadTruthDuplicateFile(t *testing.T) {
	if _, err := ReadTruth(strings.NewReader("file,bpm\na.wav,120\nb.wav,90\na.wav,120\n"), "truth.csv"); err != nil {
		t.Errorf("a repeated identical row: %v", err)
	}
	_, err := ReadTruth(strings.NewReader("file,bpm\na.wav,120\nb.wav,90\n./a.wav,130\n"), "truth.csv")
	if err == nil || !strings.Contains(err.Error(), "truth.csv:4") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("conflicting rows: err %v, want one naming lines 4 and 2", err)
	}
}

// records makes one record per file, its path given slash-separated.
func records(files ...string) []Record {
	recs := make([]Record, len(files))
	for i, f := range files {
		recs[i].File = filepath.FromSlash(f)
	}
	return recs
}

// truthBPMs returns each record's true tempo by file, -1 for no truth.
func truthBPMs(recs []Record) map[string]float64 {
	got := map[string]float64{}
	for _, r := range recs {
		got[filepath.ToSlash(r.File)] = -1
		if r.Truth != nil {
			got[filepath.ToSlash(r.File)] = r.Truth.BPM
		}
	}
	return got
}

// Every row no file matched is returned, file rows and title rows alike,
// each once however often it is repeated.
func TestMatchReturnsUnmatchedRows(t *testing.T) {
	const in = "file,title,artist,bpm\n" +
		"a.wav,,,100\n" + // by path
		"gone.mp3,,,110\n" +
		",Hello,Adele,79\n" + // by an "Artist - Title" file name
		",Missing,Nobody,90\n" +
		",Clocks,Coldplay,131\n" + // by the title and artist analysis found
		"a.wav,,,100\n" + // line 2 again: one song
		"gone.mp3,,,110\n" +
		",Missing,Nobody,90\n" + // line 5 again: reported once
		",Intro Live,Band,100\n" +
		",Intro (Live),Band,100\n" // line 10 again: matching it matches line 10
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs := records("a.wav", "x/Adele - Hello.mp3", "02.flac", "extra.wav", "Band - Intro.flac")
	recs[2].Title, recs[2].Artist = "Clocks", "Coldplay"
	recs[0].Error = "decode a.wav: corrupt" // a failed song still matches its row
	un := s.Match(recs)
	want := []UnmatchedRow{{Row: "gone.mp3", Line: 3}, {Row: "Nobody - Missing", Line: 5}}
	if !reflect.DeepEqual(un, want) {
		t.Errorf("unmatched %+v, want %+v", un, want)
	}
	if got, want := truthBPMs(recs), map[string]float64{"a.wav": 100, "x/Adele - Hello.mp3": 79, "02.flac": 131, "extra.wav": -1, "Band - Intro.flac": 100}; !reflect.DeepEqual(got, want) {
		t.Errorf("truth %v, want %v", got, want)
	}
	if s.Len() != 6 {
		t.Errorf("Len %d, want 6", s.Len())
	}

	// Without a truth file the tags are the truth, and no row goes unmatched.
	recs = records("t.mp3")
	recs[0].Tags = stages.Tags{BPM: 128}
	if un := (&TruthSet{}).Match(recs); un != nil || recs[0].Truth == nil || recs[0].Truth.BPM != 128 {
		t.Errorf("from tags: unmatched %v, truth %+v", un, recs[0].Truth)
	}
}

// A file row with no exact match takes the one file whose name equals it
// ignoring case, by path or, for a bare name, by base name as exact
// matching does; when the name folds to several spellings, or several
// rows fold to one name, no file takes any of them.
func TestMatchIgnoresCaseWhenUnambiguous(t *testing.T) {
	const in = "file,bpm\n" +
		"Song.WAV,60\n" +
		"Sub/Tune.flac,70\n" +
		"Both.mp3,80\n" + // b/both.mp3 and c/BOTH.mp3: ambiguous
		"deep.wav,90\n" + // one spelling in two folders: both, as exactly
		"exact.wav,100\n" +
		"EXACT.wav,101\n" + // exact.wav is line 6's: this names no file
		"twin.m4a,110\n" + // two rows fold to Twin.m4a: ambiguous
		"TWIN.m4a,111\n" +
		"Other/Tune.flac,120\n" // a path matches only that path, folded or not
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs := records("song.wav", "sub/tune.flac", "b/both.mp3", "c/BOTH.mp3", "a/Deep.wav", "b/Deep.wav", "exact.wav", "Twin.m4a", "x/other/tune.flac")
	un := s.Match(recs)
	want := []UnmatchedRow{
		{Row: "Both.mp3", Line: 4, Ambiguous: []string{filepath.FromSlash("b/both.mp3"), filepath.FromSlash("c/BOTH.mp3")}},
		{Row: "EXACT.wav", Line: 7},
		{Row: "twin.m4a", Line: 8, Ambiguous: []string{"Twin.m4a"}},
		{Row: "TWIN.m4a", Line: 9, Ambiguous: []string{"Twin.m4a"}},
		{Row: "Other/Tune.flac", Line: 10},
	}
	if !reflect.DeepEqual(un, want) {
		t.Errorf("unmatched\n%+v, want\n%+v", un, want)
	}
	wantBPM := map[string]float64{"song.wav": 60, "sub/tune.flac": 70, "b/both.mp3": -1, "c/BOTH.mp3": -1,
		"a/Deep.wav": 90, "b/Deep.wav": 90, "exact.wav": 100, "Twin.m4a": -1, "x/other/tune.flac": -1}
	if got := truthBPMs(recs); !reflect.DeepEqual(got, wantBPM) {
		t.Errorf("truth %v, want %v", got, wantBPM)
	}
	// lookup, one file at a time, stays exact.
	if got, ok := s.lookup("song.wav", stages.Tags{}); ok {
		t.Errorf("lookup(song.wav) = %+v; only Match, which sees every file, may fold case", got)
	}
}

// Spreadsheets saving "CSV UTF-8" start the file with a byte order mark;
// with the header quoted, as many tools write it, the mark made the
// first field a parse error, and a playlist export so written was passed
// over without a word, the truth then coming from tags.
func TestReadTruthByteOrderMarkQuotedHeader(t *testing.T) {
	const in = "\ufeff\"file\",\"bpm\",\"key\"\r\n\"a.wav\",\"120\",\"C#m\"\r\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.lookup("a.wav", stages.Tags{}); !ok || got.BPM != 120 || got.Key != "C# Minor" {
		t.Errorf("a.wav: %+v %v", got, ok)
	}

	dir := t.TempDir()
	export := "\ufeff\"Song\",\"Artist\",\"BPM\",\"Key\",\"Energy\"\r\n\"Hello\",\"Adele\",\"79\",\"F minor\",\"43\"\r\n"
	os.WriteFile(filepath.Join(dir, "My Playlist.csv"), []byte(export), 0o644)
	s, err = LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != "My Playlist.csv" {
		t.Fatalf("truth file %q, want the export", s.File)
	}
	if got, ok := s.lookup("Adele - Hello.mp3", stages.Tags{}); !ok || got.BPM != 79 || got.Reference[Energy] != 0.43 {
		t.Errorf("Hello: %+v %v", got, ok)
	}
}

// Where the comma is the decimal sign, spreadsheets save "CSV" with
// semicolons between fields and decimal commas; some tools write tabs.
// A spreadsheet's mark for "not known" in a value column ("-", "?",
// "n/a", …) is an empty cell, not an error that stops the run: the row's
// other values still count.
func TestReadTruthNotKnownMarks(t *testing.T) {
	in := "file,bpm,key,energy\n" +
		"a.wav,-,?,0.5\n" +
		"b.wav,N/A,unknown,n/a\n" +
		"c.wav,120,—,–\n" +
		"d.wav,tbd,C major,\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file   string
		bpm    float64
		key    string
		energy float64
	}{{"a.wav", 0, "", 0.5}, {"b.wav", 0, "", 0}, {"c.wav", 120, "", 0}, {"d.wav", 0, "C Major", 0}} {
		got, ok := s.lookup(c.file, stages.Tags{})
		if !ok || got.BPM != c.bpm || got.Key != c.key || got.Reference[Energy] != c.energy {
			t.Errorf("%s: %+v %v, want bpm %v key %q energy %v", c.file, got, ok, c.bpm, c.key, c.energy)
		}
	}
	// A value that is neither a mark nor a value is still an error.
	if _, err := ReadTruth(strings.NewReader("file,bpm\na.wav,fast\n"), "truth.csv"); err == nil {
		t.Error(`bpm "fast" was read`)
	}
}

func TestReadTruthSemicolonsAndTabs(t *testing.T) {
	for name, in := range map[string]string{
		"semicolons": "file;bpm;key;energy;loudness\na.wav;92,5;A minor;0,8;-7,5 dB\n\"b;c.wav\";120;C;0,25;-9\n",
		"tabs":       "file\tbpm\tkey\tenergy\tloudness\na.wav\t92,5\tA minor\t0.8\t-7.5 dB\nb;c.wav\t120\tC\t0,25\t-9\n",
	} {
		s, err := ReadTruth(strings.NewReader(in), "truth.csv")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		a, ok := s.lookup("a.wav", stages.Tags{})
		if !ok || a.BPM != 92.5 || a.Key != "A Minor" || a.Reference[Energy] != 0.8 || a.Reference[Loudness] != -7.5 {
			t.Errorf("%s: a.wav %+v %v", name, a, ok)
		}
		b, ok := s.lookup("b;c.wav", stages.Tags{})
		if !ok || b.BPM != 120 || b.Reference[Energy] != 0.25 {
			t.Errorf("%s: b;c.wav %+v %v", name, b, ok)
		}
	}
	// With commas between fields a decimal comma stays an error: "92,5"
	// would be two fields anyway, and quoted it may be a thousands
	// separator.
	if _, err := ReadTruth(strings.NewReader("file,bpm\na.wav,\"92,5\"\n"), "truth.csv"); err == nil {
		t.Error("a quoted \"92,5\" in a comma-separated table was read as a tempo")
	}
}

// DJ software writes keys as Camelot codes: 8A is A minor, 8B C major,
// the number moving by a fifth per step.
func TestReadTruthCamelotKeys(t *testing.T) {
	const in = "file,bpm,key\n" +
		"a.wav,120,8A\nb.wav,120,8B\nc.wav,120,9B\nd.wav,120,7B\ne.wav,120,5A\nf.wav,120,12A\ng.wav,120,1B\nh.wav,120,11a\ni.wav,120,03B\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"a.wav": "A Minor", "b.wav": "C Major", "c.wav": "G Major", "d.wav": "F Major", "e.wav": "C Minor",
		"f.wav": "C# Minor", "g.wav": "B Major", "h.wav": "F# Minor", "i.wav": "C# Major",
	} {
		if got, ok := s.lookup(file, stages.Tags{}); !ok || got.Key != want {
			t.Errorf("%s: key %q, want %q", file, got.Key, want)
		}
	}
	for _, bad := range []string{"13A", "0B", "8C", "-8A", "8", "+8A"} {
		if _, err := ReadTruth(strings.NewReader("file,key\nx.wav,"+bad+"\n"), "truth.csv"); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}

// A playlist export gives a Camelot code beside its Key; where Key is
// empty the code is the key, and where both are given Key counts.
func TestReadTruthCamelotColumn(t *testing.T) {
	const in = "Song,Artist,BPM,Key,Dance,Camelot\n" +
		"One,Someone,120,,50,8A\n" +
		"Two,Someone,120,E,50,8A\n" +
		"Three,Someone,120,,50,\n"
	s, err := ReadTruth(strings.NewReader(in), "export.csv")
	if err != nil {
		t.Fatal(err)
	}
	for title, want := range map[string]string{"One": "A Minor", "Two": "E Major", "Three": ""} {
		got, ok := s.lookup("Someone - "+title+".mp3", stages.Tags{})
		if !ok || got.Key != want {
			t.Errorf("%s: key %q (found %v), want %q", title, got.Key, ok, want)
		}
	}
}

// Spreadsheets label columns with their units; "Tempo (BPM)" is the tempo
// column, not one passed over without a word, leaving every song without
// a true tempo.
func TestReadTruthHeaderUnits(t *testing.T) {
	const in = "File,Tempo (BPM),Key [Camelot],Energy (%),Loudness [LUFS]\na.wav,128,8A,80,-9\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s.lookup("a.wav", stages.Tags{})
	if !ok || got.BPM != 128 || got.Key != "A Minor" || got.Reference["energy"] != 0.8 || got.Reference["loudness"] != -9 {
		t.Errorf("a.wav: %+v", got)
	}
}

// Columns songflow does not read are named, so that a header it does not
// know is seen in the report; "Tempo (ms)", beat periods, is one of them,
// not a tempo column.
func TestReadTruthUnreadColumns(t *testing.T) {
	const in = "file,notes,Tempo (ms),key,,source\na.wav,live,500,Am,,x\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"notes", "Tempo (ms)", "source"}; !slices.Equal(s.Unread, want) {
		t.Errorf("unread %q, want %q", s.Unread, want)
	}
	if got, _ := s.lookup("a.wav", stages.Tags{}); got.BPM != 0 || got.Key != "A Minor" {
		t.Errorf("a.wav: %+v, want no tempo and A minor", got)
	}
}

// A lone lowercase note is A minor to a classical musician and A major to
// a tagger: refused, naming the line and both spellings, rather than
// scored against the wrong mode. Capitals, modes and Camelot codes stay
// as they were.
func TestReadTruthLowercaseNoteIsAmbiguous(t *testing.T) {
	for _, bad := range []string{"a", "f#", "eb", "b♭", " c "} {
		_, err := ReadTruth(strings.NewReader("file,key\nx.wav,"+bad+"\n"), "truth.csv")
		if err == nil || !strings.Contains(err.Error(), "truth.csv:2") || !strings.Contains(err.Error(), "ambiguous") {
			t.Errorf("key %q: %v, want an ambiguity error naming truth.csv:2", bad, err)
		}
	}
	s, err := ReadTruth(strings.NewReader("file,key\na.wav,A\nb.wav,a minor\nc.wav,Am\nd.wav,11a\ne.wav,Eb\n"), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"a.wav": "A Major", "b.wav": "A Minor", "c.wav": "A Minor", "d.wav": "F# Minor", "e.wav": "D# Major"} {
		if got, ok := s.lookup(file, stages.Tags{}); !ok || got.Key != want {
			t.Errorf("%s: key %q, want %q", file, got.Key, want)
		}
	}
}

// A truth file named Truth.csv is found on a case-sensitive file system
// too, as it is on a Mac's; two that differ only in case are ambiguous,
// and refused with both names rather than one read and one passed over.
func TestLoadTruthNameIgnoringCase(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Truth.csv"), []byte("file,bpm\na.wav,120\n"), 0o644)
	s, err := LoadTruth(dir)
	if err != nil || s.Len() != 1 || s.File != "Truth.csv" {
		t.Fatalf("Truth.csv: %+v, %v", s, err)
	}
	os.WriteFile(filepath.Join(dir, "TRUTH.CSV"), []byte("file,bpm\nb.wav,90\n"), 0o644)
	if _, err := os.Stat(filepath.Join(dir, "truth.csv")); err == nil {
		t.Skip("case-insensitive file system: the two names are one file")
	}
	if _, err := LoadTruth(dir); err == nil || !strings.Contains(err.Error(), "TRUTH.CSV, Truth.csv") {
		t.Errorf("Truth.csv and TRUTH.CSV: error %v, want both named", err)
	}
	// With the exact name among them too.
	os.Remove(filepath.Join(dir, "TRUTH.CSV"))
	os.WriteFile(filepath.Join(dir, "truth.csv"), []byte("file,bpm\nc.wav,100\n"), 0o644)
	if _, err := LoadTruth(dir); err == nil || !strings.Contains(err.Error(), "Truth.csv, truth.csv") {
		t.Errorf("truth.csv and Truth.csv: error %v, want both named", err)
	}
}

// utf16Text encodes s as UTF-16 with a byte order mark, as Excel saves
// "Unicode Text".
func utf16Text(t *testing.T, s string, order unicode.Endianness) []byte {
	t.Helper()
	b, err := unicode.UTF16(order, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Excel's "Unicode Text" is UTF-16 with a byte order mark, its fields
// separated by tabs; read as bytes, its header named no column at all.
func TestReadTruthUTF16(t *testing.T) {
	const text = "file\tbpm\tkey\tenergy\r\n" +
		"Beyoncé.mp3\t92,5\tC#m\t0,8\r\n" +
		"Sigur Rós 🎧.flac\t120\tEb\t0,55\r\n"
	for name, order := range map[string]unicode.Endianness{"LE": unicode.LittleEndian, "BE": unicode.BigEndian} {
		s, err := ReadTruth(bytes.NewReader(utf16Text(t, text, order)), "truth.csv")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		recs := records("Beyoncé.mp3", "Sigur Rós 🎧.flac")
		if un := s.Match(recs); un != nil {
			t.Errorf("%s: unmatched %+v", name, un)
		}
		if b := recs[0].Truth; b == nil || b.BPM != 92.5 || b.Key != "C# Minor" || b.Reference[Energy] != 0.8 || b.Row != 2 {
			t.Errorf("%s: Beyoncé.mp3 %+v", name, b)
		}
		if r := recs[1].Truth; r == nil || r.BPM != 120 || r.Key != "D# Major" || r.Reference[Energy] != 0.55 || r.Row != 3 {
			t.Errorf("%s: Sigur Rós 🎧.flac %+v", name, r)
		}
	}
}

// LoadTruth reads a truth.csv or a playlist export saved as Unicode Text.
func TestLoadTruthUTF16(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "truth.csv"), utf16Text(t, "file\tbpm\r\nDéjà Vu.wav\t105\r\n", unicode.LittleEndian), 0o644)
	s, err := LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.lookup("Déjà Vu.wav", stages.Tags{}); !ok || got.BPM != 105 {
		t.Errorf("Déjà Vu.wav: %+v %v", got, ok)
	}

	dir = t.TempDir()
	export := "Song\tArtist\tBPM\tKey\tEnergy\r\nDéjà Vu\tBeyoncé\t105\tD minor\t79\r\n"
	os.WriteFile(filepath.Join(dir, "My Playlist.csv"), utf16Text(t, export, unicode.BigEndian), 0o644)
	s, err = LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != "My Playlist.csv" {
		t.Fatalf("truth file %q, want the export", s.File)
	}
	if got, ok := s.lookup("x.mp3", stages.Tags{Title: "Déjà Vu", Artist: "Beyoncé"}); !ok || got.BPM != 105 || got.Key != "D Minor" || got.Reference[Energy] != 0.79 {
		t.Errorf("Déjà Vu: %+v %v", got, ok)
	}
}

// Excel's "CSV (Comma delimited)" on Windows writes Windows-1252 (with
// semicolons where the comma is the decimal sign): its names must match
// the UTF-8 names on disk, ’ (0x92) included, which Latin-1 lacks. Valid
// UTF-8 is read as UTF-8, even where Windows-1252 would read it too.
func TestReadTruthWindows1252(t *testing.T) {
	const in = "file;title;artist;bpm;key\r\n" +
		"Beyonc\xe9.mp3;;;120;F#m\r\n" +
		"audio/Don\x92t Stop.wav;;;98,5;G\r\n" +
		";J\xf3ga;Bj\xf6rk;88;Bm\r\n" +
		"Gone \xc0 Jamais.wav;;;100;C\r\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs := records("Beyoncé.mp3", "audio/Don’t Stop.wav", "Björk - Jóga.flac")
	un := s.Match(recs)
	if want := []UnmatchedRow{{Row: "Gone À Jamais.wav", Line: 5}}; !reflect.DeepEqual(un, want) {
		t.Errorf("unmatched %+v, want %+v", un, want)
	}
	if b := recs[0].Truth; b == nil || b.BPM != 120 || b.Key != "F# Minor" {
		t.Errorf("Beyoncé.mp3: %+v", b)
	}
	if d := recs[1].Truth; d == nil || d.BPM != 98.5 || d.Key != "G Major" {
		t.Errorf("Don’t Stop.wav: %+v", d)
	}
	if j := recs[2].Truth; j == nil || j.BPM != 88 || j.Key != "B Minor" {
		t.Errorf("Björk - Jóga.flac: %+v", j)
	}

	// "Ã©" is how Windows-1252 reads é in UTF-8: valid UTF-8 is not so read.
	s, err = ReadTruth(strings.NewReader("file,bpm\nBeyoncé.mp3,120\nÃ©.wav,90\n"), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs = records("Beyoncé.mp3", "Ã©.wav")
	if un := s.Match(recs); un != nil || recs[0].Truth == nil || recs[0].Truth.BPM != 120 || recs[1].Truth == nil || recs[1].Truth.BPM != 90 {
		t.Errorf("UTF-8: unmatched %+v, truth %v", un, truthBPMs(recs))
	}
}

// A playlist export saved as Windows-1252 is found and its accented
// titles and artists match the tags.
func TestLoadTruthWindows1252Export(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "other.csv"), []byte("a,b\n\xe9,2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Playlist.csv"), []byte("Song,Artist,BPM,Key\r\nD\xe9j\xe0 Vu,Beyonc\xe9,105,D minor\r\nCaf\xe9,Ang\xe8le,124,A\r\n"), 0o644)
	s, err := LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.File != "Playlist.csv" {
		t.Fatalf("truth file %q, want the export", s.File)
	}
	recs := records("01.mp3", "Angèle - Café.flac")
	recs[0].Tags = stages.Tags{Title: "Déjà Vu", Artist: "Beyoncé"}
	if un := s.Match(recs); un != nil {
		t.Errorf("unmatched %+v", un)
	}
	if got := truthBPMs(recs); got["01.mp3"] != 105 || got["Angèle - Café.flac"] != 124 {
		t.Errorf("truth %v", got)
	}
}

// A truth file that cannot be read as text is an error naming it and,
// where there is one, the line at fault.
func TestReadTruthUnreadableText(t *testing.T) {
	le := func(units ...uint16) []byte {
		b := []byte{0xff, 0xfe}
		for _, u := range units {
			b = binary.LittleEndian.AppendUint16(b, u)
		}
		return b
	}
	line := func(s string) []uint16 {
		var u []uint16
		for _, r := range s {
			u = append(u, uint16(r))
		}
		return u
	}
	header := line("file\tbpm\r\n")
	for _, c := range []struct {
		name string
		in   []byte
		want []string
	}{
		{"UTF-8 byte order mark, then Windows-1252", []byte("\ufefffile,bpm\na.wav,1\nBeyonc\xe9.wav,2\n"), []string{"truth.csv:3:", "UTF-8"}},
		{"UTF-16 cut short", append(le(append(header, line("a.wav\t120\r\n")...)...), 'b'), []string{"truth.csv:3:", "UTF-16"}},
		{"UTF-16 lone surrogate", le(append(append(header, line("a.wav\t120\r\nb")...), 0xd800, 'c', '\t', '1')...), []string{"truth.csv:3:", "UTF-16"}},
		{"UTF-16 lone low surrogate", le(append(header, 0xdc00)...), []string{"truth.csv:2:", "UTF-16"}},
		{"not Windows-1252", []byte("file,bpm\nBeyonc\xe9.wav,1\nb\x81.wav,2\n"), []string{"truth.csv:3:", "Windows-1252", "0x81"}},
		{"spreadsheet workbook", []byte("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4\x00\x00\x00L\x02\x00\x00\x13\x00\x08\x02[Content_Types].xml \xa2\x04\x02("), []string{"truth.csv", "NUL"}},
		{"UTF-16 without byte order mark", []byte("f\x00i\x00l\x00e\x00\t\x00b\x00p\x00m\x00\r\x00\n\x00"), []string{"truth.csv", "NUL"}},
		{"empty", []byte{}, []string{"truth.csv", "empty"}},
		{"empty UTF-16", []byte{0xfe, 0xff}, []string{"truth.csv", "empty"}},
	} {
		_, err := ReadTruth(bytes.NewReader(c.in), "truth.csv")
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want one saying %q", c.name, err, w)
			}
		}
	}
}

// Windows paths in a truth file name the files at those paths: a row's
// backslashes are separators, with ".\" and case as with slashes, and
// rows that name one file so alike are one song.
func TestMatchBackslashPaths(t *testing.T) {
	const in = "file,bpm\n" +
		"audio\\song.wav,100\n" +
		".\\audio\\other.wav,101\n" +
		"Sub\\Deep\\X.flac,102\n" + // sub/deep/x.flac ignoring case
		".\\bare.wav,103\n" + // a bare name: found in a subfolder too
		"dup\\a.wav,104\n" +
		"dup/a.wav,104\n" + // the same file and truth: one song
		"gone\\x.wav,107\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs := records("audio/song.wav", "audio/other.wav", "sub/deep/x.flac", "music/bare.wav", "dup/a.wav")
	un := s.Match(recs)
	if want := []UnmatchedRow{{Row: "gone\\x.wav", Line: 8}}; !reflect.DeepEqual(un, want) {
		t.Errorf("unmatched %+v, want %+v", un, want)
	}
	wantBPM := map[string]float64{"audio/song.wav": 100, "audio/other.wav": 101, "sub/deep/x.flac": 102,
		"music/bare.wav": 103, "dup/a.wav": 104}
	if got := truthBPMs(recs); !reflect.DeepEqual(got, wantBPM) {
		t.Errorf("truth %v, want %v", got, wantBPM)
	}
	if s.Len() != 6 {
		t.Errorf("Len %d, want 6", s.Len())
	}

	// Two rows naming one file, however written, must agree.
	_, err = ReadTruth(strings.NewReader("file,bpm\ntwice\\b.wav,105\nx.wav,1\n.\\twice/b.wav,106\n"), "truth.csv")
	if err == nil || !strings.Contains(err.Error(), "truth.csv:4") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("conflicting rows: err %v, want one naming lines 4 and 2", err)
	}
}

// On Linux and macOS a backslash may be part of a file's name: a row
// naming such a file matches it exactly, and then no other; read with
// separators, it names the file in the folder only when no file has its
// literal name.
func TestMatchBackslashLiteralName(t *testing.T) {
	if filepath.Separator == '\\' {
		t.Skip("no file name holds a backslash on Windows")
	}
	const in = "file,bpm\nodd\\name.wav,100\na\\b.wav,200\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs := records("odd\\name.wav", "odd/name.wav", "a/b.wav")
	if un := s.Match(recs); un != nil {
		t.Errorf("unmatched %+v", un)
	}
	want := map[string]float64{"odd\\name.wav": 100, "odd/name.wav": -1, "a/b.wav": 200}
	if got := truthBPMs(recs); !reflect.DeepEqual(got, want) {
		t.Errorf("truth %v, want %v", got, want)
	}
}

// No bytes make ReadTruth or Match panic, and a table read gives each
// file row to the file it names.
func FuzzReadTruth(f *testing.F) {
	f.Add([]byte("file,bpm,key\na.wav,120,C#m\n"))
	f.Add([]byte("\ufeff\"file\";\"bpm\"\r\n\"a\\b.wav\";\"92,5\"\r\n"))
	f.Add([]byte("file,bpm\nBeyonc\xe9.mp3,120\n"))
	f.Add([]byte("Song,Artist,BPM,Key,Dance,Energy,Acoustic,Happy,Loud (Db),Camelot\nA,B,120,8A,1,2,3,4,-5 db,8A\n"))
	f.Add([]byte{0xff, 0xfe, 'f', 0, 'i', 0, 'l', 0, 'e', 0, '\t', 0, 'b', 0, 'p', 0, 'm', 0, '\n', 0, 'a', 0, '\t', 0, '1', 0})
	f.Add([]byte{0xfe, 0xff, 0, 'f', 0, 'i', 0, 'l', 0, 'e', 0, ',', 0, 'k', 0, 'e', 0, 'y', 0xd8, 0x3c})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ReadTruth(bytes.NewReader(in), "truth.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "truth truth.csv") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		var files []string
		for f := range s.byFile {
			files = append(files, f)
		}
		sort.Strings(files)
		recs := records(files...)
		s.Match(recs)
		for i, r := range recs {
			if r.Truth == nil {
				t.Errorf("%q took no row", files[i])
			}
		}
	})
}

// A playlist export that cannot be read past its header is still found,
// so the error names it and the line at fault instead of truth silently
// coming from tags.
func TestLoadTruthUnreadableExport(t *testing.T) {
	for name, export := range map[string][]byte{
		"Windows-1252": []byte("Song,Artist,BPM,Key\r\nD\xe9j\xe0 Vu,Beyonc\xe9,105,D minor\r\nCaf\x81,Ang\xe8le,124,A\r\n"),
		"UTF-16":       append(utf16Text(t, "Song\tArtist\tBPM\r\nA\tB\t1\r\nC\tD\t2\r\n", unicode.LittleEndian), 'x'),
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "Playlist.csv"), export, 0o644)
		s, err := LoadTruth(dir)
		if err == nil || !strings.Contains(err.Error(), "truth Playlist.csv:") {
			t.Errorf("%s: truth %+v, err %v; want an error naming Playlist.csv and a line", name, s, err)
		}
	}
}

// Names a Mac may store decomposed (NFD, as HFS+ always did) and a
// spreadsheet holds composed (NFC), or the reverse: each pair is one name
// in its two canonically equivalent forms, spelt out byte for byte.
var (
	cafeNFC  = "Caf\u00e9"                      // Café
	cafeNFD  = "Cafe\u0301"                     // Café
	noelNFC  = "No\u00ebl"                      // Noël
	noelNFD  = "Noe\u0308l"                     // Noël
	jogaNFC  = "J\u00f3ga"                      // Jóga
	jogaNFD  = "Jo\u0301ga"                     // Jóga
	bjorkNFC = "Bj\u00f6rk"                     // Björk
	bjorkNFD = "Bjo\u0308rk"                    // Björk
	dvorNFC  = "Dvo\u0159\u00e1k"               // Dvořák
	dvorNFD  = "Dvor\u030ca\u0301k"             // Dvořák
	lodzNFC  = "\u0141\u00f3d\u017a"            // Łódź
	lodzNFD  = "\u0141o\u0301dz\u0301"          // Łódź
	btsNFC   = "\ubc29\ud0c4\uc18c\ub144\ub2e8" // 방탄소년단
	btsNFD   = "\u1107\u1161\u11bc\u1110\u1161\u11ab\u1109\u1169\u1102\u1167\u11ab\u1103\u1161\u11ab"
)

// TestNormalisedNamesAreSpeltOut guards the names the tests below rely
// on: each pair must be one name, in its composed and decomposed form.
func TestNormalisedNamesAreSpeltOut(t *testing.T) {
	for _, p := range [][2]string{{cafeNFC, cafeNFD}, {noelNFC, noelNFD}, {jogaNFC, jogaNFD}, {bjorkNFC, bjorkNFD}, {dvorNFC, dvorNFD}, {lodzNFC, lodzNFD}, {btsNFC, btsNFD}} {
		if p[0] == p[1] || !norm.NFC.IsNormalString(p[0]) || !norm.NFD.IsNormalString(p[1]) || norm.NFC.String(p[1]) != p[0] {
			t.Errorf("%+q, %+q: not one name composed and decomposed", p[0], p[1])
		}
	}
}

// matchOnDisk makes a calibration folder of empty files at the given
// slash-separated paths, their names written byte for byte, and truth
// as its truth.csv; it loads the truth and matches it to the files as
// calibrate finds them on disk. A file system that normalises names
// (HFS+) cannot hold what is tested, and the test is skipped there.
func matchOnDisk(t *testing.T, truth string, files ...string) ([]Record, []UnmatchedRow) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "truth.csv"), []byte(truth), 0o644); err != nil {
		t.Fatal(err)
	}
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "truth.csv" {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		found = append(found, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := slices.Sorted(slices.Values(files)); !slices.Equal(found, want) {
		t.Skipf("the file system keeps names as %+q, not as written, %+q", found, want)
	}
	s, err := LoadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(found...)
	return recs, s.Match(recs)
}

// checkBPMs reports each file whose true tempo (-1 for none) is not the
// one wanted, naming it with its bytes: the forms print alike.
func checkBPMs(t *testing.T, recs []Record, want map[string]float64) {
	t.Helper()
	got := truthBPMs(recs)
	for f, w := range want {
		if g, ok := got[f]; !ok || g != w {
			t.Errorf("%+q: truth %v (found %v), want %v", f, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d files, want %d", len(got), len(want))
	}
}

// checkUnmatched compares the rows Match returned with those wanted,
// showing names with their bytes.
func checkUnmatched(t *testing.T, got, want []UnmatchedRow) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		show := func(rows []UnmatchedRow) string {
			var b strings.Builder
			for _, r := range rows {
				fmt.Fprintf(&b, "\n\t%+q line %d ambiguous %+q", r.Row, r.Line, r.Ambiguous)
			}
			return b.String()
		}
		t.Errorf("unmatched:%s\nwant:%s", show(got), show(want))
	}
}

// A truth file typed in a spreadsheet names files composed (NFC) that a
// Mac stored decomposed (NFD), and the reverse happens on Linux (rows
// copied from a Finder listing): each row names its file by path, by bare
// name in a subfolder, with Windows backslashes and ignoring case, as it
// would were both spelt alike.
func TestMatchNormalisedForms(t *testing.T) {
	type names struct{ cafe, dvor, bjork, joga, noel, noelUpper string }
	nfc := names{cafeNFC, dvorNFC, bjorkNFC, jogaNFC, noelNFC, "NO\u00cbL"}
	nfd := names{cafeNFD, dvorNFD, bjorkNFD, jogaNFD, noelNFD, "NOE\u0308L"}
	for _, c := range []struct {
		name        string
		rows, files names
	}{{"NFC rows, NFD files", nfc, nfd}, {"NFD rows, NFC files", nfd, nfc}} {
		t.Run(c.name, func(t *testing.T) {
			r, f := c.rows, c.files
			truth := "file,bpm\n" +
				r.cafe + ".wav,100\n" +
				r.dvor + ".flac,101\n" + // a bare name: the file is in audio/
				r.bjork + "/" + r.joga + ".mp3,102\n" +
				r.bjork + "\\" + r.joga + " (Live).mp3,103\n" +
				r.noelUpper + ".wav,104\n" // case and form differ
			want := map[string]float64{
				f.cafe + ".wav":                        100,
				"audio/" + f.dvor + ".flac":            101,
				f.bjork + "/" + f.joga + ".mp3":        102,
				f.bjork + "/" + f.joga + " (Live).mp3": 103,
				f.noel + ".wav":                        104,
			}
			var files []string
			for name := range want {
				files = append(files, name)
			}
			recs, un := matchOnDisk(t, truth, files...)
			checkUnmatched(t, un, nil)
			checkBPMs(t, recs, want)
		})
	}
}

// Titles and artists match whichever form the tags, the file name or the
// truth file hold them in, letters the accent folding leaves (ř, ź,
// Hangul) included; rows differing only in form are one song.
func TestMatchNormalisedTitleArtist(t *testing.T) {
	in := "title,artist,bpm\n" +
		"Rusalka," + dvorNFC + ",100\n" +
		"Rusalka," + dvorNFD + ",100\n" + // line 2 again: one song
		"Spring Day," + btsNFD + ",90\n" +
		lodzNFC + ",Kult,80\n" +
		"Polonaise,Chopin,70\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 4 {
		t.Errorf("Len %d, want 4", s.Len())
	}
	recs := records("a.flac", "b.m4a", "x/Kult - "+lodzNFD+".mp3", "c.wav")
	recs[0].Tags = stages.Tags{Title: "Rusalka", Artist: dvorNFD}
	recs[1].Tags = stages.Tags{Title: "Spring Day", Artist: btsNFC}
	recs[3].Title, recs[3].Artist = lodzNFD+" (Live)", "Kult" // by the normalised title
	checkUnmatched(t, s.Match(recs), []UnmatchedRow{{Row: "Chopin - Polonaise", Line: 6}})
	checkBPMs(t, recs, map[string]float64{"a.flac": 100, "b.m4a": 90, "x/Kult - " + lodzNFD + ".mp3": 80, "c.wav": 80})
}

// Two files whose names differ only in form, and neither of which is the
// row's exactly, are as two differing only in case: neither takes the
// row, which is returned naming them. So are two rows naming one file.
func TestMatchNormalisedCollision(t *testing.T) {
	mixed := "Cre\u0300me br\u00fbl\u00e9e" // è decomposed, û and é composed
	truth := "file,bpm\n" +
		"CAF\u00c9.wav,100\n" + // CAFÉ: both cafés, ignoring case
		"Cr\u00e8me br\u00fbl\u00e9e.wav,110\n" + // composed: neither file's form
		noelNFC + ".m4a,120\n" +
		noelNFD + ".m4a,121\n" // NOËL.m4a is both rows'
	recs, un := matchOnDisk(t, truth,
		cafeNFC+".wav", cafeNFD+".wav", "Cre\u0300me bru\u0302le\u0301e.wav", mixed+".wav", "NO\u00cbL.m4a")
	checkUnmatched(t, un, []UnmatchedRow{
		{Row: "CAF\u00c9.wav", Line: 2, Ambiguous: []string{cafeNFD + ".wav", cafeNFC + ".wav"}},
		{Row: "Cr\u00e8me br\u00fbl\u00e9e.wav", Line: 3, Ambiguous: []string{"Cre\u0300me bru\u0302le\u0301e.wav", mixed + ".wav"}},
		{Row: noelNFC + ".m4a", Line: 4, Ambiguous: []string{"NO\u00cbL.m4a"}},
		{Row: noelNFD + ".m4a", Line: 5, Ambiguous: []string{"NO\u00cbL.m4a"}},
	})
	checkBPMs(t, recs, map[string]float64{cafeNFC + ".wav": -1, cafeNFD + ".wav": -1,
		"Cre\u0300me bru\u0302le\u0301e.wav": -1, mixed + ".wav": -1, "NO\u00cbL.m4a": -1})
}

// A row spelt as a file's name byte for byte is that file's, and then no
// other's, as with case: of Café.wav in both forms the composed row names
// the composed file only. A row with no such file takes the one file
// equal to it in another form.
func TestMatchNormalisedExactWins(t *testing.T) {
	truth := "file,bpm\n" +
		cafeNFC + ".wav,100\n" +
		noelNFC + ".wav,110\n" + // only the decomposed file
		jogaNFD + ".mp3,120\n" + // a bare name, exactly a/'s
		"Cr\u00e8me.wav,130\n" +
		"Cre\u0300me.wav,131\n" // each form its own file
	recs, un := matchOnDisk(t, truth,
		cafeNFC+".wav", cafeNFD+".wav", noelNFD+".wav", "a/"+jogaNFD+".mp3", "b/"+jogaNFC+".mp3", "Cr\u00e8me.wav", "Cre\u0300me.wav")
	checkUnmatched(t, un, nil)
	checkBPMs(t, recs, map[string]float64{
		cafeNFC + ".wav":        100,
		cafeNFD + ".wav":        -1,
		noelNFD + ".wav":        110,
		"a/" + jogaNFD + ".mp3": 120,
		"b/" + jogaNFC + ".mp3": -1,
		"Cr\u00e8me.wav":        130,
		"Cre\u0300me.wav":       131,
	})
}

// The time signature column is read under any of its names, in any case,
// and spelt "N/D": "C" is 4/4, "C|" and "¢" 2/2, spaces are dropped; a
// mark for "not known" or an empty cell is no truth.
func TestReadTruthTimeSignature(t *testing.T) {
	for _, header := range []string{"time_signature", "Time_Signature", "meter", "METER", "time signature", "Time Signature", "timesig", " TimeSig "} {
		in := "file,bpm," + header + "\n" +
			"a.wav,120,4/4\n" +
			"b.wav,90, 3 / 4 \n" +
			"c.wav,100,C\n" +
			"d.wav,100,C|\n" +
			"e.wav,100,¢\n" +
			"f.wav,60,12/8\n" +
			"g.wav,60,-\n" +
			"h.wav,60,\n" +
			"i.wav,60,unknown\n" +
			"j.wav,,7/8\n"
		s, err := ReadTruth(strings.NewReader(in), "truth.csv")
		if err != nil {
			t.Errorf("header %q: %v", header, err)
			continue
		}
		want := map[string]string{"a.wav": "4/4", "b.wav": "3/4", "c.wav": "4/4", "d.wav": "2/2", "e.wav": "2/2",
			"f.wav": "12/8", "g.wav": "", "h.wav": "", "i.wav": "", "j.wav": "7/8"}
		for file, ts := range want {
			got, ok := s.lookup(file, stages.Tags{})
			if !ok || got.TimeSignature != ts {
				t.Errorf("header %q, %s: time signature %q (found %v), want %q", header, file, got.TimeSignature, ok, ts)
			}
		}
	}
	// A truth file of time signatures alone is a truth file.
	s, err := ReadTruth(strings.NewReader("title,artist,meter\nWaltz,Someone,3/4\n"), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.lookup("x.wav", stages.Tags{Title: "Waltz", Artist: "Someone"}); !ok || got.TimeSignature != "3/4" || got.BPM != 0 {
		t.Errorf("meter-only truth: %+v %v", got, ok)
	}
}

// A time signature that is none stops the run with an error naming the
// file, the line and the value, as a tempo or key that is none does.
func TestReadTruthBadTimeSignature(t *testing.T) {
	for _, v := range []string{"4", "3/5", "0/4", "33/4", "4/64", "4:4", "waltz", "3/4/4", "-3/4"} {
		in := "file,bpm,time_signature\na.wav,120,4/4\nb.wav,100," + v + "\n"
		_, err := ReadTruth(strings.NewReader(in), "truth.csv")
		if err == nil || !strings.Contains(err.Error(), "truth.csv:3") || !strings.Contains(err.Error(), fmt.Sprintf("%q", v)) {
			t.Errorf("time signature %q: err %v, want one naming truth.csv:3 and the value", v, err)
		}
	}
}

// A playlist export's Time Signature column is Spotify's beats per bar,
// which is no truth of how the beat divides: it is left out, and the
// export still loads. A full time signature written there is read.
func TestReadTruthSpotifyExportTimeSignature(t *testing.T) {
	const in = "#,Song,Artist,BPM,Dance,Key,Time Signature,Camelot\n" +
		"1,Levitating,Dua Lipa,103,70,F♯/G♭ minor,4,11A\n" +
		"2,Waltz,Someone,90,40,C,3,8B\n" +
		"3,Odd,Nobody,90,40,C,0,8B\n" +
		"4,Jig,Folk,120,50,D,6/8,10B\n"
	s, err := ReadTruth(strings.NewReader(in), "playlist.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, ts string }{
		{"Dua Lipa - Levitating.mp3", ""}, {"Someone - Waltz.mp3", ""}, {"Nobody - Odd.mp3", ""}, {"Folk - Jig.mp3", "6/8"},
	} {
		if got, ok := s.lookup(c.file, stages.Tags{}); !ok || got.TimeSignature != c.ts {
			t.Errorf("%s: time signature %q (found %v), want %q", c.file, got.TimeSignature, ok, c.ts)
		}
	}
}

// Two rows naming one file must agree on the time signature too; rows
// of one title that differ only in it are two versions, matching neither.
func TestReadTruthDuplicateTimeSignature(t *testing.T) {
	if _, err := ReadTruth(strings.NewReader("file,bpm,meter\na.wav,120,4/4\na.wav,120,C\n"), "truth.csv"); err != nil {
		t.Errorf("4/4 and C on one file: %v", err)
	}
	_, err := ReadTruth(strings.NewReader("file,bpm,meter\na.wav,120,4/4\na.wav,120,12/8\n"), "truth.csv")
	if err == nil || !strings.Contains(err.Error(), "truth.csv:3") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("4/4 and 12/8 on one file: err %v, want one naming lines 3 and 2", err)
	}
	s, err := ReadTruth(strings.NewReader("title,artist,bpm,meter\nSong,A,120,4/4\nSong (Live),A,120,12/8\n"), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.lookup("x.wav", stages.Tags{Title: "Song (Radio Edit)", Artist: "A"}); ok {
		t.Errorf("a title whose versions disagree on the meter matched %+v", got)
	}
}

// No tag holds a time signature: tag truth has none.
func TestTagTruthHasNoTimeSignature(t *testing.T) {
	got, ok := tagTruth(stages.Tags{BPM: 120, Key: "C major"})
	if !ok || got.TimeSignature != "" {
		t.Errorf("tag truth %+v %v", got, ok)
	}
}

// Excel's plain "CSV" on a Mac writes Mac Roman, on Windows
// Windows-1252: the same bytes mean other letters in each (é is 0x8e in
// one and 0xe9 in the other), and a name read in the wrong one matches
// no file. Windows-1252 is read as written, always; Mac Roman is wherever
// its Windows-1252 reading gives itself away.
func TestDecodeEightBit(t *testing.T) {
	encode := func(cm *charmap.Charmap, line string) []byte {
		data, err := cm.NewEncoder().Bytes([]byte(line + "\n"))
		if err != nil {
			t.Fatalf("%q in %v: %v", line, cm, err)
		}
		return data
	}
	check := func(cm *charmap.Charmap, line string) {
		t.Helper()
		got, err := decodeEightBit(encode(cm, line), "truth.csv")
		if err != nil || string(got) != line+"\n" {
			t.Errorf("%q saved in %v: read %q, %v", line, cm, got, err)
		}
	}
	// Either way.
	for _, line := range []string{
		"Beyoncé,Déjà Vu",
		"Motörhead,Ace of Spades",
		"Björk,Jóga",
		"Mötley Crüe,Kickstart My Heart",
		"José González,Heartbeats",
		"Zoë Keating,Für Elise",
		"Café Tacvba,Más",
	} {
		check(charmap.Windows1252, line)
		check(charmap.Macintosh, line)
	}
	// Windows-1252 only: these read well in Mac Roman too (Love—Hate as
	// LoveóHate), and Windows-1252 is the likelier.
	for _, line := range []string{
		"Queen,Don’t Stop Me Now",
		"David Bowie,“Heroes”",
		"ÉLAN,Nightwish",
		"Camila Cabello,Señorita",
		"Sigur Rós,Hoppípolla",
		"Ângela,Ça va – très bien…",
		"Love—Hate,Jay–Z",
		"Šaban Šaulic,Željko Joksimovic",
		"Kygo × Whitney Houston,E=MC²",
		"Mambo ½,§3,wait…what,20°C,€5",
		"Cœur de pirate,Œuvre",
	} {
		check(charmap.Windows1252, line)
	}
}

// A truth table saved by Excel for Mac as plain "CSV" (Mac Roman) finds
// its files by their UTF-8 names.
func TestReadTruthMacRoman(t *testing.T) {
	const in = "file,bpm,key\r" + // classic Mac line ends too
		"Beyonc\x8e.mp3,120,F#m\r" +
		"Mot\x9arhead.wav,140,E\r"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs := records("Beyoncé.mp3", "Motörhead.wav")
	if un := s.Match(recs); un != nil || recs[0].Truth == nil || recs[0].Truth.BPM != 120 || recs[1].Truth == nil || recs[1].Truth.BPM != 140 {
		t.Errorf("unmatched %+v, truth %v", un, truthBPMs(recs))
	}
	// Errors name the line, counted by those carriage returns.
	if _, err := ReadTruth(strings.NewReader("file,bpm\ra.wav,1\rCaf\x81.wav,2\r"), "truth.csv"); err == nil || !strings.Contains(err.Error(), "truth.csv:3:") {
		t.Errorf("no encoding reads the third line: %v", err)
	}
}

// A figure may carry its unit, as spreadsheets and DJ software write it,
// but nothing else: "12O" (a letter O typed for a zero) is not 12 BPM, and
// "120;Am" (a semicolon in a comma-separated table) not 120 BPM with the
// key lost. Each is refused naming its line.
func TestReadTruthNumberUnits(t *testing.T) {
	in := "file,bpm,energy,loudness\n" +
		"a.wav,120 BPM,72%,-5 dB\n" +
		"b.wav,98bpm,0.5 %,-7.5 LUFS\n" +
		"c.wav,128.0,50,-9 dBFS\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][3]float64{"a.wav": {120, 0.72, -5}, "b.wav": {98, 0.005, -7.5}, "c.wav": {128, 0.5, -9}} {
		got, ok := s.lookup(file, stages.Tags{})
		if !ok || got.BPM != want[0] || math.Abs(got.Reference[Energy]-want[1]) > 1e-12 || got.Reference[Loudness] != want[2] {
			t.Errorf("%s: %+v %v, want bpm %v energy %v loudness %v", file, got, ok, want[0], want[1], want[2])
		}
	}
	for _, c := range []struct{ col, value string }{
		{"bpm", "12O"}, {"bpm", "120?"}, {"bpm", "120;Am"}, {"bpm", "120 fast"}, {"energy", "0.8x"}, {"loudness", "-5 d"},
	} {
		in := "file,bpm,energy,loudness\na.wav,120,0.5,-5\n"
		switch c.col {
		case "bpm":
			in += "b.wav," + c.value + ",0.5,-5\n"
		case "energy":
			in += "b.wav,120," + c.value + ",-5\n"
		default:
			in += "b.wav,120,0.5," + c.value + "\n"
		}
		_, err := ReadTruth(strings.NewReader(in), "truth.csv")
		if err == nil || !strings.Contains(err.Error(), "truth.csv:3: "+c.col) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.value)) {
			t.Errorf("%s %q: err %v, want it refused naming truth.csv:3, the column and the value", c.col, c.value, err)
		}
	}
}

// A row holding more values than the header has columns has its fields
// out of place: most often a decimal comma in a comma-separated table,
// where "0,5" is read as 0 and "120,5" at the end of a row as 120, the 5
// falling under no column. It is refused naming its line; fields past the
// header that are empty, as spreadsheets leave them, are not.
func TestReadTruthFieldsPastHeader(t *testing.T) {
	for _, in := range []string{
		"file,key,bpm\na.wav,Am,120\nb.wav,Am,120,5\n",
		"file,bpm,energy\na.wav,120,0.5\nb.wav,120,0,5\n",
		"file;bpm;key\na.wav;120;Am\nb.wav;120;Am;x\n",
	} {
		_, err := ReadTruth(strings.NewReader(in), "truth.csv")
		if err == nil || !strings.Contains(err.Error(), "truth.csv:3:") {
			t.Errorf("%q: err %v, want it refused naming truth.csv:3", in, err)
		}
	}
	in := "file,bpm,key\na.wav,120,Am,,\nb.wav,100,C, ,\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatalf("empty fields past the header: %v", err)
	}
	if b, ok := s.lookup("b.wav", stages.Tags{}); !ok || b.BPM != 100 || b.Key != "C Major" {
		t.Errorf("b.wav %+v %v", b, ok)
	}
}

// A row with a value but no file (or title) to give it to cannot be
// matched, nor listed among the rows matching no file: it is refused
// naming its line, not passed over as a blank line is.
func TestReadTruthRowNamingNothing(t *testing.T) {
	for _, in := range []string{
		"file,bpm,key\na.wav,120,Am\n,100,C\n",
		"file,bpm,key\na.wav,120,Am\n  ,,C\n",
		"title,artist,bpm\nSong,Someone,120\n,Someone Else,100\n",
		"file,bpm,energy\na.wav,120,0.5\n,,0.7\n",
	} {
		_, err := ReadTruth(strings.NewReader(in), "truth.csv")
		if err == nil || !strings.Contains(err.Error(), "truth.csv:3:") {
			t.Errorf("%q: err %v, want it refused naming truth.csv:3", in, err)
		}
	}
	// Blank rows, rows of empty cells or of not-known marks, and notes in
	// columns the truth does not read still name nothing worth a word.
	in := "file,bpm,key,notes\na.wav,120,Am,\n\n,,,\n,n/a,?,\n,,,checked twice\n"
	s, err := ReadTruth(strings.NewReader(in), "truth.csv")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Errorf("%d songs, want 1", s.Len())
	}
}
