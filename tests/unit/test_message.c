/*
 * Unit tests for classifier/message (with charset.c and html.c): MIME
 * structure, transfer encodings, charsets, RFC 2047/2231, HTML, header flags,
 * every hard limit, threads, and when $SHARED/data is there, two real corpora.
 * Fixtures: tests/data/mime/ (run from the repository root, as make does).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* included to reach scan(), the check made before libetpan */
#include "classifier/message.c"

#include "classifier/charset.h"
#include "common/buf.h"
#include "common/util.h"

#define MIME_DIR "tests/data/mime/"

static char *load(const char *name, size_t *len)
{
	char path[512], err[256];
	snprintf(path, sizeof path, MIME_DIR "%s", name);
	char *p = read_file(path, (size_t)1 << 20, len, err, sizeof err);
	if (!p)
		fail_msg("%s (run the tests from the repository root)", err);
	return p;
}

/* What every result must be, whatever the input: non-NULL valid UTF-8
   strings, text without NUL or CR and of length text_len. */
static void check_valid(const struct msg *m)
{
	assert_non_null(m->subject);
	assert_non_null(m->from_addr);
	assert_non_null(m->from_domain);
	assert_non_null(m->message_id);
	assert_non_null(m->text);
	assert_int_equal(strlen(m->text), m->text_len);
	assert_true(utf8_valid(m->text, m->text_len));
	assert_null(memchr(m->text, '\r', m->text_len));
	assert_true(utf8_valid(m->subject, strlen(m->subject)));
	assert_true(utf8_valid(m->from_addr, strlen(m->from_addr)));
	assert_true(utf8_valid(m->message_id, strlen(m->message_id)));
	for (size_t i = 0; i < m->n_attachments; i++) {
		assert_non_null(m->attachments[i]);
		assert_true(m->attachments[i][0] != '\0');
		assert_true(utf8_valid(m->attachments[i], strlen(m->attachments[i])));
	}
}

static void parse_file(const char *name, struct msg *m)
{
	size_t len;
	char err[256];
	char *raw = load(name, &len);
	int r = msg_parse(m, raw, len, NULL, err, sizeof err);
	free(raw);
	if (r != 0)
		fail_msg("%s: %s", name, err);
	check_valid(m);
}

static void parse_str(const char *s, struct msg *m)
{
	char err[256];
	if (msg_parse(m, s, strlen(s), NULL, err, sizeof err) != 0)
		fail_msg("%s", err);
	check_valid(m);
}

/* ---- plain text, transfer encodings, charsets -------------------------------- */

static void test_plain_7bit(void **state)
{
	struct msg m;
	parse_file("plain-7bit.eml", &m);
	assert_string_equal(m.subject, "Horaires d'ouverture");
	assert_string_equal(m.from_addr, "jean.moulin@example.org");
	assert_string_equal(m.from_domain, "example.org");
	assert_string_equal(m.message_id, "abc.123@example.org");
	assert_string_equal(m.text, "Bonjour,\n\nQuels sont vos horaires le samedi ?\n\nMerci\nJean");
	assert_int_equal(m.flags, 0);
	assert_int_equal(m.n_attachments, 0);
	msg_release(&m);
}

static void test_utf8_8bit(void **state)
{
	struct msg m;
	parse_file("utf8-8bit.eml", &m);
	assert_string_equal(m.subject, "Adhésion 2025");
	/* the display name is encoded, the address is lowercased */
	assert_string_equal(m.from_addr, "marie.lefevre@orange.fr");
	assert_string_equal(m.text, "Bonjour, je souhaite adhérer à l'association. La cotisation "
				    "est de 20 € ?\nCordialement, Marie");
	assert_int_equal(m.flags & MSG_CHARSET_GUESSED, 0);
	msg_release(&m);
}

static void test_quoted_printable(void **state)
{
	struct msg m;
	parse_file("qp-soft.eml", &m);
	/* soft line break joins "p=\nossible"; =0A= is a hard one */
	assert_string_equal(m.text, "Bonjour,\nJe voudrais m'inscrire à la visite guidée du samedi "
				    "matin, c'est possible ?\n\nMerci d'avance");
	msg_release(&m);
	/* a broken escape at the very end of the buffer (found by the fuzzer:
	   libetpan read past it); the copy has no NUL after it */
	static const char tail[] = "Content-Transfer-Encoding: quoted-printable\n\nabc=C3=A9=4";
	char *raw = malloc(sizeof tail - 1);
	assert_non_null(raw);
	memcpy(raw, tail, sizeof tail - 1);
	char err[64];
	assert_int_equal(msg_parse(&m, raw, sizeof tail - 1, NULL, err, sizeof err), 0);
	check_valid(&m);
	assert_string_equal(m.text, "abcé");
	msg_release(&m);
	free(raw);
}

static void test_base64(void **state)
{
	struct msg m;
	parse_file("base64.eml", &m);
	assert_string_equal(m.subject, "Bénévolat");
	assert_string_equal(m.text, "Bonjour,\nJe peux aider à la permanence du mercredi.\nSophie");
	msg_release(&m);
}

static void test_windows_1252(void **state)
{
	struct msg m;
	parse_file("windows-1252.eml", &m);
	/* 0x80, 0x92 and 0x9C are the euro sign, the apostrophe and oe */
	assert_string_equal(m.text, "Ci-joint 30 € pour l’adhésion de mon cœur.");
	assert_int_equal(m.flags & MSG_CHARSET_GUESSED, 0);
	msg_release(&m);
}

static void test_iso_8859_1(void **state)
{
	struct msg m;
	parse_file("iso-8859-1.eml", &m);
	assert_string_equal(m.subject, "Réunion");
	assert_string_equal(m.text, "Réunion à la Maison du Patrimoine, déjà prévue.");
	msg_release(&m);
}

static void test_charset_missing(void **state)
{
	struct msg m;
	parse_file("charset-missing.eml", &m);
	assert_string_equal(m.text, "Deuxième année, très bien.");
	assert_true(m.flags & MSG_CHARSET_GUESSED);
	msg_release(&m);
}

static void test_charset_unknown(void **state)
{
	struct msg m;
	parse_file("charset-unknown.eml", &m);
	/* x-unknown over valid UTF-8 bytes: kept as UTF-8 */
	assert_string_equal(m.text, "Une fête réussie.");
	assert_true(m.flags & MSG_CHARSET_GUESSED);
	msg_release(&m);
}

static void test_charset_3d(void **state)
{
	struct msg m;
	parse_file("charset-3d.eml", &m);
	assert_string_equal(m.text, "Été à Saint-Aubin.");
	msg_release(&m);
}

static void test_charset_utf8_alias(void **state)
{
	struct msg m;
	parse_file("charset-utf8.eml", &m);
	assert_string_equal(m.text, "Noël au marché.");
	assert_int_equal(m.flags & MSG_CHARSET_GUESSED, 0);
	msg_release(&m);
}

static void test_no_mime_version(void **state)
{
	struct msg m;
	parse_file("no-mime-version.eml", &m);
	/* iso-8859-15 through iconv: 0xA4 is the euro sign there */
	assert_string_equal(m.text, "Prix : 10 €, à régler sur place.");
	msg_release(&m);
}

/* One text/plain part in charset cs holding body; returns its text. */
static char *text_in(const char *cs, const char *body, unsigned *flags)
{
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(buf_printf(&b, "From: a@example.org\nSubject: s\nMIME-Version: 1.0\n"
					"Content-Type: text/plain; charset=%s\n"
					"Content-Transfer-Encoding: 8bit\n\n%s\n",
				    cs, body),
			 0);
	struct msg m;
	parse_str(b.data, &m);
	buf_release(&b);
	char *t = strdup(m.text);
	*flags = m.flags;
	msg_release(&m);
	return t;
}

static void test_charsets_iconv(void **state)
{
	static const struct {
		const char *cs, *bytes, *utf8;
	} cases[] = {
		{ "koi8-r", "\xF0\xD2\xC9\xD7\xC5\xD4", "Привет" },
		{ "ISO-2022-JP", "\x1b$BF|K\\\x1b(B", "日本" },
		{ "gb2312", "\xD6\xD0\xCE\xC4", "中文" },
		{ "big5", "\xA4\xA4\xA4\xE5", "中文" },
		{ "\"Windows-1251\"", "\xCF\xF0\xE8\xE2\xE5\xF2", "Привет" },
		{ "iso-8859-2", "\xB3\xF3\xBF\xEA\xE6", "łóżęć" },
		{ "latin1", "caf\xE9", "café" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned flags;
		char *t = text_in(cases[i].cs, cases[i].bytes, &flags);
		assert_string_equal(t, cases[i].utf8);
		assert_int_equal(flags & MSG_CHARSET_GUESSED, 0);
		free(t);
	}
}

static void test_charsets_degrade(void **state)
{
	unsigned flags;
	/* UTF-8 with a pasted Latin-1 byte: the valid part stays, the byte is cp1252 */
	char *t = text_in("utf-8", "Noël et \xE9t\xE9", &flags);
	assert_string_equal(t, "Noël et été");
	assert_true(flags & MSG_CHARSET_GUESSED);
	free(t);
	/* UTF-8 bytes under a Latin-1 label: the label is wrong */
	t = text_in("iso-8859-1", "Noël", &flags);
	assert_string_equal(t, "Noël");
	assert_true(flags & MSG_CHARSET_GUESSED);
	free(t);
	/* a label iconv does not know: Latin-1 bytes guessed as windows-1252 */
	t = text_in("x-no-such-charset", "f\xEAte \x80", &flags);
	assert_string_equal(t, "fête €");
	assert_true(flags & MSG_CHARSET_GUESSED);
	free(t);
	/* an invalid byte inside a known multibyte charset becomes U+FFFD */
	t = text_in("shift_jis", "ab\x81", &flags);
	assert_string_equal(t, "ab\xEF\xBF\xBD");
	assert_true(flags & MSG_CHARSET_GUESSED);
	free(t);
	/* glibc reads "utf+8" as UTF-8 and lets a code point past U+10FFFF
	   through (found by the fuzzer): the output is checked and repaired */
	t = text_in("utf+8", "a\xF4\xA0\xA0\xA0" "b", &flags);
	assert_string_equal(t, "a\xC3\xB4\xC2\xA0\xC2\xA0\xC2\xA0" "b");
	assert_true(flags & MSG_CHARSET_GUESSED);
	free(t);
	/* "unicode" over plain 8-bit text (spam does it): not UTF-16 */
	t = text_in("unicode", "caf\xE9", &flags);
	assert_string_equal(t, "café");
	free(t);
	/* us-ascii with 8-bit bytes, and the meaningless labels */
	static const char *const odd[] = { "us-ascii", "default", "unknown-8bit", "x-user-defined",
					   "\"\"", "3D", "'utf8'", "UTF-8*fr" };
	for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
		t = text_in(odd[i], "d\xE9j\xE0", &flags);
		assert_string_equal(t, "déjà");
		assert_true(flags & MSG_CHARSET_GUESSED);
		free(t);
	}
	/* NUL bytes never reach the text */
	struct msg m;
	static const char raw[] = "Subject: nul\n\nab\0cd\n";
	char err[128];
	assert_int_equal(msg_parse(&m, raw, sizeof raw - 1, NULL, err, sizeof err), 0);
	check_valid(&m);
	assert_string_equal(m.text, "abcd");
	msg_release(&m);
}

static void test_charset_labels(void **state)
{
	struct buf out;
	buf_init(&out, SIZE_MAX);
	size_t n;
	int guessed = 0;
	/* ASCII and valid UTF-8 are handed back without a copy */
	const char *in = "plain ascii";
	assert_ptr_equal(charset_to_utf8("iso-8859-7", in, strlen(in), SIZE_MAX, &out, &n, &guessed),
			 in);
	assert_int_equal(n, strlen(in));
	assert_int_equal(guessed, 0);
	in = "d\xC3\xA9j\xC3\xA0";
	assert_ptr_equal(charset_to_utf8("UTF-8", in, strlen(in), SIZE_MAX, &out, &n, &guessed), in);
	assert_int_equal(guessed, 0);
	/* ISO-2022-JP is 7-bit: ASCII bytes must still be decoded */
	in = "\x1b$B$\"\x1b(B";
	const char *u = charset_to_utf8("iso-2022-jp", in, strlen(in), SIZE_MAX, &out, &n, &guessed);
	assert_ptr_not_equal(u, in);
	assert_int_equal(n, 3);
	assert_memory_equal(u, "あ", 3);
	/* the conversion stops near the limit */
	char big[4000];
	memset(big, '\xE9', sizeof big);
	u = charset_to_utf8("latin1", big, sizeof big, 100, &out, &n, &guessed);
	assert_true(n >= 100 && n < 200);
	assert_true(utf8_valid(u, n));
	buf_release(&out);
}

/* ---- headers ----------------------------------------------------------------- */

static void test_rfc2047_subjects(void **state)
{
	struct msg m;
	parse_file("subject-2047.eml", &m);
	/* blanks between two encoded words go, folding is undone */
	assert_string_equal(m.subject, "Re: Journées du patrimoine et été€");
	msg_release(&m);

	parse_file("subject-broken.eml", &m);
	assert_true(strncmp(m.subject, "Café", strlen("Café")) == 0);
	assert_true(strlen(m.subject) > strlen("Café fin"));
	assert_string_equal(m.subject + strlen(m.subject) - 4, " fin");
	msg_release(&m);

	static const struct {
		const char *raw, *subject;
	} cases[] = {
		{ "Subject: =?utf-8?b?QWRow6lzaW9u?=\n\nx\n", "Adhésion" },
		{ "Subject: =?UTF-8?Q?a?= b =?UTF-8?Q?c?=\n\nx\n", "a b c" },
		{ "Subject: =?utf-8?q?x?==?utf-8?q?y?=\n\nx\n", "xy" },
		{ "Subject: =?unknown-charset?Q?caf=E9?=\n\nx\n", "café" },
		{ "Subject: =?\n\nx\n", "=?" },
		{ "Subject: Caf\xE9 \xE0 10h\n\nx\n", "Café à 10h" },
		{ "Subject: d\xC3\xA9j\xC3\xA0\n\nx\n", "déjà" },
		/* raw 8-bit header bytes are in the body's charset */
		{ "Subject: \xF0\xD2\xC9\xD7\xC5\xD4!\nContent-Type: text/plain; charset=koi8-r\n\nx\n",
		  "Привет!" },
		{ "Subject: d\xC3\xA9j\xC3\xA0\nContent-Type: text/plain; charset=koi8-r\n\nx\n", "déjà" },
		{ "Subject:   several \t  blanks\n   folded\n\nx\n", "several blanks folded" },
		{ "Subject: tab\x01" "and\x7f" "controls\n\nx\n", "tab and controls" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		parse_str(cases[i].raw, &m);
		assert_string_equal(m.subject, cases[i].subject);
		msg_release(&m);
	}
	/* malformed words: whatever comes out is valid UTF-8 (parse_str checks) */
	static const char *const broken[] = {
		"Subject: =?utf-8?B?!!!?=\n\nx\n", "Subject: =?utf-8?Q?\n\nx\n",
		"Subject: =?utf-8?Q?=C3?= =?utf-8?Q?=FF=FE?=\n\nx\n",
		"Subject: =?iso-2022-jp?B?GyRC?=\n\nx\n", "Subject: \"=?utf-8?q?quoted?=\n\nx\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(broken); i++) {
		parse_str(broken[i], &m);
		msg_release(&m);
	}
}

static void test_from_and_message_id(void **state)
{
	static const struct {
		const char *raw, *addr, *domain, *mid;
	} cases[] = {
		{ "From: \"Doe, John\" <John.Doe@Example.COM>, other@x.org\nMessage-ID: <A@B>\n\nx\n",
		  "john.doe@example.com", "example.com", "A@B" },
		{ "From: gld@cunixb.cc.columbia.edu (Gary L Dare)\n\nx\n",
		  "gld@cunixb.cc.columbia.edu", "cunixb.cc.columbia.edu", "" },
		/* unparsable by libetpan: the address is still found */
		{ "From: Jean <jean@example.org\nMessage-Id: not an id <x@y>>\n\nx\n", "jean@example.org",
		  "example.org", "" },
		/* a local part alone is kept: it says "bounce" */
		{ "From: MAILER-DAEMON\n\nx\n", "mailer-daemon", "", "" },
		{ "From: <>\n\nx\n", "", "", "" },
		{ "Message-ID:   <  spaced@id >\n\nx\n", "", "", "spaced@id" },
		{ "\n\nx\n", "", "", "" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct msg m;
		parse_str(cases[i].raw, &m);
		assert_string_equal(m.from_addr, cases[i].addr);
		assert_string_equal(m.from_domain, cases[i].domain);
		if (*cases[i].mid)
			assert_string_equal(m.message_id, cases[i].mid);
		msg_release(&m);
	}
}

static void test_header_flags(void **state)
{
	struct msg m;
	parse_file("flags.eml", &m);
	assert_int_equal(m.flags, MSG_AUTO_REPLY | MSG_BULK | MSG_TRIAGE);
	msg_release(&m);
	parse_file("not-auto.eml", &m);
	assert_int_equal(m.flags, 0);
	msg_release(&m);
	static const struct {
		const char *raw;
		unsigned flags;
	} cases[] = {
		{ "X-Autoreply: yes\n\nx\n", MSG_AUTO_REPLY },
		{ "X-Autorespond: 1\n\nx\n", MSG_AUTO_REPLY },
		{ "Precedence: auto_reply\n\nx\n", MSG_AUTO_REPLY },
		{ "Auto-Submitted: auto-generated (vacation)\n\nx\n", MSG_AUTO_REPLY },
		{ "Auto-Submitted: No\n\nx\n", 0 },
		{ "Precedence: JUNK\n\nx\n", MSG_BULK },
		{ "Precedence: list\n\nx\n", MSG_BULK },
		{ "List-Unsubscribe: <mailto:u@x.org>\n\nx\n", MSG_BULK },
		{ "x-triage-seen: 1\n\nx\n", MSG_TRIAGE },
		{ "X-Triaged: 1\n\nx\n", 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		parse_str(cases[i].raw, &m);
		assert_int_equal(m.flags, cases[i].flags);
		msg_release(&m);
	}
}

static void test_mbox_line_and_junk_header(void **state)
{
	struct msg m;
	parse_file("mbox-junk.eml", &m);
	/* the "From " line and the line without a colon do not end the header */
	assert_string_equal(m.subject, "En-tete casse");
	assert_string_equal(m.from_addr, "claire@example.org");
	assert_string_equal(m.message_id, "junk@example.org");
	assert_string_equal(m.text, "Le corps du message.");
	msg_release(&m);
	/* a header running into the body without an empty line */
	parse_str("Subject: s\nBonjour, ceci est le corps.\nSuite\n", &m);
	assert_string_equal(m.subject, "s");
	assert_string_equal(m.text, "Bonjour, ceci est le corps.\nSuite");
	msg_release(&m);
}

static void test_crlf_equals_lf(void **state)
{
	struct msg a, b;
	parse_file("crlf.eml", &a);
	parse_file("lf.eml", &b);
	assert_string_equal(a.subject, b.subject);
	assert_string_equal(a.from_addr, b.from_addr);
	assert_string_equal(a.message_id, b.message_id);
	assert_string_equal(a.text, b.text);
	assert_int_equal(a.flags, b.flags);
	assert_string_equal(a.text, "Ligne un, \nligne deux qui est coupée.\n\nLigne quatre.");
	msg_release(&a);
	msg_release(&b);
}

/* ---- structure ---------------------------------------------------------------- */

static void test_alternative_prefers_plain(void **state)
{
	struct msg m;
	parse_file("alternative.eml", &m);
	assert_string_equal(m.text, "Version texte : rendez-vous à 14h.");
	assert_int_equal(m.flags & (MSG_HTML_ONLY | MSG_NO_TEXT), 0);
	msg_release(&m);
}

static void test_blank_plain_falls_back_to_html(void **state)
{
	struct msg m;
	parse_file("blank-plain.eml", &m);
	assert_string_equal(m.text, "Le vrai texte est ici.");
	assert_true(m.flags & MSG_HTML_ONLY);
	msg_release(&m);
}

static void test_html_only(void **state)
{
	struct msg m;
	parse_file("html-only.eml", &m);
	assert_string_equal(m.text, "Journées du patrimoine\n\n"
				    "Visite guidée de la chapelle Saint-Roch & du lavoir.\n"
				    "Samedi à 10h.\n\n"
				    "Premier point\nSecond point\n\n"
				    "Case 1 Case 2\nCase 3\n\n"
				    "Fin…");
	assert_null(strstr(m.text, "caché"));
	assert_null(strstr(m.text, "color"));
	assert_null(strstr(m.text, "Titre"));
	assert_true(m.flags & MSG_HTML_ONLY);
	msg_release(&m);
	/* line breaks: at most one blank line; <pre> keeps its blanks */
	parse_str("Content-Type: text/html\n\n<p>a<br><br><br><br>b</p>"
		  "<pre>x  y\n\n\n\nz</pre><div>c</div>\n",
		  &m);
	assert_string_equal(m.text, "a\n\nb\n\nx  y\n\nz\n\nc");
	msg_release(&m);
}

static void test_html_is_silent(void **state)
{
	static const char raw[] =
		"Content-Type: text/html; charset=utf-8\n\n"
		"<html><body><p>Texte <b>gras</i> &bogus; <unknowntag x=>fin</p></table>"
		"<div><span></div></html></html><?pi x?><![CDATA[cd]]><!DOCTYPE bad>\n";
	fflush(stderr);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	struct msg m;
	char err[128];
	int r = msg_parse(&m, raw, sizeof raw - 1, NULL, err, sizeof err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(r, 0);
	check_valid(&m);
	assert_non_null(strstr(m.text, "gras"));
	assert_non_null(strstr(m.text, "fin"));
	msg_release(&m);
	assert_int_equal(fseek(tmp, 0, SEEK_END), 0);
	assert_int_equal(ftell(tmp), 0);
	fclose(tmp);
}

static void test_nested_mixed_in_alternative(void **state)
{
	struct msg m;
	parse_file("nested.eml", &m);
	assert_string_equal(m.text, "Premier morceau.\n\nSecond morceau.");
	assert_int_equal(m.n_attachments, 1);
	assert_string_equal(m.attachments[0], "logo.png");
	assert_true(m.flags & MSG_ATTACHMENT);
	msg_release(&m);
}

static void test_rfc2231_and_2047_names(void **state)
{
	struct msg m;
	parse_file("rfc2231.eml", &m);
	assert_string_equal(m.text, "Voici les documents.");
	/* the fourth attachment has no name: flagged, not listed */
	assert_int_equal(m.n_attachments, 3);
	assert_string_equal(m.attachments[0], "été.pdf");
	assert_string_equal(m.attachments[1], "Procès-verbal du bureau.docx");
	assert_string_equal(m.attachments[2], "Lavoir rénové.jpg");
	assert_true(m.flags & MSG_ATTACHMENT);
	assert_null(strstr(m.text, "JVBER"));
	msg_release(&m);
}

static void test_image_only(void **state)
{
	struct msg m;
	parse_file("image-only.eml", &m);
	assert_string_equal(m.text, "");
	assert_int_equal(m.flags & (MSG_NO_TEXT | MSG_ATTACHMENT), MSG_NO_TEXT | MSG_ATTACHMENT);
	assert_int_equal(m.n_attachments, 1);
	assert_string_equal(m.attachments[0], "photo.jpg");
	msg_release(&m);
}

static void test_text_subtypes(void **state)
{
	struct msg m;
	/* an unknown text subtype is text/plain (RFC 2046) */
	parse_str("Content-Type: text/x-usenet-FAQ; version=1.0\n\nArchive-name: faq\n", &m);
	assert_string_equal(m.text, "Archive-name: faq");
	assert_int_equal(m.flags & MSG_NO_TEXT, 0);
	msg_release(&m);
	/* an invitation is data, not prose */
	parse_str("Content-Type: multipart/mixed; boundary=c\n\n--c\n\nVenez !\n--c\n"
		  "Content-Type: text/calendar; method=REQUEST\n\nBEGIN:VCALENDAR\n--c--\n",
		  &m);
	assert_string_equal(m.text, "Venez !");
	msg_release(&m);
}

static void test_forwarded_message(void **state)
{
	struct msg m;
	parse_file("rfc822.eml", &m);
	assert_string_equal(m.subject, "TR: Demande");
	assert_string_equal(m.from_addr, "marie.lefevre@orange.fr");
	assert_string_equal(m.text, "Je vous transfère ce message.\n\n"
				    "Demande d'interview\n\n"
				    "Je suis journaliste au Courrier de la Loire et je souhaite vous "
				    "interviewer sur la tour de l'Horloge.");
	assert_int_equal(m.n_attachments, 0);
	msg_release(&m);

	/* the same forwarded message in base64, which libetpan does not open */
	static const char fw[] = "Content-Type: multipart/mixed; boundary=z\n\n"
				 "--z\nContent-Type: message/rfc822\n"
				 "Content-Transfer-Encoding: base64\n\n"
				 "U3ViamVjdDogSW5zaWRlCgpIaWRkZW4gdGV4dC4K\n"
				 "--z--\n";
	parse_str(fw, &m);
	assert_string_equal(m.text, "Inside\n\nHidden text.");
	msg_release(&m);
}

static void test_delivery_report(void **state)
{
	struct msg m;
	parse_file("report.eml", &m);
	assert_string_equal(m.text, "This is the mail system at host mx.example.org.\n"
				    "I'm sorry to have to inform you that your message could not be "
				    "delivered.");
	assert_int_equal(m.flags & (MSG_REPORT | MSG_AUTO_REPLY), MSG_REPORT | MSG_AUTO_REPLY);
	assert_string_equal(m.from_addr, "mailer-daemon@mx.example.org");
	msg_release(&m);
}

static void test_signed(void **state)
{
	struct msg m;
	parse_file("signed.eml", &m);
	assert_string_equal(m.text, "Message signé.");
	assert_int_equal(m.n_attachments, 0);
	msg_release(&m);
}

static void test_open_last_delimiter(void **state)
{
	struct msg m;
	parse_file("open-delimiter.eml", &m);
	assert_string_equal(m.text, "Le texte ne doit pas se perdre.");
	assert_int_equal(m.n_attachments, 1);
	assert_string_equal(m.attachments[0], "liste.lst");
	msg_release(&m);
}

static void test_no_body(void **state)
{
	struct msg m;
	parse_file("no-body.eml", &m);
	assert_string_equal(m.subject, "Sans corps");
	assert_string_equal(m.message_id, "nobody@example.com");
	assert_string_equal(m.text, "");
	assert_int_equal(m.text_len, 0);
	msg_release(&m);
	char err[64];
	assert_int_equal(msg_parse(&m, "", 0, NULL, err, sizeof err), 0);
	check_valid(&m);
	assert_string_equal(m.subject, "");
	msg_release(&m);
}

/* Deterministic noise (xorshift), mixed with pieces of MIME syntax. */
static void test_not_a_message(void **state)
{
	static const char *const bits[] = {
		"\n", "\r\n", "--b\n", "--b--\n", "Content-Type: multipart/mixed; boundary=b\n",
		"Content-Type: message/rfc822\n", "Content-Transfer-Encoding: base64\n",
		"Content-Type: text/html\n\n<p>", "=?utf-8?q?", "?=", "=\n", "\n\n", ": ", "\t",
		"filename*0*=utf-8''%", "\xE9", "\xC3", "\0",
	};
	uint64_t x = 88172645463325252ULL;
	struct msg_limits lim;
	msg_limits_default(&lim);
	lim.max_size = 1 << 16;
	lim.max_line_len = 1 << 12;
	for (int round = 0; round < 300; round++) {
		size_t len = (size_t)(round * 37) % 5000;
		char *raw = malloc(len + 64);
		assert_non_null(raw);
		size_t n = 0;
		while (n < len) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if (round % 2 && x % 4 == 0) {
				const char *b = bits[(x >> 8) % ARRAY_SIZE(bits)];
				size_t bl = b[0] ? strlen(b) : 1;
				memcpy(raw + n, b, bl);
				n += bl;
			} else {
				raw[n++] = (char)(x >> 24);
			}
		}
		struct msg m;
		char err[256];
		int r = msg_parse(&m, raw, n, &lim, err, sizeof err);
		check_valid(&m);
		if (r != 0)
			assert_true(strstr(err, "too long") || strstr(err, "too many") ||
				    strstr(err, "too deep") || strstr(err, "too large"));
		msg_release(&m);
		r = msg_parse_headers(&m, raw, n, &lim, err, sizeof err);
		check_valid(&m);
		assert_string_equal(m.text, "");
		msg_release(&m);
		free(raw);
	}
}

/* ---- limits ----------------------------------------------------------------- */

static void test_limit_size(void **state)
{
	static const char raw[] = "From: a@example.org\nSubject: Taille\n\nCorps.\n";
	size_t len = sizeof raw - 1;
	struct msg_limits lim;
	msg_limits_default(&lim);
	struct msg m;
	char err[256], want[256];
	lim.max_size = len;
	assert_int_equal(msg_parse(&m, raw, len, &lim, err, sizeof err), 0);
	assert_string_equal(m.text, "Corps.");
	msg_release(&m);
	lim.max_size = len - 1;
	assert_int_equal(msg_parse(&m, raw, len, &lim, err, sizeof err), -1);
	snprintf(want, sizeof want, "message too large (%zu bytes, limit %zu)", len, len - 1);
	assert_string_equal(err, want);
	check_valid(&m);
	/* decided from its headers */
	assert_string_equal(m.subject, "Taille");
	assert_string_equal(m.from_addr, "a@example.org");
	assert_string_equal(m.text, "");
	msg_release(&m);
}

static void test_limit_header_field(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	/* "Subject: " + 60 x, folded, then " " + 39 y: 109 bytes unfolded */
	char xs[61], ys[40];
	memset(xs, 'x', 60);
	xs[60] = '\0';
	memset(ys, 'y', 39);
	ys[39] = '\0';
	assert_int_equal(buf_printf(&b, "From: a@example.org\nSubject: %s\n %s\nX-After: 1\n\nBody\n",
				    xs, ys),
			 0);
	size_t field = 9 + 60 + 40;
	struct msg_limits lim;
	msg_limits_default(&lim);
	struct msg m;
	char err[256], want[256];
	lim.max_header_len = field;
	assert_int_equal(msg_parse(&m, b.data, b.len, &lim, err, sizeof err), 0);
	assert_int_equal(strlen(m.subject), 60 + 1 + 39);
	msg_release(&m);
	assert_int_equal(msg_parse_headers(&m, b.data, b.len, &lim, err, sizeof err), 0);
	msg_release(&m);

	lim.max_header_len = field - 1;
	snprintf(want, sizeof want, "header field too long (%zu bytes, limit %zu)", field, field - 1);
	assert_int_equal(msg_parse(&m, b.data, b.len, &lim, err, sizeof err), -1);
	assert_string_equal(err, want);
	check_valid(&m);
	assert_string_equal(m.from_addr, "a@example.org"); /* read before it */
	assert_string_equal(m.subject, "");
	msg_release(&m);
	assert_int_equal(msg_parse_headers(&m, b.data, b.len, &lim, err, sizeof err), -1);
	assert_string_equal(err, want);
	check_valid(&m);
	assert_string_equal(m.from_addr, "a@example.org");
	msg_release(&m);
	buf_release(&b);

	/* a part's header field */
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_printf(&b, "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
					"Content-Type: text/plain; name=\"%0200d\"\n\nPart\n--b--\n",
				    0),
			 0);
	size_t pfield = strlen("Content-Type: text/plain; name=\"\"") + 200;
	lim.max_header_len = pfield;
	assert_int_equal(msg_parse(&m, b.data, b.len, &lim, err, sizeof err), 0);
	msg_release(&m);
	lim.max_header_len = pfield - 1;
	assert_int_equal(msg_parse(&m, b.data, b.len, &lim, err, sizeof err), -1);
	snprintf(want, sizeof want, "header field too long (%zu bytes, limit %zu)", pfield,
		 pfield - 1);
	assert_string_equal(err, want);
	msg_release(&m);
	buf_release(&b);
}

static void test_limit_line(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_appends(&b, "Subject: Ligne\n\nshort\n"), 0);
	for (int i = 0; i < 300; i++)
		assert_int_equal(buf_appendc(&b, 'y'), 0);
	assert_int_equal(buf_appends(&b, "\r\nend\n"), 0);
	struct msg_limits lim;
	msg_limits_default(&lim);
	struct msg m;
	char err[256];
	lim.max_line_len = 300;
	assert_int_equal(msg_parse(&m, b.data, b.len, &lim, err, sizeof err), 0);
	assert_int_equal(m.text_len, strlen("short\n") + 300 + strlen("\nend"));
	msg_release(&m);
	lim.max_line_len = 299;
	assert_int_equal(msg_parse(&m, b.data, b.len, &lim, err, sizeof err), -1);
	assert_string_equal(err, "line too long (line 4: 300 bytes, limit 299)");
	check_valid(&m);
	assert_string_equal(m.subject, "Ligne");
	msg_release(&m);
	buf_release(&b);
}

/* A multipart/mixed of k text parts, with or without their own Content-Type. */
static char *mixed(int k, int typed)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_appends(&b, "Subject: Parts\nContent-Type: multipart/mixed; boundary=p\n\n"), 0);
	for (int i = 0; i < k; i++)
		assert_int_equal(buf_printf(&b, "--p\n%s\nPart %d\n",
					    typed ? "Content-Type: text/plain\n" : "", i),
				 0);
	assert_int_equal(buf_appends(&b, "--p--\n"), 0);
	return buf_detach(&b, NULL);
}

static void test_limit_parts(void **state)
{
	struct msg_limits lim;
	msg_limits_default(&lim);
	struct msg m;
	char err[256];
	/* typed parts are caught by the scan before libetpan, untyped ones by the walk */
	for (int typed = 0; typed < 2; typed++) {
		char *raw = mixed(9, typed);
		lim.max_parts = 10; /* the multipart and its 9 parts */
		assert_int_equal(msg_parse(&m, raw, strlen(raw), &lim, err, sizeof err), 0);
		assert_non_null(strstr(m.text, "Part 8"));
		msg_release(&m);
		lim.max_parts = 9;
		assert_int_equal(msg_parse(&m, raw, strlen(raw), &lim, err, sizeof err), -1);
		assert_string_equal(err, "too many MIME parts (more than 9)");
		check_valid(&m);
		assert_string_equal(m.subject, "Parts");
		assert_string_equal(m.text, "");
		msg_release(&m);
		free(raw);
	}
}

/* d multiparts nested in one another around a text part (at depth d). */
static char *nested(int d)
{
	struct buf b;
	buf_init(&b, 1 << 24);
	assert_int_equal(buf_appends(&b, "Subject: Deep\n"), 0);
	for (int i = 0; i < d; i++)
		assert_int_equal(buf_printf(&b, "Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\n", i, i), 0);
	assert_int_equal(buf_appends(&b, "Content-Type: text/plain\n\nDeep text\n"), 0);
	for (int i = d - 1; i >= 0; i--)
		assert_int_equal(buf_printf(&b, "--n%d--\n", i), 0);
	return buf_detach(&b, NULL);
}

static void test_limit_depth(void **state)
{
	struct msg_limits lim;
	msg_limits_default(&lim);
	struct msg m;
	char err[256];
	char *raw = nested(6);
	lim.max_depth = 6;
	assert_int_equal(msg_parse(&m, raw, strlen(raw), &lim, err, sizeof err), 0);
	assert_string_equal(m.text, "Deep text");
	msg_release(&m);
	lim.max_depth = 5;
	assert_int_equal(msg_parse(&m, raw, strlen(raw), &lim, err, sizeof err), -1);
	assert_string_equal(err, "MIME nesting too deep (more than 5)");
	check_valid(&m);
	assert_string_equal(m.subject, "Deep");
	msg_release(&m);
	free(raw);

	/* a hostile nesting never reaches libetpan's recursive parser */
	raw = nested(20000);
	assert_int_equal(msg_parse(&m, raw, strlen(raw), NULL, err, sizeof err), -1);
	assert_string_equal(err, "too many MIME parts (more than 500)");
	msg_release(&m);
	free(raw);
}

static size_t nesting_of(const char *raw)
{
	struct msg_limits lim;
	msg_limits_default(&lim);
	struct nest ns;
	struct scan s;
	scan(raw, strlen(raw), &lim, 0, &ns, &s);
	return s.nesting;
}

static void test_scan_nesting(void **state)
{
	char *raw = nested(6);
	assert_int_equal(nesting_of(raw), 6);
	free(raw);
	/* siblings closed, left open (the parent's delimiter ends them), quoted */
	assert_int_equal(nesting_of("Content-Type: multipart/mixed; boundary=\"m\"\n\n"
				    "--m\nContent-Type: multipart/alternative;\n boundary=a1\n\n"
				    "--a1\n\nx\n--a1--\n"
				    "--m\nContent-Type: multipart/alternative; boundary = a2\n\n"
				    "--a2\n\nx\n"
				    "--m  \nContent-Type: multipart/related; boundary=a3\n\n--a3\n\nx\n"
				    "--m--\n"),
			 2);
	/* a boundary that is not a multipart's, a delimiter with junk after it */
	assert_int_equal(nesting_of("Content-Type: multipart/mixed; boundary=m\n\n"
				    "--m\nContent-Type: text/plain; boundary=t\n\nx\n"
				    "--m\nContent-Type: multipart/mixed; boundary=n\n\n--mjunk\n"
				    "--m\nContent-Type: multipart/mixed; boundary=o\n\nx\n--m--\n"),
			 2);

	/* 499 levels around 3 MB: refused before libetpan (which would scan
	   every level over the rest of the message), whatever the walk says */
	struct buf b;
	buf_init(&b, (size_t)8 << 20);
	assert_int_equal(buf_appends(&b, "Subject: Deep\n"), 0);
	for (int i = 0; i < 499; i++)
		assert_int_equal(buf_printf(&b, "Content-Type: multipart/mixed; boundary=n%d\n\n--n%d\n", i, i), 0);
	assert_int_equal(buf_appends(&b, "Content-Type: text/plain\n\n"), 0);
	while (b.len < ((size_t)3 << 20))
		assert_int_equal(buf_appends(&b, "padding padding padding padding padding padding\n"), 0);
	assert_int_equal(nesting_of(b.data), 499);
	struct msg m;
	char err[256];
	assert_int_equal(msg_parse(&m, b.data, b.len, NULL, err, sizeof err), -1);
	assert_string_equal(err, "MIME nesting too deep (more than 20)");
	check_valid(&m);
	assert_string_equal(m.subject, "Deep");
	msg_release(&m);
	buf_release(&b);
}

static void test_limit_text(void **state)
{
	static const char raw[] = "Content-Type: text/plain; charset=utf-8\n\néééééééééé\n";
	struct msg_limits lim;
	msg_limits_default(&lim);
	struct msg m;
	char err[64];
	lim.max_text = 20; /* ten two-byte characters */
	assert_int_equal(msg_parse(&m, raw, sizeof raw - 1, &lim, err, sizeof err), 0);
	assert_string_equal(m.text, "éééééééééé");
	assert_int_equal(m.flags & MSG_TRUNCATED, 0);
	msg_release(&m);
	lim.max_text = 19; /* not an error: cut on a character boundary */
	assert_int_equal(msg_parse(&m, raw, sizeof raw - 1, &lim, err, sizeof err), 0);
	check_valid(&m);
	assert_string_equal(m.text, "ééééééééé");
	assert_true(m.flags & MSG_TRUNCATED);
	msg_release(&m);
	/* an HTML part is cut too */
	static const char html[] = "Content-Type: text/html\n\n<p>abcdefghij</p><p>klmnop</p>\n";
	lim.max_text = 5;
	assert_int_equal(msg_parse(&m, html, sizeof html - 1, &lim, err, sizeof err), 0);
	assert_string_equal(m.text, "abcde");
	assert_true(m.flags & MSG_TRUNCATED);
	msg_release(&m);
	/* a big HTML part is not read whole: only what can give the text kept */
	struct buf b;
	buf_init(&b, (size_t)1 << 22);
	assert_int_equal(buf_appends(&b, "Content-Type: text/html\n\n"), 0);
	while (b.len < ((size_t)1 << 21))
		assert_int_equal(buf_appends(&b, "<p style=\"margin:0\">Bonjour &eacute;t&eacute;</p>\n"), 0);
	lim.max_text = 1000;
	assert_int_equal(msg_parse(&m, b.data, b.len, &lim, err, sizeof err), 0);
	check_valid(&m);
	assert_true(m.text_len > 900 && m.text_len <= 1000);
	assert_true(strncmp(m.text, "Bonjour été\n\nBonjour été", strlen("Bonjour été\n\nBonjour été")) == 0);
	assert_true(m.flags & MSG_TRUNCATED);
	msg_release(&m);
	buf_release(&b);
}

static void test_parse_headers_only(void **state)
{
	size_t len;
	char *raw = load("utf8-8bit.eml", &len);
	struct msg m;
	char err[64];
	assert_int_equal(msg_parse_headers(&m, raw, len, NULL, err, sizeof err), 0);
	check_valid(&m);
	assert_string_equal(m.subject, "Adhésion 2025");
	assert_string_equal(m.from_addr, "marie.lefevre@orange.fr");
	assert_string_equal(m.message_id, "20250304101200.1234@orange.fr");
	assert_string_equal(m.text, "");
	msg_release(&m);
	free(raw);
	raw = load("flags.eml", &len);
	assert_int_equal(msg_parse_headers(&m, raw, len, NULL, err, sizeof err), 0);
	assert_int_equal(m.flags, MSG_AUTO_REPLY | MSG_BULK | MSG_TRIAGE);
	msg_release(&m);
	free(raw);
	/* release is safe on a zeroed struct and twice */
	memset(&m, 0, sizeof m);
	msg_release(&m);
	msg_release(&m);
}

/* ---- threads ---------------------------------------------------------------- */

static const char *const fixtures[] = {
	"alternative.eml", "html-only.eml", "rfc2231.eml", "windows-1252.eml", "no-mime-version.eml",
	"rfc822.eml",      "report.eml",    "qp-soft.eml", "subject-2047.eml", "charset-missing.eml",
};

struct job {
	char *raw[ARRAY_SIZE(fixtures)];
	size_t len[ARRAY_SIZE(fixtures)];
	char *want[ARRAY_SIZE(fixtures)];
	int start, bad;
};

static void *parse_many(void *arg)
{
	struct job *j = arg;
	for (int round = 0; round < 40; round++) {
		for (size_t k = 0; k < ARRAY_SIZE(fixtures); k++) {
			size_t i = (k + (size_t)j->start) % ARRAY_SIZE(fixtures);
			struct msg m;
			char err[64];
			if (msg_parse(&m, j->raw[i], j->len[i], NULL, err, sizeof err) != 0 ||
			    strcmp(m.text, j->want[i]) != 0)
				j->bad++;
			msg_release(&m);
		}
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct job a, b;
	memset(&a, 0, sizeof a);
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		struct msg m;
		a.raw[i] = load(fixtures[i], &a.len[i]);
		parse_file(fixtures[i], &m);
		a.want[i] = strdup(m.text);
		msg_release(&m);
	}
	b = a;
	b.start = 5;
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, parse_many, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, parse_many, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.bad, 0);
	assert_int_equal(b.bad, 0);
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		free(a.raw[i]);
		free(a.want[i]);
	}
}

/* ---- real corpora ------------------------------------------------------------ */

struct tally {
	size_t files, errors, with_text, text_parts, html, guessed;
};

static void parse_dir(const char *dir, struct tally *t)
{
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("%s: %s", dir, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			parse_dir(path, t);
			continue;
		}
		size_t len;
		char err[256];
		char *raw = read_file(path, (size_t)64 << 20, &len, err, sizeof err);
		if (!raw)
			fail_msg("%s", err);
		struct msg m;
		int r = msg_parse(&m, raw, len, NULL, err, sizeof err);
		if (r != 0)
			fail_msg("%s: %s", path, err);
		check_valid(&m);
		t->files++;
		if (m.text_len)
			t->with_text++;
		if (!(m.flags & MSG_NO_TEXT))
			t->text_parts++;
		if (m.flags & MSG_HTML_ONLY)
			t->html++;
		if (m.flags & MSG_CHARSET_GUESSED)
			t->guessed++;
		msg_release(&m);
		free(raw);
	}
	closedir(d);
}

static void test_corpora(void **state)
{
	const char *shared = getenv("SHARED");
	char sa[4096], news[4096];
	struct stat st;
	snprintf(sa, sizeof sa, "%s/data/spamassassin", shared ? shared : "");
	snprintf(news, sizeof news, "%s/data/20news-bydate", shared ? shared : "");
	if (!shared || stat(sa, &st) != 0 || stat(news, &st) != 0) {
		print_message("# SHARED/data/{spamassassin,20news-bydate} not found "
			      "(SHARED=%s): corpus test skipped\n",
			      shared ? shared : "unset");
		skip();
	}
	const char *dirs[] = { sa, news };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		struct tally t = { 0 };
		parse_dir(dirs[i], &t);
		print_message("# %s: %zu files, non-empty text %zu (%.2f%%), with a text part %zu, "
			      "HTML only %zu, charset guessed %zu\n",
			      dirs[i], t.files, t.with_text, 100.0 * (double)t.with_text / (double)t.files,
			      t.text_parts, t.html, t.guessed);
		assert_true(t.files > 1000);
		assert_true((double)t.with_text >= 0.99 * (double)t.files);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_7bit),
		cmocka_unit_test(test_utf8_8bit),
		cmocka_unit_test(test_quoted_printable),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_windows_1252),
		cmocka_unit_test(test_iso_8859_1),
		cmocka_unit_test(test_charset_missing),
		cmocka_unit_test(test_charset_unknown),
		cmocka_unit_test(test_charset_3d),
		cmocka_unit_test(test_charset_utf8_alias),
		cmocka_unit_test(test_no_mime_version),
		cmocka_unit_test(test_charsets_iconv),
		cmocka_unit_test(test_charsets_degrade),
		cmocka_unit_test(test_charset_labels),
		cmocka_unit_test(test_rfc2047_subjects),
		cmocka_unit_test(test_from_and_message_id),
		cmocka_unit_test(test_header_flags),
		cmocka_unit_test(test_mbox_line_and_junk_header),
		cmocka_unit_test(test_crlf_equals_lf),
		cmocka_unit_test(test_alternative_prefers_plain),
		cmocka_unit_test(test_blank_plain_falls_back_to_html),
		cmocka_unit_test(test_html_only),
		cmocka_unit_test(test_html_is_silent),
		cmocka_unit_test(test_nested_mixed_in_alternative),
		cmocka_unit_test(test_rfc2231_and_2047_names),
		cmocka_unit_test(test_image_only),
		cmocka_unit_test(test_text_subtypes),
		cmocka_unit_test(test_forwarded_message),
		cmocka_unit_test(test_delivery_report),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_open_last_delimiter),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_not_a_message),
		cmocka_unit_test(test_limit_size),
		cmocka_unit_test(test_limit_header_field),
		cmocka_unit_test(test_limit_line),
		cmocka_unit_test(test_limit_parts),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_scan_nesting),
		cmocka_unit_test(test_limit_text),
		cmocka_unit_test(test_parse_headers_only),
		cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_corpora),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
