/* Unit tests for classifier/readbatch (files read in io_uring batches) and
 * classifier/parallel (par_for, par_for_runs_ahead). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "classifier/parallel.h"
#include "classifier/readbatch.h"

#define BUFSZ 4096

static char dir[] = "/tmp/triage-rb-XXXXXX";

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* dir/name holding size bytes of a pattern; returns its path (static). */
static char *make_file(const char *name, size_t size)
{
	static char paths[64][256];
	static unsigned next;
	char *p = paths[next++ % 64];
	snprintf(p, 256, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc('a' + (int)((i * 7 + strlen(name)) % 26), f);
	assert_int_equal(fclose(f), 0);
	return p;
}

/* out[k] = dir/<prefix>k holding size0 + k * step bytes, for k < n. */
static void make_files(const char *prefix, unsigned n, size_t size0, size_t step, char **out)
{
	char name[32];
	for (unsigned k = 0; k < n; k++) {
		snprintf(name, sizeof name, "%s%u", prefix, k);
		out[k] = make_file(name, size0 + k * step);
	}
}

/* Reads paths[0..n) as one batch and waits for it. */
static void read_batch(struct readbatch *rb, char *const *paths, unsigned n)
{
	assert_int_equal(rb_submit(rb, paths, n), 0);
	rb_wait(rb);
}

static void check_content(const char *data, size_t len, const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *want = malloc(len + 1);
	assert_non_null(want);
	assert_int_equal(fread(want, 1, len + 1, f), len);  /* and nothing more */
	fclose(f);
	assert_memory_equal(data, want, len);
	assert_int_equal(data[len], '\0');
	free(want);
}

/* The batch waited for holds files paths[0..n), of len0 + k bytes each, none
 * of them at not_at (when given). */
static void check_batch(struct readbatch *rb, char **paths, unsigned n, size_t len0,
			const char *not_at)
{
	for (unsigned k = 0; k < n; k++) {
		size_t len;
		char *d = rb_get(rb, k, &len);
		assert_non_null(d);
		assert_int_equal(len, len0 + k);
		check_content(d, len, paths[k]);
		if (not_at)
			assert_true(d != not_at);
	}
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static struct readbatch *new_or_skip(void)
{
	struct readbatch *rb = rb_new(BUFSZ);
	if (!rb) {
		/* The kernel refuses io_uring here: callers read one by one. */
		print_message("io_uring unavailable (%s): skipped\n", strerror(errno));
		skip();
	}
	return rb;
}

static void test_sizes_and_errors(void **state)
{
	struct readbatch *rb = new_or_skip();
	char *p[8] = {
		make_file("empty", 0),
		make_file("small", 100),
		make_file("fits", BUFSZ - 2),      /* the largest read whole */
		make_file("edge", BUFSZ - 1),      /* might be longer: not whole */
		make_file("big", 3 * BUFSZ),
		"/nonexistent/triage/file",
		dir,                               /* a directory: the read fails */
		make_file("last", 7),
	};
	read_batch(rb, p, 8);
	size_t len = 12345;
	char *d;
	assert_non_null(d = rb_get(rb, 0, &len));
	assert_int_equal(len, 0);
	assert_int_equal(d[0], '\0');
	assert_non_null(d = rb_get(rb, 1, &len));
	assert_int_equal(len, 100);
	check_content(d, len, p[1]);
	assert_non_null(d = rb_get(rb, 2, &len));
	assert_int_equal(len, BUFSZ - 2);
	check_content(d, len, p[2]);
	assert_null(rb_get(rb, 3, &len));
	assert_null(rb_get(rb, 4, &len));
	assert_null(rb_get(rb, 5, &len));
	assert_null(rb_get(rb, 6, &len));
	assert_non_null(d = rb_get(rb, 7, &len));
	assert_int_equal(len, 7);
	check_content(d, len, p[7]);
	assert_null(rb_get(rb, 8, &len));  /* past the batch */
	/* errors about files do not stop the batches */
	read_batch(rb, p + 7, 1);
	assert_non_null(d = rb_get(rb, 0, &len));
	check_content(d, len, p[7]);
	rb_free(rb);
}

static void test_many_batches(void **state)
{
	int fds0 = open_fds();
	struct readbatch *rb = new_or_skip();
	char *p[RB_FILES + 2];
	make_files("m", RB_FILES + 2, 10, 37, p);
	int fds = open_fds();
	for (unsigned round = 0; round < 200; round++) {
		unsigned n = 1 + round % (RB_FILES + 2);  /* past RB_FILES: the rest ignored */
		unsigned off = round % 2;
		read_batch(rb, p + off, n);
		unsigned got = n < RB_FILES ? n : RB_FILES;
		for (unsigned k = 0; k < got; k++) {
			size_t len;
			char *d = rb_get(rb, k, &len);
			assert_non_null(d);
			assert_int_equal(len, 10 + (k + off) * 37);
			if (round < 20)
				check_content(d, len, p[k + off]);
		}
		/* a shorter batch than the last leaves nothing of it behind */
		size_t len;
		assert_null(rb_get(rb, got, &len));
	}
	/* every file of every batch was closed */
	assert_int_equal(open_fds(), fds);
	read_batch(rb, p, 0);
	size_t len;
	assert_null(rb_get(rb, 0, &len));
	rb_free(rb);
	assert_int_equal(open_fds(), fds0);  /* the ring's own too */
}

/* Two batches on their way at once, waited for in the order submitted, the
 * third refused until one is; each batch's bytes stay until the second
 * submission after its wait. */
static void test_two_on_their_way(void **state)
{
	int fds0 = open_fds();
	struct readbatch *rb = new_or_skip();
	char *a[3], *b[2], *c[4];
	make_files("a", 3, 100, 1, a);
	make_files("b", 2, 200, 1, b);
	make_files("c", 4, 300, 1, c);
	size_t len;
	assert_null(rb_get(rb, 0, &len));  /* nothing waited for yet */
	assert_int_equal(rb_submit(rb, a, 3), 0);
	assert_int_equal(rb_submit(rb, b, 2), 0);
	errno = 0;
	assert_int_equal(rb_submit(rb, c, 4), -1);
	assert_int_equal(errno, EBUSY);
	rb_wait(rb);  /* a */
	check_batch(rb, a, 3, 100, NULL);
	assert_null(rb_get(rb, 3, &len));
	char *a0 = rb_get(rb, 0, &len);
	assert_int_equal(rb_submit(rb, c, 4), 0);  /* into a's place */
	rb_wait(rb);  /* b */
	check_batch(rb, b, 2, 200, a0);
	rb_wait(rb);  /* c */
	check_batch(rb, c, 4, 300, NULL);
	rb_wait(rb);  /* none left */
	assert_null(rb_get(rb, 0, &len));
	/* a third refused leaves the two on their way unharmed */
	assert_int_equal(rb_submit(rb, a, 3), 0);
	assert_int_equal(rb_submit(rb, b, 2), 0);
	assert_int_equal(rb_submit(rb, c, 4), -1);
	rb_wait(rb);
	assert_non_null(rb_get(rb, 2, &len));
	assert_int_equal(len, 102);
	rb_wait(rb);
	assert_non_null(rb_get(rb, 1, &len));
	assert_int_equal(len, 201);
	rb_free(rb);
	assert_int_equal(open_fds(), fds0);
}

static void test_new_bad_size(void **state)
{
	errno = 0;
	assert_null(rb_new(1));
	assert_int_equal(errno, EINVAL);
	rb_free(NULL);
}

/* ---- parallel ------------------------------------------------------------- */

struct runs {
	size_t n, max;
	atomic_uint *seen;
	atomic_uint calls, too_long;
	atomic_size_t last_len;
};

static void run_fn(void *ctx, unsigned worker, size_t i, size_t len)
{
	struct runs *r = ctx;
	if (len == 0 || len > r->max || i + len > r->n)
		atomic_fetch_add(&r->too_long, 1);
	for (size_t k = i; k < i + len && k < r->n; k++)
		atomic_fetch_add(&r->seen[k], 1);
	atomic_fetch_add(&r->calls, 1);
	if (i + len == r->n)
		atomic_store(&r->last_len, len);
}

static void test_par_for_runs(void **state)
{
	static const size_t ns[] = { 0, 1, 5, 16, 17, 100, 1000, 12345 };
	for (unsigned t = 1; t <= 4; t++) {
		for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
			struct runs r = { .n = ns[a], .max = 16 };
			r.seen = calloc(r.n + 1, sizeof *r.seen);
			assert_non_null(r.seen);
			assert_int_equal(par_for_runs_ahead(t, r.n, r.max, NULL, run_fn, &r), 0);
			/* every index exactly once, in runs of 1 to max */
			for (size_t k = 0; k < r.n; k++)
				assert_int_equal(atomic_load(&r.seen[k]), 1);
			assert_int_equal(atomic_load(&r.too_long), 0);
			if (r.n >= 1000) {
				/* long runs while much is left: far fewer calls than items */
				assert_true(atomic_load(&r.calls) < r.n / 4);
				/* and short ones at the end: the last is one item */
				assert_int_equal(atomic_load(&r.last_len), 1);
			}
			free(r.seen);
		}
	}
}

#define MAXW 8

struct ahead {
	size_t n;
	atomic_uchar *started, *done;   /* per index */
	atomic_uint bad;
	int open[MAXW];                 /* per worker: runs started, not done */
};

static void ahead_start(void *ctx, unsigned worker, size_t i, size_t len)
{
	struct ahead *a = ctx;
	for (size_t k = i; k < i + len; k++)
		if (atomic_fetch_add(&a->started[k], 1) != 0)
			atomic_fetch_add(&a->bad, 1);
	/* at most the run held and this one */
	if (++a->open[worker] > 2)
		atomic_fetch_add(&a->bad, 1);
}

static void ahead_fn(void *ctx, unsigned worker, size_t i, size_t len)
{
	struct ahead *a = ctx;
	for (size_t k = i; k < i + len; k++)
		if (atomic_load(&a->started[k]) != 1 || atomic_fetch_add(&a->done[k], 1) != 0)
			atomic_fetch_add(&a->bad, 1);
	a->open[worker]--;
}

static void test_par_for_runs_ahead(void **state)
{
	for (unsigned t = 1; t <= 4; t++) {
		struct ahead a = { .n = 5000 };
		a.started = calloc(a.n, 1);
		a.done = calloc(a.n, 1);
		assert_non_null(a.started);
		assert_non_null(a.done);
		assert_int_equal(par_for_runs_ahead(t, a.n, 16, ahead_start, ahead_fn, &a), 0);
		assert_int_equal(atomic_load(&a.bad), 0);
		for (size_t k = 0; k < a.n; k++)
			assert_int_equal(atomic_load(&a.done[k]), 1);
		for (unsigned w = 0; w < MAXW; w++)
			assert_int_equal(a.open[w], 0);
		free(a.started);
		free(a.done);
	}
}

static void item_fn(void *ctx, unsigned worker, size_t i)
{
	atomic_uint *seen = ctx;
	atomic_fetch_add(&seen[i], 1);
}

static void test_par_for(void **state)
{
	atomic_uint seen[777] = { 0 };
	assert_int_equal(par_for(3, 777, item_fn, seen), 0);
	for (size_t k = 0; k < 777; k++)
		assert_int_equal(atomic_load(&seen[k]), 1);
	assert_int_equal(par_for(3, 0, item_fn, seen), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_and_errors),
		cmocka_unit_test(test_many_batches),
		cmocka_unit_test(test_two_on_their_way),
		cmocka_unit_test(test_new_bad_size),
		cmocka_unit_test(test_par_for_runs),
		cmocka_unit_test(test_par_for_runs_ahead),
		cmocka_unit_test(test_par_for),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
