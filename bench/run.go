package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynkv/dynkv/client"
)

// KV is what the bench needs of a store; *client.Client implements it.
// Implementations must be safe for concurrent use.
type KV interface {
	Get(ctx context.Context, key string, opts ...client.Option) (*client.Object, error)
	Put(ctx context.Context, key string, value []byte, opts ...client.Option) (*client.WriteResult, error)
}

// Bench runs one configured benchmark against a KV.
type Bench struct {
	cfg        Config
	kv         KV
	clk        clock
	log        *slog.Logger
	mix        mix
	seed       uint64
	nonce      uint32
	ins        *insertCounter
	stale      *staleTracker // nil unless MeasureStaleness
	values     *valueMaker
	zetaLatest float64 // zeta(Keys, θ) for the latest distribution
	readOpts   []client.Option
	writeOpts  []client.Option
}

// New validates cfg and prepares a run against kv.
func New(cfg Config, kv KV) (*Bench, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := &Bench{cfg: cfg, kv: kv, clk: newRealClock(), log: cfg.Logger, mix: mixOf(&cfg), seed: cfg.Seed}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.log = b.log.With("subsystem", "bench")
	if b.seed == 0 {
		b.seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(b.seed, 0))
	b.nonce = rng.Uint32()
	b.ins = newInsertCounter(uint64(cfg.Keys))
	b.values = newValueMaker(cfg.ValueSize, cfg.MeasureStaleness, rng)
	if cfg.MeasureStaleness {
		b.stale = newStaleTracker(cfg.VisibilityBuckets)
	}
	if cfg.distribution() == DistLatest {
		b.zetaLatest = zetaRange(0, uint64(cfg.Keys), zipfTheta, 0)
	}
	b.readOpts, b.writeOpts = requestOptions(&cfg)
	return b, nil
}

// requestOptions turns the quorum settings into client options, sending
// only what was set so that the node's defaults apply otherwise.
func requestOptions(c *Config) (read, write []client.Option) {
	if c.R > 0 {
		read = append(read, client.R(c.R))
	}
	if c.PR > 0 {
		read = append(read, client.PR(c.PR))
	}
	if c.W > 0 {
		write = append(write, client.W(c.W))
	}
	if c.PW > 0 {
		write = append(write, client.PW(c.PW))
	}
	if c.Sync {
		write = append(write, client.Sync(true))
	}
	if c.Timeout > 0 {
		read = append(read, client.Timeout(c.Timeout))
		write = append(write, client.Timeout(c.Timeout))
	}
	return read, write
}

// Run runs the load phase (if configured) and the measured run, and
// returns the result. A cancelled ctx ends the run early: the result then
// covers what was done and says Interrupted. An error means the load phase
// failed and there is no measured run.
func (b *Bench) Run(ctx context.Context) (*Result, error) {
	res := newResult(&b.cfg, b.seed, time.Now())
	if b.cfg.Load || b.cfg.LoadOnly {
		cpu0 := cpuTime()
		load, err := b.load(ctx)
		load.CPUSeconds = (cpuTime() - cpu0).Seconds()
		res.Load = load
		if err != nil || b.cfg.LoadOnly {
			res.Interrupted = ctx.Err() != nil
			return res, err
		}
	}
	cpu0 := cpuTime()
	rec, p, elapsed := b.runPhase(ctx)
	res.fill(b, rec, p, elapsed, cpuTime()-cpu0)
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

func (b *Bench) runPhase(ctx context.Context) (*recorder, *pacer, time.Duration) {
	start := b.clk.now()
	p := &pacer{clk: b.clk, rate: b.cfg.Rate, start: start, stop: start + b.cfg.Duration, ops: b.cfg.Ops}
	rec := newRecorder(start)
	runCtx, cancel := context.WithTimeout(ctx, b.cfg.Duration+b.cfg.Drain)
	defer cancel()
	stopTicker := b.startTicker(rec, b.runProgress(rec))
	var wg sync.WaitGroup
	for i := range b.cfg.Concurrency {
		w := b.newWorker(i, rec)
		wg.Go(func() { w.loop(runCtx, p) })
	}
	wg.Wait()
	end := b.clk.now()
	stopTicker(end)
	return rec, p, end - start
}

// load writes every key of the key space once.
func (b *Bench) load(ctx context.Context) (*LoadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.LoadTimeout)
	defer cancel()
	start := b.clk.now()
	rec := newRecorder(start)
	total := int64(b.cfg.Keys)
	var next atomic.Int64
	stopTicker := b.startTicker(rec, b.loadProgress(rec, total))
	var wg sync.WaitGroup
	for i := range min(b.cfg.Concurrency, b.cfg.Keys) {
		w := b.newWorker(i, rec)
		wg.Go(func() {
			for k := next.Add(1) - 1; k < total && ctx.Err() == nil; k = next.Add(1) - 1 {
				t0 := b.clk.now()
				err := w.write(ctx, uint64(k), "")
				rec.done(opInsert, classify(ctx, err), b.clk.now()-t0)
			}
		})
	}
	wg.Wait()
	end := b.clk.now()
	stopTicker(end)
	res := newLoadResult(rec, total, end-start)
	if res.Written+res.Errors < total {
		return res, fmt.Errorf("load phase stopped after %v with %d of %d keys written: %w",
			(end - start).Round(time.Millisecond), res.Written, total, context.Cause(ctx))
	}
	if res.Errors > 0 {
		b.log.Warn("load phase had errors: those keys read as not found", "errors", res.Errors, "keys", total)
	}
	return res, nil
}

// startTicker closes a timeline interval every cfg.Interval and hands it
// to progress. The returned stop closes the last, partial interval at end.
func (b *Bench) startTicker(rec *recorder, progress func(TimelinePoint)) (stop func(end time.Duration)) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(b.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				progress(rec.tick(b.clk.now()))
			case <-quit:
				return
			}
		}
	})
	return func(end time.Duration) {
		close(quit)
		wg.Wait()
		if end <= rec.intervalStart() {
			return
		}
		if p, isNew := rec.finish(end, b.cfg.Interval/2); isNew {
			progress(p)
		}
	}
}

func (b *Bench) runProgress(rec *recorder) func(TimelinePoint) {
	if b.cfg.Progress == nil {
		return func(TimelinePoint) {}
	}
	return func(p TimelinePoint) {
		byKind, total, _ := rec.errorTotals()
		fmt.Fprintf(b.cfg.Progress, "%7.1fs %9.0f ops/s  p99 %7.2fms  p99 so far %7.2fms  errors %d (404 %d, 503 %d, 504 %d, transport %d, other %d)\n",
			p.TimeS, p.OpsPerSec, p.P99MS, p.P99SoFarMS, total, byKind["not_found"],
			byKind["unavailable_503"], byKind["timeout_504"], byKind["transport"], byKind["other"])
	}
}

func (b *Bench) loadProgress(rec *recorder, total int64) func(TimelinePoint) {
	if b.cfg.Progress == nil {
		return func(TimelinePoint) {}
	}
	return func(p TimelinePoint) {
		_, errs, _ := rec.errorTotals()
		done := rec.successes() + errs
		fmt.Fprintf(b.cfg.Progress, "load %7.1fs %d/%d keys (%.0f%%) %9.0f keys/s  errors %d\n",
			p.TimeS, done, total, 100*float64(done)/float64(total), p.OpsPerSec, errs)
	}
}

// key is the name of key number k.
func (b *Bench) key(k uint64) string { return b.cfg.KeyPrefix + strconv.FormatUint(k, 10) }

// worker is one concurrent client of the run; it owns its random source
// and key chooser, which are not safe for concurrent use.
type worker struct {
	b      *Bench
	rng    *rand.Rand
	keys   keyChooser
	rec    *recorder
	writer uint64
	seqs   []uint64 // scratch: the versions a read returned
}

func (b *Bench) newWorker(id int, rec *recorder) *worker {
	w := &worker{b: b, rec: rec, writer: writerID(b.nonce, id),
		rng: rand.New(rand.NewPCG(b.seed, uint64(id)+1))}
	switch b.cfg.distribution() {
	case DistUniform:
		w.keys = uniformKeys{ins: b.ins}
	case DistLatest:
		w.keys = newLatestKeys(b.ins, b.zetaLatest)
	default:
		w.keys = newScrambledKeys(b.ins)
	}
	return w
}

// loop runs operations as the pacer hands them out until it has no more
// or ctx ends.
func (w *worker) loop(ctx context.Context, p *pacer) {
	clk := w.b.clk
	for ctx.Err() == nil {
		_, due, ok := p.take()
		if !ok {
			return
		}
		if p.rate > 0 && clk.sleepUntil(ctx, due) != nil {
			return
		}
		started := clk.now()
		if p.rate > 0 {
			w.rec.startLag(started - due)
		}
		o := w.b.mix.choose(w.rng.Float64())
		err := w.do(ctx, o)
		w.rec.done(o, classify(ctx, err), p.latency(due, started, clk.now()))
	}
}

func (w *worker) do(ctx context.Context, o op) error {
	switch o {
	case opUpdate:
		return w.write(ctx, w.keys.next(w.rng), "")
	case opInsert:
		k := w.b.ins.take()
		err := w.write(ctx, k, "")
		w.b.ins.complete(k)
		return err
	case opRMW:
		return w.readModifyWrite(ctx, w.keys.next(w.rng))
	default:
		_, err := w.read(ctx, w.keys.next(w.rng))
		return err
	}
}

// read gets key k and, when staleness is measured, judges what came back.
func (w *worker) read(ctx context.Context, k uint64) (*client.Object, error) {
	st := w.b.stale
	var snap readSnap
	if st != nil {
		snap = st.beginRead(k, w.b.clk.now())
	}
	obj, err := w.b.kv.Get(ctx, w.b.key(k), w.b.readOpts...)
	if st != nil && (err == nil || errors.Is(err, client.ErrNotFound)) {
		w.seqs = w.seqs[:0]
		if obj != nil {
			for _, s := range obj.Siblings {
				w.seqs = append(w.seqs, parseHeader(s.Value, w.b.nonce))
			}
		}
		st.endRead(k, snap, w.seqs, err == nil)
	}
	return obj, err
}

// write puts a new value under key k, superseding causal ("" is blind).
func (w *worker) write(ctx context.Context, k uint64, causal string) error {
	st := w.b.stale
	var seq uint64
	var start time.Duration
	if st != nil {
		start = w.b.clk.now()
		seq = st.beginWrite(k, start)
	}
	opts := w.b.writeOpts
	if causal != "" {
		opts = append(opts[:len(opts):len(opts)], client.WithContext(causal))
	}
	_, err := w.b.kv.Put(ctx, w.b.key(k), w.b.values.make(w.rng, seq, w.writer), opts...)
	if st != nil {
		st.endWrite(k, seq, start, w.b.clk.now(), err == nil)
	}
	return err
}

// readModifyWrite reads key k and writes a new value back with the read's
// context (YCSB F), so the write supersedes exactly what was read.
func (w *worker) readModifyWrite(ctx context.Context, k uint64) error {
	obj, err := w.read(ctx, k)
	var causal string
	var notFound *client.Error
	switch {
	case err == nil:
		causal = obj.Context
	case errors.As(err, &notFound) && errors.Is(err, client.ErrNotFound):
		causal = notFound.Context // a tombstone's context, or blind
	default:
		return err
	}
	return w.write(ctx, k, causal)
}
