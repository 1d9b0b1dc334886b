package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/rpc"
	"github.com/dynkv/dynkv/internal/tlsfiles"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// tlsNode returns a mutate for startCluster that gives each node its own
// certificate of ca, HTTPS on the client port, and mutual TLS on a real TCP
// RPC port.
func tlsNode(t *testing.T, ca *tlstest.CA) func(*Config) {
	return func(cfg *Config) {
		p := ca.Issue(t, cfg.Name)
		h, err := tlsfiles.Load(tlsfiles.Files{Cert: p.CertFile, Key: p.KeyFile, CA: ca.File})
		if err != nil {
			t.Fatal(err)
		}
		cfg.TLS = mustTLSConfig(t, h)
		cfg.RPCNetwork, cfg.RPCAddr = nil, "127.0.0.1:0"
	}
}

func mustTLSConfig(t *testing.T, h *tlsfiles.Holder) TLSConfig {
	t.Helper()
	var tc TLSConfig
	var err error
	if tc.HTTP, err = h.ServerConfig(); err != nil {
		t.Fatal(err)
	}
	if tc.RPCServer, err = h.MutualServerConfig(); err != nil {
		t.Fatal(err)
	}
	if tc.RPCClient, err = h.ClientConfig(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// trust makes the cluster's HTTP client verify nodes against ca.
func (c *testCluster) trust(t *testing.T, ca *tlstest.CA) {
	pool, err := tlsfiles.LoadCAPool(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	c.http = &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

// TestTLSCluster: three nodes with HTTPS on the client port and mutual TLS
// between them work end to end: a value written at one is read at another
// (with R=W=3, so every replica was reached over TLS RPC), and /status says
// so.
func TestTLSCluster(t *testing.T) {
	ca := tlstest.NewCA(t)
	c := startCluster(t, 3, tlsNode(t, ca))
	c.trust(t, ca)
	mustStatus(t, "put at n1", c.put(0, "k", "?w=3", "over tls", ""), http.StatusNoContent)
	status, _, vals := c.get(2, "k", "?r=3")
	if status != http.StatusOK || len(vals) != 1 || vals[0] != "over tls" {
		t.Fatalf("get at n3: %d %q", status, vals)
	}
	st := c.do(1, "GET", "/status", nil, nil).json(t)
	if st["http_scheme"] != "https" || st["rpc_tls"] != true {
		t.Errorf("status says http_scheme=%v rpc_tls=%v", st["http_scheme"], st["rpc_tls"])
	}
	for _, m := range st["members"].([]any) {
		if m := m.(map[string]any); m["http_scheme"] != "https" {
			t.Errorf("status of n2 gives member %v the scheme %v", m["name"], m["http_scheme"])
		}
	}
	// The client port speaks HTTPS only.
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + c.nodes[0].HTTPAddr() + "/health")
	if err != nil {
		t.Fatalf("plain HTTP to the HTTPS port: %v, want net/http's 400", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS port: %s, want 400", res.Status)
	}
}

// TestMutualTLS: the RPC port of a node with mutual TLS serves a peer with
// a certificate of the cluster's CA and refuses one without a certificate,
// one with a certificate of another CA, and one that speaks plaintext.
func TestMutualTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t), tlstest.NewCA(t)
	c := startCluster(t, 1, func(cfg *Config) {
		tlsNode(t, ca)(cfg)
		cfg.N, cfg.R, cfg.W = 1, 1, 1
	})
	addr := c.nodes[0].cfg.RPCAddr
	peer := func(f tlsfiles.Files) *tls.Config {
		h, err := tlsfiles.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := h.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	member, stranger := ca.Issue(t, "n9"), other.Issue(t, "x")
	cases := []struct {
		name    string
		tls     *tls.Config
		refused bool
	}{
		{"a peer with a certificate of the CA", peer(tlsfiles.Files{Cert: member.CertFile, Key: member.KeyFile, CA: ca.File}), false},
		{"a peer without a certificate", peer(tlsfiles.Files{CA: ca.File}), true},
		{"a peer with a certificate of another CA", peer(tlsfiles.Files{Cert: stranger.CertFile, Key: stranger.KeyFile, CA: ca.File}), true},
		{"a plaintext peer", nil, true},
	}
	for _, tc := range cases {
		cl := rpc.NewClient(rpc.Config{ClientTLS: tc.tls})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cl.Call(ctx, addr, 255, nil) // no such method: an error from the handler
		cancel()
		cl.Close()
		var remote *rpc.RemoteError
		switch {
		case tc.refused && !errors.Is(err, rpc.ErrUnreachable):
			t.Errorf("%s: %v, want the connection refused (ErrUnreachable)", tc.name, err)
		case !tc.refused && !errors.As(err, &remote):
			t.Errorf("%s: %v, want the node's handler to answer", tc.name, err)
		}
	}
	// The node itself cannot be made to start half configured.
	cfg := c.cfgs[0]
	cfg.TLS.RPCClient = nil
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--tls-ca") {
		t.Errorf("a server-only RPC TLS config validated: %v", err)
	}
}
