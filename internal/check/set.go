package check

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SetOp is one attempt to add Element to the set stored at Key (the set
// workload: clients add unique elements by read-modify-write, and a read
// unions the elements of all siblings). The same element may be attempted
// more than once (a retry); it counts once, as acknowledged if any attempt
// was OK.
type SetOp struct {
	Key, Element string
	Outcome      Outcome
	Start, End   time.Time // invocation and completion; End is the ack time of an OK op
}

// SetRead is an intermediate read of one key (Jepsen set-full), optional.
type SetRead struct {
	Key      string
	Time     time.Time // completion time
	Elements []string  // union over siblings
}

// Element names one element of the set workload: Element added to Key.
type Element struct{ Key, Element string }

// String formats e as key/element, for messages.
func (e Element) String() string { return e.Key + "/" + e.Element }

func compareElements(a, b Element) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return strings.Compare(a.Element, b.Element)
}

// SetResult is CheckSet's verdict. Element lists are sorted by key, then
// element. Counts are of distinct (key, element) pairs, so Attempted ==
// Acked + Unknown + Failed.
type SetResult struct {
	Attempted, Acked, Unknown int
	Failed                    int // attempted, never acknowledged, no attempt Unknown

	Lost       []Element // acknowledged but missing from the final read
	Unexpected []Element // in the final read or an intermediate read, but never attempted
	Recovered  int       // not acknowledged (Unknown or Failed) but in the final read

	// Stable latency (set-full; Jepsen's stable-latency, measured here from
	// the ack). Only acknowledged elements present in the final read whose
	// key has intermediate reads completing at or after the element's ack
	// time are measured. Reads of a key are taken in completion-time order
	// (equal times in the order given), and only those completing at or
	// after the ack count. The element's stable read is the first such read
	// from which on every such read contains the element; its latency is
	// that read's time minus the ack time (the End of the earliest OK
	// attempt). Percentiles are nearest-rank over the measured elements;
	// all three are zero when none is measured.
	StableP50, StableP99, StableMax time.Duration
	Stable                          int // elements measured
	// NeverStable: acknowledged and in the final read, but the last
	// intermediate read of its key (at or after its ack) lacked it, so it
	// never became stable before the final read. Not measured in the
	// latencies. It flags an element that vanished from reads and came back
	// only in the final read, or one slower to appear than the run lasted.
	NeverStable []Element
	// NeverRead counts acknowledged elements in the final read with no
	// intermediate read of their key at or after their ack (or no recorded
	// ack time). Zero reads in all: every such element is NeverRead.
	NeverRead int

	Valid bool // len(Lost) == 0 && len(Unexpected) == 0
}

// CheckSet checks a set-workload history: ops are the add attempts, reads
// the optional intermediate reads, final the elements each key holds after
// quiescence (key -> union over siblings; a missing key holds nothing).
//
// An acknowledged element missing from final is lost. An element in final
// or in any read that no op attempted is unexpected. An element whose
// attempts were all Unknown or Failed may or may not be present; if present
// it is recovered. Ops are not reordered, and the inputs are not modified.
func CheckSet(ops []SetOp, reads []SetRead, final map[string][]string) SetResult {
	type attempt struct {
		acked, unknown bool
		ackAt          time.Time // earliest recorded End of an OK op
	}
	attempts := make(map[Element]*attempt, len(ops))
	for _, op := range ops {
		e := Element{op.Key, op.Element}
		a := attempts[e]
		if a == nil {
			a = &attempt{}
			attempts[e] = a
		}
		switch op.Outcome {
		case OK:
			a.acked = true
			if !op.End.IsZero() && (a.ackAt.IsZero() || op.End.Before(a.ackAt)) {
				a.ackAt = op.End
			}
		case Failed:
		default:
			a.unknown = true
		}
	}

	var r SetResult
	r.Attempted = len(attempts)
	for _, a := range attempts {
		switch {
		case a.acked:
			r.Acked++
		case a.unknown:
			r.Unknown++
		default:
			r.Failed++
		}
	}

	present := make(map[Element]bool)
	unexpected := make(map[Element]bool)
	for k, elems := range final {
		for _, x := range elems {
			e := Element{k, x}
			present[e] = true
			if attempts[e] == nil {
				unexpected[e] = true
			}
		}
	}
	for _, rd := range reads {
		for _, x := range rd.Elements {
			if e := (Element{rd.Key, x}); attempts[e] == nil {
				unexpected[e] = true
			}
		}
	}
	for e := range unexpected {
		r.Unexpected = append(r.Unexpected, e)
	}

	// Intermediate reads per key, in completion order, each with its
	// elements sorted for lookups.
	type sortedRead struct {
		at    time.Time
		elems []string
	}
	byKey := make(map[string][]sortedRead)
	for _, rd := range reads {
		elems := slices.Clone(rd.Elements)
		slices.Sort(elems)
		byKey[rd.Key] = append(byKey[rd.Key], sortedRead{rd.Time, elems})
	}
	for _, rs := range byKey {
		slices.SortStableFunc(rs, func(a, b sortedRead) int { return a.at.Compare(b.at) })
	}

	var latencies []time.Duration
	for e, a := range attempts {
		switch {
		case !a.acked:
			if present[e] {
				r.Recovered++
			}
			continue
		case !present[e]:
			r.Lost = append(r.Lost, e)
			continue
		}
		rs := byKey[e.Key]
		first := len(rs) // first read at or after the ack
		if !a.ackAt.IsZero() {
			first, _ = slices.BinarySearchFunc(rs, a.ackAt, func(x sortedRead, t time.Time) int { return x.at.Compare(t) })
		}
		if first == len(rs) {
			r.NeverRead++
			continue
		}
		stable := first
		for i := len(rs) - 1; i >= first; i-- {
			if _, ok := slices.BinarySearch(rs[i].elems, e.Element); !ok {
				stable = i + 1
				break
			}
		}
		if stable == len(rs) {
			r.NeverStable = append(r.NeverStable, e)
			continue
		}
		latencies = append(latencies, rs[stable].at.Sub(a.ackAt))
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		r.Stable = len(latencies)
		r.StableP50 = percentile(latencies, 50)
		r.StableP99 = percentile(latencies, 99)
		r.StableMax = latencies[len(latencies)-1]
	}

	slices.SortFunc(r.Lost, compareElements)
	slices.SortFunc(r.Unexpected, compareElements)
	slices.SortFunc(r.NeverStable, compareElements)
	r.Valid = len(r.Lost) == 0 && len(r.Unexpected) == 0
	return r
}

// percentile returns the nearest-rank p-th percentile of sorted, which must
// not be empty.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// String summarises r on one line, naming the first few lost, unexpected and
// never-stable elements.
func (r SetResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "set %s: attempted=%d acked=%d unknown=%d failed=%d recovered=%d lost=%d",
		verdict(r.Valid), r.Attempted, r.Acked, r.Unknown, r.Failed, r.Recovered, len(r.Lost))
	writeFew(&b, r.Lost, Element.String)
	fmt.Fprintf(&b, " unexpected=%d", len(r.Unexpected))
	writeFew(&b, r.Unexpected, Element.String)
	if r.Stable > 0 {
		fmt.Fprintf(&b, " stable(n=%d) p50=%v p99=%v max=%v", r.Stable, r.StableP50, r.StableP99, r.StableMax)
	}
	if len(r.NeverStable) > 0 {
		fmt.Fprintf(&b, " never-stable=%d", len(r.NeverStable))
		writeFew(&b, r.NeverStable, Element.String)
	}
	if r.NeverRead > 0 {
		fmt.Fprintf(&b, " never-read=%d", r.NeverRead)
	}
	return b.String()
}

func verdict(valid bool) string {
	if valid {
		return "valid"
	}
	return "INVALID"
}

// few is how many items a summary names before eliding the rest.
const few = 5

// writeFew appends " [a b c …+n]" naming up to few of items (nothing if
// there are none).
func writeFew[T any](b *strings.Builder, items []T, name func(T) string) {
	writeFewSep(b, items, " ", name)
}

// writeFewSep is writeFew with items separated by sep.
func writeFewSep[T any](b *strings.Builder, items []T, sep string, name func(T) string) {
	if len(items) == 0 {
		return
	}
	b.WriteString(" [")
	for i, x := range items[:min(len(items), few)] {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(name(x))
	}
	if len(items) > few {
		fmt.Fprintf(b, "%s…+%d", sep, len(items)-few)
	}
	b.WriteByte(']')
}
