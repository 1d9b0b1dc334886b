// Package ratelimit is a token bucket of bytes per second for background
// traffic (hint delivery, anti-entropy repair) that must not starve
// foreground requests. It owns nothing else.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Limiter allows rate bytes per second with a one-second burst. A request
// larger than the burst waits for the debt it leaves to be paid. Safe for
// concurrent use.
type Limiter struct {
	rate float64 // bytes per second; 0: unlimited
	now  func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// New returns a limiter of rate bytes/s (0: unlimited); now is the clock
// (nil: time.Now).
func New(rate int64, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: float64(rate), now: now, tokens: float64(rate), last: now()}
}

// Wait takes n bytes from the bucket, sleeping until they are available or
// ctx ends.
func (l *Limiter) Wait(ctx context.Context, n int64) error {
	if l.rate <= 0 {
		return ctx.Err()
	}
	l.mu.Lock()
	now := l.now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	debt := -l.tokens
	l.mu.Unlock()
	if debt <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(debt / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
