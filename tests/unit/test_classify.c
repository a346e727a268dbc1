/* Unit tests for classifier/classify: libxml2 opened at the first HTML part,
 * and reading message files at the buffer's and the size limit's edges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "classifier/classifier.h"
#include "classifier/message.h"
#include "common/util.h"
#include "tests/unit/maps.h"

static char dir[] = "/tmp/triage-test-classify-XXXXXX";

/* A file of n bytes ('a'..'z' repeated); returns its path (static). */
static const char *file_of(size_t n)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/f%zu", dir, n);
	char *d = malloc(n ? n : 1);
	assert_non_null(d);
	for (size_t i = 0; i < n; i++)
		d[i] = (char)('a' + i % 26);
	char err[256];
	assert_int_equal(write_file_atomic(path, d, n, 0644, err, sizeof err), 0);
	free(d);
	return path;
}

static void check_bytes(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (char)('a' + i % 26))
			fail_msg("byte %zu of %zu differs", i, n);
	assert_int_equal(p[n], '\0');
}

/* Into the buffer when the file leaves a byte of it free (for the NUL);
 * otherwise read whole by clf_read_file, in a buffer of its own. */
static void test_read_into(void **state)
{
	(void)state;
	enum { SZ = 64 };
	char buf[SZ], err[256];
	size_t len, total;
	size_t sizes[] = { 0, 1, SZ - 2, SZ - 1, SZ, 5000 };
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		size_t n = sizes[k];
		const char *path = file_of(n);
		memset(buf, 0x55, sizeof buf);
		char *p = clf_read_file_into(path, 1 << 20, buf, SZ, &len, &total, err, sizeof err);
		assert_non_null(p);
		assert_int_equal(len, n);
		assert_int_equal(total, n);
		check_bytes(p, n);
		if (n < SZ - 1) {
			assert_ptr_equal(p, buf);
		} else {
			assert_ptr_not_equal(p, buf);
			free(p);
		}
		/* without a buffer: as clf_read_file */
		p = clf_read_file_into(path, 1 << 20, NULL, 0, &len, &total, err, sizeof err);
		assert_non_null(p);
		assert_int_equal(len, n);
		check_bytes(p, n);
		free(p);
	}
}

/* A file over the limit, even one that fits the buffer, is read from its
 * start with *total its size, as clf_read_file does. */
static void test_read_into_limit(void **state)
{
	(void)state;
	char buf[256], err[256];
	size_t len, total;
	const char *path = file_of(100);
	char *p = clf_read_file_into(path, 50, buf, sizeof buf, &len, &total, err, sizeof err);
	assert_non_null(p);
	assert_ptr_not_equal(p, buf);
	assert_int_equal(total, 100);
	assert_true(len <= 100);
	free(p);
	/* a missing file: NULL and the reason */
	snprintf(buf, sizeof buf, "%s/absent", dir);
	char sub[64];
	assert_null(clf_read_file_into(buf, 50, sub, sizeof sub, &len, &total, err, sizeof err));
	assert_non_null(strstr(err, "No such file"));
	/* a directory: NULL and the reason, not an empty message */
	assert_null(clf_read_file_into(dir, 50, sub, sizeof sub, &len, &total, err, sizeof err));
	assert_non_null(strstr(err, "directory"));
}

/* libxml2 is not linked: opened at the first HTML part, which it then reads. */
static void test_libxml2_on_demand(void **state)
{
	(void)state;
	assert_int_equal(mapped("libxml2"), 0);
	static const char plain[] = "Subject: adhesion\n\nBonjour, je voudrais adherer.\n";
	struct msg m;
	int degraded;
	char err[256];
	clf_read_message(&m, plain, sizeof plain - 1, sizeof plain - 1, NULL, &degraded, err,
			 sizeof err);
	assert_int_equal(degraded, 0);
	msg_release(&m);
	assert_int_equal(mapped("libxml2"), 0);
	static const char html[] = "Subject: x\nMIME-Version: 1.0\nContent-Type: text/html\n\n"
				   "<html><body><p>Bonjour &eacute;t&eacute;</p>"
				   "<script>var x;</script></body></html>\n";
	clf_read_message(&m, html, sizeof html - 1, sizeof html - 1, NULL, &degraded, err,
			 sizeof err);
	assert_int_equal(degraded, 0);
	assert_int_equal(mapped("libxml2"), 1);
	assert_non_null(strstr(m.text, "Bonjour \xc3\xa9t\xc3\xa9"));
	assert_null(strstr(m.text, "var x"));
	msg_release(&m);
	assert_int_equal(clf_preload(err, sizeof err), 0);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libxml2_on_demand),
		cmocka_unit_test(test_read_into),
		cmocka_unit_test(test_read_into_limit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
