package rpc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// MemNetwork is an in-process network of Handlers for multi-node tests, with the faults of
// a real one: partitions (one- or two-way), per-link drop probabilities and delays, and
// refused connections. A dropped message is silent: the caller waits for its ctx, as it
// would behind a real partition, so calls made on it should carry deadlines. Bodies are
// copied in both directions and errors look as they do over TCP (*RemoteError,
// ErrUnreachable), so code tested here behaves the same on the wire. Safe for concurrent use.
type MemNetwork struct {
	mu      sync.Mutex
	rng     *rand.Rand // seeded; drawn only when a drop or delay rule applies
	nodes   map[string]*memNode
	refused map[string]bool
	group   map[string]int // partition group of each named node
	oneWay  map[link]bool
	drop    map[link]float64
	delay   map[link]delayRange
}

type link struct{ from, to string }

type delayRange struct{ min, max time.Duration }

// anyAddr matches every address in SetDrop and SetDelay.
const anyAddr = "*"

// NewMemNetwork returns an empty network whose random drops and delays come from seed:
// the same seed and the same sequence of calls give the same faults.
func NewMemNetwork(seed uint64) *MemNetwork {
	return &MemNetwork{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		nodes:   make(map[string]*memNode),
		refused: make(map[string]bool),
		group:   make(map[string]int),
		oneWay:  make(map[link]bool),
		drop:    make(map[link]float64),
		delay:   make(map[link]delayRange),
	}
}

// Listen serves h at addr until the returned Closer is closed; then addr is down and calls
// to it fail fast with ErrUnreachable. It fails if addr is already listening.
func (n *MemNetwork) Listen(addr string, h Handler) (io.Closer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.nodes[addr]; ok {
		return nil, fmt.Errorf("rpc: mem listen %s: address already in use", addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	node := &memNode{net: n, addr: addr, h: h, ctx: ctx, cancel: cancel}
	n.nodes[addr] = node
	return node, nil
}

// Client returns a Transport whose calls originate from address from (for link rules).
func (n *MemNetwork) Client(from string) Transport {
	return &memClient{net: n, from: from, done: make(chan struct{})}
}

// Partition splits the named nodes into groups that cannot reach each other: requests and
// replies between groups are silently dropped. Nodes not named are unaffected. It
// replaces any previous Partition.
func (n *MemNetwork) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.group)
	for i, g := range groups {
		for _, addr := range g {
			n.group[addr] = i + 1
		}
	}
}

// PartitionOneWay drops messages from → to (requests and replies) only.
func (n *MemNetwork) PartitionOneWay(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.oneWay[link{from, to}] = true
}

// Heal removes all partitions, drops and delays. Refused addresses stay refused.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.group)
	clear(n.oneWay)
	clear(n.drop)
	clear(n.delay)
}

// SetDrop drops each message on the link from → to with probability p ("*" matches any
// address; an exact rule wins over a wildcard one). p <= 0 removes the rule.
func (n *MemNetwork) SetDrop(from, to string, p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p <= 0 {
		delete(n.drop, link{from, to})
		return
	}
	n.drop[link{from, to}] = min(p, 1)
}

// SetDelay delays each message on the link from → to by a duration drawn uniformly from
// [min, max] ("*" matches any address). max <= 0 removes the rule.
func (n *MemNetwork) SetDelay(from, to string, min, max time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if max <= 0 {
		delete(n.delay, link{from, to})
		return
	}
	n.delay[link{from, to}] = delayRange{min: min, max: maxDuration(min, max)}
}

// Refuse makes calls to addr fail fast with ErrUnreachable while on, like a crashed process
// whose port refuses connections; replies from it to calls in flight are lost likewise.
func (n *MemNetwork) Refuse(addr string, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if on {
		n.refused[addr] = true
	} else {
		delete(n.refused, addr)
	}
}

// fate is what happens to one message.
type fate struct {
	drop  bool
	delay time.Duration
}

// route finds the node for a request from → to and decides the request's fate.
func (n *MemNetwork) route(from, to string) (*memNode, fate, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	node := n.nodes[to]
	if node == nil {
		return nil, fate{}, unreachable(to, errNotListening)
	}
	if n.refused[to] {
		return nil, fate{}, unreachable(to, errRefused)
	}
	return node, n.fateLocked(from, to), nil
}

// replyFate decides the fate of a reply from → to; a refused sender's reply is lost.
func (n *MemNetwork) replyFate(from, to string) (fate, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.refused[from] {
		return fate{}, unreachable(from, errRefused)
	}
	return n.fateLocked(from, to), nil
}

func (n *MemNetwork) fateLocked(from, to string) fate {
	var f fate
	ga, okA := n.group[from]
	gb, okB := n.group[to]
	if (okA && okB && ga != gb) || n.oneWay[link{from, to}] {
		return fate{drop: true}
	}
	if p, ok := lookup(n.drop, from, to); ok && n.rng.Float64() < p {
		return fate{drop: true}
	}
	if d, ok := lookup(n.delay, from, to); ok {
		f.delay = d.min
		if d.max > d.min {
			f.delay += time.Duration(n.rng.Int64N(int64(d.max-d.min) + 1))
		}
	}
	return f
}

// lookup finds the most specific rule for a link.
func lookup[V any](m map[link]V, from, to string) (V, bool) {
	for _, l := range [...]link{{from, to}, {from, anyAddr}, {anyAddr, to}, {anyAddr, anyAddr}} {
		if v, ok := m[l]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// Errors wrapped in ErrUnreachable, naming the in-memory cause.
var (
	errNotListening = fmt.Errorf("mem: connection refused (not listening)")
	errRefused      = fmt.Errorf("mem: connection refused")
	errNodeClosed   = fmt.Errorf("mem: connection lost (node closed)")
)

// memNode is a listening Handler.
type memNode struct {
	net    *MemNetwork
	addr   string
	h      Handler
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

type memResult struct {
	body []byte
	err  error
}

// start runs the handler in its own goroutine, as the TCP server does, with the caller's
// deadline but not its cancellation (which does not cross a network either).
func (m *memNode) start(caller context.Context, method uint8, body []byte) (<-chan memResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, unreachable(m.addr, errNodeClosed)
	}
	ctx, cancel := m.ctx, context.CancelFunc(func() {})
	if dl, ok := caller.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, dl)
	}
	res := make(chan memResult, 1)
	m.wg.Go(func() {
		defer cancel()
		b, err := invoke(ctx, m.h, method, body, discardLogger)
		res <- memResult{body: bytes.Clone(b), err: err}
	})
	return res, nil
}

// Close takes the address down, cancels handler contexts and waits for handlers to return.
func (m *memNode) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.net.mu.Lock()
	if m.net.nodes[m.addr] == m {
		delete(m.net.nodes, m.addr)
	}
	m.net.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}
