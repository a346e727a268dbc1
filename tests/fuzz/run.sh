#!/bin/sh
# Runs every libFuzzer target $BUILD/fuzz/fuzz_* for FUZZ_TIME seconds, on a
# work corpus $BUILD/fuzz-corpus/<target> seeded from tests/fuzz/corpus/<target>/
# (the work corpus grows from one run to the next). Prints one line per target;
# exits non-zero when a target crashed, leaked, timed out or broke an invariant,
# with the path of the input that did it.
#
# usage: BUILD=build/fuzz-build FUZZ_TIME=60 tests/fuzz/run.sh   (called by make fuzz)
set -u
: "${BUILD:?set BUILD to the fuzz build directory}"
: "${FUZZ_TIME:=60}"
seeds_root=$(cd "$(dirname "$0")" && pwd)/corpus
status=0 found=0
for bin in "$BUILD"/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	found=$((found + 1))
	name=$(basename "$bin")
	work="$BUILD/fuzz-corpus/$name"
	crashes="$BUILD/fuzz-crashes/$name"
	log="$BUILD/fuzz-logs/$name.log"
	mkdir -p "$work" "$crashes" "$(dirname "$log")"
	if [ -d "$seeds_root/$name" ]; then
		for s in "$seeds_root/$name"/*; do
			[ -f "$s" ] && cp "$s" "$work/seed-$(basename "$s")"
		done
	fi
	"$bin" -max_total_time="$FUZZ_TIME" -timeout=25 -rss_limit_mb=2048 \
		-artifact_prefix="$crashes/" -print_final_stats=1 "$work" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
	inputs=$(ls "$work" | wc -l)
	if [ "$rc" -eq 0 ]; then
		printf 'fuzz %-24s ok      %s runs in %ss, %s, corpus %s inputs\n' \
			"$name" "${runs:-?}" "$FUZZ_TIME" "${cov:-cov: ?}" "$inputs"
	else
		input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		printf 'fuzz %-24s FAILED  exit %s; input: %s; log: %s\n' \
			"$name" "$rc" "${input:-(none written)}" "$log"
		grep -E '^==[0-9]+==ERROR|SUMMARY|runtime error|deadly signal|timeout' "$log" \
			| head -5 | sed 's/^/    /'
		status=1
	fi
done
if [ "$found" -eq 0 ]; then
	echo "fuzz: no target in $BUILD/fuzz (build them with make fuzz)"
	exit 1
fi
exit "$status"
