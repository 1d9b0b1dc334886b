package antientropy

import (
	"context"
	"slices"
	"strconv"
)

// Remote is the other replica's side of an exchange; the node implements
// it over RPC. Both methods answer from the remote replica's tree and store
// for the partition being exchanged.
type Remote interface {
	// Nodes returns the remote tree's hashes at level for the given
	// indices, in the same order (one hash per index).
	Nodes(ctx context.Context, level int, indices []int) ([]uint64, error)
	// LeafKeys returns, for the keys in the given leaves, key → digest.
	LeafKeys(ctx context.Context, leaves []int) (map[string]uint64, error)
}

// LocalKeys returns this replica's key → digest for the keys in the given
// leaves (the node scans its store and keeps keys whose Tree.LeafOf is
// among leaves).
type LocalKeys func(leaves []int) (map[string]uint64, error)

// Estimated wire sizes, for ExchangeStats: a request or reply frame header
// (type byte, request id, partition, level, lengths), a tree index, a hash,
// and a key digest.
const (
	frameOverhead = 16
	indexBytes    = 4
	hashBytes     = 8
	digestBytes   = 8
)

// ExchangeStats describes one Compare. The byte counts are estimates of
// what the exchange puts on the wire: 8 bytes per hash, len(key)+8 per key
// digest, 4 per tree index, and 16 per request and per reply. Digests of
// the local keys never cross the wire: Compare diffs them locally.
type ExchangeStats struct {
	Levels          int   // tree levels compared (1 when the roots agree)
	NodesCompared   int   // tree hashes compared, over all levels
	LeavesDiffering int   // leaves whose key digests were swapped
	KeysCompared    int   // distinct keys present on either side in those leaves
	KeysDiffering   int   // keys returned: digests differ or one side lacks the key
	BytesReceived   int64 // estimated bytes of the remote's replies
	BytesSent       int64 // estimated bytes of the requests to the remote
}

// Compare finds the keys on which local and remote differ. It walks both
// trees from the root, descending only into differing subtrees (all
// differing nodes' children of a level in one Remote.Nodes call), then
// fetches both sides' key digests for the differing leaves and returns the
// keys whose digests differ or that one side lacks, sorted.
//
// Both trees may change while Compare runs: a key written during the
// exchange may be reported, or missed, and the next exchange settles it.
// Keys a side reports outside the requested leaves are ignored. On error
// the returned stats cover the work done so far.
func Compare(ctx context.Context, local *Tree, localKeys LocalKeys, remote Remote) ([]string, ExchangeStats, error) {
	var st ExchangeStats
	leaves, err := differingLeaves(ctx, local, remote, &st)
	if err != nil || len(leaves) == 0 {
		return nil, st, err
	}
	st.LeavesDiffering = len(leaves)
	ours, err := localKeys(leaves)
	if err != nil {
		return nil, st, &wrapError{"local keys of " + strconv.Itoa(len(leaves)) + " leaves", err}
	}
	if err := ctx.Err(); err != nil {
		return nil, st, err
	}
	st.BytesSent += frameOverhead + indexBytes*int64(len(leaves))
	theirs, err := remote.LeafKeys(ctx, leaves)
	if err != nil {
		return nil, st, &wrapError{"remote leaf keys of " + strconv.Itoa(len(leaves)) + " leaves", err}
	}
	st.BytesReceived += frameOverhead + keysBytes(theirs)
	inLeaves := leafSet(local.Config().Leaves, leaves)
	ours = keepLeaves(local, ours, inLeaves)
	theirs = keepLeaves(local, theirs, inLeaves)
	keys := DiffKeys(ours, theirs)
	st.KeysCompared = unionSize(ours, theirs)
	st.KeysDiffering = len(keys)
	return keys, st, nil
}

// differingLeaves walks both trees level by level and returns the leaves
// whose hashes differ (nil when the roots agree).
func differingLeaves(ctx context.Context, local *Tree, remote Remote, st *ExchangeStats) ([]int, error) {
	cfg := local.Config()
	diff := []int{0}
	for level := 0; level < cfg.Levels(); level++ {
		if level > 0 {
			diff = children(diff, cfg.Fanout)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st.Levels++
		st.BytesSent += frameOverhead + indexBytes*int64(len(diff))
		theirs, err := remote.Nodes(ctx, level, diff)
		if err != nil {
			return nil, &wrapError{"remote tree level " + strconv.Itoa(level), err}
		}
		st.BytesReceived += frameOverhead + hashBytes*int64(len(theirs))
		if len(theirs) != len(diff) {
			return nil, &detailError{ErrBadReply, strconv.Itoa(len(theirs)) + " hashes for " +
				strconv.Itoa(len(diff)) + " nodes at level " + strconv.Itoa(level)}
		}
		ours := local.Nodes(level, diff)
		st.NodesCompared += len(diff)
		diff = keepDiffering(diff, ours, theirs)
		if len(diff) == 0 {
			return nil, nil
		}
	}
	return diff, nil
}

// children returns the children of the given nodes, in order.
func children(nodes []int, fanout int) []int {
	out := make([]int, 0, len(nodes)*fanout)
	for _, n := range nodes {
		for c := n * fanout; c < (n+1)*fanout; c++ {
			out = append(out, c)
		}
	}
	return out
}

// keepDiffering filters indices in place to those whose hashes differ.
func keepDiffering(indices []int, ours, theirs []uint64) []int {
	out := indices[:0]
	for k, i := range indices {
		if ours[k] != theirs[k] {
			out = append(out, i)
		}
	}
	return out
}

func leafSet(numLeaves int, leaves []int) []bool {
	set := make([]bool, numLeaves)
	for _, l := range leaves {
		if l >= 0 && l < numLeaves {
			set[l] = true
		}
	}
	return set
}

// keepLeaves returns keys without those that do not fall in the leaf set.
// It returns keys itself when nothing is dropped and never modifies it.
func keepLeaves(t *Tree, keys map[string]uint64, in []bool) map[string]uint64 {
	var kept map[string]uint64
	for k := range keys {
		if !in[t.LeafOf([]byte(k))] {
			kept = make(map[string]uint64, len(keys))
			break
		}
	}
	if kept == nil {
		return keys
	}
	for k, d := range keys {
		if in[t.LeafOf([]byte(k))] {
			kept[k] = d
		}
	}
	return kept
}

func keysBytes(keys map[string]uint64) int64 {
	var n int64
	for k := range keys {
		n += int64(len(k)) + digestBytes
	}
	return n
}

func unionSize(a, b map[string]uint64) int {
	n := 0
	for _, d := range a {
		if d != 0 {
			n++
		}
	}
	for k, d := range b {
		if d != 0 && a[k] == 0 {
			n++
		}
	}
	return n
}

// DiffKeys returns, sorted, the keys whose digests differ between local and
// remote or that only one side holds. A digest of 0 counts as absent.
func DiffKeys(local, remote map[string]uint64) []string {
	var keys []string
	for k, d := range local {
		if d != 0 && remote[k] != d {
			keys = append(keys, k)
		}
	}
	for k, d := range remote {
		if d != 0 && local[k] == 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
