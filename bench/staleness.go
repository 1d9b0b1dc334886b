package bench

import (
	"sync"
	"time"
)

// staleTracker keeps, per key, the writes the bench issued and when they
// were acknowledged, and judges every read against them. It is pure
// bookkeeping: callers pass the times, so tests drive it with a fake clock.
// It is safe for concurrent use.
//
// A read that starts at T is checked against L, the newest (highest
// sequence number) write of its key acknowledged before T. A returned
// version v is fresh when it is L or newer, or when its write overlapped L
// (v was not yet acknowledged when L started: the two are concurrent, and
// either order is a correct outcome). The read is fresh when any sibling is
// fresh, stale otherwise; a "not found" is stale since L exists. Reads of
// keys with no acknowledged write are not checked. Sequence numbers are
// handed out in start order, so a higher number always started later.
type staleTracker struct {
	shards  [staleShards]staleShard
	buckets []time.Duration

	mu         sync.Mutex
	checked    int64
	stale      int64
	bucketAll  []int64
	bucketGood []int64
}

const (
	staleShards = 64
	// maxRecent is how many writes per key are kept before the ones that
	// can no longer be fresh are forgotten: those acknowledged before the
	// newest acknowledged write started. A version not found among the
	// kept writes is stale.
	maxRecent = 16
	// maxKept bounds the writes kept per key even if none can be forgotten
	// (writes that failed stay unacknowledged forever): past it the oldest
	// go, and a read that returns one of them is counted stale.
	maxKept = 1024
)

type staleShard struct {
	mu   sync.Mutex
	keys map[uint64]*keyWrites
}

// writeRec is one write; ack is meaningful when acked.
type writeRec struct {
	seq        uint64
	start, ack time.Duration
	acked      bool
}

type keyWrites struct {
	nextSeq uint64
	latest  writeRec   // newest acknowledged write; seq 0: none yet
	recent  []writeRec // the last maxRecent writes, by seq
}

// readSnap is what a read saw of its key when it started: the latest
// acknowledged write and the older writes concurrent with it (in flight,
// or acknowledged after it started). Which older versions are fresh is
// settled when the read starts, so writes that make the tracker forget
// them while the read is in flight cannot change the verdict.
type readSnap struct {
	start  time.Duration
	latest writeRec
	older  []uint64 // seqs below latest.seq that are fresh
}

func newStaleTracker(buckets []time.Duration) *staleTracker {
	t := &staleTracker{buckets: buckets,
		bucketAll: make([]int64, len(buckets)), bucketGood: make([]int64, len(buckets))}
	for i := range t.shards {
		t.shards[i].keys = map[uint64]*keyWrites{}
	}
	return t
}

func (t *staleTracker) shard(key uint64) *staleShard { return &t.shards[key%staleShards] }

// beginWrite returns the sequence number (from 1) of a write to key that
// starts now.
func (t *staleTracker) beginWrite(key uint64, now time.Duration) uint64 {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[key]
	if k == nil {
		k = &keyWrites{}
		s.keys[key] = k
	}
	k.nextSeq++
	k.recent = append(k.recent, writeRec{seq: k.nextSeq, start: now})
	if len(k.recent) > maxRecent {
		k.forget()
	}
	return k.nextSeq
}

// forget drops the writes that no read can find fresh any more: those
// acknowledged before the newest acknowledged write started. A write still
// in flight, however old, is kept: the store may yet apply it last.
func (k *keyWrites) forget() {
	kept := k.recent[:0]
	for _, r := range k.recent {
		if !r.acked || r.ack >= k.latest.start || r.seq == k.latest.seq {
			kept = append(kept, r)
		}
	}
	if len(kept) > maxKept {
		kept = append(kept[:0], kept[len(kept)-maxKept:]...)
	}
	clear(k.recent[len(kept):])
	k.recent = kept
}

// endWrite records the outcome of write seq, begun at start. A failed
// write stays unacknowledged: it may or may not have been applied, and a
// read that returns it is not stale.
func (t *staleTracker) endWrite(key, seq uint64, start, now time.Duration, ok bool) {
	if !ok {
		return
	}
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[key]
	rec := writeRec{seq: seq, start: start, ack: now, acked: true}
	for i := range k.recent {
		if k.recent[i].seq == seq {
			k.recent[i] = rec
		}
	}
	if seq > k.latest.seq {
		k.latest = rec
	}
}

// beginRead snapshots the newest acknowledged write of key.
func (t *staleTracker) beginRead(key uint64, now time.Duration) readSnap {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := readSnap{start: now}
	if k := s.keys[key]; k != nil {
		snap.latest = k.latest
		// A write acknowledged between the caller reading the clock and
		// taking the lock was acknowledged before this read is sent.
		snap.start = max(now, k.latest.ack)
		// An older write still in flight now will be acknowledged after
		// latest started, if ever: it is fresh whatever happens next.
		for _, r := range k.recent {
			if r.seq < k.latest.seq && (!r.acked || r.ack >= k.latest.start) {
				snap.older = append(snap.older, r.seq)
			}
		}
	}
	return snap
}

// endRead judges a read that returned the versions seqs (found) or nothing
// (!found), counts it, and reports whether it was checked and fresh.
func (t *staleTracker) endRead(key uint64, snap readSnap, seqs []uint64, found bool) (checked, fresh bool) {
	if snap.latest.seq == 0 {
		return false, false
	}
	fresh = found && snap.anyFresh(seqs)
	t.count(snap.start-snap.latest.ack, fresh)
	return true, fresh
}

// anyFresh reports whether any of the versions a read returned is the
// latest at its start, newer, or concurrent with the latest.
func (snap readSnap) anyFresh(seqs []uint64) bool {
	for _, seq := range seqs {
		if seq >= snap.latest.seq {
			return true
		}
		for _, o := range snap.older {
			if o == seq {
				return true
			}
		}
	}
	return false
}

// count adds a checked read that started since after the latest ack.
func (t *staleTracker) count(since time.Duration, fresh bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checked++
	if !fresh {
		t.stale++
	}
	b := -1
	for i, edge := range t.buckets {
		if since >= edge {
			b = i
		}
	}
	if b < 0 {
		return
	}
	t.bucketAll[b]++
	if fresh {
		t.bucketGood[b]++
	}
}

// VisibilityPoint is one point of the t-visibility curve: of the reads
// that started between MS and the next point's MS after the latest write
// of their key was acknowledged, the fraction that returned it (or newer).
// Probability is null when no read fell in the bucket.
type VisibilityPoint struct {
	MS          float64  `json:"ms"`
	Probability *float64 `json:"probability"`
	Reads       int64    `json:"reads"`
}

// result returns the checked and stale counts and the t-visibility curve.
func (t *staleTracker) result() (checked, stale int64, curve []VisibilityPoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, edge := range t.buckets {
		p := VisibilityPoint{MS: float64(edge) / float64(time.Millisecond), Reads: t.bucketAll[i]}
		if p.Reads > 0 {
			prob := float64(t.bucketGood[i]) / float64(p.Reads)
			p.Probability = &prob
		}
		curve = append(curve, p)
	}
	return t.checked, t.stale, curve
}
