#!/bin/sh
# Runs ADL's LRS conformance test suite (adlnet/lrs-conformance-test-suite,
# cloned and `npm install`ed at SUITE, never inside this project) against a
# fresh `lrhub serve` on a free loopback port, for xAPI 1.0.3 and 2.0.0, and
# prints each run's JSON summary line ({"total":…,"passed":…,"failed":…}).
# The suite's exit code is its failure count modulo 256, so this reads the
# summary instead. Full logs stay in $OUT (default: a temporary folder).
#
#   sh scripts/conformance.sh LRHUB_BINARY SUITE [VERSION...]
set -u
L=${1:?usage: conformance.sh LRHUB_BINARY SUITE [VERSION...]}
SUITE=${2:?usage: conformance.sh LRHUB_BINARY SUITE [VERSION...]}
shift 2
[ $# -eq 0 ] && set -- 1.0.3 2.0.0
case $L in /*) ;; *) L=$(pwd)/$L ;; esac
[ -f "$SUITE/bin/console_runner.js" ] || { echo "conformance: $SUITE is not the suite" >&2; exit 1; }
[ -d "$SUITE/node_modules" ] || { echo "conformance: run 'npm install' in $SUITE first" >&2; exit 1; }
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/lrhub-conformance.XXXXXX")}
status=0
pid=
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null' EXIT
trap 'exit 1' INT TERM
for version in "$@"; do
	dir="$OUT/$version"
	mkdir -p "$dir"
	export LRHUB_DB="$dir/lrhub.db"
	rm -f "$LRHUB_DB" "$LRHUB_DB-wal" "$LRHUB_DB-shm"
	"$L" init >/dev/null && "$L" org add conformance >/dev/null &&
		"$L" credential add conformance --scope admin >"$dir/credential" 2>/dev/null || exit 1
	key=$(sed -n 's/^key: //p' "$dir/credential")
	secret=$(sed -n 's/^secret: //p' "$dir/credential")
	"$L" serve --listen 127.0.0.1:0 --default-version "$version" >"$dir/serve.out" 2>"$dir/serve.err" &
	pid=$!
	i=0
	while ! grep -q '^listening on ' "$dir/serve.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	url=$(sed -n 's/^listening on //p' "$dir/serve.out")
	if [ -z "$url" ]; then
		echo "conformance: the server did not start:" >&2
		cat "$dir/serve.err" >&2
		kill "$pid" 2>/dev/null
		exit 1
	fi
	(cd "$SUITE" && node bin/console_runner.js -e "$url" -a -u "$key" -p "$secret" -x "$version" -z) \
		>"$dir/suite.log" 2>&1
	kill -TERM "$pid"
	wait "$pid"
	pid=
	summary=$(grep '^{"total"' "$dir/suite.log" | tail -n 1)
	log=$(sed -n 's/^Full run log written to //p' "$dir/suite.log")
	echo "xAPI $version: ${summary:-no summary (see $dir/suite.log)}"
	[ -n "$log" ] && echo "  log: $log"
	case $summary in *'"failed":0,'*) ;; *) status=1 ;; esac
done
exit $status
