package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynkv/dynkv/internal/check"
)

// This file is the scenario of the real-process fault harness (issue 6):
// `dynkv serve` processes, a set workload over the HTTP API, a seeded
// fault schedule (partitions, kill -9, SIGSTOP) and the set checker. The
// cluster it runs on, five nodes in Linux network namespaces, is in
// netns_linux_test.go; elsewhere the test skips.

// faultCluster is a cluster of real `dynkv serve` processes whose network
// and processes the scenario can break.
type faultCluster interface {
	size() int
	name(i int) string
	// client reaches every node's HTTP API whatever the faults: partitions
	// cut nodes from each other, not from the test.
	client() *http.Client
	url(i int, path string) string
	// partition cuts every node of a from every node of b, both ways.
	partition(t *testing.T, a, b []int)
	// heal removes every cut.
	heal(t *testing.T)
	kill9(t *testing.T, i int)
	// restart starts a killed node again on its data dir.
	restart(t *testing.T, i int)
	pause(t *testing.T, i int)  // SIGSTOP
	resume(t *testing.T, i int) // SIGCONT
	// dumpLogs logs the tail of every node's log.
	dumpLogs(t *testing.T)
}

// startFaultCluster builds the cluster of size nodes, or skips the test
// saying why it cannot; netns_linux_test.go sets it.
var startFaultCluster func(t *testing.T, size int, extra ...string) faultCluster

const (
	netnsNodes   = 5
	netnsKeys    = 10
	netnsClients = 4
)

// netnsFault is one step of the fault schedule.
type netnsFault struct {
	kind   string // partition, kill or pause
	a, b   []int  // partition: the two sides; kill, pause: a[0] is the node
	dur    time.Duration
	settle time.Duration // time before the next fault; 0 for the last
}

func (f netnsFault) describe(c faultCluster) string {
	names := func(ix []int) string {
		var s []string
		for _, i := range ix {
			s = append(s, c.name(i))
		}
		return strings.Join(s, " ")
	}
	after := fmt.Sprintf(", settle %s", f.settle)
	if f.settle == 0 {
		after = " (last: the workload stops first)"
	}
	switch f.kind {
	case "partition":
		return fmt.Sprintf("partition [%s] | [%s] for %s, then heal%s", names(f.a), names(f.b), f.dur, after)
	case "kill":
		return fmt.Sprintf("kill -9 %s, down %s, then restart%s", names(f.a), f.dur, after)
	default:
		return fmt.Sprintf("SIGSTOP %s for %s or until every other node sees it dead (at most %s), then SIGCONT%s",
			names(f.a), f.dur, netnsPauseMax, after)
	}
}

// netnsPauseMax bounds a SIGSTOP. A pause lasts its drawn duration, then
// on until every other node sees the paused one dead, which takes
// memberlist's suspicion timeout: with its LAN timing and five nodes, 4 s
// when other nodes confirm the suspicion, up to 24 s when none does.
const netnsPauseMax = 16 * time.Second

// netnsSchedule draws the fault schedule from seed: a 2|3 partition, a
// kill -9 with restart and a SIGSTOP meant to outlast gossip's suspicion
// timeout, in a random order, sometimes followed by a fourth fault (a
// partition or a kill), about 30-45 s in all.
func netnsSchedule(seed uint64, nodes int) []netnsFault {
	rng := rand.New(rand.NewPCG(seed, 0x6e65746e73))
	kinds := []string{"partition", "kill", "pause"}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	if rng.IntN(2) == 0 {
		kinds = append(kinds, []string{"partition", "kill"}[rng.IntN(2)])
	}
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)).Round(100*time.Millisecond)
	}
	var out []netnsFault
	for _, k := range kinds {
		f := netnsFault{kind: k, settle: between(2*time.Second, 3*time.Second)}
		perm := rng.Perm(nodes)
		switch k {
		case "partition":
			f.a, f.b = perm[:2], perm[2:]
			slices.Sort(f.a)
			slices.Sort(f.b)
			f.dur = between(5*time.Second, 8*time.Second)
		case "kill":
			f.a = perm[:1]
			f.dur = between(2*time.Second, 5*time.Second)
		case "pause":
			f.a = perm[:1]
			f.dur = between(7*time.Second, 9*time.Second)
		}
		out = append(out, f)
	}
	out[len(out)-1].settle = 0 // the workload stops, then the last fault is undone
	return out
}

// netnsHistory is what the clients did, shared between them.
type netnsHistory struct {
	mu        sync.Mutex
	ops       []check.SetOp
	reads     []check.SetRead // the workload's successful reads (set-full)
	readFails int             // workload reads that failed: no add attempted
	// notFound counts workload reads that found nothing although every key
	// was written at w=3 first. It is allowed: with a key's primaries all
	// cut off, a sloppy read may be answered by fallbacks holding nothing.
	// The client then skips its add rather than write blind.
	notFound int
}

func (h *netnsHistory) add(op check.SetOp) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// liveSet is which nodes the clients may send requests to: not killed, not
// paused.
type liveSet struct {
	mu   sync.Mutex
	down []bool
}

func (l *liveSet) set(i int, down bool) {
	l.mu.Lock()
	l.down[i] = down
	l.mu.Unlock()
}

func (l *liveSet) pick(rng *rand.Rand) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var up []int
	for i, d := range l.down {
		if !d {
			up = append(up, i)
		}
	}
	if len(up) == 0 {
		return rng.IntN(len(l.down))
	}
	return up[rng.IntN(len(up))]
}

// readSet GETs key from node i at quorum r and returns the union of its
// siblings' elements and the context. found is false on a 404.
func readSet(c faultCluster, i int, key string, r int, timeout time.Duration) (elems []string, vctx string, found bool, err error) {
	req, err := http.NewRequest("GET", c.url(i, fmt.Sprintf("/kv/%s?r=%d&timeout=%s", key, r, timeout)), nil)
	if err != nil {
		return nil, "", false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", false, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusMultipleChoices:
	case http.StatusNotFound:
		return nil, resp.Header.Get("X-Dynkv-Context"), false, nil
	default:
		return nil, "", false, fmt.Errorf("GET %s at %s: %d %s", key, c.name(i), resp.StatusCode, bytes.TrimSpace(body))
	}
	var doc struct {
		Context  string `json:"context"`
		Siblings []struct {
			Value []byte `json:"value"`
		} `json:"siblings"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, "", false, fmt.Errorf("GET %s at %s: %v: %s", key, c.name(i), err, body)
	}
	var sibs [][]byte
	for _, s := range doc.Siblings {
		sibs = append(sibs, s.Value)
	}
	elems, err = check.UnionSiblings(sibs)
	if err != nil {
		return nil, "", false, fmt.Errorf("GET %s at %s: siblings: %v", key, c.name(i), err)
	}
	return elems, doc.Context, true, nil
}

// putOutcome classifies the answer to an add's PUT as package check
// defines outcomes: a 2xx is an ack; a 4xx or a 503 (quorum unmet) is a
// failure the client was told about, though a 503 write may still have
// reached some replicas, which the checker allows; a 504 or no answer at all
// is unknown.
func putOutcome(status int, err error) check.Outcome {
	switch {
	case err != nil, status == http.StatusGatewayTimeout:
		return check.Unknown
	case status >= 200 && status < 300:
		return check.OK
	case status >= 400 && status < 500, status == http.StatusServiceUnavailable:
		return check.Failed
	default:
		return check.Unknown
	}
}

// putSet writes elems to key at node i with the read's context.
func putSet(c faultCluster, i int, key string, elems []string, vctx string, w int, timeout time.Duration) (int, string, error) {
	req, err := http.NewRequest("PUT", c.url(i, fmt.Sprintf("/kv/%s?w=%d&timeout=%s", key, w, timeout)), bytes.NewReader(check.EncodeElements(elems)))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if vctx != "" {
		req.Header.Set("X-Dynkv-Context", vctx)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(body)), nil
}

// netnsClient adds unique elements to random keys at random live nodes
// until ctx ends: read at r=2, write the union plus the new element at w=2
// with the read's context.
func netnsClient(ctx context.Context, c faultCluster, id int, seed uint64, live *liveSet, h *netnsHistory, badStatus func(string)) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	for seq := 0; ctx.Err() == nil; {
		key := fmt.Sprintf("set%d", rng.IntN(netnsKeys))
		elems, vctx, found, err := readSet(c, live.pick(rng), key, 2, time.Second)
		if err == nil && found {
			h.mu.Lock()
			h.reads = append(h.reads, check.SetRead{Key: key, Time: time.Now(), Elements: elems})
			h.mu.Unlock()
		} else {
			h.mu.Lock()
			if err != nil {
				h.readFails++
			} else {
				h.notFound++ // never write blind: that could supersede acked elements
			}
			h.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		elem := fmt.Sprintf("c%d-%d", id, seq)
		seq++
		start := time.Now()
		status, body, err := putSet(c, live.pick(rng), key, append(slices.Clip(elems), elem), vctx, 2, time.Second)
		out := putOutcome(status, err)
		h.add(check.SetOp{Key: key, Element: elem, Outcome: out, Start: start, End: time.Now()})
		if err == nil && status != http.StatusNoContent && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
			badStatus(fmt.Sprintf("PUT %s: %d %s", key, status, body))
		}
		time.Sleep(10 * time.Millisecond) // leave the two cores of CI some air
	}
}

// TestScenarioNetnsSet is the real-process fault scenario: five `dynkv
// serve` nodes (N=3, 64 partitions) in their own network namespaces, four
// clients adding unique elements to ten set keys over HTTP (read r=2, write
// the union plus the element with the read's context at w=2, each request
// to a random live node), while a seeded schedule partitions the cluster
// 2|3 with blackhole routes, kills a node with SIGKILL and restarts it on
// its data dir, and pauses one with SIGSTOP until the others declare it
// dead. The workload stops before the last fault is undone; then the
// cluster must converge (everyone alive in every view, no hints pending,
// every key's r=3 read stable and equal to what each primary replica
// stores; anti-entropy runs every 2 s), and the set checker must find no
// acknowledged add lost and no element nobody added.
//
// DYNKV_NETNS_SEED replays a schedule. Needs Linux, root and iproute2; it
// skips, saying why, where it cannot run.
func TestScenarioNetnsSet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five processes in network namespaces for about a minute; skipped with -short")
	}
	if startFaultCluster == nil {
		t.Skipf("needs Linux network namespaces (ip netns, veth, blackhole routes); this is %s", runtime.GOOS)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("DYNKV_NETNS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DYNKV_NETNS_SEED=%q: %v", s, err)
		}
		seed = v
	}
	began := time.Now()
	c := startFaultCluster(t, netnsNodes,
		"--n", "3", "--partitions", "64", "--r", "2", "--w", "2", "--aae-interval", "2s")
	t.Logf("binary built, cluster of %d up in %s", netnsNodes, time.Since(began).Round(time.Millisecond))

	schedule := netnsSchedule(seed, netnsNodes)
	var events []string
	var evMu sync.Mutex
	t0 := time.Now()
	event := func(format string, args ...any) {
		evMu.Lock()
		defer evMu.Unlock()
		events = append(events, fmt.Sprintf("t+%5.1fs ", time.Since(t0).Seconds())+fmt.Sprintf(format, args...))
	}
	logEvents := func() {
		evMu.Lock()
		defer evMu.Unlock()
		t.Logf("events:\n  %s", strings.Join(events, "\n  "))
	}
	var plan []string
	for _, f := range schedule {
		plan = append(plan, f.describe(c))
	}
	t.Logf("seed %d; fault schedule:\n  %s", seed, strings.Join(plan, "\n  "))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d (replay with DYNKV_NETNS_SEED=%d); fault schedule:\n  %s", seed, seed, strings.Join(plan, "\n  "))
			logEvents()
			c.dumpLogs(t)
		}
	})

	// Every key gets a first element at w=3 before any fault, so that
	// every later read finds a version and its context: the clients never
	// write blind.
	h := &netnsHistory{}
	for k := range netnsKeys {
		key := fmt.Sprintf("set%d", k)
		elem := "init-" + key
		start := time.Now()
		status, body, err := putSet(c, k%netnsNodes, key, []string{elem}, "", 3, 5*time.Second)
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("first write of %s: %d %s %v", key, status, body, err)
		}
		h.add(check.SetOp{Key: key, Element: elem, Outcome: check.OK, Start: start, End: time.Now()})
	}

	live := &liveSet{down: make([]bool, netnsNodes)}
	var bad []string
	var badMu sync.Mutex
	badStatus := func(s string) {
		badMu.Lock()
		if len(bad) < 10 {
			bad = append(bad, s)
		}
		badMu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for id := range netnsClients {
		wg.Go(func() { netnsClient(ctx, c, id, seed, live, h, badStatus) })
	}
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			wg.Wait()
			event("workload stopped")
		})
	}
	defer stop() // on a t.Fatal in the schedule

	// The last fault is undone only once the workload has stopped, so that
	// the convergence measured below includes recovering from it.
	event("workload starts")
	time.Sleep(2 * time.Second)
	for n, f := range schedule {
		last := n == len(schedule)-1
		switch f.kind {
		case "partition":
			c.partition(t, f.a, f.b)
			event("%s", f.describe(c))
			time.Sleep(f.dur)
			if last {
				stop()
			}
			c.heal(t)
			event("healed")
		case "kill":
			i := f.a[0]
			live.set(i, true)
			c.kill9(t, i)
			event("killed %s with SIGKILL", c.name(i))
			time.Sleep(f.dur)
			if last {
				stop()
			}
			event("restarting %s", c.name(i))
			c.restart(t, i)
			live.set(i, false)
			event("%s restarted and healthy", c.name(i))
		case "pause":
			i := f.a[0]
			live.set(i, true)
			c.pause(t, i)
			event("SIGSTOP %s", c.name(i))
			time.Sleep(f.dur)
			states, dead := memberStates(c, i)
			for until := time.Now().Add(netnsPauseMax - f.dur); !dead && time.Now().Before(until); {
				time.Sleep(250 * time.Millisecond)
				states, dead = memberStates(c, i)
			}
			event("%s as the others see it before SIGCONT: %s", c.name(i), states)
			if last {
				stop()
			}
			c.resume(t, i)
			live.set(i, false)
			event("SIGCONT %s", c.name(i))
		}
		if !last {
			time.Sleep(f.settle)
		}
	}
	stop()
	c.heal(t)

	// Quiesce: everyone alive in everyone's view, no hints left, then
	// every key read at r=3 until two rounds in a row agree and every
	// replica of every key holds exactly that set.
	healed := time.Now()
	final, err := netnsConverge(t, c, healed.Add(45*time.Second))
	conv := time.Since(healed)
	if err != nil {
		event("no convergence: %v", err)
		t.Fatalf("cluster did not converge within %s of undoing the last fault: %v", conv.Round(time.Millisecond), err)
	}
	event("converged")
	logEvents()
	t.Logf("converged %s after the last fault was undone", conv.Round(time.Millisecond))

	res := check.CheckSet(h.ops, h.reads, final)
	t.Logf("adds attempted %d, acked %d, failed %d, unknown %d, recovered (not acked, yet in the final read) %d; workload reads: %d ok, %d failed, %d found nothing",
		res.Attempted, res.Acked, res.Failed, res.Unknown, res.Recovered, len(h.reads), h.readFails, h.notFound)
	t.Logf("checker: %s", res)
	if len(bad) > 0 {
		t.Errorf("PUTs answered with statuses the workload should never get:\n  %s", strings.Join(bad, "\n  "))
	}
	if res.Acked < 50 {
		t.Errorf("only %d adds acknowledged: the workload did not get going", res.Acked)
	}
	if !res.Valid {
		t.Errorf("set checker: %s", res)
		// When each lost element was added, against the events' clock.
		for _, e := range res.Lost[:min(len(res.Lost), 20)] {
			for _, op := range h.ops {
				if op.Key == e.Key && op.Element == e.Element {
					t.Logf("lost %s: %s, added t+%.3fs..t+%.3fs", e, op.Outcome, op.Start.Sub(t0).Seconds(), op.End.Sub(t0).Seconds())
				}
			}
		}
	}
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}

// memberStates is how every other node sees node i, e.g. "n1:dead
// n2:alive", and whether all of them see it dead.
func memberStates(c faultCluster, i int) (string, bool) {
	var out []string
	allDead := true
	for j := range c.size() {
		if j == i {
			continue
		}
		st, err := fetchStatus(c, j)
		if err != nil {
			out = append(out, c.name(j)+":?")
			allDead = false
			continue
		}
		state := "absent"
		for _, m := range st.Members {
			if m.Name == c.name(i) {
				state = m.State
			}
		}
		out = append(out, c.name(j)+":"+state)
		allDead = allDead && state == "dead"
	}
	return strings.Join(out, " "), allDead
}

type netnsStatus struct {
	Members []struct {
		Name      string `json:"name"`
		State     string `json:"state"`
		RingState string `json:"ring_state"`
	} `json:"members"`
	HintsPending int64 `json:"hints_pending"`
	RingChange   any   `json:"ring_change"`
}

func fetchStatus(c faultCluster, i int) (netnsStatus, error) {
	var st netnsStatus
	resp, err := c.client().Get(c.url(i, "/status"))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("status of %s: %d", c.name(i), resp.StatusCode)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// netnsConverge waits until the healed cluster is quiet and consistent and
// returns every key's final set, read at r=3.
func netnsConverge(t *testing.T, c faultCluster, deadline time.Time) (map[string][]string, error) {
	t.Helper()
	began := time.Now()
	since := func() time.Duration { return time.Since(began).Round(time.Millisecond) }
	var why string
	wait := func(ok func() bool) bool {
		for !ok() {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(250 * time.Millisecond)
		}
		return true
	}
	allAlive := func() bool {
		for i := range c.size() {
			st, err := fetchStatus(c, i)
			if err != nil {
				why = err.Error()
				return false
			}
			for _, m := range st.Members {
				if m.State != "alive" {
					why = fmt.Sprintf("%s sees %s as %s", c.name(i), m.Name, m.State)
					return false
				}
			}
			if len(st.Members) != c.size() {
				why = fmt.Sprintf("%s sees %d members", c.name(i), len(st.Members))
				return false
			}
		}
		return true
	}
	noHints := func() bool {
		for i := range c.size() {
			st, err := fetchStatus(c, i)
			if err != nil {
				why = err.Error()
				return false
			}
			if st.HintsPending != 0 {
				why = fmt.Sprintf("%s holds %d hints", c.name(i), st.HintsPending)
				return false
			}
		}
		return true
	}
	if !wait(allAlive) {
		return nil, fmt.Errorf("membership: %s", why)
	}
	t.Logf("all %d nodes alive in every view after %s", c.size(), since())
	if !wait(noHints) {
		return nil, fmt.Errorf("hinted handoff: %s", why)
	}
	t.Logf("no hints pending after %s", since())
	var prev map[string][]string
	round := 0
	stable := func() bool {
		round++
		cur := map[string][]string{}
		for k := range netnsKeys {
			key := fmt.Sprintf("set%d", k)
			elems, _, found, err := readSet(c, (k+round)%c.size(), key, 3, 3*time.Second)
			if err != nil {
				why = err.Error()
				prev = nil
				return false
			}
			if !found {
				why = "r=3 read of " + key + " found nothing"
				prev = nil
				return false
			}
			slices.Sort(elems)
			cur[key] = elems
		}
		same := prev != nil
		for key, elems := range cur {
			if same && !slices.Equal(prev[key], elems) {
				why = fmt.Sprintf("%s changed between two r=3 reads", key)
				same = false
			}
		}
		prev = cur
		if !same {
			if why == "" {
				why = "one r=3 round only"
			}
			return false
		}
		if msg := replicasAgree(c, cur); msg != "" {
			why = msg
			prev = nil
			return false
		}
		return true
	}
	if !wait(stable) {
		return nil, fmt.Errorf("final reads: %s", why)
	}
	return prev, nil
}

// replicasAgree checks that every primary replica of every key stores
// exactly the set of the final read; it returns what differs.
func replicasAgree(c faultCluster, final map[string][]string) string {
	index := map[string]int{}
	for i := range c.size() {
		index[c.name(i)] = i
	}
	for key, want := range final {
		var pl struct {
			Nodes []struct {
				Name    string `json:"name"`
				Primary bool   `json:"primary"`
			} `json:"nodes"`
		}
		resp, err := c.client().Get(c.url(0, "/preflist/"+key))
		if err != nil {
			return err.Error()
		}
		err = json.NewDecoder(resp.Body).Decode(&pl)
		resp.Body.Close()
		if err != nil {
			return fmt.Sprintf("preflist of %s: %v", key, err)
		}
		for _, n := range pl.Nodes {
			if !n.Primary {
				continue // a fallback a write would use now
			}
			i, ok := index[n.Name]
			if !ok {
				return fmt.Sprintf("preflist of %s names unknown node %q", key, n.Name)
			}
			got, err := replicaSet(c, i, key)
			if err != nil {
				return err.Error()
			}
			if !slices.Equal(got, want) {
				return fmt.Sprintf("%s on %s holds %d elements, the r=3 read %d", key, n.Name, len(got), len(want))
			}
		}
	}
	return ""
}

// replicaSet is the union of the siblings node i itself stores for key.
func replicaSet(c faultCluster, i int, key string) ([]string, error) {
	resp, err := c.client().Get(c.url(i, "/admin/replica/"+key))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	var doc struct {
		Siblings []struct {
			Value   []byte `json:"value"`
			Deleted bool   `json:"deleted"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("replica of %s at %s: %v", key, c.name(i), err)
	}
	var sibs [][]byte
	for _, s := range doc.Siblings {
		if !s.Deleted {
			sibs = append(sibs, s.Value)
		}
	}
	elems, err := check.UnionSiblings(sibs)
	if err != nil {
		return nil, fmt.Errorf("replica of %s at %s: %v", key, c.name(i), err)
	}
	slices.Sort(elems)
	return elems, nil
}
