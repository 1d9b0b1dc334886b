package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/internal/rpc"
	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/vclock"
)

// replicas implements quorum.Replicas: this node's own storage for itself,
// RPC for the others.
type replicas struct {
	n   *Node
	rpc rpc.Transport
	sus *suspects
}

func (r *replicas) addr(node string) (string, error) {
	rec, ok := r.n.mem.current().members[node]
	if !ok || rec.RPCAddr == "" {
		return "", fmt.Errorf("no address known for node %s", node)
	}
	return rec.RPCAddr, nil
}

func (r *replicas) Read(ctx context.Context, t quorum.Target, partition int, key []byte) (vclock.Set, bool, error) {
	if t.Node == r.n.name {
		return r.n.localRead(partition, key, t.HintFor)
	}
	buf := getBodyBuf()
	*buf = appendReadReq(*buf, &readReq{Partition: partition, Key: key, HintFor: t.HintFor})
	out, err := r.callBody(ctx, t.Node, methodRead, *buf)
	putBodyBuf(buf)
	if err != nil {
		return vclock.Set{}, false, err
	}
	resp, err := decodeReadResp(out)
	if err != nil {
		return vclock.Set{}, false, fmt.Errorf("node %s sent a malformed reply: %w", t.Node, err)
	}
	if !resp.Found {
		return vclock.Set{}, false, nil
	}
	// The reply body is ours alone and nothing writes to it: the set's
	// values can point into it (quorum.Replicas.Read allows sharing).
	set, err := vclock.UnmarshalSetShared(resp.Set)
	if err != nil {
		return vclock.Set{}, false, fmt.Errorf("replica %s sent a bad sibling set: %w", t.Node, err)
	}
	return set, true, nil
}

func (r *replicas) Write(ctx context.Context, t quorum.Target, partition int, key []byte, set vclock.Set, sync bool) error {
	if t.Node == r.n.name {
		return r.n.localWrite(partition, key, set, sync, t.HintFor)
	}
	raw, err := set.MarshalBinary()
	if err != nil {
		return err
	}
	return r.writeRemote(ctx, t, partition, key, raw, sync)
}

// WriteEncoded implements quorum.EncodedWriter: a coordinated write hands
// over the encoding the store made, so the set is encoded once per write,
// not once more per remote replica.
func (r *replicas) WriteEncoded(ctx context.Context, t quorum.Target, partition int, key []byte, set vclock.Set, encoded []byte, sync bool) error {
	if t.Node == r.n.name {
		return r.n.localWrite(partition, key, set, sync, t.HintFor)
	}
	return r.writeRemote(ctx, t, partition, key, encoded, sync)
}

func (r *replicas) writeRemote(ctx context.Context, t quorum.Target, partition int, key, raw []byte, sync bool) error {
	buf := getBodyBuf()
	*buf = appendWriteReq(*buf, &writeReq{Partition: partition, Key: key, Set: raw, Sync: sync, HintFor: t.HintFor})
	_, err := r.callBody(ctx, t.Node, methodWrite, *buf)
	putBodyBuf(buf)
	return err
}

// bodyBufs recycles request bodies: rpc.Transport.Call does not retain its
// body once it returns.
var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooledBody = 64 << 10

func getBodyBuf() *[]byte { return bodyBufs.Get().(*[]byte) }

func putBodyBuf(b *[]byte) {
	if cap(*b) > maxPooledBody {
		return
	}
	*b = (*b)[:0]
	bodyBufs.Put(b)
}

// call sends one msgpack request and decodes the reply into resp (if not nil).
func (r *replicas) call(ctx context.Context, node string, method uint8, req, resp any) error {
	body, err := msgpack.Marshal(req)
	if err != nil {
		return err
	}
	out, err := r.callBody(ctx, node, method, body)
	if err != nil || resp == nil {
		return err
	}
	if err := unmarshalMsg(out, resp); err != nil {
		return fmt.Errorf("node %s sent a malformed reply: %w", node, err)
	}
	return nil
}

// callBody sends an encoded request, noting whether node answered, and
// returns the reply body, which belongs to the caller.
func (r *replicas) callBody(ctx context.Context, node string, method uint8, body []byte) ([]byte, error) {
	addr, err := r.addr(node)
	if err != nil {
		return nil, err
	}
	out, err := r.rpc.Call(ctx, addr, method, body)
	switch {
	case errors.Is(err, rpc.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded):
		r.sus.failed(node)
	case err == nil:
		r.sus.answered(node)
	}
	return out, err
}

// localRead returns what this node holds for key: its own replica and,
// when it stands in for hintFor, the hint it keeps for that node.
func (n *Node) localRead(partition int, key []byte, hintFor string) (vclock.Set, bool, error) {
	set, found, err := n.store.Get(partition, key)
	if err != nil || hintFor == "" {
		return set, found, err
	}
	hint, hfound, err := n.store.GetHint(hintFor, partition, key)
	if err != nil || !hfound {
		return set, found, err
	}
	return vclock.Merge(set, hint), true, nil
}

// localWrite merges a version into this node's replica or, for hintFor,
// into its hint for that node.
func (n *Node) localWrite(partition int, key []byte, set vclock.Set, sync bool, hintFor string) error {
	if hintFor == "" {
		return mergeLocal(n.store, partition, key, set, sync)
	}
	if n.hints == nil {
		return errors.New("hinted handoff is off on this node")
	}
	if err := n.hints.Add(hintFor, partition, key, set); err != nil {
		return err
	}
	if sync {
		return n.store.Sync()
	}
	return nil
}

// mergeLocal merges a version received from a coordinator, a read repair or
// a hint into the local replica. It writes only when something changed,
// except that sync=true always writes: the caller wants the state on disk,
// and the earlier write that produced it may not have been synced.
func mergeLocal(st *store.Store, partition int, key []byte, in vclock.Set, sync bool) error {
	_, err := st.Update(partition, key, sync, func(cur vclock.Set, found bool) (vclock.Set, bool, error) {
		if !found {
			return in, !in.IsEmpty(), nil // never store an empty set: it would outlive any reap
		}
		// Neither cur (the store's, see store.UpdateFunc) nor in is ever
		// modified, and next only lives until it is encoded: no copies.
		next := vclock.MergeShared(cur, in)
		return next, sync || !next.Equal(cur), nil
	})
	return err
}
