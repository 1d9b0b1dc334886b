package node

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynkv/dynkv/client"
	"github.com/dynkv/dynkv/internal/store"
)

// TestFailingFsyncNode: one node of three whose WAL fsync starts failing
// refuses writes addressed to it with 507 and reports storage "failed",
// keeps serving reads, and the cluster keeps taking w=2 writes on the
// other two (hinted handoff for the third); nothing acknowledged is lost.
func TestFailingFsyncNode(t *testing.T) {
	fs := store.NewFaultFS(nil)
	c := startCluster(t, 3, func(cfg *Config) {
		if cfg.Name == "n3" {
			cfg.FS = fs
		}
	})
	mustStatus(t, "write before", c.put(0, "before", "?w=3&sync=true", "old", ""), http.StatusNoContent)
	fs.FailSync.Store(true)
	// The write whose fsync fails may be visible on n3 but is not durable:
	// 500, not the 507 of a write refused unexecuted (unless a background
	// sync met the failure first).
	r := c.put(2, "direct", "?sync=true", "x", "")
	if r.status != http.StatusInternalServerError && r.status != http.StatusInsufficientStorage {
		t.Fatalf("synced write at the failing node: %d %s", r.status, r.body)
	}
	fs.FailSync.Store(false) // it must stay refused: no retrying a failed fsync
	r = c.put(2, "direct", "", "x", "")
	mustStatus(t, "later write at the failing node", r, http.StatusInsufficientStorage)
	if m := r.json(t); m["error"] != "insufficient storage" || m["storage"] != "failed" {
		t.Fatalf("507 body: %v", m)
	}
	for i := range 10 {
		key := fmt.Sprint("k", i)
		mustStatus(t, "w=2 write with one node failing", c.put(i%2, key, "?w=2&sync=true", "v", ""), http.StatusNoContent)
	}
	for i := range 10 {
		for at := range 3 {
			if st, _, vals := c.get(at, fmt.Sprint("k", i), "?r=2"); st != http.StatusOK || !slices.Equal(vals, []string{"v"}) {
				t.Fatalf("read k%d at n%d: %d %v", i, at+1, st, vals)
			}
		}
	}
	if r := c.do(2, http.MethodGet, "/kv/before?r=2", nil, nil); r.status != http.StatusOK || string(r.body) != "old" {
		t.Fatalf("acknowledged write read through the failing node: %d %s", r.status, r.body)
	}
	// n3's own copy is still there and served.
	if r := c.do(2, http.MethodGet, "/admin/replica/before", nil, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"b2xk"`) {
		t.Fatalf("n3's replica of an acknowledged write: %d %s", r.status, r.body)
	}
	if got := c.nodes[2].Status().Storage; got != "failed" {
		t.Fatalf("n3 storage %q, want failed", got)
	}
	if got := c.nodes[0].Status().Storage; got != "ok" {
		t.Fatalf("n1 storage %q, want ok", got)
	}
	if v := mustMetric(t, c.scrape(2, nil), "dynkv_storage_state", map[string]string{"state": "failed"}); v != 1 {
		t.Fatalf("n3 dynkv_storage_state{state=failed} = %v, want 1", v)
	}
	if v := mustMetric(t, c.scrape(0, nil), "dynkv_storage_state", map[string]string{"state": "ok"}); v != 1 {
		t.Fatalf("n1 dynkv_storage_state{state=ok} = %v, want 1", v)
	}
	r = c.do(2, http.MethodGet, "/health", nil, nil)
	if m := r.json(t); r.status != http.StatusOK || m["status"] != "degraded" || m["storage"] != "failed" {
		t.Fatalf("/health of the failing node: %d %v", r.status, m)
	}
	// The Go client sends a write refused with 507 on to another node.
	cl, err := client.New(client.Config{Endpoints: []string{c.nodes[2].HTTPAddr(), c.nodes[0].HTTPAddr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Put(t.Context(), "via-client", []byte("v")); err != nil {
		t.Fatalf("client write with the failing node first: %v", err)
	}
	if st, err := cl.Status(t.Context()); err != nil || st.Node != "n3" || st.Storage != "failed" {
		t.Fatalf("client status of n3: %+v %v", st, err)
	}
}

// TestDiskFullNodes: a node whose disk is below --min-free-disk refuses
// writes addressed to it (507, storage "disk_full") while the others take
// them; with every disk full writes fail with 507 and nothing is stored;
// once space is freed writes resume without a restart.
func TestDiskFullNodes(t *testing.T) {
	var free [3]atomic.Uint64
	for i := range free {
		free[i].Store(1 << 40)
	}
	c := startCluster(t, 3, func(cfg *Config) {
		i := int(cfg.Name[1] - '1')
		cfg.Limits.MinFreeDisk = 1 << 30
		cfg.FreeSpace = func(string) (uint64, error) { return free[i].Load(), nil }
	})
	full := func(i int) error {
		if got := c.nodes[i].Status().Storage; got != "disk_full" {
			return fmt.Errorf("n%d storage %q", i+1, got)
		}
		return nil
	}
	free[2].Store(1 << 20)
	c.eventually(5*time.Second, func() error { return full(2) })
	r := c.put(2, "k", "", "v", "")
	mustStatus(t, "write at the full node", r, http.StatusInsufficientStorage)
	if m := r.json(t); m["storage"] != "disk_full" {
		t.Fatalf("507 body: %v", m)
	}
	for i := range 6 {
		mustStatus(t, "w=2 write with one disk full", c.put(i%2, fmt.Sprint("k", i), "?w=2", "v", ""), http.StatusNoContent)
	}
	free[0].Store(1 << 20)
	free[1].Store(1 << 20)
	c.eventually(5*time.Second, func() error { return errors.Join(full(0), full(1)) })
	mustStatus(t, "write with every disk full", c.put(0, "none", "", "v", ""), http.StatusInsufficientStorage)
	if st, _, _ := c.get(0, "none", "?r=3"); st != http.StatusNotFound {
		t.Fatalf("a write refused everywhere was stored: %d", st)
	}
	if st, _, vals := c.get(1, "k1", "?r=2"); st != http.StatusOK || !slices.Equal(vals, []string{"v"}) {
		t.Fatalf("read while the disks are full: %d %v", st, vals)
	}
	for i := range free {
		free[i].Store(1 << 40)
	}
	c.eventually(5*time.Second, func() error {
		if r := c.put(2, "after", "?w=3", "v", ""); r.status != http.StatusNoContent {
			return fmt.Errorf("write after space was freed: %d %s", r.status, r.body)
		}
		return nil
	})
}

// TestForwardPastFullReplica: a node that holds no replica of a key
// forwards a write past a replica whose disk is full (it refused before
// storing anything) to the next one.
func TestForwardPastFullReplica(t *testing.T) {
	var full atomic.Bool
	c := startCluster(t, 3, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 2, 1, 1
		cfg.Limits.MinFreeDisk = 1 << 30
		if cfg.Name == "n1" {
			cfg.FreeSpace = func(string) (uint64, error) {
				if full.Load() {
					return 1 << 20, nil
				}
				return 1 << 40, nil
			}
		}
	})
	v := c.nodes[0].mem.current()
	key := ""
	for i := 0; key == ""; i++ {
		k := fmt.Sprint("key", i)
		if pref := v.ring.Preflist(v.ring.Partition([]byte(k))); slices.Equal(pref, []string{"n1", "n2"}) {
			key = k
		}
	}
	full.Store(true)
	c.eventually(5*time.Second, func() error {
		if got := c.nodes[0].Status().Storage; got != "disk_full" {
			return fmt.Errorf("n1 storage %q", got)
		}
		return nil
	})
	mustStatus(t, "write at n3, forwarded past the full n1", c.put(2, key, "?w=1", "v", ""), http.StatusNoContent)
	if st, _, vals := c.get(1, key, "?r=2"); st != http.StatusOK || !slices.Equal(vals, []string{"v"}) {
		t.Fatalf("read at n2: %d %v", st, vals)
	}
}
