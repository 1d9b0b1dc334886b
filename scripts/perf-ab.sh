#!/usr/bin/env bash
# perf-ab.sh: paired A/B runs of two dynkv builds on this machine.
#
# A change to the request path is worth keeping only if it shows against the
# build before it, measured at the same moment: on a shared 2-core machine
# the load average moves the absolute figures by more than most changes do.
# This script builds two git refs (or takes two binaries), starts a
# three-node cluster of each (`dynkv dev`, N=3, R=2, W=2) on loopback with
# throw-away data directories, loads the key space once per cluster, then
# alternates measured runs A, B, A, B, ... of the same workload and prints
# one row per run: throughput, p50/p99, and the CPU the three nodes and the
# bench each spent per operation (nodes from /proc, bench from its JSON).
# Only one cluster is under load at a time; the idle one only gossips.
#
# Usage: scripts/perf-ab.sh [OLD [NEW]]   OLD/NEW: git refs or dynkv binaries
#                                         (default HEAD~1 and the work tree)
# Tunables (environment): KEYS=100000 VALUE=1024 CONC=64 DURATION=20s
#   PAIRS=3 WORKLOAD=a BASE_PORT=29101 (B uses BASE_PORT+100)
set -euo pipefail

OLD=${1:-HEAD~1}
NEW=${2:-}
KEYS=${KEYS:-100000}
VALUE=${VALUE:-1024}
CONC=${CONC:-64}
DURATION=${DURATION:-20s}
PAIRS=${PAIRS:-3}
WORKLOAD=${WORKLOAD:-a}
BASE_PORT=${BASE_PORT:-29101}

cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/dynkv-ab.XXXXXX)
DEVS=()

log() { echo "perf-ab: $*" >&2; }

cleanup() {
	local p
	for p in "${DEVS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${DEVS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# build NAME REF: a binary at $WORK/NAME from a file, a git ref, or (empty
# ref) the work tree as it is.
build() {
	local name=$1 ref=$2
	if [ -n "$ref" ] && [ -f "$ref" ]; then
		cp "$ref" "$WORK/$name"
	elif [ -z "$ref" ]; then
		go build -o "$WORK/$name" ./cmd/dynkv
	else
		mkdir -p "$WORK/src-$name"
		git archive "$ref" | tar -x -C "$WORK/src-$name"
		(cd "$WORK/src-$name" && go build -o "$WORK/$name" ./cmd/dynkv)
	fi
	log "$name: ${ref:-work tree} built"
}

# shellcheck source=cpu.sh
. scripts/cpu.sh # after the cd above: from the repository root

# start NAME PORT: a three-node cluster of binary NAME; sets EPS_<NAME>.
start() {
	local name=$1 port=$2 i eps=""
	"$WORK/$name" dev --data-dir "$WORK/data-$name" --base-port "$port" >"$WORK/dev-$name.log" 2>&1 &
	DEVS+=("$!")
	for i in 0 1 2; do eps+="${eps:+,}127.0.0.1:$((port + i))"; done
	# dev says so once every node is healthy and in every node's ring.
	for i in $(seq 1 450); do
		if grep -q "cluster ready" "$WORK/dev-$name.log"; then break; fi
		sleep 0.2
	done
	if ! grep -q "cluster ready" "$WORK/dev-$name.log"; then
		log "$name: the cluster did not get ready in 90 s; its log:"
		cat "$WORK/dev-$name.log" >&2
		exit 1
	fi
	printf -v "EPS_$name" '%s' "$eps"
	log "$name: cluster up on $eps; loading $KEYS keys"
	"$WORK/$name" bench --endpoints "$eps" "${BENCH[@]}" --load-only >/dev/null 2>&1
}

# node_pids NAME: the `dynkv serve` children of the cluster's dev process.
node_pids() {
	local idx=$1
	pgrep -P "${DEVS[$idx]}" | tr '\n' ' '
}

BENCH=(--workload "$WORKLOAD" --keys "$KEYS" --value-size "$VALUE" --concurrency "$CONC")

build A "$OLD"
build B "$NEW"
start A "$BASE_PORT"
start B "$((BASE_PORT + 100))"

echo "A = ${OLD}, B = ${NEW:-work tree}; workload $WORKLOAD, $KEYS keys, $VALUE-byte values, $CONC clients, $DURATION per run"
echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-5s %9s %8s %8s %14s %14s %7s\n' pair build ops/s p50_ms p99_ms node_us/op bench_us/op errors
for pair in $(seq 1 "$PAIRS"); do
	for name in A B; do
		idx=0
		[ "$name" = B ] && idx=1
		eps_var="EPS_$name"
		# shellcheck disable=SC2046
		pids=$(node_pids "$idx")
		# shellcheck disable=SC2086
		before=$(cpu_of $pids)
		"$WORK/$name" bench --endpoints "${!eps_var}" "${BENCH[@]}" --duration "$DURATION" \
			--json "$WORK/run.json" >/dev/null 2>&1
		# shellcheck disable=SC2086
		after=$(cpu_of $pids)
		jq -e '.errors_total == 0' "$WORK/run.json" >/dev/null ||
			log "$name run $pair had errors: $(jq -c .errors "$WORK/run.json")"
		jq -r --arg pair "$pair" --arg name "$name" --arg cpu "$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }')" \
			'[$pair, $name, (.ops_per_sec | floor), .all.p50_ms, .all.p99_ms,
			  (($cpu | tonumber) * 1e6 / (if .ops_total > 0 then .ops_total else 1 end) | floor),
			  (.cpu_us_per_op | floor), .errors_total] | @tsv' "$WORK/run.json" |
			awk -F'\t' '{ printf "%-5s %-5s %9s %8.2f %8.2f %14s %14s %7s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
