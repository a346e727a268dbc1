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
 * The hot loop runs once per byte of text and once per word, so it does as
 * little as possible there:
 * - ASCII is read eight bytes at a time (separators skipped, words copied and
 *   lower-cased, their hash computed from registers); utf8proc is called only
 *   on non-ASCII bytes;
 * - a cache keyed by the lower-cased word maps each distinct word to its term
 *   and surface (or to "dropped"), so normalisation, the stop word test and
 *   the Snowball stemmer run once per distinct word, not once per occurrence;
 * - personal data is looked for only where a word could start it (see
 *   candidate()), not at every byte;
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
/* Words are read and compared 8 bytes at a time and terms assembled with
 * 16-byte copies: every buffer involved has this much room past its end. */
#define SLACK 16

/* The per-word helpers must be inlined into the scan loop: GCC's size
 * heuristics would otherwise keep them as calls. */
#define HOT static inline __attribute__((always_inline))

/* Stem cache: open addressing, cleared when three quarters full or when its
 * string arena is, so its memory stays fixed (4 MB of slots, 2 MB of arena):
 * 98,000 distinct words, enough for the 20 Newsgroups test set in one pass
 * (half as many slots: 10% slower there, from re-stemming after a clear).
 * Most words fit in their slot (key and term inline; an ASCII word's surface
 * is its key), so a lookup touches one cache line: with a vocabulary far
 * larger than the CPU caches, that line is what a word costs. */
#define CACHE_SLOTS (1u << 17)
#define CACHE_FILL (CACHE_SLOTS / 4 * 3)
#define ARENA_SIZE (2u << 20)
#define ENTRY_MAX (RAW_MAX + TERM_MAX + SURF_MAX)
#define INLINE_MAX 24
#define RUN_AHEAD 16              /* words read ahead of their cache lookup */

/* Byte classes. */
enum {
	C_WORD = 1,    /* ASCII letter or digit */
	C_ALPHA = 2,
	C_DIGIT = 4,
	C_TRIG = 8,    /* a word starting with it may start personal data */
	C_LOCAL = 16,  /* after a word, it may continue an address (._%+-@, >= 0x80) */
};

enum {
	E_DROP = 1,    /* stop word, too short or too long */
	E_INLINE = 2,  /* key, term (and surface) in data[], else in the arena */
	E_SKEY = 4,    /* the surface is the key */
};

struct centry {
	uint32_t hash;
	uint8_t klen;   /* 0: empty slot */
	uint8_t tlen;
	uint8_t slen;
	uint8_t flags;
	union {
		char data[INLINE_MAX];  /* key, term, surface (unless E_SKEY) */
		uint32_t off;           /* the same, in the arena */
	} u;
};

/* A word as read from the text. */
struct word {
	size_t n;        /* bytes (may exceed RAW_MAX: then only RAW_MAX are in w) */
	unsigned flags;  /* C_ALPHA, C_DIGIT */
	int nonascii;
	int hashed;      /* collect() computed hash */
	uint32_t hash;
	unsigned char w[RAW_MAX + SLACK];  /* ASCII lower-cased */
};

/* A word's result: pointers valid until the next word. */
struct wres {
	const char *term, *surf;
	size_t tlen, slen;
};

/* A word or a piece of personal data read ahead (see run_text). */
struct ahead {
	int data;                /* personal data of kind, [hs, he) its host */
	enum redact_kind kind;
	size_t hs, he;
	struct word wd;
};

/* The bigram state of one run of text (one zone span, a subject...). */
struct chain {
	tok_emit_fn emit;
	void *ctx;
	int bigrams;
	int mirror;    /* also emit every term as a body ("b:") term */
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
	struct word word;
	struct ahead ahead[RUN_AHEAD];
	utf8proc_int32_t cp[CP_MAX + 1];
	char surf[SURF_MAX + SLACK];
	char fold[FOLD_MAX + SLACK];
	char stem[TERM_MAX + SLACK];
	char term[2 + TERM_MAX + SLACK];
	char big[2 + TERM_MAX + 1 + TERM_MAX + SLACK];
	char sbig[SURF_MAX + 1 + SURF_MAX + SLACK];
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
	o->share_quotes = 0;
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

int tok_prepare(char *err, size_t errsz)
{
	return redact_prepare(err, errsz) < 0 || zones_prepare(err, errsz) < 0 ? -1 : 0;
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
	/*
	 * Huge pages when the system gives them: the slots are read at random.
	 * One slot more, and SLACK more in the arena: keys and terms are read
	 * past their end. The spare slot is only ever read (the 16-byte copies
	 * of a term in the last slot run into it): left unwritten, it costs no
	 * memory of its own.
	 */
	t->tab = big_alloc((CACHE_SLOTS + 1) * sizeof *t->tab);
	if (t->tab)
		memset(t->tab, 0, CACHE_SLOTS * sizeof *t->tab);
	t->arena = malloc(ARENA_SIZE + SLACK);
	if (!t->tab || !t->arena) {
		errf(err, errsz, "tokenizer: out of memory");
		goto fail;
	}
	for (unsigned c = 0; c < 256; c++) {
		int up = c >= 'A' && c <= 'Z';
		int alpha = up || (c >= 'a' && c <= 'z');
		int digit = c >= '0' && c <= '9';
		unsigned cl = (alpha || digit ? C_WORD : 0) | (alpha ? C_ALPHA : 0) |
			      (digit ? C_DIGIT : 0);
		if (digit || up || c == 'h' || c == 'w')
			cl |= C_TRIG;
		if (c >= 0x80 || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '@')
			cl |= C_LOCAL;
		t->cls[c] = (unsigned char)cl;
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

#define HASH_SEED 0x9e3779b97f4a7c15ULL

static inline uint64_t hash_mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0xff51afd7ed558ccdULL;
	return h ^ (h >> 32);
}

static inline uint32_t hash_end(uint64_t h, size_t n)
{
	return (uint32_t)hash_mix(h, n);
}

/* Mask of the first n (< 8) bytes of a little-endian 8-byte load. */
static inline uint64_t low_bytes(size_t n)
{
	return (1ULL << (8 * n)) - 1;
}

static inline uint64_t load8(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* The word's bytes as zero-padded 8-byte chunks, mixed; collect() computes the
 * same from registers for ASCII words. */
static uint32_t word_hash(const unsigned char *w, size_t n)
{
	uint64_t h = HASH_SEED;
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = load8(w + i);
		if (n - i < 8)
			v &= low_bytes(n - i);
		h = hash_mix(h, v);
	}
	return hash_end(h, n);
}

/* Keys are short and nearly always equal once their hashes are. */
HOT int same_key(const char *a, const unsigned char *b, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		if (load8(a + i) != load8(b + i))
			return 0;
	return i == n || !((load8(a + i) ^ load8(b + i)) & low_bytes(n - i));
}

/* Copies n bytes in 16-byte steps: may read and write up to SLACK - 1 bytes
 * past n, which every buffer involved allows. */
HOT void copy16(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, 16);
	for (size_t i = 16; i < n; i += 16)
		memcpy(dst + i, src + i, 16);
}

/* utf8proc on the word with options opt into out (at most max bytes).
 * Returns the length, or 0 when it does not fit (the word is then dropped). */
static size_t normalize(struct tokenizer *t, const struct word *wd, utf8proc_option_t opt,
			int ligatures, char *out, size_t max)
{
	utf8proc_ssize_t r = utf8proc_decompose(wd->w, (utf8proc_ssize_t)wd->n, t->cp, CP_MAX, opt);
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

/* Computes the term and surface of a word (a cache miss).
 * Returns 1 (kept, r set to scratch buffers), 0 (dropped) or -1 (ENOMEM). */
static int word_compute(struct tokenizer *t, const struct word *wd, struct wres *r)
{
	size_t sl, fl;
	if (!wd->nonascii) {
		memcpy(t->surf, wd->w, wd->n);
		memcpy(t->fold, wd->w, wd->n);
		sl = fl = wd->n;
	} else {
		const utf8proc_option_t base = UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE;
		/* the surface keeps accents; the folded form drops them, before the
		 * stemmer, so that every spelling of a word reaches the same stem */
		sl = normalize(t, wd, base | UTF8PROC_COMPOSE, 0, t->surf, SURF_MAX);
		fl = normalize(t, wd, base | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK, 1, t->fold,
			       FOLD_MAX);
		if (!sl || !fl)
			return 0;
	}
	/* the length as read (as for ASCII words, see word_term), then numbers */
	if (fl < 2 || fl > WORD_MAX)
		return 0;
	int digits = has_digit(t->fold, fl);
	if (digits) {
		fl = num_runs(t->fold, fl);
		sl = num_runs(t->surf, sl);
	}
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

/* A cache miss: computes the word's term, stores it in slot i (the empty slot
 * its probe ended on) and returns like word_compute. Out of line: the hot
 * path is the hit. */
static __attribute__((noinline)) int word_miss(struct tokenizer *t, const struct word *wd,
					       size_t i, struct wres *r)
{
	int rc = word_compute(t, wd, r);
	if (rc < 0)
		return -1;
	size_t n = wd->n;
	if (t->used >= CACHE_FILL || t->alen + ENTRY_MAX > ARENA_SIZE) {
		cache_clear(t);
		i = wd->hash & (CACHE_SLOTS - 1);
	}
	struct centry *e = &t->tab[i];
	e->hash = wd->hash;
	e->klen = (uint8_t)n;
	e->flags = 0;
	size_t need = n;
	if (!rc) {
		e->flags |= E_DROP;
	} else {
		e->tlen = (uint8_t)r->tlen;
		e->slen = (uint8_t)r->slen;
		if (r->slen == n && !memcmp(r->surf, wd->w, n))
			e->flags |= E_SKEY;
		else
			need += r->slen;
		need += r->tlen;
	}
	char *d;
	if (need <= INLINE_MAX) {
		e->flags |= E_INLINE;
		d = e->u.data;
	} else {
		e->u.off = (uint32_t)t->alen;
		d = t->arena + t->alen;
		t->alen += need;
	}
	memcpy(d, wd->w, n);
	if (rc) {
		memcpy(d + n, r->term, r->tlen);
		if (!(e->flags & E_SKEY))
			memcpy(d + n + r->tlen, r->surf, r->slen);
		r->term = d + n;
		r->surf = e->flags & E_SKEY ? d : d + n + r->tlen;
	}
	t->used++;
	return rc;
}

/* The term of a word read by collect(): 1 (kept, r set), 0 (dropped) or -1
 * (ENOMEM). Numbers bypass the cache: each distinct one would take a slot. */
HOT int word_term(struct tokenizer *t, struct word *wd, struct wres *r)
{
	static const char num[SLACK] = "#num";
	size_t n = wd->n;
	if (!wd->nonascii) {
		if (n < 2 || n > WORD_MAX)
			return 0;
		if (!(wd->flags & C_ALPHA)) {
			r->term = r->surf = n > NUM_RUN ? num : (const char *)wd->w;
			r->tlen = r->slen = n > NUM_RUN ? 4 : n;
			return 1;
		}
	} else if (n > RAW_MAX) {
		return 0;
	}
	if (!wd->hashed)
		wd->hash = word_hash(wd->w, n);
	size_t i = wd->hash & (CACHE_SLOTS - 1);
	for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
		const struct centry *e = &t->tab[i];
		if (!e->klen)
			return word_miss(t, wd, i, r);
		if (e->hash != wd->hash || e->klen != n)
			continue;
		const char *k = e->flags & E_INLINE ? e->u.data : t->arena + e->u.off;
		if (!same_key(k, wd->w, n))
			continue;
		if (e->flags & E_DROP)
			return 0;
		r->term = k + n;
		r->tlen = e->tlen;
		r->surf = e->flags & E_SKEY ? k : k + n + e->tlen;
		r->slen = e->slen;
		return 1;
	}
}

/* ---- runs of text ---------------------------------------------------------- */

/* Emits a kept word and, when there was a word before it in this run, the
 * bigram of both. t->term and t->big start with the run's "p:". */
HOT void chain_add(struct tokenizer *t, struct chain *c, const char *term, size_t tl,
			     const char *surf, size_t sl)
{
	copy16(t->term + 2, term, tl);
	c->emit(c->ctx, t->term, tl + 2, surf, sl);
	if (c->mirror) {
		char p0 = t->term[0];
		t->term[0] = 'b';
		c->emit(c->ctx, t->term, tl + 2, surf, sl);
		t->term[0] = p0;
	}
	if (!c->bigrams)
		return;
	if (c->plen) {
		copy16(t->big + c->plen, term, tl);
		copy16(t->sbig + c->pslen, surf, sl);
		c->emit(c->ctx, t->big, c->plen + tl, t->sbig, c->pslen + sl);
		if (c->mirror) {
			char p0 = t->big[0];
			t->big[0] = 'b';
			c->emit(c->ctx, t->big, c->plen + tl, t->sbig, c->pslen + sl);
			t->big[0] = p0;
		}
	}
	copy16(t->big + 2, term, tl);
	t->big[2 + tl] = ' ';
	c->plen = 3 + tl;
	copy16(t->sbig, surf, sl);
	t->sbig[sl] = ' ';
	c->pslen = sl + 1;
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

#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR 1
#define ONES 0x0101010101010101ULL
#define HIGH 0x8080808080808080ULL

/* 0x80 in each byte of x (all bytes < 0x80) that lies in [lo, hi]: adding
 * never carries across bytes, so bit 7 tells the comparison. */
static inline uint64_t in_range(uint64_t x, unsigned lo, unsigned hi)
{
	return (x + ONES * (0x80 - lo)) & ~(x + ONES * (0x7f - hi)) & HIGH;
}
#endif

/* Skips to the next word character (ASCII letter or digit, or a Unicode
 * letter, mark or number) before stop. */
HOT const unsigned char *skip_to_word(struct tokenizer *t, const unsigned char *p,
					const unsigned char *stop)
{
	while (p < stop) {
#ifdef SWAR
		if (stop - p >= 8) {
			uint64_t x = load8(p);
			uint64_t hi = x & HIGH, y = x & ~HIGH;
			uint64_t m = ((in_range(y | ONES * 0x20, 'a', 'z') | in_range(y, '0', '9')) & ~hi) |
				     hi;
			if (!m) {
				p += 8;
				continue;
			}
			p += __builtin_ctzll(m) / 8;
		}
#endif
		if (*p < 0x80) {
			if (t->cls[*p] & C_WORD)
				return p;
			p++;
			continue;
		}
		utf8proc_int32_t cp;
		utf8proc_ssize_t m = utf8proc_iterate(p, stop - p, &cp);
		if (m < 0) {
			p++;  /* invalid UTF-8: a separator, never part of a term */
			continue;
		}
		if (word_cp(cp))
			return p;
		p += m;
	}
	return p;
}

/* Reads one word starting at p (a word character) into wd, ASCII lower-
 * cased. Returns the end of the word. A word longer than RAW_MAX is read to
 * its end but only its first RAW_MAX bytes are kept (it is then dropped). */
HOT const unsigned char *collect(struct tokenizer *t, const unsigned char *p,
					   const unsigned char *end, struct word *wd)
{
	size_t k = 0;
	unsigned fl = 0;
	int na = 0;
	/* The hash of an ASCII word read in aligned chunks, from registers: read
	 * back from the buffer, the bytes just stored would stall the load. */
	uint64_t h = HASH_SEED;
	int reg = 1;
#ifdef SWAR
	uint64_t alphas = 0, digits = 0;
#endif
	while (p < end) {
#ifdef SWAR
		if (end - p >= 8 && k <= RAW_MAX) {
			uint64_t x = load8(p);
			uint64_t hi = x & HIGH, y = x & ~HIGH;
			uint64_t alpha = in_range(y | ONES * 0x20, 'a', 'z') & ~hi;
			uint64_t digit = in_range(y, '0', '9') & ~hi;
			uint64_t stop = ~(alpha | digit) & HIGH;
			unsigned run = stop ? (unsigned)__builtin_ctzll(stop) / 8 : 8;
			uint64_t keep = run == 8 ? ~0ULL : low_bytes(run);
			uint64_t low = x | (alpha >> 2);  /* 'A'..'Z' | 0x20 */
			memcpy(wd->w + k, &low, 8);
			if (k % 8)
				reg = 0;
			else if (run)
				h = hash_mix(h, low & keep);
			alphas |= alpha & keep;
			digits |= digit & keep;
			k += run;
			p += run;
			if (run == 8)
				continue;
			if (*p < 0x80)
				break;
		}
#endif
		reg = 0;
		unsigned ch = *p;
		unsigned cl = t->cls[ch];
		if (cl & C_WORD) {
			if (k < RAW_MAX)
				wd->w[k] = t->lower[ch];
			k++;
			fl |= cl & (C_ALPHA | C_DIGIT);
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
			memcpy(wd->w + k, p, (size_t)m);
		k += (size_t)m;
		na = 1;
		p += m;
	}
#ifdef SWAR
	fl |= (alphas ? C_ALPHA : 0) | (digits ? C_DIGIT : 0);
#endif
	wd->n = k;
	wd->flags = fl;
	wd->nonascii = na;
	wd->hashed = reg;
	if (reg)
		wd->hash = hash_end(h, k);
	return p;
}

static int ascii_prefix(const unsigned char *p, const unsigned char *end, const char *lit)
{
	for (; *lit; lit++, p++)
		if (p == end || (*p >= 'A' && *p <= 'Z' ? *p | 0x20 : *p) != (unsigned char)*lit)
			return 0;
	return 1;
}

/* Could personal data start at the word [p, q) (or at the '+' before it)?
 * Returns where to ask the redactor from, or NULL. A superset of where
 * redact_next can match, found from bytes the scan has at hand; the caller
 * asks only when the C_TRIG or C_LOCAL class says it might. */
static const unsigned char *candidate(const struct tokenizer *t, const unsigned char *base,
				      const unsigned char *p, const unsigned char *q,
				      const unsigned char *end)
{
	unsigned c = p[0];
	if (c >= '0' && c <= '9') {
		if (p > base && p[-1] == '+')
			return p - 1;
		if (c == '0' && q - p >= 2 && p[1] >= '0' && p[1] <= '9')
			return p;
	} else if (c >= 'A' && c <= 'Z') {
		if (q - p >= 4 && p[1] >= 'A' && p[1] <= 'Z' && p[2] >= '0' && p[2] <= '9' &&
		    p[3] >= '0' && p[3] <= '9')
			return p;
	}
	if ((c | 0x20) == 'h' &&
	    (ascii_prefix(p, end, "http://") || ascii_prefix(p, end, "https://")))
		return p;
	if ((c | 0x20) == 'w' && ascii_prefix(p, end, "www."))
		return p;
	/* the word runs, through an address's characters, into an '@' */
	if (q < end && t->cls[*q] & C_LOCAL) {
		const unsigned char *r = q;
		while (r < end && r - p < 64 && *r != '@' && t->cls[*r] & (C_WORD | C_LOCAL))
			r++;
		if (r < end && *r == '@')
			return p;
	}
	return NULL;
}

/*
 * Emits the words of text[0..len) with the prefix, personal data replaced by
 * placeholders. The redactor is asked only where candidate() says a match
 * could start, over the rest of that line (nothing it looks for spans lines),
 * and what it reports clean is not asked again: the scan stays linear and
 * prose costs nothing.
 *
 * The scan reads up to RUN_AHEAD words (and pieces of personal data) ahead
 * of their handling, prefetching each word's cache slot as it is read: the
 * slots are in a table far larger than the CPU's private caches, and so
 * their misses overlap instead of coming one word at a time. What is
 * emitted, and in what order, is the same as handling each word as read.
 */
static int run_text(struct tokenizer *t, char prefix, const char *text, size_t len,
		    int bigrams, int mirror, tok_emit_fn emit, void *ctx)
{
	static const char placeholder[][SLACK] = {
		[REDACT_EMAIL] = "#email", [REDACT_PHONE] = "#tel",
		[REDACT_IBAN] = "#iban", [REDACT_URL] = "#url",
	};
	struct chain c = { emit, ctx, bigrams, mirror, 0, 0 };
	const unsigned char *s = (const unsigned char *)text, *end = s + len, *p = s;
	/* No personal data starts in [p, clean): the redactor said so. */
	const unsigned char *clean = s;
	/* The next piece of personal data found: [stop, s + me). */
	const unsigned char *stop = end;
	enum redact_kind kind = REDACT_EMAIL;
	size_t ms, me = 0, hs = 0, he = 0;
	t->term[0] = t->big[0] = prefix;
	t->term[1] = t->big[1] = ':';
	for (;;) {
		/* Read ahead: words into t->ahead[], personal data as events. */
		size_t na = 0;
		int done = 0;
		while (na < RUN_AHEAD) {
			struct ahead *a = &t->ahead[na];
			p = skip_to_word(t, p, stop);
			if (p >= stop) {
				if (stop == end) {
					done = 1;
					break;
				}
				a->data = 1;
				a->kind = kind;
				a->hs = hs;
				a->he = he;
				na++;
				p = s + me;
				stop = end;
				continue;
			}
			struct word *wd = &a->wd;
			const unsigned char *q = collect(t, p, stop, wd);
			const unsigned char *cand;
			if (p >= clean && (t->cls[*p] & C_TRIG || (q < stop && t->cls[*q] & C_LOCAL)) &&
			    (cand = candidate(t, s, p, q, stop))) {
				const unsigned char *eol = memchr(cand, '\n', (size_t)(end - cand));
				if (!eol)
					eol = end;
				if (redact_next(t->red, text, (size_t)(eol - s), (size_t)(cand - s), &kind,
						&ms, &me, &hs, &he)) {
					stop = s + ms;
					clean = stop;
					if (stop <= p)
						continue;
					if (q > stop)
						q = collect(t, p, stop, wd);
				} else {
					clean = eol;
				}
			}
			p = q;
			if (wd->hashed)
				__builtin_prefetch(&t->tab[wd->hash & (CACHE_SLOTS - 1)]);
			a->data = 0;
			na++;
		}
		/* Then each in order. */
		for (size_t k = 0; k < na; k++) {
			struct ahead *a = &t->ahead[k];
			if (a->data) {
				const char *ph = placeholder[a->kind];
				chain_add(t, &c, ph, strlen(ph), ph, strlen(ph));
				size_t h0 = a->hs, h1 = a->he;
				if (a->kind == REDACT_URL) {
					if (h1 - h0 > 4 && t->lower[s[h0]] == 'w' &&
					    t->lower[s[h0 + 1]] == 'w' && t->lower[s[h0 + 2]] == 'w' &&
					    s[h0 + 3] == '.')
						h0 += 4;
					emit_feature(t, emit, ctx, 'u', text + h0, h1 - h0);
				}
				continue;
			}
			struct wres r;
			int rc = word_term(t, &a->wd, &r);
			if (rc < 0)
				return -1;
			if (rc)
				chain_add(t, &c, r.term, r.tlen, r.surf, r.slen);
		}
		if (done)
			return 0;
	}
}

int tok_text(struct tokenizer *t, char prefix, const char *text, size_t len,
	     tok_emit_fn emit, void *ctx)
{
	return run_text(t, prefix, text, len, t->o.bigrams, 0, emit, ctx);
}

size_t tok_word(struct tokenizer *t, const char *word, size_t len, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)word, *end = p + len;
	struct word *wd = &t->word;
	if (!len || collect(t, p, end, wd) != end || !wd->n)
		return 0;
	struct wres r;
	if (word_term(t, wd, &r) <= 0 || r.tlen >= outsz)
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
		if (run_text(t, 's', subj + subj_off, subj_len - subj_off, t->o.bigrams, 1, emit,
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
			if (run_text(t, 'a', name, stem_len, 0, 0, emit, ctx) < 0)
				return -1;
		}
	}

	const char *text = m->text ? m->text : "";
	size_t len = m->text ? m->text_len : 0;
	if (!t->zoner)
		return run_text(t, 'b', text, len, t->o.bigrams, 0, emit, ctx);
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
		if (run_text(t, zone_prefix(z), text + sp->off, sp->len, t->o.bigrams,
			     t->o.share_quotes && z == ZONE_QUOTE, emit,
			     ctx) < 0)
			return -1;
	}
	return 0;
}
