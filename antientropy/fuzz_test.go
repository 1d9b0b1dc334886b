package antientropy

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// keyDigests reads key/digest pairs from b: a length byte (mod 5), that
// many key bytes, a digest byte. Small keys and digests make collisions and
// shared leaves likely.
func keyDigests(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	for len(b) > 0 {
		n := min(int(b[0]%5), len(b)-1)
		key := string(b[1 : 1+n])
		b = b[1+n:]
		if len(b) == 0 {
			break
		}
		out[key] = uint64(b[0])
		b = b[1:]
	}
	return out
}

// lyingRemote answers from fuzz bytes, as a buggy or hostile peer might:
// hash counts off by one, arbitrary hashes, keys outside the asked leaves.
type lyingRemote struct {
	b           []byte
	keys        map[string]uint64
	shortOrLong bool // some Nodes reply had the wrong number of hashes
}

func (r *lyingRemote) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *lyingRemote) Nodes(ctx context.Context, level int, indices []int) ([]uint64, error) {
	n := len(indices)
	switch r.next() % 16 {
	case 0:
		n = max(n-1, 0)
	case 1:
		n++
	}
	r.shortOrLong = r.shortOrLong || n != len(indices)
	out := make([]uint64, n)
	for i := range out {
		if r.next()%2 == 0 && len(r.b) >= 8 {
			out[i] = binary.LittleEndian.Uint64(r.b)
			r.b = r.b[8:]
		}
	}
	return out, nil
}

func (r *lyingRemote) LeafKeys(ctx context.Context, leaves []int) (map[string]uint64, error) {
	return r.keys, nil
}

// FuzzCompare runs exchanges against remotes whose replies come from the
// fuzzer. With an honest remote (a replica built from the bytes) Compare
// must find exactly the keys that differ; with a lying one it must not
// panic, must report a reply of the wrong size as ErrBadReply, and may
// only return keys that differ between what both sides reported, inside
// the leaves it asked for, sorted.
func FuzzCompare(f *testing.F) {
	f.Add([]byte("\x01a\x01\x01b\x02"), []byte("\x01a\x01\x01b\x03"), false)
	f.Add([]byte("\x01a\x01\x02bc\x05"), []byte("\x01a\x02\x00\x07"), false)
	f.Add([]byte{}, []byte("\x03xyz\x09"), false)
	f.Add([]byte("\x01a\x01"), []byte{0, 0, 0}, true)
	f.Add([]byte("\x01a\x01\x01q\x04"), []byte{2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 0, 9, 9, 9, 9, 9, 9, 9, 9}, true)
	f.Add([]byte("\x04abcd\x10"), []byte{1, 1, 1}, true)
	cfg := TreeConfig{Leaves: 16, Fanout: 4}
	f.Fuzz(func(t *testing.T, localBytes, remoteBytes []byte, lying bool) {
		local := newReplica(cfg)
		ours := keyDigests(localBytes)
		for k, d := range ours {
			local.put(k, d)
		}
		if !lying {
			remote := newReplica(cfg)
			theirs := keyDigests(remoteBytes)
			for k, d := range theirs {
				remote.put(k, d)
			}
			keys, _, err := Compare(context.Background(), local.tree, local.localKeys, &memRemote{r: remote})
			if want := DiffKeys(local.all(), remote.all()); err != nil || !slices.Equal(keys, want) {
				t.Fatalf("Compare = %q, %v; want %q", keys, err, want)
			}
			return
		}
		lr := &lyingRemote{b: remoteBytes}
		lr.keys = keyDigests(remoteBytes) // the same bytes, read another way
		asked := map[int]bool{}
		localKeys := func(leaves []int) (map[string]uint64, error) {
			for _, l := range leaves {
				asked[l] = true
			}
			return local.localKeys(leaves)
		}
		keys, _, err := Compare(context.Background(), local.tree, localKeys, lr)
		if err != nil {
			if !errors.Is(err, ErrBadReply) || !lr.shortOrLong {
				t.Fatalf("Compare failed with %v (wrong-size reply: %v)", err, lr.shortOrLong)
			}
			return
		}
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
			t.Fatalf("keys %q not sorted and distinct", keys)
		}
		for _, k := range keys {
			if !asked[local.tree.LeafOf([]byte(k))] {
				t.Fatalf("key %q returned from leaf %d, which was not compared", k, local.tree.LeafOf([]byte(k)))
			}
			if ours[k] == lr.keys[k] {
				t.Fatalf("key %q returned, but both sides report digest %d", k, ours[k])
			}
		}
	})
}
