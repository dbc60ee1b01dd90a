# End to end: `lrhub serve` under hostile clients, over loopback with curl.
# Access control: an org's credentials can neither read nor change another
# org's statements or documents through any resource, query parameter or
# the alternate request syntax (an evaluator's read-all credential, the
# positive control, can read them). SQL meta-characters in every query
# parameter: 400 or an empty answer, never 500, the store intact. Bodies over
# the limit (413, the server stays up), headers over the connection memory,
# a JSON body nested a million deep, slow clients holding connections
# (slowloris: a client from another address is still served), secrets stored
# hashed, and repeated failed logins answered 429 with Retry-After while
# other clients log in as usual.
. "$(dirname "$0")/lib.sh"

H=${LRHUB_ROOT:-.}/tests

V='X-Experience-API-Version: 1.0.3'
J='Content-Type: application/json'
C_ACT=https://gp-c.example.org/courses/secret-course
A_ACT=https://trust-a.example.org/courses/mecc
VERB=http://adlnet.gov/expapi/verbs/completed
C1=c1000000-0000-4000-8000-000000000001
C2=c1000000-0000-4000-8000-000000000002
C3=c1000000-0000-4000-8000-000000000003
REG=c1000000-0000-4000-8000-0000000000ee
A1=a1000000-0000-4000-8000-000000000001

# auth_of CRED: KEY:SECRET of what `credential add` printed (read once, kept in $T/CRED.auth).
auth_of() {
	[ -f "$T/$1.auth" ] || printf '%s:%s' "$(sed -n 's/^key: //p' "$T/$1")" \
		"$(sed -n 's/^secret: //p' "$T/$1")" >"$T/$1.auth"
	read -r a_line <"$T/$1.auth" || true
	printf '%s' "$a_line"
}
key_of() { a_pair=$(auth_of "$1"); printf '%s' "${a_pair%%:*}"; }
secret_of() { a_pair=$(auth_of "$1"); printf '%s' "${a_pair#*:}"; }
# req CRED METHOD PATH [curl args...]: status in $T/status, body in $T/body, headers in $T/headers.
req() {
	r_cred=$1 r_method=$2 r_path=$3
	shift 3
	r_auth=
	[ -n "$r_cred" ] && r_auth=$(auth_of "$r_cred")
	curl -s -g -o "$T/body" -D "$T/headers" -w '%{http_code}' ${r_auth:+-u "$r_auth"} -X "$r_method" \
		--max-time 20 "$@" "$URL$r_path" >"$T/status" 2>"$T/curl.err" || true
}
status() { read -r s_line <"$T/status" || true; printf '%s' "${s_line:-}"; s_line=; }
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | tail -n 1; }
check_status() { check_eq "$1" "$(status)" "$2"; }
check_status_in() { # check_status_in DESCRIPTION STATUS...: the status is one of them
	s_what=$1
	shift
	s_got=$(status)
	for s_want in "$@"; do
		[ "$s_got" = "$s_want" ] && { ok; return; }
	done
	not_ok "$s_what: status $s_got, expected one of $*: $(head -c 300 "$T/body")"
}
body_has_no() { # body_has_no DESCRIPTION TEXT: the answer does not contain TEXT
	if grep -qF -- "$2" "$T/body"; then not_ok "$1: the answer has '$2'"; else ok; fi
}
enc() { jq -rn --arg v "$1" '$v|@uri'; }
q() { sqlite3 "$LRHUB_DB" "$1"; }

check_exit 0 "init" $L init
check_exit 0 "org trust-a" $L org add trust-a
check_exit 0 "org gp-c" $L org add gp-c
for c in "a-write trust-a write" "a-read trust-a read-own" "c-write gp-c write" "eval gp-c read-all" \
	"a-admin trust-a admin" "spare trust-a read-own" "fresh trust-a read-own"; do
	set -- $c
	check_exit 0 "credential $1" sh -c "$L credential add $2 --scope $3 >'$T/$1'"
done
# Secrets are stored hashed: no secret, whole or in part, in the store file.
sqlite3 "$LRHUB_DB" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
for c in a-write a-read c-write eval; do
	if grep -qaF -- "$(secret_of $c | cut -c1-20)" "$LRHUB_DB"; then not_ok "$c's secret is in the store file"; else ok; fi
done
check_eq "the store is readable by its owner only" "$(stat -c %a "$LRHUB_DB")" 600
check_eq "stored: 32-byte hash and 16-byte salt" \
	"$(q "SELECT count(*) FROM credential WHERE length(hash) = 32 AND length(salt) = 16 AND iterations >= 100000")" 7

$L serve --listen 127.0.0.1:0 --max-body 1048576 --max-connections-per-ip 16 \
	>"$T/serve.out" 2>"$T/serve.err" &
server_pid=$!
i=0
while ! grep -q '^listening on ' "$T/serve.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL=$(sed -n 's/^listening on //p' "$T/serve.out")
if [ -z "$URL" ]; then
	not_ok "the server did not start: $(cat "$T/serve.err")"
	e2e_end
	exit 1
fi
PORT=${URL#http://127.0.0.1:}
PORT=${PORT%%/*}

# ---- gp-c's data: statements, a voided one, documents ----
C_AGENT='{"mbox":"mailto:victim@gp-c.example.org","name":"Victim Secret-Name"}'
c_statement() { # c_statement ID: a gp-c statement with every filterable part
	printf '{"id":"%s","actor":%s,"verb":{"id":"%s"},"object":{"id":"%s","definition":{"name":{"en-GB":"C secret course"}}},"context":{"registration":"%s","contextActivities":{"parent":[{"id":"%s/parent"}]},"instructor":{"mbox":"mailto:tutor@gp-c.example.org"}},"timestamp":"2025-03-01T10:00:00Z"}' \
		"$1" "$C_AGENT" "$VERB" "$C_ACT" "$REG" "$C_ACT"
}
req c-write POST /statements -H "$V" -H "$J" -d "[$(c_statement $C1),$(c_statement $C2)]"
check_status "gp-c posts" 200
req c-write POST /statements -H "$V" -H "$J" \
	-d "{\"id\":\"$C3\",\"actor\":$C_AGENT,\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},\"object\":{\"objectType\":\"StatementRef\",\"id\":\"$C2\"}}"
check_status "gp-c voids C2" 200
req a-write POST /statements -H "$V" -H "$J" \
	-d "{\"id\":\"$A1\",\"actor\":{\"mbox\":\"mailto:ann@trust-a.example.org\"},\"verb\":{\"id\":\"$VERB\"},\"object\":{\"id\":\"$A_ACT\"}}"
check_status "trust-a posts" 200
# gp-c links its LMS account to the victim's email: the merged Person has both.
printf 'org,key,email\ngp-c,c-user-77,victim@gp-c.example.org\n' >"$T/links.csv"
check_exit 0 "gp-c identity link" $L identity import "$T/links.csv"
req c-write POST /statements -H "$V" -H "$J" \
	-d "{\"actor\":{\"account\":{\"homePage\":\"https://lms.gp-c.example.org\",\"name\":\"c-user-77\"}},\"verb\":{\"id\":\"$VERB\"},\"object\":{\"id\":\"$C_ACT\"}}"
check_status "gp-c posts for its account" 200
AG=$(enc '{"mbox":"mailto:victim@gp-c.example.org"}')
EC=$(enc "$C_ACT")
STATE="/activities/state?activityId=$EC&agent=$AG&stateId=bookmark"
APROF="/activities/profile?activityId=$EC&profileId=c-profile"
GPROF="/agents/profile?agent=$AG&profileId=c-profile"
for d in "$STATE" "$APROF" "$GPROF"; do
	req c-write PUT "$d" -H "$V" -H "$J" -H 'If-None-Match: *' -d '{"secret":"gp-c document"}'
	check_status "gp-c PUT ${d%%\?*}" 204
done
statements_before=$(q "SELECT count(*) FROM statement")
digest_before=$(q "SELECT group_concat(id || org_id || hex(digest), ',') FROM (SELECT * FROM statement ORDER BY seq)")

# ---- trust-a cannot read gp-c's statements ----
# Many requests go through one curl (one connection, quick): batch_new,
# then batch_add CRED METHOD PATH [BODY] queues one, batch_run sends them; then
# line N of $T/batch.status is the status of request N, its body $T/batch/N.
batch_add() {
	n_batch=$((n_batch + 1))
	{
		[ "$1" = "${b_last:-}" ] || { b_auth=$(auth_of "$1"); b_last=$1; }
		printf 'user = "%s"\n' "$b_auth"
		printf 'header = "%s"\nrequest = "%s"\nurl = "%s%s"\noutput = "%s/batch/%s"\n' \
			"$V" "$2" "$URL" "$3" "$T" "$n_batch"
		# BODY is written as is inside the config's quotes: escape its '"' and '\\'.
		[ -n "${4:-}" ] && printf 'header = "%s"\nheader = "If-None-Match: *"\ndata = "%s"\n' "$J" "$4"
		printf 'write-out = "%%{http_code}\\n"\ngloboff\nnext\n'
	} >>"$T/batch.cfg"
	printf '%s %s %s\n' "$1" "$2" "$3" >>"$T/batch.list"
}
batch_run() {
	curl -s --max-time 120 -K "$T/batch.cfg" >"$T/batch.status" 2>"$T/curl.err"
	paste -d ' ' "$T/batch.status" "$T/batch.list" >"$T/batch.results"
}
batch_new() { rm -rf "$T/batch" "$T/batch.cfg" "$T/batch.list"; mkdir -p "$T/batch"; n_batch=0; }
for cred in a-write a-read; do
	req $cred GET "/statements?statementId=$C1" -H "$V"
	check_status "$cred: gp-c's statement by id" 404
	body_has_no "$cred: by id" "Victim"
	req $cred GET "/statements?voidedStatementId=$C2" -H "$V"
	check_status "$cred: gp-c's voided statement" 404
	req $cred GET "/statements?statementId=$C2" -H "$V"
	check_status "$cred: gp-c's voided statement by statementId" 404
	req $cred GET "/statements?statementId=$C1&attachments=true" -H "$V"
	check_status "$cred: by id with attachments" 404
	batch_new
	for filter in "" "agent=$AG" "agent=$AG&related_agents=true" "verb=$(enc $VERB)" \
		"activity=$EC" "activity=$EC&related_activities=true" \
		"activity=$(enc $C_ACT/parent)&related_activities=true" "registration=$REG" \
		"since=2000-01-01T00:00:00Z" "until=2100-01-01T00:00:00Z" "ascending=true" "limit=1" \
		"format=ids" "format=canonical" "attachments=true" \
		"agent=$(enc '{"mbox":"mailto:tutor@gp-c.example.org"}')&related_agents=true"; do
		batch_add $cred GET "/statements?$filter"
	done
	batch_run
	i=0
	while read -r b_status b_cred b_method b_path; do
		i=$((i + 1))
		check_eq "$b_cred: GET $b_path" "$b_status" 200
		if grep -qF -e c1000000- -e gp-c "$T/batch/$i"; then not_ok "$b_cred: GET $b_path: gp-c's data"; else ok; fi
	done <"$T/batch.results"
	req $cred GET "/statements" -H "$V"
	check_eq "$cred: sees its own org's only" "$(jq -r '[.statements[].id] | join(",")' "$T/body")" "$A1"
	# The alternate request syntax carries the same rules.
	req "" POST "/statements?method=GET" -H "Content-Type: application/x-www-form-urlencoded" \
		--data-urlencode "statementId=$C1" --data-urlencode "X-Experience-API-Version=1.0.3" \
		--data-urlencode "Authorization=Basic $(printf '%s:%s' "$(key_of $cred)" "$(secret_of $cred)" | base64 -w0)"
	check_status "$cred: alternate syntax GET by id" 404
	req "" POST "/statements?method=GET" -H "Content-Type: application/x-www-form-urlencoded" \
		--data-urlencode "agent=$(jq -rn --argjson a "$C_AGENT" '$a|tojson')" --data-urlencode "X-Experience-API-Version=1.0.3" \
		--data-urlencode "Authorization=Basic $(printf '%s:%s' "$(key_of $cred)" "$(secret_of $cred)" | base64 -w0)"
	check_status "$cred: alternate syntax GET by agent" 200
	body_has_no "$cred: alternate syntax by agent" "c1000000-"
done
# The positive control: the evaluator's read-all credential does see them.
req eval GET "/statements?statementId=$C1" -H "$V"
check_status "eval: gp-c's statement" 200
req eval GET "/statements?agent=$AG" -H "$V"
check_grep "eval: by agent" "$C1" "$T/body"
# A `more` token is bound to the credential that made the query.
req eval GET "/statements?limit=1" -H "$V"
MORE=$(jq -r .more "$T/body")
case $MORE in /xapi/statements\?more=*) ok ;; *) not_ok "eval: no more link: $MORE" ;; esac
req a-read GET "${MORE#/xapi}" -H "$V"
check_status_in "a-read: someone else's more token" 400 404
body_has_no "a-read: someone else's more token" "c1000000-"

# ---- trust-a cannot overwrite or void gp-c's statements ----
req a-write PUT "/statements?statementId=$C1" -H "$V" -H "$J" \
	-d "{\"actor\":{\"mbox\":\"mailto:evil@trust-a.example.org\"},\"verb\":{\"id\":\"$VERB\"},\"object\":{\"id\":\"$A_ACT\"}}"
check_status_in "a-write: PUT over gp-c's id" 409
req a-write POST /statements -H "$V" -H "$J" \
	-d "[{\"id\":\"$C1\",\"actor\":{\"mbox\":\"mailto:evil@trust-a.example.org\"},\"verb\":{\"id\":\"$VERB\"},\"object\":{\"id\":\"$A_ACT\"}}]"
check_status "a-write: POST over gp-c's id" 409
req a-write PUT "/statements?statementId=$C1" -H "$V" -H "$J" -d "$(c_statement $C1)"
check_status_in "a-write: PUT of gp-c's very statement (a no-op)" 204 409
req a-write POST /statements -H "$V" -H "$J" \
	-d "{\"actor\":{\"mbox\":\"mailto:evil@trust-a.example.org\"},\"verb\":{\"id\":\"http://adlnet.gov/expapi/verbs/voided\"},\"object\":{\"objectType\":\"StatementRef\",\"id\":\"$C1\"}}"
req c-write GET "/statements?statementId=$C1" -H "$V"
check_status "trust-a's voiding does not void gp-c's statement" 200
check_eq "gp-c's statements unchanged" \
	"$(q "SELECT group_concat(id || org_id || hex(digest), ',') FROM (SELECT * FROM statement WHERE id LIKE 'c1000000-%' ORDER BY seq)")" \
	"$(printf '%s\n' "$digest_before" | tr ',' '\n' | grep '^c1000000-' | paste -sd,)"
check_eq "gp-c's statements still gp-c's" \
	"$(q "SELECT count(*) FROM statement s JOIN org o ON o.id = s.org_id WHERE s.id LIKE 'c1000000-%' AND o.code = 'gp-c'")" 3
req a-read PUT "/statements?statementId=a1000000-0000-4000-8000-0000000000ff" -H "$V" -H "$J" \
	-d "{\"actor\":{\"mbox\":\"mailto:x@trust-a.example.org\"},\"verb\":{\"id\":\"$VERB\"},\"object\":{\"id\":\"$A_ACT\"}}"
check_status "read-own may not write" 403

# ---- documents ----
for d in "$STATE" "$APROF" "$GPROF"; do
	what=${d%%\?*}
	req a-write GET "$d" -H "$V"
	check_status "a-write: gp-c's $what" 404
	body_has_no "a-write: gp-c's $what" "gp-c document"
	req a-read GET "$d" -H "$V"
	check_status "a-read: gp-c's $what" 404
	req eval GET "$d" -H "$V"
	check_status "eval (gp-c's own org): $what" 200
	req a-write GET "${d%&*}" -H "$V"
	check_status "a-write: the ids of $what" 200
	check_eq "a-write: no ids of gp-c's $what" "$(cat "$T/body")" "[]"
	# If-None-Match: * would be 412 if trust-a saw gp-c's document there.
	req a-write PUT "$d" -H "$V" -H "$J" -H 'If-None-Match: *' -d '{"secret":"trust-a overwrite"}'
	check_status "a-write: PUT at gp-c's $what makes trust-a's own" 204
	req a-write POST "$d" -H "$V" -H "$J" -d '{"more":"trust-a merge"}'
	check_status "a-write: POST at gp-c's $what merges into trust-a's own" 204
	req a-write DELETE "$d" -H "$V"
	check_status "a-write: DELETE at gp-c's $what deletes trust-a's own" 204
	req "" POST "${what}?method=PUT" -H "Content-Type: application/x-www-form-urlencoded" \
		-d "${d#*\?}" --data-urlencode "If-None-Match=*" --data-urlencode "content={\"secret\":\"via the alternate syntax\"}" \
		--data-urlencode "Content-Type=application/json" --data-urlencode "X-Experience-API-Version=1.0.3" \
		--data-urlencode "Authorization=Basic $(printf '%s:%s' "$(key_of a-write)" "$(secret_of a-write)" | base64 -w0)"
	check_status "a-write: alternate syntax PUT at gp-c's $what" 204
	req c-write GET "$d" -H "$V"
	check_eq "gp-c's $what unchanged" "$(jq -c . "$T/body")" '{"secret":"gp-c document"}'
done
# Deleting every state of the activity and agent deletes trust-a's only.
req a-write DELETE "${STATE%&*}" -H "$V"
check_status "a-write: DELETE all states" 204
req c-write GET "$STATE" -H "$V"
check_status "gp-c's state survives" 200
check_eq "documents per org" "$(q "SELECT group_concat(n, ' ') FROM (SELECT o.code || ':' || count(*) n FROM document d JOIN org o ON o.id = d.org_id GROUP BY o.code ORDER BY o.code)")" \
	"gp-c:3 trust-a:2"

# ---- /activities and /agents ----
req a-read GET "/activities?activityId=$EC" -H "$V"
check_status "a-read: /activities" 200
body_has_no "a-read: gp-c's activity definition" "C secret course"
req eval GET "/activities?activityId=$EC" -H "$V"
check_grep "eval: the definition" "C secret course" "$T/body"
req a-read GET "/agents?agent=$AG" -H "$V"
check_status "a-read: /agents" 200
body_has_no "a-read: gp-c's learner's name" "Victim Secret-Name"
body_has_no "a-read: gp-c's account" "c-user-77"
req eval GET "/agents?agent=$AG" -H "$V"
check_grep "eval: the merged Person" "c-user-77" "$T/body"
check_grep "eval: the name" "Victim Secret-Name" "$T/body"

# ---- reports, dashboard and web uploads (at the server root) ----
ROOT=${URL%/xapi}
for r in / /reports/completions.csv /reports/coverage.json /reports/trend.json \
	"/reports/completions.csv?org=gp-c" "/reports/coverage.json?org=gp-c" "/reports/trend.json?org=gp-c"; do
	for cred in a-write a-read; do
		curl -s -g -o "$T/body" -w '%{http_code}' -u "$(auth_of $cred)" "$ROOT$r" >"$T/status"
		check_status "$cred: $r" 403
		body_has_no "$cred: $r" "victim"
	done
done
curl -s -o "$T/body" -w '%{http_code}' -u "$(auth_of eval)" "$ROOT/reports/completions.csv" >"$T/status"
check_status "eval: the completions report" 200
{ printf '{"actor":{"mbox":"mailto:up@trust-a.example.org"},"verb":{"id":"%s"},"object":{"id":"%s"}}\n' "$VERB" "$A_ACT"; } >"$T/up.jsonl"
gp_c_before=$(q "SELECT count(*) FROM statement s JOIN org o ON o.id = s.org_id WHERE o.code = 'gp-c'")
upload() { # upload CRED [curl args...]: POST /uploads, answer in $T/body
	u_cred=$1
	shift
	curl -s -o "$T/body" -w '%{http_code}' -u "$(auth_of $u_cred)" -H 'Accept: application/json' \
		--max-time 20 "$@" "$ROOT/uploads" >"$T/status" 2>"$T/curl.err" || true
}
upload a-write -F "file=@$T/up.jsonl" -F org=gp-c
check_status "a-write: upload for gp-c" 403
upload a-admin -F "file=@$T/up.jsonl" -F org=gp-c
check_status "a-admin: upload for gp-c" 403
upload a-read -F "file=@$T/up.jsonl"
check_status "a-read: upload" 403
check_eq "gp-c's statements after the uploads" \
	"$(q "SELECT count(*) FROM statement s JOIN org o ON o.id = s.org_id WHERE o.code = 'gp-c'")" "$gp_c_before"
# Malformed multipart bodies: 400, nothing recorded, the server up.
runs_before=$(q "SELECT count(*) FROM run")
MP='Content-Type: multipart/form-data; boundary=XyZ'
CRLF=$(printf '\r')
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n{"actor":' >"$T/mp-cut"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n\r\n%s\r\n--XyZ' "$(cat "$T/up.jsonl")" >"$T/mp-noclose"
{ for i in $(seq 1 40); do printf -- '--XyZ\r\nContent-Disposition: form-data; name="f%s"\r\n\r\nx\r\n' $i; done; printf -- '--XyZ--\r\n'; } >"$T/mp-parts"
{ printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\nX-Long: '; perl -e 'print "h" x 20000'; printf '\r\n\r\nx\r\n--XyZ--\r\n'; } >"$T/mp-header"
{ printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'; for i in $(seq 1 100); do printf 'X-H%s: v\r\n' $i; done; printf '\r\nx\r\n--XyZ--\r\n'; } >"$T/mp-lines"
printf -- 'garbage with no boundary at all\r\n' >"$T/mp-garbage"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="format"\r\n\r\nxapi\r\n--XyZ--\r\n' >"$T/mp-nofile"
for m in cut noclose parts header lines garbage nofile; do
	upload a-write -H "$MP" --data-binary "@$T/mp-$m"
	check_status "malformed multipart ($m)" 400
done
upload a-write -H "Content-Type: multipart/form-data" --data-binary "@$T/mp-cut"
check_status_in "multipart without a boundary" 400 415
upload a-write -H "Content-Type: multipart/form-data; boundary=$(perl -e 'print "b" x 100')" --data-binary "@$T/mp-cut"
check_status_in "multipart with a 100-character boundary" 400 415
check_eq "no run recorded for the malformed uploads" "$(q "SELECT count(*) FROM run")" "$runs_before"
# A hostile file name: only its last component is kept, and nothing is written by it.
upload a-write -F "file=@$T/up.jsonl;filename=../../../../tmp/lrhub-upload-escape.jsonl"
check_status "an upload named with '../'" 200
check_eq "its recorded name" "$(jq -r .file "$T/body")" "lrhub-upload-escape.jsonl"
if [ -e /tmp/lrhub-upload-escape.jsonl ]; then not_ok "the upload was written where its name said"; else ok; fi
check_eq "uploaded for trust-a" "$(jq -r '.org + " " + (.accepted|tostring)' "$T/body")" "trust-a 1"
req "" GET /about
check_status "up after the malformed uploads" 200

# ---- SQL meta-characters in every parameter ----
batch_new
for v in "'" '"' ";" "--" "%00" "' OR '1'='1" "1; DROP TABLE statement; --" "\\" "%" "_" \
	"$(printf '\342\200\256\303\251')" "%FF%FE" "%C0%AF" "$C1' --" "{\"mbox\":\"mailto:'--@x\"}" \
	"[\"'\"]" "2025-01-01T00:00:00Z'"; do
	ev=$(enc "$v")
	case $v in %*) ev=$v ;; esac
	for p in statementId voidedStatementId agent verb activity registration related_activities \
		related_agents since until limit format attachments ascending more; do
		batch_add a-read GET "/statements?$p=$ev"
	done
	for d in "/activities/state?activityId=$ev&agent=$AG&stateId=s" \
		"/activities/state?activityId=$EC&agent=$ev&stateId=s" \
		"/activities/state?activityId=$EC&agent=$AG&stateId=$ev" \
		"/activities/state?activityId=$EC&agent=$AG&registration=$ev" \
		"/activities/state?activityId=$EC&agent=$AG&since=$ev" \
		"/activities/profile?activityId=$EC&profileId=$ev" \
		"/agents/profile?agent=$ev&profileId=p" "/agents/profile?agent=$AG&profileId=$ev" \
		"/activities?activityId=$ev" "/agents?agent=$ev"; do
		batch_add a-write GET "$d"
	done
	batch_add a-write PUT "/activities/state?activityId=$EC&agent=$AG&stateId=$ev" '{\"x\":1}'
	batch_add a-write POST "/activities/profile?activityId=$EC&profileId=$ev" '{\"y\":2}'
	batch_add a-write DELETE "/activities/state?activityId=$EC&agent=$AG&stateId=$ev"
	batch_add a-write DELETE "/activities/profile?activityId=$EC&profileId=$ev"
done
batch_run
check_eq "SQL meta-characters: every request answered" "$(wc -l <"$T/batch.status" | tr -d ' ')" "$n_batch"
n_bad=0
i=0
while read -r b_status b_cred b_method b_path; do
	i=$((i + 1))
	case $b_path in /statements*) b_leak=c1000000- ;; *) b_leak="C secret course" ;; esac
	case $b_method:$b_status in
	GET:200) if grep -qF -e "$b_leak" -e "gp-c document" -e "Victim" -e "c-user-77" "$T/batch/$i"; then
			n_bad=$((n_bad + 1)); not_ok "$b_cred $b_method $b_path: another org's data"
		fi ;;
	GET:400 | GET:404 | PUT:204 | POST:204 | DELETE:204 | *:400) ;;
	*) n_bad=$((n_bad + 1)); not_ok "$b_cred $b_method $b_path: $b_status $(head -c 200 "$T/batch/$i" 2>/dev/null)" ;;
	esac
done <"$T/batch.results"
echo "SQL meta-characters: $n_batch requests"
check_eq "SQL meta-characters: no answer outside 200/400/404" "$n_bad" 0
for bad in %FF%FE %C0%AF %ED%A0%80; do
	req a-write PUT "/activities/state?activityId=$EC&agent=$AG&stateId=$bad" -H "$V" -H "$J" -d '{}'
	check_status "a document id that is not UTF-8 ($bad)" 400
	check_grep "says which" "stateId is not valid UTF-8" "$T/body"
done
req a-write PUT "/activities/state?activityId=$EC&agent=$AG&stateId=%F0%9F%98%80" -H "$V" -H "$J" -d '{}'
check_status "a document id with an emoji" 204
req a-write GET "/activities/state?activityId=$EC&agent=$AG" -H "$V"
check_eq "every stored id is listed" "$(jq -r 'length' "$T/body")" \
	"$(q "SELECT count(*) FROM document d JOIN org o ON o.id = d.org_id WHERE o.code = 'trust-a' AND kind = 'state'")"
check_eq "the store is intact" "$(q "PRAGMA integrity_check")" ok
check_eq "no statement added or changed by the queries" \
	"$(q "SELECT count(*) FROM statement WHERE id LIKE 'c1000000-%'")" 3
check_eq "gp-c's documents intact" \
	"$(q "SELECT count(*) FROM document d JOIN org o ON o.id = d.org_id WHERE o.code = 'gp-c' AND CAST(body AS TEXT) LIKE '%gp-c document%'")" 3

# ---- bodies and headers over the limits ----
head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"
req a-write POST /statements -H "$V" -H "$J" --data-binary "@$T/big.json"
check_status "a body over --max-body" 413
req a-write POST /statements -H "$V" -H "$J" -H "Transfer-Encoding: chunked" --data-binary "@$T/big.json"
check_status "a chunked body over --max-body" 413
req "" GET /about
check_status "up after 413" 200
perl -e 'print "[" x 500000, "]" x 500000' >"$T/deep.json"
req a-write POST /statements -H "$V" -H "$J" --data-binary "@$T/deep.json"
check_status "a body nested 500,000 deep" 400
perl -e 'print "X-Big: ", "x" x 200000, "\n"' >"$T/bigheader"
req a-write GET /statements -H "$V" -H "@$T/bigheader"
check_status_in "a header over the connection memory" 413 431
req a-read GET "/statements" -H "$V"
check_status "served after the big header" 200

# ---- slow clients ----
perl "$H/slowloris.pl" 127.0.0.1 "$PORT" 40 3 >"$T/slowloris.out" 2>&1 &
slow_pid=$!
sleep 1
served=0
for i in 1 2 3; do
	req a-read GET /statements -H "$V" --interface 127.0.0.2 --max-time 5
	[ "$(status)" = 200 ] && served=$((served + 1))
	req "" GET /about --interface 127.0.0.2 --max-time 5
	[ "$(status)" = 200 ] && served=$((served + 1))
done
check_eq "served while 40 slow clients hold connections" "$served" 6
wait "$slow_pid"
held=$(sed -n 's/^still open //p' "$T/slowloris.out")
echo "slowloris: $(tr '\n' ' ' <"$T/slowloris.out")"
if [ -n "$held" ] && [ "$held" -ge 8 ] && [ "$held" -le 16 ]; then ok; else
	not_ok "slow connections held: ${held:-?} (expected up to the per-address limit of 16): $(cat "$T/slowloris.out")"
fi
req "" GET /about
check_status "served from the slow clients' address once they are gone" 200

# ---- failed logins ----
bad_auth="$(key_of a-write):not-the-secret"
for i in 1 2 3 4 5; do
	curl -s -o /dev/null -w '%{http_code}' -u "$bad_auth" --interface 127.0.0.3 -H "$V" "$URL/statements" >"$T/status"
	check_status "wrong secret $i" 401
done
req "" GET /statements -H "$V" -u "$bad_auth" --interface 127.0.0.3
check_status "the 6th failure in a row: slowed down" 429
check_eq "Retry-After" "$(header Retry-After)" 2
check_grep "says why" "too many failed logins" "$T/body"
req fresh GET /statements -H "$V" --interface 127.0.0.3
check_status "the address is slowed down, even with a good secret" 429
req a-write GET /statements -H "$V" --interface 127.0.0.4
check_status "the key's own client (verified before) still gets in" 200
req spare GET /statements -H "$V" --interface 127.0.0.4
check_status "another client logs in as usual" 200
curl -s -o /dev/null -w '%{http_code}' -u "$(key_of spare):wrong" --interface 127.0.0.5 -H "$V" "$URL/statements" >"$T/status"
check_status "another address's first failure is a plain 401" 401
sleep 2.2
req fresh GET /statements -H "$V" --interface 127.0.0.3
check_status "after the wait, the address gets in" 200

stop_server
check_eq "clean stop" "${server_status:-?}" 0
e2e_end
