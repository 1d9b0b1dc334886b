package node

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestTopK checks the bounded table against a naive one: it never holds
// more than k rows, every row it holds has the key's latest score, and
// while scores only grow (keys gain siblings) it holds exactly the k
// highest.
func TestTopK(t *testing.T) {
	score := func(r ConflictRow) int { return r.Siblings }
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		const k = 16
		tk := newTopK(k, score)
		latest := map[string]int{}
		grow := seed%2 == 0
		for range 3000 {
			key := fmt.Sprintf("k%d", rng.IntN(200))
			s := rng.IntN(1000)
			if grow {
				s = latest[key] + rng.IntN(5)
			}
			keep := s > 0
			latest[key] = s
			tk.offer(ConflictRow{Key: key, Siblings: s}, keep)
			if len(tk.rows) > k {
				t.Fatalf("seed %d: %d rows, k=%d", seed, len(tk.rows), k)
			}
		}
		for key, r := range tk.rows {
			if r.Siblings != latest[key] {
				t.Fatalf("seed %d: %s held with %d, latest %d", seed, key, r.Siblings, latest[key])
			}
		}
		if !grow {
			continue
		}
		var all []int
		for _, s := range latest {
			if s > 0 {
				all = append(all, s)
			}
		}
		slices.Sort(all)
		slices.Reverse(all)
		var held []int
		for _, r := range tk.top(k) {
			held = append(held, r.Siblings)
		}
		if want := all[:min(k, len(all))]; !slices.Equal(held, want) {
			t.Fatalf("seed %d: top %v, want %v", seed, held, want)
		}
	}
}

// TestMaxSiblings: a write that would leave more than --max-siblings
// siblings is refused with 409, whether it reaches the key's replica
// directly or is forwarded to it, and nothing is stored; writing back with
// the read's context resolves the key; writes above --sibling-warning are
// counted and the key is listed by /admin/conflicts.
func TestMaxSiblings(t *testing.T) {
	c := startCluster(t, 2, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.Limits.MaxSiblings, cfg.Limits.SiblingWarning = 3, 2
	})
	// A key whose only replica is n2: written at n2 directly and at n1,
	// which forwards it.
	key := ""
	for i := 0; key == ""; i++ {
		if k := fmt.Sprintf("key%d", i); c.preflistHas(k, "n2") {
			key = k
		}
	}
	for i := range 3 {
		mustStatus(t, "concurrent write", c.put(i%2, key, "", fmt.Sprint("v", i), emptyContext), http.StatusNoContent)
	}
	for _, at := range []int{1, 0} {
		r := c.put(at, key, "", "one too many", emptyContext)
		mustStatus(t, fmt.Sprintf("4th sibling at n%d", at+1), r, http.StatusConflict)
		m := r.json(t)
		if m["error"] != "too many siblings" || m["siblings"] != 4.0 || m["max_siblings"] != 3.0 || m["detail"] == nil {
			t.Fatalf("409 body: %v", m)
		}
	}
	st, ctx, vals := c.get(0, key, "")
	if st != http.StatusMultipleChoices || len(vals) != 3 {
		t.Fatalf("after the refused writes: %d %v, want the 3 siblings", st, vals)
	}
	if w := c.nodes[1].SiblingWarnings(); w != 1 {
		t.Fatalf("n2 counted %d writes above the warning level, want 1", w)
	}
	fams := c.scrape(1, nil)
	if w := mustMetric(t, fams, "dynkv_sibling_warnings_total", nil); w != 1 {
		t.Fatalf("dynkv_sibling_warnings_total = %v, want 1", w)
	}
	if k := mustMetric(t, fams, "dynkv_keys_over_sibling_warning", nil); k != 1 {
		t.Fatalf("dynkv_keys_over_sibling_warning = %v, want 1", k)
	}
	r := c.do(1, http.MethodGet, "/admin/conflicts?limit=5", nil, nil)
	mustStatus(t, "conflicts", r, http.StatusOK)
	most := r.json(t)["most_siblings"].([]any)
	if len(most) != 1 || most[0].(map[string]any)["key"] != key || most[0].(map[string]any)["siblings"] != 3.0 {
		t.Fatalf("most_siblings: %v", most)
	}
	mustStatus(t, "resolving write", c.put(0, key, "", "merged", ctx), http.StatusNoContent)
	if st, _, vals := c.get(1, key, ""); st != http.StatusOK || !slices.Equal(vals, []string{"merged"}) {
		t.Fatalf("after resolving: %d %v", st, vals)
	}
	r = c.do(1, http.MethodGet, "/admin/conflicts", nil, nil)
	if most := r.json(t)["most_siblings"].([]any); len(most) != 0 {
		t.Fatalf("resolved key still listed: %v", most)
	}
	if k := mustMetric(t, c.scrape(1, nil), "dynkv_keys_over_sibling_warning", nil); k != 0 {
		t.Fatalf("dynkv_keys_over_sibling_warning after resolving = %v, want 0", k)
	}
}

// TestConflictsEndpoint: /admin/conflicts needs the admin token, checks its
// parameters, and with scan=true finds keys written before the node
// started.
func TestConflictsEndpoint(t *testing.T) {
	const admin = "admin-token-0123456789"
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.AdminToken = admin
	})
	auth := map[string]string{"Authorization": "Bearer " + admin}
	for i := range 3 {
		for j := range i + 2 {
			mustStatus(t, "put", c.put(0, fmt.Sprint("k", i), "", fmt.Sprint(j), emptyContext), http.StatusNoContent)
		}
	}
	mustStatus(t, "no token", c.do(0, http.MethodGet, "/admin/conflicts", nil, nil), http.StatusUnauthorized)
	for _, q := range []string{"limit=0", "limit=257", "limit=x", "scan=maybe", "foo=1"} {
		mustStatus(t, q, c.do(0, http.MethodGet, "/admin/conflicts?"+q, nil, auth), http.StatusBadRequest)
	}
	keys := func(r resp, field string) []string {
		var out []string
		for _, row := range r.json(t)[field].([]any) {
			out = append(out, row.(map[string]any)["key"].(string))
		}
		return out
	}
	r := c.do(0, http.MethodGet, "/admin/conflicts?limit=2", nil, auth)
	mustStatus(t, "conflicts", r, http.StatusOK)
	if got := keys(r, "most_siblings"); !slices.Equal(got, []string{"k2", "k1"}) {
		t.Fatalf("most_siblings with limit=2: %v", got)
	}
	if got := keys(r, "largest_contexts"); len(got) != 2 {
		t.Fatalf("largest_contexts with limit=2: %v", got)
	}

	c.crash(0)
	c.restart(0)
	r = c.do(0, http.MethodGet, "/admin/conflicts", nil, auth)
	if got := keys(r, "most_siblings"); len(got) != 0 {
		t.Fatalf("after restart, before a scan: %v", got)
	}
	r = c.do(0, http.MethodGet, "/admin/conflicts?scan=true", nil, auth)
	mustStatus(t, "scan", r, http.StatusOK)
	if got := keys(r, "most_siblings"); !slices.Equal(got, []string{"k2", "k1", "k0"}) {
		t.Fatalf("after a scan: %v", got)
	}
	if n := r.json(t)["scanned_keys"]; n != 3.0 {
		t.Fatalf("scanned_keys %v, want 3", n)
	}
}

// TestSiblingBytesLimit: siblings that together would outgrow what one
// message between replicas can carry are refused (409, nothing stored),
// so the key stays replicable and readable at any quorum; a write that
// resolves them is taken.
func TestSiblingBytesLimit(t *testing.T) {
	c := startCluster(t, 2, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 2, 2, 2
		cfg.MaxSiblingBytes = 64 << 10
	})
	r := c.put(0, "k", "", "v0", emptyContext)
	mustStatus(t, "first write", r, http.StatusNoContent)
	ctx0 := r.header.Get(headerContext)
	val := strings.Repeat("x", 20<<10)
	for i := range 3 {
		mustStatus(t, fmt.Sprint("sibling ", i+1), c.put(i%2, "k", "", val, ctx0), http.StatusNoContent)
	}
	r = c.put(0, "k", "", val, ctx0)
	mustStatus(t, "4th sibling of 20 KiB", r, http.StatusConflict)
	if m := r.json(t); m["error"] != "too many siblings" || m["max_bytes"] != float64(64<<10) || !strings.Contains(fmt.Sprint(m["detail"]), "siblings too large") {
		t.Fatalf("409 body: %v", m)
	}
	st, ctx, vals := c.get(1, "k", "?r=2")
	if st != http.StatusMultipleChoices || len(vals) != 3 {
		t.Fatalf("read at r=2 after the refusal: %d, %d siblings; want 300 with 3", st, len(vals))
	}
	mustStatus(t, "resolving write", c.put(1, "k", "", "merged", ctx), http.StatusNoContent)
	if st, _, vals := c.get(0, "k", "?r=2"); st != http.StatusOK || !slices.Equal(vals, []string{"merged"}) {
		t.Fatalf("after resolving: %d %v", st, vals)
	}
}
