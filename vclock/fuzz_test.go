package vclock

import (
	"errors"
	"slices"
	"testing"
)

// FuzzDecodeContext: contexts come from clients, so anything may arrive.
// DecodeContext must not panic; what it accepts must be valid and survive
// re-encoding unchanged.
func FuzzDecodeContext(f *testing.F) {
	for _, v := range []VV{nil, {{1, 1}}, {{actorA, 3}, {actorB, 1 << 40}}, {{1<<64 - 1, MaxCounter}}} {
		f.Add(EncodeContext(v))
	}
	for _, s := range []string{"kA", "kgEB", "kgEA", "lAIBAQE", "3f____8BAQ", "!!", "kgEB=", "kg\nEB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := DecodeContext(s)
		if err != nil {
			if !errors.Is(err, ErrBadContext) {
				t.Fatalf("error %v does not wrap ErrBadContext", err)
			}
			return
		}
		if err := v.Validate(); err != nil || len(v) > MaxContextEntries {
			t.Fatalf("accepted invalid context %v: %v", v, err)
		}
		again, err := DecodeContext(EncodeContext(v))
		if err != nil || !slices.Equal(again, v) {
			t.Fatalf("re-encoding %v gave %v, %v", v, again, err)
		}
	})
}

// FuzzUnmarshalSet: stored bytes may be damaged and peers may be buggy.
// UnmarshalSet must not panic; what it accepts must be valid and survive
// re-encoding unchanged.
func FuzzUnmarshalSet(f *testing.F) {
	for _, s := range append(historySets()[:2], historySets()[3:13]...) { // [2] is 70 KB: too slow to mutate
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x93, 0x01, 0x90, 0x90})
	f.Add([]byte{0x93, 0x01, 0x92, 0x01, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecoded(t, b)
	})
}
