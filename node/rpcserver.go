package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/vclock"
)

// ServeRPC answers peers: replica reads and writes, and coordination of
// writes forwarded by nodes that hold no replica of the key.
func (n *Node) ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	if n.phase.Load() == phaseStarting {
		// The RPC port opens before the membership and replicas exist;
		// peers retry (hints, repairs) or count this replica as failed.
		return nil, errStarting
	}
	switch method {
	case methodRead:
		req, err := decodeReadReq(body)
		if err != nil {
			return nil, fmt.Errorf("malformed read request: %w", err)
		}
		return n.serveRead(req)
	case methodWrite:
		// req.Key and req.Set point into body, which is ours (rpc.Handler)
		// and never modified: see serveWrite.
		req, err := decodeWriteReq(body)
		if err != nil {
			return nil, fmt.Errorf("malformed write request: %w", err)
		}
		return nil, n.serveWrite(req)
	case methodHandoff:
		var req handoffReq
		if err := unmarshalMsg(body, &req); err != nil {
			return nil, fmt.Errorf("malformed handoff request: %w", err)
		}
		return nil, n.serveHandoff(req)
	case methodTreeNodes:
		var req treeNodesReq
		if err := unmarshalMsg(body, &req); err != nil {
			return nil, fmt.Errorf("malformed tree request: %w", err)
		}
		if err := n.checkAAE(req.Partition); err != nil {
			return nil, err
		}
		return msgpack.Marshal(treeNodesResp{Hashes: n.aae.tree(req.Partition).t.Nodes(req.Level, req.Indices)})
	case methodLeafKeys:
		var req leafKeysReq
		if err := unmarshalMsg(body, &req); err != nil {
			return nil, fmt.Errorf("malformed leaf request: %w", err)
		}
		if err := n.checkAAE(req.Partition); err != nil {
			return nil, err
		}
		keys, err := n.aae.localKeys(req.Partition)(req.Leaves)
		if err != nil {
			return nil, err
		}
		return msgpack.Marshal(leafKeysResp{Keys: keys})
	case methodReap:
		return nil, n.serveReap(body)
	case methodScan:
		return n.serveScan(body)
	case methodCoordinate:
		var req coordinateReq
		if err := unmarshalMsg(body, &req); err != nil {
			return nil, fmt.Errorf("malformed coordinate request: %w", err)
		}
		return msgpack.Marshal(n.serveCoordinate(ctx, req))
	default:
		return nil, fmt.Errorf("unknown RPC method %d", method)
	}
}

func (n *Node) checkAAE(p int) error {
	if n.aae == nil {
		return fmt.Errorf("anti-entropy is off on %s", n.name)
	}
	return n.checkPartition(p)
}

func (n *Node) checkPartition(p int) error {
	if p < 0 || p >= n.cfg.Partitions {
		return fmt.Errorf("partition %d out of range [0,%d)", p, n.cfg.Partitions)
	}
	return nil
}

// errStarting answers requests that arrive before the node is ready.
var errStarting = errors.New("node is starting")

func (n *Node) serveRead(req readReq) ([]byte, error) {
	if err := n.checkPartition(req.Partition); err != nil {
		return nil, err
	}
	if req.HintFor == "" {
		raw, found, err := n.store.GetRaw(req.Partition, req.Key)
		if err != nil {
			return nil, err
		}
		return appendReadResp(make([]byte, 0, len(raw)+16), &readResp{Found: found, Set: raw}), nil
	}
	set, found, err := n.localRead(req.Partition, req.Key, req.HintFor)
	if err != nil {
		return nil, err
	}
	resp := readResp{Found: found}
	if found {
		if resp.Set, err = set.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	return appendReadResp(make([]byte, 0, len(resp.Set)+16), &resp), nil
}

func (n *Node) serveWrite(req writeReq) error {
	if err := n.checkPartition(req.Partition); err != nil {
		return err
	}
	// The values may alias the request body: nothing modifies it, and the
	// set only lives until the store (or the hint store) has encoded it.
	set, err := vclock.UnmarshalSetShared(req.Set)
	if err != nil {
		return fmt.Errorf("refusing write: %w", err)
	}
	return n.localWrite(req.Partition, req.Key, set, req.Sync, req.HintFor)
}

func (n *Node) serveHandoff(req handoffReq) error {
	return n.handoffItems(context.Background(), req.Items)
}

// handoffItems merges delivered versions (hints, partition copies) into
// this node's store. Those of partitions it no longer holds (a hint that
// arrived after a ring change moved the partition away) go on to the
// partition's owners instead, so the version they carry is not dropped
// with the node's old copies.
func (n *Node) handoffItems(ctx context.Context, items []handoffItem) error {
	v := n.mem.current()
	var mine []handoffItem
	moved := map[string][]handoffItem{}
	for _, it := range items {
		if err := n.checkPartition(it.Partition); err != nil {
			return err
		}
		if v.holds(it.Partition, n.name) || len(v.ring.Preflist(it.Partition)) == 0 {
			mine = append(mine, it)
			continue
		}
		for _, owner := range v.ring.Preflist(it.Partition) {
			moved[owner] = append(moved[owner], it)
		}
	}
	for owner, its := range moved {
		ctx, cancel := stepContext(ctx, n.cfg)
		err := n.reps.call(ctx, owner, methodHandoff, handoffReq{Items: its}, nil)
		cancel()
		if err != nil {
			return fmt.Errorf("passing versions of a moved partition on to %s: %w", owner, err)
		}
	}
	for _, it := range mine {
		if err := n.checkPartition(it.Partition); err != nil {
			return err
		}
		set, err := vclock.UnmarshalSet(it.Set)
		if err != nil {
			return fmt.Errorf("refusing hint: %w", err)
		}
		if err := mergeLocal(n.store, it.Partition, it.Key, set, false); err != nil {
			return err
		}
	}
	return n.store.Sync()
}

func (n *Node) serveCoordinate(ctx context.Context, req coordinateReq) coordinateResp {
	w := writeOp{
		key: req.Key, value: req.Value, contentType: req.ContentType, deleted: req.Deleted,
		w: req.W, pw: req.PW, sync: req.Sync, hops: max(req.Hops, 1),
	}
	if req.HasContext {
		vv, err := vclock.DecodeContext(req.Context)
		if err != nil {
			return coordinateResp{Err: &wireError{Msg: err.Error()}}
		}
		w.context, w.hasContext = vv, true
	}
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	res, err := n.write(ctx, w)
	if err != nil {
		return coordinateResp{Err: toWireError(err)}
	}
	return coordinateResp{Context: res.context, Acked: res.Acked, Primaries: res.Primaries, Fallbacks: res.Fallbacks}
}
