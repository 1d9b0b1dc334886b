package rpc

import (
	"context"
	"testing"
)

// TestStats: connections, requests in flight and frames are counted on both
// sides, and frame totals survive the connection closing.
func TestStats(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	s := startServer(t, HandlerFunc(func(_ context.Context, method uint8, body []byte) ([]byte, error) {
		if method == 9 {
			started <- struct{}{}
			<-release
		}
		return body, nil
	}), Config{IdleTimeout: -1})
	c := newTestClient(t, Config{ConnsPerPeer: 1, IdleTimeout: -1})
	for range 3 {
		mustCall(t, c, s.Addr(), 1, []byte("x"), []byte("x"))
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(timeoutCtx(t, testTimeout), s.Addr(), 9, nil)
		done <- err
	}()
	<-started
	cs, ss := c.Stats(), s.Stats()
	want := Stats{OpenConns: 1, InFlight: 1, FramesSent: 4, FramesReceived: 3}
	if cs != want {
		t.Errorf("client stats %+v, want %+v", cs, want)
	}
	if want := (Stats{OpenConns: 1, InFlight: 1, FramesSent: 3, FramesReceived: 4}); ss != want {
		t.Errorf("server stats %+v, want %+v", ss, want)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Close()
	eventually(t, "server saw the close", func() bool { return s.numConns() == 0 })
	if got, want := c.Stats(), (Stats{FramesSent: 4, FramesReceived: 4}); got != want {
		t.Errorf("client stats after close %+v, want %+v", got, want)
	}
	eventually(t, "server totals kept", func() bool {
		return s.Stats() == Stats{FramesSent: 4, FramesReceived: 4}
	})
}
