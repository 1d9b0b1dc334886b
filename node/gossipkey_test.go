package node

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestGossipKey: nodes sharing a gossip key form a cluster; a node with
// another key (or none) cannot join it, and is refused at once if the key
// has a bad length.
func TestGossipKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	c := startCluster(t, 2, func(cfg *Config) { cfg.GossipKey = key })

	for _, other := range [][]byte{bytes.Repeat([]byte{9}, 32), nil} {
		cfg := DefaultConfig()
		cfg.Name = fmt.Sprintf("x%d", len(other))
		cfg.DataDir = filepath.Join(t.TempDir(), cfg.Name)
		cfg.HTTPAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0"
		cfg.RPCAddr = cfg.Name + ":9000"
		cfg.Partitions, cfg.RPCNetwork, cfg.Gossip, cfg.Logger = 64, c.net, fastGossip, testLogger(t)
		cfg.GossipKey = other
		cfg.Join = []string{c.nodes[0].mem.ml.LocalNode().Address()}
		n, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // a dozen gossip rounds: enough to join if it could
		if got := c.nodes[0].mem.numNodes(); got != 2 {
			t.Errorf("a node with key %x joined: the cluster has %d gossip members", other, got)
		}
		if st := c.nodes[0].mem.stateOf(cfg.Name); st == stateAlive {
			t.Errorf("%s (key %x) is alive in the cluster's view", cfg.Name, other)
		}
		n.Crash()
	}

	bad := DefaultConfig()
	bad.Name, bad.DataDir, bad.HTTPAddr, bad.RPCAddr, bad.GossipAddr = "b", t.TempDir(), "127.0.0.1:0", "b:1", "127.0.0.1:0"
	bad.GossipKey = []byte("short")
	if err := bad.Validate(); err == nil {
		t.Fatal("a 5-byte gossip key was accepted")
	}
}
