package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dynkv/dynkv/vclock"
)

// FuzzParseHintKey: the hint-record key decoder never panics, refuses what
// is too short, and inverts hintKey for every target, partition and key.
func FuzzParseHintKey(f *testing.F) {
	f.Add("n1", uint32(0), []byte("k"))
	f.Add("", uint32(255), []byte{})
	f.Add("node-with-a-long-name", uint32(1<<31), []byte{0, 0xff, '/'})
	f.Fuzz(func(t *testing.T, target string, partition uint32, key []byte) {
		if len(target) > MaxNameLen {
			target = target[:MaxNameLen]
		}
		full := hintKey(target, int(partition), key)
		prefix := hintTargetPrefix(target)
		if !bytes.HasPrefix(full, prefix) {
			t.Fatalf("hint key %x does not start with its target prefix %x", full, prefix)
		}
		p, k, err := parseHintKey(full[len(prefix):])
		if err != nil || uint32(p) != partition || !bytes.Equal(k, key) {
			t.Fatalf("parseHintKey(hintKey(%q, %d, %x)) = %d, %x, %v", target, partition, key, p, k, err)
		}
		// Arbitrary bytes: an error or a result, never a panic.
		if len(key) < 4 {
			if _, _, err := parseHintKey(key); err == nil {
				t.Fatalf("parseHintKey accepted %d bytes", len(key))
			}
		} else {
			parseHintKey(key)
		}
	})
}

// FuzzStoredValue puts arbitrary bytes where a sibling set or a hint is
// stored, as a damaged disk or an older, buggy version could leave them,
// and reads them back every way the node does. A value that does not
// decode must give an error wrapping vclock.ErrCorrupt, never a panic; one
// that does must be a valid set that re-encodes to itself; the raw paths
// (GetRaw, ScanHints) hand back the bytes exactly.
func FuzzStoredValue(f *testing.F) {
	one, _ := vclock.Set{}.Update(nil, 1, []byte("v"), "text/plain", false)
	two, _ := one.Update(nil, 2, []byte("w"), "", false)
	gone, _ := two.Update(two.Clock, 1, nil, "", true)
	for _, set := range []vclock.Set{{}, one, two, gone} {
		raw, err := set.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(1), []byte("k"), "n2", raw)
		f.Add(uint16(7), []byte{}, "", raw[:len(raw)/2])
	}
	f.Add(uint16(0), []byte("k"), "n1", []byte{})
	f.Add(uint16(3), []byte("\x00\xff"), "n1", []byte{0x93, 0x01, 0x92, 0x01, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff})
	s, err := Open(Config{Dir: "/db", FS: vfs.NewMem(), ValueCacheSize: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, partition uint16, key []byte, target string, value []byte) {
		p := int(partition)
		if err := s.set(dataKey(p, key), value, false); err != nil {
			t.Fatal(err)
		}
		raw, found, err := s.GetRaw(p, key)
		if err != nil || !found || !bytes.Equal(raw, value) {
			t.Fatalf("GetRaw = %x, %v, %v; stored %x", raw, found, err, value)
		}
		set, found, err := s.Get(p, key)
		checkStoredSet(t, "Get", set, found, err)
		corrupt := err != nil
		_, err = s.Update(p, key, false, func(cur vclock.Set, found bool) (vclock.Set, bool, error) {
			return cur, false, nil
		})
		if (err != nil) != corrupt {
			t.Fatalf("Update error %v, Get error %v", err, corrupt)
		}

		if target == "" || len(target) > MaxNameLen {
			return
		}
		if err := s.set(hintKey(target, p, key), value, false); err != nil {
			t.Fatal(err)
		}
		hints, _, err := s.ScanHints(target, nil, 1<<20, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		seen := false
		for _, h := range hints {
			if h.Partition == p && bytes.Equal(h.Key, key) {
				seen = true
				if !bytes.Equal(h.Set, value) {
					t.Fatalf("ScanHints gave %x, stored %x", h.Set, value)
				}
			}
		}
		if !seen {
			t.Fatalf("ScanHints(%q) misses partition %d key %x", target, p, key)
		}
		set, found, err = s.GetHint(target, p, key)
		checkStoredSet(t, "GetHint", set, found, err)
		if _, _, err := s.PutHint(target, p, key, one); (err != nil) != corrupt {
			t.Fatalf("PutHint over %x: %v", value, err)
		}
	})
}

func checkStoredSet(t *testing.T, op string, set vclock.Set, found bool, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, vclock.ErrCorrupt) {
			t.Fatalf("%s: error %v does not wrap vclock.ErrCorrupt", op, err)
		}
		return
	}
	if !found {
		t.Fatalf("%s: stored value not found", op)
	}
	if err := set.Validate(); err != nil {
		t.Fatalf("%s accepted an invalid set: %v", op, err)
	}
	raw, err := set.MarshalBinary()
	if err != nil {
		t.Fatalf("%s: decoded set does not encode: %v", op, err)
	}
	again, err := vclock.UnmarshalSet(raw)
	if err != nil || !again.Equal(set) {
		t.Fatalf("%s: set re-encoded decodes as %+v, %v", op, again, err)
	}
}
