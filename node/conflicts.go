package node

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/dynkv/dynkv/vclock"
)

// Conflict observability: every write this node's store applies (client
// writes, replication, repairs, hand-offs) is summarised with vclock.Peek
// and offered to two bounded top-K tables, the keys with the most siblings
// and those with the largest causal contexts. GET /admin/conflicts lists
// them; ?scan=true first feeds every key in local storage through the same
// tables, for keys written before the node started.

// maxConflictRows is K, the size of each table and the largest ?limit=.
const maxConflictRows = 256

// ConflictRow is one key in GET /admin/conflicts.
type ConflictRow struct {
	Key          string `json:"key"`
	Partition    int    `json:"partition"`
	Siblings     int    `json:"siblings"`
	ContextBytes int    `json:"context_bytes"`
}

// ConflictReport is the document of GET /admin/conflicts.
type ConflictReport struct {
	Node            string        `json:"node"`
	SiblingWarning  int           `json:"sibling_warning"`
	MaxSiblings     int           `json:"max_siblings"`
	SiblingWarnings uint64        `json:"sibling_warnings"` // writes since start that left a key above sibling_warning
	ScannedKeys     *int          `json:"scanned_keys,omitempty"`
	MostSiblings    []ConflictRow `json:"most_siblings"`
	LargestContexts []ConflictRow `json:"largest_contexts"`
}

// conflicts tracks the keys of the two tables.
type conflicts struct {
	warnAbove int
	warnings  atomic.Uint64

	mu       sync.Mutex
	siblings *topK // keys with 2 or more siblings
	contexts *topK // keys with a non-empty context
}

func newConflicts(warnAbove int) *conflicts {
	return &conflicts{
		warnAbove: warnAbove,
		siblings:  newTopK(maxConflictRows, func(r ConflictRow) int { return r.Siblings }),
		contexts:  newTopK(maxConflictRows, func(r ConflictRow) int { return r.ContextBytes }),
	}
}

// observer wraps a store observer (nil: none) so that every write also
// reaches the tables.
func (c *conflicts) observer(prev func(int) func(key, oldRaw, newRaw []byte)) func(int) func(key, oldRaw, newRaw []byte) {
	return func(p int) func(key, oldRaw, newRaw []byte) {
		var done func(key, oldRaw, newRaw []byte)
		if prev != nil {
			done = prev(p)
		}
		return func(key, oldRaw, newRaw []byte) {
			if done != nil {
				done(key, oldRaw, newRaw)
			}
			switch {
			case newRaw != nil:
				c.observe(p, key, newRaw, true)
			case oldRaw != nil: // removed (a reaped tombstone)
				c.offer(ConflictRow{Key: string(key), Partition: p})
			}
		}
	}
}

// observe offers the key's stored set to the tables; written counts it
// against the warning level.
func (c *conflicts) observe(p int, key, raw []byte, written bool) {
	sum, err := vclock.Peek(raw)
	if err != nil {
		return // the store holds only what vclock encoded; reads report corruption
	}
	if written && sum.Siblings > c.warnAbove {
		c.warnings.Add(1)
	}
	c.offer(ConflictRow{Key: string(key), Partition: p, Siblings: sum.Siblings, ContextBytes: sum.ContextBytes})
}

func (c *conflicts) offer(r ConflictRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.siblings.offer(r, r.Siblings > 1)
	c.contexts.offer(r, r.ContextBytes > 0)
}

// overWarning counts the keys of the siblings table above the warning
// level: the keys this node knows to be past it (at most maxConflictRows).
func (c *conflicts) overWarning() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	over := 0
	for _, r := range c.siblings.rows {
		if r.Siblings > c.warnAbove {
			over++
		}
	}
	return over
}

func (c *conflicts) report(limit int) (most, largest []ConflictRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.siblings.top(limit), c.contexts.top(limit)
}

// topK keeps the k rows of highest score seen, one per key, with the
// latest score of each. floor is the lowest score held while full; rows
// scoring no more are turned away without a scan.
type topK struct {
	k     int
	score func(ConflictRow) int
	rows  map[string]ConflictRow
	floor int
	min   string // the key holding floor
	stale bool   // floor and min must be recomputed before use
}

func newTopK(k int, score func(ConflictRow) int) *topK {
	return &topK{k: k, score: score, rows: make(map[string]ConflictRow), stale: true}
}

// offer records r's latest state; keep false drops the key (resolved,
// deleted, or below interest).
func (t *topK) offer(r ConflictRow, keep bool) {
	s := t.score(r)
	if _, ok := t.rows[r.Key]; ok {
		switch {
		case !keep:
			delete(t.rows, r.Key)
			t.stale = true
		case r.Key == t.min && s > t.floor:
			t.rows[r.Key] = r
			t.stale = true
		default:
			t.rows[r.Key] = r
			if !t.stale && s < t.floor {
				t.floor, t.min = s, r.Key
			}
		}
		return
	}
	if !keep {
		return
	}
	if len(t.rows) < t.k {
		t.rows[r.Key] = r
		t.stale = true
		return
	}
	t.refresh()
	if s <= t.floor {
		return
	}
	delete(t.rows, t.min)
	t.rows[r.Key] = r
	t.stale = true
}

func (t *topK) refresh() {
	if !t.stale {
		return
	}
	first := true
	for key, r := range t.rows {
		if s := t.score(r); first || s < t.floor {
			t.floor, t.min, first = s, key, false
		}
	}
	t.stale = false
}

// top returns up to limit rows, highest score first (ties by key).
func (t *topK) top(limit int) []ConflictRow {
	out := make([]ConflictRow, 0, len(t.rows))
	for _, r := range t.rows {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b ConflictRow) int {
		if c := cmp.Compare(t.score(b), t.score(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out[:min(limit, len(out))]
}

// SiblingWarnings is the number of writes since start that left a key with
// more siblings than Limits.SiblingWarning.
func (n *Node) SiblingWarnings() uint64 { return n.conflicts.warnings.Load() }

// scanConflicts feeds every key in local storage to the tables and returns
// how many it read.
func (n *Node) scanConflicts() (int, error) {
	keys := 0
	for p := range n.cfg.Partitions {
		err := n.store.ScanPartition(p, func(key, raw []byte) bool {
			keys++
			n.conflicts.observe(p, key, raw, false)
			return n.ctx.Err() == nil
		})
		if err != nil {
			return keys, fmt.Errorf("scanning partition %d: %w", p, err)
		}
	}
	return keys, n.ctx.Err()
}

// serveConflicts answers GET /admin/conflicts[?limit=N][&scan=true].
func (n *Node) serveConflicts(w http.ResponseWriter, r *http.Request) {
	limit, scan := 20, false
	for name, vals := range r.URL.Query() {
		v := vals[len(vals)-1]
		var err error
		switch name {
		case "limit":
			limit, err = strconv.Atoi(v)
			if err == nil && (limit < 1 || limit > maxConflictRows) {
				err = fmt.Errorf("out of range")
			}
		case "scan":
			scan, err = strconv.ParseBool(v)
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q; /admin/conflicts takes limit (1 to %d) and scan (true or false)", name, maxConflictRows), nil)
			return
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s=%q: limit must be a number from 1 to %d, scan true or false", name, v, maxConflictRows), nil)
			return
		}
	}
	rep := ConflictReport{
		Node: n.name, SiblingWarning: n.cfg.Limits.SiblingWarning, MaxSiblings: n.cfg.Limits.MaxSiblings,
	}
	if scan {
		keys, err := n.scanConflicts()
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error(), nil)
			return
		}
		rep.ScannedKeys = &keys
	}
	rep.SiblingWarnings = n.SiblingWarnings()
	rep.MostSiblings, rep.LargestContexts = n.conflicts.report(limit)
	writeJSON(w, http.StatusOK, rep)
}
