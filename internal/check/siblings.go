package check

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// SiblingOp is one fetch/resolve/put on the key of a sibling workload (Riak
// sibling_explosion): the client fetched the key (all siblings), resolved
// them, and wrote a new unique value with the fetch's context.
type SiblingOp struct {
	Client  int
	Seen    []string // values returned by the fetch this write was based on (all siblings)
	Wrote   string   // the unique value written with that fetch's context
	Outcome Outcome
}

// SiblingResult is CheckSiblings's verdict. Value lists are sorted.
type SiblingResult struct {
	Writes, Acked int
	MaxSiblings   int      // most siblings any fetch or the final read returned
	Lost          []string // acknowledged values dropped without a write that saw them (see CheckSiblings)
	Unexpected    []string // values in any fetch or the final read that were never written
	// Resurrected: values in the final read that an acknowledged write's
	// fetch had seen, so that write superseded them; they should be gone.
	Resurrected []string
	Limit       int  // the limit CheckSiblings was given
	Valid       bool // no lost, no unexpected, no resurrected, MaxSiblings <= Limit (when Limit > 0)
}

// CheckSiblings checks a sibling workload on one key: ops are the writes in
// any order, final the values (all siblings) read after quiescence, limit
// the most siblings a read may return (0: no bound).
//
// A write W whose fetch saw value X sends a context covering X, so W
// supersedes X. A value may therefore vanish only if a write that saw it took
// effect: one that was acknowledged, or whose own value was observed (in the
// final read or in some fetch), whatever its outcome. An acknowledged value
// that is not in the final read and that no such write saw is lost. (A write
// that took effect but was never observed, with its value then dropped, can
// excuse a value it saw without being counted; it is not lost itself, since it
// was never acknowledged.)
//
// Conversely a value an acknowledged write saw must not be in the final read:
// it is resurrected (a dominated version came back, Riak KV679). Values read
// anywhere that no op wrote are unexpected. The sibling count of every read
// is compared against limit: without dotted version vectors two interleaving
// clients pile up about one sibling per write.
func CheckSiblings(ops []SiblingOp, final []string, limit int) SiblingResult {
	r := SiblingResult{Writes: len(ops), MaxSiblings: len(final), Limit: limit}
	written := make(map[string]bool, len(ops))
	observed := make(map[string]bool)
	for _, v := range final {
		observed[v] = true
	}
	for _, op := range ops {
		written[op.Wrote] = true
		if op.Outcome == OK {
			r.Acked++
		}
		r.MaxSiblings = max(r.MaxSiblings, len(op.Seen))
		for _, v := range op.Seen {
			observed[v] = true
		}
	}
	superseded := make(map[string]bool)      // seen by a write that took effect
	supersededByAck := make(map[string]bool) // seen by an acknowledged write
	for _, op := range ops {
		if op.Outcome != OK && !observed[op.Wrote] {
			continue
		}
		for _, v := range op.Seen {
			superseded[v] = true
			if op.Outcome == OK {
				supersededByAck[v] = true
			}
		}
	}
	inFinal := make(map[string]bool, len(final))
	for _, v := range final {
		inFinal[v] = true
	}
	lost := make(map[string]bool)
	for _, op := range ops {
		if op.Outcome == OK && !inFinal[op.Wrote] && !superseded[op.Wrote] {
			lost[op.Wrote] = true
		}
	}
	unexpected := make(map[string]bool)
	for v := range observed {
		if !written[v] {
			unexpected[v] = true
		}
	}
	resurrected := make(map[string]bool)
	for v := range inFinal {
		if supersededByAck[v] {
			resurrected[v] = true
		}
	}
	r.Lost = sortedKeys(lost)
	r.Unexpected = sortedKeys(unexpected)
	r.Resurrected = sortedKeys(resurrected)
	r.Valid = len(r.Lost) == 0 && len(r.Unexpected) == 0 && len(r.Resurrected) == 0 &&
		(limit <= 0 || r.MaxSiblings <= limit)
	return r
}

func sortedKeys(m map[string]bool) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// String summarises r on one line, naming the first few lost, unexpected and
// resurrected values.
func (r SiblingResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "siblings %s: writes=%d acked=%d max-siblings=%d", verdict(r.Valid), r.Writes, r.Acked, r.MaxSiblings)
	if r.Limit > 0 {
		fmt.Fprintf(&b, " (limit %d)", r.Limit)
	}
	fmt.Fprintf(&b, " lost=%d", len(r.Lost))
	writeFew(&b, r.Lost, strconv.Quote)
	fmt.Fprintf(&b, " unexpected=%d", len(r.Unexpected))
	writeFew(&b, r.Unexpected, strconv.Quote)
	if len(r.Resurrected) > 0 {
		fmt.Fprintf(&b, " resurrected=%d", len(r.Resurrected))
		writeFew(&b, r.Resurrected, strconv.Quote)
	}
	return b.String()
}
