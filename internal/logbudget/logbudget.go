// Package logbudget bounds how many lines of one kind a process logs, so a
// flood of the same failure costs a few lines and a count. It owns no
// logger: the caller logs when Allow says so and in the report callback.
package logbudget

import (
	"sync"
	"time"
)

// Budget bounds how many lines of one kind a node logs: at most limit per
// window. Lines beyond the budget are only counted; when the window ends,
// report is called once with how many were suppressed, so a flood costs
// limit lines plus one summary per window however large it is. Safe for
// concurrent use.
type Budget struct {
	limit  int
	window time.Duration
	now    func() time.Time
	report func(suppressed int) // logs the summary line; called without the lock

	mu         sync.Mutex
	start      time.Time // of the current window
	used       int       // lines allowed in the current window
	suppressed int       // lines refused since the last report
	timer      *time.Timer
	stopped    bool
}

// New returns a budget of limit lines per window; report logs the summary
// of suppressed lines. now nil: time.Now.
func New(limit int, window time.Duration, now func() time.Time, report func(int)) *Budget {
	if now == nil {
		now = time.Now
	}
	return &Budget{limit: limit, window: window, now: now, report: report}
}

// Allow reports whether one more line may be logged now. A refused line is
// counted for the summary, which a timer reports at the end of the window
// (or the first call after it, whichever comes first).
func (b *Budget) Allow() bool {
	b.mu.Lock()
	now := b.now()
	var ended int
	if now.Sub(b.start) >= b.window {
		ended = b.takeSuppressedLocked()
		b.start, b.used = now, 0
	}
	ok := b.used < b.limit
	if ok {
		b.used++
	} else {
		b.suppressed++
		if b.timer == nil && !b.stopped {
			b.timer = time.AfterFunc(b.start.Add(b.window).Sub(now), b.flush)
		}
	}
	b.mu.Unlock()
	if ended > 0 {
		b.report(ended)
	}
	return ok
}

// takeSuppressedLocked returns and clears the suppressed count and stops the
// timer that would have reported it. b.mu is held.
func (b *Budget) takeSuppressedLocked() int {
	n := b.suppressed
	b.suppressed = 0
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	return n
}

// flush reports the lines suppressed so far (the timer's end of a window).
func (b *Budget) flush() {
	b.mu.Lock()
	n := b.takeSuppressedLocked()
	b.mu.Unlock()
	if n > 0 {
		b.report(n)
	}
}

// Stop reports what is still suppressed and stops the timer; later refused
// lines are counted but reported only by a later Allow.
func (b *Budget) Stop() {
	b.mu.Lock()
	b.stopped = true
	n := b.takeSuppressedLocked()
	b.mu.Unlock()
	if n > 0 {
		b.report(n)
	}
}
