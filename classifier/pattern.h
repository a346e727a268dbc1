/*
 * pattern: compiling the fixed PCRE2 patterns that zones and redact match
 * with (each file compiles its set once for the process and shares it).
 */
#ifndef TRIAGE_PATTERN_H
#define TRIAGE_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

struct pattern_def {
	const char *what;   /* named in the error */
	const char *pat;
	pcre2_code **out;
};

/*
 * Compiles defs[0..n) into *defs[k].out with options and PCRE2_ANCHORED
 * (every match is tried at one position: anchored when compiled, because JIT
 * matching refuses PCRE2_ANCHORED at match time and would fall back to the
 * interpreter), then JIT-compiles each where it can: an optimisation, the
 * interpreter gives the same answers without it (no JIT support, a W^X
 * policy). Returns 0, or -1 with err "who: what pattern, offset N: why".
 */
int pattern_compile_all(const char *who, const struct pattern_def *defs, size_t n,
			uint32_t options, char *err, size_t errsz);

#endif
