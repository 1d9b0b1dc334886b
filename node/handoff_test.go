package node

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// waitDead waits until every running node's gossip reports name dead.
func (c *testCluster) waitDead(name string) {
	c.t.Helper()
	c.eventually(10*time.Second, func() error {
		for _, n := range c.nodes {
			if n != nil && n.name != name && n.mem.stateOf(name) != stateDead {
				return fmt.Errorf("%s sees %s as %s", n.name, name, n.mem.stateOf(name))
			}
		}
		return nil
	})
}

func (c *testCluster) pendingHints() int64 {
	var total int64
	for _, n := range c.nodes {
		if n != nil {
			total += n.Status().HintsPending
		}
	}
	return total
}

// TestSloppyQuorumWithNodeDown: four nodes, N=3, one stopped. w=3 writes
// all succeed through fallbacks; pw=3 writes fail with 503, naming the down
// primary, exactly for the keys it is a primary of.
func TestSloppyQuorumWithNodeDown(t *testing.T) {
	c := startCluster(t, 4, nil)
	c.crash(3)
	c.net.Refuse("n4:9000", true)
	c.waitDead("n4")
	for k := range 200 {
		r := c.put(k%3, fmt.Sprintf("k%d", k), "?w=3", "v", "")
		mustStatus(t, "sloppy w=3", r, http.StatusNoContent)
		if c.preflistHas(fmt.Sprintf("k%d", k), "n4") && r.header.Get(headerReplicas) != "acked=3; primaries=2; fallbacks=1" {
			t.Fatalf("receipt %q", r.header.Get(headerReplicas))
		}
	}
	// Reads see hinted data: with n4 down, r=3 is met by the fallback.
	for k := range 200 {
		key := fmt.Sprintf("k%d", k)
		if !c.preflistHas(key, "n4") {
			continue
		}
		r := c.do(k%3, http.MethodGet, "/kv/"+key+"?r=3", nil, nil)
		mustStatus(t, "r=3 through a fallback", r, http.StatusOK)
		if got := r.header.Get(headerReplicas); !strings.HasPrefix(got, "replied=3; primaries=2; fallbacks=1") {
			t.Fatalf("read receipt %q", got)
		}
	}
	failed := 0
	for k := range 200 {
		key := fmt.Sprintf("k%d", k)
		r := c.put(k%3, key, "?pw=3", "v2", "")
		if !c.preflistHas(key, "n4") {
			mustStatus(t, "pw=3 with all primaries up", r, http.StatusNoContent)
			continue
		}
		failed++
		mustStatus(t, "pw=3 with a primary down", r, http.StatusServiceUnavailable)
		if !strings.Contains(string(r.body), "primary n4: down") {
			t.Fatalf("the error does not say the primary is down: %s", r.body)
		}
	}
	if failed == 0 {
		t.Fatal("no key had n4 as a primary")
	}
	if c.pendingHints() == 0 {
		t.Fatal("no hints were kept for n4")
	}
}

// TestHintsDeliveredAfterRestart: three nodes, N=3: while n3 is down the
// coordinators keep hints (no node beyond the preference list); when it
// returns they are delivered, and n3 alone then answers every key at its
// latest version.
func TestHintsDeliveredAfterRestart(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) { cfg.Hints.Interval = 100 * time.Millisecond })
	c.crash(2)
	c.net.Refuse("n3:9000", true)
	const keys = 500
	for k := range keys {
		mustStatus(t, "put", c.put(k%2, fmt.Sprintf("k%d", k), "?w=2", fmt.Sprintf("v%d", k), ""), http.StatusNoContent)
	}
	// A hint for a replica that fails after the quorum answered is stored
	// in the background.
	c.eventually(5*time.Second, func() error {
		if got := c.pendingHints(); got != keys {
			return fmt.Errorf("%d hints pending, want %d", got, keys)
		}
		return nil
	})
	c.net.Refuse("n3:9000", false)
	c.restart(2)
	c.eventually(20*time.Second, func() error {
		if p := c.pendingHints(); p != 0 {
			return fmt.Errorf("%d hints pending", p)
		}
		return nil
	})
	for _, i := range []int{0, 1} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.nodes[i].Shutdown(ctx)
		cancel()
		c.nodes[i] = nil
		c.net.Refuse(fmt.Sprintf("n%d:9000", i+1), true)
	}
	for k := range keys {
		st, _, vals := c.get(2, fmt.Sprintf("k%d", k), "?r=1")
		if st != http.StatusOK || !slices.Equal(vals, []string{fmt.Sprintf("v%d", k)}) {
			t.Fatalf("k%d at n3 alone: %d %v", k, st, vals)
		}
	}
}

// TestHandoffToFlappingTarget: the target's connections fail on and off
// while hints are delivered; every key ends up on it once, with one sibling.
func TestHandoffToFlappingTarget(t *testing.T) {
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Hints.Interval = 20 * time.Millisecond
		cfg.Hints.BatchKeys = 10
	})
	c.crash(2)
	c.net.Refuse("n3:9000", true)
	const keys = 300
	for k := range keys {
		mustStatus(t, "put", c.put(0, fmt.Sprintf("k%d", k), "?w=2", fmt.Sprintf("v%d", k), ""), http.StatusNoContent)
	}
	c.net.Refuse("n3:9000", false)
	c.net.SetDelay("*", "n3:9000", time.Millisecond, 3*time.Millisecond)
	c.restart(2)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // flap: refuse n3's RPC for 15 ms out of every 40
		defer close(done)
		for {
			select {
			case <-stop:
				c.net.Refuse("n3:9000", false)
				return
			case <-time.After(25 * time.Millisecond):
			}
			c.net.Refuse("n3:9000", true)
			time.Sleep(15 * time.Millisecond)
			c.net.Refuse("n3:9000", false)
		}
	}()
	c.eventually(30*time.Second, func() error {
		if p := c.pendingHints(); p != 0 {
			return fmt.Errorf("%d hints pending", p)
		}
		return nil
	})
	close(stop)
	<-done
	// Each round's delay and refusal windows overlap many batches: a run
	// without an interrupted delivery would not test what it claims.
	if f := c.nodes[0].Status().Handoff.Failed; f == 0 {
		t.Fatal("no delivery was interrupted: the flapping never hit a batch")
	}
	for k := range keys {
		r := c.do(2, http.MethodGet, fmt.Sprintf("/admin/replica/k%d", k), nil, nil)
		mustStatus(t, "replica", r, http.StatusOK)
		sibs := r.json(t)["siblings"].([]any)
		if len(sibs) != 1 {
			t.Fatalf("k%d has %d siblings on n3: %s", k, len(sibs), r.body)
		}
	}
}
