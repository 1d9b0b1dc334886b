package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynkv/dynkv/node"
)

// version is the build's version; release builds set it with
// -ldflags "-X main.version=...".
var version = "dev"

// serveFlags binds the flags of `dynkv serve` into a node.Config.
func serveFlags(fs *pflag.FlagSet, cfg *node.Config, logLevel, logFormat *string) {
	d := node.DefaultConfig()
	fs.StringVar(&cfg.Name, "name", "", "unique, stable name of this node (recorded in the data dir)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for this node's data")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8001", "host:port of the client HTTP API")
	fs.StringVar(&cfg.RPCAddr, "rpc-addr", "127.0.0.1:9001", "host:port for requests between nodes")
	fs.StringVar(&cfg.GossipAddr, "gossip-addr", "127.0.0.1:7001", "host:port for gossip (UDP and TCP)")
	fs.StringVar(&cfg.AdvertiseHost, "advertise-host", "", "address (IP or host name) to tell peers and clients instead of the bound one; a 0.0.0.0 bind without it advertises the host's private IP")
	fs.StringSliceVar(&cfg.Join, "join", nil, "gossip addresses of nodes to join, comma separated")
	fs.IntVar(&cfg.N, "n", d.N, "replicas per key")
	fs.IntVar(&cfg.Partitions, "partitions", d.Partitions, "partitions in the ring (a power of two, fixed at cluster creation; at least 16 per node you expect to grow to)")
	fs.IntVar(&cfg.R, "r", d.R, "default read quorum")
	fs.IntVar(&cfg.W, "w", d.W, "default write quorum")
	fs.Int64Var(&cfg.MaxValueSize, "max-value-size", d.MaxValueSize, "largest value a PUT may carry, in bytes")
	fs.DurationVar(&cfg.DefaultTimeout, "timeout", d.DefaultTimeout, "request timeout when the client gives none")
	fs.DurationVar(&cfg.MaxTimeout, "max-timeout", d.MaxTimeout, "largest timeout a client may ask for")
	fs.BoolVar(&cfg.HintedHandoff, "hinted-handoff", d.HintedHandoff, "let fallback nodes take writes for down replicas and hand them over later (sloppy quorum)")
	fs.DurationVar(&cfg.Hints.MaxWindow, "hint-window", d.Hints.MaxWindow, "stop writing hints for a node down longer than this; anti-entropy repairs it instead")
	fs.Int64Var(&cfg.Hints.MaxBytes, "max-hint-bytes", d.Hints.MaxBytes, "most bytes of hints this node keeps")
	fs.Int64Var(&cfg.Hints.RateBytes, "hint-rate", d.Hints.RateBytes, "hint delivery rate limit, bytes per second (0: unlimited)")
	fs.DurationVar(&cfg.AAEInterval, "aae-interval", d.AAEInterval, "how often an anti-entropy exchange starts (0: off)")
	fs.Int64Var(&cfg.AAERate, "aae-rate", d.AAERate, "anti-entropy traffic limit, bytes per second (0: unlimited)")
	fs.Int64Var(&cfg.TransferRate, "transfer-rate", d.TransferRate, "copy rate of partitions moving in a join, leave or remove, bytes per second (0: unlimited)")
	fs.Int64Var(&cfg.BlockCacheSize, "block-cache-size", d.BlockCacheSize, "pebble's block cache, bytes")
	fs.Int64Var(&cfg.ValueCacheSize, "value-cache-size", d.ValueCacheSize, "cache of stored values in front of pebble, bytes (0: off); size it to hold the hot keys")
	fs.DurationVar(&cfg.TombstoneGrace, "tombstone-grace", d.TombstoneGrace, "keep a tombstone at least this long once every replica holds it (at least --hint-window)")
	limitFlags(fs, &cfg.Limits)
	fs.StringVar(logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(logFormat, "log-format", "text", "log format: text or json")
}

// applyEnv sets every flag not given on the command line from DYNKV_<FLAG>
// (upper case, dashes as underscores), if that variable is set.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil {
			return
		}
		name := "DYNKV_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use text or json", format)
	}
}

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("dynkv serve", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := node.DefaultConfig()
	var logLevel, logFormat, pprofAddr, gossipKeyFile string
	serveFlags(fs, &cfg, &logLevel, &logFormat)
	var authTokenFile, adminTokenFile string
	fs.StringVar(&authTokenFile, "auth-token-file", "", "file holding the bearer token every HTTP request but /health must carry (off when empty)")
	fs.StringVar(&adminTokenFile, "admin-token-file", "", "file holding the bearer token /admin/* requests (leave, remove, ...) must carry instead")
	fs.StringVar(&gossipKeyFile, "gossip-key-file", "", "file holding the base64 gossip encryption key (16, 24 or 32 bytes, e.g. from 'openssl rand -base64 32'); every node needs the same")
	fs.StringVar(&pprofAddr, "pprof-addr", "", "serve Go's /debug/pprof profiles on this host:port (off by default; keep it on loopback)")
	tlsf := bindTLSFlags(fs)
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "on SIGTERM, how long to let requests in flight and hint hand-off finish before stopping anyway")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dynkv serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := applyEnv(fs, os.Getenv); err != nil {
		fmt.Fprintf(stderr, "dynkv serve: %v\n", err)
		return 2
	}
	logger, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv serve: %v\n", err)
		return 2
	}
	cfg.Logger, cfg.Version = logger, version
	for _, tf := range []struct {
		path, flag string
		dst        *string
	}{{authTokenFile, "--auth-token-file", &cfg.AuthToken}, {adminTokenFile, "--admin-token-file", &cfg.AdminToken}} {
		if tf.path == "" {
			continue
		}
		if *tf.dst, err = readToken(tf.path); err != nil {
			fmt.Fprintf(stderr, "dynkv serve: %s: %v\n", tf.flag, err)
			return 2
		}
	}
	if gossipKeyFile != "" {
		if cfg.GossipKey, err = readGossipKey(gossipKeyFile); err != nil {
			fmt.Fprintf(stderr, "dynkv serve: --gossip-key-file: %v\n", err)
			return 2
		}
	}
	tlsFiles, err := tlsf.apply(&cfg)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv serve: %v\n", err)
		return 2
	}
	defer watchTLS(tlsFiles, logger)()
	n, err := node.Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "dynkv: node %s serving on %s://%s\n", n.Name(), n.HTTPScheme(), n.HTTPAddr())
	if pprofAddr != "" {
		stopPprof, err := servePprof(pprofAddr, logger)
		if err != nil {
			fmt.Fprintf(stderr, "dynkv serve: --pprof-addr: %v\n", err)
		} else {
			defer stopPprof()
		}
	}
	select {
	case <-ctx.Done():
	case <-n.Left():
		fmt.Fprintf(stdout, "dynkv: node %s has left the ring; stopping\n", n.Name())
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := n.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "dynkv serve: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// servePprof serves the runtime profiles on addr until the returned stop is
// called.
func servePprof(addr string, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			logger.Warn("pprof server stopped", "err", err)
		}
	}()
	return func() { srv.Close() }, nil
}

// readGossipKey reads a base64 key from path.
func readGossipKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("%s does not hold a base64 key: %w", path, err)
	}
	if n := len(key); n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("%s holds a %d-byte key; want 16, 24 or 32 bytes", path, n)
	}
	return key, nil
}

// readToken reads a bearer token from path: the file's content without
// surrounding white space, at least 16 characters.
func readToken(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(raw))
	if len(tok) < 16 || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s must hold one token of at least 16 characters without spaces", path)
	}
	return tok, nil
}
