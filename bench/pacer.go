package bench

import (
	"context"
	"sync/atomic"
	"time"
)

// clock is the time source of a run: a monotonic offset from an origin.
// Tests replace it to simulate stalls without waiting for them.
type clock interface {
	now() time.Duration
	// sleepUntil returns at t, or early with ctx's error.
	sleepUntil(ctx context.Context, t time.Duration) error
}

type realClock struct{ origin time.Time }

func newRealClock() realClock { return realClock{origin: time.Now()} }

func (c realClock) now() time.Duration { return time.Since(c.origin) }

func (c realClock) sleepUntil(ctx context.Context, t time.Duration) error {
	d := t - c.now()
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer hands out operations to workers. In the closed loop an operation
// is due as soon as a worker is free; in the open loop operation i is due
// at start + i/rate, whatever happened to the ones before it, so a stall
// leaves a queue of overdue operations whose latency counts from when they
// were due (the correction for coordinated omission that wrk2 makes).
// It is safe for concurrent use.
type pacer struct {
	clk         clock
	rate        float64       // operations per second; 0: closed loop
	start, stop time.Duration // no operation is due at or after stop
	ops         int64         // at most this many operations; 0: no limit
	next        atomic.Int64
}

// take returns the next operation's number and when it is due, or false
// when the run has no more operations to give.
func (p *pacer) take() (n int64, due time.Duration, ok bool) {
	n = p.next.Add(1) - 1
	if p.ops > 0 && n >= p.ops {
		return 0, 0, false
	}
	if p.rate == 0 {
		due = p.clk.now()
	} else {
		due = p.due(n)
	}
	if due >= p.stop {
		return 0, 0, false
	}
	return n, due, true
}

// due is when open-loop operation n is scheduled to start.
func (p *pacer) due(n int64) time.Duration {
	return p.start + time.Duration(float64(n)*float64(time.Second)/p.rate)
}

// scheduled is how many operations the open loop schedules in all.
func (p *pacer) scheduled() int64 {
	n := int64((p.stop - p.start).Seconds() * p.rate)
	for n > 0 && p.due(n-1) >= p.stop {
		n--
	}
	for p.due(n) < p.stop {
		n++
	}
	if p.ops > 0 {
		n = min(n, p.ops)
	}
	return n
}

// latency is what an operation that was due at due, started at started
// and ended at end is charged: from when it was due in the open loop
// (its wait in the queue counts), from its start in the closed loop.
func (p *pacer) latency(due, started, end time.Duration) time.Duration {
	if p.rate > 0 {
		return end - due
	}
	return end - started
}
