package store

import (
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dynkv/dynkv/vclock"
)

// countingFS counts the syncs that reach WAL files.
type countingFS struct {
	vfs.FS
	syncs *atomic.Int64
}

func (fs countingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	if err != nil || !isWAL(name) {
		return f, err
	}
	return countingFile{f, fs.syncs}, nil
}

type countingFile struct {
	vfs.File
	syncs *atomic.Int64
}

func (f countingFile) Sync() error     { f.syncs.Add(1); return f.File.Sync() }
func (f countingFile) SyncData() error { f.syncs.Add(1); return f.File.SyncData() }
func (f countingFile) SyncTo(n int64) (bool, error) {
	f.syncs.Add(1)
	return f.File.SyncTo(n)
}

// TestOnlyDurableWritesFsync: writes with sync=false reach the WAL file
// without an fsync; writes with sync=true fsync it.
func TestOnlyDurableWritesFsync(t *testing.T) {
	var syncs atomic.Int64
	s, err := Open(Config{Dir: "/db", FS: countingFS{vfs.NewMem(), &syncs}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, _ := vclock.Set{}.Update(nil, 1, []byte("v"), "", false)
	put := func(sync bool) {
		if _, err := s.Update(0, []byte("k"), sync, func(vclock.Set, bool) (vclock.Set, bool, error) { return v, true, nil }); err != nil {
			t.Fatal(err)
		}
	}
	before := syncs.Load()
	for range 20 {
		put(false)
	}
	if n := syncs.Load() - before; n != 0 {
		t.Fatalf("%d WAL fsyncs for writes without sync", n)
	}
	put(true)
	if syncs.Load() == before {
		t.Fatal("a sync=true write did not fsync the WAL")
	}
}
