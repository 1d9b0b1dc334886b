package bench

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// zipfTheta is YCSB's zipfian constant.
const zipfTheta = 0.99

// YCSB's scrambled zipfian draws from a zipfian over ten billion items and
// hashes the result into the key space, so that the popular keys are spread
// over the space instead of clustered at its start. zeta(10^10, 0.99) is
// precomputed as YCSB does (ScrambledZipfianGenerator.ZETAN).
const (
	scrambledItems = 10_000_000_000
	scrambledZetan = 26.46902820178302
)

// zipfian draws integers in [0, items) with P(i) proportional to 1/(i+1)^θ,
// by the method of Gray et al., "Quickly Generating Billion-Record Synthetic
// Databases" (SIGMOD 1994), as YCSB's ZipfianGenerator does. Item 0 is the
// most popular. It is not safe for concurrent use.
type zipfian struct {
	items        uint64
	theta, alpha float64
	zeta2, zetan float64
	eta          float64
}

// newZipfian computes zeta(items) directly, in O(items).
func newZipfian(items uint64, theta float64) *zipfian {
	return newZipfianZeta(items, theta, zetaRange(0, items, theta, 0))
}

// newZipfianZeta takes a precomputed zeta(items, theta).
func newZipfianZeta(items uint64, theta, zetan float64) *zipfian {
	z := &zipfian{items: items, theta: theta, alpha: 1 / (1 - theta),
		zeta2: zetaRange(0, 2, theta, 0), zetan: zetan}
	z.setEta()
	return z
}

// zetaRange returns sum + Σ_{i=from+1..to} 1/i^θ.
func zetaRange(from, to uint64, theta, sum float64) float64 {
	for i := from + 1; i <= to; i++ {
		sum += 1 / math.Pow(float64(i), theta)
	}
	return sum
}

func (z *zipfian) setEta() {
	n := float64(z.items)
	z.eta = (1 - math.Pow(2/n, 1-z.theta)) / (1 - z.zeta2/z.zetan)
}

// grow extends the item count to items, updating zeta incrementally: cheap
// when the key space grows by a few inserts between draws.
func (z *zipfian) grow(items uint64) {
	if items <= z.items {
		return
	}
	z.zetan = zetaRange(z.items, items, z.theta, z.zetan)
	z.items = items
	z.setEta()
}

// next maps a uniform u in [0, 1) to an item.
func (z *zipfian) next(u float64) uint64 {
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < 1+math.Pow(0.5, z.theta) {
		return 1
	}
	v := uint64(float64(z.items) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.items-1)
}

// fnvHash64 is YCSB's Utils.fnvhash64: FNV-1a over the 8 little-endian
// bytes of v, made non-negative as Java's Math.abs would.
func fnvHash64(v uint64) uint64 {
	h := uint64(0xCBF29CE484222325)
	for range 8 {
		h ^= v & 0xff
		h *= 1099511628211
		v >>= 8
	}
	if int64(h) < 0 {
		h = uint64(-int64(h))
	}
	return h
}

// keyChooser picks the key number of the next read or update among the
// keys that exist (those below the insert counter's acknowledged limit).
type keyChooser interface {
	next(rng *rand.Rand) uint64
}

type uniformKeys struct{ ins *insertCounter }

func (u uniformKeys) next(rng *rand.Rand) uint64 { return rng.Uint64N(u.ins.limit()) }

// scrambledKeys is YCSB's ScrambledZipfianGenerator.
type scrambledKeys struct {
	ins *insertCounter
	z   *zipfian
}

func newScrambledKeys(ins *insertCounter) *scrambledKeys {
	return &scrambledKeys{ins: ins, z: newZipfianZeta(scrambledItems, zipfTheta, scrambledZetan)}
}

func (s *scrambledKeys) next(rng *rand.Rand) uint64 {
	return fnvHash64(s.z.next(rng.Float64())) % s.ins.limit()
}

// latestKeys is YCSB's SkewedLatestGenerator: the newest key is the most
// popular, then the one before it, along a zipfian that grows with inserts.
type latestKeys struct {
	ins *insertCounter
	z   *zipfian
}

// newLatestKeys takes zeta precomputed for the key count the run starts
// with (zeta is O(keys) to compute, so workers share it).
func newLatestKeys(ins *insertCounter, zetaStart float64) *latestKeys {
	return &latestKeys{ins: ins, z: newZipfianZeta(ins.start, zipfTheta, zetaStart)}
}

func (l *latestKeys) next(rng *rand.Rand) uint64 {
	last := l.ins.limit()
	l.z.grow(last)
	return last - 1 - l.z.next(rng.Float64())
}

// insertCounter hands out new key numbers for inserts and tracks the
// limit below which every insert has completed (YCSB's
// AcknowledgedCounterGenerator), so that reads never pick a key whose
// insert is still in flight. It is safe for concurrent use.
type insertCounter struct {
	start   uint64
	issued  atomic.Uint64
	limitNo atomic.Uint64
	mu      sync.Mutex
	done    map[uint64]bool // completed above limitNo
}

func newInsertCounter(start uint64) *insertCounter {
	c := &insertCounter{start: start, done: map[uint64]bool{}}
	c.issued.Store(start)
	c.limitNo.Store(start)
	return c
}

// take returns the number of the next key to insert.
func (c *insertCounter) take() uint64 { return c.issued.Add(1) - 1 }

// complete marks an insert finished, successful or not: a failed insert
// must not hold back the limit forever (its key reads as not found).
func (c *insertCounter) complete(k uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lim := c.limitNo.Load()
	if k != lim {
		c.done[k] = true
		return
	}
	for lim++; c.done[lim]; lim++ {
		delete(c.done, lim)
	}
	c.limitNo.Store(lim)
}

// limit is the number of keys known to exist: [0, limit).
func (c *insertCounter) limit() uint64 { return c.limitNo.Load() }

// inserted is how many inserts were handed out.
func (c *insertCounter) inserted() uint64 { return c.issued.Load() - c.start }
