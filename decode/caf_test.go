package decode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestCAFDamaged checks the CAF files that must be refused, each with the
// reason, and the one liberty the format allows: a data chunk of unknown
// size (-1) runs to the end of the file.
func TestCAFDamaged(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(fixtures + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pcm, alac := read("caf_s16_stereo_44k.caf"), read("alac_s16_stereo_44k.caf")
	// edit returns a copy of b with the 4-byte chunk type old (the first
	// one) changed by fn.
	edit := func(b []byte, old string, fn func(b []byte, at int)) []byte {
		b = bytes.Clone(b)
		at := bytes.Index(b, []byte(old))
		if at < 0 {
			t.Fatalf("no %q chunk", old)
		}
		fn(b, at)
		return b
	}
	rename := func(b []byte, old, typ string) []byte {
		return edit(b, old, func(b []byte, at int) { copy(b[at:], typ) })
	}
	dataAt := bytes.Index(pcm, []byte("data"))
	if dataAt < 0 || int64(binary.BigEndian.Uint64(pcm[dataAt+4:]))+int64(dataAt)+12 != int64(len(pcm)) {
		t.Fatal("the PCM fixture's data chunk is not the last")
	}
	unknownSize := edit(pcm, "data", func(b []byte, at int) { binary.BigEndian.PutUint64(b[at+4:], 1<<64-1) })
	// ffmpeg writes the packet table after the data; a recorder that
	// leaves the data's size unknown must write it before.
	d, p := bytes.Index(alac, []byte("data")), bytes.Index(alac, []byte("pakt"))
	if d < 0 || p < d {
		t.Fatal("the ALAC fixture's packet table does not follow its data")
	}
	openALAC := slices.Concat(alac[:d], alac[p:], alac[d:p])
	binary.BigEndian.PutUint64(openALAC[d+len(alac)-p+4:], 1<<64-1)
	want, err := Bytes(context.Background(), "whole.caf", pcm, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Bytes(context.Background(), "open.caf", unknownSize, Options{})
	if err != nil || got.Frames() != want.Frames() {
		t.Errorf("data size -1: %v, %d frames; want %d", err, got.Frames(), want.Frames())
	}

	for _, c := range []struct {
		name string
		data []byte
		want error
		says string
	}{
		{"cut in the data", pcm[:len(pcm)-1000], ErrCorrupt, "corrupt or truncated: the CAF data chunk claims"},
		{"no description first", rename(pcm, "desc", "free"), ErrCorrupt, "does not start with its stream description"},
		{"no data", rename(pcm, "data", "free"), ErrEmpty, "no audio data"},
		{"version 2", edit(pcm, "caff", func(b []byte, at int) { b[at+5] = 2 }), ErrUnsupported, "CAF version 2"},
		{"ALAC without packet table", rename(alac, "pakt", "free"), ErrCorrupt, "no packet table"},
		{"ALAC without cookie", rename(alac, "kuki", "free"), ErrCorrupt, "ALAC decoder config of 0 bytes"},
		{"ALAC cut", alac[:len(alac)-3000], ErrCorrupt, "the CAF data chunk claims"},
		{"ALAC of unknown size cut", openALAC[:len(openALAC)-3000], ErrCorrupt, "runs past the end of the CAF data"},
	} {
		_, err := Bytes(context.Background(), "bad.caf", c.data, Options{})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "bad.caf") {
			t.Errorf("%s: %v; want %v saying %q and naming the file", c.name, err, c.want, c.says)
		}
	}
}
