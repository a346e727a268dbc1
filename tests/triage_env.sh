# Helpers for the daemon's integration tests (POSIX sh), sourced after
# tests/lib.sh and tests/dovecot.sh (and tests/smtp_sink.sh when forwarding).
#
# write_config FILE [EXTRA]   a triage.yaml for the running Dovecot: STARTTLS
#     with the test CA, the default user, state in $TMP/state, the default
#     model, backlog: all, routes for the seven categories (folders with
#     accents, Presse tagged), an "urgent" rule; EXTRA (YAML text) is appended
#     at the top level (e.g. an smtp section).
# imap ARGS...                tests/imap_util.py on the running Dovecot
# seed FOLDER N [CATEGORY...] appends N messages of tests/data/fr-dev (taken in
#     turn from the given categories, all seven by default) to FOLDER; prints
#     nothing; sets SEEDED to the list of files appended
# total_messages              every message in every folder
# triage_once CONFIG [ARGS]   one `triage run --once`, log in $TMP/triage.log

IMAP_UTIL="/usr/bin/python3 $TOP/tests/imap_util.py"
MODEL="$BUILD/fr.model"

imap() { $IMAP_UTIL --port "$IMAP_PORT" "$@"; }

write_config() {
	printf '%s' "$DOVECOT_PASSWORD" >"$TMP/imap.password"
	chmod 600 "$TMP/imap.password"
	cat >"$1" <<YAML
imap:
  host: 127.0.0.1
  port: $IMAP_PORT
  tls: starttls
  ca_file: $DOVECOT_CA
  username: $DOVECOT_USER
  password_file: $TMP/imap.password
  poll_interval: 10
classifier:
  model: $MODEL
state_dir: $TMP/state
backlog: all
review_folder: "À vérifier"
routes:
  Adhesion:
    folder: "Adhésion"
  Evenement:
    folder: "Événement"
  Benevolat:
    folder: "Bénévolat"
  Partenariat:
    folder: "Partenariat"
  Presse:
    folder: "Presse"
    subject_tag: "[Presse]"
  QuestionGenerale:
    folder: "Question générale"
  Autre:
    folder: "Autre"
rules:
  - name: urgent
    subject: '(?i)\burgent'
    flag: true
${2:-}
YAML
}

seed() {
	_folder=$1 _count=$2
	shift 2
	[ $# -gt 0 ] || set -- Adhesion Evenement Benevolat Partenariat Presse QuestionGenerale Autre
	SEEDED=""
	_i=0
	while [ "$_i" -lt "$_count" ]; do
		for _c in "$@"; do
			[ "$_i" -lt "$_count" ] || break
			_k=$(( (_i / $#) % 40 + 1 ))
			_f=$(printf '%s/tests/data/fr-dev/%s/%03d.eml' "$TOP" "$_c" "$_k")
			imap append "$_folder" "$_f" >/dev/null || return 1
			SEEDED="$SEEDED $_f"
			_i=$((_i + 1))
		done
	done
}

total_messages() { imap folders | awk -F '\t' '{ s += $3 } END { print s + 0 }'; }

triage_once() {
	_cfg=$1
	shift
	"$TRIAGE" run --config "$_cfg" --once --log-stderr "$@" >>"$TMP/triage.log" 2>&1
}
