#!/bin/sh
# The libFuzzer targets (built by make check as make fuzz builds them) replay
# their seed corpus, tests/fuzz/corpus/<target>/, once, under ASan and UBSan:
# a build that only make fuzz would have compiled still breaks make check, and
# each seed still goes through. Fuzzing itself is make fuzz.
. "$(dirname "$0")/../lib.sh"
fb="$BUILD/fuzz-build/fuzz"
[ -d "$fb" ] || skip_all "no fuzz build in $fb (make check builds it with clang)"
plan 6
for t in fuzz_config fuzz_message fuzz_model; do
	check "$t is built" [ -x "$fb/$t" ]
	seeds="$TOP/tests/fuzz/corpus/$t"
	n=$(ls "$seeds" | wc -l)
	"$fb/$t" -runs=0 "$seeds" >"$TMP/$t.log" 2>&1
	rc=$?
	check "$t replays its $n seeds without a report (exit $rc)" \
		sh -c "[ $rc -eq 0 ] && ! grep -qE 'ERROR|runtime error|deadly signal' '$TMP/$t.log'"
done
finish
