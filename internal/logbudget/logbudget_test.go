package logbudget

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestLogBudget: limit lines per window pass, the rest are counted, and the
// count is reported once when the next window starts; Stop reports what is
// left.
func TestLogBudget(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var reports []int
	// A window of an hour of real time: the timer never fires during the
	// test, only the fake clock moves windows along.
	b := New(3, time.Hour, clock.now, func(n int) { reports = append(reports, n) })
	defer b.Stop()
	allowed := 0
	for range 10 {
		if b.Allow() {
			allowed++
		}
	}
	if allowed != 3 || len(reports) != 0 {
		t.Fatalf("first window: %d allowed, reports %v; want 3 and none yet", allowed, reports)
	}
	clock.advance(time.Hour)
	if !b.Allow() {
		t.Fatal("a new window refused its first line")
	}
	if len(reports) != 1 || reports[0] != 7 {
		t.Fatalf("reports %v, want [7]", reports)
	}
	for range 2 {
		b.Allow()
	}
	if b.Allow() {
		t.Fatal("a fourth line in the window was allowed")
	}
	clock.advance(30 * time.Minute) // still the same window
	if b.Allow() {
		t.Fatal("allowed before the window ended")
	}
	b.Stop()
	if len(reports) != 2 || reports[1] != 2 {
		t.Fatalf("reports after Stop %v, want [7 2]", reports)
	}
	clock.advance(2 * time.Hour)
	if !b.Allow() {
		t.Fatal("refused after Stop in a new window")
	}
	if len(reports) != 2 {
		t.Fatalf("nothing was suppressed, yet reported: %v", reports)
	}
}

// TestLogBudgetTimerReports: lines suppressed in a window are reported when
// it ends even if no line follows.
func TestLogBudgetTimerReports(t *testing.T) {
	got := make(chan int, 2)
	b := New(1, 20*time.Millisecond, nil, func(n int) { got <- n })
	defer b.Stop()
	for range 5 {
		b.Allow()
	}
	select {
	case n := <-got:
		if n != 4 {
			t.Fatalf("reported %d suppressed, want 4", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no summary reported after the window ended")
	}
}
