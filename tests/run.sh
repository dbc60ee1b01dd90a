#!/bin/sh
# Runs every lrhub test: the unit test programs in BUILD/tests/ and the
# end-to-end scripts tests/e2e_*.sh (which drive BUILD/lrhub), from the
# project root, for each BUILD folder given (for example build and the
# sanitizer build build-san). Each program prints "N passed, N failed" last;
# this adds them all up and ends with the total in the same form. Exit status
# 1 if anything failed.
#
#   sh tests/run.sh [--only unit|e2e] [--match PATTERN] BUILD...
set -u
which=all
pattern=
while [ $# -gt 0 ]; do
	case $1 in
	--only) which=$2; shift 2 ;;
	--match) pattern=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -eq 0 ] && set -- build
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
export LRHUB_ROOT="$root"
out=$(mktemp -d "${TMPDIR:-/tmp}/lrhub-tests.XXXXXX")
trap 'rm -rf "$out"' EXIT

total_pass=0
total_fail=0
broken=""

run_one() {
	name=$1
	shift
	log="$out/$(echo "$name" | tr / _).log"
	# No test may hang the suite: each program gets $TEST_TIMEOUT seconds.
	timeout --kill-after=10 "${TEST_TIMEOUT:-600}" "$@" >"$log" 2>&1
	status=$?
	[ "$status" -eq 124 ] && echo "--- $name timed out after ${TEST_TIMEOUT:-600} s"
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$summary" ]; then
		summary="0 passed, 1 failed"
		echo "--- $name printed no summary (exit $status):"
		tail -n 20 "$log"
	fi
	p=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "$summary" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "--- $name exited $status:"
		tail -n 20 "$log"
	fi
	if [ "$f" -ne 0 ]; then
		broken="$broken $name"
		grep -E '^(FAIL|not ok)' "$log" | head -n 40
	fi
	printf '%-10s %-24s %s\n' "$build" "$(basename "$name")" "$summary"
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

for build in "$@"; do
	export LRHUB="$root/$build/lrhub"
	export LRHUB_BUILD="$root/$build"
	case $build in *san*) export LRHUB_SANITIZED=1 ;; *) unset LRHUB_SANITIZED ;; esac
	if [ "$which" = all ] || [ "$which" = unit ]; then
		for t in "$build"/tests/test_*; do
			[ -x "$t" ] || continue
			case "$t" in *.o|*.d) continue ;; esac
			[ -n "$pattern" ] && case "$t" in *$pattern*) ;; *) continue ;; esac
			run_one "$build/$(basename "$t")" "$t"
		done
	fi
	if [ "$which" = all ] || [ "$which" = e2e ]; then
		for t in tests/e2e_*.sh; do
			[ -f "$t" ] || continue
			[ -n "$pattern" ] && case "$t" in *$pattern*) ;; *) continue ;; esac
			run_one "$build/$(basename "$t")" sh "$t"
		done
	fi
done

[ -n "$broken" ] && echo "failing:$broken"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
