package client

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dynkv/dynkv/client/clienttest"
)

// TestLimitErrors: 409 "too many siblings" and 507 map to their
// sentinels; a write refused unexecuted (503 overloaded, 507) goes on to
// the next endpoint, a 409 does not.
func TestLimitErrors(t *testing.T) {
	jsonCT := map[string]string{"Content-Type": "application/json"}
	siblings := canned{409, jsonCT, `{"error":"too many siblings","siblings":101,"max_siblings":100,"detail":"read the key and write back"}`}
	storage := canned{507, jsonCT, `{"error":"insufficient storage","storage":"disk_full"}`}
	overloaded := canned{503, map[string]string{"Content-Type": "application/json", "Retry-After": "1"}, `{"error":"overloaded"}`}

	for name, tc := range map[string]struct {
		resp     canned
		want     error
		failover bool
	}{
		"409":        {siblings, ErrTooManySiblings, false},
		"507":        {storage, ErrInsufficientStorage, true},
		"overloaded": {overloaded, ErrOverloaded, true},
	} {
		t.Run(name, func(t *testing.T) {
			bad := httptest.NewServer(tc.resp)
			defer bad.Close()
			_, err := newTestClient(t, bad.URL).Put(t.Context(), "k", []byte("v"))
			if !errors.Is(err, tc.want) {
				t.Fatalf("alone: %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrBadRequest) || errors.Is(err, ErrQuorum) {
				t.Fatalf("%v also matches another sentinel", err)
			}
			if name == "409" && !strings.Contains(err.Error(), "read the key and write back") {
				t.Fatalf("%v does not carry the server's detail", err)
			}
			good := clienttest.NewServer(clienttest.Options{})
			defer good.Close()
			c := newTestClient(t, bad.URL, good.Addr)
			c.next.Store(0)
			_, err = c.Put(t.Context(), "k", []byte("v"))
			if tc.failover && (err != nil || good.Requests() != 1) {
				t.Fatalf("write refused unexecuted was not sent on: %v (%d requests at the good node)", err, good.Requests())
			}
			if !tc.failover && (!errors.Is(err, tc.want) || good.Requests() != 0) {
				t.Fatalf("a 409 was sent on: %v", err)
			}
		})
	}
}
