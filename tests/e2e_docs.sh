# End to end: the docs show real output. Runs every example of
# docs/examples.md, then those of README.md and docs/reports.md, each file in one shell from the
# project root with this lrhub first on the path, and compares what each
# example prints with the output block under it: one check per example, a
# difference shown as a unified diff. Also checks that every command and
# option of 'lrhub --help' is in docs/lrhub.1.
#
# An example is a ```sh block of "$ COMMAND" lines, then a ``` block of what
# they print (standard error, then standard output). A command exits 0
# unless its line ends in "# exit status N". /tmp/ in the commands becomes
# this test's temporary folder. What changes from run to run is masked on
# both sides (the STARTED time of 'lrhub runs', "max_rss_kb"); CRs are dropped.
. "$(dirname "$0")/lib.sh"
root=$(cd "${LRHUB_ROOT:-.}" && pwd)
bin=$(cd "$(dirname "$L")" && pwd)

# Splits doc $1 into $2/N.cmd (the commands), N.status (their exit statuses),
# N.want (the output) and N.title; prints how many examples there are.
split_examples() {
	mkdir -p "$2"
	awk -v dir="$2" -v tmp="$T/" '
	function out(name, text) { printf "%s", text > (dir "/" n "." name); close(dir "/" n "." name) }
	state == "prose" && /^```sh$/ { state = "sh"; cmds = ""; statuses = ""; next }
	state == "prose" && /^```/ { state = "other"; next }
	state == "prose" { if (/^#/) title = $0; next }
	state == "other" { if (/^```$/) state = "prose"; next }
	state == "sh" && /^```$/ {
		if (cmds == "") { state = "prose"; next }
		n++
		out("cmd", cmds); out("status", statuses); out("title", title "\n")
		want = ""; state = "await"; next
	}
	state == "sh" && /^\$ / {
		c = substr($0, 3); gsub("/tmp/", tmp, c); cmds = cmds c "\n"
		status = match(c, /# exit status [0-9]+$/) ? substr(c, RSTART + 14) : 0
		statuses = statuses status "\n"; next
	}
	state == "await" && /^```$/ { state = "want"; next }
	state == "await" && !/^$/ { out("want", "(no output block after the commands)\n"); state = "prose"; next }
	state == "want" && /^```$/ { out("want", want); state = "prose"; next }
	state == "want" { want = want $0 "\n"; next }
	END { print n + 0 }
	' state=prose "$1"
}

mask() {
	sed -E -e 's/"max_rss_kb": [0-9]+/"max_rss_kb": N/' \
		-e 's/^([0-9]+ +[a-z]+ +[^ ]+ +)[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/\1YYYY-MM-DDTHH:MM:SSZ/'
}

# Runs the examples of doc $1 (relative to the project root) in one shell.
check_doc() {
	doc=$1
	dir=$T/$(echo "$doc" | tr / _)
	n=$(split_examples "$root/$doc" "$dir")
	if [ "$n" -gt 0 ]; then ok; else not_ok "$doc: no examples found"; return; fi
	{
		echo "cd '$root' || exit 1"
		echo "PATH='$bin':\$PATH; export PATH"
		i=1
		while [ $i -le "$n" ]; do
			j=0
			while IFS= read -r c; do
				j=$((j + 1))
				printf '{ %s\n} >"%s" 2>&1 </dev/null; echo $? >"%s"\n' "$c" "$dir/$i.got.$j" "$dir/$i.rc.$j"
			done <"$dir/$i.cmd"
			i=$((i + 1))
		done
	} >"$dir/run.sh"
	sh "$dir/run.sh"
	i=1
	while [ $i -le "$n" ]; do
		last=$(wc -l <"$dir/$i.cmd")
		j=1
		bad=
		: >"$dir/$i.got"
		while [ $j -le "$last" ]; do
			cat "$dir/$i.got.$j" >>"$dir/$i.got" 2>/dev/null
			want=$(sed -n "${j}p" "$dir/$i.status")
			got=$(cat "$dir/$i.rc.$j" 2>/dev/null || echo none)
			[ "$got" = "$want" ] || bad="$bad command $j ($(sed -n "${j}p" "$dir/$i.cmd")) exited $got, expected $want;"
			j=$((j + 1))
		done
		tr -d '\r' <"$dir/$i.got" | sed "s|$T/|/tmp/|g" | mask >"$dir/$i.got.masked"
		mask <"$dir/$i.want" >"$dir/$i.want.masked"
		if [ -z "$bad" ] && cmp -s "$dir/$i.want.masked" "$dir/$i.got.masked"; then ok; else
			not_ok "$doc example $i, $(cat "$dir/$i.title"):$bad"
			diff -u --label "$doc (documented)" --label "$doc (printed)" \
				"$dir/$i.want.masked" "$dir/$i.got.masked"
		fi
		i=$((i + 1))
	done
}

check_doc docs/examples.md
check_doc README.md
check_doc docs/reports.md

# Every command and option of 'lrhub --help' is in the manual.
man=$T/lrhub.1.txt
sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' "$root/docs/lrhub.1" >"$man"
"$L" --help >"$T/help"
sed -n '/^commands:/,/^$/p' "$T/help" | sed -n 's/^  \([a-z]\)/\1/p' | sed -e 's/   .*//' -e 's/ | /\n/g' |
	sed -E 's/^ *(([a-z]+ ?)+).*/\1/; s/ *$//' | sort -u >"$T/help-commands"
while IFS= read -r c; do
	if grep -q "^\.SS \"lrhub $c\( \|\"\)" "$man"; then ok; else not_ok "docs/lrhub.1 has no section for 'lrhub $c' (from --help)"; fi
done <"$T/help-commands"
grep -oE -- '(^|[^a-z-])--?[a-z][a-z-]*' "$T/help" | sed 's/^[^-]*//' | sort -u >"$T/help-options"
while IFS= read -r o; do
	if grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" "$man"; then ok; else not_ok "docs/lrhub.1 does not mention $o (from --help)"; fi
done <"$T/help-options"
[ -s "$T/help-commands" ] && [ -s "$T/help-options" ] && ok || not_ok "no commands or options read from --help"
e2e_end
