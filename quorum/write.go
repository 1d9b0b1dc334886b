package quorum

import (
	"context"
	"errors"

	"github.com/dynkv/dynkv/vclock"
)

// WriteRequest is a quorum write of a version the coordinator has already
// stored on its own replica (Local).
type WriteRequest struct {
	Partition int
	Key       []byte
	Set       vclock.Set
	// Encoded, if not nil, is Set's encoding (vclock.Set.MarshalBinary),
	// handed to Replicas that implement EncodedWriter. Never modified.
	Encoded []byte
	Sync    bool
	W, PW   int
	Local   *Target  // the coordinator's own replica, already written: one acknowledgement
	Targets []Target // the other primaries
	// Fallbacks, in order, stand in for primaries that are down or fail
	// (sloppy quorum): each stores the version as a hint for the primary
	// and counts toward W but never PW. Empty: a strict quorum.
	Fallbacks []string
	// KeepHints makes the coordinator keep a hint itself, uncounted, for a
	// primary that failed when no fallback is left (clusters of at most N
	// nodes): the primary then still gets the write when it returns.
	KeepHints bool
}

// WriteResult counts the acknowledgements a successful write waited for.
type WriteResult struct {
	Acked     int
	Primaries int
	Fallbacks int
}

func (w *WriteResult) add(t Target) {
	w.Acked++
	if t.Primary {
		w.Primaries++
	} else {
		w.Fallbacks++
	}
}

// Write sends Set to every target and answers once W replicas (PW of them
// primaries) acknowledged. The writes still in flight go on in the
// background, failures among them still get fallbacks or hints: a write is
// never undone, even when its quorum fails.
func (c *Coordinator) Write(ctx context.Context, req WriteRequest) (WriteResult, error) {
	rd := startRound(c, ctx, nil, len(req.Targets)+len(req.Fallbacks), req.W, req.PW, func(ctx context.Context, tg Target) (struct{}, error) {
		return struct{}{}, c.write(ctx, tg, req)
	})
	rd.replace = c.replacer(req)
	var res WriteResult
	if req.Local != nil {
		rd.t.start(req.Local.Primary)
		rd.t.done(req.Local.Primary, true)
		res.add(*req.Local)
	}
	for _, tg := range req.Targets {
		rd.launch(tg)
	}
	got, err := rd.await(c, ctx, "write")
	for _, r := range got {
		res.add(r.target)
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		rd.fo.cancel() // the client went away
		return res, err
	}
	rd.fo.detach()
	c.spawn(func() { c.drainWrites(req, rd) })
	return res, err
}

// replacer picks, for a failed primary (or a failed fallback standing in for
// one), the next fallback, and stores the version as a hint on the
// coordinator when none is left.
func (c *Coordinator) replacer(req WriteRequest) func(Target) (Target, bool) {
	next := 0
	return func(failed Target) (Target, bool) {
		hintFor := failed.HintFor
		if hintFor == "" {
			if !failed.Primary {
				return Target{}, false
			}
			hintFor = failed.Node
		}
		if next < len(req.Fallbacks) {
			next++
			return Target{Node: req.Fallbacks[next-1], HintFor: hintFor}, true
		}
		if req.KeepHints && req.Local != nil {
			local := Target{Node: req.Local.Node, HintFor: hintFor}
			c.spawn(func() { c.writeOnce(local, req) })
		}
		return Target{}, false
	}
}

// writeOnce writes req's version to tg with a deadline of its own: it runs
// after the request has answered.
func (c *Coordinator) writeOnce(tg Target, req WriteRequest) error {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.RepairTimeout)
	defer cancel()
	err := c.write(ctx, tg, req)
	if err != nil {
		c.cfg.Logger.Warn("background write failed", "node", tg.Node, "hint_for", tg.HintFor, "partition", req.Partition, "err", err)
	}
	return err
}

// drainWrites waits for the writes still in flight after the request
// answered. One that fails is replaced as during the request (next fallback,
// or a hint kept by the coordinator), with a deadline of its own since the
// request's may have passed.
func (c *Coordinator) drainWrites(req WriteRequest, rd *round[struct{}]) {
	defer rd.fo.cancel()
	for pending := rd.t.pending; pending > 0; pending-- {
		var rep reply[struct{}]
		select {
		case rep = <-rd.replies:
		case <-c.life.Done():
			return
		}
		for tg := rep.target; rep.err != nil; {
			next, ok := rd.replace(tg)
			if !ok {
				break
			}
			tg, rep.err = next, c.writeOnce(next, req)
		}
	}
}

// write sends req's version to one target, with its encoding when the
// replicas take it.
func (c *Coordinator) write(ctx context.Context, tg Target, req WriteRequest) error {
	if ew, ok := c.reps.(EncodedWriter); ok && req.Encoded != nil {
		return ew.WriteEncoded(ctx, tg, req.Partition, req.Key, req.Set, req.Encoded, req.Sync)
	}
	return c.reps.Write(ctx, tg, req.Partition, req.Key, req.Set, req.Sync)
}
