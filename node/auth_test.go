package node

import (
	"net/http"
	"testing"
)

// TestBearerTokens: with tokens configured, requests without the right one
// are refused with 401 (and nothing is written), /health stays open, and
// /admin/* needs the admin token, not the API token.
func TestBearerTokens(t *testing.T) {
	const user, admin = "user-token-0123456789", "admin-token-0123456789"
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.AuthToken, cfg.AdminToken = user, admin
	})
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	cases := []struct {
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"PUT", "/kv/k", nil, http.StatusUnauthorized},
		{"PUT", "/kv/k", bearer("wrong-token-0123456789"), http.StatusUnauthorized},
		{"PUT", "/kv/k", map[string]string{"Authorization": user}, http.StatusUnauthorized}, // no scheme
		{"GET", "/kv/k", bearer(user), http.StatusNotFound},                                 // nothing was written
		{"PUT", "/kv/k", bearer(user), http.StatusNoContent},
		{"GET", "/kv/k", bearer(user), http.StatusOK},
		{"GET", "/status", nil, http.StatusUnauthorized},
		{"GET", "/status", bearer(user), http.StatusOK},
		{"GET", "/health", nil, http.StatusOK},
		{"GET", "/admin/replica/k", bearer(user), http.StatusUnauthorized},
		{"GET", "/admin/replica/k", bearer(admin), http.StatusOK},
		{"POST", "/admin/leave", bearer(user), http.StatusUnauthorized},
		{"POST", "/admin/remove/x", nil, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		body := []byte(nil)
		if tc.method == "PUT" {
			body = []byte("v")
		}
		r := c.do(0, tc.method, tc.path, body, tc.hdr)
		if r.status != tc.want {
			t.Errorf("%s %s with %v: %d %s, want %d", tc.method, tc.path, tc.hdr, r.status, r.body, tc.want)
		}
		if r.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.path)
		}
	}
}
