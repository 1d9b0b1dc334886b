package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/internal/ratelimit"
	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/ring"
)

// Ring changes: joins, leaves and removals, run one at a time by their
// driver through the phases described in ringstate.go. Every node runs a
// changer: it acknowledges the active change's phase in its own record, and
// drives the change if it is the driver; once no change is active it drops
// its copies of partitions it no longer owns.

// methodScan reads a page of one partition's data for a transfer.
const methodScan uint8 = 8

type scanReq struct {
	Partition int    `msgpack:"p"`
	After     []byte `msgpack:"a"` // exclusive; nil: from the start
	MaxKeys   int    `msgpack:"k"`
	MaxBytes  int    `msgpack:"b"`
}

type scanResp struct {
	Items []handoffItem `msgpack:"i"`
	More  bool          `msgpack:"m"` // the page stopped at a limit
}

// Errors of ring-change requests; the HTTP layer maps them to statuses.
var (
	errChangeRefused = errors.New("ring change refused")
)

// changer runs ring changes on one node.
type changer struct {
	n    *Node
	kick chan struct{}
	lim  *ratelimit.Limiter

	mu        sync.Mutex
	cleaned   *view // the last view whose non-owned partitions were dropped
	cleanedAt time.Time
	stableAt  time.Time // when the current view was first seen without a change
	seen      *view
	rate      float64 // bytes/s of the running transfer
	left      chan struct{}
	leftOnce  sync.Once
}

func newChanger(n *Node) *changer {
	return &changer{
		n:    n,
		kick: make(chan struct{}, 1),
		lim:  ratelimit.New(n.cfg.TransferRate, nil),
		left: make(chan struct{}),
	}
}

// poke makes the loop look at the state now.
func (c *changer) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *changer) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		if err := c.step(ctx); err != nil && ctx.Err() == nil {
			c.n.logger.Warn("ring change step failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// step does what the current ring state asks of this node.
func (c *changer) step(ctx context.Context) error {
	m := c.n.mem
	st := m.snapshot()
	self := st[m.self]
	if self.Status == statusLeft {
		c.leftOnce.Do(func() { close(c.left) })
		return nil
	}
	a, ok := st.active()
	if !ok {
		c.cleanup()
		return nil
	}
	if a.Phase > 0 && self.Ack != a.step() {
		if err := m.updateRecord(m.self, func(r *memberRecord) { r.Ack = a.step() }); err != nil {
			return err
		}
	}
	driver := a.Driver
	if driver == "" {
		driver = a.Name
	}
	if driver != m.self {
		return nil
	}
	switch a.Phase {
	case 0:
		return c.begin(st, a)
	case phaseStreaming:
		if !c.allAcked(a.step()) {
			return nil
		}
		if err := c.stream(ctx, a); err != nil {
			return err
		}
		return m.updateRecord(a.Name, func(r *memberRecord) { r.Phase = phaseHandover })
	default:
		if !c.allAcked(a.step()) {
			return nil
		}
		return c.finish(a)
	}
}

// begin starts the queued change a, or completes at once the join of the
// first node of a cluster.
func (c *changer) begin(st ringState, a memberRecord) error {
	m := c.n.mem
	if len(st.owners()) == 0 {
		if a.Status != statusJoining || !m.contacted.Load() {
			return nil // wait until this node has heard from its cluster
		}
		m.logger.Info("ring is empty: joining as its first member")
		return m.updateRecord(a.Name, func(r *memberRecord) { r.Status, r.Phase = statusJoined, 0 })
	}
	m.logger.Info("ring change starting", "member", a.Name, "change", a.Status, "driver", m.self)
	return m.updateRecord(a.Name, func(r *memberRecord) {
		r.Phase, r.ChangeID, r.Done, r.Moved = phaseStreaming, r.Gen+1, nil, 0
	})
}

// finish completes a: a join makes its member valid, a leave or removal
// takes it out of the ring for good.
func (c *changer) finish(a memberRecord) error {
	m := c.n.mem
	m.logger.Info("ring change complete", "member", a.Name, "change", a.Status, "moved_bytes", a.Moved)
	return m.updateRecord(a.Name, func(r *memberRecord) {
		if r.Status == statusJoining {
			r.Status = statusJoined
		} else {
			r.Status = statusLeft
		}
		r.Phase, r.ChangeID, r.Done = 0, 0, nil
	})
}

// allAcked reports whether every live member shows step in its record.
func (c *changer) allAcked(step string) bool {
	m := c.n.mem
	st := m.snapshot()
	for name, r := range st {
		if r.Status == statusLeft || (name != m.self && m.stateOf(name) != stateAlive) {
			continue
		}
		if r.Ack != step {
			return false
		}
	}
	return true
}

// move is one partition's copy: from the sources to each destination.
type move struct {
	p        int
	sources  []string
	dests    []string
	involved []string
}

// plan lists the partitions a moves, with where to copy them from: the
// owners it replaces, or if none of those is up, the owners it keeps.
func (c *changer) plan(st ringState, a memberRecord) ([]move, error) {
	m := c.n.mem
	before, err := ring.New(m.rcfg, st.owners())
	if err != nil {
		return nil, err
	}
	after, err := ring.New(m.rcfg, st.after(a))
	if err != nil {
		return nil, err
	}
	up := func(names []string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n != m.self && m.stateOf(n) != stateAlive })
	}
	var out []move
	for p := range m.rcfg.Partitions {
		old, next := before.Preflist(p), after.Preflist(p)
		dests := minus(next, old)
		if len(dests) == 0 {
			continue
		}
		sources := up(minus(old, next))
		if len(sources) == 0 {
			sources = up(minus(old, minus(old, next)))
		}
		out = append(out, move{p: p, sources: sources, dests: dests, involved: append(slices.Clone(old), dests...)})
	}
	return out, nil
}

// minus returns the names in a that are not in b.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// stream copies every partition a moves that is not done yet, recording
// each in a's record as it completes, so a restarted driver resumes.
func (c *changer) stream(ctx context.Context, a memberRecord) error {
	m := c.n.mem
	moves, err := c.plan(m.snapshot(), a)
	if err != nil {
		return err
	}
	start, moved := time.Now(), int64(0)
	for _, mv := range moves {
		if slices.Contains(a.Done, mv.p) {
			continue
		}
		if len(mv.sources) == 0 {
			return fmt.Errorf("partition %d: no replica to copy it from is up", mv.p)
		}
		var bytesMoved int64
		for _, dest := range mv.dests {
			for _, src := range mv.sources {
				b, err := c.copyPartition(ctx, mv.p, src, dest)
				if err != nil {
					return fmt.Errorf("copying partition %d from %s to %s: %w", mv.p, src, dest, err)
				}
				bytesMoved += b
			}
		}
		moved += bytesMoved
		if el := time.Since(start).Seconds(); el > 0 {
			c.mu.Lock()
			c.rate = float64(moved) / el
			c.mu.Unlock()
		}
		if err := m.updateRecord(a.Name, func(r *memberRecord) {
			r.Done = append(r.Done, mv.p)
			r.Moved += bytesMoved
		}); err != nil {
			return err
		}
	}
	return nil
}

// transferBatch bounds one page of a partition copy.
const (
	transferBatchKeys  = 512
	transferBatchBytes = 1 << 20
)

// copyPartition merges every version src holds of p into dest, page by
// page, and returns the bytes moved.
func (c *changer) copyPartition(ctx context.Context, p int, src, dest string) (int64, error) {
	var after []byte
	var total int64
	for {
		page, err := c.scan(ctx, src, scanReq{Partition: p, After: after, MaxKeys: transferBatchKeys, MaxBytes: transferBatchBytes})
		if err != nil {
			return total, err
		}
		var size int64
		for _, it := range page.Items {
			size += int64(len(it.Key) + len(it.Set))
		}
		if err := c.lim.Wait(ctx, size); err != nil {
			return total, err
		}
		if len(page.Items) > 0 {
			if err := c.deliver(ctx, dest, page.Items); err != nil {
				return total, err
			}
			after = page.Items[len(page.Items)-1].Key
		}
		total += size
		if !page.More {
			return total, nil
		}
	}
}

func (c *changer) scan(ctx context.Context, src string, req scanReq) (scanResp, error) {
	if src == c.n.name {
		return c.n.scanLocal(req)
	}
	ctx, cancel := stepContext(ctx, c.n.cfg)
	defer cancel()
	var resp scanResp
	err := c.n.reps.call(ctx, src, methodScan, req, &resp)
	return resp, err
}

func (c *changer) deliver(ctx context.Context, dest string, items []handoffItem) error {
	if dest == c.n.name {
		return c.n.handoffItems(ctx, items)
	}
	ctx, cancel := stepContext(ctx, c.n.cfg)
	defer cancel()
	return c.n.reps.call(ctx, dest, methodHandoff, handoffReq{Items: items}, nil)
}

// scanLocal answers a scan from this node's store.
func (n *Node) scanLocal(req scanReq) (scanResp, error) {
	if err := n.checkPartition(req.Partition); err != nil {
		return scanResp{}, err
	}
	var resp scanResp
	size := 0
	err := n.store.ScanPartition(req.Partition, func(key, raw []byte) bool {
		if req.After != nil && bytes.Compare(key, req.After) <= 0 {
			return true
		}
		if len(resp.Items) >= max(req.MaxKeys, 1) || (size > 0 && size+len(raw) > req.MaxBytes) {
			resp.More = true
			return false
		}
		resp.Items = append(resp.Items, handoffItem{Partition: req.Partition, Key: bytes.Clone(key), Set: bytes.Clone(raw)})
		size += len(key) + len(raw)
		return true
	})
	return resp, err
}

func (n *Node) serveScan(body []byte) ([]byte, error) {
	var req scanReq
	if err := unmarshalMsg(body, &req); err != nil {
		return nil, fmt.Errorf("malformed scan request: %w", err)
	}
	resp, err := n.scanLocal(req)
	if err != nil {
		return nil, err
	}
	return msgpack.Marshal(resp)
}

// cleanupDelay: how long the ring must have been stable, with no change
// active, before a node drops partitions it no longer owns: every node has
// by then stopped sending it writes for them.
const cleanupDelay = 2 * time.Second

// cleanup drops this node's copies of partitions it does not own, once per
// stable view.
func (c *changer) cleanup() {
	v := c.n.mem.current()
	c.mu.Lock()
	if c.seen != v {
		c.seen, c.stableAt = v, time.Now()
	}
	// Once per stable view, and again every cleanupDelay: a hint for this
	// node can still arrive for a partition it gave up (it is passed on,
	// see handoffItems), and a copy may have landed just before the change
	// completed.
	due := time.Since(c.stableAt) >= cleanupDelay && (c.cleaned != v || time.Since(c.cleanedAt) >= cleanupDelay)
	c.mu.Unlock()
	if !due || v.change != nil {
		return
	}
	if self, ok := v.members[c.n.name]; !ok || self.Status != statusJoined {
		return
	}
	owned := map[int]bool{}
	for _, p := range v.ring.PartitionsOf(c.n.name) {
		owned[p] = true
	}
	dropped := 0
	for p := range c.n.cfg.Partitions {
		if owned[p] {
			continue
		}
		var keys []handoffItem
		if err := c.n.store.ScanPartition(p, func(key, raw []byte) bool {
			keys = append(keys, handoffItem{Key: bytes.Clone(key), Set: bytes.Clone(raw)})
			return true
		}); err != nil {
			c.n.logger.Warn("scanning a partition this node no longer owns", "partition", p, "err", err)
			return
		}
		for _, k := range keys {
			if c.n.mem.current() != v {
				return // the ring changed meanwhile: look again later
			}
			if _, err := c.n.store.DeleteIf(p, k.Key, k.Set); err != nil {
				c.n.logger.Warn("dropping a copy of a partition this node no longer owns", "partition", p, "err", err)
				return
			}
			dropped++
		}
	}
	if dropped > 0 {
		c.n.logger.Info("dropped copies of partitions this node no longer owns", "keys", dropped)
	}
	c.mu.Lock()
	c.cleaned, c.cleanedAt = v, time.Now()
	c.mu.Unlock()
}

// requestLeave makes this node hand its partitions to their new owners and
// leave the ring; the node stops once the change completes (Left).
func (n *Node) requestLeave() error {
	m := n.mem
	st := m.snapshot()
	self := st[m.self]
	switch self.Status {
	case statusLeaving:
		return nil // already under way
	case statusJoining:
		return fmt.Errorf("%w: %s is still joining; wait until it is valid, then ask it to leave", errChangeRefused, m.self)
	case statusLeft:
		return fmt.Errorf("%w: %s has already left", errChangeRefused, m.self)
	}
	if err := checkRemaining(n, st, m.self); err != nil {
		return err
	}
	m.logger.Info("leave requested: handing partitions over, then leaving the ring")
	err := m.updateRecord(m.self, func(r *memberRecord) { r.Status, r.Phase, r.Driver = statusLeaving, 0, "" })
	n.changer.poke()
	return err
}

// checkRemaining checks that name may leave the ring: enough owners must remain.
func checkRemaining(n *Node, st ringState, name string) error {
	remaining := len(st.owners()) - 1
	for _, r := range st {
		if r.Status == statusLeaving && r.Name != name {
			remaining--
		}
	}
	if remaining < n.cfg.N {
		return fmt.Errorf("%w: %s leaving would leave %d members in the ring, fewer than N=%d replicas per key", errChangeRefused, name, remaining, n.cfg.N)
	}
	return nil
}

// requestRemove takes a dead node out of the ring for good; this node
// drives the change, rebuilding its partitions from the surviving replicas.
func (n *Node) requestRemove(name string) error {
	m := n.mem
	st := m.snapshot()
	r, ok := st[name]
	switch {
	case name == m.self:
		return fmt.Errorf("%w: a node cannot remove itself; ask it to leave instead (POST /admin/leave)", errChangeRefused)
	case !ok:
		return fmt.Errorf("%w: no member named %q", errChangeRefused, name)
	case r.Status == statusLeft:
		return fmt.Errorf("%w: %s has already left the ring", errChangeRefused, name)
	case r.Status == statusLeaving:
		return nil // under way
	case r.Status == statusJoining:
		return fmt.Errorf("%w: %s is still joining", errChangeRefused, name)
	case m.stateOf(name) == stateAlive:
		return fmt.Errorf("%w: %s is alive; ask it to leave instead (dynkv leave), or stop it first", errChangeRefused, name)
	}
	if err := checkRemaining(n, st, name); err != nil {
		return err
	}
	m.logger.Info("remove requested: rebuilding the partitions of a dead member on their new owners", "member", name)
	err := m.updateRecord(name, func(r *memberRecord) { r.Status, r.Phase, r.Driver = statusLeaving, 0, m.self })
	n.changer.poke()
	return err
}

// Left is closed once this node has left the ring (after a leave).
func (n *Node) Left() <-chan struct{} { return n.changer.left }

// ChangeStatus is the ring change part of the status document.
type ChangeStatus struct {
	Member     string   `json:"member"`
	Kind       string   `json:"kind"` // join, leave or remove
	Driver     string   `json:"driver"`
	Phase      string   `json:"phase"` // queued, streaming, handing over
	Partitions int      `json:"partitions"`
	Done       int      `json:"partitions_done"`
	MovedBytes int64    `json:"moved_bytes"`
	Queued     []string `json:"queued,omitempty"`
}

// changeStatus reports the active change and this node's part in it: the
// partitions still to move to or from it, and the transfer rate if it
// drives the change.
func (n *Node) changeStatus() (cs *ChangeStatus, pending int, bytesLeft int64, rate float64) {
	m := n.mem
	st := m.snapshot()
	a, ok := st.active()
	if !ok {
		return nil, 0, 0, 0
	}
	kind := "join"
	if a.Status == statusLeaving {
		kind = "leave"
		if a.Driver != "" {
			kind = "remove"
		}
	}
	driver := a.Driver
	if driver == "" {
		driver = a.Name
	}
	phase := map[int]string{0: "queued", phaseStreaming: "streaming", phaseHandover: "handing over"}[a.Phase]
	cs = &ChangeStatus{Member: a.Name, Kind: kind, Driver: driver, Phase: phase, Done: len(a.Done), MovedBytes: a.Moved, Queued: st.queued()}
	moves, err := n.changer.plan(st, a)
	if err == nil {
		cs.Partitions = len(moves)
		for _, mv := range moves {
			if !slices.Contains(a.Done, mv.p) && (slices.Contains(mv.involved, n.name) || driver == n.name) {
				pending++
			}
		}
	}
	if cs.Done > 0 && cs.Partitions > cs.Done {
		bytesLeft = a.Moved / int64(cs.Done) * int64(cs.Partitions-cs.Done)
	}
	if driver == n.name {
		n.changer.mu.Lock()
		rate = n.changer.rate
		n.changer.mu.Unlock()
	}
	return cs, pending, bytesLeft, rate
}

// writeTargets are the replicas a coordinator sends a write to besides
// itself: the other owners in pref and, during a ring change, extra, the
// owners on the change's other side (view.writeExtra), whose number raises
// W (and PW, if given).
func (n *Node) writeTargets(pref, extra []string) []quorum.Target {
	out := n.targets(pref, n.name)
	for _, node := range extra {
		if node != n.name {
			out = append(out, quorum.Target{Node: node, Primary: true, Down: n.mem.isDown(node)})
		}
	}
	return out
}

// raise adds extra to a quorum the client gave (0: none given).
func raise(q, extra int) int {
	if q == 0 {
		return 0
	}
	return q + extra
}

// snapshot copies the ring state.
func (m *membership) snapshot() ringState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(ringState, len(m.state))
	for k, r := range m.state {
		r.Done = slices.Clone(r.Done)
		out[k] = r
	}
	return out
}

// updateRecord applies fn to name's record (this node's own, or that of a
// removed node this node drives), raises its generation, persists and
// publishes the new state and broadcasts the record.
func (m *membership) updateRecord(name string, fn func(*memberRecord)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.state[name]
	fn(&r)
	r.Gen++
	m.state[name] = r
	if err := m.changed(); err != nil {
		return err
	}
	m.broadcast(r)
	return nil
}

// serveLeave is POST /admin/leave: this node hands its partitions over and
// leaves the ring (202; follow it in /status), then stops.
func (n *Node) serveLeave(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST to make this node leave the ring", nil)
		return
	}
	if err := n.requestLeave(); err != nil {
		writeError(w, http.StatusConflict, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "leaving", "node": n.name})
}

// serveRemove is POST /admin/remove/{node}: take a dead node out of the
// ring for good, rebuilding its partitions from the surviving replicas.
func (n *Node) serveRemove(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST to remove a node from the ring", nil)
		return
	}
	if err := n.requestRemove(name); err != nil {
		writeError(w, http.StatusConflict, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "removing", "node": name, "driver": n.name})
}
