#!/bin/sh
# The classifier's commands as a maintainer uses them: train, classify, eval,
# cv; their output formats, options, errors and exit codes (sysexits.h).
. "$(dirname "$0")/../lib.sh"
[ -d "$TOP/corpus/fr" ] || skip_all "corpus/fr is absent"
plan 53

# A small corpus: the first 25 messages of each category of corpus/fr.
for d in "$TOP"/corpus/fr/*/; do
	c=$(basename "$d")
	mkdir -p "$TMP/small/$c"
	ls "$d" | grep -v '^README' | head -25 | while read -r f; do cp "$d/$f" "$TMP/small/$c/"; done
done
n_small=$(find "$TMP/small" -type f | wc -l)

out=$("$TRIAGE" --help); check "triage --help exits 0" [ $? -eq 0 ]
like "--help lists the commands" "$(printf '%s\n' "$out" | grep -cE '^  (train|classify|eval|cv|run|check-config) ')" "^6$"
for c in train classify eval cv; do
	"$TRIAGE" $c --help >"$TMP/h" 2>&1
	check "triage $c --help exits 0 with a usage" grep -q "usage: triage $c" "$TMP/h"
done

"$TRIAGE" train --corpus "$TMP/small" 2>"$TMP/e"; is "train without --out: usage (64)" $? 64
like "... and says what is missing" "$(cat "$TMP/e")" "^triage: .*--out"
"$TRIAGE" train --corpus "$TMP/small" --out "$TMP/m" --algo forest 2>"$TMP/e"; is "bad --algo: 64" $? 64
"$TRIAGE" train --corpus "$TMP/nowhere" --out "$TMP/m" 2>"$TMP/e"; is "missing corpus: 66" $? 66
"$TRIAGE" frobnicate 2>/dev/null; is "unknown command: 64" $? 64

SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/a.model" --threads 1 >"$TMP/sum"
is "train exits 0" $? 0
like "train prints a summary with the cross-validated figures" "$(cat "$TMP/sum")" "cross-validated \(3 folds\): accuracy 0\.[0-9]+, macro-F1 0\.[0-9]+"
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/b.model" --threads 2 --quiet >"$TMP/q"
check "training is deterministic whatever the threads (identical files)" cmp -s "$TMP/a.model" "$TMP/b.model"
# More threads than tasks: some wait for the final model's fold models.
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/b5.model" --threads 5 --quiet
check "... with more threads than tasks too" cmp -s "$TMP/a.model" "$TMP/b5.model"
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/lr1.model" --algo logreg \
	--threads 1 --quiet
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/lr3.model" --algo logreg \
	--threads 3 --quiet
check "logistic regression: the same model whatever the threads" cmp -s "$TMP/lr1.model" "$TMP/lr3.model"
check "... and not the SVM's" sh -c "! cmp -s '$TMP/a.model' '$TMP/lr1.model'"
is "--quiet prints nothing" "$(cat "$TMP/q")" ""
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/c.model" --seed 7 --quiet
check "another seed gives another model" sh -c "! cmp -s '$TMP/a.model' '$TMP/c.model'"

# A word repeated past what a message's packed term entry holds (63) still
# counts whole: 100 and 300 repeats train different models, 300 twice the same.
for k in 100 300 300b; do
	cp -r "$TMP/small" "$TMP/rep$k"
	f=$(find "$TMP/rep$k" -type f | sort | head -1)
	awk -v n="${k%b}" 'BEGIN { printf "\n"; for (i = 0; i < n; i++) printf "cotisation adhesion "; printf "\n" }' >>"$f"
	SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/rep$k" --out "$TMP/rep$k.model" --quiet
done
check "a term counted 100 or 300 times in a message: two models" sh -c "! cmp -s '$TMP/rep100.model' '$TMP/rep300.model'"
check "the same counts past 63: the same model" cmp -s "$TMP/rep300.model" "$TMP/rep300b.model"

# --c auto: C by cross-validation, the search shown, the same model as that C given.
"$TRIAGE" train --corpus "$TMP/small" --out "$TMP/m" --c many 2>"$TMP/e"; is "bad --c: 64" $? 64
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/auto.model" --c auto \
	--threads 1 >"$TMP/sum"
line=$(grep '^C chosen by cross-validation: ' "$TMP/sum")
like "--c auto shows each C tried with its macro-F1" "$line" \
	"^C chosen by cross-validation: (1|2|4) \(macro-F1 0\.[0-9]{4} at C=1(, 0\.[0-9]{4} at C=2(, 0\.[0-9]{4} at C=4)?)?\)$"
chosen=$(printf '%s\n' "$line" | sed 's/^C chosen by cross-validation: \([0-9]*\) .*/\1/')
check "... and chooses the best, stopping at the first that does not improve ($line)" \
	/usr/bin/python3 -c '
import re, sys
line, chosen = sys.argv[1], float(sys.argv[2])
f1 = [float(v) for v, c in re.findall(r"(0\.[0-9]+) at C=([0-9]+)", line)]
cs = [1.0, 2.0, 4.0][:len(f1)]
best = max(range(len(f1)), key=lambda i: (f1[i], -i))
assert cs[best] == chosen, (cs, f1, chosen)
assert all(f1[i] > f1[i - 1] for i in range(1, len(f1) - 1))
assert len(f1) == 3 or len(f1) == 1 or f1[-1] <= f1[-2]' "$line" "$chosen"
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/auto2.model" --c auto \
	--threads 2 --quiet
check "--c auto is deterministic whatever the threads" cmp -s "$TMP/auto.model" "$TMP/auto2.model"
SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" --out "$TMP/fixed.model" --c "$chosen" \
	--quiet
check "--c auto trains the very model that --c $chosen trains" cmp -s "$TMP/auto.model" "$TMP/fixed.model"

"$TRIAGE" classify --model "$TMP/a.model" "$TMP/small" >"$TMP/cl"; is "classify exits 0" $? 0
is "one line per message" "$(wc -l <"$TMP/cl")" "$n_small"
bad=$(awk -F '\t' 'NF != 4 || $3 !~ /^[01]\.[0-9][0-9][0-9]$/ || ($4 != "file" && $4 != "review")' "$TMP/cl" | head -3)
is "lines are PATH TAB CATEGORY TAB 0.ddd TAB file|review" "$bad" ""
right=$(awk -F '\t' '{ n = split($1, p, "/"); if (p[n-1] == $2) ok++ } END { print ok + 0 }' "$TMP/cl")
check "it recognises most of its own training mail ($right/$n_small)" [ "$right" -ge $((n_small * 9 / 10)) ]
f=$(head -1 "$TMP/cl" | cut -f1)
"$TRIAGE" classify --model "$TMP/a.model" --threshold 0 "$f" >"$TMP/t0"
is "--threshold 0 files everything" "$(cut -f4 "$TMP/t0")" "file"
"$TRIAGE" classify --model "$TMP/a.model" --threshold 1 "$f" >"$TMP/t1"
is "--threshold 1 sends to review" "$(cut -f4 "$TMP/t1")" "review"
"$TRIAGE" classify --model "$TMP/a.model" --explain "$f" >"$TMP/x"
like "--explain adds the reasons with their zone and weight" "$(cut -f5 "$TMP/x")" "^[^,]+ \((body|subject|quote|signature|forward|sender domain|link|attachment|header|disclaimer)\) \+[0-9]"
"$TRIAGE" classify --model "$TMP/a.model" --json --explain "$TMP/small" >"$TMP/j"
check "--json prints one valid JSON object per message" /usr/bin/python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line); n += 1
    assert set(["path", "category", "confidence", "decision", "reasons"]) <= set(o), o
    assert 0 <= o["confidence"] <= 1 and o["decision"] in ("file", "review")
assert n == int(sys.argv[2])' "$TMP/j" "$n_small"

"$TRIAGE" classify --model "$TMP/nope.model" "$f" 2>"$TMP/e"; is "missing model: 66" $? 66
head -c 2000 "$TMP/a.model" >"$TMP/trunc.model"
"$TRIAGE" classify --model "$TMP/trunc.model" "$f" 2>"$TMP/e"; is "truncated model: 65" $? 65
like "... with a clear message" "$(cat "$TMP/e")" "trunc.model: (corrupted|truncated)"
"$TRIAGE" classify --model "$TMP/a.model" "$TMP/absent.eml" 2>"$TMP/e"; is "missing message: 66" $? 66

"$TRIAGE" eval --model "$TMP/a.model" --corpus "$TMP/small" >"$TMP/ev"; is "eval exits 0" $? 0
like "eval reports accuracy and macro-F1" "$(head -3 "$TMP/ev")" "accuracy [01]\.[0-9]+, macro-F1 [01]\.[0-9]+"
like "eval shows the confusion matrix" "$(cat "$TMP/ev")" "confusion matrix"
like "eval shows the recommended threshold's row" "$(cat "$TMP/ev")" "\(recommended\)"
"$TRIAGE" eval --model "$TMP/a.model" --corpus "$TMP/small" --json >"$TMP/evj"
check "eval --json is one JSON object with the figures" /usr/bin/python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert 0 <= o["accuracy"] <= 1 and len(o["categories"]) == 7 and len(o["confusion"]) == 7
assert o["messages"] == int(sys.argv[2])' "$TMP/evj" "$n_small"
"$TRIAGE" cv --corpus "$TMP/small" --folds 3 --json >"$TMP/cv"
check "cv --folds 3 --json reports every message once" /usr/bin/python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["messages"] == int(sys.argv[2]) and sum(sum(r) for r in o["confusion"]) == o["messages"]' "$TMP/cv" "$n_small"
# Files found in a directory are read in batches (io_uring) where the kernel
# allows it, each PATH given alone one by one: the same lines either way,
# around the batch reader's buffer (64 KB) too.
mkdir -p "$TMP/edge"
ls "$TMP"/small/*/* | head -40 | while read -r f; do cp "$f" "$TMP/edge/$(basename "$(dirname "$f")")-$(basename "$f")"; done
: >"$TMP/edge/empty"
for n in 65534 65535 65536 200000; do
	{ printf 'From: a@example.org\nSubject: taille %s\n\n' "$n"
	  yes "adhesion cotisation benevole" | head -c "$n"; } | head -c "$n" >"$TMP/edge/size-$n"
done
"$TRIAGE" classify --model "$TMP/a.model" "$TMP/edge" >"$TMP/edge.dir"; is "classify of a directory with edge sizes exits 0" $? 0
"$TRIAGE" classify --model "$TMP/a.model" $(ls "$TMP"/edge/* | sort) >"$TMP/edge.one"
check "... and prints what classifying each file alone prints" cmp -s "$TMP/edge.dir" "$TMP/edge.one"

# Where the kernel refuses io_uring (a seccomp filter, kernel.io_uring_disabled),
# files are read one by one: the same lines, the same model.
cat >"$TMP/nouring.c" <<'C'
#include <errno.h>
struct io_uring;
int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags);
int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
	(void)entries; (void)ring; (void)flags;
	return -ENOSYS;
}
C
cc -shared -fPIC -o "$TMP/nouring.so" "$TMP/nouring.c"
LD_PRELOAD="$TMP/nouring.so" "$TRIAGE" classify --model "$TMP/a.model" "$TMP/edge" >"$TMP/edge.nour"
check "without io_uring: classify prints the same lines" cmp -s "$TMP/edge.dir" "$TMP/edge.nour"
LD_PRELOAD="$TMP/nouring.so" SOURCE_DATE_EPOCH=1700000000 "$TRIAGE" train --corpus "$TMP/small" \
	--out "$TMP/nour.model" --threads 2 --quiet
check "without io_uring: train writes the same model" cmp -s "$TMP/a.model" "$TMP/nour.model"
# A file that cannot be read, among others of a directory: its error on
# stderr, every other one classified, in order, and exit 74.
mkdir -p "$TMP/unread"
cp "$TMP"/edge/* "$TMP/unread/"
chmod 644 "$TMP"/unread/* "$TMP/a.model"; chmod 755 "$TMP/unread"
chmod 000 "$TMP/unread/size-65534"
as_user=""
[ "$(id -u)" = 0 ] && as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
$as_user "$TRIAGE" classify --model "$TMP/a.model" "$TMP/unread" >"$TMP/unread.out" 2>"$TMP/e"
is "an unreadable file: exit 74" $? 74
like "... with its name and why on stderr" "$(cat "$TMP/e")" "^triage: .*/unread/size-65534: Permission denied$"
grep -v '/size-65534	' "$TMP/edge.dir" | sed "s|$TMP/edge/|$TMP/unread/|" >"$TMP/unread.want"
check "... and every other message classified, in order" cmp -s "$TMP/unread.out" "$TMP/unread.want"
# More messages than classify keeps in flight (512): printed in order
# whatever the threads, 1 (no other thread) to 5.
mkdir -p "$TMP/many"
for k in 1 2 3 4 5 6 7 8 9; do
	for f in "$TMP"/small/*/*; do cp "$f" "$TMP/many/$k-$(basename "$(dirname "$f")")-$(basename "$f")"; done
done
"$TRIAGE" classify --model "$TMP/a.model" --threads 1 "$TMP/many" >"$TMP/many.1"
is "$(wc -l <"$TMP/many.1") lines for $(ls "$TMP/many" | wc -l) messages" "$(wc -l <"$TMP/many.1")" "$(ls "$TMP/many" | wc -l)"
"$TRIAGE" classify --model "$TMP/a.model" --threads 5 "$TMP/many" >"$TMP/many.5"
check "... the same lines in the same order on 5 threads" cmp -s "$TMP/many.1" "$TMP/many.5"
finish
