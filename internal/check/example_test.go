package check_test

import (
	"fmt"
	"time"

	"github.com/dynkv/dynkv/internal/check"
)

// A harness records each add with its outcome, decodes what the key's
// siblings hold at the end, and asks CheckSet for the verdict.
func ExampleCheckSet() {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	ops := []check.SetOp{
		{Key: "k", Element: "a", Outcome: check.OK, Start: ms(0), End: ms(5)},
		{Key: "k", Element: "b", Outcome: check.OK, Start: ms(1), End: ms(6)},
		{Key: "k", Element: "c", Outcome: check.Unknown, Start: ms(2)},
	}
	// Two siblings, as two clients wrote them concurrently.
	siblings := [][]byte{check.EncodeElements([]string{"a", "c"}), check.EncodeElements([]string{"c"})}
	final, err := check.UnionSiblings(siblings)
	if err != nil {
		panic(err)
	}
	reads := []check.SetRead{{Key: "k", Time: ms(7), Elements: []string{"a"}}, {Key: "k", Time: ms(9), Elements: []string{"a", "c"}}}
	fmt.Println(check.CheckSet(ops, reads, map[string][]string{"k": final}))
	// Output:
	// set INVALID: attempted=3 acked=2 unknown=1 failed=0 recovered=1 lost=1 [k/b] unexpected=0 stable(n=1) p50=2ms p99=2ms max=2ms
}

// The X-Dynkv-Replicas receipt of each answer feeds CheckQuorum.
func ExampleCheckQuorum() {
	acked, primaries, fallbacks, err := check.ParseReceipt("acked=3; primaries=2; fallbacks=1")
	if err != nil {
		panic(err)
	}
	op := check.QuorumOp{Write: true, W: 2, PW: 3, Outcome: check.OK, Acked: acked, Primaries: primaries, Fallbacks: fallbacks}
	fmt.Println(check.CheckQuorum([]check.QuorumOp{op}))
	// Output:
	// quorum INVALID: ops=1 violations=1 [op 0 (write w=2 pw=3, OK): succeeded with primaries=2 < pw=3 (fallbacks do not count) (acked=3 primaries=2 fallbacks=1)]
}
