package ring

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomConfig draws a small ring shape, including fewer members than N.
func randomConfig(rng *rand.Rand) (Config, []string) {
	cfg := Config{Partitions: 1 << rng.IntN(9), N: 1 + rng.IntN(5)}
	m := 1 + rng.IntN(24)
	var names []string
	if rng.IntN(2) == 0 {
		names = seqNames(m)
	} else {
		names = randNames(rng.Uint64(), m)
		names = slices.Compact(slices.Sorted(slices.Values(names)))
	}
	return cfg, names
}

// TestRandomRings checks the invariants every ring must hold, over random
// shapes and member sets.
func TestRandomRings(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 1000 {
		cfg, names := randomConfig(rng)
		r := mustNew(t, cfg, names)
		n := min(cfg.N, len(names))
		ctx := fmt.Sprintf("case %d %+v M=%d", i, cfg, len(names))
		total := 0
		for p := range cfg.Partitions {
			list := r.Preflist(p)
			if len(list) != n || hasDuplicates(list) {
				t.Fatalf("%s: Preflist(%d) = %v", ctx, p, list)
			}
			for _, name := range list {
				if !slices.Contains(names, name) {
					t.Fatalf("%s: Preflist(%d) holds non-member %q", ctx, p, name)
				}
			}
			if fb := r.Fallbacks(p); len(fb)+n != len(names) {
				t.Fatalf("%s: %d fallbacks for partition %d", ctx, len(fb), p)
			}
			total += n
		}
		capacity := capOf(cfg.Partitions*n, len(names), cfg.Partitions)
		sum := 0
		for _, name := range names {
			sum += r.Placements(name)
			if r.Placements(name) > capacity {
				t.Fatalf("%s: %s holds %d placements, cap %d", ctx, name, r.Placements(name), capacity)
			}
		}
		if sum != total {
			t.Fatalf("%s: placements sum to %d, want %d", ctx, sum, total)
		}
	}
}

// TestMatchesReference compares New with a direct, slow statement of the
// algorithm: sort all (partition, member) pairs by score and accept
// greedily under the cap. The fast path walks score levels and stops
// early; both must choose the same replica sets.
func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 3))
	compared := 0
	for i := range 200 {
		cfg, names := randomConfig(rng)
		r := mustNew(t, cfg, names)
		want, ok := referenceSets(r)
		if !ok {
			continue
		}
		compared++
		for p := range cfg.Partitions {
			got := slices.Sorted(slices.Values(r.Preflist(p)))
			if !slices.Equal(got, want[p]) {
				t.Fatalf("case %d %+v M=%d partition %d: got %v, reference %v", i, cfg, len(names), p, got, want[p])
			}
		}
	}
	if compared < 190 {
		t.Fatalf("only %d of 200 cases filled by the greedy pass alone", compared)
	}
}

// referenceSets returns the sorted replica sets of the plain greedy pass,
// or false if it leaves a slot open (then New exchanges placements).
func referenceSets(r *Ring) ([][]string, bool) {
	q, n, m := r.cfg.Partitions, r.n, len(r.members)
	type pair struct {
		score uint64
		p, i  int
	}
	var pairs []pair
	for p := range q {
		for i := range r.members {
			pairs = append(pairs, pair{r.members[i].scoreOf(p), p, i})
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		return cmp.Or(cmp.Compare(y.score, x.score), cmp.Compare(x.i, y.i))
	})
	limit := capOf(q*n, m, q)
	load := make([]int, m)
	sets := make([][]string, q)
	for _, x := range pairs {
		name := r.members[x.i].name
		if len(sets[x.p]) < n && load[x.i] < limit && !slices.Contains(sets[x.p], name) {
			sets[x.p] = append(sets[x.p], name)
			load[x.i]++
		}
	}
	for p := range sets {
		if len(sets[p]) < n {
			return nil, false
		}
		slices.Sort(sets[p])
	}
	return sets, true
}

func TestPermIsBijection(t *testing.T) {
	for _, q := range []int{1, 2, 4, 8, 32, 512, 2048} {
		for key := range uint64(5) {
			pm := newPerm(mix64(key), q)
			seen := make([]bool, q)
			for x := range uint64(q) {
				y := pm.at(x)
				if y >= uint64(q) || seen[y] {
					t.Fatalf("Q=%d key=%d: at(%d) = %d repeats or out of range", q, key, x, y)
				}
				seen[y] = true
				if back := pm.indexOf(y); back != x {
					t.Fatalf("Q=%d: indexOf(at(%d)) = %d", q, x, back)
				}
			}
		}
	}
}

// TestRandomMoves applies the balance and movement targets to random
// member sets at both common partition counts, with M up to Q/16.
func TestRandomMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds ~500 rings; the full run checks random joins and leaves")
	}
	rng := rand.New(rand.NewPCG(5, 8))
	for i := range 80 {
		q := []int{256, 1024}[i%2]
		cfg := Config{Partitions: q, N: 3}
		m := 3 + rng.IntN(q/16-2)
		names := randNames(rng.Uint64(), m+2)
		if len(slices.Compact(slices.Sorted(slices.Values(names)))) != m+2 {
			continue
		}
		base := names[:m]
		a := mustNew(t, cfg, base)
		if load, prim := loadRatios(a); load > maxLoadRatio || prim > maxLoadRatio {
			t.Errorf("Q=%d M=%d: load %.3f, first %.3f × mean", q, m, load, prim)
		}
		total := float64(q * 3)
		for _, j := range names[m:] {
			b := mustNew(t, cfg, append(slices.Clone(base), j))
			if ratio := float64(Moved(a, b)) / total * float64(m+1); ratio > maxMoveRatio {
				t.Errorf("Q=%d M=%d: join moves %.3f × the minimum", q, m, ratio)
			}
		}
		for range 4 {
			l := base[rng.IntN(m)]
			b := mustNew(t, cfg, slices.DeleteFunc(slices.Clone(base), func(s string) bool { return s == l }))
			if ratio := float64(Moved(a, b)) / total * float64(m); ratio > maxMoveRatio {
				t.Errorf("Q=%d M=%d: leave moves %.3f × the minimum", q, m, ratio)
			}
		}
	}
}
