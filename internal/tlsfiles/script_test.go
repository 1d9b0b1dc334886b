package tlsfiles_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dynkv/dynkv/internal/tlsfiles"
)

// TestCertScript: scripts/tls-certs.sh makes files that load, and two of
// its nodes shake hands with mutual TLS (skipped without openssl).
func TestCertScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed, and scripts/tls-certs.sh is a wrapper around it (.ci/run installs it so CI runs this test)")
	}
	dir := t.TempDir()
	out, err := exec.Command("bash", "../../scripts/tls-certs.sh", "-d", dir, "-n", "2", "-H", "10.9.8.7,db.example").CombinedOutput()
	if err != nil {
		t.Fatalf("tls-certs.sh: %v\n%s", err, out)
	}
	node := func(name string) tlsfiles.Files {
		return tlsfiles.Files{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem"), CA: filepath.Join(dir, "ca.pem")}
	}
	srv, _ := configs(t, mustLoad(t, node("n1")))
	_, cli := configs(t, mustLoad(t, node("n2")))
	for _, host := range []string{"127.0.0.1", "localhost", "n1", "10.9.8.7", "db.example"} {
		if se, ce, seen := handshake(t, srv, cli, host); se != nil || ce != nil || seen != "n1" {
			t.Errorf("n2 dialling n1 as %s: server %v, client %v, saw %q", host, se, ce, seen)
		}
	}
	if _, ce, _ := handshake(t, srv, cli, "n2"); ce == nil {
		t.Error("n1's certificate passed for n2")
	}
	// Run again: the CA is kept, so certificates issued before still verify.
	if out, err := exec.Command("bash", "../../scripts/tls-certs.sh", "-d", dir, "-n", "1").CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	srv, _ = configs(t, mustLoad(t, node("n1")))
	if se, ce, _ := handshake(t, srv, cli, "n1"); se != nil || ce != nil {
		t.Errorf("after a second run: server %v, client %v", se, ce)
	}
}
