package ring

import (
	"cmp"
	"slices"
)

// capPercent bounds each member's placements, and separately its first
// positions, at ⌊capPercent% of the mean⌋. The cap is the balance
// guarantee, and it is as high as that guarantee allows: a member at its
// cap passes placements on or takes them back whenever the member set
// changes, and each of those is a move beyond the minimum. Measured at
// Q=1024, M=40..64: a 110% cap moves ~5% more on join and leave, 120%
// no less than 115%.
const capPercent = 115

// member is one ring member with the keys its scores derive from.
type member struct {
	name string
	key  uint64 // xxhash of the name
	perm perm   // level -> partition
}

// slot is one placement under construction.
type slot struct {
	member int32
	score  uint64
}

// builder computes the preference lists of one ring; see doc.go for the
// algorithm.
type builder struct {
	q, n    int
	members []member // sorted by name; indices are member numbers
	cap     int
	load    []int  // placements per member
	fill    []int  // placements per partition
	slots   []slot // q*n; partition p owns slots[p*n : p*n+n]
	placed  int
}

func newBuilder(q, n int, members []member) *builder {
	m := len(members)
	return &builder{
		q: q, n: n, members: members,
		cap:   capOf(q*n, m, q),
		load:  make([]int, m),
		fill:  make([]int, q),
		slots: make([]slot, q*n),
	}
}

// capOf is ⌊capPercent% · total/m⌋, but never below ⌈total/m⌉, so that m
// caps hold every placement, nor above limit, the most one member can
// hold.
func capOf(total, m, limit int) int {
	c := max(total*capPercent/(100*m), (total+m-1)/m)
	return min(c, limit)
}

// score is m's rendezvous score for the partition at level lvl of its
// permutation. The level is the high bits; the low bits break ties
// between members at the same level fairly rather than by name.
func (m *member) score(lvl uint64) uint64 {
	return lvl<<48 | mix64(m.key^lvl*golden)>>16
}

// scoreOf is m's rendezvous score for partition p.
func (m *member) scoreOf(p int) uint64 {
	return m.score(m.perm.indexOf(uint64(p)))
}

// build runs all phases and returns the preference lists.
func (b *builder) build() []slot {
	b.placeGreedy()
	b.placeLeftovers()
	b.orderLists()
	return b.slots
}

// placeGreedy considers (partition, member) pairs in descending score
// and accepts each while the partition has a free slot and the member is
// under its cap. Levels are walked from the top; every member has exactly
// one partition per level, so a level is sorted by score in O(M log M)
// and the walk stops as soon as every slot is filled.
func (b *builder) placeGreedy() {
	active := make([]int, len(b.members))
	for i := range active {
		active[i] = i
	}
	type cand struct {
		score uint64
		i     int
	}
	order := make([]cand, 0, len(active))
	for lvl := b.q - 1; lvl >= 0 && b.placed < len(b.slots); lvl-- {
		active = slices.DeleteFunc(active, func(i int) bool { return b.load[i] >= b.cap })
		order = order[:0]
		for _, i := range active {
			order = append(order, cand{b.members[i].score(uint64(lvl)), i})
		}
		slices.SortFunc(order, func(x, y cand) int {
			return cmp.Or(cmp.Compare(y.score, x.score), cmp.Compare(x.i, y.i))
		})
		for _, c := range order {
			p := int(b.members[c.i].perm.at(uint64(lvl)))
			if b.load[c.i] < b.cap && b.fill[p] < b.n && !b.holds(p, c.i) {
				b.add(p, c.i, c.score)
			}
		}
	}
}

// placeLeftovers fills slots the greedy pass left open: every member
// under its cap already holds the partition. It happens only when the
// caps leave almost no slack (small rings where the cap rounds down to
// the mean). A member under its cap takes the place of a replica of some
// other partition, which moves to the open slot; if there is no such
// exchange, the least-loaded non-replica takes the slot above its cap.
func (b *builder) placeLeftovers() {
	for p := 0; p < b.q; p++ {
		for b.fill[p] < b.n {
			if !b.exchange(p) {
				b.overfill(p)
			}
		}
	}
}

// exchange finds a member i under its cap and a replica k of another
// partition p2 such that k can join p and i can replace k in p2. (i may
// hold p already; that is why the greedy pass could not use it.)
func (b *builder) exchange(p int) bool {
	for i := range b.members {
		if b.load[i] >= b.cap {
			continue
		}
		for p2 := 0; p2 < b.q; p2++ {
			if p2 == p || b.holds(p2, i) {
				continue
			}
			for j := p2 * b.n; j < p2*b.n+b.fill[p2]; j++ {
				if k := int(b.slots[j].member); !b.holds(p, k) {
					b.slots[j] = slot{int32(i), b.members[i].scoreOf(p2)}
					b.load[i]++
					b.load[k]--
					b.add(p, k, b.members[k].scoreOf(p))
					return true
				}
			}
		}
	}
	return false
}

// overfill gives p's open slot to the least-loaded member not holding it,
// preferring the higher score.
func (b *builder) overfill(p int) {
	best, bestScore := -1, uint64(0)
	for i := range b.members {
		if b.holds(p, i) {
			continue
		}
		s := b.members[i].scoreOf(p)
		if best < 0 || b.load[i] < b.load[best] || b.load[i] == b.load[best] && s > bestScore {
			best, bestScore = i, s
		}
	}
	b.add(p, best, bestScore)
}

func (b *builder) holds(p, i int) bool {
	for _, s := range b.slots[p*b.n : p*b.n+b.fill[p]] {
		if int(s.member) == i {
			return true
		}
	}
	return false
}

func (b *builder) add(p, i int, score uint64) {
	b.slots[p*b.n+b.fill[p]] = slot{int32(i), score}
	b.fill[p]++
	b.load[i]++
	b.placed++
}

// orderLists puts each partition's replicas in preference order. Which
// members hold a partition is already fixed; the order only decides who
// coordinates. A second capped greedy pass over the placements picks the
// first replica so that coordinators are balanced too; the rest follow
// by descending score.
func (b *builder) orderLists() {
	primary := b.pickPrimaries()
	for p := 0; p < b.q; p++ {
		list := b.slots[p*b.n : p*b.n+b.n]
		list[0], list[primary[p]] = list[primary[p]], list[0]
		slices.SortFunc(list[1:], func(x, y slot) int { return cmp.Compare(y.score, x.score) })
	}
}

// pickPrimaries returns, per partition, the index within its list of the
// member that goes first: placements in descending score, each taken
// while its member has fewer than the cap of first positions.
func (b *builder) pickPrimaries() []int {
	all := make([]int, len(b.slots))
	for k := range all {
		all[k] = k
	}
	slices.SortFunc(all, func(x, y int) int {
		return cmp.Or(cmp.Compare(b.slots[y].score, b.slots[x].score), cmp.Compare(x, y))
	})
	pr := primaries{
		b: b, cap: capOf(b.q, len(b.members), b.q),
		count: make([]int, len(b.members)), first: make([]int, b.q),
	}
	for p := range pr.first {
		pr.first[p] = -1
	}
	for _, k := range all {
		if p, j := k/b.n, k%b.n; pr.first[p] < 0 && pr.open(p, j) {
			pr.set(p, j)
		}
	}
	for p, j := range pr.first {
		if j < 0 && !pr.swap(p) {
			pr.set(p, pr.least(p))
		}
	}
	return pr.first
}

// primaries is the state of pickPrimaries.
type primaries struct {
	b     *builder
	cap   int
	count []int // first positions per member
	first []int // per partition: index in its list, or -1
}

func (pr *primaries) member(p, j int) int32 { return pr.b.slots[p*pr.b.n+j].member }

func (pr *primaries) open(p, j int) bool { return pr.count[pr.member(p, j)] < pr.cap }

func (pr *primaries) set(p, j int) {
	pr.first[p] = j
	pr.count[pr.member(p, j)]++
}

// swap handles a partition whose replicas are all at the cap: it finds a
// partition q led by one of them that has another replica under the cap,
// lets that replica lead q, and the freed member lead p.
func (pr *primaries) swap(p int) bool {
	for j := 0; j < pr.b.n; j++ {
		m := pr.member(p, j)
		for q, f := range pr.first {
			if q == p || f < 0 || pr.member(q, f) != m {
				continue
			}
			for k := 0; k < pr.b.n; k++ {
				if pr.open(q, k) {
					pr.count[m]--
					pr.set(q, k)
					pr.set(p, j)
					return true
				}
			}
		}
	}
	return false
}

// least picks the replica of p with the fewest first positions, then the
// highest score; a last resort that exceeds the cap.
func (pr *primaries) least(p int) int {
	best := 0
	for j := 1; j < pr.b.n; j++ {
		c, bc := pr.count[pr.member(p, j)], pr.count[pr.member(p, best)]
		if c < bc || c == bc && pr.b.slots[p*pr.b.n+j].score > pr.b.slots[p*pr.b.n+best].score {
			best = j
		}
	}
	return best
}
