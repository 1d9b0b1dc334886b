package quorum

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// fakeReplicas is a set of in-memory replicas with per-node behaviour.
type fakeReplicas struct {
	mu     sync.Mutex
	data   map[string]vclock.Set // node → the one key's set
	fail   map[string]error      // node → error returned at once
	hang   map[string]bool       // node → waits for ctx
	delay  map[string]time.Duration
	writes map[string]int // node → writes received
	hints  map[string]int // "holder→target" → hinted writes
}

func newFake() *fakeReplicas {
	return &fakeReplicas{data: map[string]vclock.Set{}, fail: map[string]error{}, hang: map[string]bool{},
		delay: map[string]time.Duration{}, writes: map[string]int{}, hints: map[string]int{}}
}

func (f *fakeReplicas) behave(ctx context.Context, node string) error {
	f.mu.Lock()
	err, hang, d := f.fail[node], f.hang[node], f.delay[node]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakeReplicas) Read(ctx context.Context, t Target, _ int, _ []byte) (vclock.Set, bool, error) {
	node := t.Node
	if err := f.behave(ctx, node); err != nil {
		return vclock.Set{}, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.data[node]
	return s, ok, nil
}

func (f *fakeReplicas) Write(ctx context.Context, t Target, _ int, _ []byte, set vclock.Set, _ bool) error {
	node := t.Node
	if err := f.behave(ctx, node); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes[node]++
	if t.HintFor != "" {
		f.hints[node+"→"+t.HintFor]++
	}
	f.data[node] = vclock.Merge(f.data[node], set)
	return nil
}

func (f *fakeReplicas) get(node string) (vclock.Set, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.data[node], f.writes[node]
}

func targets(nodes ...string) []Target {
	var out []Target
	for _, n := range nodes {
		out = append(out, Target{Node: n, Primary: true})
	}
	return out
}

func newCoord(t *testing.T, f *fakeReplicas) *Coordinator {
	cfg := DefaultConfig()
	cfg.LateReplyWait = 200 * time.Millisecond
	c := New(f, cfg)
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func version(actor vclock.Actor, v string) vclock.Set {
	s, _ := vclock.Set{}.Update(nil, actor, []byte(v), "", false)
	return s
}

var errRefused = errors.New("connection refused")

func TestReadCountsNotFoundAsReply(t *testing.T) {
	f := newFake()
	c := newCoord(t, f)
	res, err := c.Read(context.Background(), ReadRequest{Targets: targets("a", "b", "c"), R: 3})
	if err != nil || res.Found || res.Replied != 3 {
		t.Fatalf("read of a missing key: %+v %v", res, err)
	}
}

func TestReadUnmetFailsFastWithCounts(t *testing.T) {
	f := newFake()
	f.fail["c"] = errRefused
	c := newCoord(t, f)
	start := time.Now()
	_, err := c.Read(context.Background(), ReadRequest{Targets: targets("a", "b", "c"), R: 3})
	var qe *Error
	if !errors.As(err, &qe) || !errors.Is(err, ErrUnmet) || errors.Is(err, ErrTimeout) {
		t.Fatalf("want an unmet quorum error, got %v", err)
	}
	if qe.Quorum != "r" || qe.Needed != 3 || qe.Got != 2 {
		t.Fatalf("error counts: %+v", qe)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("an impossible quorum waited for the deadline")
	}
}

func TestReadTimeout(t *testing.T) {
	f := newFake()
	f.hang["c"] = true
	c := newCoord(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Read(ctx, ReadRequest{Targets: targets("a", "b", "c"), R: 3})
	var qe *Error
	if !errors.As(err, &qe) || !errors.Is(err, ErrTimeout) || qe.Got != 2 {
		t.Fatalf("want a timeout with 2 replies, got %v", err)
	}
}

func TestPrimaryQuorumIgnoresFallbacks(t *testing.T) {
	f := newFake()
	f.fail["b"] = errRefused
	c := newCoord(t, f)
	tg := []Target{{Node: "a", Primary: true}, {Node: "b", Primary: true}, {Node: "fb", Primary: false}}
	_, err := c.Write(context.Background(), WriteRequest{Set: version(1, "v"), Targets: tg, W: 2, PW: 2})
	var qe *Error
	if !errors.As(err, &qe) || qe.Quorum != "pw" || qe.Needed != 2 || qe.Got != 1 {
		t.Fatalf("pw=2 with one primary down: %v", err)
	}
	res, err := c.Write(context.Background(), WriteRequest{Set: version(1, "v"), Targets: tg, W: 2})
	if err != nil || res.Acked < 2 || res.Fallbacks > 1 {
		t.Fatalf("w=2 counting the fallback: %+v %v", res, err)
	}
}

func TestDownTargetsAreNotAsked(t *testing.T) {
	f := newFake()
	c := newCoord(t, f)
	tg := targets("a", "b")
	tg = append(tg, Target{Node: "c", Primary: true, Down: true})
	if _, err := c.Write(context.Background(), WriteRequest{Set: version(1, "v"), Targets: tg, W: 2}); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	if _, n := f.get("c"); n != 0 {
		t.Fatal("a target marked down was sent a write")
	}
}

// TestWriteReachesAllAfterQuorum: the write returns after W but is still
// delivered to the slow replica.
func TestWriteReachesAllAfterQuorum(t *testing.T) {
	f := newFake()
	f.delay["c"] = 100 * time.Millisecond
	c := newCoord(t, f)
	res, err := c.Write(context.Background(), WriteRequest{
		Set: version(1, "v"), Targets: targets("b", "c"), W: 2,
		Local: &Target{Node: "a", Primary: true},
	})
	if err != nil || res.Acked != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	c.Close(context.Background()) // waits for background work
	if _, n := f.get("c"); n != 1 {
		t.Fatal("the slow replica never got the write")
	}
}

// TestReadMergesAndRepairs: a read merges concurrent versions, and the
// replicas that lacked something get the merge, early or late.
func TestReadMergesAndRepairs(t *testing.T) {
	f := newFake()
	f.data["a"] = version(1, "x")
	f.data["b"] = version(2, "y")
	f.delay["c"] = 50 * time.Millisecond // replies after the quorum: a late repair
	c := newCoord(t, f)
	res, err := c.Read(context.Background(), ReadRequest{Targets: targets("a", "b", "c"), R: 2})
	if err != nil || len(res.Set.Siblings) != 2 || res.Repaired != 2 {
		t.Fatalf("read: %+v %v", res, err)
	}
	c.Close(context.Background())
	want := vclock.Merge(version(1, "x"), version(2, "y"))
	for _, n := range []string{"a", "b", "c"} {
		if s, _ := f.get(n); !s.Equal(want) {
			t.Fatalf("%s not repaired: %+v", n, s)
		}
	}
}

// TestConsistentReadWritesNothing: reading replicas that agree repairs
// nothing (Riak's verify_no_writes_on_read).
func TestConsistentReadWritesNothing(t *testing.T) {
	f := newFake()
	for _, n := range []string{"a", "b", "c"} {
		f.data[n] = version(1, "x")
	}
	c := newCoord(t, f)
	for range 10 {
		if res, err := c.Read(context.Background(), ReadRequest{Targets: targets("a", "b", "c"), R: 2}); err != nil || res.Repaired != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	}
	c.Close(context.Background())
	for _, n := range []string{"a", "b", "c"} {
		if _, w := f.get(n); w != 0 {
			t.Fatalf("%s received %d writes from reads", n, w)
		}
	}
}

func TestCallerCancellation(t *testing.T) {
	f := newFake()
	f.hang["a"], f.hang["b"] = true, true
	c := newCoord(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := c.Read(ctx, ReadRequest{Targets: targets("a", "b"), R: 1})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{Op: "read", Quorum: "r", Needed: 3, Got: 2}, "read quorum unmet: r=3 needed, 2 replicas replied"},
		{Error{Op: "write", Quorum: "pw", Needed: 3, Got: 2, Failures: []string{"primary n3: down"}}, "write quorum unmet: pw=3 needed, 2 primary replicas acknowledged (primary n3: down)"},
		{Error{Op: "write", Quorum: "w", Needed: 2, Got: 1, Timeout: true}, "write timed out: w=2 needed, 1 replicas acknowledged in time"},
	}
	for _, tc := range cases {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			f := newFake()
			c := New(f, DefaultConfig())
			defer c.Close(context.Background())
			var tg []Target
			for i := range n {
				tg = append(tg, Target{Node: fmt.Sprint(i), Primary: true})
			}
			set := version(1, "v")
			for b.Loop() {
				if _, err := c.Write(context.Background(), WriteRequest{Set: set, Targets: tg, W: n/2 + 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func (f *fakeReplicas) hinted(holder, target string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hints[holder+"→"+target]
}

// TestSloppyQuorum: a down primary's write goes to the first fallback as a
// hint; it counts toward W, never PW.
func TestSloppyQuorum(t *testing.T) {
	f := newFake()
	c := newCoord(t, f)
	tg := targets("b", "c")
	tg[1].Down = true
	req := WriteRequest{Set: version(1, "v"), Targets: tg, W: 3, Local: &Target{Node: "a", Primary: true},
		Fallbacks: []string{"d", "e"}}
	res, err := c.Write(context.Background(), req)
	if err != nil || res.Acked != 3 || res.Primaries != 2 || res.Fallbacks != 1 {
		t.Fatalf("sloppy w=3: %+v %v", res, err)
	}
	if f.hinted("d", "c") != 1 {
		t.Fatal("the first fallback did not get the hint for c")
	}
	req.PW = 3
	_, err = c.Write(context.Background(), req)
	var qe *Error
	if !errors.As(err, &qe) || qe.Quorum != "pw" || qe.Got != 2 || !strings.Contains(err.Error(), "primary c: down") {
		t.Fatalf("pw=3 with c down: %v", err)
	}
}

// TestFailedPrimaryAndFallbackAreReplaced: a primary that refuses is
// replaced during the request; a fallback that refuses too, by the next.
func TestFailedPrimaryAndFallbackAreReplaced(t *testing.T) {
	f := newFake()
	f.fail["c"], f.fail["d"] = errRefused, errRefused
	c := newCoord(t, f)
	res, err := c.Write(context.Background(), WriteRequest{Set: version(1, "v"), Targets: targets("b", "c"), W: 3,
		Local: &Target{Node: "a", Primary: true}, Fallbacks: []string{"d", "e"}})
	if err != nil || res.Fallbacks != 1 || f.hinted("e", "c") != 1 {
		t.Fatalf("%+v %v (hint on e: %d)", res, err, f.hinted("e", "c"))
	}
}

// TestCoordinatorKeepsHintWithoutFallbacks: with no node beyond the
// preference list, the coordinator keeps the hint itself, uncounted.
func TestCoordinatorKeepsHintWithoutFallbacks(t *testing.T) {
	f := newFake()
	f.fail["c"] = errRefused
	c := newCoord(t, f)
	req := WriteRequest{Set: version(1, "v"), Targets: targets("b", "c"), W: 2,
		Local: &Target{Node: "a", Primary: true}, KeepHints: true}
	res, err := c.Write(context.Background(), req)
	if err != nil || res.Acked != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	req.W = 3
	if _, err := c.Write(context.Background(), req); !errors.Is(err, ErrUnmet) {
		t.Fatalf("the coordinator's own hint must not count toward w: %v", err)
	}
	c.Close(context.Background())
	if n := f.hinted("a", "c"); n != 2 {
		t.Fatalf("coordinator kept %d hints for c, want 2", n)
	}
}

// TestTimedOutPrimaryGetsHintAfterAnswer: a primary that times out after
// the quorum answered still gets its version, through a hint.
func TestTimedOutPrimaryGetsHintAfterAnswer(t *testing.T) {
	f := newFake()
	f.hang["c"] = true
	c := newCoord(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Write(ctx, WriteRequest{Set: version(1, "v"), Targets: targets("b", "c"), W: 2,
		Local: &Target{Node: "a", Primary: true}, Fallbacks: []string{"d"}}); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	if f.hinted("d", "c") != 1 {
		t.Fatal("the timed-out primary got no hint")
	}
}
