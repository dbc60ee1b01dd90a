#!/bin/sh
# Runs every lrhub test: the unit test programs in BUILD/tests/ and the
# end-to-end scripts tests/e2e_*.sh (which drive BUILD/lrhub), from the
# project root, for each BUILD folder given (for example build and the
# sanitizer build build-san). Each program prints "N passed, N failed" last;
# this adds them all up and ends with the total in the same form. Exit status
# 1 if anything failed.
#
#   sh tests/run.sh [--only unit|e2e] [--match PATTERN] [--valgrind BUILD] BUILD...
#
# --valgrind BUILD also runs BUILD's unit test programs under valgrind's
# memcheck (any error, or a definite or indirect leak, fails the program),
# with LRHUB_VALGRIND=1 so that tests with large inputs use smaller ones of
# the same shape (TEST_VALGRIND in tests/test.h). Suppressions, if ever
# needed, go in tests/valgrind.supp with the reason for each.
#
# A BUILD that holds libFuzzer programs (build-fuzz, made by make
# fuzz-build): each target fuzz_NAME is run for $FUZZ_SECONDS (10) seconds
# from its seeds, as one test each (fuzz/run.sh --scratch: what it finds is
# not kept).
set -u
which=all
pattern=
valgrind_build=
while [ $# -gt 0 ]; do
	case $1 in
	--only) which=$2; shift 2 ;;
	--match) pattern=$2; shift 2 ;;
	--valgrind) valgrind_build=$2; shift 2 ;;
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
	started=$(date +%s)
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
	printf '%-10s %-24s %s (%s s)\n' "$build" "$(basename "$name")" "$summary" "$(($(date +%s) - started))"
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

if [ -n "$valgrind_build" ] && [ "$which" != e2e ]; then
	build=valgrind
	supp=
	[ -f tests/valgrind.supp ] && supp=--suppressions=tests/valgrind.supp
	for t in "$valgrind_build"/tests/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.o|*.d) continue ;; esac
		[ -n "$pattern" ] && case "$t" in *$pattern*) ;; *) continue ;; esac
		# shellcheck disable=SC2086
		run_one "valgrind/$(basename "$t")" env LRHUB_VALGRIND=1 LRHUB="$root/$valgrind_build/lrhub" \
			LRHUB_BUILD="$root/$valgrind_build" valgrind -q --error-exitcode=99 \
			--leak-check=full --errors-for-leak-kinds=definite,indirect \
			--show-leak-kinds=definite,indirect $supp "$t"
	done
fi

for build in "$@"; do
	fuzz_build=0
	for t in "$build"/fuzz_*; do
		[ -x "$t" ] && fuzz_build=1
	done
	case $fuzz_build in
	1)
		if [ "$which" = all ]; then
			for t in "$build"/fuzz_*; do
				[ -x "$t" ] || continue
				name=${t##*/fuzz_}
				[ -n "$pattern" ] && case "$name" in *$pattern*) ;; *) continue ;; esac
				run_one "$build/fuzz_$name" sh fuzz/run.sh --scratch "$build" "${FUZZ_SECONDS:-10}" "$name"
			done
		fi
		continue ;;
	esac
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
