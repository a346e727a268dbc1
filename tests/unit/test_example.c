/*
 * Unit tests for classifier/example: the reduced training example of a
 * message, parsed again, gives the original's subject, text, sender domain,
 * attachment names and tokenizer flags (personal data redacted), the same
 * features when there was nothing to redact, no header outside the allowed
 * set, and no address, phone number or IBAN anywhere in its bytes.
 *
 * Fixtures: corpus/fr/, tests/data/mime/ and tests/data/fr-dev/ (run from the
 * repository root, as make does).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "classifier/example.h"
#include "classifier/message.h"
#include "classifier/redact.h"
#include "classifier/tokenize.h"
#include "common/buf.h"
#include "common/util.h"

/* The flags that become "h:" features (tokenize.c). */
#define TOK_FLAGS (MSG_HTML_ONLY | MSG_AUTO_REPLY | MSG_BULK | MSG_REPORT | MSG_ATTACHMENT | \
		   MSG_NO_TEXT | MSG_TRUNCATED)

struct fixture {
	struct redactor *r;
	struct tokenizer *t;
};

static int setup(void **state)
{
	static struct fixture f;
	char err[256];
	struct tok_opts o;
	tok_opts_default(&o);
	f.r = redact_new(err, sizeof err);
	f.t = tok_new(&o, err, sizeof err);
	if (!f.r || !f.t)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	redact_free(f->r);
	tok_free(f->t);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

/* The terms of a message, in order, each followed by '\n'. */
static void collect(void *ctx, const char *term, size_t len, const char *surface,
		    size_t surface_len)
{
	struct buf *b = ctx;
	assert_int_equal(buf_append(b, term, len), 0);
	assert_int_equal(buf_appendc(b, '\n'), 0);
}

static char *features(struct tokenizer *t, const struct msg *m)
{
	struct buf b;
	buf_init(&b, SIZE_MAX);
	assert_int_equal(tok_message(t, m, collect, &b), 0);
	char *s = buf_detach(&b, NULL);
	assert_non_null(s);
	return s;
}

static char *redacted(struct redactor *r, const char *s)
{
	size_t n;
	char *p = redact_text(r, s, strlen(s), &n);
	assert_non_null(p);
	return p;
}

/* Whether s holds an e-mail address, phone number or IBAN. */
static int has_personal(struct redactor *r, const char *s)
{
	enum redact_kind k;
	size_t st, en, pos = 0, len = strlen(s);
	while (redact_next(r, s, len, pos, &k, &st, &en, NULL, NULL)) {
		if (k != REDACT_URL)
			return 1;
		pos = en;
	}
	return 0;
}

static int msg_has_personal(struct redactor *r, const struct msg *m)
{
	if (has_personal(r, m->subject) || has_personal(r, m->text))
		return 1;
	for (size_t i = 0; i < m->n_attachments; i++)
		if (has_personal(r, m->attachments[i]))
			return 1;
	return 0;
}

/* has_personal on the bytes of an example, once its own placeholder
   addresses (From: expediteur@..., Message-ID: <...@example.invalid>) are
   taken apart. */
static int has_personal_bytes(struct redactor *r, const char *ex)
{
	char *s = strdup(ex);
	assert_non_null(s);
	static const char *const own[] = { "expediteur@", "@example.invalid>" };
	for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
		char *p = strstr(s, own[i]);
		if (p)
			*strchr(p, '@') = ' ';
	}
	int res = has_personal(r, s);
	free(s);
	return res;
}

static const char *const allowed_headers[] = {
	"From", "Subject", "Message-ID", "MIME-Version", "Auto-Submitted", "Precedence",
	"Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
};

/*
 * Checks that every header line of ex, at the top and in each MIME part, is
 * a field of the allowed set (or of extra, "Name\n" lines), that lines end in
 * CRLF and are at most 998 bytes, and that there is no Date, To or Received.
 */
static void check_headers(const char *ex, size_t len, const char *extra)
{
	int in_header = 1;
	size_t off = 0;
	while (off < len) {
		const char *l = ex + off;
		const char *nl = memchr(l, '\n', len - off);
		assert_non_null(nl);
		assert_true(nl > l && nl[-1] == '\r');
		size_t n = (size_t)(nl - l) - 1;
		assert_true(n <= 998);
		off += n + 2;
		if (in_header) {
			if (n == 0) {
				in_header = 0;
				continue;
			}
			if (l[0] == ' ' || l[0] == '\t')
				continue;
			const char *colon = memchr(l, ':', n);
			assert_non_null(colon);
			size_t nn = (size_t)(colon - l);
			int ok = 0;
			for (size_t i = 0; i < ARRAY_SIZE(allowed_headers) && !ok; i++)
				ok = strlen(allowed_headers[i]) == nn &&
				     strncasecmp(allowed_headers[i], l, nn) == 0;
			for (const char *e = extra; e && *e && !ok; e += strcspn(e, "\n") + 1)
				ok = strcspn(e, "\n") == nn && strncasecmp(e, l, nn) == 0;
			if (!ok)
				fail_msg("header not allowed: %.*s", (int)n, l);
		} else if (n >= 10 && memcmp(l, "--=_triage", 10) == 0 &&
			   !(l[n - 1] == '-' && l[n - 2] == '-')) {
			in_header = 1;
		}
	}
}

struct seen {
	size_t files, same_features, personal;
	unsigned flags;
	size_t names;
};

/*
 * Parses raw, builds its example, parses that and compares. Returns 0, or -1
 * when the original itself cannot be parsed (a limit crossed: not the
 * example's business).
 */
static int roundtrip(struct fixture *f, const char *what, const char *raw, size_t len,
		     struct seen *seen)
{
	char err[256];
	struct msg a, b;
	if (msg_parse(&a, raw, len, NULL, err, sizeof err) < 0) {
		msg_release(&a);
		return -1;
	}
	size_t exlen = 0;
	char *ex = example_build(&a, f->r, "k1.test", NULL, &exlen, err, sizeof err);
	if (!ex)
		fail_msg("%s: example_build: %s", what, err);
	assert_int_equal(strlen(ex), exlen);
	check_headers(ex, exlen, NULL);
	/* nothing of the original header but what was asked for */
	if (a.from_addr[0] && strstr(a.from_addr, "expediteur@") != a.from_addr)
		assert_null(strstr(ex, a.from_addr));
	if (a.message_id[0] && strlen(a.message_id) > 4)
		assert_null(strstr(ex, a.message_id));
	if (msg_parse(&b, ex, exlen, NULL, err, sizeof err) < 0)
		fail_msg("%s: example does not parse: %s", what, err);

	char *subj = redacted(f->r, a.subject), *text = redacted(f->r, a.text);
	if (strcmp(b.subject, subj) != 0)
		fail_msg("%s: subject [%s] != [%s]", what, b.subject, subj);
	if (strcmp(b.text, text) != 0)
		fail_msg("%s: text differs\n--- example\n%s\n--- redacted original\n%s", what,
			 b.text, text);
	if (strcmp(b.from_domain, a.from_domain) != 0)
		fail_msg("%s: domain [%s] != [%s]", what, b.from_domain, a.from_domain);
	if ((b.flags & TOK_FLAGS) != (a.flags & TOK_FLAGS))
		fail_msg("%s: flags %#x != %#x", what, b.flags & TOK_FLAGS, a.flags & TOK_FLAGS);
	assert_false(b.flags & MSG_TRIAGE);
	assert_string_equal(b.message_id, "k1.test@example.invalid");
	assert_int_equal(b.n_attachments, a.n_attachments);
	for (size_t i = 0; i < a.n_attachments; i++) {
		char *name = redacted(f->r, a.attachments[i]);
		if (strcmp(b.attachments[i], name) != 0)
			fail_msg("%s: attachment [%s] != [%s]", what, b.attachments[i], name);
		free(name);
	}
	/* no personal data in the file but the two placeholder addresses */
	assert_false(has_personal_bytes(f->r, ex));

	int personal = msg_has_personal(f->r, &a);
	if (!personal) {
		char *fa = features(f->t, &a), *fb = features(f->t, &b);
		if (strcmp(fa, fb) != 0)
			fail_msg("%s: features differ\n--- original\n%s\n--- example\n%s", what, fa,
				 fb);
		free(fa);
		free(fb);
	}
	if (seen) {
		seen->files++;
		seen->personal += personal != 0;
		seen->same_features += !personal;
		seen->flags |= a.flags;
		seen->names += a.n_attachments;
	}
	free(subj);
	free(text);
	free(ex);
	msg_release(&a);
	msg_release(&b);
	return 0;
}

static unsigned roundtrip_file(struct fixture *f, const char *path, struct seen *seen)
{
	char err[256];
	size_t len;
	char *raw = read_file(path, (size_t)64 << 20, &len, err, sizeof err);
	if (!raw)
		fail_msg("%s", err);
	struct msg m;
	assert_int_equal(msg_parse(&m, raw, len, NULL, err, sizeof err), 0);
	unsigned flags = m.flags;
	msg_release(&m);
	assert_int_equal(roundtrip(f, path, raw, len, seen), 0);
	free(raw);
	return flags;
}

/* Every regular file of dir (not recursive). */
static void roundtrip_dir(struct fixture *f, const char *dir, struct seen *seen)
{
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("%s: cannot open", dir);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strstr(e->d_name, ".eml"))
			continue;
		char path[512], err[256];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t len;
		char *raw = read_file(path, (size_t)64 << 20, &len, err, sizeof err);
		if (!raw)
			fail_msg("%s", err);
		roundtrip(f, path, raw, len, seen);
		free(raw);
	}
	closedir(d);
}

/* ---- tests ---------------------------------------------------------------------- */

/* Named messages of each kind, with the flags they are known to have. */
static void test_known_messages(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *path;
		unsigned flags;
	} cases[] = {
		{ "corpus/fr/Autre/064.eml", MSG_AUTO_REPLY | MSG_BULK },
		{ "corpus/fr/Autre/037.eml", MSG_BULK },
		{ "corpus/fr/Autre/030.eml", MSG_REPORT },
		{ "corpus/fr/Autre/100.eml", MSG_REPORT },
		{ "corpus/fr/Autre/112.eml", MSG_HTML_ONLY },
		{ "corpus/fr/Autre/007.eml", MSG_ATTACHMENT },
		{ "corpus/fr/Evenement/130.eml", MSG_ATTACHMENT },
		{ "corpus/fr/Adhesion/001.eml", 0 },
		{ "corpus/fr/Benevolat/002.eml", 0 },
		{ "corpus/fr/Partenariat/003.eml", 0 },
		{ "corpus/fr/Presse/004.eml", 0 },
		{ "corpus/fr/QuestionGenerale/005.eml", 0 },
		{ "tests/data/mime/html-only.eml", MSG_HTML_ONLY },
		{ "tests/data/mime/report.eml", MSG_REPORT },
		{ "tests/data/mime/rfc2231.eml", MSG_ATTACHMENT },
		{ "tests/data/mime/image-only.eml", MSG_ATTACHMENT },
		{ "tests/data/mime/flags.eml", 0 },
		{ "tests/data/mime/subject-2047.eml", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned flags = roundtrip_file(f, cases[i].path, NULL);
		if ((flags & cases[i].flags) != cases[i].flags)
			fail_msg("%s: flags %#x, expected at least %#x", cases[i].path, flags,
				 cases[i].flags);
	}
}

/* Every message of the corpus and of the fixtures. */
static void test_all_messages(void **state)
{
	struct fixture *f = *state;
	static const char *const dirs[] = {
		"corpus/fr/Adhesion",	       "corpus/fr/Autre",	    "corpus/fr/Benevolat",
		"corpus/fr/Evenement",	       "corpus/fr/Partenariat",	    "corpus/fr/Presse",
		"corpus/fr/QuestionGenerale",  "tests/data/mime",	    "tests/data/fr-dev/Adhesion",
		"tests/data/fr-dev/Autre",     "tests/data/fr-dev/Benevolat",
		"tests/data/fr-dev/Evenement", "tests/data/fr-dev/Partenariat",
		"tests/data/fr-dev/Presse",    "tests/data/fr-dev/QuestionGenerale",
	};
	struct seen seen = { 0 };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		roundtrip_dir(f, dirs[i], &seen);
	print_message("%zu messages, %zu with the same features, %zu with personal data, "
		      "%zu attachment names\n",
		      seen.files, seen.same_features, seen.personal, seen.names);
	assert_true(seen.files > 1000);
	assert_true(seen.same_features > 100);
	assert_true(seen.personal > 100);
	assert_true(seen.names > 20);
	unsigned want = MSG_HTML_ONLY | MSG_AUTO_REPLY | MSG_BULK | MSG_REPORT | MSG_ATTACHMENT |
			MSG_NO_TEXT;
	assert_int_equal(seen.flags & want, want);
}

/* An address, a phone number and an IBAN in the subject, the text and an
   attachment name: none of them reaches the example's bytes. */
static void test_personal_data(void **state)
{
	struct fixture *f = *state;
	const char *raw =
		"From: Jeanne Martin <jeanne.martin@exemple-asso.fr>\r\n"
		"To: contact@association.example\r\n"
		"Cc: Paul <paul.durand@orange.fr>\r\n"
		"Date: Mon, 3 Mar 2025 10:12:00 +0100\r\n"
		"Received: from mx.exemple-asso.fr by mx.association.example\r\n"
		"Message-ID: <secret-1234@exemple-asso.fr>\r\n"
		"Subject: =?UTF-8?Q?Adh=C3=A9sion_=E2=80=93_appelez_le_06_12_34_56_78?=\r\n"
		"X-Mailer: Thunderbird\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
		"\r\n"
		"--b1\r\n"
		"Content-Type: text/plain; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\n"
		"\r\n"
		"Bonjour,\r\n"
		"Je souhaite adhérer. Écrivez-moi à jeanne.martin@exemple-asso.fr\r\n"
		"ou au 06 12 34 56 78. Mon IBAN : FR76 3000 6000 0112 3456 7890 189.\r\n"
		"Voir https://www.helloasso.com/associations/x\r\n"
		"--b1\r\n"
		"Content-Type: application/pdf\r\n"
		"Content-Disposition: attachment;\r\n"
		" filename*=UTF-8''RIB%20FR76%203000%206000%200112%203456%207890%20189%20"
		"jeanne.martin%40exemple-asso.fr%2006%2012%2034%2056%2078.pdf\r\n"
		"\r\n"
		"JVBERi0=\r\n"
		"--b1--\r\n";
	struct seen seen = { 0 };
	assert_int_equal(roundtrip(f, "personal", raw, strlen(raw), &seen), 0);
	assert_int_equal(seen.personal, 1);

	char err[256];
	struct msg m;
	assert_int_equal(msg_parse(&m, raw, strlen(raw), NULL, err, sizeof err), 0);
	size_t len;
	char *ex = example_build(&m, f->r, "abc", NULL, &len, err, sizeof err);
	assert_non_null(ex);
	static const char *const never[] = {
		"jeanne", "martin", "paul", "durand", "contact@", "06 12", "0612", "FR76",
		"3000", "189", "secret", "Thunderbird", "X-Mailer", "To:", "Cc:", "Date:",
		"Received:", "%40", "06%20",
	};
	for (size_t i = 0; i < ARRAY_SIZE(never); i++)
		if (strcasestr(ex, never[i]))
			fail_msg("\"%s\" in the example:\n%s", never[i], ex);
	/* what the classifier reads is there */
	assert_non_null(strstr(ex, "From: expediteur@exemple-asso.fr\r\n"));
	assert_non_null(strstr(ex, "Message-ID: <abc@example.invalid>\r\n"));
	assert_non_null(strstr(ex, "helloasso.com"));

	struct msg b;
	assert_int_equal(msg_parse(&b, ex, len, NULL, err, sizeof err), 0);
	assert_string_equal(b.subject, "Adhésion – appelez le [téléphone]");
	assert_non_null(strstr(b.text, "Écrivez-moi à [adresse]\nou au [téléphone]. "
					"Mon IBAN : [IBAN]."));
	assert_int_equal(b.n_attachments, 1);
	assert_string_equal(b.attachments[0], "RIB [IBAN] [adresse] [téléphone].pdf");
	assert_string_equal(b.from_domain, "exemple-asso.fr");
	assert_string_equal(b.from_addr, "expediteur@exemple-asso.fr");
	msg_release(&b);
	free(ex);
	msg_release(&m);
}

/* Subjects and names that need encoding, HTML-only text with markup
   characters, a long line, a text that holds the boundary prefix, no text at
   all, an attachment without a name. */
static void test_encodings(void **state)
{
	struct fixture *f = *state;
	static const char *const raws[] = {
		/* a long non-ASCII subject, an "=?" in an ASCII name */
		"From: a@b.example\r\n"
		"Subject: =?UTF-8?B?w4lsw6hWRSDDqWzDqHZlIMOpbMOodmUgw6lsw6h2ZSDDqWzDqHZl?=\r\n"
		" =?UTF-8?Q?_=C3=A9l=C3=A8ve_=C3=A9l=C3=A8ve_=C3=A9l=C3=A8ve_=C3=A9l=C3=A8ve_"
		"=C3=A9l=C3=A8ve_=C3=A9l=C3=A8ve_=C3=A9l=C3=A8ve_fin?=\r\n"
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
		"--x\r\nContent-Type: text/plain\r\n\r\nun texte =_triage_mixed\r\n"
		"--x\r\nContent-Type: application/octet-stream\r\n"
		"Content-Disposition: attachment; filename=\"a =?b?= \\\"c\\\".txt\"\r\n\r\nx\r\n"
		"--x\r\nContent-Type: application/octet-stream\r\n"
		"Content-Disposition: attachment\r\n\r\nx\r\n"
		"--x--\r\n",
		/* HTML only with <, > and & in the text */
		"From: a@b.example\r\nSubject: =?x?= plain ASCII\r\n"
		"Content-Type: text/html; charset=UTF-8\r\n\r\n"
		"<html><body><p>a &lt;b&gt; &amp; c</p><pre>  x\n\n  y</pre>"
		"<p>fin &amp;amp;</p></body></html>\r\n",
		/* only an unnamed attachment: no text */
		"From: a@b.example\r\nSubject: rien\r\n"
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
		"--x\r\nContent-Type: image/png\r\nContent-Disposition: attachment\r\n\r\nx\r\n"
		"--x--\r\n",
		/* no text part at all */
		"From: <x@[192.0.2.1]>\r\nSubject: image\r\nContent-Type: image/png\r\n\r\nxx\r\n",
		/* no From, no Subject, a very long line */
		"Content-Type: text/plain; charset=UTF-8\r\n\r\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(raws); i++) {
		char what[32];
		snprintf(what, sizeof what, "encodings %zu", i);
		if (i == ARRAY_SIZE(raws) - 1) {
			struct buf b;
			buf_init(&b, SIZE_MAX);
			assert_int_equal(buf_appends(&b, raws[i]), 0);
			for (int k = 0; k < 500; k++)
				assert_int_equal(buf_appends(&b, "mot été "), 0);
			assert_int_equal(buf_appends(&b, "\r\n"), 0);
			assert_int_equal(roundtrip(f, what, b.data, b.len, NULL), 0);
			buf_release(&b);
		} else {
			assert_int_equal(roundtrip(f, what, raws[i], strlen(raws[i]), NULL), 0);
		}
	}
}

/* A text cut at max_text: the example is cut at the same place again. */
static void test_truncated(void **state)
{
	struct fixture *f = *state;
	struct buf b;
	buf_init(&b, SIZE_MAX);
	assert_int_equal(buf_appends(&b, "From: a@b.example\r\nSubject: long\r\n"
					 "Content-Type: text/plain; charset=UTF-8\r\n\r\n"),
			 0);
	while (b.len < ((size_t)1 << 20) + ((size_t)1 << 17))
		assert_int_equal(buf_appends(&b, "une ligne de texte assez ordinaire, été\r\n"), 0);
	struct msg m;
	char err[256];
	assert_int_equal(msg_parse(&m, b.data, b.len, NULL, err, sizeof err), 0);
	assert_true(m.flags & MSG_TRUNCATED);
	msg_release(&m);
	assert_int_equal(roundtrip(f, "truncated", b.data, b.len, NULL), 0);

	/* redaction makes the text shorter: padded up to the limit */
	buf_reset(&b);
	assert_int_equal(buf_appends(&b, "From: a@b.example\r\nSubject: long\r\n"
					 "Content-Type: text/html; charset=UTF-8\r\n\r\n<p>"),
			 0);
	while (b.len < ((size_t)1 << 20) + ((size_t)1 << 17))
		assert_int_equal(buf_appends(&b, "écrire à quelqu.un@exemple.fr &amp; <br>\r\n"), 0);
	assert_int_equal(roundtrip(f, "truncated html", b.data, b.len, NULL), 0);
	buf_release(&b);
}

static void test_extra_headers_and_errors(void **state)
{
	struct fixture *f = *state;
	const char *raw = "From: x@y.example\r\nSubject: Bonjour\r\n\r\nTexte.\r\n";
	struct msg m;
	char err[256];
	size_t len;
	assert_int_equal(msg_parse(&m, raw, strlen(raw), NULL, err, sizeof err), 0);

	const char *extra = "X-Triage-Category: Adhesion\r\nX-Triage-Note: deux\r\n lignes\r\n";
	char *ex = example_build(&m, f->r, "Key-1_2.3+4=5", extra, &len, err, sizeof err);
	assert_non_null(ex);
	check_headers(ex, len, "X-Triage-Category\nX-Triage-Note\n");
	const char *from = strstr(ex, "From: expediteur@y.example\r\n");
	assert_ptr_equal(from, ex);
	assert_ptr_equal(strstr(ex, extra), ex + strlen("From: expediteur@y.example\r\n"));
	assert_non_null(strstr(ex, "Message-ID: <Key-1_2.3+4=5@example.invalid>\r\n"));
	struct msg b;
	assert_int_equal(msg_parse(&b, ex, len, NULL, err, sizeof err), 0);
	assert_true(b.flags & MSG_TRIAGE);
	assert_string_equal(b.text, "Texte.");
	msg_release(&b);
	free(ex);

	static const char *const bad_keys[] = { "", "a b", "a@b", "<a>", "a\r\nTo: x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_keys); i++) {
		err[0] = '\0';
		assert_null(example_build(&m, f->r, bad_keys[i], NULL, &len, err, sizeof err));
		assert_non_null(strstr(err, "key"));
	}
	assert_null(example_build(&m, f->r, NULL, NULL, &len, err, sizeof err));
	static const char *const bad_extra[] = {
		"X-A: b",	      /* no CRLF */
		"X-A: b\n",	      /* LF only */
		" cont\r\n",	      /* continuation first */
		"no colon\r\n",	      /* not a field */
		"X-A: b\r\n\r\nbody", /* ends the header */
		"X-A: b\rc\r\n",      /* lone CR */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad_extra); i++) {
		err[0] = '\0';
		assert_null(example_build(&m, f->r, "k", bad_extra[i], &len, err, sizeof err));
		assert_non_null(strstr(err, "extra headers"));
	}
	msg_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_messages),
		cmocka_unit_test(test_all_messages),
		cmocka_unit_test(test_personal_data),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_extra_headers_and_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
