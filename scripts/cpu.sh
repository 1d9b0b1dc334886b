# cpu.sh: sourced by the measuring scripts (compare.sh, perf-ab.sh).

# cpu_of PID...: summed user+system CPU seconds of the processes.
cpu_of() {
	local ticks=0 p
	for p in "$@"; do
		ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f", t / hz }'
}
