package ring

import (
	"fmt"
	"testing"
)

func BenchmarkNew(b *testing.B) {
	for _, m := range []int{3, 16, 64} {
		for _, q := range []int{256, 1024} {
			names := seqNames(m)
			cfg := Config{Partitions: q, N: 3}
			b.Run(fmt.Sprintf("members=%d/partitions=%d", m, q), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := New(cfg, names); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkPartition(b *testing.B) {
	r := mustNew(b, Config{Partitions: 1024, N: 3}, seqNames(16))
	key := []byte("user:1234567:profile")
	b.ReportAllocs()
	for b.Loop() {
		sinkInt = r.Partition(key)
	}
}

func BenchmarkPreflist(b *testing.B) {
	r := mustNew(b, Config{Partitions: 1024, N: 3}, seqNames(16))
	b.ReportAllocs()
	p := 0
	for b.Loop() {
		sinkList = r.Preflist(p)
		p = (p + 1) & 1023
	}
}

func BenchmarkFallbacks(b *testing.B) {
	r := mustNew(b, Config{Partitions: 1024, N: 3}, seqNames(64))
	b.ReportAllocs()
	p := 0
	for b.Loop() {
		sinkList = r.Fallbacks(p)
		p = (p + 1) & 1023
	}
}

var (
	sinkInt  int
	sinkList []string
)
