package node

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/dynkv/dynkv/client"
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
		{"GET", "/status", bearer(admin), http.StatusOK}, // the admin token may do everything
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

// TestClientToken: the Go client sends its Config.Token; without it the
// node's 401 comes back as client.ErrUnauthorized.
func TestClientToken(t *testing.T) {
	const user = "user-token-0123456789"
	c := startCluster(t, 1, func(cfg *Config) { cfg.N, cfg.R, cfg.W, cfg.AuthToken = 1, 1, 1, user })
	ctx := context.Background()
	anon, err := client.New(client.Config{Endpoints: []string{c.nodes[0].HTTPAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Put(ctx, "k", []byte("v")); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("put without a token: %v, want ErrUnauthorized", err)
	}
	cl, err := client.New(client.Config{Endpoints: []string{c.nodes[0].HTTPAddr()}, Token: user})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put with the token: %v", err)
	}
	if obj, err := cl.Get(ctx, "k"); err != nil || len(obj.Siblings) != 1 {
		t.Fatalf("get with the token: %v %v", obj, err)
	}
}
