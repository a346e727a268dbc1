/*
 * libcurl, opened when SMTP is set up (smtp_global_init), not at start.
 *
 * Only `triage run` sends mail; the other commands (train, classify, eval...)
 * would otherwise load libcurl and the eighteen libraries it brings (LDAP,
 * SSH, Kerberos, HTTP/2...) at every start: 7 ms on the machines measured,
 * a tenth of what classifying one message costs. The functions smtp.c calls
 * are defined here with libcurl's own names and prototypes, so that smtp.c
 * is written, and type-checked by curl.h, as for a linked libcurl; each
 * forwards to libcurl's, found with dlsym. Before curl_dl_open() succeeds
 * they fail as libcurl does when it cannot start (CURLE_FAILED_INIT, NULL).
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

#include "common/util.h"
#include "daemon/curl_dl.h"

#ifndef TRIAGE_CURL_SONAME
#define TRIAGE_CURL_SONAME "libcurl-gnutls.so.4"
#endif

static struct {
	void *lib;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} api;

int curl_dl_open(char *err, size_t errsz)
{
	if (api.lib)
		return 0;
	const struct dl_want want[] = {
		{ "curl_global_init", (void **)&api.global_init },
		{ "curl_global_cleanup", (void **)&api.global_cleanup },
		{ "curl_easy_init", (void **)&api.easy_init },
		{ "curl_easy_setopt", (void **)&api.easy_setopt },
		{ "curl_easy_perform", (void **)&api.easy_perform },
		{ "curl_easy_getinfo", (void **)&api.easy_getinfo },
		{ "curl_easy_cleanup", (void **)&api.easy_cleanup },
		{ "curl_easy_strerror", (void **)&api.easy_strerror },
		{ "curl_slist_append", (void **)&api.slist_append },
		{ "curl_slist_free_all", (void **)&api.slist_free_all },
	};
	api.lib = dl_load(TRIAGE_CURL_SONAME, "libcurl3-gnutls", want, sizeof want / sizeof *want,
			  err, errsz);
	return api.lib ? 0 : -1;
}

CURLcode curl_global_init(long flags)
{
	return api.global_init ? api.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
	if (api.global_cleanup)
		api.global_cleanup();
}

CURL *curl_easy_init(void)
{
	return api.easy_init ? api.easy_init() : NULL;
}

/* The value goes on with the type libcurl reads for the option's range. */
CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	if (!api.easy_setopt)
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, opt);
	CURLcode rc;
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = api.easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = api.easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = api.easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = api.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = api.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *h)
{
	return api.easy_perform ? api.easy_perform(h) : CURLE_FAILED_INIT;
}

/* Every CURLINFO takes a pointer to where the value goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	if (!api.easy_getinfo)
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, info);
	CURLcode rc = api.easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

void curl_easy_cleanup(CURL *h)
{
	if (api.easy_cleanup)
		api.easy_cleanup(h);
}

const char *curl_easy_strerror(CURLcode rc)
{
	return api.easy_strerror ? api.easy_strerror(rc) : "libcurl is not loaded";
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	return api.slist_append ? api.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l)
{
	if (api.slist_free_all)
		api.slist_free_all(l);
}
