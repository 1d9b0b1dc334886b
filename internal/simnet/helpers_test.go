package simnet

import (
	"fmt"
	"io"
	"log"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// eventually retries check every 10ms until it passes or limit passes.
func eventually(t *testing.T, limit time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newNet returns a Net closed at cleanup that prints its log if the test fails.
func newNet(t *testing.T, seed uint64) *Net {
	n := New(seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d, schedule:", n.Seed())
			for _, l := range n.Log() {
				t.Log(l)
			}
			t.Logf("stats: %+v", n.Stats())
		}
		n.Close()
	})
	return n
}

// fastGossip makes failure detection and convergence quick.
func fastGossip(mc *memberlist.Config) {
	mc.ProbeInterval = 100 * time.Millisecond
	mc.ProbeTimeout = 50 * time.Millisecond
	mc.GossipInterval = 20 * time.Millisecond
	mc.PushPullInterval = 300 * time.Millisecond
	mc.SuspicionMult = 2
	mc.TCPTimeout = 200 * time.Millisecond
}

// startMemberlist creates a real memberlist for name on n, shut down at cleanup.
func startMemberlist(t *testing.T, n *Net, name string) *memberlist.Memberlist {
	t.Helper()
	mc := memberlist.DefaultLANConfig()
	mc.Name = name
	fastGossip(mc)
	var out io.Writer = io.Discard
	if os.Getenv("SIMNET_TEST_LOG") != "" {
		out = os.Stderr
	}
	mc.Logger = log.New(out, name+" ", log.Lmicroseconds)
	n.Gossip(name)(mc)
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	return ml
}

// alive returns the names ml considers alive or suspect.
func alive(ml *memberlist.Memberlist) map[string]bool {
	out := map[string]bool{}
	for _, m := range ml.Members() {
		out[m.Name] = true
	}
	return out
}

// sees checks that ml counts exactly want as members.
func sees(ml *memberlist.Memberlist, want ...string) error {
	got := alive(ml)
	if len(got) != len(want) {
		return fmt.Errorf("%s sees %v, want %v", ml.LocalNode().Name, got, want)
	}
	for _, w := range want {
		if !got[w] {
			return fmt.Errorf("%s sees %v, want %v", ml.LocalNode().Name, got, want)
		}
	}
	return nil
}
