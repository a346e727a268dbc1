/*
 * Classifying one message with a loaded model: terms -> tf-idf vector -> one
 * score per label -> calibrated confidence, and the terms that weighed most.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classifier/classifier.h"
#include "classifier/model_impl.h"
#include "common/util.h"

struct clf_worker {
	const struct model *m;
	struct tokenizer *tok;
	uint32_t *stamp;    /* feature -> generation of the message that last held it */
	uint32_t *pos;      /* feature -> slot in ids/cnt */
	uint32_t gen;
	uint32_t *ids;      /* features of the current message */
	float *val;         /* their counts, then weights */
	uint32_t nids, capids;
	int oom;
	double *scores, *probs;
};

struct clf_worker *clf_worker_new(const struct model *m, char *err, size_t errsz)
{
	struct clf_worker *w = calloc(1, sizeof *w);
	if (!w) {
		errf(err, errsz, "out of memory");
		return NULL;
	}
	w->m = m;
	size_t nf = m->terms.n ? m->terms.n : 1;
	w->stamp = calloc(nf, sizeof *w->stamp);
	w->pos = malloc(nf * sizeof *w->pos);
	w->scores = malloc(m->nlabels * sizeof *w->scores);
	w->probs = malloc(m->nlabels * sizeof *w->probs);
	if (!w->stamp || !w->pos || !w->scores || !w->probs) {
		errf(err, errsz, "out of memory");
		clf_worker_free(w);
		return NULL;
	}
	if (!(w->tok = tok_new(&m->tok, err, errsz))) {
		clf_worker_free(w);
		return NULL;
	}
	return w;
}

void clf_worker_free(struct clf_worker *w)
{
	if (!w)
		return;
	tok_free(w->tok);
	free(w->stamp);
	free(w->pos);
	free(w->ids);
	free(w->val);
	free(w->scores);
	free(w->probs);
	free(w);
}

static void cw_emit(void *ctx, const char *term, size_t len, const char *surf, size_t slen)
{
	struct clf_worker *w = ctx;
	(void)surf;
	(void)slen;
	if (len > MODEL_MAX_TERM_LEN)
		return;
	int64_t id = strtab_find(&w->m->terms, term, len);
	if (id < 0)
		return;
	if (w->stamp[id] == w->gen) {
		w->val[w->pos[id]] += 1.0f;
		return;
	}
	if (w->nids == w->capids) {
		uint32_t cap = w->capids ? w->capids * 2 : 512;
		uint32_t *a = realloc(w->ids, cap * sizeof *a);
		if (!a) {
			w->oom = 1;
			return;
		}
		w->ids = a;
		float *v = realloc(w->val, cap * sizeof *v);
		if (!v) {
			w->oom = 1;
			return;
		}
		w->val = v;
		w->capids = cap;
	}
	w->stamp[id] = w->gen;
	w->pos[id] = w->nids;
	w->ids[w->nids] = (uint32_t)id;
	w->val[w->nids] = 1.0f;
	w->nids++;
}

const char *clf_kind_name(char kind)
{
	switch (kind) {
	case 'b': return "body";
	case 'q': return "quote";
	case 'f': return "forward";
	case 'g': return "signature";
	case 'x': return "disclaimer";
	case 's': return "subject";
	case 'd': return "sender domain";
	case 'u': return "link";
	case 'a': return "attachment";
	case 'h': return "header";
	default: return "other";
	}
}

/* Keeps the `want` largest contributions to the chosen label, largest first;
 * ids[k] is the feature behind r->reasons[k]. */
static void add_reason(struct clf_result *r, uint32_t *ids, unsigned want, uint32_t id,
		       double weight)
{
	if (weight <= 0 || want == 0)
		return;
	size_t k = r->nreasons;
	if (k == want) {
		if (weight <= r->reasons[k - 1].weight)
			return;
		k--;
	} else {
		r->nreasons++;
	}
	while (k > 0 && r->reasons[k - 1].weight < weight) {
		r->reasons[k].weight = r->reasons[k - 1].weight;
		ids[k] = ids[k - 1];
		k--;
	}
	r->reasons[k].weight = weight;
	ids[k] = id;
}

static void fill_reason(const struct model *m, uint32_t id, struct clf_reason *reason)
{
	size_t len;
	const char *term = strtab_str(&m->terms, id, &len);
	const char *surf = m->surf_off ? m->surf_pool + m->surf_off[id] : "";
	reason->kind = term[0];
	/* The readable form when there is one, else the term without its "x:". */
	const char *show = *surf ? surf : (len > 2 && term[1] == ':' ? term + 2 : term);
	snprintf(reason->term, sizeof reason->term, "%s", show);
}

int clf_classify_msg(struct clf_worker *w, const struct msg *msg, unsigned nreasons,
		     struct clf_result *r)
{
	const struct model *m = w->m;
	uint32_t nl = m->nlabels;
	memset(r, 0, offsetof(struct clf_result, reasons));
	r->msg_flags = msg->flags;
	if (nreasons > CLF_MAX_REASONS)
		nreasons = CLF_MAX_REASONS;
	if (++w->gen == 0) {
		/* Generations wrapped: forget every stamp once in 2^32 messages. */
		memset(w->stamp, 0, (m->terms.n ? m->terms.n : 1) * sizeof *w->stamp);
		w->gen = 1;
	}
	w->nids = 0;
	w->oom = 0;
	if (tok_message(w->tok, msg, cw_emit, w) < 0 || w->oom) {
		errno = ENOMEM;
		return -1;
	}
	/* Sublinear tf times idf, l2-normalised, as in training. */
	double norm = 0;
	for (uint32_t k = 0; k < w->nids; k++) {
		double v = (1.0 + log((double)w->val[k])) * m->idf[w->ids[k]];
		w->val[k] = (float)v;
		norm += v * v;
	}
	norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
	for (uint32_t c = 0; c < nl; c++)
		w->scores[c] = m->bias[c];
	for (uint32_t k = 0; k < w->nids; k++) {
		const float *wj = m->w + (size_t)w->ids[k] * nl;
		double v = w->val[k] * norm;
		for (uint32_t c = 0; c < nl; c++)
			w->scores[c] += v * wj[c];
	}
	int best = model_calibrate(m, w->scores, w->probs);
	int second = best == 0 ? 1 : 0;
	for (uint32_t c = 0; c < nl; c++)
		if ((int)c != best && w->probs[c] > w->probs[second])
			second = (int)c;
	r->label = best;
	r->confidence = w->probs[best];
	r->second = second;
	r->second_confidence = w->probs[second];
	if (nreasons) {
		uint32_t ids[CLF_MAX_REASONS];
		for (uint32_t k = 0; k < w->nids; k++)
			add_reason(r, ids, nreasons, w->ids[k],
				   w->val[k] * norm * m->w[(size_t)w->ids[k] * nl + (uint32_t)best]);
		for (size_t k = 0; k < r->nreasons; k++)
			fill_reason(m, ids[k], &r->reasons[k]);
	}
	return 0;
}

void clf_read_message(struct msg *m, const char *raw, size_t len, size_t total,
		      const struct msg_limits *lim, int *degraded, char *err, size_t errsz)
{
	struct msg_limits dl;
	char e[192];
	if (!lim) {
		msg_limits_default(&dl);
		lim = &dl;
	}
	*degraded = 0;
	if (err && errsz)
		err[0] = '\0';
	if (total < len)
		total = len;
	if (total > lim->max_size) {
		msg_parse_headers(m, raw, len, lim, e, sizeof e);
		*degraded = 1;
		errf(err, errsz, "message too large (%zu bytes, limit %zu): decided from its headers",
		     total, lim->max_size);
		return;
	}
	if (msg_parse(m, raw, len, lim, e, sizeof e) < 0) {
		*degraded = 1;
		errf(err, errsz, "%s: decided from its headers", e);
	}
}

int clf_classify_raw(struct clf_worker *w, const char *raw, size_t len, size_t total,
		     const struct msg_limits *lim, unsigned nreasons, struct clf_result *r)
{
	struct msg m;
	int degraded;
	char e[sizeof r->error];
	clf_read_message(&m, raw, len, total, lim, &degraded, e, sizeof e);
	int ret = clf_classify_msg(w, &m, nreasons, r);
	msg_release(&m);
	r->degraded = degraded;
	if (degraded)
		snprintf(r->error, sizeof r->error, "%s", e);
	return ret;
}

char *clf_read_file(const char *path, size_t max, size_t *len, size_t *total, char *err,
		    size_t errsz)
{
	char *raw = read_file(path, max, len, err, errsz);
	if (raw) {
		*total = *len;
		return raw;
	}
	if (errno != EFBIG)
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		errf(err, errsz, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	size_t want = 1 << 20, got = 0;
	if (want > max)
		want = max;
	char *p = malloc(want + 1);
	if (!p) {
		close(fd);
		errf(err, errsz, "%s: out of memory", path);
		return NULL;
	}
	while (got < want) {
		ssize_t n = read(fd, p + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errf(err, errsz, "%s: %s", path, strerror(errno));
			free(p);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	p[got] = '\0';
	*len = got;
	*total = (size_t)st.st_size;
	return p;
}
