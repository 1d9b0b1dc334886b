package ring

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Ring maps keys to partitions and partitions to preference lists for one
// member set. It is immutable after New and safe for concurrent use;
// build a new Ring when the members change.
type Ring struct {
	cfg     Config
	n       int  // replicas per partition: min(N, members)
	shift   uint // 64 - log2(Partitions): a hash's top bits pick the partition
	members []member
	index   map[string]int // name -> member number
	prefs   []string       // Partitions*n names; partition p owns prefs[p*n : p*n+n]
	load    []int          // placements per member
}

// New builds the ring of cfg for members, which may come in any order:
// the same set always yields the same ring. Names must be non-empty and
// distinct. With fewer members than cfg.N, every preference list holds
// all members.
//
// New is deterministic and does no I/O. It takes about a millisecond for
// 64 members at 1024 partitions and grows roughly with Partitions × N,
// so it is cheap to rerun on every membership change.
func New(cfg Config, members []string) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := sortedNames(members)
	if err != nil {
		return nil, err
	}
	r := &Ring{
		cfg:     cfg,
		n:       min(cfg.N, len(names)),
		shift:   64 - log2(cfg.Partitions),
		members: make([]member, len(names)),
		index:   make(map[string]int, len(names)),
	}
	for i, name := range names {
		key := xxhash.Sum64String(name)
		r.members[i] = member{name: name, key: key, perm: newPerm(key, cfg.Partitions)}
		r.index[name] = i
	}
	b := newBuilder(cfg.Partitions, r.n, r.members)
	slots := b.build()
	r.load = b.load
	r.prefs = make([]string, len(slots))
	for k, s := range slots {
		r.prefs[k] = names[s.member]
	}
	return r, nil
}

// Empty returns the ring of cfg without members, whose preference lists
// are all empty: a new cluster's ring until its first member has joined.
func Empty(cfg Config) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Ring{cfg: cfg, shift: 64 - log2(cfg.Partitions), index: map[string]int{}}, nil
}

// sortedNames validates members and returns a sorted copy.
func sortedNames(members []string) ([]string, error) {
	if len(members) == 0 {
		return nil, ErrNoMembers
	}
	names := slices.Clone(members)
	slices.Sort(names)
	for i, name := range names {
		if name == "" {
			return nil, ErrEmptyMember
		}
		if i > 0 && names[i-1] == name {
			return nil, &detailError{ErrDuplicateMember, strconv.Quote(name)}
		}
	}
	return names, nil
}

func log2(q int) uint {
	b := uint(0)
	for 1<<b < q {
		b++
	}
	return b
}

// HashKey is the 64-bit hash (xxhash) that places key on the ring. Use it
// with PartitionOfHash when the hash is needed for something else too.
func HashKey(key []byte) uint64 {
	return xxhash.Sum64(key)
}

// Partition returns the partition key belongs to. It does not allocate.
func (r *Ring) Partition(key []byte) int {
	return r.PartitionOfHash(xxhash.Sum64(key))
}

// PartitionOfHash returns the partition of a hash from HashKey: its top
// log2(Partitions) bits, so partition p holds one contiguous range of
// hash space.
func (r *Ring) PartitionOfHash(h uint64) int {
	return int(h >> r.shift) // a shift by 64 (one partition) yields 0
}

// Preflist returns the replicas of partition p in preference order: the
// first is the preferred coordinator. It holds min(N, members) distinct
// names. The slice is shared by all callers and MUST NOT be modified; it
// does not allocate. Preflist panics if p is not in [0, Partitions).
func (r *Ring) Preflist(p int) []string {
	lo, hi := p*r.n, p*r.n+r.n
	return r.prefs[lo:hi:hi]
}

// Fallbacks returns every member not in Preflist(p), in the order a
// coordinator should try them when a replica is down: descending score
// for p (the score placement uses, without the load cap), so a membership
// change only inserts or removes the member concerned, and the first
// fallback is often a member the cap kept off the list. It allocates the
// returned slice, which the caller owns; it panics if p is out of range.
func (r *Ring) Fallbacks(p int) []string {
	if p < 0 || p >= r.cfg.Partitions {
		panic("ring: partition " + strconv.Itoa(p) + " out of range")
	}
	type scored struct {
		score uint64
		name  string
	}
	others := make([]scored, 0, len(r.members)-r.n)
	for i := range r.members {
		m := &r.members[i]
		if !r.IsReplica(p, m.name) {
			others = append(others, scored{m.scoreOf(p), m.name})
		}
	}
	slices.SortFunc(others, func(x, y scored) int {
		return cmp.Or(cmp.Compare(y.score, x.score), strings.Compare(x.name, y.name))
	})
	out := make([]string, len(others))
	for i, s := range others {
		out[i] = s.name
	}
	return out
}

// Members returns the member names, sorted. The caller owns the slice.
func (r *Ring) Members() []string {
	out := make([]string, len(r.members))
	for i, m := range r.members {
		out[i] = m.name
	}
	return out
}

// Config returns the Config the ring was built with.
func (r *Ring) Config() Config { return r.cfg }

// Placements returns how many preference lists include node; 0 if node
// is not a member.
func (r *Ring) Placements(node string) int {
	i, ok := r.index[node]
	if !ok {
		return 0
	}
	return r.load[i]
}

// IsReplica reports whether node is in the preference list of partition
// p.
func (r *Ring) IsReplica(p int, node string) bool {
	return slices.Contains(r.Preflist(p), node)
}

// PartitionsOf returns, ascending, the partitions whose preference list
// includes node: what node must store. The caller owns the slice.
func (r *Ring) PartitionsOf(node string) []int {
	if _, ok := r.index[node]; !ok {
		return nil
	}
	out := make([]int, 0, r.Placements(node))
	for p := 0; p < r.cfg.Partitions; p++ {
		if r.IsReplica(p, node) {
			out = append(out, p)
		}
	}
	return out
}

// Moved returns how many placements — (partition, replica) pairs — of b
// are not in a: the partition copies that must be transferred to go from
// a to b. Order within a preference list does not count. a and b should
// share a Config; if their partition counts differ nothing carries over
// and every placement of b counts as moved.
func Moved(a, b *Ring) int {
	if a.cfg.Partitions != b.cfg.Partitions {
		return len(b.prefs)
	}
	moved := 0
	for p := 0; p < b.cfg.Partitions; p++ {
		old := a.Preflist(p)
		for _, node := range b.Preflist(p) {
			if !slices.Contains(old, node) {
				moved++
			}
		}
	}
	return moved
}
