package simnet

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/rpc"
)

// decisions runs a fixed single-goroutine sequence of sends and fault changes
// and returns the network's decisions.
func decisions(seed uint64) []Event {
	n := New(seed)
	defer n.Close()
	var evs []Event
	n.SetTrace(func(e Event) { evs = append(evs, e) })
	tr := map[string]interface {
		WriteTo([]byte, string) (time.Time, error)
	}{}
	addr := map[string]string{}
	for _, name := range []string{"a", "b", "c"} {
		tr[name] = n.Transport(name)
		addr[name], _ = n.AddNode(name)
	}
	n.SetLoss(0.3)
	n.SetDup(0.2)
	n.SetDelay(Delay{Min: time.Microsecond, Mean: 50 * time.Microsecond, Max: time.Millisecond})
	pairs := [][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}, {"b", "a"}}
	for i := range 400 {
		switch i {
		case 100:
			n.Partition([]string{"a"}, []string{"b", "c"})
		case 200:
			n.Heal()
			n.SetLoss(0.1)
			n.SetDelay(Delay{Min: time.Microsecond, Max: 100 * time.Microsecond})
			n.Pause("c")
		case 300:
			n.Resume("c")
			n.Cut("a", "b", true)
		}
		p := pairs[i%len(pairs)]
		tr[p[0]].WriteTo([]byte{byte(i)}, addr[p[1]])
	}
	return evs
}

// TestSameSeedSameDecisions: the same seed and the same sequence of sends
// and faults give the same decisions; another seed gives others.
func TestSameSeedSameDecisions(t *testing.T) {
	a, b := decisions(42), decisions(42)
	if len(a) != 400 {
		t.Fatalf("%d decisions, want 400", len(a))
	}
	if !reflect.DeepEqual(a, b) {
		for i := range a {
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Fatalf("decision %d differs: %+v vs %+v", i, a[i], b[i])
			}
		}
	}
	if reflect.DeepEqual(a, decisions(43)) {
		t.Error("seeds 42 and 43 gave the same decisions")
	}
	count := map[string]int{}
	for _, e := range a {
		count[e.Outcome.String()+"/"+e.Reason]++
		if len(e.Delays) == 2 {
			count["dup"]++
		}
	}
	for _, k := range []string{"passed/", "dropped/loss", "dropped/blocked", "held/", "dup"} {
		if count[k] == 0 {
			t.Errorf("no %q decision in %v", k, count)
		}
	}
}

// TestPauseHoldsInOrder: packets to a paused node wait and arrive in order.
func TestPauseHoldsInOrder(t *testing.T) {
	n := newNet(t, 1)
	a, b := n.Transport("a"), n.Transport("b")
	t.Cleanup(func() { a.Shutdown(); b.Shutdown() })
	bAddr, _ := n.AddNode("b")
	n.Pause("b")
	for i := range 20 {
		a.WriteTo([]byte{byte(i)}, bAddr)
	}
	select {
	case p := <-b.PacketCh():
		t.Fatalf("paused node got packet %v", p.Buf)
	default:
	}
	n.Resume("b")
	for i := range 20 {
		select {
		case p := <-b.PacketCh():
			if p.Buf[0] != byte(i) {
				t.Fatalf("packet %d arrived as number %d", p.Buf[0], i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d not delivered", i)
		}
	}
	if s := n.Stats().Gossip; s.Held != 20 || s.Delivered != 20 {
		t.Errorf("stats %+v", s)
	}
	log := strings.Join(n.Log(), "\n")
	for _, w := range []string{"New(seed=1)", "Pause(b)", "Resume(b)"} {
		if !strings.Contains(log, w) {
			t.Errorf("log lacks %q:\n%s", w, log)
		}
	}
}

// TestLayers: gossip dropped while RPC works, and the reverse, on one network
// with real memberlists.
func TestLayers(t *testing.T) {
	n := newNet(t, 11)
	mls := startTrio(t, n)
	ns := rpcNodes(t, n, trio...)

	// Gossip cannot reach n3; RPC can, and no RPC message is lost.
	n.Only(LayerGossip).Isolate("n3")
	eventually(t, 5*time.Second, func() error {
		return errors.Join(sees(mls[0], "n1", "n2"), sees(mls[1], "n1", "n2"))
	})
	wantOK(t, ns["n1"], ns["n3"])
	wantOK(t, ns["n3"], ns["n2"])
	if s := n.Stats().RPC; s.Dropped != 0 {
		t.Errorf("RPC lost messages under a gossip-only fault: %+v", s)
	}
	if !strings.Contains(strings.Join(n.Log(), "\n"), "gossip only: Isolate(n3)") {
		t.Errorf("log: %v", n.Log())
	}
	n.Heal()
	seed, _ := n.AddNode("n1")
	waitAll(t, mls, func() { mls[2].Join([]string{seed}) })

	// RPC cannot cross; gossip goes on losing nothing.
	before := n.Stats().Gossip
	n.Only(LayerRPC).Partition([]string{"n1"}, []string{"n2", "n3"})
	wantTimeout(t, ns["n1"], ns["n2"])
	wantTimeout(t, ns["n3"], ns["n1"])
	wantOK(t, ns["n2"], ns["n3"])
	eventually(t, 5*time.Second, func() error {
		if s := n.Stats().Gossip; s.Sent < before.Sent+50 {
			return fmt.Errorf("only %d gossip messages since the RPC partition", s.Sent-before.Sent)
		}
		return nil
	})
	if s := n.Stats().Gossip; s.Dropped != before.Dropped {
		t.Errorf("gossip lost %d messages under an RPC-only partition", s.Dropped-before.Dropped)
	}
	waitAll(t, mls, nil)

	// Block: all of one layer.
	n.Heal()
	n.Only(LayerRPC).Block(true)
	wantTimeout(t, ns["n2"], ns["n3"])
	n.Only(LayerRPC).Block(false)
	wantOK(t, ns["n2"], ns["n3"])
}

// TestDelayDraw checks the distributions' bounds.
func TestDelayDraw(t *testing.T) {
	n := New(1)
	defer n.Close()
	cases := []Delay{
		{Min: 5, Max: 10},
		{Min: 5},
		{Min: 5, Mean: 10, Max: 40},
		{Mean: 100},
	}
	for _, d := range cases {
		var sum time.Duration
		for range 1000 {
			v := d.draw(n.rng)
			if v < d.Min || d.Max > 0 && v > max(d.Max, d.Min) {
				t.Fatalf("%v drew %v", d, v)
			}
			sum += v
		}
		if d == (Delay{Mean: 100}) && (sum/1000 < 80 || sum/1000 > 120) {
			t.Errorf("exp(100) averaged %v", sum/1000)
		}
	}
}

// TestNoGoroutineLeak: after Close and the owners' closes, nothing of the
// network keeps running, even with timers pending and messages held.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		n := New(12)
		a, b := n.Transport("a"), n.Transport("b")
		bAddr, _ := n.AddNode("b")
		_, rpcB := n.AddNode("b")
		ln, err := n.RPC().Listen(rpcB, rpcHandlerFunc)
		if err != nil {
			t.Fatal(err)
		}
		cl := n.RPC().Client("a")
		n.SetDelay(Delay{Min: time.Hour})
		for range 10 {
			a.WriteTo([]byte("x"), bAddr)
			go cl.Call(context.Background(), rpcB, 1, nil) // waits for Close
		}
		n.SetDelay(Delay{})
		n.Pause("b")
		a.WriteTo([]byte("held"), bAddr)
		go a.DialTimeout(bAddr, time.Hour)
		n.Close()
		cl.Close()
		ln.Close()
		a.Shutdown()
		b.Shutdown()
	}()
	eventually(t, 5*time.Second, func() error {
		if now := runtime.NumGoroutine(); now > before {
			return fmt.Errorf("%d goroutines, %d before", now, before)
		}
		return nil
	})
}

var rpcHandlerFunc = rpc.HandlerFunc(func(context.Context, uint8, []byte) ([]byte, error) { return nil, nil })
