#!/bin/sh
# daemon/smtp.c against a real SMTP server (the aiosmtpd sink of
# tests/smtp_sink.sh) on loopback, through tests/integration/smtp_driver.c:
# plain, STARTTLS and implicit TLS with and without the CA, AUTH, 4xx and 5xx
# answers, a server down or mute, and forwards composed by daemon/compose.c
# arriving with the right envelope and the original intact.
. "$(dirname "$0")/../lib.sh"
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd is not installed"
command -v openssl >/dev/null || skip_all "openssl is not installed"
. "$TOP/tests/smtp_sink.sh"
plan 67

D=$BUILD/itest/smtp_driver
DATA=$TOP/tests/data/compose
FROM=info@amis-vieux-quartier.example
R1=benevoles@amis-vieux-quartier.example
R2=tresorier@amis-vieux-quartier.example

# send NAME DRIVER-ARGS...: runs the driver, keeps its output in $TMP/NAME.out
# and its exit code in $rc
send() {
	_name=$1
	shift
	"$D" --from "$FROM" "$@" >"$TMP/$_name.out" 2>&1
	rc=$?
}
out() { cat "$TMP/$1.out"; }
# same_crlf ORIGINAL RECEIVED: RECEIVED is ORIGINAL with CRLF line ends
same_crlf() {
	/usr/bin/python3 -c '
import sys
a = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
sys.exit(a != open(sys.argv[2], "rb").read())' "$1" "$2"
}
last() { printf '%s/%04d.%s' "$SMTP_SINK_DIR" "$(smtp_sink_count)" "$1"; }

smtp_sink_start --user alice --password 's3cr3t pass' || { echo "Bail out! no SMTP sink"; exit 1; }
PLAIN=smtp://127.0.0.1:$SMTP_PORT
STARTTLS=smtp://127.0.0.1:$SMTP_STARTTLS_PORT
SMTPS=smtps://127.0.0.1:$SMTPS_PORT

# ---- plain, on loopback ---------------------------------------------------------
send plain --url "$PLAIN" --tls none "$DATA/lf.eml" "$R1" "$R2"
is "plain SMTP on loopback: sent" "$rc $(out plain)" "0 sent"
is "... the sink has it" "$(smtp_sink_count)" 1
is "... envelope: MAIL FROM, then RCPT TO in order" "$(head -3 "$(last env)")" \
	"MAIL FROM:<$FROM>
RCPT TO:<$R1>
RCPT TO:<$R2>"
check "... without TLS" grep -qx "TLS: no" "$(last env)"
check "... an LF message arrives with CRLF, lines starting with '.' and 'From ' intact" \
	same_crlf "$DATA/lf.eml" "$(last eml)"

send dots --url "$PLAIN" --tls none "$DATA/crlf-8bit.eml" "$R1"
is "a CRLF message with '.', '..' lines and 8-bit text: sent" "$rc" 0
check "... arrives byte for byte" cmp -s "$DATA/crlf-8bit.eml" "$(last eml)"

# A message whose first body line and last line are a lone '.', no final line end.
printf 'From: a@exemple.fr\nSubject: points\n\n.\n..\n.x\n.' >"$TMP/dots.eml"
send dots2 --url "$PLAIN" --tls none "$TMP/dots.eml" "$R1"
is "a message ending in a lone '.' without line end: sent" "$rc" 0
printf 'From: a@exemple.fr\r\nSubject: points\r\n\r\n.\r\n..\r\n.x\r\n.\r\n' >"$TMP/dots.want"
check "... arrives intact (a CRLF added at the end only)" cmp -s "$TMP/dots.want" "$(last eml)"

# ---- STARTTLS ---------------------------------------------------------------------
n0=$(smtp_sink_count)
send st --url "$STARTTLS" --tls starttls --ca "$SMTP_CA" "$DATA/lf.eml" "$R1"
is "STARTTLS with the CA: sent" "$rc $(out st)" "0 sent"
check "... over TLS" grep -qx "TLS: yes" "$(last env)"
send st_noca --url "$STARTTLS" --tls starttls "$DATA/lf.eml" "$R1"
is "STARTTLS trusting nothing: refused, permanent" "$rc" 1
like "... the certificate is the reason" "$(out st_noca)" "^failed temporary=0: .*certificate"
send st_sys --url "$STARTTLS" --tls starttls --system-ca "$DATA/lf.eml" "$R1"
is "STARTTLS trusting only the system's CAs: refused, permanent" "$rc" 1
send st_both --url "$STARTTLS" --tls starttls --ca "$SMTP_CA" --system-ca "$DATA/lf.eml" "$R1"
is "STARTTLS trusting the CA and the system's CAs: sent" "$rc" 0
send st_plain --url "$PLAIN" --tls starttls --ca "$SMTP_CA" "$DATA/lf.eml" "$R1"
is "STARTTLS required, server without it: refused, permanent (no fallback to plain)" "$rc" 1
like "... says STARTTLS" "$(out st_plain)" "STARTTLS"
is "nothing was delivered by the refused attempts" "$(smtp_sink_count)" $((n0 + 2))

# ---- implicit TLS -----------------------------------------------------------------
send tls --url "$SMTPS" --tls implicit --ca "$SMTP_CA" "$DATA/lf.eml" "$R1"
is "implicit TLS with the CA: sent" "$rc $(out tls)" "0 sent"
check "... over TLS" grep -qx "TLS: yes" "$(last env)"
send tls_name --url "smtps://localhost:$SMTPS_PORT" --ca "$SMTP_CA" "$DATA/lf.eml" "$R1"
is "implicit TLS by host name (DNS:localhost in the certificate): sent" "$rc" 0
send tls_noca --url "$SMTPS" --tls implicit "$DATA/lf.eml" "$R1"
is "implicit TLS without the CA: refused, permanent" "$rc" 1
like "... the certificate is the reason" "$(out tls_noca)" "^failed temporary=0: .*certificate"
send tls_mix --url "$SMTPS" --tls starttls --ca "$SMTP_CA" "$DATA/lf.eml" "$R1"
is "smtps:// with --tls starttls: refused before connecting" "$rc" 1
like "... saying why" "$(out tls_mix)" "smtps:// goes with implicit TLS"

# ---- AUTH ---------------------------------------------------------------------------
send auth --url "$STARTTLS" --ca "$SMTP_CA" --user alice --password 's3cr3t pass' \
	"$DATA/lf.eml" "$R1"
is "AUTH with the right password: sent" "$rc $(out auth)" "0 sent"
check "... authenticated as alice" grep -qx "AUTH: alice" "$(last env)"
send auth_bad --url "$STARTTLS" --ca "$SMTP_CA" --user alice --password 'wrong pass' \
	"$DATA/lf.eml" "$R1"
is "AUTH with a wrong password: permanent failure" "$rc" 1
like "... 535 from the server" "$(out auth_bad)" "^failed temporary=0: SMTP server refused authentication: 535"
check "... the password is not in the error" sh -c "! grep -q 'wrong' '$TMP/auth_bad.out'"
send auth_tls --url "$SMTPS" --ca "$SMTP_CA" --user alice --password 's3cr3t pass' \
	"$DATA/lf.eml" "$R1"
is "AUTH over implicit TLS: sent" "$rc" 0
check "... authenticated as alice" grep -qx "AUTH: alice" "$(last env)"

smtp_sink_start --user alice --password 's3cr3t pass' --auth-mechs LOGIN --auth-required
STARTTLS=smtp://127.0.0.1:$SMTP_STARTTLS_PORT
send login --url "$STARTTLS" --ca "$SMTP_CA" --user alice --password 's3cr3t pass' \
	"$DATA/lf.eml" "$R1"
is "AUTH LOGIN (the only mechanism offered): sent" "$rc" 0
check "... authenticated as alice" grep -qx "AUTH: alice" "$(last env)"
send noauth --url "$STARTTLS" --ca "$SMTP_CA" "$DATA/lf.eml" "$R1"
is "no AUTH where the server requires it: permanent failure" "$rc" 1
like "... 530 at MAIL FROM" "$(out noauth)" "refused the sender \(MAIL FROM\): 530"

# ---- the server says no -------------------------------------------------------------
smtp_sink_start
PLAIN=smtp://127.0.0.1:$SMTP_PORT
smtp_sink_fail rcpt 451 2
send r451 --url "$PLAIN" --tls none "$DATA/lf.eml" "$R1" "$R2"
is "4xx to the 2nd RCPT: temporary failure (exit 75)" "$rc" 75
like "... names the recipient by its position only" "$(out r451)" \
	"^failed temporary=1: SMTP server refused recipient 2 of 2: 451 4\.0\.0 \[address\]"
check "... no address in the error, though the server quoted it" \
	sh -c "! grep -q '@' '$TMP/r451.out'"
is "... and nothing delivered to anybody" "$(smtp_sink_count)" 0
smtp_sink_fail rcpt 550
send r550 --url "$PLAIN" --tls none "$DATA/lf.eml" "$R1" "$R2"
is "5xx to RCPT: permanent failure (exit 1)" "$rc" 1
like "... recipient 1 of 2" "$(out r550)" "^failed temporary=0: SMTP server refused recipient 1 of 2: 550"
smtp_sink_fail rcpt
smtp_sink_fail data 452
send d452 --url "$PLAIN" --tls none "$DATA/lf.eml" "$R1"
is "4xx at the end of the data: temporary" "$rc" 75
like "... about the message" "$(out d452)" "refused the message: 452"
smtp_sink_fail data 554
send d554 --url "$PLAIN" --tls none "$DATA/lf.eml" "$R1"
is "5xx at the end of the data: permanent" "$rc" 1
smtp_sink_fail data
smtp_sink_fail mail 421
send m421 --url "$PLAIN" --tls none "$DATA/lf.eml" "$R1"
is "421 to MAIL FROM: temporary" "$rc" 75
smtp_sink_fail mail
send again --url "$PLAIN" --tls none "$DATA/lf.eml" "$R1"
is "once the server accepts again: sent" "$rc $(smtp_sink_count)" "0 1"

# ---- the server is down or mute ---------------------------------------------------------
start=$(date +%s)
send mute --url "smtp://127.0.0.1:$SMTP_HANG_PORT" --tls none --timeout 2 "$DATA/lf.eml" "$R1"
secs=$(($(date +%s) - start))
is "a server that never answers: temporary failure" "$rc" 75
check "... after the timeout (2 s), not much later (${secs}s)" [ "$secs" -ge 1 -a "$secs" -le 5 ]
like "... says it timed out" "$(out mute)" "timed out"
down_port=$SMTP_PORT
smtp_sink_stop
start=$(date +%s)
send down --url "smtp://127.0.0.1:$down_port" --tls none "$DATA/lf.eml" "$R1"
secs=$(($(date +%s) - start))
is "the server down: temporary failure" "$rc" 75
check "... at once (${secs}s)" [ "$secs" -le 1 ]

# ---- a certificate for another name ------------------------------------------------------
smtp_sink_cert other "DNS:other.test"
smtp_sink_start --cert "$SMTP_TLS_DIR/other.pem" --key "$SMTP_TLS_DIR/other.key"
send other --url "smtps://127.0.0.1:$SMTPS_PORT" --ca "$SMTP_CA" "$DATA/lf.eml" "$R1"
is "a certificate from the CA for another host name: refused, permanent" "$rc" 1
like "... the name is the reason" "$(out other)" "^failed temporary=0: .*(name|host)"

# ---- what triage sends ---------------------------------------------------------------------
smtp_sink_start
STARTTLS=smtp://127.0.0.1:$SMTP_STARTTLS_PORT
send fwd --url "$STARTTLS" --ca "$SMTP_CA" --forward "Adhésion" --subject "Adhésion 2025" \
	--out "$TMP/fwd.sent" "$DATA/crlf-8bit.eml" "$R1" "$R2"
is "a forward composed by compose_forward: sent" "$rc $(out fwd)" "0 sent"
is "... envelope: MAIL FROM the association, RCPT TO the recipients" "$(head -3 "$(last env)")" \
	"MAIL FROM:<$FROM>
RCPT TO:<$R1>
RCPT TO:<$R2>"
check "... received as it was composed" cmp -s "$TMP/fwd.sent" "$(last eml)"
check "... Python's email package reads it: note, headers, the original attached unchanged" \
	/usr/bin/python3 -c '
import email, sys
from email import policy
raw = open(sys.argv[1], "rb").read()
orig = open(sys.argv[2], "rb").read()
m = email.message_from_bytes(raw, policy=policy.default)
assert m.get_content_type() == "multipart/mixed", m.get_content_type()
assert str(m["Subject"]) == "TR: Adhésion 2025", str(m["Subject"])
assert str(m["From"]) == sys.argv[3] and str(m["To"]) == sys.argv[4] + ", " + sys.argv[5]
assert str(m["X-Triage-Forwarded"]) == "Adhésion" and str(m["Auto-Submitted"]) == "auto-forwarded"
assert m["Date"].datetime is not None and m["Message-ID"].startswith("<triage.")
note, att = list(m.iter_parts())
assert note.get_content_type() == "text/plain" and note.get_content_charset() == "utf-8"
text = note.get_content()
assert "classé par triage dans «\u00a0Adhésion\u00a0» (confiance 92\u00a0%)" in text, text
assert "Raisons principales\u00a0: adhésion (corps), cotisation (objet)." in text, text
assert att.get_content_type() == "message/rfc822"
inner = att.get_content()
assert inner["Message-ID"] == "<20250303101200.1234@exemple.fr>"
start = raw.index(b"\r\n\r\n", raw.index(b"Content-Type: message/rfc822")) + 4
end = raw.rindex(b"\r\n--" + m.get_boundary().encode() + b"--")
assert raw[start:end] == orig, "attachment differs"
' "$(last eml)" "$DATA/crlf-8bit.eml" "$FROM" "$R1" "$R2"

send fwd_lf --url "$STARTTLS" --ca "$SMTP_CA" --forward "Presse" --rule "journalistes" \
	"$DATA/lf.eml" "$R1"
is "a forward of an LF message, decided by a rule: sent" "$rc" 0
check "... the attachment is the original with CRLF line ends, the note names the rule" \
	/usr/bin/python3 -c '
import email, sys
from email import policy
raw = open(sys.argv[1], "rb").read()
orig = open(sys.argv[2], "rb").read().replace(b"\n", b"\r\n")
m = email.message_from_bytes(raw, policy=policy.default)
note, att = list(m.iter_parts())
assert "(règle «\u00a0journalistes\u00a0»)" in note.get_content()
start = raw.index(b"\r\n\r\n", raw.index(b"Content-Type: message/rfc822")) + 4
end = raw.rindex(b"\r\n--" + m.get_boundary().encode() + b"--")
assert raw[start:end] == orig
' "$(last eml)" "$DATA/lf.eml"

send redir --url "$STARTTLS" --ca "$SMTP_CA" --redirect "$DATA/crlf-8bit.eml" "$R1"
is "a redirect composed by compose_redirect: sent" "$rc" 0
check "... Resent-* fields first, then the original byte for byte" /usr/bin/python3 -c '
import email, sys
from email import policy
raw = open(sys.argv[1], "rb").read()
orig = open(sys.argv[2], "rb").read()
assert raw.endswith(orig)
m = email.message_from_bytes(raw, policy=policy.default)
assert str(m["Resent-From"]) == sys.argv[3] and str(m["Resent-To"]) == sys.argv[4]
assert m["X-Triage-Redirected"] and m["Resent-Date"] and m["Resent-Message-ID"]
assert str(m["Subject"]) == "Adhésion 2025"
' "$(last eml)" "$DATA/crlf-8bit.eml" "$FROM" "$R1"

send tagged --url "$STARTTLS" --ca "$SMTP_CA" --tag "[Bénévolat]" "$DATA/latin1-raw.eml" "$R1"
is "a message with a tagged subject (raw Latin-1 before): sent" "$rc" 0
check "... Python reads the tag before the subject" /usr/bin/python3 -c '
import email, sys
from email import policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=policy.default)
assert str(m["Subject"]) == "[Bénévolat] Bénévolat pour la fête d'"'"'été", str(m["Subject"])
assert str(m["X-Triage-Tagged"]) == "Test"
' "$(last eml)"

# ---- a large message ---------------------------------------------------------------------
/usr/bin/python3 -c '
import sys
with open(sys.argv[1], "wb") as f:
    f.write(b"From: a@exemple.fr\nSubject: grand\n\n")
    line = "été . 0123456789012345678901234567890123456789\n".encode()
    f.write(b".\n" + line * (8 * 1024 * 1024 // len(line)) + b"From x\n.\n")' "$TMP/big.eml"
start=$(date +%s)
send big --url "$STARTTLS" --ca "$SMTP_CA" --forward "Autre" "$TMP/big.eml" "$R1"
secs=$(($(date +%s) - start))
is "a forward of an 8 MB LF message: sent (${secs}s)" "$rc" 0
check "... the attachment is the original, CRLF" /usr/bin/python3 -c '
import sys
raw = open(sys.argv[1], "rb").read()
orig = open(sys.argv[2], "rb").read().replace(b"\n", b"\r\n")
start = raw.index(b"\r\n\r\n", raw.index(b"Content-Type: message/rfc822")) + 4
assert raw[start:start + len(orig)] == orig
' "$(last eml)" "$TMP/big.eml"

pid=$SMTP_SINK_PID
smtp_sink_stop
check "the sink stops on SIGTERM, nothing left running" [ ! -e "/proc/$pid" ]
finish
