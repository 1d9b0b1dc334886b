package node

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Bearer-token authentication of the HTTP API. With AuthToken set, every
// request but GET /health (for load balancers and probes) must carry
// "Authorization: Bearer <token>"; /admin/* (replica reads, anti-entropy
// rebuilds, leave and remove) needs AdminToken instead when that is set,
// and the admin token is good for every other request too.
// Tokens are compared in constant time.

// authenticate wraps h with the token checks; with no token configured it
// returns h itself.
func (n *Node) authenticate(h http.Handler) http.Handler {
	user, admin := n.cfg.AuthToken, n.cfg.AdminToken
	if user == "" && admin == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			h.ServeHTTP(w, r)
			return
		}
		want, what := user, "the API token (--auth-token-file)"
		if strings.HasPrefix(r.URL.Path, "/admin/") && admin != "" {
			want, what = admin, "the admin token (--admin-token-file)"
		}
		if want == "" {
			h.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		match := ok && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
		if ok && !match && want == user && admin != "" {
			// The admin token may do everything the API token may.
			match = subtle.ConstantTimeCompare([]byte(got), []byte(admin)) == 1
		}
		if !match {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dynkv"`)
			msg := "this request needs " + what + ": send Authorization: Bearer <token>"
			if ok {
				msg = "wrong token: this request needs " + what
			}
			writeError(w, http.StatusUnauthorized, msg, nil)
			return
		}
		h.ServeHTTP(w, r)
	})
}
