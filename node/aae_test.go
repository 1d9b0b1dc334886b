package node

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// converged reports whether, for every partition, all running replicas in
// its preference list have equal tree roots.
func (c *testCluster) converged() error {
	var any *Node
	for _, n := range c.nodes {
		if n != nil {
			any = n
			break
		}
	}
	v := any.mem.current()
	byName := map[string]*Node{}
	for _, n := range c.nodes {
		if n != nil {
			byName[n.name] = n
		}
	}
	for p := range any.cfg.Partitions {
		var first uint64
		var firstNode string
		for _, name := range v.ring.Preflist(p) {
			n := byName[name]
			if n == nil {
				continue
			}
			root, _ := n.Root(p)
			if firstNode == "" {
				first, firstNode = root, name
			} else if root != first {
				return fmt.Errorf("partition %d: %s root %x, %s root %x", p, firstNode, first, name, root)
			}
		}
	}
	return nil
}

func aaeConfig(cfg *Config) {
	cfg.HintedHandoff = false
	cfg.AAEInterval = 100 * time.Millisecond
	cfg.TombstoneGrace = 300 * time.Millisecond
}

// TestAntiEntropyRepairsDowntime: hinted handoff off; a node misses 1,000
// writes and 100 deletes; anti-entropy alone brings it up to date, and
// deleted keys stay deleted after the tombstones are reaped and nodes
// restart.
func TestAntiEntropyRepairsDowntime(t *testing.T) {
	c := startCluster(t, 3, aaeConfig)
	c.crash(2)
	c.net.Refuse("n3:9000", true)
	const keys, deleted = 1000, 100
	for k := range keys {
		r := c.put(k%2, fmt.Sprintf("k%d", k), "?w=2", fmt.Sprintf("v%d", k), "")
		mustStatus(t, "put", r, http.StatusNoContent)
		if k < deleted {
			d := c.do(k%2, http.MethodDelete, fmt.Sprintf("/kv/k%d?w=2", k), nil, map[string]string{headerContext: r.header.Get(headerContext)})
			mustStatus(t, "delete", d, http.StatusNoContent)
		}
	}
	c.net.Refuse("n3:9000", false)
	c.restart(2)
	c.eventually(60*time.Second, c.converged)
	if rep := c.nodes[0].Status().AntiEntropy.KeysRepaired + c.nodes[1].Status().AntiEntropy.KeysRepaired +
		c.nodes[2].Status().AntiEntropy.KeysRepaired; rep < keys {
		t.Fatalf("only %d keys repaired for %d missed", rep, keys)
	}
	checkAlone := func() {
		for k := range keys {
			st, _, vals := c.get(2, fmt.Sprintf("k%d", k), "?r=1")
			switch {
			case k < deleted && st != http.StatusNotFound:
				t.Fatalf("deleted k%d readable at n3 alone: %d %v", k, st, vals)
			case k >= deleted && (st != http.StatusOK || !slices.Equal(vals, []string{fmt.Sprintf("v%d", k)})):
				t.Fatalf("k%d at n3 alone: %d %v", k, st, vals)
			}
		}
	}
	c.stopNodes(0, 1)
	checkAlone()

	// Bring everyone back, wait well past the grace period so tombstones
	// are reaped, restart each node in turn: nothing deleted comes back.
	c.restart(0)
	c.restart(1)
	c.waitRing(3)
	c.eventually(30*time.Second, func() error {
		var reaped int64
		for _, n := range c.nodes {
			reaped += n.Status().AntiEntropy.TombstonesReaped
		}
		var left []string
		{
			for k := range deleted {
				for _, n := range c.nodes {
					key := []byte(fmt.Sprintf("k%d", k))
					p := n.mem.current().ring.Partition(key)
					if set, found, _ := n.store.Get(p, key); found {
						left = append(left, fmt.Sprintf("%s@%s:%d/%v", key, n.name, p, set.Clock))
					}
				}
			}
		}
		if len(left) > 0 || reaped == 0 {
			return fmt.Errorf("%d tombstones reaped; still stored: %v", reaped, left)
		}
		return nil
	})
	for i := range 3 {
		c.crash(i)
		c.restart(i)
		c.waitRing(3)
	}
	for k := range deleted {
		for i := range 3 {
			if st, _, vals := c.get(i, fmt.Sprintf("k%d", k), "?r=3"); st != http.StatusNotFound {
				t.Fatalf("deleted k%d came back at n%d: %d %v", k, i+1, st, vals)
			}
		}
	}
}

func (c *testCluster) stopNodes(idx ...int) {
	for _, i := range idx {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.nodes[i].Shutdown(ctx)
		cancel()
		c.nodes[i] = nil
		c.net.Refuse(fmt.Sprintf("n%d:9000", i+1), true)
	}
}

// TestAntiEntropyRepairsCorruption: one replica of a five-node cluster
// loses some keys and has others altered directly in its store; the
// cluster converges to equal trees everywhere, and the lost keys are back.
func TestAntiEntropyRepairsCorruption(t *testing.T) {
	c := startCluster(t, 5, func(cfg *Config) { cfg.AAEInterval = 100 * time.Millisecond })
	const keys = 300
	for k := range keys {
		mustStatus(t, "put", c.put(k%5, fmt.Sprintf("k%d", k), "?w=3", fmt.Sprintf("v%d", k), ""), http.StatusNoContent)
	}
	victim := c.nodes[4]
	v := victim.mem.current()
	dropped, altered := 0, 0
	for k := range keys {
		key := []byte(fmt.Sprintf("k%d", k))
		p := v.ring.Partition(key)
		if !v.ring.IsReplica(p, victim.name) {
			continue
		}
		raw, found, err := victim.store.GetRaw(p, key)
		if err != nil || !found {
			t.Fatalf("victim lacks k%d before corruption: %v", k, err)
		}
		switch k % 3 {
		case 0:
			victim.store.DeleteIf(p, key, raw)
			dropped++
		case 1: // an extra, unknown version: merged everywhere, not lost
			victim.store.Update(p, key, false, func(cur vclock.Set, _ bool) (vclock.Set, bool, error) {
				next, _ := cur.Update(nil, 99, []byte("stray"), "text/plain", false)
				return next, true, nil
			})
			altered++
		}
	}
	if dropped == 0 || altered == 0 {
		t.Fatal("the victim held no keys to corrupt")
	}
	c.eventually(60*time.Second, c.converged)
	for k := range keys {
		st, _, vals := c.get(k%4, fmt.Sprintf("k%d", k), "?r=3")
		if st != http.StatusOK && st != http.StatusMultipleChoices || !slices.Contains(vals, fmt.Sprintf("v%d", k)) {
			t.Fatalf("k%d after repair: %d %v", k, st, vals)
		}
	}
}
