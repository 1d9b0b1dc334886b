package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// logCapture collects every node's log lines as JSON, at debug level.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(c, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (c *logCapture) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// records returns the lines logged by node (all nodes if empty) with
// message msg (any if empty).
func (c *logCapture) records(t *testing.T, node, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(c.text()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Bytes())
		}
		if (node == "" || r["node"] == node) && (msg == "" || r["msg"] == msg) {
			out = append(out, r)
		}
	}
	return out
}

// TestFailedQuorumLogsBounded: a flood of failed quorums logs at most the
// budget (10 in a second; the node's clock stands still here, so all fall
// in one window), with op, partition and counts, and one summary of how
// many were suppressed.
func TestFailedQuorumLogsBounded(t *testing.T) {
	logs := &logCapture{}
	frozen := time.Unix(1_800_000_000, 0)
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Logger = logs.logger()
		cfg.Now = func() time.Time { return frozen }
		cfg.HintedHandoff, cfg.AAEInterval = false, 0
	})
	c.crash(2)
	c.net.Refuse("n3:9000", true)
	const failures = 50
	for i := range failures {
		mustStatus(t, "put w=3", c.put(0, fmt.Sprintf("k%d", i), "?w=3", "v", ""), http.StatusServiceUnavailable)
	}
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	c.nodes[0].Shutdown(ctx) // reports what is still suppressed
	lines := logs.records(t, "n1", "quorum failed")
	if len(lines) != quorumLogLimit {
		t.Fatalf("%d failed-quorum lines, want %d", len(lines), quorumLogLimit)
	}
	for _, l := range lines {
		if l["level"] != "WARN" || l["op"] != "write" || l["partition"] == nil || l["needed"] != 3.0 || l["acked"] != 2.0 {
			t.Fatalf("failed-quorum line lacks op, partition or counts: %v", l)
		}
	}
	suppressed := 0.0
	for _, l := range logs.records(t, "n1", "suppressed failed-quorum logs") {
		suppressed += l["suppressed"].(float64)
	}
	if suppressed != failures-quorumLogLimit {
		t.Fatalf("summaries report %v suppressed lines, want %d", suppressed, failures-quorumLogLimit)
	}
}

// TestLogsNameNoKeys: across writes with a node down (every hint dropped
// for want of room), failed quorums, read repairs and anti-entropy repairs,
// logged at debug level, no line carries a key or a value; membership
// changes are logged once each.
func TestLogsNameNoKeys(t *testing.T) {
	logs := &logCapture{}
	start := time.Now()
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.Logger = logs.logger()
		cfg.AAEInterval = 100 * time.Millisecond
		cfg.Hints.MaxBytes = 1 // every hint is dropped: the repairs are left to reads and anti-entropy
	})
	const key, value = "secret-key-XYZZY", "secret-value-PLUGH"
	c.crash(2)
	c.net.Refuse("n3:9000", true)
	for i := range 5 {
		k := fmt.Sprintf("%s-%d", key, i)
		mustStatus(t, "put", c.put(0, k, "?w=2", value, ""), http.StatusNoContent)
		mustStatus(t, "put w=3", c.put(1, k, "?w=3", value, ""), http.StatusServiceUnavailable)
	}
	c.eventually(20*time.Second, func() error {
		if n := len(logs.records(t, "n1", "member down (failed or left gossip)")); n == 0 {
			return fmt.Errorf("n1 has not logged n3 down")
		}
		return nil
	})
	c.net.Refuse("n3:9000", false)
	c.restart(2)
	c.waitRing(3)
	for i := range 2 { // the other three are left to anti-entropy
		c.get(0, fmt.Sprintf("%s-%d", key, i), "?r=3")
	}
	c.eventually(30*time.Second, c.converged)
	out := logs.text()
	for _, secret := range []string{key, value, "XYZZY", "PLUGH"} {
		if strings.Contains(out, secret) {
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, secret) {
					t.Errorf("log line carries %q: %s", secret, l)
				}
			}
		}
	}
	for _, msg := range []string{"quorum failed", "hint dropped: anti-entropy must repair the target", "read repair", "anti-entropy repair"} {
		lines := logs.records(t, "", msg)
		if len(lines) == 0 {
			t.Errorf("nothing logged as %q", msg)
		}
		for _, l := range lines {
			if _, ok := l["partition"]; !ok {
				t.Errorf("%q logged without its partition: %v", msg, l)
			}
		}
	}
	// Exchanges with the refused n3 fail every few milliseconds; their
	// lines stay within the budget of each window that passed.
	windows := 1 + int(time.Since(start)/aaeFailLogWindow)
	for _, name := range []string{"n1", "n2"} {
		if got := len(logs.records(t, name, "anti-entropy exchange failed")); got > windows*aaeFailLogLimit {
			t.Errorf("%s logged %d failed exchanges in %d budget windows of %d", name, got, windows, aaeFailLogLimit)
		}
	}
	// n3's liveness as n1 saw it: each change logged once, so no two
	// consecutive lines say the same.
	var seq []string
	for _, r := range logs.records(t, "n1", "") {
		if r["member"] == "n3" && r["state"] != nil {
			seq = append(seq, r["msg"].(string))
		}
	}
	if len(seq) < 3 || seq[0] != "member joined" || seq[len(seq)-1] != "member rejoined" {
		t.Fatalf("n1's log of n3's liveness: %q; want joined, down, rejoined", seq)
	}
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			t.Fatalf("n1 logged %q twice in a row: %q", seq[i], seq)
		}
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
