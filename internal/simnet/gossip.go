package simnet

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// Queue sizes of a gossip transport. A packet arriving at a full queue is
// lost, as on a full UDP receive buffer; a dial to a full accept queue is
// refused.
const (
	packetQueue = 4096
	streamQueue = 64
)

var errShutdown = errors.New("simnet: gossip transport shut down")

// Gossip returns a memberlist config hook for node name (registered with
// AddNode if it is not yet). Each call of the hook creates a fresh transport,
// as a restarted node creates a fresh memberlist; a new transport takes the
// address over from an old one that was not shut down. It sets mc.Transport
// and makes BindAddr/BindPort and AdvertiseAddr/AdvertisePort the node's fake
// gossip address. Compose it with timing tweaks:
//
//	hook := net.Gossip("n1")
//	cfg.Gossip = func(mc *memberlist.Config) { fastGossip(mc); hook(mc) }
func (n *Net) Gossip(name string) func(*memberlist.Config) {
	return func(mc *memberlist.Config) {
		t := n.newTransport(name)
		mc.Transport = t
		mc.BindAddr = t.udp.IP.String()
		mc.BindPort = t.udp.Port
		mc.AdvertiseAddr = t.udp.IP.String()
		mc.AdvertisePort = t.udp.Port
	}
}

// Transport returns a fresh gossip transport for name, for tests that build a
// memberlist.Config themselves (Gossip does this and more).
func (n *Net) Transport(name string) memberlist.NodeAwareTransport {
	return n.newTransport(name)
}

func (n *Net) newTransport(name string) *transport {
	n.mu.Lock()
	info := n.addNodeLocked(name)
	t := &transport{
		n:       n,
		name:    info.name,
		addr:    info.gossip,
		udp:     &net.UDPAddr{IP: info.ip, Port: GossipPort},
		tcp:     &net.TCPAddr{IP: info.ip, Port: GossipPort},
		packets: make(chan *memberlist.Packet, packetQueue),
		streams: make(chan net.Conn, streamQueue),
		shut:    make(chan struct{}),
	}
	old := n.gossip[t.addr]
	n.gossip[t.addr] = t
	n.mu.Unlock()
	if old != nil {
		old.Shutdown()
	}
	return t
}

// gossipAt returns the live transport bound to addr, or nil.
func (n *Net) gossipAt(addr string) *transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gossip[addr]
}

// transport is one memberlist instance's view of the network: a
// memberlist.NodeAwareTransport. Packets obey every fault; a stream obeys
// them when it is dialed, and once open it is a reliable net.Pipe that later
// faults do not cut (memberlist's streams are short and carry deadlines).
type transport struct {
	n       *Net
	name    string
	addr    string
	udp     *net.UDPAddr
	tcp     *net.TCPAddr
	packets chan *memberlist.Packet
	streams chan net.Conn

	mu       sync.Mutex // orders queueing against Shutdown
	shut     chan struct{}
	shutDown bool
}

var _ memberlist.NodeAwareTransport = (*transport)(nil)

// FinalAdvertiseAddr returns the node's fake address whatever was configured.
func (t *transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.udp.IP, t.udp.Port, nil
}

// WriteTo implements memberlist.Transport.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress sends a packet to addr (the node name in a is not used):
// best effort, like UDP. It fails only after Shutdown.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.isShut() {
		return time.Time{}, errShutdown
	}
	now := time.Now()
	buf := bytes.Clone(b)
	to := a.Addr
	t.n.send(&msg{
		layer: gossipIdx, kind: "packet", from: t.name, to: t.n.nameOf(to),
		deliver: func() bool {
			d := t.n.gossipAt(to)
			return d != nil && d.queuePacket(&memberlist.Packet{Buf: bytes.Clone(buf), From: t.udp, Timestamp: time.Now()})
		},
	})
	return now, nil
}

func (t *transport) queuePacket(p *memberlist.Packet) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shutDown {
		return false
	}
	select {
	case t.packets <- p:
		return true
	default:
		return false
	}
}

func (t *transport) queueStream(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shutDown {
		return false
	}
	select {
	case t.streams <- c:
		return true
	default:
		return false
	}
}

// PacketCh implements memberlist.Transport.
func (t *transport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// StreamCh implements memberlist.Transport.
func (t *transport) StreamCh() <-chan net.Conn { return t.streams }

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a stream to a.Addr, as TCP would: refused at once
// when nothing is bound there; when the link is down either way (the SYN or
// its answer is lost) it fails with a timeout error after timeout; when the
// peer is paused it succeeds (the kernel accepts) and the peer sees the
// stream on Resume; a delay postpones the connection.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.isShut() {
		return nil, errShutdown
	}
	remote := tcpAddr(a.Addr)
	cli, srv := net.Pipe()
	client := &conn{Conn: cli, local: t.tcp, remote: remote}
	server := &conn{Conn: srv, local: remote, remote: t.tcp}
	res := make(chan bool, 1)
	var mu sync.Mutex
	gaveUp := false
	to := a.Addr
	out := t.n.send(&msg{
		layer: gossipIdx, kind: "stream", stream: true, from: t.name, to: t.n.nameOf(to),
		deliver: func() bool {
			mu.Lock()
			defer mu.Unlock()
			d := t.n.gossipAt(to)
			ok := !gaveUp && d != nil && d.queueStream(server)
			res <- ok
			return ok
		},
	})
	if out == Held {
		return client, nil
	}
	var timer <-chan time.Time
	if timeout > 0 {
		tm := time.NewTimer(timeout)
		defer tm.Stop()
		timer = tm.C
	}
	fail := func(err error) (net.Conn, error) {
		mu.Lock()
		gaveUp = true
		mu.Unlock()
		cli.Close()
		srv.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: remote, Err: err}
	}
	answer := (<-chan bool)(res)
	if out == Dropped {
		answer = nil // never answered: wait for the timeout
		if timer == nil {
			return fail(os.ErrDeadlineExceeded)
		}
	}
	select {
	case ok := <-answer:
		if !ok {
			return fail(syscall.ECONNREFUSED)
		}
		return client, nil
	case <-timer:
		return fail(os.ErrDeadlineExceeded)
	case <-t.shut:
		return fail(errShutdown)
	case <-t.n.done:
		return fail(errNetClosed)
	}
}

// Shutdown stops delivery to this transport; WriteTo and dials fail after it.
// Streams queued but not yet accepted are closed. Idempotent.
func (t *transport) Shutdown() error {
	t.mu.Lock()
	if t.shutDown {
		t.mu.Unlock()
		return nil
	}
	t.shutDown = true
	close(t.shut)
	for drained := false; !drained; {
		select {
		case c := <-t.streams:
			c.Close()
		default:
			drained = true
		}
	}
	t.mu.Unlock()
	t.n.mu.Lock()
	if t.n.gossip[t.addr] == t {
		delete(t.n.gossip, t.addr)
	}
	t.n.mu.Unlock()
	return nil
}

func (t *transport) isShut() bool {
	select {
	case <-t.shut:
		return true
	default:
		return false
	}
}

// conn is one end of a stream, with TCP addresses instead of net.Pipe's.
type conn struct {
	net.Conn
	local, remote net.Addr
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// tcpAddr parses "ip:port"; anything else becomes an address that prints as given.
func tcpAddr(s string) net.Addr {
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		if ip := net.ParseIP(host); ip != nil {
			if p, err := strconv.Atoi(port); err == nil {
				return &net.TCPAddr{IP: ip, Port: p}
			}
		}
	}
	return strAddr(s)
}

type strAddr string

func (a strAddr) Network() string { return "tcp" }
func (a strAddr) String() string  { return string(a) }
