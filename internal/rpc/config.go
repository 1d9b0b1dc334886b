package rpc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Config tunes the TCP Client and Server. A zero field means its default (DefaultConfig),
// so Config{} is valid.
type Config struct {
	// ConnsPerPeer is how many connections a Client keeps to each peer, dialed lazily and
	// used round-robin; requests are pipelined on each. Default 1: every frame queued
	// for a peer while a write is in progress goes out in the next write, so one
	// connection carries more frames per syscall than two (node CPU per operation
	// fell about 10% in paired runs of workload A). At most 64.
	ConnsPerPeer int

	// DialTimeout bounds one dial. A caller stops waiting for a dial when its ctx ends,
	// but the dial itself, shared by the callers waiting on it, runs until DialTimeout.
	// Default 1s.
	DialTimeout time.Duration

	// MaxFrameSize bounds the bytes after a frame's length prefix (header and body).
	// Larger frames are refused on send (ErrFrameTooLarge, nothing sent) and on receive
	// (the connection is closed and the event logged). Default 64 MiB; at least 64 and at
	// most 4 GiB-1 (the prefix is 32 bits).
	MaxFrameSize int

	// MaxInFlightPerConn bounds the requests a Server serves at once on one connection;
	// beyond it the server stops reading that connection, so TCP pushes back on the
	// client. Default 1024.
	MaxInFlightPerConn int

	// IdleTimeout: a Server closes a connection that has carried no request and served
	// none for this long. A Client retires its own connections idle for half of it, so that
	// with equal configs it never sends on a connection the server is about to close; it
	// redials on the next call. Default 5 min; negative disables both.
	IdleTimeout time.Duration

	// WriteTimeout bounds one write to a connection. A peer that stops reading for this
	// long is treated as gone: the connection is closed and its calls fail with
	// ErrUnreachable. Default 10s; negative disables.
	WriteTimeout time.Duration

	// ServerTLS, if set, makes a Server speak TLS only: every accepted
	// connection must complete a handshake within HandshakeTimeout, and a
	// plaintext client is refused. For mutual TLS between nodes, it sets
	// ClientAuth to tls.RequireAndVerifyClientCert with the nodes' CA.
	ServerTLS *tls.Config

	// ClientTLS, if set, makes a Client dial TLS: each connection is cloned
	// from it, with ServerName set to the dialled host when empty, and must
	// complete its handshake within HandshakeTimeout. A handshake that fails
	// (the peer's certificate is not trusted, the peer speaks plaintext)
	// fails the call with ErrUnreachable wrapping the TLS error.
	ClientTLS *tls.Config

	// HandshakeTimeout bounds a TLS handshake, on either side. Default 5s.
	HandshakeTimeout time.Duration

	// Logger receives connection-level events (malformed frames, handler panics). Nil
	// discards them.
	Logger *slog.Logger
}

const (
	defaultConnsPerPeer = 1
	defaultDialTimeout  = time.Second
	defaultMaxFrameSize = 64 << 20
	defaultMaxInFlight  = 1024
	defaultIdleTimeout  = 5 * time.Minute
	defaultWriteTimeout = 10 * time.Second
	defaultHandshake    = 5 * time.Second

	maxConnsPerPeer = 64
	minMaxFrameSize = 64
	maxMaxFrameSize = math.MaxUint32 // the length prefix is a uint32
)

// DefaultConfig returns the defaults spelled out.
func DefaultConfig() Config {
	return Config{
		ConnsPerPeer:       defaultConnsPerPeer,
		DialTimeout:        defaultDialTimeout,
		MaxFrameSize:       defaultMaxFrameSize,
		MaxInFlightPerConn: defaultMaxInFlight,
		IdleTimeout:        defaultIdleTimeout,
		WriteTimeout:       defaultWriteTimeout,
		HandshakeTimeout:   defaultHandshake,
	}
}

// Validate reports every field out of range. Zero fields are valid (they mean the default).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("rpc: config: "+format, args...))
	}
	if c.ConnsPerPeer < 0 || c.ConnsPerPeer > maxConnsPerPeer {
		bad("ConnsPerPeer %d out of range [1, %d] (0 = default)", c.ConnsPerPeer, maxConnsPerPeer)
	}
	if c.DialTimeout < 0 {
		bad("DialTimeout %v is negative", c.DialTimeout)
	}
	if c.MaxFrameSize != 0 && (c.MaxFrameSize < minMaxFrameSize || int64(c.MaxFrameSize) > maxMaxFrameSize) {
		bad("MaxFrameSize %d out of range [%d, %d] (0 = default)", c.MaxFrameSize, minMaxFrameSize, int64(maxMaxFrameSize))
	}
	if c.HandshakeTimeout < 0 {
		bad("HandshakeTimeout %v is negative", c.HandshakeTimeout)
	}
	if c.MaxInFlightPerConn < 0 {
		bad("MaxInFlightPerConn %d is negative", c.MaxInFlightPerConn)
	}
	return errors.Join(errs...)
}

// withDefaults fills zero fields. Negative timeouts stay negative (disabled).
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.ConnsPerPeer == 0 {
		c.ConnsPerPeer = d.ConnsPerPeer
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = d.MaxFrameSize
	}
	if c.MaxInFlightPerConn == 0 {
		c.MaxInFlightPerConn = d.MaxInFlightPerConn
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	return c
}

func (c Config) logger(kind string) *slog.Logger {
	if c.Logger == nil {
		return discardLogger
	}
	return c.Logger.WithGroup("rpc").With("side", kind)
}
