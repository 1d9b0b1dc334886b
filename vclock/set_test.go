package vclock

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

const (
	actorA Actor = 0xa1
	actorB Actor = 0xb2
	actorC Actor = 0xc3
)

func dotsOf(s Set) []Dot {
	var ds []Dot
	for _, x := range s.Siblings {
		ds = append(ds, x.Dot)
	}
	return ds
}

func mustValid(t *testing.T, s Set) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("invalid set %v: %v", s, err)
	}
}

// put is a client write: it returns the new set and the context a client
// reading the result would carry.
func put(t *testing.T, s Set, ctx VV, a Actor, v string) Set {
	t.Helper()
	out, dot := s.Update(ctx, a, []byte(v), "text/plain", false)
	mustValid(t, out)
	if !out.Clock.Covers(dot) || !slices.Contains(dotsOf(out), dot) {
		t.Fatalf("Update(%v, %x) = %v, dot %v missing", ctx, a, out, dot)
	}
	return out
}

func TestUpdateIssuesDots(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock VV
		ctx   VV
		want  Dot
	}{
		{"first write", nil, nil, Dot{actorA, 1}},
		{"own clock", VV{{actorA, 4}}, nil, Dot{actorA, 5}},
		{"context ahead of clock", VV{{actorA, 4}}, VV{{actorA, 9}}, Dot{actorA, 10}},
		{"other actors ignored", VV{{actorB, 7}}, VV{{actorC, 3}}, Dot{actorA, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dot := Set{Clock: tc.clock}.Update(tc.ctx, actorA, nil, "", false)
			if dot != tc.want {
				t.Errorf("dot = %v, want %v", dot, tc.want)
			}
		})
	}
}

func TestUpdateDoesNotChangeInput(t *testing.T) {
	s := put(t, Set{}, nil, actorA, "one")
	s = put(t, s, nil, actorB, "two")
	before := cloneSet(s)
	value := []byte("three")
	out, _ := s.Update(nil, actorA, value, "text/plain", false) // keeps both old siblings
	value[1] = 'X'
	for i := range out.Siblings {
		out.Siblings[i].Value[0] = 'Y'
	}
	out.Clock[0].Counter = 99
	if !s.Equal(before) {
		t.Fatalf("mutating Update's result changed its input: %v, was %v", s, before)
	}
	if got := string(out.Siblings[1].Value); got != "Yhree" {
		t.Fatalf("result shares the caller's value buffer: %q", got)
	}
}

func TestSequentialWritesNoSiblings(t *testing.T) {
	for _, actors := range [][]Actor{{actorA}, {actorA, actorB}, {actorA, actorB, actorC}} {
		t.Run(fmt.Sprintf("actors=%d/shared", len(actors)), func(t *testing.T) {
			var s Set
			for i := range 50 {
				s = put(t, s, s.Clock, actors[i%len(actors)], fmt.Sprint(i))
				if len(s.Siblings) != 1 {
					t.Fatalf("write %d: %d siblings: %v", i, len(s.Siblings), s)
				}
			}
		})
		// Each write goes to a different replica that has not synced; the
		// client carries the context of the previous result.
		t.Run(fmt.Sprintf("actors=%d/unsynced", len(actors)), func(t *testing.T) {
			replicas := make([]Set, len(actors))
			var ctx VV
			for i := range 50 {
				r := i % len(actors)
				replicas[r] = put(t, replicas[r], ctx, actors[r], fmt.Sprint(i))
				ctx = replicas[r].Clock
				if all := mergeAll(replicas...); len(all.Siblings) != 1 {
					t.Fatalf("write %d: merged state has %d siblings: %v", i, len(all.Siblings), all)
				}
			}
		})
	}
}

func TestConcurrentWritesSiblings(t *testing.T) {
	base := put(t, put(t, Set{}, nil, actorC, "base"), nil, actorA, "base2")
	ctx := base.Clock
	for _, tc := range []struct {
		name   string
		a1, a2 Actor
	}{
		{"same actor", actorA, actorA},
		{"different actors", actorA, actorB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var merged Set
			var d1, d2 Dot
			if tc.a1 == tc.a2 { // one coordinator applies both, in turn
				var s1 Set
				s1, d1 = base.Update(ctx, tc.a1, []byte("x"), "", false)
				merged, d2 = s1.Update(ctx, tc.a2, []byte("y"), "", false)
			} else { // two replicas diverge, then sync
				var s1, s2 Set
				s1, d1 = base.Update(ctx, tc.a1, []byte("x"), "", false)
				s2, d2 = base.Update(ctx, tc.a2, []byte("y"), "", false)
				merged = Merge(s1, s2)
			}
			mustValid(t, merged)
			if got, want := dotsOf(merged), sortedDots(d1, d2); !slices.Equal(got, want) {
				t.Fatalf("siblings %v, want exactly %v", got, want)
			}
		})
	}
}

func sortedDots(ds ...Dot) []Dot {
	return slices.SortedFunc(slices.Values(ds), Dot.compare)
}

func TestCoveringWriteCollapses(t *testing.T) {
	var s Set
	for i, a := range []Actor{actorA, actorB, actorA, actorC, actorB} {
		s = put(t, s, nil, a, fmt.Sprint(i)) // empty contexts: all concurrent
	}
	if len(s.Siblings) != 5 {
		t.Fatalf("setup: %d siblings, want 5", len(s.Siblings))
	}
	for _, a := range []Actor{actorA, actorC, 0xfff} {
		out, dot := s.Update(s.Clock, a, []byte("resolved"), "", false)
		if got := dotsOf(out); !slices.Equal(got, []Dot{dot}) {
			t.Fatalf("actor %x: siblings %v, want only %v", a, got, dot)
		}
	}
}

// TestBlindWriteKeepsUnseen: replicas A and B diverge; A takes a blind write
// (context = A's own clock). A's old version is superseded, but B's version,
// which A never saw, must survive the merge.
func TestBlindWriteKeepsUnseen(t *testing.T) {
	base := put(t, Set{}, nil, actorA, "v0")
	a, b := base, put(t, base, base.Clock, actorB, "from B")
	a, blind := a.Update(a.Clock, actorA, []byte("blind"), "", false)
	if len(a.Siblings) != 1 {
		t.Fatalf("blind write left %d siblings at A, want 1", len(a.Siblings))
	}
	for _, m := range []Set{Merge(a, b), Merge(b, a)} {
		want := sortedDots(blind, b.Siblings[0].Dot)
		if got := dotsOf(m); !slices.Equal(got, want) {
			t.Fatalf("merged siblings %v, want %v (B's unseen version kept, v0 dropped)", got, want)
		}
	}
}

// TestSiblingExplosion is Riak's scenario: two clients interleave fetch and
// put on one key, each writing with the context of its own last fetch. Without
// dots every such put looks concurrent with everything and siblings grow with
// each write. With dots a put supersedes everything its client fetched, which
// includes that client's own previous put, so at most the other client's
// latest put survives beside it: 2 siblings, inside the bound of 3.
func TestSiblingExplosion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		actors []Actor // coordinators, chosen at random per put
		random bool    // random interleaving instead of strict alternation
	}{
		{"alternating/one coordinator", []Actor{actorA}, false},
		{"alternating/two coordinators", []Actor{actorA, actorB}, false},
		{"random/three coordinators", []Actor{actorA, actorB, actorC}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			var s Set
			var ctx [2]VV
			var fetched [2]bool
			for step, writes := 0, 0; writes < 100; step++ {
				c := step % 2
				if tc.random {
					c = rng.IntN(2)
				}
				if !fetched[c] {
					ctx[c], fetched[c] = s.Clock, true
					continue
				}
				a := tc.actors[rng.IntN(len(tc.actors))]
				s = put(t, s, ctx[c], a, fmt.Sprintf("client %d write %d", c, writes))
				fetched[c] = false
				writes++
				if n := len(s.Siblings); n > 2 {
					t.Fatalf("write %d: %d siblings: %v", writes, n, s)
				}
			}
		})
	}
}

func TestMergeTable(t *testing.T) {
	x := Sibling{Dot: Dot{actorA, 1}, Value: []byte("x")}
	y := Sibling{Dot: Dot{actorB, 1}, Value: []byte("y")}
	clk := func(es ...Entry) VV { return es }
	for _, tc := range []struct {
		name string
		a, b Set
		want []Dot
	}{
		{"empty", Set{}, Set{}, nil},
		{"one side", Set{clk(Entry{actorA, 1}), []Sibling{x}}, Set{}, []Dot{x.Dot}},
		{"both hold", Set{clk(Entry{actorA, 1}), []Sibling{x}}, Set{clk(Entry{actorA, 1}), []Sibling{x}}, []Dot{x.Dot}},
		{"superseded", Set{clk(Entry{actorA, 1}), []Sibling{x}}, Set{clk(Entry{actorA, 1}, Entry{actorB, 1}), []Sibling{y}}, []Dot{y.Dot}},
		{"concurrent", Set{clk(Entry{actorA, 1}), []Sibling{x}}, Set{clk(Entry{actorB, 1}), []Sibling{y}}, []Dot{x.Dot, y.Dot}},
		{"seen and gone", Set{clk(Entry{actorA, 1}), []Sibling{x}}, Set{clk(Entry{actorA, 1}), nil}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []Set{Merge(tc.a, tc.b), Merge(tc.b, tc.a)} {
				mustValid(t, m)
				if got := dotsOf(m); !slices.Equal(got, tc.want) {
					t.Errorf("siblings %v, want %v", got, tc.want)
				}
				if want := tc.a.Clock.Join(tc.b.Clock); !slices.Equal(m.Clock, want) {
					t.Errorf("clock %v, want %v", m.Clock, want)
				}
			}
		})
	}
}

// TestMergeSameDotDifferentContent: a reused actor id can give two writes one
// dot. Merge cannot repair that, but must still be commutative so replicas
// converge on one of them.
func TestMergeSameDotDifferentContent(t *testing.T) {
	clock := VV{{actorA, 1}}
	a := Set{clock, []Sibling{{Dot: Dot{actorA, 1}, Value: []byte("a")}}}
	b := Set{clock, []Sibling{{Dot: Dot{actorA, 1}, Value: []byte("b")}}}
	c := Set{clock, []Sibling{{Dot: Dot{actorA, 1}, Value: []byte("a"), Deleted: true}}}
	for _, p := range [][2]Set{{a, b}, {a, c}, {b, c}} {
		if ab, ba := Merge(p[0], p[1]), Merge(p[1], p[0]); !ab.Equal(ba) || len(ab.Siblings) != 1 {
			t.Errorf("Merge not commutative on a dot clash: %v vs %v", ab, ba)
		}
	}
}

func TestMergeNoAliasing(t *testing.T) {
	a := put(t, put(t, Set{}, nil, actorA, "a1"), nil, actorB, "b1")
	b := put(t, Set{}, nil, actorC, "c1")
	ac, bc := cloneSet(a), cloneSet(b)
	for _, m := range []Set{Merge(a, b), Merge(a, Set{}), Merge(Set{}, a), Merge(a, a)} {
		for i := range m.Siblings {
			m.Siblings[i].Value[0] = 'Z'
			m.Siblings[i].Value = append(m.Siblings[i].Value, "more"...)
		}
		_ = append(m.Siblings, Sibling{})
		for i := range m.Clock {
			m.Clock[i].Counter = 77
		}
		if !a.Equal(ac) || !b.Equal(bc) {
			t.Fatalf("mutating a Merge result changed an input: %v %v", a, b)
		}
	}
}

func TestLiveAndEmpty(t *testing.T) {
	var s Set
	if !s.IsEmpty() || len(s.Live()) != 0 {
		t.Fatal("zero Set not empty")
	}
	s, _ = s.Update(nil, actorA, []byte("v"), "", false)
	s, del := s.Update(nil, actorB, nil, "", true)
	if s.IsEmpty() {
		t.Fatal("set with siblings is empty")
	}
	live := s.Live()
	if len(live) != 1 || !bytes.Equal(live[0].Value, []byte("v")) {
		t.Fatalf("Live() = %v, want the one live sibling", live)
	}
	s, _ = s.Update(s.Clock, actorA, nil, "", true)
	if len(s.Live()) != 0 || s.IsEmpty() || s.Clock.Get(actorB) != del.Counter {
		t.Fatalf("after delete: live %v, set %v", s.Live(), s)
	}
}

func TestSetValidate(t *testing.T) {
	sib := func(a Actor, c uint64) Sibling { return Sibling{Dot: Dot{a, c}} }
	clock := VV{{actorA, 3}, {actorB, 1}}
	for _, tc := range []struct {
		name string
		s    Set
		ok   bool
	}{
		{"zero", Set{}, true},
		{"clock only", Set{Clock: clock}, true},
		{"two siblings", Set{clock, []Sibling{sib(actorA, 2), sib(actorB, 1)}}, true},
		{"bad clock", Set{Clock: VV{{actorB, 1}, {actorA, 1}}}, false},
		{"uncovered", Set{clock, []Sibling{sib(actorA, 4)}}, false},
		{"unknown actor", Set{clock, []Sibling{sib(actorC, 1)}}, false},
		{"unsorted", Set{clock, []Sibling{sib(actorB, 1), sib(actorA, 2)}}, false},
		{"duplicate", Set{clock, []Sibling{sib(actorA, 2), sib(actorA, 2)}}, false},
		{"zero counter", Set{clock, []Sibling{sib(actorA, 0)}}, false},
		{"zero actor", Set{clock, []Sibling{sib(0, 1)}}, false},
	} {
		if err := tc.s.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestUpdatePanicsOnZeroActor(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Update with actor 0 did not panic")
		}
	}()
	Set{}.Update(nil, 0, nil, "", false)
}

func cloneSet(s Set) Set {
	out := Set{Clock: slices.Clone(s.Clock), Siblings: slices.Clone(s.Siblings)}
	for i := range out.Siblings {
		out.Siblings[i].Value = bytes.Clone(out.Siblings[i].Value)
	}
	return out
}

func mergeAll(sets ...Set) Set {
	var out Set
	for _, s := range sets {
		out = Merge(out, s)
	}
	return out
}
