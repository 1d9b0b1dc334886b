package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/tlsfiles"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// tlsConfigs returns the mutual server and the client config of a node
// with files f.
func tlsConfigs(t *testing.T, f tlsfiles.Files) (srv, cli *tls.Config) {
	t.Helper()
	h, err := tlsfiles.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if f.Cert != "" {
		if srv, err = h.MutualServerConfig(); err != nil {
			t.Fatal(err)
		}
	}
	if cli, err = h.ClientConfig(); err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

// TestMutualTLSRefusals: a server with mutual TLS serves a client with a
// certificate of its CA, and refuses, without running the handler, a client
// without a certificate, one with a certificate of another CA, and one that
// speaks plaintext; a TLS client cannot talk to a plaintext server; a client
// that never starts its handshake is cut off after HandshakeTimeout.
func TestMutualTLSRefusals(t *testing.T) {
	base := runtime.NumGoroutine()
	ca, other := tlstest.NewCA(t), tlstest.NewCA(t)
	p1, p2, stranger := ca.Issue(t, "n1"), ca.Issue(t, "n2"), other.Issue(t, "x")
	srvTLS, _ := tlsConfigs(t, tlsfiles.Files{Cert: p1.CertFile, Key: p1.KeyFile, CA: ca.File})
	_, goodCli := tlsConfigs(t, tlsfiles.Files{Cert: p2.CertFile, Key: p2.KeyFile, CA: ca.File})
	_, anonCli := tlsConfigs(t, tlsfiles.Files{CA: ca.File})
	_, strangerCli := tlsConfigs(t, tlsfiles.Files{Cert: stranger.CertFile, Key: stranger.KeyFile, CA: ca.File})

	var served atomic.Int64
	h := HandlerFunc(func(ctx context.Context, m uint8, b []byte) ([]byte, error) {
		served.Add(1)
		return echo(ctx, m, b)
	})
	var logs logBuffer
	s, err := Listen("127.0.0.1:0", h, Config{ServerTLS: srvTLS, HandshakeTimeout: 200 * time.Millisecond, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}

	good := NewClient(Config{ClientTLS: goodCli})
	mustCall(t, good, s.Addr(), 7, []byte("hi"), []byte("\x07hi"))
	if served.Load() != 1 {
		t.Fatalf("served %d requests, want 1", served.Load())
	}

	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no client certificate", Config{ClientTLS: anonCli}},
		{"certificate of another CA", Config{ClientTLS: strangerCli}},
		{"plaintext", Config{}},
	} {
		c := NewClient(tc.cfg)
		_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 7, []byte("hi"))
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s: call returned %v, want ErrUnreachable", tc.name, err)
		}
		c.Close()
	}
	if n := served.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want only for the good client", n)
	}
	logs.waitFor(t, "TLS handshake failed")

	// A client that connects and says nothing is closed after the timeout.
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a silent client was not cut off: read returned %v", err)
	}
	conn.Close()

	// A TLS client cannot talk to a plaintext server.
	plain := startServer(t, h, Config{})
	_, err = good.Call(timeoutCtx(t, testTimeout), plain.Addr(), 7, []byte("hi"))
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("TLS client to a plaintext server: %v, want ErrUnreachable", err)
	}
	if n := served.Load(); n != 1 {
		t.Errorf("the plaintext server ran the handler for a TLS client")
	}
	good.Close()
	plain.Close()
	s.Close()
	noLeaks(t, base)
}

// BenchmarkTCPCallTLS compares pipelined calls over plain TCP and over
// mutual TLS, many callers at once as a coordinator makes them.
func BenchmarkTCPCallTLS(b *testing.B) {
	ca := tlstest.NewCA(b)
	p := ca.Issue(b, "n1")
	h, err := tlsfiles.Load(tlsfiles.Files{Cert: p.CertFile, Key: p.KeyFile, CA: ca.File})
	if err != nil {
		b.Fatal(err)
	}
	srvTLS, _ := h.MutualServerConfig()
	cliTLS, _ := h.ClientConfig()
	for _, size := range benchSizes {
		for _, mode := range []string{"plain", "mtls"} {
			b.Run(fmt.Sprintf("body=%d/%s", size, mode), func(b *testing.B) {
				var sc, cc Config
				if mode == "mtls" {
					sc.ServerTLS, cc.ClientTLS = srvTLS, cliTLS
				}
				s := startServer(b, reply, sc)
				c := newTestClient(b, cc)
				ctx := context.Background()
				if _, err := c.Call(ctx, s.Addr(), 1, nil); err != nil { // dial and handshake outside the timing
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.SetParallelism(16)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					body := make([]byte, size)
					for pb.Next() {
						if _, err := c.Call(ctx, s.Addr(), 1, body); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// TestPeerNamedElsewhereRefused: a peer dialled at 127.0.0.1 whose
// certificate, though signed by the cluster's CA, names only another
// address is refused. crypto/tls sends no server name for an IP, so the
// check must not rely on the one in the connection state.
func TestPeerNamedElsewhereRefused(t *testing.T) {
	ca := tlstest.NewCA(t)
	elsewhere, client := ca.IssueElsewhere(t, "other", net.IPv4(10, 9, 9, 9)), ca.Issue(t, "n2")
	srvTLS, _ := tlsConfigs(t, tlsfiles.Files{Cert: elsewhere.CertFile, Key: elsewhere.KeyFile, CA: ca.File})
	_, cli := tlsConfigs(t, tlsfiles.Files{Cert: client.CertFile, Key: client.KeyFile, CA: ca.File})
	s, err := Listen("127.0.0.1:0", HandlerFunc(echo), Config{ServerTLS: srvTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := NewClient(Config{ClientTLS: cli})
	defer c.Close()
	if _, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 7, []byte("hi")); err == nil {
		t.Fatal("call to 127.0.0.1 succeeded although the peer's certificate names only 10.9.9.9 and other.example")
	}
}

// TestHandshakeFailuresLoggedWithinBudget: a peer that keeps failing its
// handshake (a scanner, a node with the wrong CA) costs a few warnings and
// one count, not a line per connection.
func TestHandshakeFailuresLoggedWithinBudget(t *testing.T) {
	ca := tlstest.NewCA(t)
	p := ca.Issue(t, "n1")
	srvTLS, _ := tlsConfigs(t, tlsfiles.Files{Cert: p.CertFile, Key: p.KeyFile, CA: ca.File})
	var logs logBuffer
	s, err := Listen("127.0.0.1:0", HandlerFunc(echo), Config{ServerTLS: srvTLS, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	const attempts = 20
	for range attempts {
		conn, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")) // not a TLS client hello
		io.Copy(io.Discard, conn)                    // until the server hangs up
		conn.Close()
	}
	s.Close() // reports what the budget held back
	out := logs.String()
	if n := strings.Count(out, "refused a connection: TLS handshake failed"); n < 1 || n > 5 {
		t.Fatalf("%d handshake warnings for %d failed handshakes, want 1 to 5:\n%s", n, attempts, out)
	}
	if !strings.Contains(out, "refused more connections") || !strings.Contains(out, "count=15") {
		t.Fatalf("no summary of the %d suppressed warnings:\n%s", attempts-5, out)
	}
}
