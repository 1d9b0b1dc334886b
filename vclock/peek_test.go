package vclock

import (
	"bytes"
	"errors"
	"testing"
)

func TestPeek(t *testing.T) {
	for i, s := range historySets() {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Peek(b)
		if err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
		want := Summary{Siblings: len(s.Siblings), ContextBytes: len(EncodeContext(s.Clock))}
		if got != want {
			t.Fatalf("set %d: Peek %+v, want %+v", i, got, want)
		}
		for cut := range len(b) {
			if _, err := Peek(b[:cut]); err == nil && cut < 3 {
				t.Fatalf("set %d cut to %d bytes: no error", i, cut)
			}
		}
	}
	if _, err := Peek([]byte{0x93, 0x02, 0x90, 0x90}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown version: %v", err)
	}
}

// FuzzPeek: Peek never panics, and on bytes UnmarshalSet accepts it agrees
// with the decoded set (exactly, for the encoding MarshalBinary writes).
func FuzzPeek(f *testing.F) {
	for _, s := range append(historySets()[:2], historySets()[3:13]...) {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x93, 0x01, 0x90, 0x90})
	f.Add([]byte{0x93, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		sum, perr := Peek(b)
		if perr != nil && !errors.Is(perr, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", perr)
		}
		s, err := UnmarshalSet(b)
		if err != nil {
			return
		}
		if perr != nil {
			t.Fatalf("UnmarshalSet accepts what Peek refuses: %v", perr)
		}
		if sum.Siblings != len(s.Siblings) {
			t.Fatalf("Peek counts %d siblings, the set has %d", sum.Siblings, len(s.Siblings))
		}
		if again, _ := s.MarshalBinary(); bytes.Equal(again, b) && sum.ContextBytes != len(EncodeContext(s.Clock)) {
			t.Fatalf("Peek says a %d-byte context, EncodeContext makes %d", sum.ContextBytes, len(EncodeContext(s.Clock)))
		}
	})
}
