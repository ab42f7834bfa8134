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
	chroma []float32
	bins   int
}

// derivedSuffix strips the corpus's derivation suffixes (_up3, _down4,
// _tempo60) to find the source piece of a derived one.
var derivedSuffix = regexp.MustCompile(`_(up|down)\d+$|_tempo\d+$`)

// loadKeyCorpus reads the raw 22050 Hz mono float32 renders named by
// SONGFLOW_CORPUS_RAW and the truth table (SONGFLOW_CORPUS_TRUTH, else the
// shared corpus's truth.csv), skipping the test when they are absent.
func loadKeyCorpus(t *testing.T) []corpusPiece {
	raw := os.Getenv("SONGFLOW_CORPUS_RAW")
	if raw == "" {
		t.Skip("SONGFLOW_CORPUS_RAW not set: no corpus to measure on")
	}
	truthPath := os.Getenv("SONGFLOW_CORPUS_TRUTH")
	if truthPath == "" {
		truthPath = filepath.Join("..", "..", "shared", "corpus", "truth.csv")
	}
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
		ch, bins := chromaOf(t, x, 22050)
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
	res := make(map[KeyProfile][]outcome)
	for _, p := range profiles {
		total := 0.0
		for _, pc := range pieces {
			est := EstimateKey(pc.chroma, pc.bins, p)
			s := mirexKeyScore(est.Key, pc.truth)
			res[p] = append(res[p], outcome{est, s})
			total += s
		}
		t.Logf("profile %-10s MIREX weighted %.3f (n=%d)", p, total/float64(len(pieces)), len(pieces))
	}

	// Leave one source (with its transpositions) out: choose the profile on
	// the rest, score it on the held-out group.
	groups := map[string][]int{}
	for i, pc := range pieces {
		groups[pc.group] = append(groups[pc.group], i)
	}
	cv := 0.0
	for _, idx := range groups {
		held := map[int]bool{}
		for _, i := range idx {
			held[i] = true
		}
		best, bestScore := profiles[0], -1.0
		for _, p := range profiles {
			s := 0.0
			for i, o := range res[p] {
				if !held[i] {
					s += o.score
				}
			}
			if s > bestScore {
				best, bestScore = p, s
			}
		}
		for _, i := range idx {
			cv += res[best][i].score
		}
	}
	t.Logf("profile chosen leave-one-source-out: MIREX weighted %.3f (%d sources)", cv/float64(len(pieces)), len(groups))

	def := res[DefaultKeyProfile]
	// Accuracy per confidence bin of the default profile.
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
	if mean := total / float64(len(def)); mean < 0.90 {
		t.Errorf("default profile %s: MIREX weighted %.3f, want ≥ 0.90", DefaultKeyProfile, mean)
	}
}
