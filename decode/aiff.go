package decode

import (
	"encoding/binary"
	"fmt"
	"math"
)

// AIFF-C compression types that hold plain samples (Apple, "Audio
// Interchange File Format AIFF-C", draft of 1991, and QuickTime's
// additions), with the layout each means.
var aifcPCM = map[string]pcmFormat{
	"NONE": {bigEndian: true, signed8: true},
	"twos": {bigEndian: true, signed8: true},
	"sowt": {signed8: true}, // little-endian
	"raw ": {bits: 8},       // 8-bit offset binary, as WAV's
	"in24": {bits: 24, bigEndian: true},
	"42ni": {bits: 24},
	"in32": {bits: 32, bigEndian: true},
	"23ni": {bits: 32},
	"fl32": {bits: 32, float: true, bigEndian: true},
	"FL32": {bits: 32, float: true, bigEndian: true},
	"fl64": {bits: 64, float: true, bigEndian: true},
	"FL64": {bits: 64, float: true, bigEndian: true},
}

// aifcNames names the compressed AIFF-C codecs met in practice, for the
// error that refuses them.
var aifcNames = map[string]string{
	"ulaw": "µ-law", "ULAW": "µ-law", "alaw": "A-law", "ALAW": "A-law",
	"ima4": "IMA ADPCM", "MAC3": "MACE 3:1", "MAC6": "MACE 6:1",
	"GSM ": "GSM", "QDMC": "QDesign", "QDM2": "QDesign 2", "Qclp": "Qualcomm PureVoice",
	"DWVW": "DWVW", "alac": "Apple Lossless",
}

// decodeAIFF reads an AIFF or AIFF-C file (Apple, "Audio Interchange File
// Format" 1.3, 1989): big-endian chunks in any order, of which COMM says
// how the samples are laid out and SSND holds them. Integer samples of 1
// to 32 bits are stored left-justified in whole bytes, so they convert as
// the container size does, exactly as ffmpeg converts them. Channels come
// in the file's order, which for two channels is WAV's (left, right).
func decodeAIFF(in *input) (*Audio, error) {
	hdr := make([]byte, 12)
	if _, err := in.r.ReadAt(hdr, in.start); err != nil {
		return nil, fmt.Errorf("%w: AIFF header: %v", ErrCorrupt, err)
	}
	aifc := string(hdr[8:12]) == "AIFC"
	var f *pcmFormat
	var frames int64
	var dataOff, dataSize int64 = -1, 0
	err := walkChunks(in, binary.BigEndian, func(id string, body, size int64) (bool, error) {
		switch id {
		case "COMM":
			var err error
			f, frames, err = readAIFFCommon(in, body, size, aifc)
			return err != nil, err
		case "SSND":
			// offset and blockSize come first; the samples start offset
			// bytes after them.
			var b [8]byte
			if _, err := in.r.ReadAt(b[:], body); err != nil || size < 8 {
				return true, fmt.Errorf("%w: the AIFF SSND chunk ends in its header", ErrCorrupt)
			}
			skip := int64(binary.BigEndian.Uint32(b[:]))
			dataOff, dataSize = body+8+skip, size-8-skip
			if dataSize < 0 {
				return true, fmt.Errorf("%w: the AIFF SSND chunk's data offset %d lies past its end", ErrCorrupt, skip)
			}
			if left := in.size - dataOff; dataSize > left {
				return true, fmt.Errorf("%w: the AIFF SSND chunk claims %d bytes of samples, the file holds %d", ErrCorrupt, dataSize, max(0, left))
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("%w: AIFF has no COMM chunk", ErrCorrupt)
	}
	if dataOff < 0 || frames == 0 {
		return nil, fmt.Errorf("%w: AIFF has no samples", ErrEmpty)
	}
	frameBytes := int64(f.bits / 8 * f.channels)
	if held := dataSize / frameBytes; held < frames {
		return nil, fmt.Errorf("%w: AIFF COMM announces %d sample frames, SSND holds %d", ErrCorrupt, frames, held)
	}
	return readPCM(in, f, dataOff, frames*frameBytes)
}

// readAIFFCommon parses the COMM chunk at off: channels, sample frames,
// sample size and rate, and in AIFF-C the compression type.
func readAIFFCommon(in *input, off, size int64, aifc bool) (*pcmFormat, int64, error) {
	need := int64(18)
	if aifc {
		need = 22
	}
	if size < need {
		return nil, 0, fmt.Errorf("%w: AIFF COMM chunk of %d bytes", ErrCorrupt, size)
	}
	b := make([]byte, need)
	if _, err := in.r.ReadAt(b, off); err != nil {
		return nil, 0, fmt.Errorf("%w: AIFF COMM chunk: %v", ErrCorrupt, err)
	}
	be := binary.BigEndian
	channels := int(int16(be.Uint16(b)))
	frames := int64(be.Uint32(b[2:]))
	bits := int(int16(be.Uint16(b[6:])))
	rate := extended(b[8:18])
	f := pcmFormat{bigEndian: true, signed8: true}
	if aifc {
		typ := b[18:22]
		layout, ok := aifcPCM[string(typ)]
		if !ok {
			if name := aifcNames[string(typ)]; name != "" {
				return nil, 0, unsupported("AIFF-C with %s compression is not supported", name)
			}
			return nil, 0, unsupported("AIFF-C compression %q is not supported", printable(typ))
		}
		f = layout
		if f.bits != 0 {
			bits = f.bits
		}
	}
	f.container = "AIFF"
	if channels <= 0 {
		return nil, 0, fmt.Errorf("%w: AIFF with %d channels", ErrCorrupt, channels)
	}
	if bits < 1 || bits > 32 && !f.float {
		return nil, 0, fmt.Errorf("%w: AIFF with %d bits per sample", ErrCorrupt, bits)
	}
	if err := checkRate("AIFF", rate); err != nil {
		return nil, 0, err
	}
	f.channels = channels
	// Rates such as the old Macintosh 22254.5454 Hz round to whole hertz:
	// 0.002 % off, far below anything the analysis could notice.
	f.rate = int(math.Round(rate))
	f.bits = (bits + 7) / 8 * 8
	return &f, frames, nil
}

// extended converts an IEEE 754 80-bit extended-precision number (the
// 68881's format, which AIFF uses for the sample rate) to a float64.
func extended(b []byte) float64 {
	exp := int(binary.BigEndian.Uint16(b) & 0x7fff)
	mant := binary.BigEndian.Uint64(b[2:])
	if exp == 0x7fff {
		return math.NaN()
	}
	v := math.Ldexp(float64(mant), exp-16383-63)
	if b[0]&0x80 != 0 {
		v = -v
	}
	return v
}
