package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"

	"github.com/cockroachdb/pebble/v2"

	"github.com/dynkv/dynkv/hintedhandoff"
	"github.com/dynkv/dynkv/vclock"
)

// Hints live in their own key range: prefixHint | len(target) (1 byte) |
// target | partition (4 bytes) | key. All hints for one target are one
// range, in partition order, so delivery is a range scan; a fallback that
// answers a read looks a key up under each possible target.
const prefixHint = 'h'

// MaxNameLen is the longest node name a hint key can hold.
const MaxNameLen = 255

func hintTargetPrefix(target string) []byte {
	k := make([]byte, 0, 2+len(target))
	return append(append(k, prefixHint, byte(len(target))), target...)
}

func hintKey(target string, partition int, key []byte) []byte {
	k := hintTargetPrefix(target)
	k = binary.BigEndian.AppendUint32(k, uint32(partition))
	return append(k, key...)
}

// parseHintKey splits a hint key (after the target prefix) into partition
// and user key.
func parseHintKey(rest []byte) (int, []byte, error) {
	if len(rest) < 4 {
		return 0, nil, fmt.Errorf("%w: short hint key", vclock.ErrCorrupt)
	}
	return int(binary.BigEndian.Uint32(rest[:4])), rest[4:], nil
}

func (s *Store) lockFor(k []byte) func() {
	mu := &s.locks[maphash.Bytes(s.seed, k)%uint64(len(s.locks))]
	mu.Lock()
	return mu.Unlock
}

// PutHint merges set into the hint for (target, partition, key).
func (s *Store) PutHint(target string, partition int, key []byte, set vclock.Set) (added bool, delta int64, err error) {
	if target == "" || len(target) > MaxNameLen {
		return false, 0, fmt.Errorf("store: hint target name %q must be 1 to %d bytes", target, MaxNameLen)
	}
	if err := s.writable(); err != nil {
		return false, 0, fmt.Errorf("store: writing hint for %s: %w", target, err)
	}
	k := hintKey(target, partition, key)
	defer s.lockFor(k)()
	old, found, err := s.get(k)
	if err != nil {
		return false, 0, err
	}
	next := set
	if found {
		cur, err := vclock.UnmarshalSet(old)
		if err != nil {
			return false, 0, fmt.Errorf("store: stored hint for %s: %w", target, err)
		}
		next = vclock.Merge(cur, set)
	}
	raw, err := next.MarshalBinary()
	if err != nil {
		return false, 0, err
	}
	if err := s.set(k, raw, false); err != nil {
		return false, 0, fmt.Errorf("store: writing hint for %s: %w", target, err)
	}
	size := int64(len(k) + len(raw))
	if found {
		return false, int64(len(raw) - len(old)), nil
	}
	return true, size, nil
}

// GetHint returns the hint for (target, partition, key), if any.
func (s *Store) GetHint(target string, partition int, key []byte) (vclock.Set, bool, error) {
	raw, found, err := s.get(hintKey(target, partition, key))
	if err != nil || !found {
		return vclock.Set{}, false, err
	}
	set, err := vclock.UnmarshalSet(raw)
	if err != nil {
		return vclock.Set{}, false, fmt.Errorf("store: hint for %s: %w", target, err)
	}
	return set, true, nil
}

// ScanHints implements hintedhandoff.Store.
func (s *Store) ScanHints(target string, cursor []byte, maxKeys, maxBytes int) ([]hintedhandoff.Hint, []byte, error) {
	prefix := hintTargetPrefix(target)
	lower := prefix
	if cursor != nil {
		lower = append(append([]byte(nil), cursor...), 0) // just after cursor
	}
	var out []hintedhandoff.Hint
	var last []byte
	size := 0
	err := s.scan(lower, prefixEnd(prefix), func(k, v []byte) bool {
		p, key, err := parseHintKey(k[len(prefix):])
		if err != nil {
			return true // not ours to interpret; skip
		}
		out = append(out, hintedhandoff.Hint{Target: target, Partition: p,
			Key: bytes.Clone(key), Set: bytes.Clone(v)})
		last = bytes.Clone(k)
		size += len(k) + len(v)
		return len(out) < maxKeys && size < maxBytes
	})
	return out, last, err
}

// DeleteHint implements hintedhandoff.Store.
func (s *Store) DeleteHint(h hintedhandoff.Hint) (bool, int64, error) {
	k := hintKey(h.Target, h.Partition, h.Key)
	defer s.lockFor(k)()
	cur, found, err := s.get(k)
	if err != nil || !found || !bytes.Equal(cur, h.Set) {
		return false, 0, err
	}
	if err := s.del(k); err != nil {
		return false, 0, err
	}
	return true, int64(len(k) + len(cur)), nil
}

// HintTotals implements hintedhandoff.Store.
func (s *Store) HintTotals() (map[string]hintedhandoff.Totals, error) {
	out := map[string]hintedhandoff.Totals{}
	err := s.scan([]byte{prefixHint}, []byte{prefixHint + 1}, func(k, v []byte) bool {
		if len(k) < 2 || len(k) < 2+int(k[1]) {
			return true
		}
		target := string(k[2 : 2+int(k[1])])
		t := out[target]
		t.Count++
		t.Bytes += int64(len(k) + len(v))
		out[target] = t
		return true
	})
	return out, err
}

// scan calls fn for each key in [lower, upper) until it returns false.
func (s *Store) scan(lower, upper []byte, fn func(k, v []byte) bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	return errors.Join(it.Error(), it.Close())
}

func (s *Store) del(k []byte) error {
	return s.apply(false, func() error { return s.db.Delete(k, pebble.Sync) })
}

// prefixEnd is the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
