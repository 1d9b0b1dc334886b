package simnet

import (
	"time"
)

// msg is one message on the network. deliver runs when (each copy of) it
// arrives, outside the network's lock, and reports whether a receiver took it.
// It must not block.
type msg struct {
	layer    int // gossipIdx or rpcIdx
	kind     string
	from, to string // node names
	stream   bool   // a stream dial: needs both directions, never lost or duplicated
	deliver  func() bool
}

// Outcome is the network's decision about one message.
type Outcome uint8

const (
	Passed  Outcome = iota // on its way (after its delays)
	Dropped                // lost
	Held                   // waiting for a paused end to resume
)

func (o Outcome) String() string {
	switch o {
	case Passed:
		return "passed"
	case Dropped:
		return "dropped"
	case Held:
		return "held"
	}
	return "?"
}

// Event is one decision, as SetTrace reports it.
type Event struct {
	Seq      uint64 // decisions before this one
	Layer    Layer
	Kind     string // "packet", "stream", "request", "reply"
	From, To string // node names
	Outcome  Outcome
	Reason   string          // why Dropped: "closed", "blocked", "loss"
	Delays   []time.Duration // one per copy: two when duplicated
}

// send decides m's fate and delivers the copies due now before returning.
func (n *Net) send(m *msg) Outcome {
	n.mu.Lock()
	out, delays := n.fateLocked(m)
	due := 0
	if out == Passed {
		for _, d := range delays {
			if d > 0 {
				n.afterLocked(d, m)
			} else {
				due++
			}
		}
	}
	n.mu.Unlock()
	for range due {
		n.arrive(m)
	}
	return out
}

// fateLocked decides, in a fixed order of draws: loss (if set), duplication
// (if set), then one delay per copy (if set). A held message draws as a
// passed one would, so pausing does not shift later decisions.
func (n *Net) fateLocked(m *msg) (Outcome, []time.Duration) {
	st := &n.stats[m.layer]
	st.Sent++
	ev := Event{Seq: n.seq, Layer: Layer(1 << m.layer), Kind: m.kind, From: m.from, To: m.to}
	n.seq++
	r := &n.rules[m.layer]
	drop := func(reason string) (Outcome, []time.Duration) {
		st.Dropped++
		ev.Outcome, ev.Reason = Dropped, reason
		n.traceLocked(ev)
		return Dropped, nil
	}
	switch {
	case n.closed:
		return drop("closed")
	case r.blocksMsg(m):
		return drop("blocked")
	case !m.stream && r.loss > 0 && n.rng.Float64() < r.loss:
		return drop("loss")
	}
	copies := 1
	if !m.stream && r.dup > 0 && n.rng.Float64() < r.dup {
		copies = 2
		st.Duplicated++
	}
	delays := make([]time.Duration, copies)
	for i := range delays {
		delays[i] = r.delayFor(n.rng, m.from, m.to)
	}
	ev.Delays = delays
	if n.paused[m.from] || n.paused[m.to] {
		for range copies {
			n.held = append(n.held, m)
			st.Held++
		}
		ev.Outcome = Held
		n.traceLocked(ev)
		return Held, nil
	}
	ev.Outcome = Passed
	n.traceLocked(ev)
	return Passed, delays
}

func (n *Net) traceLocked(ev Event) {
	if n.trace != nil {
		n.trace(ev)
	}
}

// afterLocked delivers m after d unless Close comes first.
func (n *Net) afterLocked(d time.Duration, m *msg) {
	id := n.timerID
	n.timerID++
	n.timers[id] = time.AfterFunc(d, func() {
		n.mu.Lock()
		if _, ok := n.timers[id]; !ok { // stopped by Close
			n.mu.Unlock()
			return
		}
		delete(n.timers, id)
		n.running.Add(1)
		n.mu.Unlock()
		defer n.running.Done()
		n.arrive(m)
	})
}

// arrive hands one copy to its receiver and counts the result.
func (n *Net) arrive(m *msg) {
	ok := m.deliver()
	n.mu.Lock()
	if ok {
		n.stats[m.layer].Delivered++
	} else {
		n.stats[m.layer].Undeliverable++
	}
	n.mu.Unlock()
}
