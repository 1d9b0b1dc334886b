// Command dynkv is the single binary of dynkv: it runs a node (serve), a local
// development cluster (dev), the client commands (get, put, delete, status) and
// the load generator (bench). It parses flags and calls into the packages that
// do the work; nothing else lives here.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `dynkv: a leaderless, Dynamo-style replicated key-value store

Usage:
  dynkv serve   --name n1 --data-dir DIR --http-addr H:P --rpc-addr H:P --gossip-addr H:P [--join SEEDS] ...
  dynkv dev     [--nodes 3] [--base-port 8001] [--data-dir ./dynkv-dev]
  dynkv get     [--endpoints H:P,...] [--r 2] KEY
  dynkv put     [--endpoints H:P,...] [--w 2] [--context CTX] KEY VALUE   (VALUE '-' reads stdin)
  dynkv delete  [--endpoints H:P,...] [--context CTX] KEY
  dynkv status  [--endpoints H:P,...]
  dynkv leave   --endpoints H:P          (that node hands its partitions over and leaves the ring)
  dynkv remove  --endpoints H:P NODE     (takes a dead node out of the ring for good)
  dynkv bench   [--endpoints H:P,...] [--workload a] [--keys N] [--load] [--concurrency 64 | --rate OPS/S] [--duration 30s] ...

Run 'dynkv COMMAND --help' for the flags of a command.
`

// command is one subcommand: it gets its arguments (after the command name)
// and returns the process exit code.
type command func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int

func commands() map[string]command {
	return map[string]command{
		"serve":  runServe,
		"dev":    runDev,
		"get":    runGet,
		"put":    runPut,
		"delete": runDelete,
		"status": runStatus,
		"leave":  runLeave,
		"remove": runRemove,
		"bench":  runBench,
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "dynkv: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(ctx, args[1:], stdin, stdout, stderr)
}
