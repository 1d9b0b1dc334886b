package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The cluster of TestScenarioNetnsSet on Linux: one network namespace per
// node and a hub namespace holding a bridge. Each node namespace has one
// veth, eth0 with 10.77.0.<i+1>/24, whose peer is a port of the bridge;
// the bridge itself has 10.77.0.254, the test's address. The test opens
// its connections from inside the hub namespace (setns on a thread kept
// for that one dial), so nothing is added to the root namespace: no
// interface, no address, no route. The subnet cannot clash with the host's
// because it exists only inside namespaces the test created.
//
// A partition is a blackhole route to the peer's address inside each
// node's namespace; a crash is SIGKILL; a pause is SIGSTOP.

func init() { startFaultCluster = startNetnsCluster }

// netnsPrefix starts every namespace name the test creates, followed by the
// test process's PID.
const netnsPrefix = "dkvt"

// sysSetns is setns(2)'s number; package syscall lacks it on amd64.
var sysSetns = map[string]uintptr{
	"amd64": 308, "386": 346, "arm64": 268, "arm": 375, "riscv64": 268,
	"loong64": 268, "ppc64": 350, "ppc64le": 350, "s390x": 339,
}[runtime.GOARCH]

type netnsNode struct {
	name, ns, ip string
	args         []string
	log          string
	cmd          *exec.Cmd
	done         chan struct{}
}

type netnsCluster struct {
	bin    string
	hub    string
	hubFD  *os.File
	nodes  []*netnsNode
	http   *http.Client
	mu     sync.Mutex
	routes [][2]int // blackhole routes present: in nodes[r[0]]'s namespace, to nodes[r[1]]
	spawn  chan func()
}

// startSpawner starts the goroutine that forks every node process. The
// parent-death signal is sent when the forking *thread* ends, not the
// process, and Go ends threads: those of dial, for one, which may have
// run the test's goroutine before. So all forks happen on one thread
// locked for the whole test.
func (c *netnsCluster) startSpawner(t *testing.T) {
	c.spawn = make(chan func())
	stopped := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for f := range c.spawn {
			f()
		}
		close(stopped)
	}()
	t.Cleanup(func() { close(c.spawn); <-stopped })
}

// ipCmd runs ip with args and returns its combined output.
func ipCmd(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func mustIP(t *testing.T, args ...string) {
	t.Helper()
	if _, err := ipCmd(args...); err != nil {
		t.Fatal(err)
	}
}

// sweepStaleNamespaces deletes namespaces an earlier run of this test
// left behind when it was killed before its cleanup (a go test -timeout,
// say): those named netnsPrefix<PID>… whose process is gone. Their
// dynkv processes died with that test (parent-death signal).
func sweepStaleNamespaces(t *testing.T) {
	out, err := ipCmd("netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end <= 0 {
			continue
		}
		pid, _ := strconv.Atoi(rest[:end])
		if pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			if _, err := ipCmd("netns", "del", name); err == nil {
				t.Logf("deleted namespace %s left by an earlier run (PID %d is gone)", name, pid)
			}
		}
	}
}

// startNetnsCluster builds the binary, creates the namespaces and starts
// size nodes, all cleaned up when the test ends; it skips the test where
// namespaces cannot be made.
func startNetnsCluster(t *testing.T, size int, extra ...string) faultCluster {
	t.Helper()
	switch {
	case os.Geteuid() != 0:
		t.Skip("needs root to create network namespaces (ip netns add); run as root, as CI does")
	case sysSetns == 0:
		t.Skipf("no setns(2) number known for %s", runtime.GOARCH)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command of iproute2 (Debian: apt-get install iproute2)")
	}
	sweepStaleNamespaces(t)
	c := &netnsCluster{hub: fmt.Sprintf("%s%dh", netnsPrefix, os.Getpid())}
	// Cleanups run last-registered first: processes are killed before
	// the namespaces they live in are deleted.
	var made []string
	t.Cleanup(func() {
		if c.hubFD != nil {
			c.hubFD.Close()
		}
		for _, ns := range made {
			if _, err := ipCmd("netns", "del", ns); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	addNS := func(ns string) {
		if _, err := ipCmd("netns", "add", ns); err != nil {
			if len(made) == 0 {
				t.Skipf("cannot create a network namespace here (an unprivileged container?): %v", err)
			}
			t.Fatal(err)
		}
		made = append(made, ns)
	}
	addNS(c.hub)
	mustIP(t, "-n", c.hub, "link", "add", "br0", "type", "bridge")
	mustIP(t, "-n", c.hub, "addr", "add", "10.77.0.254/24", "dev", "br0")
	mustIP(t, "-n", c.hub, "link", "set", "br0", "up")
	mustIP(t, "-n", c.hub, "link", "set", "lo", "up")
	hubFD, err := os.Open("/run/netns/" + c.hub)
	if err != nil {
		t.Fatalf("open the hub namespace: %v", err)
	}
	c.hubFD = hubFD

	c.bin = buildBinary(t)
	dir := t.TempDir()
	c.startSpawner(t)
	for i := range size {
		n := &netnsNode{
			name: fmt.Sprintf("n%d", i+1),
			ns:   fmt.Sprintf("%s%dn%d", netnsPrefix, os.Getpid(), i+1),
			ip:   fmt.Sprintf("10.77.0.%d", i+1),
		}
		n.log = filepath.Join(dir, n.name+".log")
		addNS(n.ns)
		port := fmt.Sprintf("p%d", i+1)
		mustIP(t, "-n", c.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", n.ns)
		mustIP(t, "-n", c.hub, "link", "set", port, "master", "br0")
		mustIP(t, "-n", c.hub, "link", "set", port, "up")
		mustIP(t, "-n", n.ns, "addr", "add", n.ip+"/24", "dev", "eth0")
		mustIP(t, "-n", n.ns, "link", "set", "eth0", "up")
		mustIP(t, "-n", n.ns, "link", "set", "lo", "up")
		c.nodes = append(c.nodes, n)
	}
	for i, n := range c.nodes {
		var seeds []string
		for j, o := range c.nodes {
			if j != i {
				seeds = append(seeds, o.ip+":7946")
			}
		}
		n.args = append([]string{
			"serve", "--name", n.name, "--data-dir", filepath.Join(dir, n.name),
			"--http-addr", n.ip + ":8080", "--rpc-addr", n.ip + ":8081", "--gossip-addr", n.ip + ":7946",
			"--join", strings.Join(seeds, ","),
		}, extra...)
	}
	c.http = &http.Client{
		Timeout: 4 * time.Second,
		Transport: &http.Transport{
			DialContext:         c.dial,
			MaxIdleConnsPerHost: 2 * netnsClients,
			IdleConnTimeout:     10 * time.Second,
		},
	}
	t.Cleanup(func() {
		c.http.CloseIdleConnections()
		for _, n := range c.nodes {
			if n.cmd != nil {
				n.cmd.Process.Signal(syscall.SIGCONT)
				n.cmd.Process.Kill()
			}
		}
		for _, n := range c.nodes {
			if n.cmd != nil {
				select {
				case <-n.done:
				case <-time.After(10 * time.Second):
					t.Errorf("cleanup: %s (PID %d) did not exit after SIGKILL", n.name, n.cmd.Process.Pid)
				}
			}
		}
	})
	for i := range c.nodes {
		c.start(t, i)
	}
	for i := range c.nodes {
		c.waitHealthy(t, i)
	}
	c.waitAlive(t, size)
	return c
}

// dial opens a connection from inside the hub namespace. The thread that
// enters it is locked to the goroutine and never unlocked, so it ends
// with the goroutine and no other goroutine ever runs in the hub
// namespace.
func (c *netnsCluster) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, errno := syscall.Syscall(sysSetns, c.hubFD.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
			ch <- result{nil, fmt.Errorf("setns into %s: %v", c.hub, errno)}
			return
		}
		conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// start runs node i's `dynkv serve` in its namespace. ip netns exec execs
// the binary, so the PID is dynkv's own; the parent-death signal kills it
// should the test process die without cleaning up (see startSpawner).
func (c *netnsCluster) start(t *testing.T, i int) {
	t.Helper()
	n := c.nodes[i]
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== %s: ip netns exec %s %s %s\n", time.Now().Format(time.RFC3339Nano), n.ns, c.bin, strings.Join(n.args, " "))
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.ns, c.bin}, n.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	c.spawn <- func() { errc <- cmd.Start() }
	if err := <-errc; err != nil {
		logf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	n.cmd, n.done = cmd, done
}

func (c *netnsCluster) waitHealthy(t *testing.T, i int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.http.Get(c.url(i, "/health")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-c.nodes[i].done:
			t.Fatalf("%s exited before it was healthy: %v", c.nodes[i].name, c.nodes[i].cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s not healthy after 30 s", c.nodes[i].name)
}

// waitAlive waits until every node sees want alive members, all of them
// valid ring members (the nodes join the ring one at a time), and no ring
// change left.
func (c *netnsCluster) waitAlive(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for i := range c.nodes {
		for {
			st, err := fetchStatus(c, i)
			alive := 0
			for _, m := range st.Members {
				if m.State == "alive" && m.RingState == "valid" {
					alive++
				}
			}
			if err == nil && alive == want && st.RingChange == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s sees %d alive valid members after 60 s, want %d (%v)", c.nodes[i].name, alive, want, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (c *netnsCluster) size() int            { return len(c.nodes) }
func (c *netnsCluster) name(i int) string    { return c.nodes[i].name }
func (c *netnsCluster) client() *http.Client { return c.http }
func (c *netnsCluster) url(i int, path string) string {
	return "http://" + c.nodes[i].ip + ":8080" + path
}

func (c *netnsCluster) partition(t *testing.T, a, b []int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			for _, r := range [][2]int{{x, y}, {y, x}} {
				mustIP(t, "-n", c.nodes[r[0]].ns, "route", "add", "blackhole", c.nodes[r[1]].ip+"/32")
				c.routes = append(c.routes, r)
			}
		}
	}
}

func (c *netnsCluster) heal(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.routes {
		mustIP(t, "-n", c.nodes[r[0]].ns, "route", "del", "blackhole", c.nodes[r[1]].ip+"/32")
	}
	c.routes = nil
}

func (c *netnsCluster) kill9(t *testing.T, i int) {
	t.Helper()
	n := c.nodes[i]
	n.cmd.Process.Kill()
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit after SIGKILL", n.name)
	}
}

func (c *netnsCluster) restart(t *testing.T, i int) {
	t.Helper()
	c.start(t, i)
	c.waitHealthy(t, i)
}

func (c *netnsCluster) pause(t *testing.T, i int) {
	t.Helper()
	if err := c.nodes[i].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", c.nodes[i].name, err)
	}
}

func (c *netnsCluster) resume(t *testing.T, i int) {
	t.Helper()
	if err := c.nodes[i].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT %s: %v", c.nodes[i].name, err)
	}
}

// dumpLogs logs the last lines of every node's log.
func (c *netnsCluster) dumpLogs(t *testing.T) {
	const tail = 80
	for _, n := range c.nodes {
		b, err := os.ReadFile(n.log)
		if err != nil {
			t.Logf("%s log: %v", n.name, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		t.Logf("%s log (last %d lines of %s):\n%s", n.name, len(lines), n.log, strings.Join(lines, "\n"))
	}
}
