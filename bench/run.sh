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
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

file=$data/statements-$n.jsonl
[ -s "$file" ] || "$root/$build/gen" "$n" 42 >"$file"
size_mb=$(awk -v b="$(wc -c <"$file")" 'BEGIN { printf "%.0f", b / 1048576 }')
echo "input: $n statements, $size_mb MiB of JSON lines ($file)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"

# 6. The baseline first: jansson parse + one prepared insert, nothing else.
t=$("$root/$build/baseline" "$file" "$work/baseline.db")
base_n=${t% *}
base_s=${t#* }
base_rate=$(rate "$base_n" "$base_s")
echo "baseline: parse + insert: $base_rate statements/s ($base_s s)"

# 1. Ingest into an empty store, with full validation, identity and dedup.
export LRHUB_DB="$work/lrhub.db"
"$L" init >/dev/null
"$L" org add bench >/dev/null
t0=$(now)
"$L" ingest --org bench --json "$file" >"$work/first.json"
t1=$(now)
first_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
first_rate=$(rate "$n" "$first_s")
first_rss=$(jq .max_rss_kb "$work/first.json")
echo "ingest: $first_rate statements/s ($first_s s), peak RSS $((first_rss / 1024)) MiB," \
	"$(ratio "$first_rate" "$base_rate") x baseline"

# 2. The same file again: all duplicates.
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
t0=$(now)
rows=$("$L" completions | wc -l)
t1=$(now)
comp_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
echo "completions: $((rows - 1)) rows over $n statements in $comp_s s"

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
  "completions_rows": $((rows - 1))
}
JSON
echo "written: bench/results.json"
