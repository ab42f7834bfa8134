package decode

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Core Audio Format, as in Apple's "Core Audio Format Specification"
// (2006): a header, then chunks with 64-bit sizes, the stream description
// ('desc') first. songflow reads linear PCM, Apple Lossless and AAC from it.

// cafDesc is a CAF 'desc' chunk: an AudioStreamBasicDescription.
type cafDesc struct {
	rate            float64
	formatID        string
	flags           uint32
	bytesPerPacket  uint32
	framesPerPacket uint32
	channels        uint32
	bits            uint32
}

// CAF linear PCM format flags.
const (
	cafFloat        = 1 << 0
	cafLittleEndian = 1 << 1
)

// cafCodecs names the codecs a CAF file may hold that songflow does not
// decode, for the error message.
var cafCodecs = map[string]string{
	"ima4": "IMA ADPCM", "ulaw": "µ-law", "alaw": "A-law",
	".mp3": "MP3", "opus": "Opus", "flac": "FLAC", "samr": "AMR", "MAC3": "MACE 3:1", "MAC6": "MACE 6:1",
}

// cafChunkLimit bounds the chunks read into memory whole (the cookie,
// the packet table, the info strings): a packet table for ten hours of
// ALAC takes under 1 MB.
const cafChunkLimit = 16 << 20

// decodeCAF reads a CAF file holding linear PCM, ALAC or AAC.
func decodeCAF(in *input) (*Audio, error) {
	be := binary.BigEndian
	var hdr [8]byte
	if _, err := in.r.ReadAt(hdr[:], in.start); err != nil {
		return nil, fmt.Errorf("%w: CAF header: %v", ErrCorrupt, err)
	}
	if v := be.Uint16(hdr[4:]); v != 1 {
		return nil, unsupported("CAF version %d is not supported", v)
	}
	var (
		desc              *cafDesc
		cookie, pakt      []byte
		dataOff, dataSize int64 = -1, 0
		tags              map[string]string
	)
	read := func(off, size int64, what string) ([]byte, error) {
		if size > cafChunkLimit {
			return nil, fmt.Errorf("%w: CAF %s chunk of %d bytes", ErrCorrupt, what, size)
		}
		b := make([]byte, size)
		if _, err := in.r.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("%w: CAF %s chunk: %v", ErrCorrupt, what, err)
		}
		return b, nil
	}
	// Zeros read as empty chunks, 12 bytes each: the window keeps
	// millions of them cheap.
	w := &window{r: in.r, size: in.size}
	for off := in.start + 8; off+12 <= in.size; {
		if err := in.ctx.Err(); err != nil {
			return nil, err
		}
		ch := w.at(off, 12)
		if ch == nil {
			return nil, fmt.Errorf("%w: cannot read the CAF chunk header at byte %d", ErrCorrupt, off)
		}
		typ, size, body := string(ch[:4]), int64(be.Uint64(ch[4:])), off+12
		if size == -1 && typ == "data" {
			// A recorder that could not go back to write the size: the
			// data runs to the end of the file.
			size = in.size - body
		}
		if size < 0 || size > in.size-body {
			if typ == "data" && size > 0 {
				return nil, fmt.Errorf("%w: the CAF data chunk claims %d bytes, the file holds %d", ErrCorrupt, size, in.size-body)
			}
			return nil, fmt.Errorf("%w: CAF %q chunk of %d bytes at byte %d", ErrCorrupt, printable(ch[:4]), size, off)
		}
		if desc == nil && typ != "desc" {
			return nil, fmt.Errorf("%w: the CAF file does not start with its stream description", ErrCorrupt)
		}
		var err error
		switch typ {
		case "desc":
			var b []byte
			if b, err = read(body, min(size, 32), "desc"); err == nil && len(b) < 32 {
				err = fmt.Errorf("%w: CAF desc chunk of %d bytes", ErrCorrupt, len(b))
			}
			if err == nil {
				desc = &cafDesc{
					rate:     math.Float64frombits(be.Uint64(b)),
					formatID: string(b[8:12]), flags: be.Uint32(b[12:]),
					bytesPerPacket: be.Uint32(b[16:]), framesPerPacket: be.Uint32(b[20:]),
					channels: be.Uint32(b[24:]), bits: be.Uint32(b[28:]),
				}
			}
		case "kuki":
			cookie, err = read(body, size, "magic cookie")
		case "pakt":
			pakt, err = read(body, size, "packet table")
		case "info":
			var b []byte
			if b, err = read(body, size, "info"); err == nil {
				tags = cafInfo(b)
			}
		case "data":
			// An edit count comes before the audio.
			dataOff, dataSize = body+4, size-4
		}
		if err != nil {
			return nil, err
		}
		off = body + size
	}
	if desc == nil {
		return nil, fmt.Errorf("%w: the CAF file has no stream description", ErrCorrupt)
	}
	if err := checkRate("CAF", desc.rate); err != nil {
		return nil, err
	}
	if desc.channels == 0 || desc.channels > 64 {
		return nil, fmt.Errorf("%w: CAF with %d channels", ErrCorrupt, desc.channels)
	}
	if dataOff < 0 || dataSize <= 0 {
		return nil, fmt.Errorf("%w: the CAF file has no audio data", ErrEmpty)
	}
	rate := int(math.Round(desc.rate))
	var a *Audio
	var err error
	switch desc.formatID {
	case "lpcm":
		a, err = cafPCM(in, desc, rate, dataOff, dataSize)
	case "alac":
		a, err = cafALAC(in, desc, rate, cookie, pakt, dataOff, dataSize)
	case "aac ":
		a, err = cafAAC(in, desc, rate, cookie, pakt, dataOff, dataSize)
	default:
		name := cafCodecs[desc.formatID]
		if name == "" {
			name = strconv.Quote(printable([]byte(desc.formatID)))
		}
		return nil, unsupported("CAF holding %s is not supported (linear PCM, Apple Lossless and AAC are)", name)
	}
	if err != nil {
		return nil, err
	}
	a.Title, a.Artist = tags["title"], tags["artist"]
	if bpm, err := strconv.ParseFloat(strings.TrimSpace(tags["tempo"]), 64); err == nil && bpm > 0 && bpm < 1000 {
		a.TagBPM = bpm
	}
	a.TagKey = strings.TrimSpace(tags["key signature"])
	return a, nil
}

// cafPCM reads the linear PCM samples of a CAF data chunk.
func cafPCM(in *input, d *cafDesc, rate int, off, size int64) (*Audio, error) {
	f := &pcmFormat{
		container: "CAF",
		float:     d.flags&cafFloat != 0,
		bigEndian: d.flags&cafLittleEndian == 0,
		signed8:   true,
		channels:  int(d.channels),
		rate:      rate,
		bits:      int(d.bits),
	}
	ok := d.framesPerPacket == 1 && d.bytesPerPacket == d.channels*d.bits/8
	if f.float {
		ok = ok && (d.bits == 32 || d.bits == 64)
	} else {
		ok = ok && (d.bits == 8 || d.bits == 16 || d.bits == 24 || d.bits == 32)
	}
	if !ok {
		return nil, unsupported("CAF linear PCM of %d bits in %d-byte packets of %d frames is not supported", d.bits, d.bytesPerPacket, d.framesPerPacket)
	}
	return readPCM(in, f, off, size)
}

// cafALAC decodes the Apple Lossless packets of a CAF data chunk, which
// the packet table lists.
func cafALAC(in *input, d *cafDesc, rate int, cookie, pakt []byte, off, size int64) (*Audio, error) {
	// The cookie may come wrapped as in a QuickTime sound description.
	for _, atom := range []string{"frma", "alac"} {
		if len(cookie) >= 12 && string(cookie[4:8]) == atom {
			cookie = cookie[12:]
		}
	}
	cfg, err := parseALACConfig(cookie)
	if err != nil {
		return nil, err
	}
	if cfg.channels != int(d.channels) {
		return nil, fmt.Errorf("%w: CAF says %d channels, its ALAC config %d", ErrCorrupt, d.channels, cfg.channels)
	}
	t, err := readPacketTable(pakt, "ALAC", int64(cfg.frameLength), off, size)
	if err != nil {
		return nil, err
	}
	return decodeALAC(in, cfg, int64(rate), t.priming, t.valid, t.walk)
}

// cafAAC decodes the AAC packets of a CAF data chunk, which the packet
// table lists; the cookie is an MPEG-4 ES descriptor.
func cafAAC(in *input, d *cafDesc, rate int, cookie, pakt []byte, off, size int64) (*Audio, error) {
	oti, asc := esDescriptor(cookie)
	if len(asc) == 0 {
		return nil, fmt.Errorf("%w: the CAF AAC stream has no decoder config", ErrCorrupt)
	}
	if oti != 0x40 && oti != 0x66 && oti != 0x67 && oti != 0x68 {
		return nil, unsupported("CAF holding MPEG-4 object type 0x%02x as AAC is not supported", oti)
	}
	t, err := readPacketTable(pakt, "AAC", int64(max(d.framesPerPacket, 1)), off, size)
	if err != nil {
		return nil, err
	}
	return decodeAACFrames(in, asc, int64(rate), t.priming, t.valid, t.walk)
}

// cafPackets is a CAF packet table ('pakt'): where each packet of the
// data chunk lies, and which of the frames they decode to are the song.
type cafPackets struct {
	codec          string // for messages
	count          int64
	valid, priming int64 // frames
	sizes          []byte
	off, size      int64 // the data chunk's audio
}

// readPacketTable reads a packet table for packets of perPacket frames
// lying in size bytes at off.
func readPacketTable(pakt []byte, codec string, perPacket, off, size int64) (*cafPackets, error) {
	if len(pakt) < 24 {
		return nil, fmt.Errorf("%w: the CAF %s stream has no packet table", ErrCorrupt, codec)
	}
	be := binary.BigEndian
	t := &cafPackets{codec: codec, count: int64(be.Uint64(pakt)), valid: int64(be.Uint64(pakt[8:])),
		priming: int64(int32(be.Uint32(pakt[16:]))), sizes: pakt[24:], off: off, size: size}
	if t.count < 0 || t.valid < 0 || t.priming < 0 {
		return nil, fmt.Errorf("%w: CAF packet table of %d packets, %d frames, %d priming", ErrCorrupt, t.count, t.valid, t.priming)
	}
	if t.valid == 0 {
		// No count of valid frames: every packet's, less the priming.
		t.valid = max(0, min(t.count, 1<<32)*perPacket-t.priming)
	}
	return t, nil
}

// walk is the packets' frameWalker: their sizes follow one another in the
// table, their bytes in the data chunk.
func (t *cafPackets) walk(maxSize uint32, fn func(i uint64, off int64, size uint32) (bool, error)) error {
	sizes := t.sizes
	at, end := t.off, t.off+t.size
	for i := int64(0); i < t.count; i++ {
		// Each packet's size, in bytes, as a big-endian base-128
		// number whose bytes but the last have the top bit set.
		var n uint64
		for k := 0; ; k++ {
			if len(sizes) == 0 || k == 5 {
				return fmt.Errorf("%w: CAF packet table ends at packet %d of %d", ErrCorrupt, i, t.count)
			}
			b := sizes[0]
			sizes = sizes[1:]
			n = n<<7 | uint64(b&0x7f)
			if b&0x80 == 0 {
				break
			}
		}
		if n > uint64(maxSize) {
			return fmt.Errorf("%w: %s packet %d claims %d bytes", ErrCorrupt, t.codec, i, n)
		}
		if int64(n) > end-at {
			return fmt.Errorf("%w: %s packet %d at byte %d runs past the end of the CAF data (%d bytes)", ErrCorrupt, t.codec, i, at, end)
		}
		more, err := fn(uint64(i), at, uint32(n))
		if err != nil || !more {
			return err
		}
		at += int64(n)
	}
	return nil
}

// cafInfo reads the string pairs of a CAF 'info' chunk: a count, then
// each key and value, NUL-terminated UTF-8.
func cafInfo(b []byte) map[string]string {
	if len(b) < 4 {
		return nil
	}
	n := binary.BigEndian.Uint32(b)
	fields := strings.Split(string(b[4:]), "\x00")
	out := make(map[string]string)
	for i := 0; uint32(i/2) < n && i+1 < len(fields); i += 2 {
		out[strings.ToLower(fields[i])] = fields[i+1]
	}
	return out
}
