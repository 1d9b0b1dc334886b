package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/dynkv/dynkv/internal/rpc"
	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/vclock"
)

// replicas implements quorum.Replicas: the local store for this node, RPC
// for the others.
type replicas struct {
	self  string
	store *store.Store
	rpc   rpc.Transport
	mem   *membership
	sus   *suspects
}

func (r *replicas) addr(node string) (string, error) {
	rec, ok := r.mem.current().members[node]
	if !ok || rec.RPCAddr == "" {
		return "", fmt.Errorf("no address known for node %s", node)
	}
	return rec.RPCAddr, nil
}

func (r *replicas) Read(ctx context.Context, node string, partition int, key []byte) (vclock.Set, bool, error) {
	if node == r.self {
		return r.store.Get(partition, key)
	}
	var resp readResp
	if err := r.call(ctx, node, methodRead, readReq{Partition: partition, Key: key}, &resp); err != nil {
		return vclock.Set{}, false, err
	}
	if !resp.Found {
		return vclock.Set{}, false, nil
	}
	set, err := vclock.UnmarshalSet(resp.Set)
	if err != nil {
		return vclock.Set{}, false, fmt.Errorf("replica %s sent a bad sibling set: %w", node, err)
	}
	return set, true, nil
}

func (r *replicas) Write(ctx context.Context, node string, partition int, key []byte, set vclock.Set, sync bool) error {
	if node == r.self {
		return mergeLocal(r.store, partition, key, set, sync)
	}
	raw, err := set.MarshalBinary()
	if err != nil {
		return err
	}
	return r.call(ctx, node, methodWrite, writeReq{Partition: partition, Key: key, Set: raw, Sync: sync}, nil)
}

// call sends one msgpack request and decodes the reply into resp (if not nil).
func (r *replicas) call(ctx context.Context, node string, method uint8, req, resp any) error {
	addr, err := r.addr(node)
	if err != nil {
		return err
	}
	body, err := msgpack.Marshal(req)
	if err != nil {
		return err
	}
	out, err := r.rpc.Call(ctx, addr, method, body)
	switch {
	case errors.Is(err, rpc.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded):
		r.sus.failed(node)
	case err == nil:
		r.sus.answered(node)
	}
	if err != nil {
		return err
	}
	if resp == nil {
		return nil
	}
	if err := msgpack.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("node %s sent a malformed reply: %w", node, err)
	}
	return nil
}

// mergeLocal merges a version received from a coordinator, a read repair or
// a peer into the local store. It writes only when something changed, except
// that sync=true always writes: the caller wants the state on disk, and the
// earlier write that produced it may not have been synced.
func mergeLocal(st *store.Store, partition int, key []byte, in vclock.Set, sync bool) error {
	_, err := st.Update(partition, key, sync, func(cur vclock.Set, found bool) (vclock.Set, bool, error) {
		if !found {
			return in, true, nil
		}
		next := vclock.Merge(cur, in)
		return next, sync || !next.Equal(cur), nil
	})
	return err
}
