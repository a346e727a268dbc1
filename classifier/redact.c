#include "classifier/redact.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classifier/pattern.h"
#include "common/buf.h"
#include "common/util.h"

/*
 * The scan is a byte loop over a trigger table; a PCRE2 pattern runs, anchored,
 * only where a trigger says a match could start ('@', '+', "0d", two capitals
 * and two digits, "http", "www."). Mail is mostly prose, so the regexes run on
 * a tiny fraction of the positions and the cost stays one table lookup per byte.
 *
 * The patterns work on bytes, not in PCRE2's UTF mode: the text may come from
 * anywhere (tok_text's callers promise nothing), matching never needs a UTF
 * check of the whole subject, and the only non-ASCII bytes that matter (letters
 * of an address, the no-break spaces between phone digit groups) are spelled
 * out as bytes.
 */

/* RFC 5321: 64 bytes of local part. Bounds the scans around an '@'. */
#define LOCAL_MAX 64

enum {
	T_AT = 1,     /* '@' */
	T_PLUS = 2,   /* '+' */
	T_ZERO = 4,   /* '0' */
	T_UPPER = 8,  /* 'A'..'Z' */
	T_URL = 16,   /* 'h', 'H', 'w', 'W' */
};

struct redactor {
	pcre2_match_data *md;  /* its own; the patterns are the process's (shared) */
	unsigned char trig[256];
	unsigned char alnum[256];  /* ASCII letters and digits */
	unsigned char local[256];  /* bytes of an address' local part */
};

/* Lazy quantifiers are avoided: every pattern is anchored and bounded. A local
 * part holds at least one ASCII letter or digit ("%@x.fr" is not an address:
 * the tokenizer looks for addresses from their words, see tokenize.c). */
static const char pat_email[] =
	"(?=[._%+\\x80-\\xff-]{0,63}[A-Za-z0-9])[A-Za-z0-9._%+\\x80-\\xff-]{1,64}@"
	"(?:[A-Za-z0-9\\x80-\\xff](?:[A-Za-z0-9\\x80-\\xff-]{0,61}[A-Za-z0-9\\x80-\\xff])?\\.){1,8}"
	"[A-Za-z]{2,24}(?![A-Za-z0-9-])";

/* A separator between digit groups: space, dot, hyphen, U+00A0, U+202F. A
 * French number uses the same one throughout (group 1 or 2 is reused), which
 * keeps dates such as "03.03.2025 10:30" out. */
#define SEP "(?:[ .\\-]|\\xc2\\xa0|\\xe2\\x80\\xaf)"
static const char pat_phone[] =
	"(?:"
	/* French numbers written internationally: +33 6 .., +33 (0)1 .., 0033 .. */
	"(?:\\+|00)33" SEP "?(?:\\(0\\)" SEP "?)?[1-9](" SEP "?)[0-9]{2}(?:\\1[0-9]{2}){3}"
	"|"
	/* French national: 06 12 34 56 78, 06.12.34.56.78, 0612345678 */
	"0[1-9](" SEP "?)[0-9]{2}(?:\\2[0-9]{2}){3}"
	"|"
	/* any other international number; its digits are counted afterwards */
	"(?:\\+|00)[1-9][0-9]{0,3}(?:" SEP "{0,2}(?:\\([0-9]{1,4}\\)|[0-9]{1,4})){1,7}"
	")(?![0-9A-Za-z@])";

/* Country code, check digits, then 11 to 30 alphanumerics in groups of four. */
#define ISP "(?: |\\xc2\\xa0)"
static const char pat_iban[] =
	"[A-Z]{2}[0-9]{2}(?:" ISP "?[A-Z0-9]{4}){2,7}(?:" ISP "?[A-Z0-9]{1,3})?(?![A-Za-z0-9])";

/* A URL ends before white space, quotes and angle brackets; trailing
 * punctuation belongs to the sentence, not to the URL. */
static const char pat_url[] =
	"(?i)(?:https?://|www\\.)[^\\s<>\"'`{}|\\\\^\\[\\]]*[^\\s<>\"'`{}|\\\\^\\[\\].,;:!?)(]";

/* The patterns, compiled once for the process and shared by every redactor
 * (each has its own match data), as zones.c does. */
static struct {
	pthread_once_t once;
	pcre2_code *email, *phone, *iban, *url;
	int ok;         /* all compiled; else err says which failed */
	char err[256];
} shared = { .once = PTHREAD_ONCE_INIT };

static void shared_compile(void)
{
	const struct pattern_def defs[] = {
		{ "email", pat_email, &shared.email },
		{ "phone", pat_phone, &shared.phone },
		{ "IBAN", pat_iban, &shared.iban },
		{ "URL", pat_url, &shared.url },
	};
	shared.ok = pattern_compile_all("redact", defs, sizeof defs / sizeof *defs, 0, shared.err,
					sizeof shared.err) == 0;
}

int redact_prepare(char *err, size_t errsz)
{
	pthread_once(&shared.once, shared_compile);
	if (!shared.ok)
		return errf(err, errsz, "%s", shared.err);
	return 0;
}

struct redactor *redact_new(char *err, size_t errsz)
{
	if (redact_prepare(err, errsz) < 0)
		return NULL;
	struct redactor *r = calloc(1, sizeof *r);
	if (!r) {
		errf(err, errsz, "redact: out of memory");
		return NULL;
	}
	r->md = pcre2_match_data_create(4, NULL);
	if (!r->md) {
		errf(err, errsz, "redact: out of memory");
		goto fail;
	}
	for (unsigned c = 0; c < 256; c++) {
		int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		int digit = c >= '0' && c <= '9';
		r->alnum[c] = letter || digit;
		r->local[c] = letter || digit || c >= 0x80 || c == '.' || c == '_' || c == '%' ||
			      c == '+' || c == '-';
		r->trig[c] = c == '@' ? T_AT : c == '+' ? T_PLUS : c == '0' ? T_ZERO :
			     (c >= 'A' && c <= 'Z') ? T_UPPER : 0;
		if (c == 'h' || c == 'H' || c == 'w' || c == 'W')
			r->trig[c] |= T_URL;
	}
	return r;
fail:
	redact_free(r);
	return NULL;
}

void redact_free(struct redactor *r)
{
	if (!r)
		return;
	pcre2_match_data_free(r->md);
	free(r);
}

/* Anchored match of re at start; returns the end offset, or 0 for no match. */
static size_t match_at(struct redactor *r, pcre2_code *re, const unsigned char *s, size_t len,
		       size_t start)
{
	int rc = pcre2_match(re, s, len, start, 0, r->md, NULL);
	if (rc <= 0)
		return 0;
	return pcre2_get_ovector_pointer(r->md)[1];
}

/* An address around the '@' at `at`, starting no earlier than lo. */
static int email_at(struct redactor *r, const unsigned char *s, size_t len, size_t lo,
		    size_t at, size_t *ms, size_t *me)
{
	size_t b = at;
	while (b > lo && at - b < LOCAL_MAX && r->local[s[b - 1]])
		b--;
	/* A local part has no two dots in a row ("voir...contact@"): it starts
	 * after the last pair; and a sentence's dots or dashes before an address
	 * are not part of it. */
	for (size_t j = b; j + 1 < at; j++)
		if (s[j] == '.' && s[j + 1] == '.')
			b = j + 2;
	while (b < at && (s[b] == '.' || s[b] == '-' || s[b] == '+'))
		b++;
	if (b == at)
		return 0;
	size_t e = match_at(r, shared.email, s, len, b);
	if (!e)
		return 0;
	*ms = b;
	*me = e;
	return 1;
}

/* A match found at [ms, me) may be the start of an address's local part
 * ("0612345678@sms.example", "www.x@example.fr"): then the address wins. */
static void prefer_email(struct redactor *r, const unsigned char *s, size_t len, size_t lo,
			 enum redact_kind *k, size_t *ms, size_t *me)
{
	size_t j = *ms;
	while (j < len && j - *ms < LOCAL_MAX && r->local[s[j]])
		j++;
	if (j < len && s[j] == '@' && email_at(r, s, len, lo, j, ms, me))
		*k = REDACT_EMAIL;
}

static int ieq_prefix(const unsigned char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n < l)
		return 0;
	for (size_t i = 0; i < l; i++) {
		unsigned c = s[i];
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (unsigned char)lit[i])
			return 0;
	}
	return 1;
}

static void url_host(const unsigned char *s, size_t ms, size_t me, size_t *hs, size_t *he)
{
	size_t h = ms;
	for (size_t i = ms; i + 2 < me && i < ms + 8; i++)
		if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
			h = i + 3;
			break;
		}
	size_t e = h;
	while (e < me && s[e] != '/' && s[e] != '?' && s[e] != '#')
		e++;
	/* user:password@host */
	for (size_t i = e; i > h; i--)
		if (s[i - 1] == '@') {
			h = i;
			break;
		}
	for (size_t i = h; i < e; i++)
		if (s[i] == ':') {
			e = i;
			break;
		}
	while (e > h && s[e - 1] == '.')
		e--;
	*hs = h;
	*he = e;
}

static size_t count_digits(const unsigned char *s, size_t a, size_t b)
{
	size_t n = 0;
	for (size_t i = a; i < b; i++)
		n += s[i] >= '0' && s[i] <= '9';
	return n;
}

int redact_next(struct redactor *r, const char *text, size_t len, size_t from,
		enum redact_kind *kind, size_t *start, size_t *end,
		size_t *host_start, size_t *host_end)
{
	const unsigned char *s = (const unsigned char *)text;
	for (size_t i = from; i < len; i++) {
		unsigned t = r->trig[s[i]];
		if (!t)
			continue;
		size_t ms = i, me = 0;
		enum redact_kind k;
		if (t & T_AT) {
			if (email_at(r, s, len, from, i, &ms, &me)) {
				k = REDACT_EMAIL;
				goto found;
			}
			continue;
		}
		/* Everything else starts a word (and '+' is not a digit's suffix).
		 * Only ASCII counts here: "«0612345678»" or a no-break space
		 * before a number must not hide it. */
		if (i > 0 && r->alnum[s[i - 1]])
			continue;
		if (i > 0 && t & (T_PLUS | T_ZERO) && s[i - 1] == '+')
			continue;
		if (t & (T_PLUS | T_ZERO) && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9') {
			me = match_at(r, shared.phone, s, len, i);
			if (me) {
				/* "+CC ..." and "00CC ...": 8 to 15 digits (E.164). */
				int intl = s[i] == '+' || s[i + 1] == '0';
				size_t d = count_digits(s, i, me) - (s[i] == '0' && intl ? 2 : 0);
				if (!intl || (d >= 8 && d <= 15)) {
					k = REDACT_PHONE;
					goto found;
				}
			}
		} else if (t & T_UPPER && i + 3 < len && s[i + 1] >= 'A' && s[i + 1] <= 'Z' &&
			   s[i + 2] >= '0' && s[i + 2] <= '9' && s[i + 3] >= '0' &&
			   s[i + 3] <= '9') {
			me = match_at(r, shared.iban, s, len, i);
			if (me) {
				size_t bban = 0;
				for (size_t j = i + 4; j < me; j++)
					bban += r->alnum[s[j]];
				if (bban >= 11 && bban <= 30) {
					k = REDACT_IBAN;
					goto found;
				}
			}
		}
		if (t & T_URL && (ieq_prefix(s + i, len - i, "http://") ||
				  ieq_prefix(s + i, len - i, "https://") ||
				  ieq_prefix(s + i, len - i, "www."))) {
			me = match_at(r, shared.url, s, len, i);
			if (me) {
				k = REDACT_URL;
				goto found;
			}
		}
		continue;
found:
		if (k != REDACT_EMAIL)
			prefer_email(r, s, len, from, &k, &ms, &me);
		*kind = k;
		*start = ms;
		*end = me;
		if (k == REDACT_URL) {
			size_t hs, he;
			url_host(s, ms, me, &hs, &he);
			if (host_start)
				*host_start = hs;
			if (host_end)
				*host_end = he;
		} else {
			if (host_start)
				*host_start = ms;
			if (host_end)
				*host_end = ms;
		}
		return 1;
	}
	return 0;
}

/* Copies the URL [a, b) keeping everything but the addresses inside it. */
static int copy_url(struct redactor *r, struct buf *out, const unsigned char *s, size_t a,
		    size_t b)
{
	size_t cur = a;
	for (size_t i = a; i < b; i++) {
		size_t ms, me;
		if (s[i] != '@' || !email_at(r, s, b, cur, i, &ms, &me))
			continue;
		if (buf_append(out, s + cur, ms - cur) < 0 || buf_appends(out, "[adresse]") < 0)
			return -1;
		cur = me;
		i = me - 1;
	}
	return buf_append(out, s + cur, b - cur);
}

char *redact_text(struct redactor *r, const char *text, size_t len, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)text;
	struct buf out;
	/* The longest replacement ("[téléphone]", 12 bytes) replaces at least 8
	 * bytes, so the copy is always smaller than twice the text. */
	buf_init(&out, len < SIZE_MAX / 2 - 64 ? 2 * len + 64 : SIZE_MAX - 1);
	size_t pos = 0;
	enum redact_kind k;
	size_t ms, me;
	while (redact_next(r, text, len, pos, &k, &ms, &me, NULL, NULL)) {
		if (buf_append(&out, s + pos, ms - pos) < 0)
			goto fail;
		int rc = 0;
		switch (k) {
		case REDACT_EMAIL:
			rc = buf_appends(&out, "[adresse]");
			break;
		case REDACT_PHONE:
			rc = buf_appends(&out, "[téléphone]");
			break;
		case REDACT_IBAN:
			rc = buf_appends(&out, "[IBAN]");
			break;
		case REDACT_URL:
			rc = copy_url(r, &out, s, ms, me);
			break;
		}
		if (rc < 0)
			goto fail;
		pos = me;
	}
	if (buf_append(&out, s + pos, len - pos) < 0)
		goto fail;
	char *p = buf_detach(&out, outlen);
	if (!p)
		errno = ENOMEM;
	return p;
fail:
	buf_release(&out);
	errno = ENOMEM;
	return NULL;
}
