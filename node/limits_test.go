package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestOverloadRefusedFast: beyond MaxConcurrentRequests a request is
// refused at once with 503 "overloaded" and Retry-After, never queued;
// /health still answers; a freed slot takes the next request.
func TestOverloadRefusedFast(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	})
	l := DefaultLimits()
	l.MaxConcurrentRequests = 1
	a := newAdmission(l, h)
	srv := httptest.NewServer(a)
	defer srv.Close()
	cl := &http.Client{Timeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		res, err := cl.Get(srv.URL + "/slow")
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-entered
	if a.inFlight() != 1 {
		t.Fatalf("%d requests in flight, want 1", a.inFlight())
	}
	res, err := cl.Get(srv.URL + "/kv/k")
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || body["error"] != "overloaded" || res.Header.Get("Retry-After") != "1" {
		t.Fatalf("over the limit: %d %v Retry-After=%q, want 503 overloaded with Retry-After: 1", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	if res, err := cl.Get(srv.URL + "/health"); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("/health while overloaded: %v %v", res, err)
	}
	if n := a.refused.Load(); n != 1 {
		t.Fatalf("%d requests counted as refused for overload, want 1", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if res, err := cl.Get(srv.URL + "/kv/k"); err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("after the slot was freed: %v %v", res, err)
	}
}

// TestRequestSizeLimits: a header over MaxHeaderBytes gets 431 with a JSON
// error (plain text from net/http beyond twice the limit);
// a body on a request other than PUT /kv/ over MaxBodyBytes gets 413; a PUT
// value is still bounded by MaxValueSize alone.
func TestRequestSizeLimits(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.Limits.MaxBodyBytes = 1 << 10
		cfg.MaxValueSize = 8 << 10
	})
	big := strings.Repeat("x", 80<<10)
	r := c.do(0, http.MethodGet, "/status", nil, map[string]string{"X-Big": big})
	mustStatus(t, "80 KiB header", r, http.StatusRequestHeaderFieldsTooLarge)
	if m := r.json(t); !strings.Contains(fmt.Sprint(m["error"]), "--max-header-bytes") {
		t.Fatalf("431 body does not name the flag: %v", m)
	}
	r = c.do(0, http.MethodGet, "/status", nil, map[string]string{"X-Huge": strings.Repeat("x", 200<<10)})
	mustStatus(t, "200 KiB header", r, http.StatusRequestHeaderFieldsTooLarge)
	mustStatus(t, "small header", c.do(0, http.MethodGet, "/status", nil, map[string]string{"X-Small": "x"}), http.StatusOK)

	r = c.do(0, http.MethodGet, "/status", make([]byte, 2<<10), nil)
	mustStatus(t, "2 KiB body on GET /status", r, http.StatusRequestEntityTooLarge)
	if !strings.Contains(string(r.body), "--max-body-size") {
		t.Fatalf("413 does not name the flag: %s", r.body)
	}
	mustStatus(t, "small body on GET /status", c.do(0, http.MethodGet, "/status", []byte("x"), nil), http.StatusOK)
	for _, tc := range []struct {
		size int
		want int
	}{{2 << 10, http.StatusRequestEntityTooLarge}, {512, http.StatusOK}} {
		// Chunked: no Content-Length to refuse up front.
		body := io.MultiReader(bytes.NewReader(make([]byte, tc.size)))
		req, err := http.NewRequest(http.MethodGet, "http://"+c.nodes[0].HTTPAddr()+"/status", body)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Fatalf("GET /status with a chunked %d-byte body: %d, want %d", tc.size, res.StatusCode, tc.want)
		}
	}
	mustStatus(t, "4 KiB value", c.put(0, "k", "", strings.Repeat("v", 4<<10), ""), http.StatusNoContent)
	mustStatus(t, "16 KiB value", c.put(0, "k", "", strings.Repeat("v", 16<<10), ""), http.StatusRequestEntityTooLarge)
}

// TestSlowHeaderClosed: a client that opens a connection and never
// finishes its request header is disconnected after ReadHeaderTimeout.
func TestSlowHeaderClosed(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.Limits.ReadHeaderTimeout = 200 * time.Millisecond
	})
	conn, err := net.Dial("tcp", c.nodes[0].HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /status HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(bufio.NewReader(conn))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection with an unfinished header still open after 10s")
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg := DefaultConfig()
	cfg.Name, cfg.DataDir, cfg.HTTPAddr, cfg.RPCAddr, cfg.GossipAddr = "n1", "/d", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cfg.MaxValueSize = 100 << 20
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--max-value-size") {
		t.Fatalf("a value size over the RPC frame: %v", err)
	}
	for name, mut := range map[string]func(*Limits){
		"--max-concurrent-requests": func(l *Limits) { l.MaxConcurrentRequests = -1 },
		"--max-header-bytes":        func(l *Limits) { l.MaxHeaderBytes = 100 },
		"--max-siblings":            func(l *Limits) { l.MaxSiblings = 0 },
		"--sibling-warning":         func(l *Limits) { l.SiblingWarning = 200 },
		"--min-free-disk":           func(l *Limits) { l.MinFreeDisk = -1 },
		"--read-header-timeout":     func(l *Limits) { l.ReadHeaderTimeout = 0 },
		"--rpc-idle-timeout":        func(l *Limits) { l.RPCIdleTimeout = 0 },
	} {
		l := DefaultLimits()
		mut(&l)
		if err := l.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v, want an error naming the flag", name, err)
		}
	}
}

// TestNodeOverload: a node started with --max-concurrent-requests 1 and one
// PUT in flight (its body still arriving) refuses the next request with
// 503 overloaded, answers /health, and takes requests again once the PUT
// is done.
func TestNodeOverload(t *testing.T) {
	c := startCluster(t, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W = 1, 1, 1
		cfg.Limits.MaxConcurrentRequests = 1
	})
	body, feed := io.Pipe()
	req, err := http.NewRequest(http.MethodPut, "http://"+c.nodes[0].HTTPAddr()+"/kv/slow", body)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		res, err := c.http.Do(req)
		if err != nil {
			done <- 0
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	feed.Write([]byte("part"))
	eventually(t, 5*time.Second, func() error {
		if n := c.nodes[0].admit.inFlight(); n != 1 {
			return fmt.Errorf("%d requests in flight", n)
		}
		return nil
	})
	r := c.do(0, http.MethodGet, "/kv/other", nil, nil)
	mustStatus(t, "request over the limit", r, http.StatusServiceUnavailable)
	if m := r.json(t); m["error"] != "overloaded" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("503 body %v, Retry-After %q", m, r.header.Get("Retry-After"))
	}
	mustStatus(t, "/health while overloaded", c.do(0, http.MethodGet, "/health", nil, nil), http.StatusOK)
	feed.Close()
	if st := <-done; st != http.StatusNoContent {
		t.Fatalf("the slow PUT: %d", st)
	}
	mustStatus(t, "after the PUT", c.do(0, http.MethodGet, "/kv/slow", nil, nil), http.StatusOK)
}
