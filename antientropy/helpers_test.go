package antientropy

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
)

// replica is an in-memory replica of one partition: a tree kept up to date
// on every put, and the stored key → digest map, indexed by leaf.
type replica struct {
	tree   *Tree
	byLeaf []map[string]uint64
}

func newReplica(cfg TreeConfig) *replica {
	r := &replica{tree: NewTree(cfg), byLeaf: make([]map[string]uint64, cfg.Leaves)}
	for i := range r.byLeaf {
		r.byLeaf[i] = make(map[string]uint64)
	}
	return r
}

// put stores key with digest d (0 deletes it), updating the tree.
func (r *replica) put(key string, d uint64) {
	leaf := r.byLeaf[r.tree.LeafOf([]byte(key))]
	r.tree.Update([]byte(key), leaf[key], d)
	if d == 0 {
		delete(leaf, key)
	} else {
		leaf[key] = d
	}
}

func (r *replica) get(key string) uint64 {
	return r.byLeaf[r.tree.LeafOf([]byte(key))][key]
}

func (r *replica) all() map[string]uint64 {
	out := make(map[string]uint64)
	for _, m := range r.byLeaf {
		for k, d := range m {
			out[k] = d
		}
	}
	return out
}

func (r *replica) localKeys(leaves []int) (map[string]uint64, error) {
	out := make(map[string]uint64)
	for _, l := range leaves {
		for k, d := range r.byLeaf[l] {
			out[k] = d
		}
	}
	return out, nil
}

// memRemote is a Remote over a replica in the same process, counting calls.
type memRemote struct {
	r          *replica
	nodesCalls []int // level of each Nodes call
	leafCalls  int
	failNodes  error
	shortReply bool // answer Nodes with one hash too few
	extraKeys  bool // answer LeafKeys with every key of the replica
}

func (m *memRemote) Nodes(ctx context.Context, level int, indices []int) ([]uint64, error) {
	m.nodesCalls = append(m.nodesCalls, level)
	if m.failNodes != nil {
		return nil, m.failNodes
	}
	out := m.r.tree.Nodes(level, indices)
	if m.shortReply {
		out = out[:len(out)-1]
	}
	return out, nil
}

func (m *memRemote) LeafKeys(ctx context.Context, leaves []int) (map[string]uint64, error) {
	m.leafCalls++
	if m.extraKeys {
		return m.r.all(), nil
	}
	return m.r.localKeys(leaves)
}

var errUnreachable = errors.New("peer unreachable")

func keyName(i int) string { return "user:" + strconv.Itoa(i) }

// randDigest returns a random non-zero digest.
func randDigest(rng *rand.Rand) uint64 { return rng.Uint64() | 1 }

// naiveLevels builds every level of a tree from scratch, from the key set.
func naiveLevels(cfg TreeConfig, keys map[string]uint64) [][]uint64 {
	t := NewTree(cfg) // for LeafOf only
	levels := make([][]uint64, cfg.Levels())
	leaves := make([]uint64, cfg.Leaves)
	for k, d := range keys {
		leaves[t.LeafOf([]byte(k))] ^= KeyHash([]byte(k), d)
	}
	levels[len(levels)-1] = leaves
	for l := len(levels) - 2; l >= 0; l-- {
		below := levels[l+1]
		row := make([]uint64, len(below)/cfg.Fanout)
		for i := range row {
			for c := range cfg.Fanout {
				row[i] ^= below[i*cfg.Fanout+c]
			}
		}
		levels[l] = row
	}
	return levels
}

// treeLevels reads every level of t through its public API.
func treeLevels(t *Tree) [][]uint64 {
	cfg := t.Config()
	out := make([][]uint64, cfg.Levels())
	width := 1
	for l := range out {
		idx := make([]int, width)
		for i := range idx {
			idx[i] = i
		}
		out[l] = t.Nodes(l, idx)
		width *= cfg.Fanout
	}
	return out
}
