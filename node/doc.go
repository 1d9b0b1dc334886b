// Package node wires one dynkv node together: its configuration, identity
// and pebble store, gossip membership (hashicorp/memberlist) and the ring it
// derives, the RPC server and peer connections, the quorum coordinator, and
// the HTTP API of the contract in shared/api.md. It owns lifecycle: start,
// clean shutdown on SIGTERM, and the bookkeeping that lets a node restarted
// on its data dir rejoin under its name.
//
// Algorithms live elsewhere: placement in ring, versions in vclock, quorum
// counting and read repair in quorum. This package decides what to call with
// what, and translates between the wire (HTTP, RPC, gossip) and them.
package node
