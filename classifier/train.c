/*
 * Training: a labelled corpus -> a model.
 *
 *  1. read and tokenise every message (in parallel, one tokenizer and one
 *     dictionary per thread), counting each message's terms;
 *  2. merge the dictionaries, count document frequencies, keep the terms in at
 *     least min_df messages (at most max_features, the most frequent);
 *  3. weigh: sublinear tf (1 + ln tf) times smoothed idf, l2-normalised rows;
 *  4. one-vs-rest linear classifiers, trained on k stratified folds (for
 *     out-of-fold scores) and on everything (the model), all as parallel tasks
 *     (the SVM's labels in groups of up to LINEAR_GROUP, solved together);
 *     the model's vocabulary is built meanwhile, by a thread that has no
 *     model ready to train;
 *  5. Platt scaling per label on the out-of-fold scores, the power that
 *     sharpens their normalised probabilities (platt_power_fit), and the
 *     recommended threshold: the lowest calibrated confidence at which the
 *     precision of the out-of-fold mail that would be filed reaches the
 *     target (95%).
 *
 * Results do not depend on the number of threads: feature ids come from the
 * terms themselves, rows are sorted, and each task has its own seed.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "classifier/classifier.h"
#include "classifier/linear.h"
#include "classifier/model_impl.h"
#include "classifier/parallel.h"
#include "classifier/readbatch.h"
#include "classifier/strtab.h"
#include "common/buf.h"
#include "common/util.h"

/* Distinct terms a training run may see before pruning. */
#define TRAIN_MAX_TERMS (1u << 25)
/* The solvers' tolerance for the cross-validation models: logistic
 * regression's, the SVM's (see fit_one). */
#define CV_EPS 1.0
#define SVM_CV_EPS 0.5

void train_opts_default(struct train_opts *o)
{
	memset(o, 0, sizeof *o);
	tok_opts_default(&o->tok);
	o->algo = CLF_SVM;
	/*
	 * C = 4: the best of 1, 2, 4 and 8 by 3-fold cross-validation on both
	 * corpora at hand (macro-F1, French corpus: 0.870, 0.874, 0.882, 0.881;
	 * 20 Newsgroups train: 0.924, 0.924, 0.926, 0.927, where 8 costs a
	 * third more time for 0.001). liblinear's and scikit-learn's 1 suits
	 * fewer, denser features than these l2-normalised unigrams and bigrams.
	 */
	o->c = 4.0;
	o->seed = 1;
	o->folds = 3;
	o->min_df = 2;
	o->max_features = 1u << 18;
	o->threads = 0;
	o->target_precision = 0.95;
	msg_limits_default(&o->limits);
}

void train_result_release(struct train_result *r)
{
	free(r->truth);
	free(r->pred);
	free(r->conf);
	memset(r, 0, sizeof *r);
}

/* ---- step 1: reading and tokenising ------------------------------------------ */

/*
 * A message's distinct terms, one word each in the chunks of the worker that
 * read it: the term's local id in its low DOC_ID_BITS bits, its count above
 * them; a count of DOC_CNT_MAX or more is written DOC_CNT_MAX there and
 * whole in a word after the n entries, in entry order (see doc_count). Half
 * the memory of an id and a count apiece: most counts are 1.
 */
#define DOC_ID_BITS 26
#define DOC_ID_MASK ((1u << DOC_ID_BITS) - 1)
#define DOC_CNT_MAX (UINT32_MAX >> DOC_ID_BITS)
_Static_assert(TRAIN_MAX_TERMS - 1 <= DOC_ID_MASK, "a local id fits in DOC_ID_BITS");

struct doc {
	uint32_t *e;
	uint32_t n;
	uint16_t worker;
};

/* The count of entry e; *big: the next whole count after the entries. */
static inline uint32_t doc_count(uint32_t e, const uint32_t **big)
{
	uint32_t c = e >> DOC_ID_BITS;
	return c < DOC_CNT_MAX ? c : *(*big)++;
}

struct pend {
	uint64_t h;
	uint32_t toff, tlen;  /* the term in arena */
	uint32_t soff, slen;  /* its readable form in arena */
};

struct tworker {
	struct tokenizer *tok;
	char *rbuf;          /* CLF_READ_BUF bytes for the files that fit */
	struct readbatch *rb;  /* reads them in batches (NULL: one by one) */
	struct strtab dict;
	uint32_t *first;     /* local id -> index of the first message holding it */
	uint32_t *surf;      /* local id -> offset of its readable form in surfbuf */
	uint32_t *df;        /* local id -> messages of this worker holding it */
	struct buf surfbuf;
	size_t cap;          /* entries in first, surf and df */
	uint32_t doc;        /* the message being read */
	/* the message's terms, as emitted (looked up together at its end) */
	struct buf arena;
	struct pend *pend;
	size_t npend, cappend;
	int32_t *ids;
	struct idcount count;  /* the message's distinct terms */
	size_t degraded;
	int oom;
	/* The messages' ids and counts, carved from big blocks (a few huge
	 * pages instead of two small blocks a message). */
	char **chunks;
	size_t nchunks, capchunks, chunk_left;
	char *chunk_at;
};

struct tctx {
	const struct corpus *c;
	const struct train_opts *o;
	struct tworker *w;     /* nworkers of them */
	unsigned nworkers;
	struct doc *docs;
	atomic_size_t done;
	atomic_int failed;
	pthread_mutex_t lock;
	char err[512];
};

static int tw_grow(struct tworker *w, size_t need)
{
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < need)
		cap *= 2;
	uint32_t *a = big_realloc(w->first, cap * sizeof *a);
	if (!a)
		return -1;
	w->first = a;
	if (!(a = big_realloc(w->surf, cap * sizeof *a)))
		return -1;
	w->surf = a;
	if (!(a = big_realloc(w->df, cap * sizeof *a)))
		return -1;
	w->df = a;
	w->cap = cap;
	return 0;
}

#define DOC_CHUNK ((size_t)4 << 20)

/* Room for n words, or NULL. */
static uint32_t *tw_doc_alloc(struct tworker *w, size_t n)
{
	size_t bytes = (n ? n : 1) * sizeof(uint32_t);
	if (bytes > w->chunk_left) {
		if (w->nchunks == w->capchunks) {
			size_t cap = w->capchunks ? 2 * w->capchunks : 16;
			char **c = realloc(w->chunks, cap * sizeof *c);
			if (!c)
				return NULL;
			w->chunks = c;
			w->capchunks = cap;
		}
		size_t size = bytes > DOC_CHUNK ? bytes : DOC_CHUNK;
		if (!(w->chunk_at = big_alloc(size)))
			return NULL;
		w->chunks[w->nchunks++] = w->chunk_at;
		w->chunk_left = size;
	}
	uint32_t *p = (uint32_t *)(void *)w->chunk_at;
	w->chunk_at += bytes;
	w->chunk_left -= bytes;
	return p;
}

static void tw_doc_release(struct tworker *w)
{
	for (size_t k = 0; k < w->nchunks; k++)
		free(w->chunks[k]);
	free(w->chunks);
	w->chunks = NULL;
	w->nchunks = w->capchunks = w->chunk_left = 0;
	w->chunk_at = NULL;
}

/* What only reading needs: freed as soon as it is over, so that the steps
 * after it reuse those pages instead of faulting in fresh ones (on a virtual
 * machine, memory the host has not backed yet costs about 2 ms a MB). */
static void tw_reading_release(struct tworker *w)
{
	tok_free(w->tok);
	w->tok = NULL;
	free(w->rbuf);
	w->rbuf = NULL;
	rb_free(w->rb);
	w->rb = NULL;
	buf_release(&w->arena);
	free(w->pend);
	w->pend = NULL;
	w->npend = w->cappend = 0;
	free(w->ids);
	w->ids = NULL;
	idcount_release(&w->count);
}

/* All of a worker's memory (again: nothing). */
static void tw_release(struct tworker *w)
{
	tw_reading_release(w);
	strtab_release(&w->dict);
	buf_release(&w->surfbuf);
	free(w->first);
	free(w->df);
	free(w->surf);
	w->first = w->df = w->surf = NULL;
	w->cap = 0;
	tw_doc_release(w);
}

/* Only buffers the term: the dictionary is probed once per message
 * (finish_doc), with prefetching, instead of once per term. */
static void tw_emit(void *ctx, const char *term, size_t len, const char *surf, size_t slen)
{
	struct tworker *w = ctx;
	if (w->oom || len == 0 || len > MODEL_MAX_TERM_LEN)
		return;
	if (slen > MODEL_MAX_TERM_LEN)
		slen = 0;  /* too long to show: the term itself will be shown */
	if (w->npend == w->cappend) {
		size_t cap = w->cappend ? w->cappend * 2 : 1024;
		struct pend *p = realloc(w->pend, cap * sizeof *p);
		if (!p) {
			w->oom = 1;
			return;
		}
		w->pend = p;
		w->cappend = cap;
	}
	struct pend *p = &w->pend[w->npend];
	p->h = strtab_hash(term, len);
	p->toff = (uint32_t)w->arena.len;
	p->tlen = (uint32_t)len;
	p->soff = (uint32_t)(w->arena.len + len);
	p->slen = (uint32_t)slen;
	if (buf_append(&w->arena, term, len) < 0 || buf_append(&w->arena, surf, slen) < 0) {
		w->oom = 1;
		return;
	}
	w->npend++;
}

/* Interns the message's terms and counts them into w->count. Returns 0 or
 * -1 (ENOMEM, or E2BIG: too many terms). */
static int finish_doc(struct tworker *w)
{
	size_t n = w->npend;
	int32_t *ids = realloc(w->ids, (n ? n : 1) * sizeof *ids);
	if (!ids)
		return -1;
	w->ids = ids;
	uint64_t *hs = malloc((n ? n : 1) * sizeof *hs);
	if (!hs)
		return -1;
	for (size_t k = 0; k < n; k++)
		hs[k] = w->pend[k].h;
	strtab_find_many(&w->dict, hs, n, ids);
	free(hs);
	for (size_t k = 0; k < n; k++) {
		if (ids[k] >= 0)
			continue;
		const struct pend *p = &w->pend[k];
		int added;
		int64_t id = strtab_intern_h(&w->dict, w->arena.data + p->toff, p->tlen, p->h, &added);
		if (id < 0 || (id >= (int64_t)w->cap && tw_grow(w, (size_t)id + 1) < 0))
			return -1;
		if (added) {
			/* The readable form, or "" when it is the term without its
			 * "x:" (what explanations show then): 44% of 20 Newsgroups'
			 * vocabulary, a twentieth of the memory of reading it. */
			const char *surf = w->arena.data + p->soff, *term = w->arena.data + p->toff;
			size_t slen = p->slen;
			if (p->tlen > 2 && term[1] == ':' && slen == p->tlen - 2 &&
			    !memcmp(surf, term + 2, slen))
				slen = 0;
			w->first[id] = w->doc;
			w->df[id] = 0;
			w->surf[id] = (uint32_t)w->surfbuf.len;
			if (buf_append(&w->surfbuf, surf, slen) < 0 || buf_appendc(&w->surfbuf, '\0') < 0)
				return -1;
		}
		ids[k] = (int32_t)id;
	}
	return idcount_run(&w->count, ids, n);
}

static void tctx_fail(struct tctx *t, const char *msg)
{
	pthread_mutex_lock(&t->lock);
	if (!atomic_load(&t->failed))
		snprintf(t->err, sizeof t->err, "%s", msg);
	atomic_store(&t->failed, 1);
	pthread_mutex_unlock(&t->lock);
}

/*
 * Makes worker k ready to read: its tokenizer, buffers and dictionary, with
 * room for the terms it will likely meet (20 Newsgroups: about 170 distinct
 * terms per message it reads, most of them seen once, 111 to 132 new terms
 * a message depending on the worker, 13 bytes a term and 13 for its
 * readable form), so that its table is not rebuilt, nor its pools copied, as
 * they grow. Room reserved and not used is never touched, except the
 * table's slots (zeroed): 160 a message keeps them at 2^21 for 20
 * Newsgroups on two threads, and the ids' arrays are not copied (at 128
 * they were, 5.8 and 11.6 MB of them, for the worker that met 132). The
 * workers are set up side by side (par_for): those slots, 16 MB a worker
 * there, are faulted in and zeroed on every thread at once instead of one
 * worker after the other before reading starts.
 */
static void tw_setup(void *ctx, unsigned worker, size_t k)
{
	struct tctx *t = ctx;
	struct tworker *w = &t->w[k];
	size_t guess = t->c->n / t->nworkers * 160;
	if (guess > TRAIN_MAX_TERMS / 4)
		guess = TRAIN_MAX_TERMS / 4;
	if (strtab_reserve(&w->dict, (uint32_t)guess, guess * 16) < 0 || tw_grow(w, guess) < 0 ||
	    buf_reserve(&w->surfbuf, guess * 16) < 0 || !(w->rbuf = malloc(CLF_READ_BUF))) {
		tctx_fail(t, "out of memory");
		return;
	}
	char err[512];
	if (!(w->tok = tok_new(&t->o->tok, err, sizeof err))) {
		tctx_fail(t, err);
		return;
	}
	w->rb = rb_new(CLF_READ_BUF);  /* NULL: the files are read one by one */
}

/* Message i; pre: its bytes when already read (pre_len of them), else NULL. */
static void read_one(struct tctx *t, unsigned worker, size_t i, char *pre, size_t pre_len)
{
	struct tworker *w = &t->w[worker];
	if (atomic_load(&t->failed))
		return;
	char err[512];
	size_t len;
	const char *path = t->c->paths[i];
	struct msg_limits lim = t->o->limits;
	size_t total;
	char *raw;
	if (pre && pre_len <= lim.max_size) {
		raw = pre;
		len = total = pre_len;
	} else if (!(raw = clf_read_file_into(path, lim.max_size, w->rbuf, CLF_READ_BUF, &len,
					      &total, err, sizeof err))) {
		tctx_fail(t, err);
		return;
	}
	struct msg m;
	int degraded;
	clf_read_message(&m, raw, len, total, &lim, &degraded, err, sizeof err);
	w->doc = (uint32_t)i;
	w->npend = 0;
	buf_reset(&w->arena);
	int r = tok_message(w->tok, &m, tw_emit, w);
	msg_release(&m);
	if (raw != w->rbuf && raw != pre)
		free(raw);
	if (r < 0 || w->oom || finish_doc(w) < 0) {
		tctx_fail(t, errno == E2BIG ? "too many distinct terms in the corpus"
					    : "out of memory while reading the corpus");
		return;
	}
	w->degraded += (size_t)degraded;
	struct doc *d = &t->docs[i];
	d->worker = (uint16_t)worker;
	struct idcount *cn = &w->count;
	d->n = (uint32_t)cn->n;
	size_t nbig = 0;
	for (size_t u = 0; u < cn->n; u++)
		nbig += idcount_peek(cn, u) >= DOC_CNT_MAX;
	if (!(d->e = tw_doc_alloc(w, cn->n + nbig))) {
		tctx_fail(t, "out of memory while reading the corpus");
		return;
	}
	uint32_t *big = d->e + cn->n;
	for (size_t u = 0; u < cn->n; u++) {
		w->df[cn->uniq[u]]++;
		uint32_t c = idcount_take(cn, u);
		if (c >= DOC_CNT_MAX)
			*big++ = c;
		d->e[u] = cn->uniq[u] | (c < DOC_CNT_MAX ? c : DOC_CNT_MAX) << DOC_ID_BITS;
	}
	size_t done = atomic_fetch_add(&t->done, 1) + 1;
	if (worker == 0 && t->o->progress && (done & 255) == 0)
		t->o->progress(t->o->progress_ctx, "reading", done, t->c->n);
}

/* Starts reading messages [i, i + n), n <= RB_FILES, in one batch where the
 * kernel allows (the corpus's files are regular files: corpus_scan lists
 * no other), while the thread works on the run before. */
static void read_start(void *ctx, unsigned worker, size_t i, size_t n)
{
	struct tctx *t = ctx;
	struct readbatch *rb = t->w[worker].rb;
	if (!rb)
		return;
	(void)rb_submit(rb, t->c->paths + i, (unsigned)n);  /* at most two on their way */
}

/* Messages [i, i + n), started by read_start. */
static void read_run(void *ctx, unsigned worker, size_t i, size_t n)
{
	struct tctx *t = ctx;
	struct readbatch *rb = t->w[worker].rb;
	if (rb)
		rb_wait(rb);
	for (size_t k = 0; k < n; k++) {
		size_t len = 0;
		char *pre = rb ? rb_get(rb, (unsigned)k, &len) : NULL;
		read_one(t, worker, i + k, pre, len);
	}
}

/* ---- a small sort for row entries (hot: one per message) ------------------ */

static void sort_u64(uint64_t *a, size_t n)
{
	uint64_t t;
#define SWAP(x, y) (t = (x), (x) = (y), (y) = t)
	while (n > 16) {
		/* Median of three moved to the end, then Lomuto's partition. */
		size_t mid = n / 2, store = 0;
		if (a[mid] < a[0])
			SWAP(a[mid], a[0]);
		if (a[n - 1] < a[0])
			SWAP(a[n - 1], a[0]);
		if (a[mid] < a[n - 1])
			SWAP(a[mid], a[n - 1]);
		uint64_t p = a[n - 1];
		/* Branch-free: swapped whether or not it is smaller (row entries
		 * come in no order, and a branch would be mispredicted half the
		 * time). */
		for (size_t i = 0; i + 1 < n; i++) {
			uint64_t v = a[i];
			a[i] = a[store];
			a[store] = v;
			store += v < p;
		}
		SWAP(a[store], a[n - 1]);
		/* Recurse into the smaller side, loop on the larger. */
		if (store < n - store - 1) {
			sort_u64(a, store);
			a += store + 1;
			n -= store + 1;
		} else {
			sort_u64(a + store + 1, n - store - 1);
			n = store;
		}
	}
#undef SWAP
	for (size_t i = 1; i < n; i++) {
		uint64_t v = a[i];
		size_t j = i;
		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

/* ---- step 2: the vocabulary ---------------------------------------------------- */

/*
 * The merged vocabulary. Terms are identified by their 64-bit hash (as strtab
 * does): merging the workers' dictionaries touches no string, and only the
 * terms kept get their string copied into the model.
 */
struct vocab_build {
	size_t nids;           /* the workers' local ids, all of them */
	uint32_t ng;           /* distinct terms */
	uint32_t **map;        /* per worker: local id -> g id (-> feature id once the
				  rows are built: see compose_chunk) */
	uint32_t *df;          /* g id -> messages holding it */
	uint32_t *first;       /* g id -> first message holding it */
	uint32_t *src;         /* g id -> its local id in src_worker's dictionary */
	uint16_t *src_worker;  /* g id -> the worker that saw it first */
	uint32_t *final;       /* g id -> feature id, or UINT32_MAX */
	uint32_t nfeat;
	uint32_t *feat_g;      /* feature id -> g id */
	uint64_t *feat_h;      /* feature id -> its term's hash */
};

/* Frees v's arrays (again: nothing); its counts stay, to be reported. */
static void vocab_build_release(struct vocab_build *v, unsigned nworkers)
{
	if (v->map)
		for (unsigned k = 0; k < nworkers; k++)
			free(v->map[k]);
	free(v->map);
	free(v->df);
	free(v->first);
	free(v->src);
	free(v->src_worker);
	free(v->final);
	free(v->feat_g);
	free(v->feat_h);
	v->map = NULL;
	v->df = v->first = v->src = v->final = v->feat_g = NULL;
	v->src_worker = NULL;
	v->feat_h = NULL;
}

/* Terms ordered by their 64-bit hash: an order that depends on the terms
 * only, cheap to sort. */
struct hkey {
	uint64_t h;
	uint32_t g;
};

static int by_hash(const void *a, const void *b)
{
	const struct hkey *x = a, *y = b;
	return x->h < y->h ? -1 : x->h > y->h;
}

/* Sorts by hash: an LSD radix sort, 16 bits a pass, for the large case
 * (hundreds of thousands of candidates: several times faster than qsort). */
static int sort_by_hash(struct hkey *a, size_t n)
{
	if (n < 4096) {
		qsort(a, n, sizeof *a, by_hash);
		return 0;
	}
	struct hkey *tmp = big_alloc(n * sizeof *tmp);
	size_t *count = malloc(65536 * sizeof *count);
	if (!tmp || !count) {
		free(tmp);
		free(count);
		return -1;
	}
	struct hkey *src = a, *dst = tmp;
	for (unsigned shift = 0; shift < 64; shift += 16) {
		memset(count, 0, 65536 * sizeof *count);
		for (size_t i = 0; i < n; i++)
			count[(src[i].h >> shift) & 0xffff]++;
		size_t sum = 0;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = count[d];
			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].h >> shift) & 0xffff]++] = src[i];
		struct hkey *t = src;
		src = dst;
		dst = t;
	}
	/* four passes: the result is back in a */
	free(tmp);
	free(count);
	return 0;
}

static const struct strtab *src_dict(const struct vocab_build *v, const struct tctx *t, uint32_t g)
{
	return &t->w[v->src_worker[g]].dict;
}

/*
 * Merging the workers' dictionaries, without a table of its own: worker 0's
 * terms keep their ids as global ones; each later worker's terms are looked
 * up in the earlier workers' dictionaries (by hash, as strtab compares), and
 * those none holds are numbered after all the earlier ones. The lookups run
 * in parallel, a range of a worker's ids per task; the numbering is a pass.
 * (Global ids depend on which worker read which message; nothing kept does:
 * features are ordered by hash and df, and a term's source is its first
 * message.)
 */
#define MERGE_CHUNK 2048u

struct merge_ctx {
	struct tctx *t;
	struct vocab_build *v;
	unsigned k;            /* the worker whose terms are looked up */
};

/* map[k][id] for the ids of chunk c: the global id of the first earlier
 * worker holding the term, or UINT32_MAX. */
static void merge_chunk(void *ctx, unsigned worker, size_t c)
{
	struct merge_ctx *mc = ctx;
	const struct strtab *d = &mc->t->w[mc->k].dict;
	uint32_t *map = mc->v->map[mc->k];
	uint64_t hs[MERGE_CHUNK];
	uint32_t at[MERGE_CHUNK];
	int32_t found[MERGE_CHUNK];
	uint32_t lo = (uint32_t)c * MERGE_CHUNK, hi = d->n - lo < MERGE_CHUNK ? d->n : lo + MERGE_CHUNK;
	size_t n = 0;
	for (uint32_t id = lo; id < hi; id++) {
		map[id] = UINT32_MAX;
		hs[n] = d->hash[id];
		at[n++] = id;
	}
	for (unsigned j = 0; j < mc->k && n > 0; j++) {
		strtab_find_many(&mc->t->w[j].dict, hs, n, found);
		size_t left = 0;
		for (size_t q = 0; q < n; q++) {
			if (found[q] >= 0) {
				map[at[q]] = mc->v->map[j][found[q]];
			} else {
				hs[left] = hs[q];
				at[left++] = at[q];
			}
		}
		n = left;
	}
}

static int vocab_select(struct vocab_build *v, struct tctx *t, const struct train_opts *o,
			char *err, size_t errsz)
{
	unsigned nworkers = t->nworkers;
	v->nids = 0;
	for (unsigned k = 0; k < nworkers; k++)
		v->nids += t->w[k].dict.n;
	/* Nothing is looked up in the last worker's dictionary (only in those
	 * before the one merged): its index (16 MB for 20 Newsgroups on two
	 * threads) is freed first, so that the pages of the arrays below are
	 * mostly these, which the host backs already, instead of fresh ones
	 * (vocabulary 55 ms instead of 67, medians of six alternating runs; 4 to
	 * 15 ms of system time instead of 4 to 41). */
	strtab_drop_index(&t->w[nworkers - 1].dict);
	v->map = calloc(nworkers, sizeof *v->map);
	v->first = big_alloc(v->nids * sizeof *v->first);
	v->df = big_alloc(v->nids * sizeof *v->df);
	v->src = big_alloc(v->nids * sizeof *v->src);
	v->src_worker = big_alloc(v->nids * sizeof *v->src_worker);
	if (!v->map || !v->first || !v->df || !v->src || !v->src_worker)
		return errf(err, errsz, "out of memory");
	for (unsigned k = 0; k < nworkers; k++)
		if (!(v->map[k] = big_alloc((t->w[k].dict.n ? t->w[k].dict.n : 1) * sizeof *v->map[k])))
			return errf(err, errsz, "out of memory");
	struct merge_ctx mc = { t, v, 0 };
	v->ng = 0;
	for (unsigned k = 0; k < nworkers; k++) {
		const struct tworker *w = &t->w[k];
		uint32_t *map = v->map[k];
		if (k > 0) {
			mc.k = k;
			par_for(nworkers, (w->dict.n + MERGE_CHUNK - 1) / MERGE_CHUNK, merge_chunk, &mc);
		}
		for (uint32_t id = 0; id < w->dict.n; id++) {
			uint32_t g = k > 0 ? map[id] : UINT32_MAX;
			if (g == UINT32_MAX) {
				map[id] = g = v->ng++;
				v->df[g] = w->df[id];
			} else {
				v->df[g] += w->df[id];
				if (w->first[id] >= v->first[g])
					continue;
			}
			/* new, or first seen in an earlier message than where it was */
			v->first[g] = w->first[id];
			v->src[g] = id;
			v->src_worker[g] = (uint16_t)k;
		}
	}
	/* Merged: the dictionaries' indexes and the first messages are done with,
	 * and their pages serve what follows. */
	for (unsigned k = 0; k < nworkers; k++) {
		strtab_drop_index(&t->w[k].dict);
		free(t->w[k].first);
		free(t->w[k].df);
		t->w[k].first = t->w[k].df = NULL;
	}
	free(v->first);
	v->first = NULL;
	uint32_t ng = v->ng;
	if (!(v->final = big_alloc((ng ? ng : 1) * sizeof *v->final)))
		return errf(err, errsz, "out of memory");
	/* Keep terms in at least min_df messages; when more than max_features
	 * remain, the most frequent (a df cut, ties broken in term order). */
	uint32_t min_df = o->min_df ? o->min_df : 1;
	uint32_t maxdf = 0;
	size_t kept = 0;
	for (uint32_t g = 0; g < ng; g++)
		if (v->df[g] >= min_df) {
			kept++;
			if (v->df[g] > maxdf)
				maxdf = v->df[g];
		}
	uint32_t cut = min_df;  /* keep df > cut, and df == cut while room */
	size_t room = o->max_features;
	if (kept > o->max_features) {
		size_t *hist = calloc((size_t)maxdf + 2, sizeof *hist);
		if (!hist)
			return errf(err, errsz, "out of memory");
		for (uint32_t g = 0; g < ng; g++)
			if (v->df[g] >= min_df)
				hist[v->df[g]]++;
		size_t above = 0;
		cut = maxdf;
		while (cut > min_df && above + hist[cut] <= o->max_features)
			above += hist[cut--];
		room = o->max_features - above;
		free(hist);
	} else {
		cut = min_df;
		room = (size_t)-1;
	}
	struct hkey *cand = big_alloc((kept ? kept : 1) * sizeof *cand);
	if (!cand)
		return errf(err, errsz, "out of memory");
	size_t nc = 0;
	for (uint32_t g = 0; g < ng; g++)
		if (v->df[g] >= min_df) {
			cand[nc].h = src_dict(v, t, g)->hash[v->src[g]];
			cand[nc++].g = g;
		}
	for (unsigned k = 0; k < nworkers; k++)
		strtab_drop_hashes(&t->w[k].dict);
	if (sort_by_hash(cand, nc) < 0) {
		free(cand);
		return errf(err, errsz, "out of memory");
	}
	for (uint32_t g = 0; g < ng; g++)
		v->final[g] = UINT32_MAX;
	v->nfeat = 0;
	/* the kept candidates, in hash order, over the first ones of cand */
	for (size_t k = 0; k < nc; k++) {
		uint32_t g = cand[k].g;
		if (v->df[g] > cut || (v->df[g] == cut && room > 0)) {
			if (v->df[g] == cut && room != (size_t)-1)
				room--;
			cand[v->nfeat++] = cand[k];
		}
	}
	/*
	 * Feature ids by decreasing df, ties in hash order (a stable counting
	 * sort): the weights of the frequent terms, which most non-zeros touch,
	 * share cache lines, in the solver (20 Newsgroups, one sum in its dot
	 * product: a fifth faster than in hash order, best of 3 runs) and in
	 * classify's scoring.
	 */
	v->feat_g = big_alloc((v->nfeat ? v->nfeat : 1) * sizeof *v->feat_g);
	v->feat_h = big_alloc((v->nfeat ? v->nfeat : 1) * sizeof *v->feat_h);
	size_t *start = calloc((size_t)maxdf + 2, sizeof *start);
	if (!v->feat_g || !v->feat_h || !start) {
		free(cand);
		free(start);
		return errf(err, errsz, "out of memory");
	}
	for (uint32_t j = 0; j < v->nfeat; j++)
		start[maxdf - v->df[cand[j].g] + 1]++;
	for (uint32_t d = 1; d <= maxdf + 1; d++)
		start[d] += start[d - 1];
	for (uint32_t j = 0; j < v->nfeat; j++) {
		size_t at = start[maxdf - v->df[cand[j].g]]++;
		v->feat_g[at] = cand[j].g;
		v->feat_h[at] = cand[j].h;
	}
	free(start);
	free(cand);
	for (uint32_t j = 0; j < v->nfeat; j++)
		v->final[v->feat_g[j]] = j;
	return 0;
}

/* ---- step 3: the weighted rows ------------------------------------------------- */

struct csr_ctx {
	struct tctx *t;
	struct vocab_build *v;
	const float *idf;
	struct csr *x;
	uint64_t **scratch;   /* per worker */
	uint32_t *scap;
};

/*
 * The workers' maps, from local id to global id, become maps from local id
 * to feature id (or UINT32_MAX), in place: the rows then look each term up
 * once instead of twice (at random, in tables larger than the caches), and
 * there are a third as many local ids as term occurrences. Task c: ids
 * [c * MERGE_CHUNK, (c + 1) * MERGE_CHUNK) of the workers' ids laid end to
 * end.
 */
static void compose_chunk(void *ctx, unsigned worker, size_t c)
{
	struct csr_ctx *cc = ctx;
	size_t lo = c * MERGE_CHUNK, hi = lo + MERGE_CHUNK;
	size_t base = 0;
	for (unsigned k = 0; k < cc->t->nworkers && base < hi; k++) {
		uint32_t n = cc->t->w[k].dict.n;
		uint32_t *map = cc->v->map[k];
		for (size_t id = lo > base ? lo - base : 0; id < n && base + id < hi; id++)
			map[id] = cc->v->final[map[id]];
		base += n;
	}
}

static void count_row(void *ctx, unsigned worker, size_t i)
{
	struct csr_ctx *c = ctx;
	const struct doc *d = &c->t->docs[i];
	const uint32_t *feat = c->v->map[d->worker];
	uint64_t n = 0;
	for (uint32_t k = 0; k < d->n; k++)
		n += feat[d->e[k] & DOC_ID_MASK] != UINT32_MAX;
	c->x->rowptr[i + 1] = n;
}

static void fill_row(void *ctx, unsigned worker, size_t i)
{
	struct csr_ctx *c = ctx;
	const struct doc *d = &c->t->docs[i];
	const uint32_t *feat = c->v->map[d->worker];
	uint64_t *s = c->scratch[worker];
	uint32_t n = 0;
	const uint32_t *big = d->e + d->n;
	for (uint32_t k = 0; k < d->n; k++) {
		uint32_t f = feat[d->e[k] & DOC_ID_MASK];
		uint32_t tf = doc_count(d->e[k], &big);
		if (f != UINT32_MAX)
			s[n++] = (uint64_t)f << 32 | tf;
	}
	sort_u64(s, n);
	uint64_t o = c->x->rowptr[i];
	double norm = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t f = (uint32_t)(s[k] >> 32), tf = (uint32_t)s[k];
		double val = tf_weight(tf) * c->idf[f];
		c->x->idx[o + k] = f;
		c->x->val[o + k] = (float)val;
		norm += val * val;
	}
	norm = sqrt(norm);
	if (norm > 0)
		for (uint32_t k = 0; k < n; k++)
			c->x->val[o + k] = (float)(c->x->val[o + k] / norm);
}

/* ---- step 4: one-vs-rest, cross-validated ----------------------------------- */

struct fit_ctx {
	const struct csr *x;
	const int *label;      /* n */
	const uint8_t *fold;   /* n */
	unsigned folds, nl;
	struct linear_params p;
	uint32_t **rows;       /* per fold (folds + 1: everything): training rows */
	size_t *nrows;
	uint32_t **held;       /* per fold: held-out rows */
	size_t *nheld;
	float **w;             /* per worker: (ncols + 1) * lanes (LINEAR_GROUP for the SVM, else 1) */
	signed char **y;       /* per worker: n * lanes */
	double **alpha;        /* per worker, the SVM only: n * LINEAR_GROUP dual variables */
	/*
	 * Two slots, one per value of C in turn, so that the best C's fold
	 * solutions and values are still there when the next C turns out worse.
	 */
	float *fold_alpha[2];  /* folds * nl * n: each fold's solution, by row */
	double *oof[2];        /* n * nl out-of-fold decision values */
	unsigned slot;         /* the slot this round writes (the final round: reads) */
	/* The SVM's labels in groups trained together: group g is labels
	 * gstart[g] .. gstart[g + 1] - 1. */
	unsigned ngroups;
	unsigned gstart[MODEL_MAX_LABELS / LINEAR_GROUP + 2];
	unsigned ntasks;       /* tasks per round: ngroups (SVM) or nl */
	struct model *m;
	atomic_int failed;
	atomic_size_t done;
	size_t total;
	const struct train_opts *o;
	/* Each task's solver iterations, summed over the folds of a round (one
	 * per slot): they order the final round's tasks, slowest first. */
	atomic_uint cost[2][MODEL_MAX_LABELS];
	/* The round's scheduler (see run_round), under lock. */
	pthread_mutex_t lock;
	pthread_cond_t ready_cv;
	size_t fold_next, fold_tasks;      /* fold tasks handed out, in the round */
	unsigned left[MODEL_MAX_LABELS];   /* per task: its fold models not done */
	unsigned ready[MODEL_MAX_LABELS];  /* final tasks whose folds are done, FIFO */
	unsigned ready_head, ready_tail;   /* [0, ready_head): handed out */
	unsigned nfinal;                   /* final tasks in the round (0 or ntasks) */
	int chained;                       /* a final model waits for its task's fold models */
	int vocab_pending;                 /* the model's vocabulary is still to build */
	const struct vocab_build *v;
	const struct tctx *t;
	atomic_int vocab_failed;
};

/* The rounds' memory but the out-of-fold values (again: nothing). */
static void fit_scratch_release(struct fit_ctx *f, unsigned threads)
{
	for (unsigned k = 0; f->rows && k <= f->folds; k++) {
		free(f->rows[k]);
		f->rows[k] = NULL;
	}
	for (unsigned k = 0; f->held && k < f->folds; k++) {
		free(f->held[k]);
		f->held[k] = NULL;
	}
	for (unsigned k = 0; k < threads; k++) {
		if (f->w) {
			free(f->w[k]);
			f->w[k] = NULL;
		}
		if (f->y) {
			free(f->y[k]);
			f->y[k] = NULL;
		}
		if (f->alpha) {
			free(f->alpha[k]);
			f->alpha[k] = NULL;
		}
	}
	free(f->fold_alpha[0]);
	free(f->fold_alpha[1]);
	f->fold_alpha[0] = f->fold_alpha[1] = NULL;
}

static uint64_t mix_seed(uint64_t seed, unsigned fold, unsigned label)
{
	uint64_t z = seed ^ ((uint64_t)fold << 40) ^ ((uint64_t)label << 20) ^ 0x5851f42d4c957f2dULL;
	z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
	return z ^ (z >> 33);
}

/*
 * Tasks: first the folds' (folds * ntasks of them, fold-major), one round per
 * value of C tried, then, in a last round, the final models' (ntasks). A
 * task is one label (logistic regression, fit_one) or a group of labels
 * (the SVM, fit_group). Each round's fold models start cold: started from
 * the previous C's solutions, the loose fold tolerance stops near that C's
 * answer and blurs the comparison (20 Newsgroups, macro-F1 at C = 2 and 4:
 * 0.9231 and 0.9228 warm, 0.9246 and 0.9252 cold; scaling the start by the
 * ratio of the Cs fixed that there but not on the French corpus). The SVM's
 * final model starts from the chosen C's fold solutions: each message's dual
 * variable averaged over the folds that trained on it, a point near the
 * answer (20 Newsgroups: about half the iterations of a cold start, the same
 * model within the tolerance).
 *
 * The fold models only give the decision values that calibration is fitted
 * on: a looser tolerance (CV_EPS) halves their iterations and leaves the
 * calibration as it was (20 Newsgroups: same threshold, ECE 0.040 vs 0.041).
 * The SVM's (SVM_CV_EPS) is tighter: its solver's passes over the rows that
 * break the stopping test (see svm_group) make it stop after fewer passes
 * over all rows, and at 1.0 the calibration fitted on those models cost
 * 20 Newsgroups' test accuracy about 0.0005 over six seeds; at 0.5 it is as
 * before.
 */
static void fit_one(void *ctx, unsigned worker, size_t task)
{
	struct fit_ctx *f = ctx;
	unsigned fold = (unsigned)(task / f->nl), c = (unsigned)(task % f->nl);
	const uint32_t *rows = f->rows[fold];
	size_t n = f->nrows[fold];
	signed char *y = f->y[worker];
	float *w = f->w[worker];
	for (size_t k = 0; k < n; k++)
		y[k] = f->label[rows[k]] == (int)c ? 1 : -1;
	struct linear_params p = f->p;
	p.seed = mix_seed(f->p.seed, fold, c);
	if (fold < f->folds && p.eps < CV_EPS)
		p.eps = CV_EPS;
	int iters = linear_train(f->x, rows, y, n, &p, w);
	if (iters < 0) {
		atomic_store(&f->failed, 1);
		return;
	}
	if (fold < f->folds) {
		atomic_fetch_add(&f->cost[f->slot][c], (unsigned)iters);
		for (size_t k = 0; k < f->nheld[fold]; k++) {
			uint32_t r = f->held[fold][k];
			f->oof[f->slot][(size_t)r * f->nl + c] = linear_decision(f->x, r, w);
		}
	} else {
		for (uint32_t j = 0; j < f->x->ncols; j++)
			f->m->w[(size_t)j * f->nl + c] = w[j];
		f->m->bias[c] = w[f->x->ncols];
	}
	size_t done = atomic_fetch_add(&f->done, 1) + 1;
	if (worker == 0 && f->o->progress)
		f->o->progress(f->o->progress_ctx, "training", done, f->total);
}

/*
 * The SVM's tasks: a fold (or the final model) and a group of labels, their
 * problems solved together (see linear_train_svm_group); otherwise as
 * fit_one.
 */
static void fit_group(void *ctx, unsigned worker, size_t task)
{
	enum { G = LINEAR_GROUP };
	struct fit_ctx *f = ctx;
	unsigned fold = (unsigned)(task / f->ngroups), grp = (unsigned)(task % f->ngroups);
	unsigned c0 = f->gstart[grp], ng = f->gstart[grp + 1] - c0;
	const uint32_t *rows = f->rows[fold];
	size_t n = f->nrows[fold], nall = f->x->nrows, ncols = f->x->ncols;
	signed char *y = f->y[worker];
	float *W = f->w[worker];
	double *alpha = f->alpha[worker];
	const float *fa = f->fold_alpha[f->slot];
	for (size_t k = 0; k < n; k++)
		for (unsigned j = 0; j < G; j++)
			y[k * G + j] = j < ng && f->label[rows[k]] == (int)(c0 + j) ? 1 : -1;
	struct linear_params p = f->p;
	p.seed = mix_seed(f->p.seed, fold, grp);
	if (fold < f->folds && p.eps < SVM_CV_EPS)
		p.eps = SVM_CV_EPS;
	if (fold < f->folds || !fa) {
		memset(alpha, 0, n * G * sizeof *alpha);
	} else {
		for (size_t k = 0; k < n; k++) {
			uint32_t r = rows[k];
			for (unsigned j = 0; j < G; j++) {
				double sum = 0;
				for (unsigned q = 0; j < ng && q < f->folds; q++)
					if (q != f->fold[r])
						sum += fa[((size_t)q * f->nl + c0 + j) * nall + r];
				alpha[k * G + j] = sum / (f->folds - 1);
			}
		}
	}
	int iters = linear_train_svm_group(f->x, rows, y, n, ng, &p, W, alpha);
	if (iters < 0) {
		atomic_store(&f->failed, 1);
		return;
	}
	if (fold < f->folds) {
		atomic_fetch_add(&f->cost[f->slot][grp], (unsigned)iters);
		float d[G];
		for (size_t k = 0; k < f->nheld[fold]; k++) {
			uint32_t r = f->held[fold][k];
			linear_decision_group(f->x, r, W, d);
			for (unsigned j = 0; j < ng; j++)
				f->oof[f->slot][(size_t)r * f->nl + c0 + j] = d[j];
		}
		for (unsigned j = 0; fa && j < ng; j++) {
			float *dst = f->fold_alpha[f->slot] + ((size_t)fold * f->nl + c0 + j) * nall;
			for (size_t k = 0; k < n; k++)
				dst[rows[k]] = (float)alpha[k * G + j];
		}
	} else {
		for (size_t jf = 0; jf < ncols; jf++)
			for (unsigned j = 0; j < ng; j++)
				f->m->w[jf * f->nl + c0 + j] = W[jf * G + j];
		for (unsigned j = 0; j < ng; j++)
			f->m->bias[c0 + j] = W[ncols * G + j];
	}
	size_t done = atomic_fetch_add(&f->done, 1) + 1;
	if (worker == 0 && f->o->progress)
		f->o->progress(f->o->progress_ctx, "training", done, f->total);
}

static void fit_task(void *ctx, unsigned worker, size_t task)
{
	struct fit_ctx *f = ctx;
	if (f->p.algo == CLF_SVM)
		fit_group(ctx, worker, task);
	else
		fit_one(ctx, worker, task);
}

/* The model's vocabulary: its terms, in feature order, and their readable
 * forms (those of the first message holding each). */
static int model_vocab(const struct vocab_build *v, const struct tctx *t, struct model *m)
{
	/* Room for the kept strings: at most all those seen (not touched beyond
	 * what is used), so that the pools are never copied as they grow. */
	size_t terms = 0, surfs = 0;
	for (const struct tworker *w = t->w; w < t->w + t->nworkers; w++) {
		terms += w->dict.pool_len;
		surfs += w->surfbuf.len;
	}
	struct buf sp;
	buf_init(&sp, UINT32_MAX - 1);
	if (strtab_reserve(&m->terms, v->nfeat, terms) < 0 || buf_reserve(&sp, surfs) < 0 ||
	    !(m->surf_off = big_alloc((size_t)v->nfeat * sizeof *m->surf_off))) {
		buf_release(&sp);
		return -1;
	}
	/*
	 * Each feature's strings lie at random in the workers' pools, behind
	 * random entries of their tables (five cache misses a feature, one after
	 * the other: 0.1 s for 20 Newsgroups' 262,144): each level is fetched a
	 * few features ahead of its use, so that the misses overlap.
	 */
	enum { AHEAD = 8 };
	const uint32_t nf = v->nfeat;
	for (uint32_t j = 0; j < nf; j++) {
		if (j + 3 * AHEAD < nf) {
			uint32_t g = v->feat_g[j + 3 * AHEAD];
			__builtin_prefetch(&v->src[g]);
			__builtin_prefetch(&v->src_worker[g]);
		}
		if (j + 2 * AHEAD < nf) {
			uint32_t g = v->feat_g[j + 2 * AHEAD];
			__builtin_prefetch(&src_dict(v, t, g)->off[v->src[g]]);
			__builtin_prefetch(&t->w[v->src_worker[g]].surf[v->src[g]]);
		}
		if (j + AHEAD < nf) {
			uint32_t g = v->feat_g[j + AHEAD];
			const struct tworker *w = &t->w[v->src_worker[g]];
			__builtin_prefetch(strtab_str(&w->dict, v->src[g], NULL));
			__builtin_prefetch(w->surfbuf.data + w->surf[v->src[g]]);
			strtab_prefetch(&m->terms, v->feat_h[j + AHEAD]);
		}
		uint32_t g = v->feat_g[j];
		size_t len;
		const char *s = strtab_str(src_dict(v, t, g), v->src[g], &len);
		const struct tworker *w = &t->w[v->src_worker[g]];
		const char *surf = w->surfbuf.data + w->surf[v->src[g]];
		m->surf_off[j] = (uint32_t)sp.len;
		if (strtab_intern_h(&m->terms, s, len, v->feat_h[j], NULL) < 0 ||
		    buf_append(&sp, surf, strlen(surf) + 1) < 0) {
			buf_release(&sp);
			return -1;
		}
	}
	m->surf_len = sp.len;
	m->surf_pool = buf_detach(&sp, NULL);
	return m->surf_pool ? 0 : -1;
}

/*
 * One round of tasks on `threads` threads: the fold models of every task (at
 * the current C, with folds_too), and, with `final`, the final models and
 * the model's vocabulary. An SVM task's final model needs only its own fold
 * models (its warm start), so it starts as soon as they are done instead of
 * after the whole round: fold tasks are handed out in the order of
 * fold_order, a thread takes a final model as soon as one is ready (the
 * longest kind of task first), and builds the vocabulary when nothing else
 * is ready instead of waiting. (20 Newsgroups, 2 threads: the final models
 * of three groups of labels, which take as long as all their fold models,
 * ran two on one thread while the other built the vocabulary and then
 * waited, when the final round came after the folds'.) Other final models
 * (logistic regression's, and those of a final round after a search of C)
 * are ready at once. Which thread runs a task changes no result.
 */
enum { TASK_FOLD, TASK_FINAL, TASK_VOCAB };

/*
 * The k-th fold model handed out in a round: the first task's folds, then
 * the other tasks' in turn (fold 0 of each, fold 1 of each...). The first
 * final model is ready early, to run beside the other fold models, and the
 * others become ready near the end together, to run side by side; in task
 * order, the last task's final model ran alone at the end (20 Newsgroups, 2
 * threads: the round took 25 ms more than half its tasks' time, against 11
 * this way, on average over six runs).
 */
static void fold_order(const struct fit_ctx *f, unsigned k, unsigned *task, unsigned *fold)
{
	if (f->ntasks < 2 || k < f->folds) {
		*task = k / f->folds;
		*fold = k % f->folds;
		return;
	}
	k -= f->folds;
	*task = 1 + k % (f->ntasks - 1);
	*fold = k / (f->ntasks - 1);
}

static void round_worker(void *ctx, unsigned worker, size_t unused)
{
	struct fit_ctx *f = ctx;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		int kind;
		unsigned task, fold = 0;
		if (f->ready_head < f->ready_tail) {
			kind = TASK_FINAL;
			task = f->ready[f->ready_head++];
		} else if (f->fold_next < f->fold_tasks) {
			kind = TASK_FOLD;
			fold_order(f, (unsigned)f->fold_next++, &task, &fold);
		} else if (f->vocab_pending) {
			kind = TASK_VOCAB;
			task = 0;
			f->vocab_pending = 0;
		} else if (f->ready_head < f->nfinal) {
			/* a final model waits for fold models other threads are running */
			pthread_cond_wait(&f->ready_cv, &f->lock);
			continue;
		} else {
			break;
		}
		pthread_mutex_unlock(&f->lock);
		if (kind == TASK_VOCAB) {
			if (model_vocab(f->v, f->t, f->m) < 0)
				atomic_store(&f->vocab_failed, 1);
		} else if (kind == TASK_FINAL) {
			fit_task(f, worker, (size_t)f->folds * f->ntasks + task);
		} else {
			fit_task(f, worker, (size_t)fold * f->ntasks + task);
		}
		pthread_mutex_lock(&f->lock);
		if (kind == TASK_FOLD && --f->left[task] == 0 && f->chained) {
			f->ready[f->ready_tail++] = task;
			pthread_cond_broadcast(&f->ready_cv);
		}
	}
	pthread_mutex_unlock(&f->lock);
}

static void run_round(struct fit_ctx *f, unsigned threads, int folds_too, int final)
{
	f->fold_next = 0;
	f->fold_tasks = folds_too ? (size_t)f->folds * f->ntasks : 0;
	f->ready_head = f->ready_tail = 0;
	f->nfinal = final ? f->ntasks : 0;
	f->vocab_pending = final;
	for (unsigned task = 0; task < f->ntasks; task++)
		f->left[task] = f->folds;
	/* Only the SVM's final models start from their fold models' solutions. */
	f->chained = final && folds_too && f->p.algo == CLF_SVM;
	if (final && !f->chained) {
		/* ready at once, by decreasing cost in the chosen C's fold models
		 * (ties, and a round that has not run them yet: task order) */
		for (unsigned task = 0; task < f->ntasks; task++) {
			unsigned cost = atomic_load(&f->cost[f->slot][task]), k = f->ready_tail++;
			for (; k > 0 && atomic_load(&f->cost[f->slot][f->ready[k - 1]]) < cost; k--)
				f->ready[k] = f->ready[k - 1];
			f->ready[k] = task;
		}
	}
	/* par_for fails only when a thread could not start: the loops that did,
	 * and this thread's, then do all the tasks. */
	par_for(threads, threads, round_worker, f);
}

/* Platt scaling of label k on the out-of-fold scores. */
struct platt_ctx {
	const struct corpus *c;
	const double *oof;
	unsigned nl;
	struct model *m;
	atomic_int failed;
};

static void platt_one(void *ctx, unsigned worker, size_t k)
{
	struct platt_ctx *p = ctx;
	double *fc = malloc(p->c->n * sizeof *fc);
	signed char *yc = malloc(p->c->n);
	int ok = fc && yc;
	if (ok) {
		for (size_t i = 0; i < p->c->n; i++) {
			fc[i] = p->oof[i * p->nl + k];
			yc[i] = p->c->labels[i] == (int)k ? 1 : -1;
		}
		ok = platt_fit(fc, yc, p->c->n, &p->m->platt_a[k], &p->m->platt_b[k]) == 0;
	}
	if (!ok)
		atomic_store(&p->failed, 1);
	free(fc);
	free(yc);
}

/* Every message's calibrated prediction and confidence, by chunks. */
#define CALIB_CHUNK 1024
struct calib_ctx {
	const struct model *m;
	const double *oof;
	int *pred;
	double *conf;
	double *probs;  /* nlabels per worker */
	size_t n;
};

static void calib_chunk(void *ctx, unsigned worker, size_t chunk)
{
	struct calib_ctx *k = ctx;
	unsigned nl = k->m->nlabels;
	double *probs = k->probs + (size_t)worker * nl;
	for (size_t i = chunk * CALIB_CHUNK; i < k->n && i < (chunk + 1) * CALIB_CHUNK; i++) {
		k->pred[i] = model_calibrate(k->m, &k->oof[i * nl], probs);
		k->conf[i] = probs[k->pred[i]];
	}
}

/*
 * The power of the calibrated probabilities (platt_power_fit), on the
 * out-of-fold scores of every message, or of at least POWER_SAMPLE of them
 * evenly spread: each Newton step costs an exponential per message and
 * label, and one parameter needs fewer (20 Newsgroups, seed 3: 1.316 on
 * 5,657 messages, 1.315 on all 11,314, 1.347 on 2,263).
 */
#define POWER_SAMPLE 4096
static int fit_power(struct model *m, const double *oof, const int *label, size_t n)
{
	unsigned nl = m->nlabels;
	size_t step = n > POWER_SAMPLE ? n / POWER_SAMPLE : 1, k = (n + step - 1) / step;
	double *logp = malloc((k ? k : 1) * nl * sizeof *logp);
	int *y = malloc((k ? k : 1) * sizeof *y);
	if (!logp || !y) {
		free(logp);
		free(y);
		return -1;
	}
	for (size_t j = 0; j < k; j++) {
		size_t i = j * step;
		y[j] = label[i];
		for (unsigned c = 0; c < nl; c++)
			logp[j * nl + c] = fmax(log(platt_prob(m->platt_a[c], m->platt_b[c], oof[i * nl + c])),
						-700.0);
	}
	m->platt_power = platt_power_fit(logp, y, k, nl);
	free(logp);
	free(y);
	return 0;
}

/* Stratified folds: each label's messages shuffled, then dealt in turn. */
static int make_folds(uint8_t *fold, const int *label, size_t n, unsigned nl, unsigned k,
		      uint64_t seed)
{
	uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
	if (!idx)
		return -1;
	uint64_t s = seed ^ 0x2545f4914f6cdd1dULL;
	unsigned next = 0;
	for (unsigned c = 0; c < nl; c++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (label[i] == (int)c)
				idx[m++] = (uint32_t)i;
		for (size_t i = 0; i + 1 < m; i++) {
			s += 0x9e3779b97f4a7c15ULL;
			uint64_t z = s;
			z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
			z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
			z ^= z >> 31;
			size_t j = i + (size_t)(z % (m - i));
			uint32_t t = idx[i];
			idx[i] = idx[j];
			idx[j] = t;
		}
		/* Continue dealing where the previous label stopped, so that small
		 * labels do not all land in fold 0. */
		for (size_t i = 0; i < m; i++) {
			fold[idx[i]] = (uint8_t)next;
			next = (next + 1) % k;
		}
	}
	free(idx);
	return 0;
}

/* ---- the whole ------------------------------------------------------------------ */

int clf_train(const struct corpus *c, const struct train_opts *o, struct model **out,
	      struct train_result *res, char *err, size_t errsz)
{
	int ret = -1;
	unsigned nl = (unsigned)c->nlabels;
	unsigned threads = o->threads ? o->threads : par_default_threads();
	struct linear_params lp;
	linear_params_default(&lp);
	lp.algo = o->algo;
	static const double c_auto[TRAIN_C_AUTO_N] = TRAIN_C_AUTO;
	const double *cgrid = o->c > 0 ? &o->c : c_auto;
	unsigned ncgrid = o->c > 0 ? 1 : TRAIN_C_AUTO_N;
	lp.c = cgrid[0];
	lp.seed = o->seed;
	const char *bad = linear_check_params(&lp);
	if (bad)
		return errf(err, errsz, "%s", bad);
	if (nl < 2 || nl > MODEL_MAX_LABELS)
		return errf(err, errsz, "a corpus needs 2 to %d categories (found %u)", MODEL_MAX_LABELS, nl);
	if (o->folds < 2 || o->folds > 20)
		return errf(err, errsz, "folds must be between 2 and 20");
	if (c->n < o->folds * 2)
		return errf(err, errsz, "too few messages to train (%zu)", c->n);
	if (o->max_features < 1 || o->max_features > MODEL_MAX_FEATURES)
		return errf(err, errsz, "max_features must be between 1 and %u", MODEL_MAX_FEATURES);
	if (threads > 64)
		threads = 64;

	double t0 = now_ms();
	struct tctx t = { .c = c, .o = o, .nworkers = threads };
	pthread_mutex_init(&t.lock, NULL);
	struct vocab_build v = { 0 };
	struct csr x = { 0 };
	struct model *m = NULL;
	float *idf = NULL;
	struct fit_ctx f = { 0 };
	pthread_mutex_init(&f.lock, NULL);
	pthread_cond_init(&f.ready_cv, NULL);
	uint8_t *fold = NULL;
	double *probs = NULL;
	int *pred = NULL;
	double *conf = NULL;
	uint64_t **scratch = NULL;

	t.w = calloc(threads, sizeof *t.w);
	t.docs = calloc(c->n, sizeof *t.docs);
	if (!t.w || !t.docs) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	for (unsigned k = 0; k < threads; k++) {
		strtab_init(&t.w[k].dict, TRAIN_MAX_TERMS);
		buf_init(&t.w[k].surfbuf, UINT32_MAX - 1);
		buf_init(&t.w[k].arena, UINT32_MAX - 1);
	}
	/* par_for fails only when a thread could not start; the others, and this
	 * one, then do all the work (setting every worker up, reading every
	 * message): nothing to handle. */
	par_for(threads, threads, tw_setup, &t);
	if (atomic_load(&t.failed)) {
		errf(err, errsz, "%s", t.err);
		goto out;
	}
	par_for_runs_ahead(threads, c->n, RB_FILES, read_start, read_run, &t);
	if (atomic_load(&t.failed)) {
		errf(err, errsz, "%s", t.err);
		goto out;
	}
	if (o->progress)
		o->progress(o->progress_ctx, "reading", c->n, c->n);
	for (unsigned k = 0; k < threads; k++)
		tw_reading_release(&t.w[k]);

	if (vocab_select(&v, &t, o, err, errsz) < 0)
		goto out;
	if (v.nfeat == 0) {
		errf(err, errsz, "no term is shared by %u messages: the corpus is too small", o->min_df);
		goto out;
	}
	/* idf as scikit-learn's smooth_idf: ln((1 + n) / (1 + df)) + 1 */
	if (!(idf = big_alloc(v.nfeat * sizeof *idf))) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	for (uint32_t j = 0; j < v.nfeat; j++)
		idf[j] = (float)(log((1.0 + (double)c->n) / (1.0 + v.df[v.feat_g[j]])) + 1.0);
	free(v.df);
	v.df = NULL;

	x.nrows = (uint32_t)c->n;
	x.ncols = v.nfeat;
	if (!(x.rowptr = calloc(c->n + 1, sizeof *x.rowptr))) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	struct csr_ctx cc = { &t, &v, idf, &x, NULL, NULL };
	par_for(threads, (v.nids + MERGE_CHUNK - 1) / MERGE_CHUNK, compose_chunk, &cc);
	free(v.final);
	v.final = NULL;
	par_for(threads, c->n, count_row, &cc);
	uint32_t maxrow = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (x.rowptr[i + 1] > maxrow)
			maxrow = (uint32_t)x.rowptr[i + 1];
		x.rowptr[i + 1] += x.rowptr[i];
	}
	x.idx = big_alloc((x.rowptr[c->n] + 1) * sizeof *x.idx);
	x.val = big_alloc((x.rowptr[c->n] + 1) * sizeof *x.val);
	scratch = calloc(threads, sizeof *scratch);
	if (!x.idx || !x.val || !scratch) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	for (unsigned k = 0; k < threads; k++)
		if (!(scratch[k] = malloc(((size_t)maxrow + 1) * sizeof **scratch))) {
			errf(err, errsz, "out of memory");
			goto out;
		}
	cc.scratch = scratch;
	par_for(threads, c->n, fill_row, &cc);
	for (unsigned k = 0; k < threads; k++) {
		tw_doc_release(&t.w[k]);
		free(v.map[k]);
		free(scratch[k]);
		v.map[k] = NULL;
		scratch[k] = NULL;
	}
	double t1 = now_ms();

	/* Step 4. */
	if (!(m = model_alloc(nl))) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	m->tok = o->tok;
	if (!o->skip_final && !(m->w = big_alloc(((size_t)v.nfeat * nl + 1) * sizeof *m->w))) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	fold = malloc(c->n);
	f.folds = o->folds;  /* how many of rows and held to free */
	f.rows = calloc(o->folds + 1, sizeof *f.rows);
	f.nrows = calloc(o->folds + 1, sizeof *f.nrows);
	f.held = calloc(o->folds, sizeof *f.held);
	f.nheld = calloc(o->folds, sizeof *f.nheld);
	f.w = calloc(threads, sizeof *f.w);
	f.y = calloc(threads, sizeof *f.y);
	f.alpha = calloc(threads, sizeof *f.alpha);
	/* The SVM keeps its fold solutions to warm-start the final model. */
	if (lp.algo == CLF_SVM && !o->skip_final)
		for (unsigned k = 0; k < (ncgrid > 1 ? 2u : 1u); k++)
			if (!(f.fold_alpha[k] = big_alloc((size_t)o->folds * nl * c->n * sizeof **f.fold_alpha))) {
				errf(err, errsz, "out of memory");
				goto out;
			}
	f.oof[0] = big_calloc(c->n * nl, sizeof *f.oof[0]);
	f.oof[1] = ncgrid > 1 ? big_calloc(c->n * nl, sizeof *f.oof[1]) : NULL;
	pred = malloc(c->n * sizeof *pred);
	conf = malloc(c->n * sizeof *conf);
	if (!conf || !fold || !f.rows || !f.nrows || !f.held || !f.nheld || !f.w || !f.y || !f.alpha || !f.oof[0] ||
	    (ncgrid > 1 && !f.oof[1]) || !pred ||
	    make_folds(fold, c->labels, c->n, nl, o->folds, o->seed) < 0) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	for (unsigned k = 0; k <= o->folds; k++) {
		f.rows[k] = malloc(c->n * sizeof **f.rows);
		if (k < o->folds)
			f.held[k] = malloc(c->n * sizeof **f.held);
		if (!f.rows[k] || (k < o->folds && !f.held[k])) {
			errf(err, errsz, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < c->n; i++) {
			if (k == o->folds || fold[i] != k)
				f.rows[k][f.nrows[k]++] = (uint32_t)i;
			else
				f.held[k][f.nheld[k]++] = (uint32_t)i;
		}
	}
	/* The SVM's groups: as few as LINEAR_GROUP allows, of even sizes. */
	size_t lanes = 1;
	if (lp.algo == CLF_SVM) {
		f.ngroups = (nl + LINEAR_GROUP - 1) / LINEAR_GROUP;
		for (unsigned g = 0; g <= f.ngroups; g++)
			f.gstart[g] = g * nl / f.ngroups;
		f.ntasks = f.ngroups;
		lanes = LINEAR_GROUP;
	} else {
		f.ntasks = nl;
	}
	for (unsigned k = 0; k < threads; k++) {
		f.w[k] = big_alloc(((size_t)v.nfeat + 1) * lanes * sizeof **f.w);
		f.y[k] = malloc(c->n * lanes);
		/* the SVM's dual variables (logistic regression keeps its own) */
		f.alpha[k] = lp.algo == CLF_SVM ? malloc(c->n * lanes * sizeof **f.alpha) : NULL;
		if (!f.w[k] || !f.y[k] || (lp.algo == CLF_SVM && !f.alpha[k])) {
			errf(err, errsz, "out of memory");
			goto out;
		}
	}
	f.x = &x;
	f.label = c->labels;
	f.fold = fold;
	f.nl = nl;
	f.p = lp;
	f.m = m;
	f.o = o;
	f.v = &v;
	f.t = &t;
	f.total = ((size_t)o->folds * ncgrid + (o->skip_final ? 0 : 1)) * f.ntasks;
	/*
	 * One round of fold models per value of C; the search stops at the first
	 * C that does not improve the out-of-fold macro-F1 (of the plain argmax:
	 * calibration comes after), and keeps the smaller C on a tie.
	 */
	unsigned best = 0;
	double best_f1 = -1;
	unsigned ntried = 0;
	double tried_f1[TRAIN_C_AUTO_N];
	for (unsigned g = 0; g < ncgrid; g++) {
		f.p.c = cgrid[g];
		f.slot = g & 1;
		for (unsigned k = 0; k < f.ntasks; k++)
			atomic_store(&f.cost[f.slot][k], 0);
		/* With one C, the final models are trained in the same round. */
		run_round(&f, threads, 1, ncgrid == 1 && !o->skip_final);
		if (atomic_load(&f.failed))
			break;
		ntried++;
		const double *oof = f.oof[f.slot];
		for (size_t i = 0; i < c->n; i++) {
			unsigned b = 0;
			for (unsigned k = 1; k < nl; k++)
				if (oof[i * nl + k] > oof[i * nl + b])
					b = k;
			pred[i] = (int)b;
			conf[i] = oof[i * nl + b];  /* only orders the report's curve */
		}
		struct eval_report rep;
		if (eval_compute(&rep, nl, c->labels, pred, conf, c->n, -1) < 0) {
			errf(err, errsz, "out of memory");
			goto out;
		}
		tried_f1[g] = rep.macro_f1;
		eval_release(&rep);
		if (g > 0 && !(tried_f1[g] > best_f1))
			break;
		best = g;
		best_f1 = tried_f1[g];
	}
	f.p.c = cgrid[best];
	f.slot = best & 1;
	if (ncgrid > 1 && !o->skip_final && !atomic_load(&f.failed)) {
		atomic_store(&f.done, (size_t)o->folds * ncgrid * f.ntasks);
		run_round(&f, threads, 0, 1);
	}
	if (atomic_load(&f.failed)) {
		errf(err, errsz, "out of memory while training");
		goto out;
	}
	if (atomic_load(&f.vocab_failed)) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	/*
	 * What the rounds needed and the rest does not (the workers'
	 * dictionaries, the merge's arrays, the rows, the solvers' weights and
	 * dual variables: about 100 MB for 20 Newsgroups) is freed before the
	 * model file is written: the page cache's copy of it then gets pages just
	 * freed, which the host of a virtual machine still backs. Pages free for
	 * a few seconds may have been taken back, and writing 32 MB into those
	 * took 75 to 80 ms here, against 8 to 25 ms right after freeing 40 MB.
	 */
	for (unsigned k = 0; k < threads; k++)
		tw_release(&t.w[k]);
	vocab_build_release(&v, threads);
	csr_release(&x);
	fit_scratch_release(&f, threads);
	const double *oof = f.oof[f.slot];
	if (!o->skip_final) {
		m->idf = idf;
		idf = NULL;
		for (unsigned k = 0; k < nl; k++)
			if (!(m->labels[k] = strdup(c->label_names[k]))) {
				errf(err, errsz, "out of memory");
				goto out;
			}
		if (o->model_ready && o->model_ready(o->model_ready_ctx, m, err, errsz) < 0)
			goto out;
	}

	/* Step 5: calibration on the out-of-fold scores (a label per task), then
	 * the threshold. */
	{
		struct platt_ctx pc = { c, oof, nl, m, 0 };
		par_for(threads, nl, platt_one, &pc);
		if (atomic_load(&pc.failed) || fit_power(m, oof, c->labels, c->n) < 0) {
			errf(err, errsz, "out of memory");
			goto out;
		}
	}
	probs = malloc((size_t)threads * nl * sizeof *probs);
	if (!probs) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	{
		struct calib_ctx cc2 = { m, oof, pred, conf, probs, c->n };
		par_for(threads, (c->n + CALIB_CHUNK - 1) / CALIB_CHUNK, calib_chunk, &cc2);
	}
	double cov, prec;
	m->threshold = eval_threshold(c->labels, pred, conf, c->n, o->target_precision, &cov, &prec);
	struct eval_report rep;
	if (eval_compute(&rep, nl, c->labels, pred, conf, c->n, -1) < 0) {
		errf(err, errsz, "out of memory");
		goto out;
	}
	m->info.algo = o->algo;
	m->info.c = cgrid[best];
	m->info.seed = o->seed;
	m->info.trained_at = o->trained_at ? o->trained_at : (int64_t)time(NULL);
	m->info.n_docs = (uint32_t)c->n;
	m->info.cv_folds = o->folds;
	m->info.cv_accuracy = rep.accuracy;
	m->info.cv_macro_f1 = rep.macro_f1;
	m->info.cv_coverage = cov;
	m->info.cv_precision = prec;
	eval_release(&rep);

	double t2 = now_ms();

	if (res) {
		memset(res, 0, sizeof *res);
		res->n = c->n;
		res->truth = malloc(c->n * sizeof *res->truth);
		if (!res->truth) {
			errf(err, errsz, "out of memory");
			goto out;
		}
		memcpy(res->truth, c->labels, c->n * sizeof *res->truth);
		res->pred = pred;
		res->conf = conf;
		pred = NULL;
		conf = NULL;
		for (unsigned k = 0; k < threads; k++)
			res->n_degraded += t.w[k].degraded;
		res->n_terms_seen = v.ng;
		res->n_features = v.nfeat;
		res->threshold = m->threshold;
		res->seconds_read = (t1 - t0) / 1000.0;
		res->seconds_train = (t2 - t1) / 1000.0;
		res->n_c = ntried;
		for (unsigned g = 0; g < ntried; g++) {
			res->c_tried[g] = cgrid[g];
			res->c_macro_f1[g] = tried_f1[g];
		}
	}
	if (out && !o->skip_final) {
		*out = m;
		m = NULL;
	}
	ret = 0;
out:
	for (unsigned k = 0; t.w && k < threads; k++)
		tw_release(&t.w[k]);
	free(t.w);
	free(t.docs);
	pthread_mutex_destroy(&t.lock);
	pthread_mutex_destroy(&f.lock);
	pthread_cond_destroy(&f.ready_cv);
	vocab_build_release(&v, threads);
	csr_release(&x);
	free(idf);
	if (scratch)
		for (unsigned k = 0; k < threads; k++)
			free(scratch[k]);
	free(scratch);
	fit_scratch_release(&f, threads);
	free(f.alpha);
	free(f.rows);
	free(f.nrows);
	free(f.held);
	free(f.nheld);
	free(f.w);
	free(f.y);
	free(f.oof[0]);
	free(f.oof[1]);
	free(fold);
	free(probs);
	free(pred);
	free(conf);
	model_free(m);
	return ret;
}
