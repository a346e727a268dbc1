#!/bin/sh
# triage run as a service: sd_notify (READY, STATUS, WATCHDOG, STOPPING), IDLE
# (a message appended while triage waits is filed within 2 s), SIGHUP (a
# broken configuration is refused and the old one kept; a good one applied),
# the server killed and restarted mid-run (reconnection without restarting
# the process), polling without IDLE, SIGTERM (exit 0 within 5 s).
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/dovecot.sh"
. "$TOP/tests/triage_env.sh"
[ -f "$MODEL" ] || skip_all "$MODEL is absent"
command -v dovecot >/dev/null || skip_all "dovecot is not installed"
plan 17

dovecot_start || exit 1
write_config "$TMP/t.yaml"
cp "$TMP/t.yaml" "$TMP/good.yaml"

# A notify socket that records what triage says.
/usr/bin/python3 - "$TMP/notify.sock" "$TMP/notify.log" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode() + "\n")
PY
notify_pid=$!
at_exit "kill $notify_pid 2>/dev/null"
i=0
while [ ! -S "$TMP/notify.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=1500000 \
	"$TRIAGE" run --config "$TMP/t.yaml" --log-stderr >"$TMP/run.log" 2>&1 &
pid=$!
at_exit "kill -9 $pid 2>/dev/null"

wait_for() {  # wait_for SECONDS COMMAND...: 0 once COMMAND succeeds
	_end=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
	shift
	while [ "$(( $(date +%s%N) / 1000000 ))" -lt "$_end" ]; do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
inbox() { imap folders | awk -F '\t' '$1 == "INBOX" { print $3 }'; }
inbox_empty() { [ "$(inbox)" = 0 ]; }
in_folder() { imap count "$1" "$2" 2>/dev/null | grep -q '^1$'; }

check "READY=1 is sent once started" wait_for 10 grep -q '^READY=1' "$TMP/notify.log"
check "STATUS= tells what it does" wait_for 5 grep -q '^STATUS=waiting, [0-9]* messages filed' "$TMP/notify.log"
sleep 1  # in IDLE now
imap append INBOX "$TOP/tests/data/fr-dev/Evenement/011.eml" >/dev/null
start=$(date +%s%N)
wait_for 5 inbox_empty
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "a message appended during IDLE is filed within 2 s (${took} ms)" [ "$took" -le 2000 ]
check "WATCHDOG=1 pings are sent" wait_for 5 grep -q '^WATCHDOG=1' "$TMP/notify.log"

# SIGHUP with a broken file: refused, the old configuration goes on.
printf 'imap:\n  host: [unclosed\n' >"$TMP/t.yaml"
kill -HUP $pid
check "a broken configuration is refused on SIGHUP" wait_for 5 grep -q 'the new configuration is invalid: keeping the one in use' "$TMP/run.log"
check "... with its errors as FILE:LINE:COL" grep -q 't.yaml:[0-9]*:[0-9]*:' "$TMP/run.log"
imap append INBOX "$TOP/tests/data/fr-dev/Evenement/012.eml" >/dev/null
check "... and mail is still filed with the old one" wait_for 5 inbox_empty
# SIGHUP with a good file that renames the Autre folder.
sed 's|folder: "Autre"|folder: "Divers"|' "$TMP/good.yaml" >"$TMP/t.yaml"
kill -HUP $pid
check "a good configuration is loaded on SIGHUP" wait_for 5 grep -q 'configuration and model reloaded' "$TMP/run.log"
# (a message the model is sure of: one it learnt from)
imap append INBOX "$TOP/corpus/fr/Autre/010.eml" >/dev/null
check "the new route is used" wait_for 10 in_folder Divers "$(grep -m1 -i '^Message-ID:' "$TOP/corpus/fr/Autre/010.eml" | sed 's/^[^:]*: *//')"

# The server dies and comes back: triage reconnects without restarting.
dovecot_kill
sleep 2
check "triage keeps running while the server is down" kill -0 $pid
dovecot_restart || exit 1
imap append INBOX "$TOP/tests/data/fr-dev/Presse/013.eml" >/dev/null
check "after the restart, new mail is filed again" wait_for 30 inbox_empty
check "... by the same process" kill -0 $pid
check "... which logged the reconnection" grep -q 'connecting again in' "$TMP/run.log"

# Without IDLE: a poll every poll_interval (10 s here).
sed 's|^  poll_interval: 10|  poll_interval: 10\n  idle: false|' "$TMP/good.yaml" >"$TMP/t.yaml"
kill -HUP $pid
wait_for 5 sh -c "grep -c 'configuration and model reloaded' '$TMP/run.log' | grep -q 2"
imap append INBOX "$TOP/tests/data/fr-dev/Benevolat/014.eml" >/dev/null
check "without IDLE, a poll files it within the poll interval" wait_for 15 inbox_empty

# SIGTERM: finish and exit 0 within 5 s.
kill -TERM $pid
start=$(date +%s)
wait $pid
rc=$?
is "SIGTERM: exit 0" "$rc" 0
check "... within 5 s" [ $(( $(date +%s) - start )) -le 5 ]
check "STOPPING=1 is sent" grep -q '^STOPPING=1' "$TMP/notify.log"
finish
