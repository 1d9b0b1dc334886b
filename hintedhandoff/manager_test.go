package hintedhandoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// memStore is an in-memory Store.
type memStore struct {
	mu    sync.Mutex
	hints map[string][]byte // target|partition|key → set
}

func newMemStore() *memStore { return &memStore{hints: map[string][]byte{}} }

func hk(target string, p int, key []byte) string { return fmt.Sprintf("%s|%08d|%s", target, p, key) }

func (s *memStore) PutHint(target string, p int, key []byte, set vclock.Set) (bool, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hk(target, p, key)
	old, found := s.hints[k]
	next := set
	if found {
		cur, _ := vclock.UnmarshalSet(old)
		next = vclock.Merge(cur, set)
	}
	raw, err := next.MarshalBinary()
	if err != nil {
		return false, 0, err
	}
	s.hints[k] = raw
	return !found, int64(len(raw) - len(old)), nil
}

func (s *memStore) ScanHints(target string, cursor []byte, maxKeys, maxBytes int) ([]Hint, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.hints {
		if len(k) > len(target) && k[:len(target)+1] == target+"|" && (cursor == nil || k > string(cursor)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []Hint
	var last []byte
	size := 0
	for _, k := range keys {
		var p int
		fmt.Sscanf(k[len(target)+1:len(target)+9], "%d", &p)
		out = append(out, Hint{Target: target, Partition: p, Key: []byte(k[len(target)+10:]), Set: s.hints[k]})
		last = []byte(k)
		size += len(s.hints[k])
		if len(out) >= maxKeys || size >= maxBytes {
			break
		}
	}
	return out, last, nil
}

func (s *memStore) DeleteHint(h Hint) (bool, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := hk(h.Target, h.Partition, h.Key)
	if cur, ok := s.hints[k]; !ok || !bytes.Equal(cur, h.Set) {
		return false, 0, nil
	}
	freed := int64(len(s.hints[k]))
	delete(s.hints, k)
	return true, freed, nil
}

func (s *memStore) HintTotals() (map[string]Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Totals{}
	for k, v := range s.hints {
		t := out[k[:bytes.IndexByte([]byte(k), '|')]]
		t.Count++
		t.Bytes += int64(len(v))
		out[k[:bytes.IndexByte([]byte(k), '|')]] = t
	}
	return out, nil
}

// fakePeers is gossip and the targets' replicas.
type fakePeers struct {
	mu        sync.Mutex
	alive     map[string]bool
	downSince map[string]time.Time
	failNext  int // deliveries to fail
	received  map[string]vclock.Set
	batches   int
	asked     int    // Alive calls: rounds of the delivery loop
	onDeliver func() // called inside Deliver (to change state mid-delivery)
}

func newPeers() *fakePeers {
	return &fakePeers{alive: map[string]bool{}, downSince: map[string]time.Time{}, received: map[string]vclock.Set{}}
}

func (p *fakePeers) Alive(t string) (bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked++
	return p.alive[t], p.downSince[t]
}

func (p *fakePeers) set(t string, alive bool) {
	p.mu.Lock()
	p.alive[t] = alive
	p.mu.Unlock()
}

func (p *fakePeers) Deliver(ctx context.Context, target string, hints []Hint) error {
	if p.onDeliver != nil {
		p.onDeliver()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.alive[target] || p.failNext > 0 {
		if p.failNext > 0 {
			p.failNext--
		}
		return errors.New("connection refused")
	}
	p.batches++
	for _, h := range hints {
		set, err := vclock.UnmarshalSet(h.Set)
		if err != nil {
			return err
		}
		k := fmt.Sprintf("%d|%s", h.Partition, h.Key)
		p.received[k] = vclock.Merge(p.received[k], set)
	}
	return nil
}

func testConfig() Config {
	c := DefaultConfig()
	c.Interval = 5 * time.Millisecond
	c.BatchKeys = 7
	c.RateBytes = 0
	return c
}

func version(actor vclock.Actor, v string) vclock.Set {
	s, _ := vclock.Set{}.Update(nil, actor, []byte(v), "", false)
	return s
}

func run(t *testing.T, m *Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestDeliverWhenAliveAndForget(t *testing.T) {
	st, peers := newMemStore(), newPeers()
	m, err := New(testConfig(), st, peers)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := m.Add("n3", i%4, fmt.Appendf(nil, "k%d", i), version(1, "v")); err != nil {
			t.Fatal(err)
		}
	}
	// Merging into an existing hint does not add a hint.
	if err := m.Add("n3", 0, []byte("k0"), version(2, "w")); err != nil {
		t.Fatal(err)
	}
	if total, by := m.Pending(); total != 50 || by["n3"] != 50 {
		t.Fatalf("pending %d %v", total, by)
	}
	run(t, m)
	// Let the delivery loop look at the down target a few times.
	waitFor(t, "three delivery rounds", func() bool {
		peers.mu.Lock()
		defer peers.mu.Unlock()
		return peers.asked >= 3
	})
	peers.mu.Lock()
	batches := peers.batches
	peers.mu.Unlock()
	if batches != 0 {
		t.Fatal("delivered to a down target")
	}
	peers.set("n3", true)
	m.Kick()
	waitFor(t, "delivery", func() bool { total, _ := m.Pending(); return total == 0 })
	if len(peers.received) != 50 || len(peers.received["0|k0"].Siblings) != 2 || m.PendingBytes() != 0 {
		t.Fatalf("received %d keys, k0 has %d siblings, %d bytes left", len(peers.received), len(peers.received["0|k0"].Siblings), m.PendingBytes())
	}
	if len(st.hints) != 0 || m.Stats().Delivered != 50 {
		t.Fatalf("%d hints left in store, stats %+v", len(st.hints), m.Stats())
	}
}

// TestFlappingTarget: the target goes down in the middle of delivery and
// comes back; nothing is lost and delivery completes.
func TestFlappingTarget(t *testing.T) {
	st, peers := newMemStore(), newPeers()
	m, _ := New(testConfig(), st, peers)
	for i := range 100 {
		m.Add("n3", 0, fmt.Appendf(nil, "k%03d", i), version(1, fmt.Sprint(i)))
	}
	calls := 0
	peers.onDeliver = func() {
		calls++
		if calls%3 == 0 {
			peers.set("n3", false) // down mid-delivery: this batch fails
			go func() { time.Sleep(10 * time.Millisecond); peers.set("n3", true) }()
		}
	}
	peers.set("n3", true)
	run(t, m)
	waitFor(t, "delivery through flapping", func() bool { total, _ := m.Pending(); return total == 0 })
	if len(peers.received) != 100 {
		t.Fatalf("received %d of 100 keys", len(peers.received))
	}
	for k, s := range peers.received {
		if len(s.Siblings) != 1 {
			t.Fatalf("%s has %d siblings after redelivery", k, len(s.Siblings))
		}
	}
	if m.Stats().Failed == 0 {
		t.Fatal("the test never interrupted a delivery")
	}
}

// TestHintChangedDuringDeliveryIsKept: a hint merged while its old copy was
// being delivered is not deleted with it.
func TestHintChangedDuringDeliveryIsKept(t *testing.T) {
	st, peers := newMemStore(), newPeers()
	m, _ := New(testConfig(), st, peers)
	m.Add("n3", 0, []byte("k"), version(1, "old"))
	once := sync.Once{}
	peers.onDeliver = func() {
		once.Do(func() { m.Add("n3", 0, []byte("k"), version(2, "new")) })
	}
	peers.set("n3", true)
	run(t, m)
	waitFor(t, "both versions delivered", func() bool { total, _ := m.Pending(); return total == 0 })
	got := peers.received["0|k"]
	if len(got.Siblings) != 2 {
		t.Fatalf("target has %d siblings, want old and new", len(got.Siblings))
	}
}

func TestLimits(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cfg := testConfig()
	cfg.Now = func() time.Time { return now }
	cfg.MaxWindow = time.Hour
	cfg.MaxBytes = 300
	st, peers := newMemStore(), newPeers()
	m, _ := New(cfg, st, peers)

	peers.downSince["n3"] = now.Add(-2 * time.Hour)
	if err := m.Add("n3", 0, []byte("k"), version(1, "v")); !errors.Is(err, ErrWindowExceeded) {
		t.Fatalf("past the window: %v", err)
	}
	peers.downSince["n3"] = now.Add(-time.Minute)
	if err := m.Add("n3", 0, []byte("k"), version(1, "v")); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = m.Add("n3", 0, fmt.Appendf(nil, "k%d", i), version(1, "a value of some size"))
	}
	if !errors.Is(err, ErrFull) || m.PendingBytes() > cfg.MaxBytes {
		t.Fatalf("size cap: %v, %d bytes", err, m.PendingBytes())
	}
	if m.Stats().Dropped != 2 {
		t.Fatalf("dropped %d, want 2 (one per limit)", m.Stats().Dropped)
	}
}

func TestTotalsSurviveRestart(t *testing.T) {
	st, peers := newMemStore(), newPeers()
	m, _ := New(testConfig(), st, peers)
	for i := range 5 {
		m.Add("n2", 1, fmt.Appendf(nil, "k%d", i), version(1, "v"))
	}
	m.Add("n3", 1, []byte("x"), version(1, "v"))
	m2, err := New(testConfig(), st, peers)
	if err != nil {
		t.Fatal(err)
	}
	total, by := m2.Pending()
	if total != 6 || by["n2"] != 5 || by["n3"] != 1 || m2.PendingBytes() != m.PendingBytes() {
		t.Fatalf("after restart: %d %v %d/%d bytes", total, by, m2.PendingBytes(), m.PendingBytes())
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.MaxWindow = 0 },
		func(c *Config) { c.MaxBytes = 0 },
		func(c *Config) { c.BatchKeys = 0 },
		func(c *Config) { c.RateBytes = -1 },
		func(c *Config) { c.Interval = 0 },
	}
	for i, f := range bad {
		c := DefaultConfig()
		f(&c)
		if c.Validate() == nil {
			t.Errorf("case %d accepted", i)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
