# Crash safety of `lrhub nightly`: SIGKILL at random moments (inside a
# file's transaction, between its commit and its move, while a report is
# written, while a page of a remote source is pulled from a real `lrhub
# serve` on loopback), then runs to completion; after each trial the store must hold
# exactly what an uninterrupted run gives (statement, reject and identity
# counts, `lrhub completions` byte for byte), every file must have left the
# inbox, and done/ and failed/ must hold the same names.
#
# The kill schedule is drawn from a seeded generator and the seed printed,
# so a failure can be replayed: CRASH_SEED=N sh tests/e2e_crash.sh.
# At least CRASH_TRIALS (default 30) trials of 1 or 2 kills each, and more
# (up to twice as many) until at least 30 kills have landed while lrhub was
# running (on a loaded machine some runs end before their kill). Under the
# sanitizers (LRHUB_SANITIZED) the default is 8 trials and 8 kills: that
# build looks for memory errors on the recovery paths, which a few kills
# reach, and the plain build makes the 30.
. "$(dirname "$0")/lib.sh"
D=$F/four-formats
M=$F/multiorg
GEN=${LRHUB_BUILD:-$(dirname "$L")}/gen
SEED=${CRASH_SEED:-$(date +%s)}
if [ -n "${LRHUB_SANITIZED:-}" ]; then TRIALS=${CRASH_TRIALS:-8}; else TRIALS=${CRASH_TRIALS:-30}; fi
KILLS=$((TRIALS < 30 ? TRIALS : 30))
echo "crash test: seed $SEED, $TRIALS trials (replay with CRASH_SEED=$SEED)"
if [ ! -x "$GEN" ]; then
	not_ok "no $GEN (make tests-build builds it)"
	e2e_end
	exit 1
fi

# The template store: orgs, the course, its aliases, the identity mapping.
check_exit 0 "init" $L init
for org in hosp-x trust-m council-s trust-a council-b gp-c north; do
	$L org add $org >/dev/null
done
$L org add charity-t --timezone Europe/London >/dev/null
$L course add mecc --title "Making Every Contact Count" >/dev/null
$L course alias mecc --key https://elearning.example.org/courses/mecc-intro >/dev/null
$L course alias mecc --org council-b --key "https://lms.council-b.example/mod/scorm/view.php?id=12" >/dev/null
$L course alias mecc --org trust-m --key 7 >/dev/null
$L course alias mecc --org council-s --key mecc-cloud >/dev/null
$L course alias mecc --org charity-t --key MECC >/dev/null
$L course add c1 --title "Course 1" >/dev/null
$L course alias c1 --key https://elearning.example.org/courses/c1 >/dev/null
check_exit 0 "identity import" $L identity import $D/identity.csv

# A remote LRS (lrhub serve over its own store) with 600 statements: two
# pages of 500 for the source "remote" of org north.
REMOTE=$T/remote.db
check_exit 0 "remote store" sh -c "LRHUB_DB='$REMOTE' $L init && LRHUB_DB='$REMOTE' $L org add lms &&
	'$GEN' 600 4242 800 >'$T/remote.jsonl' && LRHUB_DB='$REMOTE' $L ingest --org lms '$T/remote.jsonl' &&
	LRHUB_DB='$REMOTE' $L credential add lms --scope read-all >'$T/remote-cred'"
LRHUB_DB=$REMOTE $L serve --listen 127.0.0.1:0 >"$T/remote.out" 2>"$T/remote.err" &
server_pid=$!
i=0
while ! grep -q '^listening on ' "$T/remote.out" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sed -n 's/^secret: //p' "$T/remote-cred" >"$T/remote-password"
chmod 600 "$T/remote-password"
check_exit 0 "source add" $L source add remote --org north --xapi-url "$(sed -n 's/^listening on //p' "$T/remote.out")" \
	--user "$(sed -n 's/^key: //p' "$T/remote-cred")" --password-file "$T/remote-password"
check_exit 0 "template" $L backup "$T/template.db"

# The inbox: four formats, refused records, a conflict, a broken file, a
# re-sent file, and generated xAPI files big enough for kills to land
# inside transactions (a few thousand statements in all).
I0=$T/inbox0
for org in hosp-x trust-m council-s charity-t; do mkdir -p $I0/$org && cp $D/$org/* $I0/$org/; done
for org in trust-a council-b gp-c; do mkdir -p $I0/$org && cp $M/$org/* $I0/$org/; done
cp $M/council-b/xapi-2025-q1.jsonl $I0/council-b/xapi-2025-q1-resent.jsonl
printf 'not an export\n' >$I0/gp-c/broken.csv
mkdir -p $I0/north
for k in 1 2 3 4 5 6 7 8; do
	"$GEN" 60 $((k * 7919)) 500 >$I0/north/gen-$k.jsonl
	"$GEN" 20 $((k * 104729)) 500 >$I0/trust-a/gen-$k.jsonl
done
# counts DB: statements, rejects and identity links.
counts() {
	sqlite3 "$1" 'SELECT (SELECT count(*) FROM statement) || " statements, " ||
		(SELECT count(*) FROM reject) || " rejects, " ||
		(SELECT count(*) FROM identity_link) || " identity links"'
}
listing() { (cd "$1" && find . -type f | sort); }
now_ms() { date +%s%3N; }

# The uninterrupted run.
cp -a $I0 $T/clean
cp "$T/template.db" "$T/clean.db"
t0=$(now_ms)
LRHUB_DB=$T/clean.db $L nightly --inbox $T/clean --settle 0 --json >"$T/clean.json" 2>/dev/null
clean_status=$?
t1=$(now_ms)
clean_ms=$((t1 - t0))
# A second uninterrupted run, warm like the trials' runs: the kills are
# spread over the quicker of the two.
cp -a $I0 $T/clean2
cp "$T/template.db" "$T/clean2.db"
t0=$(now_ms)
LRHUB_DB=$T/clean2.db $L nightly --inbox $T/clean2 --settle 0 --quiet >/dev/null 2>&1
t1=$(now_ms)
[ $((t1 - t0)) -lt "$clean_ms" ] && clean_ms=$((t1 - t0))
rm -rf $T/clean2 $T/clean2.db*
check_eq "uninterrupted run: exit 2 (rejects and a failed file)" "$clean_status" 2
LRHUB_DB=$T/clean.db $L completions >"$T/clean.csv"
want=$(counts "$T/clean.db")
listing $T/clean >"$T/clean.list"
echo "uninterrupted run: ${clean_ms} ms, $want," \
	"$(jq .files "$T/clean.json") files, $(jq .pages "$T/clean.json") pages pulled," \
	"$(($(wc -l <"$T/clean.csv") - 1)) completion rows"
check_eq "the clean run pulled the source" "$(jq -c '[.groups[] | select(.kind == "pull") | .accepted]' "$T/clean.json")" "[600]"
check_eq "the clean run moved every file" "$(find $T/clean -mindepth 2 -maxdepth 2 -type f | wc -l)" 0

# The kill schedule: for each trial, a delay in [0, the clean run's time] ms,
# and for half of them a second one in [0, half of it] (the re-run has less to do).
awk -v seed="$SEED" -v n="$((TRIALS * 2))" -v span="$clean_ms" 'BEGIN {
	srand(seed);
	for (t = 0; t < n; t++) {
		line = int(rand() * span);
		if (rand() < 0.5) line = line " " int(rand() * span / 2);
		print line;
	}
}' >"$T/schedule"

kills=0
landed=0
moved_as_duplicate=0
trial=0
while read -r delays <&3; do
	[ "$trial" -ge "$TRIALS" ] && [ "$landed" -ge "$KILLS" ] && break
	trial=$((trial + 1))
	rm -rf $T/inbox $T/crash.db $T/crash.db-wal $T/crash.db-shm $T/crash.db.lock
	cp -a $I0 $T/inbox
	cp "$T/template.db" "$T/crash.db"
	for ms in $delays; do
		LRHUB_DB=$T/crash.db $L nightly --inbox $T/inbox --settle 0 --quiet >/dev/null 2>&1 &
		pid=$!
		sleep "$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
		if kill -KILL $pid 2>/dev/null; then landed=$((landed + 1)); fi
		wait $pid 2>/dev/null
		kills=$((kills + 1))
	done
	LRHUB_DB=$T/crash.db $L nightly --inbox $T/inbox --settle 0 --json >"$T/rerun.json" 2>"$T/rerun.err"
	status=$?
	# 2 when it met the refused records itself, 0 when a killed run had.
	[ "$status" -eq 2 ] || [ "$status" -eq 0 ] ||
		{ not_ok "trial $trial ($delays ms): the re-run exited $status"; sed 's/^/    /' "$T/rerun.err" | head -5; }
	dup=$(jq '.files_duplicate' "$T/rerun.json" 2>/dev/null || echo 0)
	# The clean run's own duplicate is the re-sent file; more means a file committed but not moved.
	natural=$(jq '.files_duplicate' "$T/clean.json")
	[ "$dup" -gt "$natural" ] 2>/dev/null && moved_as_duplicate=$((moved_as_duplicate + dup - natural))
	got=$(counts "$T/crash.db")
	[ "$got" = "$want" ] && ok || not_ok "trial $trial ($delays ms): $got; expected $want"
	LRHUB_DB=$T/crash.db $L completions >"$T/crash.csv"
	if cmp -s "$T/crash.csv" "$T/clean.csv"; then ok; else
		not_ok "trial $trial ($delays ms): completions differ"
		diff "$T/clean.csv" "$T/crash.csv" | head -5
	fi
	left=$(find $T/inbox -mindepth 2 -maxdepth 2 -type f | wc -l)
	[ "$left" -eq 0 ] && ok || not_ok "trial $trial ($delays ms): $left files stuck in the inbox"
	listing $T/inbox >"$T/crash.list"
	if cmp -s "$T/crash.list" "$T/clean.list"; then ok; else
		not_ok "trial $trial ($delays ms): done/ and failed/ differ from the clean run"
		diff "$T/clean.list" "$T/crash.list" | head -5
	fi
done 3<"$T/schedule"
echo "$kills kills ($landed while lrhub was running) in $trial trials;" \
	"$moved_as_duplicate files had committed but not moved, and were moved as duplicates"
check_eq "at least $KILLS kills while lrhub ran" "$((landed >= KILLS))" 1
e2e_end
