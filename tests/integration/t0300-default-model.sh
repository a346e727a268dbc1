#!/bin/sh
# The default model (build/fr.model, trained by `make` on corpus/fr) on the
# development set it never saw (tests/data/fr-dev): macro-F1 >= 0.90, and at its
# recommended threshold it files >= 80% of the mail with >= 95% precision.
. "$(dirname "$0")/../lib.sh"
model="$BUILD/fr.model"
[ -f "$model" ] || skip_all "$model is absent (make builds it from corpus/fr)"
plan 5
"$TRIAGE" eval --model "$model" --corpus "$TOP/tests/data/fr-dev" --json >"$TMP/eval.json"
is "eval exits 0" $? 0
/usr/bin/python3 - "$TMP/eval.json" >"$TMP/figures" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
r = o["recommended"]
print(o["messages"], o["macro_f1"], r["threshold"], r["coverage"], r["precision"])
PY
read -r n f1 th cov prec <"$TMP/figures"
echo "# $n messages: macro-F1 $f1; threshold $th files $cov with precision $prec"
check "every dev message was classified ($n)" [ "$n" -ge 245 ]
check "macro-F1 $f1 >= 0.90" awk -v v="$f1" 'BEGIN { exit !(v >= 0.90) }'
check "coverage $cov >= 0.80 at the recommended threshold $th" awk -v v="$cov" 'BEGIN { exit !(v >= 0.80) }'
check "precision $prec >= 0.95 at the recommended threshold" awk -v v="$prec" 'BEGIN { exit !(v >= 0.95) }'
finish
