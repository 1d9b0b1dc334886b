package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynkv/dynkv/antientropy"
	"github.com/dynkv/dynkv/internal/logbudget"
	"github.com/dynkv/dynkv/internal/ratelimit"
	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/vclock"
)

// aae runs active anti-entropy for one node: a Merkle tree per partition it
// stores, kept current by the store's write observer, and background
// exchanges with the other replicas of each partition, which repair every
// differing key by merging both sides. It also reaps tombstones that every
// replica holds, after the grace period.
type aae struct {
	n     *Node
	tcfg  antientropy.TreeConfig
	sched *antientropy.Scheduler
	lim   *ratelimit.Limiter

	mu    sync.Mutex
	trees map[int]*partTree

	tombMu    sync.Mutex
	tombSeen  map[int]map[string]time.Time // tombstone-only keys, first seen
	lastReap  map[int]time.Time
	exchanges atomic.Int64
	reaped    atomic.Int64
	rebuilds  atomic.Int32 // trees being rebuilt now

	// Exchanges by result, for /metrics: found nothing to repair,
	// repaired keys, failed.
	exchangesClean, exchangesRepaired, exchangesFailed atomic.Int64
	// failLogs bounds the failed-exchange lines: a peer that gossip still
	// sees alive but RPC cannot reach fails an exchange every spacing.
	failLogs *logbudget.Budget
}

// partTree is one partition's tree. Writes hold mu shared while they change
// the store and the tree together; a rebuild holds it exclusively, so no
// write lands between its scan and its tree.
type partTree struct {
	mu sync.RWMutex
	t  *antientropy.Tree
}

// exchangeSpacing is the time between two exchanges of this node: an
// interval spread over the partitions, so that each partition it stores
// is exchanged (with one of its peers in turn) about once per --aae-interval.
func exchangeSpacing(cfg Config) time.Duration {
	return max(cfg.AAEInterval/time.Duration(cfg.Partitions), time.Millisecond)
}

func newAAE(n *Node) *aae {
	return &aae{
		n:        n,
		tcfg:     antientropy.TreeConfig{Leaves: 1024, Fanout: 32},
		sched:    antientropy.NewScheduler(antientropy.SchedulerConfig{Interval: exchangeSpacing(n.cfg)}),
		lim:      ratelimit.New(n.cfg.AAERate, nil),
		trees:    map[int]*partTree{},
		tombSeen: map[int]map[string]time.Time{},
		lastReap: map[int]time.Time{},
		failLogs: logbudget.New(aaeFailLogLimit, aaeFailLogWindow, n.cfg.now, func(suppressed int) {
			n.logger.Info("suppressed anti-entropy failure logs", "suppressed", suppressed, "window", aaeFailLogWindow)
		}),
	}
}

// At most aaeFailLogLimit failed exchanges are logged per aaeFailLogWindow;
// dynkv_aae_exchanges_total{result="failed"} counts them all.
const (
	aaeFailLogLimit  = 5
	aaeFailLogWindow = 10 * time.Second
)

func (a *aae) tree(p int) *partTree {
	a.mu.Lock()
	defer a.mu.Unlock()
	pt, ok := a.trees[p]
	if !ok {
		pt = &partTree{t: antientropy.NewTree(a.tcfg)}
		a.trees[p] = pt
	}
	return pt
}

func digest(raw []byte) uint64 {
	if raw == nil {
		return 0
	}
	return antientropy.Digest(raw)
}

// observe is the store's write observer.
func (a *aae) observe(p int) func(key, oldRaw, newRaw []byte) {
	pt := a.tree(p)
	pt.mu.RLock()
	return func(key, oldRaw, newRaw []byte) {
		if oldRaw != nil || newRaw != nil {
			pt.t.Update(key, digest(oldRaw), digest(newRaw))
		}
		pt.mu.RUnlock()
	}
}

// rebuild recomputes partition p's tree from a scan of the store.
func (a *aae) rebuild(p int) error {
	a.rebuilds.Add(1)
	defer a.rebuilds.Add(-1)
	pt := a.tree(p)
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.t.Reset()
	return a.n.store.ScanPartition(p, func(key, raw []byte) bool {
		pt.t.Update(key, 0, digest(raw))
		return true
	})
}

// rebuildAll rebuilds every partition's tree (at start, and on demand).
func (a *aae) rebuildAll() error {
	for p := range a.n.cfg.Partitions {
		if err := a.rebuild(p); err != nil {
			return fmt.Errorf("rebuilding the tree of partition %d: %w", p, err)
		}
	}
	return nil
}

// localKeys returns key → digest for this node's keys of p in leaves.
func (a *aae) localKeys(p int) antientropy.LocalKeys {
	return func(leaves []int) (map[string]uint64, error) {
		t := a.tree(p).t
		want := map[int]bool{}
		for _, l := range leaves {
			want[l] = true
		}
		out := map[string]uint64{}
		err := a.n.store.ScanPartition(p, func(key, raw []byte) bool {
			if want[t.LeafOf(key)] {
				out[string(key)] = digest(raw)
			}
			return true
		})
		return out, err
	}
}

// run starts exchanges until ctx ends.
func (a *aae) run(ctx context.Context) {
	ticker := time.NewTicker(exchangeSpacing(a.n.cfg))
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		p, peer, ok := a.sched.Next(a.n.cfg.now(), a.peers())
		if !ok {
			continue
		}
		repaired, err := a.exchange(ctx, p, peer)
		a.sched.Done(p, peer, a.n.cfg.now(), repaired, err)
		a.countExchange(repaired, err)
		if err != nil {
			if a.failLogs.Allow() {
				a.n.logger.Info("anti-entropy exchange failed", "partition", p, "peer", peer, "err", err)
			}
			continue
		}
		if repaired > 0 {
			a.n.logger.Info("anti-entropy repaired keys", "partition", p, "peer", peer, "keys", repaired)
		}
		a.maybeReap(ctx, p)
	}
}

// countExchange counts one exchange by its result.
func (a *aae) countExchange(repaired int, err error) {
	switch {
	case err != nil:
		a.exchangesFailed.Add(1)
	case repaired > 0:
		a.exchangesRepaired.Add(1)
	default:
		a.exchangesClean.Add(1)
	}
}

// peers maps each partition this node replicates to its other primaries
// that gossip reports alive.
func (a *aae) peers() map[int][]string {
	v := a.n.mem.current()
	out := map[int][]string{}
	for _, p := range v.ring.PartitionsOf(a.n.name) {
		for _, node := range v.ring.Preflist(p) {
			if node == a.n.name {
				continue
			}
			if alive, _ := a.n.mem.alive(node); alive {
				out[p] = append(out[p], node)
			}
		}
	}
	return out
}

// exchange compares partition p's tree with peer's and repairs every
// differing key on both sides.
func (a *aae) exchange(ctx context.Context, p int, peer string) (int, error) {
	a.exchanges.Add(1)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	keys, stats, err := antientropy.Compare(ctx, a.tree(p).t, a.localKeys(p), aaeRemote{a.n, peer, p})
	if err != nil {
		return 0, err
	}
	if err := a.lim.Wait(ctx, stats.BytesReceived+stats.BytesSent); err != nil {
		return 0, err
	}
	repaired := 0
	for _, k := range keys {
		changed, err := a.repairKey(ctx, p, []byte(k), peer)
		if err != nil {
			return repaired, fmt.Errorf("repairing a key: %w", err)
		}
		if changed {
			repaired++
			a.n.logger.Debug("anti-entropy repair", "partition", p, "peer", peer)
		}
	}
	return repaired, nil
}

// repairKey merges both sides' versions of key and writes the merge to
// whichever side lacked something: the same merge a read repair does.
func (a *aae) repairKey(ctx context.Context, p int, key []byte, peer string) (bool, error) {
	local, lfound, err := a.n.store.Get(p, key)
	if err != nil {
		return false, err
	}
	ctx, cancel := stepContext(ctx, a.n.cfg)
	defer cancel()
	remoteT := quorum.Target{Node: peer, Primary: true}
	remote, rfound, err := a.n.reps.Read(ctx, remoteT, p, key)
	if err != nil {
		return false, err
	}
	merged := vclock.Merge(local, remote)
	if merged.IsEmpty() {
		return false, nil // gone on both sides since the trees were compared (a reap)
	}
	if err := a.lim.Wait(ctx, int64(merged.Size())); err != nil {
		return false, err
	}
	changed := false
	if !lfound || !local.Equal(merged) {
		if err := mergeLocal(a.n.store, p, key, merged, false); err != nil {
			return false, err
		}
		changed = true
	}
	if !rfound || !remote.Equal(merged) {
		if err := a.n.reps.Write(ctx, remoteT, p, key, merged, false); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// stepContext bounds one request of an exchange. A message lost to a
// partition would otherwise hold the exchange, and with it every later
// exchange of this node, for the whole exchange's minute.
func stepContext(ctx context.Context, cfg Config) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, max(cfg.DefaultTimeout, time.Second))
}

// aaeRemote is the peer's side of an exchange, over RPC.
type aaeRemote struct {
	n    *Node
	peer string
	p    int
}

func (r aaeRemote) Nodes(ctx context.Context, level int, indices []int) ([]uint64, error) {
	ctx, cancel := stepContext(ctx, r.n.cfg)
	defer cancel()
	var resp treeNodesResp
	err := r.n.reps.call(ctx, r.peer, methodTreeNodes, treeNodesReq{Partition: r.p, Level: level, Indices: indices}, &resp)
	return resp.Hashes, err
}

func (r aaeRemote) LeafKeys(ctx context.Context, leaves []int) (map[string]uint64, error) {
	ctx, cancel := stepContext(ctx, r.n.cfg)
	defer cancel()
	var resp leafKeysResp
	err := r.n.reps.call(ctx, r.peer, methodLeafKeys, leafKeysReq{Partition: r.p, Leaves: leaves}, &resp)
	return resp.Keys, err
}

func (a *aae) status() *AAEStatus {
	st := &AAEStatus{
		Exchanges:        a.exchanges.Load(),
		KeysRepaired:     a.sched.TotalRepaired(),
		TreesRebuilding:  int(a.rebuilds.Load()),
		TombstonesReaped: a.reaped.Load(),
		Partitions:       []AAEPartitionRow{},
	}
	for _, ps := range a.sched.State() {
		st.Partitions = append(st.Partitions, AAEPartitionRow{Partition: ps.Partition, LastExchange: ps.LastExchange,
			LastPeer: ps.LastPeer, Repaired: ps.Repaired, Dirty: ps.Dirty})
	}
	return st
}

// Root returns the root hash of partition p's tree on this node (tests and
// operators compare replicas with it).
func (n *Node) Root(p int) (uint64, bool) {
	if n.aae == nil {
		return 0, false
	}
	return n.aae.tree(p).t.Root(), true
}
