package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(1000, func() time.Time { return now })
	ctx := context.Background()
	if err := l.Wait(ctx, 1000); err != nil { // the burst
		t.Fatal(err)
	}
	start := time.Now()
	if err := l.Wait(ctx, 50); err != nil { // 50 bytes of debt at 1000 B/s: 50 ms
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("limiter did not wait: %s", d)
	}
	now = now.Add(10 * time.Second) // refilled, capped at one second's worth
	start = time.Now()
	if err := l.Wait(ctx, 900); err != nil || time.Since(start) > 20*time.Millisecond {
		t.Fatalf("a refilled bucket waited: %v %s", err, time.Since(start))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Wait(cctx, 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	if err := New(0, nil).Wait(ctx, 1<<40); err != nil {
		t.Fatal("an unlimited limiter waited")
	}
}
