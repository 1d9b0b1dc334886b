// Command dynkv-healthcheck asks a dynkv node for GET /health and exits 0 if
// it answers 200 OK, 1 otherwise. It exists for container images that have
// no shell, curl or wget (distroless, scratch): the image's HEALTHCHECK and
// the compose file's healthcheck run it inside the container.
//
//	dynkv-healthcheck [URL]
//
// Without URL it asks http://HOST:PORT/health, where HOST:PORT comes from
// DYNKV_HTTP_ADDR (the variable `dynkv serve` reads --http-addr from), a
// wildcard host (0.0.0.0, ::, empty) becoming 127.0.0.1; with
// DYNKV_HTTP_ADDR unset it asks 127.0.0.1:8001, the flag's default port.
// With DYNKV_TLS_CERT set (the node serves HTTPS) it asks https:// and
// checks the node's certificate against DYNKV_TLS_CA, or the certificate
// file itself without a CA (tls.go).
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// timeout bounds the whole check; Docker's own --timeout should be larger.
const timeout = 3 * time.Second

func main() {
	url, err := target(os.Args[1:], os.Getenv)
	var hc *http.Client
	if err == nil {
		hc, err = client(os.Getenv)
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err = check(ctx, hc, url)
		cancel()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dynkv-healthcheck: %v\n", err)
		os.Exit(1)
	}
}

// target returns the URL to ask: the single argument if given, otherwise
// /health on the address in DYNKV_HTTP_ADDR.
func target(args []string, getenv func(string) string) (string, error) {
	switch len(args) {
	case 0:
	case 1:
		return args[0], nil
	default:
		return "", fmt.Errorf("usage: dynkv-healthcheck [URL], got %d arguments", len(args))
	}
	addr := getenv("DYNKV_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8001"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("DYNKV_HTTP_ADDR=%q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http://"
	if getenv("DYNKV_TLS_CERT") != "" {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port) + "/health", nil
}

// check asks url and returns nil for a 200 answer.
func check(ctx context.Context, hc *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, body)
	}
	return nil
}
