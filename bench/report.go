package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// SchemaVersion is the version of the JSON document; fields are only ever
// added within a version.
const SchemaVersion = 1

// Result is the outcome of a run. It marshals to the document that
// `dynkv bench --json` writes; bench/README.md describes every field.
// Latencies are of successful operations only; errors are counted by kind.
type Result struct {
	SchemaVersion int                `json:"schema_version"`
	StartedAt     time.Time          `json:"started_at"`
	Config        ConfigSummary      `json:"config"`
	Interrupted   bool               `json:"interrupted"`
	DurationS     float64            `json:"duration_s"`
	OpsTotal      int64              `json:"ops_total"`
	OpsPerSec     float64            `json:"ops_per_sec"`
	ErrorsTotal   int64              `json:"errors_total"`
	Errors        map[string]int64   `json:"errors"`
	Cancelled     int64              `json:"cancelled"`
	CPUSeconds    float64            `json:"cpu_seconds"`
	CPUMicrosOp   float64            `json:"cpu_us_per_op"`
	All           OpStats            `json:"all"`
	Ops           map[string]OpStats `json:"ops"`
	OpenLoop      *OpenLoopResult    `json:"open_loop,omitempty"`
	Load          *LoadResult        `json:"load,omitempty"`
	*Staleness
	Timeline  []TimelinePoint `json:"timeline"`
	Histogram []HistogramBin  `json:"histogram"`
}

// ConfigSummary records what was run.
type ConfigSummary struct {
	Endpoints        []string           `json:"endpoints,omitempty"`
	Workload         string             `json:"workload"`
	Mix              map[string]float64 `json:"mix"`
	Distribution     string             `json:"distribution"`
	Keys             int                `json:"keys"`
	ValueSize        string             `json:"value_size"`
	Load             bool               `json:"load"`
	LoadOnly         bool               `json:"load_only"`
	Concurrency      int                `json:"concurrency"`
	Rate             float64            `json:"rate"`
	DurationS        float64            `json:"duration_s"`
	Ops              int64              `json:"ops"`
	R                int                `json:"r"`
	PR               int                `json:"pr"`
	W                int                `json:"w"`
	PW               int                `json:"pw"`
	Sync             bool               `json:"sync"`
	TimeoutMS        float64            `json:"timeout_ms"`
	MeasureStaleness bool               `json:"measure_staleness"`
	Seed             uint64             `json:"seed"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
	MeanMS float64 `json:"mean_ms"`
}

// OpStats is the outcome of one operation type (or all of them).
type OpStats struct {
	Count     int64   `json:"count"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Latency
}

// OpenLoopResult says how well the schedule was kept.
type OpenLoopResult struct {
	Rate       float64 `json:"rate"`
	Scheduled  int64   `json:"scheduled"`
	Started    int64   `json:"started"`
	NotStarted int64   `json:"not_started"`
	// StartLag is how late operations started against their schedule:
	// waiting for a free worker, or the bench's own timer slack.
	StartLagP50MS float64 `json:"start_lag_p50_ms"`
	StartLagP99MS float64 `json:"start_lag_p99_ms"`
	StartLagMaxMS float64 `json:"start_lag_max_ms"`
}

// LoadResult is the outcome of the load phase.
type LoadResult struct {
	Keys      int64   `json:"keys"`
	Written   int64   `json:"written"`
	Errors    int64   `json:"errors"`
	DurationS float64 `json:"duration_s"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// CPUSeconds is the bench process's CPU time during the load phase.
	CPUSeconds float64 `json:"cpu_seconds"`
	Latency
}

// Staleness is present in a Result when staleness was measured.
// StaleReadFraction is null when no read could be checked.
type Staleness struct {
	StaleReadFraction *float64          `json:"stale_read_fraction"`
	StaleReads        int64             `json:"stale_reads"`
	CheckedReads      int64             `json:"checked_reads"`
	TVisibility       []VisibilityPoint `json:"t_visibility"`
}

// TimelinePoint is one interval of the run (per second by default). The
// last one may be up to one and a half intervals long: the operations still
// in flight when the run stopped are folded into it.
type TimelinePoint struct {
	TimeS      float64          `json:"t_s"` // end of the interval, since the start
	IntervalS  float64          `json:"interval_s"`
	OpsPerSec  float64          `json:"ops_per_sec"`
	Ops        map[string]int64 `json:"ops"`
	Errors     int64            `json:"errors"`
	P99SoFarMS float64          `json:"p99_so_far_ms"`
	Latency
}

func (p *TimelinePoint) total() int64 {
	var n int64
	for _, c := range p.Ops {
		n += c
	}
	return n
}

// HistogramBin counts the successful operations with a latency in
// [FromMS, ToMS); bins are log-spaced, ten per decade.
type HistogramBin struct {
	FromMS float64 `json:"from_ms"`
	ToMS   float64 `json:"to_ms"`
	Count  int64   `json:"count"`
}

func latencyOf(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		P50MS: usToMS(h.ValueAtQuantile(50)), P90MS: usToMS(h.ValueAtQuantile(90)),
		P99MS: usToMS(h.ValueAtQuantile(99)), P999MS: usToMS(h.ValueAtQuantile(99.9)),
		MaxMS: usToMS(h.Max()), MeanMS: math.Round(h.Mean()) / 1000,
	}
}

func newResult(c *Config, seed uint64, now time.Time) *Result {
	m := mixOf(c)
	mixes := map[string]float64{}
	for o := range numOps {
		if m[o] > 0 {
			mixes[op(o).String()] = m[o]
		}
	}
	return &Result{SchemaVersion: SchemaVersion, StartedAt: now.UTC(), Config: ConfigSummary{
		Workload: c.Workload, Mix: mixes, Distribution: c.distribution(), Keys: c.Keys,
		ValueSize: c.ValueSize.String(), Load: c.Load || c.LoadOnly, LoadOnly: c.LoadOnly, Concurrency: c.Concurrency, Rate: c.Rate,
		DurationS: c.Duration.Seconds(), Ops: c.Ops, R: c.R, PR: c.PR, W: c.W, PW: c.PW, Sync: c.Sync,
		TimeoutMS: float64(c.Timeout) / float64(time.Millisecond), MeasureStaleness: c.MeasureStaleness, Seed: seed,
	}}
}

// fill computes the result of the measured run.
func (r *Result) fill(b *Bench, rec *recorder, p *pacer, elapsed, cpu time.Duration) {
	secs := elapsed.Seconds()
	r.DurationS = secs
	r.Errors, r.ErrorsTotal, r.Cancelled = rec.errorTotals()
	rec.mu.Lock()
	r.Ops = map[string]OpStats{}
	for o := range numOps {
		r.Ops[op(o).String()] = opStats(rec.ops[o], rec.opErrors(o), secs)
	}
	r.All = opStats(rec.all, r.ErrorsTotal, secs)
	lag := latencyOf(rec.lag)
	r.Timeline = rec.timeline
	r.Histogram = histogramBins(rec.all)
	rec.mu.Unlock()
	r.OpsTotal, r.OpsPerSec = r.All.Count, r.All.OpsPerSec
	r.CPUSeconds = cpu.Seconds()
	if r.OpsTotal > 0 {
		r.CPUMicrosOp = float64(cpu.Microseconds()) / float64(r.OpsTotal)
	}
	if p.rate > 0 {
		started := r.OpsTotal + r.ErrorsTotal + r.Cancelled
		r.OpenLoop = &OpenLoopResult{Rate: p.rate, Scheduled: p.scheduled(), Started: started,
			NotStarted: max(p.scheduled()-started, 0), StartLagP50MS: lag.P50MS,
			StartLagP99MS: lag.P99MS, StartLagMaxMS: lag.MaxMS}
	}
	if b.stale != nil {
		r.Staleness = stalenessOf(b.stale)
	}
}

func opStats(h *hdr.Histogram, errs int64, secs float64) OpStats {
	s := OpStats{Count: h.TotalCount(), Errors: errs, Latency: latencyOf(h)}
	if secs > 0 {
		s.OpsPerSec = float64(s.Count) / secs
	}
	return s
}

func stalenessOf(t *staleTracker) *Staleness {
	checked, stale, curve := t.result()
	s := &Staleness{StaleReads: stale, CheckedReads: checked, TVisibility: curve}
	if checked > 0 {
		f := float64(stale) / float64(checked)
		s.StaleReadFraction = &f
	}
	return s
}

func newLoadResult(rec *recorder, keys int64, elapsed time.Duration) *LoadResult {
	_, errs, _ := rec.errorTotals()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	res := &LoadResult{Keys: keys, Written: rec.all.TotalCount(), Errors: errs,
		DurationS: elapsed.Seconds(), Latency: latencyOf(rec.all)}
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Written) / elapsed.Seconds()
	}
	return res
}

// histogramBins folds h into log-spaced bins, ten per decade of µs, from
// the first non-empty bin to the last.
func histogramBins(h *hdr.Histogram) []HistogramBin {
	const perDecade = 10
	counts := map[int]int64{}
	lo, hi := math.MaxInt, math.MinInt
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		i := int(math.Floor(perDecade * math.Log10(float64(max(bar.From, 1)))))
		counts[i] += bar.Count
		lo, hi = min(lo, i), max(hi, i)
	}
	var bins []HistogramBin
	for i := lo; i <= hi; i++ {
		bins = append(bins, HistogramBin{
			FromMS: math.Pow(10, float64(i)/perDecade) / 1000,
			ToMS:   math.Pow(10, float64(i+1)/perDecade) / 1000,
			Count:  counts[i],
		})
	}
	return bins
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes a human summary of r.
func (r *Result) WriteText(w io.Writer) error {
	c := r.Config
	loop := fmt.Sprintf("closed loop, %d workers", c.Concurrency)
	if c.Rate > 0 {
		loop = fmt.Sprintf("open loop at %.0f ops/s, up to %d in flight", c.Rate, c.Concurrency)
	}
	fmt.Fprintf(w, "workload %s %v, %s keys, %d keys, %s-byte values, %s\n",
		c.Workload, c.Mix, c.Distribution, c.Keys, c.ValueSize, loop)
	if l := r.Load; l != nil {
		fmt.Fprintf(w, "load: %d of %d keys in %.1fs (%.0f keys/s), %d errors, p50 %.2fms p99 %.2fms, bench CPU %.1fs\n",
			l.Written, l.Keys, l.DurationS, l.OpsPerSec, l.Errors, l.P50MS, l.P99MS, l.CPUSeconds)
	}
	if c.LoadOnly {
		return nil
	}
	fmt.Fprintf(w, "run: %.1fs, %d ops, %.0f ops/s, %d errors, bench CPU %.1fs (%.1f µs/op)",
		r.DurationS, r.OpsTotal, r.OpsPerSec, r.ErrorsTotal, r.CPUSeconds, r.CPUMicrosOp)
	if r.Interrupted {
		fmt.Fprint(w, " [interrupted]")
	}
	fmt.Fprintln(w)
	r.writeOpTable(w)
	e := r.Errors
	fmt.Fprintf(w, "errors: not found %d, 503 %d, 504 %d, transport %d, other %d; cancelled at the end %d\n",
		e["not_found"], e["unavailable_503"], e["timeout_504"], e["transport"], e["other"], r.Cancelled)
	if o := r.OpenLoop; o != nil {
		fmt.Fprintf(w, "open loop: %d scheduled, %d not started; start lag p50 %.3fms p99 %.3fms max %.3fms\n",
			o.Scheduled, o.NotStarted, o.StartLagP50MS, o.StartLagP99MS, o.StartLagMaxMS)
	}
	r.writeStaleness(w)
	return nil
}

func (r *Result) writeOpTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\tops/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\t")
	row := func(name string, s OpStats) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t\n", name, s.Count, s.OpsPerSec,
			s.P50MS, s.P90MS, s.P99MS, s.P999MS, s.MaxMS, s.Errors)
	}
	for _, name := range opNames {
		if s := r.Ops[name]; s.Count > 0 || s.Errors > 0 {
			row(name, s)
		}
	}
	row("all", r.All)
	_ = tw.Flush()
}

func (r *Result) writeStaleness(w io.Writer) {
	s := r.Staleness
	if s == nil {
		return
	}
	if s.StaleReadFraction == nil {
		fmt.Fprintln(w, "staleness: no read could be checked (no acknowledged write of the key read)")
		return
	}
	fmt.Fprintf(w, "staleness: %d of %d checked reads stale (%.4f%%)\nt-visibility:", s.StaleReads,
		s.CheckedReads, 100**s.StaleReadFraction)
	for _, p := range s.TVisibility {
		if p.Probability != nil {
			fmt.Fprintf(w, " t>=%gms %.4f (%d)", p.MS, *p.Probability, p.Reads)
		}
	}
	fmt.Fprintln(w)
}
