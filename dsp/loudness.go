package dsp

// Loudness is the EBU R128 measurement of a programme.
type Loudness struct {
	Integrated float64 // LUFS, ITU-R BS.1770-4 gated
	Range      float64 // LU, EBU Tech 3342
	TruePeak   float64 // dBTP
}
