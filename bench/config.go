package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Key distributions (Config.Distribution).
const (
	DistUniform = "uniform"
	DistZipfian = "zipfian"
	DistLatest  = "latest"
)

// WorkloadCustom is the workload of reads and updates in the proportion
// Config.ReadRatio.
const WorkloadCustom = "custom"

// Limits that keep a run bounded and a typo from exhausting memory.
const (
	maxDuration    = 24 * time.Hour
	maxConcurrency = 10000
	maxKeys        = 1 << 32
	maxValueSize   = 64 << 20
	// headerSize is the version header a value carries when staleness is
	// measured: sequence number and writer id, 8 bytes each.
	headerSize = 16
)

// Config describes one run. DefaultConfig gives a usable one; Validate
// reports what is wrong with a Config before anything is sent.
type Config struct {
	// Workload is one of the YCSB core mixes "a" (50% read, 50% update),
	// "b" (95/5), "c" (read only), "d" (95% read of recently inserted keys,
	// 5% insert), "f" (50% read, 50% read-modify-write) or "custom".
	Workload string
	// ReadRatio is the fraction of reads of the custom workload, the rest
	// being updates. Other workloads ignore it.
	ReadRatio float64
	// Distribution chooses keys: "uniform", "zipfian" (YCSB's scrambled
	// zipfian, θ = 0.99) or "latest" (zipfian over recency, newest hottest).
	// Empty selects the workload's own: latest for D, zipfian otherwise.
	Distribution string
	// Keys is the size of the key space [0, Keys) the run starts with;
	// inserts add keys past it.
	Keys int
	// KeyPrefix is prepended to the decimal key number.
	KeyPrefix string
	// ValueSize is the size of written values, fixed or a uniform range.
	ValueSize ValueSize

	// Load writes every key of the key space once, with Concurrency
	// workers, before the measured run; LoadTimeout bounds that phase.
	Load        bool
	LoadTimeout time.Duration
	// LoadOnly runs the load phase and no measured run (YCSB's "load"
	// command), so the two can be measured separately.
	LoadOnly bool

	// Concurrency is the number of workers: the number of requests in
	// flight in a closed loop, and the most in flight in an open loop.
	Concurrency int
	// Rate > 0 selects the open loop: operations are scheduled Rate per
	// second, and latency is measured from each one's scheduled start.
	// Zero selects the closed loop.
	Rate float64
	// Duration bounds the measured run; Ops, if positive, bounds it too,
	// whichever comes first.
	Duration time.Duration
	Ops      int64
	// Drain is how long operations already scheduled (open loop) or in
	// flight may still take once Duration is over; what has not finished
	// by then is cancelled and counted, never measured.
	Drain time.Duration

	// Per-request quorum options; zero leaves the node's default.
	R, PR, W, PW int
	Sync         bool
	Timeout      time.Duration

	// MeasureStaleness puts a version header in every value and checks
	// every read against the latest acknowledged write of its key.
	MeasureStaleness bool
	// VisibilityBuckets are the lower edges of the t-visibility buckets
	// (time since the latest acknowledged write when a read starts).
	VisibilityBuckets []time.Duration

	// Interval is the width of a timeline bucket: throughput and latency
	// percentiles are reported per interval, and a progress line is
	// written to Progress (if not nil) at the end of each.
	Interval time.Duration
	Progress io.Writer
	// Logger receives warnings (load errors, for instance). Nil discards.
	Logger *slog.Logger
	// Seed makes key and operation choices repeatable; zero picks one.
	Seed uint64
}

// ValueSize is a value length in bytes: Min == Max for a fixed size,
// otherwise uniform in [Min, Max].
type ValueSize struct{ Min, Max int }

// ParseValueSize parses "1024" or a range "512-2048".
func ParseValueSize(s string) (ValueSize, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	min, err := strconv.Atoi(lo)
	if err != nil {
		return ValueSize{}, fmt.Errorf("value size %q: want a byte count like 1024 or a range like 512-2048", s)
	}
	max := min
	if isRange {
		if max, err = strconv.Atoi(hi); err != nil {
			return ValueSize{}, fmt.Errorf("value size %q: want a range like 512-2048", s)
		}
	}
	return ValueSize{Min: min, Max: max}, nil
}

func (v ValueSize) String() string {
	if v.Min == v.Max {
		return strconv.Itoa(v.Min)
	}
	return fmt.Sprintf("%d-%d", v.Min, v.Max)
}

// DefaultVisibilityBuckets are the t-visibility bucket edges in ms.
var defaultVisibilityMS = []int{0, 1, 2, 5, 10, 20, 50, 100, 200, 500}

// DefaultConfig is YCSB workload A over 100,000 keys with 1 KiB values, 64
// closed-loop workers for 30 seconds, the node's quorum defaults.
func DefaultConfig() Config {
	buckets := make([]time.Duration, len(defaultVisibilityMS))
	for i, ms := range defaultVisibilityMS {
		buckets[i] = time.Duration(ms) * time.Millisecond
	}
	return Config{
		Workload:          "a",
		ReadRatio:         0.5,
		Keys:              100000,
		KeyPrefix:         "bench-",
		ValueSize:         ValueSize{Min: 1024, Max: 1024},
		LoadTimeout:       10 * time.Minute,
		Concurrency:       64,
		Duration:          30 * time.Second,
		Drain:             5 * time.Second,
		VisibilityBuckets: buckets,
		Interval:          time.Second,
	}
}

// Validate reports the first problem with c, in words that name the flag.
func (c *Config) Validate() error {
	checks := []func() error{c.validateWorkload, c.validateSizes, c.validateBounds, c.validateQuorum}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateWorkload() error {
	if _, ok := workloadMixes[c.Workload]; !ok && c.Workload != WorkloadCustom {
		return fmt.Errorf("workload %q: want a, b, c, d, f or custom", c.Workload)
	}
	if c.ReadRatio < 0 || c.ReadRatio > 1 {
		return fmt.Errorf("read ratio %v: want a fraction in [0, 1]", c.ReadRatio)
	}
	switch c.Distribution {
	case "", DistUniform, DistZipfian, DistLatest:
	default:
		return fmt.Errorf("distribution %q: want uniform, zipfian or latest", c.Distribution)
	}
	return nil
}

func (c *Config) validateSizes() error {
	if c.Keys < 1 || c.Keys > maxKeys {
		return fmt.Errorf("keys %d: want 1 to %d", c.Keys, maxKeys)
	}
	v := c.ValueSize
	if v.Min < 0 || v.Max < v.Min || v.Max > maxValueSize {
		return fmt.Errorf("value size %s: want 0 <= min <= max <= %d", v, maxValueSize)
	}
	if c.MeasureStaleness && v.Min < headerSize {
		return fmt.Errorf("value size %s: measuring staleness needs values of at least %d bytes for the version header", v, headerSize)
	}
	for i, b := range c.VisibilityBuckets {
		if b < 0 || (i > 0 && b <= c.VisibilityBuckets[i-1]) {
			return errors.New("visibility buckets must be non-negative and increasing")
		}
	}
	return nil
}

func (c *Config) validateBounds() error {
	if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
		return fmt.Errorf("concurrency %d: want 1 to %d", c.Concurrency, maxConcurrency)
	}
	if c.Rate < 0 {
		return fmt.Errorf("rate %v: want a positive number of operations per second, or 0 for the closed loop", c.Rate)
	}
	if c.Duration <= 0 || c.Duration > maxDuration {
		return fmt.Errorf("duration %v: want more than 0 and at most %v (a run is always bounded in time)", c.Duration, maxDuration)
	}
	if c.Ops < 0 {
		return fmt.Errorf("ops %d: want 0 (no limit but the duration) or more", c.Ops)
	}
	if c.Drain < 0 || c.Drain > time.Hour {
		return fmt.Errorf("drain %v: want 0 to 1h", c.Drain)
	}
	if (c.Load || c.LoadOnly) && (c.LoadTimeout <= 0 || c.LoadTimeout > maxDuration) {
		return fmt.Errorf("load timeout %v: want more than 0 and at most %v", c.LoadTimeout, maxDuration)
	}
	if c.Interval < 10*time.Millisecond || c.Interval > time.Hour {
		return fmt.Errorf("interval %v: want 10ms to 1h", c.Interval)
	}
	return nil
}

func (c *Config) validateQuorum() error {
	for name, n := range map[string]int{"r": c.R, "pr": c.PR, "w": c.W, "pw": c.PW} {
		if n < 0 {
			return fmt.Errorf("%s %d: want at least 1, or 0 for the node's default", name, n)
		}
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout %v: want a positive duration, or 0 for the node's default", c.Timeout)
	}
	return nil
}

// distribution returns the key distribution in force.
func (c *Config) distribution() string {
	if c.Distribution != "" {
		return c.Distribution
	}
	if c.Workload == "d" {
		return DistLatest
	}
	return DistZipfian
}
