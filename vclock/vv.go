package vclock

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Actor identifies one coordinating replica for the lifetime of its store (one
// store incarnation). The node issues it at random when it creates an empty
// store and never reuses it; 0 is never a valid actor.
type Actor uint64

// Dot names one write: the Counter-th event coordinated by Actor.
type Dot struct {
	Actor   Actor
	Counter uint64
}

// String formats d as actor:counter with the actor in hex, for logs.
func (d Dot) String() string { return fmt.Sprintf("%x:%d", uint64(d.Actor), d.Counter) }

// compare orders dots by actor, then counter; sibling slices use this order.
func (d Dot) compare(o Dot) int {
	if c := cmp.Compare(d.Actor, o.Actor); c != 0 {
		return c
	}
	return cmp.Compare(d.Counter, o.Counter)
}

// Entry is one component of a version vector: Actor has coordinated events
// 1..Counter.
type Entry struct {
	Actor   Actor
	Counter uint64
}

// VV is a version vector: entries sorted by Actor ascending, no duplicates, no
// zero actors or counters. nil is the empty VV.
//
// Methods assume v is valid (see Validate) and never modify it; results never
// share memory with their inputs, so callers may append to them freely.
type VV []Entry

// find returns the index of a in v, or where it would be inserted.
func (v VV) find(a Actor) (int, bool) {
	return slices.BinarySearchFunc(v, a, func(e Entry, a Actor) int { return cmp.Compare(e.Actor, a) })
}

// Get returns a's counter in v, 0 if v has no entry for a.
func (v VV) Get(a Actor) uint64 {
	if i, ok := v.find(a); ok {
		return v[i].Counter
	}
	return 0
}

// Covers reports whether v has seen the write d, i.e. d.Counter <= v[d.Actor].
func (v VV) Covers(d Dot) bool { return d.Counter <= v.Get(d.Actor) }

// Join returns the pointwise maximum of v and o in a new slice.
func (v VV) Join(o VV) VV { return joinCap(v, o, 0) }

// joinCap is Join leaving room for extra more entries, so that a following
// put does not reallocate.
func joinCap(v, o VV, extra int) VV {
	if len(v)+len(o)+extra == 0 {
		return nil
	}
	out := make(VV, 0, len(v)+len(o)+extra)
	i, j := 0, 0
	for i < len(v) && j < len(o) {
		switch c := cmp.Compare(v[i].Actor, o[j].Actor); {
		case c < 0:
			out = append(out, v[i])
			i++
		case c > 0:
			out = append(out, o[j])
			j++
		default:
			out = append(out, Entry{v[i].Actor, max(v[i].Counter, o[j].Counter)})
			i, j = i+1, j+1
		}
	}
	out = append(out, v[i:]...)
	out = append(out, o[j:]...)
	if len(out) == 0 && extra == 0 {
		return nil
	}
	return out
}

// Add returns v joined with {d.Actor: d.Counter} in a new slice.
func (v VV) Add(d Dot) VV {
	if d.Counter == 0 {
		return v.Join(nil)
	}
	return joinCap(v, nil, 1).put(d)
}

// put raises v[d.Actor] to d.Counter in place, inserting the entry if needed.
// A zero counter is a no-op, since VVs hold no zero counters.
func (v VV) put(d Dot) VV {
	if d.Counter == 0 {
		return v
	}
	i, ok := v.find(d.Actor)
	if ok {
		v[i].Counter = max(v[i].Counter, d.Counter)
		return v
	}
	return slices.Insert(v, i, Entry(d))
}

// Descends reports whether v >= o pointwise: v has seen everything o has.
func (v VV) Descends(o VV) bool {
	ord := Compare(v, o)
	return ord == Equal || ord == After
}

// Ordering is the causal relation between two version vectors.
type Ordering int

// The four possible relations of Compare(a, b).
const (
	Equal      Ordering = iota // a == b
	Before                     // a < b: b has seen everything a has, and more
	After                      // a > b
	Concurrent                 // each has seen something the other has not
)

var orderingNames = [...]string{"Equal", "Before", "After", "Concurrent"}

func (o Ordering) String() string {
	if o >= 0 && int(o) < len(orderingNames) {
		return orderingNames[o]
	}
	return fmt.Sprintf("Ordering(%d)", int(o))
}

// Compare returns the causal relation of a to b in one pass over both.
func Compare(a, b VV) Ordering {
	aMore, bMore := false, false
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := cmp.Compare(a[i].Actor, b[j].Actor); {
		case c < 0:
			aMore, i = true, i+1
		case c > 0:
			bMore, j = true, j+1
		default:
			aMore = aMore || a[i].Counter > b[j].Counter
			bMore = bMore || a[i].Counter < b[j].Counter
			i, j = i+1, j+1
		}
	}
	aMore = aMore || i < len(a)
	bMore = bMore || j < len(b)
	switch {
	case aMore && bMore:
		return Concurrent
	case aMore:
		return After
	case bMore:
		return Before
	}
	return Equal
}

// Validate checks the VV invariants: entries sorted by actor, unique, with
// non-zero actors and counters. Everything decoded from outside is validated
// because the merge logic silently misbehaves on malformed vectors.
func (v VV) Validate() error {
	for i, e := range v {
		switch {
		case e.Actor == 0:
			return fmt.Errorf("vclock: entry %d has zero actor", i)
		case e.Counter == 0:
			return fmt.Errorf("vclock: entry %d (actor %x) has zero counter", i, uint64(e.Actor))
		case i > 0 && e.Actor <= v[i-1].Actor:
			return errors.New("vclock: entries not sorted by actor or duplicated")
		}
	}
	return nil
}

// String formats v as {actor:counter ...} with actors in hex, for logs.
func (v VV) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Dot(e).String())
	}
	b.WriteByte('}')
	return b.String()
}
