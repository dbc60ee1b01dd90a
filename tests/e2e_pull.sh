# End to end: `lrhub pull` from a real `lrhub serve` on loopback (the
# remote LRS) into a second store: several `more` pages, a pull stopped
# half-way and the server stopped, then resumed after a restart with no
# duplicates; the cursor's overlap; the voiding rule; retries on 503, 502
# and 429 (Retry-After) injected by tests/fault_proxy.py in front of the
# real server; a pull killed with SIGKILL and resumed; a wrong password; a
# failed source not stopping the others; and the password never in
# `source list`, the store, messages or `ps`.
. "$(dirname "$0")/lib.sh"

proxy_pid=
stop_proxy() {
	if [ -n "$proxy_pid" ]; then
		kill -TERM "$proxy_pid" 2>/dev/null
		wait "$proxy_pid" 2>/dev/null
		proxy_pid=
	fi
}
trap 'stop_proxy; stop_server; rm -rf "$T"' EXIT

# start_proxy [N=STATUS ...]: tests/fault_proxy.py in front of the server,
# with an empty log; its URL in $PROXY (HTTPS with FAULT_PROXY_TLS exported).
start_proxy() {
	: >"$T/proxy.log"
	python3 "$LRHUB_ROOT/tests/fault_proxy.py" "http://127.0.0.1:$PORT" "$T/proxy.log" "$@" \
		>"$T/proxy.out" 2>"$T/proxy.err" &
	proxy_pid=$!
	PROXY=$(wait_listening "$T/proxy.out")
}

REMOTE="$T/remote.db"
LOCAL="$T/local.db"

# wait_listening FILE: the URL a server printed ("listening on URL"), or "".
wait_listening() {
	i=0
	while ! grep -q '^listening on ' "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	sed -n 's/^listening on //p' "$1"
}

# start_server [ADDR:PORT]: lrhub serve over the remote store; sets URL.
start_server() {
	: >"$T/serve.out"
	LRHUB_DB="$REMOTE" $L serve --listen "${1:-127.0.0.1:0}" >"$T/serve.out" 2>"$T/serve.err" &
	server_pid=$!
	URL=$(wait_listening "$T/serve.out")
}

# count DB [WHERE]: statements in a store.
count() { sqlite3 "$1" "SELECT count(*) FROM statement ${2:-}"; }

# field NAME FILE: a count from a `pull` line ("N accepted", "N duplicates", ...).
field() { sed -n "s/.* \([0-9][0-9]*\) $1.*/\1/p" "$2" | head -n 1; }

# ---- the remote LRS: 47 statements stored a minute apart, the 46th voided by the 47th ----
export LRHUB_DB="$REMOTE"
check_exit 0 "remote init" $L init
check_exit 0 "remote org" $L org add lms-a
check_exit 0 "remote credential" sh -c "$L credential add lms-a --scope read-own >'$T/cred'"
KEY=$(sed -n 's/^key: //p' "$T/cred")
SECRET=$(sed -n 's/^secret: //p' "$T/cred")
VERB=http://adlnet.gov/expapi/verbs
i=1
while [ $i -le 46 ]; do
	printf '{"id":"00000000-0000-4000-8000-%012d","actor":{"mbox":"mailto:l%d@example.org"},"verb":{"id":"%s/completed"},"object":{"id":"https://lms.example/course/%d"}}\n' \
		$i $((i % 7)) "$VERB" $((i % 3))
	i=$((i + 1))
done >"$T/remote.jsonl"
printf '{"id":"00000000-0000-4000-8000-%012d","actor":{"mbox":"mailto:admin@example.org"},"verb":{"id":"%s/voided"},"object":{"objectType":"StatementRef","id":"00000000-0000-4000-8000-%012d"}}\n' \
	47 "$VERB" 46 >>"$T/remote.jsonl"
check_exit 0 "remote statements" $L ingest --org lms-a "$T/remote.jsonl"
# As if stored over the last hours: statement N at BASE + N minutes (BASE three hours ago).
BASE=$(( ($(date +%s) - 3 * 3600) * 1000 ))
sqlite3 "$REMOTE" "UPDATE statement SET stored = $BASE + seq * 60000,
	json = json_set(json, '\$.stored', strftime('%Y-%m-%dT%H:%M:%fZ', ($BASE + seq * 60000) / 1000.0, 'unixepoch'));"
check_eq "remote seq order" "$(sqlite3 "$REMOTE" "SELECT group_concat(substr(id, 25), ',') FROM (SELECT id FROM statement WHERE seq IN (1, 47) ORDER BY seq)")" \
	"000000000001,000000000047"
stored_of() { sqlite3 "$REMOTE" "SELECT json_extract(json, '\$.stored') FROM statement WHERE id = '00000000-0000-4000-8000-$(printf %012d "$1")'"; }

start_server
if [ -z "$URL" ]; then
	not_ok "the server did not start: $(cat "$T/serve.err")"
	e2e_end
	exit 1
fi
PORT=${URL#http://127.0.0.1:}
PORT=${PORT%%/*}

# ---- the local store and its source ----
export LRHUB_DB="$LOCAL"
check_exit 0 "local init" $L init
check_exit 0 "local org" $L org add trust-a
printf '%s\n' "$SECRET" >"$T/password"
chmod 640 "$T/password"
check_exit 1 "password file readable by the group" \
	$L source add lms --org trust-a --xapi-url "$URL" --user "$KEY" --password-file "$T/password"
check_grep "says how to fix it" "chmod 600" "$T/err"
chmod 600 "$T/password"
check_exit 1 "credentials in the URL" $L source add lms --org trust-a \
	--xapi-url "http://$KEY:x@127.0.0.1:$PORT/xapi" --user "$KEY" --password-file "$T/password"
check_exit 1 "unknown org" $L source add lms --org nowhere --xapi-url "$URL" --user "$KEY" \
	--password-file "$T/password"
check_exit 0 "source add" $L source add lms --org trust-a --xapi-url "$URL/" --user "$KEY" \
	--password-file "$T/password"
check_exit 1 "source add twice" $L source add lms --org trust-a --xapi-url "$URL" --user "$KEY" \
	--password-file "$T/password"
check_exit 0 "source list" $L source list
check_grep "listed" "lms	org trust-a	$URL	user $KEY" "$T/out"
check_grep "never pulled" "never pulled" "$T/out"
check_eq "no password in source list" "$(grep -c -- "$SECRET" "$T/out")" 0
check_exit 1 "pull: unknown source" $L pull nosuch

# ---- the first pull stops after 2 pages of 10 (as if interrupted) ----
check_exit 0 "pull 2 pages" $L pull --limit 10 --max-pages 2 lms
check_grep "more to pull" "(more to pull)" "$T/out"
check_eq "pages 1-2 accepted" "$(field accepted "$T/out")" 20
check_eq "20 stored" "$(count "$LOCAL")" 20
check_exit 0 "source list after" $L source list
check_grep "cursor = the 20th's stored" "cursor $(stored_of 20)" "$T/out"

# ---- the server stops: the pull fails, says where, keeps what it had ----
stop_server
check_exit 3 "pull with the server stopped" $L pull --limit 10 --retries 1 lms
check_grep "names the source and URL" "lrhub: source lms: GET $URL/statements: " "$T/err"
check_grep "retried" "trying again in 1.0 s" "$T/err"
check_eq "still 20" "$(count "$LOCAL")" 20
check_eq "no password in the messages" "$(cat "$T/out" "$T/err" | grep -c -- "$SECRET")" 0
check_exit 0 "source list: last error" $L source list
check_grep "cursor unchanged" "cursor $(stored_of 20)" "$T/out"
check_grep "last error listed" "failed: source lms: GET $URL/statements:" "$T/out"

# ---- restarted: the pull resumes from the cursor (5-minute overlap), no duplicates ----
start_server "127.0.0.1:$PORT"
check_eq "restarted on the same port" "$URL" "http://127.0.0.1:$PORT/xapi"
check_exit 0 "pull resumes" $L pull --limit 10 lms
check_eq "the rest accepted (45 + the voiding one - 20)" "$(field accepted "$T/out")" 26
check_eq "overlap: 16th-20th again, as duplicates" "$(field duplicates "$T/out")" 5
check_grep "4 more pages (31 statements from the 16th)" "; 4 pages," "$T/out"
check_eq "46 stored" "$(count "$LOCAL")" 46
check_eq "each once" "$(sqlite3 "$LOCAL" "SELECT count(DISTINCT id) FROM statement")" 46
# The same statements as the remote LRS shows, the voided one excepted (see operations.md).
sqlite3 "$REMOTE" "SELECT id FROM statement WHERE id NOT IN (SELECT voids FROM statement WHERE voids IS NOT NULL) ORDER BY id" >"$T/remote.ids"
sqlite3 "$LOCAL" "SELECT id FROM statement ORDER BY id" >"$T/local.ids"
check_files "same statements as the remote shows" "$T/local.ids" "$T/remote.ids"
check_eq "the voiding statement came" "$(count "$LOCAL" "WHERE verb = '$VERB/voided'")" 1
check_eq "the voided one did not" "$(count "$LOCAL" "WHERE id LIKE '%000000000046'")" 0
check_eq "pulled under the source's org" \
	"$(sqlite3 "$LOCAL" "SELECT DISTINCT o.code FROM statement s JOIN org o ON o.id = s.org_id")" trust-a

# Nothing new: one page of the overlap only (43-45 and 47), all duplicates.
check_exit 0 "pull again" $L pull lms
check_eq "nothing new" "$(field accepted "$T/out")" 0
check_eq "only the overlap" "$(field duplicates "$T/out")" 4
check_eq "still 46" "$(count "$LOCAL")" 46
check_exit 0 "runs" $L runs
check_eq "each pull a run" "$(grep -c ' pull ' "$T/out")" 4

# ---- a wrong password fails clearly; the other sources are still pulled ----
printf 'not-the-secret\n' >"$T/wrong"
chmod 600 "$T/wrong"
check_exit 0 "source add wrong" $L source add bad --org trust-a --xapi-url "$URL" --user "$KEY" \
	--password-file "$T/wrong"
check_exit 3 "pull all: one fails" $L pull
check_grep "401 named" "lrhub: source bad: GET $URL/statements: HTTP 401" "$T/err"
check_grep "the other source pulled" "lms (org trust-a): done" "$T/out"
check_eq "the wrong password is not shown" "$(cat "$T/out" "$T/err" | grep -c 'not-the-secret')" 0
check_exit 0 "source remove" $L source remove bad
check_exit 1 "source remove again" $L source remove bad

# ---- retries: 503, 429 with Retry-After and 502 from a proxy in front of the server ----
command -v python3 >/dev/null || not_ok "python3 is needed (scripts/deps.sh --test installs it)"
LOCAL2="$T/local2.db"
export LRHUB_DB="$LOCAL2"
check_exit 0 "local2 init" $L init
check_exit 0 "local2 org" $L org add trust-a
# A statement of its own under a pulled id, with other content: a conflict.
printf '{"id":"00000000-0000-4000-8000-000000000003","actor":{"mbox":"mailto:other@example.org"},"verb":{"id":"%s/attempted"},"object":{"id":"https://lms.example/course/9"}}\n' \
	"$VERB" >"$T/own.json"
check_exit 0 "local2 own statement" $L ingest --org trust-a "$T/own.json"
start_proxy 2=503 3=429:2 5=502
check_exit 0 "source via the proxy" $L source add lms --org trust-a --xapi-url "$PROXY/xapi" \
	--user "$KEY" --password-file "$T/password" --version 2.0.0
$L pull --limit 10 >"$T/pull.out" 2>"$T/pull.err" &
pull_pid=$!
sleep 1.5 # the pull waits out the Retry-After: 2 now
ps -eo args >"$T/ps" 2>/dev/null || ps >"$T/ps"
wait $pull_pid
check_eq "pull with retries and a conflict: exit 2" "$?" 2
check_eq "no password in ps" "$(grep -c -- "$SECRET" "$T/ps")" 0
check_grep "the pull was running" "pull --limit 10" "$T/ps"
check_grep "503 retried" "source lms: GET $PROXY/xapi/statements: HTTP 503: injected by fault_proxy; trying again in 1.0 s" "$T/pull.err"
check_grep "429 waits Retry-After" "HTTP 429: injected by fault_proxy; trying again in 2.0 s" "$T/pull.err"
check_grep "502 retried" "HTTP 502: injected by fault_proxy; trying again in 1.0 s" "$T/pull.err"
check_grep "conflict reported, with where" "lrhub: source lms page 1: record 3: statement 00000000-0000-4000-8000-000000000003 is already stored with different content (conflict)" "$T/pull.err"
check_grep "3 retries" "5 pages, 3 retries" "$T/pull.out"
check_eq "all but the conflicting one" "$(field accepted "$T/pull.out")" 45
check_eq "the conflict" "$(field conflicts "$T/pull.out")" 1
check_eq "local2 46 stored" "$(count "$LOCAL2")" 46
check_eq "every request authenticated, version sent" \
	"$(grep -c ' auth=yes version=2.0.0$' "$T/proxy.log")" "$(wc -l <"$T/proxy.log" | tr -d ' ')"
check_eq "8 requests (5 pages, 3 refused)" "$(wc -l <"$T/proxy.log" | tr -d ' ')" 8
check_exit 0 "rejects of the pull" $L rejects
check_grep "conflict kept as a reject" "already stored with different content" "$T/out"
stop_proxy

# A server that keeps failing: the retries are bounded and the error says so.
start_proxy 1=503 2=503 3=503
PROXY2=$PROXY
check_exit 0 "source 2 via the proxy" $L source add flaky --org trust-a --xapi-url "$PROXY2/xapi" \
	--user "$KEY" --password-file "$T/password"
check_exit 3 "pull: still 503 after the retries" $L pull --retries 1 flaky
check_grep "gave up after retrying" "source flaky: GET $PROXY2/xapi/statements: HTTP 503: injected by fault_proxy (after retries)" "$T/err"
check_eq "two tries" "$(wc -l <"$T/proxy.log" | tr -d ' ')" 2
stop_proxy

# An error answer that repeats the credentials is not shown, nor kept in the store.
start_proxy 1=401:echo
PROXY4=$PROXY
check_exit 0 "source 3 via the proxy" $L source add echo --org trust-a --xapi-url "$PROXY4/xapi" \
	--user "$KEY" --password-file "$T/password"
check_exit 3 "pull: 401 repeating the credentials" $L pull echo
check_grep "said without them" "source echo: GET $PROXY4/xapi/statements: HTTP 401 (wrong user or password?): (the answer is not shown: it repeats the credentials)" "$T/err"
BASIC=$(printf '%s:%s' "$KEY" "$SECRET" | base64 -w0)
check_eq "no password or Basic token in the messages" \
	"$(cat "$T/out" "$T/err" | grep -c -e "$SECRET" -e "$BASIC")" 0
check_eq "nor in the store's last error" \
	"$(sqlite3 "$LOCAL2" "SELECT count(*) FROM source WHERE instr(last_error, '$BASIC') OR instr(last_error, '$SECRET')")" 0
stop_proxy

# ---- killed (SIGKILL) while waiting to retry page 2: page 1 stays, the next pull resumes ----
start_proxy 2=503:30
PROXY3=$PROXY
LOCAL3="$T/local3.db"
export LRHUB_DB="$LOCAL3"
check_exit 0 "local3 init" $L init
check_exit 0 "local3 org" $L org add trust-a
check_exit 0 "local3 source" $L source add lms --org trust-a --xapi-url "$PROXY3/xapi" \
	--user "$KEY" --password-file "$T/password"
$L pull --limit 10 >"$T/pull.out" 2>"$T/pull.err" &
pull_pid=$!
i=0
while [ "$(wc -l <"$T/proxy.log")" -lt 2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.2
kill -KILL $pull_pid
wait $pull_pid 2>/dev/null
check_eq "page 1 committed before the kill" "$(count "$LOCAL3")" 10
check_exit 0 "source list after the kill" $L source list
check_grep "cursor = the 10th's stored" "cursor $(stored_of 10)" "$T/out"
check_exit 0 "pull after the kill" $L pull --limit 10
check_eq "the rest (from the 6th: the overlap)" "$(field accepted "$T/out")" 36
check_eq "6th-10th again" "$(field duplicates "$T/out")" 5
check_eq "local3 46 stored" "$(count "$LOCAL3")" 46
sqlite3 "$LOCAL3" "SELECT id FROM statement ORDER BY id" >"$T/local3.ids"
check_files "local3 the same statements" "$T/local3.ids" "$T/remote.ids"
stop_proxy

# ---- TLS: a real HTTPS server, its certificate verified ----
# A certificate for 127.0.0.1 made here, one for another name, and the
# proxy serving HTTPS with the first; the pull must refuse it unless told to
# trust it (--ca-file), and refuse the wrong name even then.
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$T/tls.key" -out "$T/tls.pem" 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=lms.example" \
		-addext "subjectAltName=DNS:lms.example" -keyout "$T/other.key" -out "$T/other.pem" 2>/dev/null
	export FAULT_PROXY_TLS="$T/tls.pem:$T/tls.key"
	start_proxy
	unset FAULT_PROXY_TLS
	TLS=$PROXY
	case $TLS in https://127.0.0.1:*) ok ;; *) not_ok "HTTPS proxy: '$TLS' $(cat "$T/proxy.err")" ;; esac
	LOCAL4="$T/local4.db"
	export LRHUB_DB="$LOCAL4"
	check_exit 0 "local4 init" $L init
	check_exit 0 "local4 org" $L org add trust-a
	check_exit 0 "source over HTTPS" $L source add tls --org trust-a --xapi-url "$TLS/xapi" \
		--user "$KEY" --password-file "$T/password"
	check_exit 3 "pull: a certificate nobody vouches for is refused" $L pull tls
	check_grep "said why" "source tls: GET $TLS/xapi/statements:" "$T/err"
	check_grep "a certificate problem" "certificate" "$T/err"
	check_eq "nothing stored" "$(count "$LOCAL4")" 0
	check_eq "no request reached the server" "$(wc -l <"$T/proxy.log" | tr -d ' ')" 0
	check_exit 3 "pull: trusting another certificate is no help" $L pull --ca-file "$T/other.pem" tls
	check_exit 0 "pull: trusting this certificate (--ca-file)" $L pull --ca-file "$T/tls.pem" tls
	check_eq "all pulled over HTTPS" "$(count "$LOCAL4")" 46
	check_eq "every request authenticated" "$(grep -c ' auth=yes ' "$T/proxy.log")" \
		"$(wc -l <"$T/proxy.log" | tr -d ' ')"
	stop_proxy
else
	not_ok "openssl is needed for the TLS test"
fi

# ---- the password is nowhere in the stores ----
stop_server
check_eq "no password in the local stores" "$(cat "$LOCAL"* "$LOCAL2"* "$LOCAL3"* "$LOCAL4"* | grep -c -a -- "$SECRET")" 0
check_eq "password file path kept instead" \
	"$(sqlite3 "$LOCAL" "SELECT password_file FROM source")" "$(cd "$T" && pwd -P)/password"

e2e_end
