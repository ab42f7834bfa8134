package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"slices"
	"testing"

	"github.com/songflow/songflow/dsp"
)

// extensibleWAV returns a 16-bit WAVE_FORMAT_EXTENSIBLE file of frames
// frames whose channel c holds the value c+1 throughout, under mask.
func extensibleWAV(channels int, mask uint32, frames int) []byte {
	le := binary.LittleEndian
	data := make([]byte, 0, 2*channels*frames)
	for range frames {
		for c := range channels {
			data = le.AppendUint16(data, uint16(c+1))
		}
	}
	var b []byte
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(4+8+40+8+len(data)))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 40)
	b = le.AppendUint16(b, wavExtensible)
	b = le.AppendUint16(b, uint16(channels))
	b = le.AppendUint32(b, 48000)
	b = le.AppendUint32(b, uint32(48000*2*channels))
	b = le.AppendUint16(b, uint16(2*channels))
	b = le.AppendUint16(b, 16)
	b = le.AppendUint16(b, 22) // cbSize
	b = le.AppendUint16(b, 16) // valid bits
	b = le.AppendUint32(b, mask)
	// KSDATAFORMAT_SUBTYPE_PCM: the format tag, then the fixed GUID tail.
	b = append(b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// A WAV file's channel mask comes through as the song's layout, and its
// channels stay in the file's order, which is the mask's.
func TestWAVChannelMask(t *testing.T) {
	for _, mask := range []uint32{0x13f, 0x60f, 0xb, 0} {
		n := max(bitsSet(mask), 2)
		a, err := Bytes(context.Background(), "layout.wav", extensibleWAV(n, mask, 1000), Options{})
		if err != nil {
			t.Fatalf("mask %#x: %v", mask, err)
		}
		if a.Layout != dsp.ChannelMask(mask) {
			t.Errorf("mask %#x: layout %#x", mask, a.Layout)
		}
		for c, ch := range a.Channels {
			if want := float32(c+1) / (1 << 15); ch[0] != want {
				t.Errorf("mask %#x: channel %d starts at %g, want %g", mask, c, ch[0], want)
			}
		}
	}
}

func bitsSet(m uint32) int {
	n := 0
	for ; m != 0; m &= m - 1 {
		n++
	}
	return n
}

// withFLACComments returns the FLAC file b with a VORBIS_COMMENT block
// holding comments inserted after its STREAMINFO. The audio is untouched.
func withFLACComments(t *testing.T, b []byte, comments ...string) []byte {
	t.Helper()
	le := binary.LittleEndian
	var body []byte
	body = le.AppendUint32(body, 7)
	body = append(body, "songflo"...)
	body = le.AppendUint32(body, uint32(len(comments)))
	for _, c := range comments {
		body = le.AppendUint32(body, uint32(len(c)))
		body = append(body, c...)
	}
	return withFLACBlock(t, b, body)
}

// withFLACBlock returns the FLAC file b with a VORBIS_COMMENT block of the
// given body inserted after its STREAMINFO, which the block follows as the
// last metadata block when STREAMINFO was.
func withFLACBlock(t *testing.T, b, body []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("fLaC")) || b[4]&0x7f != 0 {
		t.Fatal("not a FLAC file starting with STREAMINFO")
	}
	head := slices.Clone(b[:4+4+34])
	last := head[4] & 0x80
	head[4] &^= 0x80
	block := []byte{last | flacVorbisComment, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return slices.Concat(head, block, body, b[4+4+34:])
}

// A FLAC file keeps a WAV file's channel mask in a Vorbis comment, as flac
// and ffmpeg write it; it comes through as the song's layout, whatever its
// case or base, and a damaged comment block costs the layout, not the
// song.
func TestFLACChannelMask(t *testing.T) {
	orig, err := os.ReadFile(fixtures + "flac_s16_3ch_32k.flac")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Bytes(context.Background(), "plain.flac", orig, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Layout != 0 {
		t.Errorf("no mask comment: layout %#x, want 0", plain.Layout)
	}
	damaged := binary.LittleEndian.AppendUint32(nil, 7)
	damaged = append(damaged, "songflo"...)
	damaged = binary.LittleEndian.AppendUint32(damaged, 3) // three comments, none there
	for _, c := range []struct {
		name string
		file []byte
		want dsp.ChannelMask
	}{
		{"2.1 in hexadecimal", withFLACComments(t, orig, "ENCODER=test", "WAVEFORMATEXTENSIBLE_CHANNEL_MASK=0x00B"), 0xb},
		{"lower case, decimal", withFLACComments(t, orig, "waveformatextensible_channel_mask=263"), 0x107},
		{"not a number", withFLACComments(t, orig, "WAVEFORMATEXTENSIBLE_CHANNEL_MASK=0xZZ"), 0},
		{"comment count past the block", withFLACBlock(t, orig, damaged), 0},
		{"comment length past the block", withFLACBlock(t, orig, binary.LittleEndian.AppendUint32(slices.Clone(damaged[:15]), 1<<30)), 0},
	} {
		a, err := Bytes(context.Background(), "mask.flac", c.file, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.Layout != c.want {
			t.Errorf("%s: layout %#x, want %#x", c.name, a.Layout, c.want)
		}
		for i := range a.Channels {
			if !slices.Equal(a.Channels[i], plain.Channels[i]) {
				t.Errorf("%s: channel %d decodes differently with the comment", c.name, i)
			}
		}
	}
}

// ALAC and AAC fix the layouts that the channel count alone does not
// tell: eight channels are 7.1 with the extra pair in front (L R C LFE Ls
// Rs Lc Rc), and counts whose layout is the default carry none.
func TestCodecLayouts(t *testing.T) {
	for _, c := range []struct {
		name string
		want dsp.ChannelMask
	}{
		{"alac_71wide_48k.m4a", 0xff},
		{"aac_71_48k.m4a", 0xff},
		{"aac_51_48k.m4a", 0},
		{"alac_51_48k.m4a", 0},
		{"alac_30_48k.m4a", 0},
	} {
		_, a := decodeFixture(t, c.name)
		if a.Layout != c.want {
			t.Errorf("%s: layout %#x, want %#x", c.name, a.Layout, c.want)
		}
	}
	// Four channels are C L R Cs in both codecs' own orders, out in WAVE
	// order as L R C Cs: the back centre, not quadraphony's back pair.
	const lrcCs = dsp.SpeakerFrontLeft | dsp.SpeakerFrontRight | dsp.SpeakerFrontCenter | dsp.SpeakerBackCenter
	if got := alacLayout(4); got != lrcCs {
		t.Errorf("4-channel ALAC: layout %#x, want %#x", got, lrcCs)
	}
	if got := aacLayout(4, 4); got != lrcCs {
		t.Errorf("AAC configuration 4: layout %#x, want %#x", got, lrcCs)
	}
}
