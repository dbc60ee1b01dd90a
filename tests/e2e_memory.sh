# End to end: memory stays flat however large the input. Ingests 10,000 and
# then 100,000 generated statements (about 12 and 120 MB of JSON lines) and
# compares the peak resident memory the ingest reports. Not run under the
# sanitizers, whose shadow memory would be measured instead.
. "$(dirname "$0")/lib.sh"
if [ -n "${LRHUB_SANITIZED:-}" ]; then
	echo "skipped under the sanitizers"
	e2e_end
	exit 0
fi
GEN=${LRHUB_BUILD:?}/gen
check_exit 0 "init" $L init
check_exit 0 "org" $L org add big
$GEN 10000 1 >"$T/small.jsonl"
$GEN 100000 2 >"$T/large.jsonl"
check_exit 0 "small ingest" $L ingest --org big --json "$T/small.jsonl"
small=$(jq .max_rss_kb "$T/out")
check_eq "small accepted" "$(jq .accepted "$T/out")" 10000
check_exit 0 "large ingest" $L ingest --org big --json "$T/large.jsonl"
large=$(jq .max_rss_kb "$T/out")
check_eq "large accepted" "$(jq .accepted "$T/out")" 100000
echo "peak RSS: $small KiB for 12 MB, $large KiB for 120 MB"
if [ "$large" -lt 102400 ]; then ok; else not_ok "peak RSS $large KiB is over 100 MiB"; fi
# Ten times the input may not cost more than 16 MiB more memory.
if [ "$large" -lt $((small + 16384)) ]; then ok; else not_ok "peak RSS grew from $small to $large KiB"; fi
e2e_end
