package server

import (
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/songflow/songflow/pipeline"
)

// metrics are the server's Prometheus series, on a registry of its own so
// that two servers in one process (as in tests) never share counters.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	hits     prometheus.Counter
	misses   prometheus.Counter
	rejected *prometheus.CounterVec
}

func newMetrics(snapshot func() pipeline.Snapshot, inFlight func() int) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "songflow_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "songflow_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route pattern and status code.",
			// 5 ms to 5 min: a cache hit to a full song under load.
			Buckets: prometheus.ExponentialBucketsRange(0.005, 300, 14),
		}, []string{"route", "code"}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "songflow_cache_hits_total",
			Help: "Analysis requests answered from the cache.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "songflow_cache_misses_total",
			Help: "Analysis requests that had to run the pipeline.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "songflow_http_rejected_total",
			Help: "Requests turned away before analysis, by reason (busy, rate_limited, unauthorized).",
		}, []string{"reason"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.hits, m.misses, m.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "songflow_http_analyses_in_flight",
			Help: "Songs admitted into the pipeline and not yet answered.",
		}, func() float64 { return float64(inFlight()) }),
		engineCollector{snapshot: snapshot},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// engineCollector turns the pipeline's Snapshot into metrics at scrape
// time, so the engine needs no Prometheus code of its own.
type engineCollector struct {
	snapshot func() pipeline.Snapshot
}

var (
	stageLabel = []string{"stage"}

	descSubmitted   = prometheus.NewDesc("songflow_pipeline_songs_submitted_total", "Songs submitted to the pipeline.", nil, nil)
	descCompleted   = prometheus.NewDesc("songflow_pipeline_songs_completed_total", "Songs that finished without error.", nil, nil)
	descFailed      = prometheus.NewDesc("songflow_pipeline_songs_failed_total", "Songs that finished with an error.", nil, nil)
	descPipeFlight  = prometheus.NewDesc("songflow_pipeline_songs_in_flight", "Songs submitted and not yet finished.", nil, nil)
	descIn          = prometheus.NewDesc("songflow_stage_items_in_total", "Items a stage received.", stageLabel, nil)
	descOut         = prometheus.NewDesc("songflow_stage_items_out_total", "Items a stage emitted.", stageLabel, nil)
	descErrors      = prometheus.NewDesc("songflow_stage_errors_total", "Errors a stage raised.", stageLabel, nil)
	descBusy        = prometheus.NewDesc("songflow_stage_busy_seconds_total", "Worker time a stage spent working.", stageLabel, nil)
	descUtil        = prometheus.NewDesc("songflow_stage_utilisation", "Busy time over workers × elapsed time, 0..1.", stageLabel, nil)
	descWorkers     = prometheus.NewDesc("songflow_stage_workers", "Workers a stage runs.", stageLabel, nil)
	descSuggested   = prometheus.NewDesc("songflow_stage_suggested_workers", "Workers Little's law suggests for a stage.", stageLabel, nil)
	descQueue       = prometheus.NewDesc("songflow_stage_queue_length", "Items waiting in a stage's input buffer.", stageLabel, nil)
	descBuffer      = prometheus.NewDesc("songflow_stage_buffer_capacity", "Capacity of a stage's input buffer.", stageLabel, nil)
	descServiceTime = prometheus.NewDesc("songflow_stage_service_seconds", "Service time of one call of a stage (quantile 1 is the maximum).", []string{"stage", "quantile"}, nil)
	descBottleneck  = prometheus.NewDesc("songflow_pipeline_bottleneck", "1 for the stage with the highest utilisation.", stageLabel, nil)
)

// Describe sends every descriptor the collector can produce.
func (engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSubmitted, descCompleted, descFailed, descPipeFlight,
		descIn, descOut, descErrors, descBusy, descUtil, descWorkers, descSuggested, descQueue,
		descBuffer, descServiceTime, descBottleneck} {
		ch <- d
	}
}

// finite keeps NaN and infinities, which mean "no data yet" here, out of
// the exposition.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// Collect reads one snapshot and sends its values.
func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	if c.snapshot == nil {
		return
	}
	snap := c.snapshot()
	ch <- prometheus.MustNewConstMetric(descSubmitted, prometheus.CounterValue, float64(snap.Submitted))
	ch <- prometheus.MustNewConstMetric(descCompleted, prometheus.CounterValue, float64(snap.Completed))
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(snap.Failed))
	ch <- prometheus.MustNewConstMetric(descPipeFlight, prometheus.GaugeValue, float64(snap.InFlight))
	for _, st := range snap.Stages {
		name := st.Name
		ch <- prometheus.MustNewConstMetric(descIn, prometheus.CounterValue, float64(st.In), name)
		ch <- prometheus.MustNewConstMetric(descOut, prometheus.CounterValue, float64(st.Out), name)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(st.Errors), name)
		ch <- prometheus.MustNewConstMetric(descBusy, prometheus.CounterValue, st.Busy.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(descUtil, prometheus.GaugeValue, finite(st.Utilisation), name)
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(st.Workers), name)
		ch <- prometheus.MustNewConstMetric(descSuggested, prometheus.GaugeValue, float64(st.SuggestedWorkers), name)
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(st.Queue), name)
		ch <- prometheus.MustNewConstMetric(descBuffer, prometheus.GaugeValue, float64(st.Buffer), name)
		for _, q := range []struct {
			label string
			v     float64
		}{{"0.5", st.P50.Seconds()}, {"0.95", st.P95.Seconds()}, {"1", st.Max.Seconds()}} {
			ch <- prometheus.MustNewConstMetric(descServiceTime, prometheus.GaugeValue, q.v, name, q.label)
		}
		bottleneck := 0.0
		if name == snap.Bottleneck {
			bottleneck = 1
		}
		ch <- prometheus.MustNewConstMetric(descBottleneck, prometheus.GaugeValue, bottleneck, name)
	}
}

// observe records one answered request.
func (m *metrics) observe(route string, code int, seconds float64) {
	c := strconv.Itoa(code)
	m.requests.WithLabelValues(route, c).Inc()
	m.latency.WithLabelValues(route, c).Observe(seconds)
}
