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
	// replica holds nothing for it (that is an answer, not an error).
	Read(ctx context.Context, node string, partition int, key []byte) (set vclock.Set, found bool, err error)
	// Write merges set into the replica's state for key; sync asks for it to
	// be on disk before the replica acknowledges.
	Write(ctx context.Context, node string, partition int, key []byte, set vclock.Set, sync bool) error
}

// Target is one replica a request goes to.
type Target struct {
	Node    string
	Primary bool // in the key's preference list; fallbacks never count toward PR/PW
	Down    bool // known down: counted as failed without sending anything
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
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
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
	return &Coordinator{reps: reps, cfg: cfg, life: life, cancel: cancel}
}

// Close waits for background work (the tail of writes, late replies and
// read repairs, each bounded by its request's deadline) to finish; if ctx
// ends first it cancels that work and waits for it to stop.
func (c *Coordinator) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
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
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
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
	rd := startRound(c, ctx, req.Targets, req.R, req.PR, func(ctx context.Context, tg Target) (readVal, error) {
		set, found, err := c.reps.Read(ctx, tg.Node, req.Partition, req.Key)
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
	fo       fanout
	replies  chan reply[T]
	t        tally
	failures []string
}

// startRound sends call to every target not known to be down.
func startRound[T any](c *Coordinator, ctx context.Context, targets []Target, need, needPrimary int,
	call func(context.Context, Target) (T, error)) *round[T] {
	r := &round[T]{fo: c.newFanout(ctx), replies: make(chan reply[T], len(targets)), t: newTally(need, needPrimary)}
	for _, tg := range targets {
		r.t.start(tg.Primary)
		if tg.Down {
			r.t.done(tg.Primary, false)
			r.failures = addFailure(r.failures, tg.Node, errDown)
			continue
		}
		c.spawn(func() {
			v, err := call(r.fo.ctx, tg)
			r.replies <- reply[T]{target: tg, val: v, err: err}
		})
	}
	return r
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
			return got, newError(op, &r.t, false, r.failures)
		}
		select {
		case <-settle.c:
			settle.expired = true
		case rep := <-r.replies:
			r.t.done(rep.target.Primary, rep.err == nil)
			if rep.err != nil {
				r.failures = addFailure(r.failures, rep.target.Node, rep.err)
				continue
			}
			got = append(got, rep)
		case <-r.fo.ctx.Done():
			return got, c.doneError(op, ctx, &r.t, r.failures)
		}
	}
	return got, nil
}

var errDown = errors.New("down (gossip)")

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
		if r.val.found {
			res.Found = true
			res.Set = vclock.Merge(res.Set, r.val.set)
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
		node := r.target.Node
		c.spawn(func() { c.repair(node, req.Partition, req.Key, merged) })
	}
	return n
}

func (c *Coordinator) repair(node string, partition int, key []byte, set vclock.Set) {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.RepairTimeout)
	defer cancel()
	if err := c.reps.Write(ctx, node, partition, key, set, false); err != nil {
		c.cfg.Logger.Debug("read repair failed", "node", node, "partition", partition, "err", err)
	}
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
			c.repair(r.target.Node, req.Partition, req.Key, all)
		}
	}
}

// WriteRequest is a quorum write of a version the coordinator has already
// stored on its own replica (Local) or, when the coordinator holds no
// replica, only sends.
type WriteRequest struct {
	Partition int
	Key       []byte
	Set       vclock.Set
	Sync      bool
	W, PW     int
	Local     *Target // the coordinator's own replica, already written: one acknowledgement
	Targets   []Target
}

// WriteResult counts the acknowledgements a successful write waited for.
type WriteResult struct {
	Acked     int
	Primaries int
	Fallbacks int
}

func (w *WriteResult) add(t Target) {
	w.Acked++
	if t.Primary {
		w.Primaries++
	} else {
		w.Fallbacks++
	}
}

// Write sends Set to every target and answers once W replicas (PW of them
// primaries) acknowledged. The remaining writes go on in the background
// until the caller's deadline: a write is never undone, even when its
// quorum fails.
func (c *Coordinator) Write(ctx context.Context, req WriteRequest) (WriteResult, error) {
	rd := startRound(c, ctx, req.Targets, req.W, req.PW, func(ctx context.Context, tg Target) (struct{}, error) {
		return struct{}{}, c.reps.Write(ctx, tg.Node, req.Partition, req.Key, req.Set, req.Sync)
	})
	var res WriteResult
	if req.Local != nil {
		rd.t.start(req.Local.Primary)
		rd.t.done(req.Local.Primary, true)
		res.add(*req.Local)
	}
	got, err := rd.await(c, ctx, "write")
	for _, r := range got {
		res.add(r.target)
	}
	if err != nil && ctx.Err() != nil {
		rd.fo.cancel() // the caller is gone or out of time
		return res, err
	}
	rd.fo.detach()
	pending := rd.t.pending
	c.spawn(func() { drainWrites(rd.fo, rd.replies, pending) })
	return res, err
}

// drainWrites lets the writes still in flight after the quorum finish, then
// releases the fan-out context.
func drainWrites(fo fanout, replies <-chan reply[struct{}], pending int) {
	defer fo.cancel()
	for ; pending > 0; pending-- {
		select {
		case <-replies:
		case <-fo.ctx.Done():
			return
		}
	}
}
