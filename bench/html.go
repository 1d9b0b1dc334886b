package bench

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained page of r: summary tables, throughput
// and latency percentiles over time, the latency histogram and, when
// staleness was measured, the t-visibility curve. The charts are inline
// SVG drawn here; the page loads nothing from anywhere, runs no script,
// and is well-formed XML as well as HTML.
func (r *Result) WriteHTML(w io.Writer) error {
	config, err := json.MarshalIndent(r.Config, "", "  ")
	if err != nil {
		return err
	}
	data := struct {
		R      *Result
		Charts []template.HTML
		Ops    []namedStats
		Config string
	}{R: r, Charts: r.charts(), Config: string(config)}
	for _, name := range opNames {
		if s := r.Ops[name]; s.Count > 0 || s.Errors > 0 {
			data.Ops = append(data.Ops, namedStats{name, s})
		}
	}
	data.Ops = append(data.Ops, namedStats{"all", r.All})
	return pageTemplate.Execute(w, data)
}

type namedStats struct {
	Name string
	OpStats
}

func (r *Result) charts() []template.HTML {
	out := []template.HTML{r.throughputChart().svg(), r.latencyChart().svg(), r.histogramChart().svg()}
	if r.Staleness != nil {
		out = append(out, r.visibilityChart().svg())
	}
	return out
}

var chartColors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"}

func (r *Result) throughputChart() lineChart {
	c := lineChart{title: "Throughput per interval", yLabel: "ops/s", xLabel: "seconds since start"}
	total := series{name: "all", color: chartColors[0]}
	errs := series{name: "errors", color: chartColors[3]}
	perOp := map[string]*series{}
	for _, name := range opNames {
		if s := r.Ops[name]; s.Count > 0 {
			perOp[name] = &series{name: name, color: chartColors[1+len(perOp)%4]}
		}
	}
	for _, p := range r.Timeline {
		c.xs = append(c.xs, p.TimeS)
		total.ys = append(total.ys, p.OpsPerSec)
		errs.ys = append(errs.ys, perSecond(p.Errors, p.IntervalS))
		for name, s := range perOp {
			s.ys = append(s.ys, perSecond(p.Ops[name], p.IntervalS))
		}
	}
	c.series = append(c.series, total)
	if len(perOp) > 1 {
		for _, name := range opNames {
			if s, ok := perOp[name]; ok {
				c.series = append(c.series, *s)
			}
		}
	}
	return append0(c, errs)
}

// append0 adds s to c unless it is all zero.
func append0(c lineChart, s series) lineChart {
	for _, y := range s.ys {
		if y != 0 {
			c.series = append(c.series, s)
			break
		}
	}
	return c
}

func perSecond(n int64, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return float64(n) / secs
}

func (r *Result) latencyChart() lineChart {
	c := lineChart{title: "Latency percentiles per interval (all operations)", yLabel: "ms (log)",
		xLabel: "seconds since start", logY: true}
	names := []string{"p50", "p90", "p99", "p99.9", "max"}
	ss := make([]series, len(names))
	for i, n := range names {
		ss[i] = series{name: n, color: chartColors[i]}
	}
	for _, p := range r.Timeline {
		c.xs = append(c.xs, p.TimeS)
		for i, v := range []float64{p.P50MS, p.P90MS, p.P99MS, p.P999MS, p.MaxMS} {
			ss[i].ys = append(ss[i].ys, v)
		}
	}
	c.series = ss
	return c
}

func (r *Result) histogramChart() barChart {
	c := barChart{title: "Latency histogram (all successful operations, log-spaced bins)",
		yLabel: "operations", xLabel: "latency, ms (bin lower edge)"}
	for _, b := range r.Histogram {
		c.labels = append(c.labels, fmtMS(b.FromMS))
		c.values = append(c.values, float64(b.Count))
	}
	return c
}

func (r *Result) visibilityChart() barChart {
	c := barChart{title: "t-visibility: P(read returns the latest acknowledged write | read started t ms after its ack)",
		yLabel: "probability", xLabel: "t, ms since the ack (bucket lower edge)", yMax: 1}
	for _, p := range r.TVisibility {
		c.labels = append(c.labels, fmt.Sprintf("%g", p.MS))
		v := math.NaN()
		if p.Probability != nil {
			v = *p.Probability
		}
		c.values = append(c.values, v)
	}
	return c
}

func fmtMS(ms float64) string {
	switch {
	case ms < 1:
		return fmt.Sprintf("%.2g", ms)
	case ms < 100:
		return fmt.Sprintf("%.3g", ms)
	}
	return fmt.Sprintf("%.0f", ms)
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH     = 900, 300
	padL, padR         = 70, 120
	padT, padB         = 34, 46
	plotW, plotH       = chartW - padL - padR, chartH - padT - padB
	chartFont          = `font-family="sans-serif" font-size="11"`
	axisColor          = "#444"
	gridColor          = "#ddd"
	maxCategoryLabels  = 16
	minPositiveLogSpan = 1.0 // decades shown at least, on a log axis
)

type series struct {
	name, color string
	ys          []float64
}

type lineChart struct {
	title, xLabel, yLabel string
	xs                    []float64
	series                []series
	logY                  bool
}

func (c lineChart) svg() template.HTML {
	var b strings.Builder
	openSVG(&b, c.title, c.xLabel, c.yLabel)
	if len(c.xs) == 0 {
		b.WriteString(noData())
		return closeSVG(&b)
	}
	xlo, xhi := 0.0, c.xs[len(c.xs)-1]
	ylo, yhi, ticks := c.yRange()
	fx := func(x float64) float64 { return padL + plotW*(x-xlo)/math.Max(xhi-xlo, 1e-9) }
	fy := func(y float64) float64 {
		if c.logY {
			y = math.Log10(y)
		}
		return padT + plotH*(1-(y-ylo)/(yhi-ylo))
	}
	for _, t := range niceTicks(xlo, xhi, 8) {
		vline(&b, fx(t), fmtTick(t))
	}
	for _, t := range ticks {
		hline(&b, fy(t), fmtTick(t))
	}
	for i, s := range c.series {
		b.WriteString(polyline(c.xs, s, c.logY, fx, fy))
		legend(&b, i, s.name, s.color)
	}
	return closeSVG(&b)
}

// yRange returns the plotted range (log10 units on a log axis) and ticks.
func (c lineChart) yRange() (lo, hi float64, ticks []float64) {
	maxY, minPos := 0.0, math.Inf(1)
	for _, s := range c.series {
		for _, y := range s.ys {
			maxY = math.Max(maxY, y)
			if y > 0 {
				minPos = math.Min(minPos, y)
			}
		}
	}
	if !c.logY {
		hi = maxY * 1.1
		if hi == 0 {
			hi = 1
		}
		return 0, hi, niceTicks(0, hi, 5)
	}
	if math.IsInf(minPos, 1) {
		minPos, maxY = 0.1, 1
	}
	lo, hi = math.Floor(math.Log10(minPos)), math.Ceil(math.Log10(maxY))
	hi = math.Max(hi, lo+minPositiveLogSpan)
	for e := lo; e <= hi; e++ {
		ticks = append(ticks, math.Pow(10, e))
	}
	return lo, hi, ticks
}

func polyline(xs []float64, s series, logY bool, fx, fy func(float64) float64) string {
	var pts []string
	for i, y := range s.ys {
		if logY && y <= 0 {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", fx(xs[i]), fy(y)))
	}
	if len(pts) == 1 {
		pts = append(pts, pts[0])
	}
	return fmt.Sprintf(`<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`,
		s.color, strings.Join(pts, " "))
}

type barChart struct {
	title, xLabel, yLabel string
	labels                []string
	values                []float64 // NaN: no data for the bar
	yMax                  float64   // 0: from the data
}

func (c barChart) svg() template.HTML {
	var b strings.Builder
	openSVG(&b, c.title, c.xLabel, c.yLabel)
	if len(c.values) == 0 {
		b.WriteString(noData())
		return closeSVG(&b)
	}
	hi := c.yMax
	for _, v := range c.values {
		if !math.IsNaN(v) && c.yMax == 0 {
			hi = math.Max(hi, v*1.1)
		}
	}
	hi = math.Max(hi, 1e-9)
	for _, t := range niceTicks(0, hi, 5) {
		hline(&b, padT+plotH*(1-t/hi), fmtTick(t))
	}
	bw := float64(plotW) / float64(len(c.values))
	every := (len(c.values) + maxCategoryLabels - 1) / maxCategoryLabels
	for i, v := range c.values {
		x := padL + bw*float64(i)
		if i%every == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`,
				x+bw/2, padT+plotH+14, template.HTMLEscapeString(c.labels[i]))
		}
		if math.IsNaN(v) {
			continue
		}
		h := plotH * v / hi
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %g</title></rect>`,
			x+bw*0.1, padT+plotH-h, bw*0.8, h, chartColors[0], template.HTMLEscapeString(c.labels[i]), v)
	}
	return closeSVG(&b)
}

func openSVG(b *strings.Builder, title, xLabel, yLabel string) {
	fmt.Fprintf(b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" %s role="img">`, chartW, chartH, chartW, chartH, chartFont)
	fmt.Fprintf(b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, padL, template.HTMLEscapeString(title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`, padL, padT, plotW, plotH, axisColor)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, padL+plotW/2, chartH-8, template.HTMLEscapeString(xLabel))
	fmt.Fprintf(b, `<text x="14" y="%d" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`,
		padT+plotH/2, padT+plotH/2, template.HTMLEscapeString(yLabel))
}

func closeSVG(b *strings.Builder) template.HTML {
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from escaped text and numbers only
}

func noData() string {
	return fmt.Sprintf(`<text x="%d" y="%d" text-anchor="middle">no data</text>`, padL+plotW/2, padT+plotH/2)
}

func vline(b *strings.Builder, x float64, label string) {
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`, x, padT, x, padT+plotH, gridColor)
	fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, padT+plotH+14, label)
}

func hline(b *strings.Builder, y float64, label string) {
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`, padL, y, padL+plotW, y, gridColor)
	fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-4, y+4, label)
}

func legend(b *strings.Builder, i int, name, color string) {
	y := padT + 10 + 16*i
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`, padL+plotW+10, y, padL+plotW+28, y, color)
	fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`, padL+plotW+32, y+4, template.HTMLEscapeString(name))
}

// niceTicks returns about n round values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	var ticks []float64
	for t := math.Ceil(lo/step) * step; t <= hi+step*1e-9; t += step {
		ticks = append(ticks, t)
	}
	return ticks
}

func fmtTick(v float64) string {
	switch {
	case v != 0 && math.Abs(v) < 0.01:
		return fmt.Sprintf("%.0e", v)
	case math.Abs(v) >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	}
	return fmt.Sprintf("%g", math.Round(v*1000)/1000)
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"deref": func(f *float64) float64 { return *f },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>dynkv bench: workload {{.R.Config.Workload}}, {{printf "%.0f" .R.OpsPerSec}} ops/s</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg { display: block; margin: 12px 0; }
pre { background: #f6f6f6; padding: 8px; }
</style>
</head>
<body>
<h1>dynkv bench: workload {{.R.Config.Workload}}</h1>
<p>Started {{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}}; {{printf "%.1f" .R.DurationS}} s measured;
{{.R.Config.Keys}} keys ({{.R.Config.Distribution}}), {{.R.Config.ValueSize}}-byte values;
{{if gt .R.Config.Rate 0.0}}open loop at {{printf "%.0f" .R.Config.Rate}} ops/s (latency from the scheduled start), up to {{.R.Config.Concurrency}} in flight{{else}}closed loop, {{.R.Config.Concurrency}} workers{{end}}.
{{if .R.Interrupted}}<strong>The run was interrupted.</strong>{{end}}</p>
<p><strong>{{printf "%.0f" .R.OpsPerSec}} ops/s</strong>, {{.R.OpsTotal}} successful operations, {{.R.ErrorsTotal}} errors,
bench CPU {{printf "%.1f" .R.CPUSeconds}} s ({{printf "%.1f" .R.CPUMicrosOp}} µs per operation).</p>
<table>
<tr><th>operation</th><th>count</th><th>ops/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>errors</th></tr>
{{range .Ops}}<tr><td>{{.Name}}</td><td>{{.Count}}</td><td>{{printf "%.0f" .OpsPerSec}}</td><td>{{printf "%.2f" .P50MS}}</td><td>{{printf "%.2f" .P90MS}}</td><td>{{printf "%.2f" .P99MS}}</td><td>{{printf "%.2f" .P999MS}}</td><td>{{printf "%.2f" .MaxMS}}</td><td>{{.Errors}}</td></tr>
{{end}}</table>
<table>
<tr><th>errors</th><th>not found</th><th>503</th><th>504</th><th>transport</th><th>other</th><th>cancelled at the end</th></tr>
<tr><td>count</td><td>{{index .R.Errors "not_found"}}</td><td>{{index .R.Errors "unavailable_503"}}</td><td>{{index .R.Errors "timeout_504"}}</td><td>{{index .R.Errors "transport"}}</td><td>{{index .R.Errors "other"}}</td><td>{{.R.Cancelled}}</td></tr>
</table>
{{with .R.OpenLoop}}<p>Open loop: {{.Scheduled}} operations scheduled, {{.NotStarted}} not started; start lag p50 {{printf "%.3f" .StartLagP50MS}} ms, p99 {{printf "%.3f" .StartLagP99MS}} ms, max {{printf "%.3f" .StartLagMaxMS}} ms.</p>{{end}}
{{with .R.Staleness}}<p>Staleness: {{.StaleReads}} of {{.CheckedReads}} checked reads were stale{{if .StaleReadFraction}} ({{printf "%.4f" (deref .StaleReadFraction)}} of them){{end}}.</p>{{end}}
{{with .R.Load}}<p>Load phase: {{.Written}} of {{.Keys}} keys in {{printf "%.1f" .DurationS}} s ({{printf "%.0f" .OpsPerSec}} keys/s), {{.Errors}} errors.</p>{{end}}
{{range .Charts}}{{.}}
{{end}}
<h2>Configuration</h2>
<pre>{{.Config}}</pre>
</body>
</html>
`))
