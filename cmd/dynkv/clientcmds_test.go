package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/dynkv/dynkv/client/clienttest"
)

// clientCLI runs `dynkv ARGS...` through the dispatcher with stdin.
func clientCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func newFakeNode(t *testing.T) *clienttest.Server {
	t.Helper()
	srv := clienttest.NewServer(clienttest.Options{})
	t.Cleanup(srv.Close)
	return srv
}

var contextLine = regexp.MustCompile(`(?m)^context: (\S+)$`)

func TestClientCmdsPutGet(t *testing.T) {
	srv := newFakeNode(t)
	ep := "--endpoints=" + srv.Addr
	out, errOut, code := clientCLI(t, "", "put", ep, "--w", "2", "--sync", "--timeout", "2s", "greeting", "hello")
	if code != 0 || errOut != "" {
		t.Fatalf("put: code %d, stderr %q", code, errOut)
	}
	if want := "ok\ncontext: v1\nreplicas: acked=2; primaries=2; fallbacks=0\n"; out != want {
		t.Errorf("put stdout = %q, want %q", out, want)
	}
	if q := srv.LastRequest().URL.RawQuery; q != "sync=true&timeout=2s&w=2" {
		t.Errorf("put query = %q", q)
	}
	out, errOut, code = clientCLI(t, "", "get", ep, "--r=2", "greeting")
	if code != 0 || out != "hello" || errOut != "context: v1\n" {
		t.Errorf("get: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestClientCmdsPutStdin(t *testing.T) {
	srv := newFakeNode(t)
	value := "line 1\nline 2\x00\xff\n"
	_, errOut, code := clientCLI(t, value, "put", "--endpoints", srv.Addr, "--content-type", "text/plain", "k", "-")
	if code != 0 {
		t.Fatalf("put -: code %d, stderr %q", code, errOut)
	}
	out, _, code := clientCLI(t, "", "get", "--endpoints", srv.Addr, "k")
	if code != 0 || out != value {
		t.Errorf("get = %q (code %d), want the exact stdin bytes %q", out, code, value)
	}
	out, _, _ = clientCLI(t, "", "get", "--endpoints", srv.Addr, "--json", "k")
	var doc struct {
		Context  string `json:"context"`
		Siblings []struct {
			Value       []byte `json:"value"`
			ContentType string `json:"content_type"`
		} `json:"siblings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Siblings) != 1 ||
		string(doc.Siblings[0].Value) != value || doc.Siblings[0].ContentType != "text/plain" || doc.Context == "" {
		t.Errorf("get --json = %s (%v)", out, err)
	}
}

func TestClientCmdsSiblings(t *testing.T) {
	srv := newFakeNode(t)
	ep := "--endpoints=" + srv.Addr
	_, _, _ = clientCLI(t, "", "put", ep, "cart", "milk")
	_, errOut, _ := clientCLI(t, "", "get", ep, "cart")
	ctx := contextLine.FindStringSubmatch(errOut)[1]
	for _, v := range []string{"milk,eggs", "milk,bread\n"} {
		if _, errOut, code := clientCLI(t, v, "put", ep, "--context", ctx, "cart", "-"); code != 0 {
			t.Fatalf("put --context: %q", errOut)
		}
	}
	out, errOut, code := clientCLI(t, "", "get", ep, "cart")
	want := "--- sibling 1 (application/octet-stream) ---\nmilk,eggs\n" +
		"--- sibling 2 (application/octet-stream) ---\nmilk,bread\n"
	if code != 0 || out != want {
		t.Errorf("get with siblings: code %d, stdout %q, want %q", code, out, want)
	}
	both := contextLine.FindStringSubmatch(errOut)
	if both == nil || !strings.Contains(errOut, "2 siblings: resolve by writing with --context "+both[1]) {
		t.Fatalf("get with siblings: stderr %q", errOut)
	}
	if _, _, code := clientCLI(t, "", "put", ep, "--context", both[1], "cart", "milk,eggs,bread"); code != 0 {
		t.Fatal("resolving put failed")
	}
	if out, _, _ := clientCLI(t, "", "get", ep, "cart"); out != "milk,eggs,bread" {
		t.Errorf("after resolution: %q", out)
	}
}

func TestClientCmdsDeleteAndNotFound(t *testing.T) {
	srv := newFakeNode(t)
	t.Setenv("DYNKV_ENDPOINTS", " "+srv.Addr+" ,") // the environment supplies --endpoints
	out, errOut, code := clientCLI(t, "", "get", "nothing")
	if code != 1 || out != "" || !strings.Contains(errOut, `dynkv get: "nothing" not found`) ||
		strings.Contains(errOut, "context:") {
		t.Errorf("get missing: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, _, _ = clientCLI(t, "", "put", "k", "v")
	out, errOut, code = clientCLI(t, "", "delete", "--w", "1", "k")
	if code != 0 || !strings.HasPrefix(out, "ok\ncontext: v2\nreplicas: acked=2") {
		t.Errorf("delete: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = clientCLI(t, "", "get", "k")
	if code != 1 || !strings.Contains(errOut, "not found") || !strings.Contains(errOut, "context: v2 (the key was deleted") {
		t.Errorf("get deleted: code %d, stderr %q", code, errOut)
	}
}

func TestClientCmdsStatus(t *testing.T) {
	srv := newFakeNode(t)
	out, errOut, code := clientCLI(t, "", "status", "--endpoints", srv.Addr)
	if code != 0 {
		t.Fatalf("status: code %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"node: n1 (version fake)\n", "n=3 r=2 w=2 partitions=256\n",
		"NAME  STATE    RING  HTTP ADDR", "n1    alive    -     " + srv.Addr, "n2    suspect  ", "\nhints pending on n1: 7\n",
		"storage on n1: disk_full: it refuses writes (507) and serves reads\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = clientCLI(t, "", "status", "--endpoints", srv.Addr, "--json")
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || doc["anti_entropy"] == nil {
		t.Errorf("status --json should print the raw document, unknown fields included:\n%s", out)
	}
}

func TestClientCmdsErrors(t *testing.T) {
	srv := newFakeNode(t)
	ep := "--endpoints=" + srv.Addr
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"get no key", []string{"get", ep}, 2, "dynkv get: want 1 argument(s), got 0"},
		{"put one arg", []string{"put", ep, "k"}, 2, "dynkv put: want 2 argument(s), got 1"},
		{"status extra arg", []string{"status", ep, "x"}, 2, "want 0 argument(s)"},
		{"unknown flag", []string{"get", ep, "--bogus", "k"}, 2, "unknown flag: --bogus"},
		{"w on get", []string{"get", ep, "--w", "2", "k"}, 2, "unknown flag: --w"},
		{"content type on delete", []string{"delete", ep, "--content-type", "a/b", "k"}, 2, "unknown flag"},
		{"r zero", []string{"get", ep, "--r", "0", "k"}, 2, "dynkv get: bad request: r must be at least 1"},
		{"bad timeout", []string{"put", ep, "--timeout", "-1s", "k", "v"}, 2, "timeout must be positive"},
		{"empty key", []string{"get", ep, ""}, 2, "the key is empty"},
		{"bad endpoint", []string{"get", "--endpoints", "nope", "k"}, 2, `endpoint "nope"`},
		{"node rejects r", []string{"get", ep, "--r", "4", "k"}, 1, "dynkv get: r must be 1..3"},
		{"bad context", []string{"put", ep, "--context", "zzz", "k", "v"}, 1, "dynkv put: malformed context"},
		{"unreachable", []string{"status", "--endpoints", "127.0.0.1:1"}, 1, "dynkv status: no endpoint available (tried 127.0.0.1:1)"},
		{"help", []string{"put", "--help"}, 0, "Usage: dynkv put [flags] KEY VALUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := clientCLI(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) || out != "" {
				t.Errorf("code %d, stdout %q, stderr %q; want code %d, stderr containing %q",
					code, out, errOut, tt.code, tt.stderr)
			}
		})
	}
}
