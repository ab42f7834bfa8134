package decode

import (
	"encoding/binary"
	"io"
	"strconv"
	"strings"

	"github.com/dhowden/tag"
)

// readTags fills in a's title, artist, BPM and key from the file's tags,
// read with dhowden/tag. Tags are a nicety: any failure, even a panic in
// the tag reader, leaves the fields empty.
func readTags(r io.ReaderAt, size int64, a *Audio) {
	defer func() { _ = recover() }()
	if !flacPicturesFit(r, size) {
		return
	}
	m, err := tag.ReadFrom(io.NewSectionReader(r, 0, size))
	if err != nil || m == nil {
		return
	}
	a.Title = strings.TrimSpace(m.Title())
	a.Artist = strings.TrimSpace(m.Artist())
	raw := m.Raw()
	// ID3v2 frames, Vorbis comments and MP4 atoms name them differently.
	for _, k := range []string{"TBPM", "TBP", "bpm", "BPM", "tmpo"} {
		if bpm := number(raw[k]); bpm > 0 {
			a.TagBPM = bpm
			break
		}
	}
	for _, k := range []string{"TKEY", "TKE", "initialkey", "INITIALKEY", "key", "KEY"} {
		if s, ok := raw[k].(string); ok && strings.TrimSpace(s) != "" {
			a.TagKey = strings.TrimSpace(s)
			break
		}
	}
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

// flacPicturesFit reports whether every PICTURE block of a FLAC stream at
// the start of r holds the picture its data length claims (true when r is
// not FLAC). dhowden/tag allocates that length before reading it, so one
// block claiming 4 GB in a small file would cost 4 GB.
func flacPicturesFit(r io.ReaderAt, size int64) bool {
	var h [4]byte
	if _, err := r.ReadAt(h[:], 0); err != nil || string(h[:]) != "fLaC" {
		return true
	}
	for off := int64(4); off+4 <= size; {
		if _, err := r.ReadAt(h[:], off); err != nil {
			return true // the tag reader stops here too
		}
		n := int64(h[1])<<16 | int64(h[2])<<8 | int64(h[3])
		if h[0]&0x7f == 6 && !pictureFits(io.NewSectionReader(r, off+4, min(n, size-off-4))) {
			return false
		}
		if h[0]&0x80 != 0 {
			break // the last metadata block
		}
		off += 4 + n
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
