//go:build !unix

package bench

import "time"

// cpuTime is not measured on this platform: cpu_seconds reports 0.
func cpuTime() time.Duration { return 0 }
