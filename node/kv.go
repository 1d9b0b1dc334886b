package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dynkv/dynkv/internal/rpc"
	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/vclock"
)

// writeOp is one PUT or DELETE, validated.
type writeOp struct {
	key         []byte
	value       []byte
	contentType string
	deleted     bool
	context     vclock.VV
	hasContext  bool // false: a blind write
	w, pw       int
	sync        bool
	hops        int // forwards so far: it came from a node that holds no replica
}

type writeResult struct {
	context string // covers the new version, to send back with the next write
	quorum.WriteResult
}

var (
	// errNoCoordinator: no replica of the key answered a forwarded write.
	errNoCoordinator = errors.New("no replica of this key could be reached to coordinate the write")
	// errRingMoving: a forwarded write reached a node that is no replica in
	// its own view of the ring; the views differ while membership changes.
	errRingMoving = errors.New("the ring is changing: the node asked to coordinate this write is no replica of the key in its view; retry")
)

// maxHops bounds forwards: a write forwarded by a node whose view of a
// changing ring is older than the receiver's is forwarded once more, by the
// receiver's view, and refused after that.
const maxHops = 2

// write coordinates op on this node if it is a replica of the key, and
// otherwise forwards it to the first reachable replica.
func (n *Node) write(ctx context.Context, op writeOp) (writeResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := n.writeOnce(ctx, op)
		if err == nil || op.hops > 0 || attempt >= 8 || !(errors.Is(err, errNoCoordinator) || errors.Is(err, errRingMoving)) {
			return res, err
		}
		// Not applied anywhere: no coordinator was reached, or the ones
		// reached saw the ring differently (a change is settling). Retry
		// with a fresh view while the request has time left.
		wait := time.Duration(20<<min(attempt, 4)) * time.Millisecond
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*wait {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(wait):
		}
	}
}

func (n *Node) writeOnce(ctx context.Context, op writeOp) (writeResult, error) {
	v := n.mem.current()
	p := v.ring.Partition(op.key)
	pref := v.ring.Preflist(p)
	if slices.Contains(pref, n.name) {
		return n.coordinateWrite(ctx, v, p, pref, op)
	}
	if op.hops >= maxHops {
		return writeResult{}, errRingMoving
	}
	return n.forwardWrite(ctx, pref, op)
}

// coordinateWrite issues the new version on the local replica, then sends it
// to the other replicas (or fallbacks for the down ones) and waits for the
// quorum.
func (n *Node) coordinateWrite(ctx context.Context, v *view, p int, pref []string, op writeOp) (writeResult, error) {
	var seen vclock.VV
	var dot vclock.Dot
	var before vclock.Set
	set, encoded, err := n.store.UpdateEncoded(p, op.key, op.sync, func(cur vclock.Set, _ bool) (vclock.Set, bool, error) {
		before, seen = cur, op.context
		if !op.hasContext {
			seen = cur.Clock // a blind write supersedes what this replica holds
		}
		var next vclock.Set
		next, dot = cur.UpdateAfter(seen, n.actor, n.counter.Load(), op.value, op.contentType, op.deleted)
		if err := n.checkSiblings(cur, next); err != nil {
			return vclock.Set{}, false, err
		}
		n.raiseCounter(dot.Counter)
		return next, true, nil
	})
	if err != nil {
		return writeResult{}, fmt.Errorf("local replica failed to store the write: %w", err)
	}
	extra := v.writeExtra(p) // during a ring change: the owners on its other side
	res, err := n.coord.Write(ctx, quorum.WriteRequest{
		Partition: p,
		Key:       op.key,
		Set:       set,
		Encoded:   encoded,
		Sync:      op.sync,
		W:         op.w + len(extra),
		PW:        raise(op.pw, len(extra)),
		Local:     &quorum.Target{Node: n.name, Primary: true},
		Targets:   n.writeTargets(pref, extra),
		Fallbacks: n.fallbacks(v, p),
		KeepHints: n.hints != nil,
	})
	n.noteQuorumFailure(ctx, p, err)
	return writeResult{context: vclock.EncodeContext(vclock.WriterContext(before, set, seen, dot)), WriteResult: res}, err
}

// raiseCounter moves the node's dot counter up to c: dots of this actor are
// numbered from one counter across all keys (see vclock.UpdateAfter).
func (n *Node) raiseCounter(c uint64) {
	for {
		cur := n.counter.Load()
		if cur >= c || n.counter.CompareAndSwap(cur, c) {
			return
		}
	}
}

// targets lists the replicas in pref other than skip, marking the ones
// gossip knows to be down.
func (n *Node) targets(pref []string, skip string) []quorum.Target {
	out := make([]quorum.Target, 0, len(pref))
	for _, node := range pref {
		if node == skip {
			continue
		}
		out = append(out, quorum.Target{Node: node, Primary: true, Down: n.mem.isDown(node)})
	}
	return out
}

// forwardWrite hands the write to the first replica that takes it. Only
// replicas that could not be reached at all are skipped: one that received
// the request may have applied it, so it is never retried elsewhere.
func (n *Node) forwardWrite(ctx context.Context, pref []string, op writeOp) (writeResult, error) {
	req := coordinateReq{
		Key: op.key, Value: op.value, ContentType: op.contentType, Deleted: op.deleted,
		HasContext: op.hasContext, W: op.w, PW: op.pw, Sync: op.sync, Hops: op.hops + 1,
	}
	if op.hasContext {
		req.Context = vclock.EncodeContext(op.context)
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		req.Timeout = left - min(left/4, 250*time.Millisecond)
	}
	var tried []string
	var refused error // the last replica's storage refusal
	for _, node := range n.forwardOrder(pref) {
		var resp coordinateResp
		err := n.reps.call(ctx, node, methodCoordinate, req, &resp)
		if errors.Is(err, rpc.ErrUnreachable) {
			tried = append(tried, fmt.Sprintf("%s: %v", node, err))
			continue
		}
		if err != nil {
			return writeResult{}, &forwardError{node: node, err: err}
		}
		if resp.Err != nil && resp.Err.Storage != "" {
			// Refused before anything was stored: another replica may take it.
			tried = append(tried, fmt.Sprintf("%s: %s", node, resp.Err.Msg))
			refused = storageError(resp.Err.Storage)
			continue
		}
		if resp.Err != nil {
			return writeResult{}, resp.Err.err()
		}
		return writeResult{context: resp.Context, WriteResult: quorum.WriteResult{
			Acked: resp.Acked, Primaries: resp.Primaries, Fallbacks: resp.Fallbacks,
		}}, nil
	}
	if refused != nil {
		return writeResult{}, fmt.Errorf("no replica of this key could store the write (replicas %v; %v): %w", pref, tried, refused)
	}
	return writeResult{}, fmt.Errorf("%w (replicas %v; %v)", errNoCoordinator, pref, tried)
}

// forwardOrder is the order in which to try pref's nodes as coordinators:
// nodes gossip reports down are left out, nodes whose last RPC failed go
// last.
func (n *Node) forwardOrder(pref []string) []string {
	var good, bad []string
	for _, node := range pref {
		switch {
		case n.mem.isDown(node):
		case n.reps.sus.suspect(node):
			bad = append(bad, node)
		default:
			good = append(good, node)
		}
	}
	return append(good, bad...)
}

// forwardError is a forwarded write whose coordinator did not answer in
// time or failed in transit: the write may or may not have been applied.
type forwardError struct {
	node string
	err  error
}

func (e *forwardError) Error() string {
	return fmt.Sprintf("coordinator %s did not answer (%v); the write may have been applied", e.node, e.err)
}

func (e *forwardError) Unwrap() error { return e.err }

func toWireError(err error) *wireError {
	var qe *quorum.Error
	if errors.As(err, &qe) {
		return &wireError{Msg: err.Error(), Quorum: qe}
	}
	var ts *TooManySiblingsError
	if errors.As(err, &ts) {
		return &wireError{Msg: err.Error(), Siblings: ts}
	}
	return &wireError{Msg: err.Error(), Unavail: errors.Is(err, errNoCoordinator) || errors.Is(err, errRingMoving), Storage: storageState(err)}
}

func (w *wireError) err() error {
	switch {
	case w.Quorum != nil:
		return w.Quorum
	case w.Siblings != nil:
		return w.Siblings
	case w.Unavail:
		return fmt.Errorf("%w: %s", errNoCoordinator, w.Msg)
	default:
		return errors.New(w.Msg)
	}
}

// readOp is one GET, validated.
type readOp struct {
	key   []byte
	r, pr int
}

// read asks the key's replicas and merges their answers; any node may
// coordinate a read.
func (n *Node) read(ctx context.Context, op readOp) (quorum.ReadResult, error) {
	v := n.mem.current()
	p := v.ring.Partition(op.key)
	res, err := n.coord.Read(ctx, quorum.ReadRequest{
		Partition: p,
		Key:       op.key,
		Targets:   n.readTargets(v, p),
		R:         op.r,
		PR:        op.pr,
	})
	n.noteQuorumFailure(ctx, p, err)
	return res, err
}
