package check

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// at returns t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{OK: "OK", Failed: "Failed", Unknown: "Unknown", 7: "Outcome(7)", -1: "Outcome(-1)"} {
		if got := o.String(); got != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(o), got, want)
		}
	}
}

func add(key, elem string, o Outcome, start, end int) SetOp {
	return SetOp{Key: key, Element: elem, Outcome: o, Start: at(start), End: at(end)}
}

func els(pairs ...string) []Element {
	var out []Element
	for _, p := range pairs {
		k, e, _ := strings.Cut(p, "/")
		out = append(out, Element{k, e})
	}
	return out
}

func TestCheckSet(t *testing.T) {
	tests := []struct {
		name       string
		ops        []SetOp
		reads      []SetRead
		final      map[string][]string
		want       SetResult // Valid, counts, Lost, Unexpected, Recovered checked
		wantString []string  // substrings of String()
	}{
		{
			name:  "empty history",
			want:  SetResult{Valid: true},
			final: nil,
		},
		{
			name:  "all acked and present",
			ops:   []SetOp{add("k1", "a", OK, 0, 1), add("k1", "b", OK, 0, 2), add("k2", "a", OK, 1, 3)},
			final: map[string][]string{"k1": {"b", "a"}, "k2": {"a"}},
			want:  SetResult{Attempted: 3, Acked: 3, Valid: true},
			wantString: []string{
				"set valid: attempted=3 acked=3 unknown=0 failed=0 recovered=0 lost=0 unexpected=0",
			},
		},
		{
			name:  "acked element missing is lost, per key",
			ops:   []SetOp{add("k1", "a", OK, 0, 1), add("k2", "a", OK, 0, 1), add("k2", "b", OK, 0, 1)},
			final: map[string][]string{"k1": {"a"}, "k2": {"b"}, "k3": {}},
			want:  SetResult{Attempted: 3, Acked: 3, Lost: els("k2/a")},
			wantString: []string{
				"set INVALID:", "lost=1 [k2/a]",
			},
		},
		{
			name:  "missing key loses all its elements, sorted",
			ops:   []SetOp{add("k2", "z", OK, 0, 1), add("k1", "b", OK, 0, 1), add("k1", "a", OK, 0, 1)},
			final: map[string][]string{},
			want:  SetResult{Attempted: 3, Acked: 3, Lost: els("k1/a", "k1/b", "k2/z")},
		},
		{
			name: "unknown and failed may be present or absent",
			ops: []SetOp{
				add("k", "u-present", Unknown, 0, 0), add("k", "u-absent", Unknown, 0, 0),
				add("k", "f-present", Failed, 0, 1), add("k", "f-absent", Failed, 0, 1),
				add("k", "ok", OK, 0, 1),
			},
			final: map[string][]string{"k": {"ok", "u-present", "f-present"}},
			want:  SetResult{Attempted: 5, Acked: 1, Unknown: 2, Failed: 2, Recovered: 2, Valid: true},
		},
		{
			name:  "never attempted is unexpected, also the same element on another key",
			ops:   []SetOp{add("k1", "a", OK, 0, 1)},
			final: map[string][]string{"k1": {"a", "ghost"}, "k2": {"a"}},
			want:  SetResult{Attempted: 1, Acked: 1, Unexpected: els("k1/ghost", "k2/a")},
			wantString: []string{
				"unexpected=2 [k1/ghost k2/a]",
			},
		},
		{
			name:  "unexpected in an intermediate read only",
			ops:   []SetOp{add("k1", "a", OK, 0, 1)},
			reads: []SetRead{{Key: "k1", Time: at(2), Elements: []string{"a", "ghost"}}, {Key: "k9", Time: at(2), Elements: []string{"x"}}},
			final: map[string][]string{"k1": {"a"}},
			want:  SetResult{Attempted: 1, Acked: 1, Unexpected: els("k1/ghost", "k9/x")},
		},
		{
			name: "a retry that succeeds makes the element acked",
			ops: []SetOp{
				add("k", "a", Unknown, 0, 0), add("k", "a", OK, 5, 6),
				add("k", "b", Failed, 0, 1), add("k", "b", Unknown, 2, 3),
			},
			final: map[string][]string{"k": {"b"}},
			want:  SetResult{Attempted: 2, Acked: 1, Unknown: 1, Recovered: 1, Lost: els("k/a")},
		},
		{
			name:  "an unknown outcome value counts as unknown",
			ops:   []SetOp{add("k", "a", Outcome(42), 0, 1)},
			final: map[string][]string{},
			want:  SetResult{Attempted: 1, Unknown: 1, Valid: true},
		},
		{
			name:  "duplicates in final and reads are harmless",
			ops:   []SetOp{add("k", "a", OK, 0, 1)},
			reads: []SetRead{{Key: "k", Time: at(2), Elements: []string{"a", "a"}}},
			final: map[string][]string{"k": {"a", "a"}},
			want:  SetResult{Attempted: 1, Acked: 1, Valid: true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckSet(tc.ops, tc.reads, tc.final)
			if got.Attempted != tc.want.Attempted || got.Acked != tc.want.Acked || got.Unknown != tc.want.Unknown ||
				got.Failed != tc.want.Failed || got.Recovered != tc.want.Recovered {
				t.Errorf("counts: got attempted=%d acked=%d unknown=%d failed=%d recovered=%d, want %d %d %d %d %d",
					got.Attempted, got.Acked, got.Unknown, got.Failed, got.Recovered,
					tc.want.Attempted, tc.want.Acked, tc.want.Unknown, tc.want.Failed, tc.want.Recovered)
			}
			if !slices.Equal(got.Lost, tc.want.Lost) {
				t.Errorf("Lost = %v, want %v", got.Lost, tc.want.Lost)
			}
			if !slices.Equal(got.Unexpected, tc.want.Unexpected) {
				t.Errorf("Unexpected = %v, want %v", got.Unexpected, tc.want.Unexpected)
			}
			wantValid := len(tc.want.Lost) == 0 && len(tc.want.Unexpected) == 0
			if got.Valid != wantValid || tc.want.Valid != wantValid {
				t.Errorf("Valid = %v, want %v (table says %v)", got.Valid, wantValid, tc.want.Valid)
			}
			s := got.String()
			for _, sub := range tc.wantString {
				if !strings.Contains(s, sub) {
					t.Errorf("String() = %q, want it to contain %q", s, sub)
				}
			}
		})
	}
}

func TestCheckSetStableLatency(t *testing.T) {
	read := func(ms int, elems ...string) SetRead { return SetRead{Key: "k", Time: at(ms), Elements: elems} }
	tests := []struct {
		name              string
		ops               []SetOp
		reads             []SetRead
		final             []string
		p50, p99, max     time.Duration
		stable, neverRead int
		neverStable       []Element
	}{
		{
			name:      "no reads at all",
			ops:       []SetOp{add("k", "a", OK, 0, 10)},
			final:     []string{"a"},
			neverRead: 1,
		},
		{
			name:  "visible in the first read after the ack",
			ops:   []SetOp{add("k", "a", OK, 0, 10)},
			reads: []SetRead{read(5), read(14, "a"), read(20, "a")},
			final: []string{"a"},
			p50:   4 * time.Millisecond, p99: 4 * time.Millisecond, max: 4 * time.Millisecond, stable: 1,
		},
		{
			name:   "a read at the ack instant counts; input order breaks ties",
			ops:    []SetOp{add("k", "a", OK, 0, 10)},
			reads:  []SetRead{read(10, "a"), read(10, "a"), read(11, "a")},
			final:  []string{"a"},
			stable: 1,
		},
		{
			name:  "reads before the ack are ignored, even if they lack it",
			ops:   []SetOp{add("k", "a", OK, 0, 10)},
			reads: []SetRead{read(1, "a"), read(9), read(12, "a")},
			final: []string{"a"},
			p50:   2 * time.Millisecond, p99: 2 * time.Millisecond, max: 2 * time.Millisecond, stable: 1,
		},
		{
			name:  "flapping: stable from the start of the last run",
			ops:   []SetOp{add("k", "a", OK, 0, 10)},
			reads: []SetRead{read(40, "a"), read(12), read(11, "a"), read(30, "a"), read(20)}, // unsorted on purpose
			final: []string{"a"},
			p50:   20 * time.Millisecond, p99: 20 * time.Millisecond, max: 20 * time.Millisecond, stable: 1,
		},
		{
			name:        "absent from the last read: never stable",
			ops:         []SetOp{add("k", "a", OK, 0, 10), add("k", "b", OK, 0, 10)},
			reads:       []SetRead{read(11, "a", "b"), read(12, "b")},
			final:       []string{"a", "b"},
			neverStable: els("k/a"),
			p50:         time.Millisecond, p99: time.Millisecond, max: time.Millisecond, stable: 1,
		},
		{
			name:        "never appears in reads after its ack: never stable",
			ops:         []SetOp{add("k", "a", OK, 0, 10)},
			reads:       []SetRead{read(11), read(12)},
			final:       []string{"a"},
			neverStable: els("k/a"),
		},
		{
			name:      "reads only before the ack: never read",
			ops:       []SetOp{add("k", "a", OK, 0, 10)},
			reads:     []SetRead{read(3, "a")},
			final:     []string{"a"},
			neverRead: 1,
		},
		{
			name:  "lost, unknown and unrecorded-ack elements are not measured",
			ops:   []SetOp{add("k", "lost", OK, 0, 10), add("k", "u", Unknown, 0, 0), {Key: "k", Element: "noack", Outcome: OK}},
			reads: []SetRead{read(11, "u", "noack")},
			final: []string{"u", "noack"},
			// noack has no ack time: counted as never read.
			neverRead: 1,
		},
		{
			name:  "earliest ack among retries",
			ops:   []SetOp{add("k", "a", OK, 20, 30), add("k", "a", OK, 0, 10), add("k", "a", Unknown, 0, 0)},
			reads: []SetRead{read(15, "a")},
			final: []string{"a"},
			p50:   5 * time.Millisecond, p99: 5 * time.Millisecond, max: 5 * time.Millisecond, stable: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CheckSet(tc.ops, tc.reads, map[string][]string{"k": tc.final})
			if got.StableP50 != tc.p50 || got.StableP99 != tc.p99 || got.StableMax != tc.max || got.Stable != tc.stable {
				t.Errorf("stable n=%d p50=%v p99=%v max=%v, want n=%d %v %v %v",
					got.Stable, got.StableP50, got.StableP99, got.StableMax, tc.stable, tc.p50, tc.p99, tc.max)
			}
			if got.NeverRead != tc.neverRead {
				t.Errorf("NeverRead = %d, want %d", got.NeverRead, tc.neverRead)
			}
			if !slices.Equal(got.NeverStable, tc.neverStable) {
				t.Errorf("NeverStable = %v, want %v", got.NeverStable, tc.neverStable)
			}
			if s := got.String(); strings.Contains(s, "stable(n=") != (tc.stable > 0) {
				t.Errorf("String() = %q: latency shown iff an element was measured", s)
			}
		})
	}
}

func TestCheckSetPercentiles(t *testing.T) {
	var ops []SetOp
	var reads []SetRead
	var final []string
	// Element i is acked at 0 and first read (stable) at i+1 ms: latencies 1..200 ms.
	for i := range 200 {
		e := fmt.Sprintf("e%03d", i)
		ops = append(ops, add("k", e, OK, 0, 0))
		final = append(final, e)
	}
	for i := range 200 {
		reads = append(reads, SetRead{Key: "k", Time: at(i + 1), Elements: final[:i+1]})
	}
	got := CheckSet(ops, reads, map[string][]string{"k": final})
	if got.Stable != 200 || got.StableP50 != 100*time.Millisecond || got.StableP99 != 198*time.Millisecond || got.StableMax != 200*time.Millisecond {
		t.Errorf("got n=%d p50=%v p99=%v max=%v, want 200 100ms 198ms 200ms", got.Stable, got.StableP50, got.StableP99, got.StableMax)
	}
	if !got.Valid {
		t.Errorf("not valid: %v", got)
	}
}

func TestSetResultStringElides(t *testing.T) {
	var ops []SetOp
	for i := range 8 {
		ops = append(ops, add("k", fmt.Sprint(i), OK, 0, 1))
	}
	s := CheckSet(ops, nil, nil).String()
	if want := "lost=8 [k/0 k/1 k/2 k/3 k/4 …+3]"; !strings.Contains(s, want) {
		t.Errorf("String() = %q, want it to contain %q", s, want)
	}
}

// fakeSetStore is a one-replica store holding each key as a vclock.Set, with
// plantable bugs. Clients add elements by read-modify-write: fetch the
// union of the siblings with the context, add one element, write back with
// the context. Stale contexts make concurrent writes, hence siblings.
type fakeSetStore struct {
	sets   map[string]vclock.Set
	puts   int
	fetchs int

	dropVictim string // bug: once this element is stored, every later put erases it from every sibling
	dropping   bool
	ghostFetch int // bug: the ghostFetch-th fetch (1-based) returns an extra element "ghost"
}

func (s *fakeSetStore) fetch(t *testing.T, key string) ([]string, vclock.VV) {
	s.fetchs++
	set := s.sets[key]
	elems, err := SetElements(&set)
	if err != nil {
		t.Fatal(err)
	}
	if s.fetchs == s.ghostFetch {
		elems = append(elems, "ghost")
	}
	return elems, set.Clock
}

func (s *fakeSetStore) put(t *testing.T, key string, actor vclock.Actor, ctx vclock.VV, elems []string) {
	s.puts++
	before, _ := SetElements(new(s.sets[key]))
	set, _ := s.sets[key].Update(ctx, actor, EncodeElements(elems), "text/plain", false)
	if s.dropping || (s.dropVictim != "" && slices.Contains(before, s.dropVictim)) {
		s.dropping = true
		for i := range set.Siblings {
			old, err := DecodeElements(set.Siblings[i].Value)
			if err != nil {
				t.Fatal(err)
			}
			set.Siblings[i].Value = EncodeElements(slices.DeleteFunc(old, func(e string) bool { return e == s.dropVictim }))
		}
	}
	s.sets[key] = set
}

// runSetWorkload drives clients adding elements to keys through store in a
// seeded interleaving, one step per millisecond, and returns the history.
// Element outcomes follow their number: some writes are applied but the
// client hears Unknown, some fail before reaching the store (Failed), some
// time out before reaching it (Unknown, not applied).
func runSetWorkload(t *testing.T, store *fakeSetStore, seed uint64, clients, adds int) ([]SetOp, []SetRead, map[string][]string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	keys := []string{"k0", "k1", "k2"}
	type client struct {
		fetched bool
		key     string
		elems   []string
		ctx     vclock.VV
		start   time.Time
	}
	cs := make([]client, clients)
	var ops []SetOp
	var reads []SetRead
	n := 0
	for step := 0; n < adds; step++ {
		now := at(step)
		i := rng.IntN(clients)
		c := &cs[i]
		if !c.fetched {
			c.key = keys[rng.IntN(len(keys))]
			c.elems, c.ctx = store.fetch(t, c.key)
			c.start, c.fetched = now, true
			reads = append(reads, SetRead{Key: c.key, Time: now, Elements: c.elems})
			continue
		}
		elem := fmt.Sprintf("c%d-%03d", i, n)
		op := SetOp{Key: c.key, Element: elem, Outcome: OK, Start: c.start, End: now}
		switch {
		case n%17 == 5: // refused before it reached the store
			op.Outcome = Failed
		case n%19 == 3: // timed out before it reached the store
			op.Outcome, op.End = Unknown, time.Time{}
		default:
			store.put(t, c.key, vclock.Actor(i+1), c.ctx, append(slices.Clone(c.elems), elem))
			if n%13 == 7 { // applied, but the ack was lost
				op.Outcome, op.End = Unknown, time.Time{}
			}
		}
		ops = append(ops, op)
		c.fetched = false
		n++
	}
	final := make(map[string][]string)
	for _, k := range keys {
		set := store.sets[k]
		elems, err := SetElements(&set)
		if err != nil {
			t.Fatal(err)
		}
		final[k] = elems
	}
	return ops, reads, final
}

func TestCheckSetCorrectStoreIsValid(t *testing.T) {
	for seed := range uint64(10) {
		ops, reads, final := runSetWorkload(t, &fakeSetStore{sets: map[string]vclock.Set{}}, seed, 3, 200)
		r := CheckSet(ops, reads, final)
		if !r.Valid || r.Recovered == 0 || r.Failed == 0 || r.Stable == 0 || r.Acked+r.Unknown+r.Failed != 200 {
			t.Errorf("seed %d: %v", seed, r)
		}
	}
}

// The store silently erases one acknowledged element: CheckSet must name it
// as lost and nothing else.
func TestCheckSetCatchesDroppedElement(t *testing.T) {
	const victim = "c1-010" // element 10: acknowledged (not a multiple of the failure patterns)
	checked := 0
	for seed := range uint64(10) {
		store := &fakeSetStore{sets: map[string]vclock.Set{}, dropVictim: victim}
		ops, reads, final := runSetWorkload(t, store, seed, 3, 200)
		i := slices.IndexFunc(ops, func(op SetOp) bool { return op.Element == victim })
		if i < 0 {
			continue // client 0 or 2 added element 10 under this seed
		}
		if ops[i].Outcome != OK || !store.dropping {
			t.Fatalf("seed %d: victim %v, bug fired %v", seed, ops[i], store.dropping)
		}
		checked++
		r := CheckSet(ops, reads, final)
		if want := []Element{{ops[i].Key, victim}}; r.Valid || !slices.Equal(r.Lost, want) || len(r.Unexpected) != 0 {
			t.Errorf("seed %d: got %v, want lost %v only", seed, r, want)
		}
		if want := "lost=1 [" + ops[i].Key + "/" + victim + "]"; !strings.Contains(r.String(), want) {
			t.Errorf("seed %d: String() = %q, want it to contain %q", seed, r, want)
		}
	}
	if checked == 0 {
		t.Fatal("no seed had client 1 add element 10")
	}
}

// The store invents an element on one read; the client writes it back, so it
// is in later reads and in the final state. CheckSet must report it as
// unexpected and lose nothing.
func TestCheckSetCatchesInventedElement(t *testing.T) {
	store := &fakeSetStore{sets: map[string]vclock.Set{}, ghostFetch: 40}
	ops, reads, final := runSetWorkload(t, store, 3, 2, 100)
	r := CheckSet(ops, reads, final)
	key := reads[39].Key
	if want := []Element{{key, "ghost"}}; r.Valid || !slices.Equal(r.Unexpected, want) || len(r.Lost) != 0 {
		t.Errorf("got %v, want unexpected %v only", r, want)
	}
}
