package decode

import (
	"io"
	"strconv"
	"strings"

	"github.com/dhowden/tag"
)

// readTags fills in a's title, artist, BPM and key from the file's tags,
// read with dhowden/tag. Tags are a nicety: any failure, even a panic in
// the tag reader, leaves the fields empty.
func readTags(r io.ReaderAt, size int64, a *Audio) {
	defer func() { _ = recover() }()
	m, err := tag.ReadFrom(io.NewSectionReader(r, 0, size))
	if err != nil || m == nil {
		return
	}
	a.Title = strings.TrimSpace(m.Title())
	a.Artist = strings.TrimSpace(m.Artist())
	raw := m.Raw()
	// ID3v2 frames, Vorbis comments and MP4 atoms name them differently.
	for _, k := range []string{"TBPM", "TBP", "bpm", "BPM", "tmpo"} {
		if bpm := number(raw[k]); bpm > 0 {
			a.TagBPM = bpm
			break
		}
	}
	for _, k := range []string{"TKEY", "TKE", "initialkey", "INITIALKEY", "key", "KEY"} {
		if s, ok := raw[k].(string); ok && strings.TrimSpace(s) != "" {
			a.TagKey = strings.TrimSpace(s)
			break
		}
	}
}

// number reads a tag value that should be a number, written as text or
// stored as an integer.
func number(v any) float64 {
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimRight(x, "\x00")), 64)
		if err != nil || f < 0 || f > 1000 {
			return 0
		}
		return f
	case int:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case uint16:
		return float64(x)
	}
	return 0
}
