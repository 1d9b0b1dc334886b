package hintedhandoff

import (
	"context"
	"time"
)

// limiter is a token bucket of bytes per second with a one-second burst. A
// request larger than the burst waits for the debt it leaves to be paid.
type limiter struct {
	rate   float64 // bytes per second; 0: unlimited
	now    func() time.Time
	tokens float64
	last   time.Time
}

func newLimiter(rate int64, now func() time.Time) *limiter {
	return &limiter{rate: float64(rate), now: now, tokens: float64(rate), last: now()}
}

// wait takes n bytes from the bucket, sleeping until they are available or
// ctx ends.
func (l *limiter) wait(ctx context.Context, n int64) error {
	if l.rate <= 0 {
		return ctx.Err()
	}
	now := l.now()
	l.tokens = min(l.rate, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n)
	if l.tokens >= 0 {
		return ctx.Err()
	}
	delay := time.Duration(-l.tokens / l.rate * float64(time.Second))
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
