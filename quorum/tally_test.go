package quorum

import "testing"

// TestTallyExhaustive checks the tally against a direct count for every
// split of up to 5 replicas into primaries/fallbacks, successes, failures
// and pending, and every pair of thresholds.
func TestTallyExhaustive(t *testing.T) {
	for n := 1; n <= 5; n++ {
		for prim := 0; prim <= n; prim++ {
			for need := 0; need <= n+1; need++ {
				for needP := 0; needP <= prim+1; needP++ {
					checkAllOutcomes(t, n, prim, need, needP)
				}
			}
		}
	}
}

// outcome of one replica: 0 pending, 1 ok, 2 failed.
func checkAllOutcomes(t *testing.T, n, prim, need, needP int) {
	total := 1
	for range n {
		total *= 3
	}
	for code := range total {
		tl := newTally(need, needP)
		okAll, okP, pendAll, pendP := 0, 0, 0, 0
		c := code
		for i := range n {
			primary := i < prim
			tl.start(primary)
			switch c % 3 {
			case 0:
				pendAll++
				if primary {
					pendP++
				}
			case 1:
				tl.done(primary, true)
				okAll++
				if primary {
					okP++
				}
			case 2:
				tl.done(primary, false)
			}
			c /= 3
		}
		wantMet := okAll >= need && okP >= needP
		wantImpossible := okAll+pendAll < need || okP+pendP < needP
		if tl.met() != wantMet || tl.impossible() != wantImpossible {
			t.Fatalf("n=%d prim=%d need=%d/%d code=%d: met=%v impossible=%v, want %v %v",
				n, prim, need, needP, code, tl.met(), tl.impossible(), wantMet, wantImpossible)
		}
		if wantMet && wantImpossible {
			t.Fatalf("met and impossible at once")
		}
		if !wantMet {
			primary, needed, got := tl.shortfall()
			if primary && (okP >= needP || okAll < need) || !primary && okAll >= need {
				t.Fatalf("shortfall names the wrong threshold: primary=%v %d/%d", primary, got, needed)
			}
		}
	}
}
