package decode

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"

	"github.com/dhowden/tag"
)

// trailingTags are the tags appended after an MP3's last frame, where
// dhowden/tag does not look: it reads the tag the file starts with, or
// else the ID3v1 tag in its last 128 bytes.
type trailingTags struct {
	id3, ape fileTags
}

// APEv2 header and footer flags (APEv2 specification, "APE Tags Flags").
const (
	apeHasHeader = 1 << 31
	apeIsHeader  = 1 << 29
)

// readTrailingTags reads the tags at the end of an MP3, peeling them off
// from the end as they are stacked: an ID3v1 tag last, 128 bytes starting
// "TAG"; before it an APEv2 tag (APEv2 specification, hydrogenaudio wiki:
// "when located at the end of an MP3 file, an APE tag should be placed
// after the last frame, just before the ID3v1 tag") found by its 32-byte
// footer, and an ID3v2 tag appended to the file, found by the 10-byte
// footer ID3v2.4 gives it for that purpose ("ID3 tag version 2.4.0 -
// Main Structure", §3.4 and §5), in either order. Nothing is looked for
// before in.start, where the audio starts. Damage stops the peeling with
// what was found before it.
func readTrailingTags(in *input) trailingTags {
	var tt trailingTags
	w := &window{r: in.r, size: in.size}
	has := func(off int64, magic string) bool {
		b := w.at(off, len(magic))
		return off >= in.start && b != nil && string(b) == magic
	}
	end := in.size
	var v1, ape, id3 bool
	for range 3 {
		switch {
		case !v1 && has(end-128, "TAG"):
			// dhowden/tag reads it.
			v1, end = true, end-128
		case !ape && has(end-32, "APETAGEX"):
			f := w.at(end-32, 32)
			le := binary.LittleEndian
			version, count, flags := le.Uint32(f[8:]), le.Uint32(f[16:]), le.Uint32(f[20:])
			// The size counts the items and the footer, not the header.
			size := int64(le.Uint32(f[12:]))
			if version != 1000 && version != 2000 || flags&apeIsHeader != 0 || size < 32 || end-size < in.start {
				return tt
			}
			tt.ape = readAPEItems(in, end-size, end-32, count)
			end -= size
			if flags&apeHasHeader != 0 && has(end-32, "APETAGEX") {
				end -= 32
			}
			ape = true
		case !id3 && has(end-10, "3DI"):
			// The footer is the header with "3DI" for "ID3": its size is
			// that of the tag less header and footer.
			h := append([]byte("ID3"), w.at(end-10, 10)[3:]...)
			n, ok := id3v2Size(h)
			start := end - n
			if !ok || h[5]&0x10 == 0 || !has(start, "ID3") {
				return tt
			}
			bestEffort(func() {
				m, err := tag.ReadID3v2Tags(io.NewSectionReader(in.r, start, n))
				if err == nil && m != nil {
					tt.id3 = metadataFields(m)
				}
			})
			end, id3 = start, true
		default:
			return tt
		}
	}
	return tt
}

// readAPEItems reads the title, artist, tempo and key from the count
// items of an APE tag that lie between from and to. An item is the
// little-endian size of its value, its flags, its key (2 to 255 ASCII
// characters) ending in a NUL, and its value: UTF-8 text unless bits 1-2
// of the flags say binary or a link. The spec makes keys case-sensitive
// but forbids two differing only in case, and asks readers to ignore
// case. Title, Artist and BPM are the spec's and taggers' names; the key
// is Key as MusicBrainz Picard writes it, or INITIALKEY as TagLib and
// Mp3tag do. A value lists several with NULs between; the first counts.
func readAPEItems(in *input, from, to int64, count uint32) fileTags {
	var t fileTags
	w := &window{r: in.r, size: to}
	off := from
	for range min(count, maxChunks) {
		h := w.at(off, 8)
		if h == nil || to-off-8 < 1 {
			break
		}
		n, flags := int64(binary.LittleEndian.Uint32(h)), binary.LittleEndian.Uint32(h[4:])
		k := w.at(off+8, int(min(256, to-off-8)))
		z := bytes.IndexByte(k, 0)
		if z < 0 {
			break // no end to the key: damage
		}
		key := string(k[:z])
		value := off + 8 + int64(z) + 1
		text := func() string { return readText(in.r, value, min(n, to-value)) }
		if flags>>1&3 == 0 {
			switch {
			case strings.EqualFold(key, "Title") && t.title == "":
				t.title = text()
			case strings.EqualFold(key, "Artist") && t.artist == "":
				t.artist = text()
			case strings.EqualFold(key, "BPM") && t.bpm == 0:
				t.bpm = number(text())
			case (strings.EqualFold(key, "Key") || strings.EqualFold(key, "INITIALKEY")) && t.key == "":
				t.key = text()
			}
		}
		off = value + n
	}
	return t
}
