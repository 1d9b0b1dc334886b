package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/ring"
)

const metaRing = "ring"

// Liveness states, as in the status document.
const (
	stateAlive = "alive"
	stateDead  = "dead"
	stateLeft  = "left"
)

// view is an immutable snapshot of the ring and the members' addresses; a new
// one replaces it whenever ring membership changes.
type view struct {
	// ring serves reads and says who coordinates: the owners now, or from
	// the handover phase of a change on, the owners after it.
	ring *ring.Ring
	// other is, during a change, the ring on its other side (the owners
	// after it while streaming, before it while handing over); writes go to
	// the owners in both. Nil when no change is active.
	other   *ring.Ring
	change  *memberRecord           // the active change, if any
	members map[string]memberRecord // every known record, joined or not
}

// holds reports whether node keeps a copy of partition p: it owns it, or
// receives its writes during the active change.
func (v *view) holds(p int, node string) bool {
	return slices.Contains(v.ring.Preflist(p), node) || slices.Contains(v.writeExtra(p), node)
}

// writeExtra lists the owners of p in the other ring that are not owners
// in v.ring: during a change, writes go to them as well, and W rises by
// their number, so that the owners on either side hold every write at W.
func (v *view) writeExtra(p int) []string {
	if v.other == nil {
		return nil
	}
	cur := v.ring.Preflist(p)
	var out []string
	for _, n := range v.other.Preflist(p) {
		if !slices.Contains(cur, n) {
			out = append(out, n)
		}
	}
	return out
}

// nodeMeta travels in memberlist's alive messages. It lets a node refuse to
// gossip with a cluster whose ring parameters differ from its own.
// It also carries the node's addresses, so a peer knows them from the first
// alive message, before the ring records arrive.
type nodeMeta struct {
	Partitions int    `msgpack:"q"`
	N          int    `msgpack:"n"`
	RPCAddr    string `msgpack:"rpc"`
	HTTPAddr   string `msgpack:"http"`
}

// membership runs memberlist and keeps the ring state it gossips.
type membership struct {
	self   string
	rcfg   ring.Config
	store  *store.Store
	logger *slog.Logger

	mu    sync.Mutex
	state ringState

	view     atomic.Pointer[view]
	liveness atomic.Pointer[map[string]string] // from memberlist events

	downMu    sync.Mutex
	downSince map[string]time.Time // when each down node was first seen down
	onAlive   func(name string)    // called when a node is seen alive again
	onChange  func()               // called (under mu) after every new view
	contacted atomic.Bool          // has heard from its cluster (or has none to hear from)
	now       func() time.Time     // the node's clock

	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue // made before memberlist, whose goroutines read it at once
	live  atomic.Pointer[memberlist.Memberlist]
}

func newMembership(cfg Config, st *store.Store, logger *slog.Logger) (*membership, error) {
	m := &membership{
		self:      cfg.Name,
		rcfg:      ring.Config{Partitions: cfg.Partitions, N: cfg.N},
		store:     st,
		logger:    logger,
		state:     ringState{},
		downSince: map[string]time.Time{},
		now:       cfg.now,
	}
	empty := map[string]string{}
	m.liveness.Store(&empty)
	m.queue = &memberlist.TransmitLimitedQueue{NumNodes: m.numNodes, RetransmitMult: 3}
	if err := m.loadState(); err != nil {
		return nil, err
	}
	self, known := m.state[cfg.Name]
	switch {
	case self.Status == statusLeft:
		return nil, fmt.Errorf("node %s left the cluster (or was removed from it); its data dir %s cannot rejoin: start it with an empty data dir to join as a new member", cfg.Name, cfg.DataDir)
	case !known && len(cfg.Join) > 0:
		// A new node joining a cluster: it owns nothing until the
		// partitions it will own have been copied to it.
		self = memberRecord{Status: statusJoining}
	case !known:
		self = memberRecord{Status: statusJoined} // the first node of a new cluster
	}
	self.Name = cfg.Name
	self.Gen++
	self.RPCAddr = cfg.advertise(cfg.RPCAddr)
	self.HTTPAddr = cfg.advertise(cfg.HTTPAddr)
	self.HTTPScheme = cfg.TLS.scheme()
	self.GossipAddr = cfg.advertise(cfg.GossipAddr)
	m.state[cfg.Name] = self
	if err := m.changed(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *membership) loadState() error {
	raw, found, err := m.store.GetMeta(metaRing)
	if err != nil || !found {
		return err
	}
	var recs []memberRecord
	if err := unmarshalMsg(raw, &recs); err != nil {
		return fmt.Errorf("stored ring state is unreadable: %w", err)
	}
	for _, r := range recs {
		m.state.merge(r)
	}
	return nil
}

// changed persists the state and publishes a new view. Callers hold mu (or
// own m exclusively).
func (m *membership) changed() error {
	recs := m.state.records()
	raw, err := msgpack.Marshal(recs)
	if err != nil {
		return err
	}
	if err := m.store.PutMeta(metaRing, raw); err != nil {
		return err
	}
	v := &view{members: make(map[string]memberRecord, len(recs))}
	for _, rec := range recs {
		v.members[rec.Name] = rec
	}
	if owners := m.state.owners(); len(owners) > 0 {
		v.ring, err = ring.New(m.rcfg, owners)
	} else {
		v.ring, err = ring.Empty(m.rcfg)
	}
	if err != nil {
		return err
	}
	if a, ok := m.state.active(); ok && a.Phase > 0 && len(m.state.owners()) > 0 {
		next, err := ring.New(m.rcfg, m.state.after(a))
		if err != nil {
			return err
		}
		v.change, v.other = &a, next
		if a.Phase >= phaseHandover {
			v.ring, v.other = next, v.ring
		}
	}
	m.view.Store(v)
	if m.onChange != nil {
		m.onChange()
	}
	return nil
}

// start creates the memberlist and begins joining seeds in the background
// until ctx ends or the node is in a cluster.
func (m *membership) start(ctx context.Context, cfg Config, wg *sync.WaitGroup) error {
	mc, err := m.memberlistConfig(cfg)
	if err != nil {
		return err
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	m.ml = ml
	m.live.Store(ml)
	if err := m.announce(ml.LocalNode().Address()); err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.reconnectLoop(ctx, cfg.ReconnectInterval)
	}()
	seeds := m.seeds(cfg)
	if len(seeds) == 0 {
		m.contacted.Store(true)
		return nil
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.joinLoop(ctx, seeds)
	}()
	return nil
}

// reconnectLoop rejoins ring members that gossip declared dead. memberlist
// neither probes nor pushes state to dead members, and the dead messages
// of a partition are spent while it lasts, so two sides that declared each
// other dead would otherwise stay apart after the network heals (serf's
// reconnect loop solves the same problem).
func (m *membership) reconnectLoop(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var addrs []string
		live := *m.liveness.Load()
		for name, r := range m.current().members {
			if name != m.self && r.Status != statusLeft && r.GossipAddr != "" && live[name] == stateDead {
				addrs = append(addrs, r.GossipAddr)
			}
		}
		if len(addrs) == 0 {
			continue
		}
		if n, err := m.ml.Join(addrs); n > 0 {
			m.logger.Info("reconnected to members gossip had declared dead", "contacted", n)
		} else {
			m.logger.Debug("reconnect attempt failed", "members", addrs, "err", err)
		}
	}
}

func (m *membership) memberlistConfig(cfg Config) (*memberlist.Config, error) {
	host, portStr, err := net.SplitHostPort(cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("--gossip-addr: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("--gossip-addr port: %w", err)
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr = host
	mc.BindPort = port
	mc.AdvertisePort = port
	if cfg.AdvertiseHost != "" {
		// memberlist takes an IP only; peers dial our RPC and HTTP
		// addresses by the name as given, resolving it themselves.
		ip, err := resolveAdvertise(cfg.AdvertiseHost)
		if err != nil {
			return nil, err
		}
		mc.AdvertiseAddr = ip
	}
	d := &delegate{m: m}
	mc.Delegate = d
	mc.Events = d
	mc.Alive = d
	mc.Merge = d
	mc.Logger = log.New(&slogWriter{l: m.logger.With("subsystem", "memberlist")}, "", 0)
	if len(cfg.GossipKey) > 0 {
		// Every gossip message is encrypted and authenticated (AES-GCM):
		// a node without the key can neither join nor read the cluster's
		// membership.
		mc.SecretKey = cfg.GossipKey
	}
	if cfg.Gossip != nil {
		cfg.Gossip(mc)
	}
	return mc, nil
}

// numNodes sizes gossip retransmissions: the members memberlist knows, or
// 1 before it runs.
func (m *membership) numNodes() int {
	if ml := m.live.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// announce records the gossip address memberlist actually bound (the
// configured port may be 0) and broadcasts this node's record.
func (m *membership) announce(gossipAddr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	self := m.state[m.self]
	if self.GossipAddr != gossipAddr {
		self.GossipAddr = gossipAddr
		self.Gen++
		m.state[m.self] = self
		if err := m.changed(); err != nil {
			return err
		}
	}
	m.broadcast(self)
	return nil
}

// seeds are the configured --join addresses plus every gossip address the
// ring state remembers, so a restarted node finds its cluster again.
func (m *membership) seeds(cfg Config) []string {
	seen := map[string]bool{cfg.advertise(cfg.GossipAddr): true}
	var out []string
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range cfg.Join {
		add(a)
	}
	for _, r := range m.view.Load().members {
		if r.Name != m.self {
			add(r.GossipAddr)
		}
	}
	return out
}

// joinLoop retries joining until at least one seed answers: in a cluster
// whose nodes start together, the seeds may not be up yet.
func (m *membership) joinLoop(ctx context.Context, seeds []string) {
	backoff := 200 * time.Millisecond
	for {
		n, err := m.ml.Join(seeds)
		if n > 0 && m.ml.NumMembers() > 1 {
			m.logger.Info("joined cluster", "contacted", n)
			m.contacted.Store(true)
			return
		}
		m.logger.Debug("join failed, retrying", "seeds", seeds, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if m.ml.NumMembers() > 1 {
			m.contacted.Store(true)
			return // someone joined us
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// leave tells the cluster this node is going away (liveness only: it stays
// in the ring) and stops gossip.
func (m *membership) leave(timeout time.Duration) {
	if m.ml == nil {
		return
	}
	if err := m.ml.Leave(timeout); err != nil {
		m.logger.Warn("gossip leave", "err", err)
	}
	if err := m.ml.Shutdown(); err != nil {
		m.logger.Warn("gossip shutdown", "err", err)
	}
}

// current returns the latest view.
func (m *membership) current() *view { return m.view.Load() }

// state returns a node's liveness as gossip sees it.
func (m *membership) stateOf(name string) string {
	if name == m.self {
		return stateAlive
	}
	if s, ok := (*m.liveness.Load())[name]; ok {
		return s
	}
	return stateDead // in the ring but not heard from since this node started
}

// isDown reports whether requests should skip a node without asking it.
// Nodes not heard from since this node started are still tried: after a
// whole-cluster restart gossip has not caught up yet.
func (m *membership) isDown(name string) bool {
	s, ok := (*m.liveness.Load())[name]
	return ok && (s == stateDead || s == stateLeft)
}

// liveStates returns every known node's liveness. memberlist reports joins
// and departures as events but offers no view of suspicion, so a member is
// alive until gossip declares it failed.
func (m *membership) liveStates() map[string]string {
	out := map[string]string{}
	for k, v := range *m.liveness.Load() {
		out[k] = v
	}
	out[m.self] = stateAlive
	return out
}

func (m *membership) setLiveness(name, state string) {
	for {
		old := m.liveness.Load()
		prev, known := (*old)[name]
		if prev == state {
			return
		}
		next := make(map[string]string, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
		next[name] = state
		if m.liveness.CompareAndSwap(old, &next) {
			if name != m.self { // memberlist reports this node's own leave too
				m.logger.Info(livenessMessage(known, state), "member", name, "state", state)
			}
			m.noteDown(name, state)
			return
		}
	}
}

// livenessMessage names a change of a member's liveness, logged once per
// change: gossip reports a graceful shutdown and a failure alike.
func livenessMessage(known bool, state string) string {
	switch {
	case state != stateAlive:
		return "member down (failed or left gossip)"
	case known:
		return "member rejoined"
	default:
		return "member joined"
	}
}

// noteDown records when a node went down and reports its return.
func (m *membership) noteDown(name, state string) {
	m.downMu.Lock()
	_, wasDown := m.downSince[name]
	if state == stateAlive {
		delete(m.downSince, name)
	} else if !wasDown {
		m.downSince[name] = m.now()
	}
	m.downMu.Unlock()
	if state == stateAlive && m.onAlive != nil {
		m.onAlive(name)
	}
}

// alive reports whether gossip sees name up and, if not, since when it has
// been seen down (zero if it was never seen: a node still in the ring that
// has not been heard from since this node started).
func (m *membership) alive(name string) (bool, time.Time) {
	if s, ok := (*m.liveness.Load())[name]; !ok || s != stateAlive {
		m.downMu.Lock()
		defer m.downMu.Unlock()
		return name == m.self, m.downSince[name]
	}
	return true, time.Time{}
}

// mergeRecords folds gossiped records into the state. A record about this
// node that is newer than what it knows (it lost its data dir, or an old
// copy circulates) is refuted by raising its own generation.
func (m *membership) mergeRecords(recs []memberRecord) {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	var rebroadcast []memberRecord
	for _, r := range recs {
		if r.Name == m.self {
			own := m.state[m.self]
			if r.Gen >= own.Gen && !sameRecord(r, own) {
				if r.Driver != "" && r.Driver != m.self && r.Status != own.Status {
					// Another node removed this one while it was down: accept.
					m.logger.Error("this node was removed from the ring by another node; it owns no partitions now", "by", r.Driver, "status", r.Status)
					m.state[m.self] = r
					changed = true
					rebroadcast = append(rebroadcast, r)
					continue
				}
				own.Gen = r.Gen + 1
				m.state[m.self] = own
				changed = true
				rebroadcast = append(rebroadcast, own)
			}
			continue
		}
		prev, had := m.state[r.Name]
		if m.state.merge(r) {
			changed = true
			rebroadcast = append(rebroadcast, r)
			level := slog.LevelDebug // a new generation or phase of the same status
			if !had || prev.Status != r.Status {
				level = slog.LevelInfo
			}
			m.logger.Log(context.Background(), level, "ring member", "member", r.Name, "ring_state", ringStateName(r.Status), "gen", r.Gen)
		}
	}
	if !changed {
		return
	}
	if err := m.changed(); err != nil {
		m.logger.Error("ring state update failed", "err", err)
	}
	for _, r := range rebroadcast {
		m.broadcast(r)
	}
}

func (m *membership) broadcast(r memberRecord) {
	raw, err := msgpack.Marshal([]memberRecord{r})
	if err != nil {
		return
	}
	m.queue.QueueBroadcast(recordBroadcast{name: r.Name, msg: raw})
}

// recordBroadcast is one member record queued for gossip; a newer record for
// the same node replaces it in the queue.
type recordBroadcast struct {
	name string
	msg  []byte
}

func (b recordBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(recordBroadcast)
	return ok && ob.name == b.name
}
func (b recordBroadcast) Message() []byte { return b.msg }
func (b recordBroadcast) Finished()       {}

// delegate adapts membership to memberlist's delegate interfaces.
type delegate struct{ m *membership }

func (d *delegate) NodeMeta(limit int) []byte {
	d.m.mu.Lock()
	self := d.m.state[d.m.self]
	d.m.mu.Unlock()
	raw, _ := msgpack.Marshal(nodeMeta{Partitions: d.m.rcfg.Partitions, N: d.m.rcfg.N, RPCAddr: self.RPCAddr, HTTPAddr: self.HTTPAddr})
	if len(raw) > limit {
		return nil
	}
	return raw
}

func (d *delegate) NotifyMsg(b []byte) {
	var recs []memberRecord
	if err := unmarshalMsg(b, &recs); err != nil {
		d.m.logger.Warn("ignoring malformed gossip message", "err", err)
		return
	}
	d.m.mergeRecords(recs)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.queue.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(join bool) []byte {
	d.m.mu.Lock()
	recs := d.m.state.records()
	d.m.mu.Unlock()
	raw, _ := msgpack.Marshal(recs)
	return raw
}

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	d.NotifyMsg(buf)
}

// The Node memberlist passes to events carries a stale State field (the
// real state lives in memberlist's private nodeState), so the event itself
// says what happened: a join or update means alive, a leave means gone.
func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.m.setLiveness(n.Name, stateAlive) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.m.setLiveness(n.Name, stateDead) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.m.setLiveness(n.Name, stateAlive) }

// errMismatch refuses gossip with nodes of another ring shape.
var errMismatch = errors.New("ring parameters differ")

func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	return d.checkPeer(peer)
}

func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.checkPeer(p); err != nil {
			return err
		}
	}
	return nil
}

func (d *delegate) checkPeer(p *memberlist.Node) error {
	if p.Name == d.m.self {
		return nil
	}
	var meta nodeMeta
	if err := unmarshalMsg(p.Meta, &meta); err != nil {
		return fmt.Errorf("node %s sent unreadable metadata: %w", p.Name, err)
	}
	if meta.Partitions != d.m.rcfg.Partitions || meta.N != d.m.rcfg.N {
		err := fmt.Errorf("%w: node %s has --partitions %d --n %d, this node %d/%d; it cannot join this cluster",
			errMismatch, p.Name, meta.Partitions, meta.N, d.m.rcfg.Partitions, d.m.rcfg.N)
		d.m.logger.Error("refusing peer", "err", err)
		return err
	}
	return nil
}

// slogWriter turns memberlist's "[LEVEL] memberlist: ..." log lines into
// structured records.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for prefix, l := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[INFO]": slog.LevelInfo} {
		if strings.HasPrefix(line, prefix) {
			level = l
			line = strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	w.l.Log(context.Background(), level, line)
	return len(p), nil
}

// shutdown stops gossip without telling anyone (a crash).
func (m *membership) shutdown() {
	if m.ml != nil {
		m.ml.Shutdown()
	}
}

// sameRecord compares two records field by field.
func sameRecord(a, b memberRecord) bool {
	return a.Name == b.Name && a.Status == b.Status && a.Gen == b.Gen && a.RPCAddr == b.RPCAddr &&
		a.HTTPAddr == b.HTTPAddr && a.GossipAddr == b.GossipAddr && a.HTTPScheme == b.HTTPScheme && a.Phase == b.Phase &&
		a.ChangeID == b.ChangeID && a.Driver == b.Driver && slices.Equal(a.Done, b.Done) &&
		a.Moved == b.Moved && a.Ack == b.Ack
}

// resolveAdvertise turns --advertise-host into the IP address memberlist
// needs: an IP as is, a host name (a pod's DNS name, say) looked up once,
// preferring IPv4.
func resolveAdvertise(host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return host, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("--advertise-host %q: not an IP address and it does not resolve to one: %v", host, err)
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String(), nil
		}
	}
	return ips[0].String(), nil
}
