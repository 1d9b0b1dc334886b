package store

import (
	"hash/maphash"
	"sync"
)

// valueCache is a bounded, sharded cache of recently read or written encoded
// sibling sets, evicting with the CLOCK (second chance) approximation of LRU, keyed by the full data key (prefix | partition | user key).
// It is write-through: every write of a data key (Update, DeleteIf) replaces
// or drops the key's entry under the key's lock, after pebble took the
// write, so a hit is never older than the last completed write.
//
// Readers that miss fill the cache from pebble without the key's lock, and
// could then race with a write of the key: a reader that read the old bytes
// before the write must not store them after the write's put. Each shard
// counts the writes that touched it; a fill is dropped if the count moved
// between the moment the reader looked and the moment it stores.
//
// Cached slices are shared: neither the cache nor its callers modify them.
type valueCache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

const cacheShards = 64

type cacheShard struct {
	mu       sync.Mutex
	m        map[string]*cacheEntry
	head     cacheEntry // sentinel of the LRU ring: head.next is the newest
	bytes    int64
	maxBytes int64
	writes   uint64 // writes that touched this shard, for fills racing them
	// Lookups, counted under mu (already held: no contention added).
	hits, misses uint64
}

type cacheEntry struct {
	key        string
	val        []byte
	prev, next *cacheEntry
	// ref: used since it was last passed over for eviction. A hit only sets
	// it, rather than moving the entry to the front of the ring under the
	// shard's lock (three entries' pointers, cache misses on every read).
	ref bool
}

// entryOverhead approximates the bytes an entry costs beyond its key and
// value (the entry, its map slot, slice and string headers).
const entryOverhead = 96

func newValueCache(maxBytes int64) *valueCache {
	c := &valueCache{seed: maphash.MakeSeed()}
	per := maxBytes / cacheShards
	for i := range c.shards {
		sh := &c.shards[i]
		sh.m = make(map[string]*cacheEntry)
		sh.head.next, sh.head.prev = &sh.head, &sh.head
		sh.maxBytes = per
	}
	return c
}

func (c *valueCache) shard(k []byte) *cacheShard {
	return &c.shards[maphash.Bytes(c.seed, k)%cacheShards]
}

// get returns the cached bytes of k, or ok=false and a ticket to pass to
// fill once the caller has read k from pebble.
func (c *valueCache) get(k []byte) (val []byte, ok bool, ticket uint64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, hit := sh.m[string(k)]; hit {
		e.ref = true
		sh.hits++
		return e.val, true, 0
	}
	sh.misses++
	return nil, false, sh.writes
}

// fill stores val, just read from pebble, for k unless a write touched k's
// shard since get handed out ticket.
func (c *valueCache) fill(k, val []byte, ticket uint64) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.writes != ticket {
		return
	}
	sh.put(string(k), val)
}

// set records that k now holds val (nil: k was deleted, or its state is
// unknown after a failed write). Callers hold k's lock and have finished
// writing to pebble.
func (c *valueCache) set(k, val []byte) {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.writes++
	if val == nil {
		if e, ok := sh.m[string(k)]; ok {
			sh.remove(e)
		}
		return
	}
	sh.put(string(k), val)
}

func (sh *cacheShard) put(k string, val []byte) {
	size := int64(len(k) + len(val) + entryOverhead)
	if e, ok := sh.m[k]; ok {
		sh.bytes += int64(len(val) - len(e.val))
		e.val = val
		e.ref = true
	} else {
		if size > sh.maxBytes {
			return
		}
		e = &cacheEntry{key: k, val: val, ref: true} // not the first to go
		sh.m[k] = e
		sh.bytes += size
		sh.pushFront(e)
	}
	// Evict from the oldest end; a used entry gets a second chance at the
	// front instead. Every pass clears refs, so this ends.
	for sh.bytes > sh.maxBytes && sh.head.prev != &sh.head {
		if e := sh.head.prev; e.ref {
			e.ref = false
			sh.moveFront(e)
		} else {
			sh.remove(e)
		}
	}
}

func (sh *cacheShard) remove(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	delete(sh.m, e.key)
	sh.bytes -= int64(len(e.key) + len(e.val) + entryOverhead)
}

func (sh *cacheShard) pushFront(e *cacheEntry) {
	e.prev, e.next = &sh.head, sh.head.next
	sh.head.next.prev = e
	sh.head.next = e
}

func (sh *cacheShard) moveFront(e *cacheEntry) {
	if sh.head.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	sh.pushFront(e)
}

// CacheStats describes the value cache.
type CacheStats struct {
	Hits, Misses uint64 // lookups since the store opened
	Bytes        int64  // size of the entries held now
	Entries      int
}

func (c *valueCache) stats() CacheStats {
	var st CacheStats
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		st.Hits += sh.hits
		st.Misses += sh.misses
		st.Bytes += sh.bytes
		st.Entries += len(sh.m)
		sh.mu.Unlock()
	}
	return st
}
