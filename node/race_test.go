//go:build race

package node

// raceEnabled is true under -race, where the simulator runs fewer seeds: the
// race detector slows it about tenfold, and two seeds show what it must.
const raceEnabled = true
