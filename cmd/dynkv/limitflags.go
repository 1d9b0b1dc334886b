package main

import (
	"github.com/spf13/pflag"

	"github.com/dynkv/dynkv/node"
)

// limitFlags binds the flags of node.Limits: what protects a node from more
// work than it can take (README "Limits and failure behaviour").
func limitFlags(fs *pflag.FlagSet, l *node.Limits) {
	d := node.DefaultLimits()
	fs.IntVar(&l.MaxConcurrentRequests, "max-concurrent-requests", d.MaxConcurrentRequests, "HTTP requests served at once; more are refused at once with 503 overloaded and Retry-After: 1 (0: unlimited; /health is exempt)")
	fs.IntVar(&l.MaxHeaderBytes, "max-header-bytes", d.MaxHeaderBytes, "largest request header, bytes (larger: 431)")
	fs.Int64Var(&l.MaxBodyBytes, "max-body-size", d.MaxBodyBytes, "largest body of a request other than PUT /kv/ (those take --max-value-size), bytes (larger: 413)")
	fs.DurationVar(&l.ReadHeaderTimeout, "read-header-timeout", d.ReadHeaderTimeout, "time a client has to send a request's header")
	fs.DurationVar(&l.ReadTimeout, "read-timeout", d.ReadTimeout, "time a client has to send a whole request, body included")
	fs.DurationVar(&l.WriteTimeout, "write-timeout", d.WriteTimeout, "time to write a response (0: --max-timeout plus 10s)")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", d.IdleTimeout, "close a client's keep-alive connection idle this long")
	fs.DurationVar(&l.RPCIdleTimeout, "rpc-idle-timeout", d.RPCIdleTimeout, "close a connection between nodes that carried no complete request this long (a peer stalled mid-frame included)")
	fs.IntVar(&l.MaxSiblings, "max-siblings", d.MaxSiblings, "refuse (409) a write that would leave a key with more siblings than this")
	fs.IntVar(&l.SiblingWarning, "sibling-warning", d.SiblingWarning, "count and list (GET /admin/conflicts) keys written with more siblings than this")
	fs.Int64Var(&l.MinFreeDisk, "min-free-disk", d.MinFreeDisk, "refuse writes (507) while the data directory's file system has fewer free bytes than this (0: no check)")
}
