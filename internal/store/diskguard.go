package store

import "errors"

var (
	// ErrDiskFull is returned by writes while the data directory's file
	// system has less free space than Config.MinFreeDisk. Nothing was
	// written; writes resume once space is freed.
	ErrDiskFull = errors.New("store: disk full: free space is below the minimum (--min-free-disk)")
	// ErrStorageFailed is returned by every write once a WAL write or fsync
	// has failed: after a failed fsync the kernel may have dropped the
	// dirty pages, so nothing written since can be trusted to be on disk
	// and retrying the fsync would report a false success. Reads continue;
	// the node must be restarted (and its disk checked) to take writes.
	ErrStorageFailed = errors.New("store: storage failed: a write-ahead log write or fsync failed; writes are refused until restart")
)
