package quorum

import (
	"context"
	"testing"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// TestStatsCountFailuresAndRepairs: failed quorums are counted by operation
// and kind, read repairs by the writes sent; a cancelled request is no
// quorum failure.
func TestStatsCountFailuresAndRepairs(t *testing.T) {
	f := newFake()
	f.fail["c"] = errRefused
	c := newCoord(t, f)
	bg := context.Background()
	if _, err := c.Read(bg, ReadRequest{Targets: targets("a", "b", "c"), R: 3}); err == nil {
		t.Fatal("read with R=3 and a replica down succeeded")
	}
	if _, err := c.Write(bg, WriteRequest{Set: version(1, "x"), Targets: targets("a", "b", "c"), W: 3}); err == nil {
		t.Fatal("write with W=3 and a replica down succeeded")
	}
	f.mu.Lock()
	delete(f.fail, "c")
	f.hang["c"] = true
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	_, err := c.Read(ctx, ReadRequest{Targets: targets("a", "b", "c"), R: 3})
	cancel()
	if err == nil {
		t.Fatal("read with a hanging replica succeeded")
	}
	cctx, ccancel := context.WithCancel(bg)
	ccancel()
	c.Read(cctx, ReadRequest{Targets: targets("a", "b", "c"), R: 3})

	f.mu.Lock()
	f.hang["c"] = false
	f.data["a"] = vclock.Merge(version(1, "x"), version(2, "y"))
	f.data["b"] = version(1, "x") // lacks y: one repair
	f.mu.Unlock()
	if _, err := c.Read(bg, ReadRequest{Targets: targets("a", "b"), R: 2}); err != nil {
		t.Fatal(err)
	}
	c.Close(bg)
	want := Stats{ReadUnmet: 1, ReadTimeout: 1, WriteUnmet: 1, ReadRepairs: 1}
	if got := c.Stats(); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}
