// Package dsp holds songflow's signal processing as pure functions and small
// reusable types: resampling, the short-time Fourier transform and its frame
// features, loudness (ITU-R BS.1770-4 / EBU R128), tempo and key estimation.
// Nothing here knows about files, channels between stages or configuration.
package dsp

// Hz is a frequency or a sample rate in hertz.
type Hz float64

// Seconds is a duration or a time offset in seconds of audio.
type Seconds float64
