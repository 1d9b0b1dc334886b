package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/dynkv/dynkv/vclock"
)

// BenchmarkHintDelivery measures handing over hints of 1 KiB values from
// one node to another over real TCP RPC, with no rate limit: scan, batch,
// send, merge and sync on the target, delete on the holder.
//
//	go test -run '^$' -bench HintDelivery -benchtime 20000x ./node/
func BenchmarkHintDelivery(b *testing.B) {
	c := startCluster(b, 2, func(cfg *Config) {
		cfg.RPCNetwork, cfg.RPCAddr = nil, "127.0.0.1:0"
		cfg.Hints.Interval = time.Hour // deliver only when kicked
		cfg.Hints.RateBytes = 0
	})
	holder := c.nodes[0]
	value := make([]byte, 1024)
	for i := range b.N {
		set, _ := vclock.Set{}.Update(nil, 1, value, "application/octet-stream", false)
		key := fmt.Appendf(nil, "key-%09d", i)
		if err := holder.hints.Add("n2", holder.mem.current().ring.Partition(key), key, set); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	holder.hints.Kick()
	for {
		if total, _ := holder.hints.Pending(); total == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "keys/s")
	b.ReportMetric(float64(b.N*len(value))/elapsed.Seconds()/(1<<20), "MiB/s")
}
