package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// memCluster listens echo on each address and returns the network. Time-dependent tests
// run inside synctest bubbles, so waiting for a dropped message's deadline costs nothing.
func memCluster(t *testing.T, seed uint64, addrs ...string) *MemNetwork {
	n := NewMemNetwork(seed)
	for _, a := range addrs {
		l, err := n.Listen(a, echo)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
	}
	return n
}

// memCall calls with a 1s deadline and returns the error (nil if the echo came back).
func memCall(t *testing.T, n *MemNetwork, from, to string) error {
	t.Helper()
	c := n.Client(from)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	got, err := c.Call(ctx, to, 9, []byte(from))
	if err == nil && string(got) != "\x09"+from {
		t.Fatalf("%s→%s: got %q", from, to, got)
	}
	return err
}

func TestMemRoundTrip(t *testing.T) {
	n := memCluster(t, 1, "a", "b")
	c := n.Client("a")
	body := []byte("hello")
	got, err := c.Call(context.Background(), "b", 3, body)
	if err != nil || string(got) != "\x03hello" {
		t.Fatalf("got %q, %v", got, err)
	}
	body[0] = 'j' // the reply must not alias the request
	if string(got) != "\x03hello" {
		t.Fatalf("reply aliases the request: %q", got)
	}
}

func TestMemPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memCluster(t, 1, "a", "b", "c", "d")
		n.Partition([]string{"a"}, []string{"b", "c"})
		wantErr(t, memCall(t, n, "a", "b"), context.DeadlineExceeded)
		wantErr(t, memCall(t, n, "b", "a"), context.DeadlineExceeded)
		if err := memCall(t, n, "b", "c"); err != nil {
			t.Fatalf("same group: %v", err)
		}
		if err := memCall(t, n, "d", "a"); err != nil {
			t.Fatalf("unnamed node: %v", err)
		}
		n.Heal()
		if err := memCall(t, n, "a", "b"); err != nil {
			t.Fatalf("after Heal: %v", err)
		}
	})
}

// A partition that starts while the handler runs drops the reply.
func TestMemPartitionDropsReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		var served atomic.Bool
		l, _ := n.Listen("b", HandlerFunc(func(context.Context, uint8, []byte) ([]byte, error) {
			n.Partition([]string{"a"}, []string{"b"})
			served.Store(true)
			return []byte("lost"), nil
		}))
		defer l.Close()
		wantErr(t, memCall(t, n, "a", "b"), context.DeadlineExceeded)
		if !served.Load() {
			t.Fatal("request never reached the handler")
		}
	})
}

func TestMemPartitionOneWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		var servedAtA atomic.Int32
		la, _ := n.Listen("a", HandlerFunc(func(_ context.Context, m uint8, b []byte) ([]byte, error) {
			servedAtA.Add(1)
			return echo(context.Background(), m, b)
		}))
		defer la.Close()
		lb, _ := n.Listen("b", echo)
		defer lb.Close()
		lc, _ := n.Listen("c", echo)
		defer lc.Close()

		n.PartitionOneWay("a", "b")
		wantErr(t, memCall(t, n, "a", "b"), context.DeadlineExceeded) // request lost
		wantErr(t, memCall(t, n, "b", "a"), context.DeadlineExceeded) // reply a→b lost
		if servedAtA.Load() != 1 {
			t.Fatalf("b→a request should arrive: a served %d", servedAtA.Load())
		}
		if err := memCall(t, n, "a", "c"); err != nil {
			t.Fatalf("other link: %v", err)
		}
		if err := memCall(t, n, "c", "b"); err != nil {
			t.Fatalf("other link: %v", err)
		}
	})
}

// dropPattern makes 200 sequential calls on a lossy link and records which got through.
func dropPattern(t *testing.T, seed uint64) string {
	var pattern strings.Builder
	synctest.Test(t, func(t *testing.T) {
		n := memCluster(t, seed, "a", "b")
		n.SetDrop("a", "*", 0.3)
		for range 200 {
			if err := memCall(t, n, "a", "b"); err != nil {
				wantErr(t, err, context.DeadlineExceeded)
				pattern.WriteByte('x')
			} else {
				pattern.WriteByte('.')
			}
		}
	})
	return pattern.String()
}

func TestMemDropReproducible(t *testing.T) {
	p1, p2, other := dropPattern(t, 7), dropPattern(t, 7), dropPattern(t, 8)
	if p1 != p2 {
		t.Fatalf("same seed, different drops:\n%s\n%s", p1, p2)
	}
	if p1 == other {
		t.Fatal("different seeds gave the same 200 drops")
	}
	if d := strings.Count(p1, "x"); d < 30 || d > 90 {
		t.Fatalf("%d of 200 dropped at p=0.3:\n%s", d, p1)
	}
}

func TestMemDropRuleSpecificity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memCluster(t, 1, "a", "b", "c")
		n.SetDrop("*", "*", 1)
		n.SetDrop("a", "*", 1)
		n.SetDrop("*", "a", 1)
		n.SetDrop("a", "b", 0.0000001) // exact rule wins: almost never drops
		n.SetDrop("b", "a", 0.0000001)
		if err := memCall(t, n, "a", "b"); err != nil {
			t.Fatalf("exact rule ignored: %v", err)
		}
		wantErr(t, memCall(t, n, "a", "c"), context.DeadlineExceeded)
		for _, l := range [][2]string{{"*", "*"}, {"a", "*"}, {"*", "a"}} {
			n.SetDrop(l[0], l[1], 0) // removes the rule
		}
		if err := memCall(t, n, "a", "c"); err != nil {
			t.Fatalf("after removing the rule: %v", err)
		}
	})
}

func TestMemDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memCluster(t, 1, "a", "b")
		n.SetDelay("a", "b", 10*time.Millisecond, 20*time.Millisecond)
		n.SetDelay("b", "a", 5*time.Millisecond, 5*time.Millisecond)
		var seen [2]bool
		for range 50 {
			start := time.Now()
			if err := memCall(t, n, "a", "b"); err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			if el < 15*time.Millisecond || el > 25*time.Millisecond {
				t.Fatalf("round trip %v, want 10..20ms there + 5ms back", el)
			}
			seen[0] = seen[0] || el < 20*time.Millisecond
			seen[1] = seen[1] || el > 20*time.Millisecond
		}
		if !seen[0] || !seen[1] {
			t.Fatal("delays not spread over the range")
		}
		n.Heal()
		start := time.Now()
		if err := memCall(t, n, "a", "b"); err != nil || time.Since(start) != 0 {
			t.Fatalf("after Heal: %v in %v", err, time.Since(start))
		}
	})
}

func TestMemDelayBoundedByDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memCluster(t, 1, "a", "b")
		n.SetDelay("a", "b", time.Hour, time.Hour)
		start := time.Now()
		wantErr(t, memCall(t, n, "a", "b"), context.DeadlineExceeded)
		if el := time.Since(start); el != time.Second {
			t.Fatalf("returned after %v, want the 1s deadline", el)
		}
	})
}

func TestMemRefuse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memCluster(t, 1, "a", "b")
		n.Refuse("b", true)
		start := time.Now()
		wantErr(t, memCall(t, n, "a", "b"), ErrUnreachable)
		if time.Since(start) != 0 {
			t.Fatal("refused call did not fail fast")
		}
		n.Heal() // does not undo Refuse
		wantErr(t, memCall(t, n, "a", "b"), ErrUnreachable)
		n.Refuse("b", false)
		if err := memCall(t, n, "a", "b"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMemListenAndClose(t *testing.T) {
	n := NewMemNetwork(1)
	l, err := n.Listen("a", echo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Listen("a", echo); err == nil {
		t.Fatal("second Listen on the same address succeeded")
	}
	if err := memCall(t, n, "x", "a"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	wantErr(t, memCall(t, n, "x", "a"), ErrUnreachable)
	wantErr(t, memCall(t, n, "x", "nowhere"), ErrUnreachable)
	l2, err := n.Listen("a", echo)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	defer l2.Close()
	l.Close() // closing the old listener again must not take down the new one
	if err := memCall(t, n, "x", "a"); err != nil {
		t.Fatal(err)
	}
}

// Closing a node mid-call loses the connection; its handler's ctx is cancelled.
func TestMemCloseMidCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		started := make(chan struct{})
		var cancelled atomic.Bool
		l, _ := n.Listen("b", HandlerFunc(func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
			close(started)
			<-ctx.Done()
			cancelled.Store(true)
			return nil, ctx.Err()
		}))
		errc := make(chan error)
		go func() { errc <- memCall(t, n, "a", "b") }()
		<-started
		l.Close()
		wantErr(t, <-errc, ErrUnreachable)
		if !cancelled.Load() {
			t.Fatal("Close returned before the handler saw its ctx cancelled")
		}
	})
}

func TestMemErrorsAndDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := NewMemNetwork(1)
		l, _ := n.Listen("b", HandlerFunc(func(ctx context.Context, m uint8, _ []byte) ([]byte, error) {
			switch m {
			case 1:
				return nil, errors.New("no such partition")
			case 2:
				panic("bug")
			}
			dl, ok := ctx.Deadline()
			return fmt.Appendf(nil, "%v %v", dl.UnixNano(), ok), nil
		}))
		defer l.Close()
		c := n.Client("a")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		_, err := c.Call(ctx, "b", 1, nil)
		var re *RemoteError
		if !errors.As(err, &re) || re.Msg != "no such partition" {
			t.Fatalf("got %v", err)
		}
		_, err = c.Call(ctx, "b", 2, nil)
		if !errors.As(err, &re) || !strings.Contains(re.Msg, "bug") {
			t.Fatalf("panic: got %v", err)
		}
		dl, _ := ctx.Deadline()
		got, err := c.Call(ctx, "b", 3, nil)
		if want := fmt.Sprintf("%v true", dl.UnixNano()); err != nil || string(got) != want {
			t.Fatalf("deadline: got %q, %v, want %q", got, err, want)
		}
	})
}

func TestMemClientClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := memCluster(t, 1, "a", "b")
		n.Partition([]string{"a"}, []string{"b"})
		c := n.Client("a")
		errc := make(chan error)
		go func() {
			_, err := c.Call(context.Background(), "b", 1, nil) // no deadline: waits forever
			errc <- err
		}()
		synctest.Wait()
		c.Close()
		wantErr(t, <-errc, ErrClosed)
		_, err := c.Call(context.Background(), "b", 1, nil)
		wantErr(t, err, ErrClosed)
	})
}
