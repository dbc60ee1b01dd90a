#!/bin/sh
# The demo: four partners of a regional health and care system export their
# "Making Every Contact Count" training records in different xAPI shapes.
# This puts them into a fresh store, prints one row per person, and the
# coverage of the workforce against the system's targets.
#
#   sh scripts/demo.sh [PATH-TO-LRHUB [OUTPUT-FOLDER]]   (default demo-out/)
set -eu
lrhub=${1:-build/lrhub}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/demo-out}
rm -rf "$out"
mkdir -p "$out"
export LRHUB_DB="$out/lrhub.db"
run() {
	echo "\$ lrhub $*"
	"$lrhub" "$@"
}

run init
run org add north-trust --name "North NHS Foundation Trust"
run org add county-council --name "County Council" --timezone Europe/London
run org add riverside-gp --name "Riverside GP Practice"
run org add carers-trust --name "Carers Trust"
# Sectors and headcounts (the North trust grew in April 2025).
run org import demo/orgs.csv
run course add mecc --title "Making Every Contact Count"
# The shared package's activity IRI, for everyone; the council's Moodle copy has its own.
run course alias mecc --key https://elearning.example.org/courses/mecc-intro
run course alias mecc --org county-council \
	--key "https://moodle.county.gov.uk/mod/scorm/view.php?id=311"
run ingest --org north-trust demo/north-trust
# The council's export has one broken row: it is reported, the rest goes in (exit 2).
run ingest --org county-council demo/county-council || [ $? -eq 2 ]
run ingest --org riverside-gp demo/riverside-gp
run ingest --org carers-trust demo/carers-trust
# Who the council's Moodle user ids are.
run identity import demo/identity.csv
echo
run completions --format table
echo
run report coverage --course mecc --as-of 2025-04-30 --target 0.9:frontline:2028-03-31 \
	--target 0.7:all:2028-03-31
echo
echo "The store is $LRHUB_DB; try: LRHUB_DB=$LRHUB_DB $lrhub completions --format json"
