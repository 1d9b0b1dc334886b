// Package vclock tracks causality for one key with server-side dotted version
// vectors, in the "causal context + dot store" form of DVV sets (Almeida et
// al., "Scalable and Accurate Causality Tracking for Eventually Consistent
// Stores", and Riak's dvvset).
//
// # Model
//
// A replica's state for a key is a Set: a version vector Clock, the causal
// context, recording every write the replica has seen for the key; and the
// Siblings, the values no write seen here has superseded, each tagged with the
// Dot (actor, counter) of the write that created it. A read returns the
// siblings and the clock, which the client hands back, opaque (EncodeContext),
// with its next write. Set.Update then issues a new dot and drops exactly the
// siblings that context covers: those the client saw and is replacing. Siblings
// it did not see stay, as concurrent versions. Merge joins two replicas'
// states: a sibling one side holds survives unless the other side's clock has
// seen it and no longer holds it, which means a write there superseded it.
//
// The dot is what makes this exact with one vector entry per replica: a plain
// per-replica version vector cannot tell two concurrent writes coordinated by
// the same replica from two sequential ones, so it either loses one or, in
// Riak's "sibling explosion", keeps every stale version as a sibling forever.
//
// # Actors
//
// Actors are server-side: one per coordinating replica, not per client, so a
// clock has at most one entry per store that ever coordinated a write to the
// key and needs no pruning (pruning client entries makes ordered writes look
// concurrent or concurrent ones ordered). An actor is a random non-zero
// 64-bit id issued per store incarnation: when a node starts with an empty or
// new store it draws a new id and never reuses the old one. A node that lost
// its data but kept its id would restart its counters and issue dots that
// other replicas have already seen and superseded; they would silently drop
// the new writes (Riak issue KV679). A fresh id per incarnation makes every
// dot it issues new. Update also takes the counter from the maximum of its
// own clock and the client's context, so it never reissues a dot a client has
// seen.
//
// # What this package does not own
//
// It is pure logic: no I/O, time or networking, and it imports nothing of the
// project. The node generates and persists the actor id, stores sets (their
// msgpack encoding is here), decides which replica coordinates a write,
// enforces size limits (Set.Size gives the figure) and reaps tombstones once
// every replica holds them and a grace period has passed. Resolving siblings into one
// value is the client's business.
//
// Contexts are not authenticated here. Update trusts a context as the
// client's causal past and folds it into the key's clock, so a forged one can
// make a write supersede versions its client never saw, add entries to the
// clock, or raise a counter to MaxCounter so that the key's later contexts no
// longer decode. DecodeContext only guarantees that garbage cannot crash or
// exhaust the server. If clients are not trusted, the node should seal
// contexts (for example with an HMAC) around EncodeContext.
package vclock
