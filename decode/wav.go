package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/songflow/songflow/dsp"
)

// WAV format tags (Microsoft RIFF/WAVE, mmreg.h).
const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavALaw       = 0x0006
	wavMuLaw      = 0x0007
	wavExtensible = 0xfffe
)

// pcmFormat says how uncompressed samples are laid out: what a WAV fmt
// chunk or an AIFF COMM chunk says about them.
type pcmFormat struct {
	container string // "WAV" or "AIFF", for messages
	float     bool
	channels  int
	rate      int
	bits      int // container bits per sample
	// layout is WAVE_FORMAT_EXTENSIBLE's channel mask; 0 when the file
	// gives none.
	layout dsp.ChannelMask
	// bigEndian: bytes most significant first (AIFF); signed8: 8-bit
	// samples are two's complement (AIFF) rather than offset by 128 (WAV).
	bigEndian, signed8 bool
}

// wavStreamingSize is the data size some recorders leave in the header
// when they could not go back to fill it in; it means "to the end", as
// does a data size of 0 (ffmpeg reads both so).
const wavStreamingSize = 0xffffffff

// decodeWAV reads a RIFF/WAVE file: chunks are walked in order (LIST, fact,
// bext, … are skipped, odd sizes padded), the fmt chunk must come before
// data, and the samples are converted the way ffmpeg converts them to
// float, so the result is bit-exact with ffmpeg's.
func decodeWAV(in *input) (*Audio, error) {
	var hdr [12]byte
	if _, err := in.r.ReadAt(hdr[:], in.start); err != nil {
		return nil, fmt.Errorf("%w: WAV header: %v", ErrCorrupt, err)
	}
	var fmtc *pcmFormat
	var audio *Audio
	err := walkChunks(in, binary.LittleEndian, func(id string, body, size int64) (bool, error) {
		switch id {
		case "fmt ":
			f, err := readWAVFormat(in, body, size)
			if err != nil {
				return true, err
			}
			fmtc = f
		case "data":
			if fmtc == nil {
				return true, fmt.Errorf("%w: WAV data chunk before its fmt chunk", ErrCorrupt)
			}
			left := in.size - body
			if size == 0 {
				size = left
			}
			if size > left {
				if size != wavStreamingSize {
					return true, fmt.Errorf("%w: the WAV data chunk claims %d bytes, the file holds %d", ErrCorrupt, size, left)
				}
				size = left
			}
			a, err := readPCM(in, fmtc, body, size)
			audio = a
			return true, err
		}
		return false, nil
	})
	if audio != nil || err != nil {
		return audio, err
	}
	if fmtc == nil {
		return nil, fmt.Errorf("%w: WAV has no fmt chunk", ErrCorrupt)
	}
	return nil, fmt.Errorf("%w: WAV has no data chunk", ErrEmpty)
}

// readWAVFormat parses the fmt chunk at off.
func readWAVFormat(in *input, off, size int64) (*pcmFormat, error) {
	if size < 16 {
		return nil, fmt.Errorf("%w: WAV fmt chunk of %d bytes", ErrCorrupt, size)
	}
	b := make([]byte, min(size, 40))
	if _, err := in.r.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("%w: WAV fmt chunk: %v", ErrCorrupt, err)
	}
	le := binary.LittleEndian
	tag := le.Uint16(b)
	f := &pcmFormat{
		container: "WAV",
		channels:  int(le.Uint16(b[2:])),
		rate:      int(le.Uint32(b[4:])),
		bits:      int(le.Uint16(b[14:])),
	}
	if tag == wavExtensible {
		if len(b) < 40 {
			return nil, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes", ErrCorrupt, size)
		}
		// The sub-format GUID starts with the plain format tag.
		tag = le.Uint16(b[24:])
		f.layout = dsp.ChannelMask(le.Uint32(b[20:]))
	}
	switch tag {
	case wavPCM:
		if f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32 {
			return nil, unsupported("WAV PCM with %d bits per sample", f.bits)
		}
	case wavFloat:
		if f.bits != 32 && f.bits != 64 {
			return nil, unsupported("WAV float with %d bits per sample", f.bits)
		}
		f.float = true
	case wavALaw:
		return nil, unsupported("WAV A-law is not supported")
	case wavMuLaw:
		return nil, unsupported("WAV µ-law is not supported")
	default:
		return nil, unsupported("WAV codec 0x%04x is not supported", tag)
	}
	if f.channels == 0 {
		return nil, fmt.Errorf("%w: WAV with 0 channels", ErrCorrupt)
	}
	if err := checkRate("WAV", float64(f.rate)); err != nil {
		return nil, err
	}
	return f, nil
}

// maxRate is the highest sample rate accepted; higher claims are damage.
const maxRate = 768000

// minRate is the lowest sample rate accepted: below 1 kHz a signal holds
// nothing of music above 500 Hz, and the analysis could not resample it
// (the ratio to its rate would pass 256). Telephone audio, 8 kHz, passes.
const minRate = 1000

// checkRate refuses the sample rate a header of the given container or
// codec states when it lies outside [minRate, maxRate], naming the rate
// and the range. Every decoder calls it as soon as it knows the rate,
// before the song's length is worked out from it: a damaged header's
// 1 Hz would otherwise make a second of audio "too long" at 44100 s, an
// error that sends the user looking for the wrong fault. A rate above
// maxRate, or none at all, is damage; one below minRate may be real (a
// data logger's) but is not audio songflow analyses.
func checkRate(what string, rate float64) error {
	if rate >= minRate && rate <= maxRate {
		return nil
	}
	kind := ErrUnsupported
	if !(rate > 0) || rate > maxRate {
		kind = ErrCorrupt
	}
	// Whole hertz in full, not as 1e+06; an absurd claim as %g does.
	hz := strconv.FormatFloat(rate, 'f', -1, 64)
	if math.Abs(rate) >= 1e12 {
		hz = strconv.FormatFloat(rate, 'g', -1, 64)
	}
	return fmt.Errorf("%w: %s sample rate %s Hz, outside the %d–%d Hz songflow analyses", kind, what, hz, minRate, maxRate)
}

// readPCM converts size bytes of samples at off, block by block.
func readPCM(in *input, f *pcmFormat, off, size int64) (*Audio, error) {
	bps := f.bits / 8
	frameBytes := int64(bps * f.channels)
	frames := size / frameBytes
	if want := in.wantFrames(f.rate); want >= 0 && want < frames {
		frames = want
	} else if err := in.checkLength(float64(frames) / float64(f.rate)); err != nil {
		return nil, err
	}
	total := size / frameBytes
	chans := make([][]float32, f.channels)
	for c := range chans {
		chans[c] = make([]float32, frames)
	}
	// About 256 KB per read, whole frames only.
	blockFrames := max(1, (256<<10)/frameBytes)
	buf := make([]byte, min(frames, blockFrames)*frameBytes)
	for done := int64(0); done < frames; {
		if err := in.ctx.Err(); err != nil {
			return nil, err
		}
		n := min(frames-done, blockFrames)
		b := buf[:n*frameBytes]
		if _, err := in.r.ReadAt(b, off+done*frameBytes); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: reading %s data: %v", ErrCorrupt, f.container, err)
		}
		toWAVLayout(b, f)
		convertPCM(chans, int(done), b, f)
		done += n
	}
	return &Audio{
		Rate:           f.rate,
		Channels:       chans,
		Layout:         f.layout,
		SourceDuration: float64(total) / float64(f.rate),
	}, nil
}

// float32Exp masks a float32's exponent, all ones in NaN and ±Inf alone.
const float32Exp = 0x7f800000

// toWAVLayout rewrites AIFF samples in b in place into WAV's layout
// (little-endian, 8-bit offset by 128), so one conversion serves both.
func toWAVLayout(b []byte, f *pcmFormat) {
	if f.signed8 && f.bits == 8 {
		for i := range b {
			b[i] ^= 0x80
		}
	}
	if !f.bigEndian {
		return
	}
	switch n := f.bits / 8; n {
	case 2:
		for p := 0; p+2 <= len(b); p += 2 {
			b[p], b[p+1] = b[p+1], b[p]
		}
	case 3, 4, 8:
		for p := 0; p+n <= len(b); p += n {
			slices.Reverse(b[p : p+n])
		}
	}
}

// convertPCM de-interleaves the little-endian samples in b into chans
// starting at frame at. The scale factors are powers of two, as in ffmpeg's
// sample format conversion, so integer samples convert exactly (32-bit ones
// round to float32 first, as there).
//
// A float sample that is NaN or ±Inf as a float32 (a 64-bit one beyond
// float32's range too) is damage and reads as 0, silence, as a DAW plays
// it: passed on, one such sample makes every sum of the analysis it
// reaches NaN, and a whole song comes out with no energy and no key.
func convertPCM(chans [][]float32, at int, b []byte, f *pcmFormat) {
	nch := len(chans)
	le := binary.LittleEndian
	switch {
	case f.float && f.bits == 32:
		for c, ch := range chans {
			for i, p := at, c*4; p+4 <= len(b); i, p = i+1, p+nch*4 {
				v := le.Uint32(b[p:])
				if v&float32Exp == float32Exp {
					v = 0
				}
				ch[i] = math.Float32frombits(v)
			}
		}
	case f.float:
		for c, ch := range chans {
			for i, p := at, c*8; p+8 <= len(b); i, p = i+1, p+nch*8 {
				v := float32(math.Float64frombits(le.Uint64(b[p:])))
				if math.Float32bits(v)&float32Exp == float32Exp {
					v = 0
				}
				ch[i] = v
			}
		}
	case f.bits == 8:
		for c, ch := range chans {
			for i, p := at, c; p < len(b); i, p = i+1, p+nch {
				ch[i] = float32(int(b[p])-128) * (1.0 / 128)
			}
		}
	case f.bits == 16:
		for c, ch := range chans {
			for i, p := at, c*2; p+2 <= len(b); i, p = i+1, p+nch*2 {
				ch[i] = float32(int16(le.Uint16(b[p:]))) * (1.0 / (1 << 15))
			}
		}
	case f.bits == 24:
		for c, ch := range chans {
			for i, p := at, c*3; p+3 <= len(b); i, p = i+1, p+nch*3 {
				v := int32(uint32(b[p])<<8|uint32(b[p+1])<<16|uint32(b[p+2])<<24) >> 8
				ch[i] = float32(v) * (1.0 / (1 << 23))
			}
		}
	case f.bits == 32:
		for c, ch := range chans {
			for i, p := at, c*4; p+4 <= len(b); i, p = i+1, p+nch*4 {
				ch[i] = float32(int32(le.Uint32(b[p:]))) * (1.0 / (1 << 31))
			}
		}
	}
}
