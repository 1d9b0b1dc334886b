package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dynkv/dynkv/internal/tlsfiles"
)

// ErrTLS is wrapped when TLS stands between the client and a node: the
// node's certificate is not signed by a CA the client trusts (set
// Config.CAFile to the CA that signed the nodes' certificates) or does not
// name the endpoint's host, the CA file cannot be read, or the endpoint's
// scheme does not match what the node speaks (https:// to a plain HTTP node,
// http:// to an HTTPS one). Nothing was sent to that node.
var ErrTLS = errors.New("dynkv: TLS")

// setTLS gives the default HTTP client the TLS settings of cfg.
func (c *Client) setTLS(cfg Config) error {
	if cfg.CAFile == "" && cfg.TLS == nil {
		return nil
	}
	if cfg.HTTPClient != nil {
		return fmt.Errorf("%w: Config.CAFile and Config.TLS apply to the default HTTP client; with Config.HTTPClient set the TLS config of its transport instead", ErrTLS)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	if cfg.CAFile != "" {
		pool, err := tlsfiles.LoadCAPool(cfg.CAFile)
		if err != nil {
			return fmt.Errorf("%w: Config.CAFile: %w", ErrTLS, err)
		}
		tc.RootCAs = pool
	}
	c.http.Transport.(*http.Transport).TLSClientConfig = tc
	return nil
}

// tlsFailure returns an error wrapping ErrTLS when err (from sending to ep)
// is a TLS failure, and nil otherwise.
func tlsFailure(ep string, err error) error {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%w: the certificate of %s is not signed by a CA this client trusts; give the CA that signed the nodes' certificates (Config.CAFile, --ca-file): %w", ErrTLS, ep, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w: the certificate of %s does not name that host; use the name or address the certificate was made for: %w", ErrTLS, ep, err)
	case errors.As(err, &invalid):
		return fmt.Errorf("%w: the certificate of %s is not valid (expired, or not for a server): %w", ErrTLS, ep, err)
	case errors.As(err, &verify):
		return fmt.Errorf("%w: the certificate of %s failed verification: %w", ErrTLS, ep, err)
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &record):
		return fmt.Errorf("%w: %s speaks plain HTTP, not HTTPS: use an http:// endpoint: %w", ErrTLS, ep, err)
	case errors.As(err, &alert):
		return fmt.Errorf("%w: %s refused the TLS handshake: %w", ErrTLS, ep, err)
	}
	return nil
}

// plainToHTTPS reports net/http's answer to plain HTTP sent to an HTTPS port.
func plainToHTTPS(resp *response) error {
	if resp.status != http.StatusBadRequest || !strings.Contains(string(resp.body), "HTTP request to an HTTPS server") {
		return nil
	}
	return fmt.Errorf("%w: %s serves HTTPS: use an https:// endpoint (and Config.CAFile, --ca-file, for its CA)", ErrTLS, resp.endpoint)
}
