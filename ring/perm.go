package ring

// perm is a keyed pseudo-random permutation of [0, size), size a power of
// two. Each member gets its own, so that its scores over all partitions
// are a shuffle of 0..Q-1 rather than Q independent draws: every member
// holds exactly one partition at each score level, which roughly halves
// the spread of the placement counts rendezvous hashing produces on its
// own (see doc.go).
//
// It is a 4-round Feistel network over the smallest even bit width that
// covers size, with cycle walking for odd widths. All arithmetic is on
// integers, so every platform computes the same ring.
type perm struct {
	keys [4]uint64
	half uint   // bits in each Feistel half
	mask uint64 // (1 << half) - 1
	size uint64
}

func newPerm(key uint64, size int) perm {
	half := (log2(size) + 1) / 2
	pm := perm{half: half, mask: 1<<half - 1, size: uint64(size)}
	for i := range pm.keys {
		pm.keys[i] = mix64(key + uint64(i+1)*golden)
	}
	return pm
}

// at returns the element at position x; used as level -> partition.
func (pm *perm) at(x uint64) uint64 {
	for {
		x = pm.encrypt(x)
		if x < pm.size {
			return x
		}
	}
}

// indexOf is the inverse of at; used as partition -> level.
func (pm *perm) indexOf(y uint64) uint64 {
	for {
		y = pm.decrypt(y)
		if y < pm.size {
			return y
		}
	}
}

func (pm *perm) encrypt(x uint64) uint64 {
	l, r := x>>pm.half, x&pm.mask
	for _, k := range pm.keys {
		l, r = r, l^(mix64(r^k)&pm.mask)
	}
	return l<<pm.half | r
}

func (pm *perm) decrypt(x uint64) uint64 {
	l, r := x>>pm.half, x&pm.mask
	for i := len(pm.keys) - 1; i >= 0; i-- {
		l, r = r^(mix64(l^pm.keys[i])&pm.mask), l
	}
	return l<<pm.half | r
}

// golden is 2^64 / phi, the usual odd constant for spreading small
// integers before mixing.
const golden = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 finalizer: a cheap bijective 64-bit mixer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
