package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/dynkv/dynkv/vclock"
)

// history builds a key's state: c:1 written, a:1 superseding it, b:1
// concurrent with a:1. Clock {a:1 b:1 c:1}, siblings a:1 "v2" and b:1 "v3".
func history() vclock.Set {
	var s vclock.Set
	s, _ = s.Update(nil, 0xc, []byte("v1"), "", false)
	s, _ = s.Update(s.Clock, 0xa, []byte("v2"), "", false)
	s, _ = s.Update(nil, 0xb, []byte("v3"), "", false)
	return s
}

// copies returns n independent copies of s.
func copies(s vclock.Set, n int) []*vclock.Set {
	out := make([]*vclock.Set, n)
	for i := range out {
		c := vclock.Merge(s, vclock.Set{})
		out[i] = &c
	}
	return out
}

func nodes(sets ...*vclock.Set) map[string]*vclock.Set {
	m := make(map[string]*vclock.Set)
	for i, s := range sets {
		m[string(rune('1'+i))] = s
	}
	return m
}

func TestCheckConvergence(t *testing.T) {
	base := history()
	if len(base.Siblings) != 2 || len(base.Clock) != 3 {
		t.Fatalf("history() = %v %v", base.Clock, base.Siblings)
	}
	c := copies(base, 4)
	var otherValue = vclock.Merge(base, vclock.Set{})
	otherValue.Siblings[1].Value = []byte("v3!")
	otherType := vclock.Merge(base, vclock.Set{})
	otherType.Siblings[0].ContentType = "text/plain"
	deleted := vclock.Merge(base, vclock.Set{})
	deleted.Siblings[1].Deleted = true
	oneSibling := vclock.Set{Clock: base.Clock, Siblings: base.Siblings[:1]}
	lessClock := vclock.Set{Clock: base.Clock[:2], Siblings: base.Siblings}
	moreClock := vclock.Set{Clock: base.Clock.Add(vclock.Dot{Actor: 0xd, Counter: 1}), Siblings: base.Siblings}
	invalid := vclock.Set{Clock: base.Clock[1:], Siblings: base.Siblings} // a:1 not covered
	emptyClock := vclock.Set{Clock: vclock.VV{}, Siblings: []vclock.Sibling{}}

	tests := []struct {
		name     string
		replicas map[string]map[string]*vclock.Set
		want     int
		diverged []string // keys
		details  []string // substrings of the first divergence's Detail
		holders  []string // of the first divergence
	}{
		{name: "nothing", want: 3},
		{name: "three equal copies", replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], c[1], c[2])}, want: 3},
		{name: "equal copies, count not checked", replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], nil, c[2])}, want: 0},
		{name: "nil and empty sets hold nothing", replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], nil, c[2], &vclock.Set{}, &emptyClock, c[3])}, want: 3},
		{name: "no holder at all is converged", replicas: map[string]map[string]*vclock.Set{"k": nodes(nil, nil, &vclock.Set{})}, want: 3},
		{name: "nil and empty clocks and siblings are equal", replicas: map[string]map[string]*vclock.Set{
			"k": nodes(&vclock.Set{Clock: vclock.VV{{Actor: 1, Counter: 1}}}, &vclock.Set{Clock: vclock.VV{{Actor: 1, Counter: 1}}, Siblings: []vclock.Sibling{}}),
		}, want: 2},
		{
			name: "a replica missing", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], nil, c[2])},
			diverged: []string{"k"}, holders: []string{"1", "3"}, details: []string{"held by 2 nodes (1,3), want 3"},
		},
		{
			name: "a fallback kept its copy", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], c[1], c[2], c[3])},
			diverged: []string{"k"}, holders: []string{"1", "2", "3", "4"}, details: []string{"held by 4 nodes (1,2,3,4), want 3"},
		},
		{
			name: "a sibling's value differs", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], &otherValue, c[2])},
			diverged: []string{"k"}, holders: []string{"1", "2", "3"},
			details: []string{`2 differ from 1,3: has b:1="v3!", not b:1="v3"`},
		},
		{
			name: "a sibling's content type differs", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], c[1], &otherType)},
			diverged: []string{"k"}, details: []string{`3 differ from 1,2: has a:1="v2"(text/plain), not a:1="v2"`},
		},
		{
			name: "a sibling deleted on one replica", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(&deleted, c[1], c[2])},
			diverged: []string{"k"}, details: []string{`2,3 differ from 1: has b:1="v3", not b:1(deleted)="v3"`},
		},
		{
			name: "a sibling missing", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], c[1], &oneSibling)},
			diverged: []string{"k"}, details: []string{`3 differ from 1,2: lacks b:1="v3"`},
		},
		{
			name: "an extra sibling", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(&oneSibling, c[1], c[2])},
			diverged: []string{"k"}, details: []string{`2,3 differ from 1: has extra b:1="v3"`},
		},
		{
			name: "the clock alone differs", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], c[1], &moreClock)},
			diverged: []string{"k"}, details: []string{"3 differ from 1,2: clock {a:1 b:1 c:1 d:1}, not {a:1 b:1 c:1}"},
		},
		{
			name: "three states", want: 3,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(c[0], &lessClock, &moreClock)},
			diverged: []string{"k"},
			details:  []string{"2 differ from 1: clock {a:1 b:1}, not {a:1 b:1 c:1}", "; 3 differ from 1: clock {a:1 b:1 c:1 d:1}"},
		},
		{
			name: "an invalid set", want: 2,
			replicas: map[string]map[string]*vclock.Set{"k": nodes(&invalid, &invalid)},
			diverged: []string{"k"}, details: []string{"1 holds an invalid set: vclock: sibling 0 dot a:1 not covered", "2 holds an invalid set"},
		},
		{
			name: "keys sorted, converged ones skipped", want: 3,
			replicas: map[string]map[string]*vclock.Set{
				"z": nodes(c[0], nil, c[2]), "m": nodes(c[0], c[1], c[2]), "a": nodes(c[0], c[1], &lessClock),
			},
			diverged: []string{"a", "z"}, details: []string{"3 differ from 1,2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckConvergence(tc.replicas, tc.want)
			var keys []string
			for _, d := range r.Diverged {
				keys = append(keys, d.Key)
			}
			if r.Keys != len(tc.replicas) || !slices.Equal(keys, tc.diverged) || r.Valid != (len(tc.diverged) == 0) {
				t.Fatalf("got %v, want keys=%d diverged %q", r, len(tc.replicas), tc.diverged)
			}
			if len(r.Diverged) == 0 {
				return
			}
			d := r.Diverged[0]
			for _, sub := range tc.details {
				if !strings.Contains(d.Detail, sub) {
					t.Errorf("Detail = %q, want it to contain %q", d.Detail, sub)
				}
			}
			if tc.holders != nil && !slices.Equal(d.Holders, tc.holders) {
				t.Errorf("Holders = %q, want %q", d.Holders, tc.holders)
			}
			if s := r.String(); !strings.HasPrefix(s, "convergence INVALID: keys=") || !strings.Contains(s, d.Detail) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

func TestConvergenceDetailTruncates(t *testing.T) {
	var a, b vclock.Set
	for i := range 8 {
		a, _ = a.Update(nil, vclock.Actor(i+1), []byte(strings.Repeat("x", 40)), "", false)
	}
	b = vclock.Set{Clock: a.Clock}
	r := CheckConvergence(map[string]map[string]*vclock.Set{"k": {"n1": &a, "n2": &b}}, 2)
	if len(r.Diverged) != 1 {
		t.Fatalf("got %v", r)
	}
	d := r.Diverged[0].Detail
	if !strings.Contains(d, `lacks 1:1="xxxxxxxxxxxxxxxxxxxxxxxx"…(40 bytes)`) || !strings.Contains(d, "…+3 more sibling differences") {
		t.Errorf("Detail = %q", d)
	}
}

// cluster is a three-replica simulation of one key: writes coordinated at
// n1 and n2 while n3 is down, n1 and n2 syncing with a correct merge, and
// n3 catching up only through transfer (handoff or anti-entropy), where the
// planted bugs live.
func cluster(transfer func(vclock.Set) vclock.Set) map[string]*vclock.Set {
	var n1, n2, n3 vclock.Set
	n1, _ = n1.Update(nil, 0xc, []byte("v1"), "", false)      // an earlier incarnation of n1
	n1, _ = n1.Update(n1.Clock, 0xa, []byte("v2"), "", false) // supersedes v1
	n2, _ = n2.Update(nil, 0xb, []byte("v3"), "", false)      // concurrent, at n2
	n1 = vclock.Merge(n1, n2)
	n2 = vclock.Merge(n2, n1)
	n3 = vclock.Merge(n3, transfer(n1)) // n3 comes back
	return map[string]*vclock.Set{"n1": &n1, "n2": &n2, "n3": &n3}
}

// The handoff or anti-entropy path that brings n3 up to date is buggy in one
// of several ways; CheckConvergence must flag the key on n3 each time, and
// pass the correct path.
func TestCheckConvergenceCatchesBrokenRepair(t *testing.T) {
	tests := []struct {
		name     string
		transfer func(vclock.Set) vclock.Set
		detail   string // "" = must converge
	}{
		{name: "correct", transfer: func(s vclock.Set) vclock.Set { return s }},
		{
			name: "clock rebuilt from the siblings' dots",
			transfer: func(s vclock.Set) vclock.Set {
				var clock vclock.VV
				for _, x := range s.Siblings {
					clock = clock.Add(x.Dot)
				}
				return vclock.Set{Clock: clock, Siblings: s.Siblings}
			},
			detail: "n3 differ from n1,n2: clock {a:1 b:1}, not {a:1 b:1 c:1}",
		},
		{
			name: "last sibling not sent",
			transfer: func(s vclock.Set) vclock.Set {
				return vclock.Set{Clock: s.Clock, Siblings: s.Siblings[:len(s.Siblings)-1]}
			},
			detail: `n3 differ from n1,n2: lacks b:1="v3"`,
		},
		{
			name: "a value cut short",
			transfer: func(s vclock.Set) vclock.Set {
				s = vclock.Merge(s, vclock.Set{})
				s.Siblings[0].Value = s.Siblings[0].Value[:1]
				return s
			},
			detail: `n3 differ from n1,n2: has a:1="v", not a:1="v2"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckConvergence(map[string]map[string]*vclock.Set{"key": cluster(tc.transfer)}, 3)
			if tc.detail == "" {
				if !r.Valid || r.Keys != 1 {
					t.Fatalf("correct repair: %v", r)
				}
				return
			}
			if r.Valid || len(r.Diverged) != 1 {
				t.Fatalf("got %v, want key diverged", r)
			}
			d := r.Diverged[0]
			if d.Key != "key" || !slices.Equal(d.Holders, []string{"n1", "n2", "n3"}) || d.Detail != tc.detail {
				t.Errorf("got %+v, want detail %q", d, tc.detail)
			}
		})
	}
}

// A fallback that took a hinted write while a primary was down and kept its
// copy after handing it off: the state is the same everywhere, but four nodes
// hold a key that three must.
func TestCheckConvergenceCatchesLeftoverHint(t *testing.T) {
	replicas := cluster(func(s vclock.Set) vclock.Set { return s })
	fallback := vclock.Merge(*replicas["n1"], vclock.Set{})
	replicas["n4"] = &fallback
	r := CheckConvergence(map[string]map[string]*vclock.Set{"key": replicas}, 3)
	if r.Valid || len(r.Diverged) != 1 || r.Diverged[0].Detail != "held by 4 nodes (n1,n2,n3,n4), want 3" {
		t.Errorf("got %v", r)
	}
	delete(replicas, "n4")
	if r := CheckConvergence(map[string]map[string]*vclock.Set{"key": replicas}, 3); !r.Valid {
		t.Errorf("after handoff cleanup: %v", r)
	}
}
