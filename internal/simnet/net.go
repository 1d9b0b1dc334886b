package simnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"
)

// Layer selects which traffic a fault applies to. Gossip is memberlist's
// packets and streams; RPC is requests and replies of internal/rpc.
type Layer uint8

const (
	LayerGossip Layer = 1 << iota // memberlist packets and streams
	LayerRPC                      // internal/rpc requests and replies
	LayerAll    = LayerGossip | LayerRPC
)

// Indexes into the per-layer arrays.
const (
	gossipIdx = 0
	rpcIdx    = 1
)

func (l Layer) String() string {
	switch l {
	case LayerGossip:
		return "gossip"
	case LayerRPC:
		return "rpc"
	case LayerAll:
		return "all"
	}
	return "none"
}

// Ports of the fake addresses AddNode hands out.
const (
	GossipPort = 7946
	RPCPort    = 7000
)

// Net is one simulated network shared by memberlist and RPC. Create it with
// New, register nodes with AddNode, hand Gossip(name) and RPC() to each node,
// and change faults at any time. Safe for concurrent use.
type Net struct {
	mu       sync.Mutex
	rng      *rand.Rand // the only source of randomness; drawn under mu
	seed     uint64
	start    time.Time
	closed   bool
	done     chan struct{} // closed by Close: aborts waits (dials)
	seq      uint64        // messages decided so far (Event.Seq)
	nodes    map[string]*nodeInfo
	addrName map[string]string // gossip and RPC address -> node name
	rules    [2]rules          // per layer
	paused   map[string]bool
	held     []*msg // in send order
	timers   map[uint64]*time.Timer
	timerID  uint64
	running  sync.WaitGroup // timer callbacks delivering right now
	stats    [2]LayerStats

	gossip    map[string]*transport // gossip address -> live transport
	listeners map[string]*listener  // RPC address -> live listener
	calls     map[*call]string      // RPC calls in flight -> address

	log   []string
	trace func(Event)
}

type nodeInfo struct {
	name           string
	ip             net.IP
	gossip, rpcAdr string
}

type link struct{ from, to string }

// New returns an empty, healed network whose every random decision comes from
// seed.
func New(seed uint64) *Net {
	n := &Net{
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		seed:      seed,
		start:     time.Now(),
		done:      make(chan struct{}),
		nodes:     make(map[string]*nodeInfo),
		addrName:  make(map[string]string),
		paused:    make(map[string]bool),
		timers:    make(map[uint64]*time.Timer),
		gossip:    make(map[string]*transport),
		listeners: make(map[string]*listener),
		calls:     make(map[*call]string),
	}
	for i := range n.rules {
		n.rules[i].reset()
	}
	n.logf("New(seed=%d)", seed)
	return n
}

// Seed returns the seed New was given, for printing with a failing run.
func (n *Net) Seed() uint64 { return n.seed }

// AddNode registers a node and returns its fake addresses: the gossip address
// is "10.77.x.y:7946" (memberlist wants an IP host) and the RPC address the
// same IP with port 7000. The i-th node gets the i-th IP. Adding a name again
// returns the same addresses, so a restarted node keeps them. Faults are keyed
// by name; every fault method also accepts either address in place of a name.
func (n *Net) AddNode(name string) (gossipAddr, rpcAddr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	info := n.addNodeLocked(name)
	return info.gossip, info.rpcAdr
}

func (n *Net) addNodeLocked(name string) *nodeInfo {
	if info := n.nodes[name]; info != nil {
		return info
	}
	i := len(n.nodes)
	ip := net.IPv4(10, 77, byte(i/254), byte(i%254+1)).To4()
	info := &nodeInfo{
		name:   name,
		ip:     ip,
		gossip: net.JoinHostPort(ip.String(), strconv.Itoa(GossipPort)),
		rpcAdr: net.JoinHostPort(ip.String(), strconv.Itoa(RPCPort)),
	}
	n.nodes[name] = info
	n.addrName[info.gossip] = name
	n.addrName[info.rpcAdr] = name
	return info
}

// nameOf maps an address (or a name) to the node name faults are keyed by. An
// address nobody registered is its own name.
func (n *Net) nameOf(addr string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nameOfLocked(addr)
}

func (n *Net) nameOfLocked(addr string) string {
	if name, ok := n.addrName[addr]; ok {
		return name
	}
	return addr
}

func (n *Net) namesLocked(addrs []string) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = n.nameOfLocked(a)
	}
	return out
}

// Pause holds every message to or from name, of both layers, until Resume:
// like a SIGSTOPped process whose socket buffers fill, nothing is lost, and
// calls to it wait. The node's own goroutines keep running (simnet cannot stop
// them); only its traffic stops.
func (n *Net) Pause(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name = n.nameOfLocked(name)
	n.paused[name] = true
	n.logLocked("Pause(%s)", name)
}

// Resume releases name: held messages whose ends are no longer paused are
// delivered now, in the order they were sent, without further delay (they
// waited in a buffer, not on the wire). A message whose link is blocked by
// then (partition, cut, Block) is dropped instead.
func (n *Net) Resume(name string) {
	n.mu.Lock()
	name = n.nameOfLocked(name)
	delete(n.paused, name)
	n.logLocked("Resume(%s)", name)
	var now []*msg
	keep := n.held[:0]
	for _, m := range n.held {
		switch {
		case n.paused[m.from] || n.paused[m.to]:
			keep = append(keep, m)
		case n.closed || n.rules[m.layer].blocksMsg(m):
			n.stats[m.layer].Dropped++
		default:
			now = append(now, m)
		}
	}
	clear(n.held[len(keep):])
	n.held = keep
	n.mu.Unlock()
	for _, m := range now {
		n.arrive(m)
	}
}

// Heal removes every partition, cut, isolation, block, loss, duplication and
// delay, of both layers (so also those set through Only). Pauses stay.
func (n *Net) Heal() { n.Only(LayerAll).Heal() }

// Partition splits the named nodes into groups that cannot talk to each other
// (both layers). Nodes not named are unaffected. It replaces any previous
// Partition or Bridge.
func (n *Net) Partition(groups ...[]string) { n.Only(LayerAll).Partition(groups...) }

// Bridge is Jepsen's bridge: nodes of a and b cannot talk to each other, the
// bridge node talks to both. It replaces any previous Partition or Bridge.
func (n *Net) Bridge(a, b []string, bridge string) { n.Only(LayerAll).Bridge(a, b, bridge) }

// Cut takes the one-way link from → to down (down=true) or up again.
func (n *Net) Cut(from, to string, down bool) { n.Only(LayerAll).Cut(from, to, down) }

// Isolate takes every link of name down, both ways, until Unisolate or Heal.
func (n *Net) Isolate(name string) { n.Only(LayerAll).Isolate(name) }

// Unisolate undoes Isolate.
func (n *Net) Unisolate(name string) { n.Only(LayerAll).Unisolate(name) }

// SetLoss drops every message with probability p (0 turns it off).
func (n *Net) SetLoss(p float64) { n.Only(LayerAll).SetLoss(p) }

// SetDup delivers every message twice with probability p.
func (n *Net) SetDup(p float64) { n.Only(LayerAll).SetDup(p) }

// SetDelay delays every message by a draw from d (the zero Delay turns it off).
func (n *Net) SetDelay(d Delay) { n.Only(LayerAll).SetDelay(d) }

// SetNodeDelay adds a draw from d to every message to or from name: a slow
// node or a slow link. The zero Delay removes it.
func (n *Net) SetNodeDelay(name string, d Delay) { n.Only(LayerAll).SetNodeDelay(name, d) }

// Log returns the record of every fault change so far, one line each,
// timestamped with the wall clock and the time since New. Print it with a
// failing run: together with the seed it is the schedule to replay.
func (n *Net) Log() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.log...)
}

// Note adds a line to Log, for the caller's own events (a node killed,
// restarted) so that the printed schedule is complete.
func (n *Net) Note(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.logLocked(format, args...)
}

func (n *Net) logf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.logLocked(format, args...)
}

func (n *Net) logLocked(format string, args ...any) {
	now := time.Now()
	n.log = append(n.log, fmt.Sprintf("%s +%-9s %s", now.Format("15:04:05.000"),
		now.Sub(n.start).Round(time.Millisecond), fmt.Sprintf(format, args...)))
}

// Stats counts messages per layer. A duplicated message counts once in Sent
// and once in Duplicated; each copy then counts in Delivered, Undeliverable,
// Held or Dropped.
type Stats struct {
	Gossip, RPC LayerStats
}

// LayerStats are one layer's counters.
type LayerStats struct {
	Sent          uint64 // messages offered to the network (packets, dials, requests, replies)
	Delivered     uint64 // copies that reached a live receiver
	Dropped       uint64 // messages lost to a fault (block, partition, cut, loss) or to Close
	Duplicated    uint64 // extra copies made by SetDup
	Held          uint64 // copies held by a pause (they are counted again when released)
	Undeliverable uint64 // copies that arrived where nobody listens, or at a full queue
}

// Stats returns the counters so far.
func (n *Net) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return Stats{Gossip: n.stats[gossipIdx], RPC: n.stats[rpcIdx]}
}

// SetTrace calls f with the decision about every message, in decision order.
// f runs with the network's lock held: it must be quick and must not call
// back into the Net. nil turns tracing off.
func (n *Net) SetTrace(f func(Event)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.trace = f
}

// Close stops every timer, drops held and delayed messages, fails RPC calls
// in flight with an error wrapping rpc.ErrUnreachable and makes every later
// message vanish. It waits for deliveries running right now. Listeners and
// transports stay theirs to close (node lifecycle is the caller's). Idempotent.
func (n *Net) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	close(n.done)
	n.logLocked("Close")
	for id, t := range n.timers {
		t.Stop()
		delete(n.timers, id)
	}
	for _, m := range n.held {
		n.stats[m.layer].Dropped++
	}
	n.held = nil
	calls := n.calls
	n.calls = make(map[*call]string)
	n.mu.Unlock()
	for c, addr := range calls {
		c.finish(reply{err: unreachable(addr, errNetClosed)})
	}
	n.running.Wait()
}
