package ring

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestNewErrors(t *testing.T) {
	good := Config{Partitions: 64, N: 3}
	tests := []struct {
		name    string
		cfg     Config
		members []string
		want    error
		detail  string // must appear in the message
	}{
		{"nil members", good, nil, ErrNoMembers, ""},
		{"empty members", good, []string{}, ErrNoMembers, ""},
		{"empty name", good, []string{"a", ""}, ErrEmptyMember, ""},
		{"only empty name", good, []string{""}, ErrEmptyMember, ""},
		{"duplicate", good, []string{"a", "b", "a"}, ErrDuplicateMember, `"a"`},
		{"duplicate adjacent", good, []string{"x", "x"}, ErrDuplicateMember, `"x"`},
		{"bad partitions", Config{Partitions: 100, N: 3}, []string{"a"}, ErrBadConfig, "100"},
		{"bad N", Config{Partitions: 64, N: 0}, []string{"a"}, ErrBadConfig, "N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg, tt.members)
			if !errors.Is(err, tt.want) || r != nil {
				t.Fatalf("New = %v, %v; want nil, %v", r, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "ring: ") || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("error %q: want prefix %q and %q", err, "ring: ", tt.detail)
			}
		})
	}
}

func TestNewDoesNotModifyMembers(t *testing.T) {
	in := []string{"c", "a", "b"}
	mustNew(t, DefaultConfig(), in)
	if !slices.Equal(in, []string{"c", "a", "b"}) {
		t.Fatalf("New reordered its input: %v", in)
	}
}

func TestDeterministicUnderShuffle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, names := range [][]string{seqNames(5), seqNames(40), randNames(3, 17)} {
		want := mustNew(t, Config{Partitions: 512, N: 3}, names)
		for range 5 {
			shuffled := slices.Clone(names)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got := mustNew(t, Config{Partitions: 512, N: 3}, shuffled)
			if !slices.Equal(got.prefs, want.prefs) {
				t.Fatalf("%d members: ring differs after shuffling the member list", len(names))
			}
		}
	}
}

// TestGolden pins the exact placement for one member set. Every node of a
// cluster must compute the same ring, including nodes running different
// versions during a rolling upgrade: if this test fails, the change
// alters placement and is a cluster-wide migration, not a refactor.
func TestGolden(t *testing.T) {
	r := mustNew(t, Config{Partitions: 16, N: 3}, []string{"alpha", "bravo", "charlie", "delta", "echo"})
	want := goldenRing
	var got []string
	for p := range 16 {
		got = append(got, strings.Join(r.Preflist(p), ","))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("placement changed:\ngot  %q\nwant %q", got, want)
	}
	if h := HashKey([]byte("hello")); h != 0x26c7827d889f6da3 { // xxh64 reference value
		t.Fatalf(`HashKey("hello") = %#x`, h)
	}
	if p := r.Partition([]byte("hello")); p != goldenHelloPartition {
		t.Fatalf(`Partition("hello") = %d, want %d`, p, goldenHelloPartition)
	}
}

func TestPreflistShape(t *testing.T) {
	for _, m := range []int{1, 2, 3, 4, 7, 20} {
		for _, n := range []int{1, 2, 3, 5} {
			r := mustNew(t, Config{Partitions: 128, N: n}, seqNames(m))
			want := min(n, m)
			total := 0
			for p := range 128 {
				list := r.Preflist(p)
				if len(list) != want || cap(list) != want {
					t.Fatalf("M=%d N=%d: Preflist(%d) len %d cap %d, want %d", m, n, p, len(list), cap(list), want)
				}
				if hasDuplicates(list) {
					t.Fatalf("M=%d N=%d: Preflist(%d) = %v has duplicates", m, n, p, list)
				}
				total += len(list)
			}
			sum := 0
			for _, name := range r.Members() {
				sum += r.Placements(name)
			}
			if sum != total {
				t.Fatalf("M=%d N=%d: placements sum %d, want %d", m, n, sum, total)
			}
		}
	}
}

func TestFallbacks(t *testing.T) {
	r := mustNew(t, Config{Partitions: 256, N: 3}, randNames(9, 12))
	for p := range 256 {
		fb := r.Fallbacks(p)
		all := append(slices.Clone(r.Preflist(p)), fb...)
		slices.Sort(all)
		if !slices.Equal(all, r.Members()) {
			t.Fatalf("Preflist(%d)+Fallbacks(%d) = %v, want every member once", p, p, all)
		}
		if again := r.Fallbacks(p); !slices.Equal(again, fb) {
			t.Fatalf("Fallbacks(%d) not deterministic: %v then %v", p, fb, again)
		}
	}
	if fb := mustNew(t, Config{Partitions: 8, N: 3}, seqNames(2)).Fallbacks(0); len(fb) != 0 {
		t.Fatalf("Fallbacks with fewer members than N = %v, want none", fb)
	}
}

// TestFallbacksStable checks that a join only inserts the newcomer into
// fallback orders: the other members keep their relative order.
func TestFallbacksStable(t *testing.T) {
	names := randNames(4, 20)
	a := mustNew(t, Config{Partitions: 256, N: 3}, names[:19])
	b := mustNew(t, Config{Partitions: 256, N: 3}, names)
	for p := range 256 {
		var order []string // a's fallbacks still fallbacks in b, in b's order
		for _, name := range b.Fallbacks(p) {
			if slices.Contains(a.Fallbacks(p), name) {
				order = append(order, name)
			}
		}
		var want []string
		for _, name := range a.Fallbacks(p) {
			if slices.Contains(order, name) {
				want = append(want, name)
			}
		}
		if !slices.Equal(order, want) {
			t.Fatalf("partition %d: fallback order changed: %v vs %v", p, want, order)
		}
	}
}

func TestMembersAndOwnership(t *testing.T) {
	names := []string{"zeta", "alpha", "mu", "beta"}
	r := mustNew(t, Config{Partitions: 64, N: 2}, names)
	if got := r.Members(); !slices.Equal(got, []string{"alpha", "beta", "mu", "zeta"}) {
		t.Fatalf("Members() = %v, want sorted", got)
	}
	r.Members()[0] = "mutated"
	if r.Members()[0] != "alpha" {
		t.Fatal("Members() exposes internal state")
	}
	if r.Config() != (Config{Partitions: 64, N: 2}) {
		t.Fatalf("Config() = %+v", r.Config())
	}
	for _, name := range names {
		parts := r.PartitionsOf(name)
		if len(parts) != r.Placements(name) || !slices.IsSorted(parts) {
			t.Fatalf("PartitionsOf(%s) = %v, Placements = %d", name, parts, r.Placements(name))
		}
		for p := range 64 {
			if r.IsReplica(p, name) != slices.Contains(parts, p) {
				t.Fatalf("IsReplica(%d, %s) disagrees with PartitionsOf", p, name)
			}
		}
	}
	if r.Placements("nobody") != 0 || r.PartitionsOf("nobody") != nil || r.IsReplica(0, "nobody") {
		t.Fatal("a non-member must own nothing")
	}
}

func TestPartition(t *testing.T) {
	for _, q := range []int{1, 2, 1024, MaxPartitions} {
		r := mustNew(t, Config{Partitions: q, N: 1}, []string{"a"})
		// Partition p is the hash range [p*width, (p+1)*width).
		width := ^uint64(0)/uint64(q) + 1 // 2^64/q; 0 (overflow) for q=1
		for _, p := range []int{0, 1, q / 2, q - 1} {
			if p >= q {
				continue
			}
			lo := uint64(p) * width
			hi := lo + width - 1
			if got := [2]int{r.PartitionOfHash(lo), r.PartitionOfHash(hi)}; got != [2]int{p, p} {
				t.Fatalf("Q=%d: PartitionOfHash of range of %d = %v", q, p, got)
			}
		}
		key := []byte("some key")
		if r.Partition(key) != r.PartitionOfHash(HashKey(key)) {
			t.Fatalf("Q=%d: Partition and PartitionOfHash(HashKey) disagree", q)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	r := mustNew(t, DefaultConfig(), seqNames(8))
	key := []byte("user:42")
	if n := testing.AllocsPerRun(100, func() { sinkInt = r.Partition(key) }); n != 0 {
		t.Errorf("Partition allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { sinkList = r.Preflist(7) }); n != 0 {
		t.Errorf("Preflist allocates %v times", n)
	}
}

func TestPreflistAppendDoesNotClobber(t *testing.T) {
	r := mustNew(t, DefaultConfig(), seqNames(8))
	next := slices.Clone(r.Preflist(1))
	_ = append(r.Preflist(0), "intruder")
	if !slices.Equal(r.Preflist(1), next) {
		t.Fatal("appending to Preflist(0) overwrote Preflist(1)")
	}
}

func TestMoved(t *testing.T) {
	cfg := Config{Partitions: 256, N: 3}
	a := mustNew(t, cfg, seqNames(10))
	if got := Moved(a, a); got != 0 {
		t.Fatalf("Moved(a, a) = %d", got)
	}
	b := mustNew(t, cfg, seqNames(11))
	if got, want := Moved(a, b), b.Placements("n11"); got < want {
		t.Fatalf("Moved = %d, less than the newcomer's %d placements", got, want)
	}
	other := mustNew(t, Config{Partitions: 512, N: 3}, seqNames(10))
	if got := Moved(a, other); got != 512*3 {
		t.Fatalf("Moved across partition counts = %d, want all %d", got, 512*3)
	}
	if got := Moved(mustNew(t, cfg, []string{"x"}), a); got != 256*3 {
		t.Fatalf("Moved from a disjoint ring = %d, want %d", got, 256*3)
	}
}

func hasDuplicates(list []string) bool {
	for i := range list {
		if slices.Contains(list[i+1:], list[i]) {
			return true
		}
	}
	return false
}

// TestConcurrentReads exercises the read-only contract under -race.
func TestConcurrentReads(t *testing.T) {
	r := mustNew(t, DefaultConfig(), seqNames(12))
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for p := g; p < 256; p += 4 {
				_ = r.Preflist(p)
				_ = r.Fallbacks(p)
				_ = r.IsReplica(p, "n1")
				_ = r.Partition([]byte{byte(p)})
			}
			_ = r.PartitionsOf("n2")
			_ = r.Members()
		}()
	}
	for range 4 {
		<-done
	}
}

func TestEmptyRing(t *testing.T) {
	r, err := Empty(Config{Partitions: 16, N: 3})
	if err != nil {
		t.Fatal(err)
	}
	for p := range 16 {
		if got := r.Preflist(p); len(got) != 0 {
			t.Fatalf("Preflist(%d) = %v, want empty", p, got)
		}
		if got := r.Fallbacks(p); len(got) != 0 {
			t.Fatalf("Fallbacks(%d) = %v, want empty", p, got)
		}
	}
	if len(r.Members()) != 0 || r.Placements("a") != 0 || r.PartitionsOf("a") != nil {
		t.Fatal("an empty ring has members")
	}
	if _, err := Empty(Config{Partitions: 3, N: 3}); err == nil {
		t.Fatal("Empty accepted a bad config")
	}
}
