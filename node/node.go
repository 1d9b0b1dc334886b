package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"

	"github.com/dynkv/dynkv/hintedhandoff"
	"github.com/dynkv/dynkv/internal/logbudget"
	"github.com/dynkv/dynkv/internal/rpc"
	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/vclock"
)

// Lifecycle phases, reported by /health.
const (
	phaseStarting int32 = iota
	phaseServing
	phaseDraining
	phaseStopped
)

func phaseName(p int32) string {
	return [...]string{"starting", "serving", "draining", "stopped"}[p]
}

// Node is one running dynkv node.
type Node struct {
	cfg    Config
	name   string
	logger *slog.Logger
	store  *store.Store
	actor  vclock.Actor
	// counter is the last dot counter this actor issued, across all keys; it
	// survives clean restarts (a crash gives a new actor, from zero).
	counter atomic.Uint64
	mem     *membership
	coord   *quorum.Coordinator
	reps    *replicas
	hints   *hintedhandoff.Manager // nil when hinted handoff is off
	aae     *aae                   // nil when anti-entropy is off
	changer *changer               // runs ring changes
	// conflicts lists the keys with the most siblings and largest contexts.
	conflicts *conflicts

	metrics *Metrics
	// quorumLogs bounds the failed-quorum warnings (logs.go).
	quorumLogs *logbudget.Budget

	rpcServer io.Closer
	rpcClient rpc.Transport
	http      *http.Server
	httpLn    net.Listener
	admit     *admission // the concurrency cap in front of the handlers

	phase    atomic.Int32
	ctx      context.Context // ends when the node stops
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// Start opens the node's store, starts its listeners and gossip, and returns
// once it serves requests. Stop it with Shutdown.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if given := cfg.AdvertiseHost; given == "" {
		if err := cfg.fillAdvertise(sockaddr.GetPrivateIP); err != nil {
			return nil, err
		}
		if cfg.AdvertiseHost != "" {
			cfg.Logger.Info("binding every interface: telling peers this host's private address (choose another with --advertise-host)", "advertise_host", cfg.AdvertiseHost)
		}
	}
	n := &Node{cfg: cfg, name: cfg.Name, logger: cfg.Logger.With("node", cfg.Name), metrics: newMetrics(cfg.Version)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.quorumLogs = n.newQuorumLogs()
	if err := n.open(); err != nil {
		n.closeAll(n.ctx, false)
		return nil, err
	}
	if err := n.registerCollectors(); err != nil {
		n.closeAll(n.ctx, false)
		return nil, fmt.Errorf("metrics: %w", err)
	}
	n.phase.Store(phaseServing)
	n.logger.Info("serving", "http", n.cfg.HTTPAddr, "rpc", n.cfg.RPCAddr, "gossip", n.cfg.GossipAddr,
		"actor", fmt.Sprintf("%016x", uint64(n.actor)))
	return n, nil
}

func (n *Node) open() error {
	scfg := store.DefaultConfig()
	scfg.Dir, scfg.FS, scfg.Logger = n.cfg.DataDir, n.cfg.FS, n.logger.With("component", "pebble")
	if n.cfg.BlockCacheSize > 0 {
		scfg.CacheSize = n.cfg.BlockCacheSize
	}
	scfg.ValueCacheSize = n.cfg.ValueCacheSize
	if scfg.ValueCacheSize == 0 {
		scfg.ValueCacheSize = -1 // the store's 0 means its default
	}
	if n.cfg.AAEInterval > 0 {
		n.aae = newAAE(n)
		scfg.Observer = n.aae.observe
	}
	scfg.MinFreeDisk, scfg.FreeSpace = n.cfg.Limits.MinFreeDisk, n.cfg.FreeSpace
	n.conflicts = newConflicts(n.cfg.Limits.SiblingWarning)
	scfg.Observer = n.conflicts.observer(scfg.Observer)
	st, err := store.Open(scfg)
	if err != nil {
		return err
	}
	n.store = st
	if n.aae != nil {
		start := time.Now()
		if err := n.aae.rebuildAll(); err != nil {
			return err
		}
		n.logger.Info("anti-entropy trees built", "took", time.Since(start))
	}
	id, crashed, err := loadIdentity(st, n.cfg)
	if err != nil {
		return err
	}
	n.actor = id.Actor
	n.counter.Store(id.Counter)
	if crashed {
		n.logger.Warn("last run did not shut down cleanly: new actor id for version vectors", "incarnation", id.Incarnations)
	}
	if err := n.listen(); err != nil {
		return err
	}
	if n.mem, err = newMembership(n.cfg, st, n.logger.With("component", "membership")); err != nil {
		return err
	}
	n.reps = &replicas{n: n, rpc: n.rpcClient, sus: newSuspects(5*time.Second, n.cfg.now)}
	if err := n.startHints(); err != nil {
		return err
	}
	qcfg := quorum.DefaultConfig()
	qcfg.DefaultTimeout, qcfg.Logger = n.cfg.DefaultTimeout, n.logger.With("component", "quorum")
	// A repair or background write gets the budget of a client request: a
	// lost message then costs one request timeout before its write goes to a
	// fallback or a hint.
	qcfg.RepairTimeout = n.cfg.DefaultTimeout
	n.coord = quorum.New(n.reps, qcfg)
	n.changer = newChanger(n)
	n.mem.onChange = n.changer.poke
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.changer.run(n.ctx)
	}()
	n.serveHTTP()
	if n.aae != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.aae.run(n.ctx)
		}()
	}
	return n.mem.start(n.ctx, n.cfg, &n.wg)
}

// startHints opens hinted handoff and starts its delivery loop.
func (n *Node) startHints() error {
	if !n.cfg.HintedHandoff {
		return nil
	}
	hcfg := n.cfg.Hints
	hcfg.Logger = n.logger.With("component", "handoff")
	if hcfg.Now == nil {
		hcfg.Now = n.cfg.now
	}
	if n.aae != nil {
		// A dropped hint leaves its target behind: exchange that partition first.
		hcfg.OnDrop = func(_ string, p int) { n.aae.sched.MarkDirty(p) }
	}
	h, err := hintedhandoff.New(hcfg, n.store, handoffPeers{n})
	if err != nil {
		return err
	}
	n.hints = h
	n.mem.onAlive = func(string) { h.Kick() }
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		h.Run(n.ctx)
	}()
	return nil
}

// listen binds the HTTP and RPC ports, recording the addresses actually bound
// (a port of 0 picks a free one).
func (n *Node) listen() error {
	ln := n.cfg.HTTPListener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", n.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("--http-addr: %w", err)
		}
	}
	n.httpLn = n.cfg.TLS.wrap(ln)
	n.cfg.HTTPAddr = ln.Addr().String()
	if n.cfg.RPCNetwork != nil {
		srv, err := n.cfg.RPCNetwork.Listen(n.cfg.RPCAddr, n)
		if err != nil {
			return fmt.Errorf("--rpc-addr: %w", err)
		}
		n.rpcServer, n.rpcClient = srv, n.cfg.RPCNetwork.Client(n.cfg.RPCAddr)
		return nil
	}
	rcfg := rpc.DefaultConfig()
	rcfg.Logger = n.logger.With("component", "rpc")
	rcfg.IdleTimeout = n.cfg.Limits.RPCIdleTimeout
	n.cfg.TLS.applyRPC(&rcfg)
	srv, err := rpc.Listen(n.cfg.RPCAddr, n, rcfg)
	if err != nil {
		return fmt.Errorf("--rpc-addr: %w", err)
	}
	n.rpcServer, n.rpcClient = srv, rpc.NewClient(rcfg)
	n.cfg.RPCAddr = srv.Addr()
	return nil
}

func (n *Node) serveHTTP() {
	n.admit = newAdmission(n.cfg.Limits, n.authenticate(n.handler()))
	n.http = &http.Server{
		Handler:  n.metrics.instrument(n.admit),
		ErrorLog: slog.NewLogLogger(n.logger.Handler(), slog.LevelDebug),
	}
	n.cfg.Limits.httpServer(n.http, n.cfg.MaxTimeout)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.http.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Error("http server stopped", "err", err)
		}
	}()
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// HTTPAddr returns the address the client API listens on.
func (n *Node) HTTPAddr() string { return n.cfg.HTTPAddr }

// Done is closed when the node has stopped.
func (n *Node) Done() <-chan struct{} { return n.ctx.Done() }

// Shutdown stops the node cleanly: /health turns 503, new requests are
// refused, requests in flight finish (until ctx ends), the node leaves the
// gossip pool, and pebble is flushed and closed.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.phase.Store(phaseDraining)
		n.logger.Info("shutting down")
		if err := n.http.Shutdown(ctx); err != nil {
			n.logger.Warn("http shutdown", "err", err)
			n.http.Close()
		}
		n.stopErr = n.closeAll(ctx, true)
	})
	return n.stopErr
}

// Crash stops the node abruptly, as kill -9 would as far as the node's own
// state goes: no draining, no goodbye to gossip, no clean-shutdown marker.
// For in-process tests of restarts.
func (n *Node) Crash() {
	n.stopOnce.Do(func() {
		n.http.Close()
		crashed, cancel := context.WithCancel(context.Background())
		cancel()
		n.stopErr = n.closeAll(crashed, false)
	})
}

// closeAll releases everything open, in dependency order. Background
// request work may finish until ctx ends. clean records a clean shutdown in
// the store.
func (n *Node) closeAll(ctx context.Context, clean bool) error {
	if n.http != nil {
		n.http.Close()
	} else if n.httpLn != nil {
		n.httpLn.Close()
	}
	if n.coord != nil {
		n.coord.Close(ctx)
	}
	n.cancel()
	if n.mem != nil {
		if clean {
			n.mem.leave(time.Second)
		} else {
			n.mem.shutdown()
		}
	}
	if n.rpcServer != nil {
		n.rpcServer.Close()
	}
	if n.rpcClient != nil {
		n.rpcClient.Close()
	}
	n.wg.Wait()
	n.quorumLogs.Stop()
	if n.aae != nil {
		n.aae.failLogs.Stop()
	}
	n.phase.Store(phaseStopped)
	if n.store == nil {
		return nil
	}
	var err error
	if clean {
		err = markClean(n.store, n.counter.Load())
	}
	return errors.Join(err, n.store.Close())
}
