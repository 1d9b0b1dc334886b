package node

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dynkv/dynkv/internal/store"
)

// TestActorIncarnations: a clean shutdown keeps the actor id, a crash or a
// wiped data dir gives a new one (Riak KV679).
func TestActorIncarnations(t *testing.T) {
	fs := vfs.NewMem()
	cfg := DefaultConfig()
	cfg.Name, cfg.DataDir = "n1", "/data"
	open := func() *store.Store {
		st, err := store.Open(store.Config{Dir: cfg.DataDir, FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open()
	first, crashed, err := loadIdentity(st, cfg)
	if err != nil || crashed || first.Actor == 0 {
		t.Fatalf("first start: %+v %v %v", first, crashed, err)
	}
	if err := markClean(st, 42); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = open()
	again, crashed, err := loadIdentity(st, cfg)
	if err != nil || crashed || again.Actor != first.Actor || again.Counter != 42 {
		t.Fatalf("after clean shutdown: %+v crashed=%v err=%v, want actor %x", again, crashed, err, first.Actor)
	}
	st.Close() // no clean marker: a crash

	st = open()
	third, crashed, err := loadIdentity(st, cfg)
	if err != nil || !crashed || third.Actor == first.Actor || third.Incarnations != 2 || third.Counter != 0 {
		t.Fatalf("after crash: %+v crashed=%v err=%v", third, crashed, err)
	}

	other := cfg
	other.Name = "n2"
	if _, _, err := loadIdentity(st, other); err == nil {
		t.Fatal("a data dir of n1 opened as n2")
	}
	other = cfg
	other.Partitions = 128
	if _, _, err := loadIdentity(st, other); err == nil {
		t.Fatal("partitions changed on an existing data dir")
	}
	st.Close()

	wiped := vfs.NewMem()
	st2, err := store.Open(store.Config{Dir: cfg.DataDir, FS: wiped})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	fresh, _, err := loadIdentity(st2, cfg)
	if err != nil || fresh.Actor == first.Actor || fresh.Actor == third.Actor {
		t.Fatalf("wiped data dir reused an actor: %+v %v", fresh, err)
	}
}
