package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dynkv/dynkv/vclock"
)

// TestCacheNeverStale races Updates and reads (Get, GetRaw and the read of
// Update itself) of the same keys, with a cache small enough to evict and
// refill all the time, and checks that no read returns a value older than
// the last Update completed before the read began.
func TestCacheNeverStale(t *testing.T) {
	for _, size := range []int64{4 << 10, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s, err := Open(Config{Dir: "/db", FS: vfs.NewMem(), ValueCacheSize: size})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const keys, writes, readers = 8, 300, 4
			var done [keys]atomic.Uint64 // last completed write of each key
			seq := func(set vclock.Set) uint64 {
				if len(set.Siblings) == 0 && len(set.Clock) == 0 {
					return 0 // not written yet
				}
				if len(set.Siblings) != 1 {
					t.Errorf("%d siblings, want 1", len(set.Siblings))
					return 0
				}
				return binary.BigEndian.Uint64(set.Siblings[0].Value)
			}
			key := func(i int) []byte { return fmt.Appendf(nil, "key-%d", i) }
			var wg sync.WaitGroup
			var stop atomic.Bool
			for k := range keys {
				wg.Go(func() { // one writer per key: its values only grow
					for i := uint64(1); i <= writes; i++ {
						_, err := s.Update(k%3, key(k), false, func(cur vclock.Set, _ bool) (vclock.Set, bool, error) {
							if got := seq(cur); got != i-1 {
								t.Errorf("key %d: Update read %d, want %d", k, got, i-1)
							}
							next, _ := cur.Update(cur.Clock, 1, binary.BigEndian.AppendUint64(nil, i), "", false)
							return next, true, nil
						})
						if err != nil {
							t.Error(err)
						}
						done[k].Store(i)
					}
				})
			}
			var readersWG sync.WaitGroup
			for r := range readers {
				readersWG.Go(func() {
					for n := 0; !stop.Load(); n++ {
						k := (n + r) % keys
						floor := done[k].Load()
						var got uint64
						if n%2 == 0 {
							set, found, err := s.Get(k%3, key(k))
							if err != nil || (!found && floor > 0) {
								t.Errorf("key %d: found %v, err %v", k, found, err)
								return
							}
							if found {
								got = seq(set)
							}
						} else {
							raw, found, err := s.GetRaw(k%3, key(k))
							if err != nil || (!found && floor > 0) {
								t.Errorf("key %d: found %v, err %v", k, found, err)
								return
							}
							if found {
								set, err := vclock.UnmarshalSet(raw)
								if err != nil {
									t.Fatal(err)
								}
								got = seq(set)
							}
						}
						if got < floor {
							t.Errorf("key %d: read %d after write %d completed", k, got, floor)
							return
						}
					}
				})
			}
			wg.Wait()
			stop.Store(true)
			readersWG.Wait()
		})
	}
}

// TestCacheDeleteIf: a reaped key is gone from the cache too, and a write
// after it is seen.
func TestCacheDeleteIf(t *testing.T) {
	s := openMem(t)
	v, _ := vclock.Set{}.Update(nil, 1, []byte("v"), "", false)
	if _, err := s.Update(1, []byte("k"), false, func(vclock.Set, bool) (vclock.Set, bool, error) { return v, true, nil }); err != nil {
		t.Fatal(err)
	}
	raw, found, err := s.GetRaw(1, []byte("k"))
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if ok, err := s.DeleteIf(1, []byte("k"), raw); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, found, _ := s.Get(1, []byte("k")); found {
		t.Fatal("deleted key still found")
	}
	w, _ := vclock.Set{}.Update(nil, 2, []byte("w"), "", false)
	if _, err := s.Update(1, []byte("k"), false, func(vclock.Set, bool) (vclock.Set, bool, error) { return w, true, nil }); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Get(1, []byte("k"))
	if len(got.Siblings) != 1 || !bytes.Equal(got.Siblings[0].Value, []byte("w")) {
		t.Fatalf("got %+v", got)
	}
}

// TestCacheBounded: the cache never holds more than its size.
func TestCacheBounded(t *testing.T) {
	c := newValueCache(64 << 10)
	for i := range 10000 {
		c.set(fmt.Appendf(nil, "k%d", i), make([]byte, 100))
	}
	var total int64
	for i := range c.shards {
		sh := &c.shards[i]
		if sh.bytes > sh.maxBytes {
			t.Fatalf("shard %d holds %d bytes, limit %d", i, sh.bytes, sh.maxBytes)
		}
		n := 0
		for e := sh.head.next; e != &sh.head; e = e.next {
			n++
		}
		if n != len(sh.m) {
			t.Fatalf("shard %d: list of %d, map of %d", i, n, len(sh.m))
		}
		total += sh.bytes
	}
	if total == 0 || total > 64<<10 {
		t.Fatalf("total %d", total)
	}
}

// TestCacheFillRacingWrite: a reader that missed, read pebble, and stores
// what it read only after a write of the key, must not overwrite the write.
func TestCacheFillRacingWrite(t *testing.T) {
	c := newValueCache(1 << 20)
	k := []byte("k")
	_, ok, ticket := c.get(k)
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.set(k, []byte("new"))
	c.fill(k, []byte("old"), ticket)
	if v, ok, _ := c.get(k); !ok || string(v) != "new" {
		t.Fatalf("got %q %v, want new", v, ok)
	}
	c.set(k, nil)
	_, _, ticket = c.get(k) // a miss
	c.set(k, nil)           // a delete, racing the reader's fill
	c.fill(k, []byte("old"), ticket)
	if v, ok, _ := c.get(k); ok {
		t.Fatalf("got %q after a delete", v)
	}
}

// TestCacheStats: lookups are counted as hits and misses; pebble's metrics
// are reachable until Close.
func TestCacheStats(t *testing.T) {
	s := openMem(t)
	v, _ := vclock.Set{}.Update(nil, 1, []byte("v"), "", false)
	if _, err := s.Update(1, []byte("k"), false, func(vclock.Set, bool) (vclock.Set, bool, error) { return v, true, nil }); err != nil {
		t.Fatal(err)
	}
	before, ok := s.ValueCacheStats()
	if !ok {
		t.Fatal("value cache reported off")
	}
	for range 3 {
		if _, found, err := s.Get(1, []byte("k")); !found || err != nil {
			t.Fatal(found, err)
		}
	}
	s.Get(1, []byte("absent"))
	after, _ := s.ValueCacheStats()
	if after.Hits-before.Hits != 3 || after.Misses-before.Misses != 1 || after.Entries != 1 || after.Bytes <= 0 {
		t.Fatalf("before %+v, after %+v: want 3 hits, 1 miss, 1 entry", before, after)
	}
	m, err := s.PebbleMetrics()
	if err != nil || m.WAL.BytesIn == 0 {
		t.Fatalf("pebble metrics: %v, WAL bytes in %d", err, m.WAL.BytesIn)
	}
	s.Close()
	if _, err := s.PebbleMetrics(); err != ErrClosed {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
