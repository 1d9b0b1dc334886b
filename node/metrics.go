package node

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics. Every node has its own registry (several nodes run in
// one test process, so nothing goes to the global default registry), served
// at GET /metrics behind the same token as the rest of the API. Components
// keep plain atomic counters and a Stats method; the collectors in
// metrics_collectors.go read them at scrape time, so no prometheus type sits
// on a hot path except the HTTP request counters below.

// metricsNamespace prefixes every metric of dynkv's own.
const metricsNamespace = "dynkv"

// Metrics is a node's Prometheus registry. Register adds collectors of other
// subsystems to it; they are then served at /metrics with the node's own.
type Metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// Children resolved once (a request counter on its first use, so that
	// only the pairs seen are exported), so that counting a request
	// allocates nothing.
	reqByCode [numHTTPOps][len(commonCodes)]atomic.Pointer[counterBox]
	latByOp   [numHTTPOps]prometheus.Observer

	recorders sync.Pool // *statusRecorder
}

// HTTP operations, the op label of the request metrics.
const (
	opGet = iota
	opPut
	opDelete
	opOther
	numHTTPOps
)

var httpOpNames = [numHTTPOps]string{"get", "put", "delete", "other"}

// commonCodes are the status codes the API answers with; their counters are
// kept once resolved. Any other code is counted too, at the cost of a label
// lookup.
var commonCodes = [...]int{200, 204, 300, 400, 401, 404, 405, 413, 499, 500, 503, 504}

// latencyBuckets span a cached local read (sub-millisecond) to a request
// that waited out a long timeout.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(version string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by operation (get, put, delete, other) and status code.",
	}, []string{"op", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: metricsNamespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by operation.",
		Buckets: latencyBuckets,
	}, []string{"op"})
	for op, name := range httpOpNames {
		m.latByOp[op] = m.latency.WithLabelValues(name)
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metricsNamespace, Name: "build_info",
		Help:        "Always 1; the labels give the dynkv version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.requests, m.latency, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.recorders.New = func() any { return new(statusRecorder) }
	return m
}

// Register adds c to the node's registry: its metrics appear at /metrics.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Unregister removes a collector added with Register.
func (m *Metrics) Unregister(c prometheus.Collector) bool { return m.reg.Unregister(c) }

// Gatherer returns the registry, for tests and embedding programs.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// handler serves the registry in the Prometheus text format.
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Metrics returns the node's metrics registry.
func (n *Node) Metrics() *Metrics { return n.metrics }

// httpOp classifies a request for the op label.
func httpOp(r *http.Request) int {
	if !strings.HasPrefix(r.URL.Path, "/kv/") {
		return opOther
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return opGet
	case http.MethodPut:
		return opPut
	case http.MethodDelete:
		return opDelete
	}
	return opOther
}

// observe counts one answered request.
func (m *Metrics) observe(op, code int, took time.Duration) {
	m.latByOp[op].Observe(took.Seconds())
	for i, c := range commonCodes {
		if c == code {
			slot := &m.reqByCode[op][i]
			box := slot.Load()
			if box == nil {
				// Two first requests may both resolve it: the same child.
				box = &counterBox{m.requests.WithLabelValues(httpOpNames[op], strconv.Itoa(code))}
				slot.Store(box)
			}
			box.c.Inc()
			return
		}
	}
	m.requests.WithLabelValues(httpOpNames[op], strconv.Itoa(code)).Inc()
}

// counterBox holds a resolved child for an atomic pointer.
type counterBox struct{ c prometheus.Counter }

// instrument counts and times every request h answers. It must wrap the
// authentication too, so that refused requests (401) are counted.
func (m *Metrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := m.recorders.Get().(*statusRecorder)
		rec.ResponseWriter, rec.code = w, 0
		defer func() {
			code := rec.code
			if code == 0 {
				code = http.StatusOK // nothing written: net/http answers 200
			}
			rec.ResponseWriter = nil
			m.recorders.Put(rec)
			m.observe(httpOp(r), code, time.Since(start))
		}()
		h.ServeHTTP(rec, r)
	})
}

// statusRecorder remembers the status code a handler wrote. Recorders are
// pooled: a request allocates none.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 { // 1xx are interim answers
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// unwrapRecorder returns the server's own writer under a statusRecorder:
// http.MaxBytesReader tells it (through an unexported method) to close the
// connection after a body that was too large.
func unwrapRecorder(w http.ResponseWriter) http.ResponseWriter {
	if s, ok := w.(*statusRecorder); ok {
		return s.ResponseWriter
	}
	return w
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
