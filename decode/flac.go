package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
	"github.com/mewkiz/flac/meta"

	"github.com/songflow/songflow/dsp"
)

// decodeFLAC decodes a FLAC stream with mewkiz/flac. Samples are scaled by
// 2^-(bits-1), exactly as ffmpeg converts them to float.
func decodeFLAC(in *input) (*Audio, error) { return decodeFLACIn(in, 0) }

// decodeFLACIn is decodeFLAC in k segments at once when the whole song is
// decoded; 0 means one per core, each at least flacMinSegment long.
func decodeFLACIn(in *input, k int) (*Audio, error) {
	info, audio, layout, err := flacMetadata(in)
	if err != nil {
		return nil, err
	}
	// STREAMINFO's 20-bit rate, after the block header and 10 bytes of
	// block and frame sizes, read here because the library refuses a
	// rate of 0 in words of its own.
	if err := checkRate("FLAC", float64(binary.BigEndian.Uint32(info[4+10:])>>12)); err != nil {
		return nil, err
	}
	// The library is handed the STREAMINFO block alone, marked the last,
	// and then the frames: it would walk the other metadata blocks a
	// call and an allocation each, deaf to the context, and a file of
	// zeros past its header reads as millions of them.
	info[0] |= 0x80
	// A tag after the frames (ID3v1, APEv2, as some taggers append to any
	// file) is no frame: the frames end before it.
	end := audioEnd(in.r, audio, in.size)
	head := slices.Concat([]byte("fLaC"), info)
	stream, err := flac.New(io.MultiReader(bytes.NewReader(head), io.NewSectionReader(in.r, audio, end-audio)))
	if err != nil {
		return nil, fmt.Errorf("%w: FLAC header: %v", ErrCorrupt, err)
	}
	si := stream.Info
	if si.BitsPerSample > 24 {
		// Valid since FLAC 1.4 (RFC 9639 allows 32), but mewkiz/flac
		// reads frame headers of at most 24 bits and would call the
		// first frame damaged.
		return nil, unsupported("FLAC with %d bits per sample is not supported (up to 24)", si.BitsPerSample)
	}
	rate := int(si.SampleRate)
	nch := int(si.NChannels)
	if nch == 0 {
		return nil, fmt.Errorf("%w: FLAC with 0 channels", ErrCorrupt)
	}
	total := int64(si.NSamples) // 0 = unknown
	if total < 0 {
		total = 0
	}
	want := in.wantFrames(rate)
	if want < 0 {
		if err := in.checkLength(float64(total) / float64(rate)); err != nil {
			return nil, err
		}
	}
	// Every sample costs at least a bit or so of compressed data, bar
	// constant runs; cap the up-front allocation by the file's size.
	pre := min(total, (in.size-in.start)*4/int64(nch))
	if want >= 0 {
		pre = min(pre, want)
	}
	if k <= 0 {
		k = min(runtime.GOMAXPROCS(0), int(total/(flacMinSegment*int64(rate))))
	}
	if k > 1 && want < 0 && pre == total {
		fs := flacSegments{in: in, head: head, si: si, end: end}
		if chans, ok := fs.decode(audio, k); ok {
			return &Audio{Rate: rate, Channels: chans, Layout: layout, SourceDuration: float64(total) / float64(rate)}, nil
		}
		if err := in.ctx.Err(); err != nil {
			return nil, err
		}
	}
	chans := newChannels(nch, pre, in.size-in.start)
	limit := int64(-1) // frames after which to stop for MaxDuration
	if want < 0 && in.opts.MaxDuration > 0 {
		limit = int64(in.opts.MaxDuration*float64(rate)) + 1
	}
	for n := int64(0); want < 0 || n < want; {
		if err := in.ctx.Err(); err != nil {
			return nil, err
		}
		fr, err := stream.Next()
		if err == nil && fr.BitsPerSample == 0 {
			// The frame header's "as in STREAMINFO": the library leaves
			// it 0 and would read the subframes with no bits per sample.
			fr.BitsPerSample = si.BitsPerSample
		}
		if err == nil {
			err = fr.Parse()
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && total > 0 && n >= total {
			// Every sample STREAMINFO announces is here: what follows
			// is not audio (a tag or padding a tool appended), as
			// ffmpeg reads it too.
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: the FLAC frame at sample %d is cut short", ErrCorrupt, n)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: FLAC frame at sample %d: %v", ErrCorrupt, n, err)
		}
		if len(fr.Subframes) != nch {
			return nil, fmt.Errorf("%w: FLAC frame with %d channels in a %d-channel stream", ErrCorrupt, len(fr.Subframes), nch)
		}
		bits := int(fr.BitsPerSample)
		if bits < 4 || bits > 32 {
			return nil, fmt.Errorf("%w: FLAC frame with %d bits per sample", ErrCorrupt, bits)
		}
		scale := float32(1 / float64(uint64(1)<<(bits-1)))
		take := int(fr.BlockSize)
		if want >= 0 {
			take = int(min(int64(take), want-n))
		}
		for c, sf := range fr.Subframes {
			s := sf.Samples
			if len(s) < take {
				return nil, fmt.Errorf("%w: FLAC subframe with %d of %d samples", ErrCorrupt, len(s), take)
			}
			ch := makeRoom(chans[c], take, pre)
			for _, v := range s[:take] {
				ch = append(ch, float32(v)*scale)
			}
			chans[c] = ch
		}
		n += int64(take)
		if limit >= 0 && n > limit {
			return nil, fmt.Errorf("%w: more than %.0f s", ErrTooLong, in.opts.MaxDuration)
		}
	}
	got := int64(len(chans[0]))
	if want < 0 && total > 0 && got < total {
		return nil, fmt.Errorf("%w: FLAC stream info says %d samples, the file holds %d", ErrCorrupt, total, got)
	}
	src := float64(total) / float64(rate)
	if want < 0 || total == 0 {
		src = float64(got) / float64(rate)
	}
	return &Audio{Rate: rate, Channels: chans, Layout: layout, SourceDuration: src}, nil
}

// flacMetadata walks the metadata blocks of the FLAC stream at in.start
// and returns a copy of its STREAMINFO block, header included, the offset
// at which its frames begin, and the channel mask a Vorbis comment block
// gives (0 when none does).
func flacMetadata(in *input) (info []byte, audio int64, layout dsp.ChannelMask, err error) {
	w := &window{r: in.r, size: in.size}
	off := in.start + 4 // past "fLaC"
	for n := 0; ; n++ {
		if n&4095 == 4095 {
			if err := in.ctx.Err(); err != nil {
				return nil, 0, 0, err
			}
		}
		h := w.at(off, 4)
		if h == nil {
			return nil, 0, 0, fmt.Errorf("%w: FLAC header: truncated: metadata block %d at byte %d is cut short", ErrCorrupt, n, off)
		}
		last, typ := h[0]&0x80 != 0, h[0]&0x7f
		length := int64(h[1])<<16 | int64(h[2])<<8 | int64(h[3])
		switch {
		case n == 0 && (typ != 0 || length != 34):
			return nil, 0, 0, fmt.Errorf("%w: FLAC header: the stream starts with a metadata block of type %d and %d bytes, not STREAMINFO", ErrCorrupt, typ, length)
		case n > 0 && typ == 0:
			// What zeros read as; STREAMINFO comes once.
			return nil, 0, 0, fmt.Errorf("%w: FLAC header: metadata block %d at byte %d is a second STREAMINFO", ErrCorrupt, n, off)
		case typ == 127:
			return nil, 0, 0, fmt.Errorf("%w: FLAC header: metadata block %d at byte %d has the invalid type 127", ErrCorrupt, n, off)
		}
		if n == 0 {
			b := w.at(off, 4+34)
			if b == nil {
				return nil, 0, 0, fmt.Errorf("%w: FLAC header: truncated: the STREAMINFO block is cut short", ErrCorrupt)
			}
			info = slices.Clone(b)
		}
		if typ == flacVorbisComment && layout == 0 && off+4+length <= in.size {
			layout = flacChannelMask(w, off+4, length)
		}
		off += 4 + length
		if off > in.size {
			return nil, 0, 0, fmt.Errorf("%w: FLAC header: truncated: metadata block %d of %d bytes runs past the end of the file", ErrCorrupt, n, length)
		}
		if last {
			return info, off, layout, nil
		}
	}
}

// flacVorbisComment is the metadata block type of a Vorbis comment (RFC
// 9639 §8.6).
const flacVorbisComment = 4

// flacMaskKey is the Vorbis comment in which FLAC keeps a WAV file's
// channel mask when its layout is not the default of its channel count
// (RFC 9639 §8.6.2), as flac and ffmpeg write it: hexadecimal, "0x13F".
const flacMaskKey = "WAVEFORMATEXTENSIBLE_CHANNEL_MASK="

// flacChannelMask returns the channel mask in the Vorbis comment block
// whose body of length bytes is at off, or 0 when it holds none or is
// damaged. Comments are a 32-bit little-endian length and "NAME=value"
// each, after the vendor string and their count.
func flacChannelMask(w *window, off, length int64) dsp.ChannelMask {
	end := off + length
	u32 := func(at int64) (int64, bool) {
		if at+4 > end {
			return 0, false
		}
		b := w.at(at, 4)
		if b == nil {
			return 0, false
		}
		return int64(binary.LittleEndian.Uint32(b)), true
	}
	vendor, ok := u32(off)
	if !ok {
		return 0
	}
	at := off + 4 + vendor
	count, ok := u32(at)
	if !ok {
		return 0
	}
	at += 4
	for range count {
		n, ok := u32(at)
		if !ok || at+4+n > end {
			return 0
		}
		// The mask's comment is short; longer ones (lyrics, pictures)
		// are stepped over unread.
		if n > int64(len(flacMaskKey)) && n <= int64(len(flacMaskKey))+16 {
			c := w.at(at+4, int(n))
			if c != nil && strings.EqualFold(string(c[:len(flacMaskKey)]), flacMaskKey) {
				v := strings.TrimSpace(string(c[len(flacMaskKey):]))
				m, err := strconv.ParseUint(v, 0, 32)
				if err != nil {
					return 0
				}
				return dsp.ChannelMask(m)
			}
		}
		at += 4 + n
	}
	return 0
}

// flacMinSegment is the least audio, in seconds, worth a decoder of its
// own: a segment costs the search for its first frame and a decoder.
const flacMinSegment = 20

// flacSegments decodes a FLAC stream's frames in segments at once. FLAC
// frames carry no state from one to the next and name their own first
// sample, so a decoder started at any frame gives exactly the samples a
// decoder from the start gives there: decoding a long song on one core
// while the others idle is only the library's way, not the format's.
type flacSegments struct {
	in   *input
	head []byte // "fLaC" and the STREAMINFO block, marked the last
	si   *meta.StreamInfo
	end  int64 // where the frames end
}

// flacSearch is how far past a cut the next frame is looked for: far
// more than a frame of any encoder's usual block size takes.
const flacSearch = 1 << 20

// decode decodes the frames from byte audio on in k segments at once into
// channels of si.NSamples samples. It reports false, for the caller to
// decode the stream in one piece, unless every segment decoded cleanly
// and together they hold exactly the samples STREAMINFO announces, in
// order: whatever is amiss (a damaged frame, a lying header, frames of
// varying block size in a stream that says otherwise) is then reported as
// one decoder reports it. A segment that fails stops the others.
func (fs flacSegments) decode(audio int64, k int) ([][]float32, bool) {
	if fs.si.BlockSizeMin != fs.si.BlockSizeMax {
		return nil, false // frames number samples, not frames: rare, and not worth it
	}
	total := int64(fs.si.NSamples)
	// Segment i holds the bytes [cuts[i], cuts[i+1]) and the samples
	// [starts[i], starts[i+1]), as the frame at each cut names them; a
	// segment writes no sample outside its own.
	cuts, starts := []int64{audio}, []int64{0}
	for i := 1; i < k; i++ {
		at := audio + int64(i)*(fs.end-audio)/int64(k)
		c, first, ok := fs.nextFrame(max(at, cuts[len(cuts)-1]+1))
		if !ok || first <= starts[len(starts)-1] || first >= total {
			break
		}
		cuts, starts = append(cuts, c), append(starts, first)
	}
	if len(cuts) == 1 {
		return nil, false // no frame found past a cut: one decoder it is
	}
	cuts, starts = append(cuts, fs.end), append(starts, total)
	chans := make([][]float32, fs.si.NChannels)
	for c := range chans {
		chans[c] = make([]float32, total)
	}
	ctx, stop := context.WithCancel(fs.in.ctx)
	defer stop()
	sin := *fs.in
	sin.ctx = ctx
	seg := fs
	seg.in = &sin
	failed := make([]bool, len(cuts)-1)
	var wg sync.WaitGroup
	for i := range failed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// decode's recover sees its own goroutine's panics only.
			defer func() {
				if recover() != nil {
					failed[i] = true
					stop()
				}
			}()
			if !fs.in.opts.Cores.acquire(ctx) {
				failed[i] = true
				return
			}
			defer fs.in.opts.Cores.release()
			if !seg.segment(cuts[i], cuts[i+1], starts[i], starts[i+1], chans) {
				failed[i] = true
				stop()
			}
		}()
	}
	wg.Wait()
	return chans, !slices.Contains(failed, true)
}

// nextFrame returns the offset of the first whole, intact frame at or
// after byte at, and the first sample it holds: a frame sync code whose
// header and frame checksums (CRC-8 and CRC-16) hold, which a sync code
// met by chance inside a frame's data does not pass.
func (fs flacSegments) nextFrame(at int64) (off, first int64, ok bool) {
	buf := make([]byte, min(flacSearch, fs.end-at))
	if len(buf) < 2 {
		return 0, 0, false
	}
	n, _ := fs.in.r.ReadAt(buf, at)
	buf = buf[:n]
	for i := 0; i+1 < len(buf); i++ {
		if buf[i] != 0xFF || buf[i+1]&0xFE != 0xF8 {
			continue
		}
		stream, err := flac.New(io.MultiReader(bytes.NewReader(fs.head), io.NewSectionReader(fs.in.r, at+int64(i), fs.end-at-int64(i))))
		if err != nil {
			return 0, 0, false
		}
		if fr, err := stream.Next(); err == nil && fs.fits(fr.Header) {
			if fr.BitsPerSample == 0 {
				fr.BitsPerSample = fs.si.BitsPerSample // "as in STREAMINFO"
			}
			if err := fr.Parse(); err == nil {
				return at + int64(i), int64(fr.Num) * int64(fs.si.BlockSizeMax), true
			}
		}
	}
	return 0, 0, false
}

// fits reports whether frame header h belongs to the stream: its channels
// and block sizes, so that no frame of another stream glued on is taken
// for one of this.
func (fs flacSegments) fits(h frame.Header) bool {
	return int(h.Channels.Count()) == int(fs.si.NChannels) && h.HasFixedBlockSize &&
		(h.BitsPerSample == 0 || h.BitsPerSample == fs.si.BitsPerSample)
}

// segment decodes the frames in the bytes [from, to) into chans, and
// reports whether they hold exactly the samples [lo, hi), in order, each
// frame whole, intact and of the stream.
func (fs flacSegments) segment(from, to, lo, hi int64, chans [][]float32) bool {
	stream, err := flac.New(io.MultiReader(bytes.NewReader(fs.head), io.NewSectionReader(fs.in.r, from, to-from)))
	if err != nil {
		return false
	}
	block := int64(fs.si.BlockSizeMax)
	for next := lo; ; {
		if fs.in.ctx.Err() != nil {
			return false
		}
		fr, err := stream.Next()
		if errors.Is(err, io.EOF) {
			return next == hi
		}
		if err != nil || !fs.fits(fr.Header) {
			return false
		}
		if fr.BitsPerSample == 0 {
			fr.BitsPerSample = fs.si.BitsPerSample
		}
		if err := fr.Parse(); err != nil {
			return false
		}
		n := int64(fr.BlockSize)
		bits := int(fr.BitsPerSample)
		if int64(fr.Num)*block != next || next+n > hi || bits < 4 || bits > 32 || len(fr.Subframes) != len(chans) {
			return false
		}
		scale := float32(1 / float64(uint64(1)<<(bits-1)))
		for c, sf := range fr.Subframes {
			if int64(len(sf.Samples)) < n {
				return false
			}
			dst := chans[c][next : next+n]
			for j, v := range sf.Samples[:n] {
				dst[j] = float32(v) * scale
			}
		}
		next += n
	}
}
