package stages

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/songflow/songflow/dsp"
)

// stereoTone is seconds of a 1 kHz sine at peak level dBFS in two channels;
// the right channel is multiplied by right.
func stereoTone(rate dsp.Hz, seconds, dBFS float64, right float32) *Song {
	n := int(seconds * float64(rate))
	l, r := make([]float32, n), make([]float32, n)
	a := math.Pow(10, dBFS/20)
	for i := range l {
		l[i] = float32(a * math.Sin(2*math.Pi*1000*float64(i)/float64(rate)))
		r[i] = right * l[i]
	}
	return &Song{
		Info:     &SongInfo{Name: "tone.wav", SampleRate: rate, Channels: 2, Duration: dsp.Seconds(seconds)},
		Channels: [][]float32{l, r},
	}
}

// toneAmplitude fits a 1 kHz sine to x (sampled at rate) away from its ends.
func toneAmplitude(x []float32, rate dsp.Hz) float64 {
	x = x[len(x)/10 : len(x)-len(x)/10]
	var s, c float64
	w := 2 * math.Pi * 1000 / float64(rate)
	for i, v := range x {
		sn, cs := math.Sincos(w * float64(i))
		s += float64(v) * sn
		c += float64(v) * cs
	}
	return 2 * math.Hypot(s, c) / float64(len(x))
}

func TestResampleStage(t *testing.T) {
	stage := Resample(22050)
	for _, rate := range []dsp.Hz{44100, 48000, 22050} {
		song := stereoTone(rate, 20, -23, 1)
		sig, err := stage(context.Background(), song)
		if err != nil {
			t.Fatal(err)
		}
		if sig.Rate != 22050 || sig.Info != song.Info {
			t.Errorf("%g Hz: signal rate %g, info %p; want 22050 and the song's info", rate, sig.Rate, sig.Info)
		}
		if want := 20 * 22050; len(sig.Mono) != want {
			t.Errorf("%g Hz: %d samples, want %d", rate, len(sig.Mono), want)
		}
		if got := song.Info.Loudness.Integrated; math.Abs(got+23) > 0.1 {
			t.Errorf("%g Hz: loudness %.2f LUFS, want −23.0 (stereo −23 dBFS tone)", rate, got)
		}
		if got := song.Info.Loudness.TruePeak; math.Abs(got+23) > 0.2 {
			t.Errorf("%g Hz: true peak %.2f dBTP, want −23", rate, got)
		}
		if got, want := toneAmplitude(sig.Mono, 22050), math.Pow(10, -23.0/20); math.Abs(20*math.Log10(got/want)) > 0.01 {
			t.Errorf("%g Hz: mono tone amplitude %.5f, want %.5f", rate, got, want)
		}
	}
}

// The mixdown averages channels, a channel in anti-phase with the first
// inverted so that the pair does not cancel; loudness is measured before
// it, on the channels as they are.
func TestResampleStageMixdownAfterLoudness(t *testing.T) {
	song := stereoTone(44100, 5, -20, -1) // right = −left
	sig, err := Resample(22050)(context.Background(), song)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := toneAmplitude(sig.Mono, 22050), math.Pow(10, -20.0/20); math.Abs(20*math.Log10(got/want)) > 0.01 {
		t.Errorf("L = −R mixes down to a tone of amplitude %.5f, want %.5f", got, want)
	}
	if got := song.Info.Loudness.Integrated; math.Abs(got+20) > 0.1 {
		t.Errorf("loudness %.2f LUFS, want −20 measured on the channels", got)
	}
}

func TestResampleStageMonoPassThrough(t *testing.T) {
	x := make([]float32, 22050)
	x[100] = 1
	song := &Song{Info: &SongInfo{Name: "mono.wav", SampleRate: 22050, Channels: 1}, Channels: [][]float32{x}}
	sig, err := Resample(22050)(context.Background(), song)
	if err != nil {
		t.Fatal(err)
	}
	if &sig.Mono[0] != &x[0] || len(sig.Mono) != len(x) {
		t.Error("a mono song at the analysis rate was copied or changed")
	}
}

func TestResampleStageErrors(t *testing.T) {
	stage := Resample(22050)
	bad := []*Song{
		{Info: &SongInfo{Name: "norate.wav", SampleRate: 0}, Channels: [][]float32{{0, 0}}},
		{Info: &SongInfo{Name: "nochannels.wav", SampleRate: 44100}},
	}
	for _, s := range bad {
		_, err := stage(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), s.Info.Name) {
			t.Errorf("%s: error %v, want one naming the song", s.Info.Name, err)
		}
	}
	if _, err := stage(context.Background(), nil); err == nil {
		t.Error("nil song: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := stage(ctx, stereoTone(44100, 1, -20, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v, want context.Canceled", err)
	}
	if _, err := Resample(-1)(context.Background(), stereoTone(44100, 1, -20, 1)); err == nil {
		t.Error("negative target rate: no error")
	}
}

// Many workers share one stage function and its resampler cache.
func TestResampleStageConcurrent(t *testing.T) {
	stage := Resample(22050)
	want := map[dsp.Hz][]float32{}
	for _, rate := range []dsp.Hz{44100, 48000, 32000} {
		sig, err := Resample(22050)(context.Background(), stereoTone(rate, 1, -20, 0.5))
		if err != nil {
			t.Fatal(err)
		}
		want[rate] = sig.Mono
	}
	var wg sync.WaitGroup
	for i := range 12 {
		rate := []dsp.Hz{44100, 48000, 32000}[i%3]
		wg.Go(func() {
			sig, err := stage(context.Background(), stereoTone(rate, 1, -20, 0.5))
			if err != nil {
				t.Error(err)
				return
			}
			for j, v := range sig.Mono {
				if v != want[rate][j] {
					t.Errorf("%g Hz: concurrent result differs at %d", rate, j)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestResampleStageForgetsOldRates feeds the stage short songs at many
// source rates, as a server fed arbitrary uploads sees them: the rate is
// whatever a file's header says. The stage used to keep the filter tables
// of every rate it had met for as long as it lived, about 1.8 MB for each
// of these rates far above the target, so its memory grew without bound.
func TestResampleStageForgetsOldRates(t *testing.T) {
	live := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	stage := Resample(22050)
	before := live()
	const rates = 24
	for i := range rates {
		rate := dsp.Hz(400001 + 2*i)
		song := &Song{
			Info:     &SongInfo{Name: fmt.Sprint(rate, ".wav"), SampleRate: rate, Channels: 1},
			Channels: [][]float32{make([]float32, 4096)},
		}
		if _, err := stage(context.Background(), song); err != nil {
			t.Fatal(err)
		}
	}
	grown := live() - before
	runtime.KeepAlive(stage)
	// 24 tables take 43 MB; the eight a stage keeps, 14 MB.
	if grown > 28<<20 {
		t.Errorf("the stage holds %d MB after songs at %d source rates", grown>>20, rates)
	}
}

// BenchmarkResampleStage is the stage on a 3-minute 44.1 kHz stereo song:
// loudness, mixdown and 44100 → 22050.
func BenchmarkResampleStage(b *testing.B) {
	const rate, seconds = 44100, 180
	song := stereoTone(rate, seconds, -14, 0.8)
	var seed uint32 = 1
	for _, ch := range song.Channels {
		for i := range ch {
			seed = seed*1664525 + 1013904223
			ch[i] += float32(int32(seed)) / (1 << 33) * float32(math.Exp(-float64(i%22050)/2205))
		}
	}
	stage := Resample(22050)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := stage(ctx, song); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(seconds*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}
