package node

import (
	"net/http"
	"slices"
	"testing"

	"github.com/dynkv/dynkv/vclock"
)

// TestEmptyContextSupersedesNothing: a read that finds nothing returns the
// empty context, and a write carrying it keeps the versions its replicas
// had not shown the reader (found by the partition-cycle scenario: the
// write used to go out blind and overwrite what its coordinator held).
func TestEmptyContextSupersedesNothing(t *testing.T) {
	if v, err := vclock.DecodeContext(emptyContext); err != nil || len(v) != 0 {
		t.Fatalf("emptyContext decodes to %v, %v; want the empty clock", v, err)
	}
	c := startCluster(t, 3, nil)
	r := c.do(0, http.MethodGet, "/kv/fresh?r=1", nil, nil)
	if r.status != http.StatusNotFound || r.header.Get(headerContext) != emptyContext {
		t.Fatalf("GET of a missing key: %d, context %q; want 404 with %q", r.status, r.header.Get(headerContext), emptyContext)
	}
	// Another client writes meanwhile; then the first writes with what it read.
	mustStatus(t, "other write", c.put(1, "fresh", "?w=3", "other", ""), http.StatusNoContent)
	mustStatus(t, "write with empty context", c.put(2, "fresh", "?w=3", "mine", emptyContext), http.StatusNoContent)
	st, _, vals := c.get(0, "fresh", "?r=3")
	slices.Sort(vals)
	if st != http.StatusMultipleChoices || !slices.Equal(vals, []string{"mine", "other"}) {
		t.Fatalf("after a write with the empty context: %d %v, want 300 [mine other]", st, vals)
	}
}
