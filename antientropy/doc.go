// Package antientropy finds and schedules the repair of keys on which two
// replicas of a partition disagree, whatever left them apart: a node down
// past the hint window, a dropped hint or read repair, a disk restored from
// an old copy.
//
// It owns three pieces of pure logic, and no I/O: no network, no disk, no
// clock (time is passed in).
//
//   - Tree: one Merkle tree per partition held by a replica, kept up to
//     date on every local write in O(levels). It is an XOR ("tictac", as in
//     Riak's tictac AAE) tree: a leaf's hash is the XOR of KeyHash(key,
//     Digest(siblings)) over the keys that fall in it, and an inner node's
//     hash is the XOR of its children. XOR is its own inverse and
//     commutative, so an update needs only the key's old and new digests,
//     never a rescan, and the tree does not depend on the order of writes.
//   - Compare: the exchange between two replicas. Both sides compare
//     roots, descend only into differing subtrees (all differing nodes of a
//     level in one request), then swap the key digests of the differing
//     leaves. The bytes on the wire grow with the number of differences,
//     not with the number of keys: with the default 4,096-leaf tree two
//     replicas of 100,000 keys that differ in 10 exchange about 8 KB.
//   - Scheduler: which (partition, peer) exchange runs next, one per
//     interval: partitions marked dirty (a hint for one of their keys was
//     dropped) first, then every partition in turn, each with its peers in
//     turn.
//
// Repairing a differing key (merging both sides' sibling sets and writing
// the result to both), reaching the other replica (Remote) and scanning the
// store (LocalKeys) belong to the caller.
//
// # Using a tree
//
// Every replica of a partition must use the same TreeConfig: trees of
// different shapes never compare equal. The caller must pass Update the
// digest the tree currently holds for the key (0 when absent) and apply
// updates for one key in the order they are applied to the store; the XOR
// tree cannot detect a wrong old digest, it simply stops matching the store
// until the next rebuild. A rebuild is Reset followed by Update(key, 0,
// digest) for every stored key; writes that race with that scan must be
// applied exactly once to the rebuilt tree (or the rebuild built aside and
// swapped in).
package antientropy
