#!/bin/sh
# Learning over time (issue 6): what happens days later, by moving the dates
# in the state database back (Python's sqlite3), then letting triage's daily
# housekeeping run: mail left where triage put it for confirm_after_days is
# kept as "confirmed" examples (learning.keep_confirmed), examples and records
# older than retention_days are deleted, and a correction rate more than twice
# what the model's evaluation predicts is reported by `triage stats` and
# logged by the daemon: the model is ageing. Last, a correction found by
# keyword when the state has lost the message's record.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/dovecot.sh"
. "$TOP/tests/triage_env.sh"
[ -f "$MODEL" ] || skip_all "$MODEL is absent"
command -v dovecot >/dev/null || skip_all "dovecot is not installed"
plan 13

dovecot_start || exit 1
write_config "$TMP/t.yaml" "learning:
  keep_confirmed: true
  confirm_after_days: 30
  retention_days: 400"
DB="$TMP/state/triage.db"
sql() { /usr/bin/python3 -c '
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for row in c.execute(sys.argv[2]):
    print("\t".join(str(x) for x in row))
c.commit()' "$DB" "$1"; }
day=86400

seed INBOX 42 || exit 1
triage_once "$TMP/t.yaml"
is "the first pass exits 0" $? 0
filed=$(sql "SELECT count(*) FROM message WHERE status = 1 AND review = 0 AND folder != '' AND dest_uid > 0 AND rule = ''")
check "messages filed with their UID in the destination ($filed)" [ "$filed" -ge 30 ]
check "nothing confirmed yet" [ ! -d "$TMP/state/corrections" ]

# 31 days later
sql "UPDATE message SET decided_at = decided_at - 31 * $day" >/dev/null
sql "UPDATE meta SET value = 0 WHERE name = 'housekeeping_at'" >/dev/null
: >"$TMP/triage.log"
triage_once "$TMP/t.yaml"
is "the pass 31 days later exits 0" $? 0
like "confirmations are logged" "$(cat "$TMP/triage.log")" "confirmations: $filed messages checked, $filed kept"
n=$(grep -rl '^Example-Kind: confirmed' "$TMP/state/corrections" 2>/dev/null | wc -l)
is "each message left where triage put it is a confirmed example" "$n" "$filed"
"$TRIAGE" stats --config "$TMP/t.yaml" --json >"$TMP/stats.json"
is "confirmations are not corrections" "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["corrections"])' "$TMP/stats.json")" 0

# 401 days later for three of them (their decisions and their examples)
sql "UPDATE correction SET seen_at = seen_at - 401 * $day WHERE id IN (SELECT id FROM correction ORDER BY id LIMIT 3)" >/dev/null
sql "UPDATE message SET decided_at = decided_at - 401 * $day WHERE key IN (SELECT key FROM correction ORDER BY id LIMIT 3)" >/dev/null
sql "UPDATE meta SET value = 0 WHERE name = 'housekeeping_at'" >/dev/null
before=$(sql "SELECT count(*) FROM message")
triage_once "$TMP/t.yaml"
n2=$(grep -rl '^Example-Kind: confirmed' "$TMP/state/corrections" | wc -l)
is "examples older than retention_days are deleted" "$n2" "$((filed - 3))"
is "... and so are old records" "$(sql "SELECT count(*) FROM message")" "$((before - 3))"

# The ageing alarm: 40 messages filed in the last 30 days, 6 of them
# corrected (15%), against the few percent the evaluation predicts.
sql "UPDATE message SET decided_at = strftime('%s', 'now') WHERE id IN (SELECT id FROM message WHERE status = 1 AND review = 0 AND rule = '' ORDER BY id DESC LIMIT 40)" >/dev/null
for i in 1 2 3 4 5 6; do
	sql "INSERT INTO correction (key, sender, kind, predicted, corrected, confidence, was_review, decided_at, seen_at, example) VALUES ('k$i', '', 0, 'Presse', 'Autre', 0.8, 0, strftime('%s', 'now'), strftime('%s', 'now'), '')" >/dev/null
done
out=$("$TRIAGE" stats --config "$TMP/t.yaml")
like "triage stats says the model is ageing" "$out" "The model is ageing"
"$TRIAGE" stats --config "$TMP/t.yaml" --json >"$TMP/stats.json"
is "... and so does --json" "$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_30_days"]["ageing"])' "$TMP/stats.json")" True
sql "UPDATE meta SET value = 0 WHERE name = 'housekeeping_at'" >/dev/null
: >"$TMP/triage.log"
triage_once "$TMP/t.yaml"
like "the daemon logs it (once a day)" "$(cat "$TMP/triage.log")" "the model is ageing: 6 of [0-9]* messages filed"

# A message the state does not know (its record lost): triage's keyword on it
# says what triage had chosen, and its move is still a correction.
id=$(imap messages Presse | sed -n 1p | cut -f3)
key=$(printf 'mid:%s' "$id" | tr -d '<>' | sha256sum | cut -c1-32)
sql "DELETE FROM message WHERE key = '$key'" >/dev/null
sql "DELETE FROM correction WHERE key = '$key'" >/dev/null
imap move Presse "$id" Autre || exit 1
: >"$TMP/triage.log"
triage_once "$TMP/t.yaml"
like "a correction found by its \$triage_ keyword alone" "$(cat "$TMP/triage.log")" "correction: Presse -> Autre"
finish
