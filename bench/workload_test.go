package bench

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestWorkloadMixesWithinTolerance(t *testing.T) {
	const draws = 200_000
	for name, want := range workloadMixes {
		t.Run(name, func(t *testing.T) {
			checkMix(t, want, draws)
		})
	}
	c := DefaultConfig()
	c.Workload, c.ReadRatio = WorkloadCustom, 0.8
	checkMix(t, mixOf(&c), draws)
}

func checkMix(t *testing.T, m mix, draws int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	var got [numOps]int
	for range draws {
		got[m.choose(rng.Float64())]++
	}
	for o := range numOps {
		frac := float64(got[o]) / float64(draws)
		if math.Abs(frac-m[o]) > 0.005 {
			t.Errorf("%s: %.4f of draws, want %.2f ± 0.005", op(o), frac, m[o])
		}
	}
}

func TestMixChooseEdges(t *testing.T) {
	m := workloadMixes["b"]
	if got := m.choose(0); got != opRead {
		t.Errorf("choose(0) = %s, want read", got)
	}
	if got := m.choose(math.Nextafter(1, 0)); got != opUpdate {
		t.Errorf("choose(1-ε) = %s, want update", got)
	}
	if got := workloadMixes["c"].choose(0.999999); got != opRead {
		t.Errorf("workload c chose %s", got)
	}
}

func TestValueHeaderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	v := newValueMaker(ValueSize{Min: 16, Max: 64}, true, rng)
	w := writerID(0xabcd, 7)
	for range 100 {
		val := v.make(rng, 42, w)
		if len(val) < 16 || len(val) > 64 {
			t.Fatalf("value of %d bytes outside 16-64", len(val))
		}
		if got := parseHeader(val, 0xabcd); got != 42 {
			t.Fatalf("parsed seq %d, want 42", got)
		}
		if got := parseHeader(val, 0xabce); got != 0 {
			t.Fatalf("a value of another run parsed as seq %d, want 0", got)
		}
	}
	if parseHeader([]byte("short"), 0) != 0 {
		t.Fatal("a short value parsed as a version")
	}
	plain := newValueMaker(ValueSize{Min: 100, Max: 100}, false, rng)
	a, b := plain.make(rng, 1, w), plain.make(rng, 2, w)
	if len(a) != 100 || &a[0] != &b[0] || cap(a) != 100 {
		t.Fatal("header-less values should share the read-only payload, capped at their length")
	}
}

func TestParseValueSize(t *testing.T) {
	for in, want := range map[string]ValueSize{"1024": {1024, 1024}, "512-2048": {512, 2048}, " 0 ": {0, 0}} {
		got, err := ParseValueSize(in)
		if err != nil || got != want {
			t.Errorf("ParseValueSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "1-", "1k", "5-x"} {
		if _, err := ParseValueSize(in); err == nil {
			t.Errorf("ParseValueSize(%q) accepted", in)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		edit func(*Config)
		want string
	}{
		"default":            {func(*Config) {}, ""},
		"unknown workload":   {func(c *Config) { c.Workload = "e" }, "workload"},
		"read ratio":         {func(c *Config) { c.ReadRatio = 1.5 }, "read ratio"},
		"distribution":       {func(c *Config) { c.Distribution = "normal" }, "distribution"},
		"no keys":            {func(c *Config) { c.Keys = 0 }, "keys"},
		"inverted range":     {func(c *Config) { c.ValueSize = ValueSize{10, 5} }, "value size"},
		"header needs room":  {func(c *Config) { c.MeasureStaleness, c.ValueSize = true, ValueSize{8, 8} }, "version header"},
		"zero concurrency":   {func(c *Config) { c.Concurrency = 0 }, "concurrency"},
		"negative rate":      {func(c *Config) { c.Rate = -1 }, "rate"},
		"unbounded duration": {func(c *Config) { c.Duration = 0 }, "bounded"},
		"too long":           {func(c *Config) { c.Duration = 25 * time.Hour }, "duration"},
		"negative ops":       {func(c *Config) { c.Ops = -1 }, "ops"},
		"negative w":         {func(c *Config) { c.W = -2 }, "w -2"},
		"negative timeout":   {func(c *Config) { c.Timeout = -time.Second }, "timeout"},
		"load timeout":       {func(c *Config) { c.Load, c.LoadTimeout = true, 0 }, "load timeout"},
		"buckets unordered":  {func(c *Config) { c.VisibilityBuckets = []time.Duration{2, 1} }, "buckets"},
		"tiny interval":      {func(c *Config) { c.Interval = time.Millisecond }, "interval"},
	}
	for name, tc := range cases {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}
