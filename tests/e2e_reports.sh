# End to end: orgs' headcounts (org set, org import), the coverage and trend
# reports, and the Power BI export, on fixtures/coverage/ whose answers were
# worked out by hand (fixtures/coverage/README.md).
. "$(dirname "$0")/lib.sh"
C=$F/coverage

check_exit 0 "init" $L init
# The import creates the orgs it does not know; two bad rows are refused by line.
check_exit 2 "org import with two bad rows" $L org import $C/orgs.csv
check_grep "import counts" "7 rows, 5 set (4 orgs added), 2 rejected" "$T/out"
check_grep "bad headcount by line" "orgs.csv:6: record 6: headcount: 'ten' is not a whole number of 0 or more" "$T/err"
check_grep "bad date by line" "orgs.csv:7: record 7: as_of: as_of '2025-02-30' is not a date (YYYY-MM-DD)" "$T/err"
check_eq "one line per bad row" "$(wc -l <"$T/err")" 2
check_exit 3 "org import with an unknown column" sh -c "printf 'org,staff\nalpha,3\n' >'$T/bad.csv' && $L org import '$T/bad.csv'"
check_grep "unknown column named" "bad.csv:1: unknown column 'staff'" "$T/err"

check_exit 0 "course add" $L course add c1 --title "Course One"
check_exit 0 "alias" $L course alias c1 --key https://example.org/courses/c1
for org in alpha beta gamma; do
	check_exit 0 "ingest $org" $L ingest --org $org $C/$org.json
done

# Coverage before the headcount change (alpha 10), with two targets.
check_exit 0 "coverage as of 2025-05-31" $L report coverage --course c1 --as-of 2025-05-31 \
	--target 0.5:all:2025-11-30 --target 90%:frontline:2025-11-30 --format csv
tr -d '\r' <"$T/out" >"$T/cov1.csv"
check_files "coverage as of 2025-05-31" "$T/cov1.csv" $C/expected-coverage-2025-05-31.csv
# After it (alpha 20 from 2025-06-01): a different denominator.
check_exit 0 "coverage as of 2025-07-31" $L report coverage --course c1 --as-of 2025-07-31 --format csv
tr -d '\r' <"$T/out" >"$T/cov2.csv"
check_files "coverage as of 2025-07-31" "$T/cov2.csv" $C/expected-coverage-2025-07-31.csv
check_exit 0 "coverage as JSON" $L report coverage --course c1 --as-of 2025-05-31 --org beta \
	--target 0.5:all:2025-11-30 --format json
check_eq "JSON: system completed" "$(jq .system.completed "$T/out")" 4
check_eq "JSON: only beta's org row" "$(jq -c '[.orgs[].org]' "$T/out")" '["beta"]'
check_eq "JSON: beta on track" "$(jq .orgs[0].targets[0].on_track "$T/out")" true
check_eq "JSON: system needed rate" "$(jq .system.targets[0].needed_monthly_rate "$T/out")" 1.33
check_eq "JSON: orgs without headcount" "$(jq .system.orgs_without_headcount "$T/out")" 1
check_exit 0 "coverage as a table" $L report coverage --course c1 --as-of 2025-05-31 --target 0.5:all:2025-11-30
check_grep "table: system row" "system  all orgs          4         24     16.7%         15        26.7%       3       1.00" "$T/out"
check_grep "table: target heading" "Target: 50.0% of all staff by 2025-11-30 (6.01 months left)" "$T/out"

# Trend per month, cumulative, system and per org.
check_exit 0 "trend by month" $L report trend --course c1 --format csv
tr -d '\r' <"$T/out" >"$T/trend.csv"
check_files "trend by month" "$T/trend.csv" $C/expected-trend-month.csv
check_exit 0 "trend of one org by week" $L report trend --course c1 --by week --org gamma --format json
check_eq "weeks of gamma" "$(jq -c '.periods' "$T/out")" '["2025-W18","2025-W19","2025-W20","2025-W21"]'
check_eq "week starts" "$(jq -r '.starts[0]' "$T/out")" 2025-04-28
check_eq "gamma cumulative" "$(jq -c '.series[0].cumulative' "$T/out")" '[1,1,1,2]'
check_eq "one series" "$(jq '.series | length' "$T/out")" 1

# Bad options are usage errors.
check_exit 1 "bad target" $L report coverage --course c1 --target 1.5:all:2028-03-31
check_grep "bad target said" "the fraction '1.5' is not in (0, 1]" "$T/err"
check_exit 1 "bad population" $L report coverage --course c1 --target 0.9:doctors:2028-03-31
check_exit 1 "unknown course" $L report coverage --course nope
check_exit 1 "unknown org" $L report trend --course c1 --org nope
check_exit 1 "bad period" $L report trend --course c1 --by year
check_exit 1 "bad as-of" $L report coverage --course c1 --as-of 2025-13-01

# org set: history, refusals.
check_exit 0 "org set a later headcount" $L org set beta --headcount 12 --as-of 2025-07-01
check_exit 0 "coverage after it" $L report coverage --course c1 --as-of 2025-07-31 --org beta --format json
check_eq "beta's new headcount" "$(jq -c '[.orgs[0].headcount, .orgs[0].frontline, .orgs[0].headcount_as_of]' "$T/out")" '[12,5,"2025-07-01"]'
check_exit 1 "frontline above headcount" $L org set beta --frontline 13 --as-of 2025-07-01
check_grep "frontline refusal" "org 'beta': frontline 13 is more than the headcount 12 as of 2025-07-01" "$T/err"
check_exit 1 "unknown org" $L org set nope --headcount 3
check_exit 1 "negative headcount" $L org set beta --headcount -3
check_exit 1 "nothing to set" $L org set beta

# org list: each org's latest sector and figures, "-" where none.
check_exit 0 "org list" $L org list
check_eq "org list: alpha's latest" "$(awk '$1 == "alpha" { print $(NF-3), $(NF-2), $(NF-1), $NF }' "$T/out")" \
	"health 20 16 2025-06-01"
check_eq "org list: beta's later headcount" "$(awk '$1 == "beta" { print $(NF-3), $(NF-2), $(NF-1), $NF }' "$T/out")" \
	"health 12 5 2025-07-01"
check_eq "org list: delta has no figures" "$(awk '$1 == "delta" { print $(NF-3), $(NF-2), $(NF-1), $NF }' "$T/out")" \
	"care - - -"

# The Power BI export: deterministic, pseudonymised, atomic.
check_exit 0 "export" $L export powerbi "$T/pbi1" --key-file "$T/key"
check_grep "key created" "created the pseudonymisation key" "$T/out"
check_eq "key file mode" "$(stat -c %a "$T/key")" 600
check_exit 0 "export again" $L export powerbi "$T/pbi2" --key-file "$T/key"
for f in fact_completion dim_person dim_course dim_org dim_date fact_headcount; do
	check_files "$f.csv byte-identical on a re-run" "$T/pbi2/$f.csv" "$T/pbi1/$f.csv"
done
check_eq "no temporary files left" "$(ls -A "$T/pbi1" | grep -c tmp)" 0
if grep -rq "@" "$T/pbi1"; then not_ok "an email address is in the export"; else ok; fi
if grep -rqi "ann\|p-[0-9a-f]\{16\}" "$T/pbi1"; then not_ok "a name or person id is in the export"; else ok; fi
check_eq "fact rows (person, course, org)" "$(($(wc -l <"$T/pbi1/fact_completion.csv") - 1))" 7
check_eq "persons" "$(($(wc -l <"$T/pbi1/dim_person.csv") - 1))" 5
check_eq "first_in_system rows" "$(awk -F, 'NR > 1 && $6 == 1' "$T/pbi1/fact_completion.csv" | wc -l)" 5
check_eq "dim_date from the first headcount to the last completion" \
	"$(sed -n '2p;$p' "$T/pbi1/dim_date.csv" | cut -d, -f2 | tr -d '\r' | tr '\n' ' ')" "2025-01-01 2025-07-01 "
check_eq "dim_date is contiguous" "$(($(wc -l <"$T/pbi1/dim_date.csv") - 1))" 182
check_grep "dim_date ISO week" "20250210,2025-02-10,2025,1,2,February,2025-02,10,1,Monday,2025,7,2025-W07,2025-02-10" "$T/pbi1/dim_date.csv"
check_grep "dim_org with sector and latest headcount" "alpha,Alpha Trust,health,20,16,2025-06-01" "$T/pbi1/dim_org.csv"
# The same key gives the same pseudonyms as 'completions --pseudonymise'; another key others.
check_exit 0 "pseudonymised completions" $L completions --course c1 --pseudonymise --key-file "$T/key"
tail -n +2 "$T/out" | cut -d, -f1 | sort >"$T/p-completions"
tail -n +2 "$T/pbi1/dim_person.csv" | cut -d, -f1 | sort >"$T/p-export"
check_files "same key, same pseudonyms" "$T/p-export" "$T/p-completions"
# Each org's fact rows are what 'completions --org' gives for that org alone.
for org in alpha beta gamma; do
	$L completions --org $org --pseudonymise --key-file "$T/key" | tail -n +2 | tr -d '\r' |
		awk -F, '{ print $1 "," $4 "," $6 "," $8 "," $9 }' | sort >"$T/want-$org"
	tail -n +2 "$T/pbi1/fact_completion.csv" | tr -d '\r' |
		awk -F, -v o=$org '$3 == o { print $1 "," $2 "," $5 "," $9 "," $7 }' | sort >"$T/got-$org"
	check_files "fact rows of $org" "$T/got-$org" "$T/want-$org"
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/key2"
check_exit 0 "export with another key" $L export powerbi "$T/pbi3" --key-file "$T/key2"
tail -n +2 "$T/pbi3/dim_person.csv" | cut -d, -f1 | sort >"$T/p-other"
check_eq "another key, no pseudonym in common" "$(comm -12 "$T/p-export" "$T/p-other" | wc -l)" 0
check_exit 1 "a short key is refused" sh -c "echo short >'$T/key3' && $L export powerbi '$T/pbi4' --key-file '$T/key3'"
e2e_end
