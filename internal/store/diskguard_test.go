package store

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dynkv/dynkv/vclock"
)

func putValue(s *Store, key string, sync bool) error {
	v, _ := vclock.Set{}.Update(nil, 1, []byte("v-"+key), "", false)
	_, err := s.Update(0, []byte(key), sync, func(vclock.Set, bool) (vclock.Set, bool, error) { return v, true, nil })
	return err
}

// TestFailedFsyncLatches: once a WAL fsync fails, the write that met it
// and every later write (synced or not, data, hints, metadata) fail with
// ErrStorageFailed, the failing fsync is not tried again, reads of what
// was acknowledged before go on, and Close does not stop the process.
func TestFailedFsyncLatches(t *testing.T) {
	fs := NewFaultFS(vfs.NewMem())
	s, err := Open(Config{Dir: "/db", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := putValue(s, "before", true); err != nil {
		t.Fatal(err)
	}
	if s.State() != "ok" {
		t.Fatalf("state %q before the failure", s.State())
	}
	fs.FailSync.Store(true)
	if err := putValue(s, "hit", true); !errors.Is(err, ErrStorageFailed) || !errors.Is(err, ErrNotDurable) {
		t.Fatalf("write whose fsync failed: %v, want ErrStorageFailed and ErrNotDurable", err)
	}
	fs.FailSync.Store(false) // the disk "recovers": the store must not believe it
	syncs := fs.Syncs.Load()
	for name, write := range map[string]func() error{
		"synced":   func() error { return putValue(s, "after", true) },
		"unsynced": func() error { return putValue(s, "after", false) },
		"hint": func() error {
			_, _, err := s.PutHint("n2", 0, []byte("k"), vclock.Set{Clock: vclock.VV{{Actor: 1, Counter: 1}}})
			return err
		},
		"meta": func() error { return s.PutMeta("x", []byte("y")) },
		"sync": s.Sync,
	} {
		if err := write(); !errors.Is(err, ErrStorageFailed) || errors.Is(err, ErrNotDurable) {
			t.Errorf("%s write after the failure: %v, want ErrStorageFailed, refused before it reached pebble", name, err)
		}
	}
	if n := fs.Syncs.Load(); n != syncs {
		t.Fatalf("%d more fsyncs after the failure; a failed fsync must not be retried", n-syncs)
	}
	if _, found, err := s.Get(0, []byte("before")); err != nil || !found {
		t.Fatalf("read of an acknowledged write after the failure: %v %v", found, err)
	}
	if s.State() != "failed" {
		t.Fatalf("state %q, want failed", s.State())
	}
	if err := s.Close(); err != nil {
		t.Logf("close after the failure: %v", err)
	}
}

// TestDiskFull: below MinFreeDisk data and hint writes fail with
// ErrDiskFull and store nothing; metadata and reads go on; once space is
// freed (and the reading is older than a second) writes resume.
func TestDiskFull(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 30)
	now := time.Unix(1000, 0)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	s, err := Open(Config{
		Dir: "/db", FS: vfs.NewMem(), MinFreeDisk: 100 << 20,
		FreeSpace: func(dir string) (uint64, error) {
			if dir != "/db" {
				t.Errorf("statfs of %q, want the data dir", dir)
			}
			return free.Load(), nil
		},
		Now: func() time.Time { return time.Unix(0, clock.Load()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := putValue(s, "a", false); err != nil {
		t.Fatal(err)
	}
	free.Store(10 << 20)
	if err := putValue(s, "b", false); err != nil {
		t.Fatalf("write within a second of the last reading: %v (the reading is cached)", err)
	}
	clock.Add(int64(time.Second))
	if err := putValue(s, "c", false); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("write below the minimum: %v, want ErrDiskFull", err)
	}
	if _, found, _ := s.Get(0, []byte("c")); found {
		t.Fatal("a refused write was stored")
	}
	if _, _, err := s.PutHint("n2", 0, []byte("k"), vclock.Set{Clock: vclock.VV{{Actor: 1, Counter: 1}}}); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("hint below the minimum: %v, want ErrDiskFull", err)
	}
	if err := s.PutMeta("x", []byte("y")); err != nil {
		t.Fatalf("metadata write while full: %v", err)
	}
	if s.State() != "disk_full" {
		t.Fatalf("state %q, want disk_full", s.State())
	}
	free.Store(1 << 30)
	clock.Add(int64(time.Second))
	if err := putValue(s, "c", false); err != nil {
		t.Fatalf("write after space was freed: %v", err)
	}
	if s.State() != "ok" {
		t.Fatalf("state %q after space was freed", s.State())
	}
}
