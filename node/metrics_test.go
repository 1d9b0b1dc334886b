package node

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches node i's /metrics and parses it.
func (c *testCluster) scrape(i int, hdr map[string]string) map[string]*dto.MetricFamily {
	c.t.Helper()
	r := c.do(i, http.MethodGet, "/metrics", nil, hdr)
	if r.status != http.StatusOK {
		c.t.Fatalf("GET /metrics: %d %s", r.status, r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		c.t.Fatalf("parsing /metrics: %v\n%s", err, r.body)
	}
	return fams
}

// metricValue returns the value of the sample of family name whose labels
// include want (a counter, gauge, or a histogram's sample count), and
// whether there is one.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// mustMetric is metricValue that fails the test when the sample is missing.
func mustMetric(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := metricValue(fams, name, want)
	if !ok {
		t.Fatalf("no sample %s%v in /metrics", name, want)
	}
	return v
}

// TestMetricsEndpoint: /metrics serves the Prometheus text format behind the
// API token, counting requests by operation and status code (refused ones
// too) and timing them by operation.
func TestMetricsEndpoint(t *testing.T) {
	const token = "metrics-token-0123456789"
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.AuthToken = token
		cfg.Version = "v9.9.9-test"
	})
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "text/plain"}
	mustStatus(t, "put", c.do(0, http.MethodPut, "/kv/a", []byte("1"), auth), http.StatusNoContent)
	mustStatus(t, "put", c.do(0, http.MethodPut, "/kv/b", []byte("2"), auth), http.StatusNoContent)
	mustStatus(t, "get", c.do(0, http.MethodGet, "/kv/a", nil, auth), http.StatusOK)
	mustStatus(t, "get missing", c.do(0, http.MethodGet, "/kv/missing", nil, auth), http.StatusNotFound)
	mustStatus(t, "delete", c.do(0, http.MethodDelete, "/kv/b", nil, auth), http.StatusNoContent)
	mustStatus(t, "put without token", c.do(0, http.MethodPut, "/kv/c", []byte("3"), nil), http.StatusUnauthorized)
	mustStatus(t, "metrics without token", c.do(0, http.MethodGet, "/metrics", nil, nil), http.StatusUnauthorized)
	mustStatus(t, "health without token", c.do(0, http.MethodGet, "/health", nil, nil), http.StatusOK)

	fams := c.scrape(0, auth)
	for _, tc := range []struct {
		op, code string
		want     float64
	}{
		{"put", "204", 2}, {"put", "401", 1}, {"get", "200", 1}, {"get", "404", 1},
		{"delete", "204", 1}, {"other", "401", 1}, {"other", "200", 1}, // /health
	} {
		got := mustMetric(t, fams, "dynkv_http_requests_total", map[string]string{"op": tc.op, "code": tc.code})
		if got != tc.want {
			t.Errorf("dynkv_http_requests_total{op=%q,code=%q} = %v, want %v", tc.op, tc.code, got, tc.want)
		}
	}
	for op, want := range map[string]float64{"put": 3, "get": 2, "delete": 1} {
		if got := mustMetric(t, fams, "dynkv_http_request_duration_seconds", map[string]string{"op": op}); got != want {
			t.Errorf("latency histogram count for %s = %v, want %v", op, got, want)
		}
	}
	if v := mustMetric(t, fams, "dynkv_build_info", map[string]string{"version": "v9.9.9-test"}); v != 1 {
		t.Errorf("dynkv_build_info = %v, want 1", v)
	}
	if r := c.do(0, http.MethodPost, "/metrics", nil, auth); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", r.status)
	}
}

// TestMetricsPerNode: two nodes in one process keep separate registries.
func TestMetricsPerNode(t *testing.T) {
	c := startCluster(t, 2, func(cfg *Config) { cfg.N, cfg.R, cfg.W = 2, 1, 1 })
	mustStatus(t, "put", c.put(0, "k", "", "v", ""), http.StatusNoContent)
	a := mustMetric(t, c.scrape(0, nil), "dynkv_http_requests_total", map[string]string{"op": "put", "code": "204"})
	b, _ := metricValue(c.scrape(1, nil), "dynkv_http_requests_total", map[string]string{"op": "put", "code": "204"})
	if a != 1 || b != 0 {
		t.Fatalf("n1 counted %v puts, n2 %v; want 1 and 0 (one put, at n1)", a, b)
	}
}

// nopWriter is a ResponseWriter that allocates nothing.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// TestInstrumentAllocatesNothing: counting and timing a request costs no
// allocation, for common and uncommon paths alike.
func TestInstrumentAllocatesNothing(t *testing.T) {
	m := newMetrics("test")
	codes := []int{http.StatusOK, http.StatusNoContent, http.StatusNotFound, http.StatusServiceUnavailable}
	i := 0
	h := m.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(codes[i%len(codes)])
		i++
	}))
	w := &nopWriter{h: http.Header{}}
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/kv/key", nil),
		httptest.NewRequest(http.MethodPut, "/kv/key", nil),
		httptest.NewRequest(http.MethodGet, "/status", nil),
	} {
		for range codes { // warm the recorder pool and resolve each code's counter
			h.ServeHTTP(w, req)
		}
		if allocs := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, req) }); allocs != 0 {
			t.Errorf("%s %s: %v allocations per request, want 0", req.Method, req.URL.Path, allocs)
		}
	}
	var buf strings.Builder
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "dynkv_http_requests_total" {
			fmt.Fprint(&buf, f.String())
		}
	}
	if !strings.Contains(buf.String(), `value:"503"`) {
		t.Fatalf("503s were not counted: %s", buf.String())
	}
}

// sumMetric adds up the samples of family name (with labels want) over the
// running nodes.
func (c *testCluster) sumMetric(name string, want map[string]string) float64 {
	c.t.Helper()
	var sum float64
	for i, n := range c.nodes {
		if n != nil {
			v, _ := metricValue(c.scrape(i, nil), name, want)
			sum += v
		}
	}
	return sum
}

// TestMetricsCluster: with a node down, a write leaves a hint (counted, with
// its bytes pending), a write with w=3 fails its quorum (counted as unmet
// and as a 503), and gossip's view shows one member dead.
func TestMetricsCluster(t *testing.T) {
	c := startCluster(t, 3, nil)
	fams := c.scrape(0, nil)
	if v := mustMetric(t, fams, "dynkv_members", map[string]string{"state": "alive"}); v != 3 {
		t.Fatalf("dynkv_members{state=alive} = %v, want 3", v)
	}
	c.crash(2)
	c.net.Refuse("n3:9000", true)
	mustStatus(t, "put w=2", c.put(0, "k", "?w=2", "v", ""), http.StatusNoContent)
	c.eventually(15*time.Second, func() error {
		fams := c.scrape(0, nil)
		for _, name := range []string{"dynkv_hints_written_total", "dynkv_hints_pending", "dynkv_hints_pending_bytes"} {
			if v, _ := metricValue(fams, name, nil); v <= 0 {
				return fmt.Errorf("%s = %v, want > 0", name, v)
			}
		}
		return nil
	})
	mustStatus(t, "put w=3", c.put(0, "k2", "?w=3", "v", ""), http.StatusServiceUnavailable)
	fams = c.scrape(0, nil)
	if v := mustMetric(t, fams, "dynkv_quorum_failures_total", map[string]string{"op": "write", "kind": "unmet"}); v != 1 {
		t.Errorf("write quorum failures = %v, want 1", v)
	}
	if v := mustMetric(t, fams, "dynkv_http_requests_total", map[string]string{"op": "put", "code": "503"}); v != 1 {
		t.Errorf("503 puts = %v, want 1", v)
	}
	c.eventually(20*time.Second, func() error {
		fams := c.scrape(0, nil)
		if v, _ := metricValue(fams, "dynkv_members", map[string]string{"state": "dead"}); v != 1 {
			return fmt.Errorf("dynkv_members{state=dead} = %v, want 1", v)
		}
		return nil
	})
	// Pebble's own metrics are there and moving.
	if v := mustMetric(t, fams, "dynkv_pebble_wal_bytes_written_total", nil); v <= 0 {
		t.Errorf("WAL bytes written = %v", v)
	}
}

// TestMetricsReadRepair: a replica that missed a write is repaired by the
// next read that reaches it, and the repair is counted.
func TestMetricsReadRepair(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.HintedHandoff, cfg.AAEInterval = false, 0 })
	c.net.Refuse("n3:9000", true)
	mustStatus(t, "put", c.put(0, "k", "?w=2", "v", ""), http.StatusNoContent)
	c.net.Refuse("n3:9000", false)
	if st, _, _ := c.get(0, "k", "?r=3"); st != http.StatusOK {
		t.Fatalf("read: %d", st)
	}
	c.eventually(15*time.Second, func() error {
		if v := c.sumMetric("dynkv_read_repairs_total", nil); v < 1 {
			return fmt.Errorf("read repairs = %v, want >= 1", v)
		}
		return nil
	})
}

// TestMetricsAntiEntropy: exchanges that repair keys are counted by result,
// and the keys they repaired.
func TestMetricsAntiEntropy(t *testing.T) {
	c := startCluster(t, 3, aaeConfig)
	c.net.Refuse("n3:9000", true)
	for k := range 20 {
		mustStatus(t, "put", c.put(0, fmt.Sprintf("k%d", k), "?w=2", "v", ""), http.StatusNoContent)
	}
	c.net.Refuse("n3:9000", false)
	c.eventually(30*time.Second, c.converged)
	// An exchange that fails partway (n3 still refused by one peer) may
	// have repaired keys it does not count: at least one, not exactly 20.
	if v := c.sumMetric("dynkv_aae_keys_repaired_total", nil); v < 1 {
		t.Errorf("keys repaired = %v, want > 0", v)
	}
	if v := c.sumMetric("dynkv_aae_exchanges_total", map[string]string{"result": "repaired"}); v < 1 {
		t.Errorf("repairing exchanges = %v, want > 0", v)
	}
	if v := c.sumMetric("dynkv_aae_exchanges_total", map[string]string{"result": "clean"}); v < 1 {
		t.Errorf("clean exchanges = %v, want some", v)
	}
}
