package antientropy

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCompareFindsExactlyTheDifferences builds random pairs of replicas
// (keys missing on either side, differing digests, keys only one side ever
// had) and checks Compare against the naive diff of the full key sets.
func TestCompareFindsExactlyTheDifferences(t *testing.T) {
	cfgs := []TreeConfig{DefaultTreeConfig(), {Leaves: 16, Fanout: 4}, {Leaves: 1, Fanout: 2}, {Leaves: 512, Fanout: 8}}
	for seed := range uint64(60) {
		cfg := cfgs[seed%uint64(len(cfgs))]
		rng := rand.New(rand.NewPCG(seed, 2))
		a, b := newReplica(cfg), newReplica(cfg)
		want := make(map[string]bool)
		n := 200 + rng.IntN(2000)
		for i := range n {
			k, d := keyName(i), randDigest(rng)
			switch rng.IntN(40) {
			case 0: // only a
				a.put(k, d)
				want[k] = true
			case 1: // only b
				b.put(k, d)
				want[k] = true
			case 2: // both, different versions
				a.put(k, d)
				b.put(k, d^2)
				want[k] = true
			case 3: // written on both, then deleted on one
				a.put(k, d)
				b.put(k, d)
				b.put(k, 0)
				want[k] = true
			case 4: // written and deleted on both
				a.put(k, d)
				a.put(k, 0)
				b.put(k, d)
				b.put(k, 0)
			default:
				a.put(k, d)
				b.put(k, d)
			}
		}
		remote := &memRemote{r: b}
		got, st, err := Compare(context.Background(), a.tree, a.localKeys, remote)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !slices.IsSorted(got) {
			t.Fatalf("seed %d: result not sorted", seed)
		}
		if naive := DiffKeys(a.all(), b.all()); !slices.Equal(got, naive) || len(got) != len(want) {
			t.Fatalf("seed %d %+v: Compare found %d keys, want %d (naive diff %d)", seed, cfg, len(got), len(want), len(naive))
		}
		for _, k := range got {
			if !want[k] {
				t.Fatalf("seed %d: %s reported but equal on both sides", seed, k)
			}
		}
		if st.KeysDiffering != len(got) {
			t.Fatalf("seed %d: KeysDiffering %d, returned %d", seed, st.KeysDiffering, len(got))
		}
		if len(want) > 0 && (len(remote.nodesCalls) != cfg.Levels() || remote.leafCalls != 1) {
			t.Fatalf("seed %d: %d Nodes calls (levels %v) and %d LeafKeys calls for a %d-level tree; want one per level and one",
				seed, len(remote.nodesCalls), remote.nodesCalls, remote.leafCalls, cfg.Levels())
		}
	}
}

func TestCompareEqualTreesOnlyRoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	a, b := newReplica(DefaultTreeConfig()), newReplica(DefaultTreeConfig())
	for i := range 10000 {
		d := randDigest(rng)
		a.put(keyName(i), d)
		b.put(keyName(i), d)
	}
	remote := &memRemote{r: b}
	localCalls := 0
	local := func(leaves []int) (map[string]uint64, error) {
		localCalls++
		return a.localKeys(leaves)
	}
	got, st, err := Compare(context.Background(), a.tree, local, remote)
	if err != nil || len(got) != 0 {
		t.Fatalf("Compare of equal replicas = %v, %v", got, err)
	}
	if !slices.Equal(remote.nodesCalls, []int{0}) || remote.leafCalls != 0 || localCalls != 0 {
		t.Fatalf("equal trees: Nodes calls at levels %v, %d LeafKeys, %d LocalKeys; want [0], 0, 0",
			remote.nodesCalls, remote.leafCalls, localCalls)
	}
	if st.Levels != 1 || st.NodesCompared != 1 || st.LeavesDiffering != 0 || st.KeysCompared != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCompareCost is the figure: two replicas of 100,000 keys with
// 1 KiB values that differ in 10 keys must exchange under 1% of the
// partition's value bytes.
func TestCompareCost(t *testing.T) {
	const keys, diffs, valueBytes = 100_000, 10, 1024
	a, b := pairWithDiffs(DefaultTreeConfig(), keys, diffs, 1)
	got, st, err := Compare(context.Background(), a.tree, a.localKeys, &memRemote{r: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != diffs {
		t.Fatalf("found %d differing keys, want %d", len(got), diffs)
	}
	total := st.BytesSent + st.BytesReceived
	limit := int64(keys * valueBytes / 100)
	t.Logf("100,000 keys, %d differing: sent %d B, received %d B, total %d B = %.4f%% of %d B of values; %+v",
		diffs, st.BytesSent, st.BytesReceived, total, 100*float64(total)/float64(keys*valueBytes), keys*valueBytes, st)
	if total >= limit {
		t.Fatalf("exchange moved %d bytes, not under 1%% (%d) of the values", total, limit)
	}
}

// pairWithDiffs returns two replicas of n keys that differ in diffs keys
// (a third missing on a, a third missing on b, a third different digests).
func pairWithDiffs(cfg TreeConfig, n, diffs int, seed uint64) (a, b *replica) {
	rng := rand.New(rand.NewPCG(seed, 4))
	a, b = newReplica(cfg), newReplica(cfg)
	for i := range n {
		d := randDigest(rng)
		a.put(keyName(i), d)
		b.put(keyName(i), d)
	}
	for _, i := range rng.Perm(n)[:diffs] {
		k := keyName(i)
		switch i % 3 {
		case 0:
			a.put(k, 0)
		case 1:
			b.put(k, 0)
		default:
			b.put(k, a.get(k)^2)
		}
	}
	return a, b
}

func TestCompareIgnoresKeysOutsideLeaves(t *testing.T) {
	a, b := pairWithDiffs(TreeConfig{Leaves: 256, Fanout: 4}, 5000, 3, 9)
	want := DiffKeys(a.all(), b.all())
	got, _, err := Compare(context.Background(), a.tree, a.localKeys, &memRemote{r: b, extraKeys: true})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("with a remote answering every key: %v, %v; want %v", got, err, want)
	}
	everything := func([]int) (map[string]uint64, error) { return a.all(), nil }
	got, _, err = Compare(context.Background(), a.tree, everything, &memRemote{r: b})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("with local keys answering every key: %v, %v; want %v", got, err, want)
	}
}

func TestCompareErrors(t *testing.T) {
	a, b := pairWithDiffs(DefaultTreeConfig(), 1000, 5, 5)
	ctx := context.Background()
	if _, _, err := Compare(ctx, a.tree, a.localKeys, &memRemote{r: b, failNodes: errUnreachable}); !errors.Is(err, errUnreachable) {
		t.Errorf("remote Nodes failure: got %v", err)
	}
	if _, _, err := Compare(ctx, a.tree, a.localKeys, &memRemote{r: b, shortReply: true}); !errors.Is(err, ErrBadReply) {
		t.Errorf("short reply: got %v, want ErrBadReply", err)
	}
	failLocal := func([]int) (map[string]uint64, error) { return nil, errUnreachable }
	if _, _, err := Compare(ctx, a.tree, failLocal, &memRemote{r: b}); !errors.Is(err, errUnreachable) {
		t.Errorf("local keys failure: got %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	remote := &memRemote{r: b}
	if _, _, err := Compare(canceled, a.tree, a.localKeys, remote); !errors.Is(err, context.Canceled) || len(remote.nodesCalls) != 0 {
		t.Errorf("canceled context: got %v after %d calls", err, len(remote.nodesCalls))
	}
}

func TestDiffKeys(t *testing.T) {
	local := map[string]uint64{"same": 1, "changed": 2, "onlyLocal": 3, "zeroLocal": 0, "bothZero": 0}
	remote := map[string]uint64{"same": 1, "changed": 9, "onlyRemote": 4, "zeroLocal": 5, "bothZero": 0}
	want := []string{"changed", "onlyLocal", "onlyRemote", "zeroLocal"}
	if got := DiffKeys(local, remote); !slices.Equal(got, want) {
		t.Fatalf("DiffKeys = %v, want %v", got, want)
	}
	if got := DiffKeys(nil, nil); len(got) != 0 {
		t.Fatalf("DiffKeys(nil, nil) = %v", got)
	}
}
