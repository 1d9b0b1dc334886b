package node

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/dynkv/dynkv/internal/store"
	"github.com/dynkv/dynkv/vclock"
)

// TooManySiblingsError refuses a client write that would leave a key with
// more siblings than Limits.MaxSiblings, or siblings too large together to
// travel between replicas (Bytes set). Nothing was stored.
type TooManySiblingsError struct {
	Siblings int `msgpack:"n"` // siblings the write would have left
	Max      int `msgpack:"m"`
	// Bytes is the size the sibling set would have reached, when that is
	// what was refused; MaxBytes its limit.
	Bytes    int `msgpack:"b,omitempty"`
	MaxBytes int `msgpack:"mb,omitempty"`
}

func (e *TooManySiblingsError) Error() string {
	resolve := fmt.Sprintf("nothing was written. Resolve the conflict: read the key, merge its siblings, and write the result back with the read's %s", headerContext)
	if e.Bytes > 0 {
		return fmt.Sprintf("siblings too large: this write would leave the key with %d siblings of %d bytes together and the limit is %d (they must fit one message between replicas); %s",
			e.Siblings, e.Bytes, e.MaxBytes, resolve)
	}
	return fmt.Sprintf("too many siblings: this write would leave the key with %d siblings and the limit is %d (--max-siblings); %s", e.Siblings, e.Max, resolve)
}

// checkSiblings refuses a write that would raise a key's sibling count
// above the limit. A write that does not add siblings is always taken, so
// that a key pushed over the limit by replication can still be resolved.
func (n *Node) checkSiblings(cur, next vclock.Set) error {
	max := n.cfg.Limits.MaxSiblings
	if max > 0 && len(next.Siblings) > max && len(next.Siblings) > len(cur.Siblings) {
		return &TooManySiblingsError{Siblings: len(next.Siblings), Max: max}
	}
	// The whole set travels between replicas in one RPC frame (64 MiB): a
	// set that outgrows it can never be replicated, repaired or read from a
	// peer. Refuse the write that would grow it past the value bound.
	limit := n.cfg.MaxSiblingBytes
	if limit <= 0 {
		limit = maxValueSizeLimit
	}
	if size := next.Size(); size > limit && size > cur.Size() {
		return &TooManySiblingsError{Siblings: len(next.Siblings), Max: max, Bytes: size, MaxBytes: limit}
	}
	return nil
}

// storageRefused reports a write the local store refused before applying
// it: its disk is full or has failed. The write during which the disk
// failed is not one: it may be visible on this node (a 500 says so).
func storageRefused(err error) bool {
	return (errors.Is(err, store.ErrDiskFull) || errors.Is(err, store.ErrStorageFailed)) && !errors.Is(err, store.ErrNotDurable)
}

// storageState names a store's refusal for the wire and /status: "ok",
// "disk_full" or "failed"; "" for an error that is no storage refusal.
func storageState(err error) string {
	switch {
	case err == nil:
		return "ok"
	case !storageRefused(err):
		return ""
	case errors.Is(err, store.ErrStorageFailed):
		return "failed"
	case errors.Is(err, store.ErrDiskFull):
		return "disk_full"
	}
	return ""
}

// storageError is the sentinel of a storageState.
func storageError(state string) error {
	if state == "failed" {
		return store.ErrStorageFailed
	}
	return store.ErrDiskFull
}

// writeLimitError answers the errors of this file's limits, reporting
// whether err was one of them: 409 for too many siblings, 507 for a store
// that refuses writes.
func writeLimitError(w http.ResponseWriter, err error) bool {
	var ts *TooManySiblingsError
	switch {
	case errors.As(err, &ts):
		extra := map[string]any{"siblings": ts.Siblings, "max_siblings": ts.Max, "detail": ts.Error()}
		if ts.Bytes > 0 {
			extra["bytes"], extra["max_bytes"] = ts.Bytes, ts.MaxBytes
		}
		writeError(w, http.StatusConflict, "too many siblings", extra)
	case storageRefused(err):
		writeError(w, http.StatusInsufficientStorage, "insufficient storage", map[string]any{
			"storage": storageState(err),
			"detail":  err.Error() + "; nothing was written: send the write to another node",
		})
	default:
		return false
	}
	return true
}
