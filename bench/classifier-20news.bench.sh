#!/bin/sh
# The classifier against its peer (scikit-learn TF-IDF + LinearSVC, as an
# association's volunteer would write it) on 20 Newsgroups "bydate": both read
# the raw files, train on the train split and classify the test split, in the
# same run, round by round. Prints a table of accuracy, times (median of RUNS
# rounds) and peak memory, with the targets of issue 2 and whether they are met.
#
# env: BUILD (dir holding triage), SHARED (holding data/ and bench/), RUNS (5)
set -u
: "${BUILD:?}" "${SHARED:?}" "${RUNS:=5}"
data="$SHARED/data/20news-bydate"
train="$data/20news-bydate-train" test="$data/20news-bydate-test"
peer="$SHARED/bench/peer_sklearn.py"
if [ ! -d "$train" ] || [ ! -d "$test" ] || [ ! -f "$peer" ]; then
	echo "skipped: $data or $peer is absent"
	exit 0
fi
if ! /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
	echo "skipped: Debian's python3-sklearn is not installed (scripts/deps.sh bench installs it)"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
triage="$BUILD/triage"

# Both sides read from the page cache, not the disk.
find "$train" "$test" -type f -exec cat {} + >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# runs a command once, appending "seconds max_rss_kb" to the file $1
timed() {
	f=$1
	shift
	/usr/bin/time -f "%e %M" -o "$tmp/t" "$@" >"$tmp/out" 2>"$tmp/err" || {
		echo "failed: $*" >&2; cat "$tmp/err" >&2; return 1; }
	cat "$tmp/t" >>"$f"
}

# Round by round, each side in turn: the machine's speed drifts over a
# minute (a virtual machine's by a fifth or more), and both sides of a
# ratio then see the same drift.
: >"$tmp/peer"
: >"$tmp/train" ; : >"$tmp/classify" ; : >"$tmp/catwc"
for i in $(seq "$RUNS"); do
	/usr/bin/python3 "$peer" "$train" "$test" >>"$tmp/peer" || exit 1
	timed "$tmp/train" "$triage" train --corpus "$train" --out "$tmp/20news.model" --lang en \
		--quiet || exit 1
	timed "$tmp/classify" "$triage" classify --model "$tmp/20news.model" "$test" || exit 1
	cp "$tmp/out" "$tmp/classified"
	timed "$tmp/catwc" sh -c "find '$test' -type f -exec cat {} + | wc -w" || exit 1
done
peer_acc=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["accuracy"])' <"$tmp/peer")
peer_train=$(/usr/bin/python3 -c 'import json,sys; print(*[json.loads(l)["train_s"] for l in sys.stdin])' <"$tmp/peer" | tr ' ' '\n' | median)
peer_classify=$(/usr/bin/python3 -c 'import json,sys; print(*[json.loads(l)["classify_s"] for l in sys.stdin])' <"$tmp/peer" | tr ' ' '\n' | median)
t_train=$(cut -d' ' -f1 "$tmp/train" | median)
# each round's train times and their ratio (a round's two sides run a few
# seconds apart, under the same drift of the machine)
rounds=$(/usr/bin/python3 -c 'import json,sys; print(*[json.loads(l)["train_s"] for l in sys.stdin])' <"$tmp/peer" |
	tr ' ' '\n' | paste -d' ' - "$tmp/train" | awk '{printf "%s%.2f/%.2f=%.1fx", (NR > 1 ? ", " : ""), $1, $2, $1 / $2}')
m_train=$(cut -d' ' -f2 "$tmp/train" | sort -n | tail -1)
t_classify=$(cut -d' ' -f1 "$tmp/classify" | median)
m_classify=$(cut -d' ' -f2 "$tmp/classify" | sort -n | tail -1)
t_catwc=$(cut -d' ' -f1 "$tmp/catwc" | median)
# accuracy: the category is the name of the file's folder
acc=$(awk -F '\t' '{ n = split($1, p, "/"); if (p[n-1] == $2) ok++ } END { printf "%.4f", ok / NR }' "$tmp/classified")
n=$(wc -l <"$tmp/classified")

awk -v acc="$acc" -v pacc="$peer_acc" -v tt="$t_train" -v pt="$peer_train" \
    -v tc="$t_classify" -v pc="$peer_classify" -v cw="$t_catwc" -v mem="$m_classify" \
    -v mtrain="$m_train" -v n="$n" 'BEGIN {
	printf "20 Newsgroups bydate: %d test messages, median of '"$RUNS"' runs\n\n", n
	printf "%-34s %10s %10s %10s %-14s %s\n", "figure", "triage", "peer", "ratio", "target", "met"
	printf "%-34s %10.4f %10.4f %10s %-14s %s\n", "accuracy", acc, pacc, "-", ">= peer", (acc >= pacc) ? "yes" : "NO"
	printf "%-34s %10.2f %10.2f %9.1fx %-14s %s\n", "train (read+vectorize+fit), s", tt, pt, pt / tt, ">= 5x faster", (pt / tt >= 5) ? "yes" : "NO"
	printf "%-34s %10.2f %10.2f %9.1fx %-14s %s\n", "classify test split, s", tc, pc, pc / tc, ">= 5x faster", (pc / tc >= 5) ? "yes" : "NO"
	printf "%-34s %10.2f %10.2f %9.1fx %-14s %s\n", "classify vs cat + wc -w, s", tc, cw, tc / cw, "<= 3x", (tc / cw <= 3) ? "yes" : "NO"
	printf "%-34s %10.1f %10s %10s %-14s %s\n", "classify peak memory, MB", mem / 1024, "-", "-", "< 64", (mem / 1024 < 64) ? "yes" : "NO"
	printf "%-34s %10.1f %10s %10s %-14s %s\n", "train peak memory, MB", mtrain / 1024, "-", "-", "-", "-"
}'
echo
echo "train, round by round (peer/triage, s): $rounds"
