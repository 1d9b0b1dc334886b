package node

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// TestFiveNodesWithPartition runs reads and writes with quorums on five
// nodes while one of them is cut off from the others' RPC, then heals and
// checks that every write is readable at every node with r=3.
func TestFiveNodesWithPartition(t *testing.T) {
	c := startCluster(t, 5, nil)
	const keys = 60
	for k := range keys {
		mustStatus(t, "put", c.put(k%5, fmt.Sprintf("k%d", k), "?w=2", "v0", ""), http.StatusNoContent)
	}

	c.net.Partition([]string{"n1:9000", "n2:9000", "n3:9000", "n4:9000"}, []string{"n5:9000"})
	cutKeys, forwardTimeouts := 0, 0
	for k := range keys {
		key := fmt.Sprintf("k%d", k)
		st, ctx, vals := c.get(k%4, key, "?r=2&timeout=2s")
		if st != http.StatusOK || !slices.Equal(vals, []string{"v0"}) {
			t.Fatalf("get %s during partition: %d %v", key, st, vals)
		}
		r := c.put(k%4, key, "?w=2&timeout=2s", "v1", ctx)
		if r.status == http.StatusGatewayTimeout && strings.Contains(string(r.body), "coordinator n5") {
			// The first write forwarded to the silently cut-off n5 times
			// out; after that n5 is skipped as coordinator.
			forwardTimeouts++
			r = c.put(k%4, key, "?w=2&timeout=2s", "v1", ctx)
		}
		mustStatus(t, "put during partition", r, http.StatusNoContent)
		if c.preflistHas(key, "n5") {
			cutKeys++
			// All three replicas cannot acknowledge: the request times out.
			r := c.put(k%4, key, "?w=3&timeout=1s", "v1", "")
			mustStatus(t, "w=3 with a replica cut off", r, http.StatusGatewayTimeout)
			// The counts come from the coordinator; when the node that
			// forwarded the write gave up first (a loaded machine), the
			// error says the write may have been applied instead.
			if m := r.json(t); m["needed"] != nil && (m["needed"] != 3.0 || m["acked"] != 2.0) {
				t.Fatalf("504 body counts: %v", m)
			}
		}
	}
	if forwardTimeouts > 4 {
		t.Fatalf("%d writes timed out forwarding to n5; after the first at each node it must be skipped", forwardTimeouts)
	}
	if cutKeys == 0 {
		t.Fatal("no key had n5 among its replicas: the test proves nothing")
	}

	c.net.Heal()
	for k := range keys {
		key := fmt.Sprintf("k%d", k)
		for i := range 5 {
			st, _, vals := c.get(i, key, "?r=3")
			if st != http.StatusOK || !slices.Equal(vals, []string{"v1"}) {
				t.Fatalf("get %s at n%d after heal: %d %v", key, i+1, st, vals)
			}
		}
	}
}

func (c *testCluster) preflistHas(key, node string) bool {
	v := c.nodes[0].mem.current()
	return slices.Contains(v.ring.Preflist(v.ring.Partition([]byte(key))), node)
}

// TestConflictsAndResolution covers the contract's rules for contexts:
// two writes with the same context conflict, a write with the context of
// the conflicting read resolves it, and blind writes overwrite each other.
func TestConflictsAndResolution(t *testing.T) {
	c := startCluster(t, 3, nil)
	mustStatus(t, "put v0", c.put(0, "k", "?w=3", "v0", ""), http.StatusNoContent)
	st, ctx, vals := c.get(1, "k", "?r=3")
	if st != http.StatusOK || !slices.Equal(vals, []string{"v0"}) {
		t.Fatalf("get: %d %v", st, vals)
	}
	mustStatus(t, "put a", c.put(0, "k", "?w=3", "a", ctx), http.StatusNoContent)
	mustStatus(t, "put b", c.put(2, "k", "?w=3", "b", ctx), http.StatusNoContent)
	st, ctx, vals = c.get(1, "k", "?r=3")
	slices.Sort(vals)
	if st != http.StatusMultipleChoices || !slices.Equal(vals, []string{"a", "b"}) {
		t.Fatalf("after concurrent writes: %d %v, want 300 [a b]", st, vals)
	}
	r := c.do(1, http.MethodGet, "/kv/k", nil, nil)
	if r.status != http.StatusMultipleChoices || !strings.Contains(r.header.Get("Content-Type"), "multipart/mixed; boundary=") {
		t.Fatalf("multipart form: %d %q", r.status, r.header.Get("Content-Type"))
	}

	mustStatus(t, "resolve", c.put(1, "k", "?w=3", "ab", ctx), http.StatusNoContent)
	if st, _, vals = c.get(2, "k", "?r=3"); st != http.StatusOK || !slices.Equal(vals, []string{"ab"}) {
		t.Fatalf("after resolving: %d %v", st, vals)
	}

	for i, v := range []string{"x", "y", "z"} {
		mustStatus(t, "blind put", c.put(i, "k", "?w=3", v, ""), http.StatusNoContent)
	}
	if st, _, vals = c.get(0, "k", "?r=3"); st != http.StatusOK || !slices.Equal(vals, []string{"z"}) {
		t.Fatalf("after blind writes: %d %v, want [z]", st, vals)
	}

	// A writer that keeps using the context each write returns never
	// conflicts with itself.
	ctx = ""
	for i := range 10 {
		r := c.put(i%3, "seq", "?w=2", fmt.Sprint(i), ctx)
		mustStatus(t, "sequential put", r, http.StatusNoContent)
		ctx = r.header.Get(headerContext)
	}
	if st, _, vals = c.get(0, "seq", "?r=3"); st != http.StatusOK || !slices.Equal(vals, []string{"9"}) {
		t.Fatalf("sequential writes: %d %v", st, vals)
	}
}

// TestBlindWriteKeepsUnseenVersion: a blind write supersedes only what its
// coordinator holds; a version written on the other side of a partition
// survives it as a sibling.
func TestBlindWriteKeepsUnseenVersion(t *testing.T) {
	c := startCluster(t, 3, nil)
	mustStatus(t, "put v0", c.put(0, "k", "?w=3", "v0", ""), http.StatusNoContent)
	c.net.Partition([]string{"n1:9000"}, []string{"n2:9000", "n3:9000"})
	mustStatus(t, "put on n1's side", c.put(0, "k", "?w=1", "left", ""), http.StatusNoContent)
	mustStatus(t, "put on n2's side", c.put(1, "k", "?w=2", "right", ""), http.StatusNoContent)
	c.net.Heal()
	st, _, vals := c.get(2, "k", "?r=3")
	slices.Sort(vals)
	if st != http.StatusMultipleChoices || !slices.Equal(vals, []string{"left", "right"}) {
		t.Fatalf("after heal: %d %v, want 300 [left right]", st, vals)
	}
	// Read repair makes every replica hold both; a blind write anywhere
	// then supersedes both.
	c.eventually(5*time.Second, func() error {
		for i := range 3 {
			if r := c.do(i, http.MethodGet, "/admin/replica/k", nil, nil); len(r.json(t)["siblings"].([]any)) != 2 {
				return fmt.Errorf("n%d holds %s", i+1, r.body)
			}
		}
		return nil
	})
	mustStatus(t, "blind put", c.put(1, "k", "?w=3", "final", ""), http.StatusNoContent)
	if st, _, vals = c.get(0, "k", "?r=3"); st != http.StatusOK || !slices.Equal(vals, []string{"final"}) {
		t.Fatalf("final: %d %v", st, vals)
	}
}

// TestDownNodeAndRestart: with a node crashed, r=2/w=2 work, r=3 is a 503
// with counts, and the restarted node still holds what it had.
func TestDownNodeAndRestart(t *testing.T) {
	c := startCluster(t, 3, nil)
	mustStatus(t, "put", c.put(0, "k", "?w=3", "v0", ""), http.StatusNoContent)
	c.crash(2)
	c.net.Refuse("n3:9000", true) // a crashed process refuses connections
	mustStatus(t, "put w=2", c.put(0, "k2", "?w=2", "v", ""), http.StatusNoContent)
	if st, _, vals := c.get(1, "k", "?r=2"); st != http.StatusOK || !slices.Equal(vals, []string{"v0"}) {
		t.Fatalf("get r=2: %d %v", st, vals)
	}
	r := c.do(1, http.MethodGet, "/kv/k?r=3", nil, nil)
	mustStatus(t, "get r=3", r, http.StatusServiceUnavailable)
	if m := r.json(t); m["needed"] != 3.0 || m["replied"] != 2.0 {
		t.Fatalf("503 body: %v", m)
	}
	// Gossip notices the crash; the status document says so.
	c.eventually(10*time.Second, func() error {
		if s := c.nodes[0].mem.stateOf("n3"); s != stateDead {
			return fmt.Errorf("n1 sees n3 as %s", s)
		}
		return nil
	})

	oldActor := c.nodes[1].actor
	crashedActor := actorOf(t, c, 2)
	c.net.Refuse("n3:9000", false)
	c.restart(2)
	c.waitRing(3) // rejoined under its name, alive everywhere
	r = c.do(2, http.MethodGet, "/admin/replica/k", nil, nil)
	mustStatus(t, "replica after restart", r, http.StatusOK)
	if c.nodes[2].actor == crashedActor || c.nodes[1].actor != oldActor {
		t.Fatal("a node restarted after a crash must take a new actor id")
	}
}

// actorOf returns the actor id node i had when it crashed.
func actorOf(t *testing.T, c *testCluster, i int) vclock.Actor {
	t.Helper()
	a, ok := c.actors[i]
	if !ok {
		t.Fatalf("no actor recorded for node %d", i)
	}
	return a
}
