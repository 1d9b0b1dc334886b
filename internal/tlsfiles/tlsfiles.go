// Package tlsfiles loads the PEM files of dynkv's TLS settings (a node's
// certificate and key, the CA that signs the nodes' certificates) into
// *tls.Config values for the server and client roles, and re-reads them on
// Reload so that certificates can be rotated without a restart.
//
// Every config a Holder hands out looks its certificate and CA up through the
// Holder at handshake time, so a Reload takes effect for the next handshake;
// connections already established keep the certificates they were opened
// with. A Reload that fails keeps the files loaded before.
package tlsfiles

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrBadFiles is wrapped by every error about the files themselves: one
// missing or unreadable, not PEM, a key that does not match its certificate,
// a CA file without certificates.
var ErrBadFiles = errors.New("tls: bad certificate files")

// Files names the PEM files of a node's TLS settings.
type Files struct {
	// Cert is the node's certificate chain (leaf first) and Key its private
	// key; both or neither.
	Cert, Key string
	// CA holds the certificates that sign the nodes' certificates: a peer's
	// certificate is verified against them. Empty: none (no mutual TLS).
	CA string
	// ServerName, if set, is the name a client checks in the certificate of
	// the node it dials, instead of the host it dials (for certificates that
	// name a service rather than each node's address).
	ServerName string
}

// material is one consistent load of the files.
type material struct {
	cert   *tls.Certificate // nil without Cert/Key
	pool   *x509.CertPool   // nil without CA
	mtimes [3]time.Time     // of Cert, Key and CA when read
}

// Holder holds the loaded files and hands out configs that read them at
// handshake time. Safe for concurrent use.
type Holder struct {
	files Files
	mu    sync.RWMutex
	cur   material
}

// Load reads the files and returns a Holder, or an error wrapping
// ErrBadFiles that names the file and what is wrong with it.
func Load(f Files) (*Holder, error) {
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("%w: a certificate and its key go together: give both or neither", ErrBadFiles)
	}
	if f.Cert == "" && f.CA == "" {
		return nil, fmt.Errorf("%w: no files given", ErrBadFiles)
	}
	h := &Holder{files: f}
	m, err := load(f)
	if err != nil {
		return nil, err
	}
	h.cur = m
	return h, nil
}

// Files returns the file names the Holder reads.
func (h *Holder) Files() Files { return h.files }

// Reload re-reads every file. On error the files loaded before stay in use.
func (h *Holder) Reload() error {
	m, err := load(h.files)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.cur = m
	h.mu.Unlock()
	return nil
}

// Changed reports whether a file's modification time differs from when it
// was last loaded (an unreadable file counts as changed, so that Reload
// reports it).
func (h *Holder) Changed() bool {
	h.mu.RLock()
	old := h.cur.mtimes
	h.mu.RUnlock()
	return mtimes(h.files) != old
}

// Watch reloads the files whenever one's modification time changes, checking
// every interval, until ctx ends. Failed reloads are logged and keep the
// files loaded before.
func (h *Holder) Watch(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !h.Changed() {
			continue
		}
		if err := h.Reload(); err != nil {
			log.Error("TLS files changed but cannot be loaded; keeping the ones loaded before", "err", err)
			continue
		}
		log.Info("TLS files reloaded", "cert", h.files.Cert, "ca", h.files.CA)
	}
}

func (h *Holder) material() material {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cur
}

// Certificate returns the node's current certificate (nil without one).
func (h *Holder) Certificate() *tls.Certificate { return h.material().cert }

// Pool returns the current CA pool (nil without a CA file).
func (h *Holder) Pool() *x509.CertPool { return h.material().pool }

func (h *Holder) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := h.Certificate(); c != nil {
		return c, nil
	}
	return nil, errors.New("tls: this node has no certificate (--tls-cert, --tls-key)")
}

// ServerConfig is for a server that presents the node's certificate and asks
// clients for none (HTTPS on the client port). It needs Cert and Key.
func (h *Holder) ServerConfig() (*tls.Config, error) {
	if h.files.Cert == "" {
		return nil, fmt.Errorf("%w: serving TLS needs a certificate and key", ErrBadFiles)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: h.getCertificate}, nil
}

// MutualServerConfig is for a server that presents the node's certificate
// and requires of every client a certificate signed by the CA (RPC between
// nodes). It needs Cert, Key and CA.
func (h *Holder) MutualServerConfig() (*tls.Config, error) {
	if h.files.Cert == "" || h.files.CA == "" {
		return nil, fmt.Errorf("%w: mutual TLS needs a certificate, its key and a CA", ErrBadFiles)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := h.material()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{*m.cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    m.pool,
			}, nil
		},
	}, nil
}

// ClientConfig is for a client that verifies the server's certificate
// against the CA, checking the name Files.ServerName or else the host it
// dials, and presents the node's certificate when it has one (mutual TLS).
// It needs CA.
//
// Go's own verification reads a fixed RootCAs; to follow a reloaded CA the
// config turns it off and verifies in VerifyConnection instead, against the
// CA current at the handshake, with the same checks (chain, expiry, name,
// server-auth usage).
func (h *Holder) ClientConfig() (*tls.Config, error) {
	if h.files.CA == "" {
		return nil, fmt.Errorf("%w: verifying peers needs a CA", ErrBadFiles)
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         h.files.ServerName,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection:   h.verifyServer,
	}
	if h.files.Cert != "" {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return h.Certificate(), nil
		}
	}
	return cfg, nil
}

// verifyServer does what crypto/tls does with RootCAs, with the current pool.
func (h *Holder) verifyServer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         h.Pool(),
		DNSName:       cs.ServerName,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}

// LoadCAPool reads a PEM file of CA certificates.
func LoadCAPool(path string) (*x509.CertPool, error) {
	raw, err := readFile("CA", path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file %s: a certificate does not parse: %w", ErrBadFiles, path, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate (want -----BEGIN CERTIFICATE-----)", ErrBadFiles, path)
	}
	return pool, nil
}

// LoadKeyPair reads a certificate chain and its private key, checking that
// they match.
func LoadKeyPair(certPath, keyPath string) (*tls.Certificate, error) {
	certPEM, err := readFile("certificate", certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile("key", keyPath)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(certPEM, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("%w: certificate file %s holds no PEM certificate (want -----BEGIN CERTIFICATE-----)", ErrBadFiles, certPath)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || !bytes.Contains([]byte(b.Type), []byte("PRIVATE KEY")) {
		return nil, fmt.Errorf("%w: key file %s holds no PEM private key (want -----BEGIN ... PRIVATE KEY-----)", ErrBadFiles, keyPath)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if bytes.Contains([]byte(err.Error()), []byte("does not match")) {
			return nil, fmt.Errorf("%w: key %s does not belong to certificate %s: %w", ErrBadFiles, keyPath, certPath, err)
		}
		return nil, fmt.Errorf("%w: certificate %s with key %s: %w", ErrBadFiles, certPath, keyPath, err)
	}
	if now := time.Now(); cert.Leaf != nil && now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("%w: certificate %s expired on %s", ErrBadFiles, certPath, cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	return &cert, nil
}

func load(f Files) (material, error) {
	m := material{mtimes: mtimes(f)}
	var err error
	if f.Cert != "" {
		if m.cert, err = LoadKeyPair(f.Cert, f.Key); err != nil {
			return material{}, err
		}
	}
	if f.CA != "" {
		if m.pool, err = LoadCAPool(f.CA); err != nil {
			return material{}, err
		}
	}
	return m, nil
}

func readFile(what, path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s file: %w", ErrBadFiles, what, err)
	}
	return raw, nil
}

// mtimes returns the modification times of the files (zero for a missing
// one).
func mtimes(f Files) [3]time.Time {
	var out [3]time.Time
	for i, p := range []string{f.Cert, f.Key, f.CA} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			out[i] = fi.ModTime()
		}
	}
	return out
}
