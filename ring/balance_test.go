package ring

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// The targets of the placement algorithm at Q=1024, N=3 for every member
// count M in [3, 64]. Moves are measured as a multiple of the minimum: a
// join must move at least the newcomer's share 1/(M+1) of all
// placements, a leave the leaver's share 1/M.
const (
	maxLoadRatio = 1.15 // most placements (or first positions) on one member / mean
	maxMoveRatio = 1.25 // placements moved / the minimum
)

// row is what TestBalanceAndMoves measures for one member set.
type row struct {
	style      string
	m          int
	load, prim float64 // max / mean
	join, leav float64 // worst moved / minimum
}

// TestBalanceAndMoves checks balance and join/leave movement for every M
// from 3 to 64, with sequential names (n1..nM) and random-looking ones,
// joining 4 different names and removing each member in turn. It builds
// about 4,500 rings (~6 s on 2 cores); -short skips it.
func TestBalanceAndMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds ~4,500 rings (~6 s); the full run checks every member count 3..64")
	}
	var mu sync.Mutex
	var rows []row
	t.Run("group", func(t *testing.T) {
		for _, style := range []string{"seq", "rand"} {
			for m := 3; m <= 64; m++ {
				t.Run(fmt.Sprintf("%s/M=%d", style, m), func(t *testing.T) {
					t.Parallel()
					r := measure(t, style, m)
					mu.Lock()
					rows = append(rows, r)
					mu.Unlock()
				})
			}
		}
	})
	logTable(t, rows)
}

func measure(t *testing.T, style string, m int) row {
	cfg := Config{Partitions: 1024, N: 3}
	base, joiners := memberSet(style, m)
	a := mustNew(t, cfg, base)
	r := row{style: style, m: m}
	r.load, r.prim = loadRatios(a)
	if r.load > maxLoadRatio || r.prim > maxLoadRatio {
		t.Errorf("M=%d: max load %.3f, max first positions %.3f × mean; want <= %.2f", m, r.load, r.prim, maxLoadRatio)
	}
	total := float64(cfg.Partitions * cfg.N)
	for _, j := range joiners {
		b := mustNew(t, cfg, append(slices.Clone(base), j))
		ratio := float64(Moved(a, b)) / total * float64(m+1)
		r.join = max(r.join, ratio)
		if ratio > maxMoveRatio {
			t.Errorf("M=%d: %s joining moves %.3f × the minimum", m, j, ratio)
		}
	}
	for _, l := range base {
		b := mustNew(t, cfg, slices.DeleteFunc(slices.Clone(base), func(s string) bool { return s == l }))
		ratio := float64(Moved(a, b)) / total * float64(m)
		r.leav = max(r.leav, ratio)
		if ratio > maxMoveRatio {
			t.Errorf("M=%d: %s (%d placements) leaving moves %.3f × the minimum", m, l, a.Placements(l), ratio)
		}
	}
	return r
}

// memberSet returns m members and 4 names to join them.
func memberSet(style string, m int) (base, joiners []string) {
	if style == "seq" {
		names := seqNames(m + 1)
		return names[:m], append(names[m:], randNames(uint64(m), 3)...)
	}
	names := randNames(uint64(1000+m), m+4)
	return names[:m], names[m:]
}

// loadRatios returns the most placements and the most first positions on
// one member, each as a multiple of its mean.
func loadRatios(r *Ring) (load, prim float64) {
	m := len(r.Members())
	first := map[string]int{}
	maxLoad, maxFirst := 0, 0
	for p := range r.Config().Partitions {
		name := r.Preflist(p)[0]
		first[name]++
		maxFirst = max(maxFirst, first[name])
	}
	for _, name := range r.Members() {
		maxLoad = max(maxLoad, r.Placements(name))
	}
	q := float64(r.Config().Partitions)
	return float64(maxLoad) / (q * float64(r.n) / float64(m)), float64(maxFirst) / (q / float64(m))
}

// logTable logs the worst figures per range of M (go test -v shows it).
func logTable(t *testing.T, rows []row) {
	t.Log("M range   max load  max first  worst join  worst leave  (× mean / × minimum)")
	for lo := 3; lo <= 64; lo += 8 {
		hi := min(lo+7, 64)
		var w row
		for _, r := range rows {
			if r.m >= lo && r.m <= hi {
				w.load, w.prim = max(w.load, r.load), max(w.prim, r.prim)
				w.join, w.leav = max(w.join, r.join), max(w.leav, r.leav)
			}
		}
		t.Logf("%2d-%-2d     %.3f     %.3f      %.3f       %.3f", lo, hi, w.load, w.prim, w.join, w.leav)
	}
}
