package store

import (
	"fmt"
	"testing"

	"github.com/dynkv/dynkv/vclock"
)

func TestHintsRoundTrip(t *testing.T) {
	s := openMem(t)
	v := func(a vclock.Actor, val string) vclock.Set {
		set, _ := vclock.Set{}.Update(nil, a, []byte(val), "", false)
		return set
	}
	for i := range 10 {
		if added, delta, err := s.PutHint("n2", i%3, fmt.Appendf(nil, "k%d", i), v(1, "x")); err != nil || !added || delta <= 0 {
			t.Fatalf("put: %v %v %d", added, err, delta)
		}
	}
	if added, _, err := s.PutHint("n2", 0, []byte("k0"), v(2, "y")); err != nil || added {
		t.Fatalf("merge into an existing hint: added=%v %v", added, err)
	}
	s.PutHint("n22", 0, []byte("k0"), v(1, "other target")) // a name sharing a prefix
	if got, found, _ := s.GetHint("n2", 0, []byte("k0")); !found || len(got.Siblings) != 2 {
		t.Fatalf("merged hint: %v %+v", found, got)
	}
	// Scan in pages of 4: every hint of n2 exactly once, none of n22.
	var seen []string
	var cursor []byte
	for {
		page, next, err := s.ScanHints("n2", cursor, 4, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, h := range page {
			if h.Target != "n2" {
				t.Fatalf("scan of n2 returned %s", h.Target)
			}
			seen = append(seen, fmt.Sprintf("%d/%s", h.Partition, h.Key))
		}
		cursor = next
	}
	if len(seen) != 10 {
		t.Fatalf("scanned %v", seen)
	}
	totals, err := s.HintTotals()
	if err != nil || totals["n2"].Count != 10 || totals["n22"].Count != 1 {
		t.Fatalf("totals %+v %v", totals, err)
	}
	page, _, _ := s.ScanHints("n2", nil, 1, 1<<20)
	s.PutHint("n2", page[0].Partition, page[0].Key, v(3, "newer"))
	if deleted, _, err := s.DeleteHint(page[0]); err != nil || deleted {
		t.Fatalf("deleted a hint that changed since it was read: %v %v", deleted, err)
	}
	page, _, _ = s.ScanHints("n2", nil, 1, 1<<20)
	if deleted, freed, err := s.DeleteHint(page[0]); err != nil || !deleted || freed <= 0 {
		t.Fatalf("delete: %v %d %v", deleted, freed, err)
	}
}
