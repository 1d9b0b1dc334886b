#!/usr/bin/env bash
# compare.sh: dynkv, redis and etcd side by side on this machine.
#
# Starts, on loopback only and with throw-away data directories:
#   - a three-node dynkv cluster (`dynkv dev`, N=3, R=2, W=2),
#   - one redis-server (AOF on, appendfsync no: logged, not fsynced, like
#     dynkv's writes without sync=true),
#   - a three-member etcd cluster,
# and measures each with YCSB workload A (50% read, 50% update, zipfian)
# through dynkv's own bench generator, with the same key count, value size
# and concurrency, a load phase first; redis also with its own
# redis-benchmark (SET and GET, same value size and concurrency). etcd's
# `benchmark` tool is used if installed; Debian 12 does not package it.
# It prints a side-by-side table, with each system's CPU per operation
# (server processes from /proc, plus the bench process's own).
#
# Usage: scripts/compare.sh            (run from anywhere in the repo)
# Tunables (environment): KEYS=100000 VALUE=1024 CONC=64 DURATION=30s
#   REDIS_REQUESTS=1000000 NO_INSTALL=1 (do not apt-get install)
#   DYNKV_PORT=28101 REDIS_PORT=26379 ETCD_PORT=22379 (base ports)
set -euo pipefail

KEYS=${KEYS:-100000}
VALUE=${VALUE:-1024}
CONC=${CONC:-64}
DURATION=${DURATION:-30s}
REDIS_REQUESTS=${REDIS_REQUESTS:-1000000}
DYNKV_PORT=${DYNKV_PORT:-28101}
REDIS_PORT=${REDIS_PORT:-26379}
ETCD_PORT=${ETCD_PORT:-22379}

cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/dynkv-compare.XXXXXX)
PIDS=()
ROWS=()
NOTES=()

log() { echo "compare: $*" >&2; }

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_packages() {
	if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null &&
		command -v etcd >/dev/null && command -v etcdctl >/dev/null; then
		return
	fi
	if [ -n "${NO_INSTALL:-}" ]; then
		log "redis-server, redis-benchmark, etcd or etcdctl missing and NO_INSTALL is set"
		exit 1
	fi
	log "installing redis-server redis-tools etcd-server etcd-client"
	apt-get install -y --no-install-recommends redis-server redis-tools etcd-server etcd-client >&2
}

# wait_until CMD...: retries CMD every 0.2s, for at most 30s.
wait_until() {
	local i
	for i in $(seq 1 150); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	log "gave up waiting for: $*"
	return 1
}

# shellcheck source=cpu.sh
. scripts/cpu.sh # after the cd above: from the repository root

# measure NAME SYSTEM TOOL SERVER_PIDS -- BENCH_CMD...: runs the measured
# run, then adds a table row from its JSON result and the servers' CPU.
measure() {
	local name=$1 system=$2 tool=$3 pids=$4
	shift 5
	local c0 c1
	c0=$(cpu_of $pids)
	"$@" --json "$WORK/$name.json" >"$WORK/$name.txt"
	c1=$(cpu_of $pids)
	cat "$WORK/$name.txt" >&2
	read -r ops p50 p99 bcpu total < <("$WORK/otherkv" --summary "$WORK/$name.json")
	ROWS+=("$(awk -v s="$system" -v t="$tool" -v o="$ops" -v a="$p50" -v b="$p99" -v c0="$c0" -v c1="$c1" -v bc="$bcpu" -v n="$total" \
		'BEGIN { printf "%s|%s|A|%s|%s|%s|%.0f|%.0f", s, t, o, a, b, (c1-c0)*1e6/n, bc*1e6/n }')")
}

bench_args=(--workload a --keys "$KEYS" --value-size "$VALUE" --concurrency "$CONC" --quiet)

run_dynkv() {
	log "dynkv: starting a three-node cluster on 127.0.0.1:$DYNKV_PORT-$((DYNKV_PORT + 2))"
	"$WORK/dynkv" dev --data-dir "$WORK/dynkv-data" --base-port "$DYNKV_PORT" >"$WORK/dynkv-dev.log" 2>&1 &
	local dev=$!
	PIDS+=("$dev")
	wait_until grep -q "cluster ready" "$WORK/dynkv-dev.log"
	local eps="127.0.0.1:$DYNKV_PORT,127.0.0.1:$((DYNKV_PORT + 1)),127.0.0.1:$((DYNKV_PORT + 2))"
	local pids
	pids=$(pgrep -P "$dev" | tr '\n' ' ')
	"$WORK/dynkv" bench --endpoints "$eps" "${bench_args[@]}" --load-only >&2
	measure dynkv "dynkv, 3 nodes N=3 R=2 W=2" "dynkv bench" "$pids" -- \
		"$WORK/dynkv" bench --endpoints "$eps" "${bench_args[@]}" --duration "$DURATION"
	kill -TERM "$dev"
	wait "$dev" || true
}

run_redis() {
	log "redis: starting redis-server on 127.0.0.1:$REDIS_PORT"
	mkdir -p "$WORK/redis"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK/redis" --save '' \
		--appendonly yes --appendfsync no --daemonize no --logfile "$WORK/redis.log" &
	local pid=$!
	PIDS+=("$pid")
	wait_until redis-cli -p "$REDIS_PORT" ping
	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t set,get -d "$VALUE" -c "$CONC" \
		-n "$REDIS_REQUESTS" -r "$KEYS" --csv >"$WORK/redis-benchmark.csv"
	cat "$WORK/redis-benchmark.csv" >&2
	# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
	while IFS=, read -r test rps _ _ p50 _ p99 _; do
		test=${test//\"/}
		[ "$test" = test ] && continue
		ROWS+=("redis, 1 server|redis-benchmark|$test only|${rps//\"/}|${p50//\"/}|${p99//\"/}|-|-")
	done <"$WORK/redis-benchmark.csv"
	redis-cli -p "$REDIS_PORT" flushall >/dev/null
	"$WORK/otherkv" --target redis --endpoints "127.0.0.1:$REDIS_PORT" "${bench_args[@]}" --load-only >&2
	measure redis "redis, 1 server" "dynkv bench (RESP)" "$pid" -- \
		"$WORK/otherkv" --target redis --endpoints "127.0.0.1:$REDIS_PORT" "${bench_args[@]}" --duration "$DURATION"
	kill -TERM "$pid"
	wait "$pid" || true
}

run_etcd() {
	local cluster="" eps="" i pids=()
	for i in 0 1 2; do
		cluster+="${cluster:+,}e$i=http://127.0.0.1:$((ETCD_PORT + 10 * i + 1))"
		eps+="${eps:+,}127.0.0.1:$((ETCD_PORT + 10 * i))"
	done
	log "etcd: starting three members, clients on $eps"
	for i in 0 1 2; do
		local c=$((ETCD_PORT + 10 * i)) p=$((ETCD_PORT + 10 * i + 1))
		etcd --name "e$i" --data-dir "$WORK/etcd$i" \
			--listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
			--listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
			--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token dynkv-compare \
			--logger zap --log-level error >"$WORK/etcd$i.log" 2>&1 &
		pids+=("$!")
		PIDS+=("$!")
	done
	wait_until env ETCDCTL_API=3 etcdctl --endpoints "$eps" endpoint health
	local tool
	if tool=$(command -v benchmark || command -v etcd-benchmark); then
		"$tool" --endpoints "$eps" --conns "$CONC" --clients "$CONC" put --key-size 16 \
			--val-size "$VALUE" --key-space-size "$KEYS" --total "$((KEYS * 2))" >&2 || true
	else
		NOTES+=("etcd's own benchmark tool is not packaged in Debian (etcd-client ships only etcdctl): etcd was measured with dynkv's generator only")
	fi
	"$WORK/otherkv" --target etcd --endpoints "$eps" "${bench_args[@]}" --load-only >&2
	measure etcd "etcd, 3 members" "dynkv bench (JSON gateway)" "${pids[*]}" -- \
		"$WORK/otherkv" --target etcd --endpoints "$eps" "${bench_args[@]}" --duration "$DURATION"
	kill -TERM "${pids[@]}"
	wait "${pids[@]}" || true
}

print_table() {
	echo
	echo "workload A (50% read / 50% update, zipfian), $KEYS keys, $VALUE-byte values, $CONC concurrent clients, $DURATION"
	echo "machine: $(nproc) cores; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	{
		echo "system|tool|workload|ops/s|p50 ms|p99 ms|server CPU µs/op|bench CPU µs/op"
		printf '%s\n' "${ROWS[@]}"
	} | column -t -s '|'
	local n
	for n in "${NOTES[@]}"; do
		echo "note: $n"
	done
}

install_packages
log "building dynkv and otherkv"
go build -o "$WORK/dynkv" ./cmd/dynkv
go build -o "$WORK/otherkv" ./scripts/otherkv
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
run_dynkv
run_redis
run_etcd
print_table
