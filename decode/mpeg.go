package decode

// MPEG audio frame headers (ISO/IEC 11172-3 §2.4.2.3, ISO/IEC 13818-3 for
// the low sample rates) and ADTS headers (ISO/IEC 13818-7 §6.2).

// MPEG versions as coded in the header's two version bits.
const (
	mpeg25 = 0
	mpeg2  = 2
	mpeg1  = 3
)

// mpegHeader is a parsed 4-byte MPEG audio frame header.
type mpegHeader struct {
	version int // mpeg1, mpeg2 or mpeg25
	layer   int // 1 = layer III, 2 = layer II, 3 = layer I (as coded)
	crc     bool
	bitrate int // kbit/s
	// bitrateIndex is the header's code for the bitrate.
	bitrateIndex int
	rateIdx      int
	padding      int
	mono         bool
}

var (
	mpegRates = [4][3]int{
		mpeg1:  {44100, 48000, 32000},
		mpeg2:  {22050, 24000, 16000},
		mpeg25: {11025, 12000, 8000},
	}
	// Bitrates in kbit/s by index, for MPEG-1 layer III and for MPEG-2/2.5
	// layer III (the only layer decoded; the others are only recognised).
	mp3Bitrates1 = [15]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}
	mp3Bitrates2 = [15]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}
	// Layer I and II bitrates, only to size their frames while sniffing.
	mp1Bitrates1 = [15]int{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448}
	mp2Bitrates1 = [15]int{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384}
	mp1Bitrates2 = [15]int{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256}
)

// parseMPEGHeader parses the frame header at the start of b. Free-format
// frames (bitrate index 0) are rejected: their size is not in the header.
func parseMPEGHeader(b []byte) (mpegHeader, bool) {
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return mpegHeader{}, false
	}
	h := mpegHeader{
		version: int(b[1]>>3) & 3,
		layer:   int(b[1]>>1) & 3,
		crc:     b[1]&1 == 0,
		rateIdx: int(b[2]>>2) & 3,
		padding: int(b[2]>>1) & 1,
		mono:    b[3]>>6 == 3,
	}
	bi := int(b[2] >> 4)
	h.bitrateIndex = bi
	if h.version == 1 || h.layer == 0 || bi == 0 || bi == 15 || h.rateIdx == 3 {
		return mpegHeader{}, false
	}
	switch {
	case h.layer == 1 && h.version == mpeg1:
		h.bitrate = mp3Bitrates1[bi]
	case h.layer == 1 || h.layer == 2 && h.version != mpeg1:
		h.bitrate = mp3Bitrates2[bi]
	case h.layer == 2:
		h.bitrate = mp2Bitrates1[bi]
	case h.version == mpeg1:
		h.bitrate = mp1Bitrates1[bi]
	default:
		h.bitrate = mp1Bitrates2[bi]
	}
	return h, true
}

func (h mpegHeader) layer3() bool { return h.layer == 1 }

// goMP3Short reports whether go-mp3 takes the frame for a byte shorter
// than it is: an MPEG-2 layer III frame, padded, whose unpadded size in
// half bytes, 144·bitrate/rate, is even (lsfRepacker).
func (h mpegHeader) goMP3Short() bool {
	return h.layer3() && h.version == mpeg2 && h.padding == 1 && 144*h.bitrate*1000/h.sampleRate()%2 == 0
}

func (h mpegHeader) sampleRate() int { return mpegRates[h.version][h.rateIdx] }

// samples returns the samples per channel in the frame.
func (h mpegHeader) samples() int {
	switch {
	case h.layer == 3:
		return 384
	case h.layer == 1 && h.version != mpeg1:
		return 576
	}
	return 1152
}

// size returns the frame's length in bytes, header included.
func (h mpegHeader) size() int {
	if h.layer == 3 {
		return (12*h.bitrate*1000/h.sampleRate() + h.padding) * 4
	}
	return h.samples()/8*h.bitrate*1000/h.sampleRate() + h.padding
}

// sideInfoSize returns the length of the layer III side information, after
// which a Xing/Info header sits in the first frame.
func (h mpegHeader) sideInfoSize() int {
	switch {
	case h.version == mpeg1 && h.mono:
		return 17
	case h.version == mpeg1:
		return 32
	case h.mono:
		return 9
	}
	return 17
}

// adtsSampleRates are the sampling frequencies by index (ISO/IEC 14496-3
// Table 1.18).
var adtsSampleRates = [16]int{96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}

// adtsHeader is a parsed ADTS frame header.
type adtsHeader struct {
	profile  int // audio object type - 1
	rateIdx  int
	channels int
	length   int // frame length, header included
	hdrLen   int // 7, or 9 with CRC
	blocks   int // raw data blocks in the frame
}

// parseADTS parses the ADTS header at the start of b.
func parseADTS(b []byte) (adtsHeader, bool) {
	if len(b) < 7 || b[0] != 0xff || b[1]&0xf6 != 0xf0 {
		return adtsHeader{}, false
	}
	h := adtsHeader{
		profile:  int(b[2] >> 6),
		rateIdx:  int(b[2]>>2) & 0xf,
		channels: int(b[2]&1)<<2 | int(b[3]>>6),
		length:   int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5]>>5),
		hdrLen:   7,
		blocks:   int(b[6]&3) + 1,
	}
	if b[1]&1 == 0 {
		h.hdrLen = 9
	}
	if adtsSampleRates[h.rateIdx] == 0 || h.length <= h.hdrLen {
		return adtsHeader{}, false
	}
	return h, true
}

// adtsFrameLen returns the length of the ADTS frame at the start of b.
func adtsFrameLen(b []byte) (int, bool) {
	h, ok := parseADTS(b)
	return h.length, ok
}
