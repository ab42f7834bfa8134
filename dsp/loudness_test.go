package dsp

import (
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
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
	}
	for _, rate := range []Hz{48000, 44100} {
		for _, c := range cases {
			got := MeasureLoudness(toneProgramme(rate, c.channels, c.segs...), rate)
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
	for _, rate := range []Hz{8000, 22050, 32000, 88200, 96000, 192000, 37800.5} {
		got := MeasureLoudness(toneProgramme(rate, 2, toneSeg(10, -23)), rate)
		if math.Abs(got.Integrated+23) > 0.1 {
			t.Errorf("%g Hz: %.3f LUFS, want −23.0 ±0.1", rate, got.Integrated)
		}
	}
}

// The 6-channel layout leaves LFE out: a loud LFE channel changes nothing.
func TestLoudnessLFEExcluded(t *testing.T) {
	with := MeasureLoudness(toneProgramme(48000, 6, toneSeg(10, -28, -28, -24, 0, -30, -30)), 48000)
	without := MeasureLoudness(toneProgramme(48000, 5, toneSeg(10, -28, -28, -24, -30, -30)), 48000)
	if math.Abs(with.Integrated-without.Integrated) > 1e-9 {
		t.Errorf("5.1 with a 0 dBFS LFE reads %.3f LUFS, 5.0 reads %.3f", with.Integrated, without.Integrated)
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
		got := MeasureLoudness(toneProgramme(48000, 2, segs...), 48000)
		t.Logf("3342 case %d %v: LRA %.2f LU", i+1, c.levels, got.Range)
		if math.Abs(got.Range-c.want) > 1 {
			t.Errorf("3342 case %d %v: LRA %.2f LU, want %.0f ±1", i+1, c.levels, got.Range, c.want)
		}
	}
}

// EBU Tech 3341 Table 1, true-peak cases 15–19 as their definitions give
// them at 48 kHz: sines whose samples miss the waveform's peak by a known
// amount. Tolerance +0.2/−0.4 dB.
func TestTruePeakEBU3341(t *testing.T) {
	cases := []struct {
		name   string
		f      Hz
		phase  float64 // degrees
		peakDB float64 // true peak of the waveform
	}{
		{"15: fs/4, 0°", 12000, 0, -6},
		{"16: fs/4, 45°", 12000, 45, -6},
		{"17: fs/6, 60°", 8000, 60, -6},
		{"18: fs/8, 67.5°", 6000, 67.5, -6},
		{"19: fs/4, 45°, samples at 0 dBFS", 12000, 45, 3.0103},
	}
	for _, c := range cases {
		amp := math.Pow(10, c.peakDB/20)
		x := toneAt(c.f, 48000, 48000, amp, c.phase*math.Pi/180)
		// The standard's signals are steady tones: fade this 1 s excerpt in
		// and out over 10 ms, or the step from and to silence would
		// overshoot (Gibbs) and be measured as well.
		fade := 480
		for i := range fade {
			g := float32(0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(fade)))
			x[i] *= g
			x[len(x)-1-i] *= g
		}
		samplePeak := 0.0
		for _, v := range x {
			samplePeak = math.Max(samplePeak, math.Abs(float64(v)))
		}
		got := MeasureLoudness([][]float32{x, x}, 48000).TruePeak
		t.Logf("%s: sample peak %.2f dBFS, true peak %.3f dBTP (want %.2f)", c.name, ampDB(samplePeak), got, c.peakDB)
		if d := got - c.peakDB; d > 0.2 || d < -0.4 {
			t.Errorf("%s: true peak %.3f dBTP, want %.2f +0.2/−0.4", c.name, got, c.peakDB)
		}
	}
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
		got := MeasureLoudness(in, 48000)
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
	if tp := MeasureLoudness(inputs["silence"], 48000).TruePeak; tp != SilentDBTP {
		t.Errorf("silence: true peak %.1f, want %.0f", tp, SilentDBTP)
	}
	if tp := MeasureLoudness(inputs["300 ms of −20"], 48000).TruePeak; math.Abs(tp+20) > 0.2 {
		t.Errorf("300 ms at −20 dBFS: true peak %.2f dBTP, want −20", tp)
	}
	if got := MeasureLoudness(toneProgramme(48000, 2, toneSeg(1, -23)), 0); got.Integrated != SilentLUFS {
		t.Errorf("rate 0: %+v, want the silent sentinels", got)
	}
}

// A NaN or infinite sample is damage, not a level: it must neither blank
// the rest of the programme (it would stay in the K-weighting filters'
// state) nor replace the true peak.
func TestLoudnessIgnoresNonFiniteSamples(t *testing.T) {
	// Quiet first, loud after the damage: losing what follows it shows.
	clean := toneProgramme(48000, 2, toneSeg(2, -30), toneSeg(8, -10))
	want := MeasureLoudness(clean, 48000)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		in := toneProgramme(48000, 2, toneSeg(2, -30), toneSeg(8, -10))
		in[0][48000] = float32(v)
		got := MeasureLoudness(in, 48000)
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
		MeasureLoudness([][]float32{l, r}, rate)
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
		MeasureLoudness([][]float32{l, r}, rate)
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
	if err := os.WriteFile(path, floatWAV([][]float32{l, r}, rate), 0o644); err != nil {
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
	got := MeasureLoudness([][]float32{l, r}, rate)
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

// floatWAV encodes channels as a 32-bit IEEE float WAV file.
func floatWAV(channels [][]float32, rate int) []byte {
	n, ch := len(channels[0]), len(channels)
	data := 4 * n * ch
	b := make([]byte, 0, 44+data)
	le := binary.LittleEndian
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(36+data))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 16)
	b = le.AppendUint16(b, 3) // WAVE_FORMAT_IEEE_FLOAT
	b = le.AppendUint16(b, uint16(ch))
	b = le.AppendUint32(b, uint32(rate))
	b = le.AppendUint32(b, uint32(rate*ch*4))
	b = le.AppendUint16(b, uint16(ch*4))
	b = le.AppendUint16(b, 32)
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(data))
	for i := range n {
		for _, c := range channels {
			b = le.AppendUint32(b, math.Float32bits(c[i]))
		}
	}
	return b
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

// At rates up to 3364 Hz the K-weighting's shelf cannot be built; loudness
// must stay finite and, for a 100 Hz tone that the missing shelf would
// hardly touch (+0.00 dB), read about what it reads at 48 kHz. The table's
// high-pass numerator 1, −2, 1, kept at every rate, lifts the pass band as
// the rate falls (a0 − 1: +0.26 dB at 8 kHz, +0.5 dB at 4 kHz, +2 dB at
// 1 kHz), which bounds the difference. At or below 76 Hz, twice the
// high-pass's corner, nothing passes: the silent measurement.
func TestLoudnessLowRates(t *testing.T) {
	tone := func(rate Hz, freq float64) [][]float32 {
		x := make([]float32, int(10*rate))
		for i := range x {
			x[i] = float32(0.1 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
		}
		return [][]float32{x}
	}
	ref := MeasureLoudness(tone(48000, 100), 48000).Integrated
	for _, c := range []struct {
		rate Hz
		tol  float64 // LU
	}{{1000, 2.1}, {2000, 1.1}, {3000, 0.7}, {3363, 0.6}, {3365, 0.6}, {4000, 0.5}, {8000, 0.3}} {
		got := MeasureLoudness(tone(c.rate, 100), c.rate).Integrated
		if !(math.Abs(got-ref) <= c.tol) {
			t.Errorf("100 Hz tone at %g Hz: %.3f LUFS, want %.3f ±%.1f as at 48 kHz", c.rate, got, ref, c.tol)
		}
	}
	if got := MeasureLoudness(tone(60, 5), 60); got.Integrated != SilentLUFS {
		t.Errorf("5 Hz tone at 60 Hz: %.2f LUFS, want the silent %.0f", got.Integrated, SilentLUFS)
	}
}
