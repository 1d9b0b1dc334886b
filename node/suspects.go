package node

import (
	"sync"
	"time"
)

// suspects remembers peers whose last RPC failed (refused or timed out), so
// a node stops choosing them as write coordinators at once instead of
// waiting for gossip to notice: a silently partitioned peer costs one
// timeout, not one per request. It only orders choices; quorum requests still
// go to every replica.
type suspects struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
}

func newSuspects(ttl time.Duration, now func() time.Time) *suspects {
	return &suspects{ttl: ttl, now: now, until: map[string]time.Time{}}
}

// failed records a failed call to node.
func (s *suspects) failed(node string) {
	s.mu.Lock()
	s.until[node] = s.now().Add(s.ttl)
	s.mu.Unlock()
}

// answered records a successful call to node.
func (s *suspects) answered(node string) {
	s.mu.Lock()
	delete(s.until, node)
	s.mu.Unlock()
}

// suspect reports whether node failed recently.
func (s *suspects) suspect(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.until[node]
	if ok && s.now().After(t) {
		delete(s.until, node)
		return false
	}
	return ok
}
