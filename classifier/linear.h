/*
 * linear: L2-regularised linear classifiers trained by dual coordinate descent,
 * as in liblinear (Hsieh et al., ICML 2008, for the SVM; Yu, Huang and Lin,
 * MLJ 2011, for logistic regression), on sparse rows, with the bias as an extra
 * constant feature of value 1 (liblinear's -B 1, scikit-learn's
 * intercept_scaling=1).
 *
 * Binary problems only (an SVM's may be solved several at once, see
 * linear_train_svm_group): one-vs-rest is built on top (see train.c). Every
 * function here is pure and thread-safe; randomness comes from the seed.
 */
#ifndef TRIAGE_LINEAR_H
#define TRIAGE_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "classifier/model.h"

/* Sparse rows (CSR). Row i holds idx/val[rowptr[i] .. rowptr[i+1]). */
struct csr {
	uint32_t nrows, ncols;
	uint64_t *rowptr;  /* nrows + 1 entries */
	uint32_t *idx;     /* column indices, increasing within a row */
	float *val;
};

void csr_release(struct csr *m);

struct linear_params {
	enum clf_algo algo;  /* CLF_SVM: L2-loss (squared hinge) SVM; CLF_LOGREG */
	double c;            /* > 0 */
	double eps;          /* stopping tolerance (liblinear: 0.1) */
	unsigned max_iter;   /* outer iterations (liblinear: 1000) */
	uint64_t seed;
};

void linear_params_default(struct linear_params *p);
/* NULL when p is valid, else a message saying what is wrong (liblinear's
 * check_parameter()). */
const char *linear_check_params(const struct linear_params *p);

/*
 * Trains on the rows listed in rows[0..n) of x, with labels y[k] = +1 or -1
 * for rows[k]. Writes x->ncols + 1 weights to w (w[ncols] is the bias).
 * Returns the number of outer iterations, or -1 with errno ENOMEM.
 */
int linear_train(const struct csr *x, const uint32_t *rows, const signed char *y, size_t n,
		 const struct linear_params *p, float *w);

/* w . row + bias, for a row of x (the decision value). */
double linear_decision(const struct csr *x, uint32_t row, const float *w);

/*
 * Up to LINEAR_GROUP SVMs trained at once on the same rows (one-vs-rest
 * labels of the same messages): one pass over a row serves every problem of
 * the group, the weights of a feature for the group's problems are
 * contiguous (one vector load), and the solver is built for the CPU's vector
 * width (AVX2 and FMA where the CPU has them, checked when the program
 * starts). Each problem is the one linear_train solves, with its own
 * stopping test; the rows are visited in one shared order, and those far
 * from their problems' optimum more often (see svm_group in linear.c).
 *
 * y[k * LINEAR_GROUP + c]: label (+1/-1) of rows[k] in problem c < ng.
 * W: (x->ncols + 1) * LINEAR_GROUP floats, W[j * LINEAR_GROUP + c] the
 *    weight of feature j in problem c (j = ncols: the bias); lanes from ng up
 *    are left 0. Should be 32-byte aligned (big_alloc).
 * alpha: n * LINEAR_GROUP dual variables, alpha[k * LINEAR_GROUP + c] for
 *    rows[k] in problem c: a warm start (negative or non-finite values count
 *    as 0; NULL: a cold start), left holding the solution, so that a related
 *    problem (the same rows with a few more or fewer) can start near its
 *    answer.
 * Returns the outer iterations of the slowest problem, or -1 with errno
 * ENOMEM or EINVAL (ng out of range, or p->algo is not CLF_SVM).
 */
#define LINEAR_GROUP 8
int linear_train_svm_group(const struct csr *x, const uint32_t *rows, const signed char *y,
			   size_t n, unsigned ng, const struct linear_params *p, float *W,
			   double *alpha);

/* The decision values of a row for each problem of a group's W. */
void linear_decision_group(const struct csr *x, uint32_t row, const float *W,
			   float out[LINEAR_GROUP]);

/*
 * Platt scaling (Platt 1999, with the Newton method of Lin, Lin and Weng 2007):
 * fits P(y = +1 | f) = 1 / (1 + exp(a * f + b)) on decision values f[k] and
 * labels y[k] (+1/-1), with Platt's prior-corrected targets. Returns 0, or
 * -1 (ENOMEM).
 */
int platt_fit(const double *f, const signed char *y, size_t n, double *a, double *b);
double platt_prob(double a, double b, double f);

/*
 * The labels' Platt probabilities are fitted one label against the rest, and
 * normalised to sum to 1 they come out too flat: with seven labels, the
 * others' small probabilities add up (the French corpus: mean confidence
 * 0.86 on the dev set for 0.94 of accuracy). The model raises them to a
 * power tau before normalising: p_c^tau / sum_d p_d^tau, which keeps their
 * order, hence every decision. platt_power_fit fits tau by maximum
 * likelihood (Newton's method: the loss is convex in tau) on n messages'
 * log-probabilities logp[i * nl + c] and labels y[i], within
 * [PLATT_POWER_MIN, PLATT_POWER_MAX]; 1 when n is 0.
 */
#define PLATT_POWER_MIN 0.25
#define PLATT_POWER_MAX 8.0
double platt_power_fit(const double *logp, const int *y, size_t n, unsigned nl);

#endif
