package stages

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/songflow/songflow/dsp"
)

// AggregateOptions sets the song-level analysis of the aggregate stage.
type AggregateOptions struct {
	// KeyProfile is the key template set; empty means dsp.DefaultKeyProfile.
	KeyProfile dsp.KeyProfile
}

// AnalyzerVersion identifies the analysis that produced a Result. It
// changes whenever results may change, so caches keyed by it stay honest.
const AnalyzerVersion = "songflow-analysis-10"

// Aggregate returns the aggregate stage: it turns all the Frames of one
// song (in index order) into the song's Result: tempo, key, loudness and
// feel descriptors, and the facts about the source.
func Aggregate(opts AggregateOptions) func(context.Context, []*Frames) (Result, error) {
	return func(ctx context.Context, parts []*Frames) (Result, error) {
		return aggregate(ctx, opts, parts)
	}
}

func aggregate(ctx context.Context, opts AggregateOptions, parts []*Frames) (Result, error) {
	if len(parts) == 0 || parts[0] == nil || parts[0].Info == nil {
		return Result{}, errors.New("aggregate: no frames")
	}
	info := parts[0].Info
	rate := parts[0].FrameRate
	bins := parts[0].ChromaBins
	stride := parts[0].ChromaStride
	total := 0
	for i, p := range parts {
		if p == nil || p.Info != info {
			return Result{}, fmt.Errorf("aggregate %s: part %d belongs to another song", info.Name, i)
		}
		if p.FrameRate != rate || p.ChromaBins != bins || p.ChromaStride != stride {
			return Result{}, fmt.Errorf("aggregate %s: part %d has frame rate %v and %d chroma bins every %d frames, part 0 %v and %d every %d",
				info.Name, i, p.FrameRate, p.ChromaBins, p.ChromaStride, rate, bins, stride)
		}
		if stride < 1 {
			return Result{}, fmt.Errorf("aggregate %s: part %d has chroma stride %d", info.Name, i, stride)
		}
		n := len(p.Onset)
		if len(p.RMS) != n || len(p.Centroid) != n || len(p.Flatness) != n || len(p.Chroma) != (n+stride-1)/stride*bins {
			return Result{}, fmt.Errorf("aggregate %s: part %d has series of unequal length", info.Name, i)
		}
		total += n
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("aggregate %s: %w", info.Name, err)
	}

	// Tempo keeps the chunks apart (they need not be contiguous); the
	// other analyses see the song's frames as one series.
	onsets := make([][]float32, len(parts))
	rms := make([]float32, 0, total)
	centroid := make([]float32, 0, total)
	flatness := make([]float32, 0, total)
	onset := make([]float32, 0, total)
	chroma := make([]float32, 0, (total+len(parts)*(stride-1))/stride*bins)
	for i, p := range parts {
		onsets[i] = p.Onset
		onset = append(onset, p.Onset...)
		rms = append(rms, p.RMS...)
		centroid = append(centroid, p.Centroid...)
		flatness = append(flatness, p.Flatness...)
		chroma = append(chroma, p.Chroma...)
	}

	tempo := dsp.EstimateTempo(onsets, rate)
	var key dsp.KeyEstimate
	if bins > 0 {
		key = dsp.EstimateKey(chroma, bins, opts.KeyProfile)
	}
	feel := dsp.DescribeFeel(dsp.FeelInput{
		FrameRate:     rate,
		RMS:           rms,
		Centroid:      centroid,
		Flatness:      flatness,
		Onset:         onset,
		BPM:           tempo.BPM,
		PulseClarity:  tempo.Confidence,
		Minor:         key.Key.Minor,
		KeyConfidence: key.Confidence,
	})

	r := Result{
		File:   info.Name,
		Title:  info.Title,
		Artist: info.Artist,

		BPM:           finite(tempo.BPM),
		BPMConfidence: finite(tempo.Confidence),
		BPMCandidates: make([]TempoCandidate, 0, len(tempo.Candidates)),

		Loudness:      finiteOr(info.Loudness.Integrated, dsp.SilentLUFS),
		LoudnessRange: finite(info.Loudness.Range),
		TruePeak:      finiteOr(info.Loudness.TruePeak, dsp.SilentDBTP),

		Energy:           finite(feel.Energy),
		Danceability:     finite(feel.Danceability),
		Acousticness:     finite(feel.Acousticness),
		Valence:          finite(feel.Valence),
		SpectralCentroid: finite(feel.SpectralCentroid),
		DynamicRange:     finite(feel.DynamicRange),
		SilenceRatio:     finite(feel.SilenceRatio),

		Duration:        finite(float64(info.Duration)),
		SampleRate:      int(math.Round(finite(float64(info.SampleRate)))),
		Channels:        info.Channels,
		Format:          info.Format,
		AnalyzerVersion: AnalyzerVersion,
		Tags:            info.Tags,
	}
	if r.Title == "" {
		r.Title = info.Tags.Title
	}
	if r.Artist == "" {
		r.Artist = info.Tags.Artist
	}
	r.Tags.BPM = finite(r.Tags.BPM)
	for _, c := range tempo.Candidates {
		r.BPMCandidates = append(r.BPMCandidates, TempoCandidate{BPM: finite(c.BPM), Score: finite(c.Score)})
	}
	// A song whose chroma never rose above silence has no key: "C Major"
	// at confidence 0 would read as an answer, and score as one against
	// a C major truth.
	r.KeyDetails.Scores = []KeyScore{}
	if key.Frames > 0 {
		r.Key = key.Key.String()
		r.KeyConfidence = finite(key.Confidence)
		r.KeyDetails = keyDetails(key)
	}
	return r, nil
}

// keyDetails lists every key's score, best first.
func keyDetails(k dsp.KeyEstimate) KeyDetails {
	d := KeyDetails{
		TuningCents: finite(k.TuningCents),
		Profile:     string(k.Profile),
		RunnerUp:    k.RunnerUp.String(),
		Scores:      make([]KeyScore, 0, len(k.Scores)),
	}
	for i, s := range k.Scores {
		d.Scores = append(d.Scores, KeyScore{Key: dsp.KeyAt(i).String(), Score: finite(s)})
	}
	sort.SliceStable(d.Scores, func(i, j int) bool { return d.Scores[i].Score > d.Scores[j].Score })
	return d
}

// finiteOr maps NaN and −Inf to floor (a silent measurement) and +Inf to 0.
func finiteOr(x, floor float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, -1) {
		return floor
	}
	return finite(x)
}

// finite maps NaN and ±Inf to 0 so a Result always encodes as JSON and
// never carries a meaningless number.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}
