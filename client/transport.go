package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const (
	// maxResponseBytes caps a response body: 64 MiB of values once base64
	// encoded (4/3), plus room for the JSON around them.
	maxResponseBytes = 64<<20/3*4 + 1<<20
	// maxDrainBytes is how much of an unread body is discarded to keep the
	// connection alive; beyond it, closing the connection is cheaper.
	maxDrainBytes = 64 << 10
)

// errResponseTooLarge is wrapped when a body exceeds maxResponseBytes.
var errResponseTooLarge = errors.New("response too large")

// call is one logical request, tried on one or more endpoints.
type call struct {
	method    string
	path      string // escaped, after the endpoint's base: "/kv/a%2Fb"
	query     url.Values
	header    http.Header
	body      []byte // nil: no body
	retryable bool   // safe to send again after it was sent (reads)
	rotate    bool   // start at the rotating endpoint (false: the first)
}

// response is a complete answer, its body read and the connection released.
type response struct {
	endpoint string
	status   int
	header   http.Header
	body     []byte
}

// do sends cl to the endpoints in turn until one answers, following the
// failover rules: any transport failure (or a draining/starting node) moves
// a retryable call on; a write moves on only if it was never sent.
func (c *Client) do(ctx context.Context, cl *call) (*response, error) {
	var tried []string
	var lastErr error
	for _, ep := range c.order(cl.rotate) {
		if ctx.Err() != nil {
			break
		}
		tried = append(tried, ep.name)
		resp, err := c.roundTrip(ctx, ep, cl)
		tlsErr := tlsProblem(ctx, ep.name, resp, err)
		switch {
		case tlsErr != nil: // the node served nothing: any call may move on
			lastErr = tlsErr
			c.log.Warn("TLS failure, trying the next endpoint", "endpoint", ep.name, "err", tlsErr)
		case err == nil && (cl.retryable && refused(resp) || unexecuted(resp)):
			lastErr = newError(resp)
			c.log.Debug("endpoint refused the request, failing over", "endpoint", ep.name, "err", lastErr)
		case err == nil:
			return resp, nil
		case ctx.Err() != nil:
			// The caller gave up: report that, not the transport's symptom.
		case errors.Is(err, errResponseTooLarge):
			return nil, err
		case isDialError(err):
			c.markDown(ep, err)
			lastErr = err
		case !cl.retryable:
			return nil, fmt.Errorf("%w: %s %s was sent to %s but no answer came back, so it may have been applied; "+
				"it was not retried because a second write would become a sibling: %w",
				ErrAmbiguous, cl.method, cl.path, ep.name, err)
		default:
			c.log.Debug("request failed, failing over", "endpoint", ep.name, "err", err)
			lastErr = err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dynkv: %s %s: %w", cl.method, cl.path, err)
	}
	return nil, fmt.Errorf("%w (tried %s): %w", ErrUnavailable, strings.Join(tried, ", "), lastErr)
}

// refused reports a 503 from a node that is draining or starting.
func refused(resp *response) bool {
	return resp.status == http.StatusServiceUnavailable && newError(resp).refused()
}

// unexecuted reports an answer refusing the request before it was
// executed (overloaded, insufficient storage): safe to send elsewhere.
func unexecuted(resp *response) bool {
	return (resp.status == http.StatusServiceUnavailable || resp.status == http.StatusInsufficientStorage) && newError(resp).unexecuted()
}

// roundTrip sends cl to one endpoint and reads the whole answer.
func (c *Client) roundTrip(ctx context.Context, ep *endpoint, cl *call) (*response, error) {
	u := ep.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		// A bytes.Reader streams the value without a copy and lets net/http
		// rewind it when it retries a request it knows was not sent.
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("dynkv: building request for %s: %w", ep.name, err)
	}
	for k, vs := range cl.header {
		req.Header[k] = vs
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	hresp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	c.markUp(ep)
	defer closeBody(hresp.Body)
	data, err := readBody(hresp.Body, hresp.ContentLength, maxResponseBytes)
	if err != nil && !cl.retryable && hresp.StatusCode/100 == 2 {
		// The write was answered; its outcome is in the status and headers.
		err, data = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dynkv: reading the answer of %s: %w", ep.name, err)
	}
	return &response{endpoint: ep.name, status: hresp.StatusCode, header: hresp.Header, body: data}, nil
}

// readBody reads a body whose length the server announced (size, -1 if
// unknown) into one allocation, and otherwise as readCapped does.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit || size > 1<<20 {
		return readCapped(r, limit)
	}
	// net/http holds the body to its Content-Length.
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return data, nil
}

// readCapped reads r to the end, failing if it holds more than limit bytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d MiB", errResponseTooLarge, limit>>20)
	}
	return data, nil
}

// closeBody drains a little of what is left so the connection can be reused.
func closeBody(b io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(b, maxDrainBytes))
	_ = b.Close()
}
