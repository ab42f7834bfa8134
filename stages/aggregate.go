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
const AnalyzerVersion = "songflow-analysis-26"

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
		if len(p.OnsetLow) != n || len(p.RMS) != n || len(p.Centroid) != n || len(p.Flatness) != n || len(p.Chroma) != (n+stride-1)/stride*bins {
			return Result{}, fmt.Errorf("aggregate %s: part %d has series of unequal length", info.Name, i)
		}
		total += n
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("aggregate %s: %w", info.Name, err)
	}

	// Tempo keeps the chunks apart (they need not be contiguous); the
	// other analyses see the song's frames as one series, each stretch of
	// the song once however many chunks hold it.
	own := ownFrames(parts)
	tempoChunks := make([]dsp.TempoChunk, len(parts))
	rms := make([]float32, 0, total)
	centroid := make([]float32, 0, total)
	flatness := make([]float32, 0, total)
	onset := make([]float32, 0, total)
	chroma := make([]float32, 0, (total+len(parts)*(stride-1))/stride*bins)
	for i, p := range parts {
		tempoChunks[i] = dsp.TempoChunk{Onset: p.Onset, Low: p.OnsetLow, Own: own[i]}
		lo, hi := own[i][0], own[i][1]
		onset = append(onset, p.Onset[lo:hi]...)
		rms = append(rms, p.RMS[lo:hi]...)
		centroid = append(centroid, p.Centroid[lo:hi]...)
		flatness = append(flatness, p.Flatness[lo:hi]...)
		// Chroma frame j is STFT frame j·stride.
		chroma = append(chroma, p.Chroma[(lo+stride-1)/stride*bins:(hi+stride-1)/stride*bins]...)
	}

	tempo := dsp.EstimateTempoChunks(tempoChunks, rate)
	// A metre is measured on a beat: a song with no pulse (noise, a
	// drone) has no tempo and no bars.
	var meter dsp.Meter
	if tempo.BPM > 0 {
		chunks := make([]dsp.MeterChunk, len(parts))
		for i, p := range parts {
			chunks[i] = dsp.MeterChunk{Onset: p.Onset, Chroma: p.Chroma, Own: own[i]}
		}
		meter, _ = dsp.EstimateMeter(chunks, bins, stride, rate, tempo.BPM)
	}
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
		TimeSignature: meter.String(),

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
	// A song whose chroma never rose above silence, or whose pitch
	// classes are all alike (noise), has no key: "C Major" at confidence 0
	// would read as an answer, and score as one against a C major truth.
	r.KeyDetails.Scores = []KeyScore{}
	if key.Found() {
		r.Key = key.Key.String()
		r.KeyConfidence = finite(key.Confidence)
		r.KeyDetails = keyDetails(key)
	}
	return r, nil
}

// ownFrames returns, for each part, the range [lo, hi) of its frames that
// the song-level series take from it. The chunk stage spreads windows of
// one length evenly over a song, so neighbours overlap whenever the song is
// not a whole number of windows long, even with no overlap configured (a
// 25 s song is cut at 0–20 s and 5–25 s); counted in both, the shared
// stretch would weigh twice in silence_ratio, dynamic_range, the level,
// danceability and the key. Where two parts overlap, the earlier keeps the
// frames that start before the middle of the overlap and the later the
// rest, so each gives up an edge: the earlier its frames that run past its
// end, the later its first frames (the very first has no predecessor to
// measure an onset against). Parts that do not overlap (a long song's
// chunks, spread apart by analysis.max_chunks) keep every frame.
func ownFrames(parts []*Frames) [][2]int {
	own := make([][2]int, len(parts))
	for i, p := range parts {
		own[i] = [2]int{0, len(p.Onset)}
	}
	rate := float64(parts[0].FrameRate)
	if !(rate > 0) || math.IsInf(rate, 0) {
		return own // no positions to compare
	}
	// Positions are in frames from the song's start; a part's frames
	// start at whole hops from its offset, which need not fall on its
	// neighbour's grid. eps absorbs the rounding of offsets in seconds.
	const eps = 1e-6
	for i := 1; i < len(parts); i++ {
		a, b := parts[i-1], parts[i]
		pa, pb := float64(a.Offset)*rate, float64(b.Offset)*rate
		end := pa + float64(len(a.Onset))
		if !isFinite(pa) || !isFinite(pb) || !(pb < end) {
			continue
		}
		// The earlier part keeps its frames that start before the middle
		// of the overlap, the later those that start after the earlier's
		// last: one hop apart at most, grid or no grid.
		cut := (pb + end) / 2
		own[i-1][1] = frameAt(cut-pa-eps, own[i-1][0], own[i-1][1])
		last := pa + float64(own[i-1][1]-1)
		own[i][0] = frameAt(math.Floor(last-pb+eps)+1, 0, own[i][1])
	}
	return own
}

// frameAt is ⌈x⌉ clamped to [lo, hi], clamped before the conversion so
// that no position, however far off, overflows int.
func frameAt(x float64, lo, hi int) int {
	return int(math.Max(float64(lo), math.Min(float64(hi), math.Ceil(x))))
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

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
