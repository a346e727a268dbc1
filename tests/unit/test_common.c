/* Unit tests for common/: bounded buffers, file I/O, UTF-8 validation. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/util.h"

static void test_buf_bounded(void **state)
{
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_appends(&b, "hello"), 0);
	assert_int_equal(buf_printf(&b, "%d", 1234), 0);
	assert_string_equal(b.data, "hello1234");
	/* crossing the maximum fails and leaves the buffer as it was */
	assert_int_equal(buf_appends(&b, "xy"), -1);
	assert_int_equal(errno, E2BIG);
	assert_string_equal(b.data, "hello1234");
	assert_int_equal(buf_appendc(&b, '!'), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(buf_appendc(&b, '!'), -1);
	size_t len;
	char *s = buf_detach(&b, &len);
	assert_int_equal(len, 10);
	assert_string_equal(s, "hello1234!");
	free(s);
	assert_null(b.data);
	s = buf_detach(&b, &len);
	assert_string_equal(s, "");
	free(s);
}

/* A new file under /tmp (path: a mkstemp template, filled in) holding
 * data[0..n); its descriptor, open for writing. */
static int temp_file(char *path, const void *data, size_t n)
{
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	return fd;
}

static void test_read_file_limit(void **state)
{
	char path[] = "/tmp/triage-test-XXXXXX";
	close(temp_file(path, "0123456789", 10));
	char err[256];
	size_t len;
	char *p = read_file(path, 10, &len, err, sizeof err);
	assert_non_null(p);
	assert_int_equal(len, 10);
	free(p);
	p = read_file(path, 9, &len, err, sizeof err);
	assert_null(p);
	assert_int_equal(errno, EFBIG);
	assert_non_null(strstr(err, "limit"));
	p = read_file("/nonexistent/x", 9, &len, err, sizeof err);
	assert_null(p);
	assert_int_equal(errno, ENOENT);
	unlink(path);
}

/* open_stat: a descriptor and the file's status, or -1 with "PATH: reason"
 * and errno kept. */
static void test_open_stat(void **state)
{
	char path[] = "/tmp/triage-test-XXXXXX";
	close(temp_file(path, "abc", 3));
	char err[256] = "";
	struct stat st;
	int fd = open_stat(path, &st, err, sizeof err);
	assert_true(fd >= 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 3);
	char b[4];
	assert_int_equal(read(fd, b, sizeof b), 3);
	close(fd);
	unlink(path);
	errno = 0;
	assert_int_equal(open_stat(path, &st, err, sizeof err), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(!strncmp(err, path, strlen(path)));
	assert_non_null(strstr(err, strerror(ENOENT)));
}

/* A regular file is read whole, byte for byte (the fast path), and an empty
 * one gives an empty string. */
static void test_read_file_exact(void **state)
{
	char path[] = "/tmp/triage-test-XXXXXX";
	char data[70000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)(i * 7 + 1);
	int fd = temp_file(path, data, sizeof data);
	char err[256];
	size_t len;
	char *p = read_file(path, 1 << 20, &len, err, sizeof err);
	assert_non_null(p);
	assert_int_equal(len, sizeof data);
	assert_memory_equal(p, data, sizeof data);
	assert_int_equal(p[len], '\0');
	free(p);
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	p = read_file(path, 1 << 20, &len, err, sizeof err);
	assert_non_null(p);
	assert_int_equal(len, 0);
	assert_string_equal(p, "");
	free(p);
	unlink(path);
}

/* Large tables: zeroed, aligned for huge pages, freed with free(). */
static void test_big_alloc(void **state)
{
	size_t sizes[] = { 0, 100, ((size_t)1 << 20) - 1, (size_t)1 << 20, (size_t)2 << 20,
			   ((size_t)5 << 20) + 3 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		unsigned char *p = big_calloc(sizes[k], 1);
		assert_non_null(p);
		for (size_t i = 0; i < sizes[k]; i += 4093)
			assert_int_equal(p[i], 0);
		/* from 1 MiB up: whole huge pages, on a huge page's boundary */
		if (sizes[k] >= ((size_t)1 << 20)) {
			assert_int_equal((uintptr_t)p % ((size_t)2 << 20), 0);
			assert_true(malloc_usable_size(p) >= ((sizes[k] + ((size_t)2 << 20) - 1) &
							      ~(((size_t)2 << 20) - 1)));
		}
		memset(p, 0xab, sizes[k]);
		free(p);
		p = big_alloc(sizes[k]);
		assert_non_null(p);
		memset(p, 1, sizes[k]);
		free(p);
	}
	errno = 0;
	assert_null(big_calloc(SIZE_MAX / 2, 4));
	assert_int_equal(errno, ENOMEM);
	assert_null(big_alloc(SIZE_MAX - 5));
}

/* Growing across the huge-page threshold, and shrinking, keep the contents. */
static void test_big_realloc(void **state)
{
	size_t sizes[] = { 10, 1000, ((size_t)1 << 20) - 1, (size_t)1 << 20, ((size_t)2 << 20) - 1,
			   (size_t)2 << 20, (size_t)3 << 20, (size_t)9 << 20, ((size_t)9 << 20) + 1 };
	unsigned char *p = NULL;
	size_t have = 0;
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		unsigned char *q = big_realloc(p, sizes[k]);
		assert_non_null(q);
		for (size_t i = 0; i < have; i++)
			if (q[i] != (unsigned char)(i * 7))
				fail_msg("byte %zu lost growing to %zu", i, sizes[k]);
		for (size_t i = have; i < sizes[k]; i++)
			q[i] = (unsigned char)(i * 7);
		p = q;
		have = sizes[k];
	}
	unsigned char *q = big_realloc(p, 100);
	assert_non_null(q);
	assert_int_equal(q[99], (unsigned char)(99 * 7));
	free(q);
}

/* A new directory under /tmp (dir: a mkdtemp template, filled in) and
 * path, the file "f" in it. */
static void temp_dir(char *dir, char *path, size_t pathsz)
{
	assert_non_null(mkdtemp(dir));
	snprintf(path, pathsz, "%s/f", dir);
}

/* path holds want (a string), read back with read_file. */
static void assert_file_holds(const char *path, const char *want)
{
	char err[256];
	size_t len;
	char *p = read_file(path, 100, &len, err, sizeof err);
	assert_non_null(p);
	assert_string_equal(p, want);
	free(p);
}

static void test_write_atomic(void **state)
{
	char dir[] = "/tmp/triage-test-XXXXXX", path[512], err[256];
	temp_dir(dir, path, sizeof path);
	assert_int_equal(write_file_atomic(path, "abc", 3, 0600, err, sizeof err), 0);
	assert_int_equal(write_file_atomic(path, "defg", 4, 0640, err, sizeof err), 0);
	assert_file_holds(path, "defg");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* a directory that does not exist: error, nothing left behind */
	char bad[600];
	snprintf(bad, sizeof bad, "%s/missing/f", dir);
	assert_int_equal(write_file_atomic(bad, "x", 1, 0600, err, sizeof err), -1);
	unlink(path);
	rmdir(dir);
}

/* Many parts, some empty, some large: written in order, whole (writev takes
 * at most 64 of them at a time here, and a large write may come back short). */
static void test_write_atomic_iov(void **state)
{
	char dir[] = "/tmp/triage-test-XXXXXX", path[512], err[256];
	temp_dir(dir, path, sizeof path);
	enum { NPART = 200 };
	struct iovec iov[NPART];
	static char big[3 << 20];
	size_t total = 0;
	for (size_t k = 0; k < NPART; k++) {
		size_t n = k % 7 == 3 ? 0 : k == 100 ? sizeof big - 1000 : k * 5 + 1;
		iov[k].iov_base = big + (k * 997) % 1000;
		iov[k].iov_len = n;
		total += n;
	}
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 31 + 7);
	assert_int_equal(write_file_atomic_iov(path, iov, NPART, 0600, err, sizeof err), 0);
	size_t len;
	char *p = read_file(path, 16 << 20, &len, err, sizeof err);
	assert_non_null(p);
	assert_int_equal(len, total);
	size_t at = 0;
	for (size_t k = 0; k < NPART; k++) {
		if (memcmp(p + at, iov[k].iov_base, iov[k].iov_len) != 0)
			fail_msg("part %zu differs", k);
		at += iov[k].iov_len;
	}
	free(p);
	unlink(path);
	rmdir(dir);
}

/* The atomic write in steps: parts written at an offset, then what comes
 * before them, then the commit; an abort leaves path as it was and no
 * temporary file. */
static void test_atomic_file_steps(void **state)
{
	char dir[] = "/tmp/triage-test-XXXXXX", path[512], err[256];
	temp_dir(dir, path, sizeof path);
	assert_int_equal(write_file_atomic(path, "old", 3, 0600, err, sizeof err), 0);
	struct atomic_file f;
	assert_int_equal(atomic_file_open(&f, path, err, sizeof err), 0);
	struct iovec tail[3] = { { "cd", 2 }, { "", 0 }, { "efg", 3 } }, head = { "ab", 2 };
	assert_int_equal(pwritev_full(f.fd, tail, 3, 2), 0);
	assert_int_equal(pwritev_full(f.fd, &head, 1, 0), 0);
	assert_file_holds(path, "old");  /* not replaced before the commit */
	assert_int_equal(atomic_file_commit(&f, 0640, err, sizeof err), 0);
	atomic_file_abort(&f);  /* after a commit: nothing to do */
	assert_file_holds(path, "abcdefg");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(atomic_file_open(&f, path, err, sizeof err), 0);
	assert_int_equal(pwritev_full(f.fd, &head, 1, 0), 0);
	char tmp[sizeof f.tmp];
	memcpy(tmp, f.tmp, sizeof tmp);
	atomic_file_abort(&f);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_file_holds(path, "abcdefg");
	/* a directory that does not exist: the path in the error */
	char bad[600];
	snprintf(bad, sizeof bad, "%s/missing/f", dir);
	assert_int_equal(atomic_file_open(&f, bad, err, sizeof err), -1);
	assert_non_null(strstr(err, bad));
	assert_string_equal(f.tmp, "");  /* nothing for an abort to remove */
	atomic_file_abort(&f);
	unlink(path);
	rmdir(dir);
}

/* Opening a library on demand: its symbols found, or a clear error and none
 * of them kept. */
static void test_dl_load(void **state)
{
	(void)state;
	char err[256];
	void *version = NULL, *crc = NULL;
	struct dl_want ok[] = { { "zlibVersion", &version }, { "crc32", &crc } };
	void *lib = dl_load("libz.so.1", "zlib1g", ok, 2, err, sizeof err);
	assert_non_null(lib);
	assert_true(version && crc);
	const char *(*zv)(void);
	memcpy(&zv, &version, sizeof zv);
	assert_int_equal(zv()[0], '1');
	struct dl_want bad[] = { { "zlibVersion", &version }, { "no_such_function", &crc } };
	assert_null(dl_load("libz.so.1", "zlib1g", bad, 2, err, sizeof err));
	assert_null(version);
	assert_null(crc);
	assert_non_null(strstr(err, "no_such_function"));
	assert_null(dl_load("libtriage-absent.so.9", "nothing", ok, 2, err, sizeof err));
	assert_non_null(strstr(err, "cannot load libtriage-absent.so.9"));
	assert_non_null(strstr(err, "Debian package nothing"));
}

static void test_utf8_valid(void **state)
{
	assert_true(utf8_valid("adhésion", strlen("adhésion")));
	assert_true(utf8_valid("", 0));
	assert_false(utf8_valid("adh\xe9sion", 8));     /* Latin-1 */
	assert_false(utf8_valid("\xc0\xaf", 2));        /* overlong */
	assert_false(utf8_valid("\xed\xa0\x80", 3));    /* surrogate */
	assert_false(utf8_valid("\xc3", 1));            /* truncated */
	assert_true(utf8_valid("\xf0\x9f\x98\x80", 4)); /* emoji */
	assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_bounded),
		cmocka_unit_test(test_read_file_limit),
		cmocka_unit_test(test_read_file_exact),
		cmocka_unit_test(test_open_stat),
		cmocka_unit_test(test_big_alloc),
		cmocka_unit_test(test_big_realloc),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_write_atomic_iov),
		cmocka_unit_test(test_atomic_file_steps),
		cmocka_unit_test(test_dl_load),
		cmocka_unit_test(test_utf8_valid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
