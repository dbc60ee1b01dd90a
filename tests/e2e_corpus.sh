# End to end: the shared corpus of real xAPI statements, made by other
# people's tools, goes in through the real binary. Everything is accepted
# except the spec's fragments that are not whole statements (interaction
# definitions and the SubStatement example), and a second ingest adds nothing.
. "$(dirname "$0")/lib.sh"
X=$CORPUS/xapi
if [ ! -d "$X" ]; then
	not_ok "the corpus is missing: $X"
	e2e_end
	exit 1
fi
check_exit 0 "init" $L init
check_exit 0 "org" $L org add moodle
check_exit 0 "org" $L org add spec
check_exit 0 "moodle logstore statements" $L ingest --org moodle --json $X/moodle-logstore
check_eq "moodle rejects" "$(jq .rejected "$T/out")" 0
check_eq "moodle files" "$(jq .files "$T/out")" "$(find $X/moodle-logstore -type f | wc -l)"
accepted=$(jq .accepted "$T/out")
seen=$(jq '.accepted + .duplicates' "$T/out")
if [ "$accepted" -gt 90 ]; then ok; else not_ok "only $accepted moodle statements accepted"; fi
check_exit 0 "SCORM profile statements" $L ingest --org spec --json \
	$(find $X/scorm-profile -maxdepth 1 -name '*.json' | sort)
check_eq "SCORM profile rejects" "$(jq .rejected "$T/out")" 0
check_exit 2 "xAPI spec examples" $L ingest --org spec --json $X/xapi-spec
check_eq "spec rejects are the fragments" \
	"$(jq -r '.rejects[].file' "$T/out" | xargs -n1 basename | sort | tr '\n' ' ')" \
	"$(cd $X/xapi-spec && ls appendixC-* data-L2388-* | sort | tr '\n' ' ')"
check_exit 0 "moodle again" $L ingest --org moodle --json $X/moodle-logstore
check_eq "nothing new" "$(jq .accepted "$T/out")" 0
check_eq "all duplicates" "$(jq .duplicates "$T/out")" "$seen"
e2e_end
