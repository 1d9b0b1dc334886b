package quorum

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnmet is returned (wrapped in *Error) when too few replicas
	// answered for the quorum to be met and no more answers could change that.
	ErrUnmet = errors.New("quorum: unmet")
	// ErrTimeout is returned (wrapped in *Error) when the request's deadline
	// passed before the quorum answered.
	ErrTimeout = errors.New("quorum: timed out")
)

// Error describes a failed quorum: which threshold was missed, by how much,
// and why replicas failed. errors.Is(err, ErrUnmet) or errors.Is(err,
// ErrTimeout) tells the two cases apart.
type Error struct {
	Op       string // "read" or "write"
	Quorum   string // "r", "pr", "w" or "pw": the threshold that was missed
	Needed   int    // its value
	Got      int    // answers that counted toward it
	Timeout  bool   // the deadline passed (otherwise: unmet)
	Failures []string
}

func (e *Error) Error() string {
	var b strings.Builder
	what := "replied"
	if e.Op == "write" {
		what = "acknowledged"
	}
	who := "replicas"
	if e.Quorum == "pr" || e.Quorum == "pw" {
		who = "primary replicas"
	}
	if e.Timeout {
		fmt.Fprintf(&b, "%s timed out: %s=%d needed, %d %s %s in time", e.Op, e.Quorum, e.Needed, e.Got, who, what)
	} else {
		fmt.Fprintf(&b, "%s quorum unmet: %s=%d needed, %d %s %s", e.Op, e.Quorum, e.Needed, e.Got, who, what)
	}
	if len(e.Failures) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(e.Failures, "; "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnmet) and errors.Is(err, ErrTimeout) work.
func (e *Error) Is(target error) bool {
	return (target == ErrTimeout && e.Timeout) || (target == ErrUnmet && !e.Timeout)
}

// maxFailures bounds how many replica failures an error lists.
const maxFailures = 3

func newError(op string, t *tally, timeout bool, failures []string) *Error {
	primary, needed, got := t.shortfall()
	q := map[string][2]string{"read": {"r", "pr"}, "write": {"w", "pw"}}[op]
	name := q[0]
	if primary {
		name = q[1]
	}
	return &Error{Op: op, Quorum: name, Needed: needed, Got: got, Timeout: timeout, Failures: failures}
}

func addFailure(list []string, node string, err error) []string {
	if len(list) >= maxFailures {
		return list
	}
	return append(list, fmt.Sprintf("%s: %v", node, err))
}
