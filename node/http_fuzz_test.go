package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzHTTPPutGet writes a value with arbitrary headers (Content-Type,
// X-Dynkv-Context, Authorization) and query, through the authenticating
// handler of a one-node cluster, then reads it back with arbitrary Accept
// and X-Dynkv-Form headers. Each answer must be a known status with a JSON
// error body when it fails; without the token every request is refused;
// what a PUT accepted, a GET returns: the same bytes and content type, in
// the form the headers ask for (JSON replaces invalid UTF-8 in a content
// type, so that is only compared when valid).
func FuzzHTTPPutGet(f *testing.F) {
	const token = "fuzz-token"
	f.Add("Bearer "+token, "text/plain", "", "w=1", []byte("v"), "application/json", "")
	f.Add("Bearer "+token, "", "kA", "sync=true&timeout=1s", []byte{}, "*/*", "raw")
	f.Add("Bearer "+token, "image/png; q=\"x\"", "kgEB", "", []byte{0, 0xff}, "", "raw")
	f.Add("Bearer "+token, "a\r\nb", "!!", "w=2", []byte("v"), "", "")
	f.Add("Bearer "+token, "text/plain", "", "pw=1&w=1&timeout=-1s", []byte("v"), "", "")
	f.Add("Bearer wrong", "text/plain", "", "", []byte("v"), "", "")
	f.Add("", "", "", "", []byte("v"), "", "")
	c := startCluster(f, 1, func(cfg *Config) {
		cfg.N, cfg.R, cfg.W, cfg.MaxValueSize, cfg.AuthToken = 1, 1, 1, 4096, token
	})
	h := c.nodes[0].authenticate(c.nodes[0].handler())
	known := map[int]bool{200: true, 204: true, 400: true, 401: true, 413: true}
	serve := func(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !known[rec.Code] {
			t.Fatalf("%s %s: status %d: %s", req.Method, req.URL, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var m struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.Error == "" {
				t.Fatalf("%s %s: status %d, error body is not JSON with a message: %q", req.Method, req.URL, rec.Code, rec.Body.Bytes())
			}
		}
		return rec
	}
	n := 0
	f.Fuzz(func(t *testing.T, auth, ct, ctxHeader, query string, value []byte, accept, form string) {
		n++
		path := fmt.Sprintf("/kv/fuzz-%d", n) // a fresh key: the read sees this write alone
		put := httptest.NewRequest(http.MethodPut, path, bytes.NewReader(value))
		put.URL.RawQuery = query
		for name, v := range map[string]string{"Authorization": auth, "Content-Type": ct, headerContext: ctxHeader} {
			if v != "" {
				put.Header.Set(name, v)
			}
		}
		rec := serve(t, put)
		authorized := auth == "Bearer "+token
		if authorized != (rec.Code != http.StatusUnauthorized) {
			t.Fatalf("Authorization %q: status %d", auth, rec.Code)
		}
		if rec.Code != http.StatusNoContent {
			return
		}
		get := httptest.NewRequest(http.MethodGet, path, nil)
		get.Header.Set("Authorization", auth)
		get.Header.Set("Accept", accept)
		get.Header.Set(headerForm, form)
		rec = serve(t, get)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET after PUT: status %d: %s", rec.Code, rec.Body.Bytes())
		}
		wantCT := contentType(ct)
		if form != formRaw && bytes.Contains([]byte(accept), []byte("application/json")) {
			var doc jsonSiblings
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || len(doc.Siblings) != 1 {
				t.Fatalf("JSON read %q: %v", rec.Body.Bytes(), err)
			}
			if s := doc.Siblings[0]; !bytes.Equal(s.Value, value) || (s.ContentType != wantCT && utf8.ValidString(wantCT)) {
				t.Fatalf("PUT %x (%q), JSON read gives %x (%q)", value, wantCT, s.Value, s.ContentType)
			}
			return
		}
		if !bytes.Equal(rec.Body.Bytes(), value) || rec.Header().Get("Content-Type") != wantCT {
			t.Fatalf("PUT %x (%q), read gives %x (%q)", value, wantCT, rec.Body.Bytes(), rec.Header().Get("Content-Type"))
		}
	})
}

// FuzzParseParams: any query string a client sends. parseParams must accept
// only quorums from 1 to N, timeouts above 0 and at most MaxTimeout, each
// parameter once and only those the request takes; what it accepts must
// parse back to the same params when written out again.
func FuzzParseParams(f *testing.F) {
	for _, q := range []string{"", "r=1", "w=3&pw=2&sync=true&timeout=250ms", "r=0", "r=4", "r=1&r=1",
		"timeout=1h", "timeout=-1s", "sync=maybe", "x=1", "pr=2&timeout=1m", "w=%31", "r=+1", "timeout=1e3ns"} {
		f.Add(q, true)
		f.Add(q, false)
	}
	n := &Node{cfg: DefaultConfig()}
	f.Fuzz(func(t *testing.T, query string, write bool) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p, err := n.parseParams(q, write)
		if err != nil {
			return
		}
		cfg := n.cfg
		quorums := map[string]int{"r": p.r, "pr": p.pr}
		if write {
			quorums = map[string]int{"w": p.w, "pw": p.pw}
		}
		for name, v := range quorums {
			if _, given := q[name]; given && (v < 1 || v > cfg.N) {
				t.Fatalf("%q: accepted %s=%d with N=%d", query, name, v, cfg.N)
			}
		}
		if p.timeout <= 0 || p.timeout > cfg.MaxTimeout || (p.sync && !write) {
			t.Fatalf("%q: accepted %+v", query, p)
		}
		for name, vals := range q {
			if len(vals) != 1 {
				t.Fatalf("%q: accepted %s given %d times", query, name, len(vals))
			}
		}
		out := url.Values{"timeout": {p.timeout.String()}}
		for name, v := range quorums {
			if v != 0 {
				out.Set(name, strconv.Itoa(v))
			}
		}
		if write {
			out.Set("sync", strconv.FormatBool(p.sync))
		}
		if again, err := n.parseParams(out, write); err != nil || again != p {
			t.Fatalf("%q parsed as %+v; written out as %q it parses as %+v, %v", query, p, out.Encode(), again, err)
		}
	})
}
