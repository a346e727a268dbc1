/* Evaluation figures from predictions: what `triage eval` and `triage cv`
 * print, and how the recommended threshold is chosen. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/classifier.h"

struct scored {
	double conf;
	int correct;
};

static int by_conf_desc(const void *a, const void *b)
{
	const struct scored *x = a, *y = b;
	return x->conf < y->conf ? 1 : x->conf > y->conf ? -1 : 0;
}

/* Sorted (confidence, correct) pairs, most confident first; NULL on ENOMEM. */
static struct scored *sorted_scores(const int *truth, const int *pred, const double *conf,
				    size_t n)
{
	struct scored *s = malloc((n ? n : 1) * sizeof *s);
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		s[i].conf = conf[i];
		s[i].correct = truth[i] >= 0 && truth[i] == pred[i];
	}
	qsort(s, n, sizeof *s, by_conf_desc);
	return s;
}

double eval_threshold(const int *truth, const int *pred, const double *conf, size_t n,
		      double target, double *coverage, double *precision)
{
	double best = 1.0, cov = 0, prec = 0;
	struct scored *s = sorted_scores(truth, pred, conf, n);
	if (s) {
		size_t correct = 0;
		for (size_t i = 0; i < n; i++) {
			correct += (size_t)s[i].correct;
			/* Only where the next message has a lower confidence: a
			 * threshold cannot split equal confidences. */
			if (i + 1 < n && s[i + 1].conf == s[i].conf)
				continue;
			double p = (double)correct / (double)(i + 1);
			if (p >= target) {
				best = s[i].conf;
				cov = (double)(i + 1) / (double)n;
				prec = p;
			}
		}
		free(s);
	}
	if (coverage)
		*coverage = cov;
	if (precision)
		*precision = prec;
	return best;
}

void eval_release(struct eval_report *r)
{
	free(r->cls);
	free(r->confusion);
	memset(r, 0, sizeof *r);
}

static void curve_point(struct eval_report *r, const struct scored *s, size_t n, double t)
{
	size_t filed = 0, correct = 0;
	while (filed < n && s[filed].conf >= t)
		correct += (size_t)s[filed++].correct;
	size_t k = r->ncurve++;
	r->curve[k].threshold = t;
	r->curve[k].filed = filed;
	r->curve[k].coverage = n ? (double)filed / (double)n : 0;
	r->curve[k].precision = filed ? (double)correct / (double)filed : 1.0;
}

int eval_compute(struct eval_report *r, size_t nlabels, const int *truth, const int *pred,
		 const double *conf, size_t n, double threshold)
{
	memset(r, 0, sizeof *r);
	r->n = n;
	r->nlabels = nlabels;
	r->cls = calloc(nlabels ? nlabels : 1, sizeof *r->cls);
	r->confusion = calloc(nlabels ? nlabels * nlabels : 1, sizeof *r->confusion);
	struct scored *s = sorted_scores(truth, pred, conf, n);
	if (!r->cls || !r->confusion || !s) {
		free(s);
		eval_release(r);
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		int t = truth[i], p = pred[i];
		if (p >= 0 && (size_t)p < nlabels)
			r->cls[p].predicted++;
		if (t < 0 || (size_t)t >= nlabels)
			continue;
		r->cls[t].support++;
		if (p >= 0 && (size_t)p < nlabels)
			r->confusion[(size_t)t * nlabels + (size_t)p]++;
		if (t == p) {
			r->cls[t].correct++;
			r->correct++;
		}
	}
	r->accuracy = n ? (double)r->correct / (double)n : 0;
	double f1sum = 0;
	size_t present = 0;
	for (size_t c = 0; c < nlabels; c++) {
		struct eval_class *k = &r->cls[c];
		k->precision = k->predicted ? (double)k->correct / (double)k->predicted : 0;
		k->recall = k->support ? (double)k->correct / (double)k->support : 0;
		k->f1 = k->precision + k->recall > 0
				? 2 * k->precision * k->recall / (k->precision + k->recall)
				: 0;
		/* Macro-F1 over the labels present in the truth or the predictions
		 * (scikit-learn's behaviour when labels= is not given). */
		if (k->support || k->predicted) {
			f1sum += k->f1;
			present++;
		}
	}
	r->macro_f1 = present ? f1sum / (double)present : 0;

	for (int k = 0; k < EVAL_NCURVE; k++)
		curve_point(r, s, n, k / (double)(EVAL_NCURVE - 1));
	if (threshold >= 0)
		curve_point(r, s, n, threshold);

	/* Expected calibration error: |accuracy - mean confidence| per bin, weighted. */
	double ece = 0;
	for (int b = 0; b < 10; b++) {
		double lo = b / 10.0, hi = (b + 1) / 10.0, sc = 0;
		size_t cnt = 0, ok = 0;
		for (size_t i = 0; i < n; i++)
			if (s[i].conf >= lo && (s[i].conf < hi || (b == 9 && s[i].conf <= hi))) {
				cnt++;
				ok += (size_t)s[i].correct;
				sc += s[i].conf;
			}
		if (cnt)
			ece += fabs((double)ok / (double)cnt - sc / (double)cnt) * (double)cnt / (double)n;
	}
	r->ece = ece;
	free(s);
	return 0;
}
