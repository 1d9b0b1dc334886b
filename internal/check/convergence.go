package check

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dynkv/dynkv/vclock"
)

// ConvergenceResult is CheckConvergence's verdict.
type ConvergenceResult struct {
	Keys     int          // keys checked
	Diverged []Divergence // sorted by key
	Valid    bool         // len(Diverged) == 0
}

// Divergence is one key whose replicas have not converged.
type Divergence struct {
	Key     string
	Holders []string // the nodes holding the key, sorted
	Detail  string   // what differs, for a human
}

// CheckConvergence checks that, after quiescence, every key's replicas hold
// the same state. replicas maps key -> node name -> the set that node stores
// for the key, read from each node's own storage (nil, or an empty set: the
// node holds nothing). want is N, the number of nodes that must hold each key,
// or 0 to skip that count.
//
// A key diverges when its holders' states are not all equal under
// vclock.Set.Equal (the same clock and the same siblings, dots and contents),
// when a holder's state is not a valid vclock.Set, or when want > 0 and the
// number of holders is not want: fewer means a replica is missing the key,
// more means a copy was left behind (a fallback that kept its hinted copy
// after handoff, say). A key no node holds counts as converged (reaped, or
// never written): missing data is the set checker's business.
func CheckConvergence(replicas map[string]map[string]*vclock.Set, want int) ConvergenceResult {
	res := ConvergenceResult{Keys: len(replicas)}
	for _, key := range slices.Sorted(maps.Keys(replicas)) {
		nodes := replicas[key]
		var holders, problems []string
		type state struct {
			set   *vclock.Set
			nodes []string
		}
		var states []state
		for _, n := range slices.Sorted(maps.Keys(nodes)) {
			s := nodes[n]
			if s == nil || s.IsEmpty() {
				continue
			}
			holders = append(holders, n)
			if err := s.Validate(); err != nil {
				problems = append(problems, fmt.Sprintf("%s holds an invalid set: %v", n, err))
			}
			i := slices.IndexFunc(states, func(x state) bool { return x.set.Equal(*s) })
			if i < 0 {
				states = append(states, state{set: s})
				i = len(states) - 1
			}
			states[i].nodes = append(states[i].nodes, n)
		}
		if want > 0 && len(holders) > 0 && len(holders) != want {
			problems = append(problems, fmt.Sprintf("held by %d nodes (%s), want %d",
				len(holders), strings.Join(holders, ","), want))
		}
		if len(states) > 1 {
			ref := states[0]
			for _, other := range states[1:] {
				problems = append(problems, fmt.Sprintf("%s differ from %s: %s",
					strings.Join(other.nodes, ","), strings.Join(ref.nodes, ","), diffSets(*ref.set, *other.set)))
			}
		}
		if len(problems) > 0 {
			res.Diverged = append(res.Diverged, Divergence{Key: key, Holders: holders, Detail: strings.Join(problems, "; ")})
		}
	}
	res.Valid = len(res.Diverged) == 0
	return res
}

// diffSets describes how b differs from a: the clocks, then the siblings by
// dot (at most few of them).
func diffSets(a, b vclock.Set) string {
	var diffs []string
	if !slices.Equal(a.Clock, b.Clock) {
		diffs = append(diffs, fmt.Sprintf("clock %v, not %v", b.Clock, a.Clock))
	}
	index := func(s vclock.Set) map[vclock.Dot]vclock.Sibling {
		m := make(map[vclock.Dot]vclock.Sibling, len(s.Siblings))
		for _, x := range s.Siblings {
			if _, dup := m[x.Dot]; !dup {
				m[x.Dot] = x
			}
		}
		return m
	}
	as, bs := index(a), index(b)
	dots := slices.Collect(maps.Keys(as))
	for d := range bs {
		if _, ok := as[d]; !ok {
			dots = append(dots, d)
		}
	}
	slices.SortFunc(dots, func(x, y vclock.Dot) int {
		return cmp.Or(cmp.Compare(x.Actor, y.Actor), cmp.Compare(x.Counter, y.Counter))
	})
	var sibs []string
	for _, d := range dots {
		x, inA := as[d]
		y, inB := bs[d]
		switch {
		case !inB:
			sibs = append(sibs, "lacks "+describeSibling(x))
		case !inA:
			sibs = append(sibs, "has extra "+describeSibling(y))
		case x.Deleted != y.Deleted || x.ContentType != y.ContentType || string(x.Value) != string(y.Value):
			sibs = append(sibs, fmt.Sprintf("has %s, not %s", describeSibling(y), describeSibling(x)))
		}
	}
	if len(sibs) == 0 && len(a.Siblings) != len(b.Siblings) {
		sibs = append(sibs, fmt.Sprintf("%d siblings, not %d (a repeated dot)", len(b.Siblings), len(a.Siblings)))
	}
	if len(sibs) > few {
		sibs = append(sibs[:few], fmt.Sprintf("…+%d more sibling differences", len(sibs)-few))
	}
	diffs = append(diffs, sibs...)
	if len(diffs) == 0 {
		return "sibling order differs" // not Equal, yet same clock and same siblings by dot
	}
	return strings.Join(diffs, ", ")
}

// describeSibling formats a sibling as dot=value, the value quoted and cut
// to 24 bytes, with "(deleted)" or its content type when set.
func describeSibling(x vclock.Sibling) string {
	const maxShown = 24
	var b strings.Builder
	b.WriteString(x.Dot.String())
	if x.Deleted {
		b.WriteString("(deleted)")
	}
	b.WriteByte('=')
	if len(x.Value) > maxShown {
		b.WriteString(strconv.Quote(string(x.Value[:maxShown])))
		fmt.Fprintf(&b, "…(%d bytes)", len(x.Value))
	} else {
		b.WriteString(strconv.Quote(string(x.Value)))
	}
	if x.ContentType != "" {
		b.WriteString("(" + x.ContentType + ")")
	}
	return b.String()
}

// String summarises r on one line, naming the first few diverged keys with
// their details.
func (r ConvergenceResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "convergence %s: keys=%d diverged=%d", verdict(r.Valid), r.Keys, len(r.Diverged))
	writeFewSep(&b, r.Diverged, "; ", func(d Divergence) string { return strconv.Quote(d.Key) + ": " + d.Detail })
	return b.String()
}
