package main

import (
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/tlsfiles"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// TestTLSConfigRefusedAtStart: serve exits 2 with a message naming the
// flag and the problem when the TLS flags or files are wrong, before it
// binds or opens anything.
func TestTLSConfigRefusedAtStart(t *testing.T) {
	ca := tlstest.NewCA(t)
	p, other := ca.Issue(t, "n1"), ca.Issue(t, "n2")
	junk := ca.Write(t, "junk.pem", []byte("hello\n"))
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", p.CertFile}, "--tls-cert and --tls-key go together"},
		{"key without cert", []string{"--tls-key", p.KeyFile}, "--tls-cert and --tls-key go together"},
		{"CA alone", []string{"--tls-ca", ca.File}, "need this node's --tls-cert and --tls-key"},
		{"server name without CA", []string{"--tls-cert", p.CertFile, "--tls-key", p.KeyFile, "--tls-server-name", "x"}, "give --tls-ca too"},
		{"missing cert", []string{"--tls-cert", missing, "--tls-key", p.KeyFile}, missing},
		{"cert not PEM", []string{"--tls-cert", junk, "--tls-key", p.KeyFile}, "holds no PEM certificate"},
		{"key of another cert", []string{"--tls-cert", p.CertFile, "--tls-key", other.KeyFile}, "does not belong to certificate"},
		{"CA without certificates", []string{"--tls-cert", p.CertFile, "--tls-key", p.KeyFile, "--tls-ca", junk}, "CA file " + junk + " holds no PEM certificate"},
		{"missing CA", []string{"--tls-cert", p.CertFile, "--tls-key", p.KeyFile, "--tls-ca", missing}, missing},
	}
	for _, tc := range cases {
		dir := filepath.Join(t.TempDir(), "data")
		args := append([]string{"serve", "--name", "n1", "--data-dir", dir,
			"--http-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}, tc.args...)
		_, stderr, code := clientCLI(t, "", args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 saying %q", tc.name, code, stderr, tc.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s: the data dir was created before the TLS files were checked", tc.name)
		}
	}
}

// TestTLSReloadOnSIGHUP: serve's watcher reloads rotated files on SIGHUP.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "n.pem"), filepath.Join(dir, "n-key.pem")
	install := func(p tlstest.Pair) {
		t.Helper()
		if err := os.WriteFile(cert, p.CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(key, p.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	install(ca.Issue(t, "before"))
	h, err := tlsfiles.Load(tlsfiles.Files{Cert: cert, Key: key, CA: ca.File})
	if err != nil {
		t.Fatal(err)
	}
	stop := watchTLS(h, slog.New(slog.DiscardHandler))
	defer stop()
	install(ca.Issue(t, "after"))
	name := func() string {
		c, err := x509.ParseCertificate(h.Certificate().Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return c.Subject.CommonName
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for name() != "after" {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP the node still presents %q", name())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDevStripsSecurityEnv: dev's nodes do not inherit TLS, token or gossip
// key settings from the shell.
func TestDevStripsSecurityEnv(t *testing.T) {
	got := devEnv([]string{"PATH=/bin", "DYNKV_TLS_CERT=/c", "DYNKV_AUTH_TOKEN_FILE=/t", "DYNKV_LOG_LEVEL=debug", "DYNKV_TLS_CA=/ca", "DYNKV_GOSSIP_KEY_FILE=/k"})
	if want := []string{"PATH=/bin", "DYNKV_LOG_LEVEL=debug"}; !slices.Equal(got, want) {
		t.Fatalf("devEnv = %q, want %q", got, want)
	}
}
