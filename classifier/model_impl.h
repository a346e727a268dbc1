/*
 * The inside of struct model, shared by the classifier's own files (model.c,
 * train.c, classify.c). Nothing outside classifier/ includes this.
 */
#ifndef TRIAGE_MODEL_IMPL_H
#define TRIAGE_MODEL_IMPL_H

#include <math.h>
#include <stdint.h>

#include "classifier/model.h"
#include "classifier/linear.h"
#include "classifier/strtab.h"

struct model {
	struct model_info info;
	struct tok_opts tok;
	double threshold;
	uint32_t nlabels;
	char **labels;          /* nlabels strings */
	struct strtab terms;    /* feature id = term id */
	char *terms_copy;       /* the terms' pool when copied (else borrowed from map) */
	char *surf_pool;        /* readable form of each term, NUL-separated;
				   points into map when the file is mapped */
	size_t surf_len;
	uint32_t *surf_off;     /* nfeat offsets into surf_pool */
	float *idf;             /* nfeat; points into map when the file is mapped */
	float *w;               /* nfeat * nlabels, feature-major: w[j * nlabels + c];
				   points into map when the file is mapped */
	float *bias;            /* nlabels */
	double *platt_a, *platt_b;  /* nlabels each */
	double platt_power;     /* tau (see platt_power_fit); 1 in older files */
	void *map;              /* the mapped model file, or NULL */
	int pool_borrowed;      /* surf_pool points into map */
	int w_borrowed;         /* w points into map */
	int idf_borrowed;       /* idf points into map */
	size_t map_len;
};

/* An empty model with room for nlabels labels (all arrays zeroed), or NULL. */
struct model *model_alloc(uint32_t nlabels);

/*
 * Turns decision values into a calibrated distribution: each label's Platt
 * probability, normalised to sum to 1. Returns the index of the most probable
 * label; probs gets nlabels values.
 */
int model_calibrate(const struct model *m, const double *scores, double *probs);

/* A term's weight for its count in a message, before idf: sublinear tf,
 * 1 + ln tf, the same in training and in classifying (1 exactly for the
 * most common count, 1, without calling log). */
static inline double tf_weight(double tf)
{
	return tf == 1.0 ? 1.0 : 1.0 + log(tf);
}

#endif
