package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/dynkv/dynkv/client"
)

// fakeClock moves only when told to: by an operation's simulated service
// time, or by a sleep, which returns at once with the clock at its end.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Duration             { return time.Duration(c.t.Load()) }
func (c *fakeClock) advance(d time.Duration)        { c.t.Add(int64(d)) }
func (c *fakeClock) set(d time.Duration) *fakeClock { c.t.Store(int64(d)); return c }

func (c *fakeClock) sleepUntil(ctx context.Context, t time.Duration) error {
	for {
		cur := c.t.Load()
		if int64(t) <= cur || c.t.CompareAndSwap(cur, int64(t)) {
			return ctx.Err()
		}
	}
}

// stallKV serves every operation in service time on the fake clock, except
// operation number stallAt, which takes stall.
type stallKV struct {
	clk            *fakeClock
	n              atomic.Int64
	stallAt        int64
	service, stall time.Duration
}

func (s *stallKV) serve() {
	if s.n.Add(1)-1 == s.stallAt {
		s.clk.advance(s.stall)
	} else {
		s.clk.advance(s.service)
	}
}

func (s *stallKV) Get(_ context.Context, key string, _ ...client.Option) (*client.Object, error) {
	s.serve()
	return &client.Object{Key: key, Siblings: []client.Sibling{{Value: []byte("v")}}}, nil
}

func (s *stallKV) Put(context.Context, string, []byte, ...client.Option) (*client.WriteResult, error) {
	s.serve()
	return &client.WriteResult{}, nil
}

func TestOpenLoopScheduleMath(t *testing.T) {
	p := &pacer{rate: 1000, start: 5 * time.Second, stop: 6 * time.Second}
	for n, want := range map[int64]time.Duration{0: 5 * time.Second, 1: 5001 * time.Millisecond, 999: 5999 * time.Millisecond} {
		if got := p.due(n); got != want {
			t.Errorf("due(%d) = %v, want %v", n, got, want)
		}
	}
	if got := p.scheduled(); got != 1000 {
		t.Errorf("1000 ops/s for 1s schedules %d, want 1000", got)
	}
	p3 := &pacer{rate: 3, start: 0, stop: time.Second}
	if got := p3.scheduled(); got != 3 { // due at 0, 1/3 s, 2/3 s
		t.Errorf("3 ops/s for 1s schedules %d, want 3", got)
	}
	p.ops = 10
	if got := p.scheduled(); got != 10 {
		t.Errorf("--ops 10 schedules %d, want 10", got)
	}
	p.clk = new(fakeClock).set(5 * time.Second)
	for i := range int64(10) {
		n, due, ok := p.take()
		if !ok || n != i || due != p.due(i) {
			t.Fatalf("take %d = %d, %v, %v", i, n, due, ok)
		}
	}
	if _, _, ok := p.take(); ok {
		t.Fatal("the pacer handed out an 11th op with --ops 10")
	}
	p.ops = 0
	if _, _, ok := (&pacer{rate: 1, stop: time.Second, clk: p.clk}).take(); !ok {
		t.Fatal("op 0 due at the start was refused")
	}
	late := &pacer{rate: 1, start: 0, stop: time.Second}
	late.next.Store(1)
	if _, _, ok := late.take(); ok {
		t.Fatal("op 1 due at the stop time was handed out")
	}
}

func TestPacerLatencyFromDueTime(t *testing.T) {
	open := &pacer{rate: 100}
	closed := &pacer{}
	due, started, end := 10*time.Millisecond, 30*time.Millisecond, 31*time.Millisecond
	if got := open.latency(due, started, end); got != 21*time.Millisecond {
		t.Errorf("open loop charged %v, want 21ms (from the scheduled start)", got)
	}
	if got := closed.latency(due, started, end); got != time.Millisecond {
		t.Errorf("closed loop charged %v, want 1ms (the service time)", got)
	}
}

// countAtLeast is how many recorded values are at least d.
func countAtLeast(h *hdr.Histogram, d time.Duration) int64 {
	var n int64
	for _, b := range h.Distribution() {
		if b.From >= d.Microseconds() {
			n += b.Count
		}
	}
	return n
}

// runSimulated runs 200 operations with one worker against a system that
// serves each in 10µs except the 51st, which stalls for 100ms.
func runSimulated(t *testing.T, rate float64) *recorder {
	t.Helper()
	clk := new(fakeClock)
	kv := &stallKV{clk: clk, stallAt: 50, service: 10 * time.Microsecond, stall: 100 * time.Millisecond}
	cfg := DefaultConfig()
	cfg.Workload, cfg.Keys, cfg.Concurrency, cfg.Rate, cfg.Ops = "c", 10, 1, rate, 200
	cfg.Duration = 10 * time.Second
	b, err := New(cfg, kv)
	if err != nil {
		t.Fatal(err)
	}
	b.clk = clk
	rec, _, _ := b.runPhase(t.Context())
	if got := rec.all.TotalCount(); got != 200 {
		t.Fatalf("%d operations recorded, want 200", got)
	}
	return rec
}

func TestCoordinatedOmissionCorrection(t *testing.T) {
	// Open loop at 1000/s: ops 51..100 were due while op 50 stalled, and
	// are charged their wait: 100ms down to 50ms.
	open := runSimulated(t, 1000)
	if n := countAtLeast(open.all, 50*time.Millisecond); n < 48 || n > 53 {
		t.Errorf("open loop: %d ops at 50ms or more, want about 51 (the stalled one and those queued behind it)", n)
	}
	if p99 := open.all.ValueAtQuantile(99); p99 < 95_000 {
		t.Errorf("open loop p99 = %dµs, want about 100ms", p99)
	}
	if lag := open.lag.Max(); lag < 99_000 {
		t.Errorf("open loop max start lag = %dµs, want about 100ms", lag)
	}
	// The closed loop measures service time only: the stall is one sample,
	// and the operations it delayed are never issued (coordinated omission).
	closed := runSimulated(t, 0)
	if n := countAtLeast(closed.all, 50*time.Millisecond); n != 1 {
		t.Errorf("closed loop: %d ops at 50ms or more, want 1", n)
	}
	if p99 := closed.all.ValueAtQuantile(99); p99 > 1000 {
		t.Errorf("closed loop p99 = %dµs, want the 10µs service time", p99)
	}
}
