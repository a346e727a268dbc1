/* Unit tests for daemon/curl_dl: libcurl is not loaded until curl_dl_open(),
 * the forwarding functions fail cleanly before it, and after it each kind of
 * option value (long, pointer, function, curl_off_t) and of information
 * reaches libcurl intact. No network: options are set, nothing is sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "daemon/curl_dl.h"
#include "tests/unit/maps.h"

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static void test_before_and_after(void **state)
{
	(void)state;
	/* Not loaded at start: the program does not link it. */
	assert_int_equal(mapped("libcurl"), 0);
	assert_null(curl_easy_init());
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_FAILED_INIT);
	assert_int_equal(curl_easy_setopt(NULL, CURLOPT_VERBOSE, 1L), CURLE_FAILED_INIT);
	assert_null(curl_slist_append(NULL, "a@b"));
	assert_non_null(strstr(curl_easy_strerror(CURLE_OK), "not loaded"));
	curl_slist_free_all(NULL);
	curl_easy_cleanup(NULL);
	curl_global_cleanup();

	char err[256];
	assert_int_equal(curl_dl_open(err, sizeof err), 0);
	assert_int_equal(mapped("libcurl"), 1);
	assert_int_equal(curl_dl_open(err, sizeof err), 0);  /* once is enough */
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");

	CURL *h = curl_easy_init();
	assert_non_null(h);
	/* each range of options, as libcurl reads it */
	assert_int_equal(curl_easy_setopt(h, CURLOPT_TIMEOUT, 7L), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, "smtp://127.0.0.1:1"), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard), CURLE_OK);
	assert_int_equal(curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)1 << 40),
			 CURLE_OK);
	/* a value libcurl refuses comes back refused, not misread */
	assert_int_not_equal(curl_easy_setopt(h, CURLOPT_SSLVERSION, 999L), CURLE_OK);
	struct curl_slist *l = curl_slist_append(NULL, "a@example.org");
	assert_non_null(l);
	assert_non_null(l = curl_slist_append(l, "b@example.org"));
	assert_string_equal(l->next->data, "b@example.org");
	assert_int_equal(curl_easy_setopt(h, CURLOPT_MAIL_RCPT, l), CURLE_OK);
	/* information comes back through its pointer */
	char *url = NULL;
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url), CURLE_OK);
	assert_non_null(url);
	assert_string_equal(url, "smtp://127.0.0.1:1");
	long code = -1;
	assert_int_equal(curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
	assert_int_equal(code, 0);
	curl_easy_cleanup(h);
	curl_slist_free_all(l);
	curl_global_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_before_and_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
