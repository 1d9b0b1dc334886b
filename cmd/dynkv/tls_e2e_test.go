package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/tlsfiles"
	"github.com/dynkv/dynkv/internal/tlsfiles/tlstest"
)

// TestTLSProcesses: three `dynkv serve` processes with HTTPS and mutual
// TLS: the CLI writes at n1 and reads at n3 with --ca-file (w=3 and r=3, so
// every replica is reached over TLS RPC); /status reports https and rpc_tls;
// after n1's certificate files are replaced, SIGHUP makes new connections
// see the new certificate without a restart.
func TestTLSProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three TLS processes with a SIGHUP reload; skipped with -short")
	}
	bin := buildBinary(t)
	ca := tlstest.NewCA(t)
	dir := t.TempDir()
	const size = 3
	ports := freePorts(t, 3*size)
	procs := make([]*proc, size)
	certDir := t.TempDir()
	for i := range procs {
		name := fmt.Sprintf("n%d", i+1)
		p := ca.Issue(t, name)
		cert, key := filepath.Join(certDir, name+".pem"), filepath.Join(certDir, name+"-key.pem")
		writeFile(t, cert, p.CertPEM)
		writeFile(t, key, p.KeyPEM)
		procs[i] = &proc{name: name, http: ports[i], log: filepath.Join(dir, name+".log"), args: []string{
			"serve", "--name", name, "--data-dir", filepath.Join(dir, name),
			"--http-addr", ports[i], "--rpc-addr", ports[size+i], "--gossip-addr", ports[2*size+i],
			"--join", ports[2*size], "--n", "3", "--partitions", "64",
			"--tls-cert", cert, "--tls-key", key, "--tls-ca", ca.File,
		}}
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p.cmd != nil && p.cmd.Process != nil {
				p.cmd.Process.Signal(syscall.SIGTERM)
				waitExit(p, 10*time.Second)
			}
		}
	})
	pool, err := tlsfiles.LoadCAPool(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh connection per request, so that each sees the certificate
	// the node presents now.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true,
	}}
	for _, p := range procs {
		p.start(t, bin)
	}
	get := func(p *proc, path string) (*http.Response, string, error) {
		res, err := hc.Get("https://" + p.http + path)
		if err != nil {
			return nil, "", err
		}
		defer res.Body.Close()
		var b strings.Builder
		_, err = fmt.Fprint(&b, readAll(res))
		return res, b.String(), err
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range procs {
		for {
			res, body, err := get(p, "/status")
			var st struct {
				Members []struct {
					State string `json:"state"`
				} `json:"members"`
				RingChange any    `json:"ring_change"`
				HTTPScheme string `json:"http_scheme"`
				RPCTLS     bool   `json:"rpc_tls"`
			}
			if err == nil && res.StatusCode == 200 && json.Unmarshal([]byte(body), &st) == nil &&
				len(st.Members) == size && strings.Count(body, `"alive"`) == size && st.RingChange == nil {
				if st.HTTPScheme != "https" || !st.RPCTLS {
					t.Fatalf("%s status: %s", p.name, body)
				}
				break
			}
			if time.Now().After(deadline) {
				logs, _ := os.ReadFile(p.log)
				t.Fatalf("%s not ready over HTTPS (%v); log:\n%s", p.name, err, logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if _, errOut, code := clientCLI(t, "", "put", "--endpoints", "https://"+procs[0].http, "--ca-file", ca.File, "--w", "3", "k", "over tls"); code != 0 {
		t.Fatalf("put at n1: exit %d: %s", code, errOut)
	}
	out, errOut, code := clientCLI(t, "", "get", "--endpoints", "https://"+procs[2].http, "--ca-file", ca.File, "--r", "3", "k")
	if code != 0 || out != "over tls" {
		t.Fatalf("get at n3: exit %d, %q: %s", code, out, errOut)
	}

	out, errOut, code = clientCLI(t, "", "status", "--endpoints", "https://"+procs[1].http, "--ca-file", ca.File)
	if code != 0 || strings.Count(out, "https://127.0.0.1:") != size {
		t.Errorf("status at n2: exit %d, want every member's address as https://: %s%s", code, out, errOut)
	}

	// Rotate n1's certificate and signal it.
	seen := func() string {
		res, _, err := get(procs[0], "/health")
		if err != nil {
			t.Fatalf("n1 over HTTPS: %v", err)
		}
		return res.TLS.PeerCertificates[0].Subject.CommonName
	}
	if got := seen(); got != "n1" {
		t.Fatalf("n1 presents %q", got)
	}
	rotated := ca.Issue(t, "n1-rotated")
	writeFile(t, filepath.Join(certDir, "n1.pem"), rotated.CertPEM)
	writeFile(t, filepath.Join(certDir, "n1-key.pem"), rotated.KeyPEM)
	if err := procs[0].cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for seen() != "n1-rotated" {
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(procs[0].log)
			t.Fatalf("after SIGHUP n1 still presents its old certificate; log:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The node kept running and still reaches its peers over mutual TLS.
	if _, errOut, code := clientCLI(t, "", "put", "--endpoints", "https://"+procs[0].http, "--ca-file", ca.File, "--w", "3", "k2", "after rotation"); code != 0 {
		t.Fatalf("put at n1 after rotation: exit %d: %s", code, errOut)
	}
	for _, p := range procs {
		if logs, _ := os.ReadFile(p.log); strings.Contains(string(logs), "TLS handshake failed") {
			t.Errorf("%s refused a handshake between members:\n%s", p.name, logs)
		}
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func readAll(res *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
