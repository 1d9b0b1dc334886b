package bench

import (
	"testing"
	"time"
)

const ms = time.Millisecond

// step is one event on a key, at a time on a fake clock.
type step struct {
	at    time.Duration
	begin int  // begin write number begin (1-based, in issue order)
	ack   int  // acknowledge write number ack
	fail  int  // write number fail failed
	read  bool // begin the read under test
}

func TestStalenessBookkeeping(t *testing.T) {
	cases := []struct {
		name    string
		steps   []step
		returns []int // write numbers of the returned siblings; 0: another run's value
		found   bool
		checked bool
		fresh   bool
		since   time.Duration // read start - latest ack
	}{
		{name: "fresh: the latest acknowledged write",
			steps:   []step{{at: 0, begin: 1}, {at: 10 * ms, ack: 1}, {at: 20 * ms, read: true}},
			returns: []int{1}, found: true, checked: true, fresh: true, since: 10 * ms},
		{name: "stale: an older write",
			steps:   []step{{at: 0, begin: 1}, {at: 10 * ms, ack: 1}, {at: 20 * ms, begin: 2}, {at: 30 * ms, ack: 2}, {at: 31 * ms, read: true}},
			returns: []int{1}, found: true, checked: true, fresh: false, since: ms},
		{name: "concurrent write in flight: the old value is still fresh",
			steps:   []step{{at: 0, begin: 1}, {at: 10 * ms, ack: 1}, {at: 15 * ms, begin: 2}, {at: 20 * ms, read: true}},
			returns: []int{1}, found: true, checked: true, fresh: true, since: 10 * ms},
		{name: "concurrent write in flight: its new value is fresh too",
			steps:   []step{{at: 0, begin: 1}, {at: 10 * ms, ack: 1}, {at: 15 * ms, begin: 2}, {at: 20 * ms, read: true}},
			returns: []int{2}, found: true, checked: true, fresh: true, since: 10 * ms},
		{name: "write acknowledged during the read does not count against it",
			steps:   []step{{at: 0, begin: 1}, {at: 10 * ms, ack: 1}, {at: 15 * ms, begin: 2}, {at: 20 * ms, read: true}, {at: 21 * ms, ack: 2}},
			returns: []int{1}, found: true, checked: true, fresh: true, since: 10 * ms},
		{name: "overlapping writes: either order is fresh",
			steps:   []step{{at: 0, begin: 1}, {at: 10 * ms, begin: 2}, {at: 20 * ms, ack: 2}, {at: 30 * ms, ack: 1}, {at: 40 * ms, read: true}},
			returns: []int{1}, found: true, checked: true, fresh: true, since: 20 * ms},
		{name: "siblings: one fresh is enough",
			steps:   []step{{at: 0, begin: 1}, {at: 1 * ms, ack: 1}, {at: 2 * ms, begin: 2}, {at: 3 * ms, ack: 2}, {at: 5 * ms, read: true}},
			returns: []int{1, 2}, found: true, checked: true, fresh: true, since: 2 * ms},
		{name: "not found after an acknowledged write is stale",
			steps: []step{{at: 0, begin: 1}, {at: 10 * ms, ack: 1}, {at: 12 * ms, read: true}},
			found: false, checked: true, fresh: false, since: 2 * ms},
		{name: "a value from another run is stale",
			steps:   []step{{at: 0, begin: 1}, {at: 10 * ms, ack: 1}, {at: 600 * ms, read: true}},
			returns: []int{0}, found: true, checked: true, fresh: false, since: 590 * ms},
		{name: "a failed write that was applied anyway is not stale",
			steps:   []step{{at: 0, begin: 1}, {at: 1 * ms, ack: 1}, {at: 2 * ms, begin: 2}, {at: 3 * ms, fail: 2}, {at: 5 * ms, read: true}},
			returns: []int{2}, found: true, checked: true, fresh: true, since: 4 * ms},
		{name: "nothing acknowledged yet: not checked",
			steps: []step{{at: 0, begin: 1}, {at: 5 * ms, read: true}},
			found: false, checked: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newStaleTracker(DefaultConfig().VisibilityBuckets)
			checked, fresh := replay(tr, tc.steps, tc.returns, tc.found)
			if checked != tc.checked || fresh != tc.fresh {
				t.Fatalf("checked %v fresh %v, want checked %v fresh %v", checked, fresh, tc.checked, tc.fresh)
			}
			n, stale, curve := tr.result()
			if !tc.checked {
				if n != 0 {
					t.Fatalf("%d reads counted, want 0", n)
				}
				return
			}
			if n != 1 || (stale == 1) == tc.fresh {
				t.Fatalf("counted %d checked, %d stale", n, stale)
			}
			checkBucket(t, curve, tc.since, tc.fresh)
		})
	}
}

// replay runs steps on key 7 and judges the read they began.
func replay(tr *staleTracker, steps []step, returns []int, found bool) (bool, bool) {
	const key = 7
	seqs := map[int]uint64{}
	starts := map[int]time.Duration{}
	var snap readSnap
	for _, s := range steps {
		switch {
		case s.begin > 0:
			seqs[s.begin], starts[s.begin] = tr.beginWrite(key, s.at), s.at
		case s.ack > 0:
			tr.endWrite(key, seqs[s.ack], starts[s.ack], s.at, true)
		case s.fail > 0:
			tr.endWrite(key, seqs[s.fail], starts[s.fail], s.at, false)
		case s.read:
			snap = tr.beginRead(key, s.at)
		}
	}
	var got []uint64
	for _, w := range returns {
		got = append(got, seqs[w]) // write 0 (another run's value) is seq 0
	}
	return tr.endRead(key, snap, got, found)
}

// checkBucket checks that the read fell in the bucket holding since.
func checkBucket(t *testing.T, curve []VisibilityPoint, since time.Duration, fresh bool) {
	t.Helper()
	want := 0
	for i, p := range curve {
		if time.Duration(p.MS*float64(ms)) <= since {
			want = i
		}
	}
	for i, p := range curve {
		if i != want {
			if p.Reads != 0 || p.Probability != nil {
				t.Fatalf("bucket %gms has %d reads, want 0", p.MS, p.Reads)
			}
			continue
		}
		wantP := 0.0
		if fresh {
			wantP = 1
		}
		if p.Reads != 1 || p.Probability == nil || *p.Probability != wantP {
			t.Fatalf("bucket %gms: %d reads, probability %v; want 1 read, %v", p.MS, p.Reads, p.Probability, wantP)
		}
	}
}

func TestStalenessSlowWriteOvertakenByManyIsFresh(t *testing.T) {
	tr := newStaleTracker(DefaultConfig().VisibilityBuckets)
	slow := tr.beginWrite(1, 0) // applied by the store after all the others
	var last uint64
	for i := range 4 * maxRecent {
		at := time.Duration(1+2*i) * ms
		last = tr.beginWrite(1, at)
		tr.endWrite(1, last, at, at+ms, true)
	}
	tr.endWrite(1, slow, 0, 200*ms, true)
	snap := tr.beginRead(1, 300*ms)
	if snap.latest.seq != last {
		t.Fatalf("latest %d, want %d", snap.latest.seq, last)
	}
	if _, fresh := tr.endRead(1, snap, []uint64{slow}, true); !fresh {
		t.Fatal("the slow write, concurrent with every later one, read as stale")
	}
	if _, fresh := tr.endRead(1, snap, []uint64{last - 1}, true); fresh {
		t.Fatal("a write finished before the latest began read as fresh")
	}
	s := tr.shard(1)
	if n := len(s.keys[1].recent); n > maxRecent+2 {
		t.Fatalf("%d writes kept for the key, want superseded ones forgotten", n)
	}
}

func TestStalenessPrunesOldWritesButKeepsLatest(t *testing.T) {
	tr := newStaleTracker(DefaultConfig().VisibilityBuckets)
	first := tr.beginWrite(1, 0)
	tr.endWrite(1, first, 0, ms, true)
	var last uint64
	for i := range maxKept + 10 {
		last = tr.beginWrite(1, time.Duration(2+i)*ms) // left in flight
	}
	if n := len(tr.shard(1).keys[1].recent); n > maxKept+1 {
		t.Fatalf("%d writes kept, want at most %d", n, maxKept+1)
	}
	snap := tr.beginRead(1, time.Second)
	if snap.latest.seq != first {
		t.Fatalf("latest acknowledged is %d, want %d although %d writes followed", snap.latest.seq, first, maxKept+10)
	}
	if _, fresh := tr.endRead(1, snap, []uint64{last}, true); !fresh {
		t.Fatal("an in-flight newer write read as stale")
	}
	// The ack of a write no longer in the recent list still moves latest.
	tr.endWrite(1, last, 5*ms, 2*time.Second, true)
	if got := tr.beginRead(1, 3*time.Second).latest.seq; got != last {
		t.Fatalf("latest %d after acking %d", got, last)
	}
}

// A read judged against L may return V, a write concurrent with L, while
// later writes make the tracker forget V: the verdict must not depend on
// what was forgotten during the read (once seen as 1 stale read in 3,172
// against a linearizable fake node in TestBenchCommandAgainstFakeNode).
func TestStalenessConcurrentVersionForgottenDuringReadIsFresh(t *testing.T) {
	tr := newStaleTracker(DefaultConfig().VisibilityBuckets)
	v := tr.beginWrite(1, 0)
	l := tr.beginWrite(1, 10*ms)
	tr.endWrite(1, v, 0, 20*ms, true)
	tr.endWrite(1, l, 10*ms, 30*ms, true)
	snap := tr.beginRead(1, 40*ms) // latest is L; the store applied V after L
	if snap.latest.seq != l {
		t.Fatalf("latest %d, want %d", snap.latest.seq, l)
	}
	for i := range 2 * maxRecent { // later writes, each after the previous ack
		at := time.Duration(50+2*i) * ms
		seq := tr.beginWrite(1, at)
		tr.endWrite(1, seq, at, at+ms, true)
	}
	if _, fresh := tr.endRead(1, snap, []uint64{v}, true); !fresh {
		t.Fatal("a version concurrent with the latest at the read's start read as stale because later writes made the tracker forget it")
	}
}
