/* Unit tests for classifier/eval: figures computed by hand on small cases. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "classifier/classifier.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* truth 0 0 0 1 1 2, predicted 0 0 1 1 1 0, confidence .9 .8 .7 .6 .5 .4 */
static const int truth[] = { 0, 0, 0, 1, 1, 2 };
static const int pred[] = { 0, 0, 1, 1, 1, 0 };
static const double conf[] = { .9, .8, .7, .6, .5, .4 };

static void test_metrics(void **state)
{
	struct eval_report r;
	assert_int_equal(eval_compute(&r, 3, truth, pred, conf, 6, 0.5), 0);
	assert_int_equal(r.correct, 4);
	NEAR(r.accuracy, 4.0 / 6);
	NEAR(r.cls[0].precision, 2.0 / 3);
	NEAR(r.cls[0].recall, 2.0 / 3);
	NEAR(r.cls[1].precision, 2.0 / 3);
	NEAR(r.cls[1].recall, 1.0);
	NEAR(r.cls[1].f1, 0.8);
	NEAR(r.cls[2].f1, 0.0);
	assert_int_equal(r.cls[2].support, 1);
	assert_int_equal(r.cls[2].predicted, 0);
	NEAR(r.macro_f1, (2.0 / 3 + 0.8 + 0) / 3);
	/* confusion[truth][pred] */
	assert_int_equal(r.confusion[0 * 3 + 0], 2);
	assert_int_equal(r.confusion[0 * 3 + 1], 1);
	assert_int_equal(r.confusion[1 * 3 + 1], 2);
	assert_int_equal(r.confusion[2 * 3 + 0], 1);
	/* the curve: 21 points plus the threshold asked for */
	assert_int_equal(r.ncurve, EVAL_NCURVE + 1);
	NEAR(r.curve[EVAL_NCURVE].threshold, 0.5);
	assert_int_equal(r.curve[EVAL_NCURVE].filed, 5);
	NEAR(r.curve[EVAL_NCURVE].precision, 4.0 / 5);
	NEAR(r.curve[0].coverage, 1.0);                  /* threshold 0 files all */
	assert_int_equal(r.curve[EVAL_NCURVE - 1].filed, 0); /* threshold 1 none */
	NEAR(r.curve[EVAL_NCURVE - 1].precision, 1.0);
	/* ECE: one message per bin, |accuracy - confidence| / 6 summed */
	NEAR(r.ece, (.1 + .2 + .7 + .4 + .5 + .4) / 6);
	eval_release(&r);
}

static void test_threshold(void **state)
{
	double cov, prec;
	/* cumulative precision from the top: 1, 1, 2/3, 3/4, 4/5, 4/6 */
	NEAR(eval_threshold(truth, pred, conf, 6, 0.95, &cov, &prec), .8);
	NEAR(cov, 2.0 / 6);
	NEAR(prec, 1.0);
	NEAR(eval_threshold(truth, pred, conf, 6, 0.75, &cov, &prec), .5);
	NEAR(cov, 5.0 / 6);
	NEAR(prec, 0.8);
	/* never reached: 1.0, nothing filed */
	int t2[] = { 1, 1 }, p2[] = { 0, 0 };
	double c2[] = { .9, .8 };
	NEAR(eval_threshold(t2, p2, c2, 2, 0.95, &cov, &prec), 1.0);
	NEAR(cov, 0);
	/* equal confidences cannot be split by a threshold */
	int t3[] = { 0, 1, 0 }, p3[] = { 0, 0, 0 };
	double c3[] = { .9, .9, .1 };
	NEAR(eval_threshold(t3, p3, c3, 3, 0.95, &cov, &prec), 1.0);
	/* the lowest threshold wins: .9 files 1/2 right, .1 files 2/3 right */
	NEAR(eval_threshold(t3, p3, c3, 3, 0.5, &cov, &prec), .1);
	NEAR(cov, 1.0);
	NEAR(eval_threshold(t3, p3, c3, 3, 0.7, &cov, &prec), 1.0);
}

static void test_unknown_truth(void **state)
{
	/* a category the model does not know counts as an error */
	int t[] = { 0, -1, 1 }, p[] = { 0, 1, 1 };
	double c[] = { .9, .9, .9 };
	struct eval_report r;
	assert_int_equal(eval_compute(&r, 2, t, p, c, 3, -1), 0);
	NEAR(r.accuracy, 2.0 / 3);
	assert_int_equal(r.cls[0].support + r.cls[1].support, 2);
	assert_int_equal(r.cls[1].predicted, 2);
	NEAR(r.cls[1].precision, 0.5);
	assert_int_equal(r.ncurve, EVAL_NCURVE);
	eval_release(&r);
	/* nothing at all */
	assert_int_equal(eval_compute(&r, 2, t, p, c, 0, -1), 0);
	NEAR(r.accuracy, 0);
	eval_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_unknown_truth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
