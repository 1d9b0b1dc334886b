package simnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dynkv/dynkv/internal/rpc"
)

// Mirrors of internal/rpc's unexported frame limits (frame.go, config.go), so
// that a body too large for TCP is too large here.
const (
	requestHeaderLen = 18       // id, kind, method, timeout
	maxFrameSize     = 64 << 20 // rpc's default Config.MaxFrameSize
)

// Causes wrapped in rpc.ErrUnreachable.
var (
	errNotListening = errors.New("simnet: connection refused (not listening)")
	errNodeClosed   = errors.New("simnet: connection lost (node closed)")
	errNetClosed    = errors.New("simnet: network closed")
)

// RPCNetwork is the RPC face of a Net; it satisfies node.RPCNetwork. Its
// requests and replies obey the RPC layer's faults.
type RPCNetwork struct{ n *Net }

// RPC returns the RPC face of n.
func (n *Net) RPC() RPCNetwork { return RPCNetwork{n: n} }

// Listen serves h at addr (use an address AddNode returned, so that faults
// keyed by the node's name apply) until the returned Closer is closed. Closing
// takes addr down, fails calls whose request reached it and are not answered
// yet with rpc.ErrUnreachable (the connection is lost), cancels handler
// contexts and waits for the handlers to return. It fails if addr is already
// listening.
func (r RPCNetwork) Listen(addr string, h rpc.Handler) (io.Closer, error) {
	n := r.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners[addr] != nil {
		return nil, fmt.Errorf("simnet: listen %s: address already in use", addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{n: n, addr: addr, name: n.nameOfLocked(addr), h: h, ctx: ctx, cancel: cancel, calls: make(map[*call]int)}
	n.listeners[addr] = l
	return l, nil
}

// Client returns an rpc.Transport whose calls come from the node with address
// (or name) from.
func (r RPCNetwork) Client(from string) rpc.Transport {
	return &client{n: r.n, from: r.n.nameOf(from), done: make(chan struct{})}
}

// reply is what ends a call: a body, a handler error, or a transport error.
type reply struct {
	body   []byte
	remote bool   // the handler failed with text msg
	msg    string // handler error text
	err    error  // transport error, returned as is
}

// call is one Call waiting for its first reply; later ones (duplicates, a
// reply racing a lost connection) are discarded.
type call struct{ done chan reply }

func (c *call) finish(r reply) {
	select {
	case c.done <- r:
	default:
	}
}

// client is the Transport of RPCNetwork.Client.
type client struct {
	n    *Net
	from string
	done chan struct{} // closed by Close
	once sync.Once
}

var _ rpc.Transport = (*client)(nil)

// Call implements rpc.Transport. A call to an address nobody listens on fails
// at once with rpc.ErrUnreachable, unless the link is blocked or an end is
// paused (then nothing answers and the caller waits, as behind a real
// partition). A lost request or reply is silent: the call ends with its ctx.
func (c *client) Call(ctx context.Context, addr string, method uint8, body []byte) ([]byte, error) {
	if size := requestHeaderLen + len(body); size > maxFrameSize {
		return nil, fmt.Errorf("%w: request of %d bytes to %s exceeds %d", rpc.ErrFrameTooLarge, size, addr, maxFrameSize)
	}
	if c.isClosed() {
		return nil, rpc.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(addr, err)
	}
	n, from := c.n, c.from
	to := n.nameOf(addr)
	cl := &call{done: make(chan reply, 1)}
	if err := n.startCall(cl, addr, from, to); err != nil {
		return nil, err
	}
	defer n.endCall(cl)
	var remaining time.Duration // sent with the request, as the TCP frame does
	if dl, ok := ctx.Deadline(); ok {
		remaining = max(time.Until(dl), 1)
	}
	req := bytes.Clone(body)
	n.send(&msg{
		layer: rpcIdx, kind: "request", from: from, to: to,
		deliver: func() bool { return n.serve(addr, cl, from, remaining, method, req) },
	})
	select {
	case r := <-cl.done:
		switch {
		case r.err != nil:
			return nil, r.err
		case r.remote:
			return nil, remoteOrExpired(ctx, addr, &rpc.RemoteError{Msg: r.msg})
		}
		return r.body, nil
	case <-ctx.Done():
		return nil, ctxError(addr, ctx.Err())
	case <-c.done:
		return nil, rpc.ErrClosed
	}
}

func (c *client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Close fails the client's calls in flight with rpc.ErrClosed; later calls
// fail likewise. Handlers already running finish on their nodes.
func (c *client) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// startCall registers cl for Close, or fails fast when addr refuses.
func (n *Net) startCall(cl *call, addr, from, to string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return unreachable(addr, errNetClosed)
	}
	silent := n.rules[rpcIdx].blocks(from, to) || n.paused[from] || n.paused[to]
	if n.listeners[addr] == nil && !silent {
		n.stats[rpcIdx].Sent++
		n.stats[rpcIdx].Undeliverable++
		return unreachable(addr, errNotListening)
	}
	n.calls[cl] = addr
	return nil
}

func (n *Net) endCall(cl *call) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.calls, cl)
}

// serve is a request's arrival: it starts the handler at addr, or fails the
// call when nobody listens there any more (a reset connection).
func (n *Net) serve(addr string, cl *call, from string, remaining time.Duration, method uint8, req []byte) bool {
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		cl.finish(reply{err: unreachable(addr, errNotListening)})
		return false
	}
	return l.start(cl, from, remaining, method, req)
}

// listener is a handler listening at an address.
type listener struct {
	n      *Net
	addr   string
	name   string
	h      rpc.Handler
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	calls  map[*call]int // calls being served here, with their number of copies
}

// start runs the handler in its own goroutine, as the TCP server does, with
// the caller's remaining time as its deadline (counted from arrival) but not
// the caller's cancellation, and a copy of the body.
func (l *listener) start(cl *call, from string, remaining time.Duration, method uint8, req []byte) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		cl.finish(reply{err: unreachable(l.addr, errNodeClosed)})
		return false
	}
	l.calls[cl]++
	l.wg.Add(1)
	l.mu.Unlock()
	body := bytes.Clone(req)
	go func() {
		defer l.wg.Done()
		ctx, cancel := l.ctx, context.CancelFunc(func() {})
		if remaining > 0 {
			ctx, cancel = context.WithTimeout(l.ctx, remaining)
		}
		resp, err := invoke(ctx, l.h, method, body)
		cancel()
		if !l.done(cl) {
			return // Close failed the call already
		}
		rep := reply{body: bytes.Clone(resp)}
		if err != nil {
			rep = reply{remote: true, msg: errorText(err)}
		}
		l.n.send(&msg{
			layer: rpcIdx, kind: "reply", from: l.name, to: from,
			deliver: func() bool { cl.finish(rep); return true },
		})
	}()
	return true
}

// done unregisters one served copy of cl and reports whether the listener is
// still open.
func (l *listener) done(cl *call) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.calls[cl]--; l.calls[cl] <= 0 {
		delete(l.calls, cl)
	}
	return true
}

// Close implements io.Closer; see RPCNetwork.Listen.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	calls := l.calls
	l.calls = nil
	l.mu.Unlock()
	l.n.mu.Lock()
	if l.n.listeners[l.addr] == l {
		delete(l.n.listeners, l.addr)
	}
	l.n.mu.Unlock()
	for cl := range calls {
		cl.finish(reply{err: unreachable(l.addr, errNodeClosed)})
	}
	l.cancel()
	l.wg.Wait()
	return nil
}

// The helpers below reproduce internal/rpc's unexported error shapes
// (rpc.go), so that callers see the same errors as over TCP.

// unreachable wraps cause so that errors.Is matches both rpc.ErrUnreachable
// and the cause.
func unreachable(addr string, cause error) error {
	return fmt.Errorf("%w: %s: %w", rpc.ErrUnreachable, addr, cause)
}

// ctxError reports why a call ended early; errors.Is(err, ctx.Err()) holds.
func ctxError(addr string, err error) error {
	return fmt.Errorf("rpc: call %s: %w", addr, err)
}

// remoteOrExpired: a caller whose deadline has passed sees
// context.DeadlineExceeded even if the handler's error reply won the race; the
// handler's error stays reachable with errors.As.
func remoteOrExpired(ctx context.Context, addr string, err *rpc.RemoteError) error {
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded
	}
	if cerr == nil {
		return err
	}
	return fmt.Errorf("rpc: call %s: %w (handler: %w)", addr, cerr, err)
}

// errorText is what travels in an error reply: a forwarded RemoteError keeps
// its message.
func errorText(err error) string {
	if re, ok := err.(*rpc.RemoteError); ok {
		return re.Msg
	}
	return err.Error()
}

// invoke runs h, turning a panic into an error as the rpc server does.
func invoke(ctx context.Context, h rpc.Handler, method uint8, body []byte) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("rpc: handler panic: %v", r)
		}
	}()
	return h.ServeRPC(ctx, method, body)
}
