// Package clienttest provides a fake dynkv node for tests of code that uses
// the HTTP API (the client, the command line, the bench): one process, an
// in-memory map, no replication. It follows the contract of api.md for
// /kv/{key} and /status, including siblings, contexts, tombstones, receipts
// and error bodies, so that clients can be tested without a cluster.
//
// Its contexts are a plain list of the version ids they cover ("v1.3");
// real nodes use opaque dotted version vectors, and clients must not look
// inside either.
package clienttest

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a fake dynkv node. Its methods are safe for concurrent use.
type Server struct {
	*httptest.Server
	// Addr is the server's "host:port", the form dynkv endpoints take.
	Addr string

	mu       sync.Mutex
	n        int
	maxValue int
	keys     map[string][]version
	seq      int
	requests int
	draining bool
	last     *http.Request
}

// version is one stored version; deleted marks a tombstone.
type version struct {
	id          int
	value       []byte
	contentType string
	deleted     bool
}

// Options tunes a fake server. Zero values select N=3, a 4 MiB value limit.
type Options struct {
	N            int
	MaxValueSize int
	// TLS, if set, makes the server speak HTTPS with it; Addr is then the
	// host:port of an https:// endpoint.
	TLS *tls.Config
}

// NewServer starts a fake node. Close it when done.
func NewServer(opts Options) *Server {
	s := &Server{n: opts.N, maxValue: opts.MaxValueSize, keys: make(map[string][]version)}
	if s.n == 0 {
		s.n = 3
	}
	if s.maxValue == 0 {
		s.maxValue = 4 << 20
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/kv/", s.serveKV)
	mux.HandleFunc("GET /status", s.serveStatus)
	s.Server = httptest.NewUnstartedServer(s.count(mux))
	if opts.TLS != nil {
		s.Server.TLS = opts.TLS
		s.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of such tests
		s.StartTLS()
	} else {
		s.Start()
	}
	s.Addr = strings.TrimPrefix(strings.TrimPrefix(s.URL, "http://"), "https://")
	return s
}

// Requests returns how many requests the server has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// LastRequest returns a clone of the last request received, without its body.
func (s *Server) LastRequest() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// SetDraining makes the node answer 503 "node is draining" to everything,
// as a node does while it shuts down.
func (s *Server) SetDraining(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = on
}

// Keys returns the keys that hold at least one version, tombstones included.
func (s *Server) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.keys))
	for k := range s.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (s *Server) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests++
		s.last = r.Clone(r.Context())
		s.last.Body = nil
		draining := s.draining
		s.mu.Unlock()
		if draining {
			writeError(w, http.StatusServiceUnavailable, "node is draining: retry on another node")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) serveStatus(w http.ResponseWriter, _ *http.Request) {
	host, _, _ := net.SplitHostPort(s.Addr)
	doc := map[string]any{
		"node": "n1", "version": "fake", "n": s.n, "partitions": 256, "r": 2, "w": 2,
		"members": []map[string]any{
			{"name": "n1", "state": "alive", "http_addr": s.Addr, "partitions_owned": 256},
			{"name": "n2", "state": "suspect", "http_addr": host + ":1", "partitions_owned": 0},
		},
		"hints_pending": 7,
		"storage":       "disk_full",
		"anti_entropy":  map[string]any{"exchanges": 0}, // a field added later
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

func (s *Server) serveKV(w http.ResponseWriter, r *http.Request) {
	key, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/kv/"))
	if err != nil || key == "" || len(key) > 1024 {
		writeError(w, http.StatusBadRequest, "the key must be 1 to 1024 bytes, percent-encoded")
		return
	}
	allowed := map[string][]string{
		http.MethodGet:    {"r", "pr", "timeout"},
		http.MethodPut:    {"w", "pw", "sync", "timeout"},
		http.MethodDelete: {"w", "pw", "sync", "timeout"},
	}
	names, ok := allowed[r.Method]
	if !ok {
		writeError(w, http.StatusMethodNotAllowed, "use GET, PUT or DELETE")
		return
	}
	if msg := s.checkQuery(r.URL.Query(), names); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.get(w, r, key)
	default:
		s.write(w, r, key)
	}
}

// checkQuery validates the query as a node does: known names, sane values.
func (s *Server) checkQuery(q url.Values, names []string) string {
	for name, vals := range q {
		v := vals[0]
		switch {
		case !slices.Contains(names, name):
			return fmt.Sprintf("unknown query parameter %q", name)
		case name == "sync":
			if v != "true" && v != "false" {
				return "sync must be true or false"
			}
		case name == "timeout":
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				return fmt.Sprintf("timeout %q is not a positive Go duration", v)
			}
		default:
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > s.n {
				return fmt.Sprintf("%s must be 1..%d, got %q", name, s.n, v)
			}
		}
	}
	return ""
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	versions := slices.Clone(s.keys[key])
	s.mu.Unlock()
	ctx := contextOf(versions)
	type sibling struct {
		Value       []byte `json:"value"`
		ContentType string `json:"content_type"`
	}
	var live []sibling
	for _, v := range versions {
		if !v.deleted {
			live = append(live, sibling{v.value, v.contentType})
		}
	}
	if len(live) == 0 {
		if ctx != "" {
			w.Header().Set("X-Dynkv-Context", ctx)
		}
		writeError(w, http.StatusNotFound, "key not found")
		return
	}
	w.Header().Set("X-Dynkv-Context", ctx)
	w.Header().Set("X-Dynkv-Replicas",
		fmt.Sprintf("replied=2; primaries=2; fallbacks=0; siblings=%d; repaired=0", len(live)))
	status := http.StatusOK
	if len(live) > 1 {
		status = http.StatusMultipleChoices
	}
	switch {
	case r.Header.Get("X-Dynkv-Form") != "raw" && strings.Contains(r.Header.Get("Accept"), "application/json"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"context": ctx, "siblings": live})
	case len(live) == 1:
		w.Header().Set("X-Dynkv-Form", "raw")
		w.Header().Set("Content-Type", live[0].ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(live[0].Value)))
		w.WriteHeader(status)
		_, _ = w.Write(live[0].Value)
	default:
		mw := multipart.NewWriter(w)
		w.Header().Set("X-Dynkv-Form", "raw")
		w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
		w.WriteHeader(status)
		for _, sib := range live {
			part, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {sib.ContentType}})
			if err != nil {
				return
			}
			_, _ = part.Write(sib.Value)
		}
		_ = mw.Close()
	}
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, key string) {
	covered, ok := parseContext(r.Header.Get("X-Dynkv-Context"))
	if !ok {
		writeError(w, http.StatusBadRequest, "malformed context: pass the context of a read back unchanged")
		return
	}
	v := version{deleted: r.Method == http.MethodDelete, contentType: r.Header.Get("Content-Type")}
	if v.contentType == "" {
		v.contentType = "application/octet-stream"
	}
	if !v.deleted {
		body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.maxValue)+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "reading the value: "+err.Error())
			return
		}
		if len(body) > s.maxValue {
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("the value is over the limit of %d bytes", s.maxValue))
			return
		}
		v.value = body
	}
	w.Header().Set("X-Dynkv-Context", s.store(key, v, covered))
	w.Header().Set("X-Dynkv-Replicas", "acked=2; primaries=2; fallbacks=0")
	w.WriteHeader(http.StatusNoContent)
}

// store adds v, superseding the versions covered lists (all current versions
// for a blind write, covered == nil), and returns the new version's context.
func (s *Server) store(key string, v version, covered []int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	v.id = s.seq
	var kept []version
	for _, old := range s.keys[key] {
		if covered != nil && !slices.Contains(covered, old.id) {
			kept = append(kept, old)
		}
	}
	s.keys[key] = append(kept, v)
	return contextOf([]version{v})
}

// contextOf encodes the ids of versions as "v1.3"; "" for none.
func contextOf(versions []version) string {
	if len(versions) == 0 {
		return ""
	}
	ids := make([]string, len(versions))
	for i, v := range versions {
		ids[i] = strconv.Itoa(v.id)
	}
	return "v" + strings.Join(ids, ".")
}

// parseContext decodes contextOf; "" is a blind write (nil, true).
func parseContext(ctx string) ([]int, bool) {
	if ctx == "" {
		return nil, true
	}
	rest, ok := strings.CutPrefix(ctx, "v")
	if !ok {
		return nil, false
	}
	ids := []int{}
	for f := range strings.SplitSeq(rest, ".") {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, false
		}
		ids = append(ids, id)
	}
	return ids, true
}

// writeError writes the contract's JSON error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
