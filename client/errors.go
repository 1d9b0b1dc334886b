package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

var (
	// ErrNotFound is matched by the *Error of a 404: the key has no live
	// value (it was never written or was deleted). It never means that a
	// replica was unreachable.
	ErrNotFound = errors.New("dynkv: not found")

	// ErrQuorum is matched by the *Error of a 503 quorum failure: fewer than
	// R (or W) replicas answered. A write that failed its quorum may still
	// have reached some replicas.
	ErrQuorum = errors.New("dynkv: quorum not met")

	// ErrTimeout is matched by the *Error of a 504: the request's timeout ran
	// out on the server before the quorum answered.
	ErrTimeout = errors.New("dynkv: server timeout")

	// ErrBadRequest is matched by the *Error of a 400 or 413, and wrapped by
	// errors the client detects itself before sending anything (empty key,
	// an option that does not apply, r < 1, ...).
	ErrBadRequest = errors.New("dynkv: bad request")

	// ErrUnavailable is wrapped when no endpoint could be reached; the error
	// also wraps the last failure and names the endpoints tried. A node
	// answering 503 because it is draining or starting matches it as well.
	ErrUnavailable = errors.New("dynkv: no endpoint available")

	// ErrAmbiguous is wrapped when a write (PUT or DELETE) was sent but no
	// answer came back: it may or may not have been applied. The client does
	// not retry it, because a duplicate write would become a sibling. Read
	// the key to find out.
	ErrAmbiguous = errors.New("dynkv: write outcome unknown")
	// ErrUnauthorized is wrapped when a node refused the request's token
	// (401): none was configured (Config.Token) or it is not the one the
	// node wants (admin calls need the admin token).
	ErrUnauthorized = errors.New("dynkv: unauthorized")

	// ErrTooManySiblings is matched by the *Error of a 409 refusing a write
	// that would leave its key with more siblings than the node's
	// --max-siblings. Nothing was written: read the key, merge its
	// siblings, and write the result back with the read's context.
	ErrTooManySiblings = errors.New("dynkv: too many siblings")

	// ErrInsufficientStorage is matched by the *Error of a 507: the node's
	// disk is full or failing, and it refused the write before storing
	// anything. The client tries the other endpoints first.
	ErrInsufficientStorage = errors.New("dynkv: insufficient storage")

	// ErrOverloaded is matched by the *Error of a 503 "overloaded": the node
	// was serving its limit of concurrent requests and refused this one
	// unexecuted. The client tries the other endpoints first; the error
	// matches ErrUnavailable too.
	ErrOverloaded = errors.New("dynkv: overloaded")
)

// Error is a non-2xx answer from a node.
type Error struct {
	Status  int    // the HTTP status code
	Message string // the server's "error" text, or the status text if the body was not JSON
	Detail  string // the server's "detail" text, if any: what to do about it (409, 503 overloaded, 507)
	Needed  int    // replicas the quorum needed (503), 0 if not reported
	Acked   int    // replicas that acknowledged a write (503), 0 if not reported
	Replied int    // replicas that answered a read (503), 0 if not reported
	// Context is the X-Dynkv-Context of the answer; on a 404 it is set when a
	// tombstone was seen, and writing with it supersedes the delete.
	Context  string
	Endpoint string // the endpoint that answered
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dynkv: ")
	b.WriteString(e.Message)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	b.WriteString(" (")
	if e.Needed > 0 {
		fmt.Fprintf(&b, "needed %d, ", e.Needed)
		if e.Replied > 0 {
			fmt.Fprintf(&b, "replied %d; ", e.Replied)
		} else {
			fmt.Fprintf(&b, "acked %d; ", e.Acked)
		}
	}
	fmt.Fprintf(&b, "HTTP %d from %s)", e.Status, e.Endpoint)
	return b.String()
}

// Is maps the status code onto the package's sentinel errors, so callers can
// write errors.Is(err, client.ErrNotFound) without looking at codes.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrQuorum:
		return e.Status == http.StatusServiceUnavailable && !e.refused()
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable && e.refused()
	case ErrTimeout:
		return e.Status == http.StatusGatewayTimeout
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrTooManySiblings:
		return e.Status == http.StatusConflict && strings.HasPrefix(e.Message, "too many siblings")
	case ErrInsufficientStorage:
		return e.Status == http.StatusInsufficientStorage
	case ErrOverloaded:
		return e.overloaded()
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge
	}
	return false
}

// refused reports a 503 from a node that is draining or starting: it did not
// take the request at all, unlike a quorum failure.
func (e *Error) refused() bool {
	if e.Status != http.StatusServiceUnavailable {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "draining") || strings.Contains(m, "starting") || e.overloaded()
}

// overloaded reports a 503 from a node at its concurrency limit.
func (e *Error) overloaded() bool {
	return e.Status == http.StatusServiceUnavailable && e.Message == "overloaded"
}

// unexecuted reports an answer that says the node refused the request
// before doing anything (overloaded, or its disk refused the write), so
// that even a write may be sent to another endpoint.
func (e *Error) unexecuted() bool {
	return e.overloaded() || e.Status == http.StatusInsufficientStorage
}

// errorBody is the JSON error document. Pointers tell "acked": 0 from absent.
type errorBody struct {
	Error   string `json:"error"`
	Detail  string `json:"detail"`
	Needed  *int   `json:"needed"`
	Acked   *int   `json:"acked"`
	Replied *int   `json:"replied"`
}

// newError builds the *Error of a non-2xx response.
func newError(resp *response) *Error {
	e := &Error{
		Status:   resp.status,
		Message:  http.StatusText(resp.status),
		Context:  resp.header.Get(headerContext),
		Endpoint: resp.endpoint,
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP status %d", resp.status)
	}
	var body errorBody
	if json.Unmarshal(resp.body, &body) != nil || body.Error == "" {
		return e
	}
	e.Message, e.Detail = body.Error, body.Detail
	e.Needed = deref(body.Needed)
	e.Acked = deref(body.Acked)
	e.Replied = deref(body.Replied)
	return e
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// badRequest is an error the client detects before sending anything.
func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}
