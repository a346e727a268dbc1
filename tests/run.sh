#!/bin/sh
# Runs test programs that speak TAP ("ok N - name", "not ok N - name",
# "ok N # SKIP why", "1..N") and prints a summary whose last line is
# "N passed, N failed". Each program's whole output goes to $BUILD/test-logs/.
#
# usage: tests/run.sh PROGRAM...     (env: BUILD, SHARED, TEST_TIMEOUT seconds)
set -u
: "${BUILD:=build}"
: "${TEST_TIMEOUT:=1800}"
export BUILD SHARED
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1:exitcode=86}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=87}"
logs="$BUILD/test-logs"
mkdir -p "$logs"

pass=0 fail=0 skip=0
failed_names="" skipped_lines=""
for t in "$@"; do
	name=$(echo "$t" | sed "s|^$BUILD/||; s|/|_|g")
	log="$logs/$name.log"
	start=$(date +%s)
	timeout -k 10 "$TEST_TIMEOUT" "$t" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	# A "# SKIP" directive makes a result a skip, after "ok" or "not ok" (cmocka
	# writes "not ok N # SKIP" for skipped tests).
	p=$(grep -cE '^ok [0-9]+' "$log" | head -1)
	s=$(grep -ciE '^(not )?ok [0-9]+.*# *skip' "$log" | head -1)
	sp=$(grep -ciE '^ok [0-9]+.*# *skip' "$log" | head -1)
	f=$(grep -cE '^not ok [0-9]+' "$log" | head -1)
	p=$((p - sp))
	f=$((f - (s - sp)))
	status="ok"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		status="FAILED (exit $rc)"
		[ "$rc" -eq 124 ] && status="FAILED (timeout after ${TEST_TIMEOUT}s)"
	elif [ "$f" -gt 0 ]; then
		status="FAILED"
	elif [ "$p" -eq 0 ] && [ "$s" -eq 0 ]; then
		f=1
		status="FAILED (no TAP result)"
	fi
	[ "$s" -gt 0 ] && skipped_lines="$skipped_lines$(grep -iE '^(not )?ok [0-9]+.*# *skip' "$log" | sed "s|^|  $name: |")
"
	printf '%-60s %3d passed %3d failed %3d skipped %4ss  %s\n' "$name" "$p" "$f" "$s" "$secs" "$status"
	if [ "$f" -gt 0 ]; then
		failed_names="$failed_names $name"
		grep -E '^not ok|^# |ERROR|Sanitizer|runtime error' "$log" | head -40 | sed 's/^/    /'
		echo "    (whole log: $log)"
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
done
if [ -n "$skipped_lines" ]; then
	echo "skipped:"
	printf '%s' "$skipped_lines"
fi
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "$skip skipped"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
