package simnet

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"time"
)

// Delay is a distribution of one-way message latency. The zero Delay is no
// delay.
//
//   - Mean > 0: Min plus an exponential draw with that mean, capped at Max when
//     Max > 0 (PBS's WARS model uses exponential latencies).
//   - otherwise: uniform in [Min, Max] (just Min when Max <= Min).
//
// Random delays reorder messages, as a real network does.
type Delay struct {
	Min, Max time.Duration
	Mean     time.Duration
}

func (d Delay) isZero() bool { return d.Min <= 0 && d.Max <= 0 && d.Mean <= 0 }

func (d Delay) String() string {
	if d.Mean > 0 {
		return fmt.Sprintf("%v+exp(%v)≤%v", d.Min, d.Mean, d.Max)
	}
	return fmt.Sprintf("[%v,%v]", d.Min, d.Max)
}

// draw returns one latency; it draws from r only when d is random.
func (d Delay) draw(r *rand.Rand) time.Duration {
	v := max(d.Min, 0)
	switch {
	case d.Mean > 0:
		v += time.Duration(r.ExpFloat64() * float64(d.Mean))
		if d.Max > 0 && v > d.Max {
			v = d.Max
		}
	case d.Max > v:
		v += time.Duration(r.Int64N(int64(d.Max-v) + 1))
	}
	return v
}

// rules are one layer's faults.
type rules struct {
	blocked   bool
	part      map[link]bool // Partition or Bridge: replaced as a whole
	cut       map[link]bool
	isolated  map[string]bool
	loss, dup float64
	delay     Delay
	nodeDelay map[string]Delay
}

func (r *rules) reset() {
	*r = rules{
		part:      make(map[link]bool),
		cut:       make(map[link]bool),
		isolated:  make(map[string]bool),
		nodeDelay: make(map[string]Delay),
	}
}

func (r *rules) blocks(from, to string) bool {
	return r.blocked || r.isolated[from] || r.isolated[to] || r.part[link{from, to}] || r.cut[link{from, to}]
}

// blocksMsg: a stream needs both directions (a TCP handshake).
func (r *rules) blocksMsg(m *msg) bool {
	return r.blocks(m.from, m.to) || m.stream && r.blocks(m.to, m.from)
}

func (r *rules) delayFor(rng *rand.Rand, from, to string) time.Duration {
	d := r.delay.draw(rng)
	if nd, ok := r.nodeDelay[from]; ok {
		d += nd.draw(rng)
	}
	if nd, ok := r.nodeDelay[to]; ok && to != from {
		d += nd.draw(rng)
	}
	return d
}

// Scope applies faults to the layers it was made for: n.Only(LayerGossip)
// drops or partitions gossip while RPC still works, n.Only(LayerRPC) the
// reverse. The Net's own fault methods are n.Only(LayerAll). Each layer keeps
// its own rules, so n.Only(LayerGossip).Partition(...) replaces only the gossip
// partition.
type Scope struct {
	n      *Net
	layers Layer
}

// Only returns the fault methods restricted to layers.
func (n *Net) Only(layers Layer) Scope { return Scope{n: n, layers: layers & LayerAll} }

// apply runs f on each selected layer's rules under the lock and logs the change.
func (s Scope) apply(f func(r *rules), format string, args ...any) {
	n := s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range n.rules {
		if s.layers&(1<<i) != 0 {
			f(&n.rules[i])
		}
	}
	prefix := ""
	if s.layers != LayerAll {
		prefix = s.layers.String() + " only: "
	}
	n.logLocked(prefix+format, args...)
}

// Block drops every message of the scope's layers (packets, stream dials,
// requests, replies) while on.
func (s Scope) Block(on bool) {
	s.apply(func(r *rules) { r.blocked = on }, "Block(%v)", on)
}

// Partition: see Net.Partition.
func (s Scope) Partition(groups ...[]string) {
	s.n.mu.Lock()
	named := make([][]string, len(groups))
	for i, g := range groups {
		named[i] = s.n.namesLocked(g)
	}
	s.n.mu.Unlock()
	part := make(map[link]bool)
	for i, g := range named {
		for j, h := range named {
			if i != j {
				blockAll(part, g, h)
			}
		}
	}
	s.apply(func(r *rules) { r.part = maps.Clone(part) }, "Partition(%s)", groupsString(named))
}

// Bridge: see Net.Bridge.
func (s Scope) Bridge(a, b []string, bridge string) {
	s.n.mu.Lock()
	a, b, bridge = s.n.namesLocked(a), s.n.namesLocked(b), s.n.nameOfLocked(bridge)
	s.n.mu.Unlock()
	part := make(map[link]bool)
	blockAll(part, a, b)
	blockAll(part, b, a)
	for l := range part {
		if l.from == bridge || l.to == bridge {
			delete(part, l)
		}
	}
	s.apply(func(r *rules) { r.part = maps.Clone(part) }, "Bridge(%v | %s | %v)", a, bridge, b)
}

// Cut: see Net.Cut.
func (s Scope) Cut(from, to string, down bool) {
	s.n.mu.Lock()
	l := link{s.n.nameOfLocked(from), s.n.nameOfLocked(to)}
	s.n.mu.Unlock()
	s.apply(func(r *rules) {
		if down {
			r.cut[l] = true
		} else {
			delete(r.cut, l)
		}
	}, "Cut(%s -> %s, down=%v)", l.from, l.to, down)
}

// Isolate: see Net.Isolate.
func (s Scope) Isolate(name string) {
	name = s.n.nameOf(name)
	s.apply(func(r *rules) { r.isolated[name] = true }, "Isolate(%s)", name)
}

// Unisolate: see Net.Unisolate.
func (s Scope) Unisolate(name string) {
	name = s.n.nameOf(name)
	s.apply(func(r *rules) { delete(r.isolated, name) }, "Unisolate(%s)", name)
}

// SetLoss: see Net.SetLoss. Stream dials are not subject to loss (TCP
// retransmits); Block, partitions and cuts stop them.
func (s Scope) SetLoss(p float64) {
	p = min(max(p, 0), 1)
	s.apply(func(r *rules) { r.loss = p }, "SetLoss(%g)", p)
}

// SetDup: see Net.SetDup. Stream dials are never duplicated.
func (s Scope) SetDup(p float64) {
	p = min(max(p, 0), 1)
	s.apply(func(r *rules) { r.dup = p }, "SetDup(%g)", p)
}

// SetDelay: see Net.SetDelay.
func (s Scope) SetDelay(d Delay) {
	s.apply(func(r *rules) { r.delay = d }, "SetDelay(%v)", d)
}

// SetNodeDelay: see Net.SetNodeDelay.
func (s Scope) SetNodeDelay(name string, d Delay) {
	name = s.n.nameOf(name)
	s.apply(func(r *rules) {
		if d.isZero() {
			delete(r.nodeDelay, name)
		} else {
			r.nodeDelay[name] = d
		}
	}, "SetNodeDelay(%s, %v)", name, d)
}

// Heal removes every fault of the scope's layers. Pauses stay.
func (s Scope) Heal() {
	s.apply(func(r *rules) { r.reset() }, "Heal")
}

func blockAll(m map[link]bool, from, to []string) {
	for _, a := range from {
		for _, b := range to {
			if a != b {
				m[link{a, b}] = true
			}
		}
	}
}

func groupsString(groups [][]string) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = strings.Join(g, " ")
	}
	return "[" + strings.Join(parts, "] [") + "]"
}
