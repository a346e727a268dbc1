#include "classifier/linear.h"
#include "classifier/vector.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void csr_release(struct csr *m)
{
	free(m->rowptr);
	free(m->idx);
	free(m->val);
	memset(m, 0, sizeof *m);
}

void linear_params_default(struct linear_params *p)
{
	p->algo = CLF_SVM;
	p->c = 1.0;
	p->eps = 0.1;
	p->max_iter = 1000;
	p->seed = 1;
}

const char *linear_check_params(const struct linear_params *p)
{
	if (p->algo != CLF_SVM && p->algo != CLF_LOGREG)
		return "unknown algorithm";
	if (!(p->c > 0) || !isfinite(p->c))
		return "C must be a positive number";
	if (!(p->eps > 0) || !isfinite(p->eps))
		return "eps must be a positive number";
	if (p->max_iter == 0)
		return "max_iter must be at least 1";
	return NULL;
}

/* splitmix64: a small, good, seedable generator; one per training run. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint32_t rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

/*
 * The working weight vector is float: the solver's cost is memory traffic
 * (one random access into w per non-zero), halved against double, and the
 * model stores floats anyway. Sums are accumulated in double, in four
 * partial sums so that the additions' latency does not serialise the loop
 * (20 Newsgroups, features in hash order: the solver a quarter faster than
 * with one sum, best of 3 runs).
 */
static inline double row_dot(const struct csr *x, uint32_t r, const float *w)
{
	const uint32_t *idx = x->idx;
	const float *val = x->val;
	double d0 = w[x->ncols], d1 = 0, d2 = 0, d3 = 0;  /* bias feature, value 1 */
	uint64_t k = x->rowptr[r], e = x->rowptr[r + 1];
	for (; k + 4 <= e; k += 4) {
		d0 += (double)(w[idx[k]] * val[k]);
		d1 += (double)(w[idx[k + 1]] * val[k + 1]);
		d2 += (double)(w[idx[k + 2]] * val[k + 2]);
		d3 += (double)(w[idx[k + 3]] * val[k + 3]);
	}
	for (; k < e; k++)
		d0 += (double)(w[idx[k]] * val[k]);
	return (d0 + d1) + (d2 + d3);
}

static inline void row_axpy(const struct csr *x, uint32_t r, float a, float *w)
{
	w[x->ncols] += a;
	const uint32_t *idx = x->idx;
	const float *val = x->val;
	for (uint64_t k = x->rowptr[r], e = x->rowptr[r + 1]; k < e; k++)
		w[idx[k]] += a * val[k];
}

static inline double row_sqnorm(const struct csr *x, uint32_t r)
{
	double s = 1.0;  /* the bias feature */
	for (uint64_t k = x->rowptr[r], e = x->rowptr[r + 1]; k < e; k++)
		s += (double)x->val[k] * (double)x->val[k];
	return s;
}

double linear_decision(const struct csr *x, uint32_t row, const float *w)
{
	return row_dot(x, row, w);
}

static void shuffle(uint32_t *index, uint32_t n, uint64_t *rng)
{
	for (uint32_t i = 0; i + 1 < n; i++) {
		uint32_t j = i + rng_below(rng, n - i);
		uint32_t t = index[i];
		index[i] = index[j];
		index[j] = t;
	}
}

/*
 * L2-regularised L2-loss SVM, dual: min 1/2 a'(Q + D)a - e'a, 0 <= a_i, where
 * Q_ij = y_i y_j x_i'x_j and D = 1/(2C) I. Coordinate descent over a random
 * permutation, with liblinear's shrinking of variables stuck at the bound.
 */
static int train_svm(const struct csr *x, const uint32_t *rows, const signed char *y,
		     uint32_t n, const struct linear_params *p, float *w)
{
	double *alpha = calloc(n, sizeof *alpha);
	double *qd = malloc(n * sizeof *qd);
	uint32_t *index = malloc(n * sizeof *index);
	if (!alpha || !qd || !index) {
		free(alpha);
		free(qd);
		free(index);
		errno = ENOMEM;
		return -1;
	}
	const double diag = 0.5 / p->c;
	for (uint32_t i = 0; i < n; i++) {
		qd[i] = diag + row_sqnorm(x, rows[i]);
		index[i] = i;
	}
	uint64_t rng = p->seed;
	uint32_t active = n;
	double pgmax_old = INFINITY, pgmin_old = -INFINITY;
	unsigned iter = 0;
	while (iter < p->max_iter) {
		double pgmax_new = -INFINITY, pgmin_new = INFINITY;
		shuffle(index, active, &rng);
		for (uint32_t s = 0; s < active; s++) {
			uint32_t i = index[s];
			double yi = y[i];
			double g = yi * row_dot(x, rows[i], w) - 1.0 + alpha[i] * diag;
			double pg = 0;
			if (alpha[i] == 0) {
				if (g > pgmax_old) {
					/* Stuck at the bound: leave it out until the next check. */
					active--;
					index[s] = index[active];
					index[active] = i;
					s--;
					continue;
				}
				if (g < 0)
					pg = g;
			} else {
				pg = g;
			}
			if (pg > pgmax_new)
				pgmax_new = pg;
			if (pg < pgmin_new)
				pgmin_new = pg;
			if (fabs(pg) > 1e-12) {
				double old = alpha[i];
				alpha[i] = fmax(old - g / qd[i], 0.0);
				row_axpy(x, rows[i], (float)((alpha[i] - old) * yi), w);
			}
		}
		iter++;
		if (pgmax_new - pgmin_new <= p->eps) {
			if (active == n)
				break;
			/* Converged on the active set: check every variable again. */
			active = n;
			pgmax_old = INFINITY;
			pgmin_old = -INFINITY;
			continue;
		}
		pgmax_old = pgmax_new > 0 ? pgmax_new : INFINITY;
		pgmin_old = pgmin_new < 0 ? pgmin_new : -INFINITY;
	}
	(void)pgmin_old;  /* only upper-bounded variables use it, and L2-loss has none */
	free(alpha);
	free(qd);
	free(index);
	return (int)iter;
}

/* ---- groups of SVMs ---------------------------------------------------------- */

/* A group's weights for a feature are LINEAR_GROUP floats, handled as NH
 * vectors of 8 (an AVX register; two SSE registers on the baseline). */
typedef float v8f __attribute__((vector_size(8 * sizeof(float))));
#define NH (LINEAR_GROUP / 8)

/* Vectors are never passed to or returned from functions (whose ABI would
 * depend on the target), only loaded and stored in place. */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8f))
#define STORE8(p, v) memcpy((p), &(v), sizeof(v8f))

/* out = the row's decision values; two sums, so that consecutive additions
 * do not wait on each other. */
static inline void row_dotg(const struct csr *x, uint32_t r, const float *W, float *out)
{
	const uint32_t *idx = x->idx;
	const float *val = x->val;
	const float *b = W + (size_t)x->ncols * LINEAR_GROUP;
	v8f d0[NH], d1[NH], t;
	for (unsigned h = 0; h < NH; h++) {
		LOAD8(d0[h], b + 8 * h);
		d1[h] = (v8f){ 0 };
	}
	uint64_t k = x->rowptr[r], e = x->rowptr[r + 1];
	for (; k + 2 <= e; k += 2) {
		const float *p = W + (size_t)idx[k] * LINEAR_GROUP;
		const float *q = W + (size_t)idx[k + 1] * LINEAR_GROUP;
		float u = val[k], v = val[k + 1];
		for (unsigned h = 0; h < NH; h++) {
			LOAD8(t, p + 8 * h);
			d0[h] += t * u;
		}
		for (unsigned h = 0; h < NH; h++) {
			LOAD8(t, q + 8 * h);
			d1[h] += t * v;
		}
	}
	if (k < e) {
		const float *p = W + (size_t)idx[k] * LINEAR_GROUP;
		for (unsigned h = 0; h < NH; h++) {
			LOAD8(t, p + 8 * h);
			d0[h] += t * val[k];
		}
	}
	for (unsigned h = 0; h < NH; h++) {
		t = d0[h] + d1[h];
		STORE8(out + 8 * h, t);
	}
}

/* W += a * row (a: LINEAR_GROUP steps). */
static inline void row_axpyg(const struct csr *x, uint32_t r, const float *a, float *W)
{
	const uint32_t *idx = x->idx;
	const float *val = x->val;
	v8f av[NH], t;
	float *b = W + (size_t)x->ncols * LINEAR_GROUP;
	for (unsigned h = 0; h < NH; h++) {
		LOAD8(av[h], a + 8 * h);
		LOAD8(t, b + 8 * h);
		t += av[h];
		STORE8(b + 8 * h, t);
	}
	for (uint64_t k = x->rowptr[r], e = x->rowptr[r + 1]; k < e; k++) {
		float *p = W + (size_t)idx[k] * LINEAR_GROUP;
		float v = val[k];
		for (unsigned h = 0; h < NH; h++) {
			LOAD8(t, p + 8 * h);
			t += av[h] * v;
			STORE8(p + 8 * h, t);
		}
	}
}


VECTOR_CLONES
void linear_decision_group(const struct csr *x, uint32_t row, const float *W,
			   float out[LINEAR_GROUP])
{
	row_dotg(x, row, W, out);
}

/*
 * A coordinate step on each variable of row r in the problems of mask m.
 * With pg given (a full pass), the projected gradients' range of each
 * problem goes to pg[0][c] (largest) and pg[1][c] (smallest). Returns the
 * largest projected gradient's magnitude.
 */
static inline __attribute__((always_inline)) double
svm_visit(const struct csr *x, uint32_t r, const signed char *yi, double *ai, double qdi,
	  double diag, unsigned ng, unsigned m, float *W, double (*pg)[LINEAR_GROUP])
{
	float d[LINEAR_GROUP], step[LINEAR_GROUP] = { 0 };
	row_dotg(x, r, W, d);
	int any = 0;
	double viol = 0;
	for (unsigned c = 0; c < ng; c++) {
		if (!(m >> c & 1))
			continue;
		double g = yi[c] * (double)d[c] - 1.0 + ai[c] * diag;
		/* at the bound, only a step into the feasible side counts */
		double v = ai[c] == 0 && g > 0 ? 0 : g;
		if (pg) {
			if (v > pg[0][c])
				pg[0][c] = v;
			if (v < pg[1][c])
				pg[1][c] = v;
		}
		if (fabs(v) > viol)
			viol = fabs(v);
		if (fabs(v) > 1e-12) {
			double old = ai[c];
			ai[c] = fmax(old - g / qdi, 0.0);
			step[c] = (float)((ai[c] - old) * yi[c]);
			any = 1;
		}
	}
	if (any)
		row_axpyg(x, r, step, W);
	return viol;
}

/*
 * The dual coordinate descent of train_svm, for each problem of the group,
 * the rows visited in one shared order; a problem stops by liblinear's test
 * (its projected gradients in a range of at most eps over a pass) on its own.
 *
 * Without liblinear's shrinking: a row could leave the visiting order only
 * once every problem of the group had shrunk its variable, which one of six
 * or seven seldom allows (20 Newsgroups: every pass visited every row), and
 * each problem's check of its shrunk variables cost a pass of its own. What
 * shrinking is for, spending the passes where the variables still move, is
 * done instead this way: after a pass, the rows whose largest projected
 * gradient is above eps / 3 (those that keep, or may soon keep, the test
 * from passing) are visited again, up to VIOL_PASSES times, dropping those
 * brought within eps / 3, while they are fewer than half the rows: they get
 * the steps that most reduce the objective at a fraction of a pass's cost.
 * Those passes only move variables; the test is made on full passes.
 * (20 Newsgroups, rows visited in all, fold models included: 1.61 million
 * with shrinking alone, 0.96 with both, 0.74 with these passes alone; the
 * final models' passes went from 34, 37 and 12 to about 10, for the same
 * accuracy.)
 */
enum { VIOL_PASSES = 8 };

VECTOR_CLONES
static int svm_group(const struct csr *x, const uint32_t *rows, const signed char *y, uint32_t n,
		     unsigned ng, const struct linear_params *p, float *W, double *alpha,
		     double *qd, uint32_t *index, uint32_t *vlist)
{
	enum { G = LINEAR_GROUP };
	const double diag = 0.5 / p->c;
	for (uint32_t i = 0; i < n; i++) {
		qd[i] = diag + row_sqnorm(x, rows[i]);
		index[i] = i;
		float d[G] = { 0 };
		int any = 0;
		for (unsigned c = 0; c < G; c++) {
			double *a = &alpha[(size_t)i * G + c];
			if (c >= ng || !(*a > 0) || !isfinite(*a)) {
				*a = 0;
				continue;
			}
			d[c] = (float)(*a * y[(size_t)i * G + c]);
			any = 1;
		}
		if (any)
			row_axpyg(x, rows[i], d, W);
	}
	const double vtol = p->eps / 3;
	unsigned live = (1u << ng) - 1;
	uint64_t rng = p->seed;
	unsigned iter = 0;
	while (live && iter < p->max_iter) {
		double pg[2][G];
		for (unsigned c = 0; c < G; c++) {
			pg[0][c] = -INFINITY;
			pg[1][c] = INFINITY;
		}
		shuffle(index, n, &rng);
		uint32_t nv = 0;
		for (uint32_t s = 0; s < n; s++) {
			uint32_t i = index[s];
			if (svm_visit(x, rows[i], y + (size_t)i * G, alpha + (size_t)i * G, qd[i], diag, ng,
				      live, W, pg) > vtol)
				vlist[nv++] = i;
		}
		iter++;
		for (unsigned c = 0; c < ng; c++)
			if (live >> c & 1 && pg[0][c] - pg[1][c] <= p->eps)
				live &= ~(1u << c);
		/* The violators' passes (see above). */
		for (unsigned k = 0; k < VIOL_PASSES && live && nv > 0 && nv < n / 2; k++) {
			shuffle(vlist, nv, &rng);
			uint32_t keep = 0;
			for (uint32_t t = 0; t < nv; t++) {
				uint32_t i = vlist[t];
				if (svm_visit(x, rows[i], y + (size_t)i * G, alpha + (size_t)i * G, qd[i], diag,
					      ng, live, W, NULL) > vtol)
					vlist[keep++] = i;
			}
			nv = keep;
		}
	}
	return (int)iter;
}

int linear_train_svm_group(const struct csr *x, const uint32_t *rows, const signed char *y,
			   size_t n, unsigned ng, const struct linear_params *p, float *W,
			   double *alpha)
{
	if (ng < 1 || ng > LINEAR_GROUP || p->algo != CLF_SVM || n > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	memset(W, 0, ((size_t)x->ncols + 1) * LINEAR_GROUP * sizeof *W);
	if (n == 0)
		return 0;
	double *a = alpha ? alpha : calloc(n * LINEAR_GROUP, sizeof *a);
	double *qd = malloc(n * sizeof *qd);
	uint32_t *index = malloc(n * sizeof *index);
	uint32_t *vlist = malloc(n * sizeof *vlist);
	int it = -1;
	if (a && qd && index && vlist)
		it = svm_group(x, rows, y, (uint32_t)n, ng, p, W, a, qd, index, vlist);
	else
		errno = ENOMEM;
	if (!alpha)
		free(a);
	free(qd);
	free(index);
	free(vlist);
	return it;
}

/*
 * L2-regularised logistic regression, dual (Yu, Huang and Lin 2011):
 * min 1/2 a'Qa + sum a_i log a_i + (C - a_i) log (C - a_i), 0 < a_i < C,
 * each one-variable sub-problem solved by a few Newton steps.
 */
static int train_logreg(const struct csr *x, const uint32_t *rows, const signed char *y,
			uint32_t n, const struct linear_params *p, float *w)
{
	double *alpha = malloc(2 * (size_t)n * sizeof *alpha);  /* a_i and C - a_i */
	double *xtx = malloc(n * sizeof *xtx);
	uint32_t *index = malloc(n * sizeof *index);
	if (!alpha || !xtx || !index) {
		free(alpha);
		free(xtx);
		free(index);
		errno = ENOMEM;
		return -1;
	}
	const double c = p->c;
	const unsigned max_inner = 100;
	double innereps = 1e-2;
	const double innereps_min = fmin(1e-8, p->eps);
	for (uint32_t i = 0; i < n; i++) {
		alpha[2 * i] = fmin(0.001 * c, 1e-8);
		alpha[2 * i + 1] = c - alpha[2 * i];
		xtx[i] = row_sqnorm(x, rows[i]);
		row_axpy(x, rows[i], (float)(y[i] * alpha[2 * i]), w);
		index[i] = i;
	}
	uint64_t rng = p->seed;
	unsigned iter = 0;
	while (iter < p->max_iter) {
		shuffle(index, n, &rng);
		size_t newton_iter = 0;
		double gmax = 0;
		for (uint32_t s = 0; s < n; s++) {
			uint32_t i = index[s];
			double yi = y[i];
			double a = xtx[i], b = yi * row_dot(x, rows[i], w);
			size_t i1 = 2 * (size_t)i, i2 = i1 + 1;
			double sign = 1;
			if (0.5 * a * (alpha[i2] - alpha[i1]) + b < 0) {
				i1 = i2;
				i2 = 2 * (size_t)i;
				sign = -1;
			}
			double old = alpha[i1], z = old;
			if (c - z < 0.5 * c)
				z *= 0.1;
			double gp = a * (z - old) + sign * b + log(z / (c - z));
			gmax = fmax(gmax, fabs(gp));
			unsigned inner = 0;
			while (inner <= max_inner && fabs(gp) >= innereps) {
				double gpp = a + c / (c - z) / z;
				double tz = z - gp / gpp;
				z = tz <= 0 ? z * 0.1 : tz;
				gp = a * (z - old) + sign * b + log(z / (c - z));
				newton_iter++;
				inner++;
			}
			if (inner > 0) {
				alpha[i1] = z;
				alpha[i2] = c - z;
				row_axpy(x, rows[i], (float)(sign * (z - old) * yi), w);
			}
		}
		iter++;
		if (gmax < p->eps)
			break;
		if (newton_iter <= n / 10)
			innereps = fmax(innereps_min, 0.1 * innereps);
	}
	free(alpha);
	free(xtx);
	free(index);
	return (int)iter;
}

int linear_train(const struct csr *x, const uint32_t *rows, const signed char *y, size_t n,
		 const struct linear_params *p, float *w)
{
	memset(w, 0, ((size_t)x->ncols + 1) * sizeof *w);
	if (n == 0)
		return 0;
	if (n > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (p->algo == CLF_LOGREG)
		return train_logreg(x, rows, y, (uint32_t)n, p, w);
	return train_svm(x, rows, y, (uint32_t)n, p, w);
}

double platt_power_fit(const double *logp, const int *y, size_t n, unsigned nl)
{
	double tau = 1.0;
	for (int it = 0; it < 30 && n > 0; it++) {
		/* d/dtau of -log(p_y^tau / sum p^tau): E[log p] - log p_y, under
		 * q = p^tau / sum p^tau; the second derivative: Var_q[log p]. */
		double g = 0, h = 0;
		for (size_t i = 0; i < n; i++) {
			const double *l = logp + i * nl;
			double mx = -INFINITY;
			for (unsigned c = 0; c < nl; c++)
				if (tau * l[c] > mx)
					mx = tau * l[c];
			double z = 0, e1 = 0, e2 = 0;
			for (unsigned c = 0; c < nl; c++) {
				double q = exp(tau * l[c] - mx);
				z += q;
				e1 += q * l[c];
				e2 += q * l[c] * l[c];
			}
			e1 /= z;
			g += e1 - l[y[i]];
			h += e2 / z - e1 * e1;
		}
		if (!(h > 1e-12 * (double)n))
			break;  /* flat: every message's probabilities alike */
		double next = fmin(fmax(tau - g / h, PLATT_POWER_MIN), PLATT_POWER_MAX);
		double step = fabs(next - tau);
		tau = next;
		if (step < 1e-9)
			break;
	}
	return tau;
}

/* The loss of message i at fa = a f + b, given e = exp(-|fa|). */
static inline double platt_loss(double t, double fa, double e)
{
	return (fa >= 0 ? t * fa : (t - 1) * fa) + log1p(e);
}

int platt_fit(const double *f, const signed char *y, size_t n, double *pa, double *pb)
{
	/*
	 * exp(-|a f + b|) of each message at the current (a, b), and at the
	 * point the line search tries: the point it accepts is the next
	 * Newton step's, whose derivatives reuse them (one exp and one log1p
	 * a message a step, not three calls).
	 */
	double *mem = malloc((n ? 2 * n : 1) * sizeof *mem);
	if (!mem)
		return -1;
	double *e = mem, *et = mem + n;
	double prior1 = 0, prior0 = 0;
	for (size_t i = 0; i < n; i++)
		if (y[i] > 0)
			prior1++;
		else
			prior0++;
	const double hi = (prior1 + 1.0) / (prior1 + 2.0), lo = 1.0 / (prior0 + 2.0);
	const double min_step = 1e-10, sigma = 1e-12, eps = 1e-5;
	double a = 0.0, b = log((prior0 + 1.0) / (prior1 + 1.0)), fval = 0.0;
	for (size_t i = 0; i < n; i++) {
		double t = y[i] > 0 ? hi : lo, fa = f[i] * a + b;
		e[i] = exp(fa >= 0 ? -fa : fa);
		fval += platt_loss(t, fa, e[i]);
	}
	for (int it = 0; it < 100; it++) {
		double h11 = sigma, h22 = sigma, h21 = 0, g1 = 0, g2 = 0;
		for (size_t i = 0; i < n; i++) {
			double t = y[i] > 0 ? hi : lo, fa = f[i] * a + b, p, q;
			if (fa >= 0) {
				p = e[i] / (1.0 + e[i]);
				q = 1.0 / (1.0 + e[i]);
			} else {
				p = 1.0 / (1.0 + e[i]);
				q = e[i] / (1.0 + e[i]);
			}
			double d2 = p * q;
			h11 += f[i] * f[i] * d2;
			h22 += d2;
			h21 += f[i] * d2;
			double d1 = t - p;
			g1 += f[i] * d1;
			g2 += d1;
		}
		if (fabs(g1) < eps && fabs(g2) < eps)
			break;
		double det = h11 * h22 - h21 * h21;
		double da = -(h22 * g1 - h21 * g2) / det, db = -(-h21 * g1 + h11 * g2) / det;
		double gd = g1 * da + g2 * db, step = 1;
		while (step >= min_step) {
			double na = a + step * da, nb = b + step * db, nf = 0;
			for (size_t i = 0; i < n; i++) {
				double t = y[i] > 0 ? hi : lo, fa = f[i] * na + nb;
				et[i] = exp(fa >= 0 ? -fa : fa);
				nf += platt_loss(t, fa, et[i]);
			}
			if (nf < fval + 0.0001 * step * gd) {
				a = na;
				b = nb;
				fval = nf;
				double *sw = e;
				e = et;
				et = sw;
				break;
			}
			step /= 2.0;
		}
		if (step < min_step)
			break;  /* the line search failed: keep the best so far */
	}
	*pa = a;
	*pb = b;
	free(mem);
	return 0;
}

double platt_prob(double a, double b, double f)
{
	double fa = f * a + b;
	return fa >= 0 ? exp(-fa) / (1.0 + exp(-fa)) : 1.0 / (1.0 + exp(fa));
}
