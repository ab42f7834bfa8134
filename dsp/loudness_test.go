package dsp

import (
	"math"
	"math/cmplx"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/songflow/songflow/internal/audiotest"
)

// toneSegment is a stretch of a 1 kHz test tone: its peak level per channel in
// dBFS (one entry for all channels when they are equal) and its length.
type toneSegment struct {
	dBFS    []float64
	seconds float64
}

// toneProgramme builds the EBU test signals: a 1 kHz sine whose level steps
// from segment to segment, continuous in phase, in every channel.
func toneProgramme(rate Hz, channels int, segs ...toneSegment) [][]float32 {
	var n int
	for _, s := range segs {
		n += int(math.Round(s.seconds * float64(rate)))
	}
	out := make([][]float32, channels)
	for c := range out {
		out[c] = make([]float32, 0, n)
	}
	w := 2 * math.Pi * 1000 / float64(rate)
	i := 0
	for _, s := range segs {
		gain := make([]float64, channels)
		for c := range gain {
			l := s.dBFS[0]
			if len(s.dBFS) > 1 {
				l = s.dBFS[c]
			}
			gain[c] = math.Pow(10, l/20)
		}
		m := int(math.Round(s.seconds * float64(rate)))
		for range m {
			v := math.Sin(w * float64(i))
			for c := range out {
				out[c] = append(out[c], float32(gain[c]*v))
			}
			i++
		}
	}
	return out
}

func toneSeg(seconds float64, dBFS ...float64) toneSegment { return toneSegment{dBFS, seconds} }

// The K-weighting derived from the analog prototypes must give the
// coefficients BS.1770-4 Tables 1 and 2 publish for 48 kHz.
func TestKWeighting48k(t *testing.T) {
	shelf, hp := kWeighting(48000)
	// The standard prints 14 decimals; the derivation matches every one of
	// them (measured deviation ≤ 1.4e-15).
	const tol = 1e-14
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"shelf b0", shelf.b0, 1.53512485958697},
		{"shelf b1", shelf.b1, -2.69169618940638},
		{"shelf b2", shelf.b2, 1.19839281085285},
		{"shelf a1", shelf.a1, -1.69065929318241},
		{"shelf a2", shelf.a2, 0.73248077421585},
		{"high-pass b0", hp.b0, 1},
		{"high-pass b1", hp.b1, -2},
		{"high-pass b2", hp.b2, 1},
		{"high-pass a1", hp.a1, -1.99004745483398},
		{"high-pass a2", hp.a2, 0.99007225036621},
	} {
		if d := math.Abs(c.got - c.want); d > tol {
			t.Errorf("%s = %.14f, want %.14f (off by %.2g)", c.name, c.got, c.want, d)
		}
	}
}

// biquadDB is the gain of b at frequency f for sample rate fs, in dB. The
// polynomials are expanded around z = 1, where the high-pass has its zeros
// and its poles lie close: expanded around 0, their values far below the
// corner would be lost to rounding.
func biquadDB(b biquad, f, fs float64) float64 {
	w := 2 * math.Pi * f / fs
	s := math.Sin(w / 2)
	d := complex(-2*s*s, math.Sin(w)) // e^{iw} − 1
	poly := func(c0, c1, c2 float64) complex128 {
		// c0·u² + c1·u + c2 at u = 1 + d.
		return complex(c0, 0)*d*d + complex(2*c0+c1, 0)*d + complex(c0+c1+c2, 0)
	}
	return 20 * math.Log10(cmplx.Abs(poly(b.b0, b.b1, b.b2))/cmplx.Abs(poly(1, b.a1, b.a2)))
}

// BS.1770-4 asks other rates for "the same frequency response" as the
// 48 kHz tables give. Across the band each rate holds (10 Hz to its
// Nyquist frequency, and not beyond 20 kHz), the K-weighting must stay
// within tol of the 48 kHz curve: 0.03 dB from 11 kHz up, 0.1 dB, Tech
// 3341's tolerance for a programme's loudness, at 8 kHz, and 0.4 dB at the
// rates below, where the shelf's corner nears the Nyquist frequency.
func TestKWeightingMatches48k(t *testing.T) {
	response := func(rate Hz) func(f float64) float64 {
		shelf, hp := kWeighting(rate)
		return func(f float64) float64 {
			return biquadDB(shelf, f, float64(rate)) + biquadDB(hp, f, float64(rate))
		}
	}
	table := response(48000)
	for _, c := range []struct {
		rate Hz
		tol  float64 // dB
	}{
		{1000, 0.4}, {3000, 0.4}, {4000, 0.4}, {8000, 0.1}, {11025, 0.03}, {16000, 0.03},
		{22050, 0.03}, {24000, 0.03}, {32000, 0.03}, {37800.5, 0.03}, {44100, 0.03},
		{48000, 0}, {88200, 0.03}, {96000, 0.03}, {192000, 0.03},
	} {
		got := response(c.rate)
		var worst, at float64
		for f := 10.0; f <= min(20000, float64(c.rate)/2); f *= math.Pow(2, 1.0/24) {
			if d := math.Abs(got(f) - table(f)); d > worst {
				worst, at = d, f
			}
		}
		t.Logf("%g Hz: largest deviation from the 48 kHz curve %.4f dB at %.0f Hz", c.rate, worst, at)
		if worst > c.tol {
			t.Errorf("%g Hz: K-weighting off the 48 kHz curve by %.3f dB at %.0f Hz, want ≤ %.2f dB", c.rate, worst, at, c.tol)
		}
	}
}

// EBU Tech 3341 (v4, 2016) Table 1, cases 1–6: integrated loudness within
// ±0.1 LU. The signals are 1 kHz sines at the stated peak level in dBFS.
func TestLoudnessEBU3341Integrated(t *testing.T) {
	cases := []struct {
		name     string
		channels int
		segs     []toneSegment
		want     float64
	}{
		{"case 1: stereo −23 dBFS", 2, []toneSegment{toneSeg(20, -23)}, -23},
		{"case 2: stereo −33 dBFS", 2, []toneSegment{toneSeg(20, -33)}, -33},
		{"case 3: −36/−23/−36", 2, []toneSegment{toneSeg(10, -36), toneSeg(60, -23), toneSeg(10, -36)}, -23},
		{"case 4: −72/−36/−23/−36/−72", 2, []toneSegment{toneSeg(10, -72), toneSeg(10, -36), toneSeg(60, -23), toneSeg(10, -36), toneSeg(10, -72)}, -23},
		{"case 5: −26/−20/−26", 2, []toneSegment{toneSeg(20, -26), toneSeg(20.1, -20), toneSeg(20, -26)}, -23},
		{"case 6: 5.0 channels", 5, []toneSegment{toneSeg(20, -28, -28, -24, -30, -30)}, -23},
		// The test set's 5.1 file of case 6: the same with a silent LFE.
		{"case 6: 5.1 channels", 6, []toneSegment{toneSeg(20, -28, -28, -24, math.Inf(-1), -30, -30)}, -23},
	}
	for _, rate := range []Hz{48000, 44100} {
		for _, c := range cases {
			got := MeasureLoudness(toneProgramme(rate, c.channels, c.segs...), rate, 0)
			t.Logf("%g Hz %s: %.3f LUFS", rate, c.name, got.Integrated)
			if math.Abs(got.Integrated-c.want) > 0.1 {
				t.Errorf("%g Hz %s: integrated %.3f LUFS, want %.1f ±0.1", rate, c.name, got.Integrated, c.want)
			}
		}
	}
}

// The same −23 dBFS tone reads −23 LUFS at every rate: the K-weighting is
// computed per rate, not borrowed from 48 kHz.
func TestLoudnessAnyRate(t *testing.T) {
	for _, rate := range []Hz{8000, 11025, 16000, 22050, 32000, 88200, 96000, 192000, 37800.5} {
		got := MeasureLoudness(toneProgramme(rate, 2, toneSeg(10, -23)), rate, 0)
		if math.Abs(got.Integrated+23) > 0.1 {
			t.Errorf("%g Hz: %.3f LUFS, want −23.0 ±0.1", rate, got.Integrated)
		}
	}
}

// meterReadings are the momentary (400 ms) and short-term (3 s) loudness
// of a programme, in LUFS, as MeasureLoudness computes them on its way to
// the integrated loudness and the loudness range: one every 100 ms, the
// first when the first window is full.
func meterReadings(channels [][]float32, rate Hz) (momentary, shortTerm []float64) {
	n := len(channels[0])
	var bounds []int
	for j := 0; ; j++ {
		b := int(math.Round(float64(j) * segmentSeconds * float64(rate)))
		if b > n {
			break
		}
		bounds = append(bounds, b)
	}
	energy := weightedEnergies(channels, 0, bounds, rate)
	for _, p := range windowPowers(energy, bounds, momentarySegs) {
		momentary = append(momentary, powerToLUFS(p))
	}
	for _, p := range windowPowers(energy, bounds, shortTermSegs) {
		shortTerm = append(shortTerm, powerToLUFS(p))
	}
	return momentary, shortTerm
}

// EBU Tech 3341 Table 1, the cases on momentary (M) and short-term (S)
// loudness, which the integrated loudness and the loudness range are built
// from: ±0.1 LU. Cases 13 and 14 (the largest M of 400 ms bursts starting
// every 20 ms) are left out: M is read on the gating blocks' 100 ms grid,
// where a burst can miss a block by 50 ms (−0.58 dB), and songflow reports
// no largest M.
func TestLoudnessEBU3341MomentaryShortTerm(t *testing.T) {
	const rate = 48000
	within := func(name string, got []float64, want float64) {
		t.Helper()
		lo, hi := slices.Min(got), slices.Max(got)
		t.Logf("%s: %d readings, %.3f to %.3f LUFS", name, len(got), lo, hi)
		if lo < want-0.1 || hi > want+0.1 {
			t.Errorf("%s: %.3f to %.3f LUFS, want %.1f ±0.1", name, lo, hi, want)
		}
	}
	// Cases 1 and 2: every M and S of a steady tone.
	for _, c := range []struct {
		name  string
		level float64
	}{{"case 1", -23}, {"case 2", -33}} {
		m, s := meterReadings(toneProgramme(rate, 2, toneSeg(20, c.level)), rate)
		within(c.name+" M", m, c.level)
		within(c.name+" S", s, c.level)
	}
	// Case 9: 1.34 s at −20 dBFS and 1.66 s at −30, five times: every 3 s
	// window holds one of each, so S stays at −23.
	var segs []toneSegment
	for range 5 {
		segs = append(segs, toneSeg(1.34, -20), toneSeg(1.66, -30))
	}
	_, s := meterReadings(toneProgramme(rate, 2, segs...), rate)
	within("case 9 S", s, -23)
	// Case 12: 0.18 s at −20 dBFS and 0.22 s at −30, 25 times: M stays at
	// −23 after the first second.
	segs = segs[:0]
	for range 25 {
		segs = append(segs, toneSeg(0.18, -20), toneSeg(0.22, -30))
	}
	m, _ := meterReadings(toneProgramme(rate, 2, segs...), rate)
	within("case 12 M after 1 s", m[int(1/segmentSeconds)-momentarySegs+1:], -23)
	// Case 10: i·0.15 s of silence, 3 s at −23 dBFS and 1 s of silence,
	// for i = 1…20, each measured alone: the largest S is −23.
	silent := math.Inf(-1)
	var largest []float64
	for i := 1; i <= 20; i++ {
		_, s := meterReadings(toneProgramme(rate, 2, toneSeg(float64(i)*0.15, silent), toneSeg(3, -23), toneSeg(1, silent)), rate)
		largest = append(largest, slices.Max(s))
	}
	within("case 10 largest S", largest, -23)
	// Case 11: the same bursts at −38+i dBFS in one programme, each in a
	// 6 s stretch (i·0.15 s of silence, 3 s of tone, the rest silent): the
	// largest S of each stretch is −38+i.
	segs = segs[:0]
	for i := 1; i <= 20; i++ {
		segs = append(segs, toneSeg(float64(i)*0.15, silent), toneSeg(3, -38+float64(i)), toneSeg(3-float64(i)*0.15, silent))
	}
	_, s = meterReadings(toneProgramme(rate, 2, segs...), rate)
	per := int(6 / segmentSeconds)
	for i := 1; i <= 20; i++ {
		// Windows ending in stretch i, the first starting 3 s before it.
		stretch := s[max(0, (i-1)*per-shortTermSegs+1):min(len(s), i*per-shortTermSegs+1)]
		if got, want := slices.Max(stretch), -38+float64(i); math.Abs(got-want) > 0.1 {
			t.Errorf("case 11, burst %d: largest S %.3f LUFS, want %.1f ±0.1", i, got, want)
		}
	}
}

// BS.1770-4 calibrates its offset so that a 0 dBFS 1 kHz (997 Hz) sine in
// the left, centre or right channel alone reads −3.01 LKFS; a mono
// programme is that one channel, weighted 1.
func TestLoudnessOneChannel(t *testing.T) {
	const rate = 48000
	for _, c := range []struct {
		name     string
		channels int
		dBFS     []float64
	}{
		{"mono", 1, []float64{0}},
		{"left of stereo", 2, []float64{0, math.Inf(-1)}},
		{"right of stereo", 2, []float64{math.Inf(-1), 0}},
		{"centre of 5.1", 6, []float64{math.Inf(-1), math.Inf(-1), 0, math.Inf(-1), math.Inf(-1), math.Inf(-1)}},
	} {
		got := MeasureLoudness(toneProgramme(rate, c.channels, toneSegment{c.dBFS, 10}), rate, 0).Integrated
		t.Logf("%s: %.3f LUFS", c.name, got)
		if math.Abs(got+3.01) > 0.1 {
			t.Errorf("%s: 0 dBFS 1 kHz sine reads %.3f LUFS, want −3.01 ±0.1", c.name, got)
		}
	}
	// A surround channel of 5.1 weighs +1.5 dB (G = 1.41).
	got := MeasureLoudness(toneProgramme(rate, 6, toneSegment{[]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1), math.Inf(-1), 0, math.Inf(-1)}, 10}), rate, 0).Integrated
	if want := -3.01 + 10*math.Log10(1.41); math.Abs(got-want) > 0.1 {
		t.Errorf("left surround of 5.1: %.3f LUFS, want %.2f ±0.1", got, want)
	}
}

// The 6-channel layout leaves LFE out: a loud LFE channel changes nothing.
func TestLoudnessLFEExcluded(t *testing.T) {
	with := MeasureLoudness(toneProgramme(48000, 6, toneSeg(10, -28, -28, -24, 0, -30, -30)), 48000, 0)
	without := MeasureLoudness(toneProgramme(48000, 5, toneSeg(10, -28, -28, -24, -30, -30)), 48000, 0)
	if math.Abs(with.Integrated-without.Integrated) > 1e-9 {
		t.Errorf("5.1 with a 0 dBFS LFE reads %.3f LUFS, 5.0 reads %.3f", with.Integrated, without.Integrated)
	}
}

// Every channel of every layout, alone at 0 dBFS, reads −3.01 LUFS times
// its BS.1770-4 weight: 1 in front and behind, 1.41 (+1.49 dB) between
// ±60° and ±120° (the side pair, and the back pair of a layout without
// one: the surrounds of 5.1 and quadraphony), and nothing for the LFE.
// Channels follow their layout's speakers in WAVE order; layout 0 is the
// default of the count (6.1: L R C LFE Cb Ls Rs). 6.1 once counted its LFE
// as a full channel and its side pair at 1, and layouts not given by the
// count were weighed as if they were (6.1 with a back pair, 7.1 with its
// extra pair in front).
func TestLoudnessChannelWeights(t *testing.T) {
	const rate = 48000
	const F, S = 0.0, 1.49 // dB added to −3.01
	LFE := math.Inf(-1)
	for _, c := range []struct {
		name   string
		layout ChannelMask
		gains  []float64
	}{
		{"mono", 0, []float64{F}},
		{"stereo", 0, []float64{F, F}},
		{"3.0", 0, []float64{F, F, F}},
		{"quad", 0, []float64{F, F, S, S}},
		{"5.0", 0, []float64{F, F, F, S, S}},
		{"5.1", 0, []float64{F, F, F, LFE, S, S}},
		{"6.1", 0, []float64{F, F, F, LFE, F, S, S}},
		{"7.1", 0, []float64{F, F, F, LFE, F, F, S, S}},
		{"2.1", 0xb, []float64{F, F, LFE}},
		{"L R C Cs", 0x107, []float64{F, F, F, F}},
		{"5.1 with a side pair", 0x60f, []float64{F, F, F, LFE, S, S}},
		{"6.1 with a back pair", 0x13f, []float64{F, F, F, LFE, S, S, F}},
		{"7.1 with a front pair", 0xff, []float64{F, F, F, LFE, S, S, F, F}},
		{"height pair over stereo", 0x5003, []float64{F, F, F, F}},
		{"a third channel past a stereo mask", 0x3, []float64{F, F, F}},
	} {
		n := len(c.gains)
		for ch, g := range c.gains {
			levels := make([]float64, n)
			for i := range levels {
				levels[i] = math.Inf(-1)
			}
			levels[ch] = 0
			got := MeasureLoudness(toneProgramme(rate, n, toneSegment{levels, 5}), rate, c.layout).Integrated
			want := -3.01 + g
			if math.IsInf(g, -1) {
				want = SilentLUFS
			}
			if math.Abs(got-want) > 0.1 {
				t.Errorf("%s (layout %#x), channel %d alone: %.2f LUFS, want %.2f", c.name, c.layout, ch, got, want)
			}
		}
	}
}

// DefaultChannelMask gives FLAC's fixed channel assignments (RFC 9639
// §9.1.3), spelled out here speaker by speaker.
func TestDefaultChannelMask(t *testing.T) {
	const (
		FL, FR, FC, LFE = SpeakerFrontLeft, SpeakerFrontRight, SpeakerFrontCenter, SpeakerLowFrequency
		BL, BR, BC      = SpeakerBackLeft, SpeakerBackRight, SpeakerBackCenter
		SL, SR          = SpeakerSideLeft, SpeakerSideRight
	)
	for n, want := range []ChannelMask{
		0,
		FC,
		FL | FR,
		FL | FR | FC,
		FL | FR | BL | BR,
		FL | FR | FC | BL | BR,
		FL | FR | FC | LFE | BL | BR,
		FL | FR | FC | LFE | BC | SL | SR,
		FL | FR | FC | LFE | BL | BR | SL | SR,
		0,
	} {
		if got := DefaultChannelMask(n); got != want {
			t.Errorf("%d channels: %#x, want %#x", n, got, want)
		}
	}
}

// EBU Tech 3342 (v4, 2016) cases 1–4: loudness range within ±1 LU. Each
// level lasts 20 s; stereo 1 kHz tone.
func TestLoudnessRangeEBU3342(t *testing.T) {
	cases := []struct {
		levels []float64
		want   float64
	}{
		{[]float64{-20, -30}, 10},
		{[]float64{-20, -15}, 5},
		{[]float64{-40, -20}, 20},
		{[]float64{-50, -35, -20, -35, -50}, 15},
	}
	for i, c := range cases {
		var segs []toneSegment
		for _, l := range c.levels {
			segs = append(segs, toneSeg(20, l))
		}
		got := MeasureLoudness(toneProgramme(48000, 2, segs...), 48000, 0)
		t.Logf("3342 case %d %v: LRA %.2f LU", i+1, c.levels, got.Range)
		if math.Abs(got.Range-c.want) > 1 {
			t.Errorf("3342 case %d %v: LRA %.2f LU, want %.0f ±1", i+1, c.levels, got.Range, c.want)
		}
	}
}

// EBU Tech 3341 Table 1, true-peak cases 15–23 as their definitions give
// them, at 48 kHz and at 44.1 kHz (the definitions are in fractions of the
// rate). Tolerance +0.2/−0.4 dB. (Measured on the EBU's own 48 kHz files
// for cases 20–23, the meter reads −0.13, −0.09, −0.18 and −0.09 dBTP.)
func TestTruePeakEBU3341(t *testing.T) {
	// fade tapers a tone over 10 ms at each end, as the definitions ask:
	// a step from and to silence would overshoot (Gibbs) and be measured
	// as well.
	fade := func(x []float32, rate Hz) {
		n := int(0.01 * float64(rate))
		for i := range n {
			g := float32(0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(n)))
			x[i] *= g
			x[len(x)-1-i] *= g
		}
	}
	for _, rate := range []Hz{48000, 44100} {
		for _, c := range []struct {
			name   string
			f      Hz      // in fractions of the rate
			phase  float64 // degrees
			peakDB float64 // true peak of the waveform
		}{
			{"15: fs/4, 0°", rate / 4, 0, -6},
			{"16: fs/4, 45°", rate / 4, 45, -6},
			{"17: fs/6, 60°", rate / 6, 60, -6},
			{"18: fs/8, 67.5°", rate / 8, 67.5, -6},
			{"19: fs/4, 45°, samples at 0 dBFS", rate / 4, 45, 3.0103},
		} {
			x := toneAt(c.f, rate, int(rate), math.Pow(10, c.peakDB/20), c.phase*math.Pi/180)
			fade(x, rate)
			checkTruePeak(t, fmtRate(rate)+" case "+c.name, x, rate, c.peakDB)
		}
		for offset := range 4 {
			x := tp3341Burst(rate, offset)
			fade(x, rate)
			checkTruePeak(t, fmtRate(rate)+" case "+strconv.Itoa(20+offset)+": fs/4 period in fs/6, offset "+strconv.Itoa(offset), x, rate, 0)
		}
	}
}

func checkTruePeak(t *testing.T, name string, x []float32, rate Hz, want float64) {
	t.Helper()
	samplePeak := 0.0
	for _, v := range x {
		samplePeak = math.Max(samplePeak, math.Abs(float64(v)))
	}
	got := MeasureLoudness([][]float32{x, x}, rate, 0).TruePeak
	t.Logf("%s: sample peak %.2f dBFS, true peak %.3f dBTP (want %.2f)", name, ampDB(samplePeak), got, want)
	if d := got - want; d > 0.2 || d < -0.4 {
		t.Errorf("%s: true peak %.3f dBTP, want %.2f +0.2/−0.4", name, got, want)
	}
}

func fmtRate(rate Hz) string { return strconv.FormatFloat(float64(rate), 'f', -1, 64) + " Hz" }

// tp3341Burst is the signal of Tech 3341 cases 20–23, half a second of
// it: synthesised at four times rate, a sine at fs/6 of amplitude 0.5 that
// gives way, at a zero crossing and for one period, to a sine at fs/4 of
// amplitude 1, continuous in phase on both sides; then low-passed at
// rate/2 and kept every fourth sample from offset. The low-pass, a Kaiser
// windowed sinc (β 8, 513 taps), reproduces the EBU's file of case 20 to
// 1e-4 around the burst.
func tp3341Burst(rate Hz, offset int) []float32 {
	const half = 256 // taps either side of the centre, at 4·rate
	n := int(rate / 2)
	x := make([]float64, 4*n+2*half) // x[half+m] is sample m at 4·rate
	burst := 2 * n / 24 * 24         // a zero crossing of the fs/6 sine, mid-way
	for m := range 4 * n {
		v := 0.5 * math.Sin(2*math.Pi*float64(m)/24)
		switch {
		case m >= burst+16:
			v = 0.5 * math.Sin(2*math.Pi*float64(m-16)/24)
		case m >= burst:
			v = math.Sin(2 * math.Pi * float64(m-burst) / 16)
		}
		x[half+m] = v
	}
	h := make([]float64, 2*half+1)
	var sum float64
	for i := range h {
		u := float64(i - half)
		r := u / half
		h[i] = sinc(u/4) * besselI0(8*math.Sqrt(1-r*r))
		sum += h[i]
	}
	out := make([]float32, n)
	for k := range out {
		var acc float64
		for i, c := range h[:min(len(h), len(x)-4*k-offset)] {
			acc += c * x[4*k+offset+i]
		}
		out[k] = float32(acc / sum)
	}
	return out
}

// The shortcut that skips blocks must not change the answer: compare with
// interpolating everywhere on a signal with isolated inter-sample peaks.
func TestTruePeakShortcutExact(t *testing.T) {
	x := toneAt(11025, 44100, 44100, 0.01, math.Pi/4)
	// A few louder bursts between quiet stretches, each near fs/4 so their
	// peaks fall between samples.
	for _, at := range []int{5000, 17000, 30000} {
		for i := range 200 {
			x[at+i] = float32(0.5 * math.Sin(math.Pi/2*float64(i)+math.Pi/4+float64(at)))
		}
	}
	// Dense signals, where few blocks can be skipped whole.
	noise := benchSong(44100)
	beats := musicLike(44100, 44100, 9)
	// A steady loud tone, where every crest is a candidate, and a signal
	// whose largest inter-sample peaks sit at its two ends.
	tone := toneAt(220, 44100, 44100, 0.3, 0.1)
	for i, v := range benchSong(44100) {
		tone[i] += 0.1 * v
	}
	head := toneAt(11025, 44100, 300, 0.01, 0)
	for i := range 8 {
		head[i] = float32(0.9 * math.Sin(math.Pi/2*float64(i)+math.Pi/4))
	}
	tail := slices.Clone(head)
	slices.Reverse(tail)
	// A loud slow tone, which the second-difference bound skips, with
	// short bursts near fs/4 whose peaks fall between samples.
	smooth := toneAt(97, 44100, 44100, 0.8, 0.2)
	for _, at := range []int{3000, 20000, 31000} {
		for i := range 9 {
			smooth[at+i] += float32(0.15 * math.Sin(math.Pi/2*float64(i)+math.Pi/4))
		}
	}
	for name, sig := range map[string][]float32{"bursts": x, "noise": noise, "beats": beats, "tone": tone, "head": head, "tail": tail, "smooth": smooth} {
		got := truePeakDB([][]float32{sig}, len(sig))
		want := bruteTruePeak(sig)
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("%s: true peak with shortcut %.6f dBTP, everywhere %.6f", name, got, want)
		}
	}
}

func bruteTruePeak(x []float32) float64 {
	taps := 2 * truePeakHalf
	var peak float64
	for _, v := range x {
		peak = math.Max(peak, math.Abs(float64(v)))
	}
	for p := 1; p < truePeakFactor; p++ {
		frac := float64(p) / truePeakFactor
		h := make([]float32, taps)
		for i := range h {
			u := frac + float64(truePeakHalf-1-i)
			r := u / truePeakHalf
			h[i] = float32(sinc(u) * besselI0(truePeakBeta*math.Sqrt(1-r*r)) / besselI0(truePeakBeta))
		}
		for k := range x {
			peak = math.Max(peak, math.Abs(float64(edgeDot(h, x, k-truePeakHalf+1))))
		}
	}
	return 20 * math.Log10(peak)
}

func TestLoudnessSilenceAndShortInput(t *testing.T) {
	inputs := map[string][][]float32{
		"nil":           nil,
		"no samples":    {{}, {}},
		"silence":       {make([]float32, 48000), make([]float32, 48000)},
		"300 ms of −20": toneProgramme(48000, 2, toneSeg(0.3, -20)),
		"−80 dBFS tone": toneProgramme(48000, 2, toneSeg(5, -80)),
		"NaN samples":   {{float32(math.NaN()), 0, 0}},
		"+Inf samples":  {append(make([]float32, 48000), float32(math.Inf(1)))},
	}
	for name, in := range inputs {
		got := MeasureLoudness(in, 48000, 0)
		for _, v := range []float64{got.Integrated, got.Range, got.TruePeak} {
			if !isFinite(v) {
				t.Errorf("%s: %+v is not finite", name, got)
			}
		}
		if got.Integrated != SilentLUFS {
			t.Errorf("%s: integrated %.2f, want SilentLUFS %.0f", name, got.Integrated, SilentLUFS)
		}
		if got.Range != 0 {
			t.Errorf("%s: range %.2f, want 0", name, got.Range)
		}
	}
	if tp := MeasureLoudness(inputs["silence"], 48000, 0).TruePeak; tp != SilentDBTP {
		t.Errorf("silence: true peak %.1f, want %.0f", tp, SilentDBTP)
	}
	if tp := MeasureLoudness(inputs["300 ms of −20"], 48000, 0).TruePeak; math.Abs(tp+20) > 0.2 {
		t.Errorf("300 ms at −20 dBFS: true peak %.2f dBTP, want −20", tp)
	}
	if got := MeasureLoudness(toneProgramme(48000, 2, toneSeg(1, -23)), 0, 0); got.Integrated != SilentLUFS {
		t.Errorf("rate 0: %+v, want the silent sentinels", got)
	}
}

// A NaN or infinite sample is damage, not a level: it must neither blank
// the rest of the programme (it would stay in the K-weighting filters'
// state) nor replace the true peak.
func TestLoudnessIgnoresNonFiniteSamples(t *testing.T) {
	// Quiet first, loud after the damage: losing what follows it shows.
	clean := toneProgramme(48000, 2, toneSeg(2, -30), toneSeg(8, -10))
	want := MeasureLoudness(clean, 48000, 0)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		in := toneProgramme(48000, 2, toneSeg(2, -30), toneSeg(8, -10))
		in[0][48000] = float32(v)
		got := MeasureLoudness(in, 48000, 0)
		if math.Abs(got.Integrated-want.Integrated) > 0.05 || math.Abs(got.Range-want.Range) > 0.05 ||
			math.Abs(got.TruePeak-want.TruePeak) > 0.05 {
			t.Errorf("%v at 1 s: %+v, want %+v", v, got, want)
		}
	}
}

// musicLike is n samples of noise bursts on a beat (two per second, each
// decaying over 200 ms) over a steady tone: dense like music, with peaks.
func musicLike(n int, rate Hz, seed uint32) []float32 {
	x := make([]float32, n)
	beat := int(rate / 2)
	for i := range x {
		seed = seed*1664525 + 1013904223
		noise := float64(int32(seed)) / (1 << 31)
		env := math.Exp(-float64(i%beat) / (0.05 * float64(rate)))
		x[i] = float32(0.2*math.Sin(float64(i)*0.0627) + 0.7*env*noise)
	}
	return x
}

func BenchmarkMeasureLoudness(b *testing.B) {
	const rate = 44100
	l, r := musicLike(180*rate, rate, 1), musicLike(180*rate, rate, 2)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		MeasureLoudness([][]float32{l, r}, rate, 0)
	}
	b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// BenchmarkMeasureLoudnessDense is the worst case for the true-peak
// shortcut: steady full-band noise, where nearly every block could hold the
// peak and is interpolated.
func BenchmarkMeasureLoudnessDense(b *testing.B) {
	const rate = 44100
	l := benchSong(180 * rate)
	r := append([]float32(nil), l[rate:]...)
	r = append(r, l[:rate]...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		MeasureLoudness([][]float32{l, r}, rate, 0)
	}
	b.ReportMetric(180*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// TestLoudnessMatchesFFmpeg compares with ffmpeg's ebur128 filter, an
// independent BS.1770-4 meter, on a programme with level changes, when
// ffmpeg is installed (it is not needed to build or test songflow).
func TestLoudnessMatchesFFmpeg(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	const rate = 44100
	l, r := musicLike(40*rate, rate, 3), musicLike(40*rate, rate, 4)
	for i := range l { // 10 s steps at 0, −12, −4 and −20 dB
		g := float32(math.Pow(10, []float64{0, -12, -4, -20}[i/(10*rate)]/20))
		l[i] *= g
		r[i] *= 0.7 * g
	}
	path := filepath.Join(t.TempDir(), "programme.wav")
	if err := os.WriteFile(path, audiotest.FloatWAV(rate, 2, interleaved(l, r)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffmpeg, "-hide_banner", "-nostats", "-i", path, "-af", "ebur128=peak=true", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	summary := string(out[strings.LastIndex(string(out), "Summary:"):])
	field := func(name string) float64 {
		m := regexp.MustCompile(name + `:\s+(-?[0-9.]+)`).FindStringSubmatch(summary)
		if m == nil {
			t.Fatalf("no %s in ffmpeg's summary:\n%s", name, summary)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	got := MeasureLoudness([][]float32{l, r}, rate, 0)
	t.Logf("songflow %+v; ffmpeg I %.1f LRA %.1f TP %.1f", got, field("I"), field("LRA"), field("Peak"))
	// ffmpeg prints one decimal: allow its rounding on top of the
	// standard's tolerances.
	if d := got.Integrated - field("I"); math.Abs(d) > 0.15 {
		t.Errorf("integrated %.2f LUFS, ffmpeg %.1f", got.Integrated, field("I"))
	}
	if d := got.Range - field("LRA"); math.Abs(d) > 1 {
		t.Errorf("range %.2f LU, ffmpeg %.1f", got.Range, field("LRA"))
	}
	if d := got.TruePeak - field("Peak"); d > 0.25 || d < -0.45 {
		t.Errorf("true peak %.2f dBTP, ffmpeg %.1f", got.TruePeak, field("Peak"))
	}
}

// interleaved returns the samples of l and r frame by frame, as a stereo
// file holds them.
func interleaved(l, r []float32) []float32 {
	out := make([]float32, 0, 2*len(l))
	for i := range l {
		out = append(out, l[i], r[i])
	}
	return out
}

// The unrolled scans must see every sample and every second difference,
// whatever the length.
func TestTruePeakScans(t *testing.T) {
	x := musicLike(40, 44100, 5)
	for n := range len(x) + 1 {
		var wantMax, wantBend float32
		for i, v := range x[:n] {
			wantMax = max(wantMax, float32(math.Abs(float64(v))))
			if i >= 2 {
				wantBend = max(wantBend, float32(math.Abs(float64(x[i-2]-2*x[i-1]+v))))
			}
		}
		if got := math.Float32frombits(absMaxBits(x[:n])); got != wantMax {
			t.Errorf("%d samples: max |x| %g, want %g", n, got, wantMax)
		}
		if got := math.Float32frombits(bendMaxBits(x[:n])); got != wantBend {
			t.Errorf("%d samples: max |Δ²x| %g, want %g", n, got, wantBend)
		}
	}
}

// blockAbsMaxBits gives every block what absMaxBits gives it alone, for
// whole and partial last blocks.
func TestBlockAbsMaxBits(t *testing.T) {
	x := musicLike(4000, 44100, 9)
	x[1234] = -3 // a negative peak
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 1235, len(x)} {
		nb := (n + truePeakBlock - 1) / truePeakBlock
		got := make([]uint32, nb)
		peak := blockAbsMaxBits(got, x[:n])
		var want uint32
		for b := range got {
			m := absMaxBits(x[b*truePeakBlock : min(n, (b+1)*truePeakBlock)])
			if got[b] != m {
				t.Fatalf("%d samples, block %d: %#x, want %#x", n, b, got[b], m)
			}
			want = max(want, m)
		}
		if peak != want {
			t.Errorf("%d samples: peak %#x, want %#x", n, peak, want)
		}
	}
}

// At rates up to 3364 Hz the shelf's corner lies at or above the Nyquist
// frequency, where the bilinear transform cannot place it; the matched
// design can. A 100 Hz tone must read what it reads at 48 kHz, to 0.02 LU
// from 2 kHz up (the table's high-pass numerator, left uncorrected, lifted
// it by a0 − 1: +0.26 dB at 8 kHz, +2 dB at 1 kHz), and loudness must stay
// finite. At or below 76 Hz, twice the high-pass's corner, nothing passes:
// the silent measurement.
func TestLoudnessLowRates(t *testing.T) {
	tone := func(rate Hz, freq float64) [][]float32 {
		x := make([]float32, int(10*rate))
		for i := range x {
			x[i] = float32(0.1 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		}
		return [][]float32{x}
	}
	ref := MeasureLoudness(tone(48000, 100), 48000, 0).Integrated
	for _, c := range []struct {
		rate Hz
		tol  float64 // LU
	}{{1000, 0.1}, {2000, 0.02}, {3000, 0.02}, {3363, 0.02}, {3365, 0.02}, {4000, 0.02}, {8000, 0.02}, {11025, 0.02}} {
		got := MeasureLoudness(tone(c.rate, 100), c.rate, 0).Integrated
		if !(math.Abs(got-ref) <= c.tol) {
			t.Errorf("100 Hz tone at %g Hz: %.3f LUFS, want %.3f ±%.2f as at 48 kHz", c.rate, got, ref, c.tol)
		}
	}
	if got := MeasureLoudness(tone(60, 5), 60, 0); got.Integrated != SilentLUFS {
		t.Errorf("5 Hz tone at 60 Hz: %.2f LUFS, want the silent %.0f", got.Integrated, SilentLUFS)
	}
}

// The gates of BS.1770-4 Annex 1, worked by hand on 1 kHz stereo tones
// (a tone at L dBFS reads L LUFS, as in EBU Tech 3341 cases 1 and 2). The
// EBU cases leave the quieter stretches 4 LU or 13 LU from the relative
// gate, so a gate at −9 or −12 LU passes them all; these put a stretch
// half an LU either side of it, and either side of the absolute gate.
// Two stretches of equal length at powers 1 and p average to
// 10·lg((1 + p)/2) dB above the quieter: the relative gate lies 10 LU
// below that mean of the blocks that pass the absolute gate.
//
//   - −20 and −32.26: the mean is −20 + 10·lg((1 + 10^−1.226)/2) =
//     −22.76, the gate −32.76, so the quiet stretch counts: −22.76.
//   - −20 and −33.31: mean −22.81, gate −32.81, the quiet stretch is
//     gated out and the −20 stretch alone remains: −20.00.
//   - −65 and −72: −72 fails the absolute gate; the relative gate
//     (−75) lies below the absolute one, which still holds: −65.00, not
//     the −67.22 of both.
//   - −69.5 alone passes the absolute gate: −69.50, not the silent −70.
//
// The few blocks that straddle a change of level move each answer by
// under 0.04 LU.
func TestLoudnessGatesHandWorked(t *testing.T) {
	cases := []struct {
		name string
		segs []toneSegment
		want float64
	}{
		{"quiet stretch 0.5 LU above the relative gate", []toneSegment{toneSeg(20, -20), toneSeg(20, -32.26)}, -22.76},
		{"quiet stretch 0.5 LU below the relative gate", []toneSegment{toneSeg(20, -20), toneSeg(20, -33.31)}, -20.00},
		{"relative gate below the absolute gate", []toneSegment{toneSeg(20, -65), toneSeg(20, -72)}, -65.00},
		{"0.5 LU above the absolute gate", []toneSegment{toneSeg(10, -69.5)}, -69.50},
	}
	for _, c := range cases {
		got := MeasureLoudness(toneProgramme(48000, 2, c.segs...), 48000, 0).Integrated
		if math.Abs(got-c.want) > 0.1 {
			t.Errorf("%s: integrated %.3f LUFS, want %.2f ±0.1", c.name, got, c.want)
		}
	}
}

// The loudness range of EBU Tech 3342 on short-term loudness values given
// directly, worked by hand: the 95th minus the 10th percentile of the
// values above −70 LUFS and above the mean of those less 20 LU. The
// 3342 test signals hold two or three levels, so that the 90th percentile
// or a gate at −18 LU gives their answers too.
//
//   - 101 values from −30 to −20 LUFS in steps of 0.1: every one passes,
//     and the percentiles lie on values: −20.5 − (−29) = 8.5 LU.
//   - 50 at −20 and 50 at −41.9: the mean is −20 + 10·lg((1 +
//     10^−2.19)/2) = −22.98, the gate −42.98, both levels count: 21.9 LU.
//   - 50 at −20 and 50 at −44: mean −22.99, gate −42.99, only −20
//     remains: 0 LU.
//   - 50 at −20 and 50 at −75: −75 fails the absolute gate: 0 LU.
func TestLoudnessRangeHandWorked(t *testing.T) {
	power := func(lufs float64) float64 { return math.Pow(10, (lufs+0.691)/10) }
	levels := func(groups ...[2]float64) []float64 { // {LUFS, count}
		var out []float64
		for _, g := range groups {
			for range int(g[1]) {
				out = append(out, power(g[0]))
			}
		}
		return out
	}
	var ramp []float64
	for i := range 101 {
		ramp = append(ramp, power(-30+0.1*float64(i)))
	}
	cases := []struct {
		name  string
		short []float64
		want  float64
	}{
		{"ramp −30…−20", ramp, 8.5},
		{"−20 and −41.9", levels([2]float64{-20, 50}, [2]float64{-41.9, 50}), 21.9},
		{"−20 and −44", levels([2]float64{-20, 50}, [2]float64{-44, 50}), 0},
		{"−20 and −75", levels([2]float64{-20, 50}, [2]float64{-75, 50}), 0},
	}
	for _, c := range cases {
		if got := loudnessRange(c.short); math.Abs(got-c.want) > 0.05 {
			t.Errorf("%s: LRA %.3f LU, want %.2f ±0.05", c.name, got, c.want)
		}
	}
}
