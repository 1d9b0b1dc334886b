package node

import (
	"context"
	"errors"
	"time"

	"github.com/dynkv/dynkv/internal/logbudget"
	"github.com/dynkv/dynkv/quorum"
)

// What the node logs about requests. Logs name a key's partition, never the
// key or the value: keys may be personal data, and a partition is what an
// operator needs to find the replicas (GET /preflist, anti-entropy status).

// A node logs at most quorumLogLimit failed quorums per quorumLogWindow,
// then one line saying how many it suppressed: a down replica under load
// fails thousands of requests a second, and /metrics counts them all.
const (
	quorumLogLimit  = 10
	quorumLogWindow = time.Second
)

func (n *Node) newQuorumLogs() *logbudget.Budget {
	return logbudget.New(quorumLogLimit, quorumLogWindow, n.cfg.now, func(suppressed int) {
		n.logger.Warn("suppressed failed-quorum logs", "suppressed", suppressed, "window", quorumLogWindow)
	})
}

// noteQuorumFailure logs a request of partition p whose quorum failed (err
// a *quorum.Error), within the log budget. A request its client cancelled
// is not logged.
func (n *Node) noteQuorumFailure(ctx context.Context, p int, err error) {
	var qe *quorum.Error
	if err == nil || !errors.As(err, &qe) || errors.Is(ctx.Err(), context.Canceled) || !n.quorumLogs.Allow() {
		return
	}
	got := "replied"
	if qe.Op == "write" {
		got = "acked"
	}
	n.logger.Warn("quorum failed", "op", qe.Op, "partition", p, "quorum", qe.Quorum,
		"needed", qe.Needed, got, qe.Got, "timeout", qe.Timeout)
}
