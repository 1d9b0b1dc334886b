package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/hashicorp/memberlist"

	"github.com/dynkv/dynkv/hintedhandoff"
	"github.com/dynkv/dynkv/internal/rpc"
	"github.com/dynkv/dynkv/ring"
)

// Config is everything a node needs to start. DefaultConfig fills the
// defaults; Validate checks the relations between fields.
type Config struct {
	Name    string // unique, stable node name; recorded in the data dir
	DataDir string

	HTTPAddr   string // host:port the client API binds and advertises
	RPCAddr    string // host:port for node-to-node requests
	GossipAddr string // host:port for memberlist (UDP and TCP)
	// AdvertiseHost, if set, replaces the host part of every address told
	// to peers (for 0.0.0.0 binds and containers).
	AdvertiseHost string
	Join          []string // gossip addresses of seed nodes
	// AuthToken, if set, is the bearer token every HTTP request but
	// /health must carry; AdminToken, if set, the one /admin/* requests
	// (leave, remove, replica reads, rebuilds) must carry instead.
	AuthToken, AdminToken string
	// GossipKey, if set, encrypts gossip (16, 24 or 32 bytes: AES-128,
	// -192 or -256); every node of a cluster needs the same key.
	GossipKey []byte
	// TLS, if set, makes the client API HTTPS and RPC between nodes mutual
	// TLS (tls.go).
	TLS TLSConfig

	N          int // replicas per key
	Partitions int // Q, a power of two, fixed at cluster creation
	R, W       int // default read/write quorums

	MaxValueSize   int64         // largest value a PUT may carry
	DefaultTimeout time.Duration // request timeout when the client gives none
	MaxTimeout     time.Duration // largest timeout a client may ask for

	// Limits protect the node: concurrency, header and body sizes,
	// connection timeouts, siblings per key, free disk (limits.go).
	Limits Limits

	// HintedHandoff enables sloppy quorums: fallbacks stand in for down
	// primaries and keep hints for them. Off, writes to down primaries are
	// simply missed until anti-entropy repairs them.
	HintedHandoff bool
	Hints         hintedhandoff.Config

	// AAEInterval is how often an anti-entropy exchange starts (0: off).
	AAEInterval time.Duration
	// AAERate limits anti-entropy traffic, bytes per second (0: unlimited).
	AAERate int64
	// TransferRate limits the copying of partitions during ring changes,
	// bytes per second (0: unlimited).
	TransferRate int64

	// ReconnectInterval is how often a node tries to rejoin ring members
	// gossip declared dead, so that a healed partition closes (0: never).
	ReconnectInterval time.Duration

	// TombstoneGrace is how long a tombstone is kept, at least, once every
	// replica holds it; it must exceed the hint window so that no hint
	// older than the delete can arrive after the tombstone is gone.
	TombstoneGrace time.Duration

	// BlockCacheSize is pebble's block cache, bytes. ValueCacheSize bounds
	// the cache of stored sibling sets (as encoded) that reads and the
	// read-modify-write of every replica write hit before pebble (0: off):
	// when a node's hot keys fit in it, a read costs no pebble lookup.
	BlockCacheSize, ValueCacheSize int64

	Version string // reported in /status
	Logger  *slog.Logger

	// Test hooks: in-process multi-node tests replace the network and disk.
	RPCNetwork   RPCNetwork               // nil: TCP on RPCAddr
	FS           vfs.FS                   // nil: the real disk
	Gossip       func(*memberlist.Config) // adjusts memberlist's config (timing, transport)
	HTTPListener net.Listener             // nil: listen on HTTPAddr
	// FreeSpace reads the free bytes of the data dir's file system (nil:
	// statfs), for tests of Limits.MinFreeDisk.
	FreeSpace func(dir string) (uint64, error)
	// MaxSiblingBytes bounds the encoded size of a key's siblings together
	// (0: 60 MiB, what fits one RPC frame); tests lower it.
	MaxSiblingBytes int
	// Now is the node's wall clock (nil: time.Now). Simulations skew it per
	// node to show that no outcome depends on clocks agreeing: versions are
	// ordered by vector clocks only, and clocks time only local things
	// (hint windows, tombstone grace, anti-entropy pacing).
	Now func() time.Time
}

// now reads the node's clock.
func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// RPCNetwork is how a node listens for and reaches its peers; the default is
// TCP, tests use rpc.MemNetwork.
type RPCNetwork interface {
	Listen(addr string, h rpc.Handler) (io.Closer, error)
	Client(from string) rpc.Transport
}

// DefaultConfig returns the defaults of dynkv serve.
func DefaultConfig() Config {
	return Config{
		N:                 3,
		Partitions:        ring.DefaultConfig().Partitions,
		R:                 2,
		W:                 2,
		MaxValueSize:      4 << 20,
		DefaultTimeout:    5 * time.Second,
		MaxTimeout:        time.Minute,
		Limits:            DefaultLimits(),
		Version:           "dev",
		HintedHandoff:     true,
		Hints:             hintedhandoff.DefaultConfig(),
		AAEInterval:       10 * time.Second,
		AAERate:           8 << 20,
		TombstoneGrace:    24 * time.Hour,
		ReconnectInterval: 5 * time.Second,
		TransferRate:      32 << 20,
		BlockCacheSize:    64 << 20,
		ValueCacheSize:    256 << 20,
	}
}

// Validate reports the first problem with c, in words an operator can act on.
func (c Config) Validate() error {
	switch {
	case !validName(c.Name):
		return fmt.Errorf("node name %q must be 1 to 64 letters, digits, '.', '_' or '-' (--name)", c.Name)
	case c.DataDir == "":
		return errors.New("a data directory is required (--data-dir)")
	case c.HTTPAddr == "" && c.HTTPListener == nil:
		return errors.New("an HTTP address is required (--http-addr)")
	case c.RPCAddr == "":
		return errors.New("an RPC address is required (--rpc-addr)")
	case c.GossipAddr == "":
		return errors.New("a gossip address is required (--gossip-addr)")
	}
	if err := (ring.Config{Partitions: c.Partitions, N: c.N}).Validate(); err != nil {
		return fmt.Errorf("--partitions/--n: %w", err)
	}
	if c.R < 1 || c.R > c.N {
		return fmt.Errorf("--r must be between 1 and --n (%d), got %d", c.N, c.R)
	}
	if c.W < 1 || c.W > c.N {
		return fmt.Errorf("--w must be between 1 and --n (%d), got %d", c.N, c.W)
	}
	if c.MaxValueSize < 1 || c.MaxValueSize > maxValueSizeLimit {
		return fmt.Errorf("--max-value-size must be between 1 and %d (values travel between nodes in frames of at most 64 MiB), got %d", maxValueSizeLimit, c.MaxValueSize)
	}
	if c.DefaultTimeout <= 0 || c.MaxTimeout < c.DefaultTimeout {
		return fmt.Errorf("--timeout must be positive and at most %s, got %s", c.MaxTimeout, c.DefaultTimeout)
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.HintedHandoff {
		if err := c.Hints.Validate(); err != nil {
			return err
		}
		if c.TombstoneGrace < c.Hints.MaxWindow {
			return fmt.Errorf("--tombstone-grace (%s) must be at least --hint-window (%s): a hint older than a delete could otherwise arrive after its tombstone is gone", c.TombstoneGrace, c.Hints.MaxWindow)
		}
	}
	if n := len(c.GossipKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return fmt.Errorf("the gossip key must be 16, 24 or 32 bytes (AES-128, -192 or -256), got %d (--gossip-key-file)", n)
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if c.BlockCacheSize < 0 || c.ValueCacheSize < 0 {
		return fmt.Errorf("--block-cache-size and --value-cache-size must not be negative, got %d and %d", c.BlockCacheSize, c.ValueCacheSize)
	}
	if c.TransferRate < 0 {
		return fmt.Errorf("--transfer-rate must not be negative, got %d", c.TransferRate)
	}
	if c.AAEInterval < 0 || c.AAERate < 0 || c.TombstoneGrace <= 0 {
		return fmt.Errorf("--aae-interval and --aae-rate must not be negative, --tombstone-grace must be positive")
	}
	for _, a := range []struct{ flag, addr string }{{"--http-addr", c.HTTPAddr}, {"--rpc-addr", c.RPCAddr}, {"--gossip-addr", c.GossipAddr}} {
		if a.addr == "" {
			continue // an HTTPListener stands in for --http-addr
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s %q: %w", a.flag, a.addr, err)
		}
	}
	return nil
}

func validName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// wildcard reports whether one of the node's addresses binds every
// interface (0.0.0.0, ::, or no host).
func (c Config) wildcard() bool {
	for _, a := range []string{c.HTTPAddr, c.RPCAddr, c.GossipAddr} {
		if host, _, err := net.SplitHostPort(a); err == nil {
			if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
				return true
			}
		}
	}
	return false
}

// fillAdvertise picks AdvertiseHost when an address binds every interface
// and none was given: peers dial what a node tells them, and
// "0.0.0.0:9001" would send them to themselves. Like memberlist, it takes
// the host's private IP address; an operator with several chooses with
// --advertise-host.
func (c *Config) fillAdvertise(privateIP func() (string, error)) error {
	if c.AdvertiseHost != "" || !c.wildcard() {
		return nil
	}
	ip, err := privateIP()
	if err != nil || ip == "" {
		return fmt.Errorf("an address binds every interface and no private IP address was found to tell peers (%v): give one with --advertise-host", err)
	}
	c.AdvertiseHost = ip
	return nil
}

// advertise returns addr with its host replaced by AdvertiseHost, if set.
func (c Config) advertise(addr string) string {
	if c.AdvertiseHost == "" {
		return addr
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return net.JoinHostPort(c.AdvertiseHost, port)
}
