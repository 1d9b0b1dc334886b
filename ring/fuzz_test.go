package ring

import (
	"slices"
	"strings"
	"testing"
)

// FuzzNew builds rings from arbitrary member names and shapes. New must
// either fail with an error or return a ring whose every partition has
// min(N, M) distinct members; nothing may panic.
func FuzzNew(f *testing.F) {
	f.Add("a,b,c", uint8(4), uint8(3), []byte("key"))
	f.Add("n1,n2,n3,n4,n5,n6,n7", uint8(8), uint8(3), []byte{})
	f.Add("x", uint8(0), uint8(1), []byte{0xff})
	f.Add("a,,b", uint8(2), uint8(2), []byte("k"))
	f.Add("dup,dup", uint8(3), uint8(3), []byte("k"))
	f.Add("\x00,\xff\xfe,é,🙂", uint8(5), uint8(9), []byte("k"))
	f.Fuzz(func(t *testing.T, list string, logQ, n uint8, key []byte) {
		members := strings.Split(list, ",")
		if len(members) > 64 {
			members = members[:64]
		}
		cfg := Config{Partitions: 1 << (logQ % 12), N: int(n % 8)}
		r, err := New(cfg, members)
		if err != nil {
			return
		}
		p := r.Partition(key)
		if p < 0 || p >= cfg.Partitions {
			t.Fatalf("Partition = %d of %d", p, cfg.Partitions)
		}
		want := min(cfg.N, len(members))
		for q := range cfg.Partitions {
			list := r.Preflist(q)
			if len(list) != want || hasDuplicates(list) {
				t.Fatalf("Preflist(%d) = %q, want %d distinct", q, list, want)
			}
		}
		fb := r.Fallbacks(p)
		if len(fb)+want != len(members) || slices.ContainsFunc(fb, func(s string) bool { return r.IsReplica(p, s) }) {
			t.Fatalf("Fallbacks(%d) = %q overlaps or misses members", p, fb)
		}
	})
}
