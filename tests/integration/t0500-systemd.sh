#!/bin/sh
# The systemd units: `systemd-analyze verify` clean, and an exposure of 2.0 or
# lower by `systemd-analyze security --offline=true`.
. "$(dirname "$0")/../lib.sh"
command -v systemd-analyze >/dev/null || skip_all "systemd-analyze is not installed"
units=$(ls "$TOP"/systemd/*.in | wc -l)
plan $((units * 2 + 1))
mkdir -p "$TMP/units"
for in in "$TOP"/systemd/*.in; do
	u=$(basename "$in" .in)
	# The binary the unit names must exist for verify: point it at this build.
	sed "s|@BINDIR@|$BUILD|g" "$in" >"$TMP/units/$u"
done
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
finish
