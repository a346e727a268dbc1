#include "classifier/example.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libetpan/libetpan.h>

#include "common/buf.h"
#include "common/util.h"

/*
 * Boundaries start with "=_", which quoted-printable never writes (it encodes
 * '=' as "=3D"): a text holding the prefix is sent quoted-printable, so no
 * body line can ever be taken for a delimiter.
 */
#define BOUNDARY_PREFIX "=_triage"
#define BOUNDARY_MIXED BOUNDARY_PREFIX "_mixed"
#define BOUNDARY_REPORT BOUNDARY_PREFIX "_report"

/* Longest line written as it is (RFC 5322 allows 998 bytes). */
#define LINE_MAX_8BIT 998
/* Header lines are folded before this many bytes. */
#define FOLD_AT 76
/* Bytes of UTF-8 per RFC 2047 word: 45 bytes -> 60 base64 characters, 72
   with "=?UTF-8?B?" and "?=" (RFC 2047: at most 75). */
#define WORD_BYTES 45

/* What is being built; failed: ENOMEM (the only way an append fails here). */
struct out {
	struct buf b;
	int failed;
};

static void put(struct out *o, const char *p, size_t n)
{
	if (!o->failed && buf_append(&o->b, p, n) < 0)
		o->failed = 1;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Redacted copy of s (NULL on ENOMEM). */
static char *redacted(struct redactor *r, const char *s, size_t *len)
{
	return redact_text(r, s ? s : "", s ? strlen(s) : 0, len);
}

/* ---- header values ------------------------------------------------------------ */

static int plain_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return !memmem(s, n, "=?", 2);
}

static void base64(struct out *o, const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		put(o, q, 4);
	}
}

/*
 * Writes a Subject field. msg_parse collapses blanks to one space and trims
 * them, so the subject has single spaces only: folding at a space gives it
 * back as it was. Otherwise RFC 2047 words, one per line, each holding whole
 * UTF-8 characters (they are decoded one by one); the blanks between encoded
 * words are dropped by the reader, so spaces travel inside the words.
 */
static void write_subject(struct out *o, const char *s, size_t n)
{
	size_t longest = 0, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = s[i] == ' ' ? 0 : run + 1;
		if (run > longest)
			longest = run;
	}
	puts_(o, "Subject:");
	if (plain_ascii(s, n) && longest < LINE_MAX_8BIT - 16) {
		size_t col = strlen("Subject:"), i = 0;
		while (i < n) {
			size_t w = i;
			while (w < n && s[w] != ' ')
				w++;
			if (col + 1 + (w - i) > FOLD_AT && col > 1) {
				puts_(o, "\r\n");
				col = 0;
			}
			put(o, " ", 1);
			put(o, s + i, w - i);
			col += 1 + (w - i);
			i = w < n ? w + 1 : w;
		}
		puts_(o, "\r\n");
		return;
	}
	size_t i = 0;
	while (i < n) {
		size_t k = n - i < WORD_BYTES ? n - i : WORD_BYTES;
		/* not inside a character: back to the start of the cut one */
		if (i + k < n)
			while (k > 1 && ((unsigned char)s[i + k] & 0xc0) == 0x80)
				k--;
		puts_(o, i ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?");
		base64(o, (const unsigned char *)s + i, k);
		puts_(o, "?=");
		i += k;
	}
	puts_(o, "\r\n");
}

/* From: a placeholder local part at the sender's domain, when the domain is
   one that the reader will give back as it is. */
static void write_from(struct out *o, const char *domain)
{
	size_t n = domain ? strlen(domain) : 0;
	if (n == 0 || n > 255)
		return;
	int literal = domain[0] == '[' && domain[n - 1] == ']';
	for (size_t i = literal; i < n - literal; i++) {
		char c = domain[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || (literal && c == ':')))
			return;
	}
	puts_(o, "From: expediteur@");
	put(o, domain, n);
	puts_(o, "\r\n");
}

/* ";\r\n filename..." of an attachment part: a quoted string when that is
   safe, else RFC 2231 percent-encoded UTF-8 in continued sections. */
static void write_filename(struct out *o, const char *name, size_t n)
{
	if (plain_ascii(name, n) && n <= 200 && !memchr(name, '"', n) && !memchr(name, '\\', n)) {
		puts_(o, ";\r\n filename=\"");
		put(o, name, n);
		puts_(o, "\"");
		return;
	}
	/* percent-encoded, then cut in sections that fit on a line (never
	   inside a "%XX") */
	static const char hex[] = "0123456789ABCDEF";
	struct buf enc;
	buf_init(&enc, SIZE_MAX);
	for (size_t i = 0; i < n && !o->failed; i++) {
		unsigned char c = (unsigned char)name[i];
		/* RFC 2231 attribute-char: a token character other than '*',
		   '\'' and '%' */
		int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || strchr("!#$&+-.^_`|~", c);
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };
		if (keep ? buf_appendc(&enc, (char)c) < 0 : buf_append(&enc, e, 3) < 0)
			o->failed = 1;
	}
	const char *p = enc.data ? enc.data : "";
	size_t per_line = FOLD_AT - 24;
	if (enc.len <= per_line) {
		puts_(o, ";\r\n filename*=UTF-8''");
		put(o, p, enc.len);
	} else {
		size_t i = 0;
		for (int sec = 0; i < enc.len; sec++) {
			char head[64];
			snprintf(head, sizeof head, ";\r\n filename*%d*=%s", sec, sec ? "" : "UTF-8''");
			puts_(o, head);
			size_t k = enc.len - i < per_line ? enc.len - i : per_line;
			if (i + k < enc.len && p[i + k - 1] == '%')
				k--;
			else if (i + k < enc.len && k >= 2 && p[i + k - 2] == '%')
				k -= 2;
			put(o, p + i, k);
			i += k;
		}
	}
	buf_release(&enc);
}

/* ---- the text part ----------------------------------------------------------- */

/* The body of the text part before transfer encoding (LF line ends). */
static int text_body(const struct msg *m, const char *text, size_t n, int html, struct buf *b)
{
	size_t max = n;
	if (m->flags & MSG_TRUNCATED) {
		/* cut (whole characters) or pad to the default max_text, then
		   text that a reader with that limit cuts off again */
		struct msg_limits lim;
		msg_limits_default(&lim);
		max = lim.max_text;
		if (n > max) {
			n = max;
			while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
				n--;
		}
	}
	if (html && buf_appends(b, "<pre>") < 0)
		return -1;
	if (!html) {
		if (buf_append(b, text, n) < 0)
			return -1;
	} else {
		for (size_t i = 0; i < n; i++) {
			const char *e = text[i] == '<' ? "&lt;" : text[i] == '>' ? "&gt;"
				      : text[i] == '&' ? "&amp;" : NULL;
			if (e ? buf_appends(b, e) < 0 : buf_appendc(b, text[i]) < 0)
				return -1;
		}
	}
	if (m->flags & MSG_TRUNCATED) {
		for (size_t len = n, col = 0; len < max; len++) {
			int nl = col == FOLD_AT;
			if (buf_appendc(b, nl ? '\n' : ' ') < 0)
				return -1;
			col = nl ? 0 : col + 1;
		}
		if (buf_appends(b, "\n[...]") < 0)
			return -1;
	}
	if (html && buf_appends(b, "</pre>") < 0)
		return -1;
	return 0;
}

/* A text part: its header fields, a blank line and its body. */
static void write_text_part(struct out *o, const struct msg *m, const char *text, size_t n)
{
	int html = (m->flags & MSG_HTML_ONLY) != 0;
	struct buf body;
	buf_init(&body, SIZE_MAX);
	if (text_body(m, text, n, html, &body) < 0) {
		buf_release(&body);
		o->failed = 1;
		return;
	}
	const char *p = body.data ? body.data : "";
	int qp = memmem(p, body.len, BOUNDARY_PREFIX, strlen(BOUNDARY_PREFIX)) != NULL;
	for (size_t i = 0, line = 0; i < body.len && !qp; i++) {
		line = p[i] == '\n' ? 0 : line + 1;
		if (line > LINE_MAX_8BIT)
			qp = 1;
	}
	puts_(o, html ? "Content-Type: text/html; charset=UTF-8\r\n"
		      : "Content-Type: text/plain; charset=UTF-8\r\n");
	puts_(o, qp ? "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		    : "Content-Transfer-Encoding: 8bit\r\n\r\n");
	if (qp) {
		MMAPString *s = mmap_string_new("");
		int col = 0;
		if (!s || mailmime_quoted_printable_write_mem(s, &col, 1, p, body.len) !=
				  MAILIMF_NO_ERROR)
			o->failed = 1;
		else
			put(o, s->str, s->len);
		if (s)
			mmap_string_free(s);
	} else {
		for (size_t i = 0; i < body.len; i++) {
			size_t k = i;
			while (k < body.len && p[k] != '\n')
				k++;
			put(o, p + i, k - i);
			if (k < body.len)
				puts_(o, "\r\n");
			i = k;
		}
	}
	puts_(o, "\r\n");
	buf_release(&body);
}

/* ---- the MIME structure -------------------------------------------------------- */

/* The text (or nothing) wrapped in a report when the original was one. */
static void write_content(struct out *o, const struct msg *m, const char *text, size_t n)
{
	int has_text = !(m->flags & MSG_NO_TEXT);
	if (!(m->flags & MSG_REPORT)) {
		if (has_text)
			write_text_part(o, m, text, n);
		return;
	}
	puts_(o, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		 " boundary=\"" BOUNDARY_REPORT "\"\r\n\r\n");
	if (has_text) {
		puts_(o, "--" BOUNDARY_REPORT "\r\n");
		write_text_part(o, m, text, n);
	}
	puts_(o, "--" BOUNDARY_REPORT "\r\n"
		 "Content-Type: message/delivery-status\r\n\r\n\r\n"
		 "--" BOUNDARY_REPORT "--\r\n");
}

static int redact_names(const struct msg *m, struct redactor *r, char **names)
{
	for (size_t i = 0; i < m->n_attachments; i++) {
		size_t len;
		names[i] = redacted(r, m->attachments[i], &len);
		if (!names[i])
			return -1;
	}
	return 0;
}

static void write_attachment(struct out *o, const char *name)
{
	puts_(o, "--" BOUNDARY_MIXED "\r\n"
		 "Content-Type: application/octet-stream\r\n"
		 "Content-Disposition: attachment");
	if (name)
		write_filename(o, name, strlen(name));
	puts_(o, "\r\n\r\n\r\n");
}

static void write_body(struct out *o, const struct msg *m, const char *text, size_t n,
		       char **names)
{
	int attach = (m->flags & MSG_ATTACHMENT) || m->n_attachments;
	if (!attach) {
		if ((m->flags & MSG_NO_TEXT) && !(m->flags & MSG_REPORT))
			/* no text, no report, no attachment: a part that is none */
			puts_(o, "Content-Type: application/octet-stream\r\n\r\n");
		else
			write_content(o, m, text, n);
		return;
	}
	puts_(o, "Content-Type: multipart/mixed; boundary=\"" BOUNDARY_MIXED "\"\r\n\r\n");
	if (!(m->flags & MSG_NO_TEXT) || (m->flags & MSG_REPORT)) {
		puts_(o, "--" BOUNDARY_MIXED "\r\n");
		write_content(o, m, text, n);
	}
	for (size_t i = 0; i < m->n_attachments; i++)
		write_attachment(o, names[i]);
	if (m->n_attachments == 0)
		write_attachment(o, NULL);
	puts_(o, "--" BOUNDARY_MIXED "--\r\n");
}

/* ---- checks of the caller's input ------------------------------------------------ */

static int key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > 200)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._-+=", c)))
			return 0;
	}
	return 1;
}

/* Complete header lines: "Name: value" or a continuation, each ending in
   CRLF, no other CR or LF, no NUL; the first line is not a continuation. */
static int extra_ok(const char *h)
{
	const char *p = h;
	while (*p) {
		const char *eol = strstr(p, "\r\n");
		if (!eol || eol == p)
			return 0;
		if (memchr(p, '\r', (size_t)(eol - p)) || memchr(p, '\n', (size_t)(eol - p)))
			return 0;
		if (*p == ' ' || *p == '\t') {
			if (p == h)
				return 0;
		} else {
			const char *c = p;
			while (c < eol && (unsigned char)*c > 32 && (unsigned char)*c < 127 && *c != ':')
				c++;
			if (c == p || c == eol || *c != ':')
				return 0;
		}
		p = eol + 2;
	}
	return 1;
}

/* ---- entry point -------------------------------------------------------------- */

char *example_build(const struct msg *m, struct redactor *r, const char *key,
		    const char *extra_headers, size_t *len, char *err, size_t errsz)
{
	if (!key_ok(key)) {
		errf(err, errsz, "bad example key (1 to 200 letters, digits or \"._-+=\")");
		return NULL;
	}
	if (extra_headers && !extra_ok(extra_headers)) {
		errf(err, errsz, "extra headers are not complete \"Name: value\\r\\n\" lines");
		return NULL;
	}
	struct out o = { .failed = 0 };
	buf_init(&o.b, SIZE_MAX);
	size_t subj_len = 0, text_len = 0;
	char *subject = redacted(r, m->subject, &subj_len);
	char *text = redacted(r, m->text, &text_len);
	char **names = calloc(m->n_attachments + 1, sizeof *names);
	if (!subject || !text || !names || redact_names(m, r, names) < 0)
		o.failed = 1;

	if (!o.failed) {
		write_from(&o, m->from_domain);
		if (extra_headers)
			puts_(&o, extra_headers);
		if (subj_len)
			write_subject(&o, subject, subj_len);
		puts_(&o, "Message-ID: <");
		puts_(&o, key);
		puts_(&o, "@example.invalid>\r\n");
		if (m->flags & MSG_AUTO_REPLY)
			puts_(&o, "Auto-Submitted: auto-replied\r\n");
		if (m->flags & MSG_BULK)
			puts_(&o, "Precedence: bulk\r\n");
		puts_(&o, "MIME-Version: 1.0\r\n");
		write_body(&o, m, text, text_len, names);
	}

	free(subject);
	free(text);
	if (names)
		for (size_t i = 0; i < m->n_attachments; i++)
			free(names[i]);
	free(names);
	char *res = o.failed ? NULL : buf_detach(&o.b, len);
	if (!res) {
		buf_release(&o.b);
		errf(err, errsz, "out of memory");
	}
	return res;
}
