package stages

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/songflow/songflow/decode"
)

const decodeFixtures = "../testdata/decode/"

func TestDecodeStage(t *testing.T) {
	run := Decode(decode.Options{})
	// From disk: tags fill in title and artist.
	s, err := run(context.Background(), Job{Name: decodeFixtures + "mp3_tagged_mono_44k.mp3"})
	if err != nil {
		t.Fatal(err)
	}
	in := s.Info
	if in.Format != "mp3" || in.SampleRate != 44100 || in.Channels != 1 || len(s.Channels) != 1 {
		t.Errorf("info %+v", in)
	}
	if in.Title != "Tagged Song" || in.Artist != "Tag Artist" || in.Tags.BPM != 128 || in.Tags.Key != "Am" {
		t.Errorf("title %q artist %q tags %+v", in.Title, in.Artist, in.Tags)
	}
	if d := float64(in.Duration); d != 1 || float64(in.SourceDuration) != 1 || len(s.Channels[0]) != 44100 {
		t.Errorf("duration %v source %v, %d samples; want 1 s, 44100", in.Duration, in.SourceDuration, len(s.Channels[0]))
	}

	// From memory: the job's own title and artist win over the tags.
	data, err := os.ReadFile(decodeFixtures + "flac_id3_s16_stereo_22k.flac")
	if err != nil {
		t.Fatal(err)
	}
	s, err = run(context.Background(), Job{Name: "upload.bin", Data: data, Title: "Given", Artist: ""})
	if err != nil {
		t.Fatal(err)
	}
	in = s.Info
	if in.Name != "upload.bin" || in.Format != "flac" || in.Channels != 2 || in.Title != "Given" || in.Artist != "Tag Tester" || in.Tags.Title != "FLAC With ID3" {
		t.Errorf("info %+v", in)
	}

	// A cut decode keeps the whole song's length in SourceDuration.
	s, err = Decode(decode.Options{MaxSeconds: 0.25})(context.Background(), Job{Name: decodeFixtures + "mp3_tagged_mono_44k.mp3"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Info.Duration != 0.25 || s.Info.SourceDuration != 1 {
		t.Errorf("duration %v source %v, want 0.25 and 1", s.Info.Duration, s.Info.SourceDuration)
	}

	// Errors keep the decode package's reason; the engine's StageError
	// names the stage and the song around it, so the stage does not.
	_, err = run(context.Background(), Job{Name: "x.ogg", Data: []byte("OggS\x00\x02\x00\x00")})
	if !errors.Is(err, decode.ErrUnsupported) || !strings.Contains(err.Error(), "Ogg") || strings.Contains(err.Error(), "x.ogg") {
		t.Errorf("error %v, want ErrUnsupported saying Ogg, without the song's name", err)
	}
}

func TestDecodeCarriesSkipChunks(t *testing.T) {
	for _, skip := range []bool{false, true} {
		s, err := Decode(decode.Options{})(context.Background(), Job{Name: decodeFixtures + "mp3_tagged_mono_44k.mp3", SkipChunks: skip})
		if err != nil {
			t.Fatal(err)
		}
		if s.Info.SkipChunks != skip {
			t.Errorf("Job.SkipChunks %v reached SongInfo as %v", skip, s.Info.SkipChunks)
		}
	}
}
