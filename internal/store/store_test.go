package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dynkv/dynkv/vclock"
)

func openMem(t *testing.T) *Store {
	t.Helper()
	s, err := Open(Config{Dir: "/db", FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConcurrentUpdatesLoseNothing: many writers updating one key through
// Update never overwrite each other's versions.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	s := openMem(t)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := s.Update(3, []byte("k"), false, func(cur vclock.Set, _ bool) (vclock.Set, bool, error) {
					// A write that saw nothing: every one must survive as a sibling.
					next, _ := cur.Update(nil, vclock.Actor(w+1), fmt.Appendf(nil, "%d-%d", w, i), "", false)
					return next, true, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	set, found, err := s.Get(3, []byte("k"))
	if err != nil || !found {
		t.Fatal(found, err)
	}
	if len(set.Siblings) != writers*each {
		t.Fatalf("%d siblings, want %d", len(set.Siblings), writers*each)
	}
}

func TestPartitionsAreSeparate(t *testing.T) {
	s := openMem(t)
	v, _ := vclock.Set{}.Update(nil, 1, []byte("v"), "", false)
	if _, err := s.Update(1, []byte("k"), true, func(vclock.Set, bool) (vclock.Set, bool, error) { return v, true, nil }); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Get(2, []byte("k")); found {
		t.Fatal("key visible in another partition")
	}
	raw, found, err := s.GetRaw(1, []byte("k"))
	if err != nil || !found {
		t.Fatal(err)
	}
	if got, err := vclock.UnmarshalSet(raw); err != nil || !got.Equal(v) {
		t.Fatalf("raw round trip: %v %v", got, err)
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	s := openMem(t)
	boom := errors.New("boom")
	_, err := s.Update(0, []byte("k"), false, func(vclock.Set, bool) (vclock.Set, bool, error) {
		return vclock.Set{}, true, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if _, found, _ := s.Get(0, []byte("k")); found {
		t.Fatal("a failed update wrote")
	}
}

func TestCorruptValueIsAnError(t *testing.T) {
	s := openMem(t)
	if err := s.set(dataKey(0, []byte("k")), []byte{0xc1, 0xff, 0x00}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(0, []byte("k")); !errors.Is(err, vclock.ErrCorrupt) {
		t.Fatalf("corrupt value: %v", err)
	}
}

func TestMetaAndClose(t *testing.T) {
	s := openMem(t)
	if err := s.PutMeta("a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, found, err := s.GetMeta("a"); err != nil || !found || string(v) != "1" {
		t.Fatal(v, found, err)
	}
	if err := s.DeleteMeta("a"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.GetMeta("a"); found {
		t.Fatal("meta not deleted")
	}
	s.Close()
	if _, _, err := s.Get(0, []byte("k")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
