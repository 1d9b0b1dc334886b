package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Client is the TCP Transport: per peer address a pool of ConnsPerPeer lazily dialed,
// pipelined connections used round-robin. A dead connection is dropped and redialed on
// the next call. Safe for concurrent use.
type Client struct {
	cfg         Config
	log         *slog.Logger
	dialer      net.Dialer
	retireAfter time.Duration   // client-side idle retirement, 0 = never
	ctx         context.Context // cancelled by Close: aborts dials in progress
	cancel      context.CancelFunc
	wg          sync.WaitGroup // dials, readers, writers
	closed      atomic.Bool
	retired     retiredTraffic // frames of closed connections, for Stats

	peers atomic.Pointer[map[string]*peer] // copy on write: the per-call lookup takes no lock
	mu    sync.Mutex                       // serialises peer creation with Close
}

var _ Transport = (*Client)(nil)

type peer struct {
	next  atomic.Uint32
	slots []slot
}

// slot holds one connection of a peer's pool and the dial that replaces it.
type slot struct {
	conn    atomic.Pointer[clientConn]
	mu      sync.Mutex
	dialing *dialAttempt // shared by the callers waiting for it
}

type dialAttempt struct {
	done chan struct{} // closed when cc or err is set
	cc   *clientConn
	err  error
}

// maxAttempts: a call that finds its connection dead before sending anything is retried
// once on a fresh one. A call that may have been sent is never retried.
const maxAttempts = 2

// NewClient returns a Client. It panics if cfg.Validate fails: the config is fixed at
// startup, so call Validate first to report it as an error.
func NewClient(cfg Config) *Client {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, log: cfg.logger("client"), ctx: ctx, cancel: cancel}
	c.dialer.Timeout = cfg.DialTimeout
	if cfg.IdleTimeout > 0 {
		c.retireAfter = cfg.IdleTimeout / 2
	}
	empty := map[string]*peer{}
	c.peers.Store(&empty)
	return c
}

// Call implements Transport.
func (c *Client) Call(ctx context.Context, addr string, method uint8, body []byte) ([]byte, error) {
	f := frame{kind: kindRequest, method: method, body: body}
	if f.size() > c.cfg.MaxFrameSize {
		return nil, fmt.Errorf("%w: request of %d bytes to %s exceeds %d", ErrFrameTooLarge, f.size(), addr, c.cfg.MaxFrameSize)
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(addr, err)
	}
	now := time.Now()
	if dl, ok := ctx.Deadline(); ok {
		f.timeout = max(dl.Sub(now), 1) // just expired: 1ns, not "no deadline"
	}
	for attempt := 1; ; attempt++ {
		cc, err := c.conn(ctx, addr, monoTime(now))
		if err != nil {
			return nil, err
		}
		resp, sent, err := cc.roundTrip(ctx, &f, monoTime(now))
		if sent || attempt == maxAttempts {
			return resp, err
		}
	}
}

// conn returns a live connection to addr, round-robin over the peer's pool.
func (c *Client) conn(ctx context.Context, addr string, now int64) (*clientConn, error) {
	p, err := c.peer(addr)
	if err != nil {
		return nil, err
	}
	s := p.pick()
	if cc := s.conn.Load(); cc != nil && !cc.dead.Load() && !cc.idle(now, c.retireAfter) {
		return cc, nil
	}
	return c.slowConn(ctx, addr, s, now)
}

func (p *peer) pick() *slot {
	i := p.next.Add(1)
	return &p.slots[i%uint32(len(p.slots))]
}

func (c *Client) peer(addr string) (*peer, error) {
	if p := (*c.peers.Load())[addr]; p != nil {
		return p, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, ErrClosed
	}
	old := *c.peers.Load()
	if p := old[addr]; p != nil {
		return p, nil
	}
	m := make(map[string]*peer, len(old)+1)
	maps.Copy(m, old)
	p := &peer{slots: make([]slot, c.cfg.ConnsPerPeer)}
	m[addr] = p
	c.peers.Store(&m)
	return p, nil
}

// slowConn returns s's connection after retiring it if idle, or dials a new one.
// Concurrent callers share one dial; each stops waiting when its own ctx ends.
func (c *Client) slowConn(ctx context.Context, addr string, s *slot, now int64) (*clientConn, error) {
	s.mu.Lock()
	if c.closed.Load() {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if cc := s.conn.Load(); cc != nil && !cc.dead.Load() && !cc.retireIfIdle(now, c.retireAfter) {
		s.mu.Unlock()
		return cc, nil
	}
	d := s.dialing
	if d == nil {
		d = &dialAttempt{done: make(chan struct{})}
		s.dialing = d
		c.wg.Go(func() { c.dial(addr, s, d) })
	}
	s.mu.Unlock()
	select {
	case <-d.done:
		return d.cc, d.err
	case <-ctx.Done():
		return nil, ctxError(addr, ctx.Err())
	}
}

// dial runs one attempt for s, bounded by DialTimeout and Close.
func (c *Client) dial(addr string, s *slot, d *dialAttempt) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	conn, err := c.dialer.DialContext(ctx, "tcp", addr)
	cancel()
	if err == nil && c.cfg.ClientTLS != nil {
		conn, err = c.clientHandshake(c.ctx, addr, conn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case c.closed.Load(): // checked under s.mu, so Close cannot miss the new connection
		if conn != nil {
			conn.Close()
		}
		d.err = ErrClosed
	case err != nil:
		d.err = unreachable(addr, err)
	default:
		d.cc = newClientConn(addr, conn, s, &c.cfg, c.log, &c.retired)
		d.cc.start(&c.wg)
		s.conn.Store(d.cc)
	}
	s.dialing = nil
	close(d.done)
}

// Close fails calls in flight with ErrClosed, closes every connection and returns once
// the client's goroutines have exited. Calls after Close return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed.Swap(true) {
		c.mu.Unlock()
		return nil
	}
	peers := *c.peers.Load()
	c.mu.Unlock()
	c.cancel()
	for _, p := range peers {
		for i := range p.slots {
			s := &p.slots[i]
			s.mu.Lock()
			cc := s.conn.Load()
			s.mu.Unlock()
			if cc != nil {
				cc.fail(ErrClosed)
			}
		}
	}
	c.wg.Wait()
	return nil
}
