/*
 * curl_dl: libcurl opened on demand (see curl_dl.c): smtp_global_init() calls
 * curl_dl_open() before libcurl's own set-up.
 */
#ifndef TRIAGE_CURL_DL_H
#define TRIAGE_CURL_DL_H

#include <stddef.h>

/* Loads libcurl (once). Returns 0, or -1 with err set (which library, why). */
int curl_dl_open(char *err, size_t errsz);

#endif
