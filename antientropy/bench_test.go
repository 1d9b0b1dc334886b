package antientropy

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkTreeUpdate measures the cost a write pays to keep its
// partition's tree current (default tree: 4 levels).
func BenchmarkTreeUpdate(b *testing.B) {
	tr := NewTree(DefaultTreeConfig())
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = []byte("user:" + strconv.Itoa(i*7919))
	}
	b.ReportAllocs()
	var d uint64
	for b.Loop() {
		tr.Update(keys[d&(1<<16-1)], d, d+1)
		d++
	}
}

// BenchmarkExchange measures Compare between two replicas of 100,000 keys
// against the number of keys on which they differ; bytes/exchange is the
// estimated wire traffic (sent + received), pct_of_values its share of
// 100,000 1-KiB values.
func BenchmarkExchange(b *testing.B) {
	const keys, valueBytes = 100_000, 1024
	for _, diffs := range []int{0, 1, 10, 100, 1000} {
		b.Run("diffs="+strconv.Itoa(diffs), func(b *testing.B) {
			a, r := pairWithDiffs(DefaultTreeConfig(), keys, diffs, uint64(diffs))
			remote := &memRemote{r: r}
			var st ExchangeStats
			for b.Loop() {
				var got []string
				var err error
				got, st, err = Compare(context.Background(), a.tree, a.localKeys, remote)
				if err != nil || len(got) != diffs {
					b.Fatalf("Compare found %d keys (%v), want %d", len(got), err, diffs)
				}
			}
			bytes := float64(st.BytesSent + st.BytesReceived)
			b.ReportMetric(bytes, "bytes/exchange")
			b.ReportMetric(100*bytes/(keys*valueBytes), "pct_of_values")
			b.ReportMetric(float64(st.NodesCompared), "hashes/exchange")
			b.ReportMetric(float64(st.KeysCompared), "digests/exchange")
		})
	}
}
