package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	s := startServer(t, echo, Config{})
	c := newTestClient(t, Config{})
	mustCall(t, c, s.Addr(), 42, []byte("hello"), []byte("\x2ahello"))
	mustCall(t, c, s.Addr(), 0, nil, []byte{0})
	big := bytes.Repeat([]byte("x"), 1<<20)
	mustCall(t, c, s.Addr(), 1, big, append([]byte{1}, big...))
}

// Many calls in flight on one connection, replies in a different order than requests:
// every caller must get its own reply.
func TestPipelinedOutOfOrder(t *testing.T) {
	var arrived, completed, active, peak atomic.Int64
	var reordered atomic.Bool
	h := HandlerFunc(func(_ context.Context, _ uint8, body []byte) ([]byte, error) {
		a := arrived.Add(1)
		n := active.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
		active.Add(-1)
		if completed.Add(1) != a {
			reordered.Store(true)
		}
		return append(body, "/ok"...), nil
	})
	s := startServer(t, h, Config{})
	c := newTestClient(t, Config{ConnsPerPeer: 1})

	const calls = 500
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			body := fmt.Appendf(nil, "call-%d", i)
			got, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, body)
			if err == nil && string(got) != string(body)+"/ok" {
				err = fmt.Errorf("call %d got reply %q", i, got)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.numConns(); n != 1 {
		t.Errorf("server has %d connections, want 1", n)
	}
	if peak.Load() < 2 || !reordered.Load() {
		t.Errorf("not pipelined: peak concurrency %d, reordered %v", peak.Load(), reordered.Load())
	}
}

func TestDeadlinePropagation(t *testing.T) {
	type seen struct {
		dl time.Time
		ok bool
	}
	got := make(chan seen, 1)
	h := HandlerFunc(func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
		dl, ok := ctx.Deadline()
		got <- seen{dl, ok}
		return nil, nil
	})
	s := startServer(t, h, Config{})
	c := newTestClient(t, Config{})

	ctx := timeoutCtx(t, 2*time.Second)
	want, _ := ctx.Deadline()
	if _, err := c.Call(ctx, s.Addr(), 1, nil); err != nil {
		t.Fatal(err)
	}
	g := <-got
	// The server's deadline is the caller's plus the one-way latency.
	if diff := g.dl.Sub(want); !g.ok || diff < 0 || diff > 200*time.Millisecond {
		t.Fatalf("handler deadline %v (set %v), caller's %v: off by %v", g.dl, g.ok, want, diff)
	}

	if _, err := c.Call(context.Background(), s.Addr(), 1, nil); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g.ok {
		t.Fatalf("handler has deadline %v for a call without one", g.dl)
	}
}

func TestCallerDeadlineAndCancel(t *testing.T) {
	handlerDone := make(chan error, 2)
	h := HandlerFunc(func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
		<-ctx.Done()
		handlerDone <- ctx.Err()
		return nil, ctx.Err()
	})
	s := startServer(t, h, Config{})
	c := newTestClient(t, Config{})

	within(t, time.Second, "call with 50ms deadline", func() {
		_, err := c.Call(timeoutCtx(t, 50*time.Millisecond), s.Addr(), 1, nil)
		wantErr(t, err, context.DeadlineExceeded)
	})
	// The handler's ctx expires too, because the deadline travelled with the request.
	select {
	case err := <-handlerDone:
		wantErr(t, err, context.DeadlineExceeded)
	case <-time.After(testTimeout):
		t.Fatal("handler ctx never expired")
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	within(t, time.Second, "cancelled call", func() {
		_, err := c.Call(ctx, s.Addr(), 1, nil)
		wantErr(t, err, context.Canceled)
	})

	_, err := c.Call(ctx, s.Addr(), 1, nil)
	wantErr(t, err, context.Canceled) // already cancelled: nothing is sent
}

// A reply arriving after its caller gave up is dropped, and the connection goes on serving.
func TestLateReplyDropped(t *testing.T) {
	h := HandlerFunc(func(_ context.Context, method uint8, _ []byte) ([]byte, error) {
		if method == 1 {
			time.Sleep(100 * time.Millisecond)
			return []byte("late"), nil
		}
		return []byte("fresh"), nil
	})
	s := startServer(t, h, Config{})
	c := newTestClient(t, Config{ConnsPerPeer: 1})
	_, err := c.Call(timeoutCtx(t, 20*time.Millisecond), s.Addr(), 1, nil)
	wantErr(t, err, context.DeadlineExceeded)
	time.Sleep(150 * time.Millisecond) // the late reply arrives meanwhile
	mustCall(t, c, s.Addr(), 2, nil, []byte("fresh"))
	if n := s.numConns(); n != 1 {
		t.Fatalf("server has %d connections, want the original 1", n)
	}
}

// Calls that time out just as their reply arrives must not leave that reply to be picked up
// by a later call (calls are pooled).
func TestTimeoutRaceKeepsRepliesApart(t *testing.T) {
	h := HandlerFunc(func(_ context.Context, _ uint8, body []byte) ([]byte, error) {
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		return body, nil
	})
	s := startServer(t, h, Config{})
	c := newTestClient(t, Config{ConnsPerPeer: 1})
	var wg sync.WaitGroup
	var timedOut, ok atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				body := fmt.Appendf(nil, "%d-%d", g, i)
				d := time.Duration(rand.IntN(1500)) * time.Microsecond
				ctx, cancel := context.WithTimeout(context.Background(), d)
				got, err := c.Call(ctx, s.Addr(), 1, body)
				cancel()
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					timedOut.Add(1)
				case err != nil:
					t.Error(err)
				case !bytes.Equal(got, body):
					t.Errorf("call %s got reply %q", body, got)
				default:
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if timedOut.Load() == 0 || ok.Load() == 0 {
		t.Fatalf("no race exercised: %d ok, %d timed out", ok.Load(), timedOut.Load())
	}
}

func TestUnreachable(t *testing.T) {
	c := newTestClient(t, Config{})

	t.Run("nothing listening", func(t *testing.T) {
		within(t, 500*time.Millisecond, "call to a closed port", func() {
			_, err := c.Call(timeoutCtx(t, testTimeout), freeAddr(t), 1, nil)
			wantErr(t, err, ErrUnreachable)
		})
	})

	t.Run("server closed", func(t *testing.T) {
		s := startServer(t, echo, Config{})
		mustCall(t, c, s.Addr(), 1, nil, []byte{1})
		s.Close()
		within(t, 500*time.Millisecond, "call to a closed server", func() {
			_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
			wantErr(t, err, ErrUnreachable)
		})
	})

	t.Run("server closed mid-call", func(t *testing.T) {
		started := make(chan struct{})
		s := startServer(t, HandlerFunc(func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		}), Config{})
		errc := make(chan error, 1)
		go func() {
			_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
			errc <- err
		}()
		<-started
		s.Close()
		select {
		case err := <-errc:
			wantErr(t, err, ErrUnreachable)
		case <-time.After(time.Second):
			t.Fatal("pending call not failed by the lost connection")
		}
	})
}

func TestServerRestartSameAddr(t *testing.T) {
	s := startServer(t, echo, Config{})
	addr := s.Addr()
	c := newTestClient(t, Config{ConnsPerPeer: 1})
	mustCall(t, c, addr, 1, []byte("a"), []byte("\x01a"))
	s.Close()
	_, err := c.Call(timeoutCtx(t, testTimeout), addr, 1, nil)
	wantErr(t, err, ErrUnreachable)

	s2, err := Listen(addr, echo, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	mustCall(t, c, addr, 2, []byte("b"), []byte("\x02b"))
}

func TestRemoteError(t *testing.T) {
	s := startServer(t, HandlerFunc(func(context.Context, uint8, []byte) ([]byte, error) {
		return nil, errors.New("key too long")
	}), Config{})
	c := newTestClient(t, Config{})
	_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "key too long" {
		t.Fatalf("got %v, want RemoteError{key too long}", err)
	}
	if errors.Is(err, ErrUnreachable) {
		t.Fatal("a handler error must not look like an unreachable peer")
	}
}

func TestHandlerPanic(t *testing.T) {
	var logs logBuffer
	s := startServer(t, HandlerFunc(func(_ context.Context, method uint8, _ []byte) ([]byte, error) {
		if method == 1 {
			panic("nil map write")
		}
		return []byte("alive"), nil
	}), Config{Logger: logs.logger()})
	c := newTestClient(t, Config{ConnsPerPeer: 1})
	_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "nil map write") {
		t.Fatalf("got %v, want a RemoteError naming the panic", err)
	}
	mustCall(t, c, s.Addr(), 2, nil, []byte("alive"))
	if !strings.Contains(logs.String(), "handler panic") {
		t.Fatalf("panic not logged; log:\n%s", logs.String())
	}
}

func TestFrameTooLarge(t *testing.T) {
	t.Run("refused on send", func(t *testing.T) {
		s := startServer(t, echo, Config{})
		c := newTestClient(t, Config{MaxFrameSize: 1024})
		_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, make([]byte, 1024))
		wantErr(t, err, ErrFrameTooLarge)
		if n := s.numConns(); n != 0 {
			t.Fatalf("oversized call dialed the server (%d connections)", n)
		}
	})

	t.Run("request refused by server", func(t *testing.T) {
		var logs logBuffer
		s := startServer(t, echo, Config{MaxFrameSize: 1024, Logger: logs.logger()})
		c := newTestClient(t, Config{})
		_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, make([]byte, 2000))
		wantErr(t, err, ErrUnreachable)
		logs.waitFor(t, "bad frame")
		mustCall(t, c, s.Addr(), 1, []byte("small"), []byte("\x01small"))
	})

	t.Run("reply refused by client", func(t *testing.T) {
		var logs logBuffer
		s := startServer(t, HandlerFunc(func(context.Context, uint8, []byte) ([]byte, error) {
			return make([]byte, 2000), nil
		}), Config{})
		c := newTestClient(t, Config{MaxFrameSize: 1024, Logger: logs.logger()})
		_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
		wantErr(t, err, ErrUnreachable)
		wantErr(t, err, ErrFrameTooLarge)
		logs.waitFor(t, "bad frame")
	})

	t.Run("reply over the server's own limit", func(t *testing.T) {
		s := startServer(t, HandlerFunc(func(context.Context, uint8, []byte) ([]byte, error) {
			return make([]byte, 2000), nil
		}), Config{MaxFrameSize: 1024})
		c := newTestClient(t, Config{})
		_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
		var re *RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "frame too large") {
			t.Fatalf("got %v, want a RemoteError about the reply size", err)
		}
	})
}

// Garbage on one connection closes that connection only.
func TestCorruptFrameClosesConn(t *testing.T) {
	var logs logBuffer
	s := startServer(t, echo, Config{Logger: logs.logger()})
	c := newTestClient(t, Config{})
	for name, junk := range map[string][]byte{
		"http":         []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // length prefix 'GET ' is huge
		"unknown kind": raw(10, 1, 9, 0),
		"reply kind":   raw(10, 1, byte(kindResponse), 0),
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write(junk); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(testTimeout))
			if n, err := conn.Read(make([]byte, 64)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection still open after garbage (read %d, %v)", n, err)
			}
			mustCall(t, c, s.Addr(), 1, []byte("ok"), []byte("\x01ok"))
		})
	}
	logs.waitFor(t, "bad frame")
}

func TestIdleTimeout(t *testing.T) {
	t.Run("server closes idle connections", func(t *testing.T) {
		s := startServer(t, echo, Config{IdleTimeout: 100 * time.Millisecond})
		c := newTestClient(t, Config{IdleTimeout: -1})
		mustCall(t, c, s.Addr(), 1, nil, []byte{1})
		eventually(t, "idle connection closed", func() bool { return s.numConns() == 0 })
		mustCall(t, c, s.Addr(), 2, nil, []byte{2}) // redialed transparently
	})

	t.Run("a long handler is not idleness", func(t *testing.T) {
		s := startServer(t, HandlerFunc(func(context.Context, uint8, []byte) ([]byte, error) {
			time.Sleep(300 * time.Millisecond)
			return []byte("done"), nil
		}), Config{IdleTimeout: 50 * time.Millisecond})
		c := newTestClient(t, Config{IdleTimeout: -1})
		mustCall(t, c, s.Addr(), 1, nil, []byte("done"))
	})

	t.Run("client retires before the server would", func(t *testing.T) {
		s := startServer(t, echo, Config{IdleTimeout: -1})
		c := newTestClient(t, Config{ConnsPerPeer: 1, IdleTimeout: 100 * time.Millisecond})
		mustCall(t, c, s.Addr(), 1, nil, []byte{1})
		first := (*c.peers.Load())[s.Addr()].slots[0].conn.Load()
		time.Sleep(80 * time.Millisecond) // past half the idle timeout
		mustCall(t, c, s.Addr(), 2, nil, []byte{2})
		if second := (*c.peers.Load())[s.Addr()].slots[0].conn.Load(); second == first {
			t.Fatal("idle connection was reused")
		}
		eventually(t, "retired connection closed", func() bool { return s.numConns() == 1 })
	})
}

// Beyond MaxInFlightPerConn the server stops reading: no more handlers start.
func TestMaxInFlightBackpressure(t *testing.T) {
	var active, peak atomic.Int64
	release := make(chan struct{})
	h := HandlerFunc(func(context.Context, uint8, []byte) ([]byte, error) {
		n := active.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		active.Add(-1)
		return nil, nil
	})
	s := startServer(t, h, Config{MaxInFlightPerConn: 2})
	c := newTestClient(t, Config{ConnsPerPeer: 1})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil); err != nil {
				t.Error(err)
			}
		})
	}
	eventually(t, "2 handlers running", func() bool { return active.Load() == 2 })
	// A negative check: give a third handler the chance to start, which
	// backpressure must prevent; no condition can signal "did not happen".
	time.Sleep(50 * time.Millisecond)
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d handlers ran at once, want 2", p)
	}
	close(release)
	wg.Wait()
}

func TestClientCloseFailsPending(t *testing.T) {
	started := make(chan struct{}, 1)
	s := startServer(t, HandlerFunc(func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, nil
	}), Config{})
	c := NewClient(Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
		errc <- err
	}()
	<-started
	within(t, time.Second, "Close", func() { c.Close() })
	select {
	case err := <-errc:
		wantErr(t, err, ErrClosed)
	case <-time.After(time.Second):
		t.Fatal("pending call not failed by Close")
	}
	_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
	wantErr(t, err, ErrClosed)
}

func TestServerCloseCancelsAndWaits(t *testing.T) {
	started := make(chan struct{})
	var returned atomic.Bool
	s, err := Listen("127.0.0.1:0", HandlerFunc(func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // Close must wait for this
		returned.Store(true)
		return nil, nil
	}), Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Config{})
	go c.Call(timeoutCtx(t, testTimeout), s.Addr(), 1, nil)
	<-started
	within(t, time.Second, "server Close", func() { s.Close() })
	if !returned.Load() {
		t.Fatal("Close returned before the handler did")
	}
	s2, err := Listen(s.Addr(), echo, Config{})
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	s2.Close()
}

// Close of client and server leaves no goroutine behind, even with calls in flight.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	s, err := Listen("127.0.0.1:0", HandlerFunc(func(ctx context.Context, method uint8, body []byte) ([]byte, error) {
		if method == 1 {
			<-ctx.Done()
		}
		return body, nil
	}), Config{IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(Config{ConnsPerPeer: 4})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			c.Call(timeoutCtx(t, testTimeout), s.Addr(), uint8(i%2), []byte("x"))
		})
	}
	eventually(t, "connections up", func() bool { return s.numConns() == 4 })
	c.Close()
	// Close waits: the client's goroutines have returned by now, not merely been told to.
	assertNoStacks(t, "rpc.(*clientConn).readLoop", "rpc.(*Client).dial")
	wg.Wait()
	s.Close()
	assertNoStacks(t, "rpc.(*serverConn).readLoop", "rpc.(*connWriter).run",
		"rpc.(*serverConn).handle", "rpc.(*Server).acceptLoop", "rpc.(*Server).reapIdle")
	noLeaks(t, base)
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := []Config{
		{ConnsPerPeer: -1},
		{ConnsPerPeer: 65},
		{DialTimeout: -time.Second},
		{MaxFrameSize: 10},
		{MaxFrameSize: 1 << 33},
		{MaxInFlightPerConn: -5},
	}
	for _, cfg := range bad {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: want an error", cfg)
		}
		if _, err := Listen("127.0.0.1:0", echo, cfg); err == nil {
			t.Errorf("Listen(%+v): want an error", cfg)
		}
	}
	err := Config{ConnsPerPeer: -1, DialTimeout: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "ConnsPerPeer") || !strings.Contains(err.Error(), "DialTimeout") {
		t.Fatalf("want both fields reported, got %v", err)
	}
}
