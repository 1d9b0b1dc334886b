package vclock

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Sibling is one version of a key's value, named by the dot of the write that
// created it.
type Sibling struct {
	Dot         Dot
	Value       []byte
	ContentType string
	Deleted     bool // a tombstone written by DELETE
}

// Set is one replica's state for one key: the causal context Clock (every
// event this replica has seen for the key, whether it still holds the value or
// has seen it superseded) and the Siblings that no write seen here superseded.
//
// Invariants (see Validate): Clock is a valid VV; Siblings are sorted by dot
// (actor, then counter) with unique dots; Clock covers every sibling's dot.
//
// Update and Merge return sets that share no memory with their arguments, so a
// caller may keep, mutate or recycle its inputs (a request body buffer, a
// decoded store value) afterwards. MergeShared and UnmarshalSetShared trade
// that guarantee for fewer copies: their results alias their inputs.
type Set struct {
	Clock    VV
	Siblings []Sibling
}

// Update applies a write coordinated by actor, whose client read the causal
// context ctx, and returns the new set and the write's dot; s is unchanged.
//
// It issues the dot (actor, max(s.Clock[actor], ctx[actor])+1), drops every
// sibling ctx covers (the client saw it, so this write supersedes it), keeps
// every other sibling (concurrent with this write), and sets Clock to
// s.Clock ∪ ctx ∪ {dot}. Taking the max with ctx means a dot a client may have
// seen is never issued twice, even if this replica's clock is behind.
//
// A blind write (a client that sent no context) passes s.Clock as ctx: it
// supersedes every version this replica holds, so blind overwrites do not pile
// up siblings, while versions this replica has not seen yet survive the next
// Merge as siblings.
//
// actor must be non-zero. Update panics on a zero actor or when the counter
// would overflow; both are wiring bugs, since DecodeContext bounds counters at
// MaxCounter and reaching 2^64 otherwise takes 2^64 writes.
func (s Set) Update(ctx VV, actor Actor, value []byte, contentType string, deleted bool) (Set, Dot) {
	return s.UpdateAfter(ctx, actor, 0, value, contentType, deleted)
}

// UpdateAfter is Update with the new dot's counter also above floor. A
// coordinator that numbers its dots from one counter across all its keys
// never issues the same dot twice for a key, even after the key's history
// was reaped (a tombstone removed): a stale copy of an old version then
// cannot share a dot with a new one, and the new write's clock dominates
// every older version from this actor.
func (s Set) UpdateAfter(ctx VV, actor Actor, floor uint64, value []byte, contentType string, deleted bool) (Set, Dot) {
	dot := nextDot(s.Clock, ctx, actor, floor)
	sibs := make([]Sibling, 0, len(s.Siblings)+1)
	for _, x := range s.Siblings {
		if !ctx.Covers(x.Dot) {
			sibs = append(sibs, x)
		}
	}
	// Every kept sibling of actor has a counter below dot's, so the new
	// sibling goes before the first sibling of a larger actor.
	i := slices.IndexFunc(sibs, func(x Sibling) bool { return x.Dot.Actor > actor })
	if i < 0 {
		i = len(sibs)
	}
	sibs = slices.Insert(sibs, i, Sibling{Dot: dot, Value: value, ContentType: contentType, Deleted: deleted})
	copyValues(sibs)
	return Set{Clock: joinCap(s.Clock, ctx, 1).put(dot), Siblings: sibs}, dot
}

func nextDot(clock, ctx VV, actor Actor, floor uint64) Dot {
	if actor == 0 {
		panic("vclock: Update with zero actor")
	}
	n := max(clock.Get(actor), ctx.Get(actor), floor)
	if n == math.MaxUint64 {
		panic(fmt.Sprintf("vclock: counter overflow for actor %x", uint64(actor)))
	}
	return Dot{Actor: actor, Counter: n + 1}
}

// Merge returns the join of two replicas' states for the same key (anti-entropy,
// read repair, handoff and replicated writes all reduce to it).
//
// A sibling of a survives if b holds the same dot or b.Clock does not cover it:
// if b has seen the dot but no longer holds it, some write at b superseded it.
// Symmetrically for b. Clock is a.Clock ∪ b.Clock. Merge is commutative,
// associative and idempotent, so replicas converge whatever order states
// reach them in.
func Merge(a, b Set) Set {
	m := MergeShared(a, b)
	copyValues(m.Siblings)
	return m
}

// MergeShared is Merge without the private copy of the values: the result's
// sibling values alias those of a and b. Use it when neither input's values
// are ever modified (sets decoded with UnmarshalSetShared from bytes no one
// writes, the replies of a quorum read). The clock and sibling slice are the
// result's own.
func MergeShared(a, b Set) Set {
	sibs := make([]Sibling, 0, len(a.Siblings)+len(b.Siblings))
	as, bs := a.Siblings, b.Siblings
	for len(as) > 0 || len(bs) > 0 {
		var c int
		switch {
		case len(bs) == 0:
			c = -1
		case len(as) == 0:
			c = 1
		default:
			c = as[0].Dot.compare(bs[0].Dot)
		}
		switch {
		case c < 0:
			if !b.Clock.Covers(as[0].Dot) {
				sibs = append(sibs, as[0])
			}
			as = as[1:]
		case c > 0:
			if !a.Clock.Covers(bs[0].Dot) {
				sibs = append(sibs, bs[0])
			}
			bs = bs[1:]
		default:
			sibs = append(sibs, pickSame(as[0], bs[0]))
			as, bs = as[1:], bs[1:]
		}
	}
	if len(sibs) == 0 {
		sibs = nil
	}
	return Set{Clock: a.Clock.Join(b.Clock), Siblings: sibs}
}

// pickSame chooses between two siblings with the same dot. They are the same
// write unless an actor id was reused (the Riak KV679 failure this package's
// actors exist to prevent) or a store is corrupt; choosing by content rather
// than by argument order keeps Merge commutative even then, so replicas still
// converge.
func pickSame(x, y Sibling) Sibling {
	if compareContent(x, y) <= 0 {
		return x
	}
	return y
}

func compareContent(x, y Sibling) int {
	if x.Deleted != y.Deleted {
		if x.Deleted {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(x.ContentType, y.ContentType); c != 0 {
		return c
	}
	return bytes.Compare(x.Value, y.Value)
}

// copyValues gives sibs private copies of their values in one allocation.
// Each value is capped at its length so appending to one cannot overwrite the
// next. Empty values become nil, so none keeps a caller's spare capacity.
func copyValues(sibs []Sibling) {
	total := 0
	for _, x := range sibs {
		total += len(x.Value)
	}
	arena := make([]byte, 0, total)
	for i := range sibs {
		if len(sibs[i].Value) == 0 {
			sibs[i].Value = nil
			continue
		}
		start := len(arena)
		arena = append(arena, sibs[i].Value...)
		sibs[i].Value = arena[start:len(arena):len(arena)]
	}
}

// Equal reports whether s and o are the same state: equal clocks and the same
// siblings with the same contents. Nil and empty slices are equal.
func (s Set) Equal(o Set) bool {
	return slices.Equal(s.Clock, o.Clock) &&
		slices.EqualFunc(s.Siblings, o.Siblings, func(x, y Sibling) bool {
			return x.Dot == y.Dot && compareContent(x, y) == 0
		})
}

// Live returns the siblings that are not tombstones, in a new slice (nil if
// none) sharing values with s. A key whose siblings are all tombstones reads as
// not found; one with a tombstone and a live sibling reads as the live one.
func (s Set) Live() []Sibling {
	var live []Sibling
	for _, x := range s.Siblings {
		if !x.Deleted {
			live = append(live, x)
		}
	}
	return live
}

// IsEmpty reports whether s is the zero state: nothing written, nothing seen.
func (s Set) IsEmpty() bool { return len(s.Siblings) == 0 && len(s.Clock) == 0 }

// Validate checks the Set invariants (see Set). A sibling whose dot the clock
// does not cover would be dropped by the first Update with a context covering
// it although the client never saw it, so it counts as corruption.
func (s Set) Validate() error {
	if err := s.Clock.Validate(); err != nil {
		return err
	}
	for i, x := range s.Siblings {
		switch {
		case x.Dot.Actor == 0 || x.Dot.Counter == 0:
			return fmt.Errorf("vclock: sibling %d has invalid dot %v", i, x.Dot)
		case i > 0 && x.Dot.compare(s.Siblings[i-1].Dot) <= 0:
			return fmt.Errorf("vclock: sibling %d (dot %v) out of order or duplicated", i, x.Dot)
		case !s.Clock.Covers(x.Dot):
			return fmt.Errorf("vclock: sibling %d dot %v not covered by clock %v", i, x.Dot, s.Clock)
		}
	}
	return nil
}

// Encoded size bounds (see codec.go): a uint64 takes at most 9 bytes, an array,
// str or bin header at most 5.
const (
	maxSetHeader   = 1 + 1 + 5 + 5     // [version, clock, siblings]
	maxEntrySize   = 9 + 9             // actor, counter
	maxSiblingSize = 9 + 9 + 1 + 5 + 5 // actor, counter, deleted, content type and value headers
)

// Size returns an upper bound on the encoded size of s in bytes (values,
// content types and per-entry overhead), cheap enough to enforce limits on
// every write and exact enough to size buffers.
func (s Set) Size() int {
	n := maxSetHeader + len(s.Clock)*maxEntrySize
	for _, x := range s.Siblings {
		n += maxSiblingSize + len(x.ContentType) + len(x.Value)
	}
	return n
}
