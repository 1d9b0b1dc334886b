package store

import (
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Durability without an fsync per write.
//
// Pebble's NoSync writes stay in the WAL writer's memory until a block fills
// or someone syncs, so a process crash (kill -9) loses them; the contract
// only allows losing unsynced writes to an OS crash or power loss. So every
// write here asks pebble for a sync, which makes pebble's flush loop hand
// the WAL bytes to the OS and then call Sync on the WAL file, and this
// wrapper decides whether that Sync really reaches the disk: only while a
// caller that asked for durability (sync=true) is writing. A durable writer
// registers before its record is queued, so every Sync that covers its
// record sees it registered. Pebble's group commit then amortises both the
// write syscalls and the real fsyncs across concurrent writers.

// syncGate counts writers in flight that need an fsync.
type syncGate struct{ waiting atomic.Int64 }

func (g *syncGate) enter() { g.waiting.Add(1) }
func (g *syncGate) leave() { g.waiting.Add(-1) }
func (g *syncGate) open() bool {
	return g.waiting.Load() > 0
}

// walFS wraps the filesystem pebble uses so that WAL files consult the gate.
type walFS struct {
	vfs.FS
	gate  *syncGate
	guard *diskGuard
}

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs walFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return f, err
	}
	return walFile{File: f, gate: fs.gate, guard: fs.guard}, nil
}

func (fs walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(name, f, err)
}

func (fs walFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(newname, f, err)
}

func (fs walFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, category, opts...)
	return fs.wrap(name, f, err)
}

// walFile skips the fsync of a WAL sync when no durable writer waits. The
// bytes were already written to the OS by then.
//
// A failed write or fsync latches the store's failure (diskguard.go) and is
// not returned to pebble, whose commit pipeline would stop the process: the
// store reports it to the writers instead. After it no fsync is tried again
// (a retry could succeed without the data being on disk) and nothing more
// is written to the WAL.
type walFile struct {
	vfs.File
	gate  *syncGate
	guard *diskGuard
}

// failed latches err if set and reports whether the WAL is unusable.
func (f walFile) failed(err error) bool {
	if err != nil {
		f.guard.latch(err)
	}
	return f.guard.failed.Load() != nil
}

func (f walFile) Write(p []byte) (int, error) {
	if f.failed(nil) {
		return len(p), nil
	}
	n, err := f.File.Write(p)
	if f.failed(err) {
		return len(p), nil
	}
	return n, err
}

func (f walFile) Sync() error {
	if f.failed(nil) || !f.gate.open() {
		return nil
	}
	f.failed(f.File.Sync())
	return nil
}

func (f walFile) SyncData() error {
	if f.failed(nil) || !f.gate.open() {
		return nil
	}
	f.failed(f.File.SyncData())
	return nil
}

func (f walFile) SyncTo(length int64) (bool, error) {
	if f.failed(nil) || !f.gate.open() {
		return false, nil
	}
	full, err := f.File.SyncTo(length)
	if f.failed(err) {
		return false, nil
	}
	return full, nil
}
