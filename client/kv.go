package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// Object is the result of a Get: every concurrent version of a key.
type Object struct {
	Key string
	// Context covers all Siblings: write it back with WithContext to
	// supersede what you read (for instance with a merge of the siblings).
	Context string
	// Siblings holds one element normally and several on a conflict.
	Siblings []Sibling
	Receipt  Receipt
}

// Sibling is one concurrent version of a value.
type Sibling struct {
	Value       []byte
	ContentType string
}

// Value returns the value when there is exactly one sibling, and nil when
// there is a conflict, so that a caller who ignores conflicts cannot mistake
// one sibling for the value. A present but empty value is non-nil.
func (o *Object) Value() []byte {
	if len(o.Siblings) != 1 {
		return nil
	}
	return o.Siblings[0].Value
}

// Conflict reports whether concurrent writes left several siblings.
func (o *Object) Conflict() bool { return len(o.Siblings) > 1 }

// WriteResult is the answer to a Put or Delete.
type WriteResult struct {
	// Context is the new version's context: writing with it supersedes this
	// write (read-your-writes without reading).
	Context string
	Receipt Receipt
}

// Status is the status document of one node (GET /status). Fields the node
// adds later are ignored here and kept in Raw.
type Status struct {
	Node         string   `json:"node"`
	Version      string   `json:"version"`
	N            int      `json:"n"`
	Partitions   int      `json:"partitions"`
	R            int      `json:"r"`
	W            int      `json:"w"`
	Members      []Member `json:"members"`
	HintsPending int      `json:"hints_pending"`
	// HintsPendingByTarget counts the hints this node holds per target node.
	HintsPendingByTarget map[string]int `json:"hints_pending_by_target"`
	// Storage is "ok", "disk_full" or "failed" (writes refused, reads
	// served); empty from nodes that predate it.
	Storage string `json:"storage"`
	// Raw is the document exactly as the node sent it.
	Raw json.RawMessage `json:"-"`
}

// Member is one row of the status document's membership.
type Member struct {
	Name            string `json:"name"`
	State           string `json:"state"` // alive, suspect, dead or left
	HTTPAddr        string `json:"http_addr"`
	PartitionsOwned int    `json:"partitions_owned"`
	// HTTPScheme is "https" for a member serving TLS; "http" or empty
	// (nodes that predate TLS) otherwise.
	HTTPScheme string `json:"http_scheme"`
}

// Get reads key with R/PR/Timeout options. A missing or deleted key is an
// *Error matching ErrNotFound, whose Context is set if a delete was seen.
// On a conflict (Object.Conflict) all siblings are returned.
//
// It asks for the raw form of the answer (X-Dynkv-Form: raw: the value as
// the body, or a multipart/mixed body of siblings, and the context in
// X-Dynkv-Context), which costs neither side any JSON or base64; a node that
// does not mark its answer as raw is read as JSON, which it is then asked for.
func (c *Client) Get(ctx context.Context, key string, opts ...Option) (*Object, error) {
	o, path, err := prepare("get", key, opts)
	if err != nil {
		return nil, err
	}
	header := http.Header{"Accept": {"application/json"}, headerForm: {formRaw}}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, query: o.query(),
		header: header, retryable: true, rotate: true})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK && resp.status != http.StatusMultipleChoices {
		return nil, newError(resp)
	}
	return decodeObject(key, resp)
}

// jsonObject is the JSON form of a read (Accept: application/json).
type jsonObject struct {
	Context  string `json:"context"`
	Siblings []struct {
		Value       []byte `json:"value"` // encoding/json decodes base64
		ContentType string `json:"content_type"`
	} `json:"siblings"`
}

func decodeJSONObject(key string, resp *response) (*Object, error) {
	var doc jsonObject
	if err := json.Unmarshal(resp.body, &doc); err != nil {
		return nil, fmt.Errorf("dynkv: get %q: malformed answer from %s: %v", key, resp.endpoint, err)
	}
	if len(doc.Siblings) == 0 {
		return nil, fmt.Errorf("dynkv: get %q: answer from %s has no siblings", key, resp.endpoint)
	}
	obj := &Object{Key: key, Context: doc.Context, Receipt: parseReceipt(resp.header.Get(headerReceipt))}
	if obj.Context == "" {
		obj.Context = resp.header.Get(headerContext)
	}
	for _, s := range doc.Siblings {
		obj.Siblings = append(obj.Siblings, Sibling{Value: nonNil(s.Value), ContentType: s.ContentType})
	}
	return obj, nil
}

// decodeObject reads the answer to a Get: JSON, or in the raw form a 200
// (one value) or a 300 (multipart/mixed siblings).
func decodeObject(key string, resp *response) (*Object, error) {
	if resp.header.Get(headerForm) != formRaw {
		return decodeJSONObject(key, resp)
	}
	obj := &Object{Key: key, Context: resp.header.Get(headerContext), Receipt: parseReceipt(resp.header.Get(headerReceipt))}
	ct := resp.header.Get("Content-Type")
	if resp.status == http.StatusOK {
		obj.Siblings = []Sibling{{Value: nonNil(resp.body), ContentType: ct}}
		return obj, nil
	}
	sibs, err := parseMultipart(ct, resp.body)
	if err != nil {
		return nil, fmt.Errorf("dynkv: get %q: malformed answer from %s: %v", key, resp.endpoint, err)
	}
	if len(sibs) == 0 {
		return nil, fmt.Errorf("dynkv: get %q: answer from %s has no siblings", key, resp.endpoint)
	}
	obj.Siblings = sibs
	return obj, nil
}

// parseMultipart splits a multipart/mixed body into siblings.
func parseMultipart(contentType string, body []byte) ([]Sibling, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("content type %q: %v", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("siblings sent as %q, want multipart/mixed with a boundary", contentType)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var sibs []Sibling
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return sibs, nil
		}
		if err != nil {
			return nil, err
		}
		v, err := io.ReadAll(part)
		if err != nil {
			return nil, err
		}
		sibs = append(sibs, Sibling{Value: nonNil(v), ContentType: part.Header.Get("Content-Type")})
	}
}

// nonNil makes a present but empty value non-nil (see Object.Value).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Put writes value under key with W/PW/Sync/Timeout/WithContext/ContentType
// options. Without WithContext it is a blind write (see the HTTP API).
//
// Put fails over to another endpoint only when the connection could not be
// established. If the request was sent and the answer lost, Put returns an
// error matching ErrAmbiguous and does not retry: the write may have been
// applied, and a second one would be stored as a sibling of the first. A
// failed quorum (ErrQuorum) may likewise have reached some replicas, and so
// may a write whose ctx ended while it was in flight.
func (c *Client) Put(ctx context.Context, key string, value []byte, opts ...Option) (*WriteResult, error) {
	o, path, err := prepare("put", key, opts)
	if err != nil {
		return nil, err
	}
	if value == nil {
		value = []byte{} // an empty value is a value: send Content-Length: 0
	}
	header := o.writeHeader()
	if o.contentType != "" {
		header.Set("Content-Type", o.contentType)
	}
	return c.write(ctx, &call{method: http.MethodPut, path: path, query: o.query(), header: header, body: value})
}

// Delete writes a tombstone for key, with the options of Put but
// ContentType. It fails over like Put, for the same reason.
func (c *Client) Delete(ctx context.Context, key string, opts ...Option) (*WriteResult, error) {
	o, path, err := prepare("delete", key, opts)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, &call{method: http.MethodDelete, path: path, query: o.query(), header: o.writeHeader()})
}

func (c *Client) write(ctx context.Context, cl *call) (*WriteResult, error) {
	cl.rotate = true
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	if resp.status/100 != 2 {
		return nil, newError(resp)
	}
	return &WriteResult{
		Context: resp.header.Get(headerContext),
		Receipt: parseReceipt(resp.header.Get(headerReceipt)),
	}, nil
}

func (o *options) writeHeader() http.Header {
	h := http.Header{}
	if o.context != "" {
		h.Set(headerContext, o.context)
	}
	return h
}

// Status returns the status document of the first endpoint, in the
// configured order, that answers.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	header := http.Header{"Accept": {"application/json"}}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: "/status", header: header, retryable: true})
	if err != nil {
		return nil, err
	}
	if resp.status != http.StatusOK {
		return nil, newError(resp)
	}
	st := &Status{Raw: resp.body}
	if err := json.Unmarshal(resp.body, st); err != nil {
		return nil, fmt.Errorf("dynkv: status: malformed answer from %s: %v", resp.endpoint, err)
	}
	return st, nil
}

// prepare validates key and opts for op and returns the escaped path.
func prepare(op, key string, opts []Option) (*options, string, error) {
	if key == "" {
		return nil, "", badRequest("%s: the key is empty (keys are 1 to %d bytes)", op, maxKeyBytes)
	}
	if len(key) > maxKeyBytes {
		return nil, "", badRequest("%s: the key is %d bytes, over the limit of %d", op, len(key), maxKeyBytes)
	}
	o, err := buildOptions(op, opts)
	if err != nil {
		return nil, "", err
	}
	return o, "/kv/" + escapeKey(key), nil
}

// escapeKey percent-encodes any bytes as one path segment. "." and ".." are
// escaped too, because routers (Go's ServeMux among them) clean such dot
// segments out of the path and redirect instead of serving the key.
func escapeKey(key string) string {
	if key == "." || key == ".." {
		return strings.Repeat("%2E", len(key))
	}
	return url.PathEscape(key)
}
