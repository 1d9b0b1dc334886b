package quorum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// Replicas is how the coordinator reaches one replica of a key, local or
// remote. Implementations must honour ctx's deadline and cancellation.
type Replicas interface {
	// Read returns the replica's sibling set for key; found is false when the
	// replica holds nothing for it (that is an answer, not an error). The
	// set's values may share memory with the implementation's buffers (a
	// cache, a reply body), which must then never change: the coordinator
	// and its callers only read them, and the merge of several replies
	// (ReadResult.Set) shares them too.
	Read(ctx context.Context, t Target, partition int, key []byte) (set vclock.Set, found bool, err error)
	// Write merges set into the replica's state for key (or, for a target
	// with HintFor, into its hint for that node); sync asks for it to be on
	// disk before the replica acknowledges. It must not modify set.
	Write(ctx context.Context, t Target, partition int, key []byte, set vclock.Set, sync bool) error
}

// EncodedWriter is an optional interface of Replicas: WriteEncoded is Write
// given also set's encoding (vclock.Set.MarshalBinary), which it must not
// modify, so that a write fanned out to several replicas is encoded once.
type EncodedWriter interface {
	WriteEncoded(ctx context.Context, t Target, partition int, key []byte, set vclock.Set, encoded []byte, sync bool) error
}

// Target is one replica a request goes to.
type Target struct {
	Node    string
	Primary bool // in the key's preference list; fallbacks never count toward PR/PW
	Down    bool // known down: counted as failed without sending anything
	// HintFor names the primary a fallback stands in for: a write to this
	// target is stored as a hint for that node, a read also returns the hints
	// it holds for the key.
	HintFor string
}

// Config tunes a Coordinator.
type Config struct {
	// DefaultTimeout bounds a request whose context has no deadline.
	DefaultTimeout time.Duration
	// ReadRepair sends the merged version to replicas a read found stale.
	ReadRepair bool
	// LateReplyWait is how long a read keeps listening, after answering, for
	// the replicas that had not replied yet, to repair them too.
	LateReplyWait time.Duration
	// FailSettle is how long a request that can no longer meet its quorum
	// waits for the answers in flight before failing, so its error counts
	// them.
	FailSettle time.Duration
	// RepairTimeout bounds one read-repair write.
	RepairTimeout time.Duration
	Logger        *slog.Logger
}

// DefaultConfig returns the coordinator settings dynkv serve uses.
func DefaultConfig() Config {
	return Config{
		DefaultTimeout: 5 * time.Second,
		ReadRepair:     true,
		LateReplyWait:  250 * time.Millisecond,
		FailSettle:     50 * time.Millisecond,
		RepairTimeout:  5 * time.Second,
	}
}

// Coordinator runs quorum requests. Background work (the tail of a write's
// fan-out, late read replies, read repairs) is tied to the coordinator's
// lifetime: Close waits for it, cancelling it if the caller cannot wait.
type Coordinator struct {
	reps   Replicas
	cfg    Config
	stats  counters
	life   context.Context
	cancel context.CancelFunc

	// Background work in flight. Not a WaitGroup: a request finishing
	// while Close waits may still start its tail, and WaitGroup forbids an
	// Add from zero concurrent with Wait (it panicked in the 1,000-seed
	// simulation run).
	mu      sync.Mutex
	idle    *sync.Cond // signalled when running drops to 0
	running int
}

// New returns a Coordinator that reaches replicas through reps.
func New(reps Replicas, cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultConfig().DefaultTimeout
	}
	life, cancel := context.WithCancel(context.Background())
	c := &Coordinator{reps: reps, cfg: cfg, life: life, cancel: cancel}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// Close waits for background work (the tail of writes, late replies and
// read repairs, each bounded by its request's deadline) to finish; if ctx
// ends first it cancels that work and waits for it to stop.
func (c *Coordinator) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		c.mu.Lock()
		for c.running > 0 {
			c.idle.Wait()
		}
		c.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		c.cancel()
		<-done
	}
	c.cancel()
}

// fanout starts one request per target on a context that belongs to the
// coordinator (so it can outlive the caller's request for background work)
// but ends at the caller's deadline and with the caller's cancellation until
// detach is called.
type fanout struct {
	ctx    context.Context
	cancel context.CancelFunc
	detach func() bool
}

func (c *Coordinator) newFanout(ctx context.Context) fanout {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.cfg.DefaultTimeout)
	}
	fctx, cancel := context.WithDeadline(c.life, deadline)
	detach := context.AfterFunc(ctx, cancel)
	return fanout{ctx: fctx, cancel: cancel, detach: detach}
}

// go runs f on the coordinator's wait group.
func (c *Coordinator) spawn(f func()) {
	c.mu.Lock()
	c.running++
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			if c.running--; c.running == 0 {
				c.idle.Broadcast()
			}
			c.mu.Unlock()
		}()
		f()
	}()
}

// ReadRequest is a quorum read of one key.
type ReadRequest struct {
	Partition int
	Key       []byte
	Targets   []Target
	R, PR     int
}

// ReadResult is what a successful read saw.
type ReadResult struct {
	Set       vclock.Set // the merge of every reply
	Found     bool       // some replica held the key (possibly only tombstones)
	Replied   int
	Primaries int // primaries among Replied
	Fallbacks int // fallbacks among Replied
	Repaired  int // replicas sent a read repair before answering
}

type readVal struct {
	set   vclock.Set
	found bool
}

type readReply = reply[readVal]

// Read asks every target for the key and answers once R replicas (PR of them
// primaries) have replied, with the merge of their answers.
func (c *Coordinator) Read(ctx context.Context, req ReadRequest) (ReadResult, error) {
	rd := startRound(c, ctx, req.Targets, 0, req.R, req.PR, func(ctx context.Context, tg Target) (readVal, error) {
		set, found, err := c.reps.Read(ctx, tg, req.Partition, req.Key)
		return readVal{set, found}, err
	})
	got, err := rd.await(c, ctx, "read")
	if err != nil {
		rd.fo.cancel()
		return ReadResult{}, err
	}
	rd.fo.detach()
	res := mergeReplies(got)
	if c.cfg.ReadRepair {
		res.Repaired = c.repairStale(req, res.Set, got)
	}
	pending := rd.t.pending
	c.spawn(func() { c.collectLate(req, rd.fo, rd.replies, pending, got) })
	return res, nil
}

// reply is one replica's answer to a fanned-out request.
type reply[T any] struct {
	target Target
	val    T
	err    error
}

// round is one request fanned out to its targets and counted.
type round[T any] struct {
	c        *Coordinator
	fo       fanout
	replies  chan reply[T]
	t        tally
	failures []string
	call     func(context.Context, Target) (T, error)
	// replace, if set, names the target to try instead of one that failed.
	replace func(failed Target) (Target, bool)
}

// startRound sends call to every target. extra is how many replacement
// targets may be launched later, so that no sender ever blocks on replies.
func startRound[T any](c *Coordinator, ctx context.Context, targets []Target, extra, need, needPrimary int,
	call func(context.Context, Target) (T, error)) *round[T] {
	r := &round[T]{c: c, fo: c.newFanout(ctx), replies: make(chan reply[T], len(targets)+extra),
		t: newTally(need, needPrimary), call: call}
	for _, tg := range targets {
		r.launch(tg)
	}
	return r
}

// launch sends the request to tg, or counts it failed at once if tg is
// known to be down (and tries its replacement).
func (r *round[T]) launch(tg Target) {
	r.t.start(tg.Primary)
	if tg.Down {
		r.failed(tg, errDown)
		return
	}
	r.c.spawn(func() {
		v, err := r.call(r.fo.ctx, tg)
		r.replies <- reply[T]{target: tg, val: v, err: err}
	})
}

// failed counts tg's failure and launches its replacement, if any.
func (r *round[T]) failed(tg Target, err error) {
	r.t.done(tg.Primary, false)
	r.failures = addFailure(r.failures, describe(tg), err)
	if r.replace == nil {
		return
	}
	if next, ok := r.replace(tg); ok {
		r.launch(next)
	}
}

// await collects answers until the quorum is met, returning the successful
// ones; or until it cannot be met (after a short settle) or the request's
// context ends, returning the *Error (or the context's error).
func (r *round[T]) await(c *Coordinator, ctx context.Context, op string) ([]reply[T], error) {
	var got []reply[T]
	var settle settling
	defer settle.stop()
	for !r.t.met() {
		if r.t.impossible() && settle.over(r.t.pending, c.cfg.FailSettle) {
			err := newError(op, &r.t, false, r.failures)
			c.stats.countFailure(ctx, op, err)
			return got, err
		}
		select {
		case <-settle.c:
			settle.expired = true
		case rep := <-r.replies:
			if rep.err != nil {
				r.failed(rep.target, rep.err)
				continue
			}
			r.t.done(rep.target.Primary, true)
			got = append(got, rep)
		case <-r.fo.ctx.Done():
			err := c.doneError(op, ctx, &r.t, r.failures)
			c.stats.countFailure(ctx, op, err)
			return got, err
		}
	}
	return got, nil
}

var errDown = errors.New("down: gossip reports it failed")

// describe names a target in error messages.
func describe(t Target) string {
	switch {
	case t.Primary:
		return "primary " + t.Node
	case t.HintFor != "":
		return "fallback " + t.Node + " for " + t.HintFor
	default:
		return t.Node
	}
}

// settling is the short wait, once a request can no longer meet its quorum,
// for the answers still in flight: the error then reports how many replicas
// really answered instead of a count cut short by the first failure.
type settling struct {
	timer   *time.Timer
	c       <-chan time.Time // nil until started: blocks in select
	expired bool
}

// over reports whether the doomed request should fail now, starting the
// wait the first time.
func (s *settling) over(pending int, wait time.Duration) bool {
	if pending == 0 || s.expired || wait <= 0 {
		return true
	}
	if s.timer == nil {
		s.timer = time.NewTimer(wait)
		s.c = s.timer.C
	}
	return false
}

func (s *settling) stop() {
	if s.timer != nil {
		s.timer.Stop()
	}
}

// doneError reports why the fan-out context ended: the caller's deadline
// (timeout), the caller's cancellation, or the coordinator closing.
func (c *Coordinator) doneError(op string, ctx context.Context, t *tally, failures []string) error {
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	if c.life.Err() != nil {
		return fmt.Errorf("%s: coordinator closed: %w", op, c.life.Err())
	}
	return newError(op, t, true, failures)
}

func mergeReplies(got []readReply) ReadResult {
	var res ReadResult
	for _, r := range got {
		res.Replied++
		if r.target.Primary {
			res.Primaries++
		} else {
			res.Fallbacks++
		}
		switch {
		case !r.val.found:
		case !res.Found:
			// The first answer is the merge so far. Replicas hand over sets
			// that no one modifies (see Replicas.Read): no need for Merge's
			// private copy of every value, here or below.
			res.Found = true
			res.Set = r.val.set
		default:
			res.Set = vclock.MergeShared(res.Set, r.val.set)
		}
	}
	return res
}

// stale reports whether a replica's answer lacks something of merged.
func stale(r readReply, merged vclock.Set) bool {
	if !r.val.found {
		return !merged.IsEmpty()
	}
	return !r.val.set.Equal(merged)
}

// repairStale sends merged to every replica in got that is behind it and
// returns how many it sent.
func (c *Coordinator) repairStale(req ReadRequest, merged vclock.Set, got []readReply) int {
	n := 0
	for _, r := range got {
		if !stale(r, merged) {
			continue
		}
		n++
		tg := r.target
		c.spawn(func() { c.repair(tg, req.Partition, req.Key, merged) })
	}
	return n
}

func (c *Coordinator) repair(tg Target, partition int, key []byte, set vclock.Set) {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.RepairTimeout)
	defer cancel()
	c.stats.repairs.Add(1)
	if err := c.reps.Write(ctx, tg, partition, key, set, false); err != nil {
		c.stats.repairFailures.Add(1)
		c.cfg.Logger.Debug("read repair failed", "node", tg.Node, "partition", partition, "err", err)
		return
	}
	c.cfg.Logger.Debug("read repair", "node", tg.Node, "partition", partition)
}

// collectLate waits a short while for the replies a read did not wait for,
// and repairs every replica (early or late) that is behind the merge of all
// replies.
func (c *Coordinator) collectLate(req ReadRequest, fo fanout, replies <-chan readReply, pending int, early []readReply) {
	defer fo.cancel()
	if pending == 0 || !c.cfg.ReadRepair {
		return
	}
	timer := time.NewTimer(c.cfg.LateReplyWait)
	defer timer.Stop()
	var late []readReply
collect:
	for ; pending > 0; pending-- {
		select {
		case r := <-replies:
			if r.err == nil {
				late = append(late, r)
			}
		case <-timer.C:
			break collect
		case <-fo.ctx.Done():
			break collect
		}
	}
	if len(late) == 0 {
		return
	}
	before := mergeReplies(early).Set
	all := mergeReplies(slices.Concat(early, late)).Set
	// Early replicas were repaired with the early merge already; they need
	// another repair only if the late replies changed it.
	check := late
	if !before.Equal(all) {
		check = slices.Concat(early, late)
	}
	for _, r := range check {
		if stale(r, all) {
			c.repair(r.target, req.Partition, req.Key, all)
		}
	}
}
