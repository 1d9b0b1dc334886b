// Package client is the Go client of dynkv. It speaks only the public HTTP API
// (see api.md): keys, values, quorum options, sibling values and the opaque
// causal contexts that resolve them.
//
// A Client is safe for concurrent use and should be reused: it keeps
// connections alive and spreads requests over its endpoints, failing over to
// the next endpoint when one cannot be reached.
//
// Reads and writes differ in how they fail over. A read is retried on the next
// endpoint after any transport failure, because reading twice is harmless. A
// write is retried only when the connection could not be established, since a
// write that was sent and then lost may already have been applied, and sending
// it again would store a second, concurrent version (a sibling). Such a write
// returns an error that matches ErrAmbiguous.
//
// Conflicts are not resolved behind the caller's back. When concurrent writes
// left several versions, Get returns all of them as siblings with one context
// covering them; writing the merged value back with WithContext(obj.Context)
// supersedes them all.
//
// Nodes started with --tls-cert serve HTTPS: give their endpoints as
// https:// URLs and Config.CAFile the CA that signed their certificates.
// A certificate the client cannot verify, or a scheme that does not match
// what the node speaks, fails with an error matching ErrTLS; nothing was
// sent, so the client tries its next endpoint.
package client
