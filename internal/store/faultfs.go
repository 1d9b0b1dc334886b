package store

import (
	"errors"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// ErrInjected is the error FaultFS's failing files return.
var ErrInjected = errors.New("store: injected I/O error")

// FaultFS wraps a vfs.FS so that tests can make the write-ahead log's
// fsyncs fail, as a dying disk or a full thin-provisioned volume does.
// Set FailSync to start failing; everything else passes through.
type FaultFS struct {
	vfs.FS
	// FailSync makes every Sync, SyncData and SyncTo of a WAL file fail.
	FailSync *atomic.Bool
	// Syncs counts the fsyncs that reached WAL files (failed ones too).
	Syncs *atomic.Int64
}

// NewFaultFS wraps fs; nil means vfs.Default.
func NewFaultFS(fs vfs.FS) FaultFS {
	if fs == nil {
		fs = vfs.Default
	}
	return FaultFS{FS: fs, FailSync: new(atomic.Bool), Syncs: new(atomic.Int64)}
}

func (fs FaultFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return f, err
	}
	return faultFile{File: f, fs: fs}, nil
}

func (fs FaultFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs FaultFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

func (fs FaultFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	return fs.wrap(name, f, err)
}

type faultFile struct {
	vfs.File
	fs FaultFS
}

func (f faultFile) fail() error {
	f.fs.Syncs.Add(1)
	if f.fs.FailSync.Load() {
		return ErrInjected
	}
	return nil
}

func (f faultFile) Sync() error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f faultFile) SyncData() error {
	if err := f.fail(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f faultFile) SyncTo(length int64) (bool, error) {
	if err := f.fail(); err != nil {
		return false, err
	}
	return f.File.SyncTo(length)
}
