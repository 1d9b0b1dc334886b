package node

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/check"
	"github.com/dynkv/dynkv/internal/simnet"
	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/vclock"
)

// Fault scenarios (issue 6). Each runs many seeds (see scenarioSeeds); the
// safety checks (set, convergence, quorum arithmetic) run on every seed.
// Limits on how long convergence may take are generous liveness bounds for
// a loaded 2-core machine; the measured times are logged per scenario.

const convergeLimit = 30 * time.Second

func setKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return keys
}

// partitionCycles: five nodes split 2 | 3 at random, healed, three times,
// while three clients add elements at r = w = rw.
func partitionCycles(t *testing.T, rw int, skew bool) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 5, skew: skew})
		keys := setKeys("set", 4)
		load := s.startSetLoad(3, keys, rw, rw, "")
		for range 3 {
			perm := s.rng.Perm(5)
			a, b := s.names(perm[:2]...), s.names(perm[2:]...)
			s.note("partition %v | %v", a, b)
			s.net.Partition(a, b)
			s.sleep(s.between(150*time.Millisecond, 400*time.Millisecond))
			s.note("heal")
			s.net.Heal()
			s.sleep(s.between(50*time.Millisecond, 250*time.Millisecond))
		}
		s.settle(load, keys, st)
	})
}

func TestScenarioPartitionCyclesRW1(t *testing.T) { partitionCycles(t, 1, false) }
func TestScenarioPartitionCyclesRW2(t *testing.T) { partitionCycles(t, 2, false) }

// TestScenarioClockSkew runs the partition cycles with every node's clock
// off by up to five minutes, and checks that concurrent writes still become
// siblings whatever the coordinators' clocks say.
func TestScenarioClockSkew(t *testing.T) {
	partitionCycles(t, 2, true)
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 3, skew: true})
		rs := s.get(0, "skew", "?r=3", 3)
		a, b := s.rng.IntN(3), s.rng.IntN(3)
		for _, c := range []struct {
			i int
			v string
		}{{a, "from-a"}, {b, "from-b"}} {
			if out, rep := s.put(c.i, "skew", "?w=3", []byte(c.v), rs.context, 3); out != check.OK {
				t.Fatalf("put at %s: %s", s.name(c.i), describe(rep))
			}
		}
		got := s.get(s.rng.IntN(3), "skew", "?r=3", 3)
		if got.siblings != 2 {
			t.Fatalf("two writes with the same context gave %d siblings, want 2 whatever the clocks", got.siblings)
		}
		s.checkQuorum()
	})
}

// TestScenarioPrimariesCut cuts two of a key's three primaries off from
// the rest: a strict write (pw=2) fails fast with 503, sloppy writes (w=2)
// succeed through fallbacks, and after the heal nothing is lost.
func TestScenarioPrimariesCut(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 5, timeout: 3 * time.Second})
		key := "cut"
		pref := s.preflist(key)
		coord, cut := pref[0], pref[1:]
		var rest []int
		for i := range 5 {
			if !slices.Contains(pref, i) {
				rest = append(rest, i)
			}
		}
		side := append([]int{coord}, rest...)
		s.note("partition primaries %v | %v", s.names(cut...), s.names(side...))
		s.net.Partition(s.names(cut...), s.names(side...))
		for _, c := range cut {
			s.waitState(c, stateDead, cut...)
		}
		var ops []check.SetOp
		start := time.Now()
		out, rep := s.put(coord, key, "?w=2&pw=2&timeout=6s", check.EncodeElements([]string{"strict"}), "", 2)
		took := time.Since(start)
		ops = append(ops, check.SetOp{Key: key, Element: "strict", Outcome: out, Start: start, End: time.Now()})
		// Fast: long before the 6 s timeout (a loaded machine can take a
		// second or two), not a 504 after waiting for the cut primaries.
		if rep.status != http.StatusServiceUnavailable || took > 3*time.Second {
			t.Errorf("pw=2 with two primaries cut off: %s after %s, want a fast 503", describe(rep), took)
		}
		for j := range 10 {
			op := s.add(coord, key, fmt.Sprintf("sloppy%d", j), 1, 2, "")
			if op.Outcome != check.OK {
				t.Errorf("sloppy w=2 add %d failed with fallbacks available", j)
			}
			ops = append(ops, op)
		}
		s.note("heal")
		s.net.Heal()
		st.add(s.converge([]string{key}, convergeLimit))
		s.checkSet(ops, []string{key})
	})
}

// keysOn returns count keys (with prefix) whose primaries include node i.
func (s *sim) keysOn(i int, prefix string, count int) []string {
	var keys []string
	for j := 0; len(keys) < count; j++ {
		k := fmt.Sprintf("%s%d", prefix, j)
		if slices.Contains(s.preflist(k), i) {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestScenarioHandoffFlapping isolates one replica of every key again and
// again while writes go on: hints pile up and drain as it flaps.
func TestScenarioHandoffFlapping(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 4})
		target := s.rng.IntN(4)
		keys := s.keysOn(target, "flap", 4)
		load := s.startSetLoad(2, keys, 2, 2, "")
		for range 4 {
			s.note("isolate %s", s.name(target))
			s.net.Isolate(s.name(target))
			s.sleep(s.between(150*time.Millisecond, 400*time.Millisecond))
			s.note("heal")
			s.net.Heal()
			s.sleep(s.between(50*time.Millisecond, 300*time.Millisecond))
		}
		s.settle(load, keys, st)
	})
}

// TestScenarioHintHolderKilled: writes for a cut-off replica land on
// fallbacks as hints; a hint holder crashes and restarts before the target
// returns. Hints are on disk, so they are delivered all the same.
func TestScenarioHintHolderKilled(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 4})
		target := s.rng.IntN(4)
		keys := s.keysOn(target, "hint", 3)
		s.note("isolate %s", s.name(target))
		s.net.Isolate(s.name(target))
		s.waitState(target, stateDead)
		var ops []check.SetOp
		var others []int
		for i := range 4 {
			if i != target {
				others = append(others, i)
			}
		}
		for j := range 15 {
			ops = append(ops, s.add(others[s.rng.IntN(3)], keys[j%len(keys)], fmt.Sprintf("h%d", j), 2, 2, ""))
		}
		holder := -1
		for _, i := range others {
			if total, _ := s.nodes[i].hints.Pending(); total > 0 {
				holder = i
				break
			}
		}
		if holder < 0 {
			t.Fatal("no node holds a hint for the isolated replica")
		}
		s.crash(holder, false)
		s.note("heal")
		s.net.Heal()
		s.sleep(s.between(50*time.Millisecond, 300*time.Millisecond))
		s.restart(holder)
		st.add(s.converge(keys, convergeLimit))
		s.checkSet(ops, keys)
	})
}

// TestScenarioAAEWipedReplica: a node loses its disk; anti-entropy alone
// (no reads, no hints) rebuilds every key it holds.
func TestScenarioAAEWipedReplica(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 3})
		keys := setKeys("aae", 8)
		var ops []check.SetOp
		for j := range 24 {
			ops = append(ops, s.add(s.rng.IntN(3), keys[j%len(keys)], fmt.Sprintf("w%d", j), 2, 3, ""))
		}
		victim := s.rng.IntN(3)
		s.crash(victim, true)
		s.restart(victim)
		s.waitRing()
		st.add(s.converge(keys, convergeLimit))
		s.checkSet(ops, keys)
	})
}

// TestScenarioAAETamperedReplica: while a node is down its disk is rolled
// back (some keys to older versions, some deleted, as a bad restore
// would); after restart anti-entropy finds and repairs every key.
func TestScenarioAAETamperedReplica(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 3})
		keys := setKeys("tamper", 8)
		victim := s.rng.IntN(3)
		var ops []check.SetOp
		old := map[string][]byte{}
		for j := range 32 {
			if j == 16 {
				for _, k := range keys {
					p := s.nodes[victim].mem.current().ring.Partition([]byte(k))
					raw, ok, err := s.nodes[victim].store.GetRaw(p, []byte(k))
					if err != nil || !ok {
						t.Fatalf("snapshot %s: %v %v", k, ok, err)
					}
					old[k] = bytes.Clone(raw)
				}
			}
			ops = append(ops, s.add(s.rng.IntN(3), keys[j%len(keys)], fmt.Sprintf("w%d", j), 2, 3, ""))
		}
		ring := s.nodes[victim].mem.current().ring
		s.crash(victim, false)
		scfg := store.DefaultConfig()
		scfg.Dir = s.cfgs[victim].DataDir
		db, err := store.Open(scfg)
		if err != nil {
			t.Fatal(err)
		}
		for j, k := range keys {
			p := ring.Partition([]byte(k))
			raw, _, err := db.GetRaw(p, []byte(k))
			if err != nil {
				t.Fatal(err)
			}
			if j%2 == 0 {
				_, err = db.DeleteIf(p, []byte(k), bytes.Clone(raw))
			} else {
				prev, derr := vclock.UnmarshalSet(old[k])
				if derr != nil {
					t.Fatal(derr)
				}
				_, err = db.Update(p, []byte(k), false, func(vclock.Set, bool) (vclock.Set, bool, error) { return prev, true, nil })
			}
			if err != nil {
				t.Fatalf("tamper with %s: %v", k, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		s.note("rolled back %s's copies of %d keys and deleted %d", s.name(victim), len(keys)/2, len(keys)/2)
		s.restart(victim)
		s.waitRing()
		st.add(s.converge(keys, convergeLimit))
		s.checkSet(ops, keys)
	})
}

// TestScenarioCrashDuringSyncWrites crashes nodes in the middle of writes
// with sync=true: nothing acknowledged is lost.
func TestScenarioCrashDuringSyncWrites(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 3})
		keys := setKeys("sync", 4)
		load := s.startSetLoad(3, keys, 2, 2, "&sync=true")
		for range 2 {
			s.sleep(s.between(100*time.Millisecond, 300*time.Millisecond))
			v := s.rng.IntN(3)
			s.crash(v, false)
			s.sleep(s.between(50*time.Millisecond, 300*time.Millisecond))
			s.restart(v)
		}
		s.sleep(200 * time.Millisecond)
		s.settle(load, keys, st)
	})
}

// TestScenarioKV679: a node that lost its disk coordinates a new write to
// an old key. It comes back with a new actor id, so its new version's dot
// is one no other replica has seen, and the write is kept (Riak's kv679:
// reusing the old actor's counter from zero would make the write look
// already seen, and it would silently vanish).
func TestScenarioKV679(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 3})
		key := "kv679"
		a := s.rng.IntN(3)
		b := (a + 1 + s.rng.IntN(2)) % 3
		var ops []check.SetOp
		for j := range 3 { // several versions coordinated by a, so its old actor's counter is > 1
			ops = append(ops, s.add(a, key, fmt.Sprintf("old%d", j), 3, 3, ""))
		}
		stale := s.get(a, key, "?r=3", 3)
		ops = append(ops, s.add(b, key, "by-b", 3, 3, ""))
		actor := s.nodes[a].actor
		s.crash(a, true)
		s.restart(a)
		s.waitRing()
		if s.nodes[a].actor == actor {
			t.Fatalf("%s kept actor %x after losing its disk", s.name(a), actor)
		}
		// A new write at a, acknowledged by a alone, with a context that
		// had not seen by-b: it must survive as a sibling of by-b.
		elems, _ := check.UnionSiblings(stale.values)
		start := time.Now()
		out, rep := s.put(a, key, "?w=1", check.EncodeElements(append(elems, "after-wipe")), stale.context, 1)
		if out != check.OK {
			t.Fatalf("write at the wiped node: %s", describe(rep))
		}
		ops = append(ops, check.SetOp{Key: key, Element: "after-wipe", Outcome: out, Start: start, End: time.Now()})
		st.add(s.converge([]string{key}, convergeLimit))
		s.checkSet(ops, []string{key})
	})
}

// TestScenarioDeleteWhileDown deletes keys while one replica is down, then
// writes new values to some of them: after it returns, deleted keys stay
// deleted and the new values are neither hidden nor mixed with old ones.
func TestScenarioDeleteWhileDown(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 4})
		victim := s.rng.IntN(4)
		keys := s.keysOn(victim, "del", 6)
		for _, k := range keys {
			if out, rep := s.put(s.rng.IntN(4), k, "?w=3", []byte("old-"+k), "", 3); out != check.OK {
				t.Fatalf("initial write of %s: %s", k, describe(rep))
			}
		}
		s.crash(victim, false)
		var live []int
		for i := range 4 {
			if i != victim {
				live = append(live, i)
			}
		}
		pick := func() int { return live[s.rng.IntN(len(live))] }
		for j, k := range keys {
			rs := s.get(pick(), k, "?r=2", 2)
			hdr := map[string]string{headerContext: rs.context}
			if rep := s.do(pick(), http.MethodDelete, "/kv/"+k+"?w=2", nil, hdr); rep.err != nil || rep.status != http.StatusNoContent {
				t.Fatalf("delete %s: %s", k, describe(rep))
			}
			s.history("deleted %s", k)
			if j%2 == 0 {
				rs = s.get(pick(), k, "?r=2", 2)
				if rs.reply.status != http.StatusNotFound {
					t.Fatalf("read after delete of %s: %s", k, describe(rs.reply))
				}
				if out, rep := s.put(pick(), k, "?w=2", []byte("new-"+k), rs.context, 2); out != check.OK {
					t.Fatalf("rewrite of %s: %s", k, describe(rep))
				}
				s.history("rewrote %s", k)
			}
		}
		if s.rng.IntN(2) == 0 {
			s.sleep(s.between(0, 300*time.Millisecond))
		}
		s.restart(victim)
		s.waitRing()
		st.add(s.converge(keys, convergeLimit))
		for j, k := range keys {
			rs := s.get(s.rng.IntN(4), k, "?r=3", 3)
			var vals []string
			for _, v := range rs.values {
				vals = append(vals, string(v))
			}
			if j%2 == 0 && (rs.reply.status != http.StatusOK || !slices.Equal(vals, []string{"new-" + k})) {
				t.Errorf("rewritten %s reads %s %q, want only new-%s", k, describe(rs.reply), vals, k)
			}
			if j%2 == 1 && rs.reply.status != http.StatusNotFound {
				t.Errorf("deleted %s came back: %s %q", k, describe(rs.reply), vals)
			}
		}
		s.checkQuorum()
	})
}

// TestScenarioPausedNode holds all of one node's traffic for longer than
// the suspicion timeout (as SIGSTOP would), then releases it, stale
// messages and all.
func TestScenarioPausedNode(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 4})
		keys := setKeys("pause", 4)
		load := s.startSetLoad(2, keys, 2, 2, "")
		s.sleep(s.between(50*time.Millisecond, 200*time.Millisecond))
		v := s.rng.IntN(4)
		s.note("pause %s", s.name(v))
		s.net.Pause(s.name(v))
		s.waitState(v, stateDead)
		s.sleep(s.between(100*time.Millisecond, 400*time.Millisecond))
		s.note("resume %s", s.name(v))
		s.net.Resume(s.name(v))
		s.sleep(s.between(100*time.Millisecond, 300*time.Millisecond))
		s.settle(load, keys, st)
	})
}

// TestScenarioGossipOrRPCDown drops one layer's traffic to a node while
// the other works: gossip down and RPC up (peers think it dead but could
// reach it), then RPC down and gossip up (peers think it alive but every
// request to it times out).
func TestScenarioGossipOrRPCDown(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 4})
		keys := setKeys("layer", 4)
		load := s.startSetLoad(2, keys, 2, 2, "")
		v := s.rng.IntN(4)
		s.note("gossip to and from %s dropped", s.name(v))
		s.net.Only(simnet.LayerGossip).Isolate(s.name(v))
		s.sleep(s.between(400*time.Millisecond, 700*time.Millisecond))
		s.note("heal")
		s.net.Heal()
		s.sleep(s.between(100*time.Millisecond, 300*time.Millisecond))
		s.note("RPC to and from %s dropped", s.name(v))
		s.net.Only(simnet.LayerRPC).Isolate(s.name(v))
		s.sleep(s.between(400*time.Millisecond, 700*time.Millisecond))
		s.note("heal")
		s.net.Heal()
		s.settle(load, keys, st)
	})
}

// TestScenarioLossyNetwork: 20% of all messages lost, 10% duplicated, and
// random delays reordering the rest, for a second of writes.
func TestScenarioLossyNetwork(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 4})
		keys := setKeys("lossy", 4)
		s.note("20%% loss, 10%% duplicates, 0-5 ms delays")
		s.net.SetLoss(0.2)
		s.net.SetDup(0.1)
		s.net.SetDelay(simnet.Delay{Min: 0, Max: 5 * time.Millisecond})
		load := s.startSetLoad(3, keys, 2, 2, "")
		s.sleep(time.Second)
		s.note("heal")
		s.net.Heal()
		s.settle(load, keys, st)
	})
}

// TestScenarioQuietReads: reads of converged replicas write nothing: no
// read repair, no hint, no changed byte in any store, and anti-entropy
// exchanges in the meantime find nothing to do.
func TestScenarioQuietReads(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 3})
		keys := setKeys("quiet", 6)
		for j := range 12 {
			s.add(s.rng.IntN(3), keys[j%len(keys)], fmt.Sprintf("q%d", j), 2, 3, "")
		}
		s.converge(keys, convergeLimit)
		before := s.rawCopies(keys)
		repairedBefore := s.aaeRepaired()
		for _, k := range keys {
			for i := range 3 {
				rs := s.get(i, k, "?r=3", 3)
				if !strings.Contains(rs.reply.header.Get("X-Dynkv-Replicas"), "repaired=0") {
					t.Errorf("read of converged %s at %s: receipt %q, want repaired=0", k, s.name(i), rs.reply.header.Get("X-Dynkv-Replicas"))
				}
			}
		}
		s.sleep(300 * time.Millisecond) // a dozen anti-entropy exchanges
		if after := s.rawCopies(keys); !mapsEqualBytes(before, after) {
			t.Error("reads of converged replicas changed stored bytes")
		}
		if got := s.aaeRepaired(); got != repairedBefore {
			t.Errorf("anti-entropy repaired %d keys on converged replicas", got-repairedBefore)
		}
		if p := s.hintsPending(); p != 0 {
			t.Errorf("%d hints written by reads", p)
		}
		s.checkQuorum()
	})
}

func (s *sim) rawCopies(keys []string) map[string][]byte {
	out := map[string][]byte{}
	for i, n := range s.nodes {
		for _, k := range keys {
			p := n.mem.current().ring.Partition([]byte(k))
			raw, _, err := n.store.GetRaw(p, []byte(k))
			if err != nil {
				s.t.Fatal(err)
			}
			out[fmt.Sprintf("%d/%s", i, k)] = bytes.Clone(raw)
		}
	}
	return out
}

func (s *sim) aaeRepaired() int64 {
	var total int64
	for _, n := range s.nodes {
		if n != nil && n.aae != nil {
			total += n.Status().AntiEntropy.KeysRepaired
		}
	}
	return total
}

func mapsEqualBytes(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestScenarioSiblingExplosion: two clients interleave fetch, resolve and
// put on one key through different coordinators, 100 writes: every value
// is kept or superseded by a write that saw it, and siblings stay few
// (Riak's sibling_explosion).
func TestScenarioSiblingExplosion(t *testing.T) {
	runScenario(t, func(t *testing.T, seed uint64, st *stableTimes) {
		s := newSim(t, seed, simOptions{size: 3})
		key := "explode"
		var ops []check.SiblingOp
		for round := range 50 {
			var fetched [2]readSet
			for c := range 2 {
				fetched[c] = s.get((c+round)%3, key, "?r=2", 2)
			}
			for c := range 2 {
				var seen []string
				for _, v := range fetched[c].values {
					seen = append(seen, string(v))
				}
				val := fmt.Sprintf("c%d-r%d", c, round)
				out, _ := s.put((c+round+1)%3, key, "?w=2", []byte(val), fetched[c].context, 2)
				ops = append(ops, check.SiblingOp{Client: c, Seen: seen, Wrote: val, Outcome: out})
			}
		}
		s.converge([]string{key}, convergeLimit)
		final := s.get(0, key, "?r=3", 3)
		var vals []string
		for _, v := range final.values {
			vals = append(vals, string(v))
		}
		res := check.CheckSiblings(ops, vals, 3)
		s.note("siblings: %d writes, max %d siblings", res.Writes, res.MaxSiblings)
		if !res.Valid {
			t.Errorf("sibling checker: %+v", res)
		}
		s.checkQuorum()
	})
}
