#include "classifier/pattern.h"

#include "common/util.h"

int pattern_compile_all(const char *who, const struct pattern_def *defs, size_t n,
			uint32_t options, char *err, size_t errsz)
{
	for (size_t k = 0; k < n; k++) {
		int code;
		PCRE2_SIZE off;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)defs[k].pat, PCRE2_ZERO_TERMINATED,
					       options | PCRE2_ANCHORED, &code, &off, NULL);
		if (!re) {
			PCRE2_UCHAR msg[256];
			pcre2_get_error_message(code, msg, sizeof msg);
			return errf(err, errsz, "%s: %s pattern, offset %zu: %s", who, defs[k].what,
				    (size_t)off, (char *)msg);
		}
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
		*defs[k].out = re;
	}
	return 0;
}
