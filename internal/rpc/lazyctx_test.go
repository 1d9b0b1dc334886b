package rpc

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeadlineCtxLazy(t *testing.T) {
	d := time.Now().Add(time.Hour)
	c := newDeadlineCtx(context.Background(), d)
	if got, ok := c.Deadline(); !ok || !got.Equal(d) {
		t.Fatalf("Deadline() = %v, %v; want %v, true", got, ok, d)
	}
	if c.ctx.Load() != nil {
		t.Fatal("Deadline made the real context")
	}
	c.release()
	if c.ctx.Load() != nil {
		t.Fatal("release made the real context")
	}
	// Used after the handler returned (a leaked goroutine): cancelled, as a
	// released context.WithDeadline would be.
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after release")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err after release = %v; want Canceled", c.Err())
	}
}

func TestDeadlineCtxExpires(t *testing.T) {
	c := newDeadlineCtx(context.Background(), time.Now().Add(20*time.Millisecond))
	defer c.release()
	child, cancel := context.WithCancel(c)
	defer cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("derived context not done after the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, child %v; want DeadlineExceeded", c.Err(), child.Err())
	}
}

func TestDeadlineCtxParent(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	c := newDeadlineCtx(parent, time.Now().Add(time.Hour))
	defer c.release()
	if c.Value(key{}) != "v" {
		t.Fatal("Value does not reach the parent")
	}
	cancel()
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not done after the parent was cancelled")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err = %v; want Canceled", c.Err())
	}
	// The parent's earlier deadline wins, as with context.WithDeadline.
	early := time.Now().Add(time.Minute)
	pd, cancel2 := context.WithDeadline(context.Background(), early)
	defer cancel2()
	if got, _ := newDeadlineCtx(pd, early.Add(time.Hour)).Deadline(); !got.Equal(early) {
		t.Fatalf("Deadline = %v; want the parent's %v", got, early)
	}
}
