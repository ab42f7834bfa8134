// Package decode turns an audio file (WAV, AIFF, CAF, FLAC, MP3, AAC or
// Apple Lossless) into float32 samples per channel, detecting the format
// from the bytes, never from the file's name.
//
// Every decoder reads through an io.ReaderAt, so a long file is never read
// into memory whole, and every allocation is bounded by the size of the data
// actually present, whatever the headers claim. Bad input gives an error
// that names the file and the reason; it never panics or hangs.
package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/songflow/songflow/dsp"
)

// Format names a supported audio format.
type Format string

// The supported formats. AAC covers the MP4/M4A and CAF containers and raw
// ADTS streams; AIFF covers AIFF-C with uncompressed samples too.
const (
	WAV  Format = "wav"
	AIFF Format = "aiff"
	FLAC Format = "flac"
	MP3  Format = "mp3"
	AAC  Format = "aac"
	// ALAC is Apple Lossless, in an MP4/M4A or a CAF file.
	ALAC Format = "alac"
	// CAF is linear PCM in Apple's Core Audio Format.
	CAF Format = "caf"
)

// Errors that callers branch on. Returned errors wrap them, so test with
// errors.Is; the message adds what exactly was found.
var (
	// ErrUnsupported means the data is a known format or codec that this
	// package does not decode (Ogg, Opus, compressed AIFF-C, µ-law CAF, …)
	// or is not audio at all.
	ErrUnsupported = errors.New("unsupported format")
	// ErrEmpty means there is no audio: an empty file, or headers with no
	// samples after them.
	ErrEmpty = errors.New("no audio")
	// ErrCorrupt means the data is damaged or truncated. An MP3 cut
	// exactly between two frames is known to be truncated only by the
	// Xing/Info or VBRI header that says how long it was; without one it
	// decodes as the shorter song it holds.
	ErrCorrupt = errors.New("corrupt or truncated")
	// ErrTooLong means the song is longer than Options.MaxDuration.
	ErrTooLong = errors.New("song too long")
)

// Options bound how much is decoded.
type Options struct {
	// MaxSeconds > 0 decodes only the first MaxSeconds of the song; 0
	// decodes the whole song.
	MaxSeconds float64
	// MaxDuration > 0 refuses, with ErrTooLong, a song longer than this
	// many seconds when the whole song is asked for (MaxSeconds == 0). The
	// length is taken from the headers where they give it, so a long song
	// is refused before it is decoded.
	MaxDuration float64
	// Cores, when not nil, bounds the segments of MP3 and FLAC songs that
	// decode at once across every decode sharing it; nil lets each song
	// run its segments all at once.
	Cores Cores
}

// Cores bounds how many segment decoders run at once across songs. A
// long MP3 or FLAC song decodes in as many segments as there are cores,
// so two songs decoding side by side ran twice as many busy goroutines
// as cores: more work was not done, but a goroutine that woke for
// anything else (an HTTP request to songflow serve) waited behind them
// for its turn, and /health, due in 100 ms, took up to 230 ms.
type Cores chan struct{}

// NewCores returns Cores that let n segment decoders run at once.
func NewCores(n int) Cores { return make(Cores, max(n, 1)) }

// acquire waits for a core; false when ctx ended first. Nil Cores always
// have one.
func (c Cores) acquire(ctx context.Context) bool {
	if c == nil {
		return true
	}
	select {
	case c <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// release gives back a core taken by acquire.
func (c Cores) release() {
	if c != nil {
		<-c
	}
}

// Audio is a decoded song.
type Audio struct {
	Format Format
	Rate   int // samples per second of each channel
	// Channels holds the samples of each channel, full scale ±1, in the
	// WAVE order (L R C LFE, then the surround pairs) whatever the format;
	// all channels have the same length. A float file's NaN and ±Inf
	// samples are damage and read as 0.
	Channels [][]float32
	// Layout names the speaker each channel feeds, where the file says
	// (a WAV or FLAC channel mask) or its codec fixes it (ALAC and AAC
	// layouts other than the defaults); 0 is the default layout of the
	// channel count.
	Layout dsp.ChannelMask
	// SourceDuration is the length of the whole file in seconds. It is
	// exact when the whole file was decoded, and taken from the headers
	// (an estimate for VBR MP3 without a Xing header) when
	// Options.MaxSeconds cut decoding short.
	SourceDuration float64
	// Title and Artist come from the file's tags; "" when absent.
	Title, Artist string
	// TagBPM is the TBPM tag (or its equivalent); 0 when absent.
	TagBPM float64
	// TagKey is the TKEY tag (or its equivalent) as written.
	TagKey string
}

// Frames returns the number of samples per channel.
func (a *Audio) Frames() int {
	if len(a.Channels) == 0 {
		return 0
	}
	return len(a.Channels[0])
}

// Duration returns the length of the decoded audio in seconds.
func (a *Audio) Duration() float64 {
	if a.Rate == 0 {
		return 0
	}
	return float64(a.Frames()) / float64(a.Rate)
}

// File decodes the file at path. The file is read piecewise, never whole.
// Anything but a regular file (or a link to one) is refused.
func File(ctx context.Context, path string, opts Options) (*Audio, error) {
	// Checked before opening: opening a named pipe waits, beyond the
	// reach of ctx, until some program opens it for writing.
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Name: path, Err: err}
	}
	if err := Regular(st.Mode()); err != nil {
		return nil, &Error{Name: path, Err: err}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Name: path, Err: err}
	}
	defer f.Close()
	// Checked again on what was opened: the path may have been replaced
	// in between.
	if st, err = f.Stat(); err != nil {
		return nil, &Error{Name: path, Err: err}
	}
	if err := Regular(st.Mode()); err != nil {
		return nil, &Error{Name: path, Err: err}
	}
	return named(path)(decode(ctx, f, st.Size(), opts))
}

// Regular refuses a file mode other than a regular file's, saying what
// the file is instead ("not a regular file but a named pipe"). Callers
// that list files check it before opening one: opening a named pipe waits
// for a writer, beyond the reach of any context.
func Regular(m os.FileMode) error {
	what := ""
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		what = "a folder"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeDevice != 0:
		what = "a device"
	default:
		what = "a special file"
	}
	return fmt.Errorf("not a regular file but %s", what)
}

// Bytes decodes data held in memory; name identifies it in errors.
func Bytes(ctx context.Context, name string, data []byte, opts Options) (*Audio, error) {
	return named(name)(decode(ctx, bytes.NewReader(data), int64(len(data)), opts))
}

// Error is the error of decoding one file or upload: Name says which and
// Err why. Err wraps ErrUnsupported, ErrEmpty, ErrCorrupt or ErrTooLong
// where one of them applies, so errors.Is works through it.
type Error struct {
	Name string
	Err  error
}

// Error spells the error as "decode name: reason".
func (e *Error) Error() string { return "decode " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

// named wraps a decode result's error in an *Error naming the input.
func named(name string) func(*Audio, error) (*Audio, error) {
	return func(a *Audio, err error) (*Audio, error) {
		if err != nil {
			return nil, &Error{Name: name, Err: err}
		}
		return a, nil
	}
}

// decode sniffs the format and runs its decoder, turning any panic inside
// the third-party decoders into an ErrCorrupt error.
func decode(ctx context.Context, r io.ReaderAt, size int64, opts Options) (a *Audio, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, err = nil, fmt.Errorf("%w: decoder failed: %v", ErrCorrupt, p)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.MaxSeconds < 0 || math.IsNaN(opts.MaxSeconds) || opts.MaxDuration < 0 || math.IsNaN(opts.MaxDuration) {
		return nil, errors.New("negative or NaN MaxSeconds/MaxDuration")
	}
	in := &input{ctx: ctx, r: r, size: size, opts: opts}
	format, start, err := sniffAt(r, size)
	if err != nil {
		return nil, err
	}
	in.start = start
	switch format {
	case WAV:
		a, err = decodeWAV(in)
	case AIFF:
		a, err = decodeAIFF(in)
	case FLAC:
		a, err = decodeFLAC(in)
	case MP3:
		a, err = decodeMP3(in)
	case AAC:
		a, err = decodeAAC(in)
	case CAF:
		a, err = decodeCAF(in)
	default:
		err = fmt.Errorf("%w: %s", ErrUnsupported, format)
	}
	if err != nil {
		return nil, err
	}
	if a.Format == "" {
		a.Format = format // MP4 and CAF decoders name their codec
	}
	// Each decoder checked the rate its header states; this holds any
	// decoder to the same range for the rate its output came at.
	if err := checkRate(string(a.Format), float64(a.Rate)); err != nil {
		return nil, err
	}
	if a.Frames() == 0 {
		return nil, fmt.Errorf("%w: the %s stream holds no samples", ErrEmpty, a.Format)
	}
	if a.SourceDuration < a.Duration() {
		a.SourceDuration = a.Duration()
	}
	readTags(in, a)
	return a, nil
}

// input is what every format's decoder gets: the data, where the audio
// starts (after any ID3v2 tag), and the limits.
type input struct {
	ctx context.Context
	// r is read from several goroutines at once (an MP3's segments): an
	// *os.File or a *bytes.Reader, whose ReadAt allows it, as io.ReaderAt
	// asks of every implementation.
	r     io.ReaderAt
	size  int64
	start int64
	opts  Options
}

// wantFrames returns how many frames per channel to decode at rate: all
// (-1) or the first MaxSeconds.
func (in *input) wantFrames(rate int) int64 {
	if in.opts.MaxSeconds <= 0 {
		return -1
	}
	return int64(math.Ceil(in.opts.MaxSeconds * float64(rate)))
}

// checkLength refuses a song whose length in seconds exceeds MaxDuration
// when the whole song is to be decoded.
func (in *input) checkLength(seconds float64) error {
	if in.opts.MaxSeconds > 0 || in.opts.MaxDuration <= 0 || seconds <= in.opts.MaxDuration {
		return nil
	}
	return fmt.Errorf("%w: %.0f s, the limit is %.0f s", ErrTooLong, seconds, in.opts.MaxDuration)
}

// maxPrealloc bounds the samples, all channels together, allocated up
// front from a header's claim (128 MB, six minutes of 44.1 kHz stereo).
// Past it, room comes from makeRoom.
const maxPrealloc = 1 << 25

// preallocPerByte bounds the samples, all channels together, allocated
// up front per byte of the stream. Lossy streams at common bitrates carry
// fewer (MP3 at 128 kbit/s, 5.5), so a song still gets its room in one
// allocation; but a stream of tiny frames, or a configuration claiming
// dozens of channels, costs no more than a small multiple of its size
// before a frame has decoded.
const preallocPerByte = 16

// newChannels makes n channel slices with capacity for frames samples,
// the length a header claims, capped by maxPrealloc and by the size of
// the stream, size bytes, so a header that lies costs little more than
// the data it came with.
func newChannels(n int, frames, size int64) [][]float32 {
	per := int64(max(n, 1))
	frames = max(0, min(frames, maxPrealloc/per, size*preallocPerByte/per))
	chans := make([][]float32, n)
	for i := range chans {
		chans[i] = make([]float32, 0, frames)
	}
	return chans
}

// makeRoom returns ch with room for add more samples. When ch is full it
// grows straight to expect samples, the length the stream's header or
// frame count announced: once real data has filled what was allocated up
// front and so backed the claim, trusting it costs one copy, where
// append's growth by a quarter at a time would copy a long song ten times
// over and leave the copies for the garbage collector: analysing a
// one-hour stereo FLAC peaked at 4.8 GB resident that way, 2.7 GB this
// way. A stream longer than announced grows as append grows it.
func makeRoom(ch []float32, add int, expect int64) []float32 {
	if cap(ch)-len(ch) >= add {
		return ch
	}
	return slices.Grow(ch, max(add, int(expect)-len(ch)))
}

// walkChunks calls visit with the ID, body offset and size of each chunk
// of the RIFF (WAV) or IFF (AIFF) file in in, after its 12-byte header,
// sizes in the given byte order and bodies padded to an even length, until
// visit says to stop or no whole chunk header is left.
func walkChunks(in *input, order binary.ByteOrder, visit func(id string, body, size int64) (stop bool, err error)) error {
	w := &window{r: in.r, size: in.size}
	for off, n := in.start+12, 0; off < in.size; n++ {
		// Zeros past the header read as empty chunks, 8 bytes each: the
		// window keeps millions of them cheap, and the context can still
		// end the walk.
		if n&4095 == 4095 {
			if err := in.ctx.Err(); err != nil {
				return err
			}
		}
		ch := w.at(off, 8)
		if ch == nil {
			return nil
		}
		size := int64(order.Uint32(ch[4:]))
		if stop, err := visit(string(ch[:4]), off+8, size); stop || err != nil {
			return err
		}
		off += 8 + size + size&1
	}
	return nil
}

// window reads the small records of a walk through a file (RIFF chunk
// headers, FLAC metadata block headers, MP4 box headers) through a
// buffer, so that a run of tiny records, as zeros read, costs one read of
// the file per 64 KB rather than one per record.
type window struct {
	r    io.ReaderAt
	size int64 // bytes r holds
	buf  []byte
	off  int64 // where buf starts in r
}

// at returns the n bytes at off, or nil when fewer remain.
func (w *window) at(off int64, n int) []byte {
	if off < 0 || off+int64(n) > w.size {
		return nil
	}
	if off < w.off || off+int64(n) > w.off+int64(len(w.buf)) {
		if cap(w.buf) == 0 {
			w.buf = make([]byte, 64<<10)
		}
		w.buf = w.buf[:min(int64(cap(w.buf)), w.size-off)]
		k, err := w.r.ReadAt(w.buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			k = 0
		}
		w.buf, w.off = w.buf[:k], off
		if k < n {
			return nil
		}
	}
	return w.buf[off-w.off : off-w.off+int64(n)]
}
