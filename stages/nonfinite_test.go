package stages

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/songflow/songflow/config"
	"github.com/songflow/songflow/internal/audiotest"
)

// A float WAV with NaN, +Inf and −Inf samples about every 1000 samples
// analyses, field by field, as the same file with zeros there: the decoder
// reads non-finite samples as silence. Before, they reached the sums of
// the analysis and a C major chord over a beat came out with energy 0
// and no key.
func TestNonFiniteSamplesAnalyseAsSilence(t *testing.T) {
	const rate, seconds = 44100, 20
	clean := make([]float32, 2*rate*seconds)
	for i := range clean {
		n := i / 2
		x := 0.0
		for _, hz := range []float64{261.63, 329.63, 392.00} { // C E G
			x += 0.15 * math.Sin(2*math.Pi*hz*float64(n)/rate)
		}
		if n%(rate/2) < rate/100 { // a click every half second: 120 BPM
			x += 0.4 * math.Sin(2*math.Pi*2000*float64(n)/rate)
		}
		clean[i] = float32(x)
	}
	damaged, zeroed := append([]float32(nil), clean...), append([]float32(nil), clean...)
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
	for i := 0; i < len(clean); i += 1001 {
		damaged[i], zeroed[i] = bad[i/1001%len(bad)], 0
	}
	a, err := NewAnalyzer(context.Background(), config.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	analyse := func(name string, samples []float32) Result {
		t.Helper()
		r, err := a.Analyze(context.Background(), Job{Name: name, Data: audiotest.FloatWAV(rate, 2, samples)})
		if err != nil {
			t.Fatal(err)
		}
		// Set apart what differs from run to run.
		r.File, r.AnalysisDuration, r.StageSeconds = "", 0, nil
		return r
	}
	got, want := analyse("damaged.wav", damaged), analyse("zeroed.wav", zeroed)
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("the result does not encode (a NaN or ±Inf field): %v", err)
	}
	if got.Energy <= 0 || got.Key != "C Major" {
		t.Errorf("energy %g, key %q; want above 0 and C Major", got.Energy, got.Key)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with NaN and ±Inf:\n%+v\nwith zeros there:\n%+v", got, want)
	}
}
