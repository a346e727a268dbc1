/*
 * Unit tests for daemon/compose.c: forwards, redirects and subject tags, read
 * back with libetpan's MIME and RFC 2047 parsers and by comparing bytes.
 * Fixtures: tests/data/compose/ (run from the repository root, as make does).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <cmocka.h>

#include <libetpan/mailmime.h>

#include "daemon/compose.c"

#define DATA_DIR "tests/data/compose/"
#define NOW ((time_t)1741000000)   /* Mon, 03 Mar 2025 11:06:40 UTC */

static const char *const to2[] = { "benevoles@amis-vieux-quartier.example",
				   "tresorier@amis-vieux-quartier.example" };
static const struct fwd_env env2 = { "info@amis-vieux-quartier.example", to2, 2, NOW,
				     "amis-vieux-quartier.example" };
static const char *const reasons2[] = { "adh\xc3\xa9sion (corps)", "cotisation (objet)" };

static char *load(const char *name, size_t *len)
{
	char path[256], err[256];
	snprintf(path, sizeof path, DATA_DIR "%s", name);
	char *p = read_file(path, 1 << 20, len, err, sizeof err);
	if (!p)
		fail_msg("%s", err);
	return p;
}

/* The original as it must come out: bare LFs made CRLF (written here again,
 * independently of put_crlf). */
static char *crlf(const char *s, size_t n, size_t *out)
{
	char *r = malloc(2 * n + 1);
	assert_non_null(r);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			r[o++] = '\r';
		r[o++] = s[i];
	}
	*out = o;
	return r;
}

static void assert_no_bare_lf(const char *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			fail_msg("bare LF at offset %zu", i);
}

/* Offset of the empty line that ends the top header. */
static size_t header_end(const char *m, size_t n)
{
	const char *e = memmem(m, n, "\r\n\r\n", 4);
	return e ? (size_t)(e - m) + 2 : n;
}

/* Every line of m[0, end) ends with CRLF and is at most 78 characters. */
static void assert_folded(const char *m, size_t end)
{
	size_t start = 0;
	for (size_t i = 0; i < end; i++) {
		if (m[i] != '\n')
			continue;
		assert_true(i > 0 && m[i - 1] == '\r');
		if (i - 1 - start > 78)
			fail_msg("line of %zu characters: %.*s", i - 1 - start, (int)(i - 1 - start),
				 m + start);
		start = i + 1;
	}
}

/* The unfolded value of the first top-level field called name (malloc'd,
 * leading blanks dropped), or NULL. */
static char *field(const char *m, size_t n, const char *name)
{
	size_t end = header_end(m, n), nl = strlen(name);
	for (size_t off = 0; off < end;) {
		const char *eol = memchr(m + off, '\n', end - off);
		size_t next = eol ? (size_t)(eol - m) + 1 : end;
		if (next - off > nl && strncasecmp(m + off, name, nl) == 0 && m[off + nl] == ':') {
			size_t v = off + nl + 1, ve = next;
			while (ve < end && (m[ve] == ' ' || m[ve] == '\t')) {
				const char *e2 = memchr(m + ve, '\n', end - ve);
				ve = e2 ? (size_t)(e2 - m) + 1 : end;
			}
			char *r = malloc(ve - v + 1);
			assert_non_null(r);
			size_t o = 0;
			for (size_t i = v; i < ve; i++)
				if (m[i] != '\r' && m[i] != '\n')
					r[o++] = m[i];
			r[o] = '\0';
			size_t k = 0;
			while (r[k] == ' ' || r[k] == '\t')
				k++;
			memmove(r, r + k, o - k + 1);
			return r;
		}
		off = next;
	}
	return NULL;
}

/* The field's text as a reader shows it (RFC 2047 decoded, UTF-8). */
static char *decoded_field(const char *m, size_t n, const char *name)
{
	char *v = field(m, n, name);
	assert_non_null(v);
	size_t idx = 0;
	char *d = NULL;
	assert_int_equal(mailmime_encoded_phrase_parse("utf-8", v, strlen(v), &idx, "utf-8", &d),
			 MAILIMF_NO_ERROR);
	free(v);
	return d;
}

static int is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* The MIME structure of a forward, checked with libetpan; returns the note
 * decoded (malloc'd) and the attachment's bytes (pointing into m). */
struct fwd_parts {
	char *note;
	const char *att;
	size_t att_len;
	char *att_subject;   /* the attached message's Subject as written */
	int att_encoding;    /* MAILMIME_MECHANISM_* of the message/rfc822 part */
};

static int part_encoding(const struct mailmime *p)
{
	if (!p->mm_mime_fields)
		return MAILMIME_MECHANISM_7BIT;
	for (clistiter *it = clist_begin(p->mm_mime_fields->fld_list); it; it = clist_next(it)) {
		struct mailmime_field *f = clist_content(it);
		if (f->fld_type == MAILMIME_FIELD_TRANSFER_ENCODING)
			return f->fld_data.fld_encoding->enc_type;
	}
	return MAILMIME_MECHANISM_7BIT;
}

static void parse_forward(const char *m, size_t n, struct fwd_parts *fp)
{
	size_t idx = 0;
	struct mailmime *top = NULL;
	assert_int_equal(mailmime_parse(m, n, &idx, &top), MAILIMF_NO_ERROR);
	assert_int_equal(top->mm_type, MAILMIME_MESSAGE);
	struct mailmime *mp = top->mm_data.mm_message.mm_msg_mime;
	assert_non_null(mp);
	assert_int_equal(mp->mm_type, MAILMIME_MULTIPLE);
	assert_string_equal(mp->mm_content_type->ct_subtype, "mixed");
	clist *parts = mp->mm_data.mm_multipart.mm_mp_list;
	assert_int_equal(clist_count(parts), 2);

	struct mailmime *text = clist_content(clist_begin(parts));
	assert_int_equal(text->mm_type, MAILMIME_SINGLE);
	assert_int_equal(text->mm_content_type->ct_type->tp_type, MAILMIME_TYPE_DISCRETE_TYPE);
	assert_int_equal(text->mm_content_type->ct_type->tp_data.tp_discrete_type->dt_type,
			 MAILMIME_DISCRETE_TYPE_TEXT);
	assert_string_equal(text->mm_content_type->ct_subtype, "plain");
	assert_string_equal(mailmime_content_charset_get(text->mm_content_type), "utf-8");
	assert_int_equal(part_encoding(text), MAILMIME_MECHANISM_QUOTED_PRINTABLE);
	struct mailmime_data *d = text->mm_data.mm_single;
	size_t di = 0, dl = 0;
	char *dec = NULL;
	assert_int_equal(mailmime_part_parse(d->dt_data.dt_text.dt_data, d->dt_data.dt_text.dt_length,
					     &di, d->dt_encoding, &dec, &dl), MAILIMF_NO_ERROR);
	fp->note = strndup(dec, dl);
	mailmime_decoded_part_free(dec);

	struct mailmime *msg = clist_content(clist_next(clist_begin(parts)));
	assert_int_equal(msg->mm_type, MAILMIME_MESSAGE);
	assert_int_equal(msg->mm_content_type->ct_type->tp_type, MAILMIME_TYPE_COMPOSITE_TYPE);
	assert_string_equal(msg->mm_content_type->ct_subtype, "rfc822");
	fp->att_encoding = part_encoding(msg);
	fp->att = msg->mm_body->dt_data.dt_text.dt_data;
	fp->att_len = msg->mm_body->dt_data.dt_text.dt_length;
	fp->att_subject = NULL;
	struct mailimf_fields *flds = msg->mm_data.mm_message.mm_fields;
	for (clistiter *it = flds ? clist_begin(flds->fld_list) : NULL; it; it = clist_next(it)) {
		struct mailimf_field *f = clist_content(it);
		if (f->fld_type == MAILIMF_FIELD_SUBJECT)
			fp->att_subject = strdup(f->fld_data.fld_subject->sbj_value);
	}
	mailmime_free(top);
}

static void fwd_parts_release(struct fwd_parts *fp)
{
	free(fp->note);
	free(fp->att_subject);
}

static char *expected_date(void)
{
	char *s = malloc(64);
	assert_non_null(s);
	struct tm tm;
	gmtime_r(&(time_t){ NOW }, &tm);
	strftime(s, 64, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	return s;
}

/* ---- forward ------------------------------------------------------------- */

static void test_forward_crlf_8bit(void **state)
{
	size_t olen, len;
	char *orig = load("crlf-8bit.eml", &olen);
	struct fwd_note note = { "Adh\xc3\xa9sion", 0.92, NULL, reasons2, 2, "Adh\xc3\xa9sion 2025" };
	char err[256];
	char *out = compose_forward(&env2, &note, orig, olen, &len, err, sizeof err);
	assert_non_null(out);
	assert_no_bare_lf(out, len);
	assert_folded(out, header_end(out, len));

	char *v = field(out, len, "From");
	assert_string_equal(v, "info@amis-vieux-quartier.example");
	free(v);
	v = field(out, len, "To");
	assert_string_equal(v, "benevoles@amis-vieux-quartier.example, "
			       "tresorier@amis-vieux-quartier.example");
	free(v);
	v = decoded_field(out, len, "Subject");
	assert_string_equal(v, "TR: Adh\xc3\xa9sion 2025");
	free(v);
	v = field(out, len, "Subject");
	assert_true(is_ascii(v));
	free(v);
	char *date = expected_date();
	v = field(out, len, "Date");
	assert_string_equal(v, date);
	free(v);
	free(date);
	v = field(out, len, "Message-ID");
	assert_int_equal(strlen(v), strlen("<triage.1741000000.@amis-vieux-quartier.example>") + 16);
	assert_true(strncmp(v, "<triage.1741000000.", 19) == 0);
	assert_true(strspn(v + 19, "0123456789abcdef") == 16);
	assert_string_equal(v + 35, "@amis-vieux-quartier.example>");
	free(v);
	v = field(out, len, "MIME-Version");
	assert_string_equal(v, "1.0");
	free(v);
	v = field(out, len, "Auto-Submitted");
	assert_string_equal(v, "auto-forwarded");
	free(v);
	v = decoded_field(out, len, "X-Triage-Forwarded");
	assert_string_equal(v, "Adh\xc3\xa9sion");
	free(v);
	/* 8-bit bytes inside: the multipart says so (RFC 2045 6.4) */
	v = field(out, len, "Content-Transfer-Encoding");
	assert_string_equal(v, "8bit");
	free(v);

	struct fwd_parts fp;
	parse_forward(out, len, &fp);
	assert_string_equal(fp.note,
		"Message re\xc3\xa7u sur info@amis-vieux-quartier.example et class\xc3\xa9 par "
		"triage dans \xc2\xab\xc2\xa0" "Adh\xc3\xa9sion\xc2\xa0\xc2\xbb (confiance 92\xc2\xa0%).\r\n"
		"Raisons principales\xc2\xa0: adh\xc3\xa9sion (corps), cotisation (objet).\r\n"
		"\r\n"
		"Le message d'origine est joint tel quel.\r\n");
	/* the original, byte for byte: 8-bit text, "From " and "." lines */
	assert_int_equal(fp.att_len, olen);
	assert_memory_equal(fp.att, orig, olen);
	assert_int_equal(fp.att_encoding, MAILMIME_MECHANISM_8BIT);
	assert_string_equal(fp.att_subject, "=?utf-8?q?Adh=C3=A9sion_2025?=");
	fwd_parts_release(&fp);
	free(out);
	free(orig);
}

static void test_forward_lf_original(void **state)
{
	size_t olen, len, elen;
	char *orig = load("lf.eml", &olen);
	assert_null(memchr(orig, '\r', olen));
	struct fwd_note note = { "Evenement", 0.5, NULL, NULL, 0, "Question sur la brocante" };
	char err[256];
	char *out = compose_forward(&env2, &note, orig, olen, &len, err, sizeof err);
	assert_non_null(out);
	assert_no_bare_lf(out, len);
	char *want = crlf(orig, olen, &elen);
	struct fwd_parts fp;
	parse_forward(out, len, &fp);
	assert_int_equal(fp.att_len, elen);
	assert_memory_equal(fp.att, want, elen);
	assert_int_equal(fp.att_encoding, MAILMIME_MECHANISM_7BIT);
	/* no reasons: no line for them */
	assert_null(strstr(fp.note, "Raisons"));
	assert_non_null(strstr(fp.note, "(confiance 50\xc2\xa0%)."));
	fwd_parts_release(&fp);
	char *v = field(out, len, "Content-Transfer-Encoding");
	assert_null(v);  /* all 7-bit: the default */
	v = field(out, len, "Subject");
	assert_string_equal(v, "TR: Question sur la brocante");
	free(v);
	free(want);
	free(out);
	free(orig);
}

static void test_forward_rule(void **state)
{
	size_t olen, len;
	char *orig = load("lf.eml", &olen);
	struct fwd_note note = { "Presse", -1, "journalistes", NULL, 0, "" };
	char err[256];
	char *out = compose_forward(&env2, &note, orig, olen, &len, err, sizeof err);
	assert_non_null(out);
	struct fwd_parts fp;
	parse_forward(out, len, &fp);
	const char *first = "Message re\xc3\xa7u sur info@amis-vieux-quartier.example et "
			    "class\xc3\xa9 par triage dans \xc2\xab\xc2\xa0Presse\xc2\xa0\xc2\xbb "
			    "(r\xc3\xa8gle \xc2\xab\xc2\xa0journalistes\xc2\xa0\xc2\xbb).\r\n";
	assert_true(strncmp(fp.note, first, strlen(first)) == 0);
	assert_null(strstr(fp.note, "confiance"));
	fwd_parts_release(&fp);
	/* no subject: "TR:" alone */
	char *v = field(out, len, "Subject");
	assert_string_equal(v, "TR:");
	free(v);
	free(out);
	free(orig);
}

static void test_forward_long_subject_folded(void **state)
{
	/* 2- and 4-byte characters, spaces, a CR LF that must not start a field */
	struct buf s;
	buf_init(&s, 1 << 16);
	for (int i = 0; i < 20; i++)
		assert_int_equal(buf_appends(&s, "R\xc3\xa9union \xf0\x9f\x98\x80 du quartier "), 0);
	assert_int_equal(buf_appends(&s, "\r\nBcc: evil@example.com"), 0);
	size_t olen, len;
	char *orig = load("lf.eml", &olen);
	struct fwd_note note = { "Evenement", 0.7, NULL, NULL, 0, s.data };
	char err[256];
	char *out = compose_forward(&env2, &note, orig, olen, &len, err, sizeof err);
	assert_non_null(out);
	size_t hend = header_end(out, len);
	assert_folded(out, hend);
	assert_null(memmem(out, hend, "\r\nBcc:", 6));
	char *v = field(out, len, "Subject");
	assert_true(is_ascii(v));
	/* every encoded word at most 75 characters */
	for (char *w = strstr(v, "=?"); w; w = strstr(w + 2, "=?")) {
		char *e = strstr(w + 2, "?=");
		while (e && e[2] && e[2] != ' ')
			e = strstr(e + 2, "?=");
		assert_non_null(e);
		assert_true(e + 2 - w <= 75);
		w = e;
	}
	free(v);
	v = decoded_field(out, len, "Subject");
	/* as the subject was, CR LF as blanks */
	assert_true(strncmp(v, "TR: R\xc3\xa9union \xf0\x9f\x98\x80 du quartier R", 29) == 0);
	assert_non_null(strstr(v, "  Bcc: evil@example.com"));
	free(v);
	free(out);
	/* a subject of 5000 bytes is cut, at a character boundary */
	for (int i = 0; i < 200; i++)
		assert_int_equal(buf_appends(&s, "\xc3\xa9t\xc3\xa9 "), 0);
	note.subject = s.data;
	out = compose_forward(&env2, &note, orig, olen, &len, err, sizeof err);
	assert_non_null(out);
	v = decoded_field(out, len, "Subject");
	assert_true(strlen(v) <= COMPOSE_MAX_VALUE && strlen(v) > COMPOSE_MAX_VALUE - 4);
	assert_true(utf8_valid(v, strlen(v)));
	free(v);
	free(out);
	free(orig);
	buf_release(&s);
}

static void test_forward_bad_input(void **state)
{
	size_t olen, len;
	char *orig = load("lf.eml", &olen);
	struct fwd_note note = { "Presse", 0.9, NULL, NULL, 0, "x" };
	char err[256];
	static const char *const bad_to[] = { "ok@example.org", "evil@example.org\r\nBcc: x@y.org" };
	struct fwd_env env = env2;
	env.to = bad_to;
	assert_null(compose_forward(&env, &note, orig, olen, &len, err, sizeof err));
	assert_non_null(strstr(err, "recipient 2 of 2"));
	assert_null(strstr(err, "evil"));
	assert_null(compose_redirect(&env, orig, olen, &len, err, sizeof err));
	assert_non_null(strstr(err, "recipient 2 of 2"));
	env = env2;
	env.nto = 0;
	assert_null(compose_forward(&env, &note, orig, olen, &len, err, sizeof err));
	env = env2;
	env.from = "not an address";
	assert_null(compose_forward(&env, &note, orig, olen, &len, err, sizeof err));
	assert_non_null(strstr(err, "sender"));
	free(orig);

	char *text = load("not-a-message.eml", &olen);
	assert_null(compose_forward(&env2, &note, text, olen, &len, err, sizeof err));
	assert_non_null(strstr(err, "not a message"));
	assert_null(compose_redirect(&env2, text, olen, &len, err, sizeof err));
	assert_non_null(strstr(err, "not a message"));
	assert_null(compose_tag_subject(text, olen, "[Presse]", "Presse", &len, err, sizeof err));
	assert_non_null(strstr(err, "not a message"));
	assert_null(compose_forward(&env2, &note, "", 0, &len, err, sizeof err));
	assert_null(compose_forward(&env2, &note, " folded: no\r\n", 13, &len, err, sizeof err));
	free(text);
}

static void test_forward_long_lines_binary(void **state)
{
	struct buf m;
	buf_init(&m, 1 << 20);
	assert_int_equal(buf_appends(&m, "From: a@example.org\r\nSubject: x\r\n\r\n"), 0);
	for (int i = 0; i < 998; i++)
		assert_int_equal(buf_appendc(&m, 'a'), 0);
	assert_int_equal(buf_appends(&m, "\r\n"), 0);
	struct fwd_note note = { "Autre", 0.3, NULL, NULL, 0, "x" };
	char err[256];
	size_t len;
	char *out = compose_forward(&env2, &note, m.data, m.len, &len, err, sizeof err);
	assert_non_null(out);
	char *v = field(out, len, "Content-Transfer-Encoding");
	assert_null(v);  /* 998 is allowed in 7bit */
	free(out);
	assert_int_equal(buf_appendc(&m, 'b'), 0);
	for (int i = 0; i < 999; i++)
		assert_int_equal(buf_appendc(&m, 'a'), 0);
	out = compose_forward(&env2, &note, m.data, m.len, &len, err, sizeof err);
	assert_non_null(out);
	v = field(out, len, "Content-Transfer-Encoding");
	assert_string_equal(v, "binary");
	free(v);
	struct fwd_parts fp;
	parse_forward(out, len, &fp);
	assert_int_equal(fp.att_len, m.len);
	assert_memory_equal(fp.att, m.data, m.len);
	fwd_parts_release(&fp);
	free(out);
	buf_release(&m);
}

/* ---- redirect ------------------------------------------------------------ */

static void test_redirect(void **state)
{
	static const char *const files[] = { "crlf-8bit.eml", "lf.eml" };
	for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
		size_t olen, len, elen;
		char *orig = load(files[f], &olen);
		char *want = crlf(orig, olen, &elen);
		char err[256];
		char *out = compose_redirect(&env2, orig, olen, &len, err, sizeof err);
		assert_non_null(out);
		assert_no_bare_lf(out, len);
		/* the original whole at the end, a block of new fields before it */
		assert_true(len > elen);
		assert_memory_equal(out + len - elen, want, elen);
		assert_folded(out, len - elen);
		static const char *const names[] = { "X-Triage-Redirected", "Resent-From",
						     "Resent-To", "Resent-Date",
						     "Resent-Message-ID" };
		size_t off = 0;
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			size_t nl = strlen(names[i]);
			assert_true(strncmp(out + off, names[i], nl) == 0 && out[off + nl] == ':');
			do
				off = (size_t)((char *)memchr(out + off, '\n', len - off) - out) + 1;
			while (out[off] == ' ');
		}
		assert_int_equal(off, len - elen);
		char *v = field(out, len, "Resent-To");
		assert_string_equal(v, "benevoles@amis-vieux-quartier.example, "
				       "tresorier@amis-vieux-quartier.example");
		free(v);
		v = field(out, len, "Resent-From");
		assert_string_equal(v, "info@amis-vieux-quartier.example");
		free(v);
		char *date = expected_date();
		v = field(out, len, "Resent-Date");
		assert_string_equal(v, date);
		free(v);
		free(date);
		free(out);
		free(want);
		free(orig);
	}
}

/* ---- subject tag ---------------------------------------------------------- */

/* Removes the first line (X-Triage-Tagged) and the Subject field, folded
 * lines included, from a CRLF message. */
static char *without_subject(const char *m, size_t n, int drop_first, size_t *out)
{
	char *r = malloc(n + 1);
	assert_non_null(r);
	size_t o = 0, off = 0;
	int in_subject = 0, first = drop_first, in_header = 1;
	while (off < n) {
		const char *eol = memchr(m + off, '\n', n - off);
		size_t next = eol ? (size_t)(eol - m) + 1 : n;
		int drop = 0;
		if (first) {
			drop = 1;
			first = 0;
		} else if (in_header) {
			if (m[off] == ' ' || m[off] == '\t') {
				drop = in_subject;
			} else {
				in_subject = strncasecmp(m + off, "Subject:", 8) == 0;
				drop = in_subject;
			}
			if (next - off <= 2 && m[off] == '\r')
				in_header = 0;
		}
		if (!drop) {
			memcpy(r + o, m + off, next - off);
			o += next - off;
		}
		off = next;
	}
	*out = o;
	return r;
}

static void check_tag(const char *file, const char *tag, const char *want_subject,
		      const char *kept)
{
	size_t olen, len, elen;
	char *orig = load(file, &olen);
	char *want = crlf(orig, olen, &elen);
	char err[256];
	char *out = compose_tag_subject(orig, olen, tag, "Benevolat", &len, err, sizeof err);
	if (!out)
		fail_msg("%s: %s", file, err);
	assert_no_bare_lf(out, len);
	assert_true(strncmp(out, "X-Triage-Tagged: Benevolat\r\n", 28) == 0);
	char *v = decoded_field(out, len, "Subject");
	assert_string_equal(v, want_subject);
	free(v);
	v = field(out, len, "Subject");
	assert_true(is_ascii(v));
	if (kept)   /* the original's encoded words are still there as they were */
		assert_non_null(strstr(v, kept));
	free(v);
	/* the rewritten Subject is folded */
	const char *s = strstr(out, "\r\nSubject:") + 2;
	const char *e = s;
	do
		e = strstr(e, "\r\n") + 2;
	while (*e == ' ' || *e == '\t');
	assert_folded(s, (size_t)(e - s));
	/* everything else byte for byte */
	size_t a, b;
	char *x = without_subject(out, len, 1, &a);
	char *y = without_subject(want, elen, 0, &b);
	assert_int_equal(a, b);
	assert_memory_equal(x, y, a);
	free(x);
	free(y);
	free(out);
	free(want);
	free(orig);
}

static void test_tag_ascii(void **state)
{
	check_tag("lf.eml", "[Brocante]", "[Brocante] Question sur la brocante", NULL);
	size_t olen, len;
	char *orig = load("lf.eml", &olen);
	char err[256];
	char *out = compose_tag_subject(orig, olen, "[Brocante]", "Evenement", &len, err, sizeof err);
	assert_non_null(strstr(out, "\r\nSubject: [Brocante] Question sur la brocante\r\n"));
	free(out);
	free(orig);
}

static void test_tag_encoded_subjects(void **state)
{
	/* UTF-8 encoded word, non-ASCII tag: the space between them must show */
	check_tag("crlf-8bit.eml", "[Adh\xc3\xa9sion]", "[Adh\xc3\xa9sion] Adh\xc3\xa9sion 2025",
		  "=?utf-8?q?Adh=C3=A9sion_2025?=");
	/* ASCII tag before an encoded word */
	check_tag("crlf-8bit.eml", "[Presse]", "[Presse] Adh\xc3\xa9sion 2025",
		  "=?utf-8?q?Adh=C3=A9sion_2025?=");
	/* Latin-1 encoded words over two lines */
	check_tag("latin1-encoded.eml", "[B\xc3\xa9n\xc3\xa9volat]",
		  "[B\xc3\xa9n\xc3\xa9volat] B\xc3\xa9n\xc3\xa9volat pour la f\xc3\xaate d'\xc3\xa9t\xc3\xa9",
		  "=?ISO-8859-1?Q?B=E9n=E9volat_pour_la_f=EAte?=");
}

/* A subject of one line, tagged: the new value as written and as shown. */
static void tag_one(const char *subject, const char *tag, char **raw, char **shown)
{
	char m[512];
	snprintf(m, sizeof m, "From: a@exemple.fr\r\nSubject: %s\r\n\r\nx\r\n", subject);
	size_t len;
	char err[256];
	char *out = compose_tag_subject(m, strlen(m), tag, "A", &len, err, sizeof err);
	assert_non_null(out);
	*raw = field(out, len, "Subject");
	if (shown)
		*shown = decoded_field(out, len, "Subject");
	free(out);
}

static void test_tag_encoded_word_edges(void **state)
{
	static const struct { const char *subject, *tag, *shown; } t[] = {
		/* base64 word */
		{ "=?UTF-8?B?w4l0w6k=?=", "[\xc3\x89t\xc3\xa9]", "[\xc3\x89t\xc3\xa9] \xc3\x89t\xc3\xa9" },
		/* two words in a row after the tag */
		{ "=?utf-8?q?a?= =?utf-8?q?b?=", "[\xc3\x89]", "[\xc3\x89] ab" },
		/* an empty subject */
		{ "", "[\xc3\x89]", "[\xc3\x89]" },
	};
	char *raw, *shown;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		tag_one(t[i].subject, t[i].tag, &raw, &shown);
		assert_string_equal(shown, t[i].shown);
		free(raw);
		free(shown);
	}
	/* Text that looks like an encoded word without being one: the space stays
	 * outside the tag's word (libetpan cannot show these: read the bytes). */
	static const char *const fake[] = { "=? pas un mot", "=?utf-8?x?abc?= x", "=?utf-8?q?abc" };
	for (size_t i = 0; i < ARRAY_SIZE(fake); i++) {
		tag_one(fake[i], "[\xc3\x89]", &raw, NULL);
		size_t rl = strlen(raw), fl = strlen(fake[i]);
		assert_true(rl > fl + 4);
		assert_string_equal(raw + rl - fl, fake[i]);
		assert_memory_equal(raw + rl - fl - 3, "?= ", 3);
		assert_true(raw[rl - fl - 4] != '_');
		free(raw);
	}
}

static void test_tag_raw_8bit_subjects(void **state)
{
	/* raw Latin-1 bytes in the Subject: decoded and written again encoded */
	check_tag("latin1-raw.eml", "[B\xc3\xa9n\xc3\xa9volat]",
		  "[B\xc3\xa9n\xc3\xa9volat] B\xc3\xa9n\xc3\xa9volat pour la f\xc3\xaate d'\xc3\xa9t\xc3\xa9",
		  NULL);
	check_tag("latin1-raw.eml", "[Presse]",
		  "[Presse] B\xc3\xa9n\xc3\xa9volat pour la f\xc3\xaate d'\xc3\xa9t\xc3\xa9", NULL);
	/* raw UTF-8 */
	const char *m = "From: a@exemple.fr\r\nSubject: F\xc3\xaate de l'\xc3\xa9t\xc3\xa9\r\n\r\nx\r\n";
	size_t len;
	char err[256];
	char *out = compose_tag_subject(m, strlen(m), "[F\xc3\xaates]", "Evenement", &len, err,
					sizeof err);
	assert_non_null(out);
	char *v = decoded_field(out, len, "Subject");
	assert_string_equal(v, "[F\xc3\xaates] F\xc3\xaate de l'\xc3\xa9t\xc3\xa9");
	free(v);
	free(out);
}

static void test_tag_no_subject(void **state)
{
	size_t olen, len, elen;
	char *orig = load("no-subject.eml", &olen);
	char *want = crlf(orig, olen, &elen);
	char err[256];
	char *out = compose_tag_subject(orig, olen, "[Autre]", "Autre", &len, err, sizeof err);
	assert_non_null(out);
	const char *head = "X-Triage-Tagged: Autre\r\nSubject: [Autre]\r\n";
	assert_int_equal(len, strlen(head) + elen);
	assert_memory_equal(out, head, strlen(head));
	assert_memory_equal(out + strlen(head), want, elen);
	free(out);
	out = compose_tag_subject(orig, olen, "[\xc3\x80 v\xc3\xa9rifier]", "Autre", &len, err,
				  sizeof err);
	char *v = decoded_field(out, len, "Subject");
	assert_string_equal(v, "[\xc3\x80 v\xc3\xa9rifier]");
	free(v);
	free(out);
	free(want);
	free(orig);
}

static void test_tag_without_separator(void **state)
{
	size_t olen, len;
	char *orig = load("no-separator.eml", &olen);
	char err[256];
	char *out = compose_tag_subject(orig, olen, "[T]", "Autre", &len, err, sizeof err);
	assert_non_null(out);
	const char *want = "X-Triage-Tagged: Autre\r\nFrom: a@exemple.fr\r\n"
			   "Subject: [T] sans ligne vide\r\n"
			   "Ceci est le corps, sans ligne vide avant.\r\n";
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
	free(orig);

	orig = load("header-only.eml", &olen);
	out = compose_tag_subject(orig, olen, "[T]", "Autre", &len, err, sizeof err);
	assert_non_null(out);
	want = "X-Triage-Tagged: Autre\r\nFrom: a@exemple.fr\r\nSubject: [T] rien d'autre\r\n";
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
	free(orig);
}

static void test_tag_already_there_and_folding(void **state)
{
	const char *m = "From: a@exemple.fr\r\nSubject: Re: [Presse] Article\r\n\r\nx\r\n";
	size_t len;
	char err[256];
	char *out = compose_tag_subject(m, strlen(m), "[Presse]", "Presse", &len, err, sizeof err);
	assert_non_null(out);
	const char *head = "X-Triage-Tagged: Presse\r\n";
	assert_int_equal(len, strlen(head) + strlen(m));
	assert_memory_equal(out + strlen(head), m, strlen(m));
	free(out);

	/* a subject line already near 78 columns: the tag goes on a line of its own */
	const char *l = "From: a@exemple.fr\r\nSubject: Une question assez longue sur la "
			"cotisation annuelle 2025 svp\r\n\r\nx\r\n";
	out = compose_tag_subject(l, strlen(l), "[Adh\xc3\xa9sion]", "Adhesion", &len, err, sizeof err);
	assert_non_null(out);
	assert_folded(out, header_end(out, len));
	char *v = decoded_field(out, len, "Subject");
	assert_string_equal(v, "[Adh\xc3\xa9sion] Une question assez longue sur la cotisation "
			       "annuelle 2025 svp");
	free(v);
	free(out);

	/* a trailing blank in the tag is not doubled */
	out = compose_tag_subject(l, strlen(l), "[Q] ", "Autre", &len, err, sizeof err);
	v = field(out, len, "Subject");
	assert_true(strncmp(v, "[Q] Une", 7) == 0);
	free(v);
	free(out);
}

static void test_tag_bad_input(void **state)
{
	const char *m = "From: a@exemple.fr\r\nSubject: x\r\n\r\nx\r\n";
	size_t len;
	char err[256];
	assert_null(compose_tag_subject(m, strlen(m), "", "Autre", &len, err, sizeof err));
	assert_non_null(strstr(err, "invalid tag"));
	assert_null(compose_tag_subject(m, strlen(m), NULL, "Autre", &len, err, sizeof err));
	assert_null(compose_tag_subject(m, strlen(m), "[a]\r\nBcc: b@c", "Autre", &len, err,
					sizeof err));
	assert_null(compose_tag_subject(m, strlen(m), "[\xff]", "Autre", &len, err, sizeof err));
	char big[COMPOSE_MAX_TAG + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_null(compose_tag_subject(m, strlen(m), big, "Autre", &len, err, sizeof err));
	/* a category with a line break stays on its line */
	char *out = compose_tag_subject(m, strlen(m), "[a]", "A\r\nBcc: b@c", &len, err, sizeof err);
	assert_non_null(out);
	assert_true(strncmp(out, "X-Triage-Tagged: A  Bcc: b@c\r\nFrom:", 35) == 0);
	free(out);
}

/* ---- limits ---------------------------------------------------------------- */

static void test_limits(void **state)
{
	char err[256];
	size_t len;
	/* a Subject over its limit */
	struct buf m;
	buf_init(&m, 4 << 20);
	assert_int_equal(buf_appends(&m, "From: a@exemple.fr\r\nSubject:"), 0);
	for (size_t i = 0; i < COMPOSE_MAX_SUBJECT / 8; i++)
		assert_int_equal(buf_appends(&m, " =?a?q?b"), 0);
	assert_int_equal(buf_appends(&m, "c\r\n\r\nx\r\n"), 0);
	assert_null(compose_tag_subject(m.data, m.len, "[a]", "A", &len, err, sizeof err));
	assert_non_null(strstr(err, "Subject too long"));
	/* just under it: tagged, in bounded time */
	buf_reset(&m);
	assert_int_equal(buf_appends(&m, "From: a@exemple.fr\r\nSubject:"), 0);
	for (size_t i = 0; i < COMPOSE_MAX_SUBJECT / 8 - 1; i++)
		assert_int_equal(buf_appends(&m, " =?a?q?\xe9"), 0);
	assert_int_equal(buf_appends(&m, "\r\n\r\nx\r\n"), 0);
	double t0 = now_ms();
	char *out = compose_tag_subject(m.data, m.len, "[a]", "A", &len, err, sizeof err);
	assert_non_null(out);
	assert_true(now_ms() - t0 < 2000);
	assert_folded(out, header_end(out, len));
	free(out);
	/* a header over its limit (tag only: forwards do not read the header) */
	buf_reset(&m);
	assert_int_equal(buf_appends(&m, "From: a@exemple.fr\r\n"), 0);
	while (m.len <= COMPOSE_MAX_HEADER)
		assert_int_equal(buf_appends(&m, "X-Filler: 0123456789012345678901234567890123456789\r\n"), 0);
	assert_int_equal(buf_appends(&m, "Subject: x\r\n\r\nx\r\n"), 0);
	assert_null(compose_tag_subject(m.data, m.len, "[a]", "A", &len, err, sizeof err));
	assert_non_null(strstr(err, "header larger"));
	struct fwd_note note = { "Autre", 0.3, NULL, NULL, 0, "x" };
	out = compose_forward(&env2, &note, m.data, m.len, &len, err, sizeof err);
	assert_non_null(out);
	free(out);
	buf_release(&m);

	/* a message over the limit is refused before a byte of it is read */
	size_t big = (size_t)COMPOSE_MAX_MESSAGE + 1;
	char *p = mmap(NULL, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_null(compose_forward(&env2, &note, p, big, &len, err, sizeof err));
	assert_non_null(strstr(err, "too large"));
	assert_null(compose_redirect(&env2, p, big, &len, err, sizeof err));
	assert_non_null(strstr(err, "too large"));
	assert_null(compose_tag_subject(p, big, "[a]", "A", &len, err, sizeof err));
	assert_non_null(strstr(err, "too large"));
	munmap(p, big);
}

static void test_huge_original(void **state)
{
	/* 12 MB, LF line ends, 8-bit text, dots and "From " at line starts */
	size_t want_len = 12u << 20;
	struct buf m;
	buf_init(&m, want_len + 4096);
	assert_int_equal(buf_appends(&m, "From: a@exemple.fr\nSubject: Photos de la f\xc3\xaate\n\n"), 0);
	size_t lines = 3;
	while (m.len < want_len) {
		assert_int_equal(buf_appends(&m, ".\nFrom here\n\xc3\xa9t\xc3\xa9 "
					     "0123456789012345678901234567890123456789\n"), 0);
		lines += 3;
	}
	size_t elen;
	char *want = crlf(m.data, m.len, &elen);
	assert_int_equal(elen, m.len + lines);
	char err[256];
	size_t len;
	struct fwd_note note = { "Evenement", 0.8, NULL, reasons2, 2, "Photos" };
	double t0 = now_ms();
	char *out = compose_forward(&env2, &note, m.data, m.len, &len, err, sizeof err);
	double ms = now_ms() - t0;
	assert_non_null(out);
	assert_true(len < elen + 4096);
	print_message("forward of %zu bytes: %.0f ms\n", m.len, ms);
	struct fwd_parts fp;
	parse_forward(out, len, &fp);
	assert_int_equal(fp.att_len, elen);
	assert_memory_equal(fp.att, want, elen);
	fwd_parts_release(&fp);
	free(out);

	out = compose_redirect(&env2, m.data, m.len, &len, err, sizeof err);
	assert_non_null(out);
	assert_memory_equal(out + len - elen, want, elen);
	free(out);

	out = compose_tag_subject(m.data, m.len, "[\xc3\x89v\xc3\xa9nement]", "Evenement", &len, err,
				  sizeof err);
	assert_non_null(out);
	char *v = decoded_field(out, len, "Subject");
	assert_string_equal(v, "[\xc3\x89v\xc3\xa9nement] Photos de la f\xc3\xaate");
	free(v);
	size_t hend = header_end(want, elen);
	assert_memory_equal(out + len - (elen - hend), want + hend, elen - hend);
	free(out);
	free(want);
	buf_release(&m);
}

/* ---- encoders ------------------------------------------------------------ */

static void test_encoded_words(void **state)
{
	/* 1-, 2-, 3- and 4-byte characters at every column */
	const char *text = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 _=?";
	for (size_t col0 = 0; col0 < 70; col0++) {
		struct buf s, b;
		buf_init(&s, 1 << 16);
		buf_init(&b, 1 << 16);
		for (int i = 0; i < 10; i++)
			assert_int_equal(buf_appends(&s, text), 0);
		for (size_t i = 0; i < col0; i++)
			assert_int_equal(buf_appendc(&b, 'x'), 0);
		size_t col = col0;
		assert_int_equal(put_encoded(&b, &col, s.data, s.len), 0);
		assert_folded(b.data, b.len);
		/* the column kept is the real one */
		const char *last = b.data;
		for (const char *q; (q = strstr(last, "\r\n")); last = q + 2)
			;
		assert_int_equal(col, strlen(last));
		/* no encoded word over 75 characters */
		for (const char *w = strstr(b.data, "=?UTF-8?Q?"); w; w = strstr(w + 1, "=?UTF-8?Q?"))
			assert_true(strstr(w + 10, "?=") + 2 - w <= 75);
		size_t idx = col0;
		char *d = NULL;
		assert_int_equal(mailmime_encoded_phrase_parse("utf-8", b.data, b.len, &idx, "utf-8", &d),
				 MAILIMF_NO_ERROR);
		assert_string_equal(d, s.data);
		free(d);
		buf_release(&s);
		buf_release(&b);
	}
}

static void test_quoted_printable(void **state)
{
	struct buf s, b;
	buf_init(&s, 1 << 16);
	buf_init(&b, 1 << 16);
	assert_int_equal(buf_appends(&s, "From the start\n.dot\nend with space \n"
				     "= sign and caf\xc3\xa9\n"), 0);
	for (int i = 0; i < 50; i++)
		assert_int_equal(buf_appends(&s, "\xc3\xa9t\xc3\xa9 "), 0);
	assert_int_equal(buf_appends(&s, "\n"), 0);
	assert_int_equal(put_qp(&b, s.data, s.len), 0);
	assert_true(strncmp(b.data, "=46rom the start\r\n=2Edot\r\nend with space=20\r\n", 45) == 0);
	/* RFC 2045 6.7: encoded lines of at most 76 characters */
	size_t start = 0;
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n') {
			assert_true(i - 1 - start <= 76);
			start = i + 1;
		}
	size_t idx = 0, dl;
	char *d = NULL;
	assert_int_equal(mailmime_part_parse(b.data, b.len, &idx, MAILMIME_MECHANISM_QUOTED_PRINTABLE,
					     &d, &dl), MAILIMF_NO_ERROR);
	size_t elen;
	char *want = crlf(s.data, s.len, &elen);
	assert_int_equal(dl, elen);
	assert_memory_equal(d, want, elen);
	mailmime_decoded_part_free(d);
	free(want);
	buf_release(&s);
	buf_release(&b);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forward_crlf_8bit),
		cmocka_unit_test(test_forward_lf_original),
		cmocka_unit_test(test_forward_rule),
		cmocka_unit_test(test_forward_long_subject_folded),
		cmocka_unit_test(test_forward_bad_input),
		cmocka_unit_test(test_forward_long_lines_binary),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_tag_ascii),
		cmocka_unit_test(test_tag_encoded_subjects),
		cmocka_unit_test(test_tag_encoded_word_edges),
		cmocka_unit_test(test_tag_raw_8bit_subjects),
		cmocka_unit_test(test_tag_no_subject),
		cmocka_unit_test(test_tag_without_separator),
		cmocka_unit_test(test_tag_already_there_and_folding),
		cmocka_unit_test(test_tag_bad_input),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_huge_original),
		cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_quoted_printable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
