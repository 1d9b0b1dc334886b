// Package tlstest makes throwaway certificates for tests: a CA and
// certificates it signs for 127.0.0.1 and localhost, with ECDSA P-256 keys,
// written as PEM files the way an operator would give them to dynkv.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority whose key stays in memory.
type CA struct {
	Cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	CertPEM []byte
	// File is the CA certificate written as PEM (for --tls-ca, CAFile).
	File string
	dir  string
}

// Pair is a certificate and its key as PEM files.
type Pair struct {
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
}

// NewCA makes a CA whose files live in a temp dir of t.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "dynkv test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{Cert: cert, key: key, CertPEM: pemBlock("CERTIFICATE", der), dir: t.TempDir()}
	ca.File = write(t, ca.dir, "ca.pem", ca.CertPEM)
	return ca
}

// Issue makes a certificate named name for 127.0.0.1, ::1 and localhost
// (and any extra DNS names), good for both server and client
// authentication, and writes it as name.pem and name-key.pem.
func (ca *CA) Issue(t testing.TB, name string, dnsNames ...string) Pair {
	t.Helper()
	return ca.IssueFor(t, name, time.Now().Add(24*time.Hour), dnsNames...)
}

// IssueFor is Issue with the expiry given.
func (ca *CA) IssueFor(t testing.TB, name string, notAfter time.Time, dnsNames ...string) Pair {
	t.Helper()
	return ca.issue(t, name, notAfter, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, append([]string{"localhost"}, dnsNames...))
}

// IssueElsewhere makes a certificate that names only ip and name+".example",
// not this host: a peer presenting it where another address was dialled
// must be refused.
func (ca *CA) IssueElsewhere(t testing.TB, name string, ip net.IP) Pair {
	t.Helper()
	return ca.issue(t, name, time.Now().Add(24*time.Hour), []net.IP{ip}, []string{name + ".example"})
}

func (ca *CA) issue(t testing.TB, name string, notAfter time.Time, ips []net.IP, dnsNames []string) Pair {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER)}
	p.CertFile = write(t, ca.dir, name+".pem", p.CertPEM)
	p.KeyFile = write(t, ca.dir, name+"-key.pem", p.KeyPEM)
	return p
}

// ServerConfig issues a certificate for name and returns a server TLS
// config presenting it: a fake node serving HTTPS.
func (ca *CA) ServerConfig(t testing.TB, name string) *tls.Config {
	t.Helper()
	p := ca.Issue(t, name)
	cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// Write writes data to a new file in the CA's dir and returns its path.
func (ca *CA) Write(t testing.TB, name string, data []byte) string {
	t.Helper()
	return write(t, ca.dir, name, data)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
