# Helpers for the end-to-end tests, which drive the real lrhub binary.
# Source it; it sets $L (the binary), $T (a temporary folder, removed at the
# end) and $F (the fixtures folder), and counts checks for the summary line.
set -u
L=${LRHUB:?set LRHUB to the lrhub binary}
F=${LRHUB_ROOT:-.}/fixtures
CORPUS=${LRHUB_ROOT:-.}/../shared/corpus
T=$(mktemp -d "${TMPDIR:-/tmp}/lrhub-e2e.XXXXXX")
trap 'stop_server; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM
export LRHUB_DB="$T/lrhub.db"
e2e_pass=0
e2e_fail=0

ok() {
	e2e_pass=$((e2e_pass + 1))
}

not_ok() {
	e2e_fail=$((e2e_fail + 1))
	echo "not ok: $*"
}

# check_exit EXPECTED DESCRIPTION COMMAND...: runs COMMAND, output in $T/out and $T/err.
check_exit() {
	want=$1
	what=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" -eq "$want" ]; then ok; else
		not_ok "$what: exit $got, expected $want"
		sed 's/^/    /' "$T/err" | head -n 10
	fi
}

# check_eq DESCRIPTION GOT EXPECTED
check_eq() {
	if [ "$2" = "$3" ]; then ok; else not_ok "$1: got '$2', expected '$3'"; fi
}

# check_grep DESCRIPTION PATTERN FILE: FILE has a line matching PATTERN (fixed string).
check_grep() {
	if grep -qF -- "$2" "$3"; then ok; else
		not_ok "$1: no line with '$2' in $(basename "$3")"
		sed 's/^/    /' "$3" | head -n 10
	fi
}

# check_files DESCRIPTION GOT EXPECTED: the two files are byte for byte the same.
check_files() {
	if cmp -s "$2" "$3"; then ok; else
		not_ok "$1: files differ"
		diff "$3" "$2" | head -n 20
	fi
}

e2e_end() {
	echo "$e2e_pass passed, $e2e_fail failed"
	[ "$e2e_fail" -eq 0 ]
}

# A server a test started in the background: its pid in $server_pid.
# stop_server stops it with SIGTERM (a clean stop) and keeps its exit
# status in $server_status; the test's end does it too.
server_pid=
server_status=
stop_server() {
	if [ -n "$server_pid" ]; then
		kill -TERM "$server_pid" 2>/dev/null
		wait "$server_pid"
		server_status=$?
		server_pid=
	fi
}

# The demo's orgs, headcounts and course in the store at $LRHUB_DB (its
# exports are in $DEMO); the web tests ingest them through the server.
DEMO=${LRHUB_ROOT:-.}/demo
demo_store_setup() {
	$L init >/dev/null &&
	$L org add north-trust --name "North NHS Foundation Trust" >/dev/null &&
	$L org add county-council --name "County Council" --timezone Europe/London >/dev/null &&
	$L org import "$DEMO/orgs.csv" >/dev/null 2>&1 &&
	$L course add mecc --title "Making Every Contact Count" >/dev/null &&
	$L course alias mecc --key https://elearning.example.org/courses/mecc-intro >/dev/null &&
	$L course alias mecc --org county-council \
		--key "https://moodle.county.gov.uk/mod/scorm/view.php?id=311" >/dev/null
}
