package client

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// canned answers every request with the same response.
type canned struct {
	status int
	header map[string]string
	body   string
}

func (cn canned) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	for k, v := range cn.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(cn.status)
	_, _ = w.Write([]byte(cn.body))
}

func TestErrorMapping(t *testing.T) {
	sentinels := []error{ErrNotFound, ErrQuorum, ErrTimeout, ErrBadRequest, ErrUnavailable}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name    string
		op      string // get or put
		resp    canned
		want    error  // the sentinel the error must match (nil: none)
		wantErr *Error // fields of the *Error to compare, Endpoint aside
	}{
		{name: "400", op: "get", resp: canned{400, jsonCT, `{"error":"r must be 1..3"}`},
			want: ErrBadRequest, wantErr: &Error{Status: 400, Message: "r must be 1..3"}},
		{name: "413", op: "put", resp: canned{413, jsonCT, `{"error":"value over 4 MiB"}`},
			want: ErrBadRequest, wantErr: &Error{Status: 413, Message: "value over 4 MiB"}},
		{name: "404 plain", op: "get", resp: canned{404, jsonCT, `{"error":"key not found"}`},
			want: ErrNotFound, wantErr: &Error{Status: 404, Message: "key not found"}},
		{name: "404 tombstone", op: "get",
			resp: canned{404, map[string]string{"X-Dynkv-Context": "tomb"}, `{"error":"key not found"}`},
			want: ErrNotFound, wantErr: &Error{Status: 404, Message: "key not found", Context: "tomb"}},
		{name: "503 write quorum", op: "put",
			resp: canned{503, jsonCT, `{"error":"quorum not met: the write may have reached some replicas","needed":2,"acked":1}`},
			want: ErrQuorum, wantErr: &Error{Status: 503, Needed: 2, Acked: 1,
				Message: "quorum not met: the write may have reached some replicas"}},
		{name: "503 read quorum", op: "get",
			resp: canned{503, jsonCT, `{"error":"quorum not met","needed":2,"replied":1}`},
			want: ErrQuorum, wantErr: &Error{Status: 503, Needed: 2, Replied: 1, Message: "quorum not met"}},
		{name: "503 draining write", op: "put", resp: canned{503, jsonCT, `{"error":"node is draining"}`},
			want: ErrUnavailable, wantErr: &Error{Status: 503, Message: "node is draining"}},
		{name: "504", op: "put", resp: canned{504, jsonCT, `{"error":"timeout 500ms ran out","needed":2,"acked":1}`},
			want: ErrTimeout, wantErr: &Error{Status: 504, Needed: 2, Acked: 1, Message: "timeout 500ms ran out"}},
		{name: "502 not json", op: "get", resp: canned{502, nil, `<html>bad gateway</html>`},
			wantErr: &Error{Status: 502, Message: "Bad Gateway"}},
		{name: "500 json without error", op: "put", resp: canned{500, jsonCT, `{"x":1}`},
			wantErr: &Error{Status: 500, Message: "Internal Server Error"}},
		{name: "unexpected redirect", op: "put", resp: canned{307, map[string]string{"Location": "/elsewhere"}, ""},
			wantErr: &Error{Status: 307, Message: "Temporary Redirect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.resp)
			defer srv.Close()
			c := newTestClient(t, srv.URL)
			var err error
			if tt.op == "get" {
				_, err = c.Get(t.Context(), "k")
			} else {
				_, err = c.Put(t.Context(), "k", []byte("v"))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (%T), want an *Error", err, err)
			}
			want := *tt.wantErr
			want.Endpoint = srv.URL
			if *e != want {
				t.Errorf("error = %+v, want %+v", *e, want)
			}
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(err, %v) = %v", s, got)
				}
			}
			if !strings.Contains(err.Error(), want.Message) || !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("message %q should name the cause and the endpoint", err)
			}
		})
	}
}

func TestGetSuccess(t *testing.T) {
	tests := []struct {
		name     string
		resp     canned
		siblings []Sibling
		conflict bool
		value    []byte
	}{
		{name: "200 one sibling", resp: canned{200, map[string]string{
			"Content-Type": "application/json", "X-Dynkv-Replicas": "replied=2; primaries=2; fallbacks=0; siblings=1; repaired=1"},
			`{"context":"c1","siblings":[{"value":"aGVsbG8=","content_type":"text/plain"}]}`},
			siblings: []Sibling{{[]byte("hello"), "text/plain"}}, value: []byte("hello")},
		{name: "200 empty value", resp: canned{200, nil, `{"context":"c1","siblings":[{"value":"","content_type":"a/b"}]}`},
			siblings: []Sibling{{[]byte{}, "a/b"}}, value: []byte{}},
		{name: "300 two siblings", resp: canned{300, nil,
			`{"context":"c1","siblings":[{"value":"YQ==","content_type":"text/plain"},{"value":"Yg==","content_type":"x/y"}]}`},
			siblings: []Sibling{{[]byte("a"), "text/plain"}, {[]byte("b"), "x/y"}}, conflict: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.resp)
			defer srv.Close()
			obj, err := newTestClient(t, srv.URL).Get(t.Context(), "k")
			if err != nil {
				t.Fatal(err)
			}
			if obj.Key != "k" || obj.Context != "c1" || obj.Conflict() != tt.conflict {
				t.Errorf("object = %+v", obj)
			}
			if len(obj.Siblings) != len(tt.siblings) {
				t.Fatalf("siblings = %+v, want %+v", obj.Siblings, tt.siblings)
			}
			for i, s := range tt.siblings {
				if string(obj.Siblings[i].Value) != string(s.Value) || obj.Siblings[i].ContentType != s.ContentType {
					t.Errorf("sibling %d = %+v, want %+v", i, obj.Siblings[i], s)
				}
			}
			if v := obj.Value(); (v == nil) != (tt.value == nil) || string(v) != string(tt.value) {
				t.Errorf("Value() = %q, want %q", v, tt.value)
			}
		})
	}
}

func TestGetMalformed(t *testing.T) {
	for _, body := range []string{`not json`, `{"context":"c","siblings":[]}`, `{"siblings":[{"value":"!!"}]}`} {
		srv := httptest.NewServer(canned{200, nil, body})
		_, err := newTestClient(t, srv.URL).Get(t.Context(), "k")
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), srv.URL) {
			t.Errorf("body %q: err = %v, want an error naming the endpoint", body, err)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	e := &Error{Status: 401, Message: "this request needs the API token"}
	if !errors.Is(e, ErrUnauthorized) || errors.Is(e, ErrBadRequest) {
		t.Fatalf("401 maps to %v", e)
	}
}
