#!/bin/sh
# Runs every lrhub test: the unit test programs in BUILD/tests/ and the
# end-to-end scripts tests/e2e_*.sh (which drive BUILD/lrhub), from the
# project root. Each prints "N passed, N failed" last; this adds them up and
# ends with the total in the same form. Exit status 1 if anything failed.
#
#   sh tests/run.sh BUILD [unit|e2e] [NAME-PATTERN]
set -u
build=${1:-build}
which=${2:-all}
pattern=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
export LRHUB="$root/$build/lrhub"
export LRHUB_ROOT="$root"
out=$(mktemp -d "${TMPDIR:-/tmp}/lrhub-tests.XXXXXX")
trap 'rm -rf "$out"' EXIT

total_pass=0
total_fail=0
broken=""

run_one() {
	name=$1
	shift
	log="$out/$(basename "$name").log"
	"$@" >"$log" 2>&1
	status=$?
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
	printf '%-28s %s\n' "$(basename "$name")" "$summary"
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
}

if [ "$which" = all ] || [ "$which" = unit ]; then
	for t in "$build"/tests/test_*; do
		[ -x "$t" ] || continue
		case "$t" in *.o|*.d) continue ;; esac
		[ -n "$pattern" ] && case "$t" in *$pattern*) ;; *) continue ;; esac
		run_one "$t" "$t"
	done
fi
if [ "$which" = all ] || [ "$which" = e2e ]; then
	for t in tests/e2e_*.sh; do
		[ -f "$t" ] || continue
		[ -n "$pattern" ] && case "$t" in *$pattern*) ;; *) continue ;; esac
		run_one "$t" sh "$t"
	done
fi

[ -n "$broken" ] && echo "failing:$broken"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
