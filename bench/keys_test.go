package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

// slope fits log(count) against log(rank) by least squares.
func slope(counts []int, ranks int) float64 {
	var sx, sy, sxx, sxy, n float64
	for i := range ranks {
		if counts[i] == 0 {
			continue
		}
		x, y := math.Log(float64(i+1)), math.Log(float64(counts[i]))
		sx, sy, sxx, sxy, n = sx+x, sy+y, sxx+x*x, sxy+x*y, n+1
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func TestZipfianRankFrequencySlope(t *testing.T) {
	const items, draws = 1000, 1_000_000
	z := newZipfian(items, zipfTheta)
	rng := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, items)
	for range draws {
		counts[z.next(rng.Float64())]++
	}
	for i := 1; i < 20; i++ {
		if counts[i] > counts[i-1]+counts[i-1]/10 {
			t.Errorf("rank %d drawn %d times, rank %d %d: want non-increasing frequencies", i, counts[i], i-1, counts[i-1])
		}
	}
	if s := slope(counts, 100); math.Abs(s+zipfTheta) > 0.08 {
		t.Errorf("rank-frequency slope over the top 100 ranks = %.3f, want %.2f ± 0.08", s, -zipfTheta)
	}
	// P(rank 1) = 1/zeta(items).
	want := draws / zetaRange(0, items, zipfTheta, 0)
	if got := float64(counts[0]); math.Abs(got-want) > 0.03*want {
		t.Errorf("rank 1 drawn %.0f times, want %.0f ± 3%%", got, want)
	}
}

func TestZipfianGrowMatchesDirect(t *testing.T) {
	z := newZipfian(1000, zipfTheta)
	z.grow(5000)
	d := newZipfian(5000, zipfTheta)
	if math.Abs(z.zetan-d.zetan) > 1e-9 || math.Abs(z.eta-d.eta) > 1e-9 {
		t.Fatalf("grown zeta %v eta %v, direct zeta %v eta %v", z.zetan, z.eta, d.zetan, d.eta)
	}
}

func TestScrambledZipfianSpreadsHotKeys(t *testing.T) {
	const keys, draws = 1000, 200_000
	ins := newInsertCounter(keys)
	s := newScrambledKeys(ins)
	rng := rand.New(rand.NewPCG(3, 4))
	counts := make([]int, keys)
	for range draws {
		k := s.next(rng)
		if k >= keys {
			t.Fatalf("key %d out of [0, %d)", k, keys)
		}
		counts[k]++
	}
	hot, hotKey := 0, 0
	for k, c := range counts {
		if c > hot {
			hot, hotKey = c, k
		}
	}
	// The hottest item of the 10^10 carries 1/26.47 ≈ 3.8% of the draws.
	if frac := float64(hot) / draws; frac < 0.03 {
		t.Errorf("hottest key drawn %.4f of the time, want at least 0.03 (zipfian skew)", frac)
	}
	if hotKey < 10 {
		t.Errorf("hottest key is %d: scrambling should not leave it at the start of the space", hotKey)
	}
}

func TestLatestPrefersNewestKeys(t *testing.T) {
	const keys = 1000
	ins := newInsertCounter(keys)
	l := newLatestKeys(ins, zetaRange(0, keys, zipfTheta, 0))
	rng := rand.New(rand.NewPCG(5, 6))
	counts := map[uint64]int{}
	for range 100_000 {
		counts[l.next(rng)]++
	}
	if counts[keys-1] < counts[keys-2] || counts[keys-2] < counts[keys-10] || counts[keys-1] < 10000 {
		t.Errorf("newest keys drawn %d, %d, %d times: want the newest the most", counts[keys-1], counts[keys-2], counts[keys-10])
	}
	for range 5 {
		ins.complete(ins.take())
	}
	for range 1000 {
		if k := l.next(rng); k >= keys+5 {
			t.Fatalf("drew key %d past the %d that exist", k, keys+5)
		}
	}
}

func TestInsertCounterLimitWaitsForGaps(t *testing.T) {
	c := newInsertCounter(10)
	a, b, d := c.take(), c.take(), c.take()
	if a != 10 || b != 11 || d != 12 {
		t.Fatalf("took %d %d %d, want 10 11 12", a, b, d)
	}
	c.complete(b)
	c.complete(d)
	if got := c.limit(); got != 10 {
		t.Fatalf("limit %d with insert 10 in flight, want 10", got)
	}
	c.complete(a)
	if got := c.limit(); got != 13 {
		t.Fatalf("limit %d after all completed, want 13", got)
	}
	if got := c.inserted(); got != 3 {
		t.Fatalf("inserted %d, want 3", got)
	}
}

func TestFnvHash64IsYCSBs(t *testing.T) {
	// FNV-1a of eight zero bytes, as YCSB's Utils.fnvhash64(0).
	h := uint64(0xCBF29CE484222325)
	for range 8 {
		h *= 1099511628211
	}
	if int64(h) < 0 {
		h = uint64(-int64(h))
	}
	if got := fnvHash64(0); got != h || int64(got) < 0 {
		t.Fatalf("fnvHash64(0) = %d, want %d", got, h)
	}
	if fnvHash64(1) == fnvHash64(256) {
		t.Fatal("fnvHash64 ignores byte positions")
	}
}
