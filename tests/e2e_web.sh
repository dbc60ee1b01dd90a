# End to end: the web side of `lrhub serve` over loopback with curl: the
# report endpoints (credentials and scopes, the CSV byte for byte as the
# CLI writes it, coverage and trend JSON as `lrhub report` writes them),
# the dashboard and its stylesheet, and the web upload (the same counts as
# `lrhub ingest` of the same file, a re-upload counted as duplicates, org
# and scope checks, cross-site posts, size limits, no file left behind).
. "$(dirname "$0")/lib.sh"


key_of() { sed -n 's/^key: //p' "$1"; }
secret_of() { sed -n 's/^secret: //p' "$1"; }
auth_of() { echo "$(key_of "$T/$1"):$(secret_of "$T/$1")"; }

# get CRED PATH [curl args...]: status in $T/status, body in $T/body, headers in $T/headers.
get() {
	cred=$1 path=$2
	shift 2
	curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}' ${cred:+-u "$(auth_of "$cred")"} \
		"$@" "$ROOT$path" >"$T/status" 2>"$T/curl.err" || echo " curl failed: $(cat "$T/curl.err")" >>"$T/status"
}
status() { cat "$T/status"; }
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | tail -n 1; }
check_status() { check_eq "$1" "$(status)" "$2"; }

check_exit 0 "setup" demo_store_setup
check_exit 0 "ingest north-trust" $L ingest --org north-trust "$DEMO/north-trust"
check_exit 0 "credential admin" sh -c "$L credential add north-trust --scope admin >'$T/admin'"
check_exit 0 "credential eval" sh -c "$L credential add county-council --scope read-all >'$T/eval'"
check_exit 0 "credential cc-write" sh -c "$L credential add county-council --scope write >'$T/cc'"
check_exit 0 "credential cc-read" sh -c "$L credential add county-council --scope read-own >'$T/ccread'"

$L serve --listen 127.0.0.1:0 --max-upload 65536 >"$T/serve.out" 2>"$T/serve.err" &
server_pid=$!
i=0
while ! grep -q '^listening on ' "$T/serve.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL=$(sed -n 's/^listening on //p' "$T/serve.out")
ROOT=${URL%/xapi}
if [ -z "$URL" ]; then
	not_ok "the server did not start: $(cat "$T/serve.err")"
	e2e_end
	exit 1
fi

# ---- the report endpoints: credentials ----
get "" /reports/completions.csv
check_status "csv without a credential" 401
check_eq "WWW-Authenticate" "$(header WWW-Authenticate)" 'Basic realm="lrhub"'
get cc /reports/completions.csv
check_status "csv with a write credential" 403
get ccread /reports/coverage.json
check_status "coverage with a read-own credential" 403
get eval /reports/completions.csv
check_status "csv with a read-all credential" 200
check_eq "csv type" "$(header Content-Type)" "text/csv; charset=utf-8"

# The CSV is the CLI's, byte for byte (all, and with every filter).
$L completions --format csv >"$T/cli.csv"
check_files "csv = lrhub completions" "$T/body" "$T/cli.csv"
get admin "/reports/completions.csv?course=mecc&org=north-trust&until=2025-02-28"
check_status "csv filtered" 200
$L completions --format csv --course mecc --org north-trust --until 2025-02-28 >"$T/cli2.csv"
check_files "filtered csv = lrhub completions" "$T/body" "$T/cli2.csv"
check_eq "filtered csv has rows" "$(($(wc -l <"$T/body") > 1))" 1
get admin "/reports/completions.csv?course=nope"
check_status "csv: unknown course" 404
get admin "/reports/completions.csv?until=yesterday"
check_status "csv: bad date" 400
get admin "/reports/completions.csv?colour=red"
check_status "csv: unknown parameter" 400

# Coverage and trend: what `lrhub report ... --format json` prints.
get eval "/reports/coverage.json?course=mecc&as_of=2025-04-30&target=0.9:frontline:2028-03-31&target=0.7:all:2028-03-31"
check_status "coverage" 200
check_eq "coverage type" "$(header Content-Type)" "application/json"
$L report coverage --course mecc --as-of 2025-04-30 --target 0.9:frontline:2028-03-31 \
	--target 0.7:all:2028-03-31 --format json >"$T/cli-cov.json"
check_files "coverage.json = lrhub report coverage" "$T/body" "$T/cli-cov.json"
get eval "/reports/trend.json?course=mecc&by=week"
check_status "trend" 200
$L report trend --course mecc --by week --format json >"$T/cli-trend.json"
check_files "trend.json = lrhub report trend" "$T/body" "$T/cli-trend.json"
get eval "/reports/trend.json"
check_status "trend: the only course by default" 200
check_eq "trend course" "$(jq -r .course "$T/body")" mecc
get eval "/reports/coverage.json?course=mecc&target=2:all:2028-03-31"
check_status "coverage: bad target" 400
get eval "/reports/coverage.json?course=nope"
check_status "coverage: unknown course" 404
get eval "/reports/coverage.json" -X POST
check_status "coverage: POST" 405

# ---- the dashboard ----
get "" /
check_status "dashboard without a credential" 401
check_grep "401 is a page" "<h1>Sign in needed</h1>" "$T/body"
get cc /
check_status "dashboard with a write credential" 403
get eval "/?course=mecc&as_of=2025-04-30&target=0.9:frontline:2028-03-31"
check_status "dashboard" 200
check_eq "dashboard type" "$(header Content-Type)" "text/html; charset=utf-8"
check_grep "lang" '<html lang="en">' "$T/body"
check_grep "coverage chart" 'aria-labelledby="coverage-svg-title"' "$T/body"
check_grep "target line" 'Target 90% by 2028-03-31' "$T/body"
check_grep "coverage table" '<caption>Coverage per organisation' "$T/body"
check_grep "trend chart" '<polyline class="series"' "$T/body"
check_grep "trend table" '<caption>First completions and cumulative total per period</caption>' "$T/body"
check_grep "runs table" '<caption>The latest runs, newest first</caption>' "$T/body"
check_grep "north trust figure" '<th scope="row">North NHS Foundation Trust</th>' "$T/body"
check_grep "CSP" "default-src 'none'" "$T/headers"
check_eq "nothing from another host" "$(grep -Eco '(src|href|action)="(https?:)?//' "$T/body")" 0
get "" /assets/style.css
check_status "stylesheet needs no credential" 200
check_grep "print stylesheet" "@media print" "$T/body"
get "" /assets/page.html
check_status "page fragments are not served" 404

# ---- the upload form ----
get cc /upload
check_status "upload form" 200
check_grep "form posts multipart" 'enctype="multipart/form-data"' "$T/body"
check_grep "form names the org" '<strong>county-council</strong>' "$T/body"
check_grep "formats listed" '<option value="xapi">' "$T/body"
get eval /upload
check_status "upload form: read-all" 403

# ---- the upload: the same counts as lrhub ingest ----
cp "$DEMO/county-council/moodle-xapi-2025-03.jsonl" "$T/export.jsonl"
(export LRHUB_DB="$T/other.db" && demo_store_setup && $L ingest --org county-council --json "$T/export.jsonl" >"$T/cli-ingest.json" 2>/dev/null)
get cc /uploads -F "file=@$T/export.jsonl"
check_status "upload" 200
check_eq "upload type" "$(header Content-Type)" "application/json"
for k in accepted duplicates conflicts rejected; do
	check_eq "upload $k = ingest $k" "$(jq .$k "$T/body")" "$(jq .$k "$T/cli-ingest.json")"
done
check_eq "upload accepted some" "$(($(jq .accepted "$T/body") > 0))" 1
check_eq "upload org" "$(jq -r .org "$T/body")" county-council
check_eq "upload file name" "$(jq -r .file "$T/body")" export.jsonl
check_eq "upload sha256" "$(jq -r .sha256 "$T/body")" "$(sha256sum "$T/export.jsonl" | cut -c1-64)"
check_eq "upload not seen before" "$(jq .seen_before "$T/body")" false
check_eq "upload reject reason" "$(jq -r '.rejects[0].message' "$T/body")" \
	"$(jq -r '.rejects[0].message' "$T/cli-ingest.json" | sed "s|$T/||")"
first_accepted=$(jq .accepted "$T/body")
run=$(jq .run "$T/body")
check_exit 0 "runs" $L runs
check_eq "the run is an upload" "$(awk -v r="$run" '$1 == r { print $2, $3 }' "$T/out")" "upload county-council"
check_exit 0 "rejects of the upload run" $L rejects --run "$run"
check_grep "reject names the uploaded file" "export.jsonl:13:" "$T/out"

# Again: nothing new, everything a duplicate.
get cc /uploads -F "file=@$T/export.jsonl" -F format=xapi
check_status "re-upload" 200
check_eq "re-upload accepted" "$(jq .accepted "$T/body")" 0
check_eq "re-upload duplicates" "$(jq .duplicates "$T/body")" "$first_accepted"
check_eq "re-upload seen before" "$(jq .seen_before "$T/body")" true

# As the form sends it (text/html): a page.
get cc /uploads -H 'Accept: text/html' -F "file=@$T/export.jsonl"
check_status "upload page" 200
check_grep "upload page counts" '<dd id="duplicates">'"$first_accepted"'</dd>' "$T/body"
check_grep "upload page rejects" '<table id="rejects">' "$T/body"

# Refusals.
get cc /uploads -F "file=@$T/export.jsonl" -F org=north-trust
check_status "upload for another org" 403
get ccread /uploads -F "file=@$T/export.jsonl"
check_status "upload with read-own" 403
get "" /uploads -F "file=@$T/export.jsonl"
check_status "upload without a credential" 401
get cc /uploads -F "file=@$T/export.jsonl" -H 'Origin: http://evil.example'
check_status "upload from another site" 403
get cc /uploads -F "file=@$T/export.jsonl" -H 'Referer: http://evil.example/page'
check_status "upload referred by another site" 403
get cc /uploads -F "file=@$T/export.jsonl" -H "Origin: $ROOT" -H "Referer: $ROOT/upload"
check_status "upload from this site" 200
get cc /uploads -F "file=@$T/export.jsonl" -F format=nonsense
check_status "upload: unknown format" 400
get cc /uploads -F "other=@$T/export.jsonl"
check_status "upload without a file" 400
get cc /uploads -F "file=@$T/export.jsonl;filename="
check_status "upload with no file chosen" 400
check_grep "no file chosen" "no file was chosen" "$T/body"
get cc /uploads -F "file=@$T/export.jsonl" -F "file=@$T/export.jsonl"
check_status "upload of two files" 400
get cc /uploads --data-binary "@$T/export.jsonl" -H 'Content-Type: application/json'
check_status "upload not multipart" 415
head -c 70000 /dev/zero >"$T/big.bin"
get cc /uploads -F "file=@$T/big.bin"
check_status "upload too large" 413
get cc /uploads -F "file=@$T/big.bin" -H 'Transfer-Encoding: chunked'
check_status "upload too large, chunked" 413
printf -- '--b\r\nContent-Disposition: form-data; name="file"; filename="x.json"\r\n\r\n[]' >"$T/cut.txt"
get cc /uploads --data-binary "@$T/cut.txt" -H 'Content-Type: multipart/form-data; boundary=b'
check_status "upload cut short" 400
check_grep "cut short says so" "without the closing boundary" "$T/body"
get cc /uploads
check_status "GET /uploads" 405
check_eq "no spooled file left" "$(find "$T/uploads" -type f | wc -l)" 0
check_eq "the spool folder is private" "$(stat -c %a "$T/uploads")" 700

stop_server
# A clean stop (under the sanitizers: no leak, no error).
if [ "$server_status" -eq 0 ]; then ok; else
	not_ok "the server stopped with status $server_status"
	tail -n 30 "$T/serve.err"
fi
e2e_end
