package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx is the context a request handler gets when the caller sent a
// deadline. It reports the deadline at once but sets up the timer and the
// cancellation link to its parent (context.WithDeadline) only when first
// asked for Done, Err or Value: the hot handlers (replica reads and writes)
// never ask, and a timer per request cost a few percent of a node's CPU.
//
// Until then nothing can observe that the deadline passed or the parent was
// cancelled, and from then on every method answers from the real context,
// so a handler cannot tell it from context.WithDeadline(parent, deadline).
// Contexts derived from it find the real context's cancellation through
// Value, so they link to it without a goroutine of their own.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time

	ctx      atomic.Pointer[context.Context] // the real context once made
	mu       sync.Mutex                      // serialises making it with release
	cancel   context.CancelFunc
	released bool
}

func newDeadlineCtx(parent context.Context, d time.Time) *deadlineCtx {
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	return &deadlineCtx{parent: parent, deadline: d}
}

func (c *deadlineCtx) real() context.Context {
	if p := c.ctx.Load(); p != nil {
		return *p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.ctx.Load(); p != nil {
		return *p
	}
	ctx, cancel := context.WithDeadline(c.parent, c.deadline)
	if c.released {
		cancel() // used after the handler returned: as WithDeadline's would be
	}
	c.cancel = cancel
	c.ctx.Store(&ctx)
	return ctx
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *deadlineCtx) Done() <-chan struct{}       { return c.real().Done() }
func (c *deadlineCtx) Err() error                  { return c.real().Err() }
func (c *deadlineCtx) Value(key any) any           { return c.real().Value(key) }

// release is the cancel of the handler's context: called once the handler
// returned.
func (c *deadlineCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = true
	if c.cancel != nil {
		c.cancel()
	}
}
