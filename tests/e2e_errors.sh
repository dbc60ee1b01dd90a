# End to end: bad input and bad command lines get one clear line saying where
# and what, the right exit status, and nothing else is lost.
. "$(dirname "$0")/lib.sh"
check_exit 0 "init" $L init
check_exit 0 "org" $L org add a
check_exit 0 "course" $L course add mecc --title "MECC"

# A UTF-16 file is refused with the reason, whatever the format.
printf '\377\376[\000]\000' >"$T/utf16.json"
check_exit 3 "UTF-16 refused" $L ingest --org a "$T/utf16.json"
check_grep "UTF-16 reason" "utf16.json: the file is UTF-16 or UTF-32 encoded: save it as UTF-8 and send it again" "$T/err"
# A UTF-8 byte order mark is fine.
printf '\357\273\277{"actor":{"mbox":"mailto:a@x.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"http://x.org/c"}}\n' >"$T/bom.json"
check_exit 0 "BOM accepted" $L ingest --org a "$T/bom.json"
check_grep "BOM counts" "1 accepted" "$T/out"
# Not JSON at all: the file fails with the reason, the other file still goes in.
printf 'userid;name\n1;x\n' >"$T/semicolons.txt"
check_exit 2 "one bad file among good ones" $L ingest --org a "$T/semicolons.txt" "$T/bom.json"
check_grep "unknown format named" "semicolons.txt: not a format lrhub reads" "$T/err"
check_grep "the good file counted" "0 accepted, 1 duplicates" "$T/out"
# A truncated array: the records before the break go in, the file is partial.
printf '[{"actor":{"mbox":"mailto:b@x.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"http://x.org/c"}},\n{"actor":' >"$T/truncated.json"
check_exit 2 "truncated file" $L ingest --org a --json "$T/truncated.json"
check_eq "truncated: one in" "$(jq .accepted "$T/out")" 1
check_eq "truncated: partial" "$(jq -r '.file_reports[0].status' "$T/out")" partial
check_eq "truncated: reason" "$(jq -r '.file_reports[0].error' "$T/out" | cut -c1-18)" "line 2: record 2: "
# A missing file.
check_exit 3 "missing file" $L ingest --org a "$T/nope.json"
check_grep "missing file reason" "nope.json: cannot read the file: No such file or directory" "$T/err"

# Command lines: unknown names are usage errors (1) and print nothing on stdout.
check_exit 1 "unknown org" $L ingest --org nope "$T/bom.json"
check_grep "unknown org message" "no org 'nope' (add it with 'lrhub org add nope')" "$T/err"
check_exit 1 "unknown course" $L completions --course nope
check_eq "nothing on stdout" "$(wc -c <"$T/out")" 0
check_exit 1 "bad --run" $L rejects --run abc
check_grep "bad --run message" "--run: 'abc' is not a whole number" "$T/err"
check_exit 1 "bad --limit" $L runs --limit 0
check_exit 1 "runs with an argument" $L runs foo
check_grep "runs usage" "usage: lrhub runs" "$T/err"
check_exit 1 "init with an argument" $L init foo
check_grep "init message" "init takes no arguments" "$T/err"
check_exit 1 "unknown option" $L ingest --org a --frobnicate x
check_grep "unknown option named" "unknown option '--frobnicate'" "$T/err"
check_exit 1 "unknown command" $L frobnicate
check_exit 1 "unknown time zone" $L org add b --timezone Mars/Olympus
check_exit 1 "org exists" $L org add a
check_grep "org exists message" "org 'a' exists already" "$T/err"
check_exit 0 "help" $L ingest --help
check_grep "help shows usage" "usage: lrhub ingest --org ORG" "$T/out"

# Identity import: bad rows are reported, stored as rejects of a run, the rest go in.
printf 'org,key,email\na,u1,u1@x.org\nnope,u2,u2@x.org\na,u3,not-an-email\na,u4\n' >"$T/map.csv"
check_exit 2 "identity import with bad rows" $L identity import "$T/map.csv"
check_grep "identity counts" "1 identity link added, 0 already known, 3 rejected" "$T/out"
check_grep "unknown org row" "map.csv:3: record 3: no org 'nope'" "$T/err"
check_grep "bad email row" "map.csv:4: record 4: 'not-an-email' is not an email address" "$T/err"
check_grep "short row" "map.csv:5: record 5: the row has 2 fields, the header has more" "$T/err"
check_exit 0 "identity rejects kept" $L rejects
check_eq "three identity rejects" "$(grep -c 'invalid: .*map.csv' "$T/out")" 3
printf 'who,what\n' >"$T/badheader.csv"
check_exit 3 "identity header" $L identity import "$T/badheader.csv"
check_grep "header message" "badheader.csv:1: the first line must be the header org,key,email" "$T/err"

# The store: another application's database is not taken over.
sqlite3 "$T/other.db" 'CREATE TABLE customers(id INTEGER)'
check_exit 3 "foreign database" $L --db "$T/other.db" org list
check_grep "foreign database message" "another application" "$T/err"
check_exit 3 "no store" $L --db "$T/missing/x.db" completions
check_grep "no store message" "run 'lrhub init' to create one" "$T/err"
e2e_end
