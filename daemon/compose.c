/*
 * compose: the forwards, redirects and subject tags triage writes.
 *
 * The original is never parsed as MIME here: it is copied, only its line ends
 * made CRLF (what SMTP, IMAP APPEND and DKIM's canonical form all expect), so
 * that what a volunteer receives is what the sender sent. The one header
 * that is read is the Subject, for the tag. The tag is put before it as it
 * was written, RFC 2047 words and folding included; the subject is decoded
 * (libetpan's mailmime_encoded_phrase_parse) to see whether the tag is
 * already there, and written again as a whole only when it holds raw 8-bit
 * bytes, which a header may not.
 * Everything this file writes itself (note, headers) is UTF-8 with controls
 * removed, so that no input can add a header line.
 */
#include "daemon/compose.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <libetpan/mailimf.h>
#include <libetpan/mailmime_decode.h>

#include "common/buf.h"
#include "common/util.h"

#define COMPOSE_MAX_MESSAGE (64u << 20)  /* the original, bytes */
#define COMPOSE_MAX_HEADER (1u << 20)    /* the original's header, when tagging */
#define COMPOSE_MAX_SUBJECT (16u << 10)  /* the original's Subject field, folded */
#define COMPOSE_MAX_TAG 256
#define COMPOSE_MAX_VALUE 1000           /* a text of ours: subject, category, reason */
#define COMPOSE_MAX_REASONS 20
#define COMPOSE_MAX_ADDRESS 254
#define COMPOSE_OVERHEAD (256u << 10)    /* headers and note around the original */
#define FOLD_AT 78                       /* RFC 5322 2.1.1 */
#define EW_MAX 75                        /* RFC 2047 2: longest encoded word */
#define EW_PREFIX "=?UTF-8?Q?"
#define EW_FIXED 12                      /* "=?UTF-8?Q?" + "?=" */
#define MAX_LINE 998                     /* RFC 5322 2.1.1: beyond it, "binary" */

/* Where the parts of the original's header are (offsets into it). */
struct hdr {
	size_t end;              /* the header ends here: empty line, body or EOF */
	int has_subject;
	size_t subj_start;       /* the first Subject field: its name */
	size_t subj_value;       /* just after its colon */
	size_t subj_value_end;   /* the end of its value, before the last line break */
	size_t subj_end;         /* after its last line break */
};

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Finds the end of the header and the Subject field. The header is the run
 * of field lines ("name:", continuation lines starting with a blank) at the
 * start; it ends at an empty line, at the first line that is not a field (a
 * body without the empty line) or at the end. No field at all is an error;
 * so is a header over max bytes.
 */
static int scan_header(const char *m, size_t len, size_t max, struct hdr *h, char *err,
		       size_t errsz)
{
	memset(h, 0, sizeof *h);
	size_t off = 0, nfields = 0;
	int in_subject = 0;
	while (off < len) {
		if (off > max)
			return errf(err, errsz, "header larger than %zu bytes", max);
		const char *nl = memchr(m + off, '\n', len - off);
		size_t eol = nl ? (size_t)(nl - m) + 1 : len;
		size_t cend = nl ? (size_t)(nl - m) : len;
		if (cend > off && m[cend - 1] == '\r')
			cend--;
		const char *line = m + off;
		size_t n = cend - off;
		if (n == 0)
			break;
		if (is_wsp(line[0])) {
			if (!nfields)
				return errf(err, errsz, "not a message: it starts with a continuation line");
			if (in_subject) {
				h->subj_value_end = cend;
				h->subj_end = eol;
			}
			off = eol;
			continue;
		}
		size_t k = 0;
		while (k < n && line[k] > ' ' && line[k] < 0x7f && line[k] != ':')
			k++;
		size_t c = k;
		while (c < n && is_wsp(line[c]))
			c++;
		if (k == 0 || c >= n || line[c] != ':') {
			if (!nfields)
				return errf(err, errsz, "not a message: no header field at the start");
			break;
		}
		nfields++;
		in_subject = 0;
		if (!h->has_subject && k == 7 && strncasecmp(line, "subject", 7) == 0) {
			h->has_subject = 1;
			in_subject = 1;
			h->subj_start = off;
			h->subj_value = off + c + 1;
			h->subj_value_end = cend;
			h->subj_end = eol;
		}
		off = eol;
	}
	if (!nfields)
		return errf(err, errsz, "not a message: no header");
	h->end = off;
	return 0;
}

/* Appends base[from, to) with every bare LF made CRLF. A CR before the range
 * counts: the range may start between the CR and the LF of a line end. */
static int put_crlf(struct buf *b, const char *base, size_t from, size_t to)
{
	size_t i = from;
	while (i < to) {
		const char *nl = memchr(base + i, '\n', to - i);
		size_t j = nl ? (size_t)(nl - base) : to;
		if (buf_append(b, base + i, j - i) < 0)
			return -1;
		if (!nl)
			break;
		if (j > 0 && base[j - 1] == '\r') {
			if (buf_appendc(b, '\n') < 0)
				return -1;
		} else if (buf_append(b, "\r\n", 2) < 0) {
			return -1;
		}
		i = j + 1;
	}
	return 0;
}

/* Length of the valid UTF-8 character at s (n bytes left), 0 if invalid. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	size_t k = s[0] < 0x80 ? 1 : s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 :
		   s[0] < 0xf5 ? 4 : 0;
	return k && k <= n && utf8_valid((const char *)s, k) ? k : 0;
}

/*
 * Appends s as one line of text of ours: invalid UTF-8 becomes U+FFFD and
 * controls (CR and LF among them) a space, cut at a character boundary after
 * max bytes of s.
 */
static int put_clean(struct buf *b, const char *s, size_t n, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_char(u + i, n - i);
		if (i + (k ? k : 1) > max)
			break;
		int r;
		if (k == 0)
			r = buf_appends(b, "\xef\xbf\xbd");
		else if (k == 1 && (u[i] < 0x20 || u[i] == 0x7f))
			r = buf_appendc(b, ' ');
		else
			r = buf_append(b, s + i, k);
		if (r < 0)
			return -1;
		i += k ? k : 1;
	}
	return 0;
}

static int has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* Q encoding of one byte in an encoded word of a header's text (RFC 2047
 * 4.2, 5(3): only letters, digits and !*+-/ stand for themselves). */
static size_t q_byte(unsigned char c, char out[3])
{
	static const char hex[] = "0123456789ABCDEF";
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c && strchr("!*+-/", c))) {
		out[0] = (char)c;
		return 1;
	}
	if (c == ' ') {
		out[0] = '_';
		return 1;
	}
	out[0] = '=';
	out[1] = hex[c >> 4];
	out[2] = hex[c & 15];
	return 3;
}

/*
 * Appends s (valid UTF-8 without controls) as UTF-8 Q encoded words, each
 * preceded by a space, or by a fold when it would pass column 78; no word is
 * longer than 75 characters or splits a character. *col is the column.
 */
static int put_encoded(struct buf *b, size_t *col, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		/* Room for at least the widest character (4 bytes, 12 encoded). */
		if (*col + 1 + EW_FIXED + 12 > FOLD_AT) {
			if (buf_append(b, "\r\n", 2) < 0)
				return -1;
			*col = 0;
		}
		if (buf_appendc(b, ' ') < 0 || buf_appends(b, EW_PREFIX) < 0)
			return -1;
		*col += 1;
		size_t max = FOLD_AT - *col < EW_MAX ? FOLD_AT - *col : EW_MAX;
		size_t w = EW_FIXED;
		while (i < n) {
			size_t k = utf8_char(u + i, n - i);
			if (!k)
				k = 1;
			char enc[12];
			size_t e = 0;
			for (size_t j = 0; j < k; j++)
				e += q_byte(u[i + j], enc + e);
			if (w + e > max)
				break;
			if (buf_append(b, enc, e) < 0)
				return -1;
			w += e;
			i += k;
		}
		if (buf_append(b, "?=", 2) < 0)
			return -1;
		*col += w;
	}
	return 0;
}

/* Appends printable ASCII words (split at spaces), each preceded by a space
 * or, past column 78, by a fold. */
static int put_words(struct buf *b, size_t *col, const char *s, size_t n)
{
	size_t i = 0;
	for (;;) {
		const char *sp = memchr(s + i, ' ', n - i);
		size_t j = sp ? (size_t)(sp - s) : n;
		if (*col + 1 + (j - i) > FOLD_AT && *col > 1) {
			if (buf_append(b, "\r\n", 2) < 0)
				return -1;
			*col = 0;
		}
		if (buf_appendc(b, ' ') < 0 || buf_append(b, s + i, j - i) < 0)
			return -1;
		*col += 1 + (j - i);
		if (!sp)
			return 0;
		i = j + 1;
	}
}

/* Whether s (clean UTF-8) can be written as it is in an unstructured header:
 * ASCII, no word too long to fold, nothing a reader would take for an
 * encoded word. */
static int plain_ok(const char *s, size_t n)
{
	if (has_8bit(s, n))
		return 0;
	size_t word = 0;
	for (size_t i = 0; i < n; i++) {
		word = s[i] == ' ' ? 0 : word + 1;
		if (word > FOLD_AT - 8)
			return 0;
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?')
			return 0;
	}
	return 1;
}

/* Appends "Name: value" CRLF for an unstructured field; value is text of
 * ours (cleaned, bounded), written plain or encoded, folded. */
static int put_field(struct buf *b, const char *name, const char *value, size_t n)
{
	struct buf v;
	buf_init(&v, 4 * COMPOSE_MAX_VALUE);
	int r = -1;
	if (put_clean(&v, value, n, COMPOSE_MAX_VALUE) < 0)
		goto out;
	size_t col = strlen(name) + 1;
	const char *s = v.data ? v.data : "";
	if (buf_printf(b, "%s:", name) < 0)
		goto out;
	if (plain_ok(s, v.len) ? put_words(b, &col, s, v.len) : put_encoded(b, &col, s, v.len))
		goto out;
	r = buf_append(b, "\r\n", 2);
out:
	buf_release(&v);
	return r;
}

/* An address as it may stand in From, To or Resent-*: one '@', no blanks,
 * controls or characters that would end or change the field. */
static int address_ok(const char *a)
{
	if (!a || !*a || strlen(a) > COMPOSE_MAX_ADDRESS || !strchr(a, '@'))
		return 0;
	for (const unsigned char *s = (const unsigned char *)a; *s; s++)
		if (*s <= ' ' || *s == 0x7f || strchr("<>,;\"()[]\\", *s))
			return 0;
	return 1;
}

static int check_env(const struct fwd_env *env, char *err, size_t errsz)
{
	if (!address_ok(env->from))
		return errf(err, errsz, "invalid sender address");
	if (!env->nto)
		return errf(err, errsz, "no recipient");
	for (size_t i = 0; i < env->nto; i++)
		if (!address_ok(env->to[i]))
			return errf(err, errsz, "recipient %zu of %zu: invalid address", i + 1, env->nto);
	return 0;
}

/* "Name: a@b, c@d" folded between addresses. */
static int put_addresses(struct buf *b, const char *name, const char *const *a, size_t n)
{
	size_t col = strlen(name) + 1;
	if (buf_printf(b, "%s:", name) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		size_t w = strlen(a[i]) + (i + 1 < n);
		if (col + 1 + w > FOLD_AT && i > 0) {
			if (buf_append(b, "\r\n", 2) < 0)
				return -1;
			col = 0;
		}
		if (buf_printf(b, " %s%s", a[i], i + 1 < n ? "," : "") < 0)
			return -1;
		col += 1 + w;
	}
	return buf_append(b, "\r\n", 2);
}

/* RFC 5322 3.3 date, in English whatever the locale. */
static int put_date(struct buf *b, const char *name, time_t t)
{
	static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	if (!localtime_r(&t, &tm)) {
		errno = EINVAL;
		return -1;
	}
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	return buf_printf(b, "%s: %s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n", name,
			  wd[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
			  tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

/* 64 unpredictable bits for Message-IDs and boundaries; getrandom() cannot
 * fail on Linux once booted, the clock is only a fallback. */
static unsigned long long rand64(void)
{
	unsigned long long v;
	if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
		return v;
	struct { struct timespec a, b; pid_t pid; } seed;
	clock_gettime(CLOCK_REALTIME, &seed.a);
	clock_gettime(CLOCK_MONOTONIC, &seed.b);
	seed.pid = getpid();
	return hash64(&seed, sizeof seed);
}

static int domain_ok(const char *d)
{
	if (!d || !*d || strlen(d) > 253)
		return 0;
	for (; *d; d++)
		if (!((*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z') ||
		      (*d >= '0' && *d <= '9') || *d == '.' || *d == '-'))
			return 0;
	return 1;
}

static int put_message_id(struct buf *b, const char *name, const struct fwd_env *env)
{
	const char *d = env->domain;
	if (!domain_ok(d))
		d = strrchr(env->from, '@') + 1;
	if (!domain_ok(d))
		d = "localhost";
	char id[320];
	snprintf(id, sizeof id, "<triage.%lld.%016llx@%s>", (long long)env->now, rand64(), d);
	/* A msg-id cannot be folded inside: it goes on a line of its own. */
	return buf_printf(b, "%s:%s%s\r\n", name,
			  strlen(name) + 2 + strlen(id) > FOLD_AT ? "\r\n " : " ", id);
}

/* Quoted-printable (RFC 2045 6.7) of our note, lines ending at '\n'. A '.'
 * or "From " starting a line is encoded too, so that no relay or mbox file
 * can change the note. */
static int put_qp(struct buf *b, const char *s, size_t n)
{
	size_t col = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n') {
			if (buf_append(b, "\r\n", 2) < 0)
				return -1;
			col = 0;
			continue;
		}
		int eol = i + 1 == n || s[i + 1] == '\n';
		int literal = (c > ' ' && c < 0x7f && c != '=') || (is_wsp((char)c) && !eol);
		if (col + (literal ? 1 : 3) > 75) {
			if (buf_append(b, "=\r\n", 3) < 0)
				return -1;
			col = 0;
		}
		if (col == 0 && (c == '.' || (n - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
			literal = 0;
		if (literal ? buf_appendc(b, (char)c) : buf_printf(b, "=%02X", c))
			return -1;
		col += literal ? 1 : 3;
	}
	return 0;
}

#define NBSP "\xc2\xa0"

/* The note in French, as the volunteer reads it. */
static int note_text(struct buf *t, const struct fwd_env *env, const struct fwd_note *note)
{
	const char *cat = note->category ? note->category : "?";
	if (buf_printf(t, "Message re\xc3\xa7u sur %s et class\xc3\xa9 par triage dans \xc2\xab" NBSP,
		       env->from) < 0 ||
	    put_clean(t, cat, strlen(cat), COMPOSE_MAX_VALUE) < 0 ||
	    buf_appends(t, NBSP "\xc2\xbb") < 0)
		return -1;
	if (note->rule) {
		if (buf_appends(t, " (r\xc3\xa8gle \xc2\xab" NBSP) < 0 ||
		    put_clean(t, note->rule, strlen(note->rule), COMPOSE_MAX_VALUE) < 0 ||
		    buf_appends(t, NBSP "\xc2\xbb)") < 0)
			return -1;
	} else if (note->confidence >= 0) {
		double c = note->confidence > 1 ? 1 : note->confidence;
		if (buf_printf(t, " (confiance %d" NBSP "%%)", (int)(c * 100 + 0.5)) < 0)
			return -1;
	}
	if (buf_appends(t, ".\n") < 0)
		return -1;
	size_t nr = note->reasons ? note->nreasons : 0;
	if (nr > COMPOSE_MAX_REASONS)
		nr = COMPOSE_MAX_REASONS;
	if (nr) {
		if (buf_appends(t, "Raisons principales" NBSP ": ") < 0)
			return -1;
		for (size_t i = 0; i < nr; i++) {
			const char *r = note->reasons[i] ? note->reasons[i] : "";
			if ((i && buf_appends(t, ", ") < 0) ||
			    put_clean(t, r, strlen(r), COMPOSE_MAX_VALUE) < 0)
				return -1;
		}
		if (buf_appends(t, ".\n") < 0)
			return -1;
	}
	return buf_appends(t, "\nLe message d'origine est joint tel quel.\n");
}

/* How the original may be declared inside message/rfc822 (RFC 2046 5.2.1:
 * never encoded, so its bytes stay as they are). */
static const char *orig_encoding(const char *m, size_t len)
{
	int eight = 0;
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)m[i];
		if (c == 0)
			return "binary";
		if (c >= 0x80)
			eight = 1;
		if (c == '\n') {
			size_t l = i - start;
			if (l && m[i - 1] == '\r')
				l--;
			if (l > MAX_LINE)
				return "binary";
			start = i + 1;
		}
	}
	if (len - start > MAX_LINE)
		return "binary";
	return eight ? "8bit" : "7bit";
}

static char *finish(struct buf *b, size_t *len, char *err, size_t errsz)
{
	char *p = buf_detach(b, len);
	if (!p)
		errf(err, errsz, "out of memory");
	return p;
}

static void *fail_buf(struct buf *b, char *err, size_t errsz)
{
	errf(err, errsz, "%s", errno == E2BIG ? "message too large" : "out of memory");
	buf_release(b);
	return NULL;
}

static int check_size(size_t len, char *err, size_t errsz)
{
	if (len > COMPOSE_MAX_MESSAGE)
		return errf(err, errsz, "message too large (%zu bytes, limit %u)", len,
			    COMPOSE_MAX_MESSAGE);
	return 0;
}

char *compose_forward(const struct fwd_env *env, const struct fwd_note *note,
		      const char *orig, size_t orig_len, size_t *len, char *err, size_t errsz)
{
	struct hdr h;
	if (check_size(orig_len, err, errsz) < 0 || check_env(env, err, errsz) < 0 ||
	    scan_header(orig, orig_len, orig_len, &h, err, errsz) < 0)
		return NULL;
	/* A boundary with "=_" cannot come out of quoted-printable; the random
	 * part keeps it out of the original, which is checked all the same. */
	char boundary[64];
	int tries = 0;
	do {
		if (++tries > 8)
			return errf(err, errsz, "cannot find a MIME boundary"), NULL;
		snprintf(boundary, sizeof boundary, "=_triage_%016llx%016llx", rand64(), rand64());
	} while (memmem(orig, orig_len, boundary, strlen(boundary)));
	const char *cte = orig_encoding(orig, orig_len);

	struct buf b, t;
	buf_init(&b, 2 * (size_t)orig_len + COMPOSE_OVERHEAD);
	buf_init(&t, COMPOSE_OVERHEAD / 4);
	const char *subj = note->subject ? note->subject : "";
	if (buf_appends(&t, "TR: ") < 0 || put_clean(&t, subj, strlen(subj), COMPOSE_MAX_VALUE) < 0)
		goto fail;
	/* "TR:" alone for a message without a subject */
	while (t.len && t.data[t.len - 1] == ' ')
		t.data[--t.len] = '\0';
	const char *cat = note->category ? note->category : "";
	if (buf_printf(&b, "From: %s\r\n", env->from) < 0 ||
	    put_addresses(&b, "To", env->to, env->nto) < 0 ||
	    put_field(&b, "Subject", t.data, t.len) < 0 ||
	    put_date(&b, "Date", env->now) < 0 ||
	    put_message_id(&b, "Message-ID", env) < 0 ||
	    buf_appends(&b, "MIME-Version: 1.0\r\n"
			    "Auto-Submitted: auto-forwarded\r\n") < 0 ||
	    put_field(&b, "X-Triage-Forwarded", cat, strlen(cat)) < 0 ||
	    buf_printf(&b, "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n", boundary) < 0 ||
	    (strcmp(cte, "7bit") && buf_printf(&b, "Content-Transfer-Encoding: %s\r\n", cte) < 0) ||
	    buf_printf(&b, "\r\n--%s\r\n"
			   "Content-Type: text/plain; charset=utf-8\r\n"
			   "Content-Transfer-Encoding: quoted-printable\r\n"
			   "Content-Disposition: inline\r\n\r\n", boundary) < 0)
		goto fail;
	buf_reset(&t);
	if (note_text(&t, env, note) < 0 || put_qp(&b, t.data, t.len) < 0 ||
	    buf_printf(&b, "\r\n--%s\r\n"
			   "Content-Type: message/rfc822\r\n"
			   "Content-Disposition: attachment; filename=\"message-origine.eml\"\r\n"
			   "Content-Transfer-Encoding: %s\r\n\r\n", boundary, cte) < 0 ||
	    put_crlf(&b, orig, 0, orig_len) < 0 ||
	    buf_printf(&b, "\r\n--%s--\r\n", boundary) < 0)
		goto fail;
	buf_release(&t);
	return finish(&b, len, err, errsz);
fail:
	buf_release(&t);
	return fail_buf(&b, err, errsz);
}

char *compose_redirect(const struct fwd_env *env, const char *orig, size_t orig_len,
		       size_t *len, char *err, size_t errsz)
{
	struct hdr h;
	if (check_size(orig_len, err, errsz) < 0 || check_env(env, err, errsz) < 0 ||
	    scan_header(orig, orig_len, orig_len, &h, err, errsz) < 0)
		return NULL;
	struct buf b;
	buf_init(&b, 2 * (size_t)orig_len + COMPOSE_OVERHEAD);
	/* RFC 5322 3.6.6: one block of Resent-* fields, prepended. */
	if (buf_appends(&b, "X-Triage-Redirected: yes\r\n") < 0 ||
	    buf_printf(&b, "Resent-From: %s\r\n", env->from) < 0 ||
	    put_addresses(&b, "Resent-To", env->to, env->nto) < 0 ||
	    put_date(&b, "Resent-Date", env->now) < 0 ||
	    put_message_id(&b, "Resent-Message-ID", env) < 0 ||
	    put_crlf(&b, orig, 0, orig_len) < 0)
		return fail_buf(&b, err, errsz);
	return finish(&b, len, err, errsz);
}

/* The Subject's text as a reader shows it, UTF-8 (caller frees), or NULL
 * when libetpan cannot decode it. Raw 8-bit bytes are taken as UTF-8 when
 * they are valid UTF-8, else as windows-1252 (then Latin-1, which never
 * fails), which is what French mail without RFC 2047 is in practice. */
static char *decode_subject(const char *s, size_t n)
{
	static const char *const utf8[] = { "utf-8", NULL };
	static const char *const legacy[] = { "windows-1252", "iso-8859-1", NULL };
	for (const char *const *cs = utf8_valid(s, n) ? utf8 : legacy; *cs; cs++) {
		size_t idx = 0;
		char *out = NULL;
		if (mailmime_encoded_phrase_parse(*cs, s, n, &idx, "utf-8", &out) == MAILIMF_NO_ERROR)
			return out;
	}
	return NULL;
}

/* Whether s starts with an RFC 2047 encoded word, "=?charset?Q|B?text?="
 * followed by a blank or the end: text put before it must then end inside an
 * encoded word of its own, since the space between two encoded words is not
 * displayed. */
static int starts_encoded_word(const char *s, size_t n)
{
	size_t end = 0;
	while (end < n && !is_wsp(s[end]) && s[end] != '\r' && s[end] != '\n')
		end++;
	if (end < 8 || s[0] != '=' || s[1] != '?' || s[end - 2] != '?' || s[end - 1] != '=')
		return 0;
	const char *q = memchr(s + 2, '?', end - 2);   /* ends the charset */
	return q && q > s + 2 && q + 3 <= s + end - 2 && q[1] && strchr("QqBb", q[1]) &&
	       q[2] == '?';
}

/* Appends the new Subject value (after "Subject:") and the line end. */
static int put_tagged_subject(struct buf *b, const char *orig, const struct hdr *h,
			      const char *tag, size_t taglen, const char *decoded, char *err,
			      size_t errsz)
{
	const char *raw = orig + h->subj_value;
	size_t rn = h->subj_value_end - h->subj_value;
	size_t col = h->subj_value - h->subj_start;
	if (has_8bit(raw, rn)) {
		/* Raw 8-bit bytes are not allowed in a header: the whole subject is
		 * written again, decoded, as encoded words. */
		if (!decoded)
			return errf(err, errsz, "the Subject cannot be decoded");
		struct buf v;
		buf_init(&v, 4 * (COMPOSE_MAX_SUBJECT + COMPOSE_MAX_TAG));
		const char *d = decoded;
		while (is_wsp(*d))
			d++;
		int r = 0;
		if (buf_append(&v, tag, taglen) < 0 || buf_appendc(&v, ' ') < 0 ||
		    put_clean(&v, d, strlen(d), 2 * COMPOSE_MAX_SUBJECT) < 0 ||
		    put_encoded(b, &col, v.data, v.len) < 0 || buf_append(b, "\r\n", 2) < 0)
			r = errf(err, errsz, "out of memory");
		buf_release(&v);
		return r;
	}
	/* ASCII subject, encoded words or not: kept byte for byte after the tag. */
	size_t r0 = 0;
	while (r0 < rn && (is_wsp(raw[r0]) || raw[r0] == '\r' || raw[r0] == '\n'))
		r0++;
	const char *rest = raw + r0;
	size_t restn = rn - r0;
	int ok;
	if (plain_ok(tag, taglen)) {
		ok = put_words(b, &col, tag, taglen) == 0;
	} else if (restn && starts_encoded_word(rest, restn)) {
		struct buf v;
		buf_init(&v, COMPOSE_MAX_TAG + 2);
		ok = buf_append(&v, tag, taglen) == 0 && buf_appendc(&v, ' ') == 0 &&
		     put_encoded(b, &col, v.data, v.len) == 0;
		buf_release(&v);
	} else {
		ok = put_encoded(b, &col, tag, taglen) == 0;
	}
	if (ok && restn) {
		size_t first = 0;
		while (first < restn && rest[first] != '\r' && rest[first] != '\n')
			first++;
		ok = buf_appends(b, col + 1 + first > FOLD_AT ? "\r\n " : " ") == 0 &&
		     put_crlf(b, orig, h->subj_value + r0, h->subj_value_end) == 0;
	}
	if (!ok || buf_append(b, "\r\n", 2) < 0)
		return errf(err, errsz, "out of memory");
	return 0;
}

char *compose_tag_subject(const char *orig, size_t orig_len, const char *tag,
			  const char *category, size_t *len, char *err, size_t errsz)
{
	struct hdr h;
	if (check_size(orig_len, err, errsz) < 0)
		return NULL;
	size_t taglen = tag ? strlen(tag) : 0;
	while (taglen && is_wsp(tag[taglen - 1]))
		taglen--;
	if (!taglen || taglen > COMPOSE_MAX_TAG || !utf8_valid(tag, taglen))
		return errf(err, errsz, "invalid tag (empty, over %d bytes or not UTF-8)",
			    COMPOSE_MAX_TAG), NULL;
	for (size_t i = 0; i < taglen; i++)
		if ((unsigned char)tag[i] < 0x20 || tag[i] == 0x7f)
			return errf(err, errsz, "invalid tag (control character)"), NULL;
	if (scan_header(orig, orig_len, COMPOSE_MAX_HEADER, &h, err, errsz) < 0)
		return NULL;
	char *decoded = NULL;
	int already = 0;
	if (h.has_subject) {
		size_t rn = h.subj_value_end - h.subj_value;
		if (rn > COMPOSE_MAX_SUBJECT)
			return errf(err, errsz, "Subject too long to tag (%zu bytes, limit %u)", rn,
				    COMPOSE_MAX_SUBJECT), NULL;
		/* RFC 5322 2.2.3: unfolding removes the line breaks, nothing else. */
		char *unf = malloc(rn + 1);
		if (!unf)
			return errf(err, errsz, "out of memory"), NULL;
		size_t un = 0;
		for (size_t i = h.subj_value; i < h.subj_value_end; i++)
			if (orig[i] != '\r' && orig[i] != '\n')
				unf[un++] = orig[i];
		unf[un] = '\0';
		decoded = decode_subject(unf, un);
		free(unf);
		/* A reply to a tagged message keeps its tag: no second one. */
		already = decoded && memmem(decoded, strlen(decoded), tag, taglen);
	}
	struct buf b;
	buf_init(&b, 2 * (size_t)orig_len + COMPOSE_OVERHEAD);
	const char *cat = category ? category : "";
	if (put_field(&b, "X-Triage-Tagged", cat, strlen(cat)) < 0)
		goto fail;
	if (!h.has_subject) {
		size_t col = 8;
		if (buf_appends(&b, "Subject:") < 0 ||
		    (plain_ok(tag, taglen) ? put_words(&b, &col, tag, taglen)
					   : put_encoded(&b, &col, tag, taglen)) < 0 ||
		    buf_append(&b, "\r\n", 2) < 0 || put_crlf(&b, orig, 0, orig_len) < 0)
			goto fail;
	} else if (already) {
		if (put_crlf(&b, orig, 0, orig_len) < 0)
			goto fail;
	} else {
		if (put_crlf(&b, orig, 0, h.subj_value) < 0)
			goto fail;
		if (put_tagged_subject(&b, orig, &h, tag, taglen, decoded, err, errsz) < 0) {
			free(decoded);
			buf_release(&b);
			return NULL;
		}
		if (put_crlf(&b, orig, h.subj_end, orig_len) < 0)
			goto fail;
	}
	free(decoded);
	return finish(&b, len, err, errsz);
fail:
	free(decoded);
	return fail_buf(&b, err, errsz);
}
