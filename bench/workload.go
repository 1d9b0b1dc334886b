package bench

import (
	"encoding/binary"
	"math/rand/v2"
)

// op is an operation type.
type op int

const (
	opRead   op = iota // Get
	opUpdate           // blind Put of an existing key
	opInsert           // Put of a new key
	opRMW              // Get, then Put with the context of the Get
	numOps
)

var opNames = [numOps]string{"read", "update", "insert", "rmw"}

func (o op) String() string { return opNames[o] }

// mix is the probability of each operation type; they sum to 1.
type mix [numOps]float64

// workloadMixes are the YCSB core workloads a key-value store can run
// (E is scans, which dynkv has not).
var workloadMixes = map[string]mix{
	"a": {opRead: 0.5, opUpdate: 0.5},
	"b": {opRead: 0.95, opUpdate: 0.05},
	"c": {opRead: 1},
	"d": {opRead: 0.95, opInsert: 0.05},
	"f": {opRead: 0.5, opRMW: 0.5},
}

// mixOf returns the operation mix of the configured workload.
func mixOf(c *Config) mix {
	if c.Workload == WorkloadCustom {
		return mix{opRead: c.ReadRatio, opUpdate: 1 - c.ReadRatio}
	}
	return workloadMixes[c.Workload]
}

// choose maps a uniform u in [0, 1) to an operation type.
func (m mix) choose(u float64) op {
	var acc float64
	last := opRead
	for o := range numOps {
		if m[o] == 0 {
			continue
		}
		acc += m[o]
		last = o
		if u < acc {
			return o
		}
	}
	return last // rounding: u just below 1
}

// valueMaker produces the values of writes. Without a header the values are
// slices of one shared random payload, never written to; with one, every
// value is a fresh copy carrying its version header, because the transport
// may still read a request body after the call returned.
type valueMaker struct {
	size    ValueSize
	payload []byte
	header  bool
}

func newValueMaker(size ValueSize, header bool, rng *rand.Rand) *valueMaker {
	p := make([]byte, size.Max)
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], rng.Uint64())
	}
	return &valueMaker{size: size, payload: p, header: header}
}

// make returns a value for the write with sequence seq by writer.
func (v *valueMaker) make(rng *rand.Rand, seq, writer uint64) []byte {
	n := v.size.Min
	if v.size.Max > v.size.Min {
		n += rng.IntN(v.size.Max - v.size.Min + 1)
	}
	if !v.header {
		return v.payload[:n:n]
	}
	out := make([]byte, n)
	copy(out, v.payload[:n])
	putHeader(out, seq, writer)
	return out
}

// putHeader writes the version header: the per-key sequence number and the
// writer id, big-endian, in the first 16 bytes.
func putHeader(b []byte, seq, writer uint64) {
	binary.BigEndian.PutUint64(b[0:8], seq)
	binary.BigEndian.PutUint64(b[8:16], writer)
}

// parseHeader returns the sequence number of a value written by a writer
// of this run (writer>>32 == nonce), and 0 for any other value: a value
// from another run or another program is older than every write of ours.
func parseHeader(b []byte, nonce uint32) uint64 {
	if len(b) < headerSize || uint32(binary.BigEndian.Uint64(b[8:16])>>32) != nonce {
		return 0
	}
	return binary.BigEndian.Uint64(b[0:8])
}

// writerID combines the run's nonce and a worker number.
func writerID(nonce uint32, worker int) uint64 { return uint64(nonce)<<32 | uint64(uint32(worker)) }
