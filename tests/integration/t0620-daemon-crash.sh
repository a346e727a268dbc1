#!/bin/sh
# Exactly once: triage killed with SIGKILL at a random one of the commands
# that file a batch of 200 messages, then restarted: at the end every message is in
# exactly one folder, none lost, none filed twice; with MOVE, and without
# it (COPY, STORE \Deleted, UID EXPUNGE) with subject tags (APPEND, then remove
# the original). Then a UIDVALIDITY change: nothing filed twice, new mail filed.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/dovecot.sh"
. "$TOP/tests/triage_env.sh"
[ -f "$MODEL" ] || skip_all "$MODEL is absent"
command -v dovecot >/dev/null || skip_all "dovecot is not installed"
plan 23
N=200

# Every Message-ID in every folder, one per line (sorted).
all_ids() {
	imap folders | cut -f1 | while read -r f; do
		imap messages "$f" | awk -F '\t' '$2 !~ /Deleted/ { print $3 }'
	done | sort
}

# Every message file of the corpus and the dev set, each with its own
# Message-ID, categories interleaved (sorted by file name, then path) so that
# each batch is filed into every folder.
find "$TOP/corpus/fr" "$TOP/tests/data/fr-dev" -name '*.eml' |
	awk -F / '{ print $NF "\t" $0 }' | sort | cut -f2 >"$TMP/pool"
next=1
take() {  # take N: appends the next N files of the pool to INBOX
	sed -n "${next},$((next + $1 - 1))p" "$TMP/pool" >"$TMP/batch"
	next=$((next + $1))
	while read -r f; do
		grep -m1 -i '^Message-ID:' "$f" | tr -d '\r' | sed 's/^[^:]*: *//' >>"$TMP/expected.$mode"
	done <"$TMP/batch"
	# shellcheck disable=SC2046 # one word per file name (no spaces in them)
	imap append INBOX $(cat "$TMP/batch") >/dev/null
}

# One `triage run --once` through tests/imap_kill_proxy.py, which kills it
# with SIGKILL at its K-th command that changes the mailbox (K from 1 to 8,
# chosen at random), either before the command reaches the server or after
# the server has done it but before triage reads the reply. Config: $1.
rounds=0
crash_round() {
	rounds=$((rounds + 1))
	_k=$(awk -v s="$rounds$$" 'BEGIN { srand(s); printf "%d", 1 + int(rand() * 8) }')
	_w=$(awk -v s="$rounds$$" 'BEGIN { srand(s + 7); print (rand() < 0.5 ? "before" : "after") }')
	rm -f "$TMP/proxy.port"
	/usr/bin/python3 "$TOP/tests/imap_kill_proxy.py" --port-file "$TMP/proxy.port" \
		--target "$IMAP_PORT" --pidfile "$TMP/triage.pid" --at "$_k" --when "$_w" \
		--record "$TMP/kills" &
	_proxy=$!
	_i=0
	while [ ! -s "$TMP/proxy.port" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
	sed -e "s/^  port: .*/  port: $(cat "$TMP/proxy.port")/" -e 's/^  tls: .*/  tls: none/' \
		"$1" >"$TMP/proxied.yaml"
	"$TRIAGE" run --config "$TMP/proxied.yaml" --once --log-stderr >"$TMP/round.log" 2>&1 &
	_p=$!
	echo "$_p" >"$TMP/triage.pid"
	wait "$_p" 2>/dev/null
	echo "# round: kill at filing command $_k ($_w): exit $?"
	kill "$_proxy" 2>/dev/null
	wait "$_proxy" 2>/dev/null
	cat "$TMP/round.log" >>"$TMP/crash.log"
}

for mode in move copy; do
	if [ "$mode" = copy ]; then
		dovecot_stop
		dovecot_start --no-move || exit 1
	else
		dovecot_start || exit 1
	fi
	rm -rf "$TMP/state"
	: >"$TMP/expected.$mode"
	write_config "$TMP/t.yaml"
	: >"$TMP/crash.log"
	: >"$TMP/kills"
	for round in 1 2 3; do
		take $N || exit 1
		crash_round "$TMP/t.yaml"
		crash_round "$TMP/t.yaml"
	done
	triage_once "$TMP/t.yaml"
	is "$mode: the last run exits 0" $? 0
	is "$mode: INBOX is empty" "$(imap folders | awk -F '\t' '$1 == "INBOX" { print $3 }')" 0
	all_ids >"$TMP/got"
	sort "$TMP/expected.$mode" >"$TMP/expected"
	is "$mode: $((3 * N)) messages in all, after 6 kills" "$(wc -l <"$TMP/got")" "$((3 * N))"
	is "$mode: no message is in two folders, none is lost" "$(diff "$TMP/expected" "$TMP/got" | head -3)" ""
	recovered=$(grep -c 'unfinished actions: finishing them' "$TMP/crash.log")
	interrupted=$(grep -c killed "$TMP/kills")
	echo "# $mode: $interrupted kills interrupted the filing; $recovered restarts found actions left half done"
	check "$mode: the kills interrupted the filing ($interrupted of 6)" [ "$interrupted" -ge 1 ]
done
like "copy mode: tags and COPY fallback were exercised" "$(imap messages Presse 2>/dev/null | head -1)" "\[Presse\]"

# The same, deterministically: triage dies exactly in each window between two
# steps that must both happen (TRIAGE_FAULT, see common/util.h), then a
# restart finishes. A fresh server without MOVE, dev-set mail taken in turn
# from each category (so each round has tagged Presse mail).
dovecot_stop
dovecot_start --no-move || exit 1
rm -rf "$TMP/state"
mode=faults
: >"$TMP/expected.$mode"
for i in $(seq 1 40); do
	for c in Adhesion Autre Benevolat Evenement Partenariat Presse QuestionGenerale; do
		printf '%s/tests/data/fr-dev/%s/%03d.eml\n' "$TOP" "$c" "$i"
	done
done >"$TMP/pool"
next=1
write_config "$TMP/t.yaml"
for point in decided acted appended copied; do
	take 42 || exit 1
	: >"$TMP/triage.log"
	TRIAGE_FAULT=$point "$TRIAGE" run --config "$TMP/t.yaml" --once --log-stderr >"$TMP/fault.log" 2>&1
	rc=$?
	triage_once "$TMP/t.yaml"
	rc2=$?
	all_ids >"$TMP/got"
	sort "$TMP/expected.$mode" >"$TMP/expected"
	if [ "$rc" -eq 137 ] && [ "$rc2" -eq 0 ] && [ -z "$(diff "$TMP/expected" "$TMP/got")" ] &&
	   [ "$(imap folders | awk -F '\t' '$1 == "INBOX" { print $3 }')" = 0 ]; then
		ok "died at '$point', restarted: every message in exactly one folder"
	else
		not_ok "died at '$point' (exit $rc), restarted (exit $rc2): every message in exactly one folder"
		diff "$TMP/expected" "$TMP/got" | head -5 | sed 's/^/# /'
	fi
	case $point in
	decided|acted|appended|copied)
		like "... and the restart finished the unfinished work ($point)" \
			"$(cat "$TMP/triage.log")" "unfinished actions: finishing them"
		;;
	esac
done

# UIDVALIDITY change. Mail left in INBOX (QuestionGenerale stays there now)
# must not be handled twice; mail arriving after the change is filed.
sed '/^  QuestionGenerale:/,/^  Autre:/{/folder:/d}' "$TMP/t.yaml" >"$TMP/u.yaml"
for k in 001 002 003; do imap append INBOX "$TOP/corpus/fr/QuestionGenerale/$k.eml" >/dev/null; done
triage_once "$TMP/u.yaml"
left=$(imap folders | awk -F '\t' '$1 == "INBOX" { print $3 }')
check "messages of a route without folder stay in INBOX ($left)" [ "$left" -ge 1 ]
dovecot_set_uidvalidity INBOX 4242 || exit 1
: >"$TMP/triage.log"
imap append INBOX "$TOP/corpus/fr/Adhesion/001.eml" >/dev/null
triage_once "$TMP/u.yaml"
like "the UIDVALIDITY change is logged" "$(cat "$TMP/triage.log")" "UIDVALIDITY of INBOX changed"
decided=$(grep -c 'category=' "$TMP/triage.log")
is "only the new message is decided after the change" "$decided" 1
is "the messages already handled are recognised" "$(grep -c 'already handled' "$TMP/triage.log")" "$left"
finish
