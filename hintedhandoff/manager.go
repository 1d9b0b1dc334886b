package hintedhandoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynkv/dynkv/internal/ratelimit"
	"github.com/dynkv/dynkv/vclock"
)

var (
	// ErrWindowExceeded: the target has been down longer than the hint
	// window; anti-entropy must repair it instead.
	ErrWindowExceeded = errors.New("hintedhandoff: target down longer than the hint window")
	// ErrFull: the node already holds its maximum of hint bytes.
	ErrFull = errors.New("hintedhandoff: hint storage full")
)

// Hint is one stored hint: the merged versions of a key meant for Target.
type Hint struct {
	Target    string
	Partition int
	Key       []byte
	Set       []byte // the encoded vclock.Set, exactly as stored
}

// Totals counts the hints stored for one target.
type Totals struct{ Count, Bytes int64 }

// Store keeps hints durably.
type Store interface {
	// PutHint merges set into the hint for (target, partition, key); it
	// reports whether the hint is new and by how many bytes storage grew.
	PutHint(target string, partition int, key []byte, set vclock.Set) (added bool, delta int64, err error)
	// ScanHints returns hints for target in key order, starting after cursor
	// (nil: from the first), at most maxKeys of them and stopping once
	// maxBytes are reached (at least one), and an opaque cursor to go on.
	ScanHints(target string, cursor []byte, maxKeys, maxBytes int) ([]Hint, []byte, error)
	// DeleteHint removes h if the stored hint is still exactly h.Set (a
	// newer merge stays for the next delivery); it reports the bytes freed.
	DeleteHint(h Hint) (deleted bool, freed int64, err error)
	// HintTotals counts the stored hints per target, once at start.
	HintTotals() (map[string]Totals, error)
}

// Peers is what the manager needs to know of and do to other nodes.
type Peers interface {
	// Alive reports whether gossip sees target up; when not, downSince is
	// when it was first seen down (zero if never seen at all).
	Alive(target string) (alive bool, downSince time.Time)
	// Deliver sends hints to target, which merges each like a replica write,
	// durably, before it answers.
	Deliver(ctx context.Context, target string, hints []Hint) error
}

// Config bounds hints and their delivery.
type Config struct {
	// MaxWindow: no new hints for a target down longer than this
	// (Cassandra's max_hint_window); anti-entropy repairs it afterwards.
	MaxWindow time.Duration
	// MaxBytes caps the hint bytes this node keeps.
	MaxBytes int64
	// BatchKeys and BatchBytes bound one delivery batch.
	BatchKeys  int
	BatchBytes int
	// RateBytes limits delivery to this many bytes per second (0: no limit),
	// so handoff does not starve foreground requests.
	RateBytes int64
	// Interval is how often delivery is attempted; Kick starts one sooner.
	Interval time.Duration
	// DeliverTimeout bounds one batch.
	DeliverTimeout time.Duration
	// OnDrop, if set, is told of every refused hint, so anti-entropy can
	// repair the key's partition first.
	OnDrop func(target string, partition int)
	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultConfig returns the defaults of dynkv serve.
func DefaultConfig() Config {
	return Config{
		MaxWindow:      3 * time.Hour,
		MaxBytes:       1 << 30,
		BatchKeys:      256,
		BatchBytes:     4 << 20,
		RateBytes:      32 << 20,
		Interval:       time.Second,
		DeliverTimeout: 10 * time.Second,
	}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.MaxWindow <= 0:
		return fmt.Errorf("hint window must be positive, got %s", c.MaxWindow)
	case c.MaxBytes <= 0:
		return fmt.Errorf("max hint bytes must be positive, got %d", c.MaxBytes)
	case c.BatchKeys < 1 || c.BatchBytes < 1:
		return fmt.Errorf("hint batch limits must be positive, got %d keys, %d bytes", c.BatchKeys, c.BatchBytes)
	case c.RateBytes < 0:
		return fmt.Errorf("hint rate must not be negative, got %d", c.RateBytes)
	case c.Interval <= 0 || c.DeliverTimeout <= 0:
		return fmt.Errorf("hint interval and delivery timeout must be positive")
	}
	return nil
}

// Stats are the manager's counters since start.
type Stats struct {
	Written   uint64 // hints stored (a merge into an existing hint counts)
	Delivered uint64 // hints delivered and deleted
	Dropped   uint64 // hints refused: window or size limit
	Failed    uint64 // delivery batches that failed
}

// Manager stores hints and delivers them.
type Manager struct {
	cfg   Config
	store Store
	peers Peers
	kick  chan struct{}

	mu      sync.Mutex
	pending map[string]Totals
	dropLog map[string]time.Time // last drop logged per target

	written, delivered, dropped, failed atomic.Uint64
}

// New loads the hint totals from store.
func New(cfg Config, store Store, peers Peers) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	totals, err := store.HintTotals()
	if err != nil {
		return nil, fmt.Errorf("hintedhandoff: counting stored hints: %w", err)
	}
	if totals == nil {
		totals = map[string]Totals{}
	}
	return &Manager{cfg: cfg, store: store, peers: peers, kick: make(chan struct{}, 1),
		pending: totals, dropLog: map[string]time.Time{}}, nil
}

// Add stores set as a hint for target. It refuses, with ErrWindowExceeded
// or ErrFull, when a limit says so; every refusal is counted and logged.
func (m *Manager) Add(target string, partition int, key []byte, set vclock.Set) error {
	if alive, since := m.peers.Alive(target); !alive && !since.IsZero() && m.cfg.Now().Sub(since) > m.cfg.MaxWindow {
		return m.drop(target, partition, fmt.Errorf("%w (%s down since %s, window %s)", ErrWindowExceeded, target, since.Format(time.RFC3339), m.cfg.MaxWindow))
	}
	m.mu.Lock()
	full := m.totalBytesLocked()+int64(set.Size()) > m.cfg.MaxBytes
	m.mu.Unlock()
	if full {
		return m.drop(target, partition, fmt.Errorf("%w (limit %d bytes)", ErrFull, m.cfg.MaxBytes))
	}
	added, delta, err := m.store.PutHint(target, partition, key, set)
	if err != nil {
		return fmt.Errorf("hintedhandoff: storing hint for %s: %w", target, err)
	}
	m.mu.Lock()
	t := m.pending[target]
	t.Bytes += delta
	if added {
		t.Count++
	}
	m.pending[target] = t
	m.mu.Unlock()
	m.written.Add(1)
	return nil
}

func (m *Manager) totalBytesLocked() int64 {
	var n int64
	for _, t := range m.pending {
		n += t.Bytes
	}
	return n
}

// drop counts a refused hint and logs it, at most once a minute per target.
func (m *Manager) drop(target string, partition int, err error) error {
	m.dropped.Add(1)
	if m.cfg.OnDrop != nil {
		m.cfg.OnDrop(target, partition)
	}
	m.mu.Lock()
	now := m.cfg.Now()
	logIt := now.Sub(m.dropLog[target]) >= time.Minute
	if logIt {
		m.dropLog[target] = now
	}
	m.mu.Unlock()
	if logIt {
		m.cfg.Logger.Warn("hint dropped: anti-entropy must repair the target", "target", target, "partition", partition, "err", err)
	}
	return err
}

// Pending returns the hints waiting, in total and per target.
func (m *Manager) Pending() (total int64, byTarget map[string]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byTarget = map[string]int64{}
	for name, t := range m.pending {
		if t.Count > 0 {
			byTarget[name] = t.Count
			total += t.Count
		}
	}
	return total, byTarget
}

// PendingBytes returns the bytes of hints stored.
func (m *Manager) PendingBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.totalBytesLocked()
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	return Stats{Written: m.written.Load(), Delivered: m.delivered.Load(), Dropped: m.dropped.Load(), Failed: m.failed.Load()}
}

// Kick asks for a delivery attempt now (a target came back).
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run delivers hints until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	ticker := time.NewTicker(m.cfg.Interval)
	defer ticker.Stop()
	lim := ratelimit.New(m.cfg.RateBytes, m.cfg.Now)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-m.kick:
		}
		for _, target := range m.targets() {
			if alive, _ := m.peers.Alive(target); alive {
				m.drain(ctx, target, lim)
			}
		}
	}
}

// targets lists the targets with hints pending, sorted.
func (m *Manager) targets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(m.pending)) {
		if m.pending[name].Count > 0 {
			out = append(out, name)
		}
	}
	return out
}

// drain delivers target's hints batch by batch, one batch in flight, until
// none are left, a delivery fails (the target went down again: retried on a
// later round) or ctx ends.
func (m *Manager) drain(ctx context.Context, target string, lim *ratelimit.Limiter) {
	var cursor []byte
	for ctx.Err() == nil {
		batch, next, err := m.store.ScanHints(target, cursor, m.cfg.BatchKeys, m.cfg.BatchBytes)
		if err != nil {
			m.cfg.Logger.Error("reading hints", "target", target, "err", err)
			return
		}
		if len(batch) == 0 {
			return
		}
		if err := lim.Wait(ctx, batchBytes(batch)); err != nil {
			return
		}
		dctx, cancel := context.WithTimeout(ctx, m.cfg.DeliverTimeout)
		err = m.peers.Deliver(dctx, target, batch)
		cancel()
		if err != nil {
			m.failed.Add(1)
			m.cfg.Logger.Info("hint delivery failed; will retry", "target", target, "hints", len(batch), "err", err)
			return
		}
		m.forget(batch)
		cursor = next
	}
}

func batchBytes(batch []Hint) int64 {
	var n int64
	for _, h := range batch {
		n += int64(len(h.Key) + len(h.Set))
	}
	return n
}

// forget deletes delivered hints that did not change meanwhile.
func (m *Manager) forget(batch []Hint) {
	for _, h := range batch {
		deleted, freed, err := m.store.DeleteHint(h)
		if err != nil {
			m.cfg.Logger.Error("deleting delivered hint", "target", h.Target, "partition", h.Partition, "err", err)
			continue
		}
		if !deleted {
			continue // a newer hint arrived; it goes in a later batch
		}
		m.delivered.Add(1)
		m.mu.Lock()
		t := m.pending[h.Target]
		t.Count--
		t.Bytes -= freed
		m.pending[h.Target] = t
		m.mu.Unlock()
	}
}
