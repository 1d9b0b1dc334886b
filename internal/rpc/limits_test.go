package rpc

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestStalledFrameClosedByIdleTimeout: a peer that sends the start of a
// frame and then stalls, or drips it a byte at a time, holds no connection
// past the idle timeout: only complete requests count as activity.
func TestStalledFrameClosedByIdleTimeout(t *testing.T) {
	for name, drip := range map[string]bool{"stalled": false, "dripping": true} {
		t.Run(name, func(t *testing.T) {
			s := startServer(t, echo, Config{IdleTimeout: 100 * time.Millisecond})
			conn, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A request frame announcing 1,000 bytes, of which only the
			// first header bytes arrive.
			if _, err := conn.Write(raw(1000, 1, byte(kindRequest), 1)); err != nil {
				t.Fatal(err)
			}
			eventually(t, "server to see the connection", func() bool { return s.numConns() == 1 })
			closed := make(chan error, 1)
			go func() {
				conn.SetReadDeadline(time.Now().Add(testTimeout))
				_, err := conn.Read(make([]byte, 16))
				closed <- err
			}()
			for sent := 0; ; sent++ {
				select {
				case err := <-closed:
					if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("connection with a stalled frame still open after %v (%v)", testTimeout, err)
					}
					eventually(t, "server to forget the connection", func() bool { return s.numConns() == 0 })
					return
				case <-time.After(20 * time.Millisecond):
				}
				if drip && sent < 900 {
					conn.Write([]byte{0}) // never completes the frame within the test
				}
			}
		})
	}
}

// TestMaxFrameSizeDefault: with the default config a frame announcing more
// than 64 MiB is refused before anything is allocated, closing the
// connection.
func TestMaxFrameSizeDefault(t *testing.T) {
	if DefaultConfig().MaxFrameSize != 64<<20 {
		t.Fatalf("default MaxFrameSize %d, want 64 MiB", DefaultConfig().MaxFrameSize)
	}
	s := startServer(t, echo, Config{})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(raw(64<<20+1, 1, byte(kindRequest), 1)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Read(make([]byte, 16)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after an oversized frame: %v", err)
	}
}
