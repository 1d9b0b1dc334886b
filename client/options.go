package client

import (
	"mime"
	"net/url"
	"strconv"
	"time"
)

// Option tunes one Get, Put or Delete. An option that does not apply to the
// call (W on a Get, ContentType on a Delete) makes the call fail with an error
// matching ErrBadRequest before any request is sent, rather than being
// silently ignored.
type Option func(*options)

// options collects what the caller set; zero values mean "not set", and only
// what was set is sent, so the node's defaults apply otherwise.
type options struct {
	r, pr, w, pw int
	sync         bool
	timeout      time.Duration
	context      string
	contentType  string
	given        []string // option names, to check they apply to the call
	errs         []error  // invalid values, reported before any request
}

// R sets how many replicas must answer a Get (1..N).
func R(n int) Option { return quorumOption("r", n, func(o *options) { o.r = n }) }

// PR sets how many primary (non-fallback) replicas must answer a Get.
func PR(n int) Option { return quorumOption("pr", n, func(o *options) { o.pr = n }) }

// W sets how many replicas must acknowledge a Put or Delete (1..N).
func W(n int) Option { return quorumOption("w", n, func(o *options) { o.w = n }) }

// PW sets how many primary (non-fallback) replicas must acknowledge a Put or
// Delete.
func PW(n int) Option { return quorumOption("pw", n, func(o *options) { o.pw = n }) }

// quorumOption checks the obvious (n >= 1) locally; the upper bound N is the
// cluster's and the node checks it.
func quorumOption(name string, n int, set func(*options)) Option {
	return func(o *options) {
		o.given = append(o.given, name)
		if n < 1 {
			o.errs = append(o.errs, badRequest("%s must be at least 1, got %d", name, n))
			return
		}
		set(o)
	}
}

// Sync(true) makes a Put or Delete count a replica only once its write is on
// disk (fsync). Sync(false) is the default and sends nothing.
func Sync(on bool) Option {
	return func(o *options) { o.given = append(o.given, "sync"); o.sync = on }
}

// Timeout bounds how long the node waits for the quorum before answering 504
// (ErrTimeout). It is sent to the node; the wait of the client itself is
// bounded by the ctx of the call.
func Timeout(d time.Duration) Option {
	return func(o *options) {
		o.given = append(o.given, "timeout")
		if d <= 0 {
			o.errs = append(o.errs, badRequest("timeout must be positive, got %v", d))
			return
		}
		o.timeout = d
	}
}

// WithContext sends the causal context of an earlier read (Object.Context) or
// write (WriteResult.Context) with a Put or Delete, so that the write
// supersedes exactly the versions that context covers. An empty context is a
// blind write, the same as not giving the option.
func WithContext(causal string) Option {
	return func(o *options) {
		o.given = append(o.given, "context")
		if !validHeaderValue(causal) {
			o.errs = append(o.errs, badRequest("context %q is not a valid context: it must be printable ASCII", causal))
			return
		}
		o.context = causal
	}
}

// ContentType sets the Content-Type stored with a Put's value; the node's
// default is application/octet-stream.
func ContentType(ct string) Option {
	return func(o *options) {
		o.given = append(o.given, "content-type")
		if ct == "" {
			return
		}
		if _, _, err := mime.ParseMediaType(ct); err != nil || !validHeaderValue(ct) {
			o.errs = append(o.errs, badRequest("content type %q is not a valid media type", ct))
			return
		}
		o.contentType = ct
	}
}

// validHeaderValue rejects what net/http would refuse to send. Checking here
// matters: a refusal from the transport would look like a lost write.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// applicable lists the options each operation accepts.
var applicable = map[string]map[string]bool{
	"get":    {"r": true, "pr": true, "timeout": true},
	"put":    {"w": true, "pw": true, "sync": true, "timeout": true, "context": true, "content-type": true},
	"delete": {"w": true, "pw": true, "sync": true, "timeout": true, "context": true},
}

// buildOptions applies opts for operation op and reports the first problem.
func buildOptions(op string, opts []Option) (*options, error) {
	o := &options{}
	for _, opt := range opts {
		if opt == nil {
			return nil, badRequest("nil option")
		}
		opt(o)
	}
	for _, name := range o.given {
		if !applicable[op][name] {
			return nil, badRequest("option %s does not apply to %s", name, op)
		}
	}
	if len(o.errs) > 0 {
		return nil, o.errs[0]
	}
	return o, nil
}

// query encodes the options that were set as the request's query string.
func (o *options) query() url.Values {
	q := url.Values{}
	for name, n := range map[string]int{"r": o.r, "pr": o.pr, "w": o.w, "pw": o.pw} {
		if n > 0 {
			q.Set(name, strconv.Itoa(n))
		}
	}
	if o.sync {
		q.Set("sync", "true")
	}
	if o.timeout > 0 {
		q.Set("timeout", o.timeout.String())
	}
	return q
}
