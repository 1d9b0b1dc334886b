package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// client returns the HTTP client of the check: the default one, or for a
// node serving HTTPS (DYNKV_TLS_CERT set) one that trusts DYNKV_TLS_CA, or
// the node's own certificate file when there is no CA.
//
// The check dials the node's own port, often through 127.0.0.1, which the
// certificate need not name; so it verifies that the certificate chains to
// the trusted one but not the host name it was made for.
func client(getenv func(string) string) (*http.Client, error) {
	certFile := getenv("DYNKV_TLS_CERT")
	if certFile == "" {
		return http.DefaultClient, nil
	}
	trusted := getenv("DYNKV_TLS_CA")
	if trusted == "" {
		trusted = certFile
	}
	raw, err := os.ReadFile(trusted)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%s holds no PEM certificate", trusted)
	}
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("the node presented no certificate")
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(opts)
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // the chain is checked by verify, the host name is not
		VerifyConnection:   verify,
	}
	return &http.Client{Transport: tr}, nil
}
