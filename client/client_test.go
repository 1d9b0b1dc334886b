package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynkv/dynkv/client/clienttest"
)

func newTestClient(t *testing.T, endpoints ...string) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestNewValidatesEndpoints(t *testing.T) {
	good := [][]string{
		{"127.0.0.1:8001"}, {"localhost:1", "[::1]:8002"}, {"http://10.0.0.1:80"}, {"https://kv.example.com/dynkv/"},
	}
	for _, eps := range good {
		if _, err := New(Config{Endpoints: eps}); err != nil {
			t.Errorf("New(%q): %v", eps, err)
		}
	}
	bad := map[string][]string{
		"no endpoints":    nil,
		"no port":         {"127.0.0.1"},
		"empty host":      {":8001"},
		"port not number": {"host:http"},
		"port range":      {"host:70000"},
		"empty":           {""},
		"bad scheme":      {"ftp://host:1"},
		"url with query":  {"http://host:1/?a=b"},
		"one bad of two":  {"127.0.0.1:8001", "nope"},
	}
	for name, eps := range bad {
		if _, err := New(Config{Endpoints: eps}); err == nil {
			t.Errorf("%s: New(%q) succeeded", name, eps)
		}
	}
	if eps := DefaultConfig().Endpoints; len(eps) != 1 || eps[0] != "127.0.0.1:8001" {
		t.Errorf("DefaultConfig().Endpoints = %q", eps)
	}
}

// awkwardKeys must reach the server byte for byte.
var awkwardKeys = []string{
	"plain", "a/b", "/leading", "trailing/", "a//b", "%", "%2F", "100%", "a b", " ", "+", "a+b=c&d",
	"?q=1", "#frag", ";", ".", "..", "../etc/passwd", "a/../b", "./x", "ü", "日本", "\xff\xfe", "\x00",
	"\n", "\t\r", "\x7f", `"quoted"`, "~", "@:", strings.Repeat("k", maxKeyBytes), strings.Repeat("/", maxKeyBytes),
}

func TestKeyEscapingReachesServer(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fromRaw, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/kv/"))
		if err != nil || "/kv/"+fromRaw != r.URL.Path {
			http.Error(w, `{"error":"decoding disagrees"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, fromRaw)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	for _, key := range awkwardKeys {
		if _, err := c.Put(t.Context(), key, nil); err != nil {
			t.Errorf("Put(%q): %v", key, err)
			continue
		}
		mu.Lock()
		last := got[len(got)-1]
		mu.Unlock()
		if last != key {
			t.Errorf("server decoded %q, sent %q", last, key)
		}
	}
}

// Through a ServeMux (which cleans paths) and the fake node: every key
// round-trips its value, and is stored under exactly its bytes.
func TestKeyRoundTripFakeNode(t *testing.T) {
	srv := clienttest.NewServer(clienttest.Options{})
	defer srv.Close()
	c := newTestClient(t, srv.Addr)
	for i, key := range awkwardKeys {
		val := []byte(fmt.Sprintf("value %d", i))
		if _, err := c.Put(t.Context(), key, val); err != nil {
			t.Errorf("Put(%q): %v", key, err)
			continue
		}
		obj, err := c.Get(t.Context(), key)
		if err != nil || !bytes.Equal(obj.Value(), val) {
			t.Errorf("Get(%q) = %v, %v; want %q", key, obj, err, val)
		}
	}
	if got := len(srv.Keys()); got != len(awkwardKeys) {
		t.Errorf("server holds %d keys, want %d", got, len(awkwardKeys))
	}
}

// The workflow of the package doc against the fake node: a conflict from two
// writers with the same context, resolved by writing with the read's context.
func TestConflictResolution(t *testing.T) {
	srv := clienttest.NewServer(clienttest.Options{})
	defer srv.Close()
	c := newTestClient(t, srv.Addr)
	ctx := t.Context()
	if _, err := c.Put(ctx, "cart", []byte("milk"), ContentType("text/plain")); err != nil {
		t.Fatal(err)
	}
	obj, err := c.Get(ctx, "cart")
	if err != nil || obj.Conflict() || obj.Receipt.Replied != 2 {
		t.Fatalf("Get = %+v, %v", obj, err)
	}
	for _, v := range []string{"milk,eggs", "milk,bread"} {
		if _, err := c.Put(ctx, "cart", []byte(v), WithContext(obj.Context), W(2), Sync(true)); err != nil {
			t.Fatal(err)
		}
	}
	obj, err = c.Get(ctx, "cart", R(2))
	if err != nil || !obj.Conflict() || obj.Value() != nil || len(obj.Siblings) != 2 {
		t.Fatalf("Get after concurrent writes = %+v, %v; want 2 siblings", obj, err)
	}
	res, err := c.Put(ctx, "cart", []byte("milk,eggs,bread"), WithContext(obj.Context))
	if err != nil || res.Context == "" || res.Receipt.Acked != 2 {
		t.Fatalf("resolving Put = %+v, %v", res, err)
	}
	obj, err = c.Get(ctx, "cart")
	if err != nil || string(obj.Value()) != "milk,eggs,bread" || obj.Siblings[0].ContentType != "application/octet-stream" {
		t.Fatalf("Get after resolution = %+v, %v", obj, err)
	}
	if _, err := c.Delete(ctx, "cart", WithContext(obj.Context)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(ctx, "cart")
	var e *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &e) || e.Context == "" {
		t.Fatalf("Get after delete: %v, want not found with a tombstone context", err)
	}
}

func TestFailoverOnClosedEndpoint(t *testing.T) {
	srv := clienttest.NewServer(clienttest.Options{})
	defer srv.Close()
	dead := closedAddr(t)
	c := newTestClient(t, dead, srv.Addr) // the first call starts at dead
	if _, err := c.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatalf("Put should fail over past %s: %v", dead, err)
	}
	c.next.Store(0) // start at dead again; the backoff must put it last
	if _, err := c.Get(t.Context(), "k"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got := c.order(false); got[0].name != srv.Addr {
		t.Errorf("dead endpoint not backed off: order starts with %s", got[0].name)
	}
	c.now = func() time.Time { return time.Now().Add(2 * dialBackoff) }
	if got := c.order(false); got[0].name != dead {
		t.Errorf("backoff did not expire: order starts with %s", got[0].name)
	}
	if srv.Requests() != 2 {
		t.Errorf("server saw %d requests, want 2", srv.Requests())
	}
}

func TestAllEndpointsDown(t *testing.T) {
	a, b := closedAddr(t), closedAddr(t)
	c := newTestClient(t, a, b)
	for range 2 { // the second time, both are backed off and still tried
		_, err := c.Get(t.Context(), "k")
		var op *net.OpError
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &op) {
			t.Fatalf("err = %v, want ErrUnavailable wrapping the dial error", err)
		}
		if !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) {
			t.Errorf("err %q should name both endpoints", err)
		}
	}
}

// hijacker reads the request, then drops the connection without answering.
type hijacker struct{ calls atomic.Int32 }

func (h *hijacker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func TestNoFailoverForSentWrite(t *testing.T) {
	h := &hijacker{}
	bad := httptest.NewServer(h)
	defer bad.Close()
	good := clienttest.NewServer(clienttest.Options{})
	defer good.Close()
	c := newTestClient(t, bad.URL, good.Addr)
	for _, write := range []func() error{
		func() error { _, err := c.Put(t.Context(), "k", []byte("v")); return err },
		func() error { _, err := c.Delete(t.Context(), "k"); return err },
	} {
		c.next.Store(0)
		before := h.calls.Load()
		err := write()
		if !errors.Is(err, ErrAmbiguous) || errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want ErrAmbiguous", err)
		}
		if n := h.calls.Load() - before; n != 1 {
			t.Errorf("dropping endpoint tried %d times, want 1", n)
		}
	}
	if good.Requests() != 0 {
		t.Errorf("a sent write was retried on another endpoint (%d requests)", good.Requests())
	}
	c.next.Store(0)
	if _, err := c.Get(t.Context(), "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get should fail over and find nothing: %v", err)
	}
}

func TestFailoverOnDraining(t *testing.T) {
	draining := clienttest.NewServer(clienttest.Options{})
	defer draining.Close()
	draining.SetDraining(true)
	good := clienttest.NewServer(clienttest.Options{})
	defer good.Close()
	c := newTestClient(t, draining.Addr, good.Addr)
	if _, err := c.Get(t.Context(), "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get should fail over past the draining node: %v", err)
	}
	c.next.Store(0)
	if _, err := c.Put(t.Context(), "k", nil); !errors.Is(err, ErrUnavailable) || good.Requests() != 1 {
		t.Errorf("Put must not fail over after it was answered: %v", err)
	}
	if st, err := c.Status(t.Context()); err != nil || st.Node != "n1" {
		t.Errorf("Status should fail over: %+v, %v", st, err)
	}
}

func TestContextCancellation(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	other := clienttest.NewServer(clienttest.Options{})
	defer other.Close()
	c := newTestClient(t, slow.URL, other.Addr)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, "k")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("err = %v after %v, want a prompt DeadlineExceeded", err, time.Since(start))
	}
	if other.Requests() != 0 {
		t.Error("a cancelled call went on to the next endpoint")
	}

	done, cancelNow := context.WithCancel(t.Context())
	cancelNow()
	if _, err := c.Put(done, "k", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put on a cancelled ctx: %v", err)
	}
	if calls.Load() != 1 || other.Requests() != 0 {
		t.Errorf("a cancelled ctx sent requests (%d, %d)", calls.Load(), other.Requests())
	}
}

func TestConcurrentUse(t *testing.T) {
	before := runtime.NumGoroutine()
	a := clienttest.NewServer(clienttest.Options{})
	b := clienttest.NewServer(clienttest.Options{})
	c, err := New(Config{Endpoints: []string{a.Addr, b.Addr, closedAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			key := fmt.Sprintf("key-%d", g)
			for i := range 20 {
				val := []byte(fmt.Sprintf("%d", i))
				res, err := c.Put(t.Context(), key, val, W(2))
				if err != nil {
					errs <- err
					return
				}
				_ = res.Receipt.String()
				if _, err := c.Get(t.Context(), key); err != nil && !errors.Is(err, ErrNotFound) {
					errs <- err // the key may live on the other server: not found is fine
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if a.Requests() == 0 || b.Requests() == 0 {
		t.Errorf("load not spread: %d and %d requests", a.Requests(), b.Requests())
	}
	c.Close()
	a.Close()
	b.Close()
	waitGoroutines(t, before)
}

// waitGoroutines fails if goroutines started by the test outlive it.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatus(t *testing.T) {
	srv := clienttest.NewServer(clienttest.Options{})
	defer srv.Close()
	st, err := newTestClient(t, srv.Addr).Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "n1" || st.N != 3 || st.R != 2 || st.W != 2 || st.Partitions != 256 || st.HintsPending != 7 {
		t.Errorf("status = %+v", st)
	}
	if len(st.Members) != 2 || st.Members[0] != (Member{Name: "n1", State: "alive", HTTPAddr: srv.Addr, PartitionsOwned: 256}) {
		t.Errorf("members = %+v", st.Members)
	}
	if !bytes.Contains(st.Raw, []byte("anti_entropy")) {
		t.Errorf("Raw lost the fields this client does not know: %s", st.Raw)
	}
}

func TestQueryAndHeadersSent(t *testing.T) {
	srv := clienttest.NewServer(clienttest.Options{})
	defer srv.Close()
	c := newTestClient(t, srv.Addr)
	_, err := c.Put(t.Context(), "k", []byte("v"), W(2), PW(1), Sync(true), Timeout(1500*time.Millisecond),
		ContentType("text/plain"))
	if err != nil {
		t.Fatal(err)
	}
	r := srv.LastRequest()
	if got, want := r.URL.RawQuery, "pw=1&sync=true&timeout=1.5s&w=2"; got != want {
		t.Errorf("query = %q, want %q", got, want)
	}
	if r.Header.Get("Content-Type") != "text/plain" || r.Header.Get("X-Dynkv-Context") != "" {
		t.Errorf("headers = %v", r.Header)
	}
	if _, err := c.Get(t.Context(), "k", R(4)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("r above N: %v, want the node's 400", err)
	}
}

func TestReadCapped(t *testing.T) {
	if _, err := readCapped(strings.NewReader("12345"), 5); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := readCapped(strings.NewReader("123456"), 5); !errors.Is(err, errResponseTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

func TestLargeValue(t *testing.T) {
	srv := clienttest.NewServer(clienttest.Options{MaxValueSize: 4 << 20})
	defer srv.Close()
	c := newTestClient(t, srv.Addr)
	val := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<20) // exactly 4 MiB
	if _, err := c.Put(t.Context(), "big", val); err != nil {
		t.Fatal(err)
	}
	obj, err := c.Get(t.Context(), "big")
	if err != nil || !bytes.Equal(obj.Value(), val) {
		t.Fatalf("Get big: %v", err)
	}
	if _, err := c.Put(t.Context(), "big", append(val, 0)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("value over the limit: %v, want 413 as ErrBadRequest", err)
	}
}
