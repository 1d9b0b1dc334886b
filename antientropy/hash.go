package antientropy

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// leafSeed seeds the hash that places keys in leaves, so that it is
// independent of both KeyHash and the ring's partition hash (the unseeded
// xxhash of the key, whose top bits are shared by every key of a partition).
const leafSeed = 0x9e3779b97f4a7c15

// Digest returns the digest of a key's stored sibling set, given its
// canonical encoded bytes. It is never 0: 0 stands for "absent" everywhere
// in this package.
func Digest(encodedSet []byte) uint64 {
	return nonZero(xxhash.Sum64(encodedSet))
}

// KeyHash returns the value a key with the given digest contributes to its
// leaf: the xxhash of key followed by the big-endian digest, never 0.
// Tree.Update treats a digest of 0 as "absent", which contributes nothing.
func KeyHash(key []byte, digest uint64) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(key)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], digest)
	_, _ = d.Write(b[:])
	return nonZero(d.Sum64())
}

// contribution is what a key with digest contributes to the tree: 0 when
// the key is absent.
func contribution(key []byte, digest uint64) uint64 {
	if digest == 0 {
		return 0
	}
	return KeyHash(key, digest)
}

// leafHash is the seeded hash of the key alone that picks its leaf.
func leafHash(key []byte) uint64 {
	var d xxhash.Digest
	d.ResetWithSeed(leafSeed)
	_, _ = d.Write(key)
	return d.Sum64()
}

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}
