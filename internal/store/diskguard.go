package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Disk full and failing disks.
//
// Before a data or hint write the store checks the free space of its file
// system (statfs, cached for a second): below Config.MinFreeDisk the write
// is refused with ErrDiskFull before anything is written, so that the node
// never runs pebble out of space mid-write, and writes resume by themselves
// once space is freed.
//
// A failed write or fsync of the write-ahead log latches ErrStorageFailed:
// every later write is refused, reads go on. There is no retry: after a
// failed fsync the kernel may have dropped the dirty pages and marked them
// clean, so a second fsync can succeed without the data being on disk
// (PostgreSQL's "fsyncgate", 2018). The WAL wrapper (walsync.go) hides the
// failure from pebble, whose commit pipeline would otherwise stop the
// process; the store itself reports it to the writer that hit it and
// refuses everything after. Restart the node once the disk is checked.

var (
	// ErrDiskFull is returned by writes while the data directory's file
	// system has less free space than Config.MinFreeDisk. Nothing was
	// written; writes resume once space is freed.
	ErrDiskFull = errors.New("store: disk full: free space is below the minimum (--min-free-disk)")
	// ErrStorageFailed is returned by every write once a WAL write or fsync
	// has failed. The write that met the failure may be visible on this
	// node until it restarts but is not durable. Reads continue; restart
	// the node (and check its disk) to take writes again.
	ErrStorageFailed = errors.New("store: storage failed: a write-ahead log write or fsync failed; writes are refused until restart")
	// ErrNotDurable is wrapped, with ErrStorageFailed, by the error of a
	// write during which the WAL failed: unlike the writes refused after
	// it, that one reached pebble and may be visible on this node until it
	// restarts, but it is not durable.
	ErrNotDurable = errors.New("store: the write-ahead log failed under this write: it may be visible on this node until restart but is not durable")
)

// diskCheckInterval is how long a free-space reading is trusted.
const diskCheckInterval = time.Second

// FreeSpace returns the bytes available to an unprivileged user on the
// file system holding dir.
func FreeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// diskGuard holds the free-space reading and the failure latch.
type diskGuard struct {
	dir    string
	min    uint64
	free   func(dir string) (uint64, error)
	now    func() time.Time
	logger *slog.Logger

	next atomic.Int64 // unix nanos after which the reading is stale
	full atomic.Bool
	mu   sync.Mutex // one statfs at a time

	failed atomic.Pointer[error] // the first WAL failure, latched
}

func newDiskGuard(cfg Config) *diskGuard {
	g := &diskGuard{dir: cfg.Dir, free: cfg.FreeSpace, now: cfg.Now, logger: cfg.Logger}
	if cfg.MinFreeDisk > 0 {
		g.min = uint64(cfg.MinFreeDisk)
	}
	if g.free == nil {
		g.free = FreeSpace
	}
	if g.now == nil {
		g.now = time.Now
	}
	return g
}

// latch records the first WAL failure; it never clears.
func (g *diskGuard) latch(err error) {
	if g.failed.CompareAndSwap(nil, &err) {
		g.logger.Error("write-ahead log write or fsync failed: refusing all writes until restart", "err", err)
	}
}

// failure returns ErrStorageFailed, wrapping the cause, once latched.
func (g *diskGuard) failure() error {
	if p := g.failed.Load(); p != nil {
		return fmt.Errorf("%w (%v)", ErrStorageFailed, *p)
	}
	return nil
}

// space returns ErrDiskFull while free space is below the minimum.
func (g *diskGuard) space() error {
	if g.min == 0 {
		return nil
	}
	if now := g.now(); now.UnixNano() >= g.next.Load() {
		g.refresh(now)
	}
	if g.full.Load() {
		return ErrDiskFull
	}
	return nil
}

func (g *diskGuard) refresh(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.UnixNano() < g.next.Load() {
		return // another writer just read it
	}
	g.next.Store(now.Add(diskCheckInterval).UnixNano())
	free, err := g.free(g.dir)
	if err != nil {
		// Cannot tell: keep the last reading rather than refuse writes.
		g.logger.Warn("cannot read free disk space", "err", err)
		return
	}
	full := free < g.min
	if was := g.full.Swap(full); was != full {
		if full {
			g.logger.Error("disk nearly full: refusing writes", "free_bytes", free, "min_free_bytes", g.min)
		} else {
			g.logger.Info("disk space freed: taking writes again", "free_bytes", free)
		}
	}
}

// State is the store's write health: "ok", "disk_full" (writes refused
// until space is freed) or "failed" (writes refused until restart).
func (s *Store) State() string {
	switch {
	case s.guard.failure() != nil:
		return "failed"
	case s.guard.space() != nil:
		return "disk_full"
	}
	return "ok"
}

// writable returns why a data or hint write must be refused, if it must.
func (s *Store) writable() error {
	if err := s.guard.failure(); err != nil {
		return err
	}
	return s.guard.space()
}

// apply runs one pebble write under the close lock, refusing it once the
// WAL has failed, and reports a failure that happened under it: that write
// is not durable.
func (s *Store) apply(sync bool, write func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.guard.failure(); err != nil {
		return err
	}
	if sync {
		s.gate.enter()
		defer s.gate.leave()
	}
	if err := write(); err != nil {
		return err
	}
	if err := s.guard.failure(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotDurable, err)
	}
	return nil
}
