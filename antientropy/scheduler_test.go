package antientropy

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

const tick = 2 * time.Second

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type pair struct {
	p    int
	peer string
}

// run hands out and completes one exchange at now, failing it if fail is
// set; ok false if nothing was due.
func run(t *testing.T, s *Scheduler, now time.Time, peers map[int][]string, fail error) (pair, bool) {
	t.Helper()
	p, peer, ok := s.Next(now, peers)
	if ok {
		s.Done(p, peer, now.Add(time.Millisecond), 1, fail)
	}
	return pair{p, peer}, ok
}

func TestSchedulerConfigValidate(t *testing.T) {
	if err := DefaultSchedulerConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, iv := range []time.Duration{0, -time.Second} {
		if err := (SchedulerConfig{Interval: iv}).Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Interval %v: %v, want ErrBadConfig", iv, err)
		}
	}
}

func TestSchedulerIntervalGating(t *testing.T) {
	s := NewScheduler(SchedulerConfig{Interval: tick})
	peers := map[int][]string{0: {"b"}, 1: {"b"}}
	if _, ok := run(t, s, t0, nil, nil); ok {
		t.Fatal("Next with no partitions returned an exchange")
	}
	if _, ok := run(t, s, t0, peers, nil); !ok {
		t.Fatal("first Next not due (an empty-peers Next must not use up the interval)")
	}
	if _, ok := run(t, s, t0.Add(tick-time.Nanosecond), peers, nil); ok {
		t.Fatal("second exchange started within Interval")
	}
	if _, ok := run(t, s, t0.Add(tick), peers, nil); !ok {
		t.Fatal("exchange not due after Interval")
	}
	if _, ok := run(t, s, t0.Add(3*tick), map[int][]string{0: {}, 1: {""}}, nil); ok {
		t.Fatal("Next returned an exchange for partitions without peers")
	}
}

// TestSchedulerRoundRobinCoversEveryPair runs partitions with different
// peer counts and checks that every (partition, peer) pair comes up within
// partitions × max peers exchanges, partitions in increasing order.
func TestSchedulerRoundRobinCoversEveryPair(t *testing.T) {
	s := NewScheduler(SchedulerConfig{Interval: tick})
	peers := map[int][]string{}
	want := map[pair]bool{}
	for p := range 8 {
		n := 2 + p%2 // 2 or 3 peers
		for i := range n {
			name := "node" + strconv.Itoa((p+i)%5)
			peers[p*3] = append(peers[p*3], name)
			want[pair{p * 3, name}] = true
		}
	}
	seen := map[pair]int{}
	prev := -1
	for step := range 8 * 3 {
		got, ok := run(t, s, t0.Add(time.Duration(step)*tick), peers, nil)
		if !ok {
			t.Fatalf("step %d: nothing due", step)
		}
		if step%8 != 0 && got.p <= prev {
			t.Fatalf("step %d: partition %d after %d, want increasing order", step, got.p, prev)
		}
		prev = got.p
		seen[got]++
	}
	for pr := range want {
		if seen[pr] == 0 {
			t.Errorf("pair %v never exchanged", pr)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("exchanged %d distinct pairs, want %d", len(seen), len(want))
	}
}

func TestSchedulerDirtyFirst(t *testing.T) {
	s := NewScheduler(SchedulerConfig{Interval: tick})
	peers := map[int][]string{0: {"b", "c"}, 2: {"b", "c"}, 5: {"c", "b"}, 7: {"b"}}
	s.MarkDirty(5)
	s.MarkDirty(2)
	s.MarkDirty(5) // re-marking keeps 5 first
	s.MarkDirty(9) // not held: stays dirty, skipped
	want := []pair{{5, "b"}, {5, "c"}, {2, "b"}, {2, "c"}, {0, "b"}, {2, "b"}, {5, "b"}, {7, "b"}, {0, "c"}}
	for i, w := range want {
		got, ok := run(t, s, t0.Add(time.Duration(i)*tick), peers, nil)
		if !ok || got != w {
			t.Fatalf("exchange %d = %v (ok %v), want %v", i, got, ok, w)
		}
	}
	st := s.State()
	if len(st) != 5 || st[4].Partition != 9 || !st[4].Dirty {
		t.Fatalf("State = %+v, want 0 2 5 7 exchanged and 9 still dirty", st)
	}
	for _, ps := range st[:4] {
		if ps.Dirty {
			t.Fatalf("partition %d still dirty after exchanges with every peer", ps.Partition)
		}
	}
}

func TestSchedulerFailureKeepsDirty(t *testing.T) {
	s := NewScheduler(SchedulerConfig{Interval: tick})
	peers := map[int][]string{1: {"a"}, 3: {"a", "b"}}
	s.MarkDirty(3)
	down := errors.New("b: connection refused")
	steps := []struct {
		want pair
		err  error
	}{
		{pair{3, "a"}, nil},  // covers a
		{pair{3, "b"}, down}, // b is down: still dirty, loses priority for one Interval
		{pair{1, "a"}, nil},  // round-robin meanwhile
		{pair{3, "b"}, down}, // retried: loses priority for two Intervals
		{pair{3, "a"}, nil},  // round-robin turn of 3; success with a keeps b's backoff
		{pair{1, "a"}, nil},  // round-robin
		{pair{3, "b"}, nil},  // dirty priority again: b is back, clears the mark
		{pair{3, "b"}, nil},  // round-robin
	}
	for i, step := range steps {
		got, ok := run(t, s, t0.Add(time.Duration(i)*tick), peers, step.err)
		if !ok || got != step.want {
			t.Fatalf("exchange %d = %v (ok %v), want %v", i, got, ok, step.want)
		}
		dirty := stateOf(s, 3).Dirty
		if wantDirty := i < 6; dirty != wantDirty {
			t.Fatalf("after exchange %d: partition 3 dirty = %v, want %v", i, dirty, wantDirty)
		}
		if i == 1 && stateOf(s, 3).LastError != down.Error() {
			t.Fatalf("LastError = %q", stateOf(s, 3).LastError)
		}
	}
	if ps := stateOf(s, 3); ps.LastError != "" || ps.LastPeer != "b" || ps.Repaired != 6 {
		t.Fatalf("partition 3 state %+v", ps)
	}
	if got := s.TotalRepaired(); got != int64(len(steps)) {
		t.Fatalf("TotalRepaired = %d, want %d", got, len(steps))
	}
}

func stateOf(s *Scheduler, p int) PartitionState {
	for _, ps := range s.State() {
		if ps.Partition == p {
			return ps
		}
	}
	return PartitionState{Partition: p}
}

// TestSchedulerMarkDuringExchange: an exchange handed out before a mark may
// have missed the new gap, so its success does not clear the mark.
func TestSchedulerMarkDuringExchange(t *testing.T) {
	s := NewScheduler(SchedulerConfig{Interval: tick})
	peers := map[int][]string{4: {"a"}}
	s.MarkDirty(4)
	p, peer, _ := s.Next(t0, peers)
	s.MarkDirty(4)
	s.Done(p, peer, t0, 0, nil)
	if !stateOf(s, 4).Dirty {
		t.Fatal("mark made during an exchange was cleared by it")
	}
	if got, _ := run(t, s, t0.Add(tick), peers, nil); got != (pair{4, "a"}) || stateOf(s, 4).Dirty {
		t.Fatalf("next exchange %v, dirty %v", got, stateOf(s, 4).Dirty)
	}
}

func TestSchedulerSkipsInFlight(t *testing.T) {
	s := NewScheduler(SchedulerConfig{Interval: tick})
	peers := map[int][]string{1: {"a"}}
	if _, _, ok := s.Next(t0, peers); !ok {
		t.Fatal("nothing due")
	}
	if _, _, ok := s.Next(t0.Add(tick), peers); ok {
		t.Fatal("partition handed out again while its exchange is in flight")
	}
	if st := s.State(); len(st) != 0 {
		t.Fatalf("State = %+v; want nothing before any exchange finished", st)
	}
	s.Done(1, "a", t0.Add(tick), 0, nil)
	if _, _, ok := s.Next(t0.Add(tick), peers); !ok {
		t.Fatal("partition not handed out after Done")
	}
}

func TestSchedulerConcurrent(t *testing.T) {
	s := NewScheduler(SchedulerConfig{Interval: time.Nanosecond})
	peers := map[int][]string{0: {"a", "b"}, 1: {"a"}, 2: {"b"}}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				now := t0.Add(time.Duration(g*1000+i) * time.Microsecond)
				s.MarkDirty(i % 3)
				if p, peer, ok := s.Next(now, peers); ok {
					s.Done(p, peer, now, 1, nil)
				}
				_ = s.State()
			}
		}()
	}
	wg.Wait()
	var sum int64
	for _, ps := range s.State() {
		sum += ps.Repaired
	}
	if sum != s.TotalRepaired() || sum == 0 {
		t.Fatalf("per-partition repaired %d, total %d", sum, s.TotalRepaired())
	}
}
