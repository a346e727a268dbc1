/* Unit tests for classifier/strtab and classifier/linear (solvers, Platt). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classifier/linear.h"
#include "classifier/strtab.h"

static void test_strtab_basic(void **state)
{
	struct strtab t;
	strtab_init(&t, 100000);
	char buf[32];
	int added;
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(buf, sizeof buf, "b:term%d", i);
		assert_int_equal(strtab_intern(&t, buf, (size_t)n, &added), i);
		assert_true(added);
	}
	assert_int_equal(t.n, 50000);
	for (int i = 0; i < 50000; i += 7) {
		int n = snprintf(buf, sizeof buf, "b:term%d", i);
		assert_int_equal(strtab_find(&t, buf, (size_t)n), i);
		assert_int_equal(strtab_intern(&t, buf, (size_t)n, &added), i);
		assert_false(added);
		size_t len;
		assert_string_equal(strtab_str(&t, (uint32_t)i, &len), buf);
		assert_int_equal(len, (size_t)n);
	}
	/* a prefix or an extension of a stored string is another string */
	assert_int_equal(strtab_find(&t, "b:term1", 6), -1);
	assert_int_equal(strtab_find(&t, "b:term12x", 9), -1);
	assert_int_equal(strtab_find(&t, "", 0), -1);
	size_t len;
	assert_string_equal(strtab_str(&t, 49999, &len), "b:term49999");
	strtab_release(&t);
}

static void test_strtab_bound(void **state)
{
	struct strtab t;
	strtab_init(&t, 3);
	assert_int_equal(strtab_intern(&t, "a", 1, NULL), 0);
	assert_int_equal(strtab_intern(&t, "b", 1, NULL), 1);
	assert_int_equal(strtab_intern(&t, "c", 1, NULL), 2);
	assert_int_equal(strtab_intern(&t, "d", 1, NULL), -1);
	assert_int_equal(errno, E2BIG);
	/* known strings are still found at the bound */
	assert_int_equal(strtab_intern(&t, "b", 1, NULL), 1);
	assert_int_equal(strtab_reserve(&t, 1, 10), -1);
	strtab_release(&t);
}

/* A message's ids counted: each distinct one once, in order of first
 * occurrence, with its count; negative ids skipped; the table empty again
 * once the counts are taken, for a larger message next (it grows) and a
 * smaller one after (it does not). */
static void test_idcount(void **state)
{
	struct idcount c = { 0 };
	int32_t a[] = { 7, 3, 7, -1, 1000000, 3, 7, -5 };
	assert_int_equal(idcount_run(&c, a, 8), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.uniq[0], 7);
	assert_int_equal(c.uniq[1], 3);
	assert_int_equal(c.uniq[2], 1000000);
	assert_int_equal(idcount_peek(&c, 0), 3);
	assert_int_equal(idcount_take(&c, 0), 3);
	assert_int_equal(idcount_take(&c, 1), 2);
	assert_int_equal(idcount_take(&c, 2), 1);
	for (size_t i = 0; i < c.cap; i++)
		assert_true(c.cnt[i] == 0);
	/* 300 ids, each of 0..99 three times: the table grows */
	int32_t b[300];
	for (int k = 0; k < 300; k++)
		b[k] = (k * 37) % 100;
	size_t cap = c.cap;
	assert_int_equal(idcount_run(&c, b, 300), 0);
	assert_true(c.cap > cap && c.cap >= 600);
	assert_int_equal(c.n, 100);
	for (size_t u = 0; u < c.n; u++)
		assert_int_equal(idcount_take(&c, u), 3);
	/* then a small message in the large table */
	cap = c.cap;
	assert_int_equal(idcount_run(&c, a, 3), 0);
	assert_int_equal(c.cap, cap);
	assert_int_equal(c.n, 2);
	assert_int_equal(idcount_take(&c, 0), 2);
	assert_int_equal(idcount_take(&c, 1), 1);
	/* nothing to count */
	assert_int_equal(idcount_run(&c, a, 0), 0);
	assert_int_equal(c.n, 0);
	idcount_release(&c);
	assert_null(c.cnt);
	assert_int_equal(c.cap, 0);
}

/* A table adopted with its saved slots finds what the original finds; slots
 * or a pool that do not agree are refused. */
static void test_strtab_adopt_slots(void **state)
{
	struct strtab t, u;
	strtab_init(&t, 1000);
	char buf[32];
	for (int i = 0; i < 300; i++) {
		int n = snprintf(buf, sizeof buf, "q:w%d", i * 13);
		assert_int_equal(strtab_intern(&t, buf, (size_t)n, NULL), i);
	}
	uint64_t ns = strtab_nslots(&t);
	uint64_t *copy = malloc(ns * sizeof *copy);
	memcpy(copy, t.slots, ns * sizeof *copy);
	strtab_init(&u, 1000);
	assert_int_equal(strtab_adopt_slots(&u, t.pool, t.pool_len, t.n, copy, ns), 0);
	for (int i = 0; i < 300; i++) {
		int n = snprintf(buf, sizeof buf, "q:w%d", i * 13);
		assert_int_equal(strtab_find(&u, buf, (size_t)n), i);
		size_t len;
		assert_string_equal(strtab_str(&u, (uint32_t)i, &len), buf);
	}
	assert_int_equal(strtab_find(&u, "q:w1", 4), -1);
	assert_int_equal(strtab_reserve(&u, 1, 1), -1);
	assert_int_equal(errno, EPERM);
	strtab_release(&u);
	/* one string fewer than said, a pool without its last NUL, too few slots */
	strtab_init(&u, 1000);
	assert_int_equal(strtab_adopt_slots(&u, t.pool, t.pool_len, t.n + 1, copy, ns), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(strtab_adopt_slots(&u, t.pool, t.pool_len - 1, t.n, copy, ns), -1);
	assert_int_equal(strtab_adopt_slots(&u, t.pool, t.pool_len, t.n, copy, 256), -1);
	assert_int_equal(strtab_adopt_slots(&u, t.pool, t.pool_len, t.n, copy, 300), -1);
	assert_int_equal(strtab_adopt_slots(&u, t.pool, t.pool_len, 2000, copy, ns), -1);
	assert_int_equal(errno, E2BIG);
	strtab_release(&u);
	free(copy);
	strtab_release(&t);
}

/*
 * A sparse two-class problem: class +1 has features 0..9 active, class -1
 * features 10..19, each row a few of them plus noise features 20..99.
 */
static void make_problem(struct csr *x, signed char *y, uint32_t n, uint64_t seed)
{
	x->nrows = n;
	x->ncols = 100;
	x->rowptr = calloc(n + 1, sizeof *x->rowptr);
	x->idx = malloc(n * 8 * sizeof *x->idx);
	x->val = malloc(n * 8 * sizeof *x->val);
	uint64_t s = seed;
	for (uint32_t i = 0; i < n; i++) {
		y[i] = (i % 2) ? 1 : -1;
		uint64_t o = x->rowptr[i];
		int used[100] = { 0 };
		int k = 0;
		while (k < 8) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			uint32_t r = (uint32_t)(s >> 33);
			uint32_t f = k < 3 ? (y[i] > 0 ? r % 10 : 10 + r % 10) : 20 + r % 80;
			if (used[f])
				continue;
			used[f] = 1;
			x->idx[o + (uint64_t)k] = f;
			x->val[o + (uint64_t)k] = 0.35f;
			k++;
		}
		/* increasing indexes, as the CSR contract says */
		for (int a = 1; a < 8; a++)
			for (int b = a; b > 0 && x->idx[o + b - 1] > x->idx[o + b]; b--) {
				uint32_t t = x->idx[o + b];
				x->idx[o + b] = x->idx[o + b - 1];
				x->idx[o + b - 1] = t;
			}
		x->rowptr[i + 1] = o + 8;
	}
}

static void check_solver(enum clf_algo algo)
{
	struct csr x;
	uint32_t n = 400;
	signed char *y = malloc(n);
	uint32_t *rows = malloc(n * sizeof *rows);
	make_problem(&x, y, n, 42);
	for (uint32_t i = 0; i < n; i++)
		rows[i] = i;
	struct linear_params p;
	linear_params_default(&p);
	p.algo = algo;
	assert_null(linear_check_params(&p));
	float *w = malloc((x.ncols + 1) * sizeof *w), *w2 = malloc((x.ncols + 1) * sizeof *w2);
	int it = linear_train(&x, rows, y, n, &p, w);
	assert_true(it > 0);
	uint32_t ok = 0;
	for (uint32_t i = 0; i < n; i++)
		ok += (linear_decision(&x, i, w) > 0) == (y[i] > 0);
	assert_int_equal(ok, n);
	/* the informative features carry the weight, with the right signs */
	for (int f = 0; f < 10; f++) {
		assert_true(w[f] > 0.1f);
		assert_true(w[10 + f] < -0.1f);
	}
	/* deterministic for a given seed */
	assert_int_equal(linear_train(&x, rows, y, n, &p, w2), it);
	assert_memory_equal(w, w2, (x.ncols + 1) * sizeof *w);
	/* a subset of rows trains on those rows only */
	assert_true(linear_train(&x, rows, y, 0, &p, w2) == 0);
	for (uint32_t j = 0; j <= x.ncols; j++)
		assert_true(w2[j] == 0.0f);
	free(w);
	free(w2);
	free(y);
	free(rows);
	csr_release(&x);
}

static void test_svm(void **state) { check_solver(CLF_SVM); }

/* A group's problems over make_problem's rows: lane c < ng of row i labelled
 * lab(i, y[i], c), the lanes from ng up -1. */
struct group_problem {
	struct csr x;
	uint32_t n;
	signed char *y, *yg;
	uint32_t *rows;
};

static void group_problem(struct group_problem *g, uint32_t n, uint64_t seed, unsigned ng,
			  signed char (*lab)(uint32_t i, signed char y, unsigned c))
{
	enum { G = LINEAR_GROUP };
	g->n = n;
	g->y = malloc(n);
	g->yg = malloc((size_t)n * G);
	g->rows = malloc(n * sizeof *g->rows);
	make_problem(&g->x, g->y, n, seed);
	for (uint32_t i = 0; i < n; i++) {
		g->rows[i] = i;
		for (unsigned c = 0; c < G; c++)
			g->yg[(size_t)i * G + c] = c < ng ? lab(i, g->y[i], c) : -1;
	}
}

static void group_problem_release(struct group_problem *g)
{
	free(g->y);
	free(g->yg);
	free(g->rows);
	csr_release(&g->x);
}

/* Separable and noisy labels alike. */
static signed char mixed_label(uint32_t i, signed char y, unsigned c)
{
	signed char l[5] = { y, (signed char)-y, i % 3 == 0 ? 1 : -1, y, (i * 7) % 5 < 2 ? 1 : -1 };
	return l[c];
}

/* Noisier: many variables at neither bound. */
static signed char noisy_label(uint32_t i, signed char y, unsigned c)
{
	signed char l[4] = { y, (signed char)(i % 7 == 0 ? -y : y), i % 3 == 0 ? 1 : -1,
			     (i * 7) % 5 < 2 ? 1 : -1 };
	return l[c];
}

/*
 * A group of SVMs solves each problem as the one-problem solver does: at a
 * tight tolerance both reach the same optimum (separable and noisy labels
 * alike); the unused lanes stay 0; runs are deterministic; restarted from
 * its solution it stops at once; bad arguments are refused.
 */
static void test_svm_group(void **state)
{
	enum { G = LINEAR_GROUP, NG = 5 };
	struct group_problem gp;
	group_problem(&gp, 400, 11, NG, mixed_label);
	struct csr x = gp.x;
	uint32_t n = gp.n, *rows = gp.rows;
	signed char *yg = gp.yg;
	struct linear_params p;
	linear_params_default(&p);
	p.eps = 0.001;
	size_t nw = x.ncols + 1;
	float *W = malloc(nw * G * sizeof *W), *W2 = malloc(nw * G * sizeof *W2);
	float *w = malloc(nw * sizeof *w);
	signed char *yc = malloc(n);
	double *alpha = calloc((size_t)n * G, sizeof *alpha);
	int it = linear_train_svm_group(&x, rows, yg, n, NG, &p, W, alpha);
	assert_true(it > 1);
	for (unsigned c = 0; c < G; c++) {
		if (c >= NG) {
			for (size_t j = 0; j < nw; j++)
				assert_true(W[j * G + c] == 0.0f);
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			yc[i] = yg[(size_t)i * G + c];
		assert_true(linear_train(&x, rows, yc, n, &p, w) > 0);
		double d = 0, wmax = 0;
		for (size_t j = 0; j < nw; j++) {
			d = fmax(d, fabs((double)W[j * G + c] - w[j]));
			wmax = fmax(wmax, fabs((double)w[j]));
		}
		if (!(d < 0.01 * wmax))
			fail_msg("problem %u: weights differ by %g (largest %g)", c, d, wmax);
	}
	/* the decision values are the lanes' dot products */
	float dv[G];
	linear_decision_group(&x, 3, W, dv);
	for (unsigned c = 0; c < G; c++) {
		double s = W[x.ncols * G + c];
		for (uint64_t k = x.rowptr[3]; k < x.rowptr[4]; k++)
			s += (double)W[(size_t)x.idx[k] * G + c] * x.val[k];
		assert_true(fabs(s - dv[c]) < 1e-5);
	}
	/* deterministic; a cold start without alphas is the same */
	assert_int_equal(linear_train_svm_group(&x, rows, yg, n, NG, &p, W2, NULL), it);
	assert_memory_equal(W, W2, nw * G * sizeof *W);
	/* restarted from its solution: converged at once */
	assert_int_equal(linear_train_svm_group(&x, rows, yg, n, NG, &p, W2, alpha), 1);
	/* no rows: zero weights; bad arguments */
	assert_int_equal(linear_train_svm_group(&x, rows, yg, 0, NG, &p, W2, NULL), 0);
	for (size_t j = 0; j < nw * G; j++)
		assert_true(W2[j] == 0.0f);
	errno = 0;
	assert_int_equal(linear_train_svm_group(&x, rows, yg, n, 0, &p, W2, NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(linear_train_svm_group(&x, rows, yg, n, G + 1, &p, W2, NULL), -1);
	p.algo = CLF_LOGREG;
	assert_int_equal(linear_train_svm_group(&x, rows, yg, n, NG, &p, W2, NULL), -1);
	free(W);
	free(W2);
	free(w);
	free(yc);
	free(alpha);
	group_problem_release(&gp);
}

/* The dual objective of lane c, 1/2 a'(Q + D)a - e'a = 1/2 |w|^2 +
 * 1/2 a'Da - e'a with w from W (bias included), and the range of its
 * projected gradients (liblinear's stopping test) recomputed from W. */
static double svm_dual(const struct csr *x, uint32_t n, const signed char *yg, const float *W,
		       const double *alpha, unsigned c, double cpar, double *range)
{
	enum { G = LINEAR_GROUP };
	double diag = 0.5 / cpar, obj = 0, pgmax = -INFINITY, pgmin = INFINITY;
	for (size_t j = 0; j <= x->ncols; j++)
		obj += 0.5 * (double)W[j * G + c] * W[j * G + c];
	float d[G];
	for (uint32_t i = 0; i < n; i++) {
		double a = alpha[(size_t)i * G + c];
		obj += 0.5 * diag * a * a - a;
		linear_decision_group(x, i, W, d);
		double g = yg[(size_t)i * G + c] * (double)d[c] - 1.0 + a * diag;
		double pg = a > 0 ? g : fmin(g, 0.0);
		pgmax = fmax(pgmax, pg);
		pgmin = fmin(pgmin, pg);
	}
	*range = pgmax - pgmin;
	return obj;
}

/*
 * At liblinear's tolerance, each problem of a group stops near its optimum
 * (the one at a tolerance a thousand times tighter): its dual objective
 * within a hundredth (here 0.007% to 0.4%; with liblinear's shrinking, before
 * the solver's passes over the rows that break the stopping test, 0.01% to
 * 0.4%), its projected gradients, recomputed from the weights returned, in a
 * range of about eps (0.06 to 0.07 here: those passes only move variables,
 * the test is made on full passes; the slack is for the float weights).
 */
static void test_svm_group_tolerance(void **state)
{
	enum { G = LINEAR_GROUP, NG = 4 };
	struct group_problem g;
	group_problem(&g, 2000, 5, NG, noisy_label);
	struct linear_params p;
	linear_params_default(&p);
	size_t nw = g.x.ncols + 1;
	float *W = malloc(nw * G * sizeof *W), *Wt = malloc(nw * G * sizeof *Wt);
	double *a = calloc((size_t)g.n * G, sizeof *a), *at = calloc((size_t)g.n * G, sizeof *at);
	assert_true(linear_train_svm_group(&g.x, g.rows, g.yg, g.n, NG, &p, W, a) > 1);
	struct linear_params tight = p;
	tight.eps = p.eps / 1000;
	assert_true(linear_train_svm_group(&g.x, g.rows, g.yg, g.n, NG, &tight, Wt, at) > 1);
	for (unsigned c = 0; c < NG; c++) {
		double range, range_t;
		double obj = svm_dual(&g.x, g.n, g.yg, W, a, c, p.c, &range);
		double opt = svm_dual(&g.x, g.n, g.yg, Wt, at, c, p.c, &range_t);
		assert_true(opt <= obj + 1e-6 * fabs(opt));
		if (!(obj - opt <= 1e-2 * fabs(opt)))
			fail_msg("problem %u: dual objective %g, optimum %g", c, obj, opt);
		if (!(range <= 1.5 * p.eps && range_t <= 1.5 * tight.eps))
			fail_msg("problem %u: gradients in a range of %g (tight: %g)", c, range, range_t);
	}
	free(W);
	free(Wt);
	free(a);
	free(at);
	group_problem_release(&g);
}

/* One SVM through the group solver (lane 0): y, alpha by row. */
static int train_one(const struct csr *x, const uint32_t *rows, const signed char *y, uint32_t n,
		     const struct linear_params *p, float *W, double *alpha)
{
	enum { G = LINEAR_GROUP };
	signed char *yg = malloc((size_t)(n ? n : 1) * G);
	double *ag = alpha ? calloc((size_t)(n ? n : 1) * G, sizeof *ag) : NULL;
	for (uint32_t i = 0; i < n; i++) {
		memset(yg + (size_t)i * G, -1, G);
		yg[(size_t)i * G] = y[i];
		if (ag)
			ag[(size_t)i * G] = alpha[i];
	}
	int it = linear_train_svm_group(x, rows, yg, n, 1, p, W, ag);
	for (uint32_t i = 0; ag && i < n; i++)
		alpha[i] = ag[(size_t)i * G];
	free(yg);
	free(ag);
	return it;
}

/* A warm start from the SVM's own solution is already converged; from the
 * solutions of two halves (what training does with the cross-validation
 * folds) it reaches the cold start's model in fewer iterations. */
static void test_svm_warm_start(void **state)
{
	enum { G = LINEAR_GROUP };
	struct csr x;
	uint32_t n = 400;
	signed char *y = malloc(n);
	uint32_t *rows = malloc(n * sizeof *rows);
	make_problem(&x, y, n, 7);
	for (uint32_t i = 0; i < n; i++)
		rows[i] = i;
	struct linear_params p;
	linear_params_default(&p);
	p.eps = 0.01;
	size_t nw = x.ncols + 1;
	float *cold = malloc(nw * G * sizeof *cold), *warm = malloc(nw * G * sizeof *warm);
	double *alpha = calloc(n, sizeof *alpha), *a2 = calloc(n, sizeof *a2);
	int it_cold = train_one(&x, rows, y, n, &p, cold, alpha);
	assert_true(it_cold > 1);
	/* the same as without alphas */
	assert_int_equal(train_one(&x, rows, y, n, &p, warm, NULL), it_cold);
	assert_memory_equal(cold, warm, nw * G * sizeof *cold);
	double nonzero = 0;
	for (uint32_t i = 0; i < n; i++) {
		assert_true(alpha[i] >= 0);
		nonzero += alpha[i] > 0;
	}
	assert_true(nonzero > 0);
	/* restarted from its solution: converged at once */
	memcpy(a2, alpha, n * sizeof *a2);
	assert_int_equal(train_one(&x, rows, y, n, &p, warm, a2), 1);
	double d1 = 0, w1 = 0;
	for (size_t j = 0; j < nw; j++) {
		d1 = fmax(d1, fabs((double)warm[j * G] - cold[j * G]));
		w1 = fmax(w1, fabs((double)cold[j * G]));
	}
	if (!(d1 < 0.01 * w1))
		fail_msg("restarted model differs by %g (largest weight %g)", d1, w1);
	/* from the halves' solutions */
	uint32_t half = n / 2;
	memset(a2, 0, n * sizeof *a2);
	assert_true(train_one(&x, rows, y, half, &p, warm, a2) > 0);
	assert_true(train_one(&x, rows + half, y + half, n - half, &p, warm, a2 + half) > 0);
	int it_warm = train_one(&x, rows, y, n, &p, warm, a2);
	assert_true(it_warm > 0 && it_warm < it_cold);
	double dmax = 0, wmax = 0;
	for (size_t j = 0; j < nw; j++) {
		dmax = fmax(dmax, fabs((double)warm[j * G] - cold[j * G]));
		wmax = fmax(wmax, fabs((double)cold[j * G]));
	}
	assert_true(dmax < 0.05 * wmax);
	float dw[G], dc[G];
	for (uint32_t i = 0; i < n; i++) {
		linear_decision_group(&x, i, warm, dw);
		linear_decision_group(&x, i, cold, dc);
		assert_int_equal(dw[0] > 0, dc[0] > 0);
	}
	/* infeasible starting values count as 0 */
	for (uint32_t i = 0; i < n; i++)
		a2[i] = i % 3 == 0 ? -1.0 : (i % 3 == 1 ? NAN : 0.0);
	assert_int_equal(train_one(&x, rows, y, n, &p, warm, a2), it_cold);
	assert_memory_equal(cold, warm, nw * G * sizeof *cold);
	free(cold);
	free(warm);
	free(alpha);
	free(a2);
	free(y);
	free(rows);
	csr_release(&x);
}
static void test_logreg(void **state) { check_solver(CLF_LOGREG); }

static void test_params(void **state)
{
	struct linear_params p;
	linear_params_default(&p);
	p.c = 0;
	assert_non_null(linear_check_params(&p));
	p.c = NAN;
	assert_non_null(linear_check_params(&p));
	p.c = 1;
	p.eps = -1;
	assert_non_null(linear_check_params(&p));
	p.eps = 0.1;
	p.algo = (enum clf_algo)7;
	assert_non_null(linear_check_params(&p));
}

/* Decision values drawn so that P(y=+1 | f) = 1/(1+exp(-2f)): Platt must
 * find a close to -2 and b close to 0. */
static void test_platt(void **state)
{
	size_t n = 20000;
	double *f = malloc(n * sizeof *f);
	signed char *y = malloc(n);
	uint64_t s = 7;
	for (size_t i = 0; i < n; i++) {
		f[i] = -3.0 + 6.0 * (double)i / (double)n;
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		double u = (double)(s >> 11) / 9007199254740992.0;
		y[i] = u < 1.0 / (1.0 + exp(-2.0 * f[i])) ? 1 : -1;
	}
	double a, b;
	assert_int_equal(platt_fit(f, y, n, &a, &b), 0);
	assert_true(fabs(a + 2.0) < 0.15);
	assert_true(fabs(b) < 0.1);
	assert_true(fabs(platt_prob(a, b, 1.0) - 1.0 / (1.0 + exp(-2.0))) < 0.03);
	/* extreme values do not overflow */
	assert_true(platt_prob(a, b, 1e6) <= 1.0 && platt_prob(a, b, -1e6) >= 0.0);
	free(f);
	free(y);
}

/* Messages whose label is drawn from p^2 / sum p^2, p their probabilities:
 * the power fitted is close to 2. Bounds and degenerate inputs. */
static void test_platt_power(void **state)
{
	enum { N = 6000, NL = 5 };
	double *l = malloc((size_t)N * NL * sizeof *l);
	int *y = malloc(N * sizeof *y);
	uint64_t s = 11;
	for (size_t i = 0; i < N; i++) {
		double p[NL], sum = 0, q[NL], qsum = 0;
		for (int c = 0; c < NL; c++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			p[c] = exp(3.0 * (double)(s >> 11) / 9007199254740992.0);
			sum += p[c];
		}
		for (int c = 0; c < NL; c++) {
			p[c] /= sum;
			l[i * NL + (size_t)c] = log(p[c]);
			q[c] = p[c] * p[c];
			qsum += q[c];
		}
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		double u = (double)(s >> 11) / 9007199254740992.0 * qsum;
		y[i] = NL - 1;
		for (int c = 0; c < NL; c++) {
			if (u < q[c]) {
				y[i] = c;
				break;
			}
			u -= q[c];
		}
	}
	double tau = platt_power_fit(l, y, N, NL);
	assert_true(fabs(tau - 2.0) < 0.2);
	/* the labels drawn from p itself: close to 1 */
	for (size_t i = 0; i < N; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		double u = (double)(s >> 11) / 9007199254740992.0;
		y[i] = NL - 1;
		for (int c = 0; c < NL; c++) {
			double pc = exp(l[i * NL + (size_t)c]);
			if (u < pc) {
				y[i] = c;
				break;
			}
			u -= pc;
		}
	}
	tau = platt_power_fit(l, y, N, NL);
	assert_true(fabs(tau - 1.0) < 0.15);
	/* always the likeliest label: the sharper the better, up to the bound */
	for (size_t i = 0; i < N; i++) {
		int best = 0;
		for (int c = 1; c < NL; c++)
			if (l[i * NL + (size_t)c] > l[i * NL + (size_t)best])
				best = c;
		y[i] = best;
	}
	assert_true(platt_power_fit(l, y, N, NL) == PLATT_POWER_MAX);
	/* flat probabilities say nothing; no message either */
	for (size_t k = 0; k < (size_t)N * NL; k++)
		l[k] = log(1.0 / NL);
	assert_true(platt_power_fit(l, y, N, NL) == 1.0);
	assert_true(platt_power_fit(l, y, 0, NL) == 1.0);
	free(l);
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strtab_basic),
		cmocka_unit_test(test_strtab_bound),
		cmocka_unit_test(test_strtab_adopt_slots),
		cmocka_unit_test(test_idcount),
		cmocka_unit_test(test_svm),
		cmocka_unit_test(test_svm_warm_start),
		cmocka_unit_test(test_svm_group),
		cmocka_unit_test(test_svm_group_tolerance),
		cmocka_unit_test(test_logreg),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_platt),
		cmocka_unit_test(test_platt_power),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
