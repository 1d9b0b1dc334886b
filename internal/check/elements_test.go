package check

import (
	"errors"
	"slices"
	"testing"

	"github.com/dynkv/dynkv/vclock"
)

func TestEncodeElements(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{}, ""},
		{[]string{""}, "\n"},
		{[]string{"b", "a", "b"}, "a\nb\n"},
		{[]string{"x", "", "x"}, "\nx\n"},
		{[]string{"line\nbreak", `back\slash`, `\n`}, "\\\\n\nback\\\\slash\nline\\nbreak\n"},
		{[]string{"tab\t", "cr\r", "nul\x00", "\xff"}, "cr\r\nnul\x00\ntab\t\n\xff\n"},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		got := EncodeElements(tc.in)
		if string(got) != tc.want {
			t.Errorf("EncodeElements(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got == nil {
			t.Errorf("EncodeElements(%q) = nil", tc.in)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("EncodeElements modified its argument: %q, was %q", tc.in, in)
		}
		dec, err := DecodeElements(got)
		want := slices.Compact(slices.Sorted(slices.Values(tc.in)))
		if len(want) == 0 {
			want = nil
		}
		if err != nil || !slices.Equal(dec, want) {
			t.Errorf("DecodeElements(%q) = %q, %v; want %q", got, dec, err, want)
		}
	}
}

func TestDecodeElementsRefuses(t *testing.T) {
	for _, in := range []string{
		"a",          // no final newline: truncated
		"a\nb",       // same, later
		"b\na\n",     // unsorted
		"a\na\n",     // repeated
		"\n\n",       // the empty element twice
		"a\\\n",      // lone backslash at the end of an element
		"a\\",        // lone backslash at the end of the value
		"a\\t\n",     // unknown escape
		"a\nb\na\n",  // two values concatenated
		"x\n\\q\n",   // unknown escape in a later element
		"\\n\n\n",    // "\n" then "": sorts backwards
		"\\\\\n\\\n", // `\` then a lone backslash
	} {
		got, err := DecodeElements([]byte(in))
		if err == nil || !errors.Is(err, ErrBadElements) || got != nil {
			t.Errorf("DecodeElements(%q) = %q, %v; want an ErrBadElements error", in, got, err)
		}
	}
}

func TestUnionSiblings(t *testing.T) {
	got, err := UnionSiblings([][]byte{EncodeElements([]string{"c", "a"}), nil, {}, EncodeElements([]string{"b", "a"})})
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("UnionSiblings = %q, %v", got, err)
	}
	if got, err := UnionSiblings(nil); got != nil || err != nil {
		t.Errorf("UnionSiblings(nil) = %q, %v", got, err)
	}
	if got, err := UnionSiblings([][]byte{{}, nil}); got != nil || err != nil {
		t.Errorf("UnionSiblings(empty values) = %q, %v", got, err)
	}
	_, err = UnionSiblings([][]byte{EncodeElements([]string{"a"}), []byte("b\na\n")})
	if !errors.Is(err, ErrBadElements) || err.Error() != "sibling 1: check: not a canonical element list: element 2 \"a\" sorts before \"b\"" {
		t.Errorf("UnionSiblings(bad) error = %v", err)
	}
}

func TestSetElements(t *testing.T) {
	if got, err := SetElements(nil); got != nil || err != nil {
		t.Errorf("SetElements(nil) = %q, %v", got, err)
	}
	var s vclock.Set
	s, _ = s.Update(nil, 1, EncodeElements([]string{"a", "b"}), "", false)
	s, _ = s.Update(nil, 2, EncodeElements([]string{"b", "c"}), "", false) // concurrent: a sibling
	s, _ = s.Update(nil, 3, []byte("not\ncanonical"), "", true)            // a tombstone: ignored
	got, err := SetElements(&s)
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) || len(s.Siblings) != 3 {
		t.Errorf("SetElements = %q, %v (siblings %d)", got, err, len(s.Siblings))
	}
}
