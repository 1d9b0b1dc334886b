package ring

import (
	"errors"
	"strconv"
)

// MaxPartitions is the largest supported partition count. Partition
// numbers must fit the storage key layout and stay cheap to iterate.
const MaxPartitions = 1 << 16

// Config fixes the shape of a ring. Every node of a cluster must use the
// same Config: partition numbers are part of the storage key layout, so
// Partitions cannot change after the cluster is created.
type Config struct {
	// Partitions is the number of partitions Q. It must be a power of two
	// in [1, MaxPartitions]. Choose at least 16 per node the cluster may
	// grow to (see the package comment).
	Partitions int
	// N is the replication factor: how many distinct nodes hold each
	// partition. A ring with fewer than N members places every partition
	// on all of them.
	N int
}

// DefaultConfig returns 256 partitions with 3 replicas, enough for
// clusters of up to 16 nodes.
func DefaultConfig() Config {
	return Config{Partitions: 256, N: 3}
}

// Validate reports whether c can build a ring. Errors wrap ErrBadConfig.
func (c Config) Validate() error {
	p := c.Partitions
	if p < 1 || p > MaxPartitions || p&(p-1) != 0 {
		return &detailError{ErrBadConfig,
			"Partitions must be a power of two in [1, " + strconv.Itoa(MaxPartitions) + "], got " + strconv.Itoa(p)}
	}
	if c.N < 1 {
		return &detailError{ErrBadConfig, "N must be at least 1, got " + strconv.Itoa(c.N)}
	}
	return nil
}

// Errors returned by New and Config.Validate; test with errors.Is.
var (
	// ErrBadConfig is returned when a Config field is out of range.
	ErrBadConfig = errors.New("ring: invalid config")
	// ErrNoMembers is returned when a ring is built from an empty member
	// list: there is nowhere to place data.
	ErrNoMembers = errors.New("ring: no members")
	// ErrEmptyMember is returned when a member name is the empty string.
	ErrEmptyMember = errors.New("ring: empty member name")
	// ErrDuplicateMember is returned when a member name appears twice; the
	// error text names it.
	ErrDuplicateMember = errors.New("ring: duplicate member")
)

// detailError adds what was wrong to a sentinel error. (The package avoids
// fmt, which would pull os and time into its dependencies.)
type detailError struct {
	err    error
	detail string
}

func (e *detailError) Error() string { return e.err.Error() + ": " + e.detail }
func (e *detailError) Unwrap() error { return e.err }
