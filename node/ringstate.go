package node

import (
	"maps"
	"slices"
)

// Ring membership, as opposed to liveness: which nodes hold a share of the
// ring. A node joins the ring when it first starts and stays in it while it is
// merely down (its keys get hints, not new owners). Records are gossiped and
// merged by generation, so every node converges on the same set without a
// coordinator, and the ring is computed from that set.

const (
	statusJoined = "joined"
	statusLeft   = "left"
)

// memberRecord is one node's ring membership and addresses. Only the node
// itself changes its record (raising Gen); the rest of the cluster copies it.
type memberRecord struct {
	Name       string `msgpack:"name"`
	Status     string `msgpack:"status"`
	Gen        uint64 `msgpack:"gen"`
	RPCAddr    string `msgpack:"rpc"`
	HTTPAddr   string `msgpack:"http"`
	GossipAddr string `msgpack:"gossip"`
}

// supersedes reports whether a should replace b (same name): a higher
// generation wins; at equal generations "left" wins, so a departure is never
// undone by a stale copy.
func (a memberRecord) supersedes(b memberRecord) bool {
	if a.Gen != b.Gen {
		return a.Gen > b.Gen
	}
	return a.Status == statusLeft && b.Status != statusLeft
}

// ringState maps node name to its record.
type ringState map[string]memberRecord

// merge folds r into s and reports whether s changed.
func (s ringState) merge(r memberRecord) bool {
	if r.Name == "" {
		return false
	}
	cur, ok := s[r.Name]
	if ok && !r.supersedes(cur) {
		return false
	}
	s[r.Name] = r
	return true
}

// joined returns the names of the ring's members, sorted.
func (s ringState) joined() []string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if s[name].Status == statusJoined {
			names = append(names, name)
		}
	}
	return names
}

// records returns every record, sorted by name, for gossip.
func (s ringState) records() []memberRecord {
	out := make([]memberRecord, 0, len(s))
	for _, name := range slices.Sorted(maps.Keys(s)) {
		out = append(out, s[name])
	}
	return out
}
