# Shared helpers for the shell tests (TAP output). Source it, then call
# plan N, ok/not_ok, is, like, skip_all, and finish.
# env: BUILD (absolute build dir), SHARED (../shared), set by the Makefile.
: "${BUILD:?BUILD must be set (absolute build directory)}"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
TRIAGE="$BUILD/triage"
_n=0
_failed=0
TMP=$(mktemp -d /tmp/triage-test.XXXXXX)
chmod 755 "$TMP"
_cleanups=""
at_exit() { _cleanups="$1; $_cleanups"; }
trap 'eval "$_cleanups"; rm -rf "$TMP"' EXIT

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $1"; echo "ok 1 # SKIP $1"; exit 0; }
ok() { _n=$((_n + 1)); echo "ok $_n - $1"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $1"; }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# is DESCRIPTION GOT EXPECTED
is() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   got:      '$2'"; echo "#   expected: '$3'"; fi
}
# like DESCRIPTION TEXT PATTERN (grep -E)
like() {
	if printf '%s\n' "$2" | grep -qE -- "$3"; then ok "$1"; else
		not_ok "$1"; echo "#   '$2'" | head -5; echo "#   does not match: '$3'"; fi
}
finish() { [ "$_failed" -eq 0 ]; exit $?; }
