# End to end: 'lrhub course import' over every course package of the shared
# corpus (../shared/corpus/packages), each with the outcome a person reading
# its manifest expects: imported with its kind, title and number of SCOs or
# AUs, or refused with the reason. Then --course (aliases, structure),
# 'course show', re-import, two packages with one manifest identifier, and
# the multi-AU roll-up of completions over xAPI statements.
. "$(dirname "$0")/lib.sh"
P=$CORPUS/packages

if [ ! -d "$P" ]; then
	echo "not ok: the corpus folder $P is missing (it must sit beside the checkout)"
	echo "0 passed, 1 failed"
	exit 1
fi

check_exit 0 "init" $L init

# package|exit status|what the output must say (stdout when imported, stderr when refused).
# Counts checked by reading each manifest: SCOs are items whose resource has
# adlcp:scormtype/scormType "sco"; AUs are <au> elements.
cat >"$T/expected" <<'EOF'
broken_scorm12_ItemWithNonExistentResourceId|0|scorm12 "Item With Non-Existent Resource ID Test", 1 SCO (
broken_scorm12_MalformedXml|3|imsmanifest.xml:27: malformed XML: Opening and ending tag mismatch: item line 24 and organization
broken_scorm2004_MissingOrgIdentifier_3rdEd|0|scorm2004-3rd "Minimal Course", 0 SCOs, 1 asset (
broken_scorm2004_NoSchemaVersion_2ndEd|0|scorm2004 "Minimal 2nd Edition No SchemaVersion", 1 SCO (
cmi5_catapult_lts_001_essentials|0|cmi5 "CATAPULT LMS Test Course: 001 Essentials", 1 AU (
cmi5_catapult_multi_au_framed|0|cmi5 "Introduction to Geology - Multi AU at Root", 8 AUs (
cmi5_complex_blocks|0|cmi5 "Geology", 14 AUs (
cmi5_extension_keywords_oldns|0|cmi5 "Introduction to Geology", 1 AU (
golf_scorm12_ContentPackagingOneFilePerSCO|0|scorm12 "Golf Explained - CP One File Per SCO", 0 SCOs, 18 assets (
golf_scorm12_ContentPackagingSingleSCO|0|scorm12 "Golf Explained - CP Single SCO", 1 SCO (
golf_scorm12_RuntimeBasicCalls|0|scorm12 "Golf Explained - Run-time Basic Calls", 1 SCO (
golf_scorm2004_2nd_ContentPackagingSingleSCO|0|scorm2004-2nd "Golf Explained - CP Single SCO", 1 SCO (
golf_scorm2004_3rd_ContentPackagingMetadata|0|scorm2004-3rd "Golf Explained - Metadata Example", 1 SCO (
golf_scorm2004_3rd_RunTimeAdvancedCalls|0|scorm2004-3rd "Golf Explained - Run-time Advanced Calls", 1 SCO (
golf_scorm2004_3rd_SequencingForcedSequential|0|scorm2004-3rd "Golf Explained - Sequencing Forced Order", 5 SCOs (
golf_scorm2004_3rd_SequencingRandomTest|0|scorm2004-3rd "Golf Explained - Sequencing Random Test", 8 SCOs (
golf_scorm2004_3rd_SequencingSimpleRemediation|0|scorm2004-3rd "Golf Explained - Simple Remediation", 8 SCOs (
golf_scorm2004_4th_SequencingPostTestRollup4thEd|0|scorm2004-4th "Golf Explained - 4th Edition Features", 5 SCOs (
moodle_badscorm_manifest_in_subdir|3|badscorm/imsmanifest.xml is empty: it has no root element
moodle_complexscorm_debugger|0|scorm12 "The organization", 7 SCOs, 1 asset (
moodle_singlescobasic_missingorg|0|scorm12 "(untitled)", 1 SCO (
synthetic_scorm12_ExternalMetadataFile|0|scorm12 "SCORM 1.2 With Metadata", 1 SCO (
synthetic_scorm12_PrerequisitesTest|0|scorm12 "Prerequisites Test Course", 4 SCOs (
EOF

# Every package in the folder has an expected outcome, and every expected one is there.
ls "$P" | sed -n 's/\.zip$//p' | sort >"$T/present"
cut -d'|' -f1 "$T/expected" | sort >"$T/listed"
check_files "every corpus package has an expected outcome" "$T/present" "$T/listed"

while IFS='|' read -r name status text; do
	check_exit "$status" "import $name" $L course import "$P/$name.zip"
	if [ "$status" -eq 0 ]; then
		check_grep "$name imported" "$text" "$T/out"
	else
		check_grep "$name refused" "$name.zip: $text" "$T/err"
		check_eq "$name refused: nothing printed" "$(wc -c <"$T/out")" 0
	fi
done <"$T/expected"

# The odd but handled cases say what was odd.
check_exit 0 "missing default org" $L course import "$P/moodle_complexscorm_debugger.zip"
check_grep "already imported" "already imported as package" "$T/out"
check_eq "refused packages stored nothing" \
	"$(sqlite3 "$LRHUB_DB" "SELECT count(*) FROM package")" 21
check_eq "SCOs recorded" \
	"$(sqlite3 "$LRHUB_DB" "SELECT sum(is_part) FROM package_part")" 70
rm -f "$LRHUB_DB"
check_exit 0 "init again" $L init
check_exit 0 "warning on stderr" $L course import "$P/moodle_complexscorm_debugger.zip"
check_grep "default org named" "warning: the default organization SCORMDEbugger555f231e21b982c25d16 does not exist: using the first one, mm-SCORMDEbugger555f231e21b982c25d16" "$T/err"
check_exit 0 "no organization" $L course import "$P/moodle_singlescobasic_missingorg.zip"
check_grep "no organization noted" "warning: the manifest has no organization" "$T/err"
check_exit 0 "dangling identifierref" $L course import "$P/broken_scorm12_ItemWithNonExistentResourceId.zip"
check_grep "dangling item named" "item item_1 refers to resource non_existent_resource, which the manifest does not have" "$T/err"

# Not a zip, and a missing file.
printf 'hello\n' >"$T/notzip.zip"
check_exit 3 "not a zip" $L course import "$T/notzip.zip"
check_grep "not a zip named" "notzip.zip: not a zip file" "$T/err"
check_exit 3 "missing file" $L course import "$T/nope.zip"
check_grep "missing file named" "nope.zip: cannot read the file" "$T/err"
check_exit 1 "no file given" $L course import
check_exit 1 "unknown course" $L course import --course nope "$P/cmi5_complex_blocks.zip"
check_grep "unknown course named" "no course 'nope'" "$T/err"

# --course with a cmi5 package: the course IRI and every AU IRI become aliases.
check_exit 0 "org add" $L org add trust-a
check_exit 0 "org add" $L org add council-b
check_exit 0 "course add" $L course add geo --title "Geology"
check_exit 0 "import for geo" $L course import --course geo "$P/cmi5_catapult_multi_au_framed.zip"
check_grep "aliases made" "9 activity IRIs are now aliases of course geo" "$T/out"
check_exit 0 "re-import" $L course import --course geo "$P/cmi5_catapult_multi_au_framed.zip"
check_grep "re-import is a no-op" "already imported as package" "$T/out"
check_exit 0 "course show" $L course show geo
check_grep "show: course alias" "(every org)      https://w3id.org/xapi/cmi5/catapult/lts/course/geology-intro-multi-au-framed" "$T/out"
check_grep "show: package" "cmi5 \"Introduction to Geology - Multi AU at Root\", 8 AUs (8 required) for every org" "$T/out"
check_grep "show: an AU" "* https://w3id.org/xapi/cmi5/catapult/lts/course/geology-intro-multi-au-framed/quiz  \"Quiz\"  moveOn=CompletedAndPassed  launch=index.html?pages=quiz&complete=quiz" "$T/out"
check_exit 1 "course show unknown" $L course show nope

# The same manifest identifier in two different zips (vendors reuse them):
# two packages, each of its own course, never merged.
check_exit 0 "course add" $L course add golf-a --title "Golf A"
check_exit 0 "course add" $L course add golf-b --title "Golf B"
check_exit 0 "golf A" $L course import --course golf-a --org trust-a "$P/golf_scorm12_RuntimeBasicCalls.zip"
check_grep "golf A for trust-a" "(package" "$T/out"
check_exit 0 "golf B" $L course import --course golf-b --org council-b "$P/moodle_singlescobasic_missingorg.zip"
check_eq "one identifier, two packages" \
	"$(sqlite3 "$LRHUB_DB" "SELECT count(DISTINCT course_id) FROM package WHERE identifier = 'com.scorm.golfsamples.runtime.basicruntime.12'")" 2
check_exit 0 "course show golf-b" $L course show golf-b
check_grep "golf-b shows its own package" "for council-b" "$T/out"
if grep -q "Run-time Basic Calls" "$T/out"; then not_ok "golf-b shows golf-a's package"; else ok; fi

# Roll-up: 8 AUs; Ann completes all 8 (the quiz last), Ben 7 of them.
G=https://w3id.org/xapi/cmi5/catapult/lts/course/geology-intro-multi-au-framed
{
	printf '['
	sep=
	for au in 1 2 3 4 5 6 7 quiz; do
		day=$(printf '%02d' "$(echo "$au" | sed 's/quiz/9/')")
		verb=completed
		[ "$au" = quiz ] && verb=passed
		printf '%s{"actor":{"mbox":"mailto:ann@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/%s"},"object":{"id":"%s/%s"},"timestamp":"2025-03-%sT10:00:00Z"}' \
			"$sep" "$verb" "$G" "$au" "$day"
		sep=,
		[ "$au" = quiz ] && continue
		printf ',{"actor":{"mbox":"mailto:ben@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"%s/%s"},"timestamp":"2025-03-%sT11:00:00Z"}' \
			"$G" "$au" "$day"
	done
	printf ']\n'
} >"$T/geo.json"
check_exit 0 "ingest AU statements" $L ingest --org trust-a "$T/geo.json"
check_exit 0 "completions" $L completions --course geo
check_eq "one completion: Ann's" "$(tail -n +2 "$T/out" | cut -d, -f2,6 | tr -d '\r')" \
	"ann@example.org,2025-03-09T10:00:00Z"

e2e_end
