package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevCluster runs the newcomer's command, `dynkv dev`: it starts three
// nodes that answer a write and a read, and Ctrl-C stops every one of them.
func TestDevCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs four processes; skipped with -short")
	}
	bin := buildBinary(t)
	base := 21000 + rand.IntN(20000) // dev uses base±1000: stay inside 20000–42000
	cmd := exec.Command(bin, "dev", "--data-dir", t.TempDir(), "--base-port", fmt.Sprint(base))
	// Its own process group, so that a failing test kills dev's nodes too:
	// killing dev alone with SIGKILL would leave them running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "cluster ready") {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("dev exited before the cluster was ready: %s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("dev not ready after 60 s: %s", stderr.String())
	}
	first := fmt.Sprintf("http://127.0.0.1:%d", base)
	last := fmt.Sprintf("http://127.0.0.1:%d", base+2)
	if r := doHTTP(t, "PUT", first+"/kv/greeting", "hello"); r.status != 204 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := doHTTP(t, "GET", last+"/kv/greeting?r=2", ""); r.status != 200 || r.body != "hello" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30 s of Ctrl-C")
	}
	for i := range 3 {
		if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", base+i)); err == nil {
			t.Fatalf("node %d still answers after dev stopped", i+1)
		}
	}
	if !strings.Contains(stderr.String(), "all nodes stopped") {
		t.Fatalf("dev did not report stopping its nodes: %s", stderr.String())
	}
}
