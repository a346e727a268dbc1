/*
 * The model file: a small binary format, little-endian whatever the host.
 *
 *   "TRIAGEMODEL\n"  u32 version  u32 section count
 *   sections: u32 tag, u64 length, payload
 *   u32 CRC-32 (zlib) of every byte before it
 *
 * Sections: INFO (training facts and threshold), TOKO (tokenizer settings),
 * LABL (labels), TERM (terms, NUL-separated, in feature order), SURF (their
 * readable forms), IDF_ (nfeat floats), PAD_ (0 to 3 bytes, so that the
 * weights are 4-byte aligned in the file), WGHT (nfeat * nlabels floats,
 * feature-major, then nlabels biases), PLAT (two doubles per label), POWR
 * (added later, optional, still version 1: one double, the power the
 * calibrated probabilities are raised to, see platt_power_fit; 1 without),
 * and, since triage 0.9 (optional, still version 1), PAD_ again and SLOT (u32
 * nslots, u32 0, then the vocabulary's hash table: nslots u64, 8-byte
 * aligned in the file; see strtab.h). With SLOT, loading a mapped model
 * hashes nothing: its table is used where it lies. The slots hold
 * strtab_hash() values: a change of that function needs a new version.
 * model_load maps the file and, on a little-endian host, uses the weights
 * where they lie: the largest part of a model is then never copied.
 * Binary rather than text (liblinear's format is text) because the classify
 * command loads it on every run: parsing 10^5 terms and 10^6 weights as text
 * would cost more than classifying a mailbox. Unknown sections are skipped, so
 * a later version can add some without breaking older readers.
 */
#include "classifier/model_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/uio.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/util.h"

#define TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum {
	SEC_INFO = TAG('I', 'N', 'F', 'O'),
	SEC_TOKO = TAG('T', 'O', 'K', 'O'),
	SEC_LABL = TAG('L', 'A', 'B', 'L'),
	SEC_TERM = TAG('T', 'E', 'R', 'M'),
	SEC_SURF = TAG('S', 'U', 'R', 'F'),
	SEC_IDF = TAG('I', 'D', 'F', '_'),
	SEC_WGHT = TAG('W', 'G', 'H', 'T'),
	SEC_PLAT = TAG('P', 'L', 'A', 'T'),
	SEC_PAD = TAG('P', 'A', 'D', '_'),
	SEC_SLOT = TAG('S', 'L', 'O', 'T'),
	SEC_POWR = TAG('P', 'O', 'W', 'R'),
};

struct model *model_alloc(uint32_t nlabels)
{
	struct model *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	strtab_init(&m->terms, MODEL_MAX_FEATURES);
	m->nlabels = nlabels;
	m->labels = calloc(nlabels ? nlabels : 1, sizeof *m->labels);
	m->bias = calloc(nlabels ? nlabels : 1, sizeof *m->bias);
	m->platt_a = calloc(nlabels ? nlabels : 1, sizeof *m->platt_a);
	m->platt_b = calloc(nlabels ? nlabels : 1, sizeof *m->platt_b);
	if (!m->labels || !m->bias || !m->platt_a || !m->platt_b) {
		model_free(m);
		return NULL;
	}
	tok_opts_default(&m->tok);
	m->platt_power = 1.0;
	return m;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	if (m->labels)
		for (uint32_t i = 0; i < m->nlabels; i++)
			free(m->labels[i]);
	free(m->labels);
	strtab_release(&m->terms);
	free(m->terms_copy);
	if (!m->pool_borrowed)
		free(m->surf_pool);
	free(m->surf_off);
	if (!m->idf_borrowed)
		free(m->idf);
	if (!m->w_borrowed)
		free(m->w);
	if (m->map)
		munmap(m->map, m->map_len);
	free(m->bias);
	free(m->platt_a);
	free(m->platt_b);
	free(m);
}

size_t model_nlabels(const struct model *m) { return m->nlabels; }
const char *model_label(const struct model *m, size_t i) { return i < m->nlabels ? m->labels[i] : NULL; }
double model_threshold(const struct model *m) { return m->threshold; }
const struct model_info *model_get_info(const struct model *m) { return &m->info; }
const struct tok_opts *model_tok_opts(const struct model *m) { return &m->tok; }
size_t model_nfeatures(const struct model *m) { return m->terms.n; }

int model_label_index(const struct model *m, const char *name)
{
	for (uint32_t i = 0; i < m->nlabels; i++)
		if (!strcmp(m->labels[i], name))
			return (int)i;
	return -1;
}

int model_calibrate(const struct model *m, const double *scores, double *probs)
{
	double sum = 0;
	for (uint32_t c = 0; c < m->nlabels; c++) {
		probs[c] = platt_prob(m->platt_a[c], m->platt_b[c], scores[c]);
		if (m->platt_power != 1.0)
			probs[c] = pow(probs[c], m->platt_power);
		sum += probs[c];
	}
	int best = 0;
	for (uint32_t c = 0; c < m->nlabels; c++) {
		probs[c] = sum > 0 ? probs[c] / sum : 1.0 / m->nlabels;
		if (probs[c] > probs[best])
			best = (int)c;
	}
	return best;
}

/* A model whose idf, weights and term table take MODEL_HUGE_MIN bytes or
 * more has them start on a MODEL_HUGE_ALIGN boundary of its file. */
#define MODEL_HUGE_MIN ((size_t)4 << 20)
#define MODEL_HUGE_ALIGN ((size_t)2 << 20)

/* ---- writing ------------------------------------------------------------ */

/*
 * The file is written as a list of parts: the small fields built in a
 * buffer, and the large arrays (terms, weights, table) straight from the
 * model's memory, so that saving copies nothing and touches no new memory
 * (20 Newsgroups: 33 MB). The CRC runs over the parts in order.
 */
#define OUT_PARTS 32

struct out {
	struct buf b;          /* the small fields */
	struct {
		const void *p;     /* NULL: b.data + off */
		size_t off, len;
	} part[OUT_PARTS];
	unsigned n;
	size_t run;            /* where in b the current run of small fields starts */
	uint64_t total;        /* bytes so far, as in the file */
	void *zeros;           /* the large padding, if any */
	int fail;
	unsigned head_n;       /* the head: parts [0, head_n), head_len bytes */
	uint64_t head_len;
};

static void out_part(struct out *o, const void *p, size_t off, size_t len)
{
	if (!len)
		return;
	if (o->n == OUT_PARTS) {
		o->fail = 1;
		errno = E2BIG;
		return;
	}
	o->part[o->n].p = p;
	o->part[o->n].off = off;
	o->part[o->n++].len = len;
}

/* Ends the current run of small fields as a part. */
static void out_flush(struct out *o)
{
	out_part(o, NULL, o->run, o->b.len - o->run);
	o->run = o->b.len;
}

static void out_bytes(struct out *o, const void *p, size_t n)
{
	o->fail |= buf_append(&o->b, p, n) < 0;
	o->total += n;
}

/* n bytes at p, written from where they are: they must outlive the save. */
static void out_big(struct out *o, const void *p, size_t n)
{
	out_flush(o);
	out_part(o, p, 0, n);
	o->total += n;
}

static void put_u32(struct out *o, uint32_t v)
{
	unsigned char p[4] = { v, v >> 8, v >> 16, v >> 24 };
	out_bytes(o, p, 4);
}

static void put_u64(struct out *o, uint64_t v)
{
	put_u32(o, (uint32_t)v);
	put_u32(o, (uint32_t)(v >> 32));
}

static void put_f64(struct out *o, double d)
{
	uint64_t v;
	memcpy(&v, &d, 8);
	put_u64(o, v);
}

/* n words of size bytes (4 or 8) from p, little-endian: written from where
 * they are on a little-endian host, byte by byte elsewhere. */
static void put_words(struct out *o, const void *p, size_t n, size_t size)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	out_big(o, p, n * size);
#else
	const unsigned char *q = p;
	for (size_t k = 0; k < n; k++)
		for (size_t i = size; i-- > 0;)
			out_bytes(o, &q[k * size + i], 1);
#endif
}

/* Starts a section: its tag and its length, patched by sec_end(). Returns
 * where the length sits in the small fields' buffer. */
struct sec {
	size_t at;
	uint64_t start;
};

static struct sec sec_begin(struct out *o, uint32_t tag)
{
	put_u32(o, tag);
	put_u64(o, 0);
	return (struct sec){ o->b.len - 8, o->total };
}

static void sec_end(struct out *o, struct sec s)
{
	if (o->fail || o->b.len < s.at + 8)
		return;
	uint64_t len = o->total - s.start;
	for (int i = 0; i < 8; i++)
		o->b.data[s.at + i] = (char)(len >> (8 * i));
}

/* A PAD_ section such that the data starting `after` bytes past the next
 * section's tag (its 12-byte header, then its own fields) is aligned on
 * `align` bytes in the file, hence in a mapping of it. */
static void sec_pad(struct out *o, size_t after, size_t align)
{
	struct sec s = sec_begin(o, SEC_PAD);
	size_t n = (align - (o->total + after) % align) % align;
	if (n <= 64 || o->zeros) {
		static const char zero[64];
		for (size_t k = 0; k < n && !o->fail; k += sizeof zero)
			out_bytes(o, zero, n - k < sizeof zero ? n - k : sizeof zero);
	} else if ((o->zeros = calloc(n, 1))) {
		/* Large: pages of zeros that are never written to. */
		out_big(o, o->zeros, n);
	} else {
		o->fail = 1;
	}
	sec_end(o, s);
}

/*
 * The file's parts, m's sections in order; the head (magic to POWR: what
 * training sets last, calibration and threshold) is parts [0, o->head_n).
 * Returns 0, or -1 with errno set (o to be released all the same).
 */
static int layout(struct out *o, const struct model *m)
{
	struct sec s;
	uint32_t nf = m->terms.n, nl = m->nlabels;
	buf_init(&o->b, MODEL_MAX_FILE_SIZE);
	out_bytes(o, MODEL_MAGIC, strlen(MODEL_MAGIC));
	put_u32(o, MODEL_VERSION);
	put_u32(o, 13);

	s = sec_begin(o, SEC_INFO);
	put_u32(o, m->info.algo);
	put_f64(o, m->info.c);
	put_u64(o, m->info.seed);
	put_u64(o, (uint64_t)m->info.trained_at);
	put_u32(o, m->info.n_docs);
	put_u32(o, m->info.cv_folds);
	put_f64(o, m->info.cv_accuracy);
	put_f64(o, m->info.cv_macro_f1);
	put_f64(o, m->info.cv_coverage);
	put_f64(o, m->info.cv_precision);
	put_f64(o, m->threshold);
	sec_end(o, s);

	s = sec_begin(o, SEC_TOKO);
	put_u32(o, m->tok.lang);
	unsigned char flags[6] = { m->tok.stem, m->tok.stopwords, m->tok.bigrams, m->tok.zones,
				   m->tok.headers, m->tok.share_quotes };
	out_bytes(o, flags, sizeof flags);
	sec_end(o, s);

	s = sec_begin(o, SEC_LABL);
	put_u32(o, nl);
	for (uint32_t i = 0; i < nl; i++)
		out_bytes(o, m->labels[i], strlen(m->labels[i]) + 1);
	sec_end(o, s);

	s = sec_begin(o, SEC_PLAT);
	put_u32(o, nl);
	for (uint32_t c = 0; c < nl; c++) {
		put_f64(o, m->platt_a[c]);
		put_f64(o, m->platt_b[c]);
	}
	sec_end(o, s);

	s = sec_begin(o, SEC_POWR);
	put_f64(o, m->platt_power);
	sec_end(o, s);

	out_flush(o);
	o->head_n = o->n;
	o->head_len = o->total;

	s = sec_begin(o, SEC_TERM);
	put_u32(o, nf);
	out_big(o, m->terms.pool, m->terms.pool_len);
	sec_end(o, s);

	s = sec_begin(o, SEC_SURF);
	put_u32(o, m->surf_pool ? nf : 0);
	if (m->surf_pool)
		out_big(o, m->surf_pool, m->surf_len);
	sec_end(o, s);

	/*
	 * What classifying reads (idf, weights, term table) comes last, in one
	 * run. When it is large, the run starts on a 2 MiB boundary of the
	 * file: the page cache can then hold it in huge folios, which a mapping
	 * of the file (at an address the kernel aligns alike) maps as huge
	 * pages, a TLB entry and a page fault per 2 MiB instead of per 4 KiB.
	 * IDF's floats start 12 + 4 bytes after its tag.
	 */
	uint64_t nslots = strtab_nslots(&m->terms);
	size_t hot = ((size_t)nf * (nl + 1) + nl) * 4 + (size_t)nslots * 8;
	sec_pad(o, 12 + 4, hot >= MODEL_HUGE_MIN ? MODEL_HUGE_ALIGN : 4);

	s = sec_begin(o, SEC_IDF);
	put_u32(o, nf);
	put_words(o, m->idf, nf, 4);
	sec_end(o, s);

	/* WGHT's floats start 12 + 8 bytes after its tag. */
	sec_pad(o, 12 + 8, 4);

	s = sec_begin(o, SEC_WGHT);
	put_u32(o, nf);
	put_u32(o, nl);
	put_words(o, m->w, (size_t)nf * nl, 4);
	put_words(o, m->bias, nl, 4);
	sec_end(o, s);

	/* SLOT's u64s start 12 + 8 bytes after its tag. */
	sec_pad(o, 12 + 8, 8);

	s = sec_begin(o, SEC_SLOT);
	put_u32(o, (uint32_t)nslots);
	put_u32(o, 0);
	put_words(o, m->terms.slots, (size_t)nslots, 8);
	sec_end(o, s);
	out_flush(o);
	if (!o->fail && o->total > MODEL_MAX_FILE_SIZE - 4) {
		o->fail = 1;
		errno = EFBIG;
	}
	return o->fail ? -1 : 0;
}

static void out_release(struct out *o)
{
	buf_release(&o->b);
	free(o->zeros);
	o->zeros = NULL;
}

/* iov[] for parts [from, to) (the buffer no longer grows: their addresses
 * hold); returns their number. */
static unsigned out_iov(const struct out *o, unsigned from, unsigned to, struct iovec *iov)
{
	for (unsigned k = from; k < to; k++) {
		iov[k - from].iov_base = (void *)(uintptr_t)(o->part[k].p ? o->part[k].p
									 : o->b.data + o->part[k].off);
		iov[k - from].iov_len = o->part[k].len;
	}
	return to - from;
}

/* The CRC of iov[0..n), continuing crc. */
static uLong iov_crc(uLong crc, const struct iovec *iov, unsigned n)
{
	for (unsigned k = 0; k < n; k++)
		crc = crc32_z(crc, iov[k].iov_base, iov[k].iov_len);
	return crc;
}

/*
 * A save in two steps (see model.h). model_save_begin writes the body (all
 * after the head); a thread then waits for the disk to hold it (fdatasync:
 * about 25 ms for 20 Newsgroups' 32 MB on the 2-core VM, where starting the
 * write-back with sync_file_range and syncing later gained only a fifth of
 * that), so that model_save_end's fsync has only the head, the CRC and the
 * metadata left (about 1 ms there). The body's CRC (10 ms there) is computed
 * by a second thread meanwhile: after the sync, it kept model_save_end
 * waiting.
 */
struct model_saving {
	struct out o;          /* the layout at the start */
	struct iovec body[OUT_PARTS];  /* its body's parts */
	unsigned nbody;
	struct atomic_file f;
	pthread_t flusher, summer;
	int flushing, summing; /* the threads run */
	uLong crc;             /* the body's CRC */
	int sync_errno;        /* 0, or why the body could not be synced */
};

static void *flush_body(void *arg)
{
	struct model_saving *s = arg;
	s->sync_errno = fdatasync(s->f.fd) < 0 ? errno : 0;
	return NULL;
}

static void *sum_body(void *arg)
{
	struct model_saving *s = arg;
	s->crc = iov_crc(crc32(0L, Z_NULL, 0), s->body, s->nbody);
	return NULL;
}

/* Waits for the threads (or does the work of one that could not start). */
static void saving_join(struct model_saving *s)
{
	if (s->flushing)
		pthread_join(s->flusher, NULL);
	else
		flush_body(s);
	if (s->summing)
		pthread_join(s->summer, NULL);
	else
		sum_body(s);
	s->flushing = s->summing = 0;
}

static void saving_free(struct model_saving *s)
{
	atomic_file_abort(&s->f);
	out_release(&s->o);
	free(s);
}

struct model_saving *model_save_begin(const struct model *m, const char *path, char *err,
				      size_t errsz)
{
	struct model_saving *s = calloc(1, sizeof *s);
	if (!s) {
		errf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	s->f.fd = -1;
	if (layout(&s->o, m) < 0) {
		errf(err, errsz, "%s: cannot build the model (%s)", path, strerror(errno));
		saving_free(s);
		return NULL;
	}
	if (atomic_file_open(&s->f, path, err, errsz) < 0) {
		saving_free(s);
		return NULL;
	}
	s->nbody = out_iov(&s->o, s->o.head_n, s->o.n, s->body);
	if (pwritev_full(s->f.fd, s->body, s->nbody, (off_t)s->o.head_len) < 0) {
		errf(err, errsz, "%s: %s", path, strerror(errno));
		saving_free(s);
		return NULL;
	}
	s->flushing = pthread_create(&s->flusher, NULL, flush_body, s) == 0;
	s->summing = pthread_create(&s->summer, NULL, sum_body, s) == 0;
	return s;
}

int model_save_end(struct model_saving *s, const struct model *m, char *err, size_t errsz)
{
	saving_join(s);
	struct out h = { .n = 0 };
	int r = -1;
	if (layout(&h, m) < 0) {
		errf(err, errsz, "%s: cannot build the model (%s)", s->f.path, strerror(errno));
	} else if (h.head_len != s->o.head_len || h.total != s->o.total || h.n != s->o.n) {
		errf(err, errsz, "%s: the model changed while it was saved", s->f.path);
	} else if (s->sync_errno) {
		errf(err, errsz, "%s: %s", s->f.path, strerror(s->sync_errno));
	} else {
		/* The head, then the CRC of all: the head's combined with the body's. */
		struct iovec head[OUT_PARTS];
		unsigned nhead = out_iov(&h, 0, h.head_n, head);
		uLong crc = iov_crc(crc32(0L, Z_NULL, 0), head, nhead);
		uint32_t c = (uint32_t)crc32_combine(crc, s->crc, (z_off_t)(h.total - h.head_len));
		unsigned char le[4] = { c, c >> 8, c >> 16, c >> 24 };
		struct iovec tail = { le, 4 };
		if (pwritev_full(s->f.fd, head, nhead, 0) < 0 ||
		    pwritev_full(s->f.fd, &tail, 1, (off_t)h.total) < 0)
			errf(err, errsz, "%s: %s", s->f.path, strerror(errno));
		else
			r = atomic_file_commit(&s->f, 0644, err, errsz);
	}
	out_release(&h);
	saving_free(s);
	return r;
}

void model_save_abort(struct model_saving *s)
{
	if (!s)
		return;
	saving_join(s);
	saving_free(s);
}

int model_save(const struct model *m, const char *path, char *err, size_t errsz)
{
	struct model_saving *s = model_save_begin(m, path, err, errsz);
	return s ? model_save_end(s, m, err, errsz) : -1;
}

/* ---- reading -------------------------------------------------------------- */

struct rd {
	const unsigned char *p;
	size_t left;
	int short_read;
};

static uint32_t get_u32(struct rd *r)
{
	if (r->left < 4) {
		r->short_read = 1;
		r->left = 0;
		return 0;
	}
	uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
		     (uint32_t)r->p[3] << 24;
	r->p += 4;
	r->left -= 4;
	return v;
}

static uint64_t get_u64(struct rd *r)
{
	uint64_t lo = get_u32(r);
	return lo | (uint64_t)get_u32(r) << 32;
}

static double get_f64(struct rd *r)
{
	uint64_t v = get_u64(r);
	double d;
	memcpy(&d, &v, 8);
	return d;
}

static float get_f32(struct rd *r)
{
	uint32_t v = get_u32(r);
	float f;
	memcpy(&f, &v, 4);
	return f;
}

/* Checks that a pool of NUL-terminated strings holds exactly n of them, each
 * at most maxlen bytes and valid UTF-8. Returns 0 or -1. */
static int check_pool(const char *pool, size_t len, uint32_t n, size_t maxlen, int allow_empty)
{
	if (n == 0)
		return len == 0 ? 0 : -1;
	/* NUL is valid UTF-8 and no sequence holds one: the pool is checked whole. */
	if (len == 0 || pool[len - 1] != '\0' || !utf8_valid(pool, len))
		return -1;
	uint32_t count = 0;
	for (size_t i = 0; i < len;) {
		const char *z = memchr(pool + i, '\0', len - i);
		size_t l = (size_t)(z - (pool + i));
		if (l > maxlen || (!allow_empty && l == 0))
			return -1;
		count++;
		i += l + 1;
	}
	return count == n ? 0 : -1;
}

/* Gives back the whole pages of a read-only private mapping within [p, p+len). */
static void drop_pages(const void *p, size_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	if (pg <= 0)
		return;
	uintptr_t a = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
	uintptr_t b = ((uintptr_t)p + len) & ~((uintptr_t)pg - 1);
	if (b > a)
		(void)madvise((void *)a, b - a, MADV_DONTNEED);  /* a hint */
}

#define BAD(...) do { errf(err, errsz, __VA_ARGS__); goto fail; } while (0)

/* The magic and the version: 0, or -1 with err set. */
static int check_head(const unsigned char *d, size_t len, char *err, size_t errsz)
{
	size_t mlen = strlen(MODEL_MAGIC);
	if (len < mlen || memcmp(d, MODEL_MAGIC, mlen) != 0)
		return errf(err, errsz, "not a triage model file");
	if (len < mlen + 12)
		return errf(err, errsz, "truncated model file (%zu bytes)", len);
	struct rd r = { d + mlen, 4, 0 };
	uint32_t version = get_u32(&r);
	if (version != MODEL_VERSION)
		return errf(err, errsz,
			    "model format version %u is not supported (this triage reads version %u): "
			    "retrain the model with this version",
			    version, MODEL_VERSION);
	return 0;
}

/* A page range that the parse found worth giving back (see the end of parse):
 * the terms, their readable forms, and the largest padding. */
struct span {
	const void *p;
	size_t len;
};
#define NDROP 3

/* Parses what check_head() accepted; when borrow is set, the weights may
 * point into data, which the model then owns as a mapping of len bytes. */
/* The index of the first value of w[0..n) that is not finite, or n. Whole
 * blocks are tested without an early exit and with a fixed count, so that
 * the compiler vectorises the test (20 Newsgroups: 5.2 million weights, 40
 * of the 50 million instructions of a load in scalar code). Not inlined:
 * inside parse, GCC leaves the loop scalar. */
static __attribute__((noinline)) size_t first_nonfinite(const float *w, size_t n)
{
	enum { BLOCK = 4096 };
	size_t b = 0;
	for (; b + BLOCK <= n; b += BLOCK) {
		uint32_t bad = 0;
		for (size_t k = 0; k < BLOCK; k++) {
			uint32_t u;
			memcpy(&u, &w[b + k], sizeof u);
			bad |= (u & 0x7f800000u) == 0x7f800000u;  /* all-ones exponent */
		}
		if (bad)
			break;
	}
	for (; b < n; b++)
		if (!isfinite(w[b]))
			return b;
	return n;
}

static struct model *parse(const void *data, size_t len, int borrow, unsigned flags,
			   struct span drop[NDROP], char *err, size_t errsz)
{
	const unsigned char *d = data;
	size_t mlen = strlen(MODEL_MAGIC);
	struct model *m = NULL;
	struct rd r = { d + mlen + 4, len - mlen - 8, 0 };
	uint32_t nsec = get_u32(&r);
	if (nsec > 64) {
		errf(err, errsz, "corrupted model file (%u sections)", nsec);
		return NULL;
	}
	struct {
		const unsigned char *p;
		size_t len;
	} sec[10] = { { 0 } };
	/* The first 8 are required; SLOT (files of triage < 0.9) and POWR
	 * (older files: 1) are optional. */
	static const uint32_t tags[10] = { SEC_INFO, SEC_TOKO, SEC_LABL, SEC_TERM, SEC_SURF,
					   SEC_IDF,  SEC_WGHT, SEC_PLAT, SEC_SLOT, SEC_POWR };
	struct span pad = { NULL, 0 };
	for (uint32_t i = 0; i < nsec; i++) {
		uint32_t tag = get_u32(&r);
		uint64_t slen = get_u64(&r);
		if (r.short_read || slen > r.left) {
			errf(err, errsz, "truncated model file (section %u of %u)", i + 1, nsec);
			return NULL;
		}
		if (tag == SEC_PAD && slen > pad.len)
			pad = (struct span){ r.p, (size_t)slen };
		for (int k = 0; k < 10; k++)
			if (tags[k] == tag) {
				if (sec[k].p) {
					errf(err, errsz, "corrupted model file (a section appears twice)");
					return NULL;
				}
				sec[k].p = r.p;
				sec[k].len = (size_t)slen;
			}
		r.p += slen;
		r.left -= (size_t)slen;
	}
	for (int k = 0; k < 8; k++)
		if (!sec[k].p) {
			errf(err, errsz, "incomplete model file (a required section is missing)");
			return NULL;
		}

	/* Labels first: everything else is sized by them. */
	struct rd s = { sec[2].p, sec[2].len, 0 };
	uint32_t nl = get_u32(&s);
	if (s.short_read || nl < 2 || nl > MODEL_MAX_LABELS)
		BAD("corrupted model file (%u labels; 2 to %d expected)", nl, MODEL_MAX_LABELS);
	if (check_pool((const char *)s.p, s.left, nl, MODEL_MAX_LABEL_LEN, 0) < 0)
		BAD("corrupted model file (labels)");
	/* Labels become folder names: no control characters, no '/'. */
	for (size_t k = 0; k < s.left; k++)
		if ((s.p[k] < 0x20 && s.p[k] != 0) || s.p[k] == 0x7f || s.p[k] == '/')
			BAD("corrupted model file (a label holds a control character or '/')");
	if (!(m = model_alloc(nl)))
		BAD("out of memory");
	m->pool_borrowed = borrow;
	for (uint32_t i = 0; i < nl; i++) {
		size_t l = strlen((const char *)s.p);
		if (!(m->labels[i] = strdup((const char *)s.p)))
			BAD("out of memory");
		for (uint32_t j = 0; j < i; j++)
			if (!strcmp(m->labels[j], m->labels[i]))
				BAD("corrupted model file (label '%s' twice)", m->labels[i]);
		s.p += l + 1;
		s.left -= l + 1;
	}

	s = (struct rd){ sec[0].p, sec[0].len, 0 };
	uint32_t algo = get_u32(&s);
	m->info.algo = algo == CLF_LOGREG ? CLF_LOGREG : CLF_SVM;
	m->info.c = get_f64(&s);
	m->info.seed = get_u64(&s);
	m->info.trained_at = (int64_t)get_u64(&s);
	m->info.n_docs = get_u32(&s);
	m->info.cv_folds = get_u32(&s);
	m->info.cv_accuracy = get_f64(&s);
	m->info.cv_macro_f1 = get_f64(&s);
	m->info.cv_coverage = get_f64(&s);
	m->info.cv_precision = get_f64(&s);
	m->threshold = get_f64(&s);
	if (s.short_read || algo > CLF_LOGREG)
		BAD("corrupted model file (training information)");
	if (!(m->threshold >= 0 && m->threshold <= 1))
		BAD("corrupted model file (threshold out of 0..1)");

	s = (struct rd){ sec[1].p, sec[1].len, 0 };
	uint32_t lang = get_u32(&s);
	if (s.short_read || s.left < 6 || lang > TOK_LANG_EN)
		BAD("corrupted model file (tokenizer settings)");
	m->tok.lang = (enum tok_lang)lang;
	m->tok.stem = s.p[0] != 0;
	m->tok.stopwords = s.p[1] != 0;
	m->tok.bigrams = s.p[2] != 0;
	m->tok.zones = s.p[3] != 0;
	m->tok.headers = s.p[4] != 0;
	m->tok.share_quotes = s.p[5] != 0;

	s = (struct rd){ sec[3].p, sec[3].len, 0 };
	uint32_t nf = get_u32(&s);
	if (s.short_read || nf > MODEL_MAX_FEATURES)
		BAD("corrupted model file (%u features; at most %u)", nf, MODEL_MAX_FEATURES);
	const char *tpool = (const char *)s.p;
	size_t tlen = s.left;
	/* The saved term table, used where it lies in a mapped file (aligned,
	 * on a little-endian host); copied data (model_load_mem) rebuilds it
	 * from the terms. */
	const uint64_t *saved = NULL;
	uint32_t nslots = 0;
	if (sec[8].p) {
		struct rd t = { sec[8].p, sec[8].len, 0 };
		nslots = get_u32(&t);
		get_u32(&t);
		if (t.short_read || t.left != (size_t)nslots * 8)
			BAD("corrupted model file (term table)");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (borrow && ((uintptr_t)t.p % _Alignof(uint64_t)) == 0)
			saved = (const uint64_t *)(uintptr_t)t.p;
#endif
	}
	/* For scoring only, the saved table is all a lookup needs: the strings
	 * are then not read at all. */
	const int lean = (flags & MODEL_SCORING) && saved;
	if (!lean && check_pool(tpool, tlen, nf, MODEL_MAX_TERM_LEN, 0) < 0)
		BAD("corrupted model file (terms)");
	if (!borrow) {
		if (!(m->terms_copy = malloc(tlen ? tlen : 1)))
			BAD("out of memory");
		memcpy(m->terms_copy, tpool, tlen);
		tpool = m->terms_copy;
	}
	if (saved) {
		if ((lean ? strtab_adopt_slots_only(&m->terms, tpool, tlen, nf, saved, nslots)
			  : strtab_adopt_slots(&m->terms, tpool, tlen, nf, saved, nslots)) < 0) {
			if (errno == ENOMEM)
				BAD("out of memory");
			BAD("corrupted model file (term table)");
		}
	} else if (strtab_adopt(&m->terms, tpool, tlen, nf) < 0) {
		if (errno == EEXIST)
			BAD("corrupted model file (a term appears twice)");
		BAD("out of memory");
	}

	s = (struct rd){ sec[4].p, sec[4].len, 0 };
	uint32_t ns = get_u32(&s);
	if (lean)
		ns = 0;
	else if (s.short_read || (ns != 0 && ns != nf) ||
		 check_pool((const char *)s.p, s.left, ns, MODEL_MAX_TERM_LEN, 1) < 0)
		BAD("corrupted model file (readable terms)");
	if (ns) {
		m->surf_off = malloc((size_t)nf * sizeof *m->surf_off);
		if (!m->surf_off)
			BAD("out of memory");
		if (borrow) {
			m->surf_pool = (char *)(uintptr_t)s.p;
		} else {
			if (!(m->surf_pool = malloc(s.left)))
				BAD("out of memory");
			memcpy(m->surf_pool, s.p, s.left);
		}
		m->surf_len = s.left;
		size_t off = 0;
		for (uint32_t j = 0; j < nf; j++) {
			m->surf_off[j] = (uint32_t)off;
			off += strlen(m->surf_pool + off) + 1;
		}
	}

	s = (struct rd){ sec[5].p, sec[5].len, 0 };
	if (get_u32(&s) != nf || s.left != (size_t)nf * 4)
		BAD("corrupted model file (idf)");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (borrow && ((uintptr_t)s.p % _Alignof(float)) == 0) {
		m->idf = (float *)(uintptr_t)s.p;
		m->idf_borrowed = 1;
	} else
#endif
	{
		if (!(m->idf = malloc(((size_t)nf + 1) * sizeof *m->idf)))
			BAD("out of memory");
		for (uint32_t j = 0; j < nf; j++)
			m->idf[j] = get_f32(&s);
	}
	for (uint32_t j = 0; j < nf; j++)
		if (!isfinite(m->idf[j]) || m->idf[j] < 0)
			BAD("corrupted model file (idf of feature %u)", j);

	s = (struct rd){ sec[6].p, sec[6].len, 0 };
	uint32_t wf = get_u32(&s), wl = get_u32(&s);
	if (s.short_read || wf != nf || wl != nl || s.left != ((size_t)nf * nl + nl) * 4)
		BAD("corrupted model file (weights)");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (borrow && ((uintptr_t)s.p % _Alignof(float)) == 0) {
		m->w = (float *)(uintptr_t)s.p;
		m->w_borrowed = 1;
		size_t k = first_nonfinite(m->w, (size_t)nf * nl);
		if (k < (size_t)nf * nl)
			BAD("corrupted model file (weight %zu)", k);
		s.p += (size_t)nf * nl * 4;
		s.left -= (size_t)nf * nl * 4;
	} else
#endif
	{
		if (!(m->w = malloc(((size_t)nf * nl + 1) * sizeof *m->w)))
			BAD("out of memory");
		for (size_t k = 0; k < (size_t)nf * nl; k++) {
			m->w[k] = get_f32(&s);
			if (!isfinite(m->w[k]))
				BAD("corrupted model file (weight %zu)", k);
		}
	}
	for (uint32_t c = 0; c < nl; c++) {
		m->bias[c] = get_f32(&s);
		if (!isfinite(m->bias[c]))
			BAD("corrupted model file (bias)");
	}

	s = (struct rd){ sec[7].p, sec[7].len, 0 };
	if (get_u32(&s) != nl || s.left != (size_t)nl * 16)
		BAD("corrupted model file (calibration)");
	for (uint32_t c = 0; c < nl; c++) {
		m->platt_a[c] = get_f64(&s);
		m->platt_b[c] = get_f64(&s);
		if (!isfinite(m->platt_a[c]) || !isfinite(m->platt_b[c]))
			BAD("corrupted model file (calibration)");
	}
	if (sec[9].p) {
		s = (struct rd){ sec[9].p, sec[9].len, 0 };
		m->platt_power = get_f64(&s);
		if (s.short_read || s.left != 0 || !(m->platt_power >= PLATT_POWER_MIN) ||
		    !(m->platt_power <= PLATT_POWER_MAX))
			BAD("corrupted model file (calibration power)");
	}
	/*
	 * The strings are read only to explain a decision (and were just
	 * checked): their pages of the mapping are given back, to be read again
	 * from the file if ever needed. A large model then costs its weights
	 * and table in memory, not its text (20 Newsgroups: 6 MB less). The
	 * padding before the weights (zeros, up to 2 MiB) goes too.
	 */
	if (borrow) {
		drop[0] = (struct span){ sec[3].p, sec[3].len };
		drop[1] = (struct span){ sec[4].p, sec[4].len };
		drop[2] = pad;
	}
	return m;
fail:
	/* The mapping stays the caller's until success. */
	model_free(m);
	return NULL;
}

/* Without MADV_POPULATE_READ (Linux < 5.14 headers), mmap populates. */
#ifdef MADV_POPULATE_READ
#define MAP_POPULATE_FALLBACK 0
#else
#define MAP_POPULATE_FALLBACK MAP_POPULATE
#endif

#ifndef TRIAGE_FUZZ
struct crc_job {
	const unsigned char *p;
	size_t len;
	uint32_t crc;
};

static void *crc_run(void *arg)
{
	struct crc_job *j = arg;
	j->crc = (uint32_t)crc32_z(0L, j->p, j->len);
	return NULL;
}

/* A model this large has its checksum computed on a thread of its own. */
#define CRC_THREAD_MIN (4u << 20)
#endif

/*
 * Loads from data (see parse). The checksum is checked before the model is
 * returned, and its error comes first; a large model's first half is
 * computed on another thread while the parse, which is memory-safe on any
 * bytes, runs, and its second half after the parse (20 Newsgroups: 33 MB,
 * the checksum 130 million instructions, the parse 14 million).
 */
static struct model *load(const void *data, size_t len, int borrow, unsigned flags, char *err,
			  size_t errsz)
{
	const unsigned char *d = data;
	if (check_head(d, len, err, errsz) < 0)
		return NULL;
	struct span drop[NDROP] = { { 0 } };
#ifdef TRIAGE_FUZZ
	/* The fuzzer skips the checksum, so that it explores the parser behind it. */
	struct model *m = parse(data, len, borrow, flags, drop, err, errsz);
#else
	struct rd tail = { d + len - 4, 4, 0 };
	uint32_t stored = get_u32(&tail);
	/* With a thread: its half of the file, then this thread's half once the
	 * parse is done, combined. */
	size_t half = (len - 4) / 2;
	struct crc_job job = { d, half, 0 }, rest = { d + half, len - 4 - half, 0 };
	pthread_t th;
	int threaded = len >= CRC_THREAD_MIN && pthread_create(&th, NULL, crc_run, &job) == 0;
	if (!threaded) {
		job.len = len - 4;
		crc_run(&job);
	}
	/* Without a thread, a file whose checksum is wrong is not parsed at all. */
	struct model *m = threaded || job.crc == stored
				  ? parse(data, len, borrow, flags, drop, err, errsz)
				  : NULL;
	if (threaded) {
		crc_run(&rest);
		pthread_join(th, NULL);
		job.crc = (uint32_t)crc32_combine(job.crc, rest.crc, (z_off_t)rest.len);
	}
	if (job.crc != stored) {
		model_free(m);
		errf(err, errsz, "corrupted or truncated model file (checksum mismatch)");
		return NULL;
	}
#endif
	if (m)
		for (int k = 0; k < NDROP; k++)
			if (drop[k].p)
				drop_pages(drop[k].p, drop[k].len);
	return m;
}

struct model *model_load_mem(const void *data, size_t len, char *err, size_t errsz)
{
	return load(data, len, 0, 0, err, errsz);
}

struct model *model_load(const char *path, char *err, size_t errsz)
{
	return model_load_flags(path, 0, err, errsz);
}

int model_has_terms(const struct model *m)
{
	return strtab_has_strings(&m->terms);
}

struct model *model_load_flags(const char *path, unsigned flags, char *err, size_t errsz)
{
	char e[256];
	struct stat st;
	int fd = open_stat(path, &st, err, errsz);
	if (fd < 0)
		return NULL;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (unsigned long long)st.st_size > MODEL_MAX_FILE_SIZE) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		errf(err, errsz, "%s: %s", path,
		     S_ISREG(st.st_mode) ? "larger than a model may be" : "not a regular file");
		return NULL;
	}
	size_t len = (size_t)st.st_size;
	/* A private, read-only mapping: a model replaced by rename (as retrain
	 * does) leaves this one intact. An empty file cannot be mapped. */
	void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE_FALLBACK, fd, 0)
			: MAP_FAILED;
	int saved = errno;
#ifdef MADV_POPULATE_READ
	/*
	 * Huge pages, then every page mapped at once. Read from the disk, the
	 * file then comes into the page cache in huge folios, which this
	 * mapping and the next ones map as huge pages: a page fault and a TLB
	 * entry per 2 MiB of weights read at random, not per 4 KiB. (A file
	 * cached in small folios, as after some writes, stays as it is.)
	 * Both are hints: without them pages are mapped as they are read.
	 */
	if (map != MAP_FAILED) {
		(void)madvise(map, len, MADV_HUGEPAGE);
		(void)madvise(map, len, MADV_POPULATE_READ);
	}
#endif
	close(fd);
	if (map == MAP_FAILED) {
		if (len == 0) {
			errf(err, errsz, "%s: not a triage model file (empty)", path);
			errno = EBADMSG;
		} else {
			errno = saved;
			errf(err, errsz, "%s: %s", path, strerror(saved));
		}
		return NULL;
	}
	struct model *m = load(map, len, 1, flags, e, sizeof e);
	if (!m) {
		errf(err, errsz, "%s: %s", path, e);
		munmap(map, len);
		errno = EBADMSG;  /* the file is there, its content is wrong */
		return NULL;
	}
	m->map = map;
	m->map_len = len;
	return m;
}
