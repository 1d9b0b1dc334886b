package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dynkv/dynkv/bench"
)

// benchOpsOnlyDuration bounds a run given only --ops: a run is never
// unbounded in time.
const benchOpsOnlyDuration = time.Hour

// benchFlags are the flags of `dynkv bench` that are not Config fields.
type benchFlags struct {
	endpoints  *string
	valueSize  string
	jsonFile   string
	htmlFile   string
	cpuProfile string
	quiet      bool
}

func newBenchFlagSet(stderr io.Writer, cfg *bench.Config) (*pflag.FlagSet, *benchFlags) {
	fs, endpoints := newClientFlagSet("bench", "", stderr)
	f := &benchFlags{endpoints: endpoints}
	fs.StringVar(&cfg.Workload, "workload", cfg.Workload, "YCSB core workload: a (50% read/50% update), b (95/5), c (read only), d (read latest, 5% insert), f (read-modify-write), custom")
	fs.Float64Var(&cfg.ReadRatio, "read-ratio", cfg.ReadRatio, "fraction of reads of the custom workload, the rest updates (implies --workload custom)")
	fs.StringVar(&cfg.Distribution, "distribution", "", "key choice: uniform, zipfian (scrambled, θ=0.99) or latest (default: latest for d, zipfian otherwise)")
	fs.IntVar(&cfg.Keys, "keys", cfg.Keys, "number of keys the run starts with")
	fs.StringVar(&cfg.KeyPrefix, "key-prefix", cfg.KeyPrefix, "prefix of every key name")
	fs.StringVar(&f.valueSize, "value-size", cfg.ValueSize.String(), "value size in bytes, fixed (1024) or a uniform range (512-2048)")
	fs.BoolVar(&cfg.Load, "load", false, "write every key once before the measured run")
	fs.BoolVar(&cfg.LoadOnly, "load-only", false, "run the load phase only, no measured run")
	fs.DurationVar(&cfg.LoadTimeout, "load-timeout", cfg.LoadTimeout, "give up on the load phase after this long")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "workers: requests in flight (closed loop), or the most in flight (open loop)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: schedule this many ops/s and measure latency from each op's scheduled start (0: closed loop)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the measured run")
	fs.Int64Var(&cfg.Ops, "ops", 0, "stop after this many operations (whichever of --ops and --duration comes first; --ops alone caps the run at 1h)")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "how long operations still scheduled or in flight may finish after --duration")
	fs.IntVar(&cfg.R, "r", 0, "replicas that must answer a read (default: the node's --r)")
	fs.IntVar(&cfg.PR, "pr", 0, "primary replicas that must answer a read")
	fs.IntVar(&cfg.W, "w", 0, "replicas that must acknowledge a write (default: the node's --w)")
	fs.IntVar(&cfg.PW, "pw", 0, "primary replicas that must acknowledge a write")
	fs.BoolVar(&cfg.Sync, "sync", false, "writes are acknowledged only once on disk (fsync)")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "how long a node waits for the quorum, e.g. 500ms (default: the node's)")
	fs.BoolVar(&cfg.MeasureStaleness, "measure-staleness", false, "version every value and check every read against the latest acknowledged write (stale fraction, t-visibility)")
	fs.StringVar(&f.jsonFile, "json", "", "write the full result as JSON to this file")
	fs.StringVar(&f.htmlFile, "html", "", "write a self-contained HTML report with charts to this file")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "timeline bucket and progress line period")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed for keys and operations (0: random; the result records it)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process to this file")
	return fs, f
}

// finishBenchConfig applies what depends on which flags were given.
func finishBenchConfig(fs *pflag.FlagSet, f *benchFlags, cfg *bench.Config) error {
	vs, err := bench.ParseValueSize(f.valueSize)
	if err != nil {
		return err
	}
	cfg.ValueSize = vs
	if fs.Changed("read-ratio") {
		if fs.Changed("workload") && cfg.Workload != bench.WorkloadCustom {
			return fmt.Errorf("--read-ratio sets the custom workload; it cannot be combined with --workload %s", cfg.Workload)
		}
		cfg.Workload = bench.WorkloadCustom
	}
	if fs.Changed("ops") && !fs.Changed("duration") {
		cfg.Duration = benchOpsOnlyDuration
	}
	return cfg.Validate()
}

func runBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	fs, f := newBenchFlagSet(stderr, &cfg)
	if _, code, ok := parseClientArgs(fs, "bench", args, 0, stderr); !ok {
		return code
	}
	if err := finishBenchConfig(fs, f, &cfg); err != nil {
		fmt.Fprintf(stderr, "dynkv bench: %v\n", err)
		return 2
	}
	c, code := newCmdClient("bench", fs, stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	if !f.quiet {
		cfg.Progress = stderr
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := bench.New(cfg, c)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv bench: %v\n", err)
		return 2
	}
	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		fmt.Fprintf(stderr, "dynkv bench: %v\n", err)
		return 1
	}
	res, runErr := b.Run(ctx)
	stopProfile()
	res.Config.Endpoints = splitEndpoints(*f.endpoints)
	return reportBench(res, runErr, f, stdout, stderr)
}

// reportBench prints the summary and writes the requested files. The exit
// code is 1 when the load phase failed, the run was interrupted or a file
// could not be written.
func reportBench(res *bench.Result, runErr error, f *benchFlags, stdout, stderr io.Writer) int {
	code := 0
	if runErr != nil {
		fmt.Fprintf(stderr, "dynkv bench: %v\n", runErr)
		code = 1
	} else {
		_ = res.WriteText(stdout)
		if res.Interrupted {
			code = 1
		}
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer) error
	}{{f.jsonFile, res.WriteJSON}, {f.htmlFile, res.WriteHTML}} {
		if out.path == "" {
			continue
		}
		if err := writeFileWith(out.path, out.write); err != nil {
			fmt.Fprintf(stderr, "dynkv bench: %v\n", err)
			code = 1
		}
	}
	return code
}

func writeFileWith(path string, write func(io.Writer) error) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	err = write(fh)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// startCPUProfile starts profiling into path ("" does nothing) and returns
// the function that stops it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	fh, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(fh); err != nil {
		_ = fh.Close()
		return nil, errors.Join(fmt.Errorf("starting the CPU profile: %w", err), os.Remove(path))
	}
	return func() {
		pprof.StopCPUProfile()
		_ = fh.Close()
	}, nil
}

func splitEndpoints(s string) []string {
	var eps []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}
