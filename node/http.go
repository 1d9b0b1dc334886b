package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dynkv/dynkv/quorum"
	"github.com/dynkv/dynkv/vclock"
)

const (
	headerContext  = "X-Dynkv-Context"
	headerReplicas = "X-Dynkv-Replicas"
	// headerForm: raw in a GET asks for the raw form (value as the body,
	// multipart/mixed for siblings) whatever Accept says, and marks such an
	// answer, so that a client can ask for it and still read the JSON of a
	// node that does not know it. The Go client uses it: no JSON or base64.
	headerForm = "X-Dynkv-Form"
	formRaw    = "raw"
	maxKeyLen  = 1024
	defaultCT  = "application/octet-stream"
)

// handler returns the HTTP API. It routes by hand rather than with
// http.ServeMux because keys are arbitrary bytes: the mux would clean paths
// such as /kv/a/../b and redirect them.
func (n *Node) handler() http.Handler {
	metrics := n.metrics.handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		switch {
		case strings.HasPrefix(path, "/kv/"):
			n.serveKV(w, r, strings.TrimPrefix(path, "/kv/"))
		case path == "/status":
			n.onlyGet(w, r, n.serveStatus)
		case path == "/health":
			n.onlyGet(w, r, n.serveHealth)
		case path == "/metrics":
			n.onlyGet(w, r, metrics.ServeHTTP)
		case strings.HasPrefix(path, "/preflist/"):
			n.onlyGet(w, r, func(w http.ResponseWriter, r *http.Request) {
				n.servePreflist(w, r, strings.TrimPrefix(path, "/preflist/"))
			})
		case path == "/admin/conflicts":
			n.onlyGet(w, r, n.serveConflicts)
		case path == "/admin/aae/rebuild":
			n.serveRebuild(w, r)
		case path == "/admin/leave":
			n.serveLeave(w, r)
		case strings.HasPrefix(path, "/admin/remove/"):
			n.serveRemove(w, r, strings.TrimPrefix(path, "/admin/remove/"))
		case strings.HasPrefix(path, "/admin/replica/"):
			n.onlyGet(w, r, func(w http.ResponseWriter, r *http.Request) {
				n.serveReplica(w, r, strings.TrimPrefix(path, "/admin/replica/"))
			})
		default:
			writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %q: see /kv/{key}, /status, /health, /metrics, /preflist/{key}, /admin/replica/{key}", path), nil)
		}
	})
}

func (n *Node) onlyGet(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed here; use GET", r.Method), nil)
		return
	}
	h(w, r)
}

func (n *Node) serveKV(w http.ResponseWriter, r *http.Request, key string) {
	if err := checkKey(key); err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if len(n.mem.current().ring.Preflist(0)) == 0 {
		// A node that has not yet heard its cluster's ring knows no replica:
		// refuse at once ("starting" makes clients try another node).
		writeError(w, http.StatusServiceUnavailable, "node is starting: it has not learned the cluster's ring yet; try another node", nil)
		return
	}
	switch r.Method {
	case http.MethodGet:
		n.serveGet(w, r, []byte(key))
	case http.MethodPut:
		n.servePut(w, r, []byte(key), false)
	case http.MethodDelete:
		n.servePut(w, r, []byte(key), true)
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on /kv/; use GET, PUT or DELETE", r.Method), nil)
	}
}

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty key: use /kv/{key} with a key of 1 to 1024 bytes")
	case len(key) > maxKeyLen:
		return fmt.Errorf("key is %d bytes; the limit is %d", len(key), maxKeyLen)
	}
	return nil
}

// params are the validated quorum options of one request.
type params struct {
	r, pr, w, pw int
	sync         bool
	timeout      time.Duration
}

// parseParams validates the query against the options allowed for the
// request: allowed lists the quorum names (r, pr or w, pw) besides timeout
// (and sync for writes).
func (n *Node) parseParams(q url.Values, write bool) (params, error) {
	p := params{r: n.cfg.R, w: n.cfg.W, timeout: n.cfg.DefaultTimeout}
	allowed := map[string]*int{"r": &p.r, "pr": &p.pr}
	if write {
		allowed = map[string]*int{"w": &p.w, "pw": &p.pw}
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return p, fmt.Errorf("query parameter %q given %d times", name, len(vals))
		}
		v := vals[0]
		switch dst, ok := allowed[name]; {
		case ok:
			num, err := strconv.Atoi(v)
			if err != nil || num < 1 || num > n.cfg.N {
				return p, fmt.Errorf("%s=%q: must be a number of replicas from 1 to n=%d", name, v, n.cfg.N)
			}
			*dst = num
		case name == "timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > n.cfg.MaxTimeout {
				return p, fmt.Errorf("timeout=%q: must be a Go duration such as 500ms or 2s, above 0 and at most %s", v, n.cfg.MaxTimeout)
			}
			p.timeout = d
		case name == "sync" && write:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, fmt.Errorf("sync=%q: must be true or false", v)
			}
			p.sync = b
		default:
			return p, fmt.Errorf("unknown query parameter %q; this request takes %s", name, allowedNames(write))
		}
	}
	return p, nil
}

func allowedNames(write bool) string {
	if write {
		return "w, pw, sync, timeout"
	}
	return "r, pr, timeout"
}

// emptyContext is the encoding of the empty causal context (a msgpack
// empty array, base64url): a PUT carrying it supersedes no version, where a
// PUT carrying no context at all is blind.
const emptyContext = "kA"

func (n *Node) serveGet(w http.ResponseWriter, r *http.Request, key []byte) {
	p, err := n.parseParams(r.URL.Query(), false)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	res, err := n.read(ctx, readOp{key: key, r: p.r, pr: p.pr})
	if err != nil {
		writeOpError(w, "read", err)
		return
	}
	live := res.Set.Live()
	hdr := make([]byte, 0, 80)
	hdr = appendCount(hdr, "replied", res.Replied)
	hdr = appendCount(hdr, "primaries", res.Primaries)
	hdr = appendCount(hdr, "fallbacks", res.Fallbacks)
	hdr = appendCount(hdr, "siblings", len(live))
	hdr = appendCount(hdr, "repaired", res.Repaired)
	w.Header().Set(headerReplicas, string(hdr))
	if c := vclock.EncodeContext(res.Set.Clock); c != "" {
		w.Header().Set(headerContext, c)
	} else {
		// Nothing found: the context of having seen nothing, so that a
		// read-then-write supersedes nothing. Without it the write would be
		// blind and overwrite whatever its coordinator holds, which the
		// replicas this read asked may not have had yet.
		w.Header().Set(headerContext, emptyContext)
	}
	if len(live) == 0 {
		msg := "not found"
		if res.Found {
			msg = "not found (deleted)"
		}
		writeError(w, http.StatusNotFound, msg, nil)
		return
	}
	status := http.StatusOK
	if len(live) > 1 {
		status = http.StatusMultipleChoices
	}
	raw := r.Header.Get(headerForm) == formRaw
	if raw {
		w.Header().Set(headerForm, formRaw)
	}
	switch {
	case !raw && strings.Contains(r.Header.Get("Accept"), "application/json"):
		writeSiblingsJSON(w, status, res.Set.Clock, live)
	case len(live) == 1:
		w.Header().Set("Content-Type", contentType(live[0].ContentType))
		w.Header().Set("Content-Length", strconv.Itoa(len(live[0].Value)))
		w.WriteHeader(status)
		w.Write(live[0].Value)
	default:
		writeMultipart(w, live)
	}
}

func contentType(ct string) string {
	if ct == "" {
		return defaultCT
	}
	return ct
}

type jsonSibling struct {
	Value       []byte `json:"value"` // base64 by encoding/json
	ContentType string `json:"content_type"`
}

type jsonSiblings struct {
	Context  string        `json:"context"`
	Siblings []jsonSibling `json:"siblings"`
}

func writeSiblingsJSON(w http.ResponseWriter, status int, clock vclock.VV, live []vclock.Sibling) {
	out := jsonSiblings{Context: vclock.EncodeContext(clock), Siblings: make([]jsonSibling, len(live))}
	for i, s := range live {
		out.Siblings[i] = jsonSibling{Value: s.Value, ContentType: contentType(s.ContentType)}
		if out.Siblings[i].Value == nil {
			out.Siblings[i].Value = []byte{}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(out) // compact: this is the hot read path for scripts
}

func writeMultipart(w http.ResponseWriter, live []vclock.Sibling) {
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.WriteHeader(http.StatusMultipleChoices)
	for _, s := range live {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", contentType(s.ContentType))
		part, err := mw.CreatePart(h)
		if err != nil {
			return // the client went away
		}
		part.Write(s.Value)
	}
	mw.Close()
}

func (n *Node) servePut(w http.ResponseWriter, r *http.Request, key []byte, deleted bool) {
	p, err := n.parseParams(r.URL.Query(), true)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	op := writeOp{key: key, deleted: deleted, w: p.w, pw: p.pw, sync: p.sync}
	if raw := r.Header.Get(headerContext); raw != "" {
		if op.context, err = vclock.DecodeContext(raw); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s header: %v; send back the context exactly as a read returned it", headerContext, err), nil)
			return
		}
		op.hasContext = true
	}
	if !deleted {
		if op.value, err = n.readBody(w, r); err != nil {
			return
		}
		op.contentType = r.Header.Get("Content-Type")
		if op.contentType == "" {
			op.contentType = defaultCT
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	res, err := n.write(ctx, op)
	if err != nil {
		writeOpError(w, "write", err)
		return
	}
	w.Header().Set(headerContext, res.context)
	hdr := make([]byte, 0, 48)
	hdr = appendCount(hdr, "acked", res.Acked)
	hdr = appendCount(hdr, "primaries", res.Primaries)
	hdr = appendCount(hdr, "fallbacks", res.Fallbacks)
	w.Header().Set(headerReplicas, string(hdr))
	w.WriteHeader(http.StatusNoContent)
}

// appendCount appends "name=n" to the replicas header being built in b,
// after a "; " if b is not empty (strconv rather than fmt.Sprintf: this is
// on every request).
func appendCount(b []byte, name string, n int) []byte {
	if len(b) > 0 {
		b = append(b, "; "...)
	}
	b = append(b, name...)
	b = append(b, '=')
	return strconv.AppendInt(b, int64(n), 10)
}

// readBody reads a PUT's value, answering 413 itself when it is too large.
func (n *Node) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := n.cfg.MaxValueSize
	if r.ContentLength > limit {
		err := fmt.Errorf("value is %d bytes; the limit is %d (--max-value-size)", r.ContentLength, limit)
		writeError(w, http.StatusRequestEntityTooLarge, err.Error(), nil)
		return nil, err
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		// The length is known (and the server stops the body there): read
		// it into a buffer of its size instead of growing one.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(unwrapRecorder(w), r.Body, limit))
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		err = fmt.Errorf("value exceeds the limit of %d bytes (--max-value-size)", limit)
		writeError(w, http.StatusRequestEntityTooLarge, err.Error(), nil)
	case err != nil:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("reading the request body: %v", err), nil)
	}
	return body, err
}

// writeOpError maps a failed read or write to its status code.
func writeOpError(w http.ResponseWriter, op string, err error) {
	if writeLimitError(w, err) {
		return
	}
	var qe *quorum.Error
	var fe *forwardError
	countName := "replied"
	if op == "write" {
		countName = "acked"
	}
	switch {
	case errors.As(err, &qe):
		msg := err.Error()
		if op == "write" {
			msg += "; the write may have reached some replicas and may still appear"
		}
		status := http.StatusServiceUnavailable
		if qe.Timeout {
			status = http.StatusGatewayTimeout
		}
		writeError(w, status, msg, map[string]any{"needed": qe.Needed, countName: qe.Got, "quorum": qe.Quorum})
	case errors.As(err, &fe) && errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, err.Error(), nil)
	case errors.As(err, &fe), errors.Is(err, errNoCoordinator), errors.Is(err, errRingMoving):
		writeError(w, http.StatusServiceUnavailable, err.Error(), map[string]any{countName: 0})
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "request cancelled by the client", nil)
	default:
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
	}
}

func writeError(w http.ResponseWriter, status int, msg string, extra map[string]any) {
	body := map[string]any{"error": msg}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// serveRebuild rebuilds every anti-entropy tree from a scan of the store, in
// the background (POST /admin/aae/rebuild).
func (n *Node) serveRebuild(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST to rebuild the anti-entropy trees", nil)
		return
	}
	if n.aae == nil {
		writeError(w, http.StatusConflict, "anti-entropy is off on this node (--aae-interval 0)", nil)
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := n.aae.rebuildAll(); err != nil {
			n.logger.Error("tree rebuild failed", "err", err)
		}
	}()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "rebuilding", "node": n.name})
}
