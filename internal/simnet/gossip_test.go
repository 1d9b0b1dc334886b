package simnet

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

var trio = []string{"n1", "n2", "n3"}

// startTrio starts n1..n3 and joins them through n1.
func startTrio(t *testing.T, n *Net) []*memberlist.Memberlist {
	t.Helper()
	var mls []*memberlist.Memberlist
	for _, name := range trio {
		mls = append(mls, startMemberlist(t, n, name))
	}
	seed, _ := n.AddNode("n1")
	for _, ml := range mls[1:] {
		if _, err := ml.Join([]string{seed}); err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	waitAll(t, mls, nil)
	return mls
}

// waitAll waits until every memberlist sees all three alive. Each miss calls
// rejoin if given: memberlist does not probe nodes it declared dead, so after
// a partition long enough for both sides to declare each other dead only a
// new Join (serf's "reconnect") brings them together again.
func waitAll(t *testing.T, mls []*memberlist.Memberlist, rejoin func()) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		err := errors.Join(sees(mls[0], trio...), sees(mls[1], trio...), sees(mls[2], trio...))
		if err != nil && rejoin != nil {
			rejoin()
		}
		return err
	})
}

// TestMemberlistIsolateAndHeal runs three real memberlists on the simulated
// network: isolating n3 makes the others declare it dead, healing (and the
// rejoin an application must do) brings it back.
func TestMemberlistIsolateAndHeal(t *testing.T) {
	n := newNet(t, 1)
	mls := startTrio(t, n)
	if got := mls[0].LocalNode().Address(); got != "10.77.0.1:7946" {
		t.Errorf("n1 advertises %s", got)
	}

	n.Isolate("n3")
	eventually(t, 5*time.Second, func() error {
		return errors.Join(sees(mls[0], "n1", "n2"), sees(mls[1], "n1", "n2"), sees(mls[2], "n3"))
	})

	n.Heal()
	seed, _ := n.AddNode("n1")
	waitAll(t, mls, func() { mls[2].Join([]string{seed}) })
}

// TestMemberlistPauseAndResume: a paused node stops answering, so the
// others declare it dead; on Resume its held traffic flows and it refutes.
func TestMemberlistPauseAndResume(t *testing.T) {
	n := newNet(t, 2)
	mls := startTrio(t, n)
	n.Pause("n2")
	eventually(t, 5*time.Second, func() error {
		return errors.Join(sees(mls[0], "n1", "n3"), sees(mls[2], "n1", "n3"))
	})
	if s := n.Stats().Gossip; s.Held == 0 {
		t.Errorf("nothing held while paused: %+v", s)
	}
	n.Resume("n2")
	seed, _ := n.AddNode("n1")
	waitAll(t, mls, func() { mls[1].Join([]string{seed}) })
}

// TestMemberlistLossAndDelay: with some loss, duplication and jitter a
// cluster still forms and stays whole.
func TestMemberlistLossAndDelay(t *testing.T) {
	n := newNet(t, 3)
	n.SetLoss(0.1)
	n.SetDup(0.1)
	n.SetDelay(Delay{Min: time.Millisecond, Max: 5 * time.Millisecond})
	mls := startTrio(t, n)
	eventually(t, 5*time.Second, func() error {
		if s := n.Stats().Gossip; s.Dropped < 5 || s.Duplicated < 5 {
			return fmt.Errorf("little loss or duplication yet: %+v", s)
		}
		return nil
	})
	waitAll(t, mls, nil)
}

// TestTransportBasics checks the transport's contract on its own: packets
// carry the sender's address, a shut-down transport refuses to send and
// receives nothing, dials to nothing are refused, dials over a down link time
// out.
func TestTransportBasics(t *testing.T) {
	n := newNet(t, 4)
	a, b := n.Transport("a"), n.Transport("b")
	aAddr, _ := n.AddNode("a")
	bAddr, _ := n.AddNode("b")

	if _, err := a.WriteTo([]byte("hi"), bAddr); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-b.PacketCh():
		if string(p.Buf) != "hi" || p.From.String() != aAddr {
			t.Errorf("got %q from %s", p.Buf, p.From)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("packet not delivered")
	}

	// A stream both ways.
	c, err := a.DialTimeout(bAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var s net.Conn
	select {
	case s = <-b.StreamCh():
	case <-time.After(5 * time.Second):
		t.Fatal("stream not delivered")
	}
	defer s.Close()
	if s.RemoteAddr().String() != aAddr || c.RemoteAddr().String() != bAddr {
		t.Errorf("addresses: server sees %s, client sees %s", s.RemoteAddr(), c.RemoteAddr())
	}
	go c.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := s.Read(buf); err != nil || buf[0] != 'x' {
		t.Errorf("read %q, %v", buf, err)
	}

	// Down link: the dial times out after its timeout.
	n.Cut("b", "a", true) // one way suffices: the handshake needs both
	start := time.Now()
	_, err = a.DialTimeout(bAddr, 50*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) < 50*time.Millisecond {
		t.Errorf("dial over a cut link: %v after %s", err, time.Since(start))
	}
	n.Heal()

	// Nothing bound: refused at once.
	if _, err := a.DialTimeout("10.77.9.9:7946", time.Minute); err == nil {
		t.Error("dial to nothing succeeded")
	}

	// Shut down: b receives nothing, a cannot send.
	b.Shutdown()
	if _, err := a.WriteTo([]byte("lost"), bAddr); err != nil {
		t.Errorf("write to a shut-down peer: %v (UDP-like: no error)", err)
	}
	if _, err := a.DialTimeout(bAddr, time.Minute); err == nil {
		t.Error("dial to a shut-down transport succeeded")
	}
	select {
	case p := <-b.PacketCh():
		t.Errorf("shut-down transport got %q", p.Buf)
	default:
	}
	a.Shutdown()
	if _, err := a.WriteTo([]byte("x"), bAddr); err == nil {
		t.Error("write after Shutdown succeeded")
	}
	if s := n.Stats().Gossip; s.Undeliverable == 0 {
		t.Errorf("stats: %+v", s)
	}
}
