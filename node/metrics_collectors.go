package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynkv/dynkv/internal/rpc"
)

// Collectors of the node's components. Each reads a component's Stats (plain
// atomic counters) at scrape time; a component that is off (hinted handoff,
// anti-entropy) reports nothing.

// funcCollector is a prometheus.Collector over a fixed set of descriptors
// and a function that reads their current values.
type funcCollector struct {
	descs   []*prometheus.Desc
	collect func(emit emitFunc)
}

// emitFunc reports one sample of a descriptor.
type emitFunc func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string)

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	c.collect(func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	})
}

// desc declares a metric of c.
func (c *funcCollector) desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(prometheus.BuildFQName(metricsNamespace, "", name), help, labels, nil)
	c.descs = append(c.descs, d)
	return d
}

const (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue
)

// registerCollectors adds the collectors of the node's components to its
// registry. Called once the components exist.
func (n *Node) registerCollectors() error {
	for _, c := range []prometheus.Collector{
		n.quorumCollector(), n.membersCollector(), n.storeCollector(), n.rpcCollector(),
		n.hintsCollector(), n.aaeCollector(), n.limitsCollector(),
	} {
		if err := n.metrics.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) quorumCollector() prometheus.Collector {
	c := &funcCollector{}
	failures := c.desc("quorum_failures_total", "Requests this node coordinated whose quorum failed, by op (read, write) and kind (unmet: answered 503, timeout: answered 504).", "op", "kind")
	repairs := c.desc("read_repairs_total", "Read-repair writes sent to replicas a read found stale.")
	repairFailures := c.desc("read_repair_failures_total", "Read-repair writes that failed.")
	c.collect = func(emit emitFunc) {
		s := n.coord.Stats()
		emit(failures, counter, float64(s.ReadUnmet), "read", "unmet")
		emit(failures, counter, float64(s.ReadTimeout), "read", "timeout")
		emit(failures, counter, float64(s.WriteUnmet), "write", "unmet")
		emit(failures, counter, float64(s.WriteTimeout), "write", "timeout")
		emit(repairs, counter, float64(s.ReadRepairs))
		emit(repairFailures, counter, float64(s.ReadRepairFailures))
	}
	return c
}

func (n *Node) hintsCollector() prometheus.Collector {
	c := &funcCollector{}
	written := c.desc("hints_written_total", "Hints stored on this node for replicas that were down (a merge into an existing hint counts).")
	delivered := c.desc("hints_delivered_total", "Hints delivered to their replica and deleted.")
	dropped := c.desc("hints_dropped_total", "Hints refused by a limit (--hint-window, --max-hint-bytes); anti-entropy repairs their replicas instead.")
	failed := c.desc("hint_delivery_failures_total", "Hint delivery batches that failed (retried later).")
	pending := c.desc("hints_pending", "Hints stored on this node waiting for delivery.")
	pendingBytes := c.desc("hints_pending_bytes", "Bytes of hints stored on this node waiting for delivery.")
	c.collect = func(emit emitFunc) {
		h := n.hints
		if h == nil {
			return
		}
		s := h.Stats()
		count, _ := h.Pending()
		emit(written, counter, float64(s.Written))
		emit(delivered, counter, float64(s.Delivered))
		emit(dropped, counter, float64(s.Dropped))
		emit(failed, counter, float64(s.Failed))
		emit(pending, gauge, float64(count))
		emit(pendingBytes, gauge, float64(h.PendingBytes()))
	}
	return c
}

func (n *Node) aaeCollector() prometheus.Collector {
	c := &funcCollector{}
	exchanges := c.desc("aae_exchanges_total", "Anti-entropy exchanges this node started, by result (clean: trees agreed or nothing to repair, repaired, failed).", "result")
	keys := c.desc("aae_keys_repaired_total", "Keys anti-entropy exchanges repaired, on either side.")
	reaped := c.desc("aae_tombstones_reaped_total", "Tombstones reaped once every replica held them.")
	rebuilding := c.desc("aae_trees_rebuilding", "Anti-entropy trees being rebuilt now.")
	c.collect = func(emit emitFunc) {
		a := n.aae
		if a == nil {
			return
		}
		emit(exchanges, counter, float64(a.exchangesClean.Load()), "clean")
		emit(exchanges, counter, float64(a.exchangesRepaired.Load()), "repaired")
		emit(exchanges, counter, float64(a.exchangesFailed.Load()), "failed")
		emit(keys, counter, float64(a.sched.TotalRepaired()))
		emit(reaped, counter, float64(a.reaped.Load()))
		emit(rebuilding, gauge, float64(a.rebuilds.Load()))
	}
	return c
}

// memberStates are the values of the state label of dynkv_members.
var memberStates = []string{stateAlive, "suspect", stateDead, stateLeft}

func (n *Node) membersCollector() prometheus.Collector {
	c := &funcCollector{}
	members := c.desc("members", "Ring members by state as this node sees them: alive, suspect (alive in gossip but its last RPC from this node failed), dead, left.", "state")
	c.collect = func(emit emitFunc) {
		counts := map[string]int{}
		for _, s := range memberStates {
			counts[s] = 0
		}
		for name, state := range n.memberStates() {
			if state == stateAlive && name != n.name && n.reps.sus.suspect(name) {
				state = "suspect"
			}
			counts[state]++
		}
		for _, s := range memberStates {
			emit(members, gauge, float64(counts[s]), s)
		}
	}
	return c
}

// memberStates returns every ring member's state, as /status reports it.
func (n *Node) memberStates() map[string]string {
	v := n.mem.current()
	live := n.mem.liveStates()
	out := make(map[string]string, len(v.members))
	for name, rec := range v.members {
		state, ok := live[name]
		if !ok {
			state = stateDead
		}
		if rec.Status == statusLeft {
			state = stateLeft
		}
		out[name] = state
	}
	return out
}

func (n *Node) storeCollector() prometheus.Collector {
	c := &funcCollector{}
	compactions := c.desc("pebble_compactions_total", "Compactions pebble ran.")
	debt := c.desc("pebble_compaction_debt_bytes", "Bytes pebble estimates it must compact to reach a stable shape.")
	flushes := c.desc("pebble_flushes_total", "Memtable flushes.")
	walWritten := c.desc("pebble_wal_bytes_written_total", "Bytes written to the write-ahead log, with its framing.")
	walIn := c.desc("pebble_wal_bytes_in_total", "Logical bytes of the batches written to the write-ahead log.")
	walSize := c.desc("pebble_wal_size_bytes", "Size of the live write-ahead log files.")
	cacheHits := c.desc("pebble_block_cache_hits_total", "Block cache hits.")
	cacheMisses := c.desc("pebble_block_cache_misses_total", "Block cache misses.")
	cacheSize := c.desc("pebble_block_cache_size_bytes", "Bytes in the block cache.")
	memSize := c.desc("pebble_memtable_size_bytes", "Bytes allocated by memtables (including ones being flushed).")
	memCount := c.desc("pebble_memtables", "Memtables, including ones being flushed.")
	readAmp := c.desc("pebble_read_amplification", "Sublevels and files a point read may have to check (L0 sublevels plus non-empty levels).")
	disk := c.desc("pebble_disk_usage_bytes", "Disk space used by the store: sstables, WAL, manifests and other files.")
	vHits := c.desc("value_cache_hits_total", "Reads served by the node's value cache (--value-cache-size).")
	vMisses := c.desc("value_cache_misses_total", "Reads the value cache could not serve.")
	vSize := c.desc("value_cache_size_bytes", "Bytes held by the value cache.")
	vEntries := c.desc("value_cache_entries", "Keys held by the value cache.")
	c.collect = func(emit emitFunc) {
		if vs, ok := n.store.ValueCacheStats(); ok {
			emit(vHits, counter, float64(vs.Hits))
			emit(vMisses, counter, float64(vs.Misses))
			emit(vSize, gauge, float64(vs.Bytes))
			emit(vEntries, gauge, float64(vs.Entries))
		}
		m, err := n.store.PebbleMetrics()
		if err != nil {
			return // closed
		}
		emit(compactions, counter, float64(m.Compact.Count))
		emit(debt, gauge, float64(m.Compact.EstimatedDebt))
		emit(flushes, counter, float64(m.Flush.Count))
		emit(walWritten, counter, float64(m.WAL.BytesWritten))
		emit(walIn, counter, float64(m.WAL.BytesIn))
		emit(walSize, gauge, float64(m.WAL.Size))
		emit(cacheHits, counter, float64(m.BlockCache.Hits))
		emit(cacheMisses, counter, float64(m.BlockCache.Misses))
		emit(cacheSize, gauge, float64(m.BlockCache.Size))
		emit(memSize, gauge, float64(m.MemTable.Size))
		emit(memCount, gauge, float64(m.MemTable.Count))
		emit(readAmp, gauge, float64(m.ReadAmp()))
		emit(disk, gauge, float64(m.DiskSpaceUsage()))
	}
	return c
}

// rpcStatser is implemented by the TCP transport; the in-memory one of tests
// reports nothing.
type rpcStatser interface{ Stats() rpc.Stats }

func (n *Node) rpcCollector() prometheus.Collector {
	c := &funcCollector{}
	conns := c.desc("rpc_open_connections", "Open node-to-node RPC connections, by side (client: dialed by this node, server: accepted).", "side")
	inflight := c.desc("rpc_inflight_requests", "RPC requests in flight, by side (client: awaiting a reply, server: being served).", "side")
	sent := c.desc("rpc_frames_sent_total", "RPC frames sent, by side (client: requests, server: replies).", "side")
	received := c.desc("rpc_frames_received_total", "RPC frames received, by side (client: replies, server: requests).", "side")
	c.collect = func(emit emitFunc) {
		for _, side := range []struct {
			name string
			v    any
		}{{"client", n.rpcClient}, {"server", n.rpcServer}} {
			st, ok := side.v.(rpcStatser)
			if !ok {
				continue
			}
			s := st.Stats()
			emit(conns, gauge, float64(s.OpenConns), side.name)
			emit(inflight, gauge, float64(s.InFlight), side.name)
			emit(sent, counter, float64(s.FramesSent), side.name)
			emit(received, counter, float64(s.FramesReceived), side.name)
		}
	}
	return c
}

func (n *Node) limitsCollector() prometheus.Collector {
	c := &funcCollector{}
	warnings := c.desc("sibling_warnings_total", "Writes that left a key with more siblings than --sibling-warning.")
	over := c.desc("keys_over_sibling_warning", "Keys this node holds with more siblings than --sibling-warning (as tracked for GET /admin/conflicts, at most 256).")
	overloaded := c.desc("http_overloaded_total", "Requests refused at once with 503 overloaded (--max-concurrent-requests).")
	inflight := c.desc("http_inflight_requests", "HTTP requests being served (/health excepted).")
	storage := c.desc("storage_state", "1 for the store's current write health: ok, disk_full (writes refused until space is freed) or failed (a WAL write or fsync failed: writes refused until restart).", "state")
	c.collect = func(emit emitFunc) {
		if c := n.conflicts; c != nil {
			emit(warnings, counter, float64(c.warnings.Load()))
			emit(over, gauge, float64(c.overWarning()))
		}
		if a := n.admit; a != nil {
			emit(overloaded, counter, float64(a.refused.Load()))
			emit(inflight, gauge, float64(a.inFlight()))
		}
		state := n.store.State()
		for _, s := range []string{"ok", "disk_full", "failed"} {
			v := 0.0
			if s == state {
				v = 1
			}
			emit(storage, gauge, v, s)
		}
	}
	return c
}
