package decode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	faad2 "github.com/llehouerou/go-faad2"

	"github.com/songflow/songflow/dsp"
)

// faadMu serialises every call into go-faad2. The library runs all its
// decoders inside one shared WebAssembly instance, whose C heap is not
// safe for concurrent use, so without this lock two songs decoding at
// once would corrupt each other. It is package state only because the
// library's instance is.
var faadMu sync.Mutex

// aacDecoder wraps a go-faad2 decoder: locked calls, panics turned into
// errors, and the output's real layout worked out from the first frame.
type aacDecoder struct {
	d        *faad2.Decoder
	channels int // output channels per faad2's init
}

func newAACDecoder(asc []byte) (dec *aacDecoder, err error) {
	faadMu.Lock()
	defer faadMu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			dec, err = nil, fmt.Errorf("%w: AAC decoder failed: %v", ErrCorrupt, p)
		}
	}()
	d, err := faad2.NewDecoder()
	if err != nil {
		return nil, fmt.Errorf("AAC decoder: %v", err)
	}
	if err := d.Init(asc); err != nil {
		d.Close()
		// faad2 refuses what it does not implement as it refuses damage;
		// a valid object type it lacks is not damage.
		if aot := ascObjectType(asc); aot > 0 && !aacDecoded[aot] {
			name := aacObjectTypes[aot]
			if name == "" {
				name = fmt.Sprintf("MPEG-4 audio object type %d", aot)
			}
			return nil, unsupported("%s is not supported (AAC config % x)", name, asc)
		}
		return nil, fmt.Errorf("%w: AAC config % x: %v", ErrCorrupt, asc, err)
	}
	if err := checkRate(fmt.Sprintf("AAC config % x gives the", asc), float64(d.SampleRate())); err != nil {
		d.Close()
		return nil, err
	}
	if d.Channels() == 0 {
		d.Close()
		return nil, fmt.Errorf("%w: AAC config % x gives 0 channels", ErrCorrupt, asc)
	}
	channels := int(d.Channels())
	if ascChannels(asc) == 7 && channels == 7 {
		// faad2's init reports the configuration's number, 7, for the
		// eight channels of configuration 7 (7.1) that it then decodes.
		channels = 8
	}
	return &aacDecoder{d: d, channels: channels}, nil
}

// aacDecoded holds the MPEG-4 audio object types (ISO/IEC 14496-3 Table
// 1.17) faad2 decodes: AAC Main, LC and LTP, with SBR (HE-AAC) and PS
// (HE-AAC v2), and the error-resilient LC, LTP and LD.
var aacDecoded = map[int]bool{1: true, 2: true, 4: true, 5: true, 17: true, 19: true, 23: true, 29: true}

// aacObjectTypes names the object types faad2 does not decode that files
// may carry.
var aacObjectTypes = map[int]string{
	3:  "AAC SSR",
	6:  "AAC Scalable",
	20: "ER AAC Scalable",
	22: "ER BSAC",
	36: "MPEG-4 ALS (lossless)",
	39: "AAC-ELD",
	42: "USAC (xHE-AAC)",
}

// ascObjectType returns the audio object type an AudioSpecificConfig
// starts with: 5 bits, or 32 plus the next 6 after the escape value 31;
// 0 when asc is too short.
func ascObjectType(asc []byte) int {
	if len(asc) == 0 {
		return 0
	}
	aot := int(asc[0] >> 3)
	if aot == 31 {
		if len(asc) < 2 {
			return 0
		}
		aot = 32 + (int(asc[0]&7)<<3 | int(asc[1]>>5))
	}
	return aot
}

// aacToWAVE lists, by channel configuration (ISO/IEC 14496-3 Table 1.19),
// which of faad2's output channels goes in each place of the WAVE order
// (L R C LFE, then the surround pairs) that WAV and FLAC give, that ffmpeg
// gives, and that loudness weighting expects. faad2 keeps the order of the
// bitstream's elements: the centre first, the LFE last.
var aacToWAVE = [8][]int{
	3: {1, 2, 0},
	4: {1, 2, 0, 3},
	5: {1, 2, 0, 3, 4},
	6: {1, 2, 0, 5, 3, 4},
	7: {1, 2, 0, 7, 5, 6, 3, 4},
}

// aacLayout is the speaker layout of n channels decoded for channel
// configuration config where it is not the default of the count:
// configuration 4 is C L R Cs, not quadraphony, and 7 is 7.1 with its
// extra pair in front (ISO/IEC 14496-3 Table 1.19).
func aacLayout(config, n int) dsp.ChannelMask {
	switch {
	case config == 4 && n == 4:
		return centreSurround
	case config == 7 && n == 8:
		return sevenOneFront
	}
	return 0
}

// toWAVEOrder puts the channels faad2 decoded for channel configuration
// config in WAVE order. Other configurations (0 is a layout the stream
// describes itself, which faad2 already follows) are left as they are.
func toWAVEOrder(chans [][]float32, config int) [][]float32 {
	if config < 0 || config >= len(aacToWAVE) || len(aacToWAVE[config]) != len(chans) {
		return chans
	}
	out := make([][]float32, len(chans))
	for i, from := range aacToWAVE[config] {
		out[i] = chans[from]
	}
	return out
}

func (a *aacDecoder) decode(frame []byte) (pcm []int16, err error) {
	faadMu.Lock()
	defer faadMu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			pcm, err = nil, fmt.Errorf("%w: AAC decoder failed: %v", ErrCorrupt, p)
		}
	}()
	return a.d.Decode(frame)
}

func (a *aacDecoder) close() {
	faadMu.Lock()
	defer faadMu.Unlock()
	defer func() { _ = recover() }()
	a.d.Close()
}

// aacSink collects decoded frames: it skips the first skip samples, keeps
// at most want, and learns the output rate from the frame length: 1024
// samples per frame at the core rate, 2048 when SBR doubles it (HE-AAC,
// and faad2 doubles every stream at 24 kHz or less in case it carries
// implicitly signalled SBR). skip and want are counted at the core rate.
type aacSink struct {
	coreRate int
	rate     int
	chans    [][]float32
	skip     int64
	want     int64 // -1 = all
	got      int64
	expect   int64 // samples per channel the stream announced
	// maxSeconds is Options.MaxSeconds. Once the output rate is known,
	// want is cut to ceil(maxSeconds × rate): counted at the core rate and
	// doubled, or in a coarse media timescale, it can overshoot.
	maxSeconds float64
}

func (s *aacSink) done() bool { return s.want >= 0 && s.got >= s.want }

func (s *aacSink) add(pcm []int16) error {
	nch := len(s.chans)
	if len(pcm) == 0 {
		return nil
	}
	if len(pcm)%nch != 0 {
		return fmt.Errorf("%w: AAC frame of %d samples for %d channels", ErrCorrupt, len(pcm), nch)
	}
	n := int64(len(pcm) / nch)
	if s.rate == 0 {
		s.rate = s.coreRate
		if n == 2048 {
			s.rate *= 2
			s.skip *= 2
			s.expect *= 2
			if s.want > 0 {
				s.want *= 2
			}
		}
		if s.maxSeconds > 0 && s.want >= 0 {
			s.want = min(s.want, int64(math.Ceil(s.maxSeconds*float64(s.rate))))
		}
	}
	from := int64(0)
	if s.skip > 0 {
		from = min(n, s.skip)
		s.skip -= from
	}
	to := n
	if s.want >= 0 {
		to = min(n, from+s.want-s.got)
	}
	for c, ch := range s.chans {
		ch = makeRoom(ch, int(max(0, to-from)), s.expect)
		for i := from; i < to; i++ {
			ch = append(ch, float32(pcm[int(i)*nch+c])*(1.0/(1<<15)))
		}
		s.chans[c] = ch
	}
	if to > from {
		s.got += to - from
	}
	return nil
}

// collapseMono drops the copy faad2 makes of a mono source (it always
// produces two channels for one, in case Parametric Stereo is present);
// real stereo from Parametric Stereo is kept.
func collapseMono(chans [][]float32) [][]float32 {
	if len(chans) != 2 {
		return chans
	}
	l, r := chans[0], chans[1]
	for i := range l {
		if l[i] != r[i] {
			return chans
		}
	}
	return chans[:1]
}

// decodeADTS decodes a raw AAC stream of ADTS frames.
func decodeADTS(in *input) (*Audio, error) {
	// First pass: count the frames (for the length) and find the first.
	var first adtsHeader
	frames := 0
	err := walkADTS(in, func(h adtsHeader, _ []byte) (bool, error) {
		if frames == 0 {
			first = h
		}
		frames++
		return true, nil
	}, false)
	if err != nil {
		return nil, err
	}
	if frames == 0 {
		return nil, fmt.Errorf("%w: no ADTS frames found", ErrCorrupt)
	}
	if first.blocks != 1 {
		return nil, unsupported("ADTS frames holding %d raw data blocks are not supported", first.blocks)
	}
	if first.channels == 0 {
		return nil, unsupported("ADTS stream with its channel layout in the bitstream (channel configuration 0)")
	}
	rate := adtsSampleRates[first.rateIdx]
	// faad2 holds back the first frame's output (the encoder's priming).
	srcDur := float64(frames-1) * 1024 / float64(rate)
	want := in.wantFrames(rate)
	if want < 0 {
		if err := in.checkLength(srcDur); err != nil {
			return nil, err
		}
	}
	// AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1): 5 bits object type,
	// 4 bits rate index, 4 bits channel configuration.
	aot := first.profile + 1
	asc := []byte{byte(aot<<3 | first.rateIdx>>1), byte(first.rateIdx&1<<7 | first.channels<<3)}
	dec, err := newAACDecoder(asc)
	if err != nil {
		return nil, err
	}
	defer dec.close()
	pre := int64(frames) * 1024
	if want >= 0 {
		pre = min(pre, want)
	}
	sink := &aacSink{coreRate: rate, want: want, expect: pre, chans: newChannels(dec.channels, pre, in.size-in.start),
		maxSeconds: in.opts.MaxSeconds}
	err = walkADTS(in, func(h adtsHeader, payload []byte) (bool, error) {
		if h.blocks != 1 {
			return false, unsupported("ADTS frames holding %d raw data blocks are not supported", h.blocks)
		}
		pcm, err := dec.decode(payload)
		if err != nil {
			return false, fmt.Errorf("%w: AAC frame at sample %d: %v", ErrCorrupt, sink.got, err)
		}
		if err := sink.add(pcm); err != nil {
			return false, err
		}
		return !sink.done(), nil
	}, true)
	if err != nil {
		return nil, err
	}
	chans := toWAVEOrder(sink.chans, first.channels)
	if first.channels == 1 {
		chans = collapseMono(chans)
	}
	outRate := sink.rate
	if outRate == 0 {
		outRate = rate
	}
	if want < 0 {
		srcDur = float64(sink.got) / float64(outRate)
	}
	return &Audio{Rate: outRate, Channels: chans, Layout: aacLayout(first.channels, len(chans)), SourceDuration: srcDur}, nil
}

// walkADTS calls fn for each ADTS frame from in.start on, skipping junk
// between frames; fn returns false to stop. With payloads, fn gets each
// frame's raw data (header and CRC removed).
func walkADTS(in *input, fn func(adtsHeader, []byte) (bool, error), payloads bool) error {
	end := audioEnd(in.r, in.start, in.size) // ID3v1/APE at the end, as for MP3
	br := bufio.NewReaderSize(io.NewSectionReader(in.r, in.start, end-in.start), 64<<10)
	pos := in.start
	var first adtsHeader
	found := false
	// Junk is skipped a byte at a time, so the context is looked at by
	// steps taken, frames or bytes, as in walkMP3.
	for step := 0; pos < end; step++ {
		if step&4095 == 0 {
			if err := in.ctx.Err(); err != nil {
				return err
			}
		}
		hb, _ := br.Peek(9)
		h, ok := parseADTS(hb)
		if ok && found && (h.rateIdx != first.rateIdx || h.channels != first.channels || h.profile != first.profile) {
			ok = false
		}
		if ok && !found {
			// Confirm the first frame by the sync word of the next.
			if int64(h.length) < end-pos {
				nb, _ := br.Peek(h.length + 2)
				ok = len(nb) == h.length+2 && nb[h.length] == 0xff && nb[h.length+1]&0xf6 == 0xf0
			}
		}
		if !ok {
			if len(hb) < 7 {
				break
			}
			br.Discard(1)
			pos++
			continue
		}
		if pos+int64(h.length) > end {
			return fmt.Errorf("%w: the ADTS frame at byte %d needs %d bytes, %d remain", ErrCorrupt, pos, h.length, end-pos)
		}
		if !found {
			found, first = true, h
		}
		var payload []byte
		if payloads {
			fb, err := br.Peek(h.length)
			if err != nil {
				return fmt.Errorf("%w: ADTS frame at byte %d: %v", ErrCorrupt, pos, err)
			}
			payload = fb[h.hdrLen:]
		}
		more, err := fn(h, payload)
		if err != nil || !more {
			return err
		}
		br.Discard(h.length)
		pos += int64(h.length)
	}
	return nil
}

// decodeAAC decodes AAC from an MP4/M4A container or an ADTS stream.
func decodeAAC(in *input) (*Audio, error) {
	var head [8]byte
	if _, err := in.r.ReadAt(head[:], in.start); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if string(head[4:8]) == "ftyp" {
		return decodeM4A(in)
	}
	return decodeADTS(in)
}
