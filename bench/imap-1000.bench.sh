#!/bin/sh
# The daemon against its peer on a real IMAP server (issue 5, figures):
# 1,000 messages in INBOX of a loopback Dovecot, classified, keyworded and
# moved by one `triage run --once`; the same 1,000 moved by imapfilter with one
# simple rule (no classification: every message to one folder), in the same
# run; then triage's memory (RSS) while it waits in IDLE, after it has filed a
# batch of 1,000 with the default model.
#
# Both clients use a clear connection on 127.0.0.1 (what is measured is the
# work, not TLS). Times are the median of RUNS runs, each on fresh mail.
# env: BUILD (dir holding triage and fr.model), RUNS (3)
set -u
: "${BUILD:?}" "${RUNS:=3}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
TRIAGE="$BUILD/triage"
MODEL="$BUILD/fr.model"
N=1000

if [ ! -f "$MODEL" ]; then echo "skipped: $MODEL is absent (make builds it)"; exit 0; fi
if ! command -v dovecot >/dev/null; then echo "skipped: dovecot is not installed"; exit 0; fi
if ! command -v imapfilter >/dev/null; then
	echo "skipped: Debian's imapfilter is not installed (scripts/deps.sh bench installs it)"
	exit 0
fi

TMP=$(mktemp -d /tmp/triage-bench.XXXXXX)
chmod 755 "$TMP"
_cleanups=""
at_exit() { _cleanups="$1; $_cleanups"; }
trap 'eval "$_cleanups"; rm -rf "$TMP"' EXIT
. "$TOP/tests/dovecot.sh"
dovecot_start || { echo "failed: cannot start Dovecot"; exit 1; }
imap() { /usr/bin/python3 "$TOP/tests/imap_util.py" --port "$IMAP_PORT" "$@"; }
inbox_count() { imap folders | awk -F '\t' '$1 == "INBOX" { print $3 }'; }

find "$TOP/corpus/fr" "$TOP/tests/data/fr-dev" -name '*.eml' |
	awk -F / '{ print $NF "\t" $0 }' | sort | cut -f2 | head -n "$N" >"$TMP/files"
[ "$(wc -l <"$TMP/files")" -eq "$N" ] || { echo "failed: fewer than $N messages in corpus/fr and tests/data/fr-dev"; exit 1; }
fill() {  # N fresh messages in INBOX
	# shellcheck disable=SC2046 # no spaces in the corpus' file names
	imap append INBOX $(cat "$TMP/files") >/dev/null || { echo "failed: APPEND"; exit 1; }
}

printf '%s' "$DOVECOT_PASSWORD" >"$TMP/imap.password"
chmod 600 "$TMP/imap.password"
config() {  # config STATE_DIR
	cat <<YAML
imap:
  host: 127.0.0.1
  port: $IMAP_PORT
  tls: none
  username: $DOVECOT_USER
  password_file: $TMP/imap.password
classifier:
  model: $MODEL
state_dir: $1
backlog: all
routes:
  Adhesion: { folder: "Adhésions" }
  Evenement: { folder: "Événements" }
  Benevolat: { folder: "Bénévolat" }
  Partenariat: { folder: "Partenariats" }
  Presse: { folder: "Presse" }
  QuestionGenerale: { folder: "Questions" }
  Autre: { folder: "Divers" }
YAML
}

cat >"$TMP/imapfilter.lua" <<LUA
options.timeout = 60
options.subscribe = true
options.starttls = false  -- a clear connection, as triage's (tls: none)
account = IMAP {
    server = '127.0.0.1',
    port = $IMAP_PORT,
    username = '$DOVECOT_USER',
    password = '$DOVECOT_PASSWORD',
}
account:create_mailbox('Sorted')
account.INBOX:select_all():move_messages(account['Sorted'])
LUA

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
: >"$TMP/t.triage"
: >"$TMP/t.peer"
for i in $(seq "$RUNS"); do
	fill
	config "$TMP/state.$i" >"$TMP/triage.$i.yaml"
	/usr/bin/time -f "%e %M" -o "$TMP/t" "$TRIAGE" run --config "$TMP/triage.$i.yaml" --once \
		--log-stderr 2>"$TMP/triage.log" || { echo "failed: triage run"; tail -3 "$TMP/triage.log"; exit 1; }
	left=$(inbox_count)
	[ "$left" = 0 ] || { echo "failed: triage left $left messages in INBOX"; exit 1; }
	filed=$(grep -c ' uid=' "$TMP/triage.log")
	[ "$filed" -eq "$N" ] || { echo "failed: triage logged $filed decisions, not $N"; exit 1; }
	cat "$TMP/t" >>"$TMP/t.triage"

	fill
	HOME="$TMP" /usr/bin/time -f "%e %M" -o "$TMP/t" imapfilter -c "$TMP/imapfilter.lua" \
		>"$TMP/peer.log" 2>&1 || { echo "failed: imapfilter"; tail -3 "$TMP/peer.log"; exit 1; }
	left=$(inbox_count)
	[ "$left" = 0 ] || { echo "failed: imapfilter left $left messages in INBOX"; exit 1; }
	cat "$TMP/t" >>"$TMP/t.peer"
done
t_triage=$(cut -d' ' -f1 "$TMP/t.triage" | median)
m_triage=$(cut -d' ' -f2 "$TMP/t.triage" | sort -n | tail -1)
t_peer=$(cut -d' ' -f1 "$TMP/t.peer" | median)
m_peer=$(cut -d' ' -f2 "$TMP/t.peer" | sort -n | tail -1)

# Memory while waiting: the daemon files a fresh batch, then waits in IDLE.
fill
config "$TMP/state.daemon" >"$TMP/daemon.yaml"
"$TRIAGE" run --config "$TMP/daemon.yaml" --log-stderr 2>"$TMP/daemon.log" &
pid=$!
at_exit "kill $pid 2>/dev/null"
i=0
while [ "$(inbox_count)" != 0 ] && [ $i -lt 120 ]; do sleep 0.5; i=$((i + 1)); done
sleep 2
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
kill "$pid"
wait "$pid" 2>/dev/null
[ -n "$rss" ] || { echo "failed: the daemon died"; tail -3 "$TMP/daemon.log"; exit 1; }

verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "met" : "NOT met" }'; }
printf '%-44s %10s %12s  %s\n' "$N messages, loopback Dovecot ($RUNS runs)" "seconds" "peak RSS" "target"
printf '%-44s %10s %9s MB  %s\n' "triage run --once (classify, keyword, move)" "$t_triage" \
	"$(awk -v k="$m_triage" 'BEGIN { printf "%.1f", k / 1024 }')" "<= 2 s: $(verdict "$t_triage" 2)"
printf '%-44s %10s %9s MB  %s\n' "imapfilter, one rule (move all)" "$t_peer" \
	"$(awk -v k="$m_peer" 'BEGIN { printf "%.1f", k / 1024 }')" "peer"
printf '%-44s %10s %9s MB  %s\n' "triage waiting in IDLE after 1,000 (RSS)" "-" \
	"$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "<= 32 MB: $(verdict "$rss" 32768)"
printf '%-44s %10s %9s MB\n' "  (its high-water mark while filing)" "-" \
	"$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
