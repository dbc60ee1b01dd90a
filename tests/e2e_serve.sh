# End to end: `lrhub serve`, the xAPI LRS, driven over loopback with curl
# (libcurl): credentials and scopes across two orgs, statements posted and
# read back, paging through `more`, same-id no-op and conflict, voiding,
# documents with ETags, the merged Person, a live statement and a file
# ingested for the same person making one completion, CLI ingest while the
# server writes, and a clean stop on SIGTERM (no leaks under the sanitizers).
. "$(dirname "$0")/lib.sh"


V='X-Experience-API-Version: 1.0.3'
J='Content-Type: application/json'
COMPLETED=http://adlnet.gov/expapi/verbs/completed
COURSE=https://elearning.example.org/courses/mecc-intro

# key_of FILE / secret_of FILE: what `credential add` printed.
key_of() { sed -n 's/^key: //p' "$1"; }
secret_of() { sed -n 's/^secret: //p' "$1"; }

# req CRED METHOD PATH [curl args...]: the status in $T/status, body in $T/body, headers in $T/headers.
req() {
	cred=$1 method=$2 path=$3
	shift 3
	auth=
	[ -n "$cred" ] && auth="$(key_of "$T/$cred"):$(secret_of "$T/$cred")"
	curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' ${auth:+-u "$auth"} -X "$method" \
		"$@" "$URL$path" >"$T/status" 2>"$T/curl.err" || echo "curl failed: $(cat "$T/curl.err")" >>"$T/status"
}
status() { cat "$T/status"; }
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | tail -n 1; }
check_status() { check_eq "$1" "$(status)" "$2"; }

statement() { # statement ID EMAIL VERB ACTIVITY
	printf '{%s"actor":{"mbox":"mailto:%s","name":"Learner"},"verb":{"id":"%s"},"object":{"id":"%s","definition":{"name":{"en-GB":"MECC"}}}}' \
		"${1:+\"id\":\"$1\",}" "$2" "$3" "$4"
}

check_exit 0 "init" $L init
check_exit 0 "org trust-a" $L org add trust-a
check_exit 0 "org gp-c" $L org add gp-c
check_exit 0 "credential a-write" sh -c "$L credential add trust-a >'$T/a-write'"
check_grep "key printed" "key: " "$T/a-write"
check_grep "secret printed" "secret: " "$T/a-write"
check_exit 0 "credential a-read" sh -c "$L credential add trust-a --scope read-own >'$T/a-read'"
check_exit 0 "credential c-write" sh -c "$L credential add gp-c --scope write >'$T/c-write'"
check_exit 0 "credential eval" sh -c "$L credential add gp-c --scope read-all >'$T/eval'"
check_exit 1 "credential: bad scope" $L credential add gp-c --scope root
check_exit 1 "credential: unknown org" $L credential add nowhere
check_eq "no secret in the store" \
	"$(sqlite3 "$LRHUB_DB" "SELECT count(*) FROM credential WHERE hash LIKE '%$(secret_of "$T/a-write")%'")" 0

$L serve --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
server_pid=$!
i=0
while ! grep -q '^listening on ' "$T/serve.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL=$(sed -n 's/^listening on //p' "$T/serve.out")
if [ -z "$URL" ]; then
	not_ok "the server did not start: $(cat "$T/serve.err")"
	e2e_end
	exit 1
fi
case $URL in http://127.0.0.1:*/xapi) ok ;; *) not_ok "listening line: $URL" ;; esac

# About needs no credential; everything else does.
req "" GET /about
check_status "about" 200
check_eq "about versions" "$(jq -c .version "$T/body")" '["1.0.0","1.0.1","1.0.2","1.0.3","2.0.0"]'
req "" GET /statements -H "$V"
check_status "no credential" 401
check_eq "xAPI error body" "$(jq -r .error.code "$T/body")" 401
printf 'key: %s\nsecret: wrong\n' "$(key_of "$T/a-write")" >"$T/bad"
req bad GET /statements -H "$V"
check_status "wrong secret" 401
printf 'key: 0000000000000000\nsecret: x\n' >"$T/bad"
req bad GET /statements -H "$V"
check_status "unknown key" 401
req a-write GET /statements
check_status "no version header" 400
req a-write GET /statements -H 'X-Experience-API-Version: 0.9'
check_status "unsupported version" 400
req a-write GET /statements -H 'X-Experience-API-Version: 1.0.2'
check_eq "version echoed" "$(header X-Experience-API-Version)" 1.0.2
req "" OPTIONS /statements -H 'Origin: https://lms.example'
check_eq "CORS" "$(header Access-Control-Allow-Origin)" '*'

# PUT and read back; same id again is a no-op, different content a conflict.
ID1=11111111-2222-4333-8444-000000000001
statement $ID1 alice@example.org $COMPLETED $COURSE >"$T/s1.json"
req a-write PUT "/statements?statementId=$ID1" -H "$V" -H "$J" --data-binary @"$T/s1.json"
check_status "PUT" 204
req a-write GET "/statements?statementId=$ID1" -H "$V"
check_status "GET by id" 200
check_eq "read back" "$(jq -r .verb.id "$T/body")" $COMPLETED
check_eq "authority from the credential" "$(jq -r .authority.account.name "$T/body")" trust-a
check_eq "Last-Modified" "$(header Last-Modified | grep -c GMT)" 1
check_eq "consistent-through" "$(header X-Experience-API-Consistent-Through | grep -c Z)" 1
req a-write PUT "/statements?statementId=$ID1" -H "$V" -H "$J" --data-binary @"$T/s1.json"
check_status "same statement again: no-op" 204
statement $ID1 alice@example.org http://adlnet.gov/expapi/verbs/failed $COURSE >"$T/s1b.json"
req a-write PUT "/statements?statementId=$ID1" -H "$V" -H "$J" --data-binary @"$T/s1b.json"
check_status "different statement, same id" 409
req a-write POST /statements -H "$V" -H "$J" -d '{"actor":{"mbox":"mailto:x@y"},"verb":{"id":"not an iri"},"object":{"id":"http://a"}}'
check_status "invalid statement" 400
check_grep "says where" "verb.id" "$T/body"

# POST a batch (without ids: the server gives them), then page through it two at a time.
{
	printf '['
	for n in 1 2 3 4; do
		statement "" "learner$n@example.org" http://adlnet.gov/expapi/verbs/attempted "$COURSE"
		printf ','
	done
	statement "" learner5@example.org http://adlnet.gov/expapi/verbs/attempted "$COURSE"
	printf ']'
} >"$T/batch.json"
req a-write POST /statements -H "$V" -H "$J" --data-binary @"$T/batch.json"
check_status "POST batch" 200
check_eq "five ids back" "$(jq length "$T/body")" 5
req a-write POST /statements -H "$V" -H "$J" --data-binary @"$T/s1.json"
check_eq "POST of a known statement: a no-op, its id back" "$(jq -c . "$T/body")" "[\"$ID1\"]"
got=""
path="/statements?verb=http%3A%2F%2Fadlnet.gov%2Fexpapi%2Fverbs%2Fattempted&limit=2"
pages=0
while [ -n "$path" ] && [ $pages -lt 10 ]; do
	req a-read GET "$path" -H "$V"
	[ "$(status)" = 200 ] || { not_ok "page $pages: $(status)"; break; }
	got="$got $(jq -r '.statements[].actor.mbox' "$T/body" | tr '\n' ' ')"
	more=$(jq -r .more "$T/body")
	path=${more#/xapi}
	pages=$((pages + 1))
done
check_eq "three pages" $pages 3
check_eq "every statement once, newest first" "$(echo $got)" \
	"mailto:learner5@example.org mailto:learner4@example.org mailto:learner3@example.org mailto:learner2@example.org mailto:learner1@example.org"
req a-read GET "/statements?more=not-a-token" -H "$V"
check_status "forged more token" 400
req a-read GET "/statements?agent=%7B%22mbox%22%3A%22mailto%3Alearner3%40example.org%22%7D" -H "$V"
check_eq "agent filter" "$(jq '.statements | length' "$T/body")" 1

# Scopes across two orgs.
req a-read POST /statements -H "$V" -H "$J" --data-binary @"$T/s1.json"
check_status "read-own may not write" 403
req c-write GET "/statements?statementId=$ID1" -H "$V"
check_status "another org's statement is not there" 404
req c-write GET "/statements" -H "$V"
check_eq "another org's list is empty" "$(jq '.statements | length' "$T/body")" 0
req eval GET "/statements?statementId=$ID1" -H "$V"
check_status "read-all reads every org" 200
req eval PUT "/activities/state?activityId=$COURSE&agent=%7B%22mbox%22%3A%22mailto%3Aa%40b%22%7D&stateId=s" -H "$V" -H "$J" -d '{}'
check_status "read-all may not write documents" 403

# Voiding.
ID2=11111111-2222-4333-8444-000000000002
statement $ID2 bob@example.org $COMPLETED $COURSE >"$T/s2.json"
req a-write PUT "/statements?statementId=$ID2" -H "$V" -H "$J" --data-binary @"$T/s2.json"
check_status "PUT bob" 204
req a-write POST /statements -H "$V" -H "$J" \
	-d "{\"actor\":{\"mbox\":\"mailto:admin@trust-a.example\"},\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},\"object\":{\"objectType\":\"StatementRef\",\"id\":\"$ID2\"}}"
check_status "void bob" 200
VOIDING=$(jq -r '.[0]' "$T/body")
req a-write GET "/statements?statementId=$ID2" -H "$V"
check_status "a voided statement is gone" 404
req a-write GET "/statements?voidedStatementId=$ID2" -H "$V"
check_status "... but there by voidedStatementId" 200
req a-write POST /statements -H "$V" -H "$J" \
	-d "{\"actor\":{\"mbox\":\"mailto:admin@trust-a.example\"},\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},\"object\":{\"objectType\":\"StatementRef\",\"id\":\"$VOIDING\"}}"
check_status "a voiding statement cannot be voided" 400

# Documents with ETags.
AGENT='%7B%22mbox%22%3A%22mailto%3Aalice%40example.org%22%7D'
DOC="/activities/profile?activityId=$COURSE&profileId=p1"
req a-write PUT "$DOC" -H "$V" -H "$J" -H 'If-None-Match: *' -d '{"a":1}'
check_status "new profile" 204
req a-write GET "$DOC" -H "$V"
check_status "GET profile" 200
ETAG=$(header ETag)
check_eq "ETag is a quoted SHA-1" "$(echo "$ETAG" | grep -cE '^"[0-9a-f]{40}"$')" 1
req a-write PUT "$DOC" -H "$V" -H "$J" -d '{"a":2}'
check_status "PUT over it without a precondition" 409
req a-write PUT "$DOC" -H "$V" -H "$J" -H 'If-Match: "0000000000000000000000000000000000000000"' -d '{"a":2}'
check_status "stale If-Match" 412
req a-write PUT "$DOC" -H "$V" -H "$J" -H "If-Match: $ETAG" -d '{"a":2}'
check_status "current If-Match" 204
req a-write POST "$DOC" -H "$V" -H "$J" -d '{"b":3}'
check_status "POST merges" 204
req a-write GET "$DOC" -H "$V"
check_eq "merged" "$(jq -c . "$T/body")" '{"a":2,"b":3}'
req c-write GET "$DOC" -H "$V"
check_status "another org's document is not there" 404
STATE="/activities/state?activityId=$COURSE&agent=$AGENT&stateId=bookmark"
req a-write PUT "$STATE" -H "$V" -H 'Content-Type: text/plain' -d 'page 7'
check_status "state PUT" 204
req a-write GET "$STATE" -H "$V"
check_eq "state GET" "$(cat "$T/body")" "page 7"
req a-write GET "/activities/state?activityId=$COURSE&agent=$AGENT" -H "$V"
check_eq "state ids" "$(jq -c . "$T/body")" '["bookmark"]'
req a-write DELETE "$STATE" -H "$V"
check_status "state DELETE" 204
req a-write GET "$STATE" -H "$V"
check_status "state gone" 404

# A live statement and a file for the same person: one completion, two orgs.
SHA=$(printf 'mailto:alice@example.org' | sha1sum | cut -c1-40)
printf '{"actor":{"mbox_sha1sum":"%s"},"verb":{"id":"%s"},"object":{"id":"%s"},"timestamp":"2025-03-01T10:00:00Z"}\n' \
	"$SHA" $COMPLETED $COURSE >"$T/gp-c.jsonl"
check_exit 0 "course" $L course add mecc --title "Making Every Contact Count"
check_exit 0 "alias" $L course alias mecc --key $COURSE
check_exit 0 "ingest gp-c's file while the server runs" $L ingest --org gp-c "$T/gp-c.jsonl"
check_exit 0 "completions" $L completions --course mecc --format json
check_eq "alice: one row" "$(jq '[.[] | select(.email == "alice@example.org")] | length' "$T/out")" 1
check_eq "alice: two completions" "$(jq -r '.[] | select(.email == "alice@example.org") | .completions' "$T/out")" 2
check_eq "alice: both orgs" "$(jq -r '.[] | select(.email == "alice@example.org") | .orgs | join(";")' "$T/out")" "gp-c;trust-a"
req eval GET "/agents?agent=$AGENT" -H "$V"
check_status "agents" 200
check_eq "the merged Person" "$(jq -c '[.objectType, .mbox, .mbox_sha1sum]' "$T/body")" \
	"[\"Person\",[\"mailto:alice@example.org\"],[\"$SHA\"]]"
req a-write GET "/activities?activityId=$COURSE" -H "$V"
check_eq "activity" "$(jq -r '.definition.name["en-GB"]' "$T/body")" MECC

# The server and CLI ingests write at the same time: nothing lost, no "locked".
# Another program holds the store's write lock for a moment first, so that
# the requests pile up and are written together once it lets go.
python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
c.execute("BEGIN IMMEDIATE"); open(sys.argv[2], "w").close(); time.sleep(2); c.execute("COMMIT")' \
	"$LRHUB_DB" "$T/held" &
holder=$!
i=0
while [ ! -e "$T/held" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
for n in $(seq 1 40); do
	printf '{"actor":{"mbox":"mailto:cli%s@example.org"},"verb":{"id":"%s"},"object":{"id":"%s"}}\n' $n $COMPLETED $COURSE
done >"$T/many.jsonl"
: >"$T/posts"
posters=
for n in $(seq 1 20); do
	statement "" "live$n@example.org" $COMPLETED $COURSE >"$T/live$n.json"
	curl -s -o /dev/null -w '%{http_code}\n' -u "$(key_of "$T/c-write"):$(secret_of "$T/c-write")" \
		-H "$V" -H "$J" --data-binary @"$T/live$n.json" "$URL/statements" >"$T/post$n" &
	posters="$posters $!"
done
# Requests that wait together are stored in one transaction: among them,
# ones that conflict (a known id, other content) are refused alone.
for n in $(seq 1 5); do
	statement $ID1 "clash$n@example.org" $COMPLETED $COURSE >"$T/clash$n.json"
	curl -s -o /dev/null -w '%{http_code}\n' -u "$(key_of "$T/c-write"):$(secret_of "$T/c-write")" \
		-H "$V" -H "$J" --data-binary @"$T/clash$n.json" "$URL/statements" >"$T/clash-code$n" &
	posters="$posters $!"
done
check_exit 0 "CLI ingest meanwhile" $L ingest --org gp-c "$T/many.jsonl"
for p in $posters; do wait "$p"; done
wait "$holder"
cat "$T"/post[0-9]* >"$T/posts"
check_eq "every live POST stored" "$(grep -c '^200$' "$T/posts")" 20
check_eq "every statement there" "$(sqlite3 "$LRHUB_DB" "SELECT count(*) FROM statement WHERE json LIKE '%@example.org%' AND (json LIKE '%mailto:cli%' OR json LIKE '%mailto:live%')")" 60
check_eq "every clash refused" "$(cat "$T"/clash-code* | sort | uniq -c | tr -s ' ')" " 5 409"
check_eq "no clash stored" "$(sqlite3 "$LRHUB_DB" "SELECT count(*) FROM statement WHERE json LIKE '%mailto:clash%'")" 0

# A limit on the body.
head -c 20000000 /dev/zero | tr '\0' ' ' >"$T/big"
req a-write POST /statements -H "$V" -H "$J" --data-binary @"$T/big"
check_status "body too large" 413

req a-write HEAD "/statements?statementId=$ID1" -H "$V" -I
check_status "HEAD" 200

# GET /activities finds an Activity by the course index (xAPI statements,
# whose course key is the Activity id: the newest definition wins) and by the
# index of other object ids (an LMS export's statements, keyed by the LMS course).
DEF_ACT=https://elearning.example.org/courses/defs
for name in Old New; do
	printf '{"actor":{"mbox":"mailto:defs@example.org"},"verb":{"id":"%s"},"object":{"id":"%s","definition":{"name":{"en-GB":"%s"}}}}' \
		"$COMPLETED" "$DEF_ACT" "$name" >"$T/def.json"
	req a-write POST /statements -H "$V" -H "$J" --data-binary @"$T/def.json"
	check_status "POST definition $name" 200
done
req a-read GET "/activities?activityId=$(printf %s "$DEF_ACT" | jq -sRr @uri)" -H "$V"
check_status "GET /activities (xAPI)" 200
check_eq "the newest definition wins" "$(jq -r '.definition.name["en-GB"]' "$T/body")" New
check_exit 0 "org with an LMS" $L org add trust-m --lms-url https://moodle.example.org
check_exit 0 "ingest an LMS export while serving" $L ingest --org trust-m --format moodle-track \
	"$F/moodle-track/scorm12_passed/input.csv"
LMS_ACT=$(sqlite3 "$LRHUB_DB" "SELECT object_id FROM statement WHERE course_key IS NOT object_id AND object_type = 'Activity' LIMIT 1")
case $LMS_ACT in https://moodle.example.org/*) ok ;; *) not_ok "LMS statement's object: '$LMS_ACT'" ;; esac
req eval GET "/activities?activityId=$(printf %s "$LMS_ACT" | jq -sRr @uri)" -H "$V"
check_status "GET /activities (LMS export)" 200
check_eq "its definition" "$(jq -r '.definition.type' "$T/body")" http://adlnet.gov/expapi/activities/lesson
req a-read GET "/activities?activityId=$(printf %s "$LMS_ACT" | jq -sRr @uri)" -H "$V"
check_eq "another org's credential does not see it" "$(jq -r '.definition.type' "$T/body")" null

# A revoked credential stops working at once, even one the server has
# verified before and remembers.
check_exit 0 "credential for revoking" sh -c "$L credential add trust-a --scope read-own >'$T/gone' 2>/dev/null"
req gone GET "/statements?limit=1" -H "$V"
check_status "before revoking" 200
req gone GET "/statements?limit=1" -H "$V"
check_status "before revoking, remembered" 200
check_exit 0 "credential revoke" $L credential revoke "$(key_of "$T/gone")"
req gone GET "/statements?limit=1" -H "$V"
check_status "revoked: refused" 401
check_exit 0 "credential list" $L credential list
check_eq "listed as revoked" "$(awk -v k="$(key_of "$T/gone")" '$1 == k { print ($5 == "-" ? "in use" : "revoked") }' "$T/out")" revoked
check_eq "the others in use" "$(awk 'NR > 1 && $5 == "-"' "$T/out" | wc -l | tr -d ' ')" 4
check_eq "no secret listed" "$(grep -cF -e "$(secret_of "$T/a-write")" "$T/out")" 0
check_exit 1 "revoked already" $L credential revoke "$(key_of "$T/gone")"
check_grep "said so" "is revoked already" "$T/err"
check_exit 1 "unknown key" $L credential revoke 0000000000000000
req a-read GET "/statements?limit=1" -H "$V"
check_status "other credentials unaffected" 200

# SIGTERM while statements arrive: every one answered 200 is stored.
posters=
for n in $(seq 1 30); do
	statement "" "late$n@example.org" $COMPLETED $COURSE >"$T/late$n.json"
	curl -s -o /dev/null -w '%{http_code}\n' -u "$(key_of "$T/a-write"):$(secret_of "$T/a-write")" \
		-H "$V" -H "$J" --data-binary @"$T/late$n.json" "$URL/statements" >"$T/late-code$n" 2>/dev/null &
	posters="$posters $!"
	if [ "$n" -eq 10 ]; then
		# The stop comes after some were answered, however loaded the machine.
		w=0
		while ! cat "$T"/late-code* 2>/dev/null | grep -q '^200$' && [ "$w" -lt 300 ]; do
			sleep 0.1
			w=$((w + 1))
		done
	fi
	[ "$n" -eq 20 ] && kill -TERM "$server_pid"
done
for p in $posters; do wait "$p"; done
stop_server
check_eq "stopped cleanly" "$server_status" 0
late_ok=$(cat "$T"/late-code* | grep -c '^200$')
if [ "$late_ok" -gt 0 ]; then ok; else not_ok "no statement was answered before the stop"; fi
check_eq "answered 200 = stored" "$(cat "$T"/late-code* | grep -c '^200$')" \
	"$(sqlite3 "$LRHUB_DB" "SELECT count(*) FROM statement WHERE json LIKE '%mailto:late%'")"
check_grep "said so" "lrhub: stopped" "$T/serve.err"
if grep -q "Sanitizer" "$T/serve.err"; then not_ok "sanitizer report from the server"; sed 's/^/    /' "$T/serve.err" | head -n 30; else ok; fi

# --listen takes an IPv6 address in brackets; a bad one is refused at once.
check_exit 1 "IPv6 without brackets" $L serve --listen ::1:8080
check_grep "says to bracket it" "an IPv6 address goes in brackets: [::1]:8080" "$T/err"
check_exit 1 "unclosed bracket" $L serve --listen '[::1:8080'
check_exit 1 "not an IPv6 address" $L serve --listen '[nope]:8080'
check_grep "says which" "'nope' is not an IPv6 address" "$T/err"
if grep -q ' lo$' /proc/net/if_inet6 2>/dev/null; then
	$L serve --listen '[::1]:0' >"$T/serve6.out" 2>"$T/serve6.err" &
	server_pid=$!
	i=0
	while ! grep -q '^listening on ' "$T/serve6.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	URL=$(sed -n 's/^listening on //p' "$T/serve6.out")
	case $URL in "http://[::1]:"*/xapi) ok ;; *) not_ok "IPv6 listening line: '$URL' $(cat "$T/serve6.err")" ;; esac
	req "" GET /about
	check_status "about over IPv6" 200
	statement "" "six@example.org" $COMPLETED $COURSE >"$T/six.json"
	req a-write POST /statements -H "$V" -H "$J" --data-binary @"$T/six.json"
	check_status "POST over IPv6" 200
	check_eq "stored" "$(sqlite3 "$LRHUB_DB" "SELECT count(*) FROM statement WHERE json LIKE '%mailto:six@example.org%'")" 1
	stop_server
	check_eq "IPv6 server stopped cleanly" "$server_status" 0
	# [::] is every address: IPv4 clients reach it too.
	$L serve --listen '[::]:0' >"$T/serve6.out" 2>"$T/serve6.err" &
	server_pid=$!
	i=0
	while ! grep -q '^listening on ' "$T/serve6.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	port=$(sed -n 's/^listening on http:\/\/\[::\]:\([0-9]*\)\/xapi$/\1/p' "$T/serve6.out")
	URL="http://127.0.0.1:$port/xapi"
	req "" GET /about
	check_status "[::] answers over IPv4" 200
	URL="http://[::1]:$port/xapi"
	req "" GET /about
	check_status "[::] answers over IPv6" 200
	stop_server
else
	echo "skipped: this machine has no IPv6 loopback (::1), so serving over IPv6 is not tested"
fi
e2e_end
