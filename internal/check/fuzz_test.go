package check

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzDecodeElements: values come back from a store under fault injection,
// so anything may arrive. DecodeElements must not panic, must accept exactly
// what EncodeElements produces (so it re-encodes to the same bytes), and
// EncodeElements must round-trip any list of strings.
func FuzzDecodeElements(f *testing.F) {
	for _, s := range []string{
		"", "\n", "a\n", "a\nb\n", "a\nb", "b\na\n", "a\na\n", "\\n\n", "\\\\\n", "a\\", "a\\t\n",
		"x\\ny\n", "\x00\n\xff\n", "\r\n", "a\n\n", "line\\nbreak\nz\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		elems, err := DecodeElements(b)
		if err != nil {
			if !errors.Is(err, ErrBadElements) || elems != nil {
				t.Fatalf("DecodeElements(%q) = %q, %v", b, elems, err)
			}
		} else {
			if !slices.IsSorted(elems) || len(slices.Compact(slices.Clone(elems))) != len(elems) {
				t.Fatalf("DecodeElements(%q) = %q: not sorted and distinct", b, elems)
			}
			if again := EncodeElements(elems); !bytes.Equal(again, b) {
				t.Fatalf("DecodeElements(%q) = %q, which encodes to %q", b, elems, again)
			}
		}
		// The input read as a list of arbitrary strings (split on '|') must
		// survive encoding, whatever bytes they hold.
		list := strings.Split(string(b), "|")
		got, err := DecodeElements(EncodeElements(list))
		want := slices.Compact(slices.Sorted(slices.Values(list)))
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("round trip of %q = %q, %v; want %q", list, got, err, want)
		}
	})
}

// FuzzParseReceipt: receipts come from nodes under test. ParseReceipt must
// not panic, must return only non-negative counts, and what it accepts must
// survive formatting and parsing again.
func FuzzParseReceipt(f *testing.F) {
	for _, s := range []string{
		"acked=2; primaries=2; fallbacks=0",
		"replied=2; primaries=2; fallbacks=0; siblings=1; repaired=0",
		"replied=3; primaries=1; fallbacks=2; siblings=12; repaired=2; extra=yes",
		" acked = 1 ;; primaries=0;fallbacks=1;",
		"acked=2; acked=2; primaries=2; fallbacks=0",
		"acked=-1; primaries=0; fallbacks=0",
		"acked=99999999999999999999; primaries=0; fallbacks=0",
		"acked 2", "", ";", "=", "acked==2; primaries=2; fallbacks=0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r, err := ParseReceiptFull(header)
		a, p, fb, err2 := ParseReceipt(header)
		if (err == nil) != (err2 == nil) || a != r.Acked || p != r.Primaries || fb != r.Fallbacks {
			t.Fatalf("ParseReceipt(%q) = %d %d %d %v, ParseReceiptFull = %+v %v", header, a, p, fb, err2, r, err)
		}
		if err != nil {
			if !errors.Is(err, ErrBadReceipt) || r != (Receipt{}) {
				t.Fatalf("ParseReceiptFull(%q) = %+v, %v", header, r, err)
			}
			return
		}
		if r.Acked < 0 || r.Primaries < 0 || r.Fallbacks < 0 || r.Siblings < 0 || r.Repaired < 0 {
			t.Fatalf("ParseReceiptFull(%q) = %+v: negative count", header, r)
		}
		again, err := ParseReceiptFull(r.String())
		if !r.Read {
			r.Siblings, r.Repaired = 0, 0 // not part of a write's receipt
		}
		if err != nil || again != r {
			t.Fatalf("ParseReceiptFull(%q) = %+v, formats as %q, parses as %+v, %v", header, r, r.String(), again, err)
		}
	})
}
