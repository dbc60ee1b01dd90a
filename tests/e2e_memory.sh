# End to end: memory stays flat however large the input. Ingests 30,000 and
# then 150,000 generated statements (about 36 and 180 MB of JSON lines) by
# the same 5,000 learners, and compares the peak resident memory each ingest
# reports: five times the input may not cost more memory beyond noise, and
# neither may come near 100 MiB. Not run under the sanitizers, whose shadow
# memory would be measured instead.
. "$(dirname "$0")/lib.sh"
if [ -n "${LRHUB_SANITIZED:-}" ]; then
	echo "skipped under the sanitizers"
	e2e_end
	exit 0
fi
GEN=${LRHUB_BUILD:?}/gen
check_exit 0 "init" $L init
check_exit 0 "org" $L org add big
$GEN 30000 1 5000 >"$T/small.jsonl"
$GEN 150000 2 5000 >"$T/large.jsonl"
check_exit 0 "small ingest" $L ingest --org big --json "$T/small.jsonl"
small=$(jq .max_rss_kb "$T/out")
check_eq "small accepted" "$(jq .accepted "$T/out")" 30000
rm -f "$LRHUB_DB" "$LRHUB_DB-wal" "$LRHUB_DB-shm"
check_exit 0 "init again" $L init
check_exit 0 "org again" $L org add big
check_exit 0 "large ingest" $L ingest --org big --json "$T/large.jsonl"
large=$(jq .max_rss_kb "$T/out")
check_eq "large accepted" "$(jq .accepted "$T/out")" 150000
echo "peak RSS: $small KiB for 30,000 statements, $large KiB for 150,000"
if [ "$large" -lt 102400 ]; then ok; else not_ok "peak RSS $large KiB is over 100 MiB"; fi
if [ "$large" -lt $((small + 4096)) ]; then ok; else not_ok "peak RSS grew from $small to $large KiB"; fi
e2e_end
