// Package bench is the load generator of dynkv: it drives a cluster through
// the Go client with YCSB-style workloads and reports what it saw.
//
// bench owns:
//   - workloads: the YCSB core mixes A, B, C, D and F and a custom read ratio,
//     with uniform, scrambled zipfian (θ = 0.99) or latest key choice, fixed
//     or ranged value sizes and an optional load phase;
//   - rate control: a closed loop of Concurrency workers, or an open loop
//     with a fixed schedule of Rate operations per second whose latency is
//     measured from each operation's intended start, so that a stall of the
//     system under test shows in the numbers instead of silently slowing the
//     generator down (coordinated omission);
//   - measurement: HDR histograms per operation type, errors by kind, a
//     per-second timeline, the bench's own CPU time, and (MeasureStaleness)
//     the fraction of stale reads and the t-visibility curve of Bailis et
//     al., "Probabilistically Bounded Staleness for Practical Partial
//     Quorums" (VLDB 2012);
//   - reports: a Result that marshals to the JSON document, a text summary
//     and a self-contained HTML page.
//
// bench does not own flag parsing (cmd/dynkv binds flags into a Config),
// how requests reach the cluster (anything that implements KV, normally a
// *client.Client), nor starting or stopping the cluster it measures. It
// holds no mutable globals: everything lives in a Bench built from a Config.
package bench
