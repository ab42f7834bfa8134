package decode

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dhowden/tag"

	"github.com/songflow/songflow/internal/latin1"
)

// readTags fills in a's title, artist, BPM and key from the file's tags.
// A file may carry several; each field comes from the first of these
// that has it:
//
//  1. the tag dhowden/tag reads: an ID3v2 tag at the start of the file or
//     in a WAV's or AIFF's ID3 chunk, FLAC's Vorbis comments, MP4 atoms.
//     Taggers write these on purpose, and they hold the most.
//  2. an ID3v2 tag appended to the end of an MP3, then an APEv2 tag there
//     (foobar2000, Mp3tag and Winamp can write them instead of ID3).
//  3. the RIFF INFO list of a WAV, or the NAME and AUTH chunks of an AIFF,
//     which DAWs and converters (ffmpeg, Audacity) write from whatever
//     they were given.
//  4. an ID3v1 tag: 30 Latin-1 characters a field at most, the last resort.
//
// A field the first source leaves empty is taken from the next, so an
// ID3 tag with a tempo but no title takes the title from the INFO list.
// Tags are a nicety: any failure, even a panic in a tag reader, costs the
// fields that source would have given and never the decode.
func readTags(in *input, a *Audio) {
	defer func() { _ = recover() }()
	var chunks chunkTags
	bestEffort(func() { chunks = readChunkTags(in, a.Format) })
	var lead fileTags
	var v1 bool
	bestEffort(func() { lead, v1 = metadataTags(in, chunks) })
	var trail trailingTags
	if a.Format == MP3 {
		bestEffort(func() { trail = readTrailingTags(in) })
	}
	if !v1 {
		lead.fill(a)
	}
	trail.id3.fill(a)
	trail.ape.fill(a)
	chunks.text.fill(a)
	if v1 {
		lead.fill(a)
	}
}

// fileTags is what one source of tags says; "" and 0 where it is silent.
type fileTags struct {
	title, artist, key string
	bpm                float64
}

// fill sets each of a's tag fields still empty from t.
func (t fileTags) fill(a *Audio) {
	if a.Title == "" {
		a.Title = t.title
	}
	if a.Artist == "" {
		a.Artist = t.artist
	}
	if a.TagBPM == 0 {
		a.TagBPM = t.bpm
	}
	if a.TagKey == "" {
		a.TagKey = t.key
	}
}

// bestEffort runs f, one tag reader, and recovers from its panic: a
// reader meeting damage nobody foresaw costs that source's tags, not the
// other sources'. f sets its results only as it returns.
func bestEffort(f func()) {
	defer func() { _ = recover() }()
	f()
}

// metadataTags reads the tag dhowden/tag finds: the ID3 chunk of a WAV or
// AIFF where chunks found one, else whatever tag the file starts with, or
// its ID3v1 tag; v1 says it is the ID3v1 tag.
func metadataTags(in *input, chunks chunkTags) (t fileTags, v1 bool) {
	r, size := in.r, in.size
	if !flacMetadataFit(r, size) {
		return fileTags{}, false
	}
	var m tag.Metadata
	var err error
	if chunks.hasID3 {
		// WAV and AIFF files keep their ID3v2 tag in a chunk (as DJ
		// software and iTunes write them), where the tag reader does not
		// look.
		m, err = tag.ReadID3v2Tags(io.NewSectionReader(r, chunks.id3Off, chunks.id3Len))
	} else {
		m, err = tag.ReadFrom(&windowReader{w: window{r: r, size: size}})
	}
	if err != nil || m == nil {
		return fileTags{}, false
	}
	return metadataFields(m), m.Format() == tag.ID3v1
}

// metadataFields picks title, artist, BPM and key out of a tag read by
// dhowden/tag.
func metadataFields(m tag.Metadata) fileTags {
	t := fileTags{
		title:  strings.TrimSpace(m.Title()),
		artist: strings.TrimSpace(m.Artist()),
	}
	raw := m.Raw()
	// ID3v2 frames, Vorbis comments and MP4 atoms name them differently.
	for _, k := range []string{"TBPM", "TBP", "bpm", "BPM", "tmpo"} {
		if bpm := number(raw[k]); bpm > 0 {
			t.bpm = bpm
			break
		}
	}
	for _, k := range []string{"TKEY", "TKE", "initialkey", "INITIALKEY", "key", "KEY"} {
		if s, ok := raw[k].(string); ok && strings.TrimSpace(s) != "" {
			t.key = strings.TrimSpace(s)
			break
		}
	}
	return t
}

// maxTagText bounds the bytes read of one text tag. A title or an artist
// needs a few dozen; a damaged or hostile size field may claim gigabytes,
// and a chunk that is mostly something else (a picture, say) should not
// be read whole to find a short string.
const maxTagText = 1 << 10

// readText reads the text tag of n bytes at off, or its first maxTagText
// bytes, as tagText makes it.
func readText(r io.ReaderAt, off, n int64) string {
	if n <= 0 || off < 0 {
		return ""
	}
	b := make([]byte, min(n, maxTagText))
	k, _ := r.ReadAt(b, off)
	return tagText(b[:k], int64(k) < n)
}

// tagText makes the text of a tag from its bytes b: up to the first NUL
// (INFO strings end in one, ffmpeg ends AIFF NAME chunks with one, APEv2
// separates the values of a list with one), valid UTF-8 as it is and any
// other byte read as the Latin-1 character (INFO and AIFF text has no
// stated encoding, and old tools wrote the Windows or ISO code page),
// spaces trimmed. cut says b is the start of a longer text: a UTF-8
// sequence cut short at its end is dropped rather than read as Latin-1.
func tagText(b []byte, cut bool) string {
	b = bytes.TrimLeft(b, "\x00")
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b, cut = b[:i], false
	}
	if cut {
		for k := 1; k <= min(utf8.UTFMax-1, len(b)); k++ {
			if tail := b[len(b)-k:]; utf8.RuneStart(tail[0]) {
				if !utf8.FullRune(tail) && utf8.Valid(b[:len(b)-k]) {
					b = b[:len(b)-k]
				}
				break
			}
		}
	}
	return strings.TrimSpace(latin1.ToUTF8(string(b)))
}

// number reads a tag value that should be a number, written as text or
// stored as an integer.
func number(v any) float64 {
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimRight(x, "\x00")), 64)
		if err != nil || f < 0 || f > 1000 {
			return 0
		}
		return f
	case int:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case uint16:
		return float64(x)
	}
	return 0
}

// maxFLACBlocks bounds the FLAC metadata blocks the tag reader is given:
// real files have a few dozen, and the reader spends reads and
// allocations on each, deaf to any deadline, so millions of empty blocks
// (valid, if made up) would hold it for seconds.
const maxFLACBlocks = 1 << 12

// flacMetadataFit reports whether the metadata of a FLAC stream at the
// start of r is fit for the tag reader (true when r is not FLAC): no more
// than maxFLACBlocks blocks, and every PICTURE block holding the picture
// its data length claims. dhowden/tag allocates that length before
// reading it, so one block claiming 4 GB in a small file would cost 4 GB.
func flacMetadataFit(r io.ReaderAt, size int64) bool {
	w := &window{r: r, size: size}
	if h := w.at(0, 4); h == nil || string(h) != "fLaC" {
		return true
	}
	for off, n := int64(4), 0; off+4 <= size; n++ {
		if n == maxFLACBlocks {
			return false
		}
		h := w.at(off, 4)
		if h == nil {
			return true // the tag reader stops here too
		}
		last, typ := h[0]&0x80 != 0, h[0]&0x7f
		length := int64(h[1])<<16 | int64(h[2])<<8 | int64(h[3])
		if typ == 6 && !pictureFits(io.NewSectionReader(r, off+4, min(length, size-off-4))) {
			return false
		}
		if last {
			break
		}
		off += 4 + length
	}
	return true
}

// pictureFits reports whether the FLAC PICTURE block body b holds the
// lengths it claims: picture type, MIME type, description, four numbers
// about the image, then the data.
func pictureFits(b *io.SectionReader) bool {
	pos := int64(4) // past the picture type
	length := func() (int64, bool) {
		var v [4]byte
		if _, err := b.ReadAt(v[:], pos); err != nil {
			return 0, false
		}
		pos += 4
		return int64(binary.BigEndian.Uint32(v[:])), true
	}
	for range 2 { // the MIME type and the description
		n, ok := length()
		if !ok {
			return false
		}
		pos += n
	}
	pos += 16 // width, height, colour depth, colours used
	n, ok := length()
	return ok && pos+n <= b.Size()
}

// windowReader is an io.ReadSeeker over a window. The tag reader reads a
// few bytes at a time, a box or block header, and seeks past what it
// skips; through the window a file of millions of tiny boxes costs no
// more than its bytes to read, not a read of the file per box.
type windowReader struct {
	w   window
	pos int64
}

func (r *windowReader) Read(p []byte) (int, error) {
	n := min(int64(len(p)), r.w.size-r.pos)
	if n <= 0 {
		return 0, io.EOF
	}
	if n > 16<<10 {
		// Larger than the window serves well: read it straight.
		k, err := r.w.r.ReadAt(p[:n], r.pos)
		r.pos += int64(k)
		if k > 0 && errors.Is(err, io.EOF) {
			err = nil
		}
		return k, err
	}
	b := r.w.at(r.pos, int(n))
	if b == nil {
		return 0, io.ErrUnexpectedEOF
	}
	r.pos += int64(copy(p, b))
	return int(n), nil
}

func (r *windowReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.w.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start")
	}
	r.pos = offset
	return offset, nil
}
