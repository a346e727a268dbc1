#include "classifier/message.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/mailimf.h>
#include <libetpan/mailmime.h>

#include "classifier/charset.h"
#include "classifier/html.h"
#include "common/buf.h"
#include "common/util.h"

void msg_limits_default(struct msg_limits *l)
{
	l->max_size = (size_t)32 << 20;
	l->max_parts = 500;
	l->max_depth = 20;
	l->max_header_len = (size_t)64 << 10;
	l->max_line_len = (size_t)1 << 20;
	l->max_text = (size_t)1 << 20;
}

/* ---- the text being assembled --------------------------------------------- */

/*
 * Not a struct buf: text is cut at max_text on a character boundary (buf
 * refuses the whole append instead), and each part's leading and trailing
 * blank lines are trimmed so that parts are separated by exactly one blank line.
 */
struct text {
	char *s;
	size_t len, cap, max;
	int cut;        /* max was reached: what comes later is dropped */
	int part_start; /* nothing of the current part was written yet */
	int nomem;
};

static int text_reserve(struct text *t, size_t n)
{
	if (t->len + n + 1 <= t->cap)
		return 0;
	size_t cap = t->cap * 2;
	if (cap < t->len + n + 65)
		cap = t->len + n + 65; /* room for the separators that follow */
	if (cap > t->max + 1)
		cap = t->max + 1;
	char *s = realloc(t->s, cap);
	if (!s) {
		t->nomem = 1;
		return -1;
	}
	t->s = s;
	t->cap = cap;
	return 0;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Appends valid UTF-8 as it is, cutting it at max. */
static void text_raw(struct text *t, const char *p, size_t n)
{
	if (t->cut || t->nomem || n == 0)
		return;
	size_t room = t->max - t->len;
	if (n > room) {
		/* only blanks past the limit (a part's final line break) are no loss */
		for (size_t i = room; i < n && !t->cut; i++)
			if (!is_blank(p[i]))
				t->cut = 1;
		n = room;
		while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
			n--;
	}
	if (n == 0 || text_reserve(t, n) < 0)
		return;
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

/*
 * Appends valid UTF-8 text of the current part: CRLF and lone CR become LF,
 * NULs are dropped, and the part's leading blank lines are skipped.
 */
static void text_put(struct text *t, const char *p, size_t n)
{
	if (t->cut || t->nomem)
		return;
	if (t->part_start) {
		size_t i = 0, line = 0;
		while (i < n && (is_blank(p[i]) || p[i] == '\0')) {
			if (p[i] == '\n')
				line = i + 1;
			i++;
		}
		if (i == n)
			return;
		p += line;
		n -= line;
		if (t->len)
			text_raw(t, "\n\n", 2);
		t->part_start = 0;
	}
	const char *end = p + n;
	const char *cr = memchr(p, '\r', n), *nul = memchr(p, '\0', n);
	while (p < end) {
		const char *stop = end;
		if (cr && cr < stop)
			stop = cr;
		if (nul && nul < stop)
			stop = nul;
		text_raw(t, p, (size_t)(stop - p));
		if (stop == end)
			break;
		p = stop + 1;
		if (*stop == '\r') {
			if (p == end || *p != '\n')
				text_raw(t, "\n", 1);
			cr = memchr(p, '\r', (size_t)(end - p));
		} else {
			nul = memchr(p, '\0', (size_t)(end - p));
		}
	}
}

/* Ends a part: its trailing blanks go, the next part starts after a blank line. */
static void text_end_part(struct text *t)
{
	while (t->len && (is_blank(t->s[t->len - 1])))
		t->s[--t->len] = '\0';
	t->part_start = 1;
}

/* ---- parse state ------------------------------------------------------------ */

/*
 * libetpan parses each level of multipart nesting over the whole rest of the
 * message, so a deep nesting costs depth x size before the walk can count it
 * (a 30 MB message nested 500 deep takes half a minute). The scan simulates
 * the nesting: a stack of the multipart boundaries declared and not closed yet.
 */
#define NEST_MAX 512

struct nest {
	const char *b[NEST_MAX];
	size_t n[NEST_MAX];
	size_t height, max;
};


struct ctx {
	const struct msg_limits *lim;
	char *err;
	size_t errsz;
	int failed;      /* err holds the reason */
	struct text text;
	struct buf conv; /* charset conversion output */
	struct buf html; /* text of an HTML part */
	size_t parts;
	size_t ct_lines; /* Content-Type lines seen by the scans (bounds libetpan) */
	int plain_parts, html_parts;
	int plain_text;  /* text/plain parts that gave text */
	int html_capped; /* an HTML part was too big to be read whole */
	int guessed;
	const char *hdr_charset; /* for raw 8-bit header bytes: the body's charset */
	unsigned flags;
	char *subject, *from_addr, *message_id;
	char **names;
	size_t n_names, names_cap;
	struct nest nest; /* scratch of scan() */
};

static int fail_nomem(struct ctx *c)
{
	if (!c->failed)
		errf(c->err, c->errsz, "out of memory");
	c->failed = 1;
	return -1;
}

static int fail_limit(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a crossed limit, or another failure that is not memory (the first
 * one only), and returns -1. */
static int fail_limit(struct ctx *c, const char *fmt, ...)
{
	if (!c->failed && c->err && c->errsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->errsz, fmt, ap);
		va_end(ap);
	}
	c->failed = 1;
	return -1;
}

/* ---- the cheap scan before libetpan ------------------------------------------ */

enum line_kind { L_EMPTY, L_CONT, L_FIELD, L_BAD };

/* How libetpan's header parser will see a line: a field is 1*ftext, optional
   blanks, then a colon (RFC 5322 ftext: printable ASCII except the colon). */
static enum line_kind line_kind(const char *l, size_t n)
{
	if (n == 0)
		return L_EMPTY;
	if (l[0] == ' ' || l[0] == '\t')
		return L_CONT;
	size_t i = 0;
	while (i < n && (unsigned char)l[i] >= 33 && (unsigned char)l[i] <= 126 && l[i] != ':')
		i++;
	if (i == 0)
		return L_BAD;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	return i < n && l[i] == ':' ? L_FIELD : L_BAD;
}

/* Whether l[0..n) holds w (lowercase ASCII), ignoring case. */
static int contains_ci(const char *l, size_t n, const char *w)
{
	size_t wl = strlen(w);
	for (size_t i = 0; i + wl <= n; i++)
		if ((l[i] | 0x20) == w[0] && strncasecmp(l + i, w, wl) == 0)
			return 1;
	return 0;
}

/* The boundary parameter of a Content-Type line, or NULL. */
static const char *boundary_in(const char *l, size_t len, size_t *blen)
{
	for (size_t i = 0; i + 9 <= len; i++) {
		if ((l[i] | 0x20) != 'b' || strncasecmp(l + i, "boundary", 8) != 0)
			continue;
		size_t j = i + 8;
		while (j < len && (l[j] == ' ' || l[j] == '\t'))
			j++;
		if (j == len || l[j] != '=')
			continue;
		j++;
		while (j < len && (l[j] == ' ' || l[j] == '\t'))
			j++;
		size_t k = j;
		if (j < len && l[j] == '"') {
			for (k = ++j; k < len && l[k] != '"'; k++)
				;
		} else {
			while (k < len && l[k] != ';' && l[k] != ' ' && l[k] != '\t')
				k++;
		}
		*blen = k - j;
		return k > j ? l + j : NULL;
	}
	return NULL;
}

static void nest_push(struct nest *ns, const char *b, size_t n)
{
	if (ns->height == NEST_MAX) {
		ns->max = NEST_MAX + 1;
		return;
	}
	ns->b[ns->height] = b;
	ns->n[ns->height++] = n;
	if (ns->height > ns->max)
		ns->max = ns->height;
}

/* A line starting with "--": the delimiter ("--b") or close ("--b--") of an
   open boundary ends the parts nested below it. */
static void nest_line(struct nest *ns, const char *l, size_t len)
{
	for (size_t i = ns->height; i-- > 0;) {
		size_t k = 2 + ns->n[i];
		if (len < k || memcmp(l + 2, ns->b[i], ns->n[i]) != 0)
			continue;
		int close = len >= k + 2 && l[k] == '-' && l[k + 1] == '-';
		if (!close) {
			while (k < len && (l[k] == ' ' || l[k] == '\t'))
				k++;
			if (k != len)
				continue;
		}
		ns->height = close ? i : i + 1;
		return;
	}
}

struct scan {
	size_t start;      /* first byte given to libetpan (leading junk such as an
			      mbox "From " line skipped) */
	size_t hdr_end;    /* end of the header fields */
	int dirty;         /* junk lines between start and hdr_end to drop */
	size_t long_field; /* offset of the first field over max_header_len, or SIZE_MAX */
	size_t long_field_len;
	size_t long_line_no, long_line_len; /* first line over max_line_len (1-based) */
	size_t ct_lines;   /* lines starting with "Content-Type" */
	size_t nesting;    /* deepest multipart nesting seen (an upper bound) */
};

/*
 * One pass over raw, before libetpan sees it: finds the header, the lines that
 * libetpan's header parser would stop at, the first header field and the first
 * line over the limits, counts Content-Type lines (every MIME part but
 * defaulted ones has one, so they bound how many parts libetpan can build and
 * how deep its recursive parser can go) and follows the multipart nesting.
 * With header_only, stops at the end of the header. The body of a message
 * whose Content-Type names neither multipart nor message is not scanned when
 * it is too short to hold a line over the limit: libetpan does not recurse
 * into it, and most mail is such (all of 20 Newsgroups).
 *
 * A junk line in the header is dropped when header fields follow it; otherwise
 * the header ends there and the body begins (as libetpan reads it).
 */
static void scan(const char *raw, size_t n, const struct msg_limits *lim, int header_only,
		 struct nest *ns, struct scan *s)
{
	enum { S_JUNK, S_HEADER, S_BAD, S_BODY } state = S_JUNK;
	size_t off = 0, lineno = 0;
	size_t field = SIZE_MAX, field_len = 0, bad = 0;
	int in_ct = 0, multi = 0, pushed = 0, container = 0;

	memset(s, 0, sizeof *s);
	ns->height = ns->max = 0;
	s->long_field = SIZE_MAX;
	s->hdr_end = SIZE_MAX;
	while (off < n) {
		const char *l = raw + off;
		const char *nl = memchr(l, '\n', n - off);
		size_t len = nl ? (size_t)(nl - l) : n - off;
		size_t next = off + len + (nl ? 1 : 0);
		if (len && l[len - 1] == '\r')
			len--;
		lineno++;
		if (len > lim->max_line_len && !s->long_line_no) {
			s->long_line_no = lineno;
			s->long_line_len = len;
		}
		int cont = len && (l[0] == ' ' || l[0] == '\t');
		if (len >= 12 && (l[0] == 'C' || l[0] == 'c') && strncasecmp(l, "content-type", 12) == 0) {
			s->ct_lines++;
			in_ct = 1;
			multi = pushed = 0;
		} else if (!cont) {
			in_ct = 0;
		}
		if (in_ct) {
			multi = multi || contains_ci(l, len, "multipart");
			if (state != S_BODY && (multi || contains_ci(l, len, "message")))
				container = 1;
			size_t bl;
			const char *b = multi && !pushed ? boundary_in(l, len, &bl) : NULL;
			if (b) {
				nest_push(ns, b, bl);
				pushed = 1;
			}
		} else if (ns->height && len >= 2 && l[0] == '-' && l[1] == '-') {
			nest_line(ns, l, len);
		}
		if (state != S_BODY) {
			enum line_kind k = line_kind(l, len);
			if (k == L_CONT && state != S_JUNK) {
				field_len += len;
			} else {
				if (field != SIZE_MAX && field_len > lim->max_header_len &&
				    s->long_field == SIZE_MAX) {
					s->long_field = field;
					s->long_field_len = field_len;
				}
				field = SIZE_MAX;
				if (k == L_FIELD) {
					if (state == S_JUNK)
						s->start = off;
					else if (state == S_BAD)
						s->dirty = 1;
					state = S_HEADER;
					field = off;
					field_len = len;
				} else if (k == L_EMPTY || (k == L_BAD && state == S_BAD)) {
					if (state == S_JUNK) /* no header at all */
						s->start = 0;
					s->hdr_end = state == S_BAD ? bad : off;
					state = S_BODY;
				} else if (k == L_BAD && state == S_HEADER) {
					state = S_BAD;
					bad = off;
				}
			}
			if (state == S_BODY &&
			    (header_only || (!container && n - off <= lim->max_line_len)))
				break;
		}
		off = next;
	}
	if (field != SIZE_MAX && field_len > lim->max_header_len && s->long_field == SIZE_MAX) {
		s->long_field = field;
		s->long_field_len = field_len;
	}
	if (state == S_JUNK)
		s->start = 0;
	if (s->hdr_end == SIZE_MAX)
		s->hdr_end = state == S_BAD ? bad : state == S_JUNK ? 0 : n;
	if (s->hdr_end < s->start)
		s->hdr_end = s->start;
	s->nesting = ns->max;
}

/*
 * Whether what the scan found must be refused before libetpan: more Content-
 * Type lines than parts allowed (the stack depth of its recursive parser), or
 * a nesting over max_depth in a message big enough for that to cost (nesting
 * x size over 256 MiB, about half a second; smaller ones are left to the walk,
 * which counts exactly). Reports the error in c.
 */
static int scan_refuses(struct ctx *c, const struct scan *s, size_t len)
{
	if (c->ct_lines > c->lim->max_parts)
		return fail_limit(c, "too many MIME parts (more than %zu)", c->lim->max_parts);
	if (s->nesting > c->lim->max_depth && (double)s->nesting * (double)len > 256.0 * 1024 * 1024)
		return fail_limit(c, "MIME nesting too deep (more than %zu)", c->lim->max_depth);
	return 0;
}

/*
 * A copy of raw[0..len) whose header raw[0..hdr) lost its junk lines (with
 * their continuation lines), the rest kept as it is. NULL on ENOMEM.
 */
static char *clean_header(const char *raw, size_t hdr, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t o = 0, off = 0;
	int dropping = 0;
	while (off < hdr) {
		const char *l = raw + off;
		const char *nl = memchr(l, '\n', hdr - off);
		size_t full = nl ? (size_t)(nl - l) + 1 : hdr - off;
		size_t ll = full - (nl ? 1 : 0);
		if (ll && l[ll - 1] == '\r')
			ll--;
		enum line_kind k = line_kind(l, ll);
		if (k == L_BAD)
			dropping = 1;
		else if (k != L_CONT)
			dropping = 0;
		if (!dropping) {
			memcpy(out + o, l, full);
			o += full;
		}
		off += full;
	}
	memcpy(out + o, raw + hdr, len - hdr);
	o += len - hdr;
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* ---- header values ---------------------------------------------------------- */

/* Output of a header value: blanks and control characters collapse to one space. */
struct hout {
	struct buf b;
	int space;
};

static int hput(struct hout *h, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t start = i;
		while (i < n && (unsigned char)p[i] > ' ' && p[i] != 0x7f)
			i++;
		if (i > start) {
			if (h->space && h->b.len && buf_appendc(&h->b, ' ') < 0)
				return -1;
			h->space = 0;
			if (buf_append(&h->b, p + start, i - start) < 0)
				return -1;
		}
		while (i < n && ((unsigned char)p[i] <= ' ' || p[i] == 0x7f)) {
			h->space = 1;
			i++;
		}
	}
	return 0;
}

/* Appends p[0..n) in charset label (NULL for raw 8-bit header bytes, which
   mailers write in the charset of the body) as UTF-8. */
static int hput_raw(struct ctx *c, struct hout *h, const char *label, const char *p, size_t n)
{
	int guessed = 0; /* MSG_CHARSET_GUESSED is about parts, not header words */
	size_t ulen;
	if (!label)
		label = c->hdr_charset;
	const char *u = charset_to_utf8(label, p, n, SIZE_MAX, &c->conv, &ulen, &guessed);
	if (!u)
		return -1;
	return hput(h, u, ulen);
}

/*
 * A header value as UTF-8 text: RFC 2047 encoded words decoded (the blanks
 * between two of them dropped), raw 8-bit bytes guessed, folding undone,
 * blanks collapsed and trimmed. Returns a string the caller frees, or NULL
 * on ENOMEM.
 */
static char *header_text(struct ctx *c, const char *v, size_t n)
{
	struct hout h = { .space = 0 };
	buf_init(&h.b, SIZE_MAX);
	int r = 0;
	if (!memmem(v, n, "=?", 2)) {
		r = hput_raw(c, &h, NULL, v, n);
	} else {
		size_t i = 0;
		int prev_encoded = 0;
		while (i < n && r == 0) {
			size_t ws = i;
			while (i < n && is_blank(v[i]))
				i++;
			int had_blank = i > ws;
			if (i >= n)
				break;
			if (v[i] == '=' && i + 1 < n && v[i + 1] == '?') {
				size_t j = i;
				struct mailmime_encoded_word *w = NULL;
				int fwd = 0, missing_quote = 0;
				int e = mailmime_encoded_word_parse(v, n, &j, &w, &fwd, &missing_quote);
				if (e == MAILIMF_NO_ERROR) {
					if (had_blank && !prev_encoded)
						h.space = 1;
					r = hput_raw(c, &h, w->wd_charset, w->wd_text,
						     strlen(w->wd_text));
					mailmime_encoded_word_free(w);
					prev_encoded = 1;
					i = j > i ? j : i + 1;
					continue;
				}
				if (e == MAILIMF_ERROR_MEMORY) {
					r = -1;
					break;
				}
			}
			/* a plain word, up to a blank or the next encoded word */
			size_t k = i + 1;
			while (k < n && !is_blank(v[k]) && !(v[k] == '=' && k + 1 < n && v[k + 1] == '?'))
				k++;
			if (had_blank)
				h.space = 1;
			r = hput_raw(c, &h, NULL, v + i, k - i);
			prev_encoded = 0;
			i = k;
		}
	}
	if (r < 0) {
		buf_release(&h.b);
		return NULL;
	}
	return buf_detach(&h.b, NULL);
}

/* An address or identifier: valid UTF-8, no blanks or controls, ASCII lowercased
   when lower. Returns a string the caller frees, or NULL on ENOMEM. */
static char *token_text(struct ctx *c, const char *v, size_t n, int lower)
{
	char *s = header_text(c, v, n);
	if (!s)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; s[i]; i++) {
		char ch = s[i];
		if (ch == ' ')
			continue;
		if (lower && ch >= 'A' && ch <= 'Z')
			ch = (char)(ch + 32);
		s[o++] = ch;
	}
	s[o] = '\0';
	return s;
}

static void set_str(char **dst, char *s)
{
	free(*dst);
	*dst = s;
}

/* The addr-spec in a From value libetpan could not parse: inside the last
   <...> holding an '@', else the first word holding one. */
static int from_fallback(struct ctx *c, const char *v)
{
	const char *lt = strrchr(v, '<');
	const char *gt = lt ? strchr(lt, '>') : NULL;
	const char *p = NULL;
	size_t n = 0;
	if (gt && memchr(lt, '@', (size_t)(gt - lt))) {
		p = lt + 1;
		n = (size_t)(gt - p);
	} else {
		const char *at = strchr(v, '@');
		if (!at)
			return 0;
		const char *stop = " \t\r\n,;<>()\"'";
		p = at;
		while (p > v && !strchr(stop, p[-1]))
			p--;
		n = (size_t)(at - p) + strcspn(at, stop);
	}
	char *s = token_text(c, p, n, 1);
	if (!s)
		return -1;
	set_str(&c->from_addr, s);
	return 0;
}

static int set_message_id(struct ctx *c, const char *v)
{
	while (is_blank(*v) || *v == '<')
		v++;
	size_t n = strcspn(v, ">");
	char *s = token_text(c, v, n, 0);
	if (!s)
		return -1;
	set_str(&c->message_id, s);
	return 0;
}

/* The first word of a header value, lowercased, in w (cut to wsz - 1 bytes). */
static void first_word(const char *v, char *w, size_t wsz)
{
	while (is_blank(*v))
		v++;
	size_t i = 0;
	while (v[i] && !is_blank(v[i]) && v[i] != ';' && v[i] != '(' && i + 1 < wsz) {
		w[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
		i++;
	}
	w[i] = '\0';
}

static void header_flag(struct ctx *c, const char *name, const char *value)
{
	char w[32];
	if (strcasecmp(name, "Auto-Submitted") == 0) {
		first_word(value, w, sizeof w);
		if (strcmp(w, "no") != 0)
			c->flags |= MSG_AUTO_REPLY;
	} else if (strcasecmp(name, "X-Autoreply") == 0 ||
		   strcasecmp(name, "X-Autorespond") == 0) {
		c->flags |= MSG_AUTO_REPLY;
	} else if (strcasecmp(name, "Precedence") == 0) {
		first_word(value, w, sizeof w);
		if (strcmp(w, "auto_reply") == 0)
			c->flags |= MSG_AUTO_REPLY;
		else if (strcmp(w, "bulk") == 0 || strcmp(w, "list") == 0 ||
			 strcmp(w, "junk") == 0)
			c->flags |= MSG_BULK;
	} else if (strcasecmp(name, "List-Id") == 0 || strcasecmp(name, "List-Unsubscribe") == 0) {
		c->flags |= MSG_BULK;
	} else if (strncasecmp(name, "X-Triage-", 9) == 0) {
		c->flags |= MSG_TRIAGE;
	}
}

/* Subject, sender, Message-ID and flags from the top-level header fields. */
static int fill_headers(struct ctx *c, struct mailimf_fields *fields)
{
	if (!fields)
		return 0;
	const char *opt_from = NULL, *opt_mid = NULL;
	int have_subject = 0, have_from = 0, have_mid = 0;
	for (clistiter *it = clist_begin(fields->fld_list); it; it = clist_next(it)) {
		struct mailimf_field *f = clist_content(it);
		switch (f->fld_type) {
		case MAILIMF_FIELD_SUBJECT:
			if (!have_subject && f->fld_data.fld_subject->sbj_value) {
				const char *v = f->fld_data.fld_subject->sbj_value;
				char *s = header_text(c, v, strlen(v));
				if (!s)
					return -1;
				set_str(&c->subject, s);
				have_subject = 1;
			}
			break;
		case MAILIMF_FIELD_FROM: {
			struct mailimf_mailbox_list *ml = f->fld_data.fld_from->frm_mb_list;
			clistiter *first = ml && ml->mb_list ? clist_begin(ml->mb_list) : NULL;
			struct mailimf_mailbox *mb = first ? clist_content(first) : NULL;
			if (!have_from && mb && mb->mb_addr_spec) {
				/* libetpan takes "Jean <jean@example.org" (no '>') whole */
				const char *a = mb->mb_addr_spec;
				if (a[strcspn(a, " \t<>()\",;")]) {
					if (from_fallback(c, a) < 0)
						return -1;
				} else {
					char *s = token_text(c, a, strlen(a), 1);
					if (!s)
						return -1;
					set_str(&c->from_addr, s);
				}
				have_from = 1;
			}
			break;
		}
		case MAILIMF_FIELD_MESSAGE_ID:
			if (!have_mid && f->fld_data.fld_message_id->mid_value) {
				if (set_message_id(c, f->fld_data.fld_message_id->mid_value) < 0)
					return -1;
				have_mid = 1;
			}
			break;
		case MAILIMF_FIELD_OPTIONAL_FIELD: {
			const char *name = f->fld_data.fld_optional_field->fld_name;
			const char *value = f->fld_data.fld_optional_field->fld_value;
			if (!name || !value)
				break;
			/* fields libetpan could not parse as what they claim to be */
			if (!opt_from && strcasecmp(name, "From") == 0)
				opt_from = value;
			else if (!opt_mid && strcasecmp(name, "Message-ID") == 0)
				opt_mid = value;
			else
				header_flag(c, name, value);
			break;
		}
		default:
			break;
		}
	}
	if (!have_from && opt_from && from_fallback(c, opt_from) < 0)
		return -1;
	if (!have_mid && opt_mid && set_message_id(c, opt_mid) < 0)
		return -1;
	return 0;
}

/*
 * Parses the header fields of raw[s->start..upto) (junk lines dropped) and
 * fills subject, sender, Message-ID and flags from them.
 */
static int parse_header_only(struct ctx *c, const char *raw, const struct scan *s, size_t upto)
{
	if (upto <= s->start)
		return 0;
	const char *p = raw + s->start;
	size_t n = upto - s->start;
	char *copy = NULL;
	if (s->dirty) {
		copy = clean_header(p, n, n, &n);
		if (!copy)
			return fail_nomem(c);
		p = copy;
	}
	size_t idx = 0;
	struct mailimf_fields *fields = NULL;
	int r = mailimf_envelope_and_optional_fields_parse(p, n, &idx, &fields);
	int ret = 0;
	if (r == MAILIMF_NO_ERROR) {
		if (fill_headers(c, fields) < 0)
			ret = fail_nomem(c);
		mailimf_fields_free(fields);
	} else if (r == MAILIMF_ERROR_MEMORY) {
		ret = fail_nomem(c);
	}
	free(copy);
	return ret;
}

/* ---- MIME parts -------------------------------------------------------------- */

enum ptype { P_PLAIN, P_HTML, P_TEXT_OTHER, P_RFC822, P_STATUS, P_OTHER };

/* text/ subtypes that hold data rather than prose */
static const char *const text_data[] = {
	"calendar", "x-vcalendar", "vcard",      "x-vcard", "directory",
	"rfc822-headers", "css",   "javascript", "ecmascript", "x-javascript",
	"xml",      "csv",         "x-csv",      "tab-separated-values",
};

static enum ptype ptype_of(const struct mailmime_content *ct)
{
	if (!ct || !ct->ct_type)
		return P_PLAIN;
	const char *sub = ct->ct_subtype ? ct->ct_subtype : "";
	if (ct->ct_type->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
		const struct mailmime_discrete_type *d = ct->ct_type->tp_data.tp_discrete_type;
		if (!d || d->dt_type != MAILMIME_DISCRETE_TYPE_TEXT)
			return P_OTHER;
		if (strcasecmp(sub, "html") == 0)
			return P_HTML;
		/* RFC 2046: an unknown text subtype is read as text/plain
		   (text/x-usenet-FAQ, text/enriched...), but these are data */
		for (size_t i = 0; i < ARRAY_SIZE(text_data); i++)
			if (strcasecmp(sub, text_data[i]) == 0)
				return P_TEXT_OTHER;
		return P_PLAIN;
	}
	const struct mailmime_composite_type *t = ct->ct_type->tp_data.tp_composite_type;
	if (t && t->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE) {
		if (strcasecmp(sub, "rfc822") == 0 || strcasecmp(sub, "global") == 0)
			return P_RFC822;
		if (strcasecmp(sub, "delivery-status") == 0 ||
		    strcasecmp(sub, "global-delivery-status") == 0 ||
		    strcasecmp(sub, "disposition-notification") == 0)
			return P_STATUS;
	}
	return P_OTHER;
}

static int disposition_of(const struct mailmime_single_fields *sf)
{
	if (!sf->fld_disposition || !sf->fld_disposition->dsp_type)
		return -1;
	return sf->fld_disposition->dsp_type->dsp_type;
}

/* Parameters of a part, from Content-Disposition or Content-Type. */
struct params {
	const char *name[64];
	const char *value[64];
	size_t n;
};

static void params_disposition(const struct mailmime_single_fields *sf, struct params *ps)
{
	ps->n = 0;
	if (!sf->fld_disposition || !sf->fld_disposition->dsp_parms)
		return;
	for (clistiter *it = clist_begin(sf->fld_disposition->dsp_parms); it && ps->n < 64;
	     it = clist_next(it)) {
		struct mailmime_disposition_parm *p = clist_content(it);
		if (p->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME && p->pa_data.pa_filename) {
			ps->name[ps->n] = "filename";
			ps->value[ps->n++] = p->pa_data.pa_filename;
		} else if (p->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER &&
			   p->pa_data.pa_parameter && p->pa_data.pa_parameter->pa_name &&
			   p->pa_data.pa_parameter->pa_value) {
			ps->name[ps->n] = p->pa_data.pa_parameter->pa_name;
			ps->value[ps->n++] = p->pa_data.pa_parameter->pa_value;
		}
	}
}

static void params_content(const struct mailmime_content *ct, struct params *ps)
{
	ps->n = 0;
	if (!ct || !ct->ct_parameters)
		return;
	for (clistiter *it = clist_begin(ct->ct_parameters); it && ps->n < 64; it = clist_next(it)) {
		struct mailmime_parameter *p = clist_content(it);
		if (p->pa_name && p->pa_value) {
			ps->name[ps->n] = p->pa_name;
			ps->value[ps->n++] = p->pa_value;
		}
	}
}

/*
 * If name is base followed by "*N" or "*N*" (section N of an RFC 2231
 * continued value, percent-encoded when it ends with '*'), returns N; for
 * "base*" (a value in one encoded section) returns 0 and sets *single.
 * Otherwise -1.
 */
static int rfc2231_section(const char *name, const char *base, int *encoded, int *single)
{
	size_t bl = strlen(base);
	*single = 0;
	if (strncasecmp(name, base, bl) != 0 || name[bl] != '*')
		return -1;
	const char *p = name + bl + 1;
	if (*p == '\0') {
		*encoded = 1;
		*single = 1;
		return 0;
	}
	int idx = 0;
	if (*p < '0' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9' && idx < 1000)
		idx = idx * 10 + (*p++ - '0');
	*encoded = *p == '*';
	if (*encoded)
		p++;
	return *p == '\0' ? idx : -1;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * The RFC 2231 value of parameter base (filename*=UTF-8''%C3%A9t%C3%A9.pdf,
 * or continued over filename*0*=...; filename*1*=...) as UTF-8, in a string
 * the caller frees; *found is 0 when there is none. NULL on ENOMEM.
 * libetpan 1.9.4 hands these parameters over undecoded.
 */
static char *rfc2231_value(struct ctx *c, const struct params *ps, const char *base, int *found)
{
	struct buf raw;
	char charset[64] = "";
	int single = 0, full = 0;
	*found = 0;
	buf_init(&raw, c->lim->max_header_len);
	for (int want = 0; want < 64 && !single && !full; want++) {
		size_t i;
		int encoded = 0;
		for (i = 0; i < ps->n; i++)
			if (rfc2231_section(ps->name[i], base, &encoded, &single) == want)
				break;
		if (i == ps->n)
			break;
		*found = 1;
		const char *v = ps->value[i];
		if (encoded && want == 0) {
			/* charset'language'value */
			const char *q1 = strchr(v, '\'');
			const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
			if (q2) {
				size_t cl = (size_t)(q1 - v);
				if (cl >= sizeof charset)
					cl = 0;
				memcpy(charset, v, cl);
				charset[cl] = '\0';
				v = q2 + 1;
			}
		}
		for (const char *p = v; *p; p++) {
			int h1, h2;
			char ch = *p;
			if (encoded && p[0] == '%' && (h1 = hexval(p[1])) >= 0 &&
			    (h2 = hexval(p[2])) >= 0) {
				ch = (char)(h1 * 16 + h2);
				p += 2;
			}
			if (buf_appendc(&raw, ch) < 0) {
				if (errno == ENOMEM) {
					buf_release(&raw);
					return NULL;
				}
				full = 1; /* over max_header_len: keep the start */
				break;
			}
		}
	}
	if (!*found) {
		buf_release(&raw);
		return NULL;
	}
	struct hout h = { .space = 0 };
	buf_init(&h.b, SIZE_MAX);
	int r = hput_raw(c, &h, charset[0] ? charset : NULL, raw.data ? raw.data : "", raw.len);
	buf_release(&raw);
	if (r < 0) {
		buf_release(&h.b);
		return NULL;
	}
	return buf_detach(&h.b, NULL);
}

/*
 * The decoded file name of a part (Content-Disposition filename, else
 * Content-Type name; RFC 2231 before RFC 2047), or NULL with *nomem 0 when it
 * has none. The caller frees it.
 */
static char *part_name(struct ctx *c, const struct mailmime *mm,
		       const struct mailmime_single_fields *sf, int *nomem)
{
	struct params ps;
	int found;
	char *s = NULL;
	*nomem = 0;
	params_disposition(sf, &ps);
	s = rfc2231_value(c, &ps, "filename", &found);
	if (!s && !found) {
		params_content(mm->mm_content_type, &ps);
		s = rfc2231_value(c, &ps, "name", &found);
	}
	if (!s && !found) {
		const char *v = sf->fld_disposition_filename ? sf->fld_disposition_filename
							      : sf->fld_content_name;
		if (!v)
			return NULL;
		s = header_text(c, v, strlen(v));
		found = 1;
	}
	if (!s) {
		*nomem = 1;
		return NULL;
	}
	if (!*s) {
		free(s);
		return NULL;
	}
	return s;
}

static int has_name(const struct mailmime *mm, const struct mailmime_single_fields *sf)
{
	if (sf->fld_disposition_filename || sf->fld_content_name)
		return 1;
	struct params ps;
	int enc, single;
	params_disposition(sf, &ps);
	for (size_t i = 0; i < ps.n; i++)
		if (rfc2231_section(ps.name[i], "filename", &enc, &single) >= 0)
			return 1;
	params_content(mm->mm_content_type, &ps);
	for (size_t i = 0; i < ps.n; i++)
		if (rfc2231_section(ps.name[i], "name", &enc, &single) >= 0)
			return 1;
	return 0;
}

/*
 * An attachment: Content-Disposition attachment, or a file name on a part
 * that is not inline text. A forwarded message (message/rfc822) is read as
 * text even when attached.
 */
static int is_attachment(const struct mailmime *mm, const struct mailmime_single_fields *sf,
			 enum ptype t)
{
	int disp = disposition_of(sf);
	if (t == P_RFC822 || t == P_STATUS)
		return 0;
	if (disp == MAILMIME_DISPOSITION_TYPE_ATTACHMENT)
		return 1;
	if ((t == P_PLAIN || t == P_HTML) && disp == MAILMIME_DISPOSITION_TYPE_INLINE)
		return 0;
	return has_name(mm, sf);
}

static int add_name(struct ctx *c, char *name)
{
	if (c->n_names == c->names_cap) {
		size_t cap = c->names_cap ? c->names_cap * 2 : 4;
		char **p = realloc(c->names, cap * sizeof *p);
		if (!p) {
			free(name);
			return fail_nomem(c);
		}
		c->names = p;
		c->names_cap = cap;
	}
	c->names[c->n_names++] = name;
	return 0;
}

/* The body of a single part, transfer-decoded: *dec is set when it must be
   freed with mailmime_decoded_part_free. */
static int part_body(struct ctx *c, const struct mailmime *mm, const char **p, size_t *n,
		     char **dec)
{
	const struct mailmime_data *d = mm->mm_data.mm_single;
	*dec = NULL;
	*p = "";
	*n = 0;
	if (!d || d->dt_type != MAILMIME_DATA_TEXT || !d->dt_data.dt_text.dt_data)
		return 0;
	*p = d->dt_data.dt_text.dt_data;
	*n = d->dt_data.dt_text.dt_length;
	if (d->dt_encoded && (d->dt_encoding == MAILMIME_MECHANISM_BASE64 ||
			      d->dt_encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE)) {
		size_t idx = 0, len = 0, n_in = *n;
		char *out = NULL;
		/* libetpan 1.9.4 reads a byte past the end of quoted-printable
		   data that ends with '=' and one character: that broken
		   escape is dropped instead */
		if (d->dt_encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE && n_in >= 2 &&
		    (*p)[n_in - 2] == '=' && (*p)[n_in - 1] != '\r' && (*p)[n_in - 1] != '\n')
			n_in -= 2;
		int r = mailmime_part_parse(*p, n_in, &idx, d->dt_encoding, &out, &len);
		if (r == MAILIMF_ERROR_MEMORY)
			return fail_nomem(c);
		if (r == MAILIMF_NO_ERROR && out) {
			*dec = out;
			*p = out;
			*n = len;
		}
	}
	return 0;
}

/* Appends the text of a text/plain or text/html part. */
static int add_text(struct ctx *c, const struct mailmime *mm,
		    const struct mailmime_single_fields *sf, int html)
{
	if (c->text.cut)
		return 0; /* no room left: skip the decoding */
	const char *p;
	size_t n, ulen;
	char *dec;
	if (part_body(c, mm, &p, &n, &dec) < 0)
		return -1;
	size_t room = c->text.max - c->text.len + 16;
	const char *u = charset_to_utf8(sf->fld_content_charset, p, n, html ? SIZE_MAX : room,
					&c->conv, &ulen, &c->guessed);
	int r = 0;
	if (!u) {
		r = fail_nomem(c);
	} else if (html) {
		/* libxml2's tree takes about twenty times the size of the HTML:
		   four times the room left is text enough even for heavy markup */
		size_t cap = room * 4 + 65536;
		if (ulen > cap) {
			while (cap > 0 && ((unsigned char)u[cap] & 0xc0) == 0x80)
				cap--;
			ulen = cap;
			c->html_capped = 1;
		}
		buf_reset(&c->html);
		if (html_to_text(u, ulen, room, &c->html) < 0)
			r = errno == ELIBACC ? fail_limit(c, "HTML part not read: libxml2 cannot be loaded")
					     : fail_nomem(c);
		else if (c->html.len)
			text_put(&c->text, c->html.data, c->html.len);
	} else {
		size_t before = c->text.len;
		text_put(&c->text, u, ulen);
		if (c->text.len > before)
			c->plain_text++;
	}
	text_end_part(&c->text);
	if (dec)
		mailmime_decoded_part_free(dec);
	if (c->text.nomem)
		r = fail_nomem(c);
	return r;
}

/*
 * How a subtree is read: its text and attachment names, only its attachment
 * names (an alternative not chosen), or nothing but the count against the
 * limits (a signature, the machine-readable parts of a report).
 */
enum mode { WALK_TEXT, WALK_NAMES, WALK_COUNT };

static int walk(struct ctx *c, struct mailmime *mm, size_t depth, enum mode mode);
static int parse_tree(struct ctx *c, const char *p, size_t n, size_t depth, enum mode mode);

/* Whether a subtree holds a part that would be read as text of type t. */
static int holds(const struct ctx *c, const struct mailmime *mm, enum ptype t, size_t depth)
{
	if (depth > c->lim->max_depth)
		return 0;
	if (mm->mm_type == MAILMIME_SINGLE) {
		struct mailmime_single_fields sf;
		mailmime_single_fields_init(&sf, mm->mm_mime_fields, mm->mm_content_type);
		return ptype_of(mm->mm_content_type) == t && !is_attachment(mm, &sf, t);
	}
	if (mm->mm_type == MAILMIME_MULTIPLE)
		for (clistiter *it = clist_begin(mm->mm_data.mm_multipart.mm_mp_list); it;
		     it = clist_next(it))
			if (holds(c, clist_content(it), t, depth + 1))
				return 1;
	return 0;
}

/* multipart/alternative: the first alternative with plain text, else the
   last one with HTML (the richest), else the first. */
static struct mailmime *pick_alternative(const struct ctx *c, clist *parts, size_t depth)
{
	struct mailmime *html = NULL;
	for (clistiter *it = clist_begin(parts); it; it = clist_next(it))
		if (holds(c, clist_content(it), P_PLAIN, depth))
			return clist_content(it);
	for (clistiter *it = clist_begin(parts); it; it = clist_next(it))
		if (holds(c, clist_content(it), P_HTML, depth))
			html = clist_content(it);
	if (html)
		return html;
	return clist_begin(parts) ? clist_content(clist_begin(parts)) : NULL;
}

static int walk_single(struct ctx *c, struct mailmime *mm, size_t depth, enum mode mode)
{
	if (mode == WALK_COUNT)
		return 0;
	struct mailmime_single_fields sf;
	mailmime_single_fields_init(&sf, mm->mm_mime_fields, mm->mm_content_type);
	enum ptype t = ptype_of(mm->mm_content_type);
	if (is_attachment(mm, &sf, t)) {
		int nomem;
		char *name = part_name(c, mm, &sf, &nomem);
		c->flags |= MSG_ATTACHMENT;
		if (nomem)
			return fail_nomem(c);
		return name ? add_name(c, name) : 0;
	}
	switch (t) {
	case P_STATUS:
		c->flags |= MSG_REPORT;
		return 0;
	case P_RFC822: {
		/* a forwarded message in base64 or quoted-printable, which
		   libetpan leaves undecoded and unparsed */
		const char *p;
		size_t n;
		char *dec;
		if (part_body(c, mm, &p, &n, &dec) < 0)
			return -1;
		int r = parse_tree(c, p, n, depth + 1, mode);
		if (dec)
			mailmime_decoded_part_free(dec);
		return r;
	}
	case P_PLAIN:
	case P_HTML:
		if (mode != WALK_TEXT)
			return 0;
		if (t == P_PLAIN)
			c->plain_parts++;
		else
			c->html_parts++;
		return add_text(c, mm, &sf, t == P_HTML);
	default:
		return 0;
	}
}

static int walk_parts(struct ctx *c, clist *parts, const char *sub, size_t depth, enum mode mode)
{
	int alternative = strcasecmp(sub, "alternative") == 0;
	int report = strcasecmp(sub, "report") == 0;
	/* only the first part is read: the signed content, the human-readable
	   part of a delivery report; nothing of an encrypted message */
	int first_only = report || strcasecmp(sub, "signed") == 0;
	int none = strcasecmp(sub, "encrypted") == 0;
	struct mailmime *chosen = NULL, *fallback = NULL;
	int chosen_empty = 0;

	if (report && mode != WALK_COUNT)
		c->flags |= MSG_REPORT;
	if (alternative && mode == WALK_TEXT) {
		chosen = pick_alternative(c, parts, depth + 1);
		/* a blank text/plain beside the HTML (senders do that) */
		for (clistiter *it = clist_begin(parts); it; it = clist_next(it))
			if (clist_content(it) != chosen && holds(c, clist_content(it), P_HTML, depth + 1))
				fallback = clist_content(it);
		if (chosen) {
			size_t before = c->text.len;
			if (walk(c, chosen, depth + 1, WALK_TEXT) < 0)
				return -1;
			chosen_empty = c->text.len == before;
		}
	}
	int first = 1;
	for (clistiter *it = clist_begin(parts); it; it = clist_next(it), first = 0) {
		struct mailmime *child = clist_content(it);
		enum mode m = mode;
		if (child == chosen)
			continue;
		if (none || (first_only && !first))
			m = WALK_COUNT;
		else if (chosen)
			m = child == fallback && chosen_empty ? WALK_TEXT : WALK_NAMES;
		if (walk(c, child, depth + 1, m) < 0)
			return -1;
	}
	return 0;
}

/*
 * libetpan drops every part of a multipart when one of them is empty, as when
 * a sender leaves a last delimiter open at the end. Returns a message holding
 * only a multipart with body[0..n) without its empty parts (a string the
 * caller frees), or NULL (ENOMEM, or a boundary that cannot be quoted).
 */
static char *repair_multipart(const char *body, size_t n, const char *boundary, size_t *outlen)
{
	size_t bl = strlen(boundary);
	if (bl == 0 || strpbrk(boundary, "\"\\\r\n"))
		return NULL;
	char *out = malloc(n + 2 * bl + 64);
	if (!out)
		return NULL;
	size_t o = (size_t)sprintf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\n\n", boundary);
	size_t off = 0;
	while (off < n) {
		const char *l = body + off;
		const char *nl = memchr(l, '\n', n - off);
		size_t full = nl ? (size_t)(nl - l) + 1 : n - off;
		int delim = full >= bl + 2 && l[0] == '-' && l[1] == '-' &&
			    memcmp(l + 2, boundary, bl) == 0 && !(full >= bl + 4 && l[bl + 2] == '-' &&
								 l[bl + 3] == '-');
		if (delim) {
			/* blank lines up to the next delimiter or the end: an empty part */
			size_t q = off + full;
			while (q < n && (body[q] == '\r' || body[q] == '\n'))
				q++;
			int at_delim = n - q >= bl + 2 && body[q] == '-' && body[q + 1] == '-' &&
				       memcmp(body + q + 2, boundary, bl) == 0;
			if (q == n) {
				o += (size_t)sprintf(out + o, "--%s--\n", boundary);
				break;
			}
			if (at_delim) {
				off = q;
				continue;
			}
		}
		memcpy(out + o, l, full);
		o += full;
		off += full;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static int walk_multiple(struct ctx *c, struct mailmime *mm, size_t depth, enum mode mode)
{
	const char *sub = mm->mm_content_type && mm->mm_content_type->ct_subtype
				  ? mm->mm_content_type->ct_subtype
				  : "mixed";
	clist *parts = mm->mm_data.mm_multipart.mm_mp_list;
	if (!parts)
		return 0;
	if (clist_count(parts) > 0 || !mm->mm_body ||
	    mm->mm_body->dt_type != MAILMIME_DATA_TEXT || !mm->mm_body->dt_data.dt_text.dt_data)
		return walk_parts(c, parts, sub, depth, mode);

	char *boundary = mailmime_extract_boundary(mm->mm_content_type);
	if (!boundary)
		return 0;
	size_t len;
	char *copy = repair_multipart(mm->mm_body->dt_data.dt_text.dt_data,
				      mm->mm_body->dt_data.dt_text.dt_length, boundary, &len);
	free(boundary);
	if (!copy)
		return 0;
	size_t idx = 0;
	struct mailmime *root = NULL;
	int r = mailmime_parse(copy, len, &idx, &root), ret = 0;
	if (r == MAILIMF_ERROR_MEMORY) {
		ret = fail_nomem(c);
	} else if (r == MAILIMF_NO_ERROR && root && root->mm_type == MAILMIME_MESSAGE &&
		   root->mm_data.mm_message.mm_msg_mime &&
		   root->mm_data.mm_message.mm_msg_mime->mm_type == MAILMIME_MULTIPLE) {
		struct mailmime *fixed = root->mm_data.mm_message.mm_msg_mime;
		parts = fixed->mm_data.mm_multipart.mm_mp_list;
		if (parts)
			ret = walk_parts(c, parts, sub, depth, mode);
	}
	if (root)
		mailmime_free(root);
	free(copy);
	return ret;
}

/* A header field of a part's header over the limit (the top-level header was
   checked by the scan before libetpan). */
static int check_part_header(struct ctx *c, const struct mailmime *mm)
{
	if (!mm->mm_mime_start || !mm->mm_body || mm->mm_body->dt_type != MAILMIME_DATA_TEXT)
		return 0;
	const char *p = mm->mm_mime_start, *end = mm->mm_body->dt_data.dt_text.dt_data;
	if (!end || end <= p || (size_t)(end - p) <= c->lim->max_header_len)
		return 0;
	size_t field_len = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t l = len && p[len - 1] == '\r' ? len - 1 : len;
		if (l && (p[0] == ' ' || p[0] == '\t'))
			field_len += l;
		else
			field_len = l;
		if (field_len > c->lim->max_header_len)
			return fail_limit(c, "header field too long (%zu bytes, limit %zu)", field_len,
					  c->lim->max_header_len);
		p += len + (nl ? 1 : 0);
	}
	return 0;
}

static int walk(struct ctx *c, struct mailmime *mm, size_t depth, enum mode mode)
{
	if (++c->parts > c->lim->max_parts)
		return fail_limit(c, "too many MIME parts (more than %zu)", c->lim->max_parts);
	if (depth > c->lim->max_depth)
		return fail_limit(c, "MIME nesting too deep (more than %zu)", c->lim->max_depth);
	if (depth > 0 && check_part_header(c, mm) < 0)
		return -1;
	switch (mm->mm_type) {
	case MAILMIME_SINGLE:
		return walk_single(c, mm, depth, mode);
	case MAILMIME_MULTIPLE:
		return walk_multiple(c, mm, depth, mode);
	case MAILMIME_MESSAGE:
		/* a forwarded message: its subject is a line of text */
		if (mode == WALK_TEXT && mm->mm_data.mm_message.mm_fields) {
			for (clistiter *it = clist_begin(mm->mm_data.mm_message.mm_fields->fld_list);
			     it; it = clist_next(it)) {
				struct mailimf_field *f = clist_content(it);
				if (f->fld_type != MAILIMF_FIELD_SUBJECT ||
				    !f->fld_data.fld_subject->sbj_value)
					continue;
				const char *v = f->fld_data.fld_subject->sbj_value;
				char *s = header_text(c, v, strlen(v));
				if (!s)
					return fail_nomem(c);
				text_put(&c->text, s, strlen(s));
				text_end_part(&c->text);
				free(s);
				break;
			}
		}
		if (mm->mm_data.mm_message.mm_msg_mime)
			return walk(c, mm->mm_data.mm_message.mm_msg_mime, depth + 1, mode);
		return 0;
	default:
		return 0;
	}
}

/*
 * Parses an embedded message that came encoded (its bytes p[0..n) stay alive
 * while it is walked) as a node at depth.
 */
static int parse_tree(struct ctx *c, const char *p, size_t n, size_t depth, enum mode mode)
{
	struct scan s;
	scan(p, n, c->lim, 0, &c->nest, &s);
	c->ct_lines += s.ct_lines;
	if (scan_refuses(c, &s, n) < 0)
		return -1;
	char *copy = NULL;
	const char *data = p + s.start;
	size_t len = n - s.start;
	if (s.dirty) {
		copy = clean_header(data, s.hdr_end - s.start, len, &len);
		if (!copy)
			return fail_nomem(c);
		data = copy;
	}
	size_t idx = 0;
	struct mailmime *root = NULL;
	int r = mailmime_parse(data, len, &idx, &root), ret = 0;
	if (r == MAILIMF_ERROR_MEMORY)
		ret = fail_nomem(c);
	else if (r == MAILIMF_NO_ERROR && root)
		ret = walk(c, root, depth, mode);
	if (root)
		mailmime_free(root);
	free(copy);
	return ret;
}

/* The charset of the first text part (depth-first), or NULL. */
static const char *first_charset(const struct ctx *c, const struct mailmime *mm, size_t depth)
{
	if (!mm || depth > c->lim->max_depth)
		return NULL;
	if (mm->mm_type == MAILMIME_SINGLE) {
		enum ptype t = ptype_of(mm->mm_content_type);
		if (t != P_PLAIN && t != P_HTML)
			return NULL;
		struct mailmime_single_fields sf;
		mailmime_single_fields_init(&sf, mm->mm_mime_fields, mm->mm_content_type);
		return sf.fld_content_charset;
	}
	if (mm->mm_type == MAILMIME_MULTIPLE && mm->mm_data.mm_multipart.mm_mp_list) {
		for (clistiter *it = clist_begin(mm->mm_data.mm_multipart.mm_mp_list); it;
		     it = clist_next(it)) {
			const char *cs = first_charset(c, clist_content(it), depth + 1);
			if (cs)
				return cs;
		}
	}
	return NULL;
}

/* ---- entry points ------------------------------------------------------------ */

static void ctx_init(struct ctx *c, const struct msg_limits *lim, char *err, size_t errsz)
{
	/* not the 8 KiB nest scratch, which scan() sets up: it runs per message */
	memset(c, 0, offsetof(struct ctx, nest));
	c->lim = lim;
	c->err = err;
	c->errsz = errsz;
	c->text.max = lim->max_text;
	c->text.part_start = 1;
	buf_init(&c->conv, SIZE_MAX);
	buf_init(&c->html, SIZE_MAX);
	if (err && errsz)
		err[0] = '\0';
}

static char *or_empty(char *s)
{
	return s ? s : calloc(1, 1);
}

/* Moves the results into m (text only when with_text) and frees c. */
static int ctx_finish(struct ctx *c, struct msg *m, int ret, int with_text)
{
	memset(m, 0, sizeof *m);
	if (c->from_addr) {
		const char *at = strrchr(c->from_addr, '@');
		m->from_domain = strdup(at && at[1] ? at + 1 : "");
	}
	m->subject = or_empty(c->subject);
	m->from_addr = or_empty(c->from_addr);
	m->from_domain = or_empty(m->from_domain);
	m->message_id = or_empty(c->message_id);
	m->flags = c->flags;
	if (with_text && ret == 0) {
		m->text = or_empty(c->text.s);
		m->text_len = c->text.len;
		m->attachments = c->names;
		m->n_attachments = c->n_names;
		if (c->text.cut || c->html_capped)
			m->flags |= MSG_TRUNCATED;
		if (c->guessed)
			m->flags |= MSG_CHARSET_GUESSED;
		if (c->plain_parts + c->html_parts == 0)
			m->flags |= MSG_NO_TEXT;
		else if (c->html_parts && !c->plain_text)
			m->flags |= MSG_HTML_ONLY;
		if (c->n_names)
			m->flags |= MSG_ATTACHMENT;
	} else {
		free(c->text.s);
		for (size_t i = 0; i < c->n_names; i++)
			free(c->names[i]);
		free(c->names);
		m->text = calloc(1, 1);
	}
	buf_release(&c->conv);
	buf_release(&c->html);
	if (!m->subject || !m->from_addr || !m->from_domain || !m->message_id || !m->text) {
		errf(c->err, c->errsz, "out of memory");
		return -1;
	}
	return ret;
}

int msg_parse_headers(struct msg *m, const char *raw, size_t len, const struct msg_limits *lim,
		      char *err, size_t errsz)
{
	struct msg_limits def;
	if (!lim) {
		msg_limits_default(&def);
		lim = &def;
	}
	struct ctx c;
	ctx_init(&c, lim, err, errsz);
	struct scan s;
	scan(raw, len, lim, 1, &c.nest, &s);
	int ret = 0;
	if (s.long_field != SIZE_MAX && s.long_field < s.hdr_end) {
		parse_header_only(&c, raw, &s, s.long_field);
		ret = fail_limit(&c, "header field too long (%zu bytes, limit %zu)", s.long_field_len,
				 lim->max_header_len);
	} else if (parse_header_only(&c, raw, &s, s.hdr_end) < 0) {
		ret = -1;
	}
	return ctx_finish(&c, m, ret, 0);
}

int msg_parse(struct msg *m, const char *raw, size_t len, const struct msg_limits *lim,
	      char *err, size_t errsz)
{
	struct msg_limits def;
	if (!lim) {
		msg_limits_default(&def);
		lim = &def;
	}
	if (len > lim->max_size) {
		/* decided from its header: fill what it gives, report the size */
		msg_parse_headers(m, raw, len, lim, NULL, 0);
		return errf(err, errsz, "message too large (%zu bytes, limit %zu)", len, lim->max_size);
	}
	struct ctx c;
	ctx_init(&c, lim, err, errsz);
	struct scan s;
	scan(raw, len, lim, 0, &c.nest, &s);
	c.ct_lines = s.ct_lines;
	int ret = 0;
	if (s.long_field != SIZE_MAX && s.long_field < s.hdr_end) {
		parse_header_only(&c, raw, &s, s.long_field);
		ret = fail_limit(&c, "header field too long (%zu bytes, limit %zu)", s.long_field_len,
				 lim->max_header_len);
		return ctx_finish(&c, m, ret, 1);
	}
	if (s.long_line_no) {
		parse_header_only(&c, raw, &s, s.hdr_end);
		ret = fail_limit(&c, "line too long (line %zu: %zu bytes, limit %zu)", s.long_line_no,
				 s.long_line_len, lim->max_line_len);
		return ctx_finish(&c, m, ret, 1);
	}
	if (scan_refuses(&c, &s, len) < 0) {
		parse_header_only(&c, raw, &s, s.hdr_end);
		return ctx_finish(&c, m, -1, 1);
	}

	char *copy = NULL;
	const char *data = raw + s.start;
	size_t dlen = len - s.start;
	if (s.dirty) {
		copy = clean_header(data, s.hdr_end - s.start, dlen, &dlen);
		if (!copy)
			return ctx_finish(&c, m, fail_nomem(&c), 1);
		data = copy;
	}
	size_t idx = 0;
	struct mailmime *root = NULL;
	int r = mailmime_parse(data, dlen, &idx, &root);
	if (r == MAILIMF_ERROR_MEMORY) {
		ret = fail_nomem(&c);
	} else if (r != MAILIMF_NO_ERROR || !root) {
		ret = parse_header_only(&c, raw, &s, s.hdr_end);
	} else if (root->mm_type == MAILMIME_MESSAGE) {
		c.hdr_charset = first_charset(&c, root->mm_data.mm_message.mm_msg_mime, 0);
		if (fill_headers(&c, root->mm_data.mm_message.mm_fields) < 0)
			ret = fail_nomem(&c);
		else if (root->mm_data.mm_message.mm_msg_mime)
			ret = walk(&c, root->mm_data.mm_message.mm_msg_mime, 0, WALK_TEXT);
	}
	if (root)
		mailmime_free(root);
	free(copy);
	return ctx_finish(&c, m, ret, 1);
}

void msg_release(struct msg *m)
{
	free(m->subject);
	free(m->from_addr);
	free(m->from_domain);
	free(m->message_id);
	free(m->text);
	for (size_t i = 0; i < m->n_attachments; i++)
		free(m->attachments[i]);
	free(m->attachments);
	memset(m, 0, sizeof *m);
}
