// Command gen renders songflow's calibration set: short songs of drums,
// bass and chords at a known tempo, key and time signature, written as
// 16-bit PCM WAV, and the truth.csv that states those tempi, keys and time
// signatures.
//
// It is deterministic: the same binary writes the same bytes on every run,
// so the committed audio can be reproduced and checked. make.sh runs it and
// encodes the songs meant to be FLAC, MP3 or M4A with the usual encoders.
//
// Usage:
//
//	go run ./testdata/calibration/gen -out DIR
//
// For every song it prints one line "WAV TARGET" on stdout: the WAV it
// wrote into DIR and the file name (relative to the calibration folder) the
// song should finally have; the extension of TARGET names its format.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// song describes one piece of the calibration set.
type song struct {
	name     string
	ext      string // target format: wav, flac, mp3 or m4a
	bpm      float64
	tonic    int // 0 = C … 11 = B
	minor    bool
	seconds  float64
	rate     int
	channels int
	// energy and danceability are reference descriptor values for the
	// --fit calibration layer: how loud and busy the arrangement is, on the
	// 0–100 scale of the playlist exports.
	energy, danceability float64
	// busy adds sixteenth-note hats and a syncopated bass for the more
	// energetic songs (4/4 only).
	busy bool
	// meter is the time signature the song is rendered in, with bpm as
	// its beat: "4/4" and "3/4" count quarter notes, "6/8" dotted
	// quarters (two to the bar, each divided into three eighths).
	meter string
}

// set is the calibration set: tempi spread over 60–180 BPM, major and minor
// keys, every format, one song in 44.1 kHz stereo, and besides the 4/4
// songs a waltz in 3/4 and a jig in 6/8. A song's seed is its place in the
// list, so new songs go at the end.
var set = []song{
	{"01-adagio-c-major", "wav", 60, 0, false, 14, 22050, 1, 25, 30, false, "4/4"},
	{"02-andante-a-minor", "flac", 72, 9, true, 18, 22050, 1, 35, 40, false, "4/4"},
	{"03-ballad-g-major", "mp3", 84, 7, false, 22, 22050, 1, 40, 45, false, "4/4"},
	{"04-groove-e-minor", "m4a", 96, 4, true, 22, 22050, 1, 50, 60, true, "4/4"},
	{"05-shuffle-d-major", "wav", 104, 2, false, 12, 22050, 1, 55, 62, false, "4/4"},
	{"06-pop-f-major", "flac", 112, 5, false, 18, 22050, 1, 60, 70, true, "4/4"},
	{"07-house-d-minor", "mp3", 124, 2, true, 22, 44100, 2, 75, 85, true, "4/4"},
	{"08-disco-bb-major", "m4a", 132, 10, false, 22, 22050, 1, 72, 80, true, "4/4"},
	{"09-rock-b-minor", "wav", 142, 11, true, 12, 22050, 1, 80, 65, false, "4/4"},
	{"10-punk-e-major", "flac", 156, 4, false, 18, 22050, 1, 88, 60, true, "4/4"},
	{"11-dnb-fs-minor", "mp3", 168, 6, true, 22, 22050, 1, 90, 55, true, "4/4"},
	{"12-gallop-eb-major", "m4a", 180, 3, false, 22, 22050, 1, 85, 50, false, "4/4"},
	{"13-waltz-a-major", "flac", 150, 9, false, 22, 22050, 1, 55, 50, false, "3/4"},
	{"14-jig-g-minor", "wav", 100, 7, true, 22, 22050, 1, 65, 60, false, "6/8"},
}

var keyNames = [12]string{"C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"}

func main() {
	out := flag.String("out", "", "folder to write the WAV files and truth.csv into")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: gen -out DIR")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	truth, err := os.Create(filepath.Join(out, "truth.csv"))
	if err != nil {
		return err
	}
	defer truth.Close()
	fmt.Fprintln(truth, "file,bpm,key,energy,danceability,time_signature")
	for i, s := range set {
		mono := render(s, uint64(i+1))
		wav := filepath.Join(out, s.name+".wav")
		if err := writeWAV(wav, mono, s.rate, s.channels); err != nil {
			return fmt.Errorf("write %s: %w", wav, err)
		}
		mode := "Major"
		if s.minor {
			mode = "Minor"
		}
		target := s.name + "." + s.ext
		fmt.Fprintf(truth, "%s,%g,%s %s,%g,%g,%s\n", target, s.bpm, keyNames[s.tonic], mode, s.energy, s.danceability, s.meter)
		fmt.Printf("%s %s\n", wav, target)
	}
	return truth.Close()
}

// render mixes the song's drums, bass and chords into one channel, in the
// arrangement of its time signature.
func render(s song, seed uint64) []float64 {
	switch s.meter {
	case "4/4":
		return render44(s, seed)
	case "3/4":
		return renderWaltz(s, seed)
	case "6/8":
		return renderJig(s, seed)
	}
	panic("gen: no arrangement for time signature " + s.meter)
}

// chord is a triad of the progression: its root in semitones above the
// tonic, and its quality.
type chord struct {
	root  int
	minor bool
}

// render44 is the 4/4 arrangement: a four-bar progression repeated to the
// end, kick on beats 1 and 3, snare on 2 and 4, hi-hat on eighths
// (sixteenths when busy), a bass line on the chord roots and sustained
// triads.
func render44(s song, seed uint64) []float64 {
	rate := float64(s.rate)
	n := int(s.seconds * rate)
	mix := make([]float64, n)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	beat := 60 / s.bpm

	// Degrees of the progression, in semitones above the tonic, with the
	// chord quality: I–vi–IV–V in major, i–iv–V–i in minor (harmonic minor
	// dominant, so the leading tone marks the key).
	prog := []chord{{0, false}, {9, true}, {5, false}, {7, false}}
	if s.minor {
		prog = []chord{{0, true}, {5, true}, {7, false}, {0, true}}
	}

	beats := int(s.seconds / beat)
	for b := 0; b <= beats; b++ {
		t := float64(b) * beat
		bar := b / 4
		inBar := b % 4
		c := prog[bar%len(prog)]

		// Drums.
		if inBar == 0 || inBar == 2 {
			addKick(mix, rate, t, 0.9)
		}
		if inBar == 1 || inBar == 3 {
			addSnare(mix, rate, t, 0.5, rng)
		}
		subdiv := 2
		if s.busy {
			subdiv = 4
		}
		for k := 0; k < subdiv; k++ {
			acc := 0.18
			if k%2 == 1 {
				acc = 0.1
			}
			addHat(mix, rate, t+float64(k)*beat/float64(subdiv), acc, rng)
		}

		// Bass: the chord root in octave 2 on every beat, with a fifth on
		// the off-beat of beat 4 when busy to keep the line moving.
		root := 36 + s.tonic + c.root // MIDI note, C2 = 36
		addPluck(mix, rate, t, beat*0.9, midiHz(root), 0.35, 8, 3.0)
		if s.busy && inBar == 3 {
			addPluck(mix, rate, t+beat/2, beat*0.45, midiHz(root+7), 0.25, 8, 3.0)
		}

		// Chords: a triad in octave 4 held for the whole bar.
		if inBar == 0 {
			third := 4
			if c.minor {
				third = 3
			}
			base := 60 + (s.tonic+c.root)%12 // around middle C
			for _, iv := range []int{0, third, 7} {
				addPad(mix, rate, t, 4*beat, midiHz(base+iv), 0.09)
			}
		}
	}
	normalise(mix, 0.8)
	return mix
}

// barProgression is the four-bar progression of the waltz and the jig,
// whose chord changes on every bar line, the loop's included: I–vi–IV–V in
// major, i–iv–i–V in minor (harmonic minor dominant, so the leading tone
// marks the key).
func barProgression(minor bool) []chord {
	if minor {
		return []chord{{0, true}, {5, true}, {0, true}, {7, false}}
	}
	return []chord{{0, false}, {9, true}, {5, false}, {7, false}}
}

// triad is the MIDI notes of c's root-position triad with its root in the
// octave from base (60 = middle C) for a song whose tonic is tonic.
func triad(c chord, tonic, base int) [3]int {
	third := 4
	if c.minor {
		third = 3
	}
	root := base + (tonic+c.root)%12
	return [3]int{root, root + third, root + 7}
}

// renderWaltz is the 3/4 arrangement, a waltz ("oom-pah-pah"): on beat 1
// the kick and the bass on the chord's root, on beats 2 and 3 the triad
// played short, a hi-hat on every eighth, louder on the beat, and a new
// chord every bar.
func renderWaltz(s song, seed uint64) []float64 {
	rate := float64(s.rate)
	mix := make([]float64, int(s.seconds*rate))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	beat := 60 / s.bpm
	prog := barProgression(s.minor)
	beats := int(s.seconds / beat)
	for b := 0; b <= beats; b++ {
		t := float64(b) * beat
		inBar := b % 3
		c := prog[b/3%len(prog)]
		for k := 0; k < 2; k++ {
			acc := 0.18
			if k == 1 {
				acc = 0.1
			}
			addHat(mix, rate, t+float64(k)*beat/2, acc, rng)
		}
		if inBar == 0 {
			addKick(mix, rate, t, 0.9)
			addPluck(mix, rate, t, beat*0.9, midiHz(36+s.tonic+c.root), 0.4, 8, 3.0)
			continue
		}
		for _, note := range triad(c, s.tonic, 60) {
			addPluck(mix, rate, t, beat*0.8, midiHz(note), 0.12, 6, 2.0)
		}
	}
	normalise(mix, 0.8)
	return mix
}

// renderJig is the 6/8 arrangement, a jig: two dotted-quarter beats to the
// bar, each divided into three eighths. The kick marks the first beat and
// the snare the second; between them the snare plays soft ghost notes on
// the other eighths, as a bodhrán does, under a hi-hat on every eighth
// that is louder on the beat. An eighth-note figure in threes runs up the
// chord on the first beat and down it on the second, its first note the
// loudest; the bass plays the chord's root on beat 1 and the triad is held
// through the bar, a new chord every bar.
func renderJig(s song, seed uint64) []float64 {
	rate := float64(s.rate)
	mix := make([]float64, int(s.seconds*rate))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	beat := 60 / s.bpm
	eighth := beat / 3
	prog := barProgression(s.minor)
	beats := int(s.seconds / beat)
	for b := 0; b <= beats; b++ {
		t := float64(b) * beat
		inBar := b % 2
		c := prog[b/2%len(prog)]
		tr := triad(c, s.tonic, 60)

		// Drums.
		if inBar == 0 {
			addKick(mix, rate, t, 0.9)
		} else {
			addSnare(mix, rate, t, 0.5, rng)
		}
		for k := 0; k < 3; k++ {
			at := t + float64(k)*eighth
			if k == 0 {
				addHat(mix, rate, at, 0.18, rng)
				continue
			}
			addHat(mix, rate, at, 0.08, rng)
			addSnare(mix, rate, at, 0.25, rng)
		}

		// The figure, an octave above the triad: up it on the first beat,
		// down it from the root's next octave on the second.
		figure := [3]int{tr[0] + 12, tr[1] + 12, tr[2] + 12}
		if inBar == 1 {
			figure = [3]int{tr[0] + 24, tr[2] + 12, tr[1] + 12}
		}
		for k, note := range figure {
			gain := 0.3
			if k > 0 {
				gain = 0.22
			}
			addPluck(mix, rate, t+float64(k)*eighth, eighth*0.9, midiHz(note), gain, 6, 4.0)
		}

		// Bass and chord, once a bar.
		if inBar == 0 {
			addPluck(mix, rate, t, beat*0.9, midiHz(36+s.tonic+c.root), 0.35, 8, 3.0)
			for _, note := range tr {
				addPad(mix, rate, t, 2*beat, midiHz(note), 0.07)
			}
		}
	}
	normalise(mix, 0.8)
	return mix
}

func midiHz(note int) float64 { return 440 * math.Pow(2, float64(note-69)/12) }

// addKick adds a bass drum: a sine whose pitch falls from 150 Hz to 50 Hz
// with a fast exponential decay, plus a short click for the beater.
func addKick(mix []float64, rate, at, gain float64) {
	start := int(at * rate)
	length := int(0.35 * rate)
	phase := 0.0
	for i := 0; i < length && start+i < len(mix); i++ {
		t := float64(i) / rate
		f := 50 + 100*math.Exp(-t/0.03)
		phase += 2 * math.Pi * f / rate
		env := math.Exp(-t / 0.12)
		click := 0.0
		if t < 0.004 {
			click = 0.3 * (1 - t/0.004)
		}
		mix[start+i] += gain * (env*math.Sin(phase) + click)
	}
}

// addSnare adds a snare: a 185 Hz body tone and a burst of noise through a
// one-pole high-pass, each with its own decay.
func addSnare(mix []float64, rate, at, gain float64, rng *rand.Rand) {
	start := int(at * rate)
	length := int(0.25 * rate)
	prev, hp := 0.0, 0.0
	for i := 0; i < length && start+i < len(mix); i++ {
		t := float64(i) / rate
		noise := rng.Float64()*2 - 1
		hp = 0.7 * (hp + noise - prev)
		prev = noise
		body := math.Sin(2*math.Pi*185*t) * math.Exp(-t/0.05)
		mix[start+i] += gain * (0.5*body + 0.8*hp*math.Exp(-t/0.07))
	}
}

// addHat adds a closed hi-hat: differenced noise (bright) with a very short
// decay.
func addHat(mix []float64, rate, at, gain float64, rng *rand.Rand) {
	start := int(at * rate)
	length := int(0.06 * rate)
	prev := 0.0
	for i := 0; i < length && start+i < len(mix); i++ {
		t := float64(i) / rate
		noise := rng.Float64()*2 - 1
		mix[start+i] += gain * (noise - prev) * 0.5 * math.Exp(-t/0.015)
		prev = noise
	}
}

// addPluck adds a plucked string: harmonics whose amplitude falls as
// 1/h and whose decay is faster the higher they are, so the tone darkens
// as it rings, like a bass guitar.
func addPluck(mix []float64, rate, at, dur, f, gain float64, harmonics int, decay float64) {
	start := int(at * rate)
	length := int(dur * rate)
	for i := 0; i < length && start+i < len(mix); i++ {
		t := float64(i) / rate
		attack := math.Min(1, t/0.005)
		release := math.Min(1, float64(length-i)/(0.01*rate))
		v := 0.0
		for h := 1; h <= harmonics; h++ {
			fh := f * float64(h)
			if fh > rate/2.2 {
				break
			}
			v += math.Sin(2*math.Pi*fh*t) / float64(h) * math.Exp(-t*decay*float64(h))
		}
		mix[start+i] += gain * attack * release * v
	}
}

// addPad adds a sustained organ-like note: a few harmonics with a slow
// attack and release so chord changes do not click.
func addPad(mix []float64, rate, at, dur, f, gain float64) {
	start := int(at * rate)
	length := int(dur * rate)
	amps := []float64{1, 0.5, 0.3, 0.15}
	for i := 0; i < length && start+i < len(mix); i++ {
		t := float64(i) / rate
		env := math.Min(1, t/0.08) * math.Min(1, float64(length-i)/(0.15*rate))
		v := 0.0
		for h, a := range amps {
			fh := f * float64(h+1)
			if fh > rate/2.2 {
				break
			}
			v += a * math.Sin(2*math.Pi*fh*t)
		}
		mix[start+i] += gain * env * v
	}
}

// normalise scales the mix so its largest sample is peak.
func normalise(x []float64, peak float64) {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	if m == 0 {
		return
	}
	for i := range x {
		x[i] *= peak / m
	}
}

// writeWAV writes mono as 16-bit PCM; with two channels the mix goes to
// both, the right one slightly quieter so the channels differ.
func writeWAV(path string, mono []float64, rate, channels int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	data := uint32(len(mono) * channels * 2)
	le := binary.LittleEndian
	hdr := make([]byte, 44)
	copy(hdr[0:], "RIFF")
	le.PutUint32(hdr[4:], 36+data)
	copy(hdr[8:], "WAVEfmt ")
	le.PutUint32(hdr[16:], 16)
	le.PutUint16(hdr[20:], 1) // PCM
	le.PutUint16(hdr[22:], uint16(channels))
	le.PutUint32(hdr[24:], uint32(rate))
	le.PutUint32(hdr[28:], uint32(rate*channels*2))
	le.PutUint16(hdr[32:], uint16(channels*2))
	le.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	le.PutUint32(hdr[40:], data)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	var b [2]byte
	for _, v := range mono {
		for c := 0; c < channels; c++ {
			g := 1.0
			if c == 1 {
				g = 0.9
			}
			le.PutUint16(b[:], uint16(int16(math.Round(v*g*32767))))
			if _, err := w.Write(b[:]); err != nil {
				return err
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
