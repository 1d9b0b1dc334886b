package main

import (
	"strings"
	"testing"

	"github.com/dynkv/dynkv/client/clienttest"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// TestClientCmdsCAFile: put, get, status and bench reach an HTTPS node given its
// CA with --ca-file (or DYNKV_CA_FILE), and fail with a message that names
// the fix without it; the ring commands' client trusts the same CA.
func TestClientCmdsCAFile(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv := clienttest.NewServer(clienttest.Options{TLS: ca.ServerConfig(t, "n1")})
	t.Cleanup(srv.Close)
	ep := "--endpoints=https://" + srv.Addr

	if _, errOut, code := clientCLI(t, "", "put", ep, "--ca-file", ca.File, "k", "v"); code != 0 {
		t.Fatalf("put with --ca-file: exit %d: %s", code, errOut)
	}
	if out, errOut, code := clientCLI(t, "", "get", ep, "--ca-file", ca.File, "k"); code != 0 || out != "v" {
		t.Fatalf("get with --ca-file: exit %d, %q: %s", code, out, errOut)
	}
	_, errOut, code := clientCLI(t, "", "get", ep, "k")
	if code != 1 || !strings.Contains(errOut, "not signed by a CA this client trusts") || !strings.Contains(errOut, "--ca-file") {
		t.Errorf("get without --ca-file: exit %d, %q", code, errOut)
	}
	_, errOut, code = clientCLI(t, "", "get", "--endpoints="+srv.Addr, "--ca-file", ca.File, "k")
	if code != 1 || !strings.Contains(errOut, "use an https:// endpoint") {
		t.Errorf("get with http:// to an HTTPS node: exit %d, %q", code, errOut)
	}
	notPEM := ca.Write(t, "not-a-cert.pem", []byte("-----BEGIN EC PRIVATE KEY-----\n"))
	_, errOut, code = clientCLI(t, "", "get", ep, "--ca-file", notPEM, "k")
	if code != 2 || !strings.Contains(errOut, "holds no PEM certificate") {
		t.Errorf("get with a key as --ca-file: exit %d, %q", code, errOut)
	}
	out, errOut, code := clientCLI(t, "", "bench", ep, "--ca-file", ca.File, "--quiet",
		"--workload", "c", "--keys", "10", "--load", "--ops", "20", "--concurrency", "2")
	if code != 0 || !strings.Contains(out, " 20 ops") {
		t.Errorf("bench with --ca-file: exit %d, %q: %s", code, out, errOut)
	}
	t.Setenv(clientCAEnv, ca.File)
	if out, errOut, code := clientCLI(t, "", "status", ep); code != 0 || !strings.Contains(out, "n1") {
		t.Errorf("status with %s: exit %d, %q: %s", clientCAEnv, code, out, errOut)
	}

	// The ring commands (leave, remove) reach the node with the same CA.
	fs, _ := newClientFlagSet("leave", "", &strings.Builder{})
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	hc, err := cmdHTTPClient(fs)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := fetchRingStatus(t.Context(), hc, "https://"+srv.Addr); err != nil || st.Node == "" {
		t.Errorf("ring status over HTTPS with the CA: %v %v", st, err)
	}
	if _, err := fetchRingStatus(t.Context(), cmdHTTP, "https://"+srv.Addr); err == nil {
		t.Error("ring status over HTTPS without the CA succeeded")
	}
}
