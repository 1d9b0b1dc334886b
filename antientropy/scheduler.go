package antientropy

import (
	"slices"
	"sync"
	"time"
)

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Interval is how often exchanges start: at most one per Interval,
	// node-wide (the --aae-interval flag). It must be positive.
	Interval time.Duration
}

// DefaultSchedulerConfig returns one exchange every 10 seconds: a node
// holding 192 partition replicas with 2 peers each covers every pair in
// about an hour, at a few kilobytes per exchange when little differs.
func DefaultSchedulerConfig() SchedulerConfig {
	return SchedulerConfig{Interval: 10 * time.Second}
}

// Validate reports whether c can configure a Scheduler. Errors wrap
// ErrBadConfig.
func (c SchedulerConfig) Validate() error {
	if c.Interval <= 0 {
		return &detailError{ErrBadConfig, "scheduler Interval must be positive, got " + c.Interval.String()}
	}
	return nil
}

// maxBackoffShift caps how long a dirty partition whose exchange failed
// waits before it takes priority again, at 1<<6 = 64 Intervals (it still
// gets its round-robin turns meanwhile), so that a peer that is down cannot
// starve every other exchange.
const maxBackoffShift = 6

// dirtyBackoff is the wait after the given number of consecutive failures
// (at least 1): 1, 2, 4 … 64 Intervals.
func dirtyBackoff(interval time.Duration, failures int) time.Duration {
	return interval << min(failures-1, maxBackoffShift)
}

// Scheduler decides which (partition, peer) exchange runs next. It is pure:
// the node calls Next with the current time and its current partition →
// peers map, runs the exchange, and reports it with Done. A Scheduler is
// safe for concurrent use.
//
// Every Next that returns ok must be followed by exactly one Done for the
// same partition and peer: until then the partition is not handed out
// again.
type Scheduler struct {
	cfg SchedulerConfig

	mu        sync.Mutex
	started   bool      // an exchange has been handed out
	lastStart time.Time // when the last one was handed out
	cursor    int       // partition of the last round-robin exchange
	seq       uint64    // orders dirty marks, oldest first
	total     int64     // keys repaired, all partitions
	parts     map[int]*partState
}

// partState is what the scheduler knows about one partition.
type partState struct {
	// For State.
	exchanged   bool
	lastEnd     time.Time
	lastPeer    string
	lastErr     string
	lastSuccess time.Time
	repaired    int64

	rrPeer string // peer of the last round-robin exchange

	// Dirty: exchange with every peer before any clean partition.
	dirty    bool
	dirtySeq uint64          // order of the first mark
	epoch    uint64          // bumped by every mark
	covered  map[string]bool // peers exchanged successfully since the last mark
	tried    string          // peer of the last dirty-priority exchange
	failures int             // consecutive failed exchanges while dirty
	retryAt  time.Time       // no dirty priority before this

	// The exchange in flight, if any.
	running  bool
	runPeer  string
	runEpoch uint64
	runPeers []string
}

// NewScheduler returns a scheduler with nothing dirty and nothing yet
// exchanged. It panics if cfg is invalid: validate configuration first.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &Scheduler{cfg: cfg, cursor: -1, parts: make(map[int]*partState)}
}

func (s *Scheduler) part(p int) *partState {
	ps := s.parts[p]
	if ps == nil {
		ps = &partState{}
		s.parts[p] = ps
	}
	return ps
}

// MarkDirty asks for partition p to be exchanged, with each of its peers,
// before any clean partition: a hint for one of its keys was dropped, and
// which replica misses the write is not known. Dirty partitions go oldest
// mark first; marking a dirty partition again keeps its place but requires
// every peer to be exchanged again, since an exchange already under way
// may miss the new gap.
func (s *Scheduler) MarkDirty(p int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.part(p)
	if !ps.dirty {
		s.seq++
		ps.dirty, ps.dirtySeq = true, s.seq
		ps.failures, ps.retryAt, ps.tried = 0, time.Time{}, ""
	}
	ps.epoch++
	ps.covered = nil
}

// Next returns the next exchange due at now. Dirty partitions come first,
// oldest mark first, each with the peers not yet exchanged since the mark
// in turn; then partitions round-robin in increasing order, each with its
// peers in turn (by name), so every (partition, peer) pair is covered over
// time. Partitions missing from peers, or with an exchange in flight, are
// skipped. ok is false if nothing is due: less than Interval has passed
// since the last exchange was handed out, or no partition has a peer.
func (s *Scheduler) Next(now time.Time, peers map[int][]string) (partition int, peer string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && now.Sub(s.lastStart) < s.cfg.Interval {
		return 0, "", false
	}
	partition, peer, ok = s.nextDirty(now, peers)
	if !ok {
		partition, peer, ok = s.nextRoundRobin(peers)
	}
	if !ok {
		return 0, "", false
	}
	s.started, s.lastStart = true, now
	ps := s.part(partition)
	ps.running, ps.runPeer, ps.runEpoch = true, peer, ps.epoch
	ps.runPeers = slices.Clone(peers[partition])
	return partition, peer, true
}

// nextDirty picks the oldest-marked dirty partition that is due, and a peer
// of it not covered since the mark, after the one last tried.
func (s *Scheduler) nextDirty(now time.Time, peers map[int][]string) (int, string, bool) {
	best, bestPS := 0, (*partState)(nil)
	for p, ps := range s.parts {
		if !ps.dirty || ps.running || now.Before(ps.retryAt) || !hasPeer(peers[p]) {
			continue
		}
		if ps.coversAll(peers[p]) {
			ps.dirty = false // every current peer already repaired since the mark
			continue
		}
		if bestPS == nil || ps.dirtySeq < bestPS.dirtySeq {
			best, bestPS = p, ps
		}
	}
	if bestPS == nil {
		return 0, "", false
	}
	peer := nextPeer(peers[best], bestPS.tried, bestPS.covered)
	bestPS.tried = peer
	return best, peer, true
}

// nextRoundRobin picks the first partition after the cursor (wrapping) that
// has a peer and no exchange in flight, and its next peer.
func (s *Scheduler) nextRoundRobin(peers map[int][]string) (int, string, bool) {
	after, first := 0, 0
	foundAfter, foundFirst := false, false
	for p, list := range peers {
		if !hasPeer(list) || (s.parts[p] != nil && s.parts[p].running) {
			continue
		}
		if !foundFirst || p < first {
			first, foundFirst = p, true
		}
		if p > s.cursor && (!foundAfter || p < after) {
			after, foundAfter = p, true
		}
	}
	if !foundFirst {
		return 0, "", false
	}
	p := first
	if foundAfter {
		p = after
	}
	s.cursor = p
	ps := s.part(p)
	ps.rrPeer = nextPeer(peers[p], ps.rrPeer, nil)
	return p, ps.rrPeer, true
}

// nextPeer returns the smallest peer name after last, wrapping to the
// smallest overall, skipping empty names and those in skip.
func nextPeer(list []string, last string, skip map[string]bool) string {
	after, first := "", ""
	for _, p := range list {
		if p == "" || skip[p] {
			continue
		}
		if first == "" || p < first {
			first = p
		}
		if p > last && (after == "" || p < after) {
			after = p
		}
	}
	if after != "" {
		return after
	}
	return first
}

func hasPeer(list []string) bool {
	return slices.ContainsFunc(list, func(p string) bool { return p != "" })
}

// coversAll reports whether every (non-empty) peer in list was exchanged
// successfully since the last mark.
func (ps *partState) coversAll(list []string) bool {
	for _, p := range list {
		if p != "" && !ps.covered[p] {
			return false
		}
	}
	return true
}

// Done records the outcome of an exchange handed out by Next, finished at
// now, and the number of keys it repaired (counted even if it failed part
// way). On success the peer counts as repaired for a dirty partition, whose
// mark is cleared once every peer has been exchanged since it was set; on
// failure the mark stays, and the partition loses its dirty priority for a
// backoff of 1, 2, 4 … up to 64 Intervals (while keeping its round-robin
// turns), so that a peer that is down cannot hold up other exchanges.
func (s *Scheduler) Done(partition int, peer string, now time.Time, repaired int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.part(partition)
	handedOut := ps.running && ps.runPeer == peer
	if handedOut {
		ps.running = false
	}
	if repaired > 0 {
		ps.repaired += int64(repaired)
		s.total += int64(repaired)
	}
	ps.exchanged, ps.lastEnd, ps.lastPeer = true, now, peer
	if err != nil {
		ps.lastErr = err.Error()
		if ps.dirty {
			ps.failures++
			ps.retryAt = now.Add(dirtyBackoff(s.cfg.Interval, ps.failures))
		}
		return
	}
	ps.lastErr, ps.lastSuccess = "", now
	// An exchange that started before the latest mark may have missed its
	// gap: only one handed out since then counts.
	if !ps.dirty || !handedOut || ps.runEpoch != ps.epoch {
		return
	}
	if ps.covered == nil {
		ps.covered = make(map[string]bool)
	}
	ps.covered[peer] = true
	if peer == ps.tried { // the peer that was failing is back
		ps.failures, ps.retryAt = 0, time.Time{}
	}
	if ps.coversAll(ps.runPeers) {
		ps.dirty, ps.covered = false, nil
	}
}

// PartitionState is the anti-entropy state of one partition, for /status.
type PartitionState struct {
	Partition    int
	LastExchange time.Time // when the last exchange (successful or not) finished
	LastPeer     string    // its peer
	Repaired     int64     // keys repaired in this partition, in total
	Dirty        bool      // waiting for an exchange with every peer

	LastError   string    // the last exchange's error; "" if it succeeded
	LastSuccess time.Time // when the last successful exchange finished
	Running     bool      // an exchange is in flight
}

// State returns the state of every partition ever exchanged or dirty,
// sorted by partition.
func (s *Scheduler) State() []PartitionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PartitionState
	for p, ps := range s.parts {
		if !ps.exchanged && !ps.dirty {
			continue
		}
		out = append(out, PartitionState{
			Partition: p, LastExchange: ps.lastEnd, LastPeer: ps.lastPeer,
			Repaired: ps.repaired, Dirty: ps.dirty,
			LastError: ps.lastErr, LastSuccess: ps.lastSuccess, Running: ps.running,
		})
	}
	slices.SortFunc(out, func(a, b PartitionState) int { return a.Partition - b.Partition })
	return out
}

// TotalRepaired returns the keys repaired over all partitions.
func (s *Scheduler) TotalRepaired() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}
