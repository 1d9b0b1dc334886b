#!/usr/bin/env bash
# fuzz.sh: run every fuzz target of the module for a bounded time.
#
# Finds the targets with `go test -list '^Fuzz'` in each package, runs each
# one on its own (go test fuzzes one target at a time) for FUZZTIME, and
# prints a summary line per target. New crashers are written by go test to
# <pkg>/testdata/fuzz/<Target>/: commit them with the fix, as regression
# inputs. Exits non-zero if any target failed.
#
# Usage: scripts/fuzz.sh [package pattern...]   (default ./...)
# Environment:
#   FUZZTIME=30s         time per target (a duration, or Nx for N runs)
#   FUZZPARALLEL=1       fuzzing workers per target (go test -parallel)
#   FUZZMINIMIZETIME=5s  time to minimize each new input (the default, 60s,
#                        can eat a short run)
#   FUZZMATCH=.          only targets whose name matches this regexp
#   FUZZLOG=<dir>        keep each target's output there (default a temp dir)
set -euo pipefail

cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
parallel=${FUZZPARALLEL:-1}
minimize=${FUZZMINIMIZETIME:-5s}
match=${FUZZMATCH:-.}
logdir=${FUZZLOG:-$(mktemp -d)}
mkdir -p "$logdir"
patterns=("$@")
[ ${#patterns[@]} -eq 0 ] && patterns=(./...)

failed=()
passed=0
for pkg in $(go list "${patterns[@]}"); do
	# -list prints the matching names, then "ok  <pkg> <time>".
	if ! list=$(go test -run '^$' -list '^Fuzz' "$pkg" 2>&1); then
		printf 'FAIL %-40s (does not build)\n' "$pkg"
		echo "$list" | head -20 | sed 's/^/     /'
		failed+=("$pkg (does not build)")
		continue
	fi
	targets=$(echo "$list" | grep '^Fuzz' | grep -E -- "$match" || true)
	for target in $targets; do
		log="$logdir/$(echo "$pkg" | tr / _).$target.log"
		start=$(date +%s)
		if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" \
			-fuzzminimizetime "$minimize" -parallel "$parallel" "$pkg" >"$log" 2>&1; then
			result=ok
			passed=$((passed + 1))
		else
			result=FAIL
			failed+=("$pkg $target")
		fi
		# A short run may print no progress line: no count, not an error.
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
		printf '%-4s %-40s %-22s %5ss  execs=%s\n' "$result" "$pkg" "$target" "$(($(date +%s) - start))" "${execs:-?}"
		if [ "$result" = FAIL ]; then
			{ grep -E -- '--- FAIL|Failing input|panic:|\.go:[0-9]+:' "$log" || true; } | head -20 | sed 's/^/     /'
		fi
	done
done

echo "fuzz.sh: $passed passed, ${#failed[@]} failed; logs in $logdir"
if [ ${#failed[@]} -gt 0 ]; then
	printf '  failed: %s\n' "${failed[@]}"
	exit 1
fi
