package vclock

import (
	"fmt"
	"testing"
)

// benchSet returns a set of n concurrent siblings with 1 KiB values, each
// coordinated by a different actor, as a key written by n clients at once.
func benchSet(n int) Set {
	var s Set
	value := make([]byte, 1024)
	for i := range n {
		s, _ = s.Update(nil, Actor(0x1000+i)<<40, value, "application/octet-stream", false)
	}
	return s
}

var siblingCounts = []int{1, 10}

func BenchmarkUpdate(b *testing.B) {
	value := make([]byte, 1024)
	for _, n := range siblingCounts {
		s := benchSet(n)
		// stale: the client saw nothing, so every sibling is kept.
		// current: the client read the key, so the write collapses it.
		for name, ctx := range map[string]VV{"stale": nil, "current": s.Clock} {
			b.Run(fmt.Sprintf("siblings=%d/ctx=%s", n, name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					s.Update(ctx, 0x1000<<40, value, "application/octet-stream", false)
				}
			})
		}
	}
}

func BenchmarkMerge(b *testing.B) {
	for _, n := range siblingCounts {
		a := benchSet(n)
		// The other replica saw a and took one more concurrent write.
		other, _ := a.Update(nil, 0x7777<<40, make([]byte, 1024), "application/octet-stream", false)
		b.Run(fmt.Sprintf("siblings=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Merge(a, other)
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, n := range siblingCounts {
		s := benchSet(n)
		b.Run(fmt.Sprintf("siblings=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n * 1024))
			for b.Loop() {
				if _, err := s.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, n := range siblingCounts {
		enc, err := benchSet(n).MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		for _, shared := range []bool{false, true} {
			b.Run(fmt.Sprintf("siblings=%d/shared=%v", n, shared), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(n * 1024))
				for b.Loop() {
					if _, err := unmarshalSet(enc, shared); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkContext(b *testing.B) {
	v := benchSet(3).Clock
	enc := EncodeContext(v)
	b.Run("encode/entries=3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeContext(v)
		}
	})
	b.Run("decode/entries=3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeContext(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
