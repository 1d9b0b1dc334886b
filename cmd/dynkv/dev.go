package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// devNode is one `dynkv serve` child of `dynkv dev`.
type devNode struct {
	name                   string
	http, rpc, gossip, log string
	exe                    string
	args                   []string
	cmd                    *exec.Cmd
	exited                 chan error
}

type devConfig struct {
	nodes      int
	basePort   int
	dataDir    string
	n          int
	partitions int
}

// plan lays nodes out as the contract's example does: the i-th node (from 0)
// serves HTTP on base+i, RPC on base+1000+i and gossip on base-1000+i, so the
// defaults give n1 8001/9001/7001.
func (c devConfig) plan() ([]*devNode, error) {
	if c.nodes < 1 || c.nodes > 64 {
		return nil, fmt.Errorf("--nodes must be between 1 and 64, got %d", c.nodes)
	}
	if c.basePort-1000 < 1024 || c.basePort+1000+c.nodes > 65535 {
		return nil, fmt.Errorf("--base-port %d leaves gossip or RPC ports out of range (they use base-1000 and base+1000)", c.basePort)
	}
	nodes := make([]*devNode, c.nodes)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		nodes[i] = &devNode{
			name:   name,
			http:   net.JoinHostPort("127.0.0.1", strconv.Itoa(c.basePort+i)),
			rpc:    net.JoinHostPort("127.0.0.1", strconv.Itoa(c.basePort+1000+i)),
			gossip: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.basePort-1000+i)),
			log:    filepath.Join(c.dataDir, name+".log"),
		}
	}
	return nodes, nil
}

func (c devConfig) serveArgs(nodes []*devNode, i int) []string {
	d := nodes[i]
	var seeds []string
	for j, o := range nodes {
		if j != i {
			seeds = append(seeds, o.gossip)
		}
	}
	args := []string{"serve", "--name", d.name, "--data-dir", filepath.Join(c.dataDir, d.name),
		"--http-addr", d.http, "--rpc-addr", d.rpc, "--gossip-addr", d.gossip,
		"--n", strconv.Itoa(c.n), "--partitions", strconv.Itoa(c.partitions)}
	if len(seeds) > 0 {
		args = append(args, "--join", strings.Join(seeds, ","))
	}
	r := min(2, c.n)
	return append(args, "--r", strconv.Itoa(r), "--w", strconv.Itoa(r))
}

func runDev(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("dynkv dev", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var c devConfig
	fs.IntVar(&c.nodes, "nodes", 3, "number of nodes")
	fs.IntVar(&c.basePort, "base-port", 8001, "HTTP port of the first node (RPC ports start at base+1000, gossip at base-1000)")
	fs.StringVar(&c.dataDir, "data-dir", "./dynkv-dev", "directory holding each node's data dir and log")
	fs.IntVar(&c.n, "n", 3, "replicas per key")
	fs.IntVar(&c.partitions, "partitions", 256, "partitions in the ring")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c.n = min(c.n, c.nodes)
	nodes, err := c.plan()
	if err == nil {
		err = os.MkdirAll(c.dataDir, 0o755)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dynkv dev: %v\n", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "dynkv dev: cannot find own binary: %v\n", err)
		return 1
	}
	defer stopAll(nodes, stderr)
	for i, d := range nodes {
		if err := d.start(exe, c.serveArgs(nodes, i)); err != nil {
			fmt.Fprintf(stderr, "dynkv dev: starting %s: %v\n", d.name, err)
			return 1
		}
	}
	printDev(stdout, c, nodes)
	err = waitHealthy(ctx, nodes, 30*time.Second)
	if err == nil {
		err = waitRing(ctx, nodes, 60*time.Second)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dynkv dev: %v (see the logs above)\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\ncluster ready. Ctrl-C stops every node; data stays in %s.\n", c.dataDir)
	return watch(ctx, nodes, stderr)
}

func (d *devNode) start(exe string, args []string) error {
	d.exe, d.args = exe, args
	logf, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	d.cmd = exec.Command(exe, args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.Env = devEnv(os.Environ())
	// Own process group: a Ctrl-C in the terminal reaches dev, which then
	// stops the nodes in order, instead of killing them all at once.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	d.exited = make(chan error, 1)
	go func() {
		d.exited <- d.cmd.Wait()
		logf.Close()
	}()
	return nil
}

func printDev(w io.Writer, c devConfig, nodes []*devNode) {
	fmt.Fprintf(w, "dynkv dev: %d nodes, n=%d, data in %s\n\n", len(nodes), c.n, c.dataDir)
	fmt.Fprintf(w, "  %-5s %-8s %-22s %s\n", "NODE", "PID", "HTTP", "LOG")
	for _, d := range nodes {
		fmt.Fprintf(w, "  %-5s %-8d %-22s %s\n", d.name, d.cmd.Process.Pid, "http://"+d.http, d.log)
	}
	first, last := nodes[0].http, nodes[len(nodes)-1].http
	fmt.Fprintf(w, "\ntry:\n")
	fmt.Fprintf(w, "  curl -i -X PUT --data 'hello' http://%s/kv/greeting\n", first)
	fmt.Fprintf(w, "  curl -i 'http://%s/kv/greeting?r=2'\n", last)
	fmt.Fprintf(w, "  curl -s http://%s/preflist/greeting\n", first)
	fmt.Fprintf(w, "  curl -s http://%s/status\n", first)
	fmt.Fprintf(w, "  curl -s http://%s/metrics | grep ^dynkv_\n", first)
	fmt.Fprintf(w, "  go run ./cmd/dynkv status --endpoints %s\n", first)
}

// waitHealthy polls every node's /health until all answer 200.
func waitHealthy(ctx context.Context, nodes []*devNode, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for _, d := range nodes {
		for {
			resp, err := hc.Get("http://" + d.http + "/health")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-d.exited:
				d.exited <- err
				return fmt.Errorf("%s exited during start: %v; its log is %s", d.name, err, d.log)
			case <-ctx.Done():
				return fmt.Errorf("%s did not become healthy at %s: %w", d.name, d.http, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// waitRing waits until the first node sees every node as a valid ring
// member with no ring change left: the nodes join one at a time.
func waitRing(ctx context.Context, nodes []*devNode, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		if st, err := fetchRingStatus(ctx, cmdHTTP, nodes[0].http); err == nil && st.RingChange == nil {
			valid := 0
			for _, m := range st.Members {
				if m.RingState == "valid" && m.State == "alive" {
					valid++
				}
			}
			if valid == len(nodes) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the nodes did not all join the ring: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watch waits for Ctrl-C, reporting nodes that exit on their own meanwhile.
func watch(ctx context.Context, nodes []*devNode, stderr io.Writer) int {
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	reported := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return 0
		case <-ticker.C:
		}
		for _, d := range nodes {
			if reported[d.name] || len(d.exited) == 0 {
				continue
			}
			reported[d.name] = true
			fmt.Fprintf(stderr, "dynkv dev: %s exited; the rest keep running (log: %s). To bring it back on its data:\n  %s %s\n",
				d.name, d.log, d.exe, strings.Join(d.args, " "))
		}
	}
}

// stopAll sends SIGTERM to every node still running and waits for them,
// killing any that take longer than 20 s.
func stopAll(nodes []*devNode, stderr io.Writer) {
	for _, d := range nodes {
		if d.cmd != nil && d.cmd.Process != nil {
			d.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(20 * time.Second)
	for _, d := range nodes {
		if d.cmd == nil || d.exited == nil {
			continue
		}
		select {
		case err := <-d.exited:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				fmt.Fprintf(stderr, "dynkv dev: %s: %v\n", d.name, err)
			}
		case <-deadline:
			fmt.Fprintf(stderr, "dynkv dev: %s did not stop in time; killing it\n", d.name)
			d.cmd.Process.Kill()
		}
	}
	fmt.Fprintln(stderr, "dynkv dev: all nodes stopped")
}
