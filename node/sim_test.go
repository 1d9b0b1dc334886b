package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynkv/dynkv/internal/check"
	"github.com/dynkv/dynkv/internal/simnet"
	"github.com/dynkv/dynkv/vclock"
)

// The fault simulator: several real nodes in this process, each with its
// own pebble store on disk, whose gossip and RPC both run over one seeded
// simulated network (internal/simnet), driven through the real HTTP API on
// loopback. A scenario is a test named TestScenario* that runs many seeds;
// each seed decides the fault schedule. A failing seed prints the schedule,
// the network's fault log and the tail of the operation history, and how to
// rerun it alone:
//
//	DYNKV_SEED=7 go test -run 'TestScenarioPartitionCycles' ./node/
//
// DYNKV_SEEDS=1000 runs 1,000 seeds per scenario (see README, "Fault
// simulation"). Goroutine scheduling is not deterministic, so a seed replays
// the same schedule and the same per-message random draws in the same
// order of calls, not the same interleaving.

// scenarioSeeds returns the seeds a scenario runs: DYNKV_SEED alone if set,
// else DYNKV_SEEDS of them (default 20; 4 under -short, 2 under -race,
// which only has to show the harness is free of data races).
func scenarioSeeds(t *testing.T) []uint64 {
	t.Helper()
	if s := os.Getenv("DYNKV_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DYNKV_SEED=%q: %v", s, err)
		}
		return []uint64{v}
	}
	n := 20
	switch {
	case os.Getenv("DYNKV_SEEDS") != "":
		v, err := strconv.Atoi(os.Getenv("DYNKV_SEEDS"))
		if err != nil || v < 1 {
			t.Fatalf("DYNKV_SEEDS=%q: want a positive count", os.Getenv("DYNKV_SEEDS"))
		}
		n = v
	case raceEnabled:
		n = 2
	case testing.Short():
		n = 4
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

// stableTimes collects, per scenario, how long replicas took to converge
// after the last fault healed (Jepsen's "time to stable").
type stableTimes struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *stableTimes) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (s *stableTimes) report(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return
	}
	slices.Sort(s.d)
	q := func(f float64) time.Duration { return s.d[min(len(s.d)-1, int(f*float64(len(s.d))))] }
	t.Logf("time to stable over %d seeds: p50 %s, p99 %s, max %s", len(s.d),
		q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), s.d[len(s.d)-1].Round(time.Millisecond))
}

// runScenario runs body once per seed, in parallel subtests named seed=N.
func runScenario(t *testing.T, body func(t *testing.T, seed uint64, st *stableTimes)) {
	st := &stableTimes{}
	t.Run("seeds", func(t *testing.T) {
		for _, seed := range scenarioSeeds(t) {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				body(t, seed, st)
			})
		}
	})
	st.report(t)
}

// simOptions shape one simulated cluster.
type simOptions struct {
	size    int
	skew    bool                   // give every node a clock skewed by up to ±5 minutes
	timeout time.Duration          // of each workload request (default 500 ms)
	mutate  func(i int, c *Config) // last word on each node's config
}

// sim is one simulated cluster.
type sim struct {
	t     *testing.T
	seed  uint64
	rng   *rand.Rand // schedule decisions; only the test goroutine draws from it
	net   *simnet.Net
	dir   string
	cfgs  []Config
	nodes []*Node
	http  *http.Client
	start time.Time

	opts    simOptions
	gone    []bool       // nodes that left the ring
	warming map[int]bool // started, not yet healthy: clients leave them alone

	mu     sync.Mutex
	events []string         // the schedule and notable outcomes
	ops    []string         // the operation history, for a failing run
	quorum []check.QuorumOp // every request's receipt
}

// simGossip makes failure detection quick; the network is simulated, so
// timeouts can be short without flakiness from the host.
func simGossip(mc *memberlist.Config) {
	mc.ProbeInterval = 100 * time.Millisecond
	mc.ProbeTimeout = 50 * time.Millisecond
	mc.GossipInterval = 20 * time.Millisecond
	mc.PushPullInterval = 300 * time.Millisecond
	mc.SuspicionMult = 2
	mc.TCPTimeout = 500 * time.Millisecond
}

func newSim(t *testing.T, seed uint64, o simOptions) *sim {
	t.Helper()
	s := &sim{
		t:       t,
		seed:    seed,
		rng:     rand.New(rand.NewPCG(seed, 0x5eed)),
		net:     simnet.New(seed),
		dir:     t.TempDir(),
		http:    &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		start:   time.Now(),
		warming: map[int]bool{},
	}
	t.Cleanup(s.stop)
	t.Cleanup(s.reportOnFailure) // runs before stop: cleanups run last-in first-out
	s.opts = o
	gossip := make([]string, o.size)
	rpcs := make([]string, o.size)
	for i := range o.size {
		gossip[i], rpcs[i] = s.net.AddNode(fmt.Sprintf("n%d", i+1))
	}
	for i := range o.size {
		var join []string
		for j, g := range gossip {
			if j != i {
				join = append(join, g)
			}
		}
		s.cfgs = append(s.cfgs, s.config(i, gossip[i], rpcs[i], join))
		s.nodes = append(s.nodes, nil)
		s.gone = append(s.gone, false)
	}
	for i := range o.size {
		s.startNode(i)
	}
	s.waitRing()
	s.note("cluster of %d up", o.size)
	return s
}

// config is node i's configuration.
func (s *sim) config(i int, gossip, rpcAddr string, join []string) Config {
	cfg := DefaultConfig()
	cfg.Name = fmt.Sprintf("n%d", i+1)
	cfg.DataDir = filepath.Join(s.dir, cfg.Name)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RPCAddr = rpcAddr
	cfg.GossipAddr = gossip
	cfg.Join = join
	cfg.Partitions = 16
	cfg.DefaultTimeout = time.Second
	cfg.RPCNetwork = s.net.RPC()
	setTransport := s.net.Gossip(cfg.Name)
	cfg.Gossip = func(mc *memberlist.Config) { simGossip(mc); setTransport(mc) }
	cfg.Hints.Interval = 50 * time.Millisecond
	cfg.Hints.DeliverTimeout = time.Second
	cfg.AAEInterval = 400 * time.Millisecond // one exchange every 25 ms over 16 partitions
	cfg.AAERate = 0
	cfg.ReconnectInterval = 200 * time.Millisecond
	cfg.Logger = testLogger(s.t)
	if s.opts.skew {
		skew := time.Duration(s.rng.Int64N(int64(10*time.Minute))) - 5*time.Minute
		cfg.Now = func() time.Time { return time.Now().Add(skew) }
		s.note("%s clock skewed by %s", cfg.Name, skew.Round(time.Second))
	}
	if s.opts.mutate != nil {
		s.opts.mutate(i, &cfg)
	}
	return cfg
}

// grow starts a new node that joins the cluster, and waits until its join
// has completed; it returns the node's index.
func (s *sim) grow() int {
	s.t.Helper()
	i := len(s.cfgs)
	gossip, rpcAddr := s.net.AddNode(fmt.Sprintf("n%d", i+1))
	var join []string
	for _, j := range s.running() {
		join = append(join, s.cfgs[j].GossipAddr)
	}
	s.mu.Lock()
	s.cfgs = append(s.cfgs, s.config(i, gossip, rpcAddr, join))
	s.nodes = append(s.nodes, nil)
	s.gone = append(s.gone, false)
	s.warming[i] = true // clients use it once it answers /health, as a load balancer would
	s.mu.Unlock()
	start := time.Now()
	s.note("%s joins", s.name(i))
	s.startNode(i)
	s.eventually(10*time.Second, func() error {
		if rep := s.do(i, http.MethodGet, "/health", nil, nil); rep.err != nil || rep.status != http.StatusOK {
			return fmt.Errorf("%s not healthy: %s", s.name(i), describe(rep))
		}
		return nil
	})
	s.mu.Lock()
	delete(s.warming, i)
	s.mu.Unlock()
	s.waitRing()
	s.note("%s joined after %s", s.name(i), time.Since(start).Round(time.Millisecond))
	return i
}

// leave makes node i leave the ring, waits until it has handed everything
// over, and stops it.
func (s *sim) leave(i int) {
	s.t.Helper()
	start := time.Now()
	s.note("%s leaves", s.name(i))
	rep := s.do(i, http.MethodPost, "/admin/leave", nil, nil)
	if rep.err != nil || rep.status != http.StatusAccepted {
		s.t.Fatalf("leave %s: %s", s.name(i), describe(rep))
	}
	select {
	case <-s.nodes[i].Left():
	case <-time.After(60 * time.Second):
		s.t.Fatalf("%s did not leave within a minute: %+v", s.name(i), s.nodes[i].Status().RingChange)
	}
	n := s.nodes[i]
	s.mu.Lock()
	s.nodes[i], s.gone[i] = nil, true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	n.Shutdown(ctx)
	cancel()
	s.waitRing()
	s.note("%s left after %s", s.name(i), time.Since(start).Round(time.Millisecond))
}

func (s *sim) stop() {
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		if n != nil {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				start := time.Now()
				n.Shutdown(ctx)
				if d := time.Since(start); d > 2*time.Second {
					s.t.Logf("%s took %s to shut down", n.name, d)
				}
			})
			s.nodes[i] = nil
		}
	}
	wg.Wait()
	s.net.Close()
	s.http.CloseIdleConnections()
}

// note records a schedule event.
func (s *sim) note(format string, args ...any) {
	s.mu.Lock()
	s.events = append(s.events, fmt.Sprintf("%7.3fs ", time.Since(s.start).Seconds())+fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *sim) history(format string, args ...any) {
	s.mu.Lock()
	s.ops = append(s.ops, fmt.Sprintf("%7.3fs ", time.Since(s.start).Seconds())+fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *sim) reportOnFailure() {
	if !s.t.Failed() && os.Getenv("DYNKV_SIM_VERBOSE") == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d failed; rerun it alone with DYNKV_SEED=%d go test -run '%s' ./node/\n", s.seed, s.seed,
		strings.SplitN(s.t.Name(), "/", 2)[0])
	b.WriteString("schedule:\n")
	for _, e := range s.events {
		b.WriteString("  " + e + "\n")
	}
	b.WriteString("network faults:\n")
	for _, e := range s.net.Log() {
		b.WriteString("  " + e + "\n")
	}
	ops := s.ops
	if len(ops) > 300 {
		fmt.Fprintf(&b, "history (last 300 of %d operations):\n", len(ops))
		ops = ops[len(ops)-300:]
	} else {
		b.WriteString("history:\n")
	}
	for _, o := range ops {
		b.WriteString("  " + o + "\n")
	}
	s.t.Log(b.String())
}

func (s *sim) name(i int) string { return s.cfgs[i].Name }

func (s *sim) opTimeout() time.Duration {
	if s.opts.timeout > 0 {
		return s.opts.timeout
	}
	return 500 * time.Millisecond
}

func (s *sim) startNode(i int) {
	s.t.Helper()
	n, err := Start(s.cfgs[i])
	if err != nil {
		s.t.Fatalf("start %s: %v", s.name(i), err)
	}
	// A restart keeps its HTTP port, so clients' lists stay right.
	s.mu.Lock()
	s.cfgs[i].HTTPAddr = n.HTTPAddr()
	s.nodes[i] = n
	s.mu.Unlock()
}

// crash stops node i abruptly (no clean-shutdown marker: it comes back with
// a new actor id); with wipe its disk is lost too.
func (s *sim) crash(i int, wipe bool) {
	s.t.Helper()
	s.note("crash %s (wipe=%v)", s.name(i), wipe)
	s.nodes[i].Crash()
	s.mu.Lock()
	s.nodes[i] = nil
	s.mu.Unlock()
	if wipe {
		if err := os.RemoveAll(s.cfgs[i].DataDir); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *sim) restart(i int) {
	s.t.Helper()
	s.note("restart %s", s.name(i))
	s.startNode(i)
}

// waitRing waits until every running node sees every node in its ring and
// alive.
func (s *sim) waitRing() {
	s.t.Helper()
	s.eventually(15*time.Second, func() error {
		for _, n := range s.nodes {
			if n == nil {
				continue
			}
			if a, ok := n.mem.snapshot().active(); ok {
				return fmt.Errorf("%s sees the ring change of %s (%s, phase %d) still running", n.name, a.Name, a.Status, a.Phase)
			}
			want := 0
			for _, g := range s.gone {
				if !g {
					want++
				}
			}
			if got := len(n.mem.current().ring.Members()); got != want {
				return fmt.Errorf("%s sees %d ring members, want %d", n.name, got, want)
			}
			for _, o := range s.nodes {
				if o != nil && n.mem.stateOf(o.name) != stateAlive {
					return fmt.Errorf("%s sees %s as %s", n.name, o.name, n.mem.stateOf(o.name))
				}
			}
		}
		return nil
	})
}

// waitState waits until every running node other than those in except sees
// node i in state.
func (s *sim) waitState(i int, state string, except ...int) {
	s.t.Helper()
	s.eventually(10*time.Second, func() error {
		for j, n := range s.nodes {
			if n == nil || j == i || slices.Contains(except, j) {
				continue
			}
			if got := n.mem.stateOf(s.name(i)); got != state {
				return fmt.Errorf("%s sees %s as %s, want %s", n.name, s.name(i), got, state)
			}
		}
		return nil
	})
}

func (s *sim) eventually(limit time.Duration, check func() error) {
	s.t.Helper()
	eventually(s.t, limit, check)
}

// sleep waits d, drawn by the caller from the schedule.
func (s *sim) sleep(d time.Duration) { time.Sleep(d) }

// between draws a duration in [lo, hi] from the schedule RNG.
func (s *sim) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// running lists the indexes of the nodes that are up.
func (s *sim) running() []int {
	var out []int
	for i, n := range s.nodes {
		if n != nil {
			out = append(out, i)
		}
	}
	return out
}

// names maps indexes to node names.
func (s *sim) names(idx ...int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = s.name(i)
	}
	return out
}

// index of a node name.
func (s *sim) index(name string) int {
	for i := range s.cfgs {
		if s.cfgs[i].Name == name {
			return i
		}
	}
	s.t.Fatalf("no node %q", name)
	return -1
}

// preflist returns the primaries of key, by index, as node i's ring has them.
func (s *sim) preflist(key string) []int {
	for _, n := range s.nodes {
		if n == nil {
			continue
		}
		r := n.mem.current().ring
		var out []int
		for _, name := range r.Preflist(r.Partition([]byte(key))) {
			out = append(out, s.index(name))
		}
		return out
	}
	s.t.Fatal("no node running")
	return nil
}

// reply is one HTTP answer, or the transport error that replaced it.
type reply struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// do sends one request to node i; a down node is a transport error.
func (s *sim) do(i int, method, path string, body []byte, hdr map[string]string) reply {
	s.mu.Lock()
	addr := s.cfgs[i].HTTPAddr
	s.mu.Unlock()
	req, err := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{err: err}
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// readSet is a GET's outcome in the set workload.
type readSet struct {
	ok       bool // 200, 300 or 404
	context  string
	values   [][]byte
	siblings int
	reply    reply
}

// get reads key at node i (JSON form) and records its receipt.
func (s *sim) get(i int, key, query string, r int) readSet {
	rep := s.do(i, http.MethodGet, "/kv/"+key+query, nil, map[string]string{"Accept": "application/json"})
	out := readSet{reply: rep, context: rep.header.Get(headerContext)}
	q := check.QuorumOp{R: r, Outcome: outcomeOf(rep)}
	switch {
	case rep.err != nil:
	case rep.status == http.StatusOK || rep.status == http.StatusMultipleChoices:
		var js jsonSiblings
		if err := json.Unmarshal(rep.body, &js); err != nil {
			s.t.Errorf("GET %s at %s: bad JSON %v: %s", key, s.name(i), err, rep.body)
			return out
		}
		out.ok, out.siblings = true, len(js.Siblings)
		for _, sib := range js.Siblings {
			out.values = append(out.values, sib.Value)
		}
	case rep.status == http.StatusNotFound:
		out.ok = true
	}
	if pr := queryInt(query, "pr"); pr > 0 {
		q.PR = pr
	}
	s.receipt(q, rep)
	return out
}

// put writes value to key at node i with context ctx and records its
// receipt; it returns the outcome as a client sees it.
func (s *sim) put(i int, key, query string, value []byte, ctx string, w int) (check.Outcome, reply) {
	hdr := map[string]string{"Content-Type": "text/plain"}
	if ctx != "" {
		hdr[headerContext] = ctx
	}
	rep := s.do(i, http.MethodPut, "/kv/"+key+query, value, hdr)
	q := check.QuorumOp{Write: true, W: w, PW: queryInt(query, "pw"), Outcome: outcomeOf(rep)}
	s.receipt(q, rep)
	return q.Outcome, rep
}

func (s *sim) receipt(q check.QuorumOp, rep reply) {
	if q.Outcome != check.OK {
		return
	}
	acked, prim, fb, err := check.ParseReceipt(rep.header.Get("X-Dynkv-Replicas"))
	if err != nil {
		if rep.status == http.StatusNotFound {
			return // a 404 carries no receipt when nothing was found
		}
		s.t.Errorf("receipt %q: %v", rep.header.Get("X-Dynkv-Replicas"), err)
		return
	}
	q.Acked, q.Primaries, q.Fallbacks = acked, prim, fb
	s.mu.Lock()
	s.quorum = append(s.quorum, q)
	s.mu.Unlock()
}

func queryInt(query, name string) int {
	for _, kv := range strings.Split(strings.TrimPrefix(query, "?"), "&") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// outcomeOf classifies an answer: 2xx (and 300/404 for reads) is OK; 503
// and 4xx failed before or during the request (a 503 write may still be on
// some replica, which the set checker allows); 504 and transport errors are
// unknown.
func outcomeOf(r reply) check.Outcome {
	switch {
	case r.err != nil || r.status == http.StatusGatewayTimeout:
		return check.Unknown
	case r.status < 300 || r.status == http.StatusMultipleChoices || r.status == http.StatusNotFound:
		return check.OK
	default:
		return check.Failed
	}
}

// add is one set-workload operation: read key at r, then write the union
// of its siblings plus elem with the read's context at w.
func (s *sim) add(i int, key, elem string, r, w int, extra string) check.SetOp {
	return s.addWith(i, key, elem, r, w, extra, nil)
}

// addWith is add, telling onRead (if set) what the read found and when it
// started.
func (s *sim) addWith(i int, key, elem string, r, w int, extra string, onRead func(start time.Time, elems []string)) check.SetOp {
	op := check.SetOp{Key: key, Element: elem, Start: time.Now()}
	rs := s.get(i, key, fmt.Sprintf("?r=%d&timeout=%s", r, s.opTimeout()), r)
	if !rs.ok && refused(rs.reply.err) && onRead != nil {
		// The node is gone (stopped after leaving the ring, or crashed):
		// nothing was sent; a client fails over to another node.
		return check.SetOp{}
	}
	if !rs.ok {
		op.Outcome, op.End = check.Failed, time.Now()
		s.history("%s add %s/%s: read failed (%s); not written", s.name(i), key, elem, describe(rs.reply))
		return op
	}
	elems, err := check.UnionSiblings(rs.values)
	if err != nil {
		s.t.Errorf("read %s: %v", key, err)
	}
	if onRead != nil {
		onRead(op.Start, elems)
	}
	elems = append(elems, elem)
	outcome, rep := s.put(i, key, fmt.Sprintf("?w=%d&timeout=%s%s", w, s.opTimeout(), extra), check.EncodeElements(elems), rs.context, w)
	op.Outcome, op.End = outcome, time.Now()
	s.history("%s add %s/%s: %s (%s)", s.name(i), key, elem, outcome, describe(rep))
	return op
}

// refused reports a connection refused: the request never reached a node.
func refused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection refused")
}

func describe(r reply) string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, strings.TrimSpace(string(r.body[:min(len(r.body), 400)])))
}

// setLoad is a running set workload.
type setLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	ops  []check.SetOp
	// With fresh, every read is checked against the adds acknowledged
	// before it started (read-your-writes across clients, which R + W > N
	// promises when no sloppy quorum is involved); misses go to stale.
	fresh bool
	acked map[string]map[string]time.Time
	stale []string
}

// checkRead records, for a fresh load, every add acknowledged before start
// that a read of key did not return.
func (l *setLoad) checkRead(key string, start time.Time, elems []string) {
	if !l.fresh {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for e, at := range l.acked[key] {
		if at.Before(start) && !slices.Contains(elems, e) {
			l.stale = append(l.stale, fmt.Sprintf("%s/%s (acked %s before the read)", key, e, start.Sub(at).Round(time.Millisecond)))
		}
	}
}

func (l *setLoad) noteAck(op check.SetOp) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
	if l.fresh && op.Outcome == check.OK {
		if l.acked[op.Key] == nil {
			l.acked[op.Key] = map[string]time.Time{}
		}
		l.acked[op.Key][op.Element] = op.End
	}
}

// startSetLoad runs clients goroutines adding unique elements to keys at
// random running nodes until stopped (or 2,000 operations each).
func (s *sim) startSetLoad(clients int, keys []string, r, w int, extra string) *setLoad {
	return s.startSetLoadFresh(clients, keys, r, w, extra, false)
}

func (s *sim) startSetLoadFresh(clients int, keys []string, r, w int, extra string, fresh bool) *setLoad {
	l := &setLoad{stop: make(chan struct{}), fresh: fresh, acked: map[string]map[string]time.Time{}}
	for c := range clients {
		rng := rand.New(rand.NewPCG(s.seed, uint64(c)+1))
		l.wg.Go(func() {
			for j := range 2000 {
				select {
				case <-l.stop:
					return
				default:
				}
				i := s.randomRunning(rng)
				if i < 0 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				key := keys[rng.IntN(len(keys))]
				op := s.addWith(i, key, fmt.Sprintf("c%d-%d", c, j), r, w, extra,
					func(start time.Time, elems []string) { l.checkRead(key, start, elems) })
				if op.Key == "" {
					continue // not sent: the client tries another node
				}
				l.noteAck(op)
				// Think time: keeps a few simulated clusters running side by side
				// on two cores without starving their gossip.
				time.Sleep(time.Duration(2+rng.IntN(4)) * time.Millisecond)
			}
		})
	}
	return l
}

// randomRunning picks a running node; the nodes slice is read racily by
// design: a node crashed meanwhile answers with a transport error, which is
// an unknown outcome, as it would be for a real client.
func (s *sim) randomRunning(rng *rand.Rand) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 8 {
		if i := rng.IntN(len(s.cfgs)); !s.gone[i] && !s.warming[i] {
			return i
		}
	}
	return -1
}

func (s *sim) finish(l *setLoad) []check.SetOp {
	// On a starved machine the fault phases can pass with hardly an
	// operation done; run on (healed) until a few adds were acknowledged,
	// so the checks never pass vacuously.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		acked := 0
		for _, op := range l.ops {
			if op.Outcome == check.OK {
				acked++
			}
		}
		l.mu.Unlock()
		if acked >= 10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(l.stop)
	l.wg.Wait()
	s.note("workload stopped after %d operations", len(l.ops))
	return l.ops
}

// settle ends a set workload and checks its outcome: it stops the load,
// waits for the ring, times the convergence of keys' replicas and runs the
// set and quorum checkers.
func (s *sim) settle(load *setLoad, keys []string, st *stableTimes) check.SetResult {
	s.t.Helper()
	ops := s.finish(load)
	s.waitRing()
	st.add(s.converge(keys, convergeLimit))
	return s.checkSet(ops, keys)
}

// finalElements reads every key at r=all from a running node, retrying
// until the read succeeds.
func (s *sim) finalElements(keys []string) map[string][]string {
	s.t.Helper()
	final := map[string][]string{}
	for _, k := range keys {
		s.eventually(10*time.Second, func() error {
			i := s.running()[0]
			rs := s.get(i, k, fmt.Sprintf("?r=%d", s.cfgs[i].N), s.cfgs[i].N)
			if !rs.ok {
				return fmt.Errorf("final read of %s: %s", k, describe(rs.reply))
			}
			elems, err := check.UnionSiblings(rs.values)
			if err != nil {
				return err
			}
			final[k] = elems
			return nil
		})
	}
	return final
}

// converge waits until every key's primaries hold identical sets and no
// hints are pending, and returns how long that took.
func (s *sim) converge(keys []string, limit time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	var last check.ConvergenceResult
	deadline := start.Add(limit)
	for {
		last = s.replicaStates(keys)
		if last.Valid && s.hintsPending() == 0 {
			d := time.Since(start)
			s.note("converged after %s", d.Round(time.Millisecond))
			return d
		}
		if os.Getenv("DYNKV_SIM_VERBOSE") != "" && time.Since(start)%(500*time.Millisecond) < 10*time.Millisecond {
			var live []string
			for _, n := range s.nodes {
				if n != nil {
					live = append(live, fmt.Sprint(n.name, n.mem.liveStates()))
				}
			}
			var roots []string
			for _, d := range last.Diverged {
				for _, n := range s.nodes {
					if n != nil {
						p := n.mem.current().ring.Partition([]byte(d.Key))
						r, _ := n.Root(p)
						roots = append(roots, fmt.Sprintf("%s p%d root %x", n.name, p, r))
					}
				}
			}
			s.note("converging: hints %d, diverged %v, roots %v", s.hintsPending(), last.Diverged, roots)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("replicas did not converge within %s (hints pending %d): %v", limit, s.hintsPending(), last.Diverged)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replicaStates reads each key's primaries straight from their stores.
func (s *sim) replicaStates(keys []string) check.ConvergenceResult {
	states := map[string]map[string]*vclock.Set{}
	for _, k := range keys {
		states[k] = map[string]*vclock.Set{}
		for _, i := range s.preflist(k) {
			n := s.nodes[i]
			if n == nil {
				return check.ConvergenceResult{Diverged: []check.Divergence{{Key: k, Detail: s.name(i) + " is down"}}}
			}
			r := n.mem.current().ring
			set, ok, err := n.localRead(r.Partition([]byte(k)), []byte(k), "")
			if err != nil {
				s.t.Fatalf("read %s at %s: %v", k, n.name, err)
			}
			if ok {
				states[k][n.name] = &set
			} else {
				states[k][n.name] = nil
			}
		}
	}
	return check.CheckConvergence(states, s.cfgs[0].N)
}

func (s *sim) hintsPending() int {
	total := 0
	for _, n := range s.nodes {
		if n != nil && n.hints != nil {
			p, _ := n.hints.Pending()
			total += int(p)
		}
	}
	return total
}

// checkSet runs the set checker on a finished workload and the final
// reads, and the quorum checker on every receipt.
func (s *sim) checkSet(ops []check.SetOp, keys []string) check.SetResult {
	s.t.Helper()
	res := check.CheckSet(ops, nil, s.finalElements(keys))
	s.note("set: %s", res)
	if !res.Valid {
		s.t.Errorf("set checker: %s", res)
	}
	if res.Acked == 0 {
		s.t.Errorf("no add was acknowledged: the scenario checked nothing (%s)", res)
	}
	s.checkQuorum()
	return res
}

func (s *sim) checkQuorum() {
	s.t.Helper()
	s.mu.Lock()
	q := check.CheckQuorum(s.quorum)
	s.mu.Unlock()
	if !q.Valid {
		s.t.Errorf("quorum checker: %v", q.Violations)
	}
}
