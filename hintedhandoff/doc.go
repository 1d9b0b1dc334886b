// Package hintedhandoff keeps the writes meant for a replica that was down
// and hands them over when it returns: Dynamo's sloppy quorum. A node that
// stands in for a down replica (a fallback), or a coordinator with no
// fallback to turn to, records the version as a hint for the intended node;
// hints are durable (the Store is pebble, behind an interface), merged per
// key, bounded in age (the hint window) and total size, and delivered in
// rate-limited batches once gossip reports the target alive. A delivered
// hint is merged on the target like any replica write and then deleted, only
// if no newer hint for the key arrived meanwhile.
//
// It does not choose fallbacks (the ring orders them, the quorum coordinator
// picks them), does not reach peers itself (Peers, implemented by the node
// over RPC and gossip) and does not store anything itself (Store).
package hintedhandoff
