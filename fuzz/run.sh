#!/bin/sh
# Runs lrhub's libFuzzer targets (built by `make fuzz` into BUILD/fuzz_NAME)
# for SECONDS each, one after another, one process each. Each starts from
# its seeds (the fixtures of its format, fuzz/seeds/NAME, the inputs that
# once broke it in fuzz/regress/NAME) and what earlier runs found in
# fuzz/corpus/NAME. A crash, leak, timeout or broken invariant leaves the
# input in fuzz/crash-NAME-* and counts as a failure. One line per target
# ("fuzz adapter: 600 s, 1234567 runs, 812 in corpus: ok"), then
# "N passed, N failed" (one test per target).
#
#   sh fuzz/run.sh [--scratch] BUILD SECONDS NAME...
#
# --scratch (the short runs of make check) keeps what the run finds in a
# temporary folder instead of fuzz/corpus/, so a check leaves the tree as
# it was.
set -u
scratch=0
if [ "${1:-}" = "--scratch" ]; then
	scratch=1
	shift
fi
[ $# -ge 3 ] || { echo "usage: sh fuzz/run.sh [--scratch] BUILD SECONDS NAME..."; exit 1; }
build=$1
seconds=$2
shift 2
root=${LRHUB_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lrhub-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
shared=${LRHUB_SHARED:-../shared}

# Copies each file of the folders given into seeds dir $1 with byte $2 put before it.
prefixed() {
	dir=$1
	byte=$2
	shift 2
	for d in "$@"; do
		[ -d "$d" ] || continue
		find "$d" -type f ! -name 'expected*' ! -name 'options.txt' ! -name README.md |
		while read -r f; do
			name=$(printf '%s' "$f" | tr '/ ' '__')
			{ printf "\\$(printf '%03o' "$byte")"; cat "$f"; } >"$dir/$byte-$name"
		done
	done
}

# The seed folders of target $1 (made under $tmp when they need a first byte).
seeds() {
	case $1 in
	xapi) echo fixtures/xapi/valid fixtures/xapi/invalid ;;
	jsonstream) echo fixtures/jsonstream ;;
	jsonfast) echo fixtures/xapi fixtures/jsonstream "$shared/corpus/xapi" ;;
	csv) echo fixtures/multiorg fixtures/totara fixtures/moodle-track ;;
	adapter)
		mkdir -p "$tmp/seeds-adapter"
		# adapter_list order: xapi, moodle-track, moodle-users, moodle-report, scormcloud, totara
		prefixed "$tmp/seeds-adapter" 0 fixtures/xapi/valid
		prefixed "$tmp/seeds-adapter" 1 fixtures/moodle-track
		prefixed "$tmp/seeds-adapter" 2 fixtures/moodle-users
		prefixed "$tmp/seeds-adapter" 27 fixtures/moodle-report  # 3 | course | time zone
		prefixed "$tmp/seeds-adapter" 4 fixtures/scormcloud
		prefixed "$tmp/seeds-adapter" 21 fixtures/totara         # 5 | time zone
		echo "$tmp/seeds-adapter" ;;
	manifest)
		mkdir -p "$tmp/seeds-manifest"
		for f in $(find fixtures/packages -name imsmanifest.xml); do
			prefixed "$tmp/seeds-manifest" 0 "$(dirname "$f")"
		done
		for f in $(find fixtures/packages -name tincan.xml); do
			prefixed "$tmp/seeds-manifest" 1 "$(dirname "$f")"
		done
		for f in $(find fixtures/packages -name cmi5.xml); do
			prefixed "$tmp/seeds-manifest" 2 "$(dirname "$f")"
		done
		echo "$tmp/seeds-manifest" ;;
	zip) echo "$shared/corpus/packages" ;;
	query|multipart) ;;  # fuzz/seeds/NAME
	esac
}

passed=0
failed=0
for t in "$@"; do
	bin=$build/fuzz_$t
	if [ ! -x "$bin" ]; then
		echo "fuzz $t: $bin is missing (make fuzz builds it)"
		failed=$((failed + 1))
		continue
	fi
	if [ "$scratch" -eq 1 ]; then
		corpus=$tmp/corpus-$t
		earlier=fuzz/corpus/$t
	else
		corpus=fuzz/corpus/$t
		earlier=
	fi
	mkdir -p "$corpus"
	dirs=
	for d in $(seeds "$t") fuzz/seeds/$t fuzz/regress/$t $earlier; do
		[ -d "$d" ] && dirs="$dirs $d"
	done
	dict=
	[ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
	log=$tmp/$t.log
	# shellcheck disable=SC2086
	"$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="fuzz/crash-$t-" $dict \
		"$corpus" $dirs >"$log" 2>&1
	status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	size=$(find "$corpus" -type f | wc -l)
	if [ "$status" -eq 0 ]; then
		echo "fuzz $t: $seconds s, ${runs:-0} runs, $size in corpus: ok"
		passed=$((passed + 1))
	else
		echo "fuzz $t: FAILED (exit $status) after ${runs:-?} runs:"
		grep -E 'ERROR|invariant|SUMMARY|Test unit written|made an invalid' "$log" | head -n 20
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
