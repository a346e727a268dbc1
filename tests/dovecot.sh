# A private Dovecot IMAP server for the tests (POSIX sh library).
#
# Source it after tests/lib.sh (which provides $TMP and at_exit):
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$TOP/tests/dovecot.sh"
#   dovecot_start || skip_all "cannot start Dovecot"
#   ... IMAP on 127.0.0.1:$IMAP_PORT (clear, STARTTLS) and :$IMAPS_PORT (TLS)
#
# Nothing under /etc/dovecot is read: the configuration, the mail store, the
# certificates and the logs live in $DOVECOT_DIR, a fresh directory under /tmp
# of mode 755 (the mail is owned by nobody, who must be able to traverse every
# directory above it). The server is stopped on exit (at_exit).
#
# dovecot_start [options]   start a server; options:
#     --no-move             MOVE is not announced in CAPABILITY (COPY fallback)
#     --no-idle             IDLE is not announced
#     --no-namespace        NAMESPACE is not announced (clients fall back on
#                           LIST "" "" for the separator)
#     --prefix P            personal namespace prefix, e.g. "INBOX/" (Cyrus-like)
#     --user NAME:PASSWORD  one more user (repeatable); the default user is
#                           $DOVECOT_USER / $DOVECOT_PASSWORD (info@example.org /
#                           secret) and is always there
#   exports:
#     IMAP_PORT IMAPS_PORT  the clear/STARTTLS port and the implicit-TLS port
#     IMAP_HOST             127.0.0.1 (the certificate names 127.0.0.1 and localhost)
#     IMAP_ALT_HOST         127.0.0.2: the same server under an address that the
#                           certificate does not name (host-name mismatch tests)
#     DOVECOT_CA            the CA certificate (PEM) that signed the server's
#     DOVECOT_DIR           the server's directory; DOVECOT_LOG its log
#     DOVECOT_PID           the server's process group (a timeout(1) that runs
#                           the master: no server outlives $DOVECOT_LIFETIME s,
#                           default 3600)
#     DOVECOT_CAPS          the capabilities announced after login, one line
#   returns 0 once the server answers, 1 with a message on stderr otherwise.
# dovecot_stop              SIGTERM, then waits for the server (about 1 s)
# dovecot_restart           stop and start again with the same ports, options,
#                           users and mail
# dovecot_kill              SIGKILL to the whole server (master and its imap
#                           processes): "the server died mid-run"
# dovecot_maildir [USER]    prints the Maildir path of USER (default user)
# dovecot_set_uidvalidity FOLDER N [USER]
#                           gives the folder ("INBOX", or a wire name) the
#                           UIDVALIDITY N with doveadm; the server keeps running
#                           (clients see it at their next SELECT)
# dovecot_uidvalidity FOLDER [USER]   prints the folder's UIDVALIDITY

# A test stopped by SIGTERM or SIGINT (tests/run.sh's timeout, ^C) still runs
# its at_exit cleanups, and so stops its servers.
trap 'exit 143' TERM
trap 'exit 130' INT

DOVECOT_USER="info@example.org"
DOVECOT_PASSWORD="secret"
IMAP_HOST=127.0.0.1
IMAP_ALT_HOST=127.0.0.2
DOVECOT_PID=""
_dovecot_opts=""

# Two TCP ports that are free on both loopback addresses.
_dovecot_free_ports() {
	/usr/bin/python3 - <<'EOF'
import socket
ports = []
while len(ports) < 2:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    ok = p not in ports
    for host in ("127.0.0.1", "127.0.0.2"):
        t = socket.socket()
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            t.bind((host, p))
        except OSError:
            ok = False
        t.close()
    if ok:
        ports.append(p)
print(ports[0], ports[1])
EOF
}

# Exits 0 when something already answers on host:port.
_dovecot_port_busy() {
	/usr/bin/python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)' "$1" "$2"
}

# Waits (at most 10 s) until the server greets on IMAP_PORT, then reads the
# capabilities after login.
_dovecot_wait() {
	DOVECOT_CAPS=$(/usr/bin/python3 - "$IMAP_PORT" "$DOVECOT_USER" "$DOVECOT_PASSWORD" <<'EOF'
import imaplib, sys, time
end = time.time() + 10
while True:
    try:
        m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]), timeout=2)
        m.login(sys.argv[2], sys.argv[3])
        typ, data = m.capability()
        print(data[0].decode())
        m.logout()
        break
    except Exception as e:
        if time.time() > end:
            print("dovecot does not answer: %s" % e, file=sys.stderr)
            sys.exit(1)
        time.sleep(0.05)
EOF
) || return 1
	export DOVECOT_CAPS
}

# The CA and the server certificate (subjectAltName IP:127.0.0.1, DNS:localhost).
_dovecot_certs() {
	d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 -subj "/CN=triage test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 || return 1
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
		-keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || return 1
	printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		"basicConstraints=CA:FALSE" "extendedKeyUsage=serverAuth" >"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 3650 -extfile "$d/server.ext" \
		-out "$d/server.pem" >/dev/null 2>&1 || return 1
	chmod 644 "$d/server.key"
}

# Writes $DOVECOT_DIR/dovecot.conf from the options.
_dovecot_config() {
	no_move="" no_idle="" no_ns="" prefix=""
	set -- $_dovecot_opts
	while [ $# -gt 0 ]; do
		case "$1" in
		--no-move) no_move=1 ;;
		--no-idle) no_idle=1 ;;
		--no-namespace) no_ns=1 ;;
		--prefix) prefix=$2; shift ;;
		--user) printf '%s\n' "$2" | sed 's/:/:{PLAIN}/' >>"$DOVECOT_DIR/users"; shift ;;
		*) echo "dovecot_start: unknown option $1" >&2; return 1 ;;
		esac
		shift
	done
	caps=""
	if [ -n "$no_move$no_idle$no_ns" ]; then
		# imap_capability replaces the whole list: Dovecot 2.3's own, minus
		# what the test takes away (the server still accepts the command: only
		# a client that reads CAPABILITY is fooled, which is what we test).
		caps="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY"
		[ -n "$no_move" ] && caps=$(echo "$caps" | sed 's/ MOVE//')
		[ -n "$no_idle" ] && caps=$(echo "$caps" | sed 's/ IDLE//')
		[ -n "$no_ns" ] && caps=$(echo "$caps" | sed 's/ NAMESPACE//')
	fi
	cat >"$DOVECOT_DIR/dovecot.conf" <<EOF
# Generated by tests/dovecot.sh
base_dir = $DOVECOT_DIR/run
state_dir = $DOVECOT_DIR/state
log_path = $DOVECOT_DIR/dovecot.log
instance_name = triage-test-$(basename "$DOVECOT_DIR")
listen = $IMAP_HOST, $IMAP_ALT_HOST
protocols = imap
ssl = yes
ssl_cert = <$DOVECOT_DIR/server.pem
ssl_key = <$DOVECOT_DIR/server.key
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DOVECOT_DIR/mail/%u
}
mail_location = maildir:$DOVECOT_DIR/mail/%u/Maildir
namespace inbox {
  inbox = yes
  separator = /
  prefix = $prefix
}
service imap-login {
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = $IMAPS_PORT
    ssl = yes
  }
}
EOF
	[ -n "$caps" ] && echo "imap_capability = $caps" >>"$DOVECOT_DIR/dovecot.conf"
	return 0
}

_dovecot_launch() {
	for p in "$IMAP_PORT" "$IMAPS_PORT"; do
		if _dovecot_port_busy 127.0.0.1 "$p"; then
			echo "dovecot_start: port $p already answers (a stale server?)" >&2
			return 1
		fi
	done
	# setsid: the server leads its own process group, so that dovecot_kill
	# reaches its imap processes too (they outlive a killed master).
	# timeout: a server whose test was killed outright does not stay forever.
	setsid timeout -k 5 "${DOVECOT_LIFETIME:-3600}" \
		dovecot -F -c "$DOVECOT_DIR/dovecot.conf" >>"$DOVECOT_DIR/stderr" 2>&1 &
	DOVECOT_PID=$!
	export DOVECOT_PID
	if ! _dovecot_wait; then
		echo "dovecot_start: the server did not start; its log:" >&2
		tail -20 "$DOVECOT_DIR/dovecot.log" "$DOVECOT_DIR/stderr" >&2 2>/dev/null
		dovecot_kill
		return 1
	fi
}

dovecot_start() {
	if [ -n "$DOVECOT_PID" ]; then
		echo "dovecot_start: a server is already running (dovecot_stop first)" >&2
		return 1
	fi
	command -v dovecot >/dev/null || { echo "dovecot_start: dovecot is not installed" >&2; return 1; }
	_dovecot_opts="$*"
	DOVECOT_DIR=$(mktemp -d /tmp/triage-dovecot.XXXXXX) || return 1
	chmod 755 "$DOVECOT_DIR"
	DOVECOT_LOG="$DOVECOT_DIR/dovecot.log"
	DOVECOT_CA="$DOVECOT_DIR/ca.pem"
	export DOVECOT_DIR DOVECOT_LOG DOVECOT_CA IMAP_HOST IMAP_ALT_HOST DOVECOT_USER DOVECOT_PASSWORD
	at_exit "dovecot_kill; rm -rf '$DOVECOT_DIR'"
	mkdir -p "$DOVECOT_DIR/mail" && chmod 777 "$DOVECOT_DIR/mail"
	printf '%s:{PLAIN}%s\n' "$DOVECOT_USER" "$DOVECOT_PASSWORD" >"$DOVECOT_DIR/users"
	_dovecot_certs "$DOVECOT_DIR" || { echo "dovecot_start: openssl failed" >&2; return 1; }
	set -- $(_dovecot_free_ports)
	IMAP_PORT=$1 IMAPS_PORT=$2
	export IMAP_PORT IMAPS_PORT
	_dovecot_config || return 1
	_dovecot_launch
}

dovecot_stop() {
	[ -n "$DOVECOT_PID" ] || return 0
	kill -TERM "$DOVECOT_PID" 2>/dev/null
	wait "$DOVECOT_PID" 2>/dev/null
	# Its imap processes leave with the master; a straggler gets SIGKILL.
	kill -KILL "-$DOVECOT_PID" 2>/dev/null
	DOVECOT_PID=""
	return 0
}

dovecot_kill() {
	[ -n "$DOVECOT_PID" ] || return 0
	kill -KILL "-$DOVECOT_PID" 2>/dev/null
	wait "$DOVECOT_PID" 2>/dev/null
	# The killed master may linger as a zombie (where PID 1 does not reap),
	# and a new master would take its master.pid for a running server.
	rm -f "$DOVECOT_DIR/run/master.pid"
	DOVECOT_PID=""
	return 0
}

dovecot_restart() {
	dovecot_stop
	_dovecot_launch
}

dovecot_maildir() {
	echo "$DOVECOT_DIR/mail/${1:-$DOVECOT_USER}/Maildir"
}

dovecot_set_uidvalidity() {
	doveadm -c "$DOVECOT_DIR/dovecot.conf" mailbox update -u "${3:-$DOVECOT_USER}" \
		--uid-validity "$2" "$1"
}

dovecot_uidvalidity() {
	doveadm -c "$DOVECOT_DIR/dovecot.conf" -f flow mailbox status -u "${2:-$DOVECOT_USER}" \
		uidvalidity "$1" | sed 's/.*uidvalidity=//'
}
