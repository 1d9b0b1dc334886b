package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dynkv/dynkv/vclock"
)

func sib(client int, seen []string, wrote string, o Outcome) SiblingOp {
	return SiblingOp{Client: client, Seen: seen, Wrote: wrote, Outcome: o}
}

func TestCheckSiblings(t *testing.T) {
	tests := []struct {
		name        string
		ops         []SiblingOp
		final       []string
		limit       int
		lost, unexp []string
		resurrected []string
		max, acked  int
		valid       bool
		summary     string
	}{
		{name: "nothing", valid: true, summary: "siblings valid: writes=0 acked=0 max-siblings=0 lost=0 unexpected=0"},
		{
			name: "a chain of resolved writes", limit: 1,
			ops:   []SiblingOp{sib(0, nil, "a", OK), sib(1, []string{"a"}, "b", OK), sib(0, []string{"b"}, "c", OK)},
			final: []string{"c"}, max: 1, acked: 3, valid: true,
		},
		{
			name: "two concurrent writes both kept", limit: 2,
			ops:   []SiblingOp{sib(0, nil, "a", OK), sib(1, nil, "b", OK)},
			final: []string{"b", "a"}, max: 2, acked: 2, valid: true,
		},
		{
			name: "a concurrent write dropped is lost",
			ops:  []SiblingOp{sib(0, nil, "a", OK), sib(1, nil, "b", OK), sib(0, []string{"a"}, "c", OK)},
			// b was never seen by anyone, yet it is gone.
			final: []string{"c"}, lost: []string{"b"}, max: 1, acked: 3,
			summary: `siblings INVALID: writes=3 acked=3 max-siblings=1 lost=1 ["b"] unexpected=0`,
		},
		{
			name: "an unacknowledged write that took effect excuses what it saw",
			ops: []SiblingOp{
				sib(0, nil, "a", OK), sib(1, []string{"a"}, "b", Unknown), // b applied: it is in final
				sib(0, nil, "x", OK), sib(1, []string{"x"}, "y", Failed), // y applied despite the 503: seen by z
				sib(0, []string{"y"}, "z", Unknown), // z observed in final
			},
			final: []string{"b", "z"}, max: 2, acked: 2, valid: true,
		},
		{
			name:  "an unacknowledged write never observed excuses nothing",
			ops:   []SiblingOp{sib(0, nil, "a", OK), sib(1, []string{"a"}, "b", Unknown), sib(1, []string{"a"}, "c", Failed)},
			final: nil, lost: []string{"a"}, max: 1, acked: 1,
		},
		{
			name:  "unacknowledged writes are never lost",
			ops:   []SiblingOp{sib(0, nil, "a", Unknown), sib(1, nil, "b", Failed), sib(1, nil, "c", Outcome(9))},
			final: []string{}, valid: true,
		},
		{
			name:  "values nobody wrote are unexpected, in fetches or final",
			ops:   []SiblingOp{sib(0, []string{"ghost"}, "a", OK), sib(1, []string{"a", "phantom"}, "b", OK)},
			final: []string{"b", "zombie"}, max: 2, acked: 2,
			unexp: []string{"ghost", "phantom", "zombie"},
			// ghost and phantom were "seen" and so superseded: they must not be in the final read.
			summary: `unexpected=3 ["ghost" "phantom" "zombie"]`,
		},
		{
			name:  "a superseded value coming back is resurrected",
			ops:   []SiblingOp{sib(0, nil, "a", OK), sib(1, []string{"a"}, "b", OK)},
			final: []string{"a", "b"}, max: 2, acked: 2, resurrected: []string{"a"},
			summary: `resurrected=1 ["a"]`,
		},
		{
			name:  "seen only by an unacknowledged write: may stay",
			ops:   []SiblingOp{sib(0, nil, "a", OK), sib(1, []string{"a"}, "b", Unknown)},
			final: []string{"a", "b"}, max: 2, acked: 1, valid: true,
		},
		{
			name:  "too many siblings in a fetch",
			limit: 2,
			ops:   []SiblingOp{sib(0, nil, "a", OK), sib(1, nil, "b", OK), sib(2, nil, "c", OK), sib(0, []string{"a", "b", "c"}, "d", OK)},
			final: []string{"d"}, max: 3, acked: 4,
			summary: "max-siblings=3 (limit 2)",
		},
		{
			name:  "too many siblings in the final read, duplicates counted",
			limit: 2,
			ops:   []SiblingOp{sib(0, nil, "a", OK)},
			final: []string{"a", "a", "a"}, max: 3, acked: 1,
		},
		{
			name:  "limit 0 is no bound",
			ops:   []SiblingOp{sib(0, nil, "a", OK), sib(1, nil, "b", OK), sib(2, nil, "c", OK)},
			final: []string{"a", "b", "c"}, max: 3, acked: 3, valid: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckSiblings(tc.ops, tc.final, tc.limit)
			if r.Writes != len(tc.ops) || r.Acked != tc.acked || r.MaxSiblings != tc.max || r.Limit != tc.limit || r.Valid != tc.valid {
				t.Errorf("got %v, want writes=%d acked=%d max=%d valid=%v", r, len(tc.ops), tc.acked, tc.max, tc.valid)
			}
			if !slices.Equal(r.Lost, tc.lost) || !slices.Equal(r.Unexpected, tc.unexp) || !slices.Equal(r.Resurrected, tc.resurrected) {
				t.Errorf("lost %q unexpected %q resurrected %q, want %q %q %q", r.Lost, r.Unexpected, r.Resurrected, tc.lost, tc.unexp, tc.resurrected)
			}
			if s := r.String(); !strings.Contains(s, tc.summary) {
				t.Errorf("String() = %q, want it to contain %q", s, tc.summary)
			}
		})
	}
}

// sibStore is one key on one replica, as the sibling workload sees it.
type sibStore interface {
	fetch() (values []string, ctx vclock.VV)
	put(ctx vclock.VV, value string)
}

// dvvStore is the correct store: a vclock.Set, so each write supersedes
// exactly the siblings its context saw.
type dvvStore struct{ set vclock.Set }

func (s *dvvStore) fetch() ([]string, vclock.VV) {
	var vals []string
	for _, x := range s.set.Live() {
		vals = append(vals, string(x.Value))
	}
	return vals, s.set.Clock
}

func (s *dvvStore) put(ctx vclock.VV, v string) {
	s.set, _ = s.set.Update(ctx, 1, []byte(v), "", false)
}

// lwwStore keeps the last write and ignores contexts: concurrent writes
// overwrite each other.
type lwwStore struct{ value *string }

func (s *lwwStore) fetch() ([]string, vclock.VV) {
	if s.value == nil {
		return nil, nil
	}
	return []string{*s.value}, nil
}

func (s *lwwStore) put(_ vclock.VV, v string) { s.value = &v }

// vvStore is a per-replica version vector without dots (Riak before DVV,
// vnode_vclocks): a write whose context has seen the whole clock replaces
// every value; any other write cannot tell which values its client saw, so it
// keeps them all and adds its own. Nothing is lost, but siblings pile up.
type vvStore struct {
	clock  vclock.VV
	values []string
}

func (s *vvStore) fetch() ([]string, vclock.VV) { return slices.Clone(s.values), s.clock }

func (s *vvStore) put(ctx vclock.VV, v string) {
	if ctx.Descends(s.clock) {
		s.values = nil
	}
	s.values = append(s.values, v)
	s.clock = s.clock.Join(ctx).Add(vclock.Dot{Actor: 1, Counter: s.clock.Get(1) + 1})
}

// runSiblings drives two clients through store: each alternately fetches
// (all siblings, with the context) and writes a new unique value with that
// context, in the order next picks, until writes writes are done. It
// returns the history and the final read.
func runSiblings(store sibStore, writes int, next func() int) ([]SiblingOp, []string) {
	type client struct {
		fetched bool
		seen    []string
		ctx     vclock.VV
	}
	var cs [2]client
	var ops []SiblingOp
	for len(ops) < writes {
		i := next()
		c := &cs[i]
		if !c.fetched {
			c.seen, c.ctx = store.fetch()
			c.fetched = true
			continue
		}
		v := fmt.Sprintf("c%d-w%03d", i, len(ops))
		store.put(c.ctx, v)
		ops = append(ops, SiblingOp{Client: i, Seen: c.seen, Wrote: v, Outcome: OK})
		c.fetched = false
	}
	final, _ := store.fetch()
	return ops, final
}

// randomOrder picks either client at random.
func randomOrder(seed uint64) func() int {
	rng := rand.New(rand.NewPCG(seed, 2))
	return func() int { return rng.IntN(2) }
}

// staleOrder is Riak sibling_explosion's worst case: every write's fetch
// happened before the other client's last write (A fetch, B fetch, then
// B put, B fetch, A put, A fetch, repeated).
func staleOrder() func() int {
	steps := []int{0, 1}
	for len(steps) < 1000 {
		steps = append(steps, 1, 1, 0, 0)
	}
	i := -1
	return func() int { i++; return steps[i] }
}

// Riak sibling_explosion: 100 writes by 2 interleaving clients. With dotted
// version vectors no write is lost and siblings stay at most 3; a
// last-writer-wins store loses concurrent writes; a store with a version
// vector but no dots loses nothing but piles up about one sibling per write.
func TestCheckSiblingsCatchesBrokenStores(t *testing.T) {
	const writes, limit = 100, 3
	type order struct {
		name string
		next func() int
	}
	orders := []order{{"stale", staleOrder()}}
	for seed := range uint64(20) {
		orders = append(orders, order{fmt.Sprintf("seed %d", seed), randomOrder(seed)})
	}
	for _, o := range orders {
		ops, final := runSiblings(&dvvStore{}, writes, o.next)
		if r := CheckSiblings(ops, final, limit); !r.Valid || r.MaxSiblings > 3 || r.Writes != writes {
			t.Errorf("dvv, %s: %v", o.name, r)
		}
	}

	for seed := range uint64(20) {
		ops, final := runSiblings(&lwwStore{}, writes, randomOrder(seed))
		r := CheckSiblings(ops, final, limit)
		if r.Valid || len(r.Lost) == 0 || len(r.Unexpected) != 0 || r.MaxSiblings != 1 {
			t.Errorf("lww, seed %d: %v, want lost writes", seed, r)
		}
		// Each lost value is a write whose value nobody fetched before it
		// was overwritten.
		for _, v := range r.Lost {
			i := slices.IndexFunc(ops, func(op SiblingOp) bool { return op.Wrote == v })
			for _, op := range ops[i+1:] {
				if slices.Contains(op.Seen, v) {
					t.Errorf("lww, seed %d: %q reported lost but seen by %v", seed, v, op)
				}
			}
		}
	}
	// In the stale order, each client's next fetch sees its own overwritten
	// value, so LWW loses only the very last write of the client that wrote
	// next-to-last.
	ops, final := runSiblings(&lwwStore{}, writes, staleOrder())
	if r := CheckSiblings(ops, final, limit); r.Valid || !slices.Equal(r.Lost, []string{"c1-w098"}) {
		t.Errorf("lww, stale: %v, want c1-w098 lost", r)
	}

	ops, final = runSiblings(&vvStore{}, writes, staleOrder())
	r := CheckSiblings(ops, final, limit)
	// The piled-up siblings are values the later writes had seen: dominated
	// versions that stayed.
	if r.Valid || len(r.Lost) != 0 || len(r.Unexpected) != 0 || r.MaxSiblings < writes-2 || len(r.Resurrected) < writes-3 {
		t.Errorf("vv without dots, stale: %v, want about %d siblings", r, writes)
	}
	if !strings.Contains(r.String(), fmt.Sprintf("max-siblings=%d (limit 3)", r.MaxSiblings)) {
		t.Errorf("String() = %q", r)
	}
}
