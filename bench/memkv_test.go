package bench

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynkv/dynkv/client"
)

// memKV is an in-memory KV for tests. With staleEvery > 0, every
// staleEvery-th read of a key that has an older value returns that older
// value instead, as a lagging replica would.
type memKV struct {
	mu         sync.Mutex
	vals       map[string][][]byte // every value written, oldest first
	reads      atomic.Int64
	staleEvery int64
	delay      time.Duration
	failEvery  int64 // every failEvery-th write fails with a 503
	writes     atomic.Int64
}

func newMemKV() *memKV { return &memKV{vals: map[string][][]byte{}} }

func (m *memKV) Get(ctx context.Context, key string, _ ...client.Option) (*client.Object, error) {
	if err := m.wait(ctx); err != nil {
		return nil, err
	}
	n := m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.vals[key]
	if len(h) == 0 {
		return nil, &client.Error{Status: 404, Message: "key not found"}
	}
	v := h[len(h)-1]
	if m.staleEvery > 0 && n%m.staleEvery == 0 && len(h) > 1 {
		v = h[len(h)-2]
	}
	return &client.Object{Key: key, Context: "v" + strconv.Itoa(len(h)),
		Siblings: []client.Sibling{{Value: v}}}, nil
}

func (m *memKV) Put(ctx context.Context, key string, value []byte, _ ...client.Option) (*client.WriteResult, error) {
	if err := m.wait(ctx); err != nil {
		return nil, err
	}
	if n := m.writes.Add(1); m.failEvery > 0 && n%m.failEvery == 0 {
		return nil, &client.Error{Status: 503, Message: "write quorum unmet", Needed: 2, Acked: 1}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := append(m.vals[key], append([]byte(nil), value...))
	if len(h) > 4 {
		h = h[len(h)-4:]
	}
	m.vals[key] = h
	return &client.WriteResult{Context: "v" + strconv.Itoa(len(h))}, nil
}

func (m *memKV) wait(ctx context.Context) error {
	if m.delay > 0 {
		d := time.Duration(rand.Int64N(int64(m.delay))) + m.delay/2
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}
