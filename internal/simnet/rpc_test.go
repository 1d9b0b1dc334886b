package simnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/rpc"
)

// Methods of the test handler.
const (
	mEcho  = 1 // replies "echo:" + body
	mFail  = 2 // fails with "boom"
	mBlock = 3 // waits for its ctx
	mPanic = 4
)

// rpcNode is one listening node with a client.
type rpcNode struct {
	name, addr string
	served     atomic.Int64 // handler invocations
	ln         io.Closer
	client     rpc.Transport
}

func (r *rpcNode) ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	r.served.Add(1)
	switch method {
	case mFail:
		return nil, errors.New("boom")
	case mBlock:
		<-ctx.Done()
		return nil, ctx.Err()
	case mPanic:
		panic("oops")
	}
	body[0] = '!' // the body is the handler's: the caller must not see this
	return append([]byte("echo:"), body...), nil
}

// rpcNodes starts a listener and a client for each name on n.
func rpcNodes(t *testing.T, n *Net, names ...string) map[string]*rpcNode {
	t.Helper()
	out := map[string]*rpcNode{}
	for _, name := range names {
		_, addr := n.AddNode(name)
		r := &rpcNode{name: name, addr: addr}
		ln, err := n.RPC().Listen(addr, r)
		if err != nil {
			t.Fatal(err)
		}
		r.ln, r.client = ln, n.RPC().Client(addr)
		t.Cleanup(func() { r.client.Close(); r.ln.Close() })
		out[name] = r
	}
	return out
}

// doCall makes one call from → to with the given timeout.
func doCall(from, to *rpcNode, method uint8, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return from.client.Call(ctx, to.addr, method, []byte("hi"))
}

func wantOK(t *testing.T, from, to *rpcNode) {
	t.Helper()
	resp, err := doCall(from, to, mEcho, 5*time.Second)
	if err != nil || string(resp) != "echo:!i" {
		t.Fatalf("%s -> %s: %q, %v", from.name, to.name, resp, err)
	}
}

func wantTimeout(t *testing.T, from, to *rpcNode) {
	t.Helper()
	start := time.Now()
	_, err := doCall(from, to, mEcho, 30*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s -> %s: %v, want a deadline error", from.name, to.name, err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("%s -> %s failed after %s, before its deadline", from.name, to.name, d)
	}
}

func TestRPCBasics(t *testing.T) {
	n := newNet(t, 1)
	ns := rpcNodes(t, n, "a", "b")
	a, b := ns["a"], ns["b"]
	body := []byte("hi")
	resp, err := a.client.Call(context.Background(), b.addr, mEcho, body)
	if err != nil || string(resp) != "echo:!i" || string(body) != "hi" {
		t.Fatalf("echo: %q, %v; caller's body now %q", resp, err, body)
	}
	var re *rpc.RemoteError
	if _, err := doCall(a, b, mFail, time.Second); !errors.As(err, &re) || re.Msg != "boom" {
		t.Errorf("handler error: %v", err)
	}
	if _, err := doCall(a, b, mPanic, time.Second); !errors.As(err, &re) || re.Msg != "rpc: handler panic: oops" {
		t.Errorf("handler panic: %v", err)
	}
	// A handler that runs into its deadline: the caller sees the deadline.
	if _, err := doCall(a, b, mBlock, 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("blocking handler: %v", err)
	}
	if _, err := a.client.Call(context.Background(), b.addr, mEcho, make([]byte, 64<<20)); !errors.Is(err, rpc.ErrFrameTooLarge) {
		t.Errorf("huge body: %v", err)
	}
	if _, err := n.RPC().Listen(b.addr, b); err == nil {
		t.Error("second Listen on one address succeeded")
	}
}

func TestRPCPartitionAndBridge(t *testing.T) {
	n := newNet(t, 2)
	ns := rpcNodes(t, n, "a", "b", "c", "d")
	a, b, c, d := ns["a"], ns["b"], ns["c"], ns["d"]

	n.Partition([]string{"a", "b"}, []string{"c"})
	wantOK(t, a, b)
	wantTimeout(t, a, c)
	wantTimeout(t, c, b)
	wantOK(t, d, c) // not named: unaffected
	wantOK(t, a, d)

	n.Bridge([]string{"a"}, []string{"c"}, "b")
	wantTimeout(t, a, c)
	wantTimeout(t, c, a)
	wantOK(t, a, b)
	wantOK(t, c, b)
	wantOK(t, b, c)

	n.Heal()
	wantOK(t, a, c)
	wantOK(t, c, a)
}

func TestRPCOneWayCut(t *testing.T) {
	n := newNet(t, 3)
	ns := rpcNodes(t, n, "a", "b")
	a, b := ns["a"], ns["b"]

	// Replies b -> a are lost: the request is served, the caller times out.
	n.Cut("b", "a", true)
	wantTimeout(t, a, b)
	if got := b.served.Load(); got != 1 {
		t.Errorf("b served %d requests, want 1", got)
	}
	// Requests b -> a are lost: never served.
	wantTimeout(t, b, a)
	if got := a.served.Load(); got != 0 {
		t.Errorf("a served %d requests, want 0", got)
	}
	n.Cut(b.addr, a.addr, false) // addresses work as names
	wantOK(t, a, b)
	wantOK(t, b, a)

	n.Isolate("b")
	wantTimeout(t, a, b)
	wantTimeout(t, b, a)
	n.Unisolate("b")
	wantOK(t, a, b)
}

// TestRPCLoss: with every message lost with probability 0.5 a call needs its
// request and its reply through: about 3/4 of calls fail.
func TestRPCLoss(t *testing.T) {
	n := newNet(t, 4)
	ns := rpcNodes(t, n, "a", "b")
	a, b := ns["a"], ns["b"]
	n.SetLoss(0.5)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 20 {
				if _, err := doCall(a, b, mEcho, 20*time.Millisecond); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("lost call: %v", err)
					}
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f < 240 || f > 360 {
		t.Errorf("%d of 400 calls failed, want about 300", f)
	}
	if s := b.served.Load(); s < 140 || s > 260 {
		t.Errorf("%d of 400 requests served, want about 200", s)
	}
}

func TestRPCDuplicate(t *testing.T) {
	n := newNet(t, 5)
	ns := rpcNodes(t, n, "a", "b")
	a, b := ns["a"], ns["b"]
	n.SetDup(1)
	wantOK(t, a, b)
	// One request, two copies, two handler runs, two replies of two copies
	// each; the caller took the first.
	eventually(t, 5*time.Second, func() error {
		if got, s := b.served.Load(), n.Stats().RPC; got != 2 || s.Sent != 3 || s.Duplicated != 3 || s.Delivered != 6 {
			return fmt.Errorf("handler ran %d times, stats %+v", got, s)
		}
		return nil
	})
}

func TestRPCDelay(t *testing.T) {
	n := newNet(t, 6)
	ns := rpcNodes(t, n, "a", "b", "c")
	n.SetDelay(Delay{Min: 20 * time.Millisecond, Max: 20 * time.Millisecond})
	start := time.Now()
	wantOK(t, ns["a"], ns["b"])
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("call took %s, want at least 2×20ms", d)
	}
	n.SetDelay(Delay{})
	n.SetNodeDelay("c", Delay{Min: 30 * time.Millisecond})
	start = time.Now()
	wantOK(t, ns["a"], ns["b"])
	fast := time.Since(start)
	start = time.Now()
	wantOK(t, ns["a"], ns["c"])
	if slow := time.Since(start); slow < 60*time.Millisecond || fast > 30*time.Millisecond {
		t.Errorf("a->b took %s, a->c (slow node) %s", fast, slow)
	}
}

func TestRPCPauseHoldsThenDelivers(t *testing.T) {
	n := newNet(t, 7)
	ns := rpcNodes(t, n, "a", "b")
	a, b := ns["a"], ns["b"]
	n.Pause("b")
	done := make(chan error, 1)
	go func() {
		_, err := doCall(a, b, mEcho, 5*time.Second)
		done <- err
	}()
	eventually(t, 5*time.Second, func() error {
		if s := n.Stats().RPC; s.Held != 1 {
			return fmt.Errorf("stats %+v, want one held request", s)
		}
		return nil
	})
	select {
	case err := <-done:
		t.Fatalf("call to a paused node returned: %v", err)
	default:
	}
	if b.served.Load() != 0 {
		t.Fatal("paused node served a request")
	}
	n.Resume("b")
	if err := <-done; err != nil {
		t.Fatalf("after Resume: %v", err)
	}
	if b.served.Load() != 1 {
		t.Errorf("served %d", b.served.Load())
	}
}

func TestRPCUnreachable(t *testing.T) {
	n := newNet(t, 8)
	ns := rpcNodes(t, n, "a", "b")
	a, b := ns["a"], ns["b"]

	// A request being served when the listener closes: the connection is lost.
	done := make(chan error, 1)
	go func() {
		_, err := doCall(a, b, mBlock, 5*time.Second)
		done <- err
	}()
	eventually(t, 5*time.Second, func() error {
		if b.served.Load() != 1 {
			return errors.New("not served yet")
		}
		return nil
	})
	b.ln.Close() // cancels the handler and waits for it
	if err := <-done; !errors.Is(err, rpc.ErrUnreachable) {
		t.Errorf("call in flight at close: %v", err)
	}

	// Nobody listening: fails at once, well before the deadline.
	start := time.Now()
	if _, err := doCall(a, b, mEcho, 5*time.Second); !errors.Is(err, rpc.ErrUnreachable) || time.Since(start) > time.Second {
		t.Errorf("call to a closed address: %v after %s", err, time.Since(start))
	}
	// Unless the link is down: then nothing answers.
	n.Partition([]string{"a"}, []string{"b"})
	wantTimeout(t, a, b)
	n.Heal()

	// Listening again (a restart) makes it reachable.
	ln, err := n.RPC().Listen(b.addr, b)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wantOK(t, a, b)
}

func TestRPCClientClose(t *testing.T) {
	n := newNet(t, 9)
	ns := rpcNodes(t, n, "a", "b")
	a, b := ns["a"], ns["b"]
	done := make(chan error, 1)
	go func() {
		_, err := doCall(a, b, mBlock, 5*time.Second)
		done <- err
	}()
	eventually(t, 5*time.Second, func() error {
		if b.served.Load() != 1 {
			return errors.New("not served yet")
		}
		return nil
	})
	a.client.Close()
	if err := <-done; !errors.Is(err, rpc.ErrClosed) {
		t.Errorf("call in flight at Close: %v", err)
	}
	if _, err := doCall(a, b, mEcho, time.Second); !errors.Is(err, rpc.ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
}

func TestNetCloseFailsCalls(t *testing.T) {
	n := New(10)
	ns := rpcNodes(t, n, "a", "b")
	n.Partition([]string{"a"}, []string{"b"})
	done := make(chan error, 1)
	go func() {
		_, err := doCall(ns["a"], ns["b"], mEcho, 5*time.Second)
		done <- err
	}()
	eventually(t, 5*time.Second, func() error {
		if n.Stats().RPC.Dropped != 1 {
			return errors.New("request not sent yet")
		}
		return nil
	})
	n.Close()
	n.Close()
	if err := <-done; !errors.Is(err, rpc.ErrUnreachable) {
		t.Errorf("call in flight at Net.Close: %v", err)
	}
	if _, err := doCall(ns["a"], ns["b"], mEcho, time.Second); !errors.Is(err, rpc.ErrUnreachable) {
		t.Errorf("call after Net.Close: %v", err)
	}
}
