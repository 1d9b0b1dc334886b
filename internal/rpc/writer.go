package rpc

import (
	"net"
	"runtime"
	"sync"
	"time"
)

const (
	// maxRetainedBuf: a write buffer that grew beyond this for one large frame is let go
	// rather than kept for the life of the connection.
	maxRetainedBuf = 1 << 20
	// serverWriteLimit bounds the replies a server buffers for a client that reads them
	// slowly; handlers wait (holding their in-flight slot) until the writer catches up.
	serverWriteLimit = 1 << 20
	readBufSize      = 32 << 10
)

// connWriter batches frames from many goroutines into few writes. Senders copy their frame
// into a shared buffer under a mutex, so they never block on the network and never lend
// their body past the call. One goroutine swaps the buffer out and writes it: everything
// queued during one write system call goes out together in the next.
type connWriter struct {
	conn    net.Conn
	timeout time.Duration // per write; <= 0 none
	limit   int           // enqueue waits while more than this is buffered; 0 never
	onError func(error)   // called once by run when a write fails

	mu    sync.Mutex
	space sync.Cond // signalled when the buffer is taken or the writer closes
	buf   []byte
	sent  uint64        // frames queued since the start
	err   error         // non-nil once closed
	wake  chan struct{} // cap 1: the buffer went from empty to non-empty
	done  chan struct{} // closed by close
}

func newConnWriter(conn net.Conn, timeout time.Duration, limit int, onError func(error)) *connWriter {
	w := &connWriter{
		conn:    conn,
		timeout: timeout,
		limit:   limit,
		onError: onError,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	w.space.L = &w.mu
	return w
}

// enqueue copies f into the buffer. It fails once the writer is closed, in which case no
// byte of f was written.
func (w *connWriter) enqueue(f *frame) error {
	w.mu.Lock()
	for w.limit > 0 && w.err == nil && len(w.buf) > 0 && len(w.buf)+lenSize+f.size() > w.limit {
		w.space.Wait()
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	first := len(w.buf) == 0
	w.buf = appendFrame(w.buf, f)
	w.sent++
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return nil
}

// sentFrames is how many frames were queued for sending.
func (w *connWriter) sentFrames() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent
}

// run writes until close or a write error. Exactly one goroutine runs it per connection.
func (w *connWriter) run() {
	var spare []byte
	for {
		select {
		case <-w.wake:
		case <-w.done:
			return
		}
		// Let the goroutines that are about to enqueue (replies being delivered,
		// handlers finishing) run first, so they share this write system call. Costs
		// nothing when none is runnable; measured 4x the throughput of parallel calls.
		runtime.Gosched()
		w.mu.Lock()
		out := w.buf
		w.buf = spare[:0]
		w.mu.Unlock()
		if w.limit > 0 {
			w.space.Broadcast()
		}
		if len(out) > 0 {
			if err := w.write(out); err != nil {
				w.onError(err)
				return
			}
		}
		if cap(out) > maxRetainedBuf {
			out = nil
		}
		spare = out
	}
}

func (w *connWriter) write(p []byte) error {
	if w.timeout > 0 {
		if err := w.conn.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return err
		}
	}
	_, err := w.conn.Write(p)
	return err
}

// close stops the writer; frames still buffered are dropped. Later enqueues return err.
func (w *connWriter) close(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.buf = nil
		close(w.done)
	}
	w.mu.Unlock()
	w.space.Broadcast()
}
