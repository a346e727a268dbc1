#!/bin/sh
# t0200: `triage check-config` against a real model trained from a tiny corpus:
# exit codes, "configuration OK" and the summary, FILE:LINE:COL errors for every
# bad file of tests/data/config/bad (as its .expect says), the model that cannot
# be loaded, usage errors, and the French messages.
#
# env: BUILD (absolute build directory, holding triage and locale/)
set -u
: "${BUILD:?BUILD must name the build directory}"
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
triage="$BUILD/triage"
data=tests/data/config
tmp=$(mktemp -d /tmp/triage-t0200-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0 plan=0
for f in "$data"/bad/*.yaml; do plan=$((plan + 1)); done
plan=$((plan + 18))
echo "1..$plan"

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
# check NAME COMMAND...: ok when the command succeeds
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# run EXPECTED-STATUS ARGS...: runs check-config, output in $tmp/out and $tmp/err
run() {
	want=$1
	shift
	"$triage" check-config "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "# exit status $got, expected $want: check-config $*"
		sed 's/^/#   /' "$tmp/out" "$tmp/err" | head -20
		return 1
	fi
}
has() { grep -qF -- "$2" "$tmp/$1" || { echo "# no \"$2\" in $1:"; sed 's/^/#   /' "$tmp/$1" | head -20; return 1; }; }

# Password files with the modes git does not keep.
creds="$tmp/creds"
mkdir -p "$creds"
printf 'imap-pw\n' >"$creds/imap.password"
printf 'smtp-pw\n' >"$creds/smtp.password"
printf 'x\n' >"$creds/open.password"
: >"$creds/empty.password"
chmod 600 "$creds"/*.password
chmod 644 "$creds/open.password"
export CREDENTIALS_DIRECTORY="$creds"
export LANG=C LC_ALL=C
unset LANGUAGE

# 1: the model
model="$tmp/tiny.model"
if "$triage" train --corpus "$data/tiny-corpus" --out "$model" --lang fr >"$tmp/train.log" 2>&1 &&
	[ -s "$model" ]; then
	ok "train a tiny model from $data/tiny-corpus"
else
	not_ok "train a tiny model from $data/tiny-corpus"
	sed 's/^/#   /' "$tmp/train.log" | head -20
	while [ "$n" -lt "$plan" ]; do skip "no model"; done
	exit 0
fi

# 2-5: the shipped example, with --model
check "config/triage.yaml: exit 0" run 0 --model "$model" config/triage.yaml
check "config/triage.yaml: configuration OK" has out "configuration OK"
check "summary: each category's folder, tag and forward" sh -c '
	grep -qF "  Adhesion: moved to \"Adhésions\"; keyword \$triage_adhesion; subject starts with \"[Adhésion]\"; copy sent to tresorerie@amis-vieux-quartier.fr" "$1" &&
	grep -qF "  QuestionGenerale: moved to \"Questions\"; keyword \$triage_questiongenerale" "$1" &&
	[ "$(grep -c "^  [A-Za-z]*: " "$1")" -eq 7 ]' sh "$tmp/out"
check "summary: the rules in order" sh -c '
	grep -qF "  1. mairie: if the sender matches" "$1" &&
	grep -qF "  3. urgent: if the subject matches '\''(?i)\\burgent'\'' -> the model decides the category; flagged" "$1"' sh "$tmp/out"

# 6: the model named by classifier.model in the file
sed "s|^  # model: .*|  model: $model|" config/triage.yaml >"$tmp/with-model.yaml"
check "classifier.model in the file: exit 0" run 0 "$tmp/with-model.yaml"

# 7: good fixtures (their categories come from --model)
good_ok=1
for f in "$data"/good/*.yaml; do
	run 0 --model "$model" "$f" && has out "configuration OK" || good_ok=0
done
check "every file of $data/good: configuration OK" [ "$good_ok" = 1 ]

# one test per bad fixture: exit 78, and each LINE:COL: message of its .expect
for f in "$data"/bad/*.yaml; do
	exp=${f%.yaml}.expect
	good=1
	run 78 --model "$model" "$f" || good=0
	while IFS= read -r line; do
		pos=${line%%: *}
		msg=${line#*: }
		# the model's order of categories is its own
		msg=${msg%%, which has*}
		grep -F -- "$f:$pos: " "$tmp/err" | grep -qF -- "$msg" ||
			{ echo "# missing $f:$line"; good=0; }
	done <"$exp"
	want=$(wc -l <"$exp")
	got=$(grep -c "^$f:[0-9]*:[0-9]*: " "$tmp/err")
	[ "$got" -eq "$want" ] || { echo "# $got errors, expected $want"; good=0; }
	check "$f: exit 78 and its errors at their line:col" [ "$good" = 1 ]
done

# 8-9: a model that cannot be loaded, at classifier.model; the rest still checked
cat >"$tmp/badmodel.yaml" <<EOF
imap:
  host: imap.example.org
  username: info@example.org
  password_file: imap.password
  hots: x
classifier:
  model: $tmp/none.model
EOF
check "unloadable model: exit 78" run 78 "$tmp/badmodel.yaml"
check "unloadable model: reported at classifier.model, other errors kept" sh -c '
	grep -q "^$1:7:10: cannot use the model: " "$2" &&
	grep -q "^$1:5:3: unknown key \"hots\" in imap" "$2"' sh "$tmp/badmodel.yaml" "$tmp/err"
# 10: --model that cannot be loaded, no classifier.model: at 1:1
check "unloadable --model without classifier.model: at 1:1" sh -c '
	"$1" check-config --model "$2/none.model" "$3" >/dev/null 2>"$2/err2"
	[ $? -eq 78 ] && grep -q "^$3:1:1: cannot use the model" "$2/err2"' \
	sh "$triage" "$tmp" "$data/good/minimal.yaml"

# 11-14: usage and files that cannot be read
check "no FILE: exit 64" run 64
check "--help: exit 0 and usage" sh -c '"$1" check-config --help | grep -q "^usage: triage check-config"' sh "$triage"
check "unknown option: exit 64" run 64 --colour "$data/good/minimal.yaml"
check "missing file: exit 78" sh -c '
	"$1" check-config --model "$2" /nonexistent/triage.yaml 2>&1 >/dev/null |
		grep -q "^/nonexistent/triage.yaml: cannot read this file"
	[ $? -eq 0 ]' sh "$triage" "$model"

# 15-18: French, from the build's catalogue
if [ ! -f "$BUILD/locale/fr/LC_MESSAGES/triage.mo" ]; then
	for i in 1 2 3 4; do skip "no $BUILD/locale/fr/LC_MESSAGES/triage.mo"; done
elif ! locale -a 2>/dev/null | grep -qix 'fr_FR\.utf-\?8'; then
	for i in 1 2 3 4; do skip "no fr_FR.UTF-8 locale (scripts/deps.sh check makes it)"; done
else
	fr() { LANG=fr_FR.UTF-8 LC_ALL= TEXTDOMAINDIR="$BUILD/locale" run "$@"; }
	if fr 78 --model "$model" "$data/bad/unknown-keys.yaml" &&
		has err "$data/bad/unknown-keys.yaml:3:3: clé inconnue « hots » dans imap ; vouliez-vous dire « host » ?" &&
		has err "7 erreurs ; triage ne démarrera pas avec ce fichier"; then
		ok "French: errors"
	else
		not_ok "French: errors"
	fi
	if fr 0 --model "$model" config/triage.yaml && has out "Catégories :" &&
		has out "rangé dans « Adhésions »"; then
		ok "French: summary"
	else
		not_ok "French: summary"
	fi
	check "French: --help" sh -c 'LANG=fr_FR.UTF-8 LC_ALL= TEXTDOMAINDIR="$2" "$1" check-config --help |
		grep -q "^usage : triage check-config \[--model FICHIER\] FICHIER"' sh "$triage" "$BUILD/locale"
	check "English when LANG is C" sh -c 'LANG=C TEXTDOMAINDIR="$2" "$1" check-config --model "$3" "$4" 2>&1 |
		grep -q "unknown key \"hots\" in imap; did you mean \"host\"?"' \
		sh "$triage" "$BUILD/locale" "$model" "$data/bad/unknown-keys.yaml"
fi
