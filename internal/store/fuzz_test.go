package store

import (
	"bytes"
	"testing"
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
