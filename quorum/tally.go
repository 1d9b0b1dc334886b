package quorum

// tally counts the answers of one request against two thresholds: the total
// (R or W) and the primaries among them (PR or PW). It is pure arithmetic so
// it can be tested exhaustively.
type tally struct {
	need, needPrimary int // thresholds
	got, gotPrimary   int // positive answers so far
	pending           int // requests still in flight
	pendingPrimary    int // primaries among pending
}

func newTally(need, needPrimary int) tally {
	return tally{need: need, needPrimary: needPrimary}
}

// start records a request sent to a replica.
func (t *tally) start(primary bool) {
	t.pending++
	if primary {
		t.pendingPrimary++
	}
}

// done records a request's end: ok says whether it counts as an answer.
func (t *tally) done(primary, ok bool) {
	t.pending--
	if primary {
		t.pendingPrimary--
	}
	if !ok {
		return
	}
	t.got++
	if primary {
		t.gotPrimary++
	}
}

// met reports whether both thresholds are reached.
func (t *tally) met() bool {
	return t.got >= t.need && t.gotPrimary >= t.needPrimary
}

// impossible reports whether the thresholds can no longer be reached even if
// every pending request succeeds.
func (t *tally) impossible() bool {
	return t.got+t.pending < t.need || t.gotPrimary+t.pendingPrimary < t.needPrimary
}

// shortfall names the threshold that is missed: "total" or "primary". When
// both are missed the total is named, since it is the one the client set
// first.
func (t *tally) shortfall() (primary bool, needed, got int) {
	if t.got < t.need {
		return false, t.need, t.got
	}
	return true, t.needPrimary, t.gotPrimary
}
