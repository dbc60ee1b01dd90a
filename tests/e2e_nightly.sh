# End to end: `lrhub nightly` over an inbox of several orgs' exports in
# different formats (xAPI, Moodle tracking rows and users, SCORM Cloud,
# Totara), compared with the same files put in with `lrhub ingest`; files
# still being written left alone; a broken file in failed/ with a readable
# reason; a re-sent file skipped as a duplicate; an unknown org folder; the
# lock (a second run exits 4 at once); `runs show`; the --json line; and
# `lrhub backup` while `lrhub serve` writes.
. "$(dirname "$0")/lib.sh"
D=$F/four-formats
M=$F/multiorg

# setup DB: the orgs, the course and its aliases, the identity mapping.
setup() {
	LRHUB_DB=$1 $L init >/dev/null &&
	for org in hosp-x trust-m council-s trust-a council-b gp-c; do
		LRHUB_DB=$1 $L org add $org >/dev/null || return 1
	done &&
	LRHUB_DB=$1 $L org add charity-t --timezone Europe/London >/dev/null &&
	LRHUB_DB=$1 $L course add mecc --title "Making Every Contact Count" >/dev/null &&
	LRHUB_DB=$1 $L course alias mecc --org hosp-x --key https://elearning.example.org/courses/mecc-intro >/dev/null &&
	LRHUB_DB=$1 $L course alias mecc --org trust-m --key 7 >/dev/null &&
	LRHUB_DB=$1 $L course alias mecc --org council-s --key mecc-cloud >/dev/null &&
	LRHUB_DB=$1 $L course alias mecc --org charity-t --key MECC >/dev/null &&
	LRHUB_DB=$1 $L identity import $D/identity.csv >/dev/null
}
check_exit 0 "setup the nightly store" setup "$LRHUB_DB"
check_exit 0 "setup the reference store" setup "$T/ref.db"

# The reference: the same files with `lrhub ingest`, one org at a time.
for org in hosp-x trust-m council-s charity-t; do
	LRHUB_DB=$T/ref.db $L ingest --org $org $D/$org >/dev/null 2>&1
done
for org in trust-a council-b gp-c; do
	LRHUB_DB=$T/ref.db $L ingest --org $org $M/$org >/dev/null 2>&1
done

# The inbox: every org's files, written two minutes ago (settled).
I=$T/inbox
for org in hosp-x trust-m council-s charity-t; do
	mkdir -p $I/$org && cp $D/$org/* $I/$org/
done
for org in trust-a council-b gp-c; do
	mkdir -p $I/$org && cp $M/$org/* $I/$org/
done
printf 'this is not an export\n' >$I/gp-c/broken.csv
mkdir -p $I/nobody && cp $D/hosp-x/statements.json $I/nobody/
find $I -type f -exec touch -d '2 minutes ago' {} +
# Being written: a .part file, a hidden file, and one modified just now.
printf '[' >$I/trust-a/april.json.part
printf '[' >$I/trust-a/.upload.tmp
cp $M/trust-a/lrs-export-2025-03.json $I/trust-a/late.json
printf ' ' >>$I/trust-a/late.json

check_exit 2 "nightly: some rejects, a failed file and an unknown org" $L nightly --inbox $I
cp "$T/out" "$T/run1.out"
cp "$T/err" "$T/run1.err"
RUN1=$(sed -n 's/^nightly run \([0-9]*\):.*/\1/p' "$T/run1.out")
check_grep "summary table" "total" "$T/run1.out"
check_grep "unknown org reported" "inbox nobody: the inbox folder $I/nobody is not named after a known org" "$T/run1.err"
check_grep "broken file reported" "gp-c/broken.csv: not a format lrhub reads" "$T/run1.err"
check_eq "statements as with lrhub ingest" \
	"$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')" \
	"$(sqlite3 "$T/ref.db" 'SELECT count(*) FROM statement')"
$L completions >"$T/nightly.csv"
LRHUB_DB=$T/ref.db $L completions >"$T/ref.csv"
check_files "completions as with lrhub ingest" "$T/nightly.csv" "$T/ref.csv"
check_eq "completions: some rows" "$(($(wc -l <"$T/nightly.csv") > 5))" 1
check_eq "rejects as with lrhub ingest" \
	"$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM reject')" \
	"$(sqlite3 "$T/ref.db" 'SELECT count(*) FROM reject')"

# Where the files went.
day=$(date -u +%Y-%m-%d)
check_eq "trust-a inbox keeps the files being written" \
	"$(cd $I/trust-a && ls -A | grep -v '^done$' | tr '\n' ' ')" ".upload.tmp april.json.part late.json "
check_grep "late file waits" "trust-a/late.json: waiting: modified within the settle time" "$T/run1.out"
check_grep ".part waits" "trust-a/april.json.part: waiting: still being written (.part)" "$T/run1.out"
check_eq "unknown org's file left in place" "$(ls $I/nobody)" "statements.json"
for f in hosp-x/statements.json trust-m/users.csv trust-m/scorm_scoes_track.csv \
	council-s/registrations-2025-03.json council-s/registrations-2025-04.json \
	charity-t/completions.csv trust-a/lrs-export-2025-03.json trust-a/lrs-export-2025-04.json \
	council-b/xapi-2025-q1.jsonl council-b/xapi-2025-q2.jsonl gp-c/statements-page-1.json; do
	org=${f%%/*}
	if [ -f "$I/$org/done/$day/${f#*/}" ] && [ ! -e "$I/$f" ]; then ok; else not_ok "$f not moved to done/$day"; fi
done
check_eq "nothing left in the orgs' inboxes" \
	"$(find $I -mindepth 2 -maxdepth 2 -type f ! -path '*/trust-a/*' ! -path '*/nobody/*' | wc -l)" 0

# The broken file: in failed/, beside a reason an LMS administrator can act on.
E=$I/gp-c/failed/broken.csv.error.txt
if [ -f $I/gp-c/failed/broken.csv ] && [ -f $E ]; then ok; else not_ok "broken.csv not in failed/ with its .error.txt"; fi
check_grep "error.txt: what" "lrhub could not take in the file broken.csv" $E
check_grep "error.txt: which org" "Organisation: gp-c." $E
check_grep "error.txt: why" "  not a format lrhub reads (see 'lrhub formats')" $E
check_grep "error.txt: what to do" "put the whole corrected" $E
if grep -q -- '--format' $E; then not_ok "error.txt mentions a command-line option"; else ok; fi

# Files with refused records: done/, with a .rejects.txt saying which and why.
R=$I/council-b/done/$day/xapi-2025-q1.jsonl.rejects.txt
check_grep "rejects.txt: counts" "Taken in: 4 new records, 0 already stored. Refused: 3 invalid, 0 in conflict." $R
check_grep "rejects.txt: the line" "  line 4: record 4: not valid JSON: invalid token near 'oops'" $R
check_grep "rejects.txt: a field" "  line 6: record 6: actor: is required" $R
check_grep "rejects.txt: conflict explained" "A conflict is a statement whose id was stored before" \
	$I/trust-a/done/$day/lrs-export-2025-04.json.rejects.txt
check_grep "rejects.txt for Moodle" "cmi.core.lesson_status: 'finished' is not a SCORM 1.2 lesson status" \
	$I/trust-m/done/$day/scorm_scoes_track.csv.rejects.txt

# runs show: the nightly run, its parts, its files and rejects.
check_exit 0 "runs show" $L runs show "$RUN1"
check_grep "runs show: the run" "run $RUN1: nightly, started" "$T/out"
check_grep "runs show: a part" "inbox    council-b" "$T/out"
check_grep "runs show: a file" "gp-c $I/gp-c/broken.csv: failed" "$T/out"
check_grep "runs show: a reject" "xapi-2025-q1.jsonl:5: record 5: verb.id: is not an IRI" "$T/out"
check_exit 1 "runs show: no such run" $L runs show 9999
check_grep "runs show: says so" "no run 9999" "$T/err"
check_exit 0 "runs lists the nightly run" $L runs
check_grep "runs: nightly" "nightly" "$T/out"

# A re-sent file (the same bytes under another name) and the late file, now settled.
rm -r $I/nobody
cp $D/hosp-x/statements.json $I/hosp-x/statements-again.json
touch -d '2 minutes ago' $I/hosp-x/statements-again.json $I/trust-a/late.json
count_before=$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')
check_exit 0 "nightly again (--json): nothing needs a human" $L nightly --inbox $I --json
check_eq "one JSON line" "$(wc -l <"$T/out")" 1
check_eq "json: event" "$(jq -r .event "$T/out")" "lrhub.nightly"
check_eq "json: exit status" "$(jq .exit_status "$T/out")" 0
check_eq "json: one duplicate file" "$(jq .files_duplicate "$T/out")" 1
check_eq "json: files taken" "$(jq .files "$T/out")" 2
check_eq "json: waiting (.part and hidden)" "$(jq .files_waiting "$T/out")" 2
check_eq "json: nothing new" "$(jq .accepted "$T/out")" 0
check_eq "json: the late file's statements are duplicates" "$(jq .duplicates "$T/out")" 5
check_eq "json: per org" "$(jq -c '[.groups[] | select(.files > 0) | .name]' "$T/out")" '["hosp-x","trust-a"]'
check_eq "no new statements" "$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')" "$count_before"
if [ -f $I/hosp-x/done/$day/statements-again.json ] && [ ! -e $I/hosp-x/statements-again.json ]; then ok
else not_ok "the duplicate was not moved to done/"; fi
check_eq "the duplicate recorded" \
	"$(sqlite3 "$LRHUB_DB" "SELECT status FROM file WHERE path LIKE '%statements-again.json'")" duplicate

# The same name again the same day: the earlier copy in done/ is kept.
cp $D/hosp-x/statements.json $I/hosp-x/statements.json
check_exit 0 "nightly --settle 0" $L nightly --inbox $I --settle 0
if [ -f $I/hosp-x/done/$day/statements.1.json ] && [ -f $I/hosp-x/done/$day/statements.json ]; then ok
else not_ok "a second statements.json in done/ did not get a free name"; fi

# The lock: while another process holds it, a run exits 4 at once and does nothing.
cp $D/hosp-x/statements.json $I/hosp-x/held.json
start=$(date +%s)
check_exit 4 "nightly while the lock is held" flock "$LRHUB_DB.lock" $L nightly --inbox $I --settle 0
check_grep "locked: one clear line" "lrhub: another lrhub nightly is running on this store" "$T/err"
check_eq "locked: at once" "$(( $(date +%s) - start < 5 ))" 1
check_eq "locked: the file is untouched" "$(ls $I/hosp-x)" "done
held.json"
check_exit 4 "locked, --json" flock "$LRHUB_DB.lock" $L nightly --inbox $I --json
check_eq "locked json" "$(jq -r '.status + " " + (.exit_status|tostring)' "$T/out")" "locked 4"
check_exit 0 "after the lock is released" $L nightly --inbox $I --settle 0 --quiet
# The state a kill leaves between a file's commit and its move: the file
# still in the inbox, its report not written or half written. The next run
# moves it as a duplicate, to the same place, with the same report.
mv $I/council-b/done/$day/xapi-2025-q1.jsonl $I/council-b/
rm $I/council-b/done/$day/xapi-2025-q1.jsonl.rejects.txt
printf 'half a rep' >$I/council-b/done/$day/.xapi-2025-q1.jsonl.rejects.txt.tmp
mv $I/gp-c/failed/broken.csv $I/gp-c/
printf 'half an err' >$I/gp-c/failed/broken.csv.error.txt
statements=$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')
rejects=$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM reject')
check_exit 2 "nightly after a simulated kill" $L nightly --inbox $I --settle 0
check_grep "moved as a duplicate" "council-b/xapi-2025-q1.jsonl: duplicate: $I/council-b/xapi-2025-q1.jsonl" "$T/out"
check_eq "nothing stored twice" "$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')" "$statements"
check_eq "no reject recorded twice" "$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM reject')" "$rejects"
check_eq "council-b inbox empty" "$(ls $I/council-b)" "done"
check_eq "the same place in done/" "$(ls -A $I/council-b/done/$day)" "xapi-2025-q1.jsonl
xapi-2025-q1.jsonl.rejects.txt
xapi-2025-q2.jsonl"
check_grep "the report written again" "  line 4: record 4: not valid JSON: invalid token near 'oops'" \
	$I/council-b/done/$day/xapi-2025-q1.jsonl.rejects.txt
check_grep "the report says it was read before" "This file has the same content as $I/council-b/xapi-2025-q1.jsonl" \
	$I/council-b/done/$day/xapi-2025-q1.jsonl.rejects.txt
check_eq "failed/ has the file and a whole report" "$(ls -A $I/gp-c/failed)" "broken.csv
broken.csv.error.txt"
check_grep "the half-written error.txt replaced" "What to do:" $I/gp-c/failed/broken.csv.error.txt
check_exit 3 "no such inbox" $L nightly --inbox $T/no-such-inbox
check_grep "no such inbox: says so" "cannot read the inbox folder $T/no-such-inbox" "$T/err"
check_exit 1 "nightly needs --inbox" $L nightly

# Remote sources: nightly pulls each after the inbox, as runs of the nightly run.
REMOTE=$T/remote.db
check_exit 0 "remote store" sh -c "LRHUB_DB='$REMOTE' $L init && LRHUB_DB='$REMOTE' $L org add lms &&
	LRHUB_DB='$REMOTE' $L ingest --org lms $M/trust-a/lrs-export-2025-03.json $M/gp-c &&
	LRHUB_DB='$REMOTE' $L credential add lms --scope read-all >'$T/remote-cred'"
LRHUB_DB=$REMOTE $L serve --listen 127.0.0.1:0 >"$T/remote.out" 2>"$T/remote.err" &
remote_pid=$!
i=0
while ! grep -q '^listening on ' "$T/remote.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
RURL=$(sed -n 's/^listening on //p' "$T/remote.out")
sed -n 's/^secret: //p' "$T/remote-cred" >"$T/remote-password"
chmod 600 "$T/remote-password"
check_exit 0 "source add" $L source add gp-lms --org gp-c --xapi-url "$RURL" \
	--user "$(sed -n 's/^key: //p' "$T/remote-cred")" --password-file "$T/remote-password"
before=$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')
check_exit 0 "nightly pulls the source" $L nightly --inbox $I --json
check_eq "pull group" "$(jq -c '[.groups[] | select(.kind == "pull") | [.name, .org, .accepted + .duplicates]]' "$T/out")" \
	'[["gp-lms","gp-c",7]]' # 8 stored there, one of them voided: GET /statements leaves it out
PULL_RUN=$(jq '.groups[] | select(.kind == "pull") | .run' "$T/out")
NIGHTLY_RUN=$(jq .run "$T/out")
check_eq "the pull's run is part of the nightly run" \
	"$(sqlite3 "$LRHUB_DB" "SELECT parent_id FROM run WHERE id = $PULL_RUN")" "$NIGHTLY_RUN"
check_eq "pulled statements stored" "$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')" \
	"$((before + $(jq .accepted "$T/out")))"
check_exit 0 "runs show lists the pull" $L runs show "$NIGHTLY_RUN"
check_grep "runs show: pull part" "pull     gp-c" "$T/out"
kill -TERM $remote_pid; wait $remote_pid
cp $D/hosp-x/statements.json $I/hosp-x/after-pull.json
touch -d '2 minutes ago' $I/hosp-x/after-pull.json
check_exit 2 "a source that cannot be reached needs a human" $L nightly --inbox $I
check_grep "says which source" "lrhub: pull gp-lms:" "$T/err"
check_grep "the table marks it" "(failed: see above)" "$T/out"
check_eq "the inbox was still taken" "$(ls $I/hosp-x)" "done"

# Backup while lrhub serve writes statements.
check_exit 0 "credential" sh -c "$L credential add hosp-x >'$T/cred'"
auth="$(sed -n 's/^key: //p' "$T/cred"):$(sed -n 's/^secret: //p' "$T/cred")"
$L serve --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
server_pid=$!
i=0
while ! grep -q '^listening on ' "$T/serve.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL=$(sed -n 's/^listening on //p' "$T/serve.out")
post() { # post N: one statement by learner N
	curl -s -o /dev/null -w '%{http_code}' -u "$auth" -X POST -H 'X-Experience-API-Version: 1.0.3' \
		-H 'Content-Type: application/json' \
		-d "{\"actor\":{\"mbox\":\"mailto:backup$1@hosp-x.example\"},\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/completed\"},\"object\":{\"id\":\"https://elearning.example.org/courses/mecc-intro\"}}" \
		"$URL/statements"
}
check_eq "server takes a statement" "$(post 0)" 200
( n=1; while [ $n -le 60 ]; do post $n >/dev/null; n=$((n + 1)); done ) &
writer=$!
check_exit 0 "backup while the server writes" $L backup "$T/backup1.db"
check_exit 0 "another backup while it writes" $L backup "$T/backup2.db"
wait $writer
check_eq "backup has the schema" "$(sqlite3 "$T/backup1.db" 'PRAGMA user_version')" \
	"$(sqlite3 "$LRHUB_DB" 'PRAGMA user_version')"
n1=$(sqlite3 "$T/backup1.db" 'SELECT count(*) FROM statement')
n2=$(sqlite3 "$T/backup2.db" 'SELECT count(*) FROM statement')
check_eq "backup has the statements before it" "$((n1 >= count_before + 1))" 1
check_eq "a later backup has no fewer" "$((n2 >= n1))" 1
check_exit 0 "the backup opens as a store" env LRHUB_DB="$T/backup2.db" $L completions --format json
check_eq "no temporary file left" "$(ls "$T" | grep -c 'backup.*\.tmp')" 0
stop_server
check_exit 0 "backup of the final store" $L backup "$T/backup3.db"
check_eq "final backup equals the store" "$(sqlite3 "$T/backup3.db" 'SELECT count(*) FROM statement')" \
	"$(sqlite3 "$LRHUB_DB" 'SELECT count(*) FROM statement')"
check_exit 3 "backup into a missing folder" $L backup "$T/no/such/dir/b.db"
check_exit 1 "backup needs FILE" $L backup

e2e_end
