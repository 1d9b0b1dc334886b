package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Limits protect a node from more work than it can take: too many requests
// at once, oversized headers and bodies, connections that hold a socket
// without using it, and keys whose siblings pile up. Every field has a
// default (DefaultLimits); Validate says which one is out of range.
type Limits struct {
	// MaxConcurrentRequests bounds the HTTP requests a node serves at once
	// (/health excepted). One more is refused at once with 503 "overloaded"
	// and Retry-After: 1: nothing queues, and the client may send it to
	// another node because it was never executed. 0: unlimited.
	MaxConcurrentRequests int
	// MaxHeaderBytes bounds a request's header: 431 with a JSON error. A
	// header over twice this is cut off by net/http itself while reading
	// (431 in plain text), so no request holds more than that in memory.
	MaxHeaderBytes int
	// MaxBodyBytes bounds the body of every request but a PUT to /kv/, which
	// --max-value-size bounds instead (413).
	MaxBodyBytes int64
	// HTTP connection timeouts: reading a request's header, reading a whole
	// request, writing a response (0: the node's MaxTimeout plus 10 s, so a
	// request may use its whole timeout), and an idle keep-alive connection.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// RPCIdleTimeout closes a connection between nodes that carried no
	// complete request for this long, including one whose peer stalled in
	// the middle of a frame.
	RPCIdleTimeout time.Duration
	// MaxSiblings refuses (409) a client write that would leave a key with
	// more siblings than this (Riak's max_siblings); a write that does not
	// add siblings is always taken, so an over-full key can be resolved.
	MaxSiblings int
	// SiblingWarning: writes that leave a key with more siblings than this
	// are counted (Node.SiblingWarnings) and the key is listed first by
	// GET /admin/conflicts.
	SiblingWarning int
	// MinFreeDisk: below this many free bytes on the data directory's
	// file system, writes are refused with 507 (0: no check).
	MinFreeDisk int64
}

// maxValueSizeLimit is the largest --max-value-size: a value travels to
// the other replicas in one RPC frame (rpc.Config.MaxFrameSize, 64 MiB),
// with its key, its siblings' headers and the clock.
const maxValueSizeLimit = 60 << 20

// DefaultLimits returns the limits of dynkv serve.
func DefaultLimits() Limits {
	return Limits{
		MaxConcurrentRequests: 1024,
		MaxHeaderBytes:        64 << 10,
		MaxBodyBytes:          64 << 10,
		ReadHeaderTimeout:     10 * time.Second,
		ReadTimeout:           time.Minute,
		IdleTimeout:           2 * time.Minute,
		RPCIdleTimeout:        5 * time.Minute,
		MaxSiblings:           100,
		SiblingWarning:        25,
		MinFreeDisk:           512 << 20,
	}
}

// Validate reports the first limit out of range, naming its flag.
func (l Limits) Validate() error {
	switch {
	case l.MaxConcurrentRequests < 0:
		return fmt.Errorf("--max-concurrent-requests must not be negative (0: unlimited), got %d", l.MaxConcurrentRequests)
	case l.MaxHeaderBytes < 4<<10:
		return fmt.Errorf("--max-header-bytes must be at least 4096, got %d", l.MaxHeaderBytes)
	case l.MaxBodyBytes < 0:
		return fmt.Errorf("--max-body-size must not be negative, got %d", l.MaxBodyBytes)
	case l.ReadHeaderTimeout <= 0 || l.ReadTimeout <= 0 || l.IdleTimeout <= 0 || l.WriteTimeout < 0:
		return errors.New("--read-header-timeout, --read-timeout and --idle-timeout must be positive, --write-timeout not negative (0: --max-timeout plus 10s)")
	case l.ReadHeaderTimeout > l.ReadTimeout:
		return fmt.Errorf("--read-header-timeout (%s) must not exceed --read-timeout (%s)", l.ReadHeaderTimeout, l.ReadTimeout)
	case l.RPCIdleTimeout <= 0:
		return fmt.Errorf("--rpc-idle-timeout must be positive, got %s", l.RPCIdleTimeout)
	case l.MaxSiblings < 1:
		return fmt.Errorf("--max-siblings must be at least 1, got %d", l.MaxSiblings)
	case l.SiblingWarning < 1 || l.SiblingWarning > l.MaxSiblings:
		return fmt.Errorf("--sibling-warning must be between 1 and --max-siblings (%d), got %d", l.MaxSiblings, l.SiblingWarning)
	case l.MinFreeDisk < 0:
		return fmt.Errorf("--min-free-disk must not be negative (0: no check), got %d", l.MinFreeDisk)
	}
	return nil
}

// httpServer applies the connection limits to srv; maxTimeout is the
// longest request timeout a client may ask for.
func (l Limits) httpServer(srv *http.Server, maxTimeout time.Duration) {
	srv.ReadHeaderTimeout = l.ReadHeaderTimeout
	srv.ReadTimeout = l.ReadTimeout
	srv.WriteTimeout = l.WriteTimeout
	if srv.WriteTimeout == 0 {
		srv.WriteTimeout = maxTimeout + 10*time.Second
	}
	srv.IdleTimeout = l.IdleTimeout
	srv.MaxHeaderBytes = 2 * l.MaxHeaderBytes
}

// headerBytes is about what r's request line and header took on the wire.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// admission caps the requests served at once and the bodies of requests
// that carry no value. It never queues: a request over the cap is refused
// at once, which is cheaper for the node than holding it and lets the
// client try another node.
type admission struct {
	slots   chan struct{} // one token per request in flight; nil: no cap
	maxHead int
	refused atomic.Uint64 // requests answered 503 overloaded
	maxBody int64
	next    http.Handler
}

func newAdmission(l Limits, next http.Handler) *admission {
	a := &admission{maxBody: l.MaxBodyBytes, maxHead: l.MaxHeaderBytes, next: next}
	if l.MaxConcurrentRequests > 0 {
		a.slots = make(chan struct{}, l.MaxConcurrentRequests)
	}
	return a
}

// inFlight is the number of requests holding a slot.
func (a *admission) inFlight() int { return len(a.slots) }

func (a *admission) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.maxHead > 0 {
		if n := headerBytes(r); n > a.maxHead {
			writeError(w, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("request header is about %d bytes; the limit is %d (--max-header-bytes)", n, a.maxHead), nil)
			return
		}
	}
	if r.URL.Path == "/health" {
		a.next.ServeHTTP(w, r) // probes must see a busy node as up
		return
	}
	if a.slots != nil {
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		default:
			a.refused.Add(1)
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, "overloaded", map[string]any{
				"detail": "this node is serving its limit of " + strconv.Itoa(cap(a.slots)) +
					" concurrent requests (--max-concurrent-requests); the request was not executed: retry after a second or send it to another node",
				"max_concurrent_requests": cap(a.slots),
			})
			return
		}
	}
	if !(r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/kv/")) && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > a.maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is %d bytes; the limit for %s %s is %d (--max-body-size)", r.ContentLength, r.Method, r.URL.Path, a.maxBody), nil)
			return
		}
		if r.ContentLength < 0 {
			// A chunked body has no length to check up front, and no
			// handler but PUT reads its body: read it here, bounded.
			body, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
			if err != nil || int64(len(body)) > a.maxBody {
				w.Header().Set("Connection", "close") // the rest stays unread
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is over the limit for %s %s, %d bytes (--max-body-size)", r.Method, r.URL.Path, a.maxBody), nil)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	a.next.ServeHTTP(w, r)
}
