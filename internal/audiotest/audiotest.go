// Package audiotest makes audio files for songflow's tests that several
// packages need alike.
package audiotest

import (
	"encoding/binary"
	"os"
)

// SparseWAV writes at path a WAV file of seconds of 8-bit mono silence at
// rate. The file is sparse: its samples take no disk, so a test can hand
// the decoder a two-hour song for the price of its 44-byte header.
func SparseWAV(path string, rate, seconds uint32) error {
	le := binary.LittleEndian
	head := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00")
	head = le.AppendUint32(head, rate)
	head = le.AppendUint32(head, rate) // bytes per second
	head = append(head, 1, 0, 8, 0)    // one byte per frame, 8 bits
	head = le.AppendUint32(append(head, "data"...), rate*seconds)
	le.PutUint32(head[4:], uint32(len(head))-8+rate*seconds)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err = f.Write(head); err == nil {
		err = f.Truncate(int64(len(head)) + int64(rate)*int64(seconds))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
