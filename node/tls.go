package node

import (
	"crypto/tls"
	"errors"
	"net"

	"github.com/dynkv/dynkv/internal/rpc"
)

// TLSConfig is a node's TLS. The configs are used as given at every
// handshake, so configs whose callbacks (GetCertificate,
// GetConfigForClient, VerifyConnection) read reloadable files, as
// internal/tlsfiles makes them, rotate certificates without a restart.
type TLSConfig struct {
	// HTTP, if set, makes the client API speak HTTPS only (--tls-cert,
	// --tls-key).
	HTTP *tls.Config
	// RPCServer and RPCClient, both or neither, make requests between nodes
	// mutual TLS (--tls-ca): the RPC port accepts only peers whose
	// certificate the server config trusts, and peers are dialled with the
	// client config. A plaintext peer can then neither call this node nor
	// be called by it.
	RPCServer, RPCClient *tls.Config
}

// validate reports a half-configured RPC TLS.
func (t TLSConfig) validate() error {
	if (t.RPCServer == nil) != (t.RPCClient == nil) {
		return errors.New("mutual TLS between nodes needs both a server and a client config (--tls-ca with --tls-cert and --tls-key)")
	}
	return nil
}

// rpcTLS reports whether requests between nodes use mutual TLS.
func (t TLSConfig) rpcTLS() bool { return t.RPCServer != nil }

// wrap returns ln serving TLS when the client API has a TLS config.
func (t TLSConfig) wrap(ln net.Listener) net.Listener {
	if t.HTTP == nil {
		return ln
	}
	return tls.NewListener(ln, t.HTTP)
}

// applyRPC sets the RPC transport's TLS configs.
func (t TLSConfig) applyRPC(c *rpc.Config) { c.ServerTLS, c.ClientTLS = t.RPCServer, t.RPCClient }

// scheme is the scheme of the client API: "https" or "http".
func (t TLSConfig) scheme() string {
	if t.HTTP != nil {
		return "https"
	}
	return "http"
}

// HTTPScheme is the scheme of the client API: "https" or "http".
func (n *Node) HTTPScheme() string { return n.cfg.TLS.scheme() }

// scheme is the member's HTTP scheme as /status reports it.
func (r memberRecord) scheme() string {
	if r.HTTPScheme == "" {
		return "http"
	}
	return r.HTTPScheme
}
