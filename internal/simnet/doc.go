// Package simnet is one simulated network for in-process multi-node tests,
// shared by memberlist (gossip) and internal/rpc (replication), so that both
// see the same faults. A classic bug source is gossip calling a node alive
// while the data plane cannot reach it, or the reverse; with one network the
// two agree unless a test makes them differ on purpose (Only).
//
// # What it owns: the fate of every message
//
// Every gossip packet, gossip stream dial, RPC request and RPC reply is one
// message from a node to a node, and the network decides its fate when it is
// sent: dropped (Block, Partition, Bridge, Cut, Isolate, SetLoss), duplicated
// (SetDup), delayed (SetDelay, SetNodeDelay; random delays reorder) or held
// (Pause, until Resume). All faults are directional at the message level: a
// request and its reply are two messages and each obeys the link it travels.
// Faults are keyed by node name; AddNode hands out the fake addresses
// ("10.77.0.1:7946" for gossip, "10.77.0.1:7000" for RPC) and every fault
// method accepts an address in place of a name.
//
// A fault applies to messages sent after it; a message already delayed on the
// wire still arrives. Held messages are checked again when released: one whose
// link is blocked by then is dropped.
//
// Gossip: Gossip(name) plugs a memberlist.NodeAwareTransport into a
// memberlist.Config. Packets are UDP-like: best effort, silently lost when
// nothing is bound at the address or its queue is full. Streams are net.Pipe
// pairs; a dial is refused at once when nothing is bound at the address, times
// out (after the dial's timeout) when the link is down in either direction,
// and succeeds when the peer is paused (the peer sees the stream on Resume).
// Loss and duplication do not apply to streams (TCP retransmits). Once open,
// a stream is not cut by later faults; memberlist's streams are short and
// carry deadlines.
//
// RPC: RPC() satisfies node.RPCNetwork. Errors look as they do over TCP: a
// call to an address nobody listens on fails at once with rpc.ErrUnreachable;
// a lost request or reply is silent and the call ends with its ctx (an error
// wrapping context.DeadlineExceeded); a handler's error arrives as
// *rpc.RemoteError; closing a listener fails the calls it was serving with
// rpc.ErrUnreachable; closing a client fails its calls with rpc.ErrClosed.
// Handlers run in their own goroutine with the caller's remaining time as
// deadline, and bodies are copied both ways. A duplicated request runs the
// handler twice; the caller takes the first reply.
//
// # Determinism
//
// All randomness comes from one PCG generator seeded by New and drawn under
// one lock, in a fixed order per message (loss, duplication, one delay per
// copy), so the same seed and the same sequence of sends and fault calls give
// the same decisions; SetTrace shows them. Goroutine scheduling is not
// deterministic, so in a running cluster the order of sends, and with it which
// message gets which draw, varies: what replays is the fault schedule (the
// seed and Log), not every message. Wall-clock timers drive delays; the
// package does not use testing/synctest itself but holds no global state that
// would stop a test from running a Net inside a bubble.
//
// # What it does not own
//
// Node lifecycle: starting, killing and restarting nodes is the caller's (a
// killed node closes its listener and shuts its memberlist down; Note records
// such events in Log). Scenario schedules: which fault when, and what to check
// afterwards, belong to the tests. A paused node's goroutines keep running,
// only its traffic stops. Net.Close stops the network's timers and fails calls
// in flight; listeners and transports stay the caller's to close.
package simnet
