#!/bin/sh
# Install the Debian packages triage needs, only those that are missing.
# Called by `make`, `make check` and `make demo`; safe to run again.
# `apt-get update` runs only when something is missing.
#
# usage: scripts/deps.sh [build|check|bench|all]   (default: check)
set -eu

build="gcc make pkg-config libc6-dev
 libetpan-dev libcurl4-gnutls-dev libgnutls28-dev libpcre2-dev libyaml-dev
 libstemmer-dev libsqlite3-dev libxml2-dev libutf8proc-dev zlib1g-dev liburing-dev gettext"
# Tests: cmocka, clang for the libFuzzer targets and sanitizer runtimes, a real IMAP
# server, an SMTP sink, openssl for test certificates, systemd-analyze for the unit.
check="libcmocka-dev clang libclang-rt-14-dev dovecot-imapd python3-aiosmtpd openssl
 systemd procps locales"
# Benchmarks: the peers (scikit-learn, imapfilter) and /usr/bin/time for peak memory.
bench="python3-sklearn imapfilter time"

case "${1:-check}" in
build) want="$build" ;;
check) want="$build $check" ;;
bench|all) want="$build $check $bench" ;;
*) echo "usage: $0 [build|check|bench|all]" >&2; exit 64 ;;
esac

# The tests of the French messages need a French locale, which Debian's
# `locales` package can build but does not by default.
want_fr=""
case "${1:-check}" in check|bench|all) want_fr=1 ;; esac
fr_missing() {
	[ -n "$want_fr" ] && ! locale -a 2>/dev/null | grep -qix 'fr_FR\.utf-\?8'
}
make_fr_locale() {
	if [ "$(id -u)" != 0 ]; then
		echo "triage: no fr_FR.UTF-8 locale (the French tests will be skipped);" >&2
		echo "triage: as root: localedef -i fr_FR -c -f UTF-8 fr_FR.UTF-8" >&2
		return 0
	fi
	echo "triage: generating the fr_FR.UTF-8 locale" >&2
	localedef -i fr_FR -c -f UTF-8 fr_FR.UTF-8
}

missing=""
for p in $want; do
	s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$s" in ii*) ;; *) missing="$missing $p" ;; esac
done
if [ -z "$missing" ]; then
	if fr_missing; then make_fr_locale; fi
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "triage: missing Debian packages:$missing" >&2
	echo "triage: run as root, or: sudo apt-get install$missing" >&2
	exit 69
fi
echo "triage: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
# dovecot-imapd's postinst wants to start the service; a policy-rc.d keeps it from
# running a system-wide server (tests start their own on a private config).
rc=/usr/sbin/policy-rc.d
if [ ! -e "$rc" ]; then
	printf '#!/bin/sh\nexit 101\n' > "$rc"; chmod 755 "$rc"; trap 'rm -f "$rc"' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >&2
if fr_missing; then make_fr_locale; fi
