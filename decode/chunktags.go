package decode

import (
	"encoding/binary"
)

// maxChunks bounds the RIFF or AIFF chunks walked to find tags, and the
// entries walked in one INFO list or APEv2 tag: real files have a
// handful, and a file of zeros reads as millions.
const maxChunks = 1 << 12

// chunkTags is what the chunks of a WAV or AIFF file hold of its tags:
// where its ID3 chunk lies, if it has one, and what its RIFF INFO list or
// its AIFF NAME and AUTH chunks say.
type chunkTags struct {
	id3Off, id3Len int64
	hasID3         bool
	text           fileTags
}

// readChunkTags walks the chunks of a WAV or AIFF file (any other format
// has none) for its tags, before the samples or after them:
//
//   - the "id3 " (or "ID3 ") chunk, where DJ software and iTunes keep an
//     ID3v2 tag. A file with an ID3v2 tag in front of its container has
//     that tag read instead.
//   - a WAV's LIST chunk of type INFO (Microsoft, "Multimedia Programming
//     Interface and Data Specifications 1.0", 1991, RIFF INFO list): INAM
//     is the title, IART the artist. IBPM, no part of the 1991 list, is
//     the tempo as TagLib reads and writes it (its property mapping, BPM
//     in the RIFF column); no INFO id holds a musical key (IKEY is
//     "keywords").
//   - an AIFF's NAME and AUTH chunks (Apple, "Audio Interchange File
//     Format" 1.3, 1989, §Text Chunks; AIFF-C has the same): the name of
//     the sampled sound and its author, taken as title and artist.
//
// The first of each kind counts. Nothing here fails: damage ends the walk
// with what was found before it.
func readChunkTags(in *input, format Format) chunkTags {
	var order binary.ByteOrder
	switch format {
	case WAV:
		order = binary.LittleEndian
	case AIFF:
		order = binary.BigEndian
	default:
		return chunkTags{}
	}
	var ct chunkTags
	k := 0
	walkChunks(in, order, func(id string, body, size int64) (bool, error) {
		// A chunk cut short by the end of the file holds what is left.
		size = max(0, min(size, in.size-body))
		switch {
		case (id == "id3 " || id == "ID3 ") && !ct.hasID3 && in.start == 0:
			ct.id3Off, ct.id3Len, ct.hasID3 = body, size, true
		case format == WAV && id == "LIST":
			readINFO(in, body, size, &ct.text)
		case format == WAV && id == "data" && size == 0:
			// A data chunk of size 0 runs to the end of the file (see
			// decodeWAV): what follows is samples, not chunks.
			return true, nil
		case format == AIFF && id == "NAME" && ct.text.title == "":
			ct.text.title = readText(in.r, body, size)
		case format == AIFF && id == "AUTH" && ct.text.artist == "":
			ct.text.artist = readText(in.r, body, size)
		}
		k++
		return k == maxChunks, nil
	})
	return ct
}

// readINFO reads the title, artist and tempo from the LIST chunk whose
// body of size bytes lies at body, if its list type is INFO, into any
// field of t still empty. Each entry is a 4-byte id, a little-endian
// size and that many bytes of text, NUL-terminated as the spec asks (a
// few writers leave the NUL out), padded to an even length. An entry
// running past the list's end is read up to that end, and ends the list.
func readINFO(in *input, body, size int64, t *fileTags) {
	end := body + size
	// Bounded by the list's end, the window reads nothing past it.
	w := &window{r: in.r, size: end}
	if h := w.at(body, 4); h == nil || string(h) != "INFO" {
		return
	}
	for off, k := body+4, 0; k < maxChunks; k++ {
		h := w.at(off, 8)
		if h == nil {
			return
		}
		id, n := string(h[:4]), int64(binary.LittleEndian.Uint32(h[4:]))
		text := off + 8
		switch n := min(n, end-text); {
		case id == "INAM" && t.title == "":
			t.title = readText(in.r, text, n)
		case id == "IART" && t.artist == "":
			t.artist = readText(in.r, text, n)
		case id == "IBPM" && t.bpm == 0:
			t.bpm = number(readText(in.r, text, n))
		}
		off = text + n + n&1
	}
}
