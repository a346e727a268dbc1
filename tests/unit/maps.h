/* For unit tests: what this process has mapped (its /proc/self/maps). */
#ifndef TRIAGE_TEST_MAPS_H
#define TRIAGE_TEST_MAPS_H

#include <stdio.h>
#include <string.h>

/* Whether a file whose path holds name (a library) is mapped; -1 when the
 * map cannot be read. */
static inline int mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[4096];
	int found = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, name))
			found = 1;
	fclose(f);
	return found;
}

#endif
