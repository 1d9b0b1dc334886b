package check

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// QuorumOp is one request with the quorum it asked for and the receipt it got
// (X-Dynkv-Replicas, see ParseReceipt).
type QuorumOp struct {
	Write                bool
	R, W, PR, PW         int // requested (0 = not given: the node's default, unknown here)
	Outcome              Outcome
	Acked                int // writes: acked= ; reads: replied=
	Primaries, Fallbacks int // from the receipt

	// Optional facts the harness knows from its fault schedule. N is the
	// number of replicas per key (0 = unknown: skip these checks);
	// PrimariesDown is how many of the key's N primaries were unreachable for
	// the whole request, so at most N-PrimariesDown primaries can have
	// answered.
	N, PrimariesDown int
}

// QuorumResult is CheckQuorum's verdict.
type QuorumResult struct {
	Ops        int
	Violations []string // in op order, each naming its op by index
	Valid      bool     // len(Violations) == 0
}

// CheckQuorum checks the quorum arithmetic of each request from its receipt.
// An OK write must have Acked >= W and Primaries >= PW (fallbacks never count
// toward PW), an OK read Acked >= R and Primaries >= PR, and either must have
// Primaries + Fallbacks == Acked and at least one replica answering (when W
// or R was not given). With N known, an OK request must not have asked for a
// quorum above N (the store must refuse it with 400) and must not claim more
// primaries than N-PrimariesDown.
//
// A Failed request whose receipt adds up and meets every quorum it asked
// for explicitly (W or R given) is a violation too: the store refused a
// request it had served. Unknown requests (timeouts) are not checked.
func CheckQuorum(ops []QuorumOp) QuorumResult {
	res := QuorumResult{Ops: len(ops)}
	for i, op := range ops {
		kind, count, q, qName, pq, pqName := "write", "acked", op.W, "w", op.PW, "pw"
		if !op.Write {
			kind, count, q, qName, pq, pqName = "read", "replied", op.R, "r", op.PR, "pr"
		}
		var desc strings.Builder
		fmt.Fprintf(&desc, "op %d (%s", i, kind)
		if q > 0 {
			fmt.Fprintf(&desc, " %s=%d", qName, q)
		}
		if pq > 0 {
			fmt.Fprintf(&desc, " %s=%d", pqName, pq)
		}
		if op.N > 0 {
			fmt.Fprintf(&desc, " n=%d", op.N)
		}
		fmt.Fprintf(&desc, ", %v)", op.Outcome)
		receipt := fmt.Sprintf("%s=%d primaries=%d fallbacks=%d", count, op.Acked, op.Primaries, op.Fallbacks)
		add := func(format string, args ...any) {
			res.Violations = append(res.Violations, desc.String()+": "+fmt.Sprintf(format, args...)+" ("+receipt+")")
		}
		adds := op.Primaries+op.Fallbacks == op.Acked && op.Acked >= 0 && op.Primaries >= 0 && op.Fallbacks >= 0
		switch op.Outcome {
		case OK:
			if !adds {
				add("receipt does not add up: primaries + fallbacks must equal %s, none negative", count)
			}
			switch {
			case q > 0 && op.Acked < q:
				add("succeeded with %s=%d < %s=%d", count, op.Acked, qName, q)
			case op.Acked < 1:
				add("succeeded with no replica answering")
			}
			if pq > 0 && op.Primaries < pq {
				add("succeeded with primaries=%d < %s=%d (fallbacks do not count)", op.Primaries, pqName, pq)
			}
			if op.N > 0 {
				if q > op.N || pq > op.N {
					add("succeeded although it asked for more than n=%d replicas (must be refused with 400)", op.N)
				}
				if up := op.N - op.PrimariesDown; op.Primaries > up {
					add("claims primaries=%d but at most %d of n=%d primaries were reachable", op.Primaries, up, op.N)
				}
			}
		case Failed:
			if q > 0 && adds && op.Acked >= q && op.Primaries >= pq && (op.N == 0 || (q <= op.N && pq <= op.N)) {
				add("failed although its receipt meets the quorum it asked for")
			}
		}
	}
	res.Valid = len(res.Violations) == 0
	return res
}

// String summarises r on one line, naming the first few violations.
func (r QuorumResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "quorum %s: ops=%d violations=%d", verdict(r.Valid), r.Ops, len(r.Violations))
	writeFewSep(&b, r.Violations, "; ", func(s string) string { return s })
	return b.String()
}

// Receipt is a parsed X-Dynkv-Replicas header.
type Receipt struct {
	Read                 bool // the header had replied= (a read), not acked= (a write)
	Acked                int  // acked= for writes, replied= for reads
	Primaries, Fallbacks int
	Siblings, Repaired   int // reads only; 0 when absent
}

// String formats r as the store does: "acked=2; primaries=2; fallbacks=0"
// for a write, "replied=2; primaries=2; fallbacks=0; siblings=1; repaired=0"
// for a read.
func (r Receipt) String() string {
	if !r.Read {
		return fmt.Sprintf("acked=%d; primaries=%d; fallbacks=%d", r.Acked, r.Primaries, r.Fallbacks)
	}
	return fmt.Sprintf("replied=%d; primaries=%d; fallbacks=%d; siblings=%d; repaired=%d",
		r.Acked, r.Primaries, r.Fallbacks, r.Siblings, r.Repaired)
}

// ErrBadReceipt is wrapped by every error ParseReceipt and ParseReceiptFull
// return.
var ErrBadReceipt = errors.New("check: malformed X-Dynkv-Replicas receipt")

// ParseReceipt parses an X-Dynkv-Replicas header: a write's
// "acked=2; primaries=2; fallbacks=0" or a read's
// "replied=2; primaries=2; fallbacks=0; siblings=1; repaired=0". acked is the
// acked= or replied= count. See ParseReceiptFull for the syntax.
func ParseReceipt(header string) (acked, primaries, fallbacks int, err error) {
	r, err := ParseReceiptFull(header)
	if err != nil {
		return 0, 0, 0, err
	}
	return r.Acked, r.Primaries, r.Fallbacks, nil
}

// ParseReceiptFull parses an X-Dynkv-Replicas header into all its fields.
// The header is name=value fields separated by ';', with spaces allowed around
// fields, names and values, and empty fields skipped. It must hold exactly one
// of acked= and replied=, and primaries= and fallbacks=; values are decimal
// digits only. Fields are only ever added to the receipt, so unknown names are
// ignored; a known name given twice is an error.
func ParseReceiptFull(header string) (Receipt, error) {
	var r Receipt
	var seen [6]bool // acked, replied, primaries, fallbacks, siblings, repaired
	names := [...]string{"acked", "replied", "primaries", "fallbacks", "siblings", "repaired"}
	for field := range strings.SplitSeq(header, ";") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		name, value, ok := strings.Cut(field, "=")
		if !ok {
			return Receipt{}, fmt.Errorf("%w: field %q is not name=value", ErrBadReceipt, field)
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		i := 0
		for i < len(names) && names[i] != name {
			i++
		}
		if i == len(names) {
			continue // a field added after this checker was written
		}
		if seen[i] {
			return Receipt{}, fmt.Errorf("%w: %s= given twice", ErrBadReceipt, name)
		}
		seen[i] = true
		n, err := parseCount(value)
		if err != nil {
			return Receipt{}, fmt.Errorf("%w: %s=%q: %v", ErrBadReceipt, name, value, err)
		}
		switch i {
		case 0, 1:
			r.Acked = n
		case 2:
			r.Primaries = n
		case 3:
			r.Fallbacks = n
		case 4:
			r.Siblings = n
		case 5:
			r.Repaired = n
		}
	}
	switch {
	case seen[0] && seen[1]:
		return Receipt{}, fmt.Errorf("%w: both acked= and replied=", ErrBadReceipt)
	case !seen[0] && !seen[1]:
		return Receipt{}, fmt.Errorf("%w: no acked= or replied= in %q", ErrBadReceipt, header)
	case !seen[2]:
		return Receipt{}, fmt.Errorf("%w: no primaries= in %q", ErrBadReceipt, header)
	case !seen[3]:
		return Receipt{}, fmt.Errorf("%w: no fallbacks= in %q", ErrBadReceipt, header)
	}
	r.Read = seen[1]
	return r, nil
}

// parseCount parses a non-negative decimal count: digits only, no sign.
func parseCount(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty count")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a non-negative decimal count")
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errors.New("count out of range")
	}
	return n, nil
}
