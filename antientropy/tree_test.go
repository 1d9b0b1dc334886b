package antientropy

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestTreeConfigValidate(t *testing.T) {
	tests := []struct {
		cfg    TreeConfig
		levels int // 0: invalid
	}{
		{DefaultTreeConfig(), 4},
		{TreeConfig{Leaves: 1, Fanout: 16}, 1},
		{TreeConfig{Leaves: 16, Fanout: 16}, 2},
		{TreeConfig{Leaves: 8, Fanout: 2}, 4},
		{TreeConfig{Leaves: 1000, Fanout: 10}, 4},
		{TreeConfig{Leaves: MaxLeaves, Fanout: 2}, 21},
		{TreeConfig{Leaves: 4000, Fanout: 16}, 0},
		{TreeConfig{Leaves: 32, Fanout: 16}, 0},
		{TreeConfig{Leaves: 0, Fanout: 16}, 0},
		{TreeConfig{Leaves: 16, Fanout: 1}, 0},
		{TreeConfig{Leaves: 16, Fanout: 0}, 0},
		{TreeConfig{Leaves: 2 * MaxLeaves, Fanout: 2}, 0},
		{TreeConfig{}, 0},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.levels == 0 {
			if !errors.Is(err, ErrBadConfig) {
				t.Errorf("%+v: Validate() = %v, want ErrBadConfig", tt.cfg, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: Validate() = %v", tt.cfg, err)
		}
		if got := tt.cfg.Levels(); got != tt.levels {
			t.Errorf("%+v: Levels() = %d, want %d", tt.cfg, got, tt.levels)
		}
	}
}

func TestNewTreePanicsOnBadConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewTree accepted Leaves not a power of Fanout")
		}
	}()
	NewTree(TreeConfig{Leaves: 100, Fanout: 16})
}

// TestTreeMatchesFromScratch applies random inserts, overwrites and
// deletes, and checks every level against a tree built from scratch from
// the final key set, and against the same final keys inserted in another
// order.
func TestTreeMatchesFromScratch(t *testing.T) {
	cfgs := []TreeConfig{DefaultTreeConfig(), {Leaves: 16, Fanout: 4}, {Leaves: 1, Fanout: 2}, {Leaves: 729, Fanout: 3}}
	for seed := range uint64(40) {
		cfg := cfgs[seed%uint64(len(cfgs))]
		rng := rand.New(rand.NewPCG(seed, 1))
		r := newReplica(cfg)
		model := make(map[string]uint64)
		for range 3000 {
			k := keyName(rng.IntN(500))
			d := randDigest(rng)
			if rng.IntN(4) == 0 {
				d = 0
			}
			r.put(k, d)
			if d == 0 {
				delete(model, k)
			} else {
				model[k] = d
			}
		}
		want := naiveLevels(cfg, model)
		if got := treeLevels(r.tree); !equalLevels(got, want) {
			t.Fatalf("seed %d %+v: incremental tree differs from a from-scratch build", seed, cfg)
		}
		other := NewTree(cfg)
		keys := make([]string, 0, len(model))
		for k := range model {
			keys = append(keys, k)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		for _, k := range keys {
			other.Update([]byte(k), 0, model[k])
		}
		if !equalLevels(treeLevels(other), want) {
			t.Fatalf("seed %d %+v: tree depends on insertion order", seed, cfg)
		}
		if len(model) > 0 && r.tree.Root() == 0 {
			t.Fatalf("seed %d: root 0 with %d keys", seed, len(model))
		}
	}
}

func equalLevels(a, b [][]uint64) bool {
	return slices.EqualFunc(a, b, func(x, y []uint64) bool { return slices.Equal(x, y) })
}

func TestInsertThenDeleteReturnsToZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	r := newReplica(DefaultTreeConfig())
	keys := make([]string, 5000)
	for i := range keys {
		keys[i] = keyName(i)
		r.put(keys[i], randDigest(rng))
	}
	for range 2000 { // overwrite some
		r.put(keys[rng.IntN(len(keys))], randDigest(rng))
	}
	if r.tree.Root() == 0 {
		t.Fatal("root 0 with 5000 keys")
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, k := range keys {
		r.put(k, 0)
	}
	for l, row := range treeLevels(r.tree) {
		for i, h := range row {
			if h != 0 {
				t.Fatalf("level %d node %d = %#x after deleting every key", l, i, h)
			}
		}
	}
}

func TestUpdateSameDigestIsNoop(t *testing.T) {
	tr := NewTree(DefaultTreeConfig())
	tr.Update([]byte("a"), 0, 5)
	root := tr.Root()
	tr.Update([]byte("a"), 5, 5)
	if tr.Root() != root {
		t.Fatal("Update with equal old and new digests changed the tree")
	}
	tr.Update([]byte("a"), 5, 6)
	if tr.Root() == root {
		t.Fatal("changing a key's digest left the root unchanged")
	}
}

func TestNodesOutOfRange(t *testing.T) {
	tr := NewTree(TreeConfig{Leaves: 16, Fanout: 4})
	for i := range 100 {
		tr.Update([]byte(keyName(i)), 0, uint64(i+1))
	}
	got := tr.Nodes(1, []int{-1, 0, 4, 3})
	if got[0] != 0 || got[2] != 0 || got[1] == 0 || got[3] == 0 {
		t.Fatalf("Nodes(1, [-1 0 4 3]) = %x", got)
	}
	for _, level := range []int{-1, 3} {
		if got := tr.Nodes(level, []int{0}); got[0] != 0 {
			t.Fatalf("Nodes(%d) = %x, want 0", level, got)
		}
	}
}

func TestReset(t *testing.T) {
	tr := NewTree(DefaultTreeConfig())
	tr.Update([]byte("k"), 0, 9)
	tr.Reset()
	if !equalLevels(treeLevels(tr), naiveLevels(tr.Config(), nil)) {
		t.Fatal("Reset left non-zero hashes")
	}
}

func TestDigestAndKeyHash(t *testing.T) {
	if Digest(nil) == 0 || Digest([]byte("x")) == Digest([]byte("y")) {
		t.Fatal("Digest is 0 or collides on trivial input")
	}
	if KeyHash([]byte("k"), 1) == KeyHash([]byte("k"), 2) {
		t.Fatal("KeyHash ignores the digest")
	}
	if KeyHash([]byte("k"), 1) == KeyHash([]byte("j"), 1) {
		t.Fatal("KeyHash ignores the key")
	}
	// The key/digest boundary is fixed (the digest is always 8 bytes), so
	// shifting bytes between them changes the hash.
	if KeyHash([]byte("ab"), 1) == KeyHash([]byte("a"), 1) {
		t.Fatal("KeyHash collides across lengths")
	}
}

// TestLeafOfSpreadsOnePartition checks that the keys of one ring partition
// (those sharing the top bits of the ring's hash, the unseeded xxhash) are
// spread over all leaves, not crowded into a few.
func TestLeafOfSpreadsOnePartition(t *testing.T) {
	tr := NewTree(DefaultTreeConfig())
	used := make(map[int]int)
	n := 0
	for i := 0; n < 4096; i++ {
		k := []byte("k" + strconv.Itoa(i))
		if xxhash.Sum64(k)>>56 != 0x2a { // partition 42 of 256
			continue
		}
		n++
		used[tr.LeafOf(k)]++
	}
	// 4096 keys in 4096 uniform leaves occupy about 63% of them.
	if len(used) < 2400 {
		t.Fatalf("4096 keys of one partition fell in only %d of 4096 leaves", len(used))
	}
	for leaf := range used {
		if leaf < 0 || leaf >= 4096 {
			t.Fatalf("LeafOf = %d, out of range", leaf)
		}
	}
}

func TestUpdateDoesNotAllocate(t *testing.T) {
	tr := NewTree(DefaultTreeConfig())
	key := []byte("a-key-of-typical-length:0000001234")
	var d uint64
	allocs := testing.AllocsPerRun(1000, func() {
		tr.Update(key, d, d+1)
		d++
	})
	if allocs != 0 {
		t.Fatalf("Update allocates %.1f times per call", allocs)
	}
}

func TestConcurrentUpdates(t *testing.T) {
	cfg := TreeConfig{Leaves: 256, Fanout: 4}
	tr := NewTree(cfg)
	model := make(map[string]uint64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := "g" + strconv.Itoa(g) + ":" + strconv.Itoa(i)
				tr.Update([]byte(k), 0, uint64(i+1))
				tr.Update([]byte(k), uint64(i+1), uint64(i+2))
				_ = tr.Root()
				_ = tr.Nodes(2, []int{i % 16})
				mu.Lock()
				model[k] = uint64(i + 2)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if !equalLevels(treeLevels(tr), naiveLevels(cfg, model)) {
		t.Fatal("concurrent updates lost some")
	}
}
