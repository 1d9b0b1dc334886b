package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynkv/dynkv/internal/tlsfiles"
	"github.com/dynkv/dynkv/node"
)

// The TLS flags of `dynkv serve`: HTTPS on the client port, mutual TLS
// between nodes, and the reloading of the files on SIGHUP or when they
// change.

// tlsReloadInterval is how often serve checks the TLS files' modification
// times.
const tlsReloadInterval = 10 * time.Second

// tlsFlags are the file names given to serve.
type tlsFlags struct {
	cert, key, ca, serverName string
}

// bindTLSFlags adds the TLS flags to fs (so DYNKV_TLS_CERT and the like set
// them too).
func bindTLSFlags(fs *pflag.FlagSet) *tlsFlags {
	f := &tlsFlags{}
	fs.StringVar(&f.cert, "tls-cert", "", "PEM certificate (chain) of this node: with --tls-key, the client port serves HTTPS only")
	fs.StringVar(&f.key, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.ca, "tls-ca", "", "PEM CA certificate(s) that sign the nodes' certificates: turns on mutual TLS between nodes on the RPC port (needs --tls-cert and --tls-key)")
	fs.StringVar(&f.serverName, "tls-server-name", "", "name to check in the certificates of peers this node dials (default: the host of their RPC address)")
	return f
}

// apply loads the files into cfg.TLS. It returns the holder to reload, or
// nil when no TLS flag was given. The error names the flag and the problem.
func (f *tlsFlags) apply(cfg *node.Config) (*tlsfiles.Holder, error) {
	switch {
	case f.cert == "" && f.key == "" && f.ca == "" && f.serverName == "":
		return nil, nil
	case f.cert == "" && f.key == "":
		return nil, errors.New("--tls-ca and --tls-server-name (mutual TLS between nodes) need this node's --tls-cert and --tls-key")
	case f.cert == "" || f.key == "":
		return nil, errors.New("--tls-cert and --tls-key go together: give both (HTTPS on the client port) or neither")
	case f.serverName != "" && f.ca == "":
		return nil, errors.New("--tls-server-name applies to mutual TLS between nodes: give --tls-ca too")
	}
	h, err := tlsfiles.Load(tlsfiles.Files{Cert: f.cert, Key: f.key, CA: f.ca, ServerName: f.serverName})
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key/--tls-ca: %w", err)
	}
	if cfg.TLS.HTTP, err = h.ServerConfig(); err != nil {
		return nil, err
	}
	if f.ca == "" {
		return h, nil
	}
	if cfg.TLS.RPCServer, err = h.MutualServerConfig(); err != nil {
		return nil, err
	}
	if cfg.TLS.RPCClient, err = h.ClientConfig(); err != nil {
		return nil, err
	}
	return h, nil
}

// watchTLS reloads h's files on SIGHUP and when their modification times
// change, until the returned stop is called. It handles SIGHUP even without
// TLS (h nil), so that `systemctl reload` never kills the node.
func watchTLS(h *tlsfiles.Holder, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(hup)
		var tick <-chan time.Time
		if h != nil {
			logCert(h, log)
			t := time.NewTicker(tlsReloadInterval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadTLS(h, log, "SIGHUP")
			case <-tick:
				if h.Changed() {
					reloadTLS(h, log, "files changed")
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

func reloadTLS(h *tlsfiles.Holder, log *slog.Logger, why string) {
	if h == nil {
		log.Info("nothing to reload: no TLS files (--tls-cert, --tls-key, --tls-ca)", "trigger", why)
		return
	}
	if err := h.Reload(); err != nil {
		log.Error("TLS files not reloaded; the ones loaded before stay in use", "trigger", why, "err", err)
		return
	}
	f := h.Files()
	log.Info("TLS files reloaded: new connections use them", "trigger", why, "cert", f.Cert, "ca", f.CA)
	logCert(h, log)
}

// certWarnBefore: a certificate this close to its expiry is logged as a
// warning.
const certWarnBefore = 30 * 24 * time.Hour

// logCert logs the node's certificate's subject and expiry.
func logCert(h *tlsfiles.Holder, log *slog.Logger) {
	c := h.Certificate()
	if c == nil || c.Leaf == nil {
		return
	}
	left := time.Until(c.Leaf.NotAfter)
	args := []any{"subject", c.Leaf.Subject.CommonName, "not_after", c.Leaf.NotAfter.Format(time.RFC3339), "mutual_tls", h.Files().CA != ""}
	if left < certWarnBefore {
		log.Warn("TLS certificate expires soon: replace the files and send SIGHUP", append(args, "left", left.Round(time.Hour))...)
		return
	}
	log.Info("TLS certificate", args...)
}

// securityEnv lists the serve variables that `dynkv dev` does not pass to
// its nodes: dev is a plaintext, token-less local cluster whatever the
// shell exports.
var securityEnv = []string{
	"DYNKV_TLS_CERT", "DYNKV_TLS_KEY", "DYNKV_TLS_CA", "DYNKV_TLS_SERVER_NAME",
	"DYNKV_AUTH_TOKEN_FILE", "DYNKV_ADMIN_TOKEN_FILE", "DYNKV_GOSSIP_KEY_FILE",
}

// devEnv returns env without the security variables.
func devEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, s := range securityEnv {
			drop = drop || name == s
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// nodeURL turns an endpoint of the ring commands (host:port or a URL) into
// the base URL of the node.
func nodeURL(ep string) string {
	if strings.Contains(ep, "://") {
		return strings.TrimSuffix(ep, "/")
	}
	return "http://" + ep
}

// cmdHTTPClient is the HTTP client of the ring commands: cmdHTTP, or one
// that trusts the CA of --ca-file.
func cmdHTTPClient(fs *pflag.FlagSet) (*http.Client, error) {
	f := fs.Lookup("ca-file")
	if f == nil || f.Value.String() == "" {
		return cmdHTTP, nil
	}
	pool, err := tlsfiles.LoadCAPool(f.Value.String())
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{Timeout: cmdHTTP.Timeout, Transport: tr}, nil
}
