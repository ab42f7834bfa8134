package decode

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/dhowden/tag"
)

// readTags fills in a's title, artist, BPM and key from the file's tags,
// read with dhowden/tag. Tags are a nicety: any failure, even a panic in
// the tag reader, leaves the fields empty.
func readTags(in *input, a *Audio) {
	defer func() { _ = recover() }()
	r, size := in.r, in.size
	if !flacMetadataFit(r, size) {
		return
	}
	var m tag.Metadata
	var err error
	if off, n, ok := id3Chunk(in, a.Format); ok {
		// WAV and AIFF files keep their ID3v2 tag in a chunk (as DJ
		// software and iTunes write them), where the tag reader does not
		// look.
		m, err = tag.ReadID3v2Tags(io.NewSectionReader(r, off, n))
	} else {
		m, err = tag.ReadFrom(&windowReader{w: window{r: r, size: size}})
	}
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

// maxFLACBlocks bounds the FLAC metadata blocks the tag reader is given:
// real files have a few dozen, and the reader spends reads and
// allocations on each, deaf to any deadline, so millions of empty blocks
// (valid, if made up) would hold it for seconds.
const maxFLACBlocks = 1 << 12

// maxChunks bounds the RIFF or AIFF chunks walked to find an ID3 chunk:
// real files have a handful, and a file of zeros reads as millions.
const maxChunks = 1 << 12

// id3Chunk returns where the body of the "id3 " (or "ID3 ") chunk of a
// WAV or AIFF file lies, if it has one. A file with an ID3v2 tag in front
// of its container has that tag read instead.
func id3Chunk(in *input, format Format) (off, n int64, ok bool) {
	var order binary.ByteOrder
	switch {
	case in.start != 0:
		return 0, 0, false
	case format == WAV:
		order = binary.LittleEndian
	case format == AIFF:
		order = binary.BigEndian
	default:
		return 0, 0, false
	}
	k := 0
	walkChunks(in, order, func(id string, body, length int64) (bool, error) {
		if id == "id3 " || id == "ID3 " {
			off, n, ok = body, min(length, in.size-body), true
			return true, nil
		}
		k++
		return k == maxChunks, nil
	})
	return off, n, ok
}

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
