package check

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheckQuorum(t *testing.T) {
	w := func(wq, pw int, o Outcome, acked, prim, fb int) QuorumOp {
		return QuorumOp{Write: true, W: wq, PW: pw, Outcome: o, Acked: acked, Primaries: prim, Fallbacks: fb}
	}
	r := func(rq, pr int, o Outcome, replied, prim, fb int) QuorumOp {
		return QuorumOp{R: rq, PR: pr, Outcome: o, Acked: replied, Primaries: prim, Fallbacks: fb}
	}
	withN := func(op QuorumOp, n, down int) QuorumOp { op.N, op.PrimariesDown = n, down; return op }
	tests := []struct {
		name       string
		ops        []QuorumOp
		violations []string // exact, in order
	}{
		{name: "nothing"},
		{
			name: "quorums met",
			ops: []QuorumOp{
				w(2, 0, OK, 2, 2, 0), w(3, 0, OK, 3, 2, 1), w(0, 0, OK, 1, 0, 1), w(2, 2, OK, 3, 2, 1),
				r(2, 0, OK, 2, 1, 1), r(3, 3, OK, 3, 3, 0), r(0, 1, OK, 2, 1, 1),
			},
		},
		{
			name:       "write acked below w",
			ops:        []QuorumOp{w(2, 0, OK, 2, 2, 0), w(3, 0, OK, 2, 2, 0)},
			violations: []string{"op 1 (write w=3, OK): succeeded with acked=2 < w=3 (acked=2 primaries=2 fallbacks=0)"},
		},
		{
			name:       "read replied below r",
			ops:        []QuorumOp{r(2, 0, OK, 1, 1, 0)},
			violations: []string{"op 0 (read r=2, OK): succeeded with replied=1 < r=2 (replied=1 primaries=1 fallbacks=0)"},
		},
		{
			name: "fallbacks counted toward pw and pr",
			ops:  []QuorumOp{w(0, 3, OK, 3, 2, 1), r(2, 2, OK, 2, 1, 1)},
			violations: []string{
				"op 0 (write pw=3, OK): succeeded with primaries=2 < pw=3 (fallbacks do not count) (acked=3 primaries=2 fallbacks=1)",
				"op 1 (read r=2 pr=2, OK): succeeded with primaries=1 < pr=2 (fallbacks do not count) (replied=2 primaries=1 fallbacks=1)",
			},
		},
		{
			name: "receipt does not add up",
			ops:  []QuorumOp{w(2, 0, OK, 2, 2, 1), r(1, 0, OK, 1, -1, 2)},
			violations: []string{
				"op 0 (write w=2, OK): receipt does not add up: primaries + fallbacks must equal acked, none negative (acked=2 primaries=2 fallbacks=1)",
				"op 1 (read r=1, OK): receipt does not add up: primaries + fallbacks must equal replied, none negative (replied=1 primaries=-1 fallbacks=2)",
			},
		},
		{
			name:       "success with nobody answering, default quorum",
			ops:        []QuorumOp{w(0, 0, OK, 0, 0, 0)},
			violations: []string{"op 0 (write, OK): succeeded with no replica answering (acked=0 primaries=0 fallbacks=0)"},
		},
		{
			name: "failures and timeouts without a receipt are fine",
			ops:  []QuorumOp{w(2, 0, Failed, 0, 0, 0), w(2, 3, Failed, 3, 2, 1), r(3, 0, Failed, 2, 2, 0), w(2, 0, Unknown, 0, 0, 0), r(1, 0, Unknown, 5, 0, 0)},
		},
		{
			name: "failed although the quorum was met",
			ops:  []QuorumOp{w(2, 0, Failed, 2, 1, 1), r(2, 2, Failed, 3, 2, 1), w(0, 0, Failed, 3, 3, 0), w(2, 0, Failed, 2, 2, 1)},
			violations: []string{
				"op 0 (write w=2, Failed): failed although its receipt meets the quorum it asked for (acked=2 primaries=1 fallbacks=1)",
				"op 1 (read r=2 pr=2, Failed): failed although its receipt meets the quorum it asked for (replied=3 primaries=2 fallbacks=1)",
			},
		},
		{
			name: "with n known",
			ops: []QuorumOp{
				withN(w(2, 0, OK, 2, 2, 0), 3, 1), withN(w(3, 0, OK, 3, 2, 1), 3, 1),
				withN(w(4, 0, OK, 4, 2, 2), 3, 0),
				withN(w(2, 0, OK, 3, 3, 0), 3, 1),
				withN(r(0, 4, Failed, 4, 4, 0), 3, 0), withN(w(4, 0, Failed, 4, 3, 1), 3, 0),
			},
			violations: []string{
				"op 2 (write w=4 n=3, OK): succeeded although it asked for more than n=3 replicas (must be refused with 400) (acked=4 primaries=2 fallbacks=2)",
				"op 3 (write w=2 n=3, OK): claims primaries=3 but at most 2 of n=3 primaries were reachable (acked=3 primaries=3 fallbacks=0)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := CheckQuorum(tc.ops)
			if res.Ops != len(tc.ops) || res.Valid != (len(tc.violations) == 0) || strings.Join(res.Violations, "\n") != strings.Join(tc.violations, "\n") {
				t.Errorf("got %d ops valid=%v violations:\n%s\nwant:\n%s", res.Ops, res.Valid, strings.Join(res.Violations, "\n"), strings.Join(tc.violations, "\n"))
			}
			want := fmt.Sprintf("quorum %s: ops=%d violations=%d", verdict(res.Valid), len(tc.ops), len(tc.violations))
			if s := res.String(); !strings.HasPrefix(s, want) || (len(tc.violations) > 0 && !strings.Contains(s, tc.violations[0])) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

func TestParseReceipt(t *testing.T) {
	tests := []struct {
		header string
		want   Receipt
	}{
		{"acked=2; primaries=2; fallbacks=0", Receipt{Acked: 2, Primaries: 2}},
		{"replied=3; primaries=2; fallbacks=1; siblings=2; repaired=1", Receipt{Read: true, Acked: 3, Primaries: 2, Fallbacks: 1, Siblings: 2, Repaired: 1}},
		{"  fallbacks = 1 ;acked=1;primaries=0;  ", Receipt{Acked: 1, Fallbacks: 1}},
		{"acked=2; primaries=2; fallbacks=0; hinted=x; future-field=", Receipt{Acked: 2, Primaries: 2}},
		{"replied=0; primaries=0; fallbacks=0", Receipt{Read: true}},
		{"acked=007;;primaries=7;fallbacks=0", Receipt{Acked: 7, Primaries: 7}},
	}
	for _, tc := range tests {
		got, err := ParseReceiptFull(tc.header)
		if err != nil || got != tc.want {
			t.Errorf("ParseReceiptFull(%q) = %+v, %v; want %+v", tc.header, got, err, tc.want)
		}
		a, p, f, err := ParseReceipt(tc.header)
		if err != nil || a != tc.want.Acked || p != tc.want.Primaries || f != tc.want.Fallbacks {
			t.Errorf("ParseReceipt(%q) = %d, %d, %d, %v", tc.header, a, p, f, err)
		}
	}
	for _, h := range []string{
		"",
		";",
		"primaries=2; fallbacks=0",
		"acked=2; fallbacks=0",
		"acked=2; primaries=2",
		"acked=2; replied=2; primaries=2; fallbacks=0",
		"acked=2; acked=2; primaries=2; fallbacks=0",
		"acked=-1; primaries=0; fallbacks=0",
		"acked=+1; primaries=1; fallbacks=0",
		"acked=; primaries=0; fallbacks=0",
		"acked=1x; primaries=1; fallbacks=0",
		"acked=1 2; primaries=1; fallbacks=0",
		"acked=99999999999999999999; primaries=1; fallbacks=0",
		"acked 2; primaries=2; fallbacks=0",
		"acked=2, primaries=2, fallbacks=0",
		"replied=2; primaries=2; fallbacks=0; siblings=-1",
	} {
		if r, err := ParseReceiptFull(h); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("ParseReceiptFull(%q) = %+v, %v; want an ErrBadReceipt error", h, r, err)
		}
		if a, p, f, err := ParseReceipt(h); err == nil || a != 0 || p != 0 || f != 0 {
			t.Errorf("ParseReceipt(%q) = %d, %d, %d, %v; want an error", h, a, p, f, err)
		}
	}
	for _, r := range []Receipt{{Acked: 3, Primaries: 2, Fallbacks: 1}, {Read: true, Acked: 2, Primaries: 1, Fallbacks: 1, Siblings: 3, Repaired: 1}} {
		if got, err := ParseReceiptFull(r.String()); err != nil || got != r {
			t.Errorf("ParseReceiptFull(%q) = %+v, %v", r, got, err)
		}
	}
}

// fakeCoordinator answers requests for a key whose preference list is three
// primaries followed by fallbacks, some of them down. It sends each request to
// the first n reachable nodes (a sloppy quorum: fallbacks stand in for down
// primaries), all of which answer, and decides success from the counts.
type fakeCoordinator struct {
	n    int
	up   []bool // per node in preference order; the first n are primaries
	bugs struct {
		fallbacksArePrimaries bool // the decision counts every answer toward pw/pr
		receiptLies           bool // and so does the receipt
	}
}

// do returns the HTTP status and X-Dynkv-Replicas header for a request asking
// for q answers of which pq from primaries.
func (c fakeCoordinator) do(write bool, q, pq int) (int, string) {
	if q > c.n || pq > c.n {
		return 400, ""
	}
	var primaries, fallbacks int
	for i, up := range c.up {
		if up && primaries+fallbacks < c.n {
			if i < c.n {
				primaries++
			} else {
				fallbacks++
			}
		}
	}
	answered := primaries + fallbacks
	counted := primaries
	if c.bugs.fallbacksArePrimaries {
		counted = answered
	}
	status := 200
	if write {
		status = 204
	}
	if answered < max(q, 1) || counted < pq {
		status = 503
	}
	if c.bugs.receiptLies {
		primaries, fallbacks = counted, answered-counted
	}
	r := Receipt{Read: !write, Acked: answered, Primaries: primaries, Fallbacks: fallbacks, Siblings: 1}
	return status, r.String()
}

// pr_pw workload (Riak pr_pw): one primary down, requests at pw/pr=all and
// at quorum. The harness turns each answer into a QuorumOp through
// ParseReceipt, and knows from its fault schedule that one primary is down.
func runQuorum(t *testing.T, c fakeCoordinator, knowN bool) []QuorumOp {
	t.Helper()
	var ops []QuorumOp
	for _, req := range []struct {
		write    bool
		q, pq    int
		wantFail bool // what a correct coordinator does with one primary down
	}{
		{true, 2, 0, false}, {true, 3, 0, false}, {true, 0, 3, true}, {true, 3, 3, true}, {true, 2, 2, false},
		{false, 2, 0, false}, {false, 0, 3, true}, {false, 3, 2, false}, {false, 3, 3, true},
	} {
		status, header := c.do(req.write, req.q, req.pq)
		op := QuorumOp{Write: req.write}
		if req.write {
			op.W, op.PW = req.q, req.pq
		} else {
			op.R, op.PR = req.q, req.pq
		}
		switch status {
		case 200, 204:
			op.Outcome = OK
		case 400, 503:
			op.Outcome = Failed
		default:
			op.Outcome = Unknown
		}
		if header != "" {
			var err error
			if op.Acked, op.Primaries, op.Fallbacks, err = ParseReceipt(header); err != nil {
				t.Fatal(err)
			}
		}
		if knowN {
			op.N, op.PrimariesDown = c.n, 1
		}
		ops = append(ops, op)
	}
	return ops
}

func TestCheckQuorumCatchesFallbacksCountedAsPrimaries(t *testing.T) {
	c := fakeCoordinator{n: 3, up: []bool{true, false, true, true, true}} // primary 2 down; fallbacks 4 and 5 up
	if r := CheckQuorum(runQuorum(t, c, true)); !r.Valid || r.Ops != 9 {
		t.Fatalf("correct coordinator: %v", r)
	}
	healthy := fakeCoordinator{n: 3, up: []bool{true, true, true, true}}
	healthy.bugs.fallbacksArePrimaries = true // harmless while every primary answers
	ops := runQuorum(t, healthy, false)
	for _, op := range ops {
		if op.Outcome != OK {
			t.Fatalf("healthy cluster failed %+v", op)
		}
	}
	if r := CheckQuorum(ops); !r.Valid {
		t.Fatalf("healthy cluster: %v", r)
	}

	// The decision counts fallbacks toward pw/pr, the receipt is honest:
	// the receipt alone convicts every pw=3 / pr=3 success.
	c.bugs.fallbacksArePrimaries = true
	r := CheckQuorum(runQuorum(t, c, false))
	want := []string{
		"op 2 (write pw=3, OK): succeeded with primaries=2 < pw=3 (fallbacks do not count) (acked=3 primaries=2 fallbacks=1)",
		"op 3 (write w=3 pw=3, OK): succeeded with primaries=2 < pw=3 (fallbacks do not count) (acked=3 primaries=2 fallbacks=1)",
		"op 6 (read pr=3, OK): succeeded with primaries=2 < pr=3 (fallbacks do not count) (replied=3 primaries=2 fallbacks=1)",
		"op 8 (read r=3 pr=3, OK): succeeded with primaries=2 < pr=3 (fallbacks do not count) (replied=3 primaries=2 fallbacks=1)",
	}
	if r.Valid || strings.Join(r.Violations, "\n") != strings.Join(want, "\n") {
		t.Errorf("counting bug: got\n%s\nwant\n%s", strings.Join(r.Violations, "\n"), strings.Join(want, "\n"))
	}

	// The receipt repeats the miscount: it adds up and meets pw, so only
	// the harness's knowledge of which primaries were down convicts it.
	c.bugs.receiptLies = true
	if r := CheckQuorum(runQuorum(t, c, false)); !r.Valid {
		t.Errorf("a consistent lie is invisible without N: %v", r)
	}
	r = CheckQuorum(runQuorum(t, c, true))
	if r.Valid || len(r.Violations) != 9 {
		t.Errorf("lying receipt: %v, want all 9 ops convicted", r)
	}
	for _, v := range r.Violations {
		if !strings.Contains(v, "claims primaries=3 but at most 2 of n=3 primaries were reachable") {
			t.Errorf("violation %q", v)
		}
	}
}
