// Package store is a node's local storage on pebble: the sibling set of every
// key this node holds, laid out so that one partition is one contiguous key
// range, and a small metadata namespace for the node's identity and ring
// state. It owns atomic read-modify-write of one key (per-key locks) and the
// sync/no-sync choice of each write. It does not own replication, versioning
// rules (vclock does) or which partitions a node should hold (ring does).
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dynkv/dynkv/vclock"
)

// Key prefixes. Data keys are prefixData | partition (4 bytes, big endian) |
// user key, so a partition is one range and partitions sort in order.
// Metadata sorts before data and never mixes with it; later issues add
// their own prefixes (hints) beside these.
const (
	prefixMeta = 'm'
	prefixData = 'd'
)

// ErrClosed is returned by every operation after Close.
var ErrClosed = errors.New("store: closed")

// Config configures a Store.
type Config struct {
	// Dir is the directory pebble keeps its files in. Created if missing.
	Dir string
	// FS is the filesystem; nil means the real disk. Tests pass vfs.NewMem().
	FS vfs.FS
	// CacheSize is pebble's block cache in bytes.
	CacheSize int64
	// ValueCacheSize bounds, in bytes, the cache of recently read and
	// written sibling sets kept in front of pebble (every write reads its
	// key first, and hot keys are read and written over and over). 0 means
	// DefaultValueCacheSize; negative turns the cache off.
	ValueCacheSize int64
	// Logger receives pebble's own messages at debug/error level.
	Logger *slog.Logger
	// MinFreeDisk refuses data and hint writes with ErrDiskFull while the
	// file system holding Dir has fewer free bytes (0: no check).
	MinFreeDisk int64
	// FreeSpace reads the free bytes of dir's file system (nil: FreeSpace,
	// statfs); tests inject their own. Now is the clock that paces the
	// checks (nil: time.Now).
	FreeSpace func(dir string) (uint64, error)
	Now       func() time.Time
	// Observer, if set, is called as a write of a data key begins (under the
	// key's lock) and returns the function told how it ended. Anti-entropy
	// keeps its Merkle trees current with it; it must not block for long.
	Observer func(partition int) func(key, oldRaw, newRaw []byte)
}

// DefaultValueCacheSize is the value cache's size when Config leaves it 0.
const DefaultValueCacheSize = 32 << 20

// DefaultConfig returns the configuration used by dynkv serve.
func DefaultConfig() Config {
	return Config{CacheSize: 64 << 20}
}

// Store is one node's pebble database. It is safe for concurrent use.
type Store struct {
	db    *pebble.DB
	cache interface{ Unref() }
	seed  maphash.Seed
	locks [256]sync.Mutex
	gate  *syncGate
	guard *diskGuard
	vals  *valueCache // nil: off

	observer func(partition int) func(key, oldRaw, newRaw []byte)

	mu     sync.RWMutex // guards closed against use-after-close of db
	closed bool
}

// Open opens (or creates) the store in cfg.Dir.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("store: no data directory given")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	gate := &syncGate{}
	guard := newDiskGuard(cfg)
	cache := pebble.NewCache(cfg.CacheSize)
	opts := &pebble.Options{
		FS:     walFS{FS: cfg.FS, gate: gate, guard: guard},
		Cache:  cache,
		Logger: pebbleLogger{cfg.Logger},
		// Every write reads its key first (a version merge), and most keys
		// read are point lookups: bloom filters spare the sstables that do
		// not hold the key, a larger memtable keeps hot keys in memory.
		MemTableSize: 32 << 20,
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Dir, err)
	}
	st := &Store{db: db, cache: cache, seed: maphash.MakeSeed(), gate: gate, guard: guard, observer: cfg.Observer}
	switch {
	case cfg.ValueCacheSize == 0:
		st.vals = newValueCache(DefaultValueCacheSize)
	case cfg.ValueCacheSize > 0:
		st.vals = newValueCache(cfg.ValueCacheSize)
	}
	return st, nil
}

// Close flushes and closes pebble. Operations after Close return ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.db.Close()
	s.cache.Unref()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

func dataKey(partition int, key []byte) []byte {
	k := make([]byte, 5+len(key))
	k[0] = prefixData
	binary.BigEndian.PutUint32(k[1:5], uint32(partition))
	copy(k[5:], key)
	return k
}

func metaKey(name string) []byte {
	return append([]byte{prefixMeta}, name...)
}

// get reads a raw value; found is false when the key is absent.
func (s *Store) get(k []byte) (val []byte, found bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, false, ErrClosed
	}
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	val = append([]byte(nil), v...)
	closer.Close()
	return val, true, nil
}

// getData reads a data key through the value cache. The slice returned may
// be shared with the cache: callers must not modify it.
func (s *Store) getData(k []byte) ([]byte, bool, error) {
	if s.vals == nil {
		return s.get(k)
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, false, ErrClosed
	}
	v, ok, ticket := s.vals.get(k)
	if ok {
		return v, true, nil
	}
	v, found, err := s.get(k)
	if err == nil && found {
		s.vals.fill(k, v, ticket)
	}
	return v, found, err
}

// cached records, after a write of data key k ended (k's lock held), what
// k now holds: val, or nil for deleted or unknown (a failed write).
func (s *Store) cached(k, val []byte) {
	if s.vals != nil {
		s.vals.set(k, val)
	}
}

func (s *Store) set(k, v []byte, sync bool) error {
	// Always pebble.Sync: see walsync.go for why that does not fsync.
	return s.apply(sync, func() error { return s.db.Set(k, v, pebble.Sync) })
}

// GetRaw returns the encoded sibling set stored for key, unchecked: for
// shipping to a peer, which decodes and validates it. The caller must not
// modify the slice.
func (s *Store) GetRaw(partition int, key []byte) ([]byte, bool, error) {
	raw, found, err := s.getData(dataKey(partition, key))
	return raw, found, wrapKey("get", partition, err)
}

// Get returns the sibling set stored for key in partition. found is false
// when this node holds nothing for the key. The set's values may share
// memory with the value cache: callers must not modify them.
func (s *Store) Get(partition int, key []byte) (set vclock.Set, found bool, err error) {
	raw, found, err := s.getData(dataKey(partition, key))
	if err != nil || !found {
		return vclock.Set{}, false, wrapKey("get", partition, err)
	}
	// raw is a cache entry or a private copy of pebble's bytes; neither is
	// ever modified, so the values can point into it.
	set, err = vclock.UnmarshalSetShared(raw)
	if err != nil {
		return vclock.Set{}, false, wrapKey("get", partition, err)
	}
	return set, true, nil
}

func wrapKey(op string, partition int, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s in partition %d: %w", op, partition, err)
}

// UpdateFunc computes a key's new sibling set from the current one (found is
// false when there is none). Returning write=false leaves the key untouched.
// cur's values may share memory with the value cache: fn must not modify
// them (it may return them in next).
type UpdateFunc func(cur vclock.Set, found bool) (next vclock.Set, write bool, err error)

// Update atomically reads, transforms and writes one key: concurrent Updates
// of the same key run one after another, so no merge can be lost between a
// read and a write. sync=true makes the write durable (fsync) before Update
// returns. It returns the set now stored, whose values, like cur's, must
// not be modified.
func (s *Store) Update(partition int, key []byte, sync bool, fn UpdateFunc) (vclock.Set, error) {
	set, _, err := s.UpdateEncoded(partition, key, sync, fn)
	return set, err
}

// UpdateEncoded is Update that also returns the set's encoding as stored
// (vclock.Set.MarshalBinary), nil if fn chose not to write: a caller shipping
// the set to peers need not encode it again. The slice is shared with the
// value cache and must not be modified.
func (s *Store) UpdateEncoded(partition int, key []byte, sync bool, fn UpdateFunc) (vclock.Set, []byte, error) {
	if err := s.writable(); err != nil {
		return vclock.Set{}, nil, wrapKey("write", partition, err)
	}
	defer s.lockFor(key)()
	done := s.observe(partition)
	k := dataKey(partition, key)
	old, found, err := s.getData(k)
	if err != nil {
		done(key, nil, nil)
		return vclock.Set{}, nil, wrapKey("get", partition, err)
	}
	var cur vclock.Set
	if found {
		// old is a cache entry or a private copy, never modified: see Get.
		if cur, err = vclock.UnmarshalSetShared(old); err != nil {
			done(key, nil, nil)
			return vclock.Set{}, nil, wrapKey("get", partition, err)
		}
	}
	next, write, err := fn(cur, found)
	if err != nil || !write {
		done(key, nil, nil)
		return cur, nil, err
	}
	raw, err := next.MarshalBinary()
	if err != nil {
		done(key, nil, nil)
		return vclock.Set{}, nil, wrapKey("encode", partition, err)
	}
	if err := s.set(k, raw, sync); err != nil {
		s.cached(k, nil)
		done(key, nil, nil)
		return vclock.Set{}, nil, wrapKey("write", partition, err)
	}
	s.cached(k, raw)
	done(key, old, raw)
	return next, raw, nil
}

// DeleteIf removes key from partition if its stored bytes are still
// exactly raw (a tombstone being reaped that no write changed meanwhile).
func (s *Store) DeleteIf(partition int, key, raw []byte) (bool, error) {
	defer s.lockFor(key)()
	done := s.observe(partition)
	k := dataKey(partition, key)
	cur, found, err := s.getData(k)
	if err != nil || !found || !bytes.Equal(cur, raw) {
		done(key, nil, nil)
		return false, err
	}
	if err := s.del(k); err != nil {
		s.cached(k, nil)
		done(key, nil, nil)
		return false, wrapKey("delete", partition, err)
	}
	s.cached(k, nil)
	done(key, cur, nil)
	return true, nil
}

// observe tells the configured observer a write of partition begins and
// returns the call that reports how it ended: old and new raw bytes (nil:
// absent), or both nil when nothing changed.
func (s *Store) observe(partition int) func(key, oldRaw, newRaw []byte) {
	if s.observer == nil {
		return func([]byte, []byte, []byte) {}
	}
	return s.observer(partition)
}

// ScanPartition calls fn for every key stored in partition, in key order,
// until it returns false. The slices are valid only during the call.
func (s *Store) ScanPartition(partition int, fn func(key, raw []byte) bool) error {
	lower := dataKey(partition, nil)
	return s.scan(lower, prefixEnd(lower), func(k, v []byte) bool { return fn(k[5:], v) })
}

// Sync makes every write made so far durable (one WAL fsync).
func (s *Store) Sync() error {
	if err := s.apply(true, func() error { return s.db.LogData(nil, pebble.Sync) }); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// GetMeta reads a metadata value.
func (s *Store) GetMeta(name string) ([]byte, bool, error) {
	v, found, err := s.get(metaKey(name))
	if err != nil {
		return nil, false, fmt.Errorf("store: read meta %q: %w", name, err)
	}
	return v, found, nil
}

// PutMeta writes a metadata value; metadata is always written with fsync
// because identity and ring state must survive a crash.
func (s *Store) PutMeta(name string, value []byte) error {
	if err := s.set(metaKey(name), value, true); err != nil {
		return fmt.Errorf("store: write meta %q: %w", name, err)
	}
	return nil
}

// DeleteMeta removes a metadata value (fsync'd).
func (s *Store) DeleteMeta(name string) error {
	if err := s.apply(true, func() error { return s.db.Delete(metaKey(name), pebble.Sync) }); err != nil {
		return fmt.Errorf("store: delete meta %q: %w", name, err)
	}
	return nil
}

// pebbleLogger routes pebble's printf-style messages into slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble", "msg", fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble", "msg", fmt.Sprintf(format, args...))
}

// Fatalf is pebble's report of an unrecoverable state (a failing disk, a
// corrupt manifest). Pebble expects it not to return; we log and panic so
// the process stops before it acknowledges anything it cannot keep.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("pebble fatal", "msg", msg)
	panic("pebble: " + msg)
}

// ValueCacheStats returns the value cache's counters; ok is false when the
// cache is off.
func (s *Store) ValueCacheStats() (st CacheStats, ok bool) {
	if s.vals == nil {
		return CacheStats{}, false
	}
	return s.vals.stats(), true
}

// PebbleMetrics returns pebble's own metrics (compactions, WAL, block
// cache, memtables, levels), or ErrClosed after Close.
func (s *Store) PebbleMetrics() (*pebble.Metrics, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.db.Metrics(), nil
}
