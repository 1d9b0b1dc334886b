package node

import (
	"context"
	"fmt"
	"time"

	"github.com/dynkv/dynkv/hintedhandoff"
	"github.com/dynkv/dynkv/quorum"
)

// handoffPeers implements hintedhandoff.Peers over gossip and RPC.
type handoffPeers struct{ n *Node }

func (p handoffPeers) Alive(target string) (bool, time.Time) {
	if p.left(target) {
		return true, time.Time{} // delivered to the partitions' owners instead
	}
	return p.n.mem.alive(target)
}

// left reports whether target has left the ring.
func (p handoffPeers) left(target string) bool {
	r, ok := p.n.mem.current().members[target]
	return ok && r.Status == statusLeft
}

func (p handoffPeers) Deliver(ctx context.Context, target string, hints []hintedhandoff.Hint) error {
	if p.left(target) {
		return p.redirect(ctx, hints)
	}
	req := handoffReq{Items: make([]handoffItem, len(hints))}
	for i, h := range hints {
		req.Items[i] = handoffItem{Partition: h.Partition, Key: h.Key, Set: h.Set}
	}
	return p.n.reps.call(ctx, target, methodHandoff, req, nil)
}

// fallbacks lists, in order, the nodes that may stand in for the down
// primaries of partition p: members beyond the preference list that gossip
// does not report down. Empty when hinted handoff is off.
func (n *Node) fallbacks(v *view, p int) []string {
	if n.hints == nil {
		return nil
	}
	var out []string
	for _, node := range v.ring.Fallbacks(p) {
		if !n.mem.isDown(node) {
			out = append(out, node)
		}
	}
	return out
}

// readTargets are the key's primaries plus, for each primary gossip reports
// down, the fallback that took its writes, so reads see hinted data.
func (n *Node) readTargets(v *view, p int) []quorum.Target {
	pref := v.ring.Preflist(p)
	out := n.targets(pref, "")
	fbs := n.fallbacks(v, p)
	for _, t := range out {
		if t.Down && len(fbs) > 0 {
			out = append(out, quorum.Target{Node: fbs[0], HintFor: t.Node})
			fbs = fbs[1:]
		}
	}
	return out
}

// redirect delivers hints held for a node that has since left the ring to
// the current owners of their partitions: the writes they carry then reach
// the replicas that took the node's place.
func (p handoffPeers) redirect(ctx context.Context, hints []hintedhandoff.Hint) error {
	v := p.n.mem.current()
	byOwner := map[string][]handoffItem{}
	for _, h := range hints {
		for _, owner := range v.ring.Preflist(h.Partition) {
			byOwner[owner] = append(byOwner[owner], handoffItem{Partition: h.Partition, Key: h.Key, Set: h.Set})
		}
	}
	for owner, items := range byOwner {
		var err error
		if owner == p.n.name {
			err = p.n.serveHandoff(handoffReq{Items: items})
		} else {
			err = p.n.reps.call(ctx, owner, methodHandoff, handoffReq{Items: items}, nil)
		}
		if err != nil {
			return fmt.Errorf("redirecting hints for a departed node to %s: %w", owner, err)
		}
	}
	return nil
}
