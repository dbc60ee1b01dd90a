# End to end: every Moodle and SCORM Cloud sample in the shared corpus
# (../shared/corpus/lms-exports) goes through the real binary, and each
# gives what a person reading it would expect: the tracking data in it as
# statements, or a clear reason why the file is not an export lrhub reads.
# Fails loudly when the corpus is missing.
. "$(dirname "$0")/lib.sh"
C=$CORPUS/lms-exports
if [ ! -d "$C/moodle" ] || [ ! -d "$C/scormcloud-v1" ] || [ ! -d "$C/scormcloud-v2" ]; then
	not_ok "the corpus is missing: $C (expected moodle/, scormcloud-v1/, scormcloud-v2/)"
	e2e_end
	exit 1
fi
check_exit 0 "init" $L init
check_exit 0 "org" $L org add lms

# files_seen NAME: the samples in the corpus folder, so a new one is noticed.
check_eq "moodle samples" "$(ls $C/moodle | tr '\n' ' ')" \
	"logstore_fixture_moodle43_scorm_tables_scoreraw_submitted.json logstore_fixture_moodle43_scorm_tables_status_submitted.json real_world_course_completion_csv_header.txt "
check_eq "scormcloud-v1 samples" "$(ls $C/scormcloud-v1 | wc -l)" 9
check_eq "scormcloud-v2 samples" "$(ls $C/scormcloud-v2 | wc -l)" 2

# report FILE: "format status accepted duplicates rejected" of FILE in the last --json run.
report() {
	jq -r --arg f "$1" '.file_reports[] | select(.path == $f) | "\(.format) \(.status) \(.accepted) \(.duplicates) \(.rejected)"' "$T/out"
}
error_of() {
	jq -r --arg f "$1" '.file_reports[] | select(.path == $f) | .error' "$T/out"
}

# Moodle 4.3 tables (scorm_attempt, scorm_scoes_value, scorm_element) as a JSON dump.
M=$C/moodle
check_exit 2 "moodle samples" $L ingest --org lms --json $M/logstore_fixture_moodle43_scorm_tables_scoreraw_submitted.json \
	$M/logstore_fixture_moodle43_scorm_tables_status_submitted.json $M/real_world_course_completion_csv_header.txt
check_eq "4.3 tables, score min/max without raw: one completion" \
	"$(report $M/logstore_fixture_moodle43_scorm_tables_scoreraw_submitted.json)" "moodle-track done 1 0 0"
check_eq "4.3 tables, status only: the same statement" \
	"$(report $M/logstore_fixture_moodle43_scorm_tables_status_submitted.json)" "moodle-track done 0 1 0"
check_eq "a notes file is not an export" "$(report $M/real_world_course_completion_csv_header.txt)" "null failed 0 0 0"
check_eq "the statement" "$(sqlite3 "$LRHUB_DB" "SELECT course_key || ' ' || part_key || ' ' || verb || ' ' || json_extract(json, '$.actor.account.name') FROM statement")" \
	"1 1 http://adlnet.gov/expapi/verbs/completed 1"

# SCORM Cloud v2: a RegistrationChanged webhook payload.
check_exit 2 "scormcloud v2 samples" $L ingest --org lms --json $C/scormcloud-v2
check_eq "webhook" "$(report $C/scormcloud-v2/webhook-RegistrationChanged-tincan-golf.json)" "scormcloud done 1 0 0"
check_eq "FIELDS.md is not an export" "$(report $C/scormcloud-v2/FIELDS.md)" "null failed 0 0 0"
check_eq "webhook statement" "$(sqlite3 "$LRHUB_DB" "SELECT course_key || ' ' || verb || ' ' || json_extract(json, '$.result.score.scaled') || ' ' || json_extract(json, '$.timestamp') FROM statement WHERE course_key = 'golf'")" \
	"golf http://adlnet.gov/expapi/verbs/failed 0.07 2024-01-31T19:46:03Z"

# SCORM Cloud v1 XML, without --course: registration reports do not name their course.
V=$C/scormcloud-v1
check_exit 2 "scormcloud v1 samples" $L ingest --org lms --json $V
check_eq "registration" "$(report $V/getRegistration-registration.xml)" "scormcloud done 1 0 0"
check_eq "registration list" "$(report $V/getRegistration-registrationlist.xml)" "scormcloud done 1 0 0"
for r in registrationreport-activity registrationreport-full registrationreport-summary; do
	check_eq "$r without --course" "$(report $V/getRegistration-$r.xml)" "scormcloud done 0 0 1"
done
check_eq "postback report without --course" "$(report $V/postback-registrationreport-course.xml)" "scormcloud done 0 0 1"
check_eq "reason" "$(jq -r '.rejects[0].message' "$T/out")" \
	"$V/getRegistration-registrationreport-activity.xml:2: record 1: course: a registration report does not name its course: ingest it with --course"
for r in launch launchhistory postbackinfo; do
	check_eq "$r is not tracking data" "$(report $V/getRegistration-$r.xml)" "scormcloud failed 0 0 0"
	check_eq "$r reason" "$(error_of $V/getRegistration-$r.xml)" \
		"<$r> is not a SCORM Cloud registration, registration list or registration report"
done
check_eq "identity links: learner ids and registration ids to emails" \
	"$(sqlite3 "$LRHUB_DB" "SELECT group_concat(key || '=' || email, ' ') FROM (SELECT key, email FROM identity_link ORDER BY key)")" \
	"reg123=test@test.com reg4=test@test.com test@test.com=test@test.com test_learner=test@test.com"

# The reports, with --course.
check_exit 0 "scormcloud v1 reports with --course" $L ingest --org lms --course golf --json \
	$V/getRegistration-registrationreport-activity.xml $V/getRegistration-registrationreport-full.xml \
	$V/getRegistration-registrationreport-summary.xml $V/postback-registrationreport-course.xml
check_eq "activity report: the course and its SCO" "$(report $V/getRegistration-registrationreport-activity.xml)" "scormcloud done 2 0 0"
check_eq "full report" "$(report $V/getRegistration-registrationreport-full.xml)" "scormcloud done 1 0 0"
check_eq "summary report" "$(report $V/getRegistration-registrationreport-summary.xml)" "scormcloud done 1 0 0"
check_eq "postback course report" "$(report $V/postback-registrationreport-course.xml)" "scormcloud done 1 0 0"
check_eq "full report learner" "$(sqlite3 "$LRHUB_DB" "SELECT json_extract(json, '$.actor.account.name') || ' ' || verb || ' ' || json_extract(json, '$.result.score.raw') FROM statement WHERE json LIKE '%daveid%'")" \
	"daveid http://adlnet.gov/expapi/verbs/completed 534.0"

# Everything again: nothing new.
check_exit 2 "all again" $L ingest --org lms --course golf --json $M $C/scormcloud-v2 $V
check_eq "nothing new" "$(jq .accepted "$T/out")" 0
e2e_end
