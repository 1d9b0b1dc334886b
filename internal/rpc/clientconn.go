package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errRetired closes a connection the client retired for idleness; no call ever sees it.
var errRetired = errors.New("rpc: idle connection retired")

// clientConn is one pipelined connection to a peer: a reader goroutine matches replies to
// pending calls by id, a connWriter sends requests.
type clientConn struct {
	addr     string
	conn     net.Conn
	w        *connWriter
	slot     *slot // cleared when the connection dies, so the next call redials
	max      int
	log      *slog.Logger
	lastUsed atomic.Int64 // monoTime of the last call, for idle retirement
	dead     atomic.Bool  // set with err; lets the fast path skip the lock
	received frameCounter // replies read
	retired  *retiredTraffic

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call
	err     error // why the connection is dead; no new calls once set
}

// call is a pending request. It is pooled: once a call is out of the pending map exactly
// one send on done follows, and the owner receives it before reusing the call.
type call struct {
	done chan struct{} // cap 1
	body []byte
	err  error
}

var callPool = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

func putCall(cl *call) {
	cl.body, cl.err = nil, nil
	callPool.Put(cl)
}

// clockBase anchors monoTime so that idle checks use the monotonic clock.
var clockBase = time.Now()

func monoTime(t time.Time) int64 { return int64(t.Sub(clockBase)) }

func newClientConn(addr string, conn net.Conn, s *slot, cfg *Config, log *slog.Logger, retired *retiredTraffic) *clientConn {
	cc := &clientConn{
		retired: retired,
		addr:    addr,
		conn:    conn,
		slot:    s,
		max:     cfg.MaxFrameSize,
		log:     log,
		pending: make(map[uint64]*call),
	}
	cc.w = newConnWriter(conn, cfg.WriteTimeout, 0, func(err error) {
		cc.fail(unreachable(addr, err))
	})
	cc.lastUsed.Store(monoTime(time.Now()))
	return cc
}

func (cc *clientConn) start(wg *sync.WaitGroup) {
	wg.Go(cc.readLoop)
	wg.Go(cc.w.run)
}

func (cc *clientConn) readLoop() {
	br := bufio.NewReaderSize(cc.conn, readBufSize)
	for {
		f, err := readFrame(br, cc.max)
		if err == nil && f.kind == kindRequest {
			err = fmt.Errorf("%w: request frame from a server", ErrBadFrame)
		}
		if err != nil {
			if isProtocolError(err) {
				cc.log.Error("closing connection: bad frame from server", "addr", cc.addr, "err", err)
			}
			cc.fail(unreachable(cc.addr, err))
			return
		}
		cc.received.Add(1)
		cc.deliver(&f)
	}
}

// deliver hands a reply to its call; a reply whose call gave up is dropped.
func (cc *clientConn) deliver(f *frame) {
	cc.mu.Lock()
	cl := cc.pending[f.id]
	delete(cc.pending, f.id)
	cc.mu.Unlock()
	if cl == nil {
		return
	}
	if f.kind == kindError {
		cl.err = &RemoteError{Msg: string(f.body)}
	} else {
		cl.body = f.body
	}
	cl.done <- struct{}{}
}

// roundTrip sends f and waits for its reply. sent is false when nothing was written, so
// the caller may retry on another connection.
func (cc *clientConn) roundTrip(ctx context.Context, f *frame, now int64) (resp []byte, sent bool, err error) {
	cl := callPool.Get().(*call)
	if f.id, err = cc.register(cl); err != nil {
		putCall(cl)
		return nil, false, err
	}
	if now-cc.lastUsed.Load() > int64(time.Millisecond) { // spare the shared line most stores
		cc.lastUsed.Store(now)
	}
	if err := cc.w.enqueue(f); err != nil {
		cc.abandon(f.id, cl)
		return nil, false, err
	}
	select {
	case <-cl.done:
		resp, err = cl.body, cl.err
		putCall(cl)
		if err != nil {
			err = remoteOrExpired(ctx, cc.addr, err)
		}
		return resp, true, err
	case <-ctx.Done():
		cc.abandon(f.id, cl)
		return nil, true, ctxError(cc.addr, ctx.Err())
	}
}

// abandon takes cl back from the pending map, or waits for the send already on its way
// (a reply, which is dropped, or a failure), so that cl can be reused.
func (cc *clientConn) abandon(id uint64, cl *call) {
	if !cc.unregister(id) {
		<-cl.done
	}
	putCall(cl)
}

// register adds cl to the pending map and returns its id, or the reason the connection
// is dead (then nothing was sent and the call may be retried elsewhere).
func (cc *clientConn) register(cl *call) (uint64, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.err != nil {
		return 0, cc.err
	}
	cc.nextID++
	cc.pending[cc.nextID] = cl
	return cc.nextID, nil
}

// unregister removes a call that gives up. False means a reply or failure already took it
// and is sending on its done channel.
func (cc *clientConn) unregister(id uint64) bool {
	cc.mu.Lock()
	_, ok := cc.pending[id]
	delete(cc.pending, id)
	cc.mu.Unlock()
	return ok
}

// fail kills the connection once: pending calls get err, the slot is cleared.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	pending := cc.markDead(err)
	cc.mu.Unlock()
	for _, cl := range pending {
		cl.err = err
		cl.done <- struct{}{}
	}
	cc.shutdown(err, len(pending))
}

// markDead stops new calls and takes the pending ones. cc.mu is held.
func (cc *clientConn) markDead(err error) map[uint64]*call {
	cc.err = err
	cc.dead.Store(true)
	pending := cc.pending
	cc.pending = nil
	return pending
}

func (cc *clientConn) shutdown(err error, pending int) {
	cc.w.close(err)
	cc.conn.Close()
	cc.retired.mu.Lock()
	if cc.slot.conn.CompareAndSwap(cc, nil) {
		cc.retired.add(cc.w.sentFrames(), cc.received.Load())
	}
	cc.retired.mu.Unlock()
	cc.log.Debug("connection closed", "addr", cc.addr, "pending", pending, "err", err)
}

// idle reports whether no call used the connection for longer than after (0 = never).
func (cc *clientConn) idle(now int64, after time.Duration) bool {
	return after > 0 && now-cc.lastUsed.Load() > int64(after)
}

// retireIfIdle closes the connection if it is idle and nothing is pending, so that a new
// call never races the server's idle close. A caller that picked the connection just
// before finds it dead at register and retries on a fresh one.
func (cc *clientConn) retireIfIdle(now int64, after time.Duration) bool {
	if !cc.idle(now, after) {
		return false
	}
	cc.mu.Lock()
	if cc.err != nil || len(cc.pending) > 0 {
		dead := cc.err != nil
		cc.mu.Unlock()
		return dead
	}
	cc.markDead(errRetired)
	cc.mu.Unlock()
	cc.shutdown(errRetired, 0)
	return true
}
