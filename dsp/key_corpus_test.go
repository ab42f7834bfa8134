package dsp

import (
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// corpusPiece is one key-labelled piece of the development corpus with its
// chroma computed once.
type corpusPiece struct {
	id     string
	group  string // the source piece: transposed derivatives share it
	truth  Key
	chroma [][]float32 // one per chroma variant
	bins   int
}

// chromaVariants are the filters the harness compares; the first is the
// default.
var chromaVariants = []struct {
	name string
	p    chromaParams
}{
	{"default", defaultChromaParams},
	{"no-suppression", chromaParams{minHz: chromaMinHz, maxHz: chromaMaxHz, suppress: 0, power: 1}},
	{"harmonics-1/h", chromaParams{minHz: chromaMinHz, maxHz: chromaMaxHz, suppress: 0.5, power: 1}},
	{"harmonics-3/h", chromaParams{minHz: chromaMinHz, maxHz: chromaMaxHz, suppress: 1.5, power: 1}},
	{"to-2500Hz", chromaParams{minHz: chromaMinHz, maxHz: 2500, suppress: 1, power: 1}},
}

// keyVariants are the estimator settings the harness compares; the first
// is the default.
var keyVariants = []struct {
	name string
	p    keyParams
}{
	{"default", defaultKeyParams},
	{"linear", keyParams{compress: 0, silentRatio: 0.01, confScale: 0.05}},
	{"raw", keyParams{raw: true, silentRatio: 0.01, confScale: 0.05}},
}

// chromaVariantsOf computes the chroma of x under every chroma variant
// from one STFT pass, on every KeyFrameStride-th frame as the FFT stage
// does.
func chromaVariantsOf(t testing.TB, x []float32, rate Hz) ([][]float32, int) {
	t.Helper()
	st, err := NewSTFT(2048, 512)
	if err != nil {
		t.Fatal(err)
	}
	filters := make([]*ChromaFilter, len(chromaVariants))
	out := make([][]float32, len(chromaVariants))
	for i, v := range chromaVariants {
		filters[i] = newChromaFilter(2048, rate, v.p)
		out[i] = make([]float32, 0, (st.FrameCount(len(x))+KeyFrameStride-1)/KeyFrameStride*chromaBins)
	}
	buf := make([]float32, chromaBins)
	st.Walk(x, func(f *Frame) bool {
		if f.Index%KeyFrameStride != 0 {
			return true
		}
		for i, cf := range filters {
			cf.Apply(f.Mag, buf)
			out[i] = append(out[i], buf...)
		}
		return true
	})
	return out, chromaBins
}

// derivedSuffix strips the corpus's derivation suffixes (_up3, _down4,
// _tempo60) to find the source piece of a derived one.
var derivedSuffix = regexp.MustCompile(`_(up|down)\d+$|_tempo\d+$`)

// loadKeyCorpus reads the raw 22050 Hz mono float32 renders named by
// SONGFLOW_CORPUS_RAW and the truth table (SONGFLOW_CORPUS_TRUTH, else the
// shared corpus's truth.csv), skipping the test when they are absent.
func loadKeyCorpus(t *testing.T) []corpusPiece {
	raw, truthPath := corpusPaths(t)
	f, err := os.Open(truthPath)
	if err != nil {
		t.Fatalf("truth: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("truth %s: %v", truthPath, err)
	}
	var out []corpusPiece
	for _, r := range rows[1:] {
		if r[2] == "" {
			continue
		}
		k, err := ParseKey(r[2])
		if err != nil {
			t.Fatalf("truth %s: %v", r[0], err)
		}
		id := strings.TrimSuffix(r[0], filepath.Ext(r[0]))
		x, err := readF32(filepath.Join(raw, id+".f32"))
		if err != nil {
			t.Logf("skip %s: %v", id, err)
			continue
		}
		ch, bins := chromaVariantsOf(t, x, 22050)
		out = append(out, corpusPiece{id: id, group: derivedSuffix.ReplaceAllString(id, ""), truth: k, chroma: ch, bins: bins})
	}
	if len(out) == 0 {
		t.Skip("no key-labelled piece found in " + raw)
	}
	return out
}

func readF32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x, nil
}

// mirexKeyScore is the MIREX weighted key score of est against truth: 1 the
// same key, 0.5 est is truth's dominant (a fifth above, same mode), 0.3 the
// relative key, 0.2 the parallel key, 0 otherwise (as mir_eval.key).
func mirexKeyScore(est, truth Key) float64 {
	switch {
	case est == truth:
		return 1
	case est.Minor == truth.Minor && est.Tonic == (truth.Tonic+7)%12:
		return 0.5
	case !truth.Minor && est.Minor && est.Tonic == (truth.Tonic+9)%12,
		truth.Minor && !est.Minor && est.Tonic == (truth.Tonic+3)%12:
		return 0.3
	case est.Minor != truth.Minor && est.Tonic == truth.Tonic:
		return 0.2
	}
	return 0
}

func TestMirexKeyScore(t *testing.T) {
	for _, tc := range []struct {
		est, truth string
		want       float64
	}{
		{"C major", "C major", 1},
		{"G major", "C major", 0.5},
		{"F major", "C major", 0},   // subdominant is not the fifth above
		{"E minor", "A minor", 0.5}, // dominant, same mode
		{"A minor", "C major", 0.3},
		{"C major", "A minor", 0.3},
		{"C minor", "C major", 0.2},
		{"F# major", "F# minor", 0.2},
		{"D major", "C major", 0},
		{"E minor", "C major", 0},
	} {
		e, _ := ParseKey(tc.est)
		tr, _ := ParseKey(tc.truth)
		if got := mirexKeyScore(e, tr); got != tc.want {
			t.Errorf("est %s truth %s: %v, want %v", tc.est, tc.truth, got, tc.want)
		}
	}
}

// TestKeyCorpus prints the MIREX weighted key score of every profile on the
// corpus, a leave-one-source-out estimate of the score of picking the best
// profile, and the accuracy per confidence bin. It fails if the default
// profile scores below 0.90.
func TestKeyCorpus(t *testing.T) {
	pieces := loadKeyCorpus(t)
	profiles := KeyProfiles()
	type outcome struct {
		est   KeyEstimate
		score float64
	}
	// Every combination of chroma variant, estimator variant and profile.
	type config struct {
		chroma, key int
		profile     KeyProfile
	}
	var configs []config
	res := make(map[config][]outcome)
	for ci := range chromaVariants {
		for ki := range keyVariants {
			line := fmt.Sprintf("%-15s %-8s", chromaVariants[ci].name, keyVariants[ki].name)
			for _, p := range profiles {
				c := config{ci, ki, p}
				configs = append(configs, c)
				total := 0.0
				for _, pc := range pieces {
					est := estimateKey(pc.chroma[ci], pc.bins, p, keyVariants[ki].p)
					s := mirexKeyScore(est.Key, pc.truth)
					res[c] = append(res[c], outcome{est, s})
					total += s
				}
				line += fmt.Sprintf("  %s %.3f", p, total/float64(len(pieces)))
			}
			t.Log(line)
		}
	}

	// Leave one source (with its transpositions) out: choose the whole
	// configuration on the rest, score it on the held-out group. This is
	// what the chosen settings can be expected to score on new music.
	groups := map[string][]int{}
	for i, pc := range pieces {
		groups[pc.group] = append(groups[pc.group], i)
	}
	cv, cvProfile := 0.0, 0.0
	for _, idx := range groups {
		held := map[int]bool{}
		for _, i := range idx {
			held[i] = true
		}
		choose := func(ok func(config) bool) config {
			best, bestScore := configs[0], -1.0
			for _, c := range configs {
				if !ok(c) {
					continue
				}
				s := 0.0
				for i, o := range res[c] {
					if !held[i] {
						s += o.score
					}
				}
				if s > bestScore {
					best, bestScore = c, s
				}
			}
			return best
		}
		all := choose(func(config) bool { return true })
		prof := choose(func(c config) bool { return c.chroma == 0 && c.key == 0 })
		for _, i := range idx {
			cv += res[all][i].score
			cvProfile += res[prof][i].score
		}
	}
	t.Logf("leave-one-source-out (%d sources): profile only %.3f, all settings %.3f", len(groups), cvProfile/float64(len(pieces)), cv/float64(len(pieces)))

	def := res[config{0, 0, DefaultKeyProfile}]
	// Accuracy per confidence bin of the default.
	edges := []float64{0, 0.2, 0.4, 0.6, 0.8, 1.01}
	for b := 0; b+1 < len(edges); b++ {
		n, right, sc := 0, 0, 0.0
		for _, o := range def {
			if o.est.Confidence >= edges[b] && o.est.Confidence < edges[b+1] {
				n++
				sc += o.score
				if o.score == 1 {
					right++
				}
			}
		}
		if n > 0 {
			t.Logf("confidence %.1f–%.1f: %d pieces, %d exact, weighted %.3f", edges[b], math.Min(1, edges[b+1]), n, right, sc/float64(n))
		}
	}
	var misses []string
	total := 0.0
	for i, o := range def {
		total += o.score
		if o.score < 1 {
			misses = append(misses, fmt.Sprintf("%s: truth %v, got %v (%.1f, conf %.2f, tuning %+.0f)", pieces[i].id, pieces[i].truth, o.est.Key, o.score, o.est.Confidence, o.est.TuningCents))
		}
	}
	sort.Strings(misses)
	for _, m := range misses {
		t.Log(m)
	}
	mean := total / float64(len(def))
	t.Logf("default (%s): MIREX weighted %.3f over %d pieces", DefaultKeyProfile, mean, len(def))
	if mean < 0.90 {
		t.Errorf("default profile %s: MIREX weighted %.3f, want ≥ 0.90", DefaultKeyProfile, mean)
	}
}
