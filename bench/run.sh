#!/bin/sh
# Runs every benchmark under bench/ (bench/*.bench.sh), each printing its own
# table. Env: BUILD (absolute build dir), SHARED (../shared).
set -u
: "${BUILD:?}" "${SHARED:=$(cd "$(dirname "$0")/../.." && pwd)/shared}"
export BUILD SHARED
status=0
for b in "$(dirname "$0")"/*.bench.sh; do
	echo "== $(basename "$b" .bench.sh)"
	"$b" || status=1
	echo
done
exit $status
