# End to end in a real browser: `lrhub serve` and headless Chromium
# (Debian's chromium, driven by tests/browser.js over the DevTools pipe).
# The browser opens the dashboard (answering the Basic authentication
# challenge), which must render its charts with text alternatives, its
# stylesheet and print stylesheet, with the skip link first for the
# keyboard; then the upload form, where it chooses a file and clicks the
# button; the report page it lands on must show what `lrhub ingest` of the
# same file reports. Screenshots go to BUILD/test-output/e2e_browser/.
# Without chromium or node the test is skipped, except under CI=true,
# where it fails.
. "$(dirname "$0")/lib.sh"


CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
NODE=$(command -v node || command -v nodejs || true)
if [ -z "$CHROMIUM" ] || [ -z "$NODE" ]; then
	if [ "${CI:-}" = true ]; then
		not_ok "chromium or node is missing: run scripts/deps.sh --test"
	else
		echo "skipped: chromium or node is missing (scripts/deps.sh --test installs them)"
	fi
	e2e_end
	exit $?
fi
OUT=${LRHUB_BUILD:-$T}/test-output/e2e_browser
rm -rf "$OUT"
mkdir -p "$OUT"

check_exit 0 "setup" demo_store_setup
check_exit 0 "ingest north-trust" $L ingest --org north-trust "$DEMO/north-trust"
# An admin of the council: it reads the dashboard and uploads the council's export.
check_exit 0 "credential" sh -c "$L credential add county-council --scope admin >'$T/admin'"
KEY=$(sed -n 's/^key: //p' "$T/admin")
SECRET=$(sed -n 's/^secret: //p' "$T/admin")
cp "$DEMO/county-council/moodle-xapi-2025-03.jsonl" "$T/council-march.jsonl"
# What the CLI makes of the same file, in a store set up the same way.
(export LRHUB_DB="$T/cli.db" && demo_store_setup && $L ingest --org county-council --json "$T/council-march.jsonl" >"$T/cli.json" 2>/dev/null)

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

check_exit 0 "the browser session" timeout 60 "$NODE" "${LRHUB_ROOT:-.}/tests/browser.js" "$CHROMIUM" \
	"${URL%/xapi}" "$KEY" "$SECRET" "$T/council-march.jsonl" "$OUT"
cp "$T/out" "$OUT/seen.json"
cp "$T/err" "$OUT/browser.log"
S="$OUT/seen.json"
seen() { jq -r "$1" "$S" 2>/dev/null; }

# The dashboard.
check_eq "it asked for credentials" "$(seen '.auth_challenges > 0')" true
check_eq "title" "$(seen .dashboard_title)" "Dashboard · lrhub"
check_eq "lang" "$(seen .lang)" en
check_eq "h1" "$(seen .h1)" "Training completion dashboard"
check_eq "sections" "$(seen '.h2 | join("|")')" "Coverage per organisation|Cumulative completions|Latest ingest runs"
check_eq "two charts" "$(seen .charts)" 2
check_eq "charts labelled" "$(seen .charts_labelled)" 2
check_eq "a bar per org with data" "$(seen '.bars > 0')" true
check_eq "the target line" "$(seen .target_line)" 1
check_eq "table alternatives" "$(seen '[.captions[] | select(startswith("Coverage per organisation") or startswith("First completions"))] | length')" 2
check_eq "the stylesheet applies" "$(seen .header_background)" "rgb(18, 53, 99)"
check_eq "skip link first" "$(seen .first_tab)" "Skip to the content"
check_eq "print hides the navigation" "$(seen .print_header_display)" none
check_eq "print hides the filters" "$(seen .print_filters_display)" none
check_eq "dashboard screenshot" "$(test -s "$OUT/dashboard.png" && echo yes)" yes

# The form and what the browser landed on after clicking.
check_eq "form" "$(seen .form_title)" "Upload an export · lrhub"
check_eq "file label" "$(seen .form_label)" "Export file"
check_eq "file chosen" "$(seen .chosen)" council-march.jsonl
check_eq "report page" "$(seen .report_path)" /uploads
check_eq "report heading" "$(seen .report_h1)" "Upload report"
check_eq "report org" "$(seen .org)" county-council
check_eq "report file" "$(seen .file)" council-march.jsonl
check_eq "report format" "$(seen .format)" "$(jq -r '.file_reports[0].format' "$T/cli.json")"
for k in accepted duplicates conflicts rejected; do
	check_eq "page $k = lrhub ingest" "$(seen .$k)" "$(jq .$k "$T/cli.json")"
done
check_eq "accepted some" "$(seen '.accepted > 0')" true
check_eq "reject rows" "$(seen '.reject_rows | length')" "$(jq .rejected "$T/cli.json")"
check_eq "reject reason shown" "$(seen '.reject_rows[0] | contains("must have exactly one of mbox")')" true
check_eq "report screenshot" "$(test -s "$OUT/upload-report.png" && echo yes)" yes
check_eq "dashboard lists the upload" "$(seen '.dashboard_after | contains("upload")')" true
# And the store agrees with the page.
check_exit 0 "runs" $L runs --limit 1
check_eq "the run is the upload" "$(awk 'NR == 2 { print $2, $3, $(NF - 3) }' "$T/out")" \
	"upload county-council $(seen .accepted)"

stop_server
# A clean stop (under the sanitizers: no leak, no error).
if [ "$server_status" -eq 0 ]; then ok; else
	not_ok "the server stopped with status $server_status"
	tail -n 30 "$T/serve.err"
fi
rm -rf "$OUT/profile"
e2e_end
