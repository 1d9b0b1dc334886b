package quorum

import (
	"context"
	"errors"
	"sync/atomic"
)

// Stats are a coordinator's counters since it started, for monitoring.
type Stats struct {
	ReadUnmet    uint64 // reads that failed: too few replicas could answer
	ReadTimeout  uint64 // reads whose deadline passed before the quorum answered
	WriteUnmet   uint64 // writes that failed: too few replicas could acknowledge
	WriteTimeout uint64 // writes whose deadline passed before the quorum acknowledged
	// ReadRepairs counts repair writes sent to stale replicas (early and
	// late repliers); ReadRepairFailures those of them that failed.
	ReadRepairs        uint64
	ReadRepairFailures uint64
}

// counters are the atomic fields behind Stats.
type counters struct {
	readUnmet, readTimeout, writeUnmet, writeTimeout atomic.Uint64
	repairs, repairFailures                          atomic.Uint64
}

// countFailure records a failed quorum; other errors (the caller cancelled,
// the coordinator closed) are not quorum failures, nor is an unmet quorum
// whose replicas failed because the caller went away.
func (c *counters) countFailure(ctx context.Context, op string, err error) {
	var qe *Error
	if !errors.As(err, &qe) || errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	switch {
	case op == "read" && qe.Timeout:
		c.readTimeout.Add(1)
	case op == "read":
		c.readUnmet.Add(1)
	case qe.Timeout:
		c.writeTimeout.Add(1)
	default:
		c.writeUnmet.Add(1)
	}
}

// Stats returns the coordinator's counters.
func (c *Coordinator) Stats() Stats {
	s := &c.stats
	return Stats{
		ReadUnmet: s.readUnmet.Load(), ReadTimeout: s.readTimeout.Load(),
		WriteUnmet: s.writeUnmet.Load(), WriteTimeout: s.writeTimeout.Load(),
		ReadRepairs: s.repairs.Load(), ReadRepairFailures: s.repairFailures.Load(),
	}
}
