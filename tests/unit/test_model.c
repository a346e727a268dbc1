/* Unit tests for classifier/model: save/load round trip, and every kind of
 * damaged file giving a clear error (truncated, corrupted, wrong version,
 * counts out of bounds, bad values). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "classifier/classifier.h"
#include "classifier/model_impl.h"
#include "common/util.h"

static char dir[] = "/tmp/triage-test-model-XXXXXX";

static struct model *small_model(void)
{
	const char *labels[] = { "Adhesion", "Evenement", "Presse" };
	const char *terms[] = { "b:adhes", "b:cotis", "s:visit", "d:mairie.fr", "b:journal" };
	const char *surf[] = { "adhésion", "cotisation", "visite", "", "journal" };
	struct model *m = model_alloc(3);
	assert_non_null(m);
	for (int i = 0; i < 3; i++)
		m->labels[i] = strdup(labels[i]);
	size_t nf = 5, pool = 0;
	for (size_t j = 0; j < nf; j++)
		pool += strlen(surf[j]) + 1;
	m->surf_pool = malloc(pool);
	m->surf_off = malloc(nf * sizeof *m->surf_off);
	m->idf = malloc(nf * sizeof *m->idf);
	m->w = malloc(nf * 3 * sizeof *m->w);
	size_t off = 0;
	for (size_t j = 0; j < nf; j++) {
		assert_int_equal(strtab_intern(&m->terms, terms[j], strlen(terms[j]), NULL), (int)j);
		m->surf_off[j] = (uint32_t)off;
		memcpy(m->surf_pool + off, surf[j], strlen(surf[j]) + 1);
		off += strlen(surf[j]) + 1;
		m->idf[j] = 1.0f + (float)j / 10;
		for (int c = 0; c < 3; c++)
			m->w[j * 3 + (size_t)c] = (float)((int)j - c) / 4;
	}
	m->surf_len = pool;
	for (int c = 0; c < 3; c++) {
		m->bias[c] = -0.25f * (float)c;
		m->platt_a[c] = -2.0 - c;
		m->platt_b[c] = 0.1 * c;
	}
	m->threshold = 0.625;
	m->platt_power = 1.5;
	m->info.algo = CLF_LOGREG;
	m->info.c = 2.5;
	m->info.seed = 99;
	m->info.n_docs = 1234;
	m->info.cv_folds = 3;
	m->info.cv_accuracy = 0.9;
	m->info.cv_macro_f1 = 0.88;
	m->info.cv_coverage = 0.8;
	m->info.cv_precision = 0.951;
	m->tok.lang = TOK_LANG_EN;
	m->tok.bigrams = 0;
	return m;
}

static char *saved(size_t *len)
{
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/m.model", dir);
	struct model *m = small_model();
	assert_int_equal(model_save(m, path, err, sizeof err), 0);
	model_free(m);
	char *data = read_file(path, 1 << 20, len, err, sizeof err);
	assert_non_null(data);
	return data;
}

static void fix_crc(char *data, size_t len)
{
	uint32_t c = (uint32_t)crc32(0L, (const Bytef *)data, (uInt)(len - 4));
	for (int i = 0; i < 4; i++)
		data[len - 4 + (size_t)i] = (char)(c >> (8 * i));
}

/* probs (of small_model's 3 labels) are the Platt probabilities of scores
 * raised to power and normalised. */
static void assert_calibrated(const struct model *m, const double *scores, const double *probs,
			      double power)
{
	double p[3], z = 0;
	for (int c = 0; c < 3; c++)
		z += p[c] = pow(platt_prob(m->platt_a[c], m->platt_b[c], scores[c]), power);
	for (int c = 0; c < 3; c++)
		assert_true(fabs(probs[c] - p[c] / z) < 1e-12);
}

static void test_round_trip(void **state)
{
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/m.model", dir);
	struct model *a = small_model();
	assert_int_equal(model_save(a, path, err, sizeof err), 0);
	struct model *b = model_load(path, err, sizeof err);
	assert_non_null(b);
	assert_int_equal(model_nlabels(b), 3);
	assert_string_equal(model_label(b, 1), "Evenement");
	assert_int_equal(model_label_index(b, "Presse"), 2);
	assert_int_equal(model_label_index(b, "Autre"), -1);
	assert_null(model_label(b, 3));
	assert_int_equal(model_nfeatures(b), 5);
	assert_true(model_threshold(b) == 0.625);
	assert_int_equal(model_get_info(b)->algo, CLF_LOGREG);
	assert_int_equal(model_get_info(b)->n_docs, 1234);
	assert_true(model_get_info(b)->cv_precision == 0.951);
	assert_int_equal(model_tok_opts(b)->lang, TOK_LANG_EN);
	assert_int_equal(model_tok_opts(b)->bigrams, 0);
	assert_int_equal(strtab_find(&b->terms, "s:visit", 7), 2);
	assert_string_equal(b->surf_pool + b->surf_off[0], "adhésion");
	assert_string_equal(b->surf_pool + b->surf_off[3], "");
	assert_memory_equal(a->w, b->w, 15 * sizeof *a->w);
	assert_memory_equal(a->idf, b->idf, 5 * sizeof *a->idf);
	assert_true(b->platt_a[2] == -4.0 && b->platt_b[1] == 0.1);
	assert_true(b->platt_power == 1.5);
	/* calibration: probabilities sum to 1 and follow the scores; the power
	 * sharpens them and changes no decision */
	double scores[3] = { 1.0, -1.0, 0.0 }, probs[3], flat[3];
	int best = model_calibrate(b, scores, probs);
	assert_int_equal(best, 0);
	assert_true(fabs(probs[0] + probs[1] + probs[2] - 1.0) < 1e-9);
	b->platt_power = 1.0;
	assert_int_equal(model_calibrate(b, scores, flat), 0);
	assert_true(fabs(flat[0] + flat[1] + flat[2] - 1.0) < 1e-9);
	assert_true(probs[0] > flat[0] && probs[1] < flat[1]);
	assert_calibrated(b, scores, probs, 1.5);
	model_free(a);
	model_free(b);
	/* the file is written atomically: no temporary file left behind */
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp >/dev/null", dir);
	assert_int_not_equal(system(cmd), 0);
}

static void test_missing_and_not_a_model(void **state)
{
	char err[256], path[256];
	assert_null(model_load("/nonexistent/fr.model", err, sizeof err));
	assert_non_null(strstr(err, "No such file"));
	assert_null(model_load_mem("hello world, not a model", 24, err, sizeof err));
	assert_string_equal(err, "not a triage model file");
	snprintf(path, sizeof path, "%s/empty", dir);
	assert_int_equal(write_file_atomic(path, "", 0, 0644, err, sizeof err), 0);
	assert_null(model_load(path, err, sizeof err));
	assert_non_null(strstr(err, "not a triage model file"));
}

/* Every prefix of a valid file is refused with a message, never a crash. */
static void test_truncated(void **state)
{
	size_t len;
	char *data = saved(&len);
	char err[256];
	for (size_t k = 0; k < len; k++) {
		err[0] = '\0';
		struct model *m = model_load_mem(data, k, err, sizeof err);
		assert_null(m);
		assert_true(strlen(err) > 0);
	}
	struct model *m = model_load_mem(data, len, err, sizeof err);
	assert_non_null(m);
	model_free(m);
	free(data);
}

/* Any flipped byte is caught (the checksum, or the magic before it). */
static void test_corrupted(void **state)
{
	size_t len;
	char *data = saved(&len);
	char err[256];
	for (size_t k = 0; k < len; k++) {
		data[k] ^= 0x5a;
		assert_null(model_load_mem(data, len, err, sizeof err));
		data[k] ^= 0x5a;
	}
	data[len / 2] ^= 1;
	assert_null(model_load_mem(data, len, err, sizeof err));
	assert_non_null(strstr(err, "checksum"));
	free(data);
}

static void test_wrong_version(void **state)
{
	size_t len;
	char *data = saved(&len);
	char err[256];
	size_t vpos = strlen(MODEL_MAGIC);
	data[vpos] = 2;
	fix_crc(data, len);
	assert_null(model_load_mem(data, len, err, sizeof err));
	assert_non_null(strstr(err, "version 2"));
	assert_non_null(strstr(err, "retrain"));
	free(data);
}

/* Finds the payload of a section by its tag. */
static unsigned char *section(char *data, size_t len, const char *tag)
{
	for (size_t k = strlen(MODEL_MAGIC) + 8; k + 12 < len; k++)
		if (!memcmp(data + k, tag, 4))
			return (unsigned char *)data + k + 12;
	fail_msg("section %s not found", tag);
	return NULL;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Counts and values out of bounds, with a valid checksum: refused by the
 * parser itself. */
static void test_bounds(void **state)
{
	struct {
		const char *tag;
		size_t off;
		uint32_t value;
		const char *expect;
	} cases[] = {
		{ "LABL", 0, 1, "labels" },                /* one label */
		{ "LABL", 0, 100000, "labels" },           /* far too many */
		{ "LABL", 0, 4, "labels" },                /* more than the pool holds */
		{ "TERM", 0, 0xffffffffu, "features" },    /* over MODEL_MAX_FEATURES */
		{ "TERM", 0, 6, "terms" },                 /* count and pool disagree */
		{ "IDF_", 0, 4, "idf" },
		{ "IDF_", 4, 0x7fc00000u, "idf" },         /* NaN */
		{ "WGHT", 0, 7, "weights" },
		{ "WGHT", 8, 0x7f800000u, "weight" },      /* +inf */
		{ "PLAT", 0, 2, "calibration" },
		{ "POWR", 4, 0x7ff80000u, "calibration power" },  /* NaN */
		{ "POWR", 4, 0x40210000u, "calibration power" },  /* 8.5 */
		{ "POWR", 4, 0x3fc00000u, "calibration power" },  /* 0.125 */
		{ "INFO", 0, 9, "training information" },  /* unknown algorithm */
		{ "TOKO", 0, 5, "tokenizer" },             /* unknown language */
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		size_t len;
		char *data = saved(&len);
		char err[256] = "";
		put32(section(data, len, cases[k].tag) + cases[k].off, cases[k].value);
		fix_crc(data, len);
		struct model *m = model_load_mem(data, len, err, sizeof err);
		if (m)
			fail_msg("case %zu (%s) loaded", k, cases[k].tag);
		if (!strstr(err, cases[k].expect))
			fail_msg("case %zu: '%s' lacks '%s'", k, err, cases[k].expect);
		free(data);
	}
}

/* A file without the calibration's power (an older triage's: here the
 * section renamed, so that it is skipped as unknown) loads with power 1,
 * and calibrates as before the power was added. */
static void test_power_optional(void **state)
{
	size_t len;
	char *data = saved(&len);
	memcpy(section(data, len, "POWR") - 12, "XOWR", 4);
	fix_crc(data, len);
	char err[256] = "";
	struct model *m = model_load_mem(data, len, err, sizeof err);
	assert_non_null(m);
	assert_true(m->platt_power == 1.0);
	double scores[3] = { 0.5, 0.2, -1.0 }, probs[3];
	assert_int_equal(model_calibrate(m, scores, probs), 0);
	assert_calibrated(m, scores, probs, 1.0);
	model_free(m);
	free(data);
}

/* A model of nf features ("b:t0", "b:t1"...) and NUMBERED_NL labels, its
 * idf and weights finite and varying with the feature. */
enum { NUMBERED_NL = 3 };
static struct model *numbered_model(size_t nf)
{
	enum { NL = NUMBERED_NL };
	struct model *m = model_alloc(NL);
	assert_non_null(m);
	for (int c = 0; c < NL; c++) {
		char l[16];
		snprintf(l, sizeof l, "L%d", c);
		m->labels[c] = strdup(l);
		m->platt_a[c] = -1;
	}
	m->idf = malloc(nf * sizeof *m->idf);
	m->w = malloc(nf * NL * sizeof *m->w);
	assert_true(m->idf && m->w);
	for (size_t j = 0; j < nf; j++) {
		char t[32];
		int n = snprintf(t, sizeof t, "b:t%zu", j);
		assert_int_equal(strtab_intern(&m->terms, t, (size_t)n, NULL), (int64_t)j);
		m->idf[j] = 1.0f + (float)(j % 97) / 10;
		for (size_t c = 0; c < NL; c++)
			m->w[j * NL + c] = (float)((int)(j % 13) - (int)c) / 8;
	}
	m->threshold = 0.5;
	return m;
}

/* Saves numbered_model(nf) at path and returns the file's bytes (*len of
 * them). */
static char *saved_numbered(const char *path, size_t nf, size_t *len)
{
	char err[256];
	struct model *m = numbered_model(nf);
	assert_int_equal(model_save(m, path, err, sizeof err), 0);
	model_free(m);
	char *data = read_file(path, 64 << 20, len, err, sizeof err);
	assert_non_null(data);
	return data;
}

/* Weights that are not finite, in a mapped file (the weights are used where
 * they lie) of more weights than a block of the vectorised test (4096):
 * refused, with the first bad one's index, wherever it is. */
static void test_nonfinite_weights(void **state)
{
	enum { NF = 3000, NL = NUMBERED_NL };
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/w.model", dir);
	size_t len;
	char *clean = saved_numbered(path, NF, &len);
	struct model *ok = model_load(path, err, sizeof err);
	assert_non_null(ok);
	assert_true(ok->w_borrowed);  /* the mapped path, not a copy */
	model_free(ok);
	static const size_t at[] = { 0, 4095, 4096, 4097, 8191, 8192, NF * NL - 1 };
	static const uint32_t bad[] = { 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u };
	for (size_t a = 0; a < sizeof at / sizeof *at; a++) {
		for (size_t v = 0; v < sizeof bad / sizeof *bad; v++) {
			char *data = malloc(len);
			assert_non_null(data);
			memcpy(data, clean, len);
			unsigned char *w = section(data, len, "WGHT") + 8;
			put32(w + 4 * at[a], bad[v]);
			if (at[a] + 1000 < (size_t)NF * NL)  /* a later one too: the first is named */
				put32(w + 4 * (at[a] + 1000), bad[v]);
			fix_crc(data, len);
			assert_int_equal(write_file_atomic(path, data, len, 0644, err, sizeof err), 0);
			assert_null(model_load(path, err, sizeof err));
			char want[64];
			snprintf(want, sizeof want, "(weight %zu)", at[a]);
			if (!strstr(err, want))
				fail_msg("weight %zu = %08x: '%s' lacks '%s'", at[a], bad[v], err, want);
			free(data);
		}
	}
	free(clean);
}

/* A model of more than 4 MB has its checksum computed in two halves (one on
 * another thread, during the parse), combined: a byte changed in either
 * half is caught, and a sound file loads. */
static void test_large_checksum(void **state)
{
	enum { NF = 360000 };
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/big.model", dir);
	size_t len;
	char *clean = saved_numbered(path, NF, &len);
	assert_true(len > (4u << 20));
	struct model *ok = model_load(path, err, sizeof err);
	assert_non_null(ok);
	assert_int_equal(model_nfeatures(ok), NF);
	model_free(ok);
	assert_non_null(ok = model_load_mem(clean, len, err, sizeof err));
	model_free(ok);
	/* each half, and the bytes on either side of where they meet */
	const size_t at[] = { 100, (len - 4) / 2 - 1, (len - 4) / 2, len - 5 };
	for (size_t a = 0; a < sizeof at / sizeof *at; a++) {
		clean[at[a]] ^= 0x20;
		assert_null(model_load_mem(clean, len, err, sizeof err));
		if (!strstr(err, "checksum"))
			fail_msg("byte %zu changed: '%s'", at[a], err);
		assert_int_equal(write_file_atomic(path, clean, len, 0644, err, sizeof err), 0);
		assert_null(model_load(path, err, sizeof err));
		if (!strstr(err, "checksum"))
			fail_msg("byte %zu changed, mapped: '%s'", at[a], err);
		clean[at[a]] ^= 0x20;
	}
	free(clean);
}

static void test_bad_strings(void **state)
{
	size_t len;
	char err[256];
	/* a duplicated term */
	char *data = saved(&len);
	unsigned char *t = section(data, len, "TERM") + 4;
	memcpy(t + strlen("b:adhes") + 1, "b:adhes", 7);  /* "b:cotis" -> "b:adhes" */
	fix_crc(data, len);
	assert_null(model_load_mem(data, len, err, sizeof err));
	assert_non_null(strstr(err, "twice"));
	free(data);
	/* a label with '/' (labels become folder names) */
	data = saved(&len);
	t = section(data, len, "LABL") + 4;
	t[2] = '/';
	fix_crc(data, len);
	assert_null(model_load_mem(data, len, err, sizeof err));
	assert_non_null(strstr(err, "label"));
	free(data);
	/* invalid UTF-8 in a readable term */
	data = saved(&len);
	t = section(data, len, "SURF") + 4;
	t[3] = (unsigned char)0xff;
	fix_crc(data, len);
	assert_null(model_load_mem(data, len, err, sizeof err));
	assert_non_null(strstr(err, "readable terms"));
	free(data);
	/* threshold out of 0..1 */
	data = saved(&len);
	unsigned char *info = section(data, len, "INFO");
	double th = 1.5;
	memcpy(info + 4 + 8 + 8 + 8 + 4 + 4 + 8 * 4, &th, 8);
	fix_crc(data, len);
	assert_null(model_load_mem(data, len, err, sizeof err));
	assert_non_null(strstr(err, "threshold"));
	free(data);
}

/* Writes data to a file and loads it the way the commands do (mapped). */
static struct model *load_as_file(const char *data, size_t len, char *err, size_t errsz)
{
	char path[256];
	snprintf(path, sizeof path, "%s/c.model", dir);
	assert_int_equal(write_file_atomic(path, data, len, 0644, err, errsz), 0);
	return model_load(path, err, errsz);
}

/* The vocabulary's hash table saved in the file (SLOT) is used where it lies
 * when the file is mapped; damaged, it is refused with a clear error; absent
 * (a file of an older triage), it is rebuilt from the terms. */
static void test_slot_table(void **state)
{
	static const char *terms[] = { "b:adhes", "b:cotis", "s:visit", "d:mairie.fr", "b:journal" };
	char err[256];
	size_t len;
	char *data = saved(&len);
	unsigned char *sl = section(data, len, "SLOT");
	uint32_t nslots = (uint32_t)sl[0] | (uint32_t)sl[1] << 8;
	assert_true(nslots >= 8 && (nslots & (nslots - 1)) == 0);
	uint64_t *slots = (uint64_t *)(sl + 8);  /* 8-aligned in the file, not in data */
	struct model *m = load_as_file(data, len, err, sizeof err);
	assert_non_null(m);
	assert_true(m->terms.slots_borrowed);
	for (int j = 0; j < 5; j++)
		assert_int_equal(strtab_find(&m->terms, terms[j], strlen(terms[j])), j);
	assert_int_equal(strtab_find(&m->terms, "b:absent", 8), -1);
	size_t tl;
	assert_string_equal(strtab_str(&m->terms, 3, &tl), "d:mairie.fr");
	assert_int_equal(tl, 11);
	/* read-only: nothing can be added to a borrowed table */
	assert_int_equal(strtab_intern(&m->terms, "b:new", 5, NULL), -1);
	assert_int_equal(errno, EPERM);
	model_free(m);

	/* Damaged tables, with a valid checksum. */
	uint32_t full = UINT32_MAX, empty = UINT32_MAX;
	for (uint32_t k = 0; k < nslots; k++) {
		uint64_t v;
		memcpy(&v, &slots[k], 8);
		if (v && full == UINT32_MAX)
			full = k;
		if (!v && empty == UINT32_MAX)
			empty = k;
	}
	assert_true(full != UINT32_MAX && empty != UINT32_MAX);
	for (int c = 0; c < 5; c++) {
		char *d = saved(&len);
		unsigned char *q = section(d, len, "SLOT");
		uint64_t *st = (uint64_t *)(q + 8), v;
		memcpy(&v, &st[full], 8);
		if (c == 0) {          /* an id beyond the vocabulary */
			v = (v & ~((1ULL << STRTAB_ID_BITS) - 1)) | 100;
			memcpy(&st[full], &v, 8);
		} else if (c == 1) {   /* an id twice */
			memcpy(&st[empty], &v, 8);
		} else if (c == 2) {   /* an id missing */
			v = 0;
			memcpy(&st[full], &v, 8);
		} else if (c == 3) {   /* not a power of two, and its length agreeing */
			put32(q, nslots - 1);
			put32(q - 8, (nslots - 1) * 8 + 8);
			memmove(q + 8 + (nslots - 1) * 8, q + 8 + nslots * 8,
				len - (size_t)(q + 8 + nslots * 8 - (unsigned char *)d));
			len -= 8;
		} else {               /* the count and the length disagree */
			put32(q, nslots * 2);
		}
		fix_crc(d, len);
		struct model *bad = load_as_file(d, len, err, sizeof err);
		if (bad)
			fail_msg("damaged table %d loaded", c);
		if (!strstr(err, "term table"))
			fail_msg("case %d: '%s'", c, err);
		if (c == 4) {
			/* copied data checks the length too */
			assert_null(model_load_mem(d, len, err, sizeof err));
			assert_non_null(strstr(err, "term table"));
		}
		free(d);
	}

	/* No table (renamed to an unknown section): rebuilt from the terms. */
	memcpy(sl - 12, "XXXX", 4);
	fix_crc(data, len);
	m = load_as_file(data, len, err, sizeof err);
	assert_non_null(m);
	assert_false(m->terms.slots_borrowed);
	for (int j = 0; j < 5; j++)
		assert_int_equal(strtab_find(&m->terms, terms[j], strlen(terms[j])), j);
	model_free(m);
	free(data);
}

/* What classifying reads (idf, weights, term table) is one run at the end of
 * the file; in a large model it starts on a 2 MiB boundary (huge pages),
 * in a small one nothing is padded. Mapped, idf and weights are used where
 * they lie; copied (model_load_mem), they are copied. */
static void test_layout(void **state)
{
	(void)state;
	enum { NF = 160000, NL = NUMBERED_NL };
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/big.model", dir);
	struct model *a = numbered_model(NF);
	assert_int_equal(model_save(a, path, err, sizeof err), 0);
	size_t len;
	char *data = read_file(path, 1 << 26, &len, err, sizeof err);
	assert_non_null(data);
	unsigned char *idf = section(data, len, "IDF_");
	unsigned char *wght = section(data, len, "WGHT");
	unsigned char *slot = section(data, len, "SLOT");
	assert_int_equal(((size_t)(idf - (unsigned char *)data) + 4) % ((size_t)2 << 20), 0);
	assert_true(idf < wght && wght < slot);
	/* no more padding than the one boundary */
	assert_true(len < (size_t)(slot - (unsigned char *)data) + strtab_nslots(&a->terms) * 8 + 64);

	struct model *b = model_load(path, err, sizeof err);
	assert_non_null(b);
	assert_true(b->idf_borrowed && b->w_borrowed && b->terms.slots_borrowed);
	assert_memory_equal(a->idf, b->idf, NF * sizeof *a->idf);
	assert_memory_equal(a->w, b->w, (size_t)NF * NL * sizeof *a->w);
	assert_int_equal(strtab_find(&b->terms, "b:t123456", 9), 123456);
	model_free(b);
	struct model *c = model_load_mem(data, len, err, sizeof err);
	assert_non_null(c);
	assert_false(c->idf_borrowed || c->w_borrowed);
	assert_memory_equal(a->idf, c->idf, NF * sizeof *a->idf);
	assert_memory_equal(a->w, c->w, (size_t)NF * NL * sizeof *a->w);
	model_free(c);
	model_free(a);
	free(data);

	/* A small model: no large padding; mapped, its idf is still borrowed. */
	data = saved(&len);
	assert_true(len < 4096);
	free(data);
	snprintf(path, sizeof path, "%s/m.model", dir);
	b = model_load(path, err, sizeof err);
	assert_non_null(b);
	assert_true(b->idf_borrowed);
	model_free(b);
}

/* Loaded for scoring only, a mapped model with its term table reads no
 * string: lookups and weights as with a full load, no terms to explain
 * with, and a damaged term pool is not even seen. Without the table (an
 * older file), the terms are read as always. */
static void test_scoring_load(void **state)
{
	(void)state;
	static const char *terms[] = { "b:adhes", "b:cotis", "s:visit", "d:mairie.fr", "b:journal" };
	char err[256];
	size_t len;
	char *data = saved(&len);
	struct model *full = load_as_file(data, len, err, sizeof err);
	assert_non_null(full);
	assert_true(model_has_terms(full));
	char path[256];
	snprintf(path, sizeof path, "%s/c.model", dir);
	struct model *m = model_load_flags(path, MODEL_SCORING, err, sizeof err);
	assert_non_null(m);
	assert_false(model_has_terms(m));
	assert_null(m->surf_off);
	for (int j = 0; j < 5; j++)
		assert_int_equal(strtab_find(&m->terms, terms[j], strlen(terms[j])), j);
	assert_int_equal(strtab_find(&m->terms, "b:absent", 8), -1);
	assert_memory_equal(full->w, m->w, 15 * sizeof *m->w);
	assert_memory_equal(full->idf, m->idf, 5 * sizeof *m->idf);
	assert_string_equal(model_label(m, 2), "Presse");
	/* classifying works, without reasons */
	struct clf_worker *w = clf_worker_new(m, err, sizeof err);
	assert_non_null(w);
	static const char msg[] = "Subject: visite\n\nadhesion et cotisation\n";
	struct clf_result r;
	assert_int_equal(clf_classify_raw(w, msg, sizeof msg - 1, sizeof msg - 1, NULL, 3, &r), 0);
	assert_int_equal(r.nreasons, 0);
	clf_worker_free(w);
	struct clf_worker *wf = clf_worker_new(full, err, sizeof err);
	struct clf_result rf;
	assert_int_equal(clf_classify_raw(wf, msg, sizeof msg - 1, sizeof msg - 1, NULL, 3, &rf), 0);
	assert_true(rf.nreasons > 0);
	assert_int_equal(rf.label, r.label);
	assert_true(rf.confidence == r.confidence);
	clf_worker_free(wf);
	model_free(m);
	model_free(full);

	/* A term pool with a NUL inside a term (one string more than counted), with a
	 * valid checksum: refused by a full load, unseen by a scoring one. */
	unsigned char *tp = section(data, len, "TERM");
	tp[4 + 3] = '\0';  /* "b:a", "hes" */
	fix_crc(data, len);
	assert_null(load_as_file(data, len, err, sizeof err));
	assert_non_null(strstr(err, "terms"));
	m = model_load_flags(path, MODEL_SCORING, err, sizeof err);
	assert_non_null(m);
	model_free(m);

	/* No table: the terms are read and checked whatever the flags. */
	free(data);
	data = saved(&len);
	memcpy(section(data, len, "SLOT") - 12, "XXXX", 4);
	fix_crc(data, len);
	assert_non_null((m = load_as_file(data, len, err, sizeof err)));
	model_free(m);
	m = model_load_flags(path, MODEL_SCORING, err, sizeof err);
	assert_non_null(m);
	assert_true(model_has_terms(m));
	model_free(m);
	free(data);
}

/* The terms' hash is in every model file (its table): it must not change.
 * Checked against the definition (8-byte words, then the rest zero-padded)
 * for every length up to 40 and every alignment. */
static uint64_t hash_ref(const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);
	for (; len >= 8; s += 8, len -= 8) {
		uint64_t k = 0;
		for (int i = 0; i < 8; i++)
			k |= (uint64_t)(unsigned char)s[i] << (8 * i);
		h = (h ^ k) * 0xc4ceb9fe1a85ec53ULL;
		h ^= h >> 29;
	}
	uint64_t k = 0;
	for (size_t i = 0; i < len; i++)
		k |= (uint64_t)(unsigned char)s[i] << (8 * i);
	h = (h ^ k ^ ((uint64_t)len << 56)) * 0xff51afd7ed558ccdULL;
	h ^= h >> 32;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 29;
	return h;
}

static void test_hash(void **state)
{
	(void)state;
	char buf[64];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)(0x9d * (i + 1) ^ 0x5a);
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 40; len++) {
			/* exactly len bytes: what follows is out of reach */
			char *p = malloc(len ? len : 1);
			assert_non_null(p);
			memcpy(p, buf + off, len);
			if (strtab_hash(p, len) != hash_ref(buf + off, len))
				fail_msg("length %zu, offset %zu", len, off);
			free(p);
		}
	/* values of the definition, computed apart (files of this format hold them) */
	assert_true(strtab_hash("b:adhes", 7) == 0xef6272f1cac3400dULL);
	assert_true(strtab_hash("b:cotisation annuelle", 21) == 0x8a5a22df09516b1aULL);
}

/* Without its index a table keeps its strings (and hashes, until they are
 * dropped too), finds nothing and takes no more. */
static void test_drop_index(void **state)
{
	(void)state;
	struct strtab t;
	strtab_init(&t, 1000);
	char term[32];
	for (int j = 0; j < 300; j++) {
		int n = snprintf(term, sizeof term, "b:t%d", j);
		assert_int_equal(strtab_intern(&t, term, (size_t)n, NULL), j);
	}
	strtab_drop_index(&t);
	assert_null(t.slots);
	assert_non_null(t.hash);
	for (int j = 0; j < 300; j++) {
		int n = snprintf(term, sizeof term, "b:t%d", j);
		size_t len;
		assert_string_equal(strtab_str(&t, (uint32_t)j, &len), term);
		assert_int_equal(len, n);
		assert_true(t.hash[j] == strtab_hash(term, (size_t)n));
		assert_int_equal(strtab_find(&t, term, (size_t)n), -1);
	}
	uint64_t hs[2] = { strtab_hash("b:t1", 4), strtab_hash("b:new", 5) };
	int32_t ids[2] = { 7, 7 };
	strtab_find_many(&t, hs, 2, ids);
	assert_int_equal(ids[0], -1);
	assert_int_equal(ids[1], -1);
	errno = 0;
	assert_int_equal(strtab_intern(&t, "b:new", 5, NULL), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(t.n, 300);
	strtab_drop_hashes(&t);
	assert_null(t.hash);
	assert_string_equal(strtab_str(&t, 299, NULL), "b:t299");
	strtab_release(&t);
}

static void test_unwritable(void **state)
{
	struct model *m = small_model();
	char err[256];
	assert_int_equal(model_save(m, "/nonexistent/dir/m.model", err, sizeof err), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/m.model"));
	model_free(m);
}

/* Files in dir whose name holds ".tmp." (a save's temporary file). */
static int temporaries(void)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "ls -a %s | grep -q '[.]tmp[.]'", dir);
	return system(cmd) == 0;
}

/*
 * The save in two steps: what changes between begin and end (calibration,
 * threshold, information) is what the file holds, byte for byte as
 * model_save writes it; a file being saved replaces path only at the end;
 * a change of size in between, or an abort, leaves path as it was and no
 * temporary file.
 */
static void test_save_in_two_steps(void **state)
{
	char path[256], ref[256], err[256];
	snprintf(path, sizeof path, "%s/two.model", dir);
	snprintf(ref, sizeof ref, "%s/ref.model", dir);
	struct model *m = small_model();
	m->threshold = 0.5;
	m->platt_a[1] = 0;
	m->info.cv_accuracy = 0;
	assert_int_equal(model_save(m, path, err, sizeof err), 0);  /* the file to replace */
	struct model_saving *s = model_save_begin(m, path, err, sizeof err);
	assert_non_null(s);
	assert_true(temporaries());
	/* training calibrates meanwhile */
	m->threshold = 0.75;
	m->platt_a[1] = -3.5;
	m->info.cv_accuracy = 0.93;
	struct model *old = model_load(path, err, sizeof err);
	assert_non_null(old);
	assert_true(model_threshold(old) == 0.5);  /* not replaced yet */
	model_free(old);
	assert_int_equal(model_save_end(s, m, err, sizeof err), 0);
	assert_false(temporaries());
	assert_int_equal(model_save(m, ref, err, sizeof err), 0);
	size_t la, lb;
	char *a = read_file(path, 1 << 20, &la, err, sizeof err);
	char *b = read_file(ref, 1 << 20, &lb, err, sizeof err);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	struct model *l = model_load(path, err, sizeof err);
	assert_non_null(l);
	assert_true(model_threshold(l) == 0.75);
	assert_true(l->platt_a[1] == -3.5);
	assert_true(model_get_info(l)->cv_accuracy == 0.93);
	model_free(l);

	/* a label renamed to a longer name: the head's size changed */
	assert_non_null(s = model_save_begin(m, path, err, sizeof err));
	free(m->labels[2]);
	m->labels[2] = strdup("Presse et medias");
	assert_int_equal(model_save_end(s, m, err, sizeof err), -1);
	assert_non_null(strstr(err, "changed while it was saved"));
	assert_false(temporaries());
	assert_non_null(l = model_load(path, err, sizeof err));
	assert_string_equal(model_label(l, 2), "Presse");
	model_free(l);

	/* aborted: nothing replaced, nothing left */
	assert_non_null(s = model_save_begin(m, path, err, sizeof err));
	model_save_abort(s);
	model_save_abort(NULL);
	assert_false(temporaries());
	assert_non_null(l = model_load(path, err, sizeof err));
	assert_string_equal(model_label(l, 2), "Presse");
	model_free(l);

	/* a directory that does not exist: begin fails with the path */
	assert_null(model_save_begin(m, "/nonexistent/dir/m.model", err, sizeof err));
	assert_non_null(strstr(err, "/nonexistent/dir/m.model"));
	model_free(m);
	unlink(ref);
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_missing_and_not_a_model),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_power_optional),
		cmocka_unit_test(test_nonfinite_weights),
		cmocka_unit_test(test_large_checksum),
		cmocka_unit_test(test_bad_strings),
		cmocka_unit_test(test_slot_table),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_scoring_load),
		cmocka_unit_test(test_drop_index),
		cmocka_unit_test(test_unwritable),
		cmocka_unit_test(test_save_in_two_steps),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
