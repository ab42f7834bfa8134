package reports

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/songflow/songflow/pipeline"
)

// Plot files written by [Write], in the order summary.md shows them.
const (
	PlotBPMScatter       = "bpm_scatter.png"
	PlotBPMTolerance     = "bpm_tolerance.png"
	PlotKeyOutcomes      = "key_outcomes.png"
	PlotConfidence       = "confidence.png"
	PlotStageUtilisation = "stage_utilisation.png"
	PlotQueueDepth       = "queue_depth.png"
	PlotThroughput       = "throughput.png"
)

var plotFiles = []string{PlotBPMScatter, PlotBPMTolerance, PlotKeyOutcomes, PlotConfidence, PlotStageUtilisation, PlotQueueDepth, PlotThroughput}

// PlotFiles returns the names of the PNG files a report holds.
func PlotFiles() []string { return slices.Clone(plotFiles) }

// plotWidth and plotHeight size every plot: at the PNG default of 96 dpi
// they are 960×600 pixels, readable on screen and in a README.
const (
	plotWidth  = 10 * vg.Inch
	plotHeight = 6.25 * vg.Inch
)

// confidenceBins is how many bins the confidence plot splits 0..1 into.
const confidenceBins = 5

// plotMaker renders one single-panel plot of a run.
type plotMaker struct {
	name string
	make func(*Run) (*plot.Plot, error)
}

func writePlots(dir string, run *Run) error {
	if err := WriteSpeedPlots(dir, run); err != nil {
		return err
	}
	return saveAll(dir, run, []plotMaker{
		{PlotBPMScatter, bpmScatter},
		{PlotBPMTolerance, bpmTolerance},
		{PlotKeyOutcomes, keyOutcomes},
		{PlotConfidence, confidence},
	})
}

// WriteSpeedPlots writes into dir the plots that need no ground truth:
// stage utilisation, queue depth and throughput. The watch folder's
// report is made of these.
func WriteSpeedPlots(dir string, run *Run) error {
	if err := writeStageFigures(dir, run); err != nil {
		return err
	}
	return saveAll(dir, run, []plotMaker{{PlotThroughput, throughput}})
}

func saveAll(dir string, run *Run, makers []plotMaker) error {
	for _, m := range makers {
		p, err := m.make(run)
		if err != nil {
			return fmt.Errorf("plot %s: %w", m.name, err)
		}
		if err := savePlot(p, filepath.Join(dir, m.name)); err != nil {
			return fmt.Errorf("plot %s: %w", m.name, err)
		}
	}
	return nil
}

// savePlot writes p as a PNG at path, whole or not at all (see writeFile).
func savePlot(p *plot.Plot, path string) error {
	png, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		return err
	}
	return writeFile(path, func(w io.Writer) error {
		_, err := png.WriteTo(w)
		return err
	})
}

// newPlot makes a plot with the common look: title, axis labels, a grid
// and the legend at the top left.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(16)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Label.TextStyle.Font.Size = vg.Points(13)
	p.Y.Label.TextStyle.Font.Size = vg.Points(13)
	p.X.Tick.Label.Font.Size = vg.Points(11)
	p.Y.Tick.Label.Font.Size = vg.Points(11)
	p.Legend.TextStyle.Font.Size = vg.Points(12)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(8)
	p.Legend.YOffs = -vg.Points(8)
	p.Add(plotter.NewGrid())
	return p
}

// noData marks an empty plot, so that it says why it is empty rather than
// showing bare axes.
func noData(p *plot.Plot, why string) {
	p.Title.Text += "\n(" + why + ")"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
}

// tempoTicks labels a logarithmic BPM axis at round tempi, which powers
// of ten alone would leave nearly bare over 30–400 BPM.
type tempoTicks struct{}

func (tempoTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for _, v := range []float64{10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 120, 140, 160, 180, 200, 250, 300, 400, 500, 600, 800, 1000} {
		if v >= lo && v <= hi {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
	}
	return ticks
}

// tempoScored returns the records the tempo scores count: the analysed
// songs with a true tempo, whether or not a tempo was found.
func tempoScored(run *Run) []Record {
	var out []Record
	for _, r := range run.Records {
		if r.Error == "" && r.Truth != nil && r.Truth.BPM > 0 {
			out = append(out, r)
		}
	}
	return out
}

func bpmScatter(run *Run) (*plot.Plot, error) {
	p := newPlot("Estimated vs true tempo", "true tempo (BPM, log scale)", "estimated tempo (BPM, log scale)")
	scored := tempoScored(run)
	if len(scored) == 0 {
		noData(p, "no analysed song has a true tempo")
		return p, nil
	}
	// A song with no tempo (bpm 0) has no place on log axes, but it is a
	// miss in the scores: say it is left out rather than let the plot
	// look better than the figures.
	var recs []Record
	for _, r := range scored {
		if r.BPM > 0 {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		noData(p, fmt.Sprintf("no tempo estimate for the %s with a true tempo", Plural(len(scored), "song")))
		return p, nil
	}
	if n := len(scored) - len(recs); n > 0 {
		p.Title.Text += fmt.Sprintf("\n(%s with no tempo estimate not shown)", Plural(n, "song"))
	}
	xy := make(plotter.XYs, len(recs))
	lo, hi := math.Inf(1), math.Inf(-1)
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for i, r := range recs {
		xy[i] = plotter.XY{X: r.Truth.BPM, Y: r.BPM}
		lo, hi = min(lo, r.Truth.BPM), max(hi, r.Truth.BPM)
		ylo, yhi = min(ylo, r.BPM), max(yhi, r.BPM)
	}
	p.X.Min, p.X.Max = lo/1.2, hi*1.2
	p.Y.Min, p.Y.Max = min(ylo/1.2, lo/2.4), max(yhi*1.2, hi*2.4)
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Scale = plot.LogScale{}
		ax.Tick.Marker = tempoTicks{}
	}
	guides := []struct {
		factor float64
		label  string
	}{{2, "×2 (double)"}, {1, "×1 (correct)"}, {0.5, "×½ (half)"}}
	for i, g := range guides {
		l, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: g.factor * p.X.Min}, {X: p.X.Max, Y: g.factor * p.X.Max}})
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i + 1)
		l.Width = vg.Points(1.5)
		if g.factor != 1 {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		}
		p.Add(l)
		p.Legend.Add(g.label, l)
	}
	s, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, err
	}
	s.GlyphStyle.Shape = draw.CircleGlyph{}
	s.GlyphStyle.Radius = vg.Points(4.5)
	s.GlyphStyle.Color = plotutil.Color(0)
	p.Add(s)
	p.Legend.Add(fmt.Sprintf("songs (%d)", len(recs)), s)
	return p, nil
}

// toleranceCurve returns the curves the tolerance plot draws and the
// number of songs they are fractions of.
func toleranceCurve(run *Run) (ToleranceCurve, int) {
	recs := tempoScored(run)
	pairs := make([]TempoPair, len(recs))
	for i, r := range recs {
		pairs[i] = TempoPair{Est: r.BPM, Truth: r.Truth.BPM}
	}
	return ToleranceCurves(pairs, 0.08, 80), len(pairs)
}

func bpmTolerance(run *Run) (*plot.Plot, error) {
	p := newPlot("Tempo accuracy vs tolerance", "tolerance (% of the true tempo)", "songs within tolerance (%)")
	c, n := toleranceCurve(run)
	if n == 0 {
		noData(p, "no analysed song has a true tempo")
		return p, nil
	}
	a1 := make(plotter.XYs, len(c.Tolerance))
	a2 := make(plotter.XYs, len(c.Tolerance))
	for i, t := range c.Tolerance {
		a1[i] = plotter.XY{X: 100 * t, Y: 100 * c.Acc1[i]}
		a2[i] = plotter.XY{X: 100 * t, Y: 100 * c.Acc2[i]}
	}
	p.X.Min, p.X.Max = 0, 8
	p.Y.Min, p.Y.Max = 0, 105
	p.X.Tick.Marker = linearTicks{8}
	p.Y.Tick.Marker = linearTicks{10}
	mark, err := plotter.NewLine(plotter.XYs{{X: 100 * Tolerance, Y: 0}, {X: 100 * Tolerance, Y: 100}})
	if err != nil {
		return nil, err
	}
	mark.Color = color.Gray{Y: 90}
	mark.Width = vg.Points(1.5)
	mark.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(mark)
	// Accuracy2 is never below Accuracy1 and often equal to it over the
	// whole range: drawn as wide, it would lie hidden under Accuracy1
	// with only its legend entry to say it exists. Drawn wider beneath,
	// it shows as a band around Accuracy1 wherever the two agree.
	for i, s := range []struct {
		name  string
		xy    plotter.XYs
		width vg.Length
	}{{"Accuracy2 (octave errors forgiven)", a2, vg.Points(7)}, {"Accuracy1", a1, vg.Points(2.5)}} {
		l, err := plotter.NewLine(s.xy)
		if err != nil {
			return nil, err
		}
		l.Color = plotutil.Color(i)
		l.Width = s.width
		l.StepStyle = plotter.PostStep
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	p.Legend.Add(fmt.Sprintf("%g %% (the score's tolerance)", 100*Tolerance), mark)
	p.Legend.Left = false
	p.Legend.Top = false
	p.Legend.XOffs = -vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	return p, nil
}

func keyOutcomes(run *Run) (*plot.Plot, error) {
	p := newPlot("Key outcomes (MIREX categories)", "estimated key relative to the true key", "songs")
	counts := make(plotter.Values, len(KeyOutcomes))
	names := make([]string, len(KeyOutcomes))
	total := 0
	for i, o := range KeyOutcomes {
		names[i] = fmt.Sprintf("%s (%g)", o, o.Weight())
		for _, r := range run.Records {
			if r.KeyOutcome == o {
				counts[i]++
				total++
			}
		}
	}
	if total == 0 {
		noData(p, "no analysed song has a true key")
		return p, nil
	}
	bars, err := plotter.NewBarChart(counts, vg.Points(60))
	if err != nil {
		return nil, err
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(len(counts))-0.4
	p.Y.Min = 0
	p.Y.Max = max(1, slices.Max(counts)) * 1.15
	p.Y.Tick.Marker = integerTicks{}
	labels, err := barLabels(counts, 0, func(i int) string { return strconv.Itoa(int(counts[i])) })
	if err != nil {
		return nil, err
	}
	p.Add(labels)
	return p, nil
}

// percentTicks labels a 0–100 % axis every 10 %, leaving room above
// 100 unlabelled for a legend or bar labels.
type percentTicks struct{}

func (percentTicks) Ticks(lo, hi float64) []plot.Tick {
	return linearTicks{10}.Ticks(lo, min(hi, 100))
}

// integerTicks labels a count axis at whole numbers only.
type integerTicks struct{}

func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := math.Max(1, math.Ceil((hi-lo)/8))
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return ticks
}

// linearTicks labels a linear axis at about n round values (1, 2 or 5
// times a power of ten apart), with minor ticks between; gonum's default
// often labels only three values.
type linearTicks struct{ n int }

func (t linearTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / float64(max(t.n, 2))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	prec := max(0, -int(math.Floor(math.Log10(step))))
	var ticks []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if v == 0 {
			v = 0 // no "-0" label
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
		if m := v + step/2; m < hi {
			ticks = append(ticks, plot.Tick{Value: m})
		}
	}
	return ticks
}

// barLabels writes text just above each bar of a chart whose bars sit at
// x = 0, 1, … shifted by offset (in data units).
func barLabels(heights plotter.Values, offset float64, text func(int) string) (*plotter.Labels, error) {
	xyl := plotter.XYLabels{}
	for i, h := range heights {
		xyl.XYs = append(xyl.XYs, plotter.XY{X: float64(i) + offset, Y: h})
		xyl.Labels = append(xyl.Labels, text(i))
	}
	l, err := plotter.NewLabels(xyl)
	if err != nil {
		return nil, err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = -0.5
		l.TextStyle[i].YAlign = 0
		l.TextStyle[i].Font.Size = vg.Points(11)
	}
	l.Offset = vg.Point{Y: vg.Points(3)}
	return l, nil
}

// confidenceObservations gathers each scored song's confidence and
// whether it was right: tempo by Accuracy1, key by the exact key.
func confidenceObservations(run *Run) (tc []float64, tok []bool, kc []float64, kok []bool) {
	for _, r := range run.Records {
		if r.TempoOutcome != "" {
			tc = append(tc, r.BPMConfidence)
			tok = append(tok, r.TempoOutcome == TempoCorrect)
		}
		if r.KeyOutcome != "" {
			kc = append(kc, r.KeyConfidence)
			kok = append(kok, r.KeyOutcome == KeyCorrect)
		}
	}
	return tc, tok, kc, kok
}

func confidence(run *Run) (*plot.Plot, error) {
	p := newPlot("Accuracy per confidence bin", "confidence reported by the analysis (0..1)", "correct (%)")
	tc, tok, kc, kok := confidenceObservations(run)
	if len(tc)+len(kc) == 0 {
		noData(p, "no analysed song has a true tempo or key")
		return p, nil
	}
	series := []struct {
		name string
		bins []ConfidenceBin
	}{
		{"tempo (Accuracy1)", ConfidenceBins(tc, tok, confidenceBins)},
		{"key (same key)", ConfidenceBins(kc, kok, confidenceBins)},
	}
	width := vg.Points(34)
	names := make([]string, confidenceBins)
	for i, b := range series[0].bins {
		names[i] = fmt.Sprintf("%.1f–%.1f", b.Lo, b.Hi)
	}
	for i, s := range series {
		vals := make(plotter.Values, len(s.bins))
		for j, b := range s.bins {
			vals[j] = 100 * b.Accuracy
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(2*i-1) / 2
		p.Add(bars)
		p.Legend.Add(s.name, bars)
		// The share of songs in a bin matters as much as its accuracy:
		// label each bar with its count.
		bins := s.bins
		labels, err := barLabels(vals, 0, func(j int) string { return "n=" + strconv.Itoa(bins[j].Songs) })
		if err != nil {
			return nil, err
		}
		labels.Offset.X = bars.Offset
		p.Add(labels)
	}
	p.NominalX(names...)
	p.X.Min, p.X.Max = -0.6, float64(confidenceBins)-0.4
	p.Y.Min, p.Y.Max = 0, 118
	p.Y.Tick.Marker = percentTicks{}
	p.Legend.Left = true
	return p, nil
}

// panelHeight is the height of one stage's panel in the stacked stage
// figures.
const panelHeight = 1.7 * vg.Inch

// stagePanels draws one panel per stage, stacked over a shared time axis:
// lines of several stages at the same level (two stages both saturated)
// would hide each other in a single plot. The panel title names the
// stage; summary states the whole run's figure for it.
func stagePanels(run *Run, ylabel string, value func(pipeline.Sample) float64, summary func(pipeline.StageStats) string, ymax float64, ticks plot.Ticker) ([]*plot.Plot, bool, error) {
	var panels []*plot.Plot
	end := run.Wall.Seconds()
	top := ymax
	for _, st := range run.Metrics.Stages {
		for _, smp := range st.Series {
			end = max(end, smp.At.Seconds())
			top = max(top, value(smp))
		}
	}
	drawn := false
	for i, st := range run.Metrics.Stages {
		p := plot.New()
		p.Title.Text = st.Name + ": " + summary(st)
		p.Title.TextStyle.Font.Size = vg.Points(13)
		p.Title.Padding = vg.Points(2)
		p.Y.Label.Text = ylabel
		p.Y.Label.TextStyle.Font.Size = vg.Points(11)
		p.X.Tick.Label.Font.Size = vg.Points(10)
		p.Y.Tick.Label.Font.Size = vg.Points(10)
		p.Add(plotter.NewGrid())
		p.X.Min, p.X.Max = 0, max(end, 1e-3)
		p.Y.Min, p.Y.Max = 0, top
		p.X.Tick.Marker = linearTicks{10}
		p.Y.Tick.Marker = ticks
		if len(st.Series) > 0 {
			drawn = true
			xy := plotter.XYs{{X: 0, Y: value(st.Series[0])}}
			for _, smp := range st.Series {
				xy = append(xy, plotter.XY{X: smp.At.Seconds(), Y: value(smp)})
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return nil, false, err
			}
			// A sample describes the period that ends at its time.
			l.StepStyle = plotter.PreStep
			l.Color = plotutil.Color(i)
			l.Width = vg.Points(2)
			l.FillColor = fade(plotutil.Color(i))
			p.Add(l)
		}
		panels = append(panels, p)
	}
	if len(panels) > 0 {
		last := panels[len(panels)-1]
		last.X.Label.Text = "time since the run started (s)"
		last.X.Label.TextStyle.Font.Size = vg.Points(12)
	}
	return panels, drawn, nil
}

// Plural spells a count with its noun: "1 worker", "2 workers".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// fade returns c made pale, to fill the area under a line.
func fade(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8((v>>8)/4 + 191) }
	return color.NRGBA{R: mix(r), G: mix(g), B: mix(b), A: 255}
}

// savePanels writes panels stacked in one PNG under a common title.
func savePanels(path, title string, panels []*plot.Plot) error {
	const titleRoom = 0.45 * vg.Inch
	h := titleRoom + vg.Length(len(panels))*panelHeight + 0.3*vg.Inch
	img := vgimg.New(plotWidth, h)
	dc := draw.New(img)
	head := plot.New().Title.TextStyle
	head.Font.Size = vg.Points(16)
	head.XAlign = draw.XCenter
	head.YAlign = draw.YTop
	dc.FillText(head, vg.Point{X: plotWidth / 2, Y: h - vg.Points(6)}, title)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: titleRoom, PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(12), PadY: vg.Points(10)}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	return writeFile(path, func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w)
		return err
	})
}

// writeStageFigures writes the stage utilisation and queue depth figures.
func writeStageFigures(dir string, run *Run) error {
	figs := []struct {
		name, title, ylabel string
		value               func(pipeline.Sample) float64
		summary             func(pipeline.StageStats) string
		ymax                float64
		ticks               plot.Ticker
	}{
		{PlotStageUtilisation, "Stage utilisation over time (% of each stage's workers busy)", "busy (%)",
			func(s pipeline.Sample) float64 { return 100 * s.Utilisation },
			func(st pipeline.StageStats) string {
				return fmt.Sprintf("%s, %.0f %% busy over the run, %d suggested", Plural(st.Workers, "worker"), 100*st.Utilisation, st.SuggestedWorkers)
			}, 100, linearTicks{4}},
		{PlotQueueDepth, "Queue depth over time (items waiting in each stage's input buffer)", "items",
			func(s pipeline.Sample) float64 { return float64(s.Queue) },
			func(st pipeline.StageStats) string { return fmt.Sprintf("buffer of %d", st.Buffer) },
			1, integerTicks{}},
	}
	for _, f := range figs {
		path := filepath.Join(dir, f.name)
		panels, ok, err := stagePanels(run, f.ylabel, f.value, f.summary, f.ymax, f.ticks)
		if err == nil && !ok {
			p := newPlot(f.title, "time since the run started (s)", f.ylabel)
			noData(p, "the run was too short for the metrics to take a sample")
			err = savePlot(p, path)
		} else if err == nil {
			err = savePanels(path, f.title, panels)
		}
		if err != nil {
			return fmt.Errorf("plot %s: %w", f.name, err)
		}
	}
	return nil
}

func throughput(run *Run) (*plot.Plot, error) {
	p := newPlot("Songs analysed over time", "time since the run started (s)", "songs")
	// Failed songs are drawn apart: counted as throughput, a folder of
	// files that fail at once would look fast, and the mean would not be
	// the songs per second the summary reports.
	var done, failed []float64
	for _, r := range run.Records {
		// A song never handed to the pipeline (the run was interrupted)
		// has no finishing time; drawing it at 0 s would show it done
		// before anything started.
		if r.Finished <= 0 {
			continue
		}
		if r.Error != "" {
			failed = append(failed, r.Finished)
		} else {
			done = append(done, r.Finished)
		}
	}
	if len(done)+len(failed) == 0 {
		noData(p, "no song was analysed")
		return p, nil
	}
	end := run.Wall.Seconds()
	for _, t := range slices.Concat(done, failed) {
		end = max(end, t)
	}
	lines := []struct {
		name  string
		times []float64
	}{{"analysed", done}, {"failed", failed}}
	for i, ln := range lines {
		if len(ln.times) == 0 {
			continue
		}
		sort.Float64s(ln.times)
		xy := plotter.XYs{{X: 0, Y: 0}}
		for j, t := range ln.times {
			xy = append(xy, plotter.XY{X: t, Y: float64(j + 1)})
		}
		xy = append(xy, plotter.XY{X: end, Y: float64(len(ln.times))})
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.StepStyle = plotter.PostStep
		l.Width = vg.Points(2.5)
		l.Color = plotutil.Color(i)
		if i > 0 {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d)", ln.name, len(ln.times)), l)
	}
	if end > 0 {
		// As the summary counts it: analysed songs over the wall time.
		p.Title.Text += fmt.Sprintf(" (mean %.2f songs/s)", float64(len(done))/end)
	}
	p.X.Min, p.Y.Min = 0, 0
	p.Y.Max = float64(max(1, len(done), len(failed))) * 1.08
	p.X.Tick.Marker = linearTicks{10}
	p.Y.Tick.Marker = integerTicks{}
	return p, nil
}
