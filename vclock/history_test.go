package vclock

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// A history simulates several replicas of one key taking writes with random,
// often stale, contexts and syncing at random, next to a naive oracle that
// remembers every write with its context and which writes each replica knows.
//
// The oracle's rule is the definition DVV sets implement: a replica's clock is
// the join of the contexts and dots of the writes it knows, and its siblings
// are exactly the known writes that no known write's context covers.
type history struct {
	rng      *rand.Rand
	actors   []Actor
	replicas []Set
	known    []map[int]bool // per replica: indices into writes
	writes   []histWrite
	past     []Set // every state any replica has had: stale reads
}

type histWrite struct {
	dot   Dot
	ctx   VV
	value string
}

func newHistory(seed uint64, nReplicas int) *history {
	h := &history{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for range nReplicas {
		// Random actor ids, as nodes issue them, so sort order is arbitrary.
		h.actors = append(h.actors, Actor(h.rng.Uint64()|1))
		h.replicas = append(h.replicas, Set{})
		h.known = append(h.known, map[int]bool{})
	}
	return h
}

// step does one random operation and returns a description for failures.
func (h *history) step() string {
	r := h.rng.IntN(len(h.replicas))
	if h.rng.IntN(3) == 0 {
		q := h.rng.IntN(len(h.replicas))
		h.replicas[r] = Merge(h.replicas[r], h.replicas[q])
		for w := range h.known[q] {
			h.known[r][w] = true
		}
		h.past = append(h.past, h.replicas[r])
		return fmt.Sprintf("merge %d<-%d", r, q)
	}
	ctx, how := h.context(r)
	i := len(h.writes)
	value := fmt.Sprintf("w%d", i)
	s, dot := h.replicas[r].Update(ctx, h.actors[r], []byte(value), "text/plain", h.rng.IntN(8) == 0)
	h.replicas[r] = s
	h.writes = append(h.writes, histWrite{dot: dot, ctx: ctx, value: value})
	h.known[r][i] = true
	h.past = append(h.past, s)
	return fmt.Sprintf("write %d at %d with %s context", i, r, how)
}

// context picks what a client might send: a fresh read of the coordinator
// (or a blind write, the same thing), a read of another replica, a stale read
// from the past, or nothing.
func (h *history) context(r int) (VV, string) {
	switch h.rng.IntN(4) {
	case 0:
		return h.replicas[r].Clock, "own"
	case 1:
		return h.replicas[h.rng.IntN(len(h.replicas))].Clock, "other replica's"
	case 2:
		if len(h.past) > 0 {
			return h.past[h.rng.IntN(len(h.past))].Clock, "stale"
		}
	}
	return nil, "empty"
}

// expect returns the oracle's state for a set of known writes.
func (h *history) expect(known map[int]bool) (VV, []Dot, map[Dot]string) {
	var clock VV
	var dots []Dot
	values := map[Dot]string{}
	for w := range known {
		clock = clock.Join(h.writes[w].ctx).Add(h.writes[w].dot)
		if !h.superseded(w, known) {
			dots = append(dots, h.writes[w].dot)
			values[h.writes[w].dot] = h.writes[w].value
		}
	}
	slices.SortFunc(dots, Dot.compare)
	return clock, dots, values
}

func (h *history) superseded(w int, by map[int]bool) bool {
	for o := range by {
		if h.writes[o].ctx.Covers(h.writes[w].dot) {
			return true
		}
	}
	return false
}

// diff returns how s differs from the oracle's state for the known writes.
func (h *history) diff(s Set, known map[int]bool) error {
	if err := s.Validate(); err != nil {
		return err
	}
	clock, dots, values := h.expect(known)
	if !slices.Equal(s.Clock, clock) {
		return fmt.Errorf("clock %v, oracle %v", s.Clock, clock)
	}
	if got := dotsOf(s); !slices.Equal(got, dots) {
		return fmt.Errorf("siblings %v, oracle %v", got, dots)
	}
	for _, x := range s.Siblings {
		if string(x.Value) != values[x.Dot] {
			return fmt.Errorf("sibling %v holds %q, written %q", x.Dot, x.Value, values[x.Dot])
		}
	}
	return nil
}

func (h *history) all() map[int]bool {
	all := map[int]bool{}
	for i := range h.writes {
		all[i] = true
	}
	return all
}

const histories = 200

// TestHistoriesMatchOracle is the differential test: after every operation
// every replica's set must equal the oracle's, so the implementation neither
// loses a write nor keeps a superseded one.
func TestHistoriesMatchOracle(t *testing.T) {
	for seed := range uint64(histories) {
		h := newHistory(seed, 2+int(seed%4))
		var ops []string
		for range 60 {
			ops = append(ops, h.step())
			for r, s := range h.replicas {
				if err := h.diff(s, h.known[r]); err != nil {
					t.Fatalf("seed %d, replica %d: %v\nafter %q", seed, r, err, ops)
				}
			}
		}
		if err := h.diff(mergeAll(h.replicas...), h.all()); err != nil {
			t.Fatalf("seed %d, all replicas merged: %v", seed, err)
		}
	}
}

// TestNoLostWrites: every dot ever issued is in the final merged state or
// covered by the context of a later write that superseded it.
func TestNoLostWrites(t *testing.T) {
	for seed := range uint64(histories) {
		h := newHistory(seed+1000, 3)
		for range 80 {
			h.step()
		}
		final := mergeAll(h.replicas...)
		held := map[Dot]bool{}
		for _, x := range final.Siblings {
			held[x.Dot] = true
		}
		for i, w := range h.writes {
			later := slices.ContainsFunc(h.writes[i+1:], func(o histWrite) bool { return o.ctx.Covers(w.dot) })
			if !held[w.dot] && !later {
				t.Fatalf("seed %d: write %d (dot %v) lost: final %v", seed, i, w.dot, final)
			}
			if held[w.dot] && later {
				t.Fatalf("seed %d: write %d (dot %v) superseded but kept: final %v", seed, i, w.dot, final)
			}
		}
	}
}

// TestMergeLaws checks commutativity, associativity and idempotence on states
// from random histories, and that merging all replicas in any order agrees.
func TestMergeLaws(t *testing.T) {
	for seed := range uint64(histories) {
		h := newHistory(seed+2000, 4)
		for range 40 {
			h.step()
		}
		pick := func() Set { return h.past[h.rng.IntN(len(h.past))] }
		for range 20 {
			a, b, c := pick(), pick(), pick()
			ab := Merge(a, b)
			mustValid(t, ab)
			switch {
			case !ab.Equal(Merge(b, a)):
				t.Fatalf("seed %d: not commutative:\na=%v\nb=%v", seed, a, b)
			case !Merge(ab, c).Equal(Merge(a, Merge(b, c))):
				t.Fatalf("seed %d: not associative:\na=%v\nb=%v\nc=%v", seed, a, b, c)
			case !Merge(a, a).Equal(a) || !Merge(ab, b).Equal(ab):
				t.Fatalf("seed %d: not idempotent:\na=%v\nb=%v", seed, a, b)
			case !Merge(a, Set{}).Equal(a):
				t.Fatalf("seed %d: empty set is not the identity for %v", seed, a)
			}
		}
		want := mergeAll(h.replicas...)
		for range 10 {
			perm := slices.Clone(h.replicas)
			h.rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			if got := mergeAll(perm...); !got.Equal(want) {
				t.Fatalf("seed %d: merge order matters:\n%v\n%v", seed, got, want)
			}
		}
	}
}
