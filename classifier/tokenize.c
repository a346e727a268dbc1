#include "classifier/tokenize.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libstemmer.h>
#include <utf8proc.h>

#include "classifier/redact.h"
#include "classifier/stopwords.h"
#include "classifier/zones.h"
#include "common/util.h"

/*
 * The hot loop runs once per byte of text and once per word, so it is built
 * to do as little as possible there:
 * - a byte table classifies ASCII; utf8proc is called only on non-ASCII bytes;
 * - a word is copied once, ASCII lower-cased on the way, into a fixed buffer;
 * - a cache keyed by that copy maps each distinct word to its term and surface
 *   (or to "dropped"), so normalisation, the stop word test and the Snowball
 *   stemmer run once per distinct word, not once per occurrence;
 * - terms are assembled in fixed buffers: nothing is allocated per token.
 */

#define WORD_MAX 40               /* folded bytes; longer words are dropped */
#define RAW_MAX (4 * WORD_MAX)    /* NFKC shrinks a word at most 4:1 (U+1D400 -> 'a') */
#define FOLD_MAX (4 * RAW_MAX)    /* compatibility decompositions expand */
#define SURF_MAX 160              /* a surface beyond this (mark floods) is dropped */
#define TERM_MAX 64
#define CP_MAX (4 * RAW_MAX)
#define NUM_RUN 4                 /* a longer run of digits becomes "#num" */
#define DOMAIN_MAX 253
#define EXT_MAX 10

/* Stem cache: open addressing, cleared when three quarters full or when its
 * string arena is, so its memory stays fixed (about 2.8 MB). */
#define CACHE_SLOTS (1u << 16)
#define CACHE_FILL (CACHE_SLOTS / 4 * 3)
#define ARENA_SIZE (2u << 20)
#define ENTRY_MAX (RAW_MAX + TERM_MAX + SURF_MAX)

enum { C_WORD = 1, C_ALPHA = 2, C_DIGIT = 4 };

struct centry {
	uint32_t hash;
	uint32_t off;   /* key, then term, then surface, in the arena */
	uint8_t klen;   /* 0: empty slot */
	uint8_t tlen;
	uint8_t slen;
	uint8_t drop;   /* stop word, too short or too long */
};

/* A word's result: pointers valid until the next word. */
struct wres {
	const char *term, *surf;
	size_t tlen, slen;
};

/* The bigram state of one run of text (one zone span, a subject...). */
struct chain {
	tok_emit_fn emit;
	void *ctx;
	int bigrams;
	size_t plen;   /* bytes of "p:prev " in big; 0: no previous word */
	size_t pslen;  /* bytes of "prev " in sbig */
};

struct tokenizer {
	struct tok_opts o;
	struct sb_stemmer *stemmer;  /* NULL when !o.stem */
	struct zoner *zoner;         /* NULL when !o.zones */
	struct redactor *red;
	struct zones zs;
	struct centry *tab;
	size_t used;
	char *arena;
	size_t alen;
	unsigned char cls[256];
	unsigned char lower[256];
	unsigned char w[RAW_MAX + 8];   /* the word; +8: the hash reads 8 bytes at a time */
	utf8proc_int32_t cp[CP_MAX + 1];
	char surf[SURF_MAX];
	char fold[FOLD_MAX];
	char stem[TERM_MAX];
	char term[2 + TERM_MAX];
	char big[2 + TERM_MAX + 1 + TERM_MAX];
	char sbig[SURF_MAX + 1 + SURF_MAX];
	char xbuf[2 + DOMAIN_MAX + 1];
};

void tok_opts_default(struct tok_opts *o)
{
	o->lang = TOK_LANG_FR;
	o->stem = 1;
	o->stopwords = 1;
	o->bigrams = 1;
	o->zones = 1;
	o->headers = 1;
}

int tok_lang_parse(const char *name, enum tok_lang *lang)
{
	if (!strcmp(name, "fr")) {
		*lang = TOK_LANG_FR;
		return 0;
	}
	if (!strcmp(name, "en")) {
		*lang = TOK_LANG_EN;
		return 0;
	}
	return -1;
}

const char *tok_lang_name(enum tok_lang lang)
{
	return lang == TOK_LANG_EN ? "en" : "fr";
}

static void cache_clear(struct tokenizer *t)
{
	memset(t->tab, 0, CACHE_SLOTS * sizeof *t->tab);
	t->used = 0;
	t->alen = 0;
}

struct tokenizer *tok_new(const struct tok_opts *o, char *err, size_t errsz)
{
	if (o->lang != TOK_LANG_FR && o->lang != TOK_LANG_EN) {
		errf(err, errsz, "tokenizer: unknown language %d", (int)o->lang);
		return NULL;
	}
	struct tokenizer *t = calloc(1, sizeof *t);
	if (!t) {
		errf(err, errsz, "tokenizer: out of memory");
		return NULL;
	}
	t->o = *o;
	if (o->stem) {
		t->stemmer = sb_stemmer_new(o->lang == TOK_LANG_EN ? "english" : "french",
					    "UTF_8");
		if (!t->stemmer) {
			errf(err, errsz, "tokenizer: no Snowball stemmer for %s",
			     tok_lang_name(o->lang));
			goto fail;
		}
	}
	if (!(t->red = redact_new(err, errsz)))
		goto fail;
	if (o->zones && !(t->zoner = zoner_new(err, errsz)))
		goto fail;
	t->tab = calloc(CACHE_SLOTS, sizeof *t->tab);
	t->arena = malloc(ARENA_SIZE);
	if (!t->tab || !t->arena) {
		errf(err, errsz, "tokenizer: out of memory");
		goto fail;
	}
	for (unsigned c = 0; c < 256; c++) {
		int up = c >= 'A' && c <= 'Z';
		int alpha = up || (c >= 'a' && c <= 'z');
		int digit = c >= '0' && c <= '9';
		t->cls[c] = (unsigned char)((alpha || digit ? C_WORD : 0) | (alpha ? C_ALPHA : 0) |
					    (digit ? C_DIGIT : 0));
		t->lower[c] = (unsigned char)(up ? c | 0x20 : c);
	}
	return t;
fail:
	tok_free(t);
	return NULL;
}

void tok_free(struct tokenizer *t)
{
	if (!t)
		return;
	if (t->stemmer)
		sb_stemmer_delete(t->stemmer);
	zoner_free(t->zoner);
	redact_free(t->red);
	zones_release(&t->zs);
	free(t->tab);
	free(t->arena);
	free(t);
}

/* ---- one word ------------------------------------------------------------- */

static int word_cp(utf8proc_int32_t cp)
{
	utf8proc_category_t c = utf8proc_category(cp);
	/* letters, marks, numbers; a soft hyphen inside a word is ignored */
	return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO) || cp == 0xad;
}

static uint32_t word_hash(unsigned char *w, size_t n)
{
	memset(w + n, 0, 8);
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v;
		memcpy(&v, w + i, 8);
		h = (h ^ v) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return (uint32_t)h;
}

/* utf8proc on the word w[0..n) with options opt into out (at most max bytes).
 * Returns the length, or 0 when it does not fit (the word is then dropped). */
static size_t normalize(struct tokenizer *t, size_t n, utf8proc_option_t opt, int ligatures,
			char *out, size_t max)
{
	utf8proc_ssize_t r = utf8proc_decompose(t->w, (utf8proc_ssize_t)n, t->cp, CP_MAX, opt);
	if (r <= 0 || r > CP_MAX)
		return 0;
	if (ligatures) {
		/* Letters Unicode does not decompose but French writes both ways:
		 * "cœur"/"coeur", "ex æquo"/"ex aequo". */
		utf8proc_ssize_t extra = 0;
		for (utf8proc_ssize_t i = 0; i < r; i++)
			extra += t->cp[i] == 0x153 || t->cp[i] == 0xe6;
		if (r + extra > CP_MAX)
			return 0;
		for (utf8proc_ssize_t i = r - 1, j = r + extra - 1; extra && i >= 0; i--) {
			utf8proc_int32_t c = t->cp[i];
			if (c == 0x153 || c == 0xe6) {
				t->cp[j--] = 'e';
				t->cp[j--] = c == 0x153 ? 'o' : 'a';
			} else {
				t->cp[j--] = c;
			}
		}
		r += extra;
	}
	/* reencode writes the UTF-8 bytes over the code points (room: CP_MAX + 1) */
	utf8proc_ssize_t b = utf8proc_reencode(t->cp, r, opt);
	if (b <= 0 || (size_t)b > max)
		return 0;
	memcpy(out, t->cp, (size_t)b);
	return (size_t)b;
}

/* Replaces each run of more than NUM_RUN ASCII digits by "#num", in place.
 * Returns the new length. */
static size_t num_runs(char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] < '0' || s[i] > '9') {
			s[o++] = s[i++];
			continue;
		}
		size_t j = i;
		while (j < n && s[j] >= '0' && s[j] <= '9')
			j++;
		if (j - i > NUM_RUN) {
			memcpy(s + o, "#num", 4);
			o += 4;
		} else {
			memmove(s + o, s + i, j - i);
			o += j - i;
		}
		i = j;
	}
	return o;
}

static int has_digit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= '0' && s[i] <= '9')
			return 1;
	return 0;
}

/* Computes the term and surface of the word in t->w (a cache miss).
 * Returns 1 (kept, r set to scratch buffers), 0 (dropped) or -1 (ENOMEM). */
static int word_compute(struct tokenizer *t, size_t n, int nonascii, struct wres *r)
{
	size_t sl, fl;
	if (!nonascii) {
		memcpy(t->surf, t->w, n);
		memcpy(t->fold, t->w, n);
		sl = fl = n;
	} else {
		const utf8proc_option_t base = UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE;
		/* the surface keeps accents; the folded form drops them, before the
		 * stemmer, so that every spelling of a word reaches the same stem */
		sl = normalize(t, n, base | UTF8PROC_COMPOSE, 0, t->surf, SURF_MAX);
		fl = normalize(t, n, base | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK, 1, t->fold,
			       FOLD_MAX);
		if (!sl || !fl)
			return 0;
	}
	int digits = has_digit(t->fold, fl);
	if (digits) {
		fl = num_runs(t->fold, fl);
		sl = num_runs(t->surf, sl);
	}
	if (fl < 2 || fl > WORD_MAX)
		return 0;
	if (t->o.stopwords && !digits && stopwords_contains(t->o.lang, t->fold, fl))
		return 0;
	r->surf = t->surf;
	r->slen = sl;
	r->term = t->fold;
	r->tlen = fl;
	/* Stemming is for words: "14h30", "2e" or "ref#num" stay as they are. */
	if (t->stemmer && !digits) {
		const sb_symbol *st = sb_stemmer_stem(t->stemmer, (const sb_symbol *)t->fold, (int)fl);
		if (!st) {
			errno = ENOMEM;
			return -1;
		}
		int len = sb_stemmer_length(t->stemmer);
		if (len > 0 && (size_t)len <= TERM_MAX) {
			memcpy(t->stem, st, (size_t)len);
			r->term = t->stem;
			r->tlen = (size_t)len;
		}
	}
	return 1;
}

/* The term of the word t->w[0..n), through the cache. Same returns as
 * word_compute; r points into the cache's arena or scratch buffers. */
static int word_term(struct tokenizer *t, size_t n, unsigned flags, int nonascii,
		     struct wres *r)
{
	if (!nonascii && !(flags & C_ALPHA)) {
		/* Numbers bypass the cache: each distinct one would take a slot. */
		if (n < 2)
			return 0;
		r->term = r->surf = n > NUM_RUN ? "#num" : (const char *)t->w;
		r->tlen = r->slen = n > NUM_RUN ? 4 : n;
		return 1;
	}
	if (!nonascii && n < 2)
		return 0;
	uint32_t h = word_hash(t->w, n);
	size_t i = h & (CACHE_SLOTS - 1);
	struct centry *e;
	while ((e = &t->tab[i])->klen) {
		if (e->hash == h && e->klen == n && !memcmp(t->arena + e->off, t->w, n)) {
			if (e->drop)
				return 0;
			r->term = t->arena + e->off + e->klen;
			r->tlen = e->tlen;
			r->surf = r->term + e->tlen;
			r->slen = e->slen;
			return 1;
		}
		i = (i + 1) & (CACHE_SLOTS - 1);
	}
	int rc = word_compute(t, n, nonascii, r);
	if (rc < 0)
		return -1;
	if (t->used >= CACHE_FILL || t->alen + ENTRY_MAX > ARENA_SIZE) {
		cache_clear(t);
		i = h & (CACHE_SLOTS - 1);
	}
	e = &t->tab[i];
	e->hash = h;
	e->off = (uint32_t)t->alen;
	e->klen = (uint8_t)n;
	e->drop = rc == 0;
	memcpy(t->arena + t->alen, t->w, n);
	t->alen += n;
	if (rc) {
		e->tlen = (uint8_t)r->tlen;
		e->slen = (uint8_t)r->slen;
		memcpy(t->arena + t->alen, r->term, r->tlen);
		memcpy(t->arena + t->alen + r->tlen, r->surf, r->slen);
		t->alen += r->tlen + r->slen;
	}
	t->used++;
	return rc;
}

/* ---- runs of text ---------------------------------------------------------- */

/* Emits a kept word and, when there was a word before it in this run, the
 * bigram of both. t->term and t->big start with the run's "p:". */
static void chain_add(struct tokenizer *t, struct chain *c, const char *term, size_t tl,
		      const char *surf, size_t sl)
{
	memcpy(t->term + 2, term, tl);
	c->emit(c->ctx, t->term, tl + 2, surf, sl);
	if (!c->bigrams)
		return;
	if (c->plen) {
		memcpy(t->big + c->plen, term, tl);
		memcpy(t->sbig + c->pslen, surf, sl);
		c->emit(c->ctx, t->big, c->plen + tl, t->sbig, c->pslen + sl);
	}
	memcpy(t->big + 2, term, tl);
	t->big[2 + tl] = ' ';
	c->plen = 3 + tl;
	memcpy(t->sbig, surf, sl);
	t->sbig[sl] = ' ';
	c->pslen = sl + 1;
}

/* Reads one word starting at p (a word character) into t->w. Returns the end
 * of the word; *n is its length in bytes (it may exceed RAW_MAX: only the
 * first RAW_MAX bytes are copied and the word is then dropped). */
static const unsigned char *collect(struct tokenizer *t, const unsigned char *p,
				    const unsigned char *end, size_t *n, unsigned *flags,
				    int *nonascii)
{
	size_t k = 0;
	unsigned fl = 0;
	int na = 0;
	while (p < end) {
		unsigned ch = *p;
		unsigned cl = t->cls[ch];
		if (cl & C_WORD) {
			if (k < RAW_MAX)
				t->w[k] = t->lower[ch];
			k++;
			fl |= cl;
			p++;
			continue;
		}
		if (ch < 0x80)
			break;
		utf8proc_int32_t cp;
		utf8proc_ssize_t m = utf8proc_iterate(p, end - p, &cp);
		if (m < 0 || !word_cp(cp))
			break;
		if (k + (size_t)m <= RAW_MAX)
			memcpy(t->w + k, p, (size_t)m);
		k += (size_t)m;
		na = 1;
		p += m;
	}
	*n = k;
	*flags = fl;
	*nonascii = na;
	return p;
}

/* Words of s[0..len) (no personal data inside: run_text cut it out). */
static int scan(struct tokenizer *t, struct chain *c, const unsigned char *p,
		const unsigned char *end)
{
	while (p < end) {
		unsigned ch = *p;
		if (!(t->cls[ch] & C_WORD)) {
			if (ch < 0x80) {
				p++;
				continue;
			}
			utf8proc_int32_t cp;
			utf8proc_ssize_t m = utf8proc_iterate(p, end - p, &cp);
			if (m < 0) {
				p++;  /* invalid UTF-8: a separator, never part of a term */
				continue;
			}
			if (!word_cp(cp)) {
				p += m;
				continue;
			}
		}
		size_t n;
		unsigned flags;
		int nonascii;
		p = collect(t, p, end, &n, &flags, &nonascii);
		if (n > RAW_MAX || (!nonascii && n > WORD_MAX))
			continue;
		struct wres r;
		int rc = word_term(t, n, flags, nonascii, &r);
		if (rc < 0)
			return -1;
		if (rc)
			chain_add(t, c, r.term, r.tlen, r.surf, r.slen);
	}
	return 0;
}

/* Emits "p:" + s (ASCII-lowercased, at most DOMAIN_MAX bytes, valid UTF-8),
 * with s as its surface. */
static void emit_feature(struct tokenizer *t, tok_emit_fn emit, void *ctx, char prefix,
			 const char *s, size_t n)
{
	if (!n || n > DOMAIN_MAX || !utf8_valid(s, n))
		return;
	t->xbuf[0] = prefix;
	t->xbuf[1] = ':';
	for (size_t i = 0; i < n; i++)
		t->xbuf[2 + i] = (char)t->lower[(unsigned char)s[i]];
	emit(ctx, t->xbuf, n + 2, t->xbuf + 2, n);
}

static int run_text(struct tokenizer *t, char prefix, const char *text, size_t len,
		    int bigrams, tok_emit_fn emit, void *ctx)
{
	static const char *const placeholder[] = {
		[REDACT_EMAIL] = "#email", [REDACT_PHONE] = "#tel",
		[REDACT_IBAN] = "#iban", [REDACT_URL] = "#url",
	};
	struct chain c = { emit, ctx, bigrams, 0, 0 };
	const unsigned char *s = (const unsigned char *)text;
	t->term[0] = t->big[0] = prefix;
	t->term[1] = t->big[1] = ':';
	size_t pos = 0;
	while (pos < len) {
		enum redact_kind k;
		size_t ms, me, hs, he;
		int found = redact_next(t->red, text, len, pos, &k, &ms, &me, &hs, &he);
		if (scan(t, &c, s + pos, s + (found ? ms : len)) < 0)
			return -1;
		if (!found)
			break;
		const char *ph = placeholder[k];
		chain_add(t, &c, ph, strlen(ph), ph, strlen(ph));
		if (k == REDACT_URL) {
			if (he - hs > 4 && t->lower[s[hs]] == 'w' && t->lower[s[hs + 1]] == 'w' &&
			    t->lower[s[hs + 2]] == 'w' && s[hs + 3] == '.')
				hs += 4;
			emit_feature(t, emit, ctx, 'u', text + hs, he - hs);
		}
		pos = me;
	}
	return 0;
}

int tok_text(struct tokenizer *t, char prefix, const char *text, size_t len,
	     tok_emit_fn emit, void *ctx)
{
	return run_text(t, prefix, text, len, t->o.bigrams, emit, ctx);
}

size_t tok_word(struct tokenizer *t, const char *word, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)word, *end = p + len;
	if (!len)
		return 0;
	size_t n;
	unsigned flags;
	int nonascii;
	if (collect(t, p, end, &n, &flags, &nonascii) != end || !n)
		return 0;
	if (n > RAW_MAX || (!nonascii && n > WORD_MAX))
		return 0;
	struct wres r;
	if (word_term(t, n, flags, nonascii, &r) <= 0 || r.tlen >= outsz)
		return 0;
	memcpy(out, r.term, r.tlen);
	out[r.tlen] = '\0';
	return r.tlen;
}

/* ---- a message ----------------------------------------------------------- */

/* Reply and forward prefixes of a subject, any number of them: "Re:", "RE :",
 * "TR: Fwd:", "Re[2]:". Returns the offset of what remains; *fwd is set when
 * one of them marks a forward. */
static size_t subject_strip(const char *subj, size_t n, int *fwd)
{
	static const struct {
		const char *p;
		int fwd;
	} pre[] = {
		{ "fwd", 1 }, { "fw", 1 }, { "tr", 1 }, { "wg", 1 }, { "re", 0 },
		{ "r\xc3\xa9" "f", 0 }, { "r\xc3\x89" "f", 0 }, { "ref", 0 }, { "aw", 0 },
	};
	const unsigned char *s = (const unsigned char *)subj;
	size_t pos = 0;
	for (;;) {
		size_t i = pos;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		size_t next = 0;
		for (size_t k = 0; k < ARRAY_SIZE(pre) && !next; k++) {
			size_t pl = strlen(pre[k].p), j = i;
			size_t m = 0;
			while (m < pl && j < n &&
			       (s[j] >= 'A' && s[j] <= 'Z' ? s[j] | 0x20 : s[j]) ==
				       (unsigned char)pre[k].p[m]) {
				m++;
				j++;
			}
			if (m < pl)
				continue;
			if (j < n && (s[j] == '[' || s[j] == '(')) {
				unsigned char close = s[j] == '[' ? ']' : ')';
				size_t d = j + 1;
				while (d < n && s[d] >= '0' && s[d] <= '9')
					d++;
				if (d > j + 1 && d < n && s[d] == close)
					j = d + 1;
			}
			for (;;) {
				if (j < n && (s[j] == ' ' || s[j] == '\t'))
					j++;
				else if (j + 1 < n && s[j] == 0xc2 && s[j + 1] == 0xa0)
					j += 2;
				else if (j + 2 < n && s[j] == 0xe2 && s[j + 1] == 0x80 && s[j + 2] == 0xaf)
					j += 3;
				else
					break;
			}
			if (j < n && s[j] == ':') {
				next = j + 1;
				*fwd |= pre[k].fwd;
			}
		}
		if (!next)
			return i;
		pos = next;
	}
}

/* Does a line of s[0..n) start with '>'? */
static int has_quoted_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < n && s[i] == '>')
			return 1;
		const char *nl = memchr(s + i, '\n', n - i);
		if (!nl)
			return 0;
		i = (size_t)(nl - s) + 1;
	}
	return 0;
}

int tok_message(struct tokenizer *t, const struct msg *m, tok_emit_fn emit, void *ctx)
{
	static const struct {
		unsigned flag;
		const char *name;
	} hflags[] = {
		{ MSG_HTML_ONLY, "html" }, { MSG_AUTO_REPLY, "auto" }, { MSG_BULK, "bulk" },
		{ MSG_REPORT, "report" },  { MSG_ATTACHMENT, "attach" }, { MSG_NO_TEXT, "notext" },
		{ MSG_TRUNCATED, "truncated" },
	};
	const char *subj = m->subject ? m->subject : "";
	size_t subj_len = strlen(subj);
	int fwd = 0;
	size_t subj_off = subject_strip(subj, subj_len, &fwd);

	if (t->o.headers) {
		for (size_t i = 0; i < ARRAY_SIZE(hflags); i++)
			if (m->flags & hflags[i].flag)
				emit_feature(t, emit, ctx, 'h', hflags[i].name,
					     strlen(hflags[i].name));
		if (m->from_domain)
			emit_feature(t, emit, ctx, 'd', m->from_domain, strlen(m->from_domain));
		if (run_text(t, 's', subj + subj_off, subj_len - subj_off, t->o.bigrams, emit,
			     ctx) < 0)
			return -1;
		for (size_t i = 0; i < m->n_attachments; i++) {
			const char *name = m->attachments[i];
			if (!name)
				continue;
			size_t nl = strlen(name), stem_len = nl;
			const char *dot = memrchr(name, '.', nl);
			if (dot && dot > name) {
				size_t el = nl - (size_t)(dot - name);  /* with the dot */
				int ok = el >= 2 && el <= EXT_MAX + 1;
				for (size_t k = 1; ok && k < el; k++)
					ok = t->cls[(unsigned char)dot[k]] & C_WORD;
				if (ok) {
					emit_feature(t, emit, ctx, 'a', dot, el);
					stem_len = (size_t)(dot - name);
				}
			}
			if (run_text(t, 'a', name, stem_len, 0, emit, ctx) < 0)
				return -1;
		}
	}

	const char *text = m->text ? m->text : "";
	size_t len = m->text ? m->text_len : 0;
	if (!t->zoner)
		return run_text(t, 'b', text, len, t->o.bigrams, emit, ctx);
	if (zones_split(t->zoner, text, len, &t->zs) < 0)
		return -1;
	/* Outlook forwards a message under the same header block as a reply: with
	 * a "TR:"/"Fwd:" subject and no forward marker, a quote without '>' lines
	 * is the forwarded message. */
	int remap = 0;
	if (fwd) {
		remap = 1;
		for (size_t i = 0; i < t->zs.n; i++)
			if (t->zs.spans[i].zone == ZONE_FORWARD)
				remap = 0;
	}
	for (size_t i = 0; i < t->zs.n; i++) {
		const struct zone_span *sp = &t->zs.spans[i];
		enum zone z = sp->zone;
		if (remap && z == ZONE_QUOTE && !has_quoted_line(text + sp->off, sp->len))
			z = ZONE_FORWARD;
		if (run_text(t, zone_prefix(z), text + sp->off, sp->len, t->o.bigrams, emit,
			     ctx) < 0)
			return -1;
	}
	return 0;
}
