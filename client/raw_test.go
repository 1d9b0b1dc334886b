package client

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGetRaw: the raw form of a read (X-Dynkv-Form: raw) gives the same
// Object as the JSON form: the value and its type, the context from the
// header, siblings from a multipart/mixed body, empty values non-nil.
func TestGetRaw(t *testing.T) {
	const boundary = "b0undary"
	multi := "--" + boundary + "\r\nContent-Type: text/plain\r\n\r\na\r\n" +
		"--" + boundary + "\r\nContent-Type: x/y\r\n\r\n\r\n" +
		"--" + boundary + "--\r\n"
	tests := []struct {
		name     string
		resp     canned
		siblings []Sibling
	}{
		{"200", canned{200, map[string]string{"Content-Type": "text/plain"}, "hello"}, []Sibling{{[]byte("hello"), "text/plain"}}},
		{"200 empty", canned{200, map[string]string{"Content-Type": "a/b"}, ""}, []Sibling{{[]byte{}, "a/b"}}},
		{"300", canned{300, map[string]string{"Content-Type": "multipart/mixed; boundary=" + boundary}, multi},
			[]Sibling{{[]byte("a"), "text/plain"}, {[]byte{}, "x/y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.resp.header["X-Dynkv-Form"] = "raw"
			tt.resp.header["X-Dynkv-Context"] = "c1"
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Dynkv-Form") != "raw" {
					t.Errorf("request without X-Dynkv-Form: raw")
				}
				tt.resp.ServeHTTP(w, r)
			}))
			defer srv.Close()
			obj, err := newTestClient(t, srv.URL).Get(t.Context(), "k")
			if err != nil {
				t.Fatal(err)
			}
			if obj.Context != "c1" || len(obj.Siblings) != len(tt.siblings) {
				t.Fatalf("object = %+v", obj)
			}
			for i, s := range tt.siblings {
				got := obj.Siblings[i]
				if got.Value == nil || string(got.Value) != string(s.Value) || got.ContentType != s.ContentType {
					t.Errorf("sibling %d = %+v, want %+v", i, got, s)
				}
			}
		})
	}
}

func TestGetRawMalformed(t *testing.T) {
	for _, ct := range []string{"text/plain", "multipart/mixed", "multipart/mixed; boundary=x"} {
		srv := httptest.NewServer(canned{300, map[string]string{"X-Dynkv-Form": "raw", "Content-Type": ct}, "garbage"})
		_, err := newTestClient(t, srv.URL).Get(t.Context(), "k")
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), srv.URL) {
			t.Errorf("content type %q: err = %v, want an error naming the endpoint", ct, err)
		}
	}
}
