package ring

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// seqNames returns "n1".."nm".
func seqNames(m int) []string {
	out := make([]string, m)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i+1)
	}
	return out
}

// randNames returns m random-looking host names, fixed by seed.
func randNames(seed uint64, m int) []string {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]string, m)
	for i := range out {
		out[i] = fmt.Sprintf("db-%06x.%s.internal", rng.Uint32()&0xffffff, []string{"eu-west-1", "us-east-2", "ap-south-1"}[rng.IntN(3)])
	}
	return out
}

func mustNew(tb testing.TB, cfg Config, members []string) *Ring {
	tb.Helper()
	r, err := New(cfg, members)
	if err != nil {
		tb.Fatalf("New(%+v, %d members): %v", cfg, len(members), err)
	}
	return r
}
