// Command otherkv runs the workloads of dynkv's bench package against
// other stores, so that scripts/compare.sh can measure them with the same
// generator, mix, key distribution and latency accounting as dynkv:
//
//	go run ./scripts/otherkv --target etcd  --endpoints 127.0.0.1:2379,... [bench flags]
//	go run ./scripts/otherkv --target redis --endpoints 127.0.0.1:6379     [bench flags]
//
// etcd is reached through its JSON gateway (POST /v3/kv/put and
// /v3/kv/range, linearizable reads), which costs etcd a JSON-to-gRPC hop
// in-process; redis through RESP (GET/SET) on one connection per worker.
// It is a measuring aid for the comparison, not part of dynkv.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynkv/dynkv/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	fs := pflag.NewFlagSet("otherkv", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "etcd or redis")
	endpoints := fs.String("endpoints", "", "comma-separated host:port of the store")
	valueSize := fs.String("value-size", "1024", "value size in bytes, or a range 512-2048")
	jsonFile := fs.String("json", "", "write the result as JSON to this file")
	fs.StringVar(&cfg.Workload, "workload", cfg.Workload, "a, b, c, d or f (f needs contexts: etcd and redis run it as blind writes)")
	fs.IntVar(&cfg.Keys, "keys", cfg.Keys, "number of keys")
	fs.BoolVar(&cfg.Load, "load", false, "write every key once first")
	fs.BoolVar(&cfg.LoadOnly, "load-only", false, "only write every key once")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "workers")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop ops/s (0: closed loop)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the measured run")
	quiet := fs.Bool("quiet", false, "no progress lines")
	summary := fs.String("summary", "", "print 'ops_per_sec p50_ms p99_ms cpu_seconds ops_total' of a result JSON file and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *summary != "" {
		return printSummary(*summary, stdout, stderr)
	}
	vs, err := bench.ParseValueSize(*valueSize)
	if err != nil {
		fmt.Fprintln(stderr, "otherkv:", err)
		return 2
	}
	cfg.ValueSize = vs
	if !*quiet {
		cfg.Progress = stderr
	}
	kv, err := newTarget(*target, strings.Split(*endpoints, ","), cfg.Concurrency)
	if err != nil {
		fmt.Fprintln(stderr, "otherkv:", err)
		return 2
	}
	defer kv.Close()
	return runBench(ctx, cfg, kv, *target, *jsonFile, stdout, stderr)
}

type target interface {
	bench.KV
	Close()
}

func newTarget(name string, endpoints []string, conns int) (target, error) {
	switch name {
	case "etcd":
		return newEtcdKV(endpoints, conns), nil
	case "redis":
		return newRedisKV(endpoints[0], conns), nil
	}
	return nil, errors.New("--target must be etcd or redis")
}

func runBench(ctx context.Context, cfg bench.Config, kv target, name, jsonFile string, stdout, stderr io.Writer) int {
	b, err := bench.New(cfg, kv)
	if err != nil {
		fmt.Fprintln(stderr, "otherkv:", err)
		return 2
	}
	res, err := b.Run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "otherkv:", err)
		return 1
	}
	fmt.Fprintf(stdout, "target %s\n", name)
	_ = res.WriteText(stdout)
	if jsonFile == "" {
		return 0
	}
	fh, err := os.Create(jsonFile)
	if err == nil {
		err = errors.Join(res.WriteJSON(fh), fh.Close())
	}
	if err != nil {
		fmt.Fprintln(stderr, "otherkv:", err)
		return 1
	}
	return 0
}

// requestTimeout bounds one request to a store that stopped answering.
const requestTimeout = 10 * time.Second

// printSummary prints the headline numbers of a bench JSON result, for
// compare.sh's table.
func printSummary(path string, stdout, stderr io.Writer) int {
	data, err := os.ReadFile(path)
	var res bench.Result
	if err == nil {
		err = json.Unmarshal(data, &res)
	}
	if err != nil {
		fmt.Fprintln(stderr, "otherkv:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%.0f %.2f %.2f %.2f %d\n", res.OpsPerSec, res.All.P50MS, res.All.P99MS, res.CPUSeconds, res.OpsTotal)
	return 0
}
