package stages

import (
	"github.com/songflow/songflow/dsp"
)

// Job asks for one song to be analysed. It is what every source (a folder
// walk, a folder watcher, an HTTP upload) feeds into the pipeline.
type Job struct {
	// Name identifies the song in every error and report: a file path or
	// an upload's name.
	Name string
	// Data holds the file's bytes. When nil, the decode stage reads Name
	// from disk.
	Data []byte
	// Title and Artist as given by the caller; empty when unknown. Tags
	// read from the file fill them in when they are empty.
	Title, Artist string
	// SkipChunks asks for a quick analysis of the song's first chunk only,
	// instead of chunks spread over the whole song (the apps'
	// X-Skip-Chunk-Analysis).
	SkipChunks bool
}

// Tags are the metadata read from the file (ID3, Vorbis comments, MP4
// atoms). Zero values mean absent.
type Tags struct {
	Title  string  `json:"title,omitempty"`
	Artist string  `json:"artist,omitempty"`
	BPM    float64 `json:"tag_bpm,omitempty"` // TBPM
	Key    string  `json:"tag_key,omitempty"` // TKEY, as written in the file
}

// Song is a decoded song: the decode stage's output.
type Song struct {
	// Info is shared, by pointer, with every later part of the song; the
	// aggregate stage tells a song's parts from another song's by it.
	Info *SongInfo
	// Channels holds the samples of each channel at Info.SampleRate,
	// full scale ±1. All channels have the same length.
	Channels [][]float32
	// Layout names the speaker each channel feeds, which weighs it in
	// the loudness; 0 is the default layout of the channel count.
	Layout dsp.ChannelMask
}

// SongInfo carries the facts about a song's source that every later part
// of the song (signal, chunk, frames) points back to.
type SongInfo struct {
	Name string // Job.Name
	// Title and Artist are the Job's, or the file's tags where the Job
	// left them empty.
	Title, Artist string
	Tags          Tags
	Format        string // "wav", "aiff", "caf", "flac", "mp3", "aac" or "alac"
	SampleRate    dsp.Hz // of the source
	Channels      int    // of the source
	// Duration is the length of the audio that was decoded and analysed;
	// SourceDuration the length of the whole file (larger when
	// analysis.max_seconds cut decoding short).
	Duration       dsp.Seconds
	SourceDuration dsp.Seconds
	// Loudness is measured by the resample stage on the source channels at
	// their own rate, before they are mixed down and dropped.
	Loudness dsp.Loudness
	// SkipChunks carries Job.SkipChunks to the chunk stage.
	SkipChunks bool
}

// Signal is a song ready for analysis: the resample stage's output, a mono
// mixdown at the analysis sample rate.
type Signal struct {
	Info *SongInfo
	Rate dsp.Hz // the analysis sample rate
	Mono []float32
}

// Chunk is one analysis window of a song: the chunk stage's output.
// Samples shares memory with the song's Signal; stages must not write it.
type Chunk struct {
	Info    *SongInfo
	Rate    dsp.Hz      // the Signal's
	Index   int         // 0-based position among the song's chunks
	Count   int         // how many chunks the song has
	Offset  dsp.Seconds // start of the chunk in the song
	Samples []float32
}

// Frames holds the per-frame features of one chunk: the FFT stage's
// output. Whole spectra stay inside the FFT stage; only these travel on.
// Every slice but Chroma has one entry per STFT frame; Chroma holds
// ChromaBins values, frame-major, for every ChromaStride-th frame only.
type Frames struct {
	Info      *SongInfo
	Index     int         // the Chunk's
	Count     int         // the Chunk's
	Offset    dsp.Seconds // the Chunk's
	FrameRate dsp.Hz      // frames per second (sample rate / hop)

	Onset      []float32 // onset strength (log-magnitude spectral flux); 0 in frames below the noise floor or running past the chunk's end
	OnsetLow   []float32 // Onset's share from the bands below dsp.RegisterLowHz (kick drum, bass), which mark the bar
	RMS        []float32 // RMS of the frame's samples about their mean, linear full scale
	Centroid   []float32 // spectral centroid, Hz
	Flatness   []float32 // spectral flatness (geometric / arithmetic mean), 0..1
	Chroma     []float32 // pitch-class energy, ChromaBins per chroma frame
	ChromaBins int       // values per chroma frame, as dsp.ChromaFilter.Bins gives them
	// ChromaStride is the distance in STFT frames between chroma frames:
	// Chroma holds frames 0, ChromaStride, 2·ChromaStride, … of the chunk,
	// ⌈len(Onset)/ChromaStride⌉ of them. Only the key uses chroma, and a
	// key needs no finer steps (see dsp.KeyFrameStride).
	ChromaStride int
}

// TempoCandidate is one tempo hypothesis with its score, relative to the
// best candidate's (which scores 1).
type TempoCandidate struct {
	BPM   float64 `json:"bpm"`
	Score float64 `json:"score"`
}

// KeyScore is the correlation of a song's chroma with one key's profile.
type KeyScore struct {
	Key   string  `json:"key"`
	Score float64 `json:"score"`
}

// KeyDetails explains a key estimate.
type KeyDetails struct {
	TuningCents float64    `json:"tuning_cents"` // deviation from A440
	Profile     string     `json:"profile"`      // key profile used
	RunnerUp    string     `json:"runner_up"`    // the second-best key, spelled as Result.Key
	Scores      []KeyScore `json:"scores"`       // all 24 keys, best first
}

// Result is the song-level analysis the users see: the aggregate stage's
// output. Every number is finite.
type Result struct {
	File   string `json:"file"` // Job.Name
	Title  string `json:"title,omitempty"`
	Artist string `json:"artist,omitempty"`

	// BPM is 0 when the song has no pulse. BPMConfidence (0..1) estimates
	// the probability that BPM is right; BPMCandidates holds up to three
	// distinct tempi, best first.
	BPM           float64          `json:"bpm"`
	BPMConfidence float64          `json:"bpm_confidence"`
	BPMCandidates []TempoCandidate `json:"bpm_candidates"`
	// TimeSignature is "4/4", "3/4", "6/8" or "9/8" (dsp.Meter.String);
	// "" when the song has no tempo or its metre was not measured.
	TimeSignature string `json:"time_signature,omitempty"`

	Key           string     `json:"key"`            // "C# Minor", "D# Major"; "" for a song with no pitched sound above silence, or none a key fits better than another
	KeyConfidence float64    `json:"key_confidence"` // 0..1; 0 when Key is ""
	KeyDetails    KeyDetails `json:"key_details"`

	Loudness      float64 `json:"loudness"`       // integrated, LUFS
	LoudnessRange float64 `json:"loudness_range"` // LU
	TruePeak      float64 `json:"true_peak"`      // dBTP

	// Energy to SilenceRatio are dsp.Feel's descriptors, defined there.
	// A calibration map (analysis.calibration) may correct the first four,
	// within 0..1.
	Energy           float64 `json:"energy"`
	Danceability     float64 `json:"danceability"`
	Acousticness     float64 `json:"acousticness"`
	Valence          float64 `json:"valence"`
	SpectralCentroid float64 `json:"spectral_centroid"` // Hz
	DynamicRange     float64 `json:"dynamic_range"`     // dB
	SilenceRatio     float64 `json:"silence_ratio"`     // 0..1

	Duration         float64 `json:"duration"`    // seconds of audio analysed
	SampleRate       int     `json:"sample_rate"` // of the source
	Channels         int     `json:"channels"`    // of the source
	Format           string  `json:"format"`      // as SongInfo.Format
	AnalyzerVersion  string  `json:"analyzer_version"`
	AnalysisDuration float64 `json:"analysis_duration"` // seconds spent

	Tags Tags `json:"tags,omitempty"` // as read from the file, whatever Title and Artist say
	// StageSeconds is the time each stage spent on this song.
	StageSeconds map[string]float64 `json:"stage_seconds,omitempty"`
}
