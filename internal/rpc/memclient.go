package rpc

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// memClient is a MemNetwork Transport for calls from one address.
type memClient struct {
	net  *MemNetwork
	from string
	done chan struct{} // closed by Close
	once sync.Once
}

// Call implements Transport: the request travels (dropped or delayed by the link rules),
// the handler runs in its own goroutine, and the reply travels back under the rules of the
// reverse link, which are checked when the reply is sent.
func (c *memClient) Call(ctx context.Context, addr string, method uint8, body []byte) ([]byte, error) {
	if size := requestHeaderLen + len(body); size > defaultMaxFrameSize {
		return nil, fmt.Errorf("%w: request of %d bytes to %s exceeds %d", ErrFrameTooLarge, size, addr, defaultMaxFrameSize)
	}
	if c.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(addr, err)
	}
	node, f, err := c.net.route(c.from, addr)
	if err != nil {
		return nil, err
	}
	if err := c.travel(ctx, addr, f); err != nil {
		return nil, err
	}
	res, err := node.start(ctx, method, bytes.Clone(body))
	if err != nil {
		return nil, err
	}
	r, err := c.await(ctx, node, res)
	if err != nil {
		return nil, err
	}
	if f, err = c.net.replyFate(addr, c.from); err != nil {
		return nil, err
	}
	if err := c.travel(ctx, addr, f); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, remoteOrExpired(ctx, addr, &RemoteError{Msg: errorText(r.err)})
	}
	return r.body, nil
}

// await waits for the handler; a node closed meanwhile is a lost connection, as over TCP.
func (c *memClient) await(ctx context.Context, node *memNode, res <-chan memResult) (memResult, error) {
	select {
	case r := <-res:
		if node.ctx.Err() != nil {
			return r, unreachable(node.addr, errNodeClosed)
		}
		return r, nil
	case <-node.ctx.Done():
		return memResult{}, unreachable(node.addr, errNodeClosed)
	case <-ctx.Done():
		return memResult{}, ctxError(node.addr, ctx.Err())
	case <-c.done:
		return memResult{}, ErrClosed
	}
}

// travel carries one message: a dropped one never arrives, so the caller waits for its ctx.
func (c *memClient) travel(ctx context.Context, addr string, f fate) error {
	var timer <-chan time.Time
	switch {
	case f.drop: // timer stays nil: only ctx or Close ends the wait
	case f.delay > 0:
		t := time.NewTimer(f.delay)
		defer t.Stop()
		timer = t.C
	default:
		return nil
	}
	select {
	case <-timer:
		return nil
	case <-ctx.Done():
		return ctxError(addr, ctx.Err())
	case <-c.done:
		return ErrClosed
	}
}

func (c *memClient) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Close fails the client's calls in flight with ErrClosed. Handlers already running finish
// on their nodes.
func (c *memClient) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}
