// Package rpc is dynkv's node-to-node request/response transport.
//
// It owns framing, persistent pipelined TCP connections (a small pool per peer, dialed
// lazily, redialed after a failure), the caller's deadline carried to the handler, and
// MemNetwork, an in-memory network with partitions, drops, delays and refused addresses
// for multi-node tests in one process. Client and MemNetwork.Client implement Transport;
// Server and MemNetwork.Listen serve a Handler.
//
// It does not know what bodies mean: the node package encodes them (msgpack) and picks
// the method numbers. It never retries a call that may have reached the peer, and it does
// not decide that a peer is down; ErrUnreachable and deadline errors are facts for the
// caller (quorum, hinted handoff) to interpret. A call that fails with either may have
// been served.
//
// # Frame format
//
// All integers are big-endian.
//
//	length   uint32   bytes that follow: header + body; at most Config.MaxFrameSize
//	id       uint64   chosen by the client, unique per connection; echoed in the reply
//	kind     uint8    1 request, 2 response, 3 error response
//	method   uint8    chosen by the layer above; echoed in the reply
//	timeout  uint64   requests only: the caller's remaining time in ns, 0 = no deadline
//	body     []byte   opaque; for an error response, the handler's error text
//
// So a request header is 18 bytes after the prefix and a reply header 10. A relative
// timeout rather than an absolute deadline keeps the nodes' clocks out of it; the
// handler's deadline is later than the caller's by the one-way latency, which is harmless
// because the caller gives up at its own deadline.
//
// # Connections
//
// Any number of requests may be in flight on one connection. The server serves each in
// its own goroutine and writes replies in completion order; the client's reader matches
// them to calls by id, and drops a reply whose call already gave up. Writers batch: frames
// are copied into a buffer and one goroutine per connection writes everything queued since
// its last write in one system call.
//
// A frame that cannot be parsed or exceeds MaxFrameSize closes that connection (logged);
// calls pending on it fail with ErrUnreachable, and the server keeps serving its other
// connections. Beyond MaxInFlightPerConn requests in flight the server stops reading the
// connection, so TCP flow control pushes back on the client.
//
// # TLS
//
// With Config.ServerTLS a Server speaks TLS only, and with Config.ClientTLS a Client
// dials TLS; dynkv sets both for mutual TLS between nodes, so that only holders of a
// certificate signed by the cluster's CA can reach a handler. The server completes each
// handshake in a goroutine of its own, bounded by HandshakeTimeout, so a client that
// stalls cannot hold up the accept loop; a failed handshake (no or untrusted
// certificate, a plaintext client) closes the connection and is logged. Frames inside
// the TLS stream are unchanged.
package rpc
