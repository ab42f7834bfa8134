package decode

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// MP4 boxes (ISO/IEC 14496-12) are parsed here directly rather than with
// go-faad2's own demuxer, which reads the whole file into memory and
// trusts the sample counts it finds.

// maxMoov bounds the size of the movie box read into memory: its sample
// tables for even a very long song are a few megabytes.
const maxMoov = 64 << 20

// box is one MP4 box inside a byte slice.
type box struct {
	typ  string
	body []byte
}

// boxes splits b into its child boxes.
func boxes(b []byte) ([]box, error) {
	var out []box
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: MP4 box header cut short", ErrCorrupt)
		}
		size := uint64(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return nil, fmt.Errorf("%w: MP4 box header cut short", ErrCorrupt)
			}
			size, hdr = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < hdr || size > uint64(len(b)) {
			return nil, fmt.Errorf("%w: MP4 box %q claims %d bytes, %d remain", ErrCorrupt, printable([]byte(typ)), size, len(b))
		}
		out = append(out, box{typ: typ, body: b[hdr:size]})
		b = b[size:]
	}
	return out, nil
}

// child returns the first child box of type typ in b.
func child(b []byte, typ string) ([]byte, bool) {
	bs, err := boxes(b)
	if err != nil {
		return nil, false
	}
	for _, x := range bs {
		if x.typ == typ {
			return x.body, true
		}
	}
	return nil, false
}

// path follows a chain of box types down from b.
func path(b []byte, types ...string) ([]byte, bool) {
	for _, t := range types {
		var ok bool
		if b, ok = child(b, t); !ok {
			return nil, false
		}
	}
	return b, true
}

// mp4Track is what decoding one audio track needs.
type mp4Track struct {
	codec      string // sample entry type: "mp4a", "alac", …
	oti        byte   // MPEG-4 objectTypeIndication from the esds
	asc        []byte // AudioSpecificConfig
	alac       []byte // ALACSpecificConfig, for codec "alac"
	timescale  uint32 // of the media (mdhd)
	sizes      []uint32
	fixedSize  uint32
	count      uint64
	offsets    []uint64
	stsc       []stscEntry
	durations  uint64 // sum of stts, in timescale units
	editSkip   int64  // media time the edit list starts at (priming)
	editLength int64  // length the edit list keeps, in media timescale; -1 = all
}

type stscEntry struct{ firstChunk, perChunk uint32 }

// name names the track's codec in messages.
func (t *mp4Track) name() string {
	if t.codec == "alac" {
		return "ALAC"
	}
	return "AAC"
}

// decodeM4A decodes the first AAC or ALAC audio track of an MP4/M4A file.
func decodeM4A(in *input) (*Audio, error) {
	moov, err := readMoov(in)
	if err != nil {
		return nil, err
	}
	// A movie extends box means samples follow in movie fragments that the
	// sample tables here do not list: decoding the tables alone would give
	// the first fragment, or nothing, as if it were the whole song.
	if _, ok := child(moov, "mvex"); ok {
		return nil, unsupported("fragmented MP4 (movie fragments, as DASH and streaming writers make) is not supported")
	}
	var movieScale uint32
	if mvhd, ok := child(moov, "mvhd"); ok && len(mvhd) >= 20 {
		if mvhd[0] == 1 && len(mvhd) >= 28 {
			movieScale = binary.BigEndian.Uint32(mvhd[20:])
		} else {
			movieScale = binary.BigEndian.Uint32(mvhd[12:])
		}
	}
	kids, err := boxes(moov)
	if err != nil {
		return nil, err
	}
	var tr *mp4Track
	found := ""
	for _, k := range kids {
		if k.typ != "trak" {
			continue
		}
		t, err := parseTrak(k.body, movieScale, in.size-in.start)
		if err != nil {
			return nil, err
		}
		if t == nil {
			continue
		}
		if t.codec == "mp4a" && (t.oti == 0x40 || t.oti == 0x66 || t.oti == 0x67 || t.oti == 0x68) || t.codec == "alac" {
			tr = t
			break
		}
		if found == "" {
			found = t.codec
			if t.codec == "mp4a" {
				found = fmt.Sprintf("mp4a with object type 0x%02x", t.oti)
			}
		}
	}
	if tr == nil {
		switch found {
		case "":
			return nil, fmt.Errorf("%w: the MP4 file has no audio track", ErrEmpty)
		case "mp4a with object type 0x6b", "mp4a with object type 0x69", ".mp3":
			return nil, unsupported("MP3 in MP4 is not supported")
		case "Opus":
			return nil, unsupported("Opus in MP4 is not supported")
		}
		return nil, unsupported("MP4 audio codec %q is not supported", printable([]byte(found)))
	}
	if tr.timescale == 0 {
		return nil, fmt.Errorf("%w: the %s track has timescale 0", ErrCorrupt, tr.name())
	}
	if tr.codec == "alac" {
		return decodeALACTrack(in, tr)
	}
	if len(tr.asc) == 0 {
		return nil, fmt.Errorf("%w: the AAC track has no decoder config", ErrCorrupt)
	}
	// The length in media time: the edit list's, else all samples'.
	length := int64(tr.durations)
	if length == 0 {
		length = int64(tr.count) * 1024
	}
	length -= tr.editSkip
	if tr.editLength >= 0 && tr.editLength < length {
		length = tr.editLength
	}
	return decodeAACFrames(in, tr.asc, int64(tr.timescale), tr.editSkip, max(length, 0), tr.frames(in))
}

// decodeAACFrames decodes the raw AAC frames that frames visits, for the
// AudioSpecificConfig asc. The container's timing comes in units of timescale per second:
// skip is the priming to drop, length what to keep after it.
func decodeAACFrames(in *input, asc []byte, timescale, skip, length int64, frames frameWalker) (*Audio, error) {
	// The clamp keeps a lying table's counts from overflowing once scaled
	// to the core rate below: 2^40 units are years of audio.
	skip, length = min(skip, 1<<40), min(length, 1<<40)
	srcDur := float64(length) / float64(timescale)
	want := int64(-1)
	if in.opts.MaxSeconds > 0 {
		want = int64(math.Ceil(in.opts.MaxSeconds * float64(timescale)))
	} else if err := in.checkLength(srcDur); err != nil {
		return nil, err
	}
	if want < 0 || want > length {
		want = length
	}

	dec, err := newAACDecoder(asc)
	if err != nil {
		return nil, err
	}
	defer dec.close()
	// The skip and want are in the container's time; make them samples
	// at the core rate.
	coreRate := int64(ascRate(asc))
	if coreRate == 0 {
		coreRate = timescale
	}
	scale := func(v int64) int64 { return v * coreRate / timescale }
	// faad2 holds back its first frame's output, which is exactly the
	// 1024 samples (at the core rate) of priming an encoder puts first,
	// and the edit list counts: skip only what the edit list asks beyond
	// that. 1024 core samples are 1024 units of media time only when the
	// media timescale is the core rate: not in a track timed at 90 kHz,
	// nor in HE-AAC, whose track is timed at the doubled output rate.
	skip = max(0, scale(skip)-1024)
	// A compressed byte rarely carries more than a few samples; the cap
	// only limits what a lying header can make us allocate up front.
	size := in.size - in.start
	pre := min(scale(want), size*16)
	sink := &aacSink{coreRate: int(coreRate), skip: skip, want: scale(want),
		expect: pre, chans: newChannels(dec.channels, pre, size), maxSeconds: in.opts.MaxSeconds}
	buf := make([]byte, maxAACFrame)
	err = frames(maxAACFrame, func(i uint64, off int64, n uint32) (bool, error) {
		if i&255 == 0 {
			if err := in.ctx.Err(); err != nil {
				return false, err
			}
		}
		b := buf[:n]
		if _, err := in.r.ReadAt(b, off); err != nil {
			return false, fmt.Errorf("%w: AAC frame %d at byte %d: %v", ErrCorrupt, i, off, err)
		}
		pcm, err := dec.decode(b)
		if err != nil {
			return false, fmt.Errorf("%w: AAC frame %d: %v", ErrCorrupt, i, err)
		}
		if err := sink.add(pcm); err != nil {
			return false, err
		}
		return !sink.done(), nil
	})
	if err != nil {
		return nil, err
	}
	chans := toWAVEOrder(sink.chans, ascChannels(asc))
	if ascChannels(asc) == 1 {
		chans = collapseMono(chans)
	}
	rate := sink.rate
	if rate == 0 {
		rate = int(coreRate)
	}
	if in.opts.MaxSeconds <= 0 {
		srcDur = float64(len(chans[0])) / float64(rate)
	}
	return &Audio{Format: AAC, Rate: rate, Channels: chans, Layout: aacLayout(ascChannels(asc), len(chans)), SourceDuration: srcDur}, nil
}

// ascChannels returns the channel configuration of an AudioSpecificConfig
// with a 5-bit object type and an indexed sample rate, else 0.
func ascChannels(asc []byte) int {
	if len(asc) < 2 || asc[0]>>3 == 31 || (asc[0]&7)<<1|asc[1]>>7 == 15 {
		return 0
	}
	return int(asc[1]>>3) & 0xf
}

// ascRate returns the core sample rate of an AudioSpecificConfig with an
// indexed rate, else 0.
func ascRate(asc []byte) int {
	if len(asc) < 2 || asc[0]>>3 == 31 {
		return 0
	}
	return adtsSampleRates[(asc[0]&7)<<1|asc[1]>>7]
}

// readMoov finds the top-level moov box and reads it into memory.
func readMoov(in *input) ([]byte, error) {
	off := in.start
	w := &window{r: in.r, size: in.size}
	// Boxes may be as small as 8 bytes: through the window, millions of
	// them cost no more than their bytes to read, and the context can
	// still end the walk.
	for n := 0; off+8 <= in.size; n++ {
		if n&4095 == 4095 {
			if err := in.ctx.Err(); err != nil {
				return nil, err
			}
		}
		h := w.at(off, 8)
		if h == nil {
			return nil, fmt.Errorf("%w: MP4: cannot read the box header at byte %d", ErrCorrupt, off)
		}
		size := uint64(binary.BigEndian.Uint32(h))
		typ := string(h[4:8])
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(in.size - off)
		case 1:
			h = w.at(off+8, 8)
			if h == nil {
				return nil, fmt.Errorf("%w: the MP4 box %q at byte %d is cut short", ErrCorrupt, printable([]byte(typ)), off)
			}
			size, hdr = binary.BigEndian.Uint64(h), 16
		}
		if size < hdr || size > uint64(in.size-off) {
			return nil, fmt.Errorf("%w: the MP4 box %q at byte %d claims %d bytes, %d remain", ErrCorrupt, printable([]byte(typ)), off, size, in.size-off)
		}
		if typ == "moov" {
			if size > maxMoov {
				return nil, fmt.Errorf("%w: MP4 movie box of %d bytes", ErrCorrupt, size)
			}
			b := make([]byte, size-hdr)
			if _, err := in.r.ReadAt(b, off+int64(hdr)); err != nil && err != io.EOF {
				return nil, fmt.Errorf("%w: MP4: %v", ErrCorrupt, err)
			}
			return b, nil
		}
		off += int64(size)
	}
	return nil, fmt.Errorf("%w: the MP4 file has no movie box (moov)", ErrCorrupt)
}

// parseTrak reads an audio track; it returns nil for other tracks.
func parseTrak(trak []byte, movieScale uint32, fileSize int64) (*mp4Track, error) {
	be := binary.BigEndian
	hdlr, ok := path(trak, "mdia", "hdlr")
	if !ok || len(hdlr) < 12 || string(hdlr[8:12]) != "soun" {
		return nil, nil
	}
	t := &mp4Track{editLength: -1}
	if mdhd, ok := path(trak, "mdia", "mdhd"); ok && len(mdhd) >= 24 {
		if mdhd[0] == 1 && len(mdhd) >= 32 {
			t.timescale = be.Uint32(mdhd[20:])
		} else {
			t.timescale = be.Uint32(mdhd[12:])
		}
	}
	stbl, ok := path(trak, "mdia", "minf", "stbl")
	if !ok {
		return nil, fmt.Errorf("%w: MP4 audio track without a sample table", ErrCorrupt)
	}
	if stsd, ok := child(stbl, "stsd"); ok && len(stsd) >= 8 {
		entries, err := boxes(stsd[8:])
		if err == nil && len(entries) > 0 {
			e := entries[0]
			t.codec = e.typ
			t.parseSampleEntry(e.body)
		}
	}
	if t.codec != "mp4a" && t.codec != "alac" {
		return t, nil
	}
	if stsz, ok := child(stbl, "stsz"); ok && len(stsz) >= 12 {
		t.fixedSize = be.Uint32(stsz[4:])
		t.count = uint64(be.Uint32(stsz[8:]))
		if t.fixedSize == 0 {
			n := min(t.count, uint64(len(stsz)-12)/4)
			t.count = n
			t.sizes = make([]uint32, n)
			for i := range t.sizes {
				t.sizes[i] = be.Uint32(stsz[12+4*i:])
			}
		} else {
			// Each sample is fixedSize bytes of the file.
			t.count = min(t.count, uint64(fileSize)/uint64(t.fixedSize))
		}
	}
	if stco, ok := child(stbl, "stco"); ok && len(stco) >= 8 {
		n := min(uint64(be.Uint32(stco[4:])), uint64(len(stco)-8)/4)
		t.offsets = make([]uint64, n)
		for i := range t.offsets {
			t.offsets[i] = uint64(be.Uint32(stco[8+4*i:]))
		}
	} else if co64, ok := child(stbl, "co64"); ok && len(co64) >= 8 {
		n := min(uint64(be.Uint32(co64[4:])), uint64(len(co64)-8)/8)
		t.offsets = make([]uint64, n)
		for i := range t.offsets {
			t.offsets[i] = be.Uint64(co64[8+8*i:])
		}
	}
	if stsc, ok := child(stbl, "stsc"); ok && len(stsc) >= 8 {
		n := min(uint64(be.Uint32(stsc[4:])), uint64(len(stsc)-8)/12)
		t.stsc = make([]stscEntry, n)
		for i := range t.stsc {
			p := stsc[8+12*i:]
			t.stsc[i] = stscEntry{be.Uint32(p), be.Uint32(p[4:])}
		}
	}
	if stts, ok := child(stbl, "stts"); ok && len(stts) >= 8 {
		n := min(uint64(be.Uint32(stts[4:])), uint64(len(stts)-8)/8)
		for i := range n {
			p := stts[8+8*i:]
			t.durations += uint64(be.Uint32(p)) * uint64(be.Uint32(p[4:]))
		}
	}
	if elst, ok := path(trak, "edts", "elst"); ok && len(elst) >= 8 {
		// The first edit with a media time: older encoders write an empty
		// edit (-1) first.
		v1 := elst[0] == 1
		n := int(min(uint64(be.Uint32(elst[4:])), 1<<16))
		p := elst[8:]
		for range n {
			var dur uint64
			var mt int64
			if v1 {
				if len(p) < 20 {
					break
				}
				dur, mt = be.Uint64(p), int64(be.Uint64(p[8:]))
				p = p[20:]
			} else {
				if len(p) < 12 {
					break
				}
				dur, mt = uint64(be.Uint32(p)), int64(int32(be.Uint32(p[4:])))
				p = p[12:]
			}
			if mt < 0 {
				continue
			}
			t.editSkip = mt
			if movieScale > 0 && dur > 0 && dur < 1<<40 {
				t.editLength = int64(dur * uint64(t.timescale) / uint64(movieScale))
			}
			break
		}
	}
	return t, nil
}

// parseSampleEntry reads an audio sample entry (ISO/IEC 14496-12 §12.2.3)
// and its esds box (ISO/IEC 14496-1 §7.2.6.5).
func (t *mp4Track) parseSampleEntry(b []byte) {
	if len(b) < 28 {
		return
	}
	skip := 28
	switch binary.BigEndian.Uint16(b[8:]) { // QuickTime sound description version
	case 1:
		skip += 16
	case 2:
		skip += 36
	}
	if len(b) < skip {
		return
	}
	if t.codec == "alac" {
		// The magic cookie: a full box (version and flags) holding the
		// ALACSpecificConfig, in a QuickTime 'wave' box in .mov files.
		c, ok := child(b[skip:], "alac")
		if !ok {
			c, ok = path(b[skip:], "wave", "alac")
		}
		if ok && len(c) >= 4 {
			t.alac = append([]byte(nil), c[4:]...)
		}
		return
	}
	esds, ok := child(b[skip:], "esds")
	if !ok {
		// A QuickTime (.mov, some .m4a) sound description of version 1
		// or 2 keeps it inside a 'wave' box, after 'frma' and 'mp4a'.
		esds, ok = path(b[skip:], "wave", "esds")
	}
	if !ok || len(esds) < 4 {
		return
	}
	t.oti, t.asc = esDescriptor(esds[4:])
}

// esDescriptor reads an MPEG-4 ES_Descriptor (ISO/IEC 14496-1 §7.2.6.5),
// the body of an esds box and a CAF file's AAC cookie, and returns the
// objectTypeIndication and the AudioSpecificConfig it holds; zero values
// where it holds none.
func esDescriptor(d []byte) (oti byte, asc []byte) {
	// ES_Descriptor (tag 3) holds DecoderConfigDescriptor (tag 4), which
	// holds DecoderSpecificInfo (tag 5): the AudioSpecificConfig.
	for len(d) > 0 {
		tag := d[0]
		n, body, ok := descriptor(d[1:])
		if !ok {
			return oti, nil
		}
		switch tag {
		case 3:
			if len(body) < 3 {
				return oti, nil
			}
			flags := body[2]
			p := 3
			if flags&0x80 != 0 {
				p += 2
			}
			if flags&0x40 != 0 {
				if len(body) <= p {
					return oti, nil
				}
				p += 1 + int(body[p])
			}
			if flags&0x20 != 0 {
				p += 2
			}
			if p > len(body) {
				return oti, nil
			}
			d = body[p:]
			continue
		case 4:
			if len(body) < 13 {
				return oti, nil
			}
			oti = body[0]
			d = body[13:]
			continue
		case 5:
			return oti, append([]byte(nil), body...)
		}
		d = d[1+n:]
	}
	return oti, nil
}

// descriptor reads an MPEG-4 descriptor's length (up to four 7-bit
// groups) and returns the bytes it spans after the tag and its body.
func descriptor(b []byte) (int, []byte, bool) {
	size, i := 0, 0
	for ; i < 4; i++ {
		if i >= len(b) {
			return 0, nil, false
		}
		size = size<<7 | int(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			break
		}
	}
	i++
	if i+size > len(b) {
		return 0, nil, false
	}
	return i + size, b[i : i+size], true
}

// maxAACFrame bounds one AAC frame's size: 6144 bits per channel for up
// to 48 channels, with room to spare (ISO/IEC 14496-3 §4.5.3.2).
const maxAACFrame = 64 << 10

// frameWalker calls fn with the number, offset in the file and size of
// each compressed frame of a stream in turn, until fn says to stop; a
// frame larger than maxSize, or running past the data, is an error.
type frameWalker func(maxSize uint32, fn func(i uint64, off int64, size uint32) (bool, error)) error

// frames walks the track's samples at their offsets in the file: the
// sample tables count from the start of the MP4 data, which an ID3 tag
// may precede.
func (t *mp4Track) frames(in *input) frameWalker {
	return func(maxSize uint32, fn func(i uint64, off int64, size uint32) (bool, error)) error {
		return t.eachSample(in.size-in.start, maxSize, func(i, off uint64, size uint32) (bool, error) {
			return fn(i, in.start+int64(off), size)
		})
	}
}

// eachSample calls fn with the offset and size of every sample, in order,
// worked out from the chunk offsets, the samples-per-chunk runs and the
// sample sizes; fn returns false to stop. Offsets count from the start of
// the MP4 data, fileSize bytes long. Samples are visited lazily, so a
// table that claims billions of samples costs nothing up front.
func (t *mp4Track) eachSample(fileSize int64, maxSize uint32, fn func(i uint64, off uint64, size uint32) (bool, error)) error {
	if len(t.offsets) == 0 || len(t.stsc) == 0 || t.count == 0 {
		return fmt.Errorf("%w: the %s track has no samples", ErrEmpty, t.name())
	}
	si := uint64(0)
	e := 0
	for c := range t.offsets {
		chunk := uint32(c + 1)
		for e+1 < len(t.stsc) && t.stsc[e+1].firstChunk <= chunk {
			e++
		}
		per := t.stsc[e].perChunk
		off := t.offsets[c]
		for k := uint32(0); k < per && si < t.count; k++ {
			size := t.fixedSize
			if size == 0 {
				size = t.sizes[si]
			}
			if size > maxSize {
				return fmt.Errorf("%w: %s sample %d claims %d bytes", ErrCorrupt, t.name(), si, size)
			}
			if off > uint64(fileSize) || uint64(size) > uint64(fileSize)-off {
				return fmt.Errorf("%w: %s sample %d at byte %d runs past the end of the file (%d bytes)", ErrCorrupt, t.name(), si, off, fileSize)
			}
			more, err := fn(si, off, size)
			if err != nil || !more {
				return err
			}
			off += uint64(size)
			si++
		}
		if si >= t.count {
			break
		}
	}
	return nil
}
