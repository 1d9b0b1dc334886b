package rpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// TLS on the TCP transport: the Server wraps each accepted connection and the
// Client each dialled one; the frames inside are unchanged.

// clientHandshake wraps conn in TLS for addr and completes the handshake
// within HandshakeTimeout (and before ctx ends). It closes conn on failure.
func (c *Client) clientHandshake(ctx context.Context, addr string, conn net.Conn) (net.Conn, error) {
	cfg := c.cfg.ClientTLS.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			conn.Close()
			return nil, err
		}
		cfg.ServerName = host
	}
	if verify := cfg.VerifyConnection; verify != nil {
		// crypto/tls leaves ConnectionState.ServerName empty for an IP
		// address (no SNI for IPs); a VerifyConnection that checks
		// cs.ServerName would then check no name at all.
		name := cfg.ServerName
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if cs.ServerName == "" {
				cs.ServerName = name
			}
			return verify(cs)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// serveTLS completes the server side of a handshake on a new connection and
// then serves it, or closes it. It runs in its own goroutine so that a slow
// or silent client cannot hold up the accept loop.
func (s *Server) serveTLS(conn net.Conn) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	tc := tls.Server(conn, s.cfg.ServerTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		if s.ctx.Err() == nil && s.refusals.Allow() {
			s.log.Warn("refused a connection: TLS handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		}
		conn.Close() // after counting, so a peer that sees the close sees it counted
		return
	}
	s.serve(tc)
}
