package node

import (
	"context"
	"time"

	"github.com/dynkv/dynkv/hintedhandoff"
	"github.com/dynkv/dynkv/quorum"
)

// handoffPeers implements hintedhandoff.Peers over gossip and RPC.
type handoffPeers struct{ n *Node }

func (p handoffPeers) Alive(target string) (bool, time.Time) {
	return p.n.mem.alive(target)
}

func (p handoffPeers) Deliver(ctx context.Context, target string, hints []hintedhandoff.Hint) error {
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
