package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Handler serves one request.
type Handler interface {
	// ServeRPC serves one request. ctx carries the caller's deadline (sent in the frame, so
	// it is later than the caller's by the time in flight) and is cancelled when the
	// connection or the server closes. body belongs to the handler. The returned slice is
	// copied before ServeRPC's caller returns and is not retained. A returned error reaches
	// the caller as a *RemoteError carrying err.Error().
	//
	// Requests on one connection are served concurrently, each in its own goroutine.
	ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method uint8, body []byte) ([]byte, error)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, method uint8, body []byte) ([]byte, error) {
	return f(ctx, method, body)
}

// Transport is how a node calls its peers. Client (TCP) and MemNetwork.Client implement it.
type Transport interface {
	// Call sends body to the node listening at addr and waits for the reply, the ctx's
	// deadline or its cancellation. Call does not retain body. The returned slice belongs to
	// the caller.
	//
	// Errors: ErrUnreachable (wrapped with addr) when the peer could not be reached or the
	// connection was lost before the reply: the request may or may not have been served.
	// An error wrapping ctx.Err() when the ctx ends first: likewise. *RemoteError when the
	// handler returned an error. ErrFrameTooLarge when body cannot be sent (nothing was sent).
	// ErrClosed after Close.
	Call(ctx context.Context, addr string, method uint8, body []byte) ([]byte, error)

	// Close fails calls in flight with ErrClosed and releases connections. Calls after
	// Close return ErrClosed.
	Close() error
}

var (
	// ErrUnreachable is returned when the peer could not be reached: the dial was refused
	// or failed, the connection was lost before the reply arrived, or (in memory) the
	// address is not listening or refuses. It is wrapped with the address and the cause.
	// A request sent before the loss may have been served.
	ErrUnreachable = errors.New("rpc: peer unreachable")

	// ErrClosed is returned when the Client, MemNetwork client or Server is closed.
	ErrClosed = errors.New("rpc: closed")

	// ErrFrameTooLarge is returned when a body does not fit Config.MaxFrameSize. On send
	// nothing is sent; on receive the connection is closed and calls on it fail with
	// ErrUnreachable wrapping this error.
	ErrFrameTooLarge = errors.New("rpc: frame too large")

	// ErrBadFrame is returned when the bytes on a connection are not a valid frame; the
	// connection is closed.
	ErrBadFrame = errors.New("rpc: malformed frame")
)

// RemoteError is a handler's error as seen by the caller. Match it with errors.As and a
// *RemoteError target.
type RemoteError struct {
	Msg string // the handler's err.Error()
}

func (e *RemoteError) Error() string { return "rpc: remote error: " + e.Msg }

// unreachable wraps cause so that errors.Is matches both ErrUnreachable and the cause.
func unreachable(addr string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrUnreachable, addr)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, cause)
}

// ctxError reports why a call ended early; errors.Is(err, context.DeadlineExceeded) holds.
func ctxError(addr string, err error) error {
	return fmt.Errorf("rpc: call %s: %w", addr, err)
}

// remoteOrExpired: the handler's ctx carries the caller's deadline, so a handler that
// stops at it races the caller's own timer, and its error reply may win. A caller whose
// deadline has passed must still see context.DeadlineExceeded; the handler's error stays
// reachable with errors.As.
func remoteOrExpired(ctx context.Context, addr string, err error) error {
	var re *RemoteError
	if !errors.As(err, &re) {
		return err
	}
	cerr := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(dl) {
		cerr = context.DeadlineExceeded // passed, but its timer has not fired yet
	}
	if cerr == nil {
		return err
	}
	return fmt.Errorf("rpc: call %s: %w (handler: %w)", addr, cerr, err)
}

// errorText is what travels in an error response: a forwarded RemoteError keeps its
// message rather than gaining another prefix.
func errorText(err error) string {
	if re, ok := err.(*RemoteError); ok {
		return re.Msg
	}
	return err.Error()
}

// invoke runs h, turning a panic into an error so that one bad request cannot crash the
// node.
func invoke(ctx context.Context, h Handler, method uint8, body []byte, log *slog.Logger) (resp []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panic", "method", method, "panic", r, "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("rpc: handler panic: %v", r)
		}
	}()
	return h.ServeRPC(ctx, method, body)
}

var discardLogger = slog.New(slog.DiscardHandler)
