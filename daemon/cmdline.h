/* Small helpers for parsing command-line values. */
#ifndef TRIAGE_CMDLINE_H
#define TRIAGE_CMDLINE_H

#include <stdint.h>

/* A decimal integer in [min, max], nothing else around it. 0 or -1. */
int parse_ull(const char *s, unsigned long long min, unsigned long long max,
	      unsigned long long *out);
/* A finite number in [min, max]. 0 or -1. */
int parse_double(const char *s, double min, double max, double *out);

#endif
