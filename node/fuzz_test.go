package node

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzHTTPRequest throws arbitrary paths, queries, context headers and
// bodies at a one-node cluster's API: every answer must be a known status,
// and every error a JSON body with a message. No input may crash the node or
// make it answer 500.
func FuzzHTTPRequest(f *testing.F) {
	f.Add("PUT", "/kv/k", "w=1", "", []byte("v"))
	f.Add("GET", "/kv/k", "r=1&timeout=1s", "", []byte(nil))
	f.Add("DELETE", "/kv/%FF%00", "sync=true", "AAAA", []byte(nil))
	f.Add("GET", "/preflist/x", "", "", []byte(nil))
	f.Add("GET", "/admin/replica/x", "", "", []byte(nil))
	f.Add("PUT", "/kv/k", "w=1&w=2", "not base64!", []byte("v"))
	c := startCluster(f, 1, func(cfg *Config) { cfg.N, cfg.R, cfg.W, cfg.MaxValueSize = 1, 1, 1, 4096 })
	h := c.nodes[0].handler()
	known := map[int]bool{200: true, 202: true, 204: true, 300: true, 400: true, 404: true, 405: true, 409: true, 413: true, 503: true, 504: true}
	f.Fuzz(func(t *testing.T, method, path, query, ctxHeader string, body []byte) {
		req := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path = path
		req.URL.RawQuery = query
		if ctxHeader != "" {
			req.Header.Set(headerContext, ctxHeader)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !known[rec.Code] {
			t.Fatalf("%s %q?%q: status %d: %s", method, path, query, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["error"] == "" {
				t.Fatalf("%s %q: error body is not JSON with a message: %q", method, path, rec.Body.Bytes())
			}
		}
	})
}
