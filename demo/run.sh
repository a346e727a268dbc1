#!/bin/sh
# make demo: triage's main job on a throwaway mailbox.
#
# Starts a private Dovecot and an SMTP sink on 127.0.0.1 (tests/dovecot.sh,
# tests/smtp_sink.sh), drops 7 messages per category of the French development set
# (tests/data/fr-dev: mail the default model never saw) into INBOX, runs
# `triage run --once` with demo/triage.yaml.in, then shows what happened: the
# folders a volunteer would see, how many messages landed where they belong,
# the forward the press contact received. Everything lives in a temporary
# directory, removed at the end with the servers (DEMO_KEEP=1 keeps it).
#
# env: BUILD (absolute build directory, set by the Makefile)
set -u
: "${BUILD:?BUILD must be set (absolute build directory)}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
TRIAGE="$BUILD/triage"
MODEL="$BUILD/fr.model"
PER_CATEGORY=${DEMO_PER_CATEGORY:-7}

TMP=$(mktemp -d /tmp/triage-demo.XXXXXX)
chmod 755 "$TMP"
_cleanups=""
at_exit() { _cleanups="$1; $_cleanups"; }
if [ -n "${DEMO_KEEP:-}" ]; then
	trap 'eval "$_cleanups"; echo "kept: $TMP"' EXIT
else
	trap 'eval "$_cleanups"; rm -rf "$TMP"' EXIT
fi
. "$TOP/tests/dovecot.sh"
. "$TOP/tests/smtp_sink.sh"

die() { echo "make demo: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

[ -x "$TRIAGE" ] || die "$TRIAGE is missing (make builds it)"
[ -f "$MODEL" ] || die "$MODEL is missing: the default model is built from corpus/fr by make"
[ -d "$TOP/tests/data/fr-dev" ] || die "tests/data/fr-dev is missing"

step "A throwaway IMAP server (Dovecot) and an SMTP sink on 127.0.0.1"
dovecot_start || die "cannot start Dovecot (see above)"
smtp_sink_start || die "cannot start the SMTP sink (see above)"
echo "IMAP: 127.0.0.1:$IMAP_PORT (STARTTLS), mailbox $DOVECOT_USER"
echo "SMTP: 127.0.0.1:$SMTP_STARTTLS_PORT (STARTTLS), keeps what it receives in $SMTP_SINK_DIR"
imap() { /usr/bin/python3 "$TOP/tests/imap_util.py" --port "$IMAP_PORT" "$@"; }

step "$((PER_CATEGORY * 7)) messages arrive in INBOX"
: >"$TMP/files"
: >"$TMP/truth"
: >"$TMP/idfile"
for c in Adhesion Evenement Benevolat Partenariat Presse QuestionGenerale Autre; do
	ls "$TOP/tests/data/fr-dev/$c"/*.eml | head -n "$PER_CATEGORY" | while read -r f; do
		echo "$f" >>"$TMP/files"
		id=$(grep -m1 -i '^Message-ID:' "$f" | tr -d '\r' | sed 's/^[^:]*: *//')
		printf '%s\t%s\n' "$id" "$c" >>"$TMP/truth"
		printf '%s\t%s\n' "$id" "$f" >>"$TMP/idfile"
	done
done
# shellcheck disable=SC2046 # file names have no spaces
imap append INBOX $(cat "$TMP/files") >/dev/null || die "cannot append the sample mail"
imap folders | awk -F '\t' '{ printf "  %-22s %s\n", $1, $3 }'

step "triage run --once"
printf '%s' "$DOVECOT_PASSWORD" >"$TMP/imap.password"
chmod 600 "$TMP/imap.password"
sed -e "s|@IMAP_PORT@|$IMAP_PORT|" -e "s|@SMTP_PORT@|$SMTP_STARTTLS_PORT|" \
	-e "s|@CA@|$DOVECOT_CA|" -e "s|@SMTP_CA@|$SMTP_CA|" -e "s|@MODEL@|$MODEL|" \
	-e "s|@DIR@|$TMP|g" "$TOP/demo/triage.yaml.in" >"$TMP/triage.yaml"
"$TRIAGE" check-config "$TMP/triage.yaml" || die "the demo configuration is refused"
echo
"$TRIAGE" run --config "$TMP/triage.yaml" --once --log-stderr 2>"$TMP/triage.log"
rc=$?
sed -n '1,12p' "$TMP/triage.log"
n=$(wc -l <"$TMP/triage.log")
[ "$n" -gt 14 ] && echo "  ... ($((n - 14)) more lines)" && tail -n 2 "$TMP/triage.log"
[ "$rc" -eq 0 ] || die "triage exited with status $rc"

step "What the volunteers see"
imap folders | cut -f1 | while read -r folder; do
	imap messages "$folder" | sed "s|^|$folder\t|"
done >"$TMP/placed"
/usr/bin/python3 - "$TMP/truth" "$TMP/triage.yaml" "$TMP/placed" "$TMP/routes" <<'PY' || die "a message is missing"
import re, sys
truth = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8"))
routes, cat = {}, None
for line in open(sys.argv[2], encoding="utf-8"):
    m = re.match(r"^  ([A-Za-z]+):", line)
    if m:
        cat = m.group(1)
    m = re.match(r'^    folder: "?([^"#]*?)"?\s*(#.*)?$', line)
    if m and cat:
        routes[m.group(1)] = cat
with open(sys.argv[4], "w", encoding="utf-8") as out:
    for f, c in routes.items():
        out.write("%s\t%s\n" % (f, c))
folders = {}
for line in open(sys.argv[3], encoding="utf-8"):
    folder, uid, flags, mid, subject = line.rstrip("\n").split("\t", 4)
    folders.setdefault(folder, []).append((mid, flags, subject))
print("  %-20s %8s  %-12s  %s" % ("folder", "messages", "right folder", "for example"))
filed = good = 0
for folder in sorted(folders, key=lambda f: (f == "À vérifier", f)):
    msgs = folders[folder]
    right = "-"
    if folder in routes:
        ok = sum(truth.get(mid) == routes[folder] for mid, _, _ in msgs)
        filed += len(msgs)
        good += ok
        right = "%d/%d" % (ok, len(msgs))
    flagged = sum("Flagged" in f for _, f, _ in msgs)
    note = " (%d flagged)" % flagged if flagged else ""
    print("  %-20s %8d  %-12s  %s%s" % (folder, len(msgs), right, msgs[0][2][:44], note))
review = len(folders.get("À vérifier", []))
print("\n  %d filed, %d of them in the right folder (%.0f%%); %d left for a volunteer in \"À vérifier\""
      % (filed, good, 100.0 * good / max(filed, 1), review))
total = sum(len(v) for v in folders.values())
if total != len(truth):
    print("  %d messages in the mailbox, %d arrived: something is wrong" % (total, len(truth)))
    sys.exit(1)
PY

step "Why: three decisions and the words that weighed most"
# The same model and code as the daemon, on the files of the first message
# of three folders (triage classify --explain).
for folder in "Adhésions" "Événements" "À vérifier"; do
	id=$(awk -F '\t' -v f="$folder" '$1 == f { print $4; exit }' "$TMP/placed")
	file=$(awk -F '\t' -v i="$id" '$1 == i { print $2; exit }' "$TMP/idfile")
	[ -n "$file" ] || continue
	subject=$(awk -F '\t' -v f="$folder" '$1 == f { print $5; exit }' "$TMP/placed")
	echo "  \"$subject\" -> $folder"
	"$TRIAGE" classify --model "$MODEL" --explain "$file" |
		awk -F '\t' '{ printf "    %s, confidence %s (%s); reasons: %s\n", $2, $3, $4 == "file" ? "filed" : "to review", $5 }'
done

step "The copy the press contact received (from the SMTP sink)"
first=$(ls "$SMTP_SINK_DIR"/*.eml 2>/dev/null | head -1)
if [ -n "$first" ]; then
	echo "copies sent: $(smtp_sink_count); the first one:"
	/usr/bin/python3 - "$first" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
for h in ("From", "To", "Subject"):
    print("  %s: %s" % (h, m[h]))
body = m.get_body(("plain",))
print("")
for line in body.get_content().splitlines()[:8]:
    print("  " + line)
for part in m.iter_attachments():
    print("  [joint : %s]" % part.get_content_type())
PY
else
	echo "no copy was sent (no message went to Presse)"
fi

step "A volunteer files a message from \"À vérifier\" by hand; triage learns from it"
id=$(awk -F '\t' '$1 == "À vérifier" { print $4; exit }' "$TMP/placed")
if [ -n "$id" ]; then
	c=$(awk -F '\t' -v i="$id" '$1 == i { print $2; exit }' "$TMP/truth")
	dest=$(awk -F '\t' -v c="$c" '$2 == c { print $1; exit }' "$TMP/routes" 2>/dev/null)
	[ -n "$dest" ] || dest="Questions"
	imap move "À vérifier" "$id" "$dest" || die "cannot move a message"
	echo "moved to \"$dest\" in the mail client; the next pass (a second run finds no new mail):"
fi
"$TRIAGE" run --config "$TMP/triage.yaml" --once --log-stderr 2>&1 | grep -v 'starting\|connected'
echo
echo "triage stats (what the maintainer reads before retraining):"
"$TRIAGE" stats --config "$TMP/triage.yaml" | sed -n '/^per category/,$p' | sed 's/^/  /'
echo "kept for retraining (redacted): $(find "$TMP/state/corrections" -name '*.eml' 2>/dev/null | wc -l) example(s)"
echo
echo "Done: the servers are stopped and $TMP is removed (DEMO_KEEP=1 keeps it)."
