package tlsfiles_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/tlsfiles"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// TestLoadRefusesBadFiles: each kind of bad file is refused with an error
// that names the file and the problem.
func TestLoadRefusesBadFiles(t *testing.T) {
	ca := tlstest.NewCA(t)
	good := ca.Issue(t, "n1")
	other := ca.Issue(t, "n2")
	expired := ca.IssueFor(t, "old", time.Now().Add(-time.Minute))
	junk := ca.Write(t, "junk.pem", []byte("not a pem file\n"))
	keyOnly := ca.Write(t, "keyonly.pem", good.KeyPEM)
	missing := filepath.Join(t.TempDir(), "nope.pem")
	cases := []struct {
		name  string
		files tlsfiles.Files
		want  string
	}{
		{"nothing", tlsfiles.Files{}, "no files"},
		{"cert without key", tlsfiles.Files{Cert: good.CertFile}, "give both or neither"},
		{"key without cert", tlsfiles.Files{Key: good.KeyFile}, "give both or neither"},
		{"missing cert", tlsfiles.Files{Cert: missing, Key: good.KeyFile}, "certificate file: open " + missing},
		{"missing key", tlsfiles.Files{Cert: good.CertFile, Key: missing}, "key file: open " + missing},
		{"missing CA", tlsfiles.Files{CA: missing}, "CA file: open " + missing},
		{"cert not PEM", tlsfiles.Files{Cert: junk, Key: good.KeyFile}, "holds no PEM certificate"},
		{"key not PEM", tlsfiles.Files{Cert: good.CertFile, Key: junk}, "holds no PEM private key"},
		{"key of another cert", tlsfiles.Files{Cert: good.CertFile, Key: other.KeyFile}, "does not belong to certificate"},
		{"CA without certs", tlsfiles.Files{CA: keyOnly}, "holds no PEM certificate"},
		{"expired", tlsfiles.Files{Cert: expired.CertFile, Key: expired.KeyFile}, "expired"},
	}
	for _, tc := range cases {
		_, err := tlsfiles.Load(tc.files)
		if err == nil || !errors.Is(err, tlsfiles.ErrBadFiles) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrBadFiles saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := tlsfiles.Load(tlsfiles.Files{Cert: good.CertFile, Key: good.KeyFile, CA: ca.File}); err != nil {
		t.Fatalf("good files refused: %v", err)
	}
}

// handshake runs a TLS handshake between the two configs over a pipe and
// returns each side's error and the certificate the client saw.
func handshake(t *testing.T, srv, cli *tls.Config, serverName string) (srvErr, cliErr error, seen string) {
	t.Helper()
	a, b := net.Pipe()
	cli = cli.Clone()
	if cli.ServerName == "" {
		cli.ServerName = serverName
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		s := tls.Server(a, srv)
		err := s.HandshakeContext(ctx)
		if err == nil {
			// TLS 1.3: the server checks the client's certificate after the
			// client's handshake returns; a read reports its verdict.
			_, err = s.Write([]byte{1})
		}
		a.Close()
		done <- err
	}()
	c := tls.Client(b, cli)
	cliErr = c.HandshakeContext(ctx)
	if cliErr == nil {
		if pc := c.ConnectionState().PeerCertificates; len(pc) > 0 {
			seen = pc[0].Subject.CommonName
		}
		_, cliErr = c.Read(make([]byte, 1))
	}
	b.Close()
	return <-done, cliErr, seen
}

func mustLoad(t *testing.T, f tlsfiles.Files) *tlsfiles.Holder {
	t.Helper()
	h, err := tlsfiles.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func configs(t *testing.T, h *tlsfiles.Holder) (srv, cli *tls.Config) {
	t.Helper()
	srv, err := h.MutualServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	cli, err = h.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

// TestMutualHandshake: two nodes of one CA shake hands; a client of
// another CA, one without a certificate, and a server checked under a name
// its certificate lacks are refused.
func TestMutualHandshake(t *testing.T) {
	ca, ca2 := tlstest.NewCA(t), tlstest.NewCA(t)
	p1, p2, stranger := ca.Issue(t, "n1"), ca.Issue(t, "n2"), ca2.Issue(t, "x")
	srv, _ := configs(t, mustLoad(t, tlsfiles.Files{Cert: p1.CertFile, Key: p1.KeyFile, CA: ca.File}))
	_, cli := configs(t, mustLoad(t, tlsfiles.Files{Cert: p2.CertFile, Key: p2.KeyFile, CA: ca.File}))
	if se, ce, seen := handshake(t, srv, cli, "127.0.0.1"); se != nil || ce != nil || seen != "n1" {
		t.Fatalf("same CA: server %v, client %v, saw %q", se, ce, seen)
	}
	if _, ce, _ := handshake(t, srv, cli, "n9.example"); ce == nil || !strings.Contains(ce.Error(), "n9.example") {
		t.Errorf("wrong server name: client %v, want a name error", ce)
	}
	// A client of another CA: it does not trust the server, nor the server it.
	_, strangerCli := configs(t, mustLoad(t, tlsfiles.Files{Cert: stranger.CertFile, Key: stranger.KeyFile, CA: ca2.File}))
	if _, ce, _ := handshake(t, srv, strangerCli, "127.0.0.1"); ce == nil {
		t.Error("a client of another CA accepted the server")
	}
	trusting := mustLoad(t, tlsfiles.Files{Cert: stranger.CertFile, Key: stranger.KeyFile, CA: ca.File})
	_, trustingCli := configs(t, trusting)
	if se, _, _ := handshake(t, srv, trustingCli, "127.0.0.1"); se == nil {
		t.Error("the server accepted a client certificate of another CA")
	}
	anon, err := mustLoad(t, tlsfiles.Files{CA: ca.File}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if se, _, _ := handshake(t, srv, anon, "127.0.0.1"); se == nil {
		t.Error("the server accepted a client without a certificate")
	}
}

// TestReload: after the files are replaced, Reload makes new handshakes
// present the new certificate; a failed Reload keeps the old one; Watch
// notices a change by modification time.
func TestReload(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	install := func(p tlstest.Pair) {
		t.Helper()
		for _, f := range []struct {
			path string
			data []byte
		}{{certFile, p.CertPEM}, {keyFile, p.KeyPEM}} {
			if err := os.WriteFile(f.path+".tmp", f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(f.path+".tmp", f.path); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(ca.Issue(t, "old"))
	h := mustLoad(t, tlsfiles.Files{Cert: certFile, Key: keyFile, CA: ca.File})
	srv, cli := configs(t, h)
	seen := func() string {
		t.Helper()
		se, ce, name := handshake(t, srv, cli, "localhost")
		if se != nil || ce != nil {
			t.Fatalf("handshake: server %v, client %v", se, ce)
		}
		return name
	}
	if got := seen(); got != "old" {
		t.Fatalf("before rotation the server presented %q", got)
	}
	install(ca.Issue(t, "new"))
	if got := seen(); got != "old" {
		t.Fatalf("before Reload the server presented %q", got)
	}
	if !h.Changed() {
		t.Error("Changed is false after the files were replaced")
	}
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := seen(); got != "new" {
		t.Fatalf("after Reload the server presented %q, want new", got)
	}
	// A half-done rotation (a key that does not match) is refused and the
	// certificate in use stays.
	if err := os.WriteFile(keyFile, ca.Issue(t, "other").KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); !errors.Is(err, tlsfiles.ErrBadFiles) {
		t.Fatalf("Reload with a mismatched key: %v", err)
	}
	if got := seen(); got != "new" {
		t.Fatalf("after a failed Reload the server presented %q", got)
	}
	// Watch picks the next good rotation up by itself.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.Watch(ctx, 10*time.Millisecond, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()
	install(ca.Issue(t, "newest"))
	deadline := time.Now().Add(10 * time.Second)
	for seen() != "newest" {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not reload the rotated files within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCABundleAndServerName: a CA file holding two CAs (a CA rotation in
// progress) trusts certificates of both; Files.ServerName is the name a
// client checks, whatever host it dials.
func TestCABundleAndServerName(t *testing.T) {
	oldCA, newCA := tlstest.NewCA(t), tlstest.NewCA(t)
	bundle := oldCA.Write(t, "bundle.pem", append(append([]byte{}, oldCA.CertPEM...), newCA.CertPEM...))
	pOld, pNew := oldCA.Issue(t, "old", "shared.example"), newCA.Issue(t, "new", "shared.example")
	srvOld, _ := configs(t, mustLoad(t, tlsfiles.Files{Cert: pOld.CertFile, Key: pOld.KeyFile, CA: bundle}))
	_, cliNew := configs(t, mustLoad(t, tlsfiles.Files{Cert: pNew.CertFile, Key: pNew.KeyFile, CA: bundle, ServerName: "shared.example"}))
	if se, ce, seen := handshake(t, srvOld, cliNew, "10.255.0.1"); se != nil || ce != nil || seen != "old" {
		t.Fatalf("old and new CA in one bundle: server %v, client %v, saw %q", se, ce, seen)
	}
	_, cliOther := configs(t, mustLoad(t, tlsfiles.Files{Cert: pNew.CertFile, Key: pNew.KeyFile, CA: bundle, ServerName: "other.example"}))
	if _, ce, _ := handshake(t, srvOld, cliOther, "127.0.0.1"); ce == nil {
		t.Error("a server name the certificate lacks was accepted")
	}
}
