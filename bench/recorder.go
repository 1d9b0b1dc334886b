package bench

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/dynkv/dynkv/client"
)

// Histograms record microseconds from 1 µs to an hour at 3 significant
// digits; a longer latency is recorded as an hour (and shows as the max).
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

func newHist() *hdr.Histogram { return hdr.New(histLowest, histHighest, histDigits) }

func record(h *hdr.Histogram, d time.Duration) {
	us := min(max(int64(d/time.Microsecond), histLowest), histHighest)
	_ = h.RecordValue(us) // in range by construction
}

// errKind is how an operation failed.
type errKind int

const (
	errNone      errKind = iota
	errNotFound          // 404
	errQuorum            // 503: quorum unmet, or the node refused (draining)
	errTimeout           // 504: the node's timeout ran out
	errTransport         // no answer: connection refused, reset, write outcome unknown
	errOther             // any other answer (400, 413, 500, a malformed body)
	errCancelled         // the run ended while the operation was in flight
	numErrKinds
)

var errKindNames = [numErrKinds]string{"", "not_found", "unavailable_503", "timeout_504", "transport", "other", "cancelled"}

// classify sorts an operation's error; runCtx tells a cancellation by the
// end of the run (not an error of the system under test) from the rest.
func classify(runCtx context.Context, err error) errKind {
	var e *client.Error
	switch {
	case err == nil:
		return errNone
	case errors.As(err, &e):
		switch e.Status {
		case http.StatusNotFound:
			return errNotFound
		case http.StatusServiceUnavailable:
			return errQuorum
		case http.StatusGatewayTimeout:
			return errTimeout
		}
		return errOther
	case runCtx.Err() != nil:
		return errCancelled
	case errors.Is(err, client.ErrBadRequest):
		return errOther
	}
	return errTransport
}

// recorder accumulates the latencies and outcomes of one phase. It is safe
// for concurrent use; one mutex suffices, since an operation holds it for
// well under a microsecond and operations take hundreds.
type recorder struct {
	mu       sync.Mutex
	origin   time.Duration          // start of the phase
	ops      [numOps]*hdr.Histogram // successful operations, whole run
	all      *hdr.Histogram         // all successful operations, whole run
	lag      *hdr.Histogram         // open loop: actual start - scheduled start
	errs     [numOps][numErrKinds]int64
	interval intervalStats
	timeline []TimelinePoint
}

// intervalStats is what happened since the last tick.
type intervalStats struct {
	start time.Duration
	hist  *hdr.Histogram
	ops   [numOps]int64
	errs  int64
}

func newRecorder(start time.Duration) *recorder {
	r := &recorder{origin: start, all: newHist(), lag: newHist()}
	for o := range r.ops {
		r.ops[o] = newHist()
	}
	r.interval = intervalStats{start: start, hist: newHist()}
	return r
}

// done records one finished operation.
func (r *recorder) done(o op, kind errKind, latency time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind != errNone {
		r.errs[o][kind]++
		if kind != errCancelled {
			r.interval.errs++
		}
		return
	}
	record(r.ops[o], latency)
	record(r.all, latency)
	record(r.interval.hist, latency)
	r.interval.ops[o]++
}

// startLag records how late an open-loop operation started.
func (r *recorder) startLag(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	record(r.lag, d)
}

// tick closes the current interval at now and appends it to the timeline.
func (r *recorder) tick(now time.Duration) TimelinePoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	iv := &r.interval
	p := TimelinePoint{TimeS: (now - r.origin).Seconds(), IntervalS: (now - iv.start).Seconds(),
		Errors: iv.errs, Ops: map[string]int64{}, Latency: latencyOf(iv.hist)}
	for o, n := range iv.ops {
		p.Ops[op(o).String()] = n
	}
	p.OpsPerSec = perSecond(p.total(), p.IntervalS)
	p.P99SoFarMS = usToMS(r.all.ValueAtQuantile(99))
	r.timeline = append(r.timeline, p)
	r.resetInterval(now)
	return p
}

func (r *recorder) resetInterval(now time.Duration) {
	r.interval.hist.Reset()
	r.interval = intervalStats{start: now, hist: r.interval.hist}
}

// finish closes the last interval at end. An interval shorter than short
// (the few operations still in flight when the run stopped) is folded into
// the previous point rather than shown as a rate over a sliver of time;
// finish then reports false.
func (r *recorder) finish(end, short time.Duration) (TimelinePoint, bool) {
	r.mu.Lock()
	iv := r.interval
	if end-iv.start >= short || len(r.timeline) == 0 {
		r.mu.Unlock()
		return r.tick(end), true
	}
	defer r.mu.Unlock()
	last := &r.timeline[len(r.timeline)-1]
	for o, n := range iv.ops {
		last.Ops[op(o).String()] += n
	}
	last.Errors += iv.errs
	last.IntervalS += (end - iv.start).Seconds()
	last.TimeS = (end - r.origin).Seconds()
	last.OpsPerSec = perSecond(last.total(), last.IntervalS)
	last.MaxMS = max(last.MaxMS, usToMS(iv.hist.Max()))
	last.P99SoFarMS = usToMS(r.all.ValueAtQuantile(99))
	r.resetInterval(end)
	return *last, false
}

// errorTotals returns the errors of each kind summed over operation types,
// cancellations excluded.
func (r *recorder) errorTotals() (byKind map[string]int64, total, cancelled int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	byKind = map[string]int64{}
	for k := errNotFound; k < errCancelled; k++ {
		byKind[errKindNames[k]] = 0
	}
	for o := range numOps {
		for k := errNotFound; k < numErrKinds; k++ {
			n := r.errs[o][k]
			if k == errCancelled {
				cancelled += n
				continue
			}
			byKind[errKindNames[k]] += n
			total += n
		}
	}
	return byKind, total, cancelled
}

// opErrors is the number of errors (cancellations excluded) of one type.
func (r *recorder) opErrors(o op) int64 {
	var n int64
	for k := errNotFound; k < errCancelled; k++ {
		n += r.errs[o][k]
	}
	return n
}

func usToMS(us int64) float64 { return float64(us) / 1000 }

// intervalStart is when the current timeline interval began.
func (r *recorder) intervalStart() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.interval.start
}

// successes is the number of successful operations so far.
func (r *recorder) successes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all.TotalCount()
}
