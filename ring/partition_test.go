package ring

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"
)

// TestKeyUniformity hashes structured keys (the kind that break weak
// hashes: counters, shared prefixes, little-endian integers) and checks
// the partition counts with a chi-square statistic. With Q-1 degrees of
// freedom its mean is Q-1 and its standard deviation sqrt(2(Q-1)); six
// deviations above the mean fails.
func TestKeyUniformity(t *testing.T) {
	const keys = 1 << 19
	gens := map[string]func(i int) []byte{
		"decimal": func(i int) []byte { return strconv.AppendInt([]byte("user:"), int64(i), 10) },
		"uint64":  func(i int) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(i)) },
		"prefix":  func(i int) []byte { return []byte("tenant-42/orders/2026/11/" + strconv.Itoa(i)) },
	}
	for _, q := range []int{256, 1024} {
		r := mustNew(t, Config{Partitions: q, N: 1}, []string{"a"})
		for name, gen := range gens {
			counts := make([]int, q)
			for i := range keys {
				counts[r.Partition(gen(i))]++
			}
			chi := chiSquare(counts, keys)
			dof := float64(q - 1)
			if limit := dof + 6*math.Sqrt(2*dof); chi > limit {
				t.Errorf("Q=%d %s keys: chi-square %.0f > %.0f", q, name, chi, limit)
			}
		}
	}
}

func chiSquare(counts []int, total int) float64 {
	want := float64(total) / float64(len(counts))
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - want
		chi += d * d / want
	}
	return chi
}
