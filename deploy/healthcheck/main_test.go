package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", "http://127.0.0.1:8001/health"},
		{nil, "0.0.0.0:8101", "http://127.0.0.1:8101/health"},
		{nil, "[::]:8101", "http://127.0.0.1:8101/health"},
		{nil, ":8101", "http://127.0.0.1:8101/health"},
		{nil, "10.1.2.3:8001", "http://10.1.2.3:8001/health"},
		{nil, "[fd00::1]:8001", "http://[fd00::1]:8001/health"},
		{[]string{"http://n1:8001/health"}, "0.0.0.0:9", "http://n1:8001/health"},
	} {
		got, err := target(tc.args, func(k string) string { return map[string]string{"DYNKV_HTTP_ADDR": tc.env}[k] })
		if err != nil || got != tc.want {
			t.Errorf("target(%q) with DYNKV_HTTP_ADDR=%q = %q, %v; want %q", tc.args, tc.env, got, err, tc.want)
		}
	}
	if _, err := target(nil, func(k string) string { return map[string]string{"DYNKV_HTTP_ADDR": "no-port"}[k] }); err == nil {
		t.Error("DYNKV_HTTP_ADDR without a port: no error")
	}
	if _, err := target([]string{"a", "b"}, func(string) string { return "" }); err == nil {
		t.Error("two arguments: no error")
	}
}

func TestCheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	if err := check(context.Background(), http.DefaultClient, srv.URL+"/health"); err != nil {
		t.Errorf("healthy node: %v", err)
	}
	status = http.StatusServiceUnavailable // starting or draining
	if err := check(context.Background(), http.DefaultClient, srv.URL+"/health"); err == nil {
		t.Error("503: no error")
	}
	srv.Close()
	if err := check(context.Background(), http.DefaultClient, srv.URL+"/health"); err == nil {
		t.Error("no server: no error")
	}
}
