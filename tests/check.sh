#!/bin/sh
# make check's runner: the whole suite in two lanes at once, one per core,
# then each lane's output in turn and the total as "N passed, N failed".
#
#   sh tests/check.sh 'LANE 1 ARGS' 'LANE 2 ARGS'
#
# Each lane is one tests/run.sh with those arguments (for example
# 'build-san build-fuzz' and '--valgrind build build'). Most tests are
# single-threaded, so two lanes take about half the time of one.
set -u
cd "$(dirname "$0")/.." || exit 1
out=$(mktemp -d "${TMPDIR:-/tmp}/lrhub-check.XXXXXX")
trap 'rm -rf "$out"' EXIT

n=0
pids=
for lane in "$@"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	sh tests/run.sh $lane >"$out/lane$n.log" 2>&1 &
	pids="$pids $!"
done

status=0
for p in $pids; do
	wait "$p" || status=1
done

pass=0
fail=0
i=0
while [ "$i" -lt "$n" ]; do
	i=$((i + 1))
	log="$out/lane$i.log"
	summary=$(tail -n 1 "$log")
	# Everything but the lane's own total line.
	sed '$d' "$log"
	case $summary in
	*" passed, "*" failed")
		pass=$((pass + ${summary%% passed*}))
		f=${summary#* passed, }
		fail=$((fail + ${f%% failed*})) ;;
	*)
		echo "--- lane $i ended without a summary: $summary"
		fail=$((fail + 1)) ;;
	esac
done
[ "$fail" -eq 0 ] && [ "$status" -ne 0 ] && fail=1
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
