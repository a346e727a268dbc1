/* Unit tests for classifier/redact: e-mail addresses, phone numbers, IBANs
 * and URLs found in realistic text, and ordinary numbers left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classifier/redact.h"

struct found {
	enum redact_kind kind;
	char text[256];
	char host[128];
};

/* All matches of text, in order; returns how many (at most max). */
static size_t find_all(struct redactor *r, const char *text, struct found *out, size_t max)
{
	size_t n = 0, pos = 0, len = strlen(text);
	enum redact_kind k;
	size_t s, e, hs, he;
	while (n < max && redact_next(r, text, len, pos, &k, &s, &e, &hs, &he)) {
		assert_true(s >= pos);
		assert_true(e > s && e <= len);
		out[n].kind = k;
		snprintf(out[n].text, sizeof out[n].text, "%.*s", (int)(e - s), text + s);
		snprintf(out[n].host, sizeof out[n].host, "%.*s", (int)(he - hs), text + hs);
		n++;
		pos = e;
	}
	return n;
}

static int setup(void **state)
{
	char err[256];
	*state = redact_new(err, sizeof err);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	redact_free(*state);
	return 0;
}

static void test_emails(void **state)
{
	struct redactor *r = *state;
	struct found f[8];
	const char *text =
		"Bonjour, écrivez-moi plutôt à jean-pierre.moulin@orange.fr (ou à\n"
		"<Helene.Roux+presse@courrier-loire.example>). Mon ancienne adresse,\n"
		"m_lefevre@laposte.net, ne marche plus. Sur Twitter je suis @avq_officiel.";
	size_t n = find_all(r, text, f, 8);
	assert_int_equal(n, 3);
	assert_int_equal(f[0].kind, REDACT_EMAIL);
	assert_string_equal(f[0].text, "jean-pierre.moulin@orange.fr");
	assert_string_equal(f[1].text, "Helene.Roux+presse@courrier-loire.example");
	assert_string_equal(f[2].text, "m_lefevre@laposte.net");
	/* a sentence's dots before an address and non-ASCII letters in it */
	n = find_all(r, "voir...contact@avq.fr ou josé.garcía@correo.es.", f, 8);
	assert_int_equal(n, 2);
	assert_string_equal(f[0].text, "contact@avq.fr");
	assert_string_equal(f[1].text, "josé.garcía@correo.es");
	/* no letter or digit before the '@': not an address */
	assert_int_equal(find_all(r, "a %@example.fr b", f, 8), 0);
}

static void test_phones(void **state)
{
	struct redactor *r = *state;
	struct found f[16];
	static const char *const phones[] = {
		"06 39 98 12 34", "06.39.98.12.34", "06-39-98-12-34", "0639981234",
		"+33 6 39 98 12 34", "+33639981234", "+33 (0)1 99 00 41 17",
		"0033 6 39 98 12 34", "+44 20 7946 0958", "+1 (555) 010-4477",
		"06\xc2\xa0" "39\xc2\xa0" "98\xc2\xa0" "12\xc2\xa0" "34",
	};
	char text[256];
	for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
		snprintf(text, sizeof text, "Vous pouvez me joindre au %s, de 9h à 18h.", phones[i]);
		size_t n = find_all(r, text, f, 16);
		assert_int_equal(n, 1);
		assert_int_equal(f[0].kind, REDACT_PHONE);
		assert_string_equal(f[0].text, phones[i]);
	}
	/* glued to punctuation, a no-break space or guillemets */
	size_t n = find_all(r, "Tél :\xc2\xa0" "01 99 00 41 17 - «0639981234» (portable)", f, 16);
	assert_int_equal(n, 2);
	assert_string_equal(f[0].text, "01 99 00 41 17");
	assert_string_equal(f[1].text, "0639981234");
}

static void test_ibans(void **state)
{
	struct redactor *r = *state;
	struct found f[8];
	const char *text = "Notre RIB : IBAN FR76 3000 6000 0112 3456 7890 189, BIC AGRIFRPP882.\n"
			   "Ou sans espaces : FR7610278060310002058710143 merci.";
	size_t n = find_all(r, text, f, 8);
	assert_int_equal(n, 2);
	assert_int_equal(f[0].kind, REDACT_IBAN);
	assert_string_equal(f[0].text, "FR76 3000 6000 0112 3456 7890 189");
	assert_int_equal(f[1].kind, REDACT_IBAN);
	assert_string_equal(f[1].text, "FR7610278060310002058710143");
	/* too short for an IBAN */
	assert_int_equal(find_all(r, "modèle AB12 CDEF GHIJ", f, 8), 0);
}

static void test_urls(void **state)
{
	struct redactor *r = *state;
	struct found f[8];
	const char *text = "Adhérez sur https://www.helloasso.com/associations/avq/adhesions/2025. "
			   "Le programme (www.Amis-Vieux-Quartier.fr) et "
			   "http://user:secret@files.example.org:8080/gazette.pdf?x=1#p2, enfin "
			   "HTTPS://EXAMPLE.NET!";
	size_t n = find_all(r, text, f, 8);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f[i].kind, REDACT_URL);
	assert_string_equal(f[0].text, "https://www.helloasso.com/associations/avq/adhesions/2025");
	assert_string_equal(f[0].host, "www.helloasso.com");
	assert_string_equal(f[1].text, "www.Amis-Vieux-Quartier.fr");
	assert_string_equal(f[1].host, "www.Amis-Vieux-Quartier.fr");
	assert_string_equal(f[2].host, "files.example.org");
	assert_string_equal(f[3].text, "HTTPS://EXAMPLE.NET");
	assert_string_equal(f[3].host, "EXAMPLE.NET");
}

/* Years, prices, postcodes, times, dates and other numbers are not personal. */
static void test_ordinary_numbers(void **state)
{
	struct redactor *r = *state;
	struct found f[8];
	const char *text =
		"En 2025 la cotisation passe à 30 € (20 € pour un étudiant, 0,50 € le timbre).\n"
		"Rendez-vous le 03/03/2025 à 14h30, ou le 03.03.2025 10:30, au 12 rue des\n"
		"Tanneurs, 45000 Saint-Aubin-sur-Loire : 45 000 habitants, 1 234,56 € de dons.\n"
		"Commande n° 12345, version 2.0.1, score 3-2, années 1970-1980, 10.5 %, le\n"
		"2025-03-03T10:12:00+01:00, ISBN 978-2-07-036822-8, code 00000, poste 1234.\n"
		"MP3 et A4 ne sont pas des IBAN, ni FR76 seul.";
	assert_int_equal(find_all(r, text, f, 8), 0);
	size_t outlen;
	char *out = redact_text(r, text, strlen(text), &outlen);
	assert_non_null(out);
	assert_int_equal(outlen, strlen(text));
	assert_string_equal(out, text);
	free(out);
}

static void test_redact_text(void **state)
{
	struct redactor *r = *state;
	const char *text = "Contact : jean.dupont@orange.fr, 06 39 98 12 34.\n"
			   "Virement : FR76 3000 6000 0112 3456 7890 189.\n"
			   "Lien : https://example.fr/desinscription?mail=jean.dupont@orange.fr&id=3 "
			   "ou www.avq.fr.";
	size_t outlen;
	char *out = redact_text(r, text, strlen(text), &outlen);
	assert_non_null(out);
	assert_int_equal(outlen, strlen(out));
	assert_string_equal(out,
			    "Contact : [adresse], [téléphone].\n"
			    "Virement : [IBAN].\n"
			    "Lien : https://example.fr/desinscription?mail=[adresse]&id=3 "
			    "ou www.avq.fr.");
	free(out);
	/* empty and not NUL-terminated input */
	out = redact_text(r, "", 0, &outlen);
	assert_non_null(out);
	assert_int_equal(outlen, 0);
	free(out);
	out = redact_text(r, "a@b.fr et 0639981234 coupé", 6, &outlen);
	assert_string_equal(out, "[adresse]");
	free(out);
}

static void test_next_from_offset(void **state)
{
	struct redactor *r = *state;
	const char *text = "a@example.fr puis 06 39 98 12 34";
	enum redact_kind k;
	size_t s, e;
	assert_int_equal(redact_next(r, text, strlen(text), 0, &k, &s, &e, NULL, NULL), 1);
	assert_int_equal(k, REDACT_EMAIL);
	assert_int_equal(s, 0);
	/* starting inside the address: its '@' is past, only the phone is left */
	assert_int_equal(redact_next(r, text, strlen(text), 2, &k, &s, &e, NULL, NULL), 1);
	assert_int_equal(k, REDACT_PHONE);
	assert_int_equal(s, strlen("a@example.fr puis "));
	assert_int_equal(redact_next(r, text, strlen(text), e, &k, &s, &e, NULL, NULL), 0);
	/* the length bounds the search: a number cut short is no number */
	assert_int_equal(redact_next(r, text, strlen(text) - 1, 13, &k, &s, &e, NULL, NULL), 0);
}

/* Inputs built to make a scanner backtrack or rescan: all must be linear and
 * leave the text as it was when nothing matches. */
static void test_pathological(void **state)
{
	struct redactor *r = *state;
	static const char *const units[] = {
		"x@", "@.", "0 ", "00", "+1", "http://", "www.", "AB12", "a.", "06 39 ", "\xff\xfe@",
	};
	size_t len = 1 << 20;
	char *text = malloc(len + 1);
	assert_non_null(text);
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
		size_t ul = strlen(units[u]);
		for (size_t i = 0; i < len; i++)
			text[i] = units[u][i % ul];
		text[len] = '\0';
		size_t outlen;
		char *out = redact_text(r, text, len, &outlen);
		assert_non_null(out);
		/* whatever was replaced, the copy is bounded */
		assert_true(outlen <= 2 * len);
		free(out);
	}
	/* a 1 MB local part before an '@' */
	memset(text, 'a', len);
	memcpy(text + len - 10, "@avq.fr xx", 10);
	enum redact_kind k;
	size_t s, e;
	assert_int_equal(redact_next(r, text, len, 0, &k, &s, &e, NULL, NULL), 1);
	assert_int_equal(k, REDACT_EMAIL);
	assert_int_equal(e - s, 64 + strlen("@avq.fr"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_emails),
		cmocka_unit_test(test_phones),
		cmocka_unit_test(test_ibans),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_ordinary_numbers),
		cmocka_unit_test(test_redact_text),
		cmocka_unit_test(test_next_from_offset),
		cmocka_unit_test(test_pathological),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
