package decode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mewkiz/flac"
)

// decodeFLAC decodes a FLAC stream with mewkiz/flac. Samples are scaled by
// 2^-(bits-1), exactly as ffmpeg converts them to float.
func decodeFLAC(in *input) (*Audio, error) {
	info, audio, err := flacMetadata(in)
	if err != nil {
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
	stream, err := flac.New(io.MultiReader(bytes.NewReader(slices.Concat([]byte("fLaC"), info)), io.NewSectionReader(in.r, audio, end-audio)))
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
	if rate == 0 || rate > maxRate {
		return nil, fmt.Errorf("%w: FLAC sample rate %d Hz", ErrCorrupt, rate)
	}
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
	return &Audio{Rate: rate, Channels: chans, SourceDuration: src}, nil
}

// flacMetadata walks the metadata blocks of the FLAC stream at in.start
// and returns a copy of its STREAMINFO block, header included, and the
// offset at which its frames begin.
func flacMetadata(in *input) ([]byte, int64, error) {
	w := &window{r: in.r, size: in.size}
	off := in.start + 4 // past "fLaC"
	var info []byte
	for n := 0; ; n++ {
		if n&4095 == 4095 {
			if err := in.ctx.Err(); err != nil {
				return nil, 0, err
			}
		}
		h := w.at(off, 4)
		if h == nil {
			return nil, 0, fmt.Errorf("%w: FLAC header: truncated: metadata block %d at byte %d is cut short", ErrCorrupt, n, off)
		}
		last, typ := h[0]&0x80 != 0, h[0]&0x7f
		length := int64(h[1])<<16 | int64(h[2])<<8 | int64(h[3])
		switch {
		case n == 0 && (typ != 0 || length != 34):
			return nil, 0, fmt.Errorf("%w: FLAC header: the stream starts with a metadata block of type %d and %d bytes, not STREAMINFO", ErrCorrupt, typ, length)
		case n > 0 && typ == 0:
			// What zeros read as; STREAMINFO comes once.
			return nil, 0, fmt.Errorf("%w: FLAC header: metadata block %d at byte %d is a second STREAMINFO", ErrCorrupt, n, off)
		case typ == 127:
			return nil, 0, fmt.Errorf("%w: FLAC header: metadata block %d at byte %d has the invalid type 127", ErrCorrupt, n, off)
		}
		if n == 0 {
			b := w.at(off, 4+34)
			if b == nil {
				return nil, 0, fmt.Errorf("%w: FLAC header: truncated: the STREAMINFO block is cut short", ErrCorrupt)
			}
			info = slices.Clone(b)
		}
		off += 4 + length
		if off > in.size {
			return nil, 0, fmt.Errorf("%w: FLAC header: truncated: metadata block %d of %d bytes runs past the end of the file", ErrCorrupt, n, length)
		}
		if last {
			return info, off, nil
		}
	}
}
