package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/client"
	"github.com/dynkv/dynkv/client/clienttest"
)

// shortConfig is a run bounded to well under a second.
func shortConfig(workload string) Config {
	c := DefaultConfig()
	c.Workload, c.Keys, c.Concurrency = workload, 200, 8
	c.Duration, c.Drain, c.Interval = 300*time.Millisecond, time.Second, 50*time.Millisecond
	c.ValueSize = ValueSize{Min: 64, Max: 256}
	c.Load, c.LoadTimeout = true, 5*time.Second
	c.MeasureStaleness = true
	c.Seed = 1
	return c
}

func run(t *testing.T, cfg Config, kv KV) *Result {
	t.Helper()
	b, err := New(cfg, kv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Run(t.Context())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// TestBenchAgainstFakeNode runs every workload, closed and open loop, over
// HTTP against the fake node of client/clienttest (one linearizable map),
// so every read must be fresh and nothing may fail.
func TestBenchAgainstFakeNode(t *testing.T) {
	srv := clienttest.NewServer(clienttest.Options{})
	defer srv.Close()
	c, err := client.New(client.Config{Endpoints: []string{srv.Addr, srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, wl := range []string{"a", "d", "f"} {
		cfg := shortConfig(wl)
		cfg.Load = wl == "a" // the later workloads find the keys loaded
		cfg.R, cfg.W, cfg.Timeout = 2, 2, time.Second
		res := run(t, cfg, c)
		checkCleanRun(t, wl, res)
	}
	open := shortConfig("b")
	open.Load, open.Rate = false, 400
	res := run(t, open, c)
	checkCleanRun(t, "b open loop", res)
	if o := res.OpenLoop; o == nil || o.Scheduled != 120 || o.NotStarted != 0 || res.OpsTotal != 120 {
		t.Errorf("open loop at 400/s for 300ms: %+v, %d ops; want 120 scheduled and done", res.OpenLoop, res.OpsTotal)
	}
	if q := srv.LastRequest().URL.Query(); q.Get("timeout") != "" {
		t.Errorf("last request sent %v: options must only be sent when set", q)
	}
}

func checkCleanRun(t *testing.T, name string, res *Result) {
	t.Helper()
	if res.OpsTotal == 0 || res.ErrorsTotal != 0 || res.Cancelled != 0 {
		t.Errorf("%s: %d ops, %d errors %v, %d cancelled", name, res.OpsTotal, res.ErrorsTotal, res.Errors, res.Cancelled)
	}
	if res.Staleness == nil || res.CheckedReads == 0 || res.StaleReads != 0 {
		t.Errorf("%s: staleness %+v, want checked reads and none stale from one linearizable node", name, res.Staleness)
	}
	if len(res.Timeline) < 4 {
		t.Errorf("%s: %d timeline points in 300ms at 50ms intervals", name, len(res.Timeline))
	}
	if l := res.Load; l != nil && (l.Written != 200 || l.Errors != 0) {
		t.Errorf("%s: load %+v", name, l)
	}
	for _, o := range []string{"insert", "rmw"} {
		wantSome := (name == "d" && o == "insert") || (name == "f" && o == "rmw")
		if got := res.Ops[o].Count; wantSome != (got > 0) {
			t.Errorf("%s: %d %s ops", name, got, o)
		}
	}
}

func TestBenchDetectsStaleReads(t *testing.T) {
	kv := newMemKV()
	kv.staleEvery = 4 // a quarter of the reads of a rewritten key lag one version
	cfg := shortConfig("a")
	cfg.Keys = 20
	res := run(t, cfg, kv)
	f := res.StaleReadFraction
	if f == nil || *f < 0.1 || *f > 0.3 {
		t.Fatalf("stale fraction %v of %d reads, want about 0.25", f, res.CheckedReads)
	}
	var reads int64
	for _, p := range res.TVisibility {
		reads += p.Reads
	}
	if reads != res.CheckedReads {
		t.Errorf("t-visibility buckets hold %d reads, want all %d checked", reads, res.CheckedReads)
	}
}

func TestBenchCountsErrorsByKind(t *testing.T) {
	kv := newMemKV()
	kv.failEvery = 5
	cfg := shortConfig("a")
	cfg.Load, cfg.Keys = false, 50 // keys never written: reads are not found
	res := run(t, cfg, kv)
	if res.Errors["unavailable_503"] == 0 || res.Errors["not_found"] == 0 {
		t.Fatalf("errors %v: want 503s and not founds", res.Errors)
	}
	var sum int64
	for _, n := range res.Errors {
		sum += n
	}
	if sum != res.ErrorsTotal || res.Ops["update"].Errors == 0 {
		t.Fatalf("errors %v sum to %d, errors_total %d", res.Errors, sum, res.ErrorsTotal)
	}
}

func TestBenchStopsAtOps(t *testing.T) {
	cfg := shortConfig("c")
	cfg.Load, cfg.Ops, cfg.Duration = true, 57, 10*time.Second
	start := time.Now()
	res := run(t, cfg, newMemKV())
	if res.OpsTotal != 57 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d ops in %v, want 57 and an early stop", res.OpsTotal, time.Since(start))
	}
}

func TestBenchLoadTimeoutFails(t *testing.T) {
	kv := newMemKV()
	kv.delay = 20 * time.Millisecond
	cfg := shortConfig("a")
	cfg.Keys, cfg.Concurrency, cfg.LoadTimeout = 10000, 4, 100*time.Millisecond
	b, err := New(cfg, kv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "load phase stopped") || res.Load == nil || res.Load.Written >= 10000 {
		t.Fatalf("err %v, load %+v: want the load phase to fail at its timeout", err, res.Load)
	}
}

func TestBenchJSONSchema(t *testing.T) {
	res := run(t, shortConfig("a"), newMemKV())
	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ops_per_sec", "errors_total", "cpu_seconds", "errors", "ops", "timeline",
		"histogram", "config", "stale_read_fraction", "t_visibility", "load", "duration_s"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	ops, _ := doc["ops"].(map[string]any)
	for _, o := range opNames {
		s, _ := ops[o].(map[string]any)
		for _, k := range []string{"count", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"} {
			if _, ok := s[k].(float64); !ok {
				t.Errorf("ops.%s.%s missing or not a number", o, k)
			}
		}
	}
	tv, _ := doc["t_visibility"].([]any)
	if len(tv) != len(defaultVisibilityMS) {
		t.Fatalf("t_visibility has %d points", len(tv))
	}
	for _, p := range tv {
		m := p.(map[string]any)
		if _, ok := m["ms"].(float64); !ok {
			t.Errorf("t_visibility point %v lacks ms", m)
		}
		if _, ok := m["probability"]; !ok {
			t.Errorf("t_visibility point %v lacks probability", m)
		}
	}
	if doc["cpu_seconds"].(float64) <= 0 {
		t.Error("cpu_seconds is not positive")
	}
	plain := shortConfig("a")
	plain.MeasureStaleness = false
	buf.Reset()
	_ = run(t, plain, newMemKV()).WriteJSON(&buf)
	if strings.Contains(buf.String(), "stale_read_fraction") {
		t.Error("stale_read_fraction present without --measure-staleness")
	}
}

func TestBenchHTMLIsSelfContained(t *testing.T) {
	res := run(t, shortConfig("a"), newMemKV())
	var buf bytes.Buffer
	if err := res.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Contains(page, "%!") {
		t.Error("page has a formatting error (%!)")
	}
	if !strings.Contains(page, "checked reads were stale (0.0000 of them)") {
		t.Errorf("page lacks the stale fraction: %q", page[strings.Index(page, "Staleness"):][:120])
	}
	for _, bad := range []string{"http://", "https://", "src=", "<script", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: it must not fetch anything", bad)
		}
	}
	if n := strings.Count(page, "<svg"); n != 4 {
		t.Errorf("%d charts, want 4 (throughput, latency, histogram, t-visibility)", n)
	}
	if !strings.Contains(page, "<polyline") || !strings.Contains(page, "<rect") {
		t.Error("charts have no lines or bars")
	}
	checkWellFormed(t, page)
}

// checkWellFormed parses the page as XML: every element closed, every
// attribute quoted, every entity known.
func checkWellFormed(t *testing.T, page string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = true
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("page is not well-formed: %v", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Fatalf("page ends at depth %d", depth)
	}
}
