package node

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// dashboardExprs returns every PromQL expression of a Grafana dashboard:
// the "expr" of each panel's targets (rows' nested panels too) and the
// templating queries.
func dashboardExprs(t *testing.T, raw []byte) []string {
	t.Helper()
	var d struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	var out []string
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		out = append(out, v.Definition)
	}
	return out
}

type dashPanel struct {
	Title   string      `json:"title"`
	Panels  []dashPanel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var metricName = regexp.MustCompile(`\bdynkv_[a-zA-Z0-9_]+`)

// servedName reports whether a metric name used in a query is served: a
// family of that name, or a histogram's _bucket, _sum or _count series.
func servedName(fams map[string]*dto.MetricFamily, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := fams[base]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

// TestDashboardMetricsExist: every dynkv_* metric the Grafana dashboard
// queries is served by a real node's /metrics (one node on TCP RPC, with
// hinted handoff and anti-entropy on), so the dashboard cannot drift from
// the code. The Prometheus example must scrape three nodes' /metrics.
func TestDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "dynkv.json"))
	if err != nil {
		t.Fatal(err)
	}
	exprs := dashboardExprs(t, raw)
	if len(exprs) < 10 {
		t.Fatalf("only %d expressions in the dashboard", len(exprs))
	}
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.RPCNetwork, cfg.RPCAddr = nil, "127.0.0.1:0" // TCP, whose stats are served
	})
	mustStatus(t, "put", c.put(0, "k", "", "v", ""), http.StatusNoContent)
	fams := c.scrape(0, nil)
	var used []string
	for _, e := range exprs {
		used = append(used, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(used)
	used = slices.Compact(used)
	if len(used) < 20 {
		t.Fatalf("the dashboard uses only %d dynkv metrics: %v", len(used), used)
	}
	for _, name := range used {
		if !servedName(fams, name) {
			t.Errorf("the dashboard queries %s, which /metrics does not serve", name)
		}
	}
	// And the check itself catches a renamed metric.
	if servedName(fams, "dynkv_http_requests_totals") || servedName(fams, "dynkv_members_bucket") {
		t.Fatal("servedName accepts names that are not served")
	}

	for _, name := range readmeMetrics(t) {
		if !servedName(fams, name) {
			t.Errorf("README's Monitoring table names %s, which /metrics does not serve", name)
		}
	}

	prom, err := os.ReadFile(filepath.Join("..", "deploy", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(prom), "metrics_path: /metrics") {
		t.Error("deploy/prometheus.yml does not scrape /metrics")
	}
	targets := regexp.MustCompile(`(?m)^\s+- (n\d):8001\s*$`).FindAllStringSubmatch(string(prom), -1)
	if len(targets) != 3 {
		t.Errorf("deploy/prometheus.yml lists %d node targets, want 3 (n1:8001 .. n3:8001)", len(targets))
	}
}

// readmeMetrics returns the metric names in the first column of README's
// Monitoring table, with shorthands such as `_delivered_total` after
// `dynkv_hints_written_total` spelled out (dynkv_hints_delivered_total).
func readmeMetrics(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "\n## Monitoring\n")
	if !ok {
		t.Fatal("README.md has no Monitoring section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var names []string
	tick := regexp.MustCompile("`([a-z_]+)`")
	for _, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.Contains(cells[1], "`dynkv_") {
			continue
		}
		base := ""
		for _, m := range tick.FindAllStringSubmatch(cells[1], -1) {
			name := m[1]
			if strings.HasPrefix(name, "dynkv_") {
				base = name
				names = append(names, name)
				continue
			}
			// A shorthand replaces the last words of the name before it:
			// take the longest prefix of base that, with it, is a name.
			words := strings.Split(base, "_")
			for i := len(words) - 1; i > 1; i-- {
				if full := strings.Join(words[:i], "_") + name; strings.Count(full, "_") <= strings.Count(base, "_") {
					names = append(names, full)
					break
				}
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("README's Monitoring table names only %d metrics: %v", len(names), names)
	}
	return names
}
