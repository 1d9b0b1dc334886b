package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startProcs starts a cluster of size `dynkv serve` processes on free
// loopback ports, waits until they are healthy and see each other, and
// stops them (SIGTERM) when the test ends.
func startProcs(t *testing.T, bin string, size int, extra ...string) []*proc {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 3*size)
	procs := make([]*proc, size)
	for i := range procs {
		name := fmt.Sprintf("n%d", i+1)
		var seeds []string
		for j := range size {
			if j != i {
				seeds = append(seeds, ports[2*size+j])
			}
		}
		procs[i] = &proc{name: name, http: ports[i], log: filepath.Join(dir, name+".log"), args: append([]string{
			"serve", "--name", name, "--data-dir", filepath.Join(dir, name),
			"--http-addr", ports[i], "--rpc-addr", ports[size+i], "--gossip-addr", ports[2*size+i],
			"--join", strings.Join(seeds, ","), "--n", "3", "--partitions", "64", "--r", "2", "--w", "2",
		}, extra...)}
	}
	t.Cleanup(func() {
		for _, p := range procs {
			if p.cmd != nil && p.cmd.Process != nil {
				p.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		for _, p := range procs {
			if p.cmd != nil && p.cmd.Process != nil {
				waitExit(p, 10*time.Second)
			}
		}
	})
	for _, p := range procs {
		p.start(t, bin)
	}
	for _, p := range procs {
		p.waitHealthy(t)
	}
	waitMembers(t, procs[0], size)
	return procs
}

// proc is one `dynkv serve` process of an end-to-end test.
type proc struct {
	name, http string
	args       []string
	log        string
	cmd        *exec.Cmd
}

// buildBinary compiles this command into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dynkv")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

func (p *proc) start(t *testing.T, bin string) {
	t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); logf.Close() }()
}

func (p *proc) url(path string) string { return "http://" + p.http + path }

// kill9 kills the process with SIGKILL and waits for it to be gone.
func (p *proc) kill9() {
	p.cmd.Process.Kill()
	waitExit(p, 5*time.Second)
}

func (p *proc) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + p.http + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	logs, _ := os.ReadFile(p.log)
	t.Fatalf("%s not healthy; log:\n%s", p.name, logs)
}

type httpResult struct {
	status int
	body   string
	header http.Header
}

func doHTTP(t *testing.T, method, url, body string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{resp.StatusCode, string(b), resp.Header}
}

// TestThreeProcesses runs the contract's acceptance scenario with real
// processes: a write at n1 is read at n3; with n3 killed by SIGKILL, r=2 and
// w=2 still work and r=3 is a 503 with the counts; restarted on its data dir,
// n3 still holds what it had.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three processes; skipped with -short")
	}
	bin := buildBinary(t)
	procs := startProcs(t, bin, 3)

	url := func(i int, path string) string { return procs[i].url(path) }
	// w=3: n3 must have acknowledged the write for the restart check below
	// to mean anything (with w=2 its copy may still be in flight at kill -9).
	if r := doHTTP(t, "PUT", url(0, "/kv/greeting?w=3"), "hello"); r.status != 204 {
		t.Fatalf("put at n1: %d %s", r.status, r.body)
	}
	if r := doHTTP(t, "GET", url(2, "/kv/greeting?r=2"), ""); r.status != 200 || r.body != "hello" {
		t.Fatalf("get at n3: %d %s", r.status, r.body)
	}

	procs[2].kill9()
	if r := doHTTP(t, "GET", url(0, "/kv/greeting?r=2"), ""); r.status != 200 || r.body != "hello" {
		t.Fatalf("get r=2 with n3 down: %d %s", r.status, r.body)
	}
	if r := doHTTP(t, "PUT", url(1, "/kv/other?w=2"), "v"); r.status != 204 {
		t.Fatalf("put w=2 with n3 down: %d %s", r.status, r.body)
	}
	r := doHTTP(t, "GET", url(0, "/kv/greeting?r=3"), "")
	var body map[string]any
	json.Unmarshal([]byte(r.body), &body)
	if r.status != 503 || body["needed"] != 3.0 || body["replied"] != 2.0 {
		t.Fatalf("get r=3 with n3 down: %d %s", r.status, r.body)
	}

	procs[2].start(t, bin)
	procs[2].waitHealthy(t)
	r = doHTTP(t, "GET", url(2, "/admin/replica/greeting"), "")
	if r.status != 200 || !strings.Contains(r.body, `"aGVsbG8="`) { // base64 of hello
		t.Fatalf("n3 after restart: %d %s", r.status, r.body)
	}
}

func waitExit(p *proc, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p.cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.cmd.Process.Kill()
}

// waitMembers waits until p's status lists want alive members.
func waitMembers(t *testing.T, p *proc, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		r := doHTTP(t, "GET", "http://"+p.http+"/status", "")
		last = r.body
		var st struct {
			Members []struct {
				State     string
				RingState string `json:"ring_state"`
			} `json:"members"`
			RingChange any `json:"ring_change"`
		}
		if json.Unmarshal([]byte(r.body), &st) == nil {
			alive := 0
			for _, m := range st.Members {
				if m.State == "alive" && m.RingState == "valid" {
					alive++
				}
			}
			if alive == want && st.RingChange == nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("cluster did not form; last status: %s", last)
}

// hintsPending reads hints_pending from a node's status.
func hintsPending(t *testing.T, p *proc) int {
	t.Helper()
	var st struct {
		HintsPending int `json:"hints_pending"`
	}
	r := doHTTP(t, "GET", p.url("/status"), "")
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatalf("status: %v: %s", err, r.body)
	}
	return st.HintsPending
}

// TestHintHolderKilled: a node holding hints is killed with SIGKILL before
// it could deliver them and restarted: every hint is still there, and all
// reach their target when it returns.
func TestHintHolderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes; skipped with -short")
	}
	bin := buildBinary(t)
	procs := startProcs(t, bin, 3)
	procs[2].kill9()
	const keys = 100
	for k := range keys {
		if r := doHTTP(t, "PUT", procs[0].url(fmt.Sprintf("/kv/k%d?w=2", k)), fmt.Sprintf("v%d", k)); r.status != 204 {
			t.Fatalf("put k%d: %d %s", k, r.status, r.body)
		}
	}
	// Hints for a replica that failed after the quorum answered are stored
	// in the background: wait for them all before the crash.
	waitHints(t, procs[0], keys)
	procs[0].kill9()
	procs[0].start(t, bin)
	procs[0].waitHealthy(t)
	if n := hintsPending(t, procs[0]); n != keys {
		t.Fatalf("after kill -9 and restart n1 holds %d hints, want %d", n, keys)
	}
	procs[2].start(t, bin)
	procs[2].waitHealthy(t)
	waitHints(t, procs[0], 0)
	for k := range keys {
		r := doHTTP(t, "GET", procs[2].url(fmt.Sprintf("/admin/replica/k%d", k)), "")
		want := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "v%d", k))
		if r.status != 200 || !strings.Contains(r.body, want) {
			t.Fatalf("k%d on n3: %d %s", k, r.status, r.body)
		}
	}
}

// waitHints waits up to 30 s for p to hold exactly want hints.
func waitHints(t *testing.T, p *proc, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := hintsPending(t, p)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d hints after 30 s, want %d", p.name, n, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAntiEntropyProcesses: hinted handoff off; n3 is stopped while 1,000
// keys are written with w=2 and 100 of them deleted; after it restarts,
// anti-entropy (--aae-interval 2s) alone brings it up to date within 60 s:
// alone, it answers every surviving key at its latest version and 404 for
// every deleted one.
func TestAntiEntropyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three processes; skipped with -short")
	}
	bin := buildBinary(t)
	procs := startProcs(t, bin, 3, "--hinted-handoff=false", "--aae-interval", "2s", "--tombstone-grace", "5s")
	procs[2].stop(t)
	const keys, deleted = 1000, 100
	for k := range keys {
		r := doHTTP(t, "PUT", procs[k%2].url(fmt.Sprintf("/kv/k%d?w=2", k)), fmt.Sprintf("v%d", k))
		if r.status != 204 {
			t.Fatalf("put k%d: %d %s", k, r.status, r.body)
		}
		if k < deleted {
			if d := doHTTP(t, "DELETE", procs[k%2].url(fmt.Sprintf("/kv/k%d?w=2", k)), ""); d.status != 204 {
				t.Fatalf("delete k%d: %d %s", k, d.status, d.body)
			}
		}
	}
	procs[2].start(t, bin)
	procs[2].waitHealthy(t)
	deadline := time.Now().Add(60 * time.Second)
	for k := deleted; k < keys; k++ {
		for {
			r := doHTTP(t, "GET", procs[2].url(fmt.Sprintf("/admin/replica/k%d", k)), "")
			if r.status == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("n3 still lacks k%d 60 s after restarting", k)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	procs[0].stop(t)
	procs[1].stop(t)
	for k := range keys {
		r := doHTTP(t, "GET", procs[2].url(fmt.Sprintf("/kv/k%d?r=1", k)), "")
		switch {
		case k < deleted && r.status != 404:
			t.Fatalf("deleted k%d at n3 alone: %d %s", k, r.status, r.body)
		case k >= deleted && (r.status != 200 || r.body != fmt.Sprintf("v%d", k)):
			t.Fatalf("k%d at n3 alone: %d %s", k, r.status, r.body)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	waitExit(p, 15*time.Second)
}
