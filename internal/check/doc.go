// Package check holds Jepsen-style checkers for dynkv's fault-injection
// harnesses: each takes a recorded history (what clients asked, what they
// were told, what was read at the end) and says whether it is one the store is
// allowed to produce, with the offending elements, values, keys or requests
// sorted so that a failure reads the same on every run.
//
// # What it owns
//
//   - CheckSet: the grow-only set workload (Jepsen "set" and "set-full"):
//     no acknowledged element lost, no element read that nobody added, and
//     the stable latency of each acknowledged element, our measured
//     t-visibility. EncodeElements, DecodeElements and UnionSiblings fix the
//     value encoding so every harness writes and reads the same bytes.
//   - CheckConvergence: after quiescence every key's replicas hold identical
//     states (vclock.Set.Equal: same clock, same siblings), on as many nodes
//     as the key must have (Riak verify_aae).
//   - CheckSiblings: interleaved fetch/resolve/put on one key (Riak
//     sibling_explosion): nothing dropped without a write that saw it,
//     nothing superseded coming back, no invented values, a bounded number
//     of siblings.
//   - CheckQuorum and ParseReceipt: the quorum arithmetic of each request,
//     from its X-Dynkv-Replicas receipt (Riak pr_pw): no success without
//     enough acknowledgements, and fallbacks never counted as primaries.
//
// An operation's Outcome follows Jepsen: OK (acknowledged), Failed (the
// client was told it did not happen) and Unknown (a timeout or transport
// error: it may have happened). A Dynamo store may have applied a request
// that failed its quorum on some replica, so checkers treat Failed like
// Unknown wherever an effect is observed, and only OK operations can be lost.
//
// # Value encoding
//
// The set workload stores a key's elements in one value. The encoding is
// canonical, so that every harness writes the same bytes for the same set and
// a damaged or foreign value is refused rather than misread:
//
//   - the elements are sorted (bytewise) and deduplicated;
//   - each element is followed by '\n', so the empty set is the empty value
//     and the set holding only "" is "\n";
//   - inside an element, a backslash is written as `\\` and a newline as
//     `\n`; every other byte, '\r', NUL and invalid UTF-8 included, is
//     written as is.
//
// EncodeElements never fails, whatever bytes the elements hold, and
// DecodeElements accepts exactly the byte strings EncodeElements produces.
//
// # What it does not own
//
// It is pure logic: no I/O, no network, no goroutines, no clock. It does not
// run workloads, inject faults, talk to nodes, time operations or decide when
// a cluster has quiesced; the harnesses do (in-process simulated clusters and
// the real-process harness alike) and hand it what they recorded. A checker
// is only as good as its history: the time stamps, outcomes and final reads
// must be what the clients really saw, and final reads must be taken after
// quiescence (faults healed, writes stopped, replicas converged).
package check
