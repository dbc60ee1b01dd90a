# End to end: four orgs export the same course ("mecc") in four formats:
# hosp-x as xAPI, trust-m as Moodle SCORM tracking rows with its user table,
# council-s as SCORM Cloud v2 registrations (two overlapping monthly
# exports), charity-t as a Totara completion CSV (dates in Europe/London).
# Some learners are at two orgs. `lrhub completions` must match the
# hand-written fixtures/four-formats/expected-completions.csv (see the
# README there for the reasoning).
. "$(dirname "$0")/lib.sh"
D=$F/four-formats

check_exit 0 "init" $L init
check_exit 0 "org hosp-x" $L org add hosp-x --name "Hospital X"
check_exit 0 "org trust-m" $L org add trust-m --name "Trust M" --lms-url https://moodle.trust-m.example
check_exit 0 "org council-s" $L org add council-s --name "Council S" --lms-url https://cloud.scorm.com/sc/council-s
check_exit 0 "org charity-t" $L org add charity-t --name "Charity T" --timezone Europe/London
check_exit 0 "course add" $L course add mecc --title "Making Every Contact Count"
check_exit 0 "alias hosp-x" $L course alias mecc --org hosp-x --key https://elearning.example.org/courses/mecc-intro
check_exit 0 "alias trust-m" $L course alias mecc --org trust-m --key 7
check_exit 0 "alias council-s" $L course alias mecc --org council-s --key mecc-cloud
check_exit 0 "alias charity-t" $L course alias mecc --org charity-t --key MECC

# xAPI.
check_exit 0 "hosp-x xAPI" $L ingest --org hosp-x $D/hosp-x/statements.json
check_grep "hosp-x counts" "3 accepted, 0 duplicates, 0 conflicts, 0 rejected" "$T/out"

# Moodle: the user table and the tracking rows, detected by their headers; one bad row.
check_exit 2 "trust-m Moodle" $L ingest --org trust-m --json $D/trust-m/users.csv $D/trust-m/scorm_scoes_track.csv
check_eq "trust-m formats detected" "$(jq -r '[.file_reports[].format] | join(",")' "$T/out")" \
	"moodle-users,moodle-track"
check_eq "trust-m accepted" "$(jq .accepted "$T/out")" 4
check_eq "trust-m rejected" "$(jq .rejected "$T/out")" 1
check_eq "trust-m reject" "$(jq -r '.rejects[0].message' "$T/out")" \
	"$D/trust-m/scorm_scoes_track.csv:11: record 11: value: cmi.core.lesson_status: 'finished' is not a SCORM 1.2 lesson status"
check_exit 0 "identity links from the user table" \
	sqlite3 "$LRHUB_DB" "SELECT count(*) FROM identity_link"
check_eq "four user links" "$(cat "$T/out")" 4
# The same tracking export again: nothing new.
check_exit 2 "trust-m again" $L ingest --org trust-m $D/trust-m/scorm_scoes_track.csv
check_grep "trust-m again counts" "0 accepted, 4 duplicates, 0 conflicts, 1 rejected" "$T/out"

# SCORM Cloud: March, then April repeating March's registrations (overlap).
check_exit 0 "council-s March" $L ingest --org council-s $D/council-s/registrations-2025-03.json
check_grep "council-s March counts" "2 accepted, 0 duplicates, 0 conflicts, 0 rejected" "$T/out"
check_exit 0 "council-s April" $L ingest --org council-s $D/council-s/registrations-2025-04.json
check_grep "council-s April counts" "1 accepted, 2 duplicates, 0 conflicts, 0 rejected" "$T/out"

# Totara, with local dates in the org's time zone.
check_exit 0 "charity-t Totara" $L ingest --org charity-t --format totara $D/charity-t/completions.csv
check_grep "charity-t counts" "2 accepted, 0 duplicates, 0 conflicts, 0 rejected" "$T/out"
check_exit 0 "identity import" $L identity import $D/identity.csv

check_exit 0 "completions" $L completions -o "$T/completions.csv"
check_files "completions match the expected CSV" "$T/completions.csv" "$D/expected-completions.csv"

# Every statement carries its local course key and SCO.
check_eq "course keys" "$(sqlite3 "$LRHUB_DB" "SELECT group_concat(k, ' ') FROM (SELECT DISTINCT course_key || '/' || coalesce(part_key, '-') AS k FROM statement ORDER BY 1)")" \
	"7/15 MECC/- https://elearning.example.org/courses/mecc-intro/- mecc-cloud/-"
# Statements made from exports are valid SCORM-profile statements, with a registration.
check_eq "SCORM profile category" "$(sqlite3 "$LRHUB_DB" "SELECT count(*) FROM statement WHERE json LIKE '%https://w3id.org/xapi/scorm%' AND registration IS NOT NULL")" 9

# The same store, the same answer; --format forces, unknown formats are refused.
check_exit 0 "completions again" $L completions
check_files "completions are stable" "$T/out" "$D/expected-completions.csv"
check_exit 3 "a Moodle report needs --course" $L ingest --org trust-m --format moodle-report $D/trust-m/users.csv
check_grep "--course asked for" "ingest it with --course" "$T/err"
e2e_end
