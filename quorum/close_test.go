package quorum

import (
	"context"
	"runtime"
	"sync"
	"testing"
)

// TestCloseWhileSpawning: requests that finish while Close waits still
// start their background tails. With a WaitGroup this panicked ("WaitGroup
// is reused before previous Wait has returned") in the 1,000-seed
// simulation run; Close must just wait for, or outlive, such work.
func TestCloseWhileSpawning(t *testing.T) {
	for range 100 {
		c := New(nil, Config{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					c.spawn(runtime.Gosched)
				}
			})
		}
		runtime.Gosched()
		c.Close(context.Background())
		wg.Wait()
		c.Close(context.Background())
	}
}
