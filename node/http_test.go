package node

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInputs checks the contract's list of malformed requests: each gets
// its status code and a JSON error, and none of them writes anything.
func TestBadInputs(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.MaxValueSize = 1024; cfg.N, cfg.R, cfg.W = 1, 1, 1 })
	long := strings.Repeat("x", 1025)
	cases := []struct {
		name, method, path string
		body               string
		hdr                map[string]string
		want               int
	}{
		{"r=0", "GET", "/kv/k?r=0", "", nil, 400},
		{"r above n", "GET", "/kv/k?r=2", "", nil, 400},
		{"r not a number", "GET", "/kv/k?r=two", "", nil, 400},
		{"pr=0", "GET", "/kv/k?pr=0", "", nil, 400},
		{"w=0", "PUT", "/kv/k?w=0", "v", nil, 400},
		{"pw above n", "PUT", "/kv/k?pw=9", "v", nil, 400},
		{"w on a read", "GET", "/kv/k?w=1", "", nil, 400},
		{"r on a write", "PUT", "/kv/k?r=1", "v", nil, 400},
		{"unknown parameter", "GET", "/kv/k?consistency=all", "", nil, 400},
		{"repeated parameter", "GET", "/kv/k?r=1&r=1", "", nil, 400},
		{"bad timeout", "GET", "/kv/k?timeout=soon", "", nil, 400},
		{"negative timeout", "PUT", "/kv/k?timeout=-1s", "v", nil, 400},
		{"bad sync", "PUT", "/kv/k?sync=maybe", "v", nil, 400},
		{"malformed context", "PUT", "/kv/k", "v", map[string]string{headerContext: "not-a-context!"}, 400},
		{"context of garbage base64", "DELETE", "/kv/k", "", map[string]string{headerContext: "AAAA"}, 400},
		{"empty key", "GET", "/kv/", "", nil, 400},
		{"key too long", "PUT", "/kv/" + long, "v", nil, 400},
		{"value too large", "PUT", "/kv/k", strings.Repeat("v", 1025), nil, 413},
		{"method", "POST", "/kv/k", "v", nil, 405},
		{"no such endpoint", "GET", "/nope", "", nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(0, tc.method, tc.path, []byte(tc.body), tc.hdr)
			mustStatus(t, tc.name, r, tc.want)
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("error Content-Type %q", ct)
			}
			if msg, _ := r.json(t)["error"].(string); msg == "" {
				t.Fatalf("no error message: %s", r.body)
			}
		})
	}
	if r := c.do(0, "GET", "/admin/replica/k", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("a bad request wrote something: %d %s", r.status, r.body)
	}
	// A value of exactly the limit is fine, and a key of any bytes
	// round-trips.
	mustStatus(t, "value at the limit", c.put(0, "k", "", strings.Repeat("v", 1024), ""), http.StatusNoContent)
	key := "a%2Fb%20c%FF%00/../d"
	mustStatus(t, "odd key", c.put(0, key, "", "odd", ""), http.StatusNoContent)
	if st, _, vals := c.get(0, key, ""); st != 200 || len(vals) != 1 || vals[0] != "odd" {
		t.Fatalf("odd key: %d %v", st, vals)
	}
}

// TestGetForms covers 404 with and without a tombstone, the raw 200 form
// and the receipts.
func TestGetForms(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) { cfg.N, cfg.R, cfg.W = 1, 1, 1 })
	r := c.do(0, "GET", "/kv/missing", nil, nil)
	mustStatus(t, "missing", r, 404)
	if r.header.Get(headerContext) != emptyContext {
		t.Fatalf("a key never written: context %q, want the empty context %q", r.header.Get(headerContext), emptyContext)
	}
	w := c.put(0, "k", "", "hello", "")
	mustStatus(t, "put", w, 204)
	if got := w.header.Get(headerReplicas); got != "acked=1; primaries=1; fallbacks=0" {
		t.Fatalf("write receipt %q", got)
	}
	r = c.do(0, "GET", "/kv/k", nil, nil)
	mustStatus(t, "get", r, 200)
	if string(r.body) != "hello" || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("get: %q %q", r.body, r.header.Get("Content-Type"))
	}
	if got := r.header.Get(headerReplicas); got != "replied=1; primaries=1; fallbacks=0; siblings=1; repaired=0" {
		t.Fatalf("read receipt %q", got)
	}
	d := c.do(0, "DELETE", "/kv/k", nil, map[string]string{headerContext: r.header.Get(headerContext)})
	mustStatus(t, "delete", d, 204)
	r = c.do(0, "GET", "/kv/k", nil, nil)
	mustStatus(t, "deleted", r, 404)
	if r.header.Get(headerContext) == "" {
		t.Fatal("a 404 that saw a tombstone carries its context")
	}
	mustStatus(t, "health", c.do(0, "GET", "/health", nil, nil), 200)
	mustStatus(t, "preflist", c.do(0, "GET", "/preflist/k", nil, nil), 200)
	st := c.do(0, "GET", "/status", nil, nil).json(t)
	if st["node"] != "n1" || st["n"] != 1.0 || len(st["members"].([]any)) != 1 {
		t.Fatalf("status: %v", st)
	}
}
