package dsp

import "fmt"

// KeyProfile names a set of major and minor key templates.
type KeyProfile string

// Key profiles.
const (
	KrumhanslKessler  KeyProfile = "krumhansl"
	Temperley         KeyProfile = "temperley"
	Shaath            KeyProfile = "shaath"
	EDM               KeyProfile = "edm"
	DefaultKeyProfile            = Shaath
)

// Key is a musical key.
type Key struct {
	Tonic int // 0 = C … 11 = B
	Minor bool
}

var pitchNames = [12]string{"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"}

// String spells the key as "C# Minor".
func (k Key) String() string {
	m := " Major"
	if k.Minor {
		m = " Minor"
	}
	return pitchNames[((k.Tonic%12)+12)%12] + m
}

// ParseKey reads a key name.
func ParseKey(s string) (Key, error) { return Key{}, fmt.Errorf("parse key %q: not implemented", s) }

// KeyEstimate is the result of EstimateKey.
type KeyEstimate struct {
	Key         Key
	Confidence  float64
	TuningCents float64
	RunnerUp    Key
	Scores      [24]float64
	Profile     KeyProfile
}

// EstimateKey estimates the key of a song from its chroma frames.
func EstimateKey(chroma []float32, bins int, profile KeyProfile) KeyEstimate {
	if profile == "" {
		profile = DefaultKeyProfile
	}
	return KeyEstimate{Profile: profile}
}
