package node

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/check"
	"github.com/dynkv/dynkv/vclock"
)

// TestGrowTo16AndBack grows a cluster from 3 nodes to 16, one join at a
// time, and shrinks it back to 3, one leave at a time, while clients add
// elements to sets at r=2, w=2. Nothing acknowledged is lost, no read
// misses an add acknowledged before it started, and at the end each key is
// held by exactly its preference list.
func TestGrowTo16AndBack(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("26 ring changes of up to 16 nodes: skipped under -short and -race (TestJoinAndLeaveUnderLoad covers the race detector)")
	}
	s := newSim(t, 1, simOptions{size: 3, mutate: func(_ int, c *Config) { c.Partitions = 64 }})
	keys := setKeys("grow", 24)
	load := s.startSetLoadFresh(3, keys, 2, 2, "", true)
	var joins, leaves []time.Duration
	for range 13 {
		start := time.Now()
		s.grow()
		joins = append(joins, time.Since(start))
	}
	s.checkBalance()
	for i := len(s.cfgs) - 1; i >= 3; i-- {
		start := time.Now()
		s.leave(i)
		leaves = append(leaves, time.Since(start))
	}
	ops := s.finish(load)
	t.Logf("13 joins: mean %s, max %s; 13 leaves: mean %s, max %s", meanDur(joins), maxDur(joins), meanDur(leaves), maxDur(leaves))
	if len(load.stale) > 0 {
		t.Errorf("%d reads missed an acknowledged add, e.g. %s", len(load.stale), strings.Join(load.stale[:min(5, len(load.stale))], "; "))
	}
	s.converge(keys, convergeLimit)
	res := s.checkSet(ops, keys)
	t.Logf("set workload: %s", res)
	if res.Failed > 0 {
		t.Errorf("%d requests failed during the ring changes (only timeouts are allowed)", res.Failed)
		s.mu.Lock()
		for _, h := range s.ops {
			if strings.Contains(h, ": Failed") || strings.Contains(h, "read failed") {
				t.Log(h)
			}
		}
		s.mu.Unlock()
	}
	s.checkPlacement(keys)
}

// TestJoinAndLeaveUnderLoad is the short version: one join and one leave
// of an original member, for -short runs and the race detector.
func TestJoinAndLeaveUnderLoad(t *testing.T) {
	s := newSim(t, 2, simOptions{size: 3, mutate: func(_ int, c *Config) { c.Partitions = 32 }})
	keys := setKeys("jl", 12)
	load := s.startSetLoadFresh(2, keys, 2, 2, "", true)
	s.grow()
	s.leave(0)
	ops := s.finish(load)
	if len(load.stale) > 0 {
		t.Errorf("%d reads missed an acknowledged add, e.g. %s", len(load.stale), strings.Join(load.stale[:min(5, len(load.stale))], "; "))
	}
	s.converge(keys, convergeLimit)
	s.checkSet(ops, keys)
	s.checkPlacement(keys)
}

// TestRemoveDeadNode: a node dies for good and is removed; its partitions
// are rebuilt from the survivors, so every key has N replicas again.
func TestRemoveDeadNode(t *testing.T) {
	s := newSim(t, 3, simOptions{size: 5, mutate: func(_ int, c *Config) { c.Partitions = 32 }})
	keys := setKeys("rm", 20)
	var ops []check.SetOp
	for j := range 60 {
		ops = append(ops, s.add(j%5, keys[j%len(keys)], fmt.Sprintf("e%d", j), 2, 3, ""))
	}
	victim := 4
	s.crash(victim, false)
	s.waitState(victim, stateDead)
	// Refusals first: the dead node cannot be asked to leave, an alive one
	// cannot be removed, nor can a node remove itself.
	if rep := s.do(0, http.MethodPost, "/admin/remove/n2", nil, nil); rep.status != http.StatusConflict {
		t.Errorf("removing an alive node: %s, want 409", describe(rep))
	}
	if rep := s.do(0, http.MethodPost, "/admin/remove/n1", nil, nil); rep.status != http.StatusConflict {
		t.Errorf("a node removing itself: %s, want 409", describe(rep))
	}
	if rep := s.do(0, http.MethodPost, "/admin/remove/nobody", nil, nil); rep.status != http.StatusConflict {
		t.Errorf("removing an unknown node: %s, want 409", describe(rep))
	}
	if rep := s.do(0, http.MethodGet, "/admin/remove/n5", nil, nil); rep.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /admin/remove: %s, want 405", describe(rep))
	}
	start := time.Now()
	if rep := s.do(0, http.MethodPost, "/admin/remove/n5", nil, nil); rep.status != http.StatusAccepted {
		t.Fatalf("remove n5: %s", describe(rep))
	}
	s.mu.Lock()
	s.gone[victim] = true
	s.mu.Unlock()
	s.waitRing()
	t.Logf("removal took %s", time.Since(start).Round(time.Millisecond))
	// No reads: the copies must come from the removal itself.
	s.converge(keys, convergeLimit)
	s.checkPlacement(keys)
	s.checkSet(ops, keys)
	st := s.nodes[0].Status()
	for _, m := range st.Members {
		if m.Name == "n5" && (m.RingState != "left" || m.PartitionsOwned != 0) {
			t.Errorf("n5 after removal: %+v", m)
		}
	}
}

// checkPlacement: every key is stored by exactly the nodes of its
// preference list, and by no other running node.
func (s *sim) checkPlacement(keys []string) {
	s.t.Helper()
	s.eventually(30*time.Second, func() error {
		for _, k := range keys {
			pref := map[string]bool{}
			for _, i := range s.preflist(k) {
				pref[s.name(i)] = true
			}
			if len(pref) != s.cfgs[0].N {
				return fmt.Errorf("%s has %d primaries", k, len(pref))
			}
			for _, i := range s.running() {
				n := s.nodes[i]
				p := n.mem.current().ring.Partition([]byte(k))
				raw, ok, err := n.store.GetRaw(p, []byte(k))
				if err != nil {
					return err
				}
				if ok != pref[n.name] {
					return fmt.Errorf("%s: stored on %s = %v, in its preference list = %v", k, n.name, ok, pref[n.name])
				}
				if ok {
					if _, err := vclock.UnmarshalSet(raw); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// checkBalance: ownership spread over the running nodes within the ring's
// balance bound.
func (s *sim) checkBalance() {
	s.t.Helper()
	n := s.nodes[s.running()[0]]
	r := n.mem.current().ring
	members := r.Members()
	mean := float64(r.Config().Partitions*r.Config().N) / float64(len(members))
	for _, m := range members {
		if got := float64(r.Placements(m)); got > mean*1.5 || got < mean*0.5 {
			s.t.Errorf("%s owns %v partition copies, mean %.1f", m, got, mean)
		}
	}
}

func meanDur(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return (sum / time.Duration(len(d))).Round(time.Millisecond)
}

func maxDur(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m.Round(time.Millisecond)
}

// TestJoinResumesAfterCrash: the joining node crashes in the middle of its
// transfers; restarted on its data dir it resumes from the partitions it
// had recorded as copied, and the join completes with nothing missing.
func TestJoinResumesAfterCrash(t *testing.T) {
	s := newSim(t, 4, simOptions{size: 3, mutate: func(i int, c *Config) {
		c.Partitions = 32
		if i == 3 {
			c.TransferRate = 64 << 10 // slow enough to crash it half way
		}
	}})
	keys := setKeys("resume", 64)
	var ops []check.SetOp
	pad := strings.Repeat("x", 2000)
	for j, k := range keys {
		ops = append(ops, s.add(j%3, k, fmt.Sprintf("e%d-%s", j, pad), 2, 3, ""))
	}
	i := len(s.cfgs)
	gossip, rpcAddr := s.net.AddNode(fmt.Sprintf("n%d", i+1))
	s.cfgs = append(s.cfgs, s.config(i, gossip, rpcAddr, []string{s.cfgs[0].GossipAddr}))
	s.nodes = append(s.nodes, nil)
	s.gone = append(s.gone, false)
	s.startNode(i)
	s.eventually(30*time.Second, func() error {
		if a, ok := s.nodes[i].mem.snapshot().active(); !ok || a.Name != "n4" || len(a.Done) < 2 {
			return fmt.Errorf("n4 has not copied two partitions yet")
		}
		return nil
	})
	done := len(s.nodes[i].mem.snapshot()["n4"].Done)
	s.crash(i, false)
	s.cfgs[i].TransferRate = 0
	s.restart(i)
	s.waitRing()
	t.Logf("n4 crashed after %d partitions and resumed", done)
	s.converge(keys, convergeLimit)
	s.checkPlacement(keys)
	s.checkSet(ops, keys)
}
