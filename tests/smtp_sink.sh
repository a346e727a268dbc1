# An SMTP sink for shell tests: POSIX sh functions, sourced after tests/lib.sh
# (they use its $TMP, $TOP and at_exit). The sink itself is tests/smtp_sink.py
# (aiosmtpd, run with /usr/bin/python3); its header says what it does.
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$TOP/tests/smtp_sink.sh"
#   smtp_sink_start --user alice --password secret
#   ... send to 127.0.0.1:$SMTP_PORT (plain), $SMTP_STARTTLS_PORT, $SMTPS_PORT,
#       trusting $SMTP_CA; read $SMTP_SINK_DIR/0001.eml and 0001.env ...
#   smtp_sink_fail rcpt 451      # every RCPT answered 451 from now on
#   smtp_sink_fail rcpt          # back to normal
#   smtp_sink_stop               # also done at exit
#
# smtp_sink_start [--cert PEM --key PEM] [smtp_sink.py options...]
#   Starts plain, STARTTLS, implicit-TLS and silent ("hang") listeners on free
#   loopback ports, with the test CA's server certificate (subjectAltName
#   IP:127.0.0.1 and DNS:localhost) unless --cert/--key are given; other
#   options (--user, --password, --auth-mechs, --auth-required,
#   --auth-plaintext, --max-size) go to smtp_sink.py. Returns once the sink
#   listens, having exported SMTP_PORT, SMTP_STARTTLS_PORT, SMTPS_PORT,
#   SMTP_HANG_PORT, SMTP_CA (the CA's PEM), SMTP_SINK_DIR (empty at start) and
#   SMTP_SINK_PID. One sink at a time: a second start stops the first.
# smtp_sink_stop             stops it (SIGTERM, then SIGKILL after 5 s)
# smtp_sink_count            prints how many messages it has accepted
# smtp_sink_fail WHAT [CODE [N]]
#                            WHAT is mail, rcpt or data: answer CODE to it (to
#                            the Nth RCPT only with N); without CODE, stop failing
# smtp_sink_cert NAME SAN    issues $TMP/smtp-tls/NAME.pem and NAME.key signed by
#                            the test CA, e.g. smtp_sink_cert other DNS:other.test

SMTP_SINK_PY="$TOP/tests/smtp_sink.py"
SMTP_TLS_DIR="$TMP/smtp-tls"
SMTP_SINK_PID=""
_smtp_sink_n=0

# Whether process $1 runs (kill -0 also succeeds on a zombie not yet waited for).
_smtp_sink_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	read -r _p _c _st _rest <"/proc/$1/stat" 2>/dev/null || return 1
	[ "$_st" != Z ]
}

# The test CA, made once per test script (EC keys: fast to generate).
_smtp_sink_ca() {
	[ -f "$SMTP_TLS_DIR/ca.pem" ] && return 0
	mkdir -p "$SMTP_TLS_DIR" || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$SMTP_TLS_DIR/ca.key" -out "$SMTP_TLS_DIR/ca.pem" -days 2 \
		-subj "/CN=triage test CA" >/dev/null 2>&1 ||
		{ echo "smtp_sink: cannot make the test CA with openssl" >&2; return 1; }
}

smtp_sink_cert() {
	_smtp_sink_ca || return 1
	_d=$SMTP_TLS_DIR
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$_d/$1.key" -out "$_d/$1.csr" -subj "/CN=$1" >/dev/null 2>&1 &&
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" \
		>"$_d/$1.ext" &&
	openssl x509 -req -in "$_d/$1.csr" -CA "$_d/ca.pem" -CAkey "$_d/ca.key" \
		-CAcreateserial -out "$_d/$1.pem" -days 2 -extfile "$_d/$1.ext" >/dev/null 2>&1 ||
		{ echo "smtp_sink: cannot issue the certificate $1" >&2; return 1; }
}

smtp_sink_start() {
	[ -n "$SMTP_SINK_PID" ] && smtp_sink_stop
	_cert="" _key=""
	_args=""
	while [ $# -gt 0 ]; do
		case $1 in
		--cert) _cert=$2; shift 2 ;;
		--key) _key=$2; shift 2 ;;
		*) _args="$_args $(printf '%s' "$1" | sed "s/'/'\\\\''/g; s/^/'/; s/\$/'/")"; shift ;;
		esac
	done
	if [ -z "$_cert" ]; then
		if [ ! -f "$SMTP_TLS_DIR/server.pem" ]; then
			smtp_sink_cert server "IP:127.0.0.1,DNS:localhost" || return 1
		fi
		_cert=$SMTP_TLS_DIR/server.pem _key=$SMTP_TLS_DIR/server.key
	fi
	_smtp_sink_ca || return 1
	_smtp_sink_n=$((_smtp_sink_n + 1))
	SMTP_SINK_DIR=$TMP/smtp-sink.$_smtp_sink_n
	mkdir -p "$SMTP_SINK_DIR"
	_pf=$TMP/smtp-sink.$_smtp_sink_n.ports
	eval "set -- $_args"
	/usr/bin/python3 "$SMTP_SINK_PY" --dir "$SMTP_SINK_DIR" --plain 0 --starttls 0 --smtps 0 \
		--hang 0 --cert "$_cert" --key "$_key" --port-file "$_pf" "$@" \
		>/dev/null 2>"$TMP/smtp-sink.$_smtp_sink_n.log" &
	SMTP_SINK_PID=$!
	[ "$_smtp_sink_n" -eq 1 ] && at_exit smtp_sink_stop
	_i=0
	while [ ! -f "$_pf" ]; do
		if ! _smtp_sink_alive "$SMTP_SINK_PID" || [ $_i -ge 200 ]; then
			echo "smtp_sink: the sink did not start:" >&2
			sed 's/^/smtp_sink:   /' "$TMP/smtp-sink.$_smtp_sink_n.log" >&2
			smtp_sink_stop
			return 1
		fi
		sleep 0.05
		_i=$((_i + 1))
	done
	SMTP_PORT=$(awk '$1 == "plain" { print $2 }' "$_pf")
	SMTP_STARTTLS_PORT=$(awk '$1 == "starttls" { print $2 }' "$_pf")
	SMTPS_PORT=$(awk '$1 == "smtps" { print $2 }' "$_pf")
	SMTP_HANG_PORT=$(awk '$1 == "hang" { print $2 }' "$_pf")
	SMTP_CA=$SMTP_TLS_DIR/ca.pem
	export SMTP_PORT SMTP_STARTTLS_PORT SMTPS_PORT SMTP_HANG_PORT SMTP_CA SMTP_SINK_DIR SMTP_SINK_PID
}

smtp_sink_stop() {
	[ -n "$SMTP_SINK_PID" ] || return 0
	kill -TERM "$SMTP_SINK_PID" 2>/dev/null
	_i=0
	while _smtp_sink_alive "$SMTP_SINK_PID" && [ $_i -lt 100 ]; do
		sleep 0.05
		_i=$((_i + 1))
	done
	kill -KILL "$SMTP_SINK_PID" 2>/dev/null
	wait "$SMTP_SINK_PID" 2>/dev/null
	SMTP_SINK_PID=""
	return 0
}

smtp_sink_count() {
	ls "$SMTP_SINK_DIR" | grep -c '\.env$'
}

smtp_sink_fail() {
	case $1 in
	mail | rcpt | data) ;;
	*) echo "smtp_sink_fail: mail, rcpt or data, not '$1'" >&2; return 1 ;;
	esac
	if [ $# -ge 2 ]; then
		echo "$2 ${3:-}" >"$SMTP_SINK_DIR/fail-$1.tmp" && mv "$SMTP_SINK_DIR/fail-$1.tmp" "$SMTP_SINK_DIR/fail-$1"
	else
		rm -f "$SMTP_SINK_DIR/fail-$1"
	fi
}
