package node

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs up to six simulated clusters side by side unless -parallel
// says otherwise: a scenario seed spends most of its time waiting on
// timeouts and fault phases, not on the CPU, so two at a time (the default
// on two cores) would leave the machine idle and the suite slow.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", "6"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
