package decode

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/hajimehoshi/go-mp3"
)

// mp3DecoderDelay is the delay, in samples, of the layer III synthesis
// filter bank; gapless players skip it together with the encoder delay
// the LAME header states (ffmpeg's mp3 demuxer does the same: 528 + 1).
const mp3DecoderDelay = 529

// mp3Span is a run of contiguous MPEG frames in the file.
type mp3Span struct {
	off, size int64
	frames    int
}

// mp3Stream is what a walk over the frame headers learns about the file.
type mp3Stream struct {
	first  mpegHeader
	spans  []mp3Span
	frames int // audio frames (the Xing/Info frame excluded)
	// From a LAME header: the encoder delay and padding in samples.
	gapless        bool
	delay, padding int
	junk           int64 // bytes skipped between frames
	// From a Xing/Info or VBRI header: the audio frames and the bytes
	// (header frame included, tags not) the encoder wrote; 0 where the
	// header does not say.
	claimBy                 string // "Xing", "Info" or "VBRI"
	claimFrames, claimBytes int64
	// Where the first frame (the header frame, if any) starts and the
	// last ends.
	firstOff, lastEnd int64
	// goMP3Short: some audio frame is one that go-mp3 sizes a byte short
	// (see lsfRepacker).
	goMP3Short bool
	// index holds every audio frame, for splitting the decode.
	index []mp3Frame
}

// mp3Frame is one audio frame: where it starts and how many bytes of
// main data (the bit reservoir's unit) it carries.
type mp3Frame struct {
	off  int64
	main int32
}

// decodeMP3 decodes MPEG-1/2 layer III with hajimehoshi/go-mp3, which
// always produces 16-bit stereo and decodes every frame it is given. This
// side therefore walks the frame headers itself: it drops the Xing/Info
// frame (silent, not audio), trims the encoder delay and padding the LAME
// header states so that the samples line up with ffmpeg's decode, keeps
// one channel of a mono source, and notices a truncated file.
//
// A file cut inside a frame is truncated by its last frame's header. A
// file cut exactly between two frames is noticed only when a Xing/Info or
// VBRI header in its first frame says how many frames (or bytes) the
// encoder wrote: a plain MPEG stream, without such a header, is a run of
// self-contained frames, and nothing tells its cut end from a real one,
// so it decodes as the shorter song it holds. The check counts the frames
// the file holds, not those decoded, so a decode cut short by
// Options.MaxSeconds is not taken for a truncated file.
func decodeMP3(in *input) (*Audio, error) { return decodeMP3In(in, 0) }

// decodeMP3In is decodeMP3 in k segments at once; 0 means
// mp3SegmentCount's choice.
func decodeMP3In(in *input, k int) (*Audio, error) {
	end := audioEnd(in.r, in.start, in.size)
	st, err := walkMP3(in, in.start, end)
	if err != nil {
		return nil, err
	}
	rate := st.first.sampleRate()
	spf := st.first.samples()
	skip, total := 0, int64(st.frames)*int64(spf)
	if st.gapless {
		skip = st.delay + mp3DecoderDelay
		total = max(0, total-int64(st.delay)-int64(st.padding))
	}
	srcDur := float64(total) / float64(rate)
	want := in.wantFrames(rate)
	if want < 0 {
		if err := in.checkLength(srcDur); err != nil {
			return nil, err
		}
		want = total
	}
	want = min(want, total)
	nch := 2
	if st.first.mono {
		nch = 1
	}
	// The walk counted the frames the file holds, so want is no header's
	// claim: room for it costs no more than the samples the frames give.
	chans := make([][]float32, nch)
	for c := range chans {
		chans[c] = make([]float32, want)
	}
	if want == 0 {
		return &Audio{Rate: rate, Channels: chans, SourceDuration: srcDur}, nil
	}
	out := mp3Out{chans: chans, nch: nch, spf: spf, skip: int64(skip), want: want}
	if k <= 0 {
		k = mp3SegmentCount(st, out.frames(len(st.index)), rate, spf)
	}
	got, err := decodeMP3Segments(in, st, out, k)
	if err != nil {
		return nil, err
	}
	for c := range chans {
		chans[c] = chans[c][:got]
	}
	if in.opts.MaxSeconds <= 0 {
		srcDur = float64(got) / float64(rate)
	}
	return &Audio{Rate: rate, Channels: chans, SourceDuration: srcDur}, nil
}

// mp3Out is where decoded MP3 samples go: chans, nch channels of want
// samples, take the decoder's output from sample skip on; spf is the
// samples each frame gives.
type mp3Out struct {
	chans    [][]float32
	nch, spf int
	skip     int64
	want     int64
}

// mp3MinSegment is the least audio, in seconds, worth a decoder of its
// own: each segment but the first decodes a few frames more than it keeps
// (see mp3Segment), a fraction of a second.
const mp3MinSegment = 20

// mp3SegmentCount is how many segments to decode the first frames of the
// stream st in at once: one per core, each at least mp3MinSegment long.
// go-mp3 decodes at under 100× real time on one core here, the slowest of
// the decoders by far, so a song uploaded alone waits for it on one core
// while the rest idle; with songs decoding side by side the segments only
// share the same cores. An MPEG-2 stream that needs repacking
// (lsfRepacker) is decoded in one piece, since the repacking carries
// state from frame to frame that a segment starting mid-stream would not
// have.
func mp3SegmentCount(st *mp3Stream, frames, rate, spf int) int {
	if st.goMP3Short {
		return 1
	}
	perSegment := max(1, mp3MinSegment*rate/spf)
	return max(1, min(runtime.GOMAXPROCS(0), frames/perSegment))
}

// mp3Segment is a run of frames [first, end) decoded by one decoder, which
// starts at frame from ≤ first: a layer III frame's main data may begin in
// the frames before it (the bit reservoir), and its output overlaps the
// previous granule's (the hybrid filter bank), so a decoder that starts
// cold gives the first frames wrongly. From those run-in frames on, its
// state is the one a decoder from the start of the stream has, and the
// samples of [first, end) are the same bit for bit (tested at every cut).
type mp3Segment struct{ from, first, end int }

// splitMP3 cuts the frames of index into k segments of nearly equal
// length, each with the run-in its first frame needs. The synthesis
// filter's state at a frame comes from the granule before it, and that
// granule's overlap-add from the one before that: in MPEG-2, one granule
// a frame, two frames back. Those two frames must decode as they do from
// the start, so the run-in holds, before them, the largest reservoir a
// frame may reach back into (511 bytes of main data in MPEG-1, 255 in
// MPEG-2), and two frames more.
func splitMP3(index []mp3Frame, k int, maxBegin int) []mp3Segment {
	n := len(index)
	segs := make([]mp3Segment, 0, k)
	for i := range k {
		first, end := i*n/k, (i+1)*n/k
		from := first
		if first > 0 {
			from = max(0, first-2)
			for reach := 0; from > 0 && reach < maxBegin; {
				from--
				reach += int(index[from].main)
			}
			from = max(0, from-2)
		}
		segs = append(segs, mp3Segment{from: from, first: first, end: end})
	}
	return segs
}

// decodeMP3Segments decodes the first frames of st, as many as out needs,
// into out with k decoders at once, and returns how many samples per
// channel it wrote. When k > 1 and a segment fails or comes out short,
// the others are stopped and the frames are decoded again in one piece,
// so that a damaged file gets the error (or the samples) one decoder
// gives, whatever the number of cores.
func decodeMP3Segments(in *input, st *mp3Stream, out mp3Out, k int) (int64, error) {
	frames := out.frames(len(st.index))
	if k > 1 {
		maxBegin := 511
		if st.first.version != mpeg1 {
			maxBegin = 255
		}
		segs := splitMP3(st.index[:frames], k, maxBegin)
		ctx, stop := context.WithCancel(in.ctx)
		defer stop()
		sin := *in
		sin.ctx = ctx
		got := make([]int64, len(segs))
		failed := make([]bool, len(segs))
		var wg sync.WaitGroup
		for i, sg := range segs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// decode's recover sees its own goroutine's panics
				// only: go-mp3 panics on some damaged frames.
				defer func() {
					if p := recover(); p != nil {
						failed[i] = true
						stop()
					}
				}()
				if !in.opts.Cores.acquire(ctx) {
					failed[i] = true
					return
				}
				defer in.opts.Cores.release()
				n, err := decodeMP3Segment(&sin, st, out, sg)
				if err != nil || (i < len(segs)-1 && n != out.kept(sg)) {
					failed[i] = true
					stop()
				}
				got[i] = n
			}()
		}
		wg.Wait()
		if !slices.Contains(failed, true) {
			var sum int64
			for _, n := range got {
				sum += n
			}
			return sum, nil
		}
		if err := in.ctx.Err(); err != nil {
			return 0, err
		}
	}
	return decodeMP3Segment(in, st, out, mp3Segment{from: 0, first: 0, end: frames})
}

// frames returns how many of a stream's n frames hold the samples o
// keeps: all of them unless only the start of the song is decoded.
func (o mp3Out) frames(n int) int {
	need := (o.skip + o.want + int64(o.spf) - 1) / int64(o.spf)
	return int(min(int64(n), need))
}

// kept returns how many samples of segment sg's frames go into out.
func (o mp3Out) kept(sg mp3Segment) int64 {
	lo := max(int64(sg.first)*int64(o.spf), o.skip)
	hi := min(int64(sg.end)*int64(o.spf), o.skip+o.want)
	return max(0, hi-lo)
}

// decodeMP3Segment decodes the frames [sg.from, sg.end) of st with a
// decoder of its own and writes the samples of [sg.first, sg.end) that
// fall in out's range. It returns how many it wrote.
func decodeMP3Segment(in *input, st *mp3Stream, out mp3Out, sg mp3Segment) (int64, error) {
	// The decoder's output sample pos is the stream's sample base+pos.
	base := int64(sg.from) * int64(out.spf)
	lo := max(int64(sg.first)*int64(out.spf), out.skip)
	hi := min(int64(sg.end)*int64(out.spf), out.skip+out.want)
	if lo >= hi {
		return 0, nil
	}
	endOff := st.lastEnd
	if sg.end < len(st.index) {
		endOff = st.index[sg.end].off
	}
	spans := clipSpans(st.spans, st.index[sg.from].off, endOff)
	var src io.Reader = bufio.NewReaderSize(&spanReader{r: in.r, spans: spans}, 64<<10)
	if st.goMP3Short {
		src = &lsfRepacker{src: src}
	}
	dec, err := mp3.NewDecoder(src)
	if err != nil {
		return 0, fmt.Errorf("%w: MP3: %v", ErrCorrupt, err)
	}
	buf := make([]byte, 16*1152*4)
	pos := base // the stream's sample the decoder gives next
	for pos < hi {
		if err := in.ctx.Err(); err != nil {
			return 0, err
		}
		n, err := dec.Read(buf)
		n &^= 3
		// Keep the stream's samples [lo, hi).
		b := buf[:n]
		at := pos
		pos += int64(n / 4)
		if at < lo {
			drop := min(int64(len(b)/4), lo-at)
			b = b[drop*4:]
			at += drop
		}
		if k := int64(len(b) / 4); at+k > hi {
			b = b[:max(0, hi-at)*4]
		}
		for c := range out.nch {
			if len(b) == 0 {
				break // all run-in, or past the samples kept
			}
			dst := out.chans[c][at-out.skip:]
			for i, p := 0, c*2; p+2 <= len(b); i, p = i+1, p+4 {
				dst[i] = float32(int16(binary.LittleEndian.Uint16(b[p:]))) * (1.0 / (1 << 15))
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("%w: MP3 frame near sample %d: %v", ErrCorrupt, pos, err)
		}
	}
	return max(0, min(pos, hi)-lo), nil
}

// clipSpans returns the parts of spans within the bytes [from, to).
func clipSpans(spans []mp3Span, from, to int64) []mp3Span {
	var out []mp3Span
	for _, sp := range spans {
		lo, hi := max(sp.off, from), min(sp.off+sp.size, to)
		if lo < hi {
			out = append(out, mp3Span{off: lo, size: hi - lo})
		}
	}
	return out
}

// audioEnd returns where the frames of an MP3, ADTS or FLAC stream end:
// before an ID3v1 tag and an APEv2 tag at the end of the file. The APE
// footer's flag for a header is believed only where the header is: with
// a damaged flag, the 32 bytes before the tag are the last frame's.
func audioEnd(r io.ReaderAt, start, end int64) int64 {
	var b [32]byte
	if end-start >= 128 {
		if _, err := r.ReadAt(b[:3], end-128); err == nil && string(b[:3]) == "TAG" {
			end -= 128
		}
	}
	if end-start >= 32 {
		if _, err := r.ReadAt(b[:], end-32); err == nil && string(b[:8]) == "APETAGEX" {
			n := int64(binary.LittleEndian.Uint32(b[12:]))
			if binary.LittleEndian.Uint32(b[20:])&(1<<31) != 0 && n+32 <= end-start {
				if _, err := r.ReadAt(b[:8], end-n-32); err == nil && string(b[:8]) == "APETAGEX" {
					n += 32 // header
				}
			}
			if n <= end-start {
				end -= n
			}
		}
	}
	return end
}

// walkMP3 finds the layer III frames between start and end, skipping junk
// between them, and reads the Xing/Info/LAME header from the first.
func walkMP3(in *input, start, end int64) (*mp3Stream, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(in.r, start, end-start), 64<<10)
	st := &mp3Stream{}
	pos := start
	found := false
	resync := false // bytes were skipped since the last frame
	// Junk is skipped a byte at a time, so the context is looked at by
	// steps taken, frames or bytes: counting frames alone, a gigabyte of
	// junk after the last frame was scanned for a minute after it ended.
	for step := 0; pos < end; step++ {
		if step&4095 == 0 {
			if err := in.ctx.Err(); err != nil {
				return nil, err
			}
		}
		hb, _ := br.Peek(4)
		h, ok := parseMPEGHeader(hb)
		if ok && found && (h.version != st.first.version || h.layer != st.first.layer || h.rateIdx != st.first.rateIdx) {
			ok = false
		}
		if ok && !found {
			ok = h.layer3() && h.version != mpeg25 && firstFrameConfirmed(br, h, end-pos)
		} else if ok && resync {
			// A sync word found by skipping junk (a tag's picture after
			// the audio, say) is a frame only if another follows it.
			ok = firstFrameConfirmed(br, h, end-pos)
		}
		if !ok {
			if len(hb) < 4 {
				break
			}
			br.Discard(1)
			pos++
			st.junk++
			resync = true
			continue
		}
		resync = false
		size := int64(h.size())
		if pos+size > end {
			return nil, fmt.Errorf("%w: the MP3 frame at byte %d needs %d bytes, %d remain", ErrCorrupt, pos, size, end-pos)
		}
		if !found {
			found = true
			st.first = h
			st.firstOff = pos
			fb, _ := br.Peek(int(size))
			if isInfo := parseXing(fb, h, st); isInfo {
				br.Discard(int(size))
				pos += size
				continue
			}
		}
		if n := len(st.spans); n > 0 && st.spans[n-1].off+st.spans[n-1].size == pos {
			st.spans[n-1].size += size
			st.spans[n-1].frames++
		} else {
			st.spans = append(st.spans, mp3Span{off: pos, size: size, frames: 1})
		}
		st.frames++
		main := size - 4 - int64(h.sideInfoSize())
		if h.crc {
			main -= 2
		}
		st.index = append(st.index, mp3Frame{off: pos, main: int32(max(main, 0))})
		if h.goMP3Short() {
			st.goMP3Short = true
		}
		br.Discard(int(size))
		pos += size
		st.lastEnd = pos
	}
	if !found {
		return nil, fmt.Errorf("%w: no MP3 frames found", ErrCorrupt)
	}
	if st.frames == 0 {
		return nil, fmt.Errorf("%w: the MP3 has a header frame but no audio frames", ErrEmpty)
	}
	if err := st.checkClaim(); err != nil {
		return nil, err
	}
	return st, nil
}

// checkClaim reports a file that holds clearly fewer frames than its
// Xing/Info or VBRI header says the encoder wrote (or, when the header
// gives no frame count, fewer bytes): one cut between two frames, which
// the walk cannot tell from a whole one. A claim larger than the file
// could ever hold is such a cut too, however large.
//
// Up to max(2 frames, 0.5 %) may be missing. Encoders disagree by a frame
// or two: LAME and ffmpeg count the audio frames only (their counts match
// the walk's exactly), others count the header frame as well, and a frame
// whose header was damaged is skipped by the walk as junk. Tags after the
// frames count for nothing either way: the walk stops before an ID3v1 or
// APEv2 tag, and the headers count no tag bytes. The relative part lets a
// long file lose a few frames to damage without being refused, yet stays
// far below what a cut download loses (whole network buffers, seconds at
// least) and below what would change the song's duration or tempo
// noticeably (1.3 s of a 4-minute song). More frames than the header says
// (two streams joined, say) is no truncation.
func (st *mp3Stream) checkClaim() error {
	switch {
	case st.claimFrames > 0:
		held := int64(st.frames)
		if st.claimFrames-held > max(2, st.claimFrames/200) {
			return fmt.Errorf("%w: the MP3's %s header says %d frames, the file holds %d", ErrCorrupt, st.claimBy, st.claimFrames, held)
		}
	case st.claimBytes > 0:
		// The bytes from the header frame to the end of the last, junk
		// between frames included; two frames' worth of slack, at their
		// mean size (the header frame counts).
		held := st.lastEnd - st.firstOff
		frame := held / int64(st.frames+1)
		if st.claimBytes-held > max(2*frame, st.claimBytes/200) {
			return fmt.Errorf("%w: the MP3's %s header says %d bytes of frames, the file holds %d", ErrCorrupt, st.claimBy, st.claimBytes, held)
		}
	}
	return nil
}

// firstFrameConfirmed reports whether the frame h at the reader's position
// is followed by another frame of the same stream (or by the end), so a
// stray sync word in junk is not taken for the first frame.
func firstFrameConfirmed(br *bufio.Reader, h mpegHeader, left int64) bool {
	size := h.size()
	if int64(size) == left {
		return true
	}
	b, _ := br.Peek(size + 4)
	if len(b) < size+4 {
		return false
	}
	h2, ok := parseMPEGHeader(b[size:])
	return ok && h2.version == h.version && h2.layer == h.layer && h2.rateIdx == h.rateIdx
}

// parseXing reads a Xing/Info (or Fraunhofer VBRI) header in the first
// frame fb and, when there is one, a LAME extension with the encoder delay
// and padding. It reports whether fb is such a header frame rather than
// audio.
func parseXing(fb []byte, h mpegHeader, st *mp3Stream) bool {
	be := binary.BigEndian
	if x := 4 + h.sideInfoSize(); len(fb) >= x+8 {
		tag := string(fb[x : x+4])
		if tag == "Xing" || tag == "Info" {
			st.claimBy = tag
			flags := be.Uint32(fb[x+4:])
			p := x + 8
			for _, f := range []uint32{1, 2, 4, 8} {
				if flags&f != 0 {
					switch {
					case f == 1 && p+4 <= len(fb):
						st.claimFrames = int64(be.Uint32(fb[p:]))
					case f == 2 && p+4 <= len(fb):
						st.claimBytes = int64(be.Uint32(fb[p:]))
					}
					if f == 4 {
						p += 100
					} else {
						p += 4
					}
				}
			}
			// LAME extension: 9-byte encoder name, then 12 bytes of
			// fields, then 12 bits of delay and 12 of padding.
			if p+24 <= len(fb) {
				enc := string(fb[p : p+4])
				if enc == "LAME" || enc == "Lavf" || enc == "Lavc" || enc == "GOGO" || enc == "L3.9" {
					v := int(fb[p+21])<<16 | int(fb[p+22])<<8 | int(fb[p+23])
					st.gapless = true
					st.delay = v >> 12
					st.padding = v & 0xfff
				}
			}
			return true
		}
	}
	if x := 4 + 32; len(fb) >= x+4 && string(fb[x:x+4]) == "VBRI" {
		// "VBRI", then 16-bit version, delay and quality, then 32-bit
		// byte and frame counts.
		if len(fb) >= x+18 {
			st.claimBy = "VBRI"
			st.claimBytes = int64(be.Uint32(fb[x+10:]))
			st.claimFrames = int64(be.Uint32(fb[x+14:]))
		}
		return true
	}
	return false
}

// spanReader reads the spans' bytes back to back; go-mp3 pulls only the
// frames it decodes.
type spanReader struct {
	r     io.ReaderAt
	spans []mp3Span
	off   int64 // position within spans[0]
}

func (s *spanReader) Read(p []byte) (int, error) {
	for len(s.spans) > 0 && s.off >= s.spans[0].size {
		s.spans = s.spans[1:]
		s.off = 0
	}
	if len(s.spans) == 0 {
		return 0, io.EOF
	}
	sp := s.spans[0]
	n := min(int64(len(p)), sp.size-s.off)
	k, err := s.r.ReadAt(p[:n], sp.off+s.off)
	s.off += int64(k)
	if errors.Is(err, io.EOF) && k > 0 {
		err = nil
	}
	return k, err
}

// lsfRepacker hands go-mp3 the frames of an MPEG-2 (low sampling
// frequency) layer III stream laid out afresh, so that go-mp3 reads them
// right. go-mp3 sizes an MPEG-2 frame as (144·bitrate/rate + padding)/2
// bytes, a byte short of its real size, 72·bitrate/rate + padding, when
// the frame is padded and 144·bitrate/rate is even: at 22.05 kHz, CBR at
// 8, 16, 24, 32, 80, 96, 144 and 160 kbit/s pads frames so. It
// then skips the frame's last byte as junk before the next header, and
// the bit reservoir, from which later frames take the start of their
// data, is a byte further out at each such frame: the song decoded to
// noise (SNR 0 dB against ffmpeg).
//
// The repacker takes each frame's own data (its part2_3 bits, wherever
// the reservoir put them) and lays it out again in unpadded frames, which
// go-mp3 sizes right, pulling it as far back into the reservoir as the
// 8-bit main_data_begin reaches and raising a frame's bitrate when its
// data still does not fit. Side information and data are copied bit for
// bit, so the samples are those a correct decoder makes of the original.
type lsfRepacker struct {
	src    io.Reader
	out    []byte // repacked bytes; out[outOff:] not yet read
	outOff int
	eof    bool
	frame  []byte
	// The original stream's main data, the concatenation of its frames'
	// bytes after their side information: hist holds it from histPos on.
	hist    []byte
	histPos int64
	// The repacked main data. Queued frames, not yet in out because a
	// later frame's data may still go into their slots, start at qPos;
	// the next frame's slot starts at outPos, its data at dataEnd or
	// after.
	queue                 []lsfFrame
	qPos, outPos, dataEnd int64
}

type lsfFrame struct {
	head []byte // header and side information
	slot []byte // main data
}

// lsfMaxBegin is the furthest back MPEG-2's 8-bit main_data_begin reaches.
const lsfMaxBegin = 255

func (r *lsfRepacker) Read(p []byte) (int, error) {
	for r.outOff == len(r.out) {
		if r.eof {
			return 0, io.EOF
		}
		r.out, r.outOff = r.out[:0], 0
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.out[r.outOff:])
	r.outOff += n
	return n, nil
}

// next repacks one frame, or at the end of the stream flushes the queue.
func (r *lsfRepacker) next() error {
	var hb [4]byte
	if _, err := io.ReadFull(r.src, hb[:]); err != nil {
		if errors.Is(err, io.EOF) {
			r.eof = true
			r.emit(math.MaxInt64)
			return nil
		}
		return err
	}
	h, ok := parseMPEGHeader(hb[:])
	if !ok || !h.layer3() || h.version != mpeg2 {
		// The walk hands over whole frames of one stream only.
		return fmt.Errorf("MPEG-2 repacking: no frame header in % x", hb)
	}
	size := h.size()
	r.frame = slices.Grow(r.frame[:0], size)[:size]
	copy(r.frame, hb[:])
	if _, err := io.ReadFull(r.src, r.frame[4:]); err != nil {
		return err
	}
	sideAt := 4
	if h.crc {
		sideAt += 2
	}
	sideLen := h.sideInfoSize()
	if sideAt+sideLen > size {
		return fmt.Errorf("MPEG-2 repacking: a frame of %d bytes", size)
	}
	side := r.frame[sideAt : sideAt+sideLen]
	slot := r.frame[sideAt+sideLen:]

	// Where the frame's data lies in the original main data: from
	// main_data_begin bytes before its slot, for the part2_3_length bits
	// of each channel. A channel's side information is 63 bits, after
	// the 8 of main_data_begin and 1 (mono) or 2 private bits.
	channels := []int{9}
	if !h.mono {
		channels = []int{10, 10 + 63}
	}
	nbits := 0
	for _, at := range channels {
		nbits += int(bitsAt(side, at, 12))
	}
	n := int64(nbits+7) / 8
	slotPos := r.histPos + int64(len(r.hist))
	r.hist = append(r.hist, slot...)
	var data []byte
	if from := slotPos - int64(side[0]); from >= r.histPos && from+n <= slotPos+int64(len(slot)) {
		data = r.hist[from-r.histPos : from-r.histPos+n]
	}

	// Where it goes in the repacked main data, in a frame of which
	// bitrate.
	at := max(r.dataEnd, r.outPos-lsfMaxBegin)
	bi := h.bitrateIndex
	slotLen := func(bi int) int64 {
		return int64(72*mp3Bitrates2[bi]*1000/h.sampleRate() - 4 - sideLen)
	}
	for bi < len(mp3Bitrates2)-1 && at+n > r.outPos+slotLen(bi) {
		bi++
	}
	newSide := slices.Clone(side)
	if data == nil || at+n > r.outPos+slotLen(bi) {
		// The data is not there (the stream starts, or resumes after
		// junk, with a frame that draws on a reservoir it lacks) or
		// fits nowhere: the frame decodes to silence rather than to
		// another frame's bits. With no part2_3 bits, no big values
		// and no scale factor bits, go-mp3 reads nothing for it.
		for _, ch := range channels {
			setBitsAt(newSide, ch, 12+9, 0)     // part2_3_length, big_values
			setBitsAt(newSide, ch+12+9+8, 9, 0) // scalefac_compress
		}
		data, n, at = nil, 0, r.outPos
	}
	newSide[0] = byte(r.outPos - at)
	head := append([]byte{0xff, hb[1] | 1, byte(bi<<4) | hb[2]&0x0d, hb[3]}, newSide...) // no CRC, no padding
	r.queue = append(r.queue, lsfFrame{head: head, slot: make([]byte, slotLen(bi))})
	r.outPos += slotLen(bi)
	r.dataEnd = at + n
	// Copy the data into the slots it spans.
	pos := r.qPos
	for _, f := range r.queue {
		end := pos + int64(len(f.slot))
		if at < end && len(data) > 0 {
			k := copy(f.slot[max(0, at-pos):], data)
			data = data[k:]
			at += int64(k)
		}
		pos = end
	}
	r.emit(max(r.dataEnd, r.outPos-lsfMaxBegin))
	// Keep what a later frame's main_data_begin can reach.
	if k := len(r.hist) - lsfMaxBegin; k > 0 {
		r.hist = append(r.hist[:0], r.hist[k:]...)
		r.histPos += int64(k)
	}
	return nil
}

// emit moves the queued frames whose slots end by upTo to out.
func (r *lsfRepacker) emit(upTo int64) {
	k := 0
	for ; k < len(r.queue) && r.qPos+int64(len(r.queue[k].slot)) <= upTo; k++ {
		r.out = append(r.out, r.queue[k].head...)
		r.out = append(r.out, r.queue[k].slot...)
		r.qPos += int64(len(r.queue[k].slot))
	}
	r.queue = append(r.queue[:0], r.queue[k:]...)
}

// bitsAt returns the n bits of b from bit at on, most significant first.
func bitsAt(b []byte, at, n int) uint32 {
	var v uint32
	for i := at; i < at+n; i++ {
		v = v<<1 | uint32(b[i/8]>>(7-i%8))&1
	}
	return v
}

// setBitsAt sets the n bits of b from bit at on to v.
func setBitsAt(b []byte, at, n int, v uint32) {
	for i := at + n - 1; i >= at; i-- {
		b[i/8] = b[i/8]&^(1<<(7-i%8)) | byte(v&1)<<(7-i%8)
		v >>= 1
	}
}
