package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// sniffLen is how many bytes after any ID3v2 tags sniffing looks at: enough
// to find an MPEG frame after a little padding and to check that a second
// frame follows it.
const sniffLen = 8192

// Sniff names the format of the data that head starts with, from magic
// bytes alone, after skipping any ID3v2 tag. Data of an unsupported or
// unknown format gives an error wrapping ErrUnsupported that says what was
// found; no data gives ErrEmpty.
func Sniff(head []byte) (Format, error) {
	f, _, err := sniffAt(bytes.NewReader(head), int64(len(head)))
	return f, err
}

// sniffAt sniffs the data in r and also returns the offset at which the
// audio starts (after ID3v2 tags).
func sniffAt(r io.ReaderAt, size int64) (Format, int64, error) {
	if size == 0 {
		return "", 0, fmt.Errorf("%w: the file is empty", ErrEmpty)
	}
	start, err := skipID3v2(r, size)
	if err != nil {
		return "", 0, err
	}
	if start >= size {
		return "", 0, fmt.Errorf("%w: only an ID3 tag, no audio after it", ErrEmpty)
	}
	n := min(size-start, sniffLen)
	head := make([]byte, n)
	if _, err := r.ReadAt(head, start); err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	f, err := sniffHead(head, start > 0)
	return f, start, err
}

// skipID3v2 returns the offset just past any ID3v2 tags at the start
// (taggers sometimes stack several).
func skipID3v2(r io.ReaderAt, size int64) (int64, error) {
	var off int64
	var h [10]byte
	for {
		if size-off < 10 {
			return off, nil
		}
		if _, err := r.ReadAt(h[:], off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		n, ok := id3v2Size(h[:])
		if !ok {
			return off, nil
		}
		off += n
		if off > size {
			return 0, fmt.Errorf("%w: the ID3v2 tag claims %d bytes, more than the file holds", ErrCorrupt, n)
		}
	}
}

// id3v2Size returns the total size of the ID3v2 tag whose 10-byte header
// is h (ID3v2.4 §3.1: a syncsafe size, plus a 10-byte footer when flagged).
func id3v2Size(h []byte) (int64, bool) {
	if len(h) < 10 || string(h[:3]) != "ID3" || h[3] == 0xff || h[4] == 0xff ||
		(h[6]|h[7]|h[8]|h[9])&0x80 != 0 {
		return 0, false
	}
	n := int64(h[6])<<21 | int64(h[7])<<14 | int64(h[8])<<7 | int64(h[9])
	n += 10
	if h[5]&0x10 != 0 {
		n += 10
	}
	return n, true
}

// sniffHead names the format of head, the first bytes after any ID3v2
// tags. afterID3 relaxes the MPEG check: behind an ID3 tag, an MPEG frame
// may follow some padding.
func sniffHead(head []byte, afterID3 bool) (Format, error) {
	has := func(off int, magic string) bool {
		return len(head) >= off+len(magic) && string(head[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "RIFF") && has(8, "WAVE"):
		return WAV, nil
	case has(0, "fLaC"):
		return FLAC, nil
	case has(4, "ftyp"):
		return AAC, nil
	case has(0, "RIFF"):
		return "", unsupported("RIFF file that is not WAVE (form type %q)", printable(head[min(8, len(head)):min(12, len(head))]))
	case has(0, "RIFX"):
		return "", unsupported("big-endian WAV (RIFX) is not supported")
	case has(0, "RF64"), has(0, "BW64"):
		return "", unsupported("RF64/BW64 (64-bit WAV) is not supported")
	case has(0, "OggS"):
		return "", unsupported("Ogg container (Vorbis/Opus/FLAC in Ogg) is not supported")
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return AIFF, nil
	case has(0, "\x1aE\xdf\xa3"):
		return "", unsupported("Matroska/WebM container is not supported")
	case has(0, "caff"):
		return CAF, nil
	case has(0, "wvpk"):
		return "", unsupported("WavPack is not supported")
	case has(0, "MAC "):
		return "", unsupported("Monkey's Audio (APE) is not supported")
	case has(0, "DSD "), has(0, "FRM8"):
		return "", unsupported("DSD audio is not supported")
	case has(0, "#!AMR"):
		return "", unsupported("AMR is not supported")
	case has(0, "MThd"):
		return "", unsupported("MIDI is not audio")
	case has(0, ".snd"):
		return "", unsupported("Sun/NeXT .au audio is not supported")
	case has(0, "TTA1"):
		return "", unsupported("True Audio (TTA) is not supported")
	case has(0, "riff\x2e\x91\xcf\x11"):
		// Sony Wave64: "riff" and the rest of its chunk GUID.
		return "", unsupported("Sony Wave64 (W64) is not supported")
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		// The ASF header object's GUID.
		return "", unsupported("ASF container (WMA) is not supported")
	}
	if f, err, ok := sniffMPEG(head, afterID3); ok {
		return f, err
	}
	// Checked after MPEG, whose sync may follow junk: an AC-3 or E-AC-3
	// stream starts with its own sync word (ATSC A/52, §5.4.1).
	if has(0, "\x0b\x77") {
		return "", unsupported("AC-3 (Dolby Digital) is not supported")
	}
	n := min(len(head), 8)
	return "", unsupported("unknown format: first bytes % x", head[:n])
}

// sniffMPEG recognises an ADTS AAC stream or an MPEG audio (MP3) stream.
// Without an ID3 tag the frame must start the data and be followed by a
// second frame, so a text or binary file that happens to begin with 0xFF
// is not taken for audio.
func sniffMPEG(head []byte, afterID3 bool) (Format, error, bool) {
	limit := 1
	if afterID3 {
		limit = len(head) - 4
	}
	for i := 0; i < limit && i+4 <= len(head); i++ {
		if head[i] != 0xff {
			if afterID3 && head[i] != 0 {
				break // not padding: give up
			}
			continue
		}
		if fl, ok := adtsFrameLen(head[i:]); ok {
			if i+fl+2 > len(head) || head[i+fl] == 0xff && head[i+fl+1]&0xf6 == 0xf0 {
				return AAC, nil, true
			}
		}
		if freeFormatMP3(head[i:]) {
			return "", unsupported("free-format MP3 (its frame headers give no bitrate) is not supported"), true
		}
		if h, ok := parseMPEGHeader(head[i:]); ok {
			if !h.layer3() {
				return "", unsupported("MPEG audio layer %s is not supported (only layer III, MP3)", []string{"", "III", "II", "I"}[h.layer]), true
			}
			if h.version == mpeg25 {
				return "", unsupported("MPEG 2.5 layer III is not supported"), true
			}
			next := i + h.size()
			if next+4 > len(head) {
				return MP3, nil, true
			}
			if h2, ok := parseMPEGHeader(head[next:]); ok && h2.sampleRate() == h.sampleRate() {
				return MP3, nil, true
			}
			if afterID3 {
				return MP3, nil, true
			}
		}
	}
	return "", nil, false
}

// freeFormatMP3 reports whether b starts with an MPEG-1 or MPEG-2 layer
// III frame header whose bitrate index is 0, "free format": its frame
// size is in no header, and go-mp3 cannot decode it.
func freeFormatMP3(b []byte) bool {
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return false
	}
	version, layer := int(b[1]>>3)&3, int(b[1]>>1)&3
	return version != 1 && version != mpeg25 && layer == 1 && b[2]>>4 == 0 && (b[2]>>2)&3 != 3
}

// unsupported makes an ErrUnsupported error saying what was found.
func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// printable returns b with non-printable bytes replaced, for messages.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
