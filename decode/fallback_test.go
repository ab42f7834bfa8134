package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mewkiz/flac"
)

// The decoders that split a long song into segments decoded at once fall
// back to one decoder from the start whenever a segment fails or comes
// out short, so that a damaged file gets what one decoder gives it. These
// tests damage files so that segments fail, check that they do, and check
// that the decode in segments then gives exactly one decoder's samples or
// error.

// sameDecode fails t unless a and err are what one decoder gave: want and
// wantErr.
func sameDecode(t *testing.T, what string, a *Audio, err error, want *Audio, wantErr error) {
	t.Helper()
	switch {
	case (err == nil) != (wantErr == nil):
		t.Errorf("%s: error %v; one decoder's: %v", what, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Errorf("%s: error %q; one decoder's: %q", what, err, wantErr)
	case err != nil:
	case a.Rate != want.Rate || a.SourceDuration != want.SourceDuration || len(a.Channels) != len(want.Channels):
		t.Errorf("%s: %d Hz, %g s, %d channels; one decoder: %d Hz, %g s, %d channels",
			what, a.Rate, a.SourceDuration, len(a.Channels), want.Rate, want.SourceDuration, len(want.Channels))
	default:
		for c := range a.Channels {
			if !slices.Equal(a.Channels[c], want.Channels[c]) {
				t.Errorf("%s: channel %d differs from one decoder's (%d samples, %d)", what, c, len(a.Channels[c]), len(want.Channels[c]))
			}
		}
	}
}

// putBits writes the n low bits of v into b at bit offset at, most
// significant first, as MPEG side information is packed.
func putBits(b []byte, at, n int, v uint64) {
	for i := range n {
		bit := byte(v>>(n-1-i)) & 1
		p := at + i
		b[p/8] = b[p/8]&^(0x80>>(p%8)) | bit<<(7-p%8)
	}
}

// An MP3 frame in the middle whose side information claims 511 big
// values for its first granule, more than the 576 spectral lines hold
// (twice that), makes go-mp3 fail on it: the segment holding it fails, and
// the decode in segments reports the error one decoder reports, in MPEG-1
// and MPEG-2 alike.
//
// A segment that decodes without error yet comes out short is not
// reached by data: walkMP3 refuses a file cut inside a frame before
// anything is decoded and hands each decoder whole frames only, and
// go-mp3 gives a frame's samples for every frame it reads without error.
func TestMP3SegmentFailsOnDamagedFrame(t *testing.T) {
	tested := 0
	for name, data := range mp3Songs(t) {
		in := mp3Input(t, data)
		st, err := walkMP3(in, in.start, audioEnd(in.r, in.start, in.size))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.goMP3Short || st.frames < 100 {
			continue // decoded in one piece, or too short to split
		}
		tested++
		damaged := bytes.Clone(data)
		f := st.index[st.frames/2]
		side := int(f.off) + 4
		if st.first.crc {
			side += 2
		}
		// main_data_begin, private bits and (in MPEG-1) scfsi, then
		// part2_3_length and big_values of granule 0, channel 0.
		var at int
		switch {
		case st.first.version == mpeg1 && st.first.mono:
			at = 9 + 5 + 4
		case st.first.version == mpeg1:
			at = 9 + 3 + 8
		case st.first.mono:
			at = 8 + 1
		default:
			at = 8 + 2
		}
		putBits(damaged[side:], at+12, 9, 511)

		in = mp3Input(t, damaged)
		one, oneErr := decodeMP3In(in, 1)
		if oneErr == nil {
			t.Fatalf("%s: the damaged frame decodes with one decoder", name)
		}
		st, err = walkMP3(in, in.start, audioEnd(in.r, in.start, in.size))
		if err != nil {
			t.Fatalf("%s: the damage is in the frame, not its header: %v", name, err)
		}
		for _, k := range []int{2, 3, 5} {
			if !mp3SegmentFails(in, st, k) {
				t.Fatalf("%s, %d segments: none fails, so the fallback is not reached", name, k)
			}
			a, err := decodeMP3In(in, k)
			sameDecode(t, name, a, err, one, oneErr)
		}
	}
	if tested < 2 {
		t.Fatalf("%d MP3s long enough to split", tested)
	}
}

// mp3SegmentFails reports whether any of the k segments of st, decoded
// alone, fails or panics.
func mp3SegmentFails(in *input, st *mp3Stream, k int) (failed bool) {
	defer func() {
		if recover() != nil {
			failed = true
		}
	}()
	nch := 2
	if st.first.mono {
		nch = 1
	}
	spf := st.first.samples()
	total := int64(st.frames) * int64(spf)
	chans := make([][]float32, nch)
	for c := range chans {
		chans[c] = make([]float32, total)
	}
	out := mp3Out{chans: chans, nch: nch, spf: spf, want: total}
	maxBegin := 511
	if st.first.version != mpeg1 {
		maxBegin = 255
	}
	for _, sg := range splitMP3(st.index, k, maxBegin) {
		if _, err := decodeMP3Segment(in, st, out, sg); err != nil {
			return true
		}
	}
	return false
}

// A FLAC stream damaged so that its segments cannot account for every
// sample STREAMINFO announces, or fail, falls back to one decoder and
// gives its samples or its error: a STREAMINFO total two blocks longer
// than the frames (an error), one block shorter (the frames decode, all
// of them, as one decoder reads them), a frame in the middle with a
// damaged byte (its CRC-16 fails), and the file cut inside a frame.
func TestFLACSegmentFallback(t *testing.T) {
	const name = "../testdata/calibration/02-andante-a-minor.flac"
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	in, fs, audio := flacSegmentsOf(t, data)
	si := fs.si
	if si.BlockSizeMin != si.BlockSizeMax || si.NSamples/uint64(si.BlockSizeMax) < 40 {
		t.Fatalf("%s: block sizes %d–%d, %d samples; want a fixed block size and 40 frames or more",
			name, si.BlockSizeMin, si.BlockSizeMax, si.NSamples)
	}
	// withTotal returns data with STREAMINFO's total samples replaced:
	// the low 36 bits of the 8 bytes after the block and frame sizes.
	withTotal := func(total uint64) []byte {
		b := bytes.Clone(data)
		p := int(in.start) + 4 + 4 + 10
		v := binary.BigEndian.Uint64(b[p:])
		binary.BigEndian.PutUint64(b[p:], v&^(1<<36-1)|total)
		return b
	}
	mid, _, ok := fs.nextFrame(audio + (fs.end-audio)/2)
	if !ok {
		t.Fatal("no frame found in the middle")
	}
	damaged := bytes.Clone(data)
	damaged[mid+200] ^= 0x55
	block := uint64(si.BlockSizeMax)
	cases := []struct {
		name    string
		data    []byte
		decodes bool // one decoder gives samples, not an error
	}{
		{"total two blocks long", withTotal(si.NSamples + 2*block), false},
		{"total a block short", withTotal(si.NSamples - block), true},
		{"damaged frame", damaged, false},
		{"cut inside a frame", data[:mid+200], false},
	}
	for _, c := range cases {
		newInput := func() *input {
			r := bytes.NewReader(c.data)
			_, start, err := sniffAt(r, int64(len(c.data)))
			if err != nil {
				t.Fatal(err)
			}
			return &input{ctx: context.Background(), r: r, size: int64(len(c.data)), start: start}
		}
		one, oneErr := decodeFLACIn(newInput(), 1)
		if (oneErr == nil) != c.decodes {
			t.Fatalf("%s: one decoder gives %v", c.name, oneErr)
		}
		for _, k := range []int{2, 3, 7} {
			_, fs, audio := flacSegmentsOf(t, c.data)
			if _, ok := fs.decode(audio, k); ok {
				t.Fatalf("%s, %d segments: all decoded cleanly, so the fallback is not reached", c.name, k)
			}
			a, err := decodeFLACIn(newInput(), k)
			sameDecode(t, c.name, a, err, one, oneErr)
		}
	}
}

// flacSegmentsOf returns the input of the FLAC data, the segment decoder
// decodeFLACIn would use for it, and the offset of its first frame.
func flacSegmentsOf(t *testing.T, data []byte) (*input, flacSegments, int64) {
	t.Helper()
	r := bytes.NewReader(data)
	_, start, err := sniffAt(r, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	in := &input{ctx: context.Background(), r: r, size: int64(len(data)), start: start}
	info, audio, _, err := flacMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	info[0] |= 0x80
	head := slices.Concat([]byte("fLaC"), info)
	stream, err := flac.New(bytes.NewReader(head))
	if err != nil {
		t.Fatal(err)
	}
	return in, flacSegments{in: in, head: head, si: stream.Info, end: audioEnd(in.r, audio, in.size)}, audio
}

// Songs that share Cores decode to the same samples as songs that do
// not, however few cores they share: their segments wait for a core in
// turn. MP3s and FLACs of the calibration set, four segments each, on one
// core at once.
func TestSegmentsShareCores(t *testing.T) {
	type song struct {
		name string
		dec  func(*input, int) (*Audio, error)
	}
	var songs []song
	for _, n := range []string{"03-ballad-g-major.mp3", "07-house-d-minor.mp3", "11-dnb-fs-minor.mp3"} {
		songs = append(songs, song{n, decodeMP3In})
	}
	for _, n := range []string{"02-andante-a-minor.flac", "06-pop-f-major.flac"} {
		songs = append(songs, song{n, decodeFLACIn})
	}
	input := func(name string, opts Options) *input {
		data, err := os.ReadFile("../testdata/calibration/" + name)
		if err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(data)
		_, start, err := sniffAt(r, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		return &input{ctx: context.Background(), r: r, size: int64(len(data)), start: start, opts: opts}
	}
	cores := NewCores(1)
	var wg sync.WaitGroup
	for _, s := range songs {
		want, wantErr := s.dec(input(s.name, Options{}), 4)
		if wantErr != nil {
			t.Fatalf("%s: %v", s.name, wantErr)
		}
		in := input(s.name, Options{Cores: cores})
		wg.Go(func() {
			got, err := s.dec(in, 4)
			sameDecode(t, s.name, got, err, want, wantErr)
		})
	}
	wg.Wait()
	if len(cores) != 0 {
		t.Errorf("%d cores still taken after every decode ended", len(cores))
	}
}

// A segment waiting for a core gives up when its song is cancelled: the
// decode ends with the cancellation, not when another song's segments
// let a core go.
func TestSegmentWaitingForCoreCancelled(t *testing.T) {
	data, err := os.ReadFile("../testdata/calibration/07-house-d-minor.mp3")
	if err != nil {
		t.Fatal(err)
	}
	cores := NewCores(1)
	cores.acquire(context.Background()) // held by another song
	ctx, cancel := context.WithCancel(context.Background())
	in := mp3Input(t, data)
	in.ctx, in.opts = ctx, Options{Cores: cores}
	done := make(chan error, 1)
	go func() {
		_, err := decodeMP3In(in, 4)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v, want the cancellation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the decode waits for a core after its song was cancelled")
	}
}
