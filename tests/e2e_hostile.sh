# End to end: hostile input files through the real binary. Each must be
# refused with one line saying where and what, and nothing else lost: the
# good records of the same file, and the other files of the same ingest,
# still go in. The hostile inputs are made here, at test time: zips by
# tests/mkzip.pl (a zip bomb, 100,000 entries, '../' and absolute names, a
# truncated zip), XML with external entities, billion laughs and a DOCTYPE
# that points at a loopback listener (tests/listen.pl) that must see no
# connection, JSON nested a million deep, a 2 GB line streamed through a pipe
# (peak memory measured), invalid UTF-8, NUL bytes, UTF-16 and BOM-prefixed
# files, CSV with quoted newlines, unbalanced quotes and a million columns.
. "$(dirname "$0")/lib.sh"

H=${LRHUB_ROOT:-.}/tests
listener_pid=
trap '[ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

# check_no_grep DESCRIPTION PATTERN FILE: no line of FILE has PATTERN.
check_no_grep() {
	if grep -qF -- "$2" "$3"; then
		not_ok "$1: '$2' in $(basename "$3")"
		grep -F -- "$2" "$3" | head -n 3 | cut -c1-200 | sed 's/^/    /'
	else ok; fi
}
# check_one_line DESCRIPTION FILE: FILE holds exactly one line.
check_one_line() { check_eq "$1: one line of error" "$(wc -l <"$2" | tr -d ' ')" 1; }
q() { sqlite3 "$LRHUB_DB" "$1"; }

check_exit 0 "init" $L init
check_exit 0 "org" $L org add trust-a
M=$F/packages/scorm12_basic/package/imsmanifest.xml
mkdir -p "$T/z"

# ---- zips, through `lrhub course import` ----
zip_refused() { # zip_refused NAME EXPECTED-TEXT SPEC...: the package is refused with that reason
	zr_name=$1 zr_want=$2
	shift 2
	if ! perl "$H/mkzip.pl" "$T/z/$zr_name.zip" "$@" 2>"$T/err"; then
		not_ok "making $zr_name.zip: $(cat "$T/err")"
		return
	fi
	check_exit 3 "$zr_name.zip refused" $L course import --course good "$T/z/$zr_name.zip"
	check_grep "$zr_name.zip: reason" "$T/z/$zr_name.zip: $zr_want" "$T/err"
	check_one_line "$zr_name.zip" "$T/err"
}
check_exit 0 "course" $L course add good --title "Good"
check_exit 0 "good package" sh -c "perl '$H/mkzip.pl' '$T/z/good.zip' 'imsmanifest.xml=@$M' 'welcome/index.html=text:hi' &&
	$L course import --course good '$T/z/good.zip'"
# A manifest of 8 MB padded with spaces: about 1000 to 1 compressed.
{ cat "$M"; perl -e 'print " " x 8000000'; } >"$T/z/bomb.xml"
zip_refused bomb "imsmanifest.xml is compressed" "imsmanifest.xml=@$T/z/bomb.xml"
check_grep "bomb: says zip bomb" "a zip bomb, refused" "$T/err"
# Six entries of 200 MB of zeros each (5 MB of zip): over the 1 GiB total.
zip_refused inflated "the zip's entries hold more than 1073741824 bytes uncompressed, the limit" \
	"imsmanifest.xml=@$M" a=zeros:200000000 b=zeros:200000000 c=zeros:200000000 \
	d=zeros:200000000 e=zeros:200000000 f=zeros:200000000
zip_refused many "the zip has 100001 entries, more than the limit of 10000" \
	"imsmanifest.xml=@$M" many:100000
zip_refused dotdot "entry '../../lrhub-evil.html' points outside the package" \
	"imsmanifest.xml=@$M" "../../lrhub-evil.html=text:x"
zip_refused absolute "entry '/tmp/lrhub-evil.html' points outside the package" \
	"imsmanifest.xml=@$M" "/tmp/lrhub-evil.html=text:x"
zip_refused dotdot_manifest "entry 'a/../../imsmanifest.xml' points outside the package" \
	"a/../../imsmanifest.xml=@$M"
if [ -e "$T/lrhub-evil.html" ] || [ -e "$T/z/../../lrhub-evil.html" ]; then
	not_ok "a '../' entry was written"
else ok; fi
head -c 600 "$T/z/good.zip" >"$T/z/truncated.zip"
check_exit 3 "truncated zip refused" $L course import --course good "$T/z/truncated.zip"
check_grep "truncated: reason" "truncated.zip: the zip file is truncated or damaged" "$T/err"
check_one_line "truncated zip" "$T/err"
# The manifest's compressed bytes damaged, the directory intact: a CRC or inflate error.
perl -e 'open(F, "+<:raw", $ARGV[0]) or die; seek(F, 30 + 15 + 40, 0); print F "\xff" x 64; close F' \
	"$T/z/good.zip" 2>/dev/null
cp "$T/z/good.zip" "$T/z/damaged.zip"
check_exit 3 "damaged zip refused" $L course import --course good "$T/z/damaged.zip"
check_grep "damaged: says where" "damaged.zip: " "$T/err"
check_one_line "damaged zip" "$T/err"
check_eq "refused packages stored nothing" "$(q 'SELECT count(*) FROM package')" 1
check_exit 0 "a good package after them" sh -c "perl '$H/mkzip.pl' '$T/z/good2.zip' 'imsmanifest.xml=@$M' &&
	$L course import --course good '$T/z/good2.zip'"
check_eq "the good ones are in" "$(q 'SELECT count(*) FROM package')" 2

# ---- XML: manifests and the SCORM Cloud v1 reports ----
perl "$H/listen.pl" "$T/port" "$T/connections" &
listener_pid=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat "$T/port" 2>/dev/null)
[ -n "$PORT" ] && ok || not_ok "the loopback listener did not start"
NET="http://127.0.0.1:$PORT"
xml_package() { # xml_package NAME ENTRY XML: makes $T/z/NAME.zip holding ENTRY
	printf '%s' "$3" >"$T/z/$1.xml"
	perl "$H/mkzip.pl" "$T/z/$1.zip" "$2=@$T/z/$1.xml"
}
ORG='<organizations><organization identifier="o"><title>&e;</title></organization></organizations>'
xml_package xxe imsmanifest.xml "<?xml version=\"1.0\"?><!DOCTYPE manifest [ <!ENTITY e SYSTEM \"file:///etc/passwd\"> ]><manifest identifier=\"x\">$ORG</manifest>"
xml_package laughs imsmanifest.xml "<?xml version=\"1.0\"?><!DOCTYPE manifest [<!ENTITY a \"lol\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">]><manifest identifier=\"x\">$ORG</manifest>"
xml_package netentity tincan.xml "<?xml version=\"1.0\"?><!DOCTYPE tincan [ <!ENTITY e SYSTEM \"$NET/entity\"> ]><tincan><activities><activity id=\"http://x.example/a\"><name>&e;</name></activity></activities></tincan>"
xml_package netparam cmi5.xml "<?xml version=\"1.0\"?><!DOCTYPE courseStructure [ <!ENTITY % p SYSTEM \"$NET/param.dtd\"> %p; ]><courseStructure/>"
for n in xxe laughs netentity netparam; do
	check_exit 3 "$n refused" $L course import --course good "$T/z/$n.zip"
	check_grep "$n: reason" "declares XML entities in its DOCTYPE" "$T/err"
	check_one_line "$n" "$T/err"
done
# An external DTD by URL (no entities declared): read without fetching it.
xml_package netdtd imsmanifest.xml "<?xml version=\"1.0\"?><!DOCTYPE manifest SYSTEM \"$NET/manifest.dtd\"><manifest identifier=\"netdtd\"><organizations><organization identifier=\"o\"><title>T</title></organization></organizations></manifest>"
$L course import --course good "$T/z/netdtd.zip" >"$T/out" 2>"$T/err"
check_grep "external DTD: read without it" "netdtd.zip: scorm12" "$T/out"
# XInclude is not processed either.
xml_package xinclude imsmanifest.xml '<?xml version="1.0"?><manifest identifier="xi" xmlns:xi="http://www.w3.org/2001/XInclude"><organizations><organization identifier="o"><title><xi:include href="file:///etc/passwd" parse="text"/></title></organization></organizations></manifest>'
$L course import --course good "$T/z/xinclude.zip" >"$T/out" 2>&1

# SCORM Cloud v1 XML through ingest: the hostile files refused, the good one in.
mkdir -p "$T/sc"
cp "$F/scormcloud/v1_report_course/input.xml" "$T/sc/1-good.xml"
sed 's/<rsp /<!DOCTYPE rsp [ <!ENTITY e SYSTEM "file:\/\/\/etc\/passwd"> ]><rsp /; s/<score>100</<score>\&e;</' \
	"$F/scormcloud/v1_report_course/input.xml" >"$T/sc/2-xxe.xml"
sed "s|<rsp |<!DOCTYPE rsp SYSTEM \"$NET/rsp.dtd\"><rsp |" "$F/scormcloud/v1_report_course/input.xml" >"$T/sc/3-netdtd.xml"
printf '<?xml version="1.0"?><!DOCTYPE rsp [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><rsp stat="ok"><registrationreport regid="r"><complete>&b;</complete></registrationreport></rsp>' >"$T/sc/4-laughs.xml"
check_exit 2 "scormcloud XML: hostile files refused, the good one in" \
	$L ingest --org trust-a --format scormcloud --course sc-course "$T/sc"
for f in 2-xxe 3-netdtd 4-laughs; do
	check_grep "$f refused" "$f.xml: the XML has a DOCTYPE: refused" "$T/err"
done
check_eq "scormcloud: the good report went in" \
	"$(q "SELECT count(*) FROM statement WHERE file_id IN (SELECT id FROM file WHERE path LIKE '%1-good.xml')")" 1
sleep 0.2
check_eq "no connection to the DOCTYPE's host" "$(cat "$T/connections" 2>/dev/null | wc -l | tr -d ' ')" 0
kill "$listener_pid" 2>/dev/null
wait "$listener_pid" 2>/dev/null
listener_pid=
root_line=$(head -n 1 /etc/passwd | cut -d: -f1-3)
if grep -qaF -- "$root_line" "$LRHUB_DB" "$LRHUB_DB-wal" 2>/dev/null; then
	not_ok "/etc/passwd's content is in the store"
else ok; fi
check_exit 0 "course show" $L course show good
check_no_grep "/etc/passwd's content in the output" "$root_line" "$T/out"

# ---- JSON ----
st() { # st NAME: one statement, the learner NAME
	printf '{"actor":{"mbox":"mailto:%s@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.org/hostile"}}' "$1"
}
learners() { q "SELECT group_concat(substr(json_extract(json, '\$.actor.mbox'), 8, instr(json_extract(json, '\$.actor.mbox'), '@') - 8), ' ') FROM (SELECT json FROM statement WHERE object_id = 'https://example.org/hostile' ORDER BY json_extract(json, '\$.actor.mbox'))"; }
mkdir -p "$T/j"
{ st deep1; echo; perl -e 'print "[" x 1000000, "]" x 1000000, "\n"'; st deep3; echo; } >"$T/j/a-deep.jsonl"
{ printf '['; st deep4; printf ','; perl -e 'print "{\"a\":" x 1000000, "1", "}" x 1000000'; printf ','; st deep6; printf ']'; } >"$T/j/b-deep.json"
{ st utf1; echo; st utf2 | sed 's/utf2/utf\xff\xfe2/'; echo; st utf3 | sed 's/utf3/utf\xc3\x283/'; echo; st utf4; echo; } >"$T/j/c-utf8.jsonl"
{ st nul1; echo; st nul2 | sed 's/nul2/nul\x002/'; echo; printf '\0\0\0\n'; st nul4; echo; } >"$T/j/d-nul.jsonl"
{ printf '\357\273\277'; st bom1; echo; st bom2; echo; } >"$T/j/e-bom.jsonl"
{ printf '\357\273\277['; st bom3; printf ']'; } >"$T/j/f-bom.json"
st utf16 | iconv -f UTF-8 -t UTF-16 >"$T/j/g-utf16.json"
st utf16le | iconv -f UTF-8 -t UTF-16LE >"$T/j/h-utf16le.json"
st utf32 | iconv -f UTF-8 -t UTF-32 >"$T/j/i-utf32.json"
check_exit 2 "JSON: hostile records and files refused, the rest in" $L ingest --org trust-a "$T/j"
check_grep "a million deep (lines)" "a-deep.jsonl:2: record 2: record is nested deeper than 64 levels" "$T/err"
check_grep "a million deep (array)" "b-deep.json:1: record 2: record is nested deeper than 64 levels" "$T/err"
check_grep "invalid UTF-8" "c-utf8.jsonl:2: record 2: not valid JSON: unable to decode byte 0xff" "$T/err"
check_grep "invalid UTF-8 (bad continuation)" "c-utf8.jsonl:3: record 3: not valid JSON" "$T/err"
check_grep "a NUL in a string" "d-nul.jsonl:2: record 2: not valid JSON: control character 0x0" "$T/err"
check_grep "a line of NULs" "d-nul.jsonl:3: " "$T/err"
check_grep "UTF-16" "g-utf16.json: the file is UTF-16 or UTF-32 encoded" "$T/err"
check_grep "UTF-16LE without BOM" "h-utf16le.json: the file is UTF-16 or UTF-32 encoded" "$T/err"
check_grep "UTF-32" "i-utf32.json: the file is UTF-16 or UTF-32 encoded" "$T/err"
check_eq "every error is one line naming its file" "$(grep -vc "^lrhub: $T/j/" "$T/err")" 0
check_eq "JSON: every good record went in" "$(learners)" \
	"bom1 bom2 bom3 deep1 deep3 deep4 deep6 nul1 nul4 utf1 utf4"
check_eq "JSON: the refused records are in the rejects" "$(q "SELECT count(*) FROM reject WHERE path LIKE '$T/j/%'")" 6

# A 2 GB line between two good ones, streamed through a pipe (no file on
# disk): refused at the record limit with memory flat, the next line read.
if [ -n "${LRHUB_SANITIZED:-}" ]; then big_mb=256; else big_mb=2048; fi
{
	st line1; echo
	printf '{"actor":"'
	perl -e '$b = "x" x 1048576; print $b for 1 .. $ARGV[0]' "$big_mb"
	printf '"}\n'
	st line3; echo
} | /usr/bin/env time -f '%M' -o "$T/rss" $L ingest --org trust-a - >"$T/out" 2>"$T/err"
check_eq "a ${big_mb} MB line: exit 2" "$?" 2
check_grep "a ${big_mb} MB line: refused" "lrhub: -:2: record 2: record is longer than 16777216 bytes" "$T/err"
check_one_line "a ${big_mb} MB line" "$T/err"
check_grep "a ${big_mb} MB line: the lines around it in" "-: done (xapi): 2 accepted" "$T/out"
rss_kb=$(tail -n 1 "$T/rss" 2>/dev/null)
echo "a ${big_mb} MB line: peak RSS ${rss_kb:-?} kB"
if [ -n "$rss_kb" ] && [ "$rss_kb" -lt $((160 * 1024)) ]; then ok; else
	not_ok "a ${big_mb} MB line: peak RSS ${rss_kb:-?} kB, more than 160 MB"
fi

# ---- CSV (Totara completions) ----
HDR=username,courseshortname,courseidnumber,completiondate,grade
mkdir -p "$T/c"
printf '%s\n"ann\nsmith",MECC,mecc-1,2025-03-01,85\nbob,"ME,CC","mecc\n-1",2025-03-02,90\ncal,"MECC ""two""",mecc-1,2025-03-03,70\n' "$HDR" >"$T/c/a-quoted-newlines.csv"
printf '%s\ndan,MECC,mecc-1,2025-03-01,85\neve,"MECC,mecc-1,2025-03-01,85\nfay,MECC,mecc-1,2025-03-01,85\ngus,MECC,mecc-1,2025-03-01,85\n' "$HDR" >"$T/c/b-unbalanced.csv"
printf '%s\nhal,MECC,mecc-1,2025-03-01,85\nian,MEC"C,mecc-1,2025-03-01,85\njo,MECC,mecc-1,2025-03-01,85\n' "$HDR" >"$T/c/c-stray-quote.csv"
{ echo "$HDR"; echo "kim,MECC,mecc-1,2025-03-01,85"; perl -e 'print "x," x 999999, "x\n"'; echo "lee,MECC,mecc-1,2025-03-01,85"; } >"$T/c/d-million-columns.csv"
check_exit 2 "CSV: bad rows refused, the rest in" $L ingest --org trust-a --format totara "$T/c"
check_grep "quoted newlines are fine" "a-quoted-newlines.csv: done (totara): 3 accepted, 0 duplicates, 0 conflicts, 0 rejected" "$T/out"
check_grep "unbalanced quote" "b-unbalanced.csv:3: record 3: field 2: a quote is opened and never closed; the row is skipped" "$T/err"
check_grep "unbalanced quote: the rows after it in" "b-unbalanced.csv: done (totara): 3 accepted" "$T/out"
check_grep "stray quote" "c-stray-quote.csv:3: record 3: field 2: a stray '\"'" "$T/err"
check_grep "a million columns" "d-million-columns.csv:3: record 3: the row has more than 4096 fields" "$T/err"
check_grep "a million columns: the rest in" "d-million-columns.csv: done (totara): 2 accepted" "$T/out"
check_eq "CSV: one error line per bad row" "$(wc -l <"$T/err" | tr -d ' ')" 3
check_eq "CSV: every good row went in" \
	"$(q "SELECT group_concat(n, ' ') FROM (SELECT json_extract(json, '\$.actor.account.name') n FROM statement WHERE object_id LIKE '%totara/course/%' ORDER BY n)")" \
	"ann
smith bob cal dan fay gus hal jo kim lee"
check_eq "a quoted newline kept in the field" \
	"$(q "SELECT count(*) FROM statement WHERE json_extract(json, '\$.actor.account.name') = 'ann' || char(10) || 'smith'")" 1
# A header of a million columns is the header's fault, said of line 1 (not of
# the next row taken for a header).
{ perl -e 'print join(",", map { "c$_" } 1 .. 1000000), "\n"'; echo "mo,MECC,mecc-1,2025-03-01,85"; } >"$T/wide-header.csv"
check_exit 3 "CSV: a million header columns" $L ingest --org trust-a --format totara "$T/wide-header.csv"
check_grep "said of the header" "wide-header.csv:1: record 1: the header has more than 4096 columns" "$T/err"

e2e_end
