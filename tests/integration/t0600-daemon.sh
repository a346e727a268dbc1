#!/bin/sh
# triage run against a real Dovecot and a real SMTP sink on 127.0.0.1:
# folders with accents, the review folder, keywords, \Flagged, subject tags,
# a forward (envelope and content), dry run, TLS with a self-signed CA, a
# wrong password, a server without MOVE (COPY fallback), and logs that hold
# no subject, body or address.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/dovecot.sh"
. "$TOP/tests/smtp_sink.sh"
. "$TOP/tests/triage_env.sh"
[ -f "$MODEL" ] || skip_all "$MODEL is absent"
command -v dovecot >/dev/null || skip_all "dovecot is not installed"
plan 31

dovecot_start || { echo "# $(tail -5 "$DOVECOT_LOG" 2>/dev/null)"; exit 1; }
smtp_sink_start || exit 1

# ---- dry run first: nothing changes on the server -------------------------------
seed INBOX 21
write_config "$TMP/dry.yaml"
before=$(imap folders)
triage_once "$TMP/dry.yaml" --dry-run
is "dry run exits 0" $? 0
is "dry run changes nothing on the server" "$(imap folders)" "$before"
like "dry run logs its decisions" "$(cat "$TMP/triage.log")" "uid=1 id=[0-9a-f]+ category=[A-Za-z]+ confidence=0\.[0-9]{3}"
check "dry run kept its own state" [ -f "$TMP/state/triage-dry-run.db" ] && [ ! -f "$TMP/state/triage.db" ]

# ---- the real run -------------------------------------------------------------------
cat >"$TMP/smtp.yaml" <<YAML
smtp:
  url: smtp://127.0.0.1:$SMTP_STARTTLS_PORT
  tls: starttls
  ca_file: $SMTP_CA
  from: info@example.org
YAML
write_config "$TMP/t.yaml" "$(cat "$TMP/smtp.yaml")"
# Forward Partenariat to the treasurer and the board, as an attachment.
/usr/bin/python3 - "$TMP/t.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('  Partenariat:\n    folder: "Partenariat"\n',
              '  Partenariat:\n    folder: "Partenariat"\n    forward: [tresorier@example.org, bureau@example.org]\n')
open(p, "w").write(s)
PY
"$TRIAGE" check-config "$TMP/t.yaml" >"$TMP/cc" 2>&1
is "the test configuration is valid" $? 0
: >"$TMP/triage.log"
triage_once "$TMP/t.yaml"
is "triage run --once exits 0" $? 0
is "INBOX is empty afterwards" "$(imap folders | awk -F '\t' '$1 == "INBOX" { print $3 }')" 0
is "every message is still there, once" "$(total_messages)" 21
folders=$(imap folders | cut -f1 | sort | tr '\n' '|')
like "folders with accents were created" "$folders" "Adhésion\|.*Bénévolat\|.*Événement\|"
like "the review folder exists" "$folders" "À vérifier"
check "each folder name is modified UTF-7 on the wire" sh -c "$IMAP_UTIL --port $IMAP_PORT wire-names | grep -q '^Adh&AOk-sion$'"
review=$(imap folders | awk -F '\t' '$1 == "À vérifier" { print $3 }')
filed=$(grep -c 'action=move' "$TMP/triage.log")
is "the log's review decisions match the review folder" "$(grep -c 'action=review' "$TMP/triage.log")" "$review"
is "filed + review = 21" "$((filed + review))" 21
kw=$(imap messages "Adhésion" | grep -c '\$triage_adhesion')
is "messages filed in Adhésion carry the keyword \$triage_adhesion" "$kw" "$(imap messages "Adhésion" | wc -l)"
presse=$(imap messages Presse)
if [ -n "$presse" ]; then
	check "subjects in Presse are tagged [Presse]" sh -c "printf '%s\n' \"\$1\" | awk -F '\t' '\$4 !~ /^\[Presse\] /' | grep -q . && exit 1 || exit 0" _ "$presse"
	check "the tagged copy kept the keyword" sh -c "printf '%s\n' \"\$1\" | grep -q triage_presse" _ "$presse"
else
	ok "# SKIP no message went to Presse"
	ok "# SKIP no message went to Presse"
fi
# The urgent rule: a subject with "urgent" gets \Flagged.
imap append INBOX "$TOP/tests/data/fr-dev/Autre/021.eml" >/dev/null
cat >"$TMP/urgent.eml" <<'EOF'
From: Lucie Martin <lucie.martin@example.net>
To: info@example.org
Subject: URGENT : adhesion a renouveler avant samedi
Date: Mon, 3 Mar 2025 10:12:00 +0100
Message-ID: <urgent-test-1@example.net>

Bonjour, je voudrais renouveler mon adhesion et payer la cotisation pour cette annee.
Merci, Lucie
EOF
imap append INBOX "$TMP/urgent.eml" >/dev/null
triage_once "$TMP/t.yaml"
flagged=$(imap folders | cut -f1 | while read -r f; do imap messages "$f"; done | grep '<urgent-test-1@example.net>')
like "a rule's flag sets \\Flagged" "$flagged" '\\Flagged'

# ---- the forward -----------------------------------------------------------------
n_part=$(imap folders | awk -F '\t' '$1 == "Partenariat" { print $3 }')
# Make sure at least one Partenariat message is forwarded.
imap append INBOX "$TOP/tests/data/fr-dev/Partenariat/030.eml" >/dev/null
triage_once "$TMP/t.yaml"
n_part2=$(imap folders | awk -F '\t' '$1 == "Partenariat" { print $3 }')
check "a Partenariat message was filed" [ "$n_part2" -gt "$n_part" ]
sent=$(smtp_sink_count)
is "one forward per Partenariat message" "$sent" "$n_part2"
env1=$(cat "$SMTP_SINK_DIR/0001.env" 2>/dev/null)
like "the envelope sender is smtp.from" "$env1" "MAIL FROM:<?info@example.org>?"
like "both recipients are in the envelope" "$env1" "tresorier@example.org"
like "... and the second" "$env1" "bureau@example.org"
check "the forward attaches the original unchanged, with a French note" /usr/bin/python3 - "$SMTP_SINK_DIR/0001.eml" "$TOP/tests/data/fr-dev/Partenariat" <<'PY'
import email, os, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
assert m["X-Triage-Forwarded"], "no X-Triage-Forwarded"
assert m["Auto-Submitted"] == "auto-forwarded"
parts = list(m.iter_parts())
note = parts[0].get_content()
assert "classé par triage" in note and "Partenariat" in note, note
att = parts[1]
assert att.get_content_type() == "message/rfc822"
inner = att.get_payload(0)
mid = inner["Message-ID"]
# the attached message is one of the dev set's, same Message-ID and subject
found = False
for f in os.listdir(sys.argv[2]):
    o = email.message_from_bytes(open(os.path.join(sys.argv[2], f), "rb").read(), policy=policy.default)
    if o["Message-ID"] == mid:
        found = str(o["Subject"]) == str(inner["Subject"])
assert found, mid
PY

# ---- logs: never a subject, body or address -----------------------------------------
leak=$(grep -E '@example\.(net|org)|Podcast|URGENT|Bonjour|Subject' "$TMP/triage.log" | grep -v 'info@example.org' | head -3)
is "the log holds no address, subject or body text" "$leak" ""
like "one line per message with uid, id, category, confidence, action and ms" "$(grep 'uid=1 ' "$TMP/triage.log" | head -1)" "uid=1 id=[0-9a-f]{12} category=[A-Za-z]+ confidence=0\.[0-9]{3}.* action=[a-z+]+.* ms=[0-9.]+"

# ---- TLS ---------------------------------------------------------------------------------
sed "s|^  ca_file: .*||" "$TMP/t.yaml" >"$TMP/noca.yaml"
"$TRIAGE" run --config "$TMP/noca.yaml" --once --log-stderr >"$TMP/noca.log" 2>&1
is "without ca_file the self-signed certificate is refused (69)" $? 69
like "... with a clear log line" "$(cat "$TMP/noca.log")" "certificate|trust"
sed "0,/^  tls: starttls/s//  tls: implicit/; s|^  port: $IMAP_PORT|  port: $IMAPS_PORT|" "$TMP/t.yaml" >"$TMP/imaps.yaml"
triage_once "$TMP/imaps.yaml"
is "implicit TLS with ca_file works" $? 0

# ---- wrong password ------------------------------------------------------------------
printf 'wrong' >"$TMP/bad.password"
chmod 600 "$TMP/bad.password"
sed "s|password_file: .*|password_file: $TMP/bad.password|" "$TMP/t.yaml" >"$TMP/badpw.yaml"
"$TRIAGE" run --config "$TMP/badpw.yaml" --once --log-stderr >"$TMP/badpw.log" 2>&1
is "a wrong password exits 77" $? 77
like "... and says so" "$(cat "$TMP/badpw.log")" "(refused|failed|denied).*(check imap.username and the password file)"
finish
