package server

import (
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hybridembed/hybridembed"
)

type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	embeddings *prometheus.CounterVec
	pending    *prometheus.GaugeVec
	rejected   *prometheus.CounterVec

	memoryRejected prometheus.Counter
	decodeWaiting  prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry, emb *hybridembed.Embedder, s *Server) *metrics {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hybridembed_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hybridembed_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		embeddings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hybridembed_embeddings_total", Help: "Vectors returned, by model and by the backend that made them (local or remote).",
		}, []string{"model", "backend"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hybridembed_inputs_admitted", Help: "Inputs admitted and not yet answered, by model.",
		}, []string{"model"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hybridembed_requests_rejected_total", Help: "Requests refused with 429 because the model's admission limit was reached.",
		}, []string{"model"}),
		memoryRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hybridembed_memory_rejected_total", Help: "Requests refused with 429 because the server's memory budget was full.",
		}),
		decodeWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hybridembed_decodes_waiting", Help: "Images waiting for room in the memory budget to be decoded.",
		}),
	}
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hybridembed_memory_held_bytes", Help: "Bytes of the memory budget held by requests in flight (bodies, parsed inputs, decodes).",
	}, func() float64 { return float64(s.mem.inUse()) })
	limit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hybridembed_memory_limit_bytes", Help: "The memory budget of requests in flight (--max-inflight).",
	}, func() float64 { return float64(s.mem.limit) })
	reg.MustRegister(m.requests, m.duration, m.embeddings, m.pending, m.rejected, m.memoryRejected, m.decodeWaiting, held, limit,
		&batchCollector{emb: emb, names: s.dirNames()}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// batchCollector reads the engine's batching counters at scrape time.
type batchCollector struct {
	emb   *hybridembed.Embedder
	names map[string]string // model directory -> served name
}

var (
	batchesDesc = prometheus.NewDesc("hybridembed_batches_total", "Model runs (batches) per loaded graph.", []string{"model", "graph"}, nil)
	inputsDesc  = prometheus.NewDesc("hybridembed_batch_inputs_total", "Inputs in those batches; divided by batches, the mean batch size.", []string{"model", "graph"}, nil)
	queuedDesc  = prometheus.NewDesc("hybridembed_queue_depth", "Inputs waiting for a batch now.", []string{"model", "graph"}, nil)
)

func (c *batchCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- batchesDesc
	ch <- inputsDesc
	ch <- queuedDesc
}

func (c *batchCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.emb.Stats() {
		model, ok := c.names[st.Dir]
		if !ok {
			model = filepath.Base(st.Dir)
		}
		graph := filepath.Base(st.Graph)
		if st.Variant != "" {
			graph += " (" + st.Variant + ")"
		}
		ch <- prometheus.MustNewConstMetric(batchesDesc, prometheus.CounterValue, float64(st.Batches), model, graph)
		ch <- prometheus.MustNewConstMetric(inputsDesc, prometheus.CounterValue, float64(st.Inputs), model, graph)
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(st.Queued), model, graph)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
