package node

import (
	"bytes"
	"context"
	"time"

	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/vclock"
)

// Tombstone reaping. A deleted key is kept as a tombstone so that the
// delete reaches every replica and supersedes older versions wherever they
// are. It is removed only when (1) the grace period has passed since this
// node first saw it, and (2) every primary replica of the key holds exactly
// the same tombstone, checked by reading each of them, and then removed from
// all of them at once, each only if its copy is still that tombstone. A
// write to the key afterwards gets dots above every dot of the reaped
// history (vclock.UpdateAfter), so a stale copy of an old version can never
// share a dot with it or dominate it.

// maybeReap scans partition p for reapable tombstones, at most once per
// quarter grace period.
func (a *aae) maybeReap(ctx context.Context, p int) {
	if a.n.mem.current().change != nil {
		return // primaries are moving: reap once the ring is stable again
	}
	grace := a.n.cfg.TombstoneGrace
	now := a.n.cfg.now()
	a.tombMu.Lock()
	due := now.Sub(a.lastReap[p]) >= grace/4
	if due {
		a.lastReap[p] = now
	}
	a.tombMu.Unlock()
	if !due {
		return
	}
	for _, c := range a.tombstones(p, now) {
		if ctx.Err() != nil {
			return
		}
		if a.reapKey(ctx, p, c.key, c.raw) {
			a.reaped.Add(1)
		}
	}
}

type candidate struct{ key, raw []byte }

// tombstones lists p's tombstone-only keys seen for longer than the grace
// period, and records the first sighting of new ones.
func (a *aae) tombstones(p int, now time.Time) []candidate {
	seen := map[string]time.Time{}
	var due []candidate
	a.tombMu.Lock()
	prev := a.tombSeen[p]
	a.tombMu.Unlock()
	a.n.store.ScanPartition(p, func(key, raw []byte) bool {
		set, err := vclock.UnmarshalSet(raw)
		if err != nil || len(set.Live()) > 0 {
			return true // (a set with no siblings at all is reaped like a tombstone)
		}
		first, ok := prev[string(key)]
		if !ok {
			first = now
		}
		seen[string(key)] = first
		if now.Sub(first) >= a.n.cfg.TombstoneGrace {
			due = append(due, candidate{bytes.Clone(key), bytes.Clone(raw)})
		}
		return true
	})
	a.tombMu.Lock()
	a.tombSeen[p] = seen
	a.tombMu.Unlock()
	return due
}

// reapKey removes the tombstone raw of key from every primary, provided
// each holds exactly it.
func (a *aae) reapKey(ctx context.Context, p int, key, raw []byte) bool {
	want, err := vclock.UnmarshalSet(raw)
	if err != nil {
		return false
	}
	pref := a.n.mem.current().ring.Preflist(p)
	if len(pref) < a.n.cfg.N {
		return false // fewer members than replicas: someone may still join with a copy
	}
	if pref[0] != a.n.name {
		return false // one replica reaps for all, so two never race
	}
	for _, node := range pref {
		set, found, err := a.n.reps.Read(ctx, quorum.Target{Node: node, Primary: true}, p, key)
		if err != nil || !found || !set.Equal(want) {
			return false
		}
	}
	ok := true
	for _, node := range pref {
		if node == a.n.name {
			continue
		}
		if err := a.n.reps.call(ctx, node, methodReap, reapReq{Partition: p, Key: key, Set: raw}, nil); err != nil {
			ok = false // its copy stays; the next pass retries or exchanges restore it
		}
	}
	if deleted, err := a.n.store.DeleteIf(p, key, raw); err != nil || !deleted {
		return false
	}
	return ok
}

// serveReap deletes a tombstone a peer confirmed on every replica, if this
// node's copy is still exactly it.
func (n *Node) serveReap(body []byte) error {
	var req reapReq
	if err := unmarshalMsg(body, &req); err != nil {
		return err
	}
	if err := n.checkPartition(req.Partition); err != nil {
		return err
	}
	_, err := n.store.DeleteIf(req.Partition, req.Key, req.Set)
	return err
}
