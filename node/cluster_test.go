package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynkv/dynkv/internal/rpc"
	"github.com/dynkv/dynkv/vclock"
)

// testCluster runs several real nodes in this process: real pebble stores in
// temp dirs, real memberlist gossip on loopback ports the OS picks, and RPC
// over an in-memory network that can partition and drop.
type testCluster struct {
	t     testing.TB
	net   *rpc.MemNetwork
	nodes []*Node
	cfgs  []Config
	http  *http.Client
	// actors remembers each node's last actor id, to check rotation.
	actors map[int]vclock.Actor
}

// fastGossip makes failure detection and convergence quick on loopback.
func fastGossip(mc *memberlist.Config) {
	mc.ProbeInterval = 100 * time.Millisecond
	mc.ProbeTimeout = 50 * time.Millisecond
	mc.GossipInterval = 20 * time.Millisecond
	mc.PushPullInterval = 300 * time.Millisecond
	mc.SuspicionMult = 2
	mc.TCPTimeout = time.Second
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("DYNKV_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startCluster(t testing.TB, size int, mutate func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, net: rpc.NewMemNetwork(1), http: &http.Client{Timeout: 10 * time.Second}, actors: map[int]vclock.Actor{}}
	dir := t.TempDir()
	for i := range size {
		cfg := DefaultConfig()
		cfg.Name = fmt.Sprintf("n%d", i+1)
		cfg.DataDir = filepath.Join(dir, cfg.Name)
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.RPCAddr = cfg.Name + ":9000"
		cfg.GossipAddr = "127.0.0.1:0"
		cfg.Partitions = 64
		cfg.RPCNetwork = c.net
		cfg.Gossip = fastGossip
		cfg.Logger = testLogger(t)
		if i > 0 {
			cfg.Join = []string{c.nodes[0].mem.ml.LocalNode().Address()}
		}
		if mutate != nil {
			mutate(&cfg)
		}
		n, err := Start(cfg)
		if err != nil {
			t.Fatalf("start %s: %v", cfg.Name, err)
		}
		// Restarts reuse the bound addresses, so memberlist sees the same node.
		cfg.GossipAddr = n.mem.ml.LocalNode().Address()
		cfg.HTTPAddr = n.HTTPAddr()
		c.nodes = append(c.nodes, n)
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(c.stop)
	c.waitRing(size)
	return c
}

func (c *testCluster) stop() {
	for _, n := range c.nodes {
		if n != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			n.Shutdown(ctx)
			cancel()
		}
	}
}

// waitRing waits until every running node's ring has size members and
// gossip sees them all alive.
func (c *testCluster) waitRing(size int) {
	c.t.Helper()
	c.eventually(10*time.Second, func() error {
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			if a, ok := n.mem.snapshot().active(); ok {
				return fmt.Errorf("%s sees the ring change of %s (%s, phase %d) still running", n.name, a.Name, a.Status, a.Phase)
			}
			if got := len(n.mem.current().ring.Members()); got != size {
				return fmt.Errorf("%s sees %d ring members, want %d", n.name, got, size)
			}
			for _, o := range c.nodes {
				if o != nil && n.mem.stateOf(o.name) != stateAlive {
					return fmt.Errorf("%s sees %s as %s", n.name, o.name, n.mem.stateOf(o.name))
				}
			}
		}
		return nil
	})
}

// eventually retries check until it passes or the limit passes.
func (c *testCluster) eventually(limit time.Duration, check func() error) {
	c.t.Helper()
	eventually(c.t, limit, check)
}

// eventually retries check every 10 ms until it passes, failing t with
// check's last error once limit has passed.
func eventually(t testing.TB, limit time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// crash stops node i abruptly; restart brings it back on its data dir.
func (c *testCluster) crash(i int) {
	c.actors[i] = c.nodes[i].actor
	c.nodes[i].Crash()
	c.nodes[i] = nil
}

func (c *testCluster) restart(i int) {
	c.t.Helper()
	c.net.Refuse(c.cfgs[i].RPCAddr, false)
	n, err := Start(c.cfgs[i])
	if err != nil {
		c.t.Fatalf("restart %s: %v", c.cfgs[i].Name, err)
	}
	c.nodes[i] = n
}

// resp is an HTTP answer, read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

func (c *testCluster) do(i int, method, path string, body []byte, hdr map[string]string) resp {
	c.t.Helper()
	req, err := http.NewRequest(method, c.nodes[i].HTTPScheme()+"://"+c.nodes[i].HTTPAddr()+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s at %s: %v", method, path, c.nodes[i].name, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// put writes value at node i and returns the answer.
func (c *testCluster) put(i int, key, query, value, context string) resp {
	c.t.Helper()
	hdr := map[string]string{"Content-Type": "text/plain"}
	if context != "" {
		hdr[headerContext] = context
	}
	return c.do(i, http.MethodPut, "/kv/"+key+query, []byte(value), hdr)
}

// get reads the JSON form of key at node i: status, context and values.
func (c *testCluster) get(i int, key, query string) (int, string, []string) {
	c.t.Helper()
	r := c.do(i, http.MethodGet, "/kv/"+key+query, nil, map[string]string{"Accept": "application/json"})
	if r.status != http.StatusOK && r.status != http.StatusMultipleChoices {
		return r.status, r.header.Get(headerContext), nil
	}
	var out jsonSiblings
	if err := json.Unmarshal(r.body, &out); err != nil {
		c.t.Fatalf("bad JSON siblings: %v: %s", err, r.body)
	}
	var vals []string
	for _, s := range out.Siblings {
		vals = append(vals, string(s.Value))
	}
	if r.header.Get(headerContext) != out.Context {
		c.t.Fatalf("header context %q differs from body context %q", r.header.Get(headerContext), out.Context)
	}
	return r.status, out.Context, vals
}

func mustStatus(t *testing.T, what string, r resp, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, strings.TrimSpace(string(r.body)))
	}
}
