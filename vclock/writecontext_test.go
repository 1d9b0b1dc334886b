package vclock

import (
	"slices"
	"testing"
)

func values(s Set) []string {
	var out []string
	for _, sib := range s.Live() {
		out = append(out, string(sib.Value))
	}
	slices.Sort(out)
	return out
}

// TestWriterContext: a writer that keeps writing with the context each write
// returns never conflicts with itself, and never supersedes a concurrent
// sibling it has not seen.
func TestWriterContext(t *testing.T) {
	// Alone: sequential writes with the returned context keep one value.
	var s Set
	var ctx VV
	for i, v := range []string{"a", "b", "c"} {
		next, dot := s.Update(ctx, Actor(1+i%2), []byte(v), "", false)
		ctx, s = WriterContext(s, next, ctx, dot), next
	}
	if got := values(s); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("sequential writer: %v", got)
	}

	// Two writers from the same read: each one's returned context must not
	// cover the other's version.
	base, _ := Set{}.Update(nil, 1, []byte("v0"), "", false)
	read := base.Clock
	s1, d1 := base.Update(read, 1, []byte("x"), "", false)
	s2, d2 := s1.UpdateAfter(read, 1, 7, []byte("y"), "", false) // same coordinator, concurrent, a gap in its counter
	ctxY := WriterContext(s1, s2, read, d2)
	if ctxY.Covers(d1) {
		t.Fatalf("context of y %v covers the unseen sibling x %v", ctxY, d1)
	}
	s3, _ := s2.Update(ctxY, 1, []byte("y2"), "", false)
	// x must survive; y may too (the context could not name y alone, so
	// the writer's own older version stays as a sibling: safe, not lost).
	if got := values(s3); !slices.Contains(got, "x") || !slices.Contains(got, "y2") {
		t.Fatalf("writer of y superseded x: %v", got)
	}

	// A blind write's context is the coordinator's clock: always exact.
	s4, d4 := s3.Update(s3.Clock, 2, []byte("z"), "", false)
	if got := WriterContext(s3, s4, s3.Clock, d4); !got.Descends(s4.Clock) {
		t.Fatalf("blind writer context %v does not cover the result %v", got, s4.Clock)
	}
}

// TestUpdateAfterFloor: the new dot is above the floor, and a version with
// an old dot of the same actor is dominated by the new write's clock.
func TestUpdateAfterFloor(t *testing.T) {
	old, oldDot := Set{}.Update(nil, 1, []byte("old"), "", false)
	// The key's history was reaped: the coordinator starts from nothing but
	// its own counter, already at 10.
	fresh, dot := Set{}.UpdateAfter(nil, 1, 10, []byte("new"), "", false)
	if dot.Counter != 11 {
		t.Fatalf("dot %v, want counter 11", dot)
	}
	if got := values(Merge(fresh, old)); !slices.Equal(got, []string{"new"}) || !fresh.Clock.Covers(oldDot) {
		t.Fatalf("a stale copy of a reaped version came back: %v", got)
	}
}
