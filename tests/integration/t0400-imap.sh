#!/bin/sh
# daemon/imap.c against a real Dovecot on loopback, through
# $BUILD/itest/imap_driver; tests/imap_util.py plays the volunteers and checks
# what the server holds. Also: fake servers that hang or show an expired
# certificate, a server killed mid-command.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/dovecot.sh"
DRIVER="$BUILD/itest/imap_driver"
UTIL="/usr/bin/python3 $TOP/tests/imap_util.py"
[ -x "$DRIVER" ] || skip_all "$DRIVER is not built (make unit)"
command -v dovecot >/dev/null || skip_all "dovecot is not installed"
plan 106

dovecot_start || skip_all "Dovecot does not start"
export IMAP_PASSWORD="$DOVECOT_PASSWORD"

# d ARGS: the driver on the clear port (more options may precede commands).
# The driver reports on stdout; its stderr (sanitizer reports) is kept apart.
d() { "$DRIVER" -p "$IMAP_PORT" "$@" 2>>"$TMP/driver.err"; }
# field LINE-PREFIX N TEXT: the Nth tab-separated field of the first line
# starting with LINE-PREFIX.
field() { printf '%s\n' "$3" | awk -F '\t' -v p="$1" -v n="$2" '$1 == p { print $n; exit }'; }
# has TEXT LINE: TEXT holds exactly that line.
has() { printf '%s\n' "$1" | grep -qxF -- "$2"; }
# between N LOW HIGH: LOW <= N < HIGH
between() { [ "${1:-0}" -ge "$2" ] && [ "${1:-0}" -lt "$3" ]; }
# ms: the clock in milliseconds.
ms() { echo $(($(date +%s%N) / 1000000)); }
# msg FILE MESSAGE-ID SUBJECT [BODY-BYTES]: a small CRLF message.
msg() {
	{
		printf 'From: Jeanne <jeanne@example.net>\r\nTo: info@example.org\r\n'
		printf 'Subject: %s\r\nMessage-ID: %s\r\n' "$3" "$2"
		printf 'Date: Mon, 3 Mar 2025 10:12:00 +0100\r\nMIME-Version: 1.0\r\n'
		printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
		printf 'Bonjour,\r\nje voudrais adh\303\251rer.\r\n'
		if [ -n "$4" ]; then
			i=0
			while [ $i -lt "$4" ]; do
				printf 'ligne de remplissage pour un gros message .........................\r\n'
				i=$((i + 72))
			done
		fi
	} >"$1"
}
msg "$TMP/m1" "<m1@example.org>" "Adhésion 2025"
msg "$TMP/m2" "<m2@example.org>" "Un gros message" 20000
msg "$TMP/m3" "<m3@example.org>" "Troisième"

# ---- TLS ----------------------------------------------------------------------
out=$("$DRIVER" -p "$IMAPS_PORT" -t implicit -c "$DOVECOT_CA" caps 2>>"$TMP/driver.err")
like "implicit TLS with the CA file" "$out" "^connected"
out=$(d -t starttls -c "$DOVECOT_CA" caps)
like "STARTTLS with the CA file" "$out" "^connected"
out=$("$DRIVER" -p "$IMAPS_PORT" -t implicit caps 2>>"$TMP/driver.err")
like "implicit TLS without the CA file: refused (self-signed)" "$out" "^error	TLS	.*issuer unknown"
out=$(d -t starttls caps)
like "STARTTLS without the CA file: refused" "$out" "^error	TLS	.*certificate not trusted"
out=$("$DRIVER" -h "$IMAP_ALT_HOST" -p "$IMAPS_PORT" -t implicit -c "$DOVECOT_CA" caps 2>>"$TMP/driver.err")
like "implicit TLS, host name mismatch: refused" "$out" "^error	TLS	.*another name than $IMAP_ALT_HOST"
out=$("$DRIVER" -h "$IMAP_ALT_HOST" -p "$IMAP_PORT" -t starttls -c "$DOVECOT_CA" caps 2>>"$TMP/driver.err")
like "STARTTLS, host name mismatch: refused" "$out" "^error	TLS	.*another name"
out=$("$DRIVER" -h localhost -p "$IMAPS_PORT" -t implicit -c "$DOVECOT_CA" caps 2>>"$TMP/driver.err")
like "a DNS name of the certificate (localhost) is accepted" "$out" "^connected"
out=$("$DRIVER" -p "$IMAPS_PORT" -t implicit -c "$DOVECOT_CA" -S caps 2>>"$TMP/driver.err")
like "the CA file alone (no system store) is enough" "$out" "^connected"
out=$("$DRIVER" -p "$IMAPS_PORT" -t implicit -c "$TMP/none.pem" caps 2>>"$TMP/driver.err")
like "a missing CA file is named" "$out" "^error	TLS	.*none.pem: No such file"
out=$(d -t implicit -c "$DOVECOT_CA" -T 5 caps)
like "implicit TLS on a clear port: a TLS error" "$out" "^error	TLS	"
t=$(field error 3 "$out")
check "... promptly (${t} ms)" between "$t" 0 3000
out=$(d caps)
like "tls none on loopback" "$out" "^connected"
like "capabilities after login" "$(field caps 0 "$out")" "IDLE.*MOVE.*UIDPLUS.*CONDSTORE.*NAMESPACE"

# A TLS server whose certificate expired (signed by the same CA), and one
# that accepts connections but never says a word.
cat >"$TMP/fake.py" <<'EOF'
import socket, ssl, sys, time
mode = sys.argv[1]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(8)
with open(sys.argv[2], "w") as f:
    f.write(str(s.getsockname()[1]))
held = []
if mode == "tls":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
while True:
    c, _ = s.accept()
    if mode == "tls":
        try:
            c = ctx.wrap_socket(c, server_side=True)
            c.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake\r\n")
        except (ssl.SSLError, OSError):
            pass
    held.append(c)
EOF
# start_fake MODE PORTFILE [CERT KEY]: runs it in the background (stopped on
# exit) and sets $port.
start_fake() {
	/usr/bin/python3 "$TMP/fake.py" "$@" >/dev/null 2>&1 &
	at_exit "kill $! 2>/dev/null"
	i=0
	while [ ! -s "$2" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	port=$(cat "$2")
}
mkdir "$TMP/ca"
: >"$TMP/ca/index.txt"
echo 01 >"$TMP/ca/serial"
cat >"$TMP/ca/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
database = $TMP/ca/index.txt
serial = $TMP/ca/serial
new_certs_dir = $TMP/ca
default_md = sha256
policy = p
[p]
commonName = supplied
EOF
openssl ca -batch -config "$TMP/ca/ca.cnf" -cert "$DOVECOT_CA" -keyfile "$DOVECOT_DIR/ca.key" \
	-in "$DOVECOT_DIR/server.csr" -extfile "$DOVECOT_DIR/server.ext" \
	-startdate 20200101000000Z -enddate 20200102000000Z -out "$TMP/expired.pem" >/dev/null 2>&1
start_fake tls "$TMP/port.tls" "$TMP/expired.pem" "$DOVECOT_DIR/server.key"
out=$("$DRIVER" -p "$port" -t implicit -c "$DOVECOT_CA" caps 2>>"$TMP/driver.err")
like "an expired certificate is refused, and said so" "$out" "^error	TLS	.*certificate not trusted: expired"

start_fake hang "$TMP/port.hang"
out=$("$DRIVER" -p "$port" -T 2 caps 2>>"$TMP/driver.err")
like "a server that never answers: a network error" "$out" "^error	NET	"
t=$(field error 3 "$out")
check "... after the 2 s timeout (${t} ms)" between "$t" 1900 4000
out=$("$DRIVER" -p "$port" -t implicit -c "$DOVECOT_CA" -T 2 caps 2>>"$TMP/driver.err")
like "... also during the TLS handshake" "$out" "^error	NET	.*timed out"
t=$(field error 3 "$out")
check "... after the timeout (${t} ms)" between "$t" 1900 4000
free=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out=$("$DRIVER" -p "$free" caps 2>>"$TMP/driver.err")
like "nothing listening: a network error" "$out" "^error	NET	.*cannot connect"

# ---- authentication, namespace ---------------------------------------------------
out=$(d -a login caps); like "LOGIN" "$out" "^connected"
out=$(d -a plain caps); like "AUTHENTICATE PLAIN" "$out" "^connected"
out=$(d ns)
is "NAMESPACE: separator / and no prefix (Dovecot)" "$(field ns 2 "$out")|$(field ns 3 "$out")" "/|-"

# ---- folders ----------------------------------------------------------------------
out=$(d ensure "À vérifier" ensure "Archives/2025" ensure "À vérifier" list)
is "ensure_folder creates, and again is harmless" "$(printf '%s\n' "$out" | grep -c '^ensured')" 3
check "list: the accented folder, in UTF-8" has "$out" "folder	À vérifier"
check "list: the child and its parent" eval 'has "$out" "folder	Archives/2025" && has "$out" "folder	Archives"'
check "list: INBOX" has "$out" "folder	INBOX"
wires=$($UTIL wire-names)
check "on the server: &AMA- v&AOk-rifier (modified UTF-7)" has "$wires" "&AMA- v&AOk-rifier"
check "a Python client decodes it as UTF-8" has "$($UTIL folders)" "À vérifier	&AMA- v&AOk-rifier	0"
subs=$($UTIL subscribed)
check "subscribed, parents too" eval 'has "$subs" "À vérifier" && has "$subs" Archives && has "$subs" Archives/2025'
$UTIL create "Événements & réunions"
out=$(d list)
check "a folder made by another client is listed in UTF-8" has "$out" "folder	Événements & réunions"
is "wire name of a name with &" "$(field wire 2 "$(d wire 'Événements & réunions')")" "&AMk-v&AOk-nements &- r&AOk-unions"

# ---- select, status, fetch_meta ------------------------------------------------------
$UTIL append INBOX "$TMP/m1" --date 1700000000 >/dev/null
$UTIL append INBOX "$TMP/m2" >/dev/null
$UTIL append INBOX "$TMP/m3" >/dev/null
uv=$($UTIL uidvalidity INBOX)
out=$(d select INBOX status "À vérifier")
sel=$(field select 2 "$out")
like "select: UIDVALIDITY as the server says" "$sel" "^uidvalidity=$uv uidnext=4 exists=3 "
like "select: CONDSTORE's HIGHESTMODSEQ, keywords allowed, read-write" "$sel" "highestmodseq=[1-9][0-9]* keywords=1 read_only=0"
like "status of another folder" "$(field status 2 "$out")" "^uidvalidity=[1-9][0-9]* uidnext=1 exists=0 highestmodseq="
out=$(d select "Dossier absent")
like "select of a missing folder: NO" "$out" "^error	NO	.*SELECT"

out=$(d select INBOX meta 0 10 1 0)
is "fetch_meta: every message, UID order" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "msg" { printf "%s ", $2 }')" "1 2 3 "
m1line=$(printf '%s\n' "$out" | awk -F '\t' '$1 == "msg" && $2 == 1')
is "... Message-ID" "$(printf '%s\n' "$m1line" | cut -f7)" "<m1@example.org>"
is "... internal date" "$(printf '%s\n' "$m1line" | cut -f4)" "1700000000"
is "... size (RFC822.SIZE)" "$(printf '%s\n' "$m1line" | cut -f3)" "$(wc -c <"$TMP/m1" | tr -d ' ')"
out=$(d select INBOX meta 3 10 1 0)
is "fetch_meta after the last UID: nothing (the 3:* answer is dropped)" "$(printf '%s\n' "$out" | grep -c '^msg')" "0"
out=$(d select INBOX meta 1 1 0 0)
is "fetch_meta: at most max messages, the first after 'after'" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "msg" { printf "%s ", $2 }')" "2 "
hms=$(field select 2 "$(d select INBOX)" | sed 's/.*highestmodseq=\([0-9]*\).*/\1/')
$UTIL flag INBOX "<m3@example.org>" + '\Answered'
out=$(d select INBOX meta 0 10 0 "$hms")
is "fetch_meta CHANGEDSINCE: only what changed" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "msg" { printf "%s:%s ", $2, $6 }')" '3:\Answered '

# ---- fetch_bodies ------------------------------------------------------------------------
mkdir "$TMP/out"
out=$("$DRIVER" -p "$IMAP_PORT" -o "$TMP/out" select INBOX bodies 100000 1,2,3 2>>"$TMP/driver.err")
is "fetch_bodies: three whole messages" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "body" { printf "%s/%s ", $2, $5 }')" "1/0 2/0 3/0 "
check "... byte for byte" cmp -s "$TMP/out/1" "$TMP/m1"
is "BODY.PEEK: not marked \\Seen" "$($UTIL seen INBOX '<m1@example.org>')" "0"
rm -f "$TMP/out/"*
size2=$(wc -c <"$TMP/m2" | tr -d ' ')
out=$("$DRIVER" -p "$IMAP_PORT" -o "$TMP/out" select INBOX bodies 5000 1,2,3,99 2>>"$TMP/driver.err")
is "over max_size: header only; a vanished UID is skipped" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "body" { printf "%s/%s ", $2, $5 }')" "1/0 2/1 3/0 "
hdr=$(awk 'BEGIN { RS = "\r\n\r\n" } NR == 1 { print length($0) + 4; exit }' "$TMP/m2")
is "... the header, with its blank line" "$(wc -c <"$TMP/out/2" | tr -d ' ')" "$hdr"
is "... and its real size reported" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "body" && $2 == 2 { print $3 }')" "$size2"

size1=$(wc -c <"$TMP/m1" | tr -d ' ')
out=$(d select INBOX bodies "$size1" 1 bodies $((size1 - 1)) 1)
is "max_size: a message of exactly max_size whole, one byte more header only" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "body" { printf "%s ", $5 }')" "0 1 "

# ---- search, store ---------------------------------------------------------------------------
out=$(d select INBOX search 'HEADER Message-ID "<m3@example.org>"' search 'HEADER Message-ID "<nope@x>"')
is "search by Message-ID" "$(printf '%s\n' "$out" | grep '^uids' | head -1)" "uids	3"
is "search without a match" "$(printf '%s\n' "$out" | grep '^uids' | tail -1)" "uids"
out=$(d select INBOX store + 1 '$triage_presse,\Flagged')
like "store +FLAGS.SILENT" "$out" "stored"
is "... keyword and \\Flagged on the server" "$($UTIL flags INBOX '<m1@example.org>')" '\Flagged $triage_presse'
d select INBOX store - 1 '\Flagged' >/dev/null
is "store -FLAGS" "$($UTIL flags INBOX '<m1@example.org>')" '$triage_presse'
out=$(d select INBOX store + 1 'deux mots')
like "an invalid keyword is refused before sending" "$out" "^error	BAD	.*not a valid IMAP flag"

# ---- append -------------------------------------------------------------------------------
out=$(d append "À vérifier" "$TMP/m1" '\Seen,$triage_presse' 1700000000 select "À vérifier" meta 0 10 1 0)
uid=$(field appended 2 "$out")
check "append: APPENDUID ($uid)" [ "${uid:-0}" -gt 0 ]
is "... flags kept" "$(field msg 6 "$out")" '\Seen $triage_presse'
is "... internal date kept" "$(field msg 4 "$out")" "1700000000"
is "... the message is there" "$(field msg 7 "$out")" "<m1@example.org>"

# ---- move with MOVE ------------------------------------------------------------------------
out=$(d select INBOX move 1 "Archives/2025")
like "move with MOVE: COPYUID gives the new UID" "$out" "moved	1>1"
is "... gone from INBOX" "$($UTIL count INBOX '<m1@example.org>')" "0"
is "... once in the destination" "$($UTIL count Archives/2025 '<m1@example.org>')" "1"
out=$(d select INBOX move 2 "Pas là")
like "move to a missing folder: NO, and nothing lost" "$out" "^error	NO	.*UID MOVE"
is "... the message stays" "$($UTIL count INBOX '<m2@example.org>')" "1"

# ---- many scattered UIDs: sets cut into several commands ------------------------------
set --
i=0
while [ $i -lt 450 ]; do set -- "$@" append Lot "$TMP/m3" - 0; i=$((i + 1)); done
d ensure Lot "$@" >/dev/null
odd=$(seq 1 2 449 | paste -sd, -)
out=$(d select Lot store + "$odd" '$triage_lot' meta 0 1000 0 0)
is "store on 225 scattered UIDs (225 ranges, two commands)" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "msg" && $6 ~ /triage_lot/ { if ($2 % 2) n++; else bad++ } END { print n + 0 "/" bad + 0 }')" "225/0"
out=$(d select Lot bodies 100000 "$odd")
is "fetch_bodies of them: each once" "$(printf '%s\n' "$out" | awk -F '\t' '$1 == "body" && $5 == 0' | sort -u | wc -l | tr -d ' ')" "225"
out=$(d select Lot move "$odd" Archives)
is "move of them: a new UID for each (COPYUID of every command)" "$(printf '%s\n' "$out" | grep '^moved' | tr '\t' '\n' | grep -c '>[1-9]')" "225"
is "... 225 left, 225 arrived" "$($UTIL count Lot '<m3@example.org>')/$($UTIL count Archives '<m3@example.org>')" "225/225"

# ---- IDLE -------------------------------------------------------------------------------
"$DRIVER" -p "$IMAP_PORT" select INBOX idle 10000 >"$TMP/idle" 2>>"$TMP/driver.err" &
idler=$!
i=0
while ! grep -q '^select' "$TMP/idle" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.2
t0=$(ms)
$UTIL append INBOX "$TMP/m3" >/dev/null
wait $idler
t1=$(ms)
is "IDLE notices another client's APPEND" "$(field idle 2 "$(cat "$TMP/idle")")" "1"
check "... within 2 s ($((t1 - t0)) ms)" between $((t1 - t0)) 0 2000
out=$(d select INBOX idle 1000)
is "IDLE with nothing new: 0 at the timeout" "$(field idle 2 "$out")" "0"
t=$(field idle 3 "$out")
check "... after about 1 s ($t ms)" between "$t" 950 2000
out=$(d select INBOX idle-stop 10000 300 noop)
t=$(field idle 3 "$out")
check "IDLE ends early when *stop is set (${t} ms)" eval '[ "$(field idle 2 "$out")" = 0 ] && between "$t" 250 800'
like "... and the connection is still fine (DONE sent)" "$out" "noop"

# ---- UIDVALIDITY helper, restart ------------------------------------------------------------------
dovecot_set_uidvalidity INBOX 12345
like "dovecot_set_uidvalidity: a new UIDVALIDITY at the next SELECT" "$(field select 2 "$(d select INBOX)")" "^uidvalidity=12345 "
before=$(field select 2 "$(d select INBOX)")
dovecot_restart
is "dovecot_restart keeps ports and mail" "$(field select 2 "$(d select INBOX)")" "$before"

# ---- a server that stops answering mid-session (SIGSTOP) ----------------------------------------
"$DRIVER" -p "$IMAP_PORT" -T 2 select INBOX sleep 700 noop >"$TMP/stop" 2>>"$TMP/driver.err" &
st=$!
i=0
while ! grep -q '^select' "$TMP/stop" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
kill -STOP "-$DOVECOT_PID"
wait $st
kill -CONT "-$DOVECOT_PID"
out=$(cat "$TMP/stop")
like "a server that hangs mid-session: a network error" "$out" "^error	NET	.*NOOP"
t=$(field error 3 "$out")
check "... after the 2 s timeout (${t} ms)" between "$t" 1900 4000
like "... and it serves again after SIGCONT" "$(d noop)" "noop"

# ---- a server killed mid-command ---------------------------------------------------------------
"$DRIVER" -p "$IMAP_PORT" select INBOX idle 30000 >"$TMP/kill1" 2>>"$TMP/driver.err" &
k1=$!
"$DRIVER" -p "$IMAPS_PORT" -t implicit -c "$DOVECOT_CA" select INBOX noop-loop 30 >"$TMP/kill2" 2>>"$TMP/driver.err" &
k2=$!
i=0
while ! { grep -q '^select' "$TMP/kill1" && grep -q '^select' "$TMP/kill2"; } && [ $i -lt 100 ]; do
	sleep 0.05; i=$((i + 1))
done
sleep 0.3
t0=$(ms)
dovecot_kill
wait $k1
wait $k2
t1=$(ms)
like "server killed during IDLE: a network error" "$(cat "$TMP/kill1")" "^error	NET	"
like "server killed during commands over TLS: a network error" "$(cat "$TMP/kill2")" "^error	NET	"
check "... both promptly ($((t1 - t0)) ms)" between $((t1 - t0)) 0 2000
out=$(d caps)
like "and while it is down: cannot connect" "$out" "^error	NET	"
dovecot_restart
like "dovecot_restart after a kill" "$(d caps)" "^connected"

# ---- wrong password (last: Dovecot slows down the next logins from this address) -----
out=$(d -w wrong caps)
like "wrong password: an authentication error" "$out" "^error	AUTH	"
check "... that does not show the password" eval '! printf "%s" "$out" | grep -q wrong'
out=$(d -a login -w wrong caps)
like "... with LOGIN too" "$out" "^error	AUTH	"
dovecot_stop

# ---- without MOVE and IDLE: COPY fallback, never a bare EXPUNGE -------------------------------
dovecot_start --no-move --no-idle --no-namespace || { echo "Bail out! second Dovecot"; exit 1; }
out=$(d caps ns)
caps=$(field caps 0 "$out")
check "MOVE, IDLE and NAMESPACE no longer announced" eval '! printf "%s" "$caps" | grep -qE "MOVE|IDLE|NAMESPACE"'
is "without NAMESPACE: the separator from LIST \"\" \"\", no prefix" "$(field ns 2 "$out")|$(field ns 3 "$out")" "/|-"
for m in m1 m2 m3; do $UTIL append INBOX "$TMP/$m" >/dev/null; done
$UTIL create Presse
$UTIL flag INBOX "<m2@example.org>" + '\Deleted'
out=$(d select INBOX move 1,3 Presse)
like "move without MOVE: UID COPY (with COPYUID)" "$out" "moved	1>1	3>2"
is "... the originals gone from INBOX" "$($UTIL count INBOX '<m1@example.org>')/$($UTIL count INBOX '<m3@example.org>')" "0/0"
is "... exactly one copy each in the destination" "$($UTIL count Presse '<m1@example.org>')/$($UTIL count Presse '<m3@example.org>')" "1/1"
is "... another client's \\Deleted message is still there (no bare EXPUNGE)" "$($UTIL count INBOX '<m2@example.org>')" "1"
like "... with its \\Deleted flag untouched" "$($UTIL flags INBOX '<m2@example.org>')" '\\Deleted'
$UTIL append INBOX "$TMP/m1" >/dev/null
out=$(d select INBOX meta 3 10 1 0)
uid=$(field msg 2 "$out")
out=$(d select INBOX store + "$uid" '\Deleted' expunge "$uid")
is "expunge_uids: that UID only, not another \\Deleted one" "$($UTIL count INBOX '<m1@example.org>')/$($UTIL count INBOX '<m2@example.org>')" "0/1"
out=$(d select INBOX idle 1000)
like "IDLE not offered: unsupported" "$out" "^error	UNSUPPORTED	"
dovecot_stop

# ---- a Cyrus-like namespace: INBOX/ prefix ------------------------------------------------------
dovecot_start --prefix INBOX/ --user benevole@example.org:motdepasse ||
	{ echo "Bail out! third Dovecot"; exit 1; }
like "dovecot_start --user: another account" "$(d -u benevole@example.org -w motdepasse caps)" "^connected"
out=$(d ns)
is "NAMESPACE prefix INBOX/ and separator /" "$(field ns 2 "$out")|$(field ns 3 "$out")" "/|INBOX/"
is "wire name: INBOX/Presse" "$(field wire 2 "$(d wire Presse)")" "INBOX/Presse"
is "INBOX is never prefixed" "$(field wire 2 "$(d wire INBOX)")" "INBOX"
out=$(d ensure Presse ensure "À vérifier" list)
wires=$($UTIL wire-names)
check "created as INBOX/Presse and INBOX/&AMA- v&AOk-rifier" eval 'has "$wires" INBOX/Presse && has "$wires" "INBOX/&AMA- v&AOk-rifier"'
check "listed without the prefix" eval 'has "$out" "folder	Presse" && has "$out" "folder	À vérifier" && has "$out" "folder	INBOX" && ! printf "%s" "$out" | grep -q INBOX/'
$UTIL append INBOX "$TMP/m1" >/dev/null
out=$(d select INBOX move 1 Presse select Presse meta 0 10 1 0)
is "move to a prefixed folder" "$(field msg 7 "$out")" "<m1@example.org>"
is "... seen from another client" "$($UTIL count INBOX/Presse '<m1@example.org>')" "1"
out=$(d append "À vérifier" "$TMP/m3" - 0 status "À vérifier")
like "append and status in a prefixed folder" "$(field status 2 "$out")" "exists=1"
dovecot_stop
# (libetpan itself prints "GnuTLS error: ..." there on failed handshakes.)
is "no sanitizer report from the driver" "$(grep -E 'Sanitizer|runtime error' "$TMP/driver.err")" ""
finish
