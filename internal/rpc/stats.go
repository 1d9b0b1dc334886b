package rpc

import (
	"sync"
	"sync/atomic"
)

// Stats describes one side (client or server) of a node's RPC traffic, for
// monitoring. Frame counts cover connections closed since, too.
type Stats struct {
	OpenConns      int64  // connections open now
	InFlight       int64  // requests sent and not yet answered (client), being served (server)
	FramesSent     uint64 // requests (client) or replies (server) queued for sending
	FramesReceived uint64 // replies (client) or requests (server) read
}

// retiredTraffic sums the frames of closed connections, so that the totals
// never go back when a connection closes. mu orders retiring a connection
// with a Stats sum, so that none is counted twice or missed.
type retiredTraffic struct {
	mu             sync.Mutex
	sent, received uint64
}

func (r *retiredTraffic) add(sent, received uint64) {
	r.sent += sent
	r.received += received
}

// Stats returns the client's connection and frame counts.
func (c *Client) Stats() Stats {
	c.retired.mu.Lock()
	defer c.retired.mu.Unlock()
	st := Stats{FramesSent: c.retired.sent, FramesReceived: c.retired.received}
	for _, p := range *c.peers.Load() {
		for i := range p.slots {
			cc := p.slots[i].conn.Load()
			if cc == nil {
				continue
			}
			if !cc.dead.Load() {
				st.OpenConns++
			}
			st.FramesSent += cc.w.sentFrames()
			st.FramesReceived += cc.received.Load()
			cc.mu.Lock()
			st.InFlight += int64(len(cc.pending))
			cc.mu.Unlock()
		}
	}
	return st
}

// Stats returns the server's connection and frame counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{FramesSent: s.retired.sent, FramesReceived: s.retired.received, OpenConns: int64(len(s.conns))}
	for sc := range s.conns {
		st.FramesSent += sc.w.sentFrames()
		st.FramesReceived += sc.frames.Load()
		st.InFlight += int64(len(sc.sem))
	}
	return st
}

// frameCounter counts frames read by one goroutine.
type frameCounter = atomic.Uint64
