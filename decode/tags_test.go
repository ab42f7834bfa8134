package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// id3v2Tag is an ID3v2.3 tag of text frames, id then text, each text
// ISO-8859-1.
func id3v2Tag(frames ...string) []byte {
	var body []byte
	for i := 0; i+1 < len(frames); i += 2 {
		text := append([]byte{0}, frames[i+1]...)
		body = slices.Concat(body, []byte(frames[i]), binary.BigEndian.AppendUint32(nil, uint32(len(text))), []byte{0, 0}, text)
	}
	n := len(body)
	return slices.Concat([]byte{'I', 'D', '3', 3, 0, 0, byte(n >> 21 & 127), byte(n >> 14 & 127), byte(n >> 7 & 127), byte(n & 127)}, body)
}

// infoList is the body of a LIST chunk of type INFO holding the given
// entries, id then bytes, each padded to an even length.
func infoList(entries ...string) []byte {
	b := []byte("INFO")
	for i := 0; i+1 < len(entries); i += 2 {
		b = append(b, wavChunk(entries[i], []byte(entries[i+1]))...)
	}
	return b
}

// Mono 16-bit PCM at 8 kHz, and 500 samples of it.
var (
	tagsFmt  = wavChunk("fmt ", []byte{1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0})
	tagsData = wavChunk("data", make([]byte, 1000))
)

// TestWAVInfoTags checks the RIFF INFO list DAWs and converters write in
// a WAV gives the title (INAM), the artist (IART) and the tempo (IBPM),
// wherever the list lies and however its texts end, and that damage to
// it never fails the decode.
func TestWAVInfoTags(t *testing.T) {
	info := wavChunk("LIST", infoList("ISFT", "Lavf59\x00", "INAM", "Info Title\x00", "IART", "Info Artist\x00", "IBPM", "126\x00"))
	big := strings.Repeat("x", 100<<10)
	for _, c := range []struct {
		name               string
		data               []byte
		title, artist, key string
		bpm                float64
	}{
		{"before the data", riffWAV(tagsFmt, info, tagsData), "Info Title", "Info Artist", "", 126},
		{"after the data", riffWAV(tagsFmt, tagsData, info), "Info Title", "Info Artist", "", 126},
		{"before the fmt chunk", riffWAV(info, tagsFmt, tagsData), "Info Title", "Info Artist", "", 126},
		// "Odd" and its NUL are 4 bytes, "Odd!" and its NUL 5, padded to 6;
		// the list itself is odd-sized and padded too.
		{"odd sizes", riffWAV(tagsFmt, wavChunk("LIST", append(infoList("INAM", "Odd!\x00", "IART", "Odd\x00"), "IC"...)), tagsData), "Odd!", "Odd", "", 0},
		{"no NUL", riffWAV(tagsFmt, wavChunk("LIST", infoList("INAM", "No NUL", "IART", "Plain")), tagsData), "No NUL", "Plain", "", 0},
		{"NULs and spaces", riffWAV(tagsFmt, wavChunk("LIST", infoList("INAM", "  Padded \x00\x00\x00garbage", "IART", "\x00\x00Lead")), tagsData), "Padded", "Lead", "", 0},
		{"Latin-1", riffWAV(tagsFmt, wavChunk("LIST", infoList("INAM", "Caf\xe9\x00", "IART", "Beyonc\xe9\x00")), tagsData), "Café", "Beyoncé", "", 0},
		{"UTF-8", riffWAV(tagsFmt, wavChunk("LIST", infoList("INAM", "Déjà Vu\x00", "IART", "Ünïcode\x00")), tagsData), "Déjà Vu", "Ünïcode", "", 0},
		// IKEY is "keywords", not the musical key.
		{"IKEY", riffWAV(tagsFmt, wavChunk("LIST", infoList("IKEY", "Am\x00", "INAM", "Keywords")), tagsData), "Keywords", "", "", 0},
		{"a list of another type", riffWAV(tagsFmt, wavChunk("LIST", append([]byte("adtl"), wavChunk("INAM", []byte("Not Info"))...)), tagsData), "", "", "", 0},
		{"the first list wins", riffWAV(tagsFmt, info, tagsData, wavChunk("LIST", infoList("INAM", "Second", "IART", "Second"))), "Info Title", "Info Artist", "", 126},
		{"an empty title", riffWAV(tagsFmt, wavChunk("LIST", infoList("INAM", "\x00", "IART", " \x00")), tagsData), "", "", "", 0},
		{"a title of 100 KB", riffWAV(tagsFmt, tagsData, wavChunk("LIST", infoList("INAM", big))), big[:maxTagText], "", "", 0},
	} {
		a, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Title != c.title || a.Artist != c.artist || a.TagKey != c.key || a.TagBPM != c.bpm {
			t.Errorf("%s: tags %.40q %q %q %v, want %.40q %q %q %v", c.name, a.Title, a.Artist, a.TagKey, a.TagBPM, c.title, c.artist, c.key, c.bpm)
		}
		if a.Frames() != 500 {
			t.Errorf("%s: %d frames, want 500", c.name, a.Frames())
		}
	}
}

// TestWAVInfoDamage checks INFO lists whose sizes lie: the decode never
// fails for them, and whatever text can be had is.
func TestWAVInfoDamage(t *testing.T) {
	le := binary.LittleEndian
	entry := func(id string, size uint32, text string) []byte {
		return slices.Concat([]byte(id), le.AppendUint32(nil, size), []byte(text))
	}
	list := func(size uint32, body []byte) []byte {
		return slices.Concat([]byte("LIST"), le.AppendUint32(nil, size), body)
	}
	infoBody := slices.Concat([]byte("INFO"), entry("INAM", 6, "Title\x00"), entry("IART", 7, "Artist\x00"), []byte{0})
	for _, c := range []struct {
		name          string
		data          []byte
		title, artist string
	}{
		// The LIST is the last chunk and claims a gigabyte.
		{"list past the end", riffWAV(tagsFmt, tagsData, list(1<<30, infoBody)), "Title", "Artist"},
		// INAM claims more than the list holds: read up to the list's end.
		{"entry past the list", riffWAV(tagsFmt, list(15, slices.Concat([]byte("INFO"), entry("INAM", 4000, "Cut"))), []byte{0}, tagsData), "Cut", ""},
		// IART claims 4 GB, and is the last thing in the file.
		{"entry past the end", riffWAV(tagsFmt, tagsData, list(1<<31, slices.Concat([]byte("INFO"), entry("INAM", 2, "T\x00"), entry("IART", 0xffffffff, "Art")))), "T", "Art"},
		// The list ends in the middle of an entry's header.
		{"cut header", riffWAV(tagsFmt, tagsData, list(14, slices.Concat([]byte("INFO"), entry("INAM", 2, "T\x00"), []byte("IA")))), "T", ""},
		// A list too short to hold its type.
		{"no type", riffWAV(tagsFmt, list(2, []byte("IN")), tagsData), "", ""},
		{"empty list", riffWAV(tagsFmt, list(0, nil), tagsData), "", ""},
		// A multi-byte character cut by the length cap is dropped, not
		// read as Latin-1.
		{"UTF-8 cut at the cap", riffWAV(tagsFmt, wavChunk("LIST", infoList("INAM", strings.Repeat("a", maxTagText-1)+"é")), tagsData), strings.Repeat("a", maxTagText-1), ""},
	} {
		a, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Title != c.title || a.Artist != c.artist {
			t.Errorf("%s: title %.40q artist %q, want %.40q %q", c.name, a.Title, a.Artist, c.title, c.artist)
		}
	}
}

// TestID3WinsOverInfo checks an ID3 tag wins over the INFO list or the
// NAME and AUTH chunks of the same file, field by field: what the ID3 tag
// lacks is still taken from them.
func TestID3WinsOverInfo(t *testing.T) {
	id3 := id3v2Tag("TIT2", "ID3 Title", "TBPM", "124")
	info := wavChunk("LIST", infoList("INAM", "Info Title\x00", "IART", "Info Artist\x00", "IBPM", "90\x00"))
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"info first", riffWAV(info, tagsFmt, tagsData, wavChunk("id3 ", id3))},
		{"id3 first", riffWAV(wavChunk("id3 ", id3), tagsFmt, tagsData, info)},
		// An ID3v2 tag in front of the RIFF header, as some taggers put it.
		{"id3 in front", append(slices.Clone(id3), riffWAV(tagsFmt, info, tagsData)...)},
	} {
		a, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Title != "ID3 Title" || a.Artist != "Info Artist" || a.TagBPM != 124 {
			t.Errorf("%s: %q %q %v, want \"ID3 Title\" \"Info Artist\" 124", c.name, a.Title, a.Artist, a.TagBPM)
		}
	}

	// An ID3v1 tag, 30 characters a field, is the last resort: the INFO
	// list wins over it, and it fills in what the list lacks.
	v1 := slices.Concat([]byte("TAGV1 Title"), make([]byte, 30-8), []byte("V1 Artist"), make([]byte, 128-3-30-9))
	for _, c := range []struct {
		info          []byte
		title, artist string
	}{
		{infoList("INAM", "Info Title\x00"), "Info Title", "V1 Artist"},
		{infoList("IART", "Info Artist\x00"), "V1 Title", "Info Artist"},
	} {
		data := append(riffWAV(tagsFmt, tagsData, wavChunk("LIST", c.info)), v1...)
		a, err := Bytes(context.Background(), "id3v1", data, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Title != c.title || a.Artist != c.artist {
			t.Errorf("INFO and ID3v1: %q %q, want %q %q", a.Title, a.Artist, c.title, c.artist)
		}
	}

	// The AIFF fixture's ID3 chunk names "Tag Tester"; an AUTH chunk added
	// after its samples does not replace it.
	orig, err := os.ReadFile(fixtures + "aiff_id3_s16_mono_22k.aiff")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Bytes(context.Background(), "aiff", withAIFFChunks(orig, aiffChunk("AUTH", []byte("Someone Else"))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Title != "AIFF With ID3" || a.Artist != "Tag Tester" {
		t.Errorf("AIFF with ID3 and AUTH: %q %q, want \"AIFF With ID3\" \"Tag Tester\"", a.Title, a.Artist)
	}
}

// aiffChunk is an IFF chunk: its id, its big-endian size and its body,
// padded to an even length.
func aiffChunk(id string, body []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte(id), uint32(len(body)))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// withAIFFChunks returns the AIFF file aiff with chunks added after its
// own, its FORM size set to match.
func withAIFFChunks(aiff []byte, chunks ...[]byte) []byte {
	b := slices.Concat(append([][]byte{aiff}, chunks...)...)
	binary.BigEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// TestAIFFNameAuth checks the NAME and AUTH chunks of an AIFF or AIFF-C
// file give its title and artist, in front of the samples or after them,
// odd-sized or not, through File as through Bytes.
func TestAIFFNameAuth(t *testing.T) {
	for _, fixture := range []string{"aiff_s8_mono_8k.aiff", "aifc_sowt_stereo_22k.aifc"} {
		orig, want := decodeFixture(t, fixture)
		if want.Title != "" || want.Artist != "" {
			t.Fatalf("%s: has tags %q %q already", fixture, want.Title, want.Artist)
		}
		// The chunks in front: after the 12-byte FORM header.
		front := slices.Concat(orig[:12], aiffChunk("NAME", []byte("Front Name")), aiffChunk("AUTH", []byte("Odd Author")), orig[12:])
		binary.BigEndian.PutUint32(front[4:], uint32(len(front)-8))
		for _, c := range []struct {
			name          string
			data          []byte
			title, artist string
		}{
			{"after", withAIFFChunks(orig, aiffChunk("NAME", []byte("Back Name")), aiffChunk("AUTH", []byte("Author"))), "Back Name", "Author"},
			{"in front, odd", front, "Front Name", "Odd Author"},
			{"ffmpeg's NUL", withAIFFChunks(orig, aiffChunk("NAME", []byte("Odd\x00"))), "Odd", ""},
			{"Latin-1", withAIFFChunks(orig, aiffChunk("AUTH", []byte("Beyonc\xe9"))), "", "Beyoncé"},
			{"past the end", withAIFFChunks(orig, []byte("NAME\x7f\xff\xff\xffCut")), "Cut", ""},
		} {
			path := filepath.Join(t.TempDir(), "song.aiff")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := File(context.Background(), path, Options{})
			if err != nil {
				t.Errorf("%s %s: %v", fixture, c.name, err)
				continue
			}
			if a.Title != c.title || a.Artist != c.artist {
				t.Errorf("%s %s: %q %q, want %q %q", fixture, c.name, a.Title, a.Artist, c.title, c.artist)
			}
			if a.Frames() != want.Frames() {
				t.Errorf("%s %s: %d frames, want %d", fixture, c.name, a.Frames(), want.Frames())
			}
		}
	}
}

// TestInfoThroughFile checks a WAV's INFO list reaches Audio through
// File, as through Bytes.
func TestInfoThroughFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "song.wav")
	data := riffWAV(tagsFmt, tagsData, wavChunk("LIST", infoList("INAM", "File Title\x00", "IART", "File Artist\x00")))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := File(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Title != "File Title" || a.Artist != "File Artist" {
		t.Errorf("%q %q, want \"File Title\" \"File Artist\"", a.Title, a.Artist)
	}
}

// TestTagText checks how tag bytes become text.
func TestTagText(t *testing.T) {
	for _, c := range []struct {
		in   string
		cut  bool
		want string
	}{
		{"Title\x00", false, "Title"},
		{"Title\x00junk", false, "Title"},
		{"\x00\x00Title", false, "Title"},
		{"  Title  ", false, "Title"},
		{"Caf\xe9", false, "Café"},
		{"Café", false, "Café"},
		{"Caf\xc3", true, "Caf"},        // UTF-8 é cut after its first byte
		{"Caf\xc3", false, "Caf\u00c3"}, // the whole text: a Latin-1 Ã
		{"Ab\xe2\x82", true, "Ab"},      // € cut after two of its three bytes
		{"Caf\xe9 x\xe9", true, "Café xé"},
		{"", false, ""},
		{"\x00", false, ""},
	} {
		if got := tagText([]byte(c.in), c.cut); got != c.want {
			t.Errorf("tagText(%q, %v) = %q, want %q", c.in, c.cut, got, c.want)
		}
	}
}

// TestInfoReadsBounded checks a WAV whose INFO list holds a title of
// megabytes, and an MP3 whose APE tag holds a cover of megabytes, are not
// read whole for their tags.
func TestInfoReadsBounded(t *testing.T) {
	data := riffWAV(tagsFmt, tagsData, wavChunk("LIST", infoList("IART", "A\x00", "INAM", strings.Repeat("t", 8<<20))))
	r := &countBytes{r: bytes.NewReader(data)}
	if _, err := decode(context.Background(), r, int64(len(data)), Options{}); err != nil {
		t.Fatal(err)
	}
	if r.n > 1<<20 {
		t.Errorf("%d bytes read of a %d MB file", r.n, len(data)>>20)
	}

	// An MP3 whose APE tag holds a cover of 8 MB before its title.
	mp3, err := os.ReadFile(fixtures + "mp3_cbr_stereo_44k.mp3")
	if err != nil {
		t.Fatal(err)
	}
	cover := apeItem{"Cover Art (Front)", 2, strings.Repeat("\xff", 8<<20)}
	data = slices.Concat(mp3, apeTag(2000, true, cover, apeItem{"Title", 0, "T"}))
	r = &countBytes{r: bytes.NewReader(data)}
	a, err := decode(context.Background(), r, int64(len(data)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Title != "T" || r.n > 1<<20 {
		t.Errorf("title %q; %d bytes read of a %d MB file", a.Title, r.n, len(data)>>20)
	}
}

// countBytes counts the bytes read through it.
type countBytes struct {
	r interface {
		ReadAt([]byte, int64) (int, error)
	}
	n int64
}

func (c *countBytes) ReadAt(p []byte, off int64) (int, error) {
	k, err := c.r.ReadAt(p, off)
	c.n += int64(k)
	return k, err
}

// apeTag is an APE tag of the given items (key, flags, value), with a
// header when header is set, a footer always, at version 2000 (1000 has
// no header).
func apeTag(version uint32, header bool, items ...apeItem) []byte {
	le := binary.LittleEndian
	var body []byte
	for _, it := range items {
		body = slices.Concat(body, le.AppendUint32(nil, uint32(len(it.value))), le.AppendUint32(nil, it.flags), []byte(it.key), []byte{0}, []byte(it.value))
	}
	flags := uint32(0)
	if header {
		flags |= 1 << 31
	}
	hf := func(flags uint32) []byte {
		b := []byte("APETAGEX")
		for _, v := range []uint32{version, uint32(len(body) + 32), uint32(len(items)), flags} {
			b = le.AppendUint32(b, v)
		}
		return append(b, make([]byte, 8)...)
	}
	tag := slices.Concat(body, hf(flags))
	if header {
		tag = slices.Concat(hf(flags|1<<29), tag)
	}
	return tag
}

type apeItem struct {
	key   string
	flags uint32
	value string
}

// id3v24Appended is an ID3v2.4 tag with a footer, as appended to the end
// of a file, of UTF-8 text frames, id then text.
func id3v24Appended(frames ...string) []byte {
	var body []byte
	for i := 0; i+1 < len(frames); i += 2 {
		text := append([]byte{3}, frames[i+1]...)
		n := len(text) // below 128: the same synchsafe or not
		body = slices.Concat(body, []byte(frames[i]), []byte{0, 0, 0, byte(n)}, []byte{0, 0}, text)
	}
	n := len(body)
	size := []byte{byte(n >> 21 & 127), byte(n >> 14 & 127), byte(n >> 7 & 127), byte(n & 127)}
	return slices.Concat([]byte{'I', 'D', '3', 4, 0, 0x10}, size, body, []byte{'3', 'D', 'I', 4, 0, 0x10}, size)
}

// TestMP3TrailingTags checks the tags taggers append to an MP3 after its
// last frame are read: an APEv2 (or APEv1) tag, an ID3v2.4 tag with a
// footer, before an ID3v1 tag or not; that an ID3v2 tag in front wins
// over them, and they over ID3v1; and that the samples do not change.
func TestMP3TrailingTags(t *testing.T) {
	clean, want := decodeFixture(t, "mp3_cbr_stereo_44k.mp3")
	if want.Title != "" || want.Artist != "" {
		t.Fatalf("the fixture has tags %q %q already", want.Title, want.Artist)
	}
	v1 := slices.Concat([]byte("TAGV1 Title"), make([]byte, 30-8), []byte("V1 Artist"), make([]byte, 128-3-30-9))
	full := []apeItem{{"Title", 0, "Ape Title"}, {"Artist", 0, "Ape Artist"}, {"BPM", 0, "128"}, {"Key", 0, "F#m"}}
	cover := apeItem{"Cover Art (Front)", 2, "cover.jpg\x00" + strings.Repeat("\xff", 100<<10)}
	front := id3v2Tag("TIT2", "Front Title")
	for _, c := range []struct {
		name               string
		data               []byte
		title, artist, key string
		bpm                float64
	}{
		{"APEv2 with header", slices.Concat(clean, apeTag(2000, true, full...)), "Ape Title", "Ape Artist", "F#m", 128},
		{"APEv2 before ID3v1", slices.Concat(clean, apeTag(2000, true, full...), v1), "Ape Title", "Ape Artist", "F#m", 128},
		{"APEv2 footer only", slices.Concat(clean, apeTag(2000, false, full...)), "Ape Title", "Ape Artist", "F#m", 128},
		{"APEv1", slices.Concat(clean, apeTag(1000, false, full...), v1), "Ape Title", "Ape Artist", "F#m", 128},
		{"keys in any case", slices.Concat(clean, apeTag(2000, true, apeItem{"TITLE", 0, "Upper"}, apeItem{"artist", 0, "lower"}, apeItem{"bpm", 0, " 97.5 "}, apeItem{"INITIALKEY", 0, "Abm"})), "Upper", "lower", "Abm", 97.5},
		{"a cover first", slices.Concat(clean, apeTag(2000, true, cover, apeItem{"Title", 0, "After Cover"})), "After Cover", "", "", 0},
		// A binary item is not text, whatever its key.
		{"a binary title", slices.Concat(clean, apeTag(2000, true, apeItem{"Title", 2, "bin"}, apeItem{"Artist", 0, "Text"})), "", "Text", "", 0},
		{"a list of values", slices.Concat(clean, apeTag(2000, true, apeItem{"Artist", 0, "First\x00Second"})), "", "First", "", 0},
		{"Latin-1 in APEv1", slices.Concat(clean, apeTag(1000, false, apeItem{"Artist", 0, "Beyonc\xe9"})), "", "Beyoncé", "", 0},
		// ID3v1 fills in what APEv2 lacks.
		{"APEv2 and ID3v1", slices.Concat(clean, apeTag(2000, true, apeItem{"Artist", 0, "Ape Artist"}), v1), "V1 Title", "Ape Artist", "", 0},
		{"ID3v2 in front wins", slices.Concat(front, clean, apeTag(2000, true, full...)), "Front Title", "Ape Artist", "F#m", 128},
		{"ID3v2.4 appended", slices.Concat(clean, id3v24Appended("TIT2", "Appended", "TPE1", "Änd", "TBPM", "140", "TKEY", "Gm")), "Appended", "Änd", "Gm", 140},
		{"ID3v2.4 appended before ID3v1", slices.Concat(clean, id3v24Appended("TIT2", "Appended"), v1), "Appended", "V1 Artist", "", 0},
		// The appended ID3v2 tag wins over the APE tag.
		{"ID3v2.4 and APEv2", slices.Concat(clean, apeTag(2000, true, full...), id3v24Appended("TIT2", "Appended"), v1), "Appended", "Ape Artist", "F#m", 128},
		{"APEv2 and ID3v2.4", slices.Concat(clean, id3v24Appended("TIT2", "Appended"), apeTag(2000, true, full...), v1), "Appended", "Ape Artist", "F#m", 128},
	} {
		a, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Title != c.title || a.Artist != c.artist || a.TagKey != c.key || a.TagBPM != c.bpm {
			t.Errorf("%s: tags %q %q %q %v, want %q %q %q %v", c.name, a.Title, a.Artist, a.TagKey, a.TagBPM, c.title, c.artist, c.key, c.bpm)
		}
		if !slices.Equal(a.Channels[0], want.Channels[0]) {
			t.Errorf("%s: %d samples, not the %d of the file without the tags", c.name, a.Frames(), want.Frames())
		}
	}

	path := filepath.Join(t.TempDir(), "song.mp3")
	if err := os.WriteFile(path, slices.Concat(clean, apeTag(2000, true, full...)), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := File(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Title != "Ape Title" || a.Artist != "Ape Artist" {
		t.Errorf("through File: %q %q, want \"Ape Title\" \"Ape Artist\"", a.Title, a.Artist)
	}
}

// TestMP3TrailingTagsDamage checks damaged APE and appended ID3v2 tags
// never fail the decode, and give what they can.
func TestMP3TrailingTagsDamage(t *testing.T) {
	clean, want := decodeFixture(t, "mp3_cbr_stereo_44k.mp3")
	le := binary.LittleEndian
	ape := apeTag(2000, true, apeItem{"Title", 0, "Ape Title"}, apeItem{"Artist", 0, "Ape Artist"})
	with := func(b []byte, at int, v uint32) []byte {
		b = slices.Clone(b)
		le.PutUint32(b[at:], v)
		return b
	}
	footer := len(ape) - 32
	// The first item's value size, after the 32-byte header.
	item := 32
	appended := id3v24Appended("TIT2", "Appended")
	front := id3v2Tag("TIT2", "Front")
	synchsafeFooter := func(n int) []byte {
		return []byte{'3', 'D', 'I', 4, 0, 0x10, byte(n >> 21 & 127), byte(n >> 14 & 127), byte(n >> 7 & 127), byte(n & 127)}
	}
	for _, c := range []struct {
		name          string
		data          []byte
		title, artist string
	}{
		// The tag claims to reach into the ID3v2 tag in front of the audio.
		{"tag size past the start", slices.Concat(front, clean, with(ape, footer+12, uint32(len(clean)+len(ape)+1))), "Front", ""},
		{"tag size below a footer's", slices.Concat(clean, with(ape, footer+12, 8)), "", ""},
		{"a header where the footer goes", slices.Concat(clean, with(ape, footer+20, 1<<31|1<<29)), "", ""},
		{"an unknown version", slices.Concat(clean, with(ape, footer+8, 3000)), "", ""},
		{"a million items", slices.Concat(clean, with(ape, footer+16, 1<<20)), "Ape Title", "Ape Artist"},
		// The first value claims 4 GB: it is read up to the footer (and to
		// the next item's size, 10, a line feed trimmed off), and the walk
		// ends.
		{"a value past the tag", slices.Concat(clean, with(ape, item, 0xffffffff)), "Ape Title", ""},
		{"a key without its NUL", slices.Concat(clean, apeTag(2000, true, apeItem{strings.Repeat("k", 300), 0, "v"}, apeItem{"Title", 0, "Lost"})), "", ""},
		{"an appended ID3 tag past the start", slices.Concat(front, clean, synchsafeFooter(len(clean)+5)), "Front", ""},
		{"a footer without its tag", slices.Concat(clean, appended[10:]), "", ""},
		// A footer alone, an empty tag, claiming two items.
		{"just an APE footer", slices.Concat(clean, with(with(ape[footer:], 12, 32), 20, 0)), "", ""},
		// The same, its flags claiming a header that is not there: the
		// 32 bytes before it are audio, not the header.
		{"a header flagged but missing", slices.Concat(clean, with(ape[footer:], 12, 32)), "", ""},
	} {
		a, err := Bytes(context.Background(), c.name, c.data, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Title != c.title || a.Artist != c.artist {
			t.Errorf("%s: %q %q, want %q %q", c.name, a.Title, a.Artist, c.title, c.artist)
		}
		if a.Frames() != want.Frames() {
			t.Errorf("%s: %d frames, want %d", c.name, a.Frames(), want.Frames())
		}
	}
}
