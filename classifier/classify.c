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
#include "classifier/html.h"
#include "classifier/model_impl.h"
#include "classifier/vector.h"
#include "common/util.h"

/*
 * Per message: the tokenizer's terms are only hashed as they come (cw_emit);
 * then all of them are looked up in one pass (strtab_find_many prefetches,
 * so the cache misses of a large vocabulary overlap), counted in a small
 * table sized to the message (cache-resident, unlike a table per feature),
 * and scored with the weight rows prefetched a few features ahead.
 */
struct clf_worker {
	const struct model *m;
	struct tokenizer *tok;
	uint64_t *hs;       /* hashes of the current message's terms */
	int32_t *ids;       /* their feature ids (-1: not in the vocabulary) */
	size_t nhs, caphs;
	struct idcount count;  /* the message's distinct features (count.uniq) */
	float *val;         /* their weights */
	size_t capval;
	int oom;
	double *scores, *probs;
};

int clf_preload(char *err, size_t errsz)
{
	return html_init(err, errsz);
}

struct clf_worker *clf_worker_new(const struct model *m, char *err, size_t errsz)
{
	struct clf_worker *w = calloc(1, sizeof *w);
	if (!w) {
		errf(err, errsz, "out of memory");
		return NULL;
	}
	w->m = m;
	w->scores = malloc(m->nlabels * sizeof *w->scores);
	w->probs = malloc(m->nlabels * sizeof *w->probs);
	if (!w->scores || !w->probs) {
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
	free(w->hs);
	free(w->ids);
	idcount_release(&w->count);
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
	if (len > MODEL_MAX_TERM_LEN || w->oom)
		return;
	if (w->nhs == w->caphs) {
		size_t cap = w->caphs ? w->caphs * 2 : 1024;
		uint64_t *h = realloc(w->hs, cap * sizeof *h);
		if (!h) {
			w->oom = 1;
			return;
		}
		w->hs = h;
		w->caphs = cap;
	}
	w->hs[w->nhs++] = strtab_hash(term, len);
}

/* Counts the known features of the message into count.uniq / val. Returns 0 or -1. */
static int count_features(struct clf_worker *w)
{
	size_t n = w->nhs;
	int32_t *ids = realloc(w->ids, (n ? n : 1) * sizeof *ids);
	if (!ids)
		return -1;
	w->ids = ids;
	strtab_find_many(&w->m->terms, w->hs, n, ids);
	if (idcount_run(&w->count, ids, n) < 0)
		return -1;
	if (w->count.n > w->capval) {
		float *v = realloc(w->val, w->count.cap / 2 * sizeof *v);
		if (!v) {
			for (size_t u = 0; u < w->count.n; u++)
				(void)idcount_take(&w->count, u);
			return -1;
		}
		w->val = v;
		w->capval = w->count.cap / 2;
	}
	for (size_t u = 0; u < w->count.n; u++)
		w->val[u] = (float)idcount_take(&w->count, u);
	return 0;
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

typedef double v4d __attribute__((vector_size(4 * sizeof(double))));
typedef float v4f __attribute__((vector_size(4 * sizeof(float))));

/*
 * scores[c] += val[k] * norm * W[uniq[k]][c] for every feature k and label c,
 * four labels at a time (the label count is only known at run time, so the
 * compiler would leave this loop scalar): the same operations in the same
 * order for each score, so the same results.
 */
VECTOR_CLONES
static void score_rows(const float *W, uint32_t nl, const uint32_t *uniq, const float *val,
		       size_t n, double norm, double *scores)
{
	for (size_t k = 0; k < n; k++) {
		const float *wj = W + (size_t)uniq[k] * nl;
		double v = val[k] * norm;
		uint32_t c = 0;
		for (; c + 4 <= nl; c += 4) {
			v4f f;
			v4d s;
			memcpy(&f, wj + c, sizeof f);
			memcpy(&s, scores + c, sizeof s);
			s += v * __builtin_convertvector(f, v4d);
			memcpy(scores + c, &s, sizeof s);
		}
		for (; c < nl; c++)
			scores[c] += v * wj[c];
	}
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
	if (!model_has_terms(m))
		nreasons = 0;  /* loaded for scoring only */
	w->nhs = 0;
	w->oom = 0;
	if (tok_message(w->tok, msg, cw_emit, w) < 0 || w->oom || count_features(w) < 0) {
		errno = ENOMEM;
		return -1;
	}
	/* Sublinear tf times idf, l2-normalised, as in training. */
	double norm = 0;
	enum { AHEAD = 8 };
	for (size_t k = 0; k < w->count.n; k++) {
		if (k + AHEAD < w->count.n) {
			/* Both misses of a feature, its idf and its weight row (two
			 * lines), start a few features ahead; the row is scored in
			 * the next loop. */
			size_t f = w->count.uniq[k + AHEAD];
			__builtin_prefetch(m->idf + f);
			__builtin_prefetch(m->w + f * nl);
			__builtin_prefetch(m->w + f * nl + nl - 1);
		}
		double v = tf_weight(w->val[k]) * m->idf[w->count.uniq[k]];
		w->val[k] = (float)v;
		norm += v * v;
	}
	norm = norm > 0 ? 1.0 / sqrt(norm) : 0;
	for (uint32_t c = 0; c < nl; c++)
		w->scores[c] = m->bias[c];
	score_rows(m->w, nl, w->count.uniq, w->val, w->count.n, norm, w->scores);
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
		for (size_t k = 0; k < w->count.n; k++)
			add_reason(r, ids, nreasons, w->count.uniq[k],
				   w->val[k] * norm * m->w[(size_t)w->count.uniq[k] * nl + (uint32_t)best]);
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
	struct stat st;
	int fd = open_stat(path, &st, err, errsz);
	if (fd < 0)
		return NULL;
	size_t want = 1 << 20;
	if (want > max)
		want = max;
	char *p = malloc(want + 1);
	if (!p) {
		close(fd);
		errf(err, errsz, "%s: out of memory", path);
		return NULL;
	}
	ssize_t got = read_full(fd, p, want);
	if (got < 0) {
		errf(err, errsz, "%s: %s", path, strerror(errno));
		free(p);
		close(fd);
		return NULL;
	}
	close(fd);
	p[got] = '\0';
	*len = (size_t)got;
	*total = (size_t)st.st_size;
	return p;
}

char *clf_read_file_into(const char *path, size_t max, char *buf, size_t bufsz, size_t *len,
			 size_t *total, char *err, size_t errsz)
{
	if (bufsz > 1) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			errf(err, errsz, "%s: %s", path, strerror(errno));
			return NULL;
		}
		ssize_t r;
		do
			r = read(fd, buf, bufsz - 1);
		while (r < 0 && errno == EINTR);
		int saved = errno;
		close(fd);
		if (r < 0) {
			errf(err, errsz, "%s: %s", path, strerror(saved));
			errno = saved;
			return NULL;
		}
		if ((size_t)r < bufsz - 1 && (size_t)r <= max) {
			buf[r] = '\0';
			*len = *total = (size_t)r;
			return buf;
		}
	}
	return clf_read_file(path, max, len, total, err, errsz);
}
