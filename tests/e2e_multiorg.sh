# End to end: three orgs' xAPI exports into one store, then one row per
# person per course, compared with a hand-written expected CSV.
. "$(dirname "$0")/lib.sh"
M=$F/multiorg

check_exit 0 "init" $L init
for org in trust-a council-b gp-c; do
	check_exit 0 "org add $org" $L org add $org --name "Org $org"
done
check_exit 0 "course add" $L course add mecc --title "Making Every Contact Count"
check_exit 0 "alias for all orgs" $L course alias mecc --key https://elearning.example.org/courses/mecc-intro
check_exit 0 "alias for council-b" $L course alias mecc --org council-b \
	--key "https://lms.council-b.example/mod/scorm/view.php?id=12"

# trust-a: March is clean; April repeats a statement and conflicts with another.
check_exit 0 "trust-a March" $L ingest --org trust-a $M/trust-a/lrs-export-2025-03.json
check_grep "March counts" "5 accepted, 0 duplicates, 0 conflicts, 0 rejected" "$T/out"
check_exit 2 "trust-a April has a conflict" $L ingest --org trust-a $M/trust-a/lrs-export-2025-04.json
check_grep "April counts" "0 accepted, 1 duplicates, 1 conflicts, 0 rejected" "$T/out"
check_grep "conflict named" "lrs-export-2025-04.json:38: record 2: statement 11111111-0000-4000-8000-000000000001 is already stored with different content (conflict)" "$T/err"

# council-b: a folder, Q1 with three bad lines, Q2 overlapping Q1.
check_exit 2 "council-b folder" $L ingest --org council-b --json $M/council-b
check_eq "council-b accepted" "$(jq .accepted "$T/out")" 5
check_eq "council-b duplicates" "$(jq .duplicates "$T/out")" 2
check_eq "council-b rejected" "$(jq .rejected "$T/out")" 3
check_eq "council-b reject lines" "$(jq -c '[.rejects[].line]' "$T/out")" "[4,5,6]"
check_eq "not JSON" "$(jq -r '.rejects[0].message' "$T/out")" \
	"$M/council-b/xapi-2025-q1.jsonl:4: record 4: not valid JSON: invalid token near 'oops'"
check_eq "verb not an IRI" "$(jq -r '.rejects[1].message' "$T/out")" \
	"$M/council-b/xapi-2025-q1.jsonl:5: record 5: verb.id: is not an IRI"
check_eq "no actor" "$(jq -r '.rejects[2].message' "$T/out")" \
	"$M/council-b/xapi-2025-q1.jsonl:6: record 6: actor: is required"

# gp-c: statements without ids get derived ids, so a re-send adds nothing.
check_exit 0 "gp-c" $L ingest --org gp-c $M/gp-c/statements-page-1.json
check_grep "gp-c counts" "3 accepted, 0 duplicates" "$T/out"
check_exit 0 "gp-c again" $L ingest --org gp-c $M/gp-c/statements-page-1.json
check_grep "gp-c again counts" "0 accepted, 3 duplicates" "$T/out"

# Before the identity mapping, Dan is two people.
check_exit 0 "completions before mapping" $L completions
check_eq "rows before mapping" "$(($(wc -l <"$T/out") - 1))" 7

check_exit 0 "identity import" $L identity import $M/identity.csv
check_grep "identity import counts" "1 identity link added, 0 already known, 0 rejected" "$T/out"
check_exit 0 "completions" $L completions -o "$T/completions.csv"
check_files "completions match the expected CSV" "$T/completions.csv" "$M/expected-completions.csv"

# The store keeps the resolved persons for readers of the database.
check_eq "persons saved" "$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM person')" 8
check_eq "Dan's two identifiers are one person" \
	"$(sqlite3 "$LRHUB_DB" "SELECT count(DISTINCT person_id) FROM person_agent pa JOIN agent a ON a.id = pa.agent_id WHERE a.ifi IN ('mbox:dan.brown@council-b.gov.uk', 'account:https://lms.council-b.example|4471')")" 1

# The same store, the same answer.
check_exit 0 "completions again" $L completions
check_files "completions are stable" "$T/out" "$M/expected-completions.csv"

# Filters.
check_exit 0 "org filter" $L completions --org gp-c
check_eq "gp-c rows" "$(($(wc -l <"$T/out") - 1))" 3
check_exit 0 "since filter" $L completions --since 2025-03-01
check_eq "rows first completed since March" "$(cut -d, -f2 "$T/out" | tail -n +2 | tr -d '\r' | tr '\n' ' ')" \
	"bob.jones@example.org frank@council-b.gov.uk   "
check_exit 0 "until filter" $L completions --until 2025-01-31
check_eq "rows as of January" "$(tail -n +2 "$T/out" | tr -d '\r')" \
	"p-ece657a705f1f238,alice.smith@nhs.net,Alice Smith,mecc,Making Every Contact Count,2025-01-10T09:00:00Z,2025-01-10T09:00:00Z,1,passed,0.9,trust-a"
check_exit 1 "unknown course" $L completions --course nope
check_grep "unknown course message" "no course 'nope'" "$T/err"
check_exit 1 "bad date" $L completions --since yesterday

# JSON has the same rows.
check_exit 0 "json" $L completions --format json
check_eq "json rows" "$(jq length "$T/out")" 6
check_eq "json first row" "$(jq -c '.[0] | [.email, .completions, .orgs]' "$T/out")" \
	'["alice.smith@nhs.net",2,["council-b","trust-a"]]'
check_eq "json null score" "$(jq -c '.[3].best_score_scaled' "$T/out")" null

# Pseudonymised: no email or name, a keyed hash that depends on the key.
printf 'a-long-enough-secret-key-for-tests\n' >"$T/key"
printf 'another-long-enough-secret-key\n' >"$T/key2"
check_exit 0 "pseudonymise" $L completions --pseudonymise --key-file "$T/key"
check_eq "no emails or names" "$(tail -n +2 "$T/out" | cut -d, -f2,3 | sort -u | tr -d '\r')" ","
check_eq "64 hex ids" "$(tail -n +2 "$T/out" | cut -d, -f1 | grep -cE '^[0-9a-f]{64}$')" 6
cp "$T/out" "$T/pseudo1"
check_exit 0 "pseudonymise again" $L completions --pseudonymise --key-file "$T/key"
check_files "pseudonyms are stable" "$T/out" "$T/pseudo1"
check_exit 0 "another key" $L completions --pseudonymise --key-file "$T/key2"
if cmp -s "$T/out" "$T/pseudo1"; then not_ok "another key gives other pseudonyms"; else ok; fi
printf 'short\n' >"$T/short"
check_exit 1 "short key refused" $L completions --pseudonymise --key-file "$T/short"

# Unmapped keys are listed with counts.
check_exit 0 "course unmapped" $L course unmapped
check_grep "fire safety listed" "https://elearning.example.org/courses/fire-safety (Fire safety)" "$T/out"

# Rejects are kept per run.
check_exit 0 "rejects" $L rejects --run 3
check_eq "three rejects in run 3" "$(grep -c 'run 3 council-b invalid' "$T/out")" 3

e2e_end
