package client

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseReceipt(t *testing.T) {
	tests := []struct {
		in   string
		want Receipt
	}{
		{"acked=2; primaries=2; fallbacks=0", Receipt{Acked: 2, Primaries: 2}},
		{"replied=2; primaries=1; fallbacks=1; siblings=3; repaired=1",
			Receipt{Replied: 2, Primaries: 1, Fallbacks: 1, Siblings: 3, Repaired: 1}},
		{"fallbacks=1;acked=3;primaries=2", Receipt{Acked: 3, Primaries: 2, Fallbacks: 1}},
		{"  acked = 2 ;  primaries=2 ; ", Receipt{Acked: 2, Primaries: 2}},
		{"ACKED=1", Receipt{Acked: 1}},
		{"acked=2; future_field=9", Receipt{Acked: 2}},
		{"", Receipt{}},
		{"garbage", Receipt{}},
		{"acked=two", Receipt{}},
		{"acked=-1", Receipt{}},
		{"acked=1; acked=2", Receipt{}},
		{"=3", Receipt{}},
		{"acked=99999999999999999999999", Receipt{}},
		{"acked=2, primaries=2", Receipt{}},
	}
	for _, tt := range tests {
		if got := parseReceipt(tt.in); got != tt.want {
			t.Errorf("parseReceipt(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestReceiptString(t *testing.T) {
	w := Receipt{Acked: 2, Primaries: 2}
	if got, want := w.String(), "acked=2; primaries=2; fallbacks=0"; got != want {
		t.Errorf("write receipt = %q, want %q", got, want)
	}
	r := Receipt{Replied: 2, Primaries: 2, Siblings: 1}
	if got, want := r.String(), "replied=2; primaries=2; fallbacks=0; siblings=1; repaired=0"; got != want {
		t.Errorf("read receipt = %q, want %q", got, want)
	}
	for _, rc := range []Receipt{w, r} {
		if back := parseReceipt(rc.String()); back != rc {
			t.Errorf("round trip of %+v gave %+v", rc, back)
		}
	}
}

// fullHeader writes every field, for round-trip properties.
func fullHeader(r Receipt) string {
	return fmt.Sprintf("replied=%d; acked=%d; primaries=%d; fallbacks=%d; siblings=%d; repaired=%d",
		r.Replied, r.Acked, r.Primaries, r.Fallbacks, r.Siblings, r.Repaired)
}

func FuzzParseReceipt(f *testing.F) {
	f.Add("acked=2; primaries=2; fallbacks=0")
	f.Add("replied=2; primaries=2; fallbacks=0; siblings=1; repaired=0")
	f.Add(" siblings = 4 ;; replied=1")
	f.Add("acked=; x")
	f.Fuzz(func(t *testing.T, h string) {
		r := parseReceipt(h)
		for _, n := range []int{r.Replied, r.Acked, r.Primaries, r.Fallbacks, r.Siblings, r.Repaired} {
			if n < 0 {
				t.Fatalf("parseReceipt(%q) = %+v: negative field", h, r)
			}
		}
		if back := parseReceipt(fullHeader(r)); back != r {
			t.Fatalf("parseReceipt(%q) = %+v, but its header parses as %+v", h, r, back)
		}
		// Order must not matter.
		parts := strings.Split(h, ";")
		slices.Reverse(parts)
		if rev := parseReceipt(strings.Join(parts, ";")); rev != r {
			t.Fatalf("parseReceipt(%q) = %+v, reversed gives %+v", h, r, rev)
		}
	})
}
