#!/bin/sh
# The systemd units: `systemd-analyze verify` clean, and an exposure of 2.0 or
# lower by `systemd-analyze security --offline=true`. Units are the *.in files
# of systemd/ (@BINDIR@ replaced) and the other unit files there, as installed.
# Then triage-retrain.service runs as triage.service does (same dynamic user,
# state, configuration, at least the same sandbox), and its timer fires on
# 1 January and 1 July.
. "$(dirname "$0")/../lib.sh"
command -v systemd-analyze >/dev/null || skip_all "systemd-analyze is not installed"
mkdir -p "$TMP/units"
for in in "$TOP"/systemd/*.in; do
	u=$(basename "$in" .in)
	# The binary the unit names must exist for verify: point it at this build.
	sed "s|@BINDIR@|$BUILD|g" "$in" >"$TMP/units/$u"
done
for f in "$TOP"/systemd/*.service "$TOP"/systemd/*.timer "$TOP"/systemd/*.socket \
	 "$TOP"/systemd/*.path; do
	[ -f "$f" ] && cp "$f" "$TMP/units/"
done
units=$(ls "$TMP/units" | wc -l)
plan $((units * 2 + 1 + 9))
grep -q '@[A-Z]*@' "$TMP"/units/* && not_ok "placeholders replaced" || ok "placeholders replaced"
# verify looks the Documentation= man pages up: show it the project's.
mkdir -p "$TMP/man/man5" "$TMP/man/man8"
cp "$TOP"/docs/*.5 "$TMP/man/man5/" 2>/dev/null
cp "$TOP"/docs/*.8 "$TMP/man/man8/" 2>/dev/null
export MANPATH="$TMP/man:"
for f in "$TMP"/units/*; do
	u=$(basename "$f")
	out=$(cd "$TMP/units" && systemd-analyze verify "./$u" 2>&1)
	is "systemd-analyze verify $u is clean" "$out" ""
	case "$u" in
	*.service)
		line=$(systemd-analyze security --offline=true "$f" 2>&1 | grep 'Overall exposure level')
		level=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9.]*\) .*/\1/p')
		check "exposure of $u is at most 2.0 (${level:-?})" awk -v l="${level:-99}" 'BEGIN { exit !(l <= 2.0) }'
		;;
	*)
		ok "$u is not a service (no exposure to measure)"
		;;
	esac
done

# ---- triage-retrain.service and its timer -------------------------------------
d=$TMP/units/triage.service
r=$TMP/units/triage-retrain.service
t=$TMP/units/triage-retrain.timer
# The values of KEY= in a unit, one a line, in order.
val() { sed -n "s/^$2=//p" "$1"; }
is "retrain is a oneshot" "$(val "$r" Type)" "oneshot"
is "retrain runs triage retrain on the installed configuration" \
	"$(val "$r" ExecStart)" "$BUILD/triage retrain --config /etc/triage/triage.yaml"
# DynamicUser= names the user after the unit unless User= is given.
duser=$(val "$d" User); duser=${duser:-triage}
is "retrain runs as the dynamic user of triage.service ($duser)" \
	"$(val "$r" DynamicUser) $(val "$r" User)" "$(val "$d" DynamicUser) $duser"
same=ok
for k in StateDirectory StateDirectoryMode ConfigurationDirectory LoadCredential UMask; do
	[ "$(val "$r" $k)" = "$(val "$d" $k)" ] || { same=$k; break; }
done
is "retrain has the state, configuration and credentials of triage.service" "$same" ok
# Every sandbox line of triage.service is in the retrain unit too (the address
# families may only be fewer: retrain has no network).
missing=$(sed -n '/^# Sandbox/,/^\[/p' "$d" | grep '^[A-Z]' | grep -v '^RestrictAddressFamilies=' |
	while IFS= read -r l; do grep -qFx -- "$l" "$r" || printf '%s; ' "$l"; done)
is "retrain has at least the sandbox of triage.service" "$missing" ""
like "retrain has no network" "$(val "$r" PrivateNetwork) $(val "$r" RestrictAddressFamilies)" '^yes AF_UNIX$'
next=$(systemd-analyze calendar --iterations=4 "$(val "$t" OnCalendar)" 2>&1 |
	sed -n 's/.*\(Next elapse\|Iter\. #[0-9]\): [A-Za-z]* [0-9]*-\([0-9-]*\) \([0-9:]*\).*/\2 \3/p' | sort -u | tr '\n' ' ')
is "the timer fires on 1 January and 1 July at 03:00" "$next" "01-01 03:00:00 07-01 03:00:00 "
is "a run missed while the machine was off is made up" "$(val "$t" Persistent)" "true"
# The timer starts the unit of its name (no Unit=): it must be one of ours.
unit=$(val "$t" Unit); unit=${unit:-triage-retrain.service}
check "the timer starts $unit, a unit of the project" test -f "$TMP/units/$unit"
finish
