package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynkv/dynkv/client/clienttest"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// tlsNode starts a fake node serving HTTPS with a certificate of ca.
func tlsNode(t *testing.T, ca *tlstest.CA) *clienttest.Server {
	t.Helper()
	srv := clienttest.NewServer(clienttest.Options{TLS: ca.ServerConfig(t, "n1")})
	t.Cleanup(srv.Close)
	return srv
}

func newTLSClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestTLS: with the CA of the node's certificate in CAFile, an https://
// endpoint works; without it, with another CA, or with the wrong scheme
// either way, reads and writes fail with ErrTLS and a message that says what
// to fix (and a write is not reported as ambiguous: nothing was sent).
func TestTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t), tlstest.NewCA(t)
	srv := tlsNode(t, ca)
	plain := clienttest.NewServer(clienttest.Options{})
	t.Cleanup(plain.Close)
	ctx := context.Background()

	good := newTLSClient(t, Config{Endpoints: []string{"https://" + srv.Addr}, CAFile: ca.File})
	if _, err := good.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put with the right CA: %v", err)
	}
	if obj, err := good.Get(ctx, "k"); err != nil || string(obj.Value()) != "v" {
		t.Fatalf("get with the right CA: %v %v", obj, err)
	}

	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"another CA", Config{Endpoints: []string{"https://" + srv.Addr}, CAFile: other.File}, "not signed by a CA this client trusts"},
		{"no CA", Config{Endpoints: []string{"https://" + srv.Addr}}, "not signed by a CA this client trusts"},
		{"wrong host name", Config{Endpoints: []string{"https://" + srv.Addr}, TLS: &tls.Config{ServerName: "elsewhere.example"}, CAFile: ca.File}, "does not name that host"},
		{"http to an HTTPS node", Config{Endpoints: []string{srv.Addr}, CAFile: ca.File}, "serves HTTPS: use an https:// endpoint"},
		{"https to a plain node", Config{Endpoints: []string{"https://" + plain.Addr}, CAFile: ca.File}, "speaks plain HTTP"},
	}
	for _, tc := range cases {
		c := newTLSClient(t, tc.cfg)
		_, err := c.Get(ctx, "k")
		if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: get returned %v, want ErrTLS saying %q", tc.name, err, tc.want)
		}
		_, err = c.Put(ctx, "k", []byte("v2"))
		if !errors.Is(err, ErrTLS) || errors.Is(err, ErrAmbiguous) {
			t.Errorf("%s: put returned %v, want ErrTLS and not ErrAmbiguous", tc.name, err)
		}
	}
	if n := srv.Keys(); len(n) != 1 {
		t.Errorf("the node holds %v: a refused write got through", n)
	}

	// Failover: a node with an untrusted certificate is skipped.
	mixed := newTLSClient(t, Config{Endpoints: []string{"https://" + tlsNode(t, other).Addr, "https://" + srv.Addr}, CAFile: ca.File})
	if _, err := mixed.Put(ctx, "k2", []byte("v")); err != nil {
		t.Errorf("put with an untrusted first endpoint: %v, want failover to the second", err)
	}

	// Bad settings are refused by New.
	if _, err := New(Config{Endpoints: []string{"https://" + srv.Addr}, CAFile: filepath.Join(t.TempDir(), "none.pem")}); !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "none.pem") {
		t.Errorf("missing CA file: %v", err)
	}
	if _, err := New(Config{Endpoints: []string{srv.Addr}, CAFile: ca.File, HTTPClient: &http.Client{}}); !errors.Is(err, ErrTLS) {
		t.Errorf("CAFile with HTTPClient: %v", err)
	}
}
