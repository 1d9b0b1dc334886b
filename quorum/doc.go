// Package quorum is dynkv's request coordinator: it fans one read or write
// out to a key's replicas, counts answers against R/PR (reads) or W/PW
// (writes), enforces the request deadline, merges what the replicas
// returned and decides which replicas need a read repair.
//
// A replica is reached through the Replicas interface, declared here by its
// consumer; the node package implements it over the local store and RPC, and
// tests implement it with fakes. The coordinator does not choose replicas (the
// caller passes the targets, from the ring and gossip), does not issue
// version dots (the node does, through vclock, before calling Write) and knows
// nothing of HTTP.
//
// Counting rules, as in Dynamo and Riak:
//   - A replica that answers "not found" has replied: it counts toward R.
//   - A replica that refuses, fails or times out counts as down for this
//     request, whatever gossip says; one marked Down is not asked at all.
//   - PR and PW count only primaries (targets in the preference list), never
//     fallbacks.
//   - A request fails as soon as the remaining replicas can no longer meet
//     its quorum (ErrUnmet) and, failing that, when its deadline passes
//     (ErrTimeout). A failed write may still have reached some replicas.
//   - After answering, the coordinator keeps the remaining requests going
//     until the deadline (writes are always sent to every target) and a read
//     keeps listening a short while to repair late, stale replicas.
package quorum
