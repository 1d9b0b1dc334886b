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

	"github.com/dynkv/dynkv/internal/logbudget"
)

// Server accepts TCP connections and serves each request in its own goroutine.
type Server struct {
	cfg    Config
	h      Handler
	ln     net.Listener
	addr   string
	log    *slog.Logger
	ctx    context.Context // parent of every handler ctx; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // accept loop, reaper, connection goroutines, handlers

	mu      sync.Mutex
	conns   map[*serverConn]struct{}
	closed  bool
	retired retiredTraffic // frames of closed connections, for Stats (guarded by mu, not its own)

	// work hands a request to an idle worker goroutine (unbuffered: the send
	// succeeds only if one is waiting); idle counts the workers waiting.
	work chan request
	idle atomic.Int32

	// refusals bounds the warnings about failed TLS handshakes: a scanner
	// or a misconfigured peer redialling must not flood the log.
	refusals *logbudget.Budget
}

// request is one frame to serve on a connection.
type request struct {
	sc *serverConn
	f  frame
}

// Handler goroutines are kept for reuse rather than started per request: a
// handler's call path (decoding, the store, pebble) is deep, and a new
// goroutine's small stack grew, copied, on every request. At most
// maxIdleWorkers wait for work; one that waits workerIdleTimeout exits.
const (
	maxIdleWorkers    = 256
	workerIdleTimeout = 10 * time.Second
)

// serverConn is one accepted connection.
type serverConn struct {
	s      *Server
	conn   net.Conn
	remote string
	w      *connWriter
	ctx    context.Context // cancelled when the connection or the server closes
	cancel context.CancelFunc
	sem    chan struct{} // one token per request in flight
	frames atomic.Uint64 // requests read, for idle detection
	once   sync.Once

	// Touched only by the reaper goroutine.
	seenFrames uint64
	quietSince time.Time
}

// Listen starts a Server on addr (e.g. "127.0.0.1:0") serving h.
func Listen(addr string, h Handler, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, h: h, ln: ln, addr: ln.Addr().String(),
		ctx: ctx, cancel: cancel, conns: make(map[*serverConn]struct{}),
		work: make(chan request),
	}
	s.log = cfg.logger("server").With("listen", s.addr)
	s.refusals = logbudget.New(5, 10*time.Second, nil, func(n int) {
		s.log.Warn("refused more connections: TLS handshakes failed (not logged one by one)", "count", n)
	})
	s.wg.Go(s.acceptLoop)
	if cfg.IdleTimeout > 0 {
		s.wg.Go(s.reapIdle)
	}
	return s, nil
}

// Addr is the address the server listens on, with the port resolved.
func (s *Server) Addr() string { return s.addr }

// Close stops accepting, closes every connection, cancels handler contexts and returns
// once all handler goroutines have returned: a handler that ignores its ctx delays Close.
// Replies not yet written are dropped; their callers see ErrUnreachable.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	for _, sc := range conns {
		sc.close()
	}
	s.cancel()
	s.wg.Wait()
	s.refusals.Stop()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// numConns is the number of open connections (for tests).
func (s *Server) numConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) acceptLoop() {
	var backoff time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: back off rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if s.cfg.ServerTLS != nil {
			s.wg.Go(func() { s.serveTLS(conn) })
			continue
		}
		s.serve(conn)
	}
}

// serve starts the goroutines of a new connection, unless the server is closing.
func (s *Server) serve(conn net.Conn) {
	ctx, cancel := context.WithCancel(s.ctx)
	sc := &serverConn{
		s: s, conn: conn, remote: conn.RemoteAddr().String(), ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, s.cfg.MaxInFlightPerConn), quietSince: time.Now(),
	}
	sc.w = newConnWriter(conn, s.cfg.WriteTimeout, serverWriteLimit, func(err error) {
		s.log.Debug("write failed, closing connection", "remote", sc.remote, "err", err)
		sc.close()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		cancel()
		conn.Close()
		return
	}
	s.conns[sc] = struct{}{}
	s.wg.Go(sc.readLoop)
	s.wg.Go(sc.w.run)
}

// reapIdle closes connections that carried no request and had none in flight for
// IdleTimeout. Counting frames rather than stamping times keeps the read path free of
// clock reads; a connection is closed between 1 and 1.25 IdleTimeouts after it fell quiet.
func (s *Server) reapIdle() {
	t := time.NewTicker(max(s.cfg.IdleTimeout/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			for _, sc := range s.idleConns(now) {
				s.log.Debug("closing idle connection", "remote", sc.remote)
				sc.close()
			}
		}
	}
}

func (s *Server) idleConns(now time.Time) []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var idle []*serverConn
	for sc := range s.conns {
		if n := sc.frames.Load(); n != sc.seenFrames || len(sc.sem) > 0 {
			sc.seenFrames, sc.quietSince = n, now
		} else if now.Sub(sc.quietSince) >= s.cfg.IdleTimeout {
			idle = append(idle, sc)
		}
	}
	return idle
}

func (sc *serverConn) readLoop() {
	defer sc.close()
	br := bufio.NewReaderSize(sc.conn, readBufSize)
	for {
		f, err := readFrame(br, sc.s.cfg.MaxFrameSize)
		if err == nil && f.kind != kindRequest {
			err = fmt.Errorf("%w: kind %d from a client", ErrBadFrame, f.kind)
		}
		if err != nil {
			sc.logReadError(err)
			return
		}
		sc.frames.Add(1)
		select {
		case sc.sem <- struct{}{}: // at MaxInFlightPerConn, stop reading: TCP pushes back
		case <-sc.ctx.Done():
			return
		}
		sc.s.dispatch(request{sc: sc, f: f})
	}
}

// dispatch hands r to an idle worker or starts a new one. Only connection
// readers call it: each holds a count of s.wg, so the Add for a new worker
// never races Close's Wait.
func (s *Server) dispatch(r request) {
	select {
	case s.work <- r:
	default:
		s.wg.Add(1)
		go s.worker(r)
	}
}

// worker serves r, then waits for more requests until it has been idle for
// workerIdleTimeout, enough workers are idle, or the server closes.
func (s *Server) worker(r request) {
	defer s.wg.Done()
	var timer *time.Timer
	for {
		r.sc.handle(r.f)
		r = request{} // do not pin the frame while idle
		if s.idle.Add(1) > maxIdleWorkers {
			s.idle.Add(-1)
			return
		}
		if timer == nil {
			timer = time.NewTimer(workerIdleTimeout)
			defer timer.Stop()
		} else {
			timer.Reset(workerIdleTimeout)
		}
		select {
		case r = <-s.work:
			s.idle.Add(-1)
		case <-timer.C:
			s.idle.Add(-1)
			return
		case <-s.ctx.Done():
			s.idle.Add(-1)
			return
		}
	}
}

func (sc *serverConn) logReadError(err error) {
	if isProtocolError(err) {
		sc.s.log.Error("closing connection: bad frame", "remote", sc.remote, "err", err)
	} else if sc.ctx.Err() == nil {
		sc.s.log.Debug("connection closed by peer", "remote", sc.remote, "err", err)
	}
}

// handle serves one request and queues its reply.
func (sc *serverConn) handle(f frame) {
	defer func() { <-sc.sem }()
	var resp []byte
	var err error
	if f.timeout > 0 {
		ctx := newDeadlineCtx(sc.ctx, time.Now().Add(f.timeout))
		resp, err = invoke(ctx, sc.s.h, f.method, f.body, sc.s.log)
		ctx.release()
	} else {
		resp, err = invoke(sc.ctx, sc.s.h, f.method, f.body, sc.s.log)
	}
	out := frame{id: f.id, kind: kindResponse, method: f.method, body: resp}
	if err == nil && out.size() > sc.s.cfg.MaxFrameSize {
		sc.s.log.Error("reply too large", "remote", sc.remote, "method", f.method, "bytes", len(resp))
		err = fmt.Errorf("%w: reply of %d bytes exceeds %d", ErrFrameTooLarge, out.size(), sc.s.cfg.MaxFrameSize)
	}
	if err != nil {
		out.kind, out.body = kindError, sc.errorBody(err)
	}
	_ = sc.w.enqueue(&out) // fails only once the connection is closed: the caller sees that
}

// errorBody is err's text, cut to fit a frame.
func (sc *serverConn) errorBody(err error) []byte {
	msg := errorText(err)
	if limit := sc.s.cfg.MaxFrameSize - baseHeaderLen; len(msg) > limit {
		msg = msg[:limit]
	}
	return []byte(msg)
}

// close tears the connection down once: unwritten replies are dropped, handler contexts
// cancelled. The writer closes first so that a handler returning ctx.Err() cannot send that
// as a reply: the caller sees a lost connection, which is what happened.
func (sc *serverConn) close() {
	sc.once.Do(func() {
		sc.w.close(ErrClosed)
		sc.cancel()
		sc.conn.Close()
		sc.s.mu.Lock()
		if _, ok := sc.s.conns[sc]; ok {
			delete(sc.s.conns, sc)
			sc.s.retired.add(sc.w.sentFrames(), sc.frames.Load())
		}
		sc.s.mu.Unlock()
	})
}
