#!/bin/sh
# The benchmarks: prints each figure as a line and writes bench/results.json.
# Every figure is measured in this one run, beside a baseline of what jansson
# and SQLite alone allow on this machine, so ratios mean something on a shared,
# noisy machine where absolute numbers do not.
#
#   sh bench/run.sh BUILD [N]        (make bench N=100000 for a quick run)
set -eu
build=${1:-build}
n=${2:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
L=$root/$build/lrhub
data=$root/bench/data
mkdir -p "$data"
work=$(mktemp -d "${TMPDIR:-/tmp}/lrhub-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
# Each figure starts with no dirty pages of the one before still being
# written back by the kernel (on two cores that writeback takes CPU time
# from whatever is measured next).
settle() { sync; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

file=$data/statements-$n.jsonl
[ -s "$file" ] || "$root/$build/gen" "$n" 42 >"$file"
size_mb=$(awk -v b="$(wc -c <"$file")" 'BEGIN { printf "%.0f", b / 1048576 }')
echo "input: $n statements, $size_mb MiB of JSON lines ($file)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"

# 6. The baseline first: jansson parse + one prepared insert, nothing else.
settle
t=$("$root/$build/baseline" "$file" "$work/baseline.db")
base_n=${t% *}
base_s=${t#* }
base_rate=$(rate "$base_n" "$base_s")
echo "baseline: parse + insert: $base_rate statements/s ($base_s s)"

# 1. Ingest into an empty store, with full validation, identity and dedup.
export LRHUB_DB="$work/lrhub.db"
"$L" init >/dev/null
"$L" org add bench >/dev/null
settle
t0=$(now)
"$L" ingest --org bench --json "$file" >"$work/first.json"
t1=$(now)
first_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
first_rate=$(rate "$n" "$first_s")
first_rss=$(jq .max_rss_kb "$work/first.json")
echo "ingest: $first_rate statements/s ($first_s s), peak RSS $((first_rss / 1024)) MiB," \
	"$(ratio "$first_rate" "$base_rate") x baseline"

# 2. The same file again: all duplicates.
settle
t0=$(now)
"$L" ingest --org bench --json "$file" >"$work/second.json"
t1=$(now)
again_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
again_rate=$(rate "$n" "$again_s")
echo "re-ingest (all duplicates): $again_rate statements/s ($again_s s)," \
	"$(ratio "$again_rate" "$first_rate") x first ingest, $(ratio "$again_rate" "$base_rate") x baseline"

# 4. Completions over the store: every generated course mapped.
i=0
while [ $i -lt 40 ]; do
	"$L" course add "c$i" --title "Course $i" >/dev/null
	j=0
	while [ $j -lt 12 ]; do
		"$L" course alias "c$i" --key "https://elearning.example.org/courses/c$i/sco$j" >/dev/null
		j=$((j + 1))
	done
	i=$((i + 1))
done
settle
t0=$(now)
rows=$("$L" completions | wc -l)
t1=$(now)
comp_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
echo "completions: $((rows - 1)) rows over $n statements in $comp_s s"

# 3. Moodle SCORM tracking rows: as many rows as statements above.
mfile=$data/moodle-track-$n.csv
[ -s "$mfile" ] || "$root/$build/gen" moodle "$n" 42 >"$mfile"
export LRHUB_DB="$work/moodle.db"
"$L" init >/dev/null
"$L" org add moodle-bench --lms-url https://moodle.example.org >/dev/null
settle
t0=$(now)
"$L" ingest --org moodle-bench --format moodle-track --json "$mfile" >"$work/moodle.json"
t1=$(now)
moodle_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
moodle_rate=$(rate "$n" "$moodle_s")
moodle_st=$(jq .accepted "$work/moodle.json")
echo "moodle tracking rows: $moodle_rate rows/s ($moodle_s s, $moodle_st statements)," \
	"$(ratio "$moodle_rate" "$base_rate") x baseline"

# 5. The xAPI server: POST /statements in batches of 1, 10 and 100 over 4
# keep-alive connections, then GET /statements paging through everything.
# Each batch size posts its own slice of the statements file: h = n/10 for
# batches of 10 and 100, h/5 for single statements.
h=$((n / 10))
[ "$h" -ge 500 ] || h=500
h1=$((h / 5))
export LRHUB_DB="$work/http.db"
"$L" init >/dev/null
"$L" org add http-bench >/dev/null
"$L" credential add http-bench >"$work/cred"
userpwd="$(sed -n 's/^key: //p' "$work/cred"):$(sed -n 's/^secret: //p' "$work/cred")"
"$L" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
i=0
while ! grep -q '^listening on ' "$work/serve.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
base=$(sed -n 's/^listening on //p' "$work/serve.out")
[ -n "$base" ] || { echo "the server did not start: $(cat "$work/serve.err")" >&2; exit 1; }
H=$root/$build/httpload
first=0
for batch in 1 10 100; do
	settle
	count=$h
	[ "$batch" -gt 1 ] || count=$h1
	t=$("$H" post "$base" "$userpwd" "$file" "$first" "$count" "$batch" 4)
	first=$((first + count))
	r=$(rate "${t% *}" "${t#* }")
	eval "post_rate_$batch=$r"
	echo "POST /statements, batches of $batch, 4 connections: $r statements/s (${t#* } s)," \
		"$(ratio "$r" "$base_rate") x baseline"
done
settle
t=$("$H" get "$base" "$userpwd" 500)
get_n=${t% *}
get_rate=$(rate "$get_n" "${t#* }")
echo "GET /statements, pages of 500: $get_rate statements/s ($get_n in ${t#* } s)," \
	"$(ratio "$get_rate" "$base_rate") x baseline"
kill -TERM $server
wait $server || true
trap 'rm -rf "$work"' EXIT

cat >"$root/bench/results.json" <<JSON
{
  "statements": $n,
  "input_mib": $size_mb,
  "cores": $(nproc),
  "baseline_statements_per_s": $base_rate,
  "ingest_statements_per_s": $first_rate,
  "ingest_peak_rss_kib": $first_rss,
  "ingest_vs_baseline": $(ratio "$first_rate" "$base_rate"),
  "reingest_statements_per_s": $again_rate,
  "reingest_vs_ingest": $(ratio "$again_rate" "$first_rate"),
  "completions_seconds": $comp_s,
  "completions_rows": $((rows - 1)),
  "moodle_rows": $n,
  "moodle_rows_per_s": $moodle_rate,
  "moodle_vs_baseline": $(ratio "$moodle_rate" "$base_rate"),
  "moodle_statements": $moodle_st,
  "http_statements_per_batch_size": { "1": $h1, "10": $h, "100": $h },
  "post_batch1_statements_per_s": $post_rate_1,
  "post_batch10_statements_per_s": $post_rate_10,
  "post_batch100_statements_per_s": $post_rate_100,
  "post_batch100_vs_baseline": $(ratio "$post_rate_100" "$base_rate"),
  "get_paging_statements": $get_n,
  "get_paging_statements_per_s": $get_rate,
  "get_vs_baseline": $(ratio "$get_rate" "$base_rate")
}
JSON
echo "written: bench/results.json"
