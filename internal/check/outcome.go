package check

import "strconv"

// Outcome is what a client learned about one operation.
type Outcome int

const (
	// OK: the store acknowledged the operation.
	OK Outcome = iota
	// Failed: the client was told the operation did not happen (a 400, or a
	// 503 quorum failure). A write that failed its quorum may still have
	// reached some replicas, so a Failed write's effect may be observed;
	// checkers treat it like Unknown when it is, but never count it as lost.
	Failed
	// Unknown: a timeout or transport error; the operation may or may not
	// have happened. Checkers treat any Outcome value other than OK and
	// Failed as Unknown.
	Unknown
)

// String returns "OK", "Failed" or "Unknown" (Outcome(n) for other values).
func (o Outcome) String() string {
	switch o {
	case OK:
		return "OK"
	case Failed:
		return "Failed"
	case Unknown:
		return "Unknown"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}
