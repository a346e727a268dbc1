#!/bin/sh
# Bad input: all 6,046 messages of the SpamAssassin public corpus (broken MIME,
# odd and wrong charsets, HTML, raw 8-bit) through `triage classify` built with
# AddressSanitizer and UndefinedBehaviorSanitizer: a category for each, exit 0,
# no sanitizer report.
. "$(dirname "$0")/../lib.sh"
data="${SHARED:-}/data/spamassassin"
[ -d "$data" ] || skip_all "the SpamAssassin corpus ($data) is absent"
san="$BUILD/san/triage"
[ -x "$san" ] || skip_all "$san is absent (make check builds it)"
model="$BUILD/fr.model"
[ -f "$model" ] || skip_all "$model is absent"
plan 4
n=$(find "$data" -type f | wc -l)
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$san" classify --model "$model" "$data" >"$TMP/out" 2>"$TMP/err"
is "classify exits 0 over the $n messages" $? 0
is "one line per message" "$(wc -l <"$TMP/out")" "$n"
bad=$(awk -F '\t' 'NF < 4 || $2 == "" || $3 !~ /^[01]\.[0-9][0-9][0-9]$/' "$TMP/out" | wc -l)
is "each has a category and a confidence" "$bad" 0
reports=$(grep -cE 'Sanitizer|runtime error' "$TMP/err")
is "no sanitizer report" "$reports" 0
[ "$reports" -eq 0 ] || head -30 "$TMP/err" | sed 's/^/# /'
finish
