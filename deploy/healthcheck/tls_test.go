package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dynkv/dynkv/internal/tlsfiles"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// TestCheckTLS: with DYNKV_TLS_CERT set the check asks https:// and trusts
// the node's CA (or, without one, its certificate), and no other.
func TestCheckTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t), tlstest.NewCA(t)
	p := ca.Issue(t, "n1")
	cert, err := tlsfiles.LoadKeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	srv.StartTLS()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	for _, tc := range []struct {
		env  map[string]string
		ok   bool
		what string
	}{
		{map[string]string{"DYNKV_TLS_CERT": p.CertFile, "DYNKV_TLS_CA": ca.File}, true, "the node's CA"},
		{map[string]string{"DYNKV_TLS_CERT": p.CertFile}, true, "the node's own certificate"},
		{map[string]string{"DYNKV_TLS_CERT": p.CertFile, "DYNKV_TLS_CA": other.File}, false, "another CA"},
	} {
		tc.env["DYNKV_HTTP_ADDR"] = addr
		getenv := func(k string) string { return tc.env[k] }
		url, err := target(nil, getenv)
		if err != nil || !strings.HasPrefix(url, "https://") {
			t.Fatalf("%s: target %q, %v", tc.what, url, err)
		}
		hc, err := client(getenv)
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if err := check(context.Background(), hc, url); (err == nil) != tc.ok {
			t.Errorf("%s: check returned %v, want ok=%v", tc.what, err, tc.ok)
		}
	}
}
