// Package audiotest makes audio files for songflow's tests that several
// packages need alike.
package audiotest

import (
	"encoding/binary"
	"math"
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

// ClickTrack returns a 16-bit stereo WAV file of seconds at rate: a 440 Hz
// tone at 0.3 of full scale with a 10 ms, 2 kHz click every half second,
// so its tempo is 120 BPM.
func ClickTrack(seconds float64, rate int) []byte {
	le := binary.LittleEndian
	n := int(seconds * float64(rate))
	data := make([]byte, 44+4*n)
	copy(data[0:], "RIFF")
	le.PutUint32(data[4:], uint32(36+4*n))
	copy(data[8:], "WAVEfmt ")
	le.PutUint32(data[16:], 16)
	le.PutUint16(data[20:], 1) // PCM
	le.PutUint16(data[22:], 2) // stereo
	le.PutUint32(data[24:], uint32(rate))
	le.PutUint32(data[28:], uint32(rate*4))
	le.PutUint16(data[32:], 4)
	le.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	le.PutUint32(data[40:], uint32(4*n))
	for i := range n {
		x := 0.3 * math.Sin(2*math.Pi*440*float64(i)/float64(rate))
		if i%(rate/2) < rate/100 {
			x += 0.5 * math.Sin(2*math.Pi*2000*float64(i)/float64(rate))
		}
		v := uint16(int16(32767 * x))
		le.PutUint16(data[44+4*i:], v)
		le.PutUint16(data[46+4*i:], v)
	}
	return data
}
