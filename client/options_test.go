package client

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBuildOptions(t *testing.T) {
	tests := []struct {
		name    string
		op      string
		opts    []Option
		query   string // encoded, when valid
		wantErr string // substring, when invalid
	}{
		{name: "none", op: "get", query: ""},
		{name: "get quorum", op: "get", opts: []Option{R(2), PR(1), Timeout(500 * time.Millisecond)},
			query: "pr=1&r=2&timeout=500ms"},
		{name: "put all", op: "put", opts: []Option{W(3), PW(2), Sync(true), Timeout(2 * time.Second),
			WithContext("abc"), ContentType("text/plain; charset=utf-8")}, query: "pw=2&sync=true&timeout=2s&w=3"},
		{name: "sync false sends nothing", op: "delete", opts: []Option{Sync(false)}, query: ""},
		{name: "delete context", op: "delete", opts: []Option{W(1), WithContext("x")}, query: "w=1"},
		{name: "empty context is blind", op: "put", opts: []Option{WithContext("")}, query: ""},
		{name: "r zero", op: "get", opts: []Option{R(0)}, wantErr: "r must be at least 1, got 0"},
		{name: "pr negative", op: "get", opts: []Option{PR(-1)}, wantErr: "pr must be at least 1"},
		{name: "w zero", op: "put", opts: []Option{W(0)}, wantErr: "w must be at least 1"},
		{name: "pw zero", op: "delete", opts: []Option{PW(0)}, wantErr: "pw must be at least 1"},
		{name: "negative timeout", op: "get", opts: []Option{Timeout(-time.Second)}, wantErr: "timeout must be positive"},
		{name: "zero timeout", op: "put", opts: []Option{Timeout(0)}, wantErr: "timeout must be positive"},
		{name: "w on get", op: "get", opts: []Option{W(2)}, wantErr: "option w does not apply to get"},
		{name: "pw on get", op: "get", opts: []Option{PW(2)}, wantErr: "option pw does not apply to get"},
		{name: "sync on get", op: "get", opts: []Option{Sync(true)}, wantErr: "option sync does not apply to get"},
		{name: "context on get", op: "get", opts: []Option{WithContext("c")}, wantErr: "option context does not apply"},
		{name: "r on put", op: "put", opts: []Option{R(1)}, wantErr: "option r does not apply to put"},
		{name: "content type on delete", op: "delete", opts: []Option{ContentType("text/plain")},
			wantErr: "option content-type does not apply to delete"},
		{name: "bad content type", op: "put", opts: []Option{ContentType("text/plain; ===")}, wantErr: "not a valid media type"},
		{name: "context with newline", op: "put", opts: []Option{WithContext("a\nb")}, wantErr: "printable ASCII"},
		{name: "nil option", op: "put", opts: []Option{nil}, wantErr: "nil option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := buildOptions(tt.op, tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadRequest) {
					t.Fatalf("err = %v, want ErrBadRequest containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := o.query().Encode(); got != tt.query {
				t.Errorf("query = %q, want %q", got, tt.query)
			}
		})
	}
}

// Invalid options must fail the call before anything is sent: the client
// has no working endpoint here, so any request would fail differently.
func TestInvalidOptionsSendNothing(t *testing.T) {
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	_, errGet := c.Get(ctx, "k", W(2))
	_, errPut := c.Put(ctx, "k", nil, R(2))
	_, errDel := c.Delete(ctx, "k", ContentType("a/b"))
	_, errKey := c.Get(ctx, "")
	_, errLong := c.Put(ctx, strings.Repeat("k", maxKeyBytes+1), nil)
	for i, err := range []error{errGet, errPut, errDel, errKey, errLong} {
		if !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrUnavailable) {
			t.Errorf("call %d: err = %v, want a local ErrBadRequest", i, err)
		}
	}
}
