package vclock

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// historySets returns a variety of valid sets: every state of some random
// histories, plus edge cases.
func historySets() []Set {
	sets := []Set{
		{},
		{Clock: VV{{actorA, 3}}},
		{Clock: VV{{math.MaxUint64, math.MaxUint64}}, Siblings: []Sibling{
			{Dot: Dot{math.MaxUint64, math.MaxUint64}, Value: bytes.Repeat([]byte{0xff}, 70000), ContentType: strings.Repeat("x", 300)},
		}},
	}
	for seed := range uint64(20) {
		h := newHistory(seed+3000, 3)
		for range 30 {
			h.step()
		}
		sets = append(sets, h.past...)
	}
	return sets
}

func TestMarshalRoundTrip(t *testing.T) {
	for i, s := range historySets() {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("set %d: MarshalBinary: %v", i, err)
		}
		if len(b) > s.Size() {
			t.Fatalf("set %d: encoded %d bytes, Size() = %d is not an upper bound", i, len(b), s.Size())
		}
		got, err := UnmarshalSet(b)
		if err != nil || !got.Equal(s) {
			t.Fatalf("set %d: round trip = %v, %v; want %v", i, got, err, s)
		}
		appended, err := s.AppendBinary([]byte("prefix"))
		if err != nil || !bytes.Equal(appended, append([]byte("prefix"), b...)) {
			t.Fatalf("set %d: AppendBinary differs from MarshalBinary: %v", i, err)
		}
	}
}

// TestMarshalGolden pins the wire format: stored values must stay readable.
func TestMarshalGolden(t *testing.T) {
	s := Set{
		Clock:    VV{{1, 2}, {0x1234, 1}},
		Siblings: []Sibling{{Dot: Dot{1, 2}, Value: []byte("hi"), ContentType: "t"}, {Dot: Dot{0x1234, 1}, Deleted: true}},
	}
	const want = "93" + "01" + // [version 1,
		"94" + "01" + "02" + "cd1234" + "01" + // [1, 2, 0x1234, 1],
		"9a" + "01" + "02" + "c2" + "a174" + "c4026869" + // [1, 2, false, "t", bin "hi",
		"cd1234" + "01" + "c3" + "a0" + "c400" // 0x1234, 1, true, "", bin ""]]
	b, err := s.MarshalBinary()
	if err != nil || hex.EncodeToString(b) != want {
		t.Fatalf("MarshalBinary = %x, %v; want %s", b, err, want)
	}
	// Any msgpack implementation can read it.
	var generic []any
	if err := msgpack.Unmarshal(b, &generic); err != nil || len(generic) != 3 {
		t.Fatalf("generic msgpack decode: %v, %v", generic, err)
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	bad := Set{Siblings: []Sibling{{Dot: Dot{actorA, 1}}}} // not covered
	if _, err := bad.MarshalBinary(); err == nil {
		t.Fatal("MarshalBinary accepted a set failing Validate")
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for _, tc := range []struct{ name, hex string }{
		{"empty", ""},
		{"not an array", "01"},
		{"nil", "c0"},
		{"two fields", "920190"},
		{"four fields", "9401909090"},
		{"version 2", "93029090"},
		{"version as string", "93a1319090"},
		{"trailing byte", "9301909000"},
		{"odd clock", "9301910190"},
		{"clock counter negative", "930192 01ff 90"},
		{"clock counter nil", "930192 01c0 90"},
		{"clock unsorted", "930194 0201 0101 90"},
		{"clock zero counter", "930192 0100 90"},
		{"siblings not multiple of 5", "9301920101 94 0101c2a0"},
		{"value as nil", "9301920101 95 0101c2a0c0"},
		{"value as str", "9301920101 95 0101c2a0a0"},
		{"content type as bin", "9301920101 95 0101c2c400c400"},
		{"deleted as int", "9301920101 95 010100a0c400"},
		{"sibling not covered", "9301920101 95 0102c2a0c400"},
		{"siblings duplicated", "9301920102 9a 0101c2a0c400 0101c2a0c400"},
		{"huge clock prefix", "9301dd7fffffff01"},
		{"huge siblings prefix", "9301 90 ddffffffff"},
		{"huge value prefix", "9301920101 95 0101c2a0 c6ffffffff00"},
		{"huge type prefix", "9301920101 95 0101c2 dbffffffff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(strings.ReplaceAll(tc.hex, " ", ""))
			if err != nil {
				t.Fatal(err)
			}
			var s Set
			if allocated := bytesAllocated(func() { s, err = UnmarshalSet(b) }); allocated > 1<<16 {
				t.Errorf("allocated %d bytes for %d input bytes", allocated, len(b))
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("UnmarshalSet(%s) = %v, %v; want ErrCorrupt", tc.hex, s, err)
			}
		})
	}
}

func bytesAllocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestUnmarshalDamage: every truncation is refused, and every single bit
// flip is refused or yields a valid set that round-trips.
func TestUnmarshalDamage(t *testing.T) {
	for _, s := range historySets()[3:40] {
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for n := range len(b) {
			if got, err := UnmarshalSet(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncation to %d of %d bytes accepted: %v", n, len(b), got)
			}
		}
		for bit := range 8 * len(b) {
			flipped := bytes.Clone(b)
			flipped[bit/8] ^= 1 << (bit % 8)
			checkDecoded(t, flipped)
		}
	}
}

// checkDecoded asserts the contract for arbitrary input: refused with
// ErrCorrupt, or valid and stable under re-encoding.
func checkDecoded(t *testing.T, b []byte) {
	t.Helper()
	s, err := UnmarshalSet(b)
	shared, serr := UnmarshalSetShared(b)
	if (err == nil) != (serr == nil) || !shared.Equal(s) {
		t.Fatalf("UnmarshalSetShared(%x) = %v, %v; UnmarshalSet gave %v, %v", b, shared, serr, s, err)
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("UnmarshalSet(%x): error %v does not wrap ErrCorrupt", b, err)
		}
		return
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("UnmarshalSet(%x) accepted an invalid set: %v", b, err)
	}
	again, err := s.MarshalBinary()
	if err != nil {
		t.Fatalf("re-encoding %v: %v", s, err)
	}
	if s2, err := UnmarshalSet(again); err != nil || !s2.Equal(s) {
		t.Fatalf("re-decoding %v: %v, %v", s, s2, err)
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	s := put(t, put(t, Set{}, nil, actorA, "one"), nil, actorB, "two")
	b, _ := s.MarshalBinary()
	got, err := UnmarshalSet(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	got.Siblings[0].Value = append(got.Siblings[0].Value, "!!"...)
	if string(got.Siblings[0].Value) != "one!!" || string(got.Siblings[1].Value) != "two" {
		t.Fatalf("decoded values alias the input or each other: %v", got)
	}
}

// TestUnmarshalSharedAliases pins down what UnmarshalSetShared's callers rely
// on and must guard against: values alias the input (so the input must never
// change while the set is in use: a change shows through), but appending to a
// value never writes into the input or a neighbouring value.
func TestUnmarshalSharedAliases(t *testing.T) {
	s := put(t, put(t, Set{}, nil, actorA, "one"), nil, actorB, "two")
	b, _ := s.MarshalBinary()
	got, err := UnmarshalSetShared(b)
	if err != nil || !got.Equal(s) {
		t.Fatalf("UnmarshalSetShared = %v, %v; want %v", got, err, s)
	}
	got.Siblings[0].Value = append(got.Siblings[0].Value, "!!"...)
	if string(got.Siblings[0].Value) != "one!!" || string(got.Siblings[1].Value) != "two" {
		t.Fatalf("append to a shared value wrote into its neighbour: %v", got)
	}
	if again, _ := s.MarshalBinary(); !bytes.Equal(again, b) {
		t.Fatal("append to a shared value wrote into the input")
	}
	i := bytes.Index(b, []byte("two"))
	b[i] = 'T'
	if string(got.Siblings[1].Value) != "Two" {
		t.Fatalf("shared value does not alias the input: %q", got.Siblings[1].Value)
	}
	merged := MergeShared(got, Set{})
	b[i] = 'W'
	if string(merged.Siblings[1].Value) != "Wwo" {
		t.Fatalf("MergeShared copied the values: %q", merged.Siblings[1].Value)
	}
}

func TestMergeSharedEqualsMerge(t *testing.T) {
	sets := historySets()
	for i := range sets {
		for j := range sets {
			if m, ms := Merge(sets[i], sets[j]), MergeShared(sets[i], sets[j]); !ms.Equal(m) {
				t.Fatalf("MergeShared(%d, %d) = %v; Merge gave %v", i, j, ms, m)
			}
		}
	}
}

func TestContextRoundTrip(t *testing.T) {
	quickCheck(t, func(g genVV) bool {
		v := VV(g)
		for i := range v { // spread actors over the whole range
			v[i].Actor = v[i].Actor<<60 | v[i].Actor
		}
		got, err := DecodeContext(EncodeContext(v))
		return err == nil && (len(v) == 0) == (EncodeContext(v) == "") && slices.Equal(got, v)
	})
}

func TestContextLimits(t *testing.T) {
	big := make(VV, MaxContextEntries)
	for i := range big {
		big[i] = Entry{Actor(math.MaxUint64 - uint64(len(big)-i)), MaxCounter}
	}
	enc := EncodeContext(big)
	if len(enc) > MaxContextLen {
		t.Fatalf("largest allowed context takes %d bytes, over MaxContextLen %d", len(enc), MaxContextLen)
	}
	if got, err := DecodeContext(enc); err != nil || len(got) != len(big) {
		t.Fatalf("largest allowed context refused: %v", err)
	}
	tooMany := append(big, Entry{math.MaxUint64, 1})
	if _, err := DecodeContext(EncodeContext(tooMany)); !errors.Is(err, ErrBadContext) {
		t.Fatalf("context of %d entries: err = %v", len(tooMany), err)
	}
}

// nonCanonical sets a padding bit in the last character of an unpadded
// base64url string whose length is not a multiple of 4: lenient decoders
// ignore it, so the same bytes get a second spelling.
func nonCanonical(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i|1])
}

func TestDecodeContextRejects(t *testing.T) {
	mp := func(h string) string {
		b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	valid := EncodeContext(VV{{actorA, 1}})
	for _, tc := range []struct{ name, ctx string }{
		{"not base64", "!!!!"},
		{"std alphabet", strings.ReplaceAll(mp("92cf ffffffffffffffff 01"), "_", "/")},
		{"padded", valid + "="},
		{"line break", valid[:4] + "\n" + valid[4:]},
		{"non-canonical tail bits", nonCanonical(valid)},
		{"not an array", mp("01")},
		{"map", mp("81 01 01")},
		{"odd length", mp("93 01 01 02")},
		{"trailing bytes", mp("92 01 01 00")},
		{"unsorted", mp("94 02 01 01 01")},
		{"duplicate", mp("94 01 01 01 02")},
		{"zero counter", mp("92 01 00")},
		{"zero actor", mp("92 00 01")},
		{"negative counter", mp("92 01 ff")},
		{"counter over MaxCounter", mp("92 01 cf 4000000000000001")},
		{"string actor", mp("92 a1 31 01")},
		{"truncated", mp("92 cf 0000")},
		{"huge prefix", mp("dd ffffffff 01 01")},
		{"too long", strings.Repeat("A", MaxContextLen+4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := DecodeContext(tc.ctx); !errors.Is(err, ErrBadContext) {
				t.Fatalf("DecodeContext(%q) = %v, %v; want ErrBadContext", tc.ctx, got, err)
			}
		})
	}
	if v, err := DecodeContext(""); v != nil || err != nil {
		t.Fatalf(`DecodeContext("") = %v, %v; want nil, nil`, v, err)
	}
}
