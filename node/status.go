package node

import (
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// Status is the status document of GET /status (shared/api.md). Fields are
// only ever added.
type Status struct {
	Node         string         `json:"node"`
	Version      string         `json:"version"`
	N            int            `json:"n"`
	Partitions   int            `json:"partitions"`
	R            int            `json:"r"`
	W            int            `json:"w"`
	Members      []MemberStatus `json:"members"`
	HintsPending int64          `json:"hints_pending"`
	// HintsPendingByTarget counts the hints held for each down (or just
	// returned) node.
	HintsPendingByTarget map[string]int64 `json:"hints_pending_by_target"`
	HintsPendingBytes    int64            `json:"hints_pending_bytes"`
	Handoff              *HandoffStatus   `json:"handoff,omitempty"`
	// Ring changes: partitions still to move to or from this node in the
	// active change, an estimate of the bytes left, the copy rate while this
	// node drives it, and the change itself (absent when the ring is stable).
	TransfersPending  int           `json:"transfers_pending"`
	TransferBytesLeft int64         `json:"transfer_bytes_left"`
	TransferRate      float64       `json:"transfer_rate_bytes_per_sec"`
	RingChange        *ChangeStatus `json:"ring_change,omitempty"`
	AntiEntropy       *AAEStatus    `json:"anti_entropy,omitempty"`
	// Storage is "ok", "disk_full" (writes refused until space is freed)
	// or "failed" (a WAL write or fsync failed: writes refused until
	// restart); reads are served in every state.
	Storage string `json:"storage"`

	// HTTPScheme is "https" when the client API serves TLS, else "http";
	// RPCTLS is true when requests between nodes are mutual TLS.
	HTTPScheme string `json:"http_scheme"`
	RPCTLS     bool   `json:"rpc_tls"`
}

// AAEStatus is the anti-entropy state of one node.
type AAEStatus struct {
	Exchanges        int64             `json:"exchanges"`
	KeysRepaired     int64             `json:"keys_repaired"`
	TreesRebuilding  int               `json:"trees_rebuilding"`
	TombstonesReaped int64             `json:"tombstones_reaped"`
	Partitions       []AAEPartitionRow `json:"partitions"`
}

// AAEPartitionRow is one partition's last exchange.
type AAEPartitionRow struct {
	Partition    int       `json:"partition"`
	LastExchange time.Time `json:"last_exchange"`
	LastPeer     string    `json:"last_peer"`
	Repaired     int64     `json:"keys_repaired"`
	Dirty        bool      `json:"dirty"`
}

// HandoffStatus reports hinted handoff's counters since start.
type HandoffStatus struct {
	Written   uint64 `json:"hints_written"`
	Delivered uint64 `json:"hints_delivered"`
	Dropped   uint64 `json:"hints_dropped"`
	Failed    uint64 `json:"delivery_failures"`
}

// MemberStatus is one ring member as this node sees it.
type MemberStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	HTTPAddr string `json:"http_addr"`
	// HTTPScheme is "https" for a member whose client API serves TLS, else
	// "http": with HTTPAddr, the URL to reach it.
	HTTPScheme      string `json:"http_scheme"`
	RPCAddr         string `json:"rpc_addr"`
	PartitionsOwned int    `json:"partitions_owned"` // partitions it is a replica of
	// RingState is joining, valid, leaving or left; PartitionsAfter is what
	// it will own once the active ring change completes.
	RingState       string `json:"ring_state"`
	PartitionsAfter int    `json:"partitions_after"`
}

// Status returns this node's view of the cluster.
func (n *Node) Status() Status {
	v := n.mem.current()
	states := n.mem.liveStates()
	st := Status{
		Node: n.name, Version: n.cfg.Version,
		N: n.cfg.N, Partitions: n.cfg.Partitions, R: n.cfg.R, W: n.cfg.W,
		Members:              []MemberStatus{},
		HintsPendingByTarget: map[string]int64{},
		HTTPScheme:           n.HTTPScheme(), RPCTLS: n.cfg.TLS.rpcTLS() && n.cfg.RPCNetwork == nil,
	}
	if n.hints != nil {
		st.HintsPending, st.HintsPendingByTarget = n.hints.Pending()
		st.HintsPendingBytes = n.hints.PendingBytes()
		hs := n.hints.Stats()
		st.Handoff = &HandoffStatus{Written: hs.Written, Delivered: hs.Delivered, Dropped: hs.Dropped, Failed: hs.Failed}
	}
	if n.aae != nil {
		st.AntiEntropy = n.aae.status()
	}
	now, after := v.ring, v.ring
	if v.change != nil {
		if v.change.Phase >= phaseHandover {
			now = v.other
		} else {
			after = v.other
		}
	}
	for _, name := range slices.Sorted(maps.Keys(v.members)) {
		rec := v.members[name]
		state, ok := states[name]
		if !ok {
			state = stateDead
		}
		if rec.Status == statusLeft {
			state = stateLeft
		}
		st.Members = append(st.Members, MemberStatus{
			Name: name, State: state, HTTPAddr: rec.HTTPAddr, HTTPScheme: rec.scheme(), RPCAddr: rec.RPCAddr,
			PartitionsOwned: now.Placements(name), RingState: ringStateName(rec.Status),
			PartitionsAfter: after.Placements(name),
		})
	}
	st.RingChange, st.TransfersPending, st.TransferBytesLeft, st.TransferRate = n.changeStatus()
	st.Storage = n.store.State()
	return st
}

func (n *Node) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) serveHealth(w http.ResponseWriter, r *http.Request) {
	switch s := n.phase.Load(); {
	case s == phaseServing && len(n.mem.current().ring.Preflist(0)) == 0:
		writeError(w, http.StatusServiceUnavailable, "node is starting: it has not learned the cluster's ring yet", map[string]any{"node": n.name})
	case s == phaseServing && n.store.State() != "ok":
		// Still serving reads: 200, as api.md wants of a serving node,
		// with the reason to look closer.
		writeJSON(w, http.StatusOK, map[string]string{"status": "degraded", "storage": n.store.State(), "node": n.name})
	case s == phaseServing:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "storage": "ok", "node": n.name})
	default:
		writeError(w, http.StatusServiceUnavailable, "node is "+phaseName(s), map[string]any{"node": n.name})
	}
}

type preflistNode struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Primary bool   `json:"primary"`
}

func (n *Node) servePreflist(w http.ResponseWriter, r *http.Request, key string) {
	if err := checkKey(key); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	v := n.mem.current()
	p := v.ring.Partition([]byte(key))
	out := struct {
		Partition int            `json:"partition"`
		Nodes     []preflistNode `json:"nodes"`
	}{Partition: p, Nodes: []preflistNode{}}
	for _, name := range v.ring.Preflist(p) {
		out.Nodes = append(out.Nodes, preflistNode{Name: name, State: n.mem.stateOf(name), Primary: true})
	}
	// Then the fallbacks a write would use now, in order.
	for _, name := range n.fallbacks(v, p) {
		out.Nodes = append(out.Nodes, preflistNode{Name: name, State: n.mem.stateOf(name)})
	}
	writeJSON(w, http.StatusOK, out)
}

type replicaSibling struct {
	Value       []byte `json:"value"`
	ContentType string `json:"content_type"`
	Deleted     bool   `json:"deleted"`
}

func (n *Node) serveReplica(w http.ResponseWriter, r *http.Request, key string) {
	if err := checkKey(key); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	p := n.mem.current().ring.Partition([]byte(key))
	set, found, err := n.store.Get(p, []byte(key))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	var hintedFor *string
	if !found {
		set, hintedFor, err = n.findHint(p, []byte(key))
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error(), nil)
			return
		}
	}
	if !found && hintedFor == nil {
		writeError(w, http.StatusNotFound, "this node holds no version of the key", map[string]any{"node": n.name})
		return
	}
	out := struct {
		Node      string           `json:"node"`
		Context   string           `json:"context"`
		Siblings  []replicaSibling `json:"siblings"`
		HintedFor *string          `json:"hinted_for"`
	}{Node: n.name, Context: vclock.EncodeContext(set.Clock), Siblings: []replicaSibling{}, HintedFor: hintedFor}
	for _, s := range set.Siblings {
		v := s.Value
		if v == nil {
			v = []byte{}
		}
		out.Siblings = append(out.Siblings, replicaSibling{Value: v, ContentType: contentType(s.ContentType), Deleted: s.Deleted})
	}
	writeJSON(w, http.StatusOK, out)
}

// findHint looks for a hint this node keeps for key, under each of the
// key's primaries.
func (n *Node) findHint(p int, key []byte) (vclock.Set, *string, error) {
	for _, target := range n.mem.current().ring.Preflist(p) {
		set, found, err := n.store.GetHint(target, p, key)
		if err != nil || found {
			return set, &target, err
		}
	}
	return vclock.Set{}, nil, nil
}
