package antientropy

import (
	"math/bits"
	"strconv"
	"sync"
)

// MaxLeaves bounds TreeConfig.Leaves: a tree holds about 8 bytes per leaf,
// for every partition a node holds.
const MaxLeaves = 1 << 20

// TreeConfig fixes the shape of a Tree. Every replica of a cluster must use
// the same TreeConfig: trees of different shapes never compare equal.
type TreeConfig struct {
	// Leaves is the number of leaf buckets keys are hashed into. It must be
	// a power of Fanout, at most MaxLeaves. More leaves mean fewer keys'
	// digests swapped per differing leaf, and more hashes on the way down.
	Leaves int
	// Fanout is the number of children of each inner node, at least 2.
	Fanout int
}

// DefaultTreeConfig returns 4,096 leaves under a fanout of 16: levels of
// 1, 16, 256 and 4,096 nodes (34 KiB per tree). With 100,000 keys a leaf
// holds about 24 keys.
func DefaultTreeConfig() TreeConfig {
	return TreeConfig{Leaves: 4096, Fanout: 16}
}

// Validate reports whether c can shape a tree. Errors wrap ErrBadConfig.
func (c TreeConfig) Validate() error {
	if c.Fanout < 2 {
		return &detailError{ErrBadConfig, "tree Fanout must be at least 2, got " + strconv.Itoa(c.Fanout)}
	}
	if c.Leaves < 1 || c.Leaves > MaxLeaves {
		return &detailError{ErrBadConfig,
			"tree Leaves must be in [1, " + strconv.Itoa(MaxLeaves) + "], got " + strconv.Itoa(c.Leaves)}
	}
	n := c.Leaves
	for n%c.Fanout == 0 {
		n /= c.Fanout
	}
	if n != 1 {
		return &detailError{ErrBadConfig,
			"tree Leaves must be a power of Fanout " + strconv.Itoa(c.Fanout) + ", got " + strconv.Itoa(c.Leaves)}
	}
	return nil
}

// Levels returns the number of levels including the root: the root is
// level 0 and the leaves are level Levels()-1. It assumes c is valid.
func (c TreeConfig) Levels() int {
	levels := 1
	for n := 1; n < c.Leaves; n *= c.Fanout {
		levels++
	}
	return levels
}

// Tree is an XOR ("tictac", as Riak's tictac AAE) Merkle tree over one
// partition's keys. A leaf's hash is the XOR of KeyHash(key, digest) over
// the keys whose leaf it is, an inner node's hash the XOR of its children,
// so an update is O(levels), with no rescan, and the tree is the same
// whatever order the updates came in. A Tree is safe for concurrent use.
type Tree struct {
	cfg TreeConfig

	mu     sync.RWMutex
	levels [][]uint64 // levels[l][i]: node i at level l; len(levels[l]) = Fanout^l
}

// NewTree returns an empty tree (every hash 0) of the given shape. It
// panics if cfg is invalid: validate configuration first.
func NewTree(cfg TreeConfig) *Tree {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	t := &Tree{cfg: cfg, levels: make([][]uint64, cfg.Levels())}
	for l, width := 0, 1; l < len(t.levels); l, width = l+1, width*cfg.Fanout {
		t.levels[l] = make([]uint64, width)
	}
	return t
}

// Config returns the tree's shape.
func (t *Tree) Config() TreeConfig { return t.cfg }

// LeafOf returns the leaf key falls in, from a seeded hash of the key alone
// (independent of KeyHash and of the ring's partition hash).
func (t *Tree) LeafOf(key []byte) int {
	hi, _ := bits.Mul64(leafHash(key), uint64(t.cfg.Leaves))
	return int(hi)
}

// Update records that key's digest changed from oldDigest to newDigest:
// oldDigest 0 inserts the key, newDigest 0 deletes it. oldDigest must be
// the digest the tree currently holds for key; the tree cannot check it.
// It does not allocate.
func (t *Tree) Update(key []byte, oldDigest, newDigest uint64) {
	if oldDigest == newDigest {
		return
	}
	x := contribution(key, oldDigest) ^ contribution(key, newDigest)
	i := t.LeafOf(key)
	t.mu.Lock()
	for l := len(t.levels) - 1; l >= 0; l-- {
		t.levels[l][i] ^= x
		i /= t.cfg.Fanout
	}
	t.mu.Unlock()
}

// Root returns the root hash: 0 for a tree with no keys, and equal on two
// trees of the same shape holding the same keys with the same digests
// (barring a 64-bit collision).
func (t *Tree) Root() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.levels[0][0]
}

// Nodes returns the hashes of the nodes at level with the given indices,
// in order. A level or index out of range yields 0.
func (t *Tree) Nodes(level int, indices []int) []uint64 {
	out := make([]uint64, len(indices))
	if level < 0 || level >= len(t.levels) {
		return out
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	row := t.levels[level]
	for k, i := range indices {
		if i >= 0 && i < len(row) {
			out[k] = row[i]
		}
	}
	return out
}

// Reset sets every hash to 0, as for an empty partition (before a rebuild).
func (t *Tree) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, row := range t.levels {
		clear(row)
	}
}
