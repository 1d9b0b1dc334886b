package node

import (
	"fmt"
	"maps"
	"slices"
)

// Ring membership, as opposed to liveness: which nodes hold a share of the
// ring. A node that is merely down stays in the ring (its keys get hints,
// not new owners). Records are gossiped and merged by generation, so every
// node converges on the same set without a coordinator, and the ring is
// computed from that set.
//
// Membership changes (a join, a leave, the removal of a dead node) move
// partitions, and run one at a time: the active change is the joining or
// leaving member with the lowest name; any other waits, queued, in its
// joining or leaving state. A change goes through two phases, each entered
// only once every live member has acknowledged the one before (see
// ringchange.go):
//
//  1. streaming: reads use the old ring; writes go to the old and the new
//     owners of each moving partition, with W raised by the number of new
//     owners, while the partitions are copied to their new owners;
//  2. handing over: reads use the new ring; writes still go to both.
//
// Then the member becomes valid (a join) or left (a leave or removal),
// writes go to the new owners alone, and the old owners drop their copies.

const (
	statusJoined  = "joined" // valid: owns partitions (the stored name predates ring states)
	statusJoining = "joining"
	statusLeaving = "leaving"
	statusLeft    = "left"
)

// Phases of the active change.
const (
	phaseStreaming = 1
	phaseHandover  = 2
)

// memberRecord is one node's ring membership and addresses. Only the node
// itself changes its record (raising Gen), except that the driver of a
// removal changes the removed (dead) node's; the rest of the cluster copies
// it.
type memberRecord struct {
	Name       string `msgpack:"name"`
	Status     string `msgpack:"status"`
	Gen        uint64 `msgpack:"gen"`
	RPCAddr    string `msgpack:"rpc"`
	HTTPAddr   string `msgpack:"http"`
	GossipAddr string `msgpack:"gossip"`
	// HTTPScheme is "https" for a member whose client API serves TLS;
	// empty (from nodes that predate TLS, too) means "http".
	HTTPScheme string `msgpack:"scheme,omitempty"`

	// While joining or leaving: the change's phase (0 while queued), the
	// Gen at which it began (it names the change), and the node running it
	// (the member itself, or for a removal the node asked to remove it).
	Phase    int    `msgpack:"phase,omitempty"`
	ChangeID uint64 `msgpack:"change,omitempty"`
	Driver   string `msgpack:"driver,omitempty"`
	// Done lists the partitions copied so far, Moved the bytes copied.
	Done  []int `msgpack:"done,omitempty"`
	Moved int64 `msgpack:"moved,omitempty"`

	// Ack is the step of the active change this node has applied (see
	// changeStep); the driver moves on once every live member shows it.
	Ack string `msgpack:"ack,omitempty"`
}

// changing reports whether r is a join or leave in progress or queued.
func (r memberRecord) changing() bool {
	return r.Status == statusJoining || r.Status == statusLeaving
}

// step names the phase of r's change that members acknowledge.
func (r memberRecord) step() string {
	return fmt.Sprintf("%s/%d/%d", r.Name, r.ChangeID, r.Phase)
}

// ringStateName is the status document's name for a record's state.
func ringStateName(status string) string {
	if status == statusJoined {
		return "valid"
	}
	return status
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

// owners returns the names of the members that own partitions now (valid
// or leaving), sorted.
func (s ringState) owners() []string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if st := s[name].Status; st == statusJoined || st == statusLeaving {
			names = append(names, name)
		}
	}
	return names
}

// active returns the change in progress: the joining or leaving member with
// the lowest name.
func (s ringState) active() (memberRecord, bool) {
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if s[name].changing() {
			return s[name], true
		}
	}
	return memberRecord{}, false
}

// queued lists the changes waiting behind the active one.
func (s ringState) queued() []string {
	var out []string
	a, ok := s.active()
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if ok && name != a.Name && s[name].changing() {
			out = append(out, name)
		}
	}
	return out
}

// after returns the owners once change a completes.
func (s ringState) after(a memberRecord) []string {
	owners := s.owners()
	if a.Status == statusJoining {
		return append(owners, a.Name)
	}
	return slices.DeleteFunc(owners, func(n string) bool { return n == a.Name })
}

// records returns every record, sorted by name, for gossip.
func (s ringState) records() []memberRecord {
	out := make([]memberRecord, 0, len(s))
	for _, name := range slices.Sorted(maps.Keys(s)) {
		out = append(out, s[name])
	}
	return out
}
