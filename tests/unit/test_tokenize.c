/* Unit tests for classifier/tokenize (and its stop word lists): folding,
 * stemming, stop words, bigrams per zone, placeholders, header features,
 * options, and bounds. Includes the .c files to reach static helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "classifier/stopwords.c"
#include "classifier/tokenize.c"

/* ---- a collecting callback ------------------------------------------------ */

struct col {
	char **term, **surf;
	size_t n, cap;
};

static void collect_cb(void *ctx, const char *term, size_t len, const char *surface,
		       size_t surface_len)
{
	struct col *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->term = realloc(c->term, c->cap * sizeof *c->term);
		c->surf = realloc(c->surf, c->cap * sizeof *c->surf);
		assert_non_null(c->term);
		assert_non_null(c->surf);
	}
	c->term[c->n] = strndup(term, len);
	c->surf[c->n] = strndup(surface, surface_len);
	assert_non_null(c->term[c->n]);
	assert_non_null(c->surf[c->n]);
	/* every term is valid UTF-8 and bounded, whatever the input */
	assert_true(utf8_valid(term, len));
	assert_true(utf8_valid(surface, surface_len));
	assert_true(len >= 3 && len <= 2 + DOMAIN_MAX);
	assert_true(term[1] == ':');
	c->n++;
}

static void col_free(struct col *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->term[i]);
		free(c->surf[i]);
	}
	free(c->term);
	free(c->surf);
	memset(c, 0, sizeof *c);
}

/* Index of term in c, or -1. */
static long find(const struct col *c, const char *term)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->term[i], term))
			return (long)i;
	return -1;
}

static size_t count_prefix(const struct col *c, const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++)
		n += !strncmp(c->term[i], prefix, strlen(prefix));
	return n;
}

static int any_contains(const struct col *c, const char *needle)
{
	for (size_t i = 0; i < c->n; i++)
		if (strstr(c->term[i], needle) || strstr(c->surf[i], needle))
			return 1;
	return 0;
}

static struct tokenizer *new_tok(enum tok_lang lang)
{
	struct tok_opts o;
	tok_opts_default(&o);
	o.lang = lang;
	char err[256];
	struct tokenizer *t = tok_new(&o, err, sizeof err);
	if (!t)
		fail_msg("tok_new: %s", err);
	return t;
}

static void text_terms(struct tokenizer *t, const char *text, struct col *c)
{
	assert_int_equal(tok_text(t, 'b', text, strlen(text), collect_cb, c), 0);
}

/* Snowball's own answer, for checking that the tokenizer stems with it. */
static void snowball(const char *lang, const char *word, char *out, size_t outsz)
{
	struct sb_stemmer *s = sb_stemmer_new(lang, "UTF_8");
	assert_non_null(s);
	const sb_symbol *r = sb_stemmer_stem(s, (const sb_symbol *)word, (int)strlen(word));
	snprintf(out, outsz, "%.*s", sb_stemmer_length(s), (const char *)r);
	sb_stemmer_delete(s);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_opts_and_lang(void **state)
{
	struct tok_opts o;
	tok_opts_default(&o);
	assert_int_equal(o.lang, TOK_LANG_FR);
	assert_true(o.stem && o.stopwords && o.bigrams && o.zones && o.headers);
	enum tok_lang l;
	assert_int_equal(tok_lang_parse("en", &l), 0);
	assert_int_equal(l, TOK_LANG_EN);
	assert_int_equal(tok_lang_parse("fr", &l), 0);
	assert_int_equal(l, TOK_LANG_FR);
	assert_int_equal(tok_lang_parse("de", &l), -1);
	assert_string_equal(tok_lang_name(TOK_LANG_EN), "en");
	assert_string_equal(tok_lang_name(TOK_LANG_FR), "fr");
	o.lang = (enum tok_lang)7;
	char err[256] = "";
	assert_null(tok_new(&o, err, sizeof err));
	assert_non_null(strstr(err, "language"));
}

static void test_stopword_lists_sorted(void **state)
{
	for (size_t i = 1; i < ARRAY_SIZE(fr_words); i++)
		assert_true(strcmp(fr_words[i - 1], fr_words[i]) < 0);
	for (size_t i = 1; i < ARRAY_SIZE(en_words); i++)
		assert_true(strcmp(en_words[i - 1], en_words[i]) < 0);
	/* every entry is folded: lower-case ASCII */
	for (size_t i = 0; i < ARRAY_SIZE(fr_words); i++)
		for (const char *p = fr_words[i]; *p; p++)
			assert_true(*p >= 'a' && *p <= 'z');
	/* lengths count: prefixes and extensions of a stop word are not one */
	assert_true(stopwords_contains(TOK_LANG_FR, "ete", 3));
	assert_true(stopwords_contains(TOK_LANG_FR, "etee", 4));
	assert_true(stopwords_contains(TOK_LANG_FR, "et", 2));
	assert_false(stopwords_contains(TOK_LANG_FR, "eteee", 5));
	assert_false(stopwords_contains(TOK_LANG_FR, "etex", 3 + 1));
	assert_false(stopwords_contains(TOK_LANG_EN, "theory", 6));
	assert_true(stopwords_contains(TOK_LANG_EN, "theirs", 6));
	assert_true(stopwords_contains(TOK_LANG_EN, "their", 5));
}

/* "adhesion", "adhésion", "ADHÉSION" meet; ligatures and ß fold too. */
static void test_folding_meets(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	char a[64], b[64];
	static const char *const same[][4] = {
		{ "adhesion", "adhésion", "ADHÉSION", "Adhésion" },
		{ "evenement", "événement", "ÉVÉNEMENT", "évènement" },
		{ "coeur", "cœur", "CŒUR", "Coeur" },
		{ "fin", "ﬁn", "FIN", "ｆｉｎ" },
		{ "aequo", "æquo", "ÆQUO", "Aequo" },
		{ "strasse", "straße", "STRASSE", "Strasse" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(same); i++) {
		assert_true(tok_word(t, same[i][0], strlen(same[i][0]), a, sizeof a) > 0);
		for (size_t k = 1; k < 4; k++) {
			assert_true(tok_word(t, same[i][k], strlen(same[i][k]), b, sizeof b) > 0);
			assert_string_equal(a, b);
		}
	}
	/* stemmed from the accentless form */
	char want[64];
	snowball("french", "adhesion", want, sizeof want);
	assert_true(tok_word(t, "ADHÉSION", strlen("ADHÉSION"), a, sizeof a) > 0);
	assert_string_equal(a, want);
	tok_free(t);
}

static void test_stemming(void **state)
{
	struct tokenizer *fr = new_tok(TOK_LANG_FR), *en = new_tok(TOK_LANG_EN);
	char a[64], b[64], want[64];
	/* French: inflections meet, and the stem is Snowball's */
	static const char *const fr_pairs[][2] = {
		{ "cotisation", "cotisations" }, { "bénévole", "bénévoles" },
		{ "renouveler", "renouvelé" }, { "visite", "visites" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(fr_pairs); i++) {
		assert_true(tok_word(fr, fr_pairs[i][0], strlen(fr_pairs[i][0]), a, sizeof a) > 0);
		assert_true(tok_word(fr, fr_pairs[i][1], strlen(fr_pairs[i][1]), b, sizeof b) > 0);
		assert_string_equal(a, b);
	}
	snowball("french", "cotisations", want, sizeof want);
	tok_word(fr, "cotisations", 11, a, sizeof a);
	assert_string_equal(a, want);
	/* English */
	static const char *const en_pairs[][2] = {
		{ "running", "runs" }, { "connection", "connected" }, { "volunteers", "volunteer" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(en_pairs); i++) {
		assert_true(tok_word(en, en_pairs[i][0], strlen(en_pairs[i][0]), a, sizeof a) > 0);
		assert_true(tok_word(en, en_pairs[i][1], strlen(en_pairs[i][1]), b, sizeof b) > 0);
		assert_string_equal(a, b);
	}
	snowball("english", "running", want, sizeof want);
	tok_word(en, "running", 7, a, sizeof a);
	assert_string_equal(a, want);
	/* the same word, asked again, comes from the cache: same answer */
	tok_word(en, "running", 7, b, sizeof b);
	assert_string_equal(a, b);
	tok_free(fr);
	tok_free(en);
}

static void test_stopwords_and_bounds_of_words(void **state)
{
	struct tokenizer *fr = new_tok(TOK_LANG_FR), *en = new_tok(TOK_LANG_EN);
	char out[64];
	/* stop words of each language, checked on the folded form */
	assert_int_equal(tok_word(fr, "les", 3, out, sizeof out), 0);
	assert_int_equal(tok_word(fr, "ÉTÉ", strlen("ÉTÉ"), out, sizeof out), 0);
	assert_int_equal(tok_word(fr, "Nous", 4, out, sizeof out), 0);
	assert_true(tok_word(fr, "the", 3, out, sizeof out) > 0);
	assert_int_equal(tok_word(en, "the", 3, out, sizeof out), 0);
	assert_int_equal(tok_word(en, "Which", 5, out, sizeof out), 0);
	assert_true(tok_word(en, "les", 3, out, sizeof out) > 0);
	/* too short, too long, not a single word */
	assert_int_equal(tok_word(fr, "à", strlen("à"), out, sizeof out), 0);
	assert_int_equal(tok_word(fr, "x", 1, out, sizeof out), 0);
	char w41[42];
	memset(w41, 'a', 41);
	assert_int_equal(tok_word(fr, w41, 41, out, sizeof out), 0);
	assert_true(tok_word(fr, w41, 40, out, sizeof out) > 0);
	assert_int_equal(tok_word(fr, "deux mots", 9, out, sizeof out), 0);
	assert_int_equal(tok_word(fr, "l'adhésion", strlen("l'adhésion"), out, sizeof out), 0);
	assert_int_equal(tok_word(fr, "", 0, out, sizeof out), 0);
	/* an output buffer too small for the term */
	assert_int_equal(tok_word(fr, "association", 11, out, 3), 0);
	/* 40 accented letters are 80 bytes but 40 folded ones: kept */
	char acc[81];
	for (size_t i = 0; i < 40; i++)
		memcpy(acc + 2 * i, "é", 2);
	assert_int_equal(tok_word(fr, acc, 80, out, sizeof out) > 0, 1);
	tok_free(fr);
	tok_free(en);
}

static void test_elisions_hyphens(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct col c = { 0 };
	char adh[64], aub[64], loir[64], membr[64];
	tok_word(t, "adhésion", strlen("adhésion"), adh, sizeof adh);
	tok_word(t, "Aubin", 5, aub, sizeof aub);
	tok_word(t, "Loire", 5, loir, sizeof loir);
	tok_word(t, "membre", 6, membr, sizeof membr);
	text_terms(t, "Pour l'adhésion d’un membre qu'il parraine, à Saint-Aubin-sur-Loire.", &c);
	char term[160];
	snprintf(term, sizeof term, "b:%s", adh);
	assert_true(find(&c, term) >= 0);
	snprintf(term, sizeof term, "b:%s", membr);
	assert_true(find(&c, term) >= 0);
	/* the elided articles and pronouns are gone */
	assert_int_equal(find(&c, "b:l"), -1);
	assert_int_equal(find(&c, "b:d"), -1);
	assert_int_equal(find(&c, "b:qu"), -1);
	/* hyphens split, and the pieces make bigrams across the stop word */
	snprintf(term, sizeof term, "b:saint %s", aub);
	assert_true(find(&c, term) >= 0);
	snprintf(term, sizeof term, "b:%s %s", aub, loir);
	assert_true(find(&c, term) >= 0);
	col_free(&c);
	tok_free(t);
}

static void test_surface(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct col c = { 0 };
	text_terms(t, "Mon ADHÉSION, ma Cotisation", &c);
	/* adhésion, adhésion+cotisation, cotisation */
	assert_int_equal(c.n, 3);
	assert_string_equal(c.surf[0], "adhésion");
	assert_string_equal(c.surf[1], "cotisation");
	assert_string_equal(c.surf[2], "adhésion cotisation");
	assert_non_null(strchr(c.term[2], ' '));
	/* the folded, stemmed term differs from the surface */
	assert_string_not_equal(c.term[0] + 2, c.surf[0]);
	col_free(&c);
	tok_free(t);
}

static void test_digits(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct col c = { 0 };
	text_terms(t, "En 2025, ref123456, dossier 1234567 à 14h30, 3e étage, 5 fois.", &c);
	assert_true(find(&c, "b:2025") >= 0);
	assert_true(find(&c, "b:ref#num") >= 0);
	assert_true(find(&c, "b:#num") >= 0);
	assert_true(find(&c, "b:14h30") >= 0);
	assert_true(find(&c, "b:3e") >= 0);
	assert_int_equal(find(&c, "b:5"), -1);
	assert_false(any_contains(&c, "123456"));
	/* the surface of a long number hides it too */
	long i = find(&c, "b:#num");
	assert_string_equal(c.surf[i], "#num");
	col_free(&c);
	tok_free(t);
}

static void test_placeholders(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct col c = { 0 };
	char ecrir[64];
	tok_word(t, "écrire", strlen("écrire"), ecrir, sizeof ecrir);
	text_terms(t,
		   "Merci d'écrire jean.dupont@orange.fr ou d'appeler le 06 39 98 12 34 "
		   "(+33 6 39 98 12 35). IBAN : FR76 3000 6000 0112 3456 7890 189. "
		   "Adhésion sur https://www.HelloAsso.com/associations/avq, programme "
		   "sur www.amis-vieux-quartier.fr.",
		   &c);
	assert_true(find(&c, "b:#email") >= 0);
	assert_true(find(&c, "b:#tel") >= 0);
	assert_true(find(&c, "b:#iban") >= 0);
	assert_true(find(&c, "b:#url") >= 0);
	/* hosts, lower-cased, without "www." */
	assert_true(find(&c, "u:helloasso.com") >= 0);
	assert_true(find(&c, "u:amis-vieux-quartier.fr") >= 0);
	/* placeholders join bigrams */
	char term[160];
	snprintf(term, sizeof term, "b:%s #email", ecrir);
	assert_true(find(&c, term) >= 0);
	/* nothing of the data itself reaches a term or a surface */
	static const char *const leaks[] = { "dupont", "orange", "39", "98", "3000", "0112",
					     "7890", "189", "fr76", "avq" };
	for (size_t i = 0; i < ARRAY_SIZE(leaks); i++)
		assert_false(any_contains(&c, leaks[i]));
	size_t tel = 0;
	for (size_t i = 0; i < c.n; i++)
		tel += !strcmp(c.term[i], "b:#tel");
	assert_int_equal(tel, 2);
	col_free(&c);
	tok_free(t);
}

/* The tokenizer asks the redactor only at candidate words: on realistic
 * text it must find exactly what a full scan finds. */
static void test_placeholders_match_full_scan(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	const char *text =
		"Contact: a.b@x.fr,c@d.org;e-f@g.co.uk <h@i.jp> j@k.fr.\n"
		"Tel 0639981234/06.39.98.12.34, +44 20 7946 0958 ou 0033 1 99 00 41 17.\n"
		"voir...contact@avq.fr http://x.fr/?m=y@z.fr www.avq.fr FR7630006000011234567890189\n"
		"«0639981234» (06 39 98 12 34) 06 39.98 12 34 x@y 12@34.56 +33 (0)1 99 00 41 17\n";
	struct col c = { 0 };
	text_terms(t, text, &c);
	size_t ph = count_prefix(&c, "b:#") - count_prefix(&c, "b:#num");
	/* unigram placeholders only (bigrams hold a space) */
	for (size_t i = 0; i < c.n; i++)
		if (!strncmp(c.term[i], "b:#", 3) && strchr(c.term[i], ' '))
			ph--;
	size_t full = 0, pos = 0;
	enum redact_kind k;
	size_t s, e;
	while (redact_next(t->red, text, strlen(text), pos, &k, &s, &e, NULL, NULL)) {
		full++;
		pos = e;
	}
	assert_true(full >= 14);
	assert_int_equal(ph, full);
	col_free(&c);
	tok_free(t);
}

static void test_bigrams_and_zones(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct msg m = { 0 };
	m.subject = "";
	m.text = "Visite réservée.\n"
		 "\n"
		 "Le 3 mars 2025 à 10:12, Sophie Laval a écrit :\n"
		 "> Ancienne question\n";
	m.text_len = strlen(m.text);
	struct col c = { 0 };
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	char visit[64], reserv[64], ancien[64], question[64], term[160];
	tok_word(t, "visite", 6, visit, sizeof visit);
	tok_word(t, "réservée", strlen("réservée"), reserv, sizeof reserv);
	tok_word(t, "ancienne", 8, ancien, sizeof ancien);
	tok_word(t, "question", 8, question, sizeof question);
	snprintf(term, sizeof term, "b:%s %s", visit, reserv);
	assert_true(find(&c, term) >= 0);
	snprintf(term, sizeof term, "q:%s %s", ancien, question);
	assert_true(find(&c, term) >= 0);
	/* the last body word starts no bigram: the quote is another run */
	snprintf(term, sizeof term, "b:%s ", reserv);
	for (size_t i = 0; i < c.n; i++) {
		assert_int_not_equal(strncmp(c.term[i], term, strlen(term)), 0);
		/* the quote header's words are quote words */
		if (!strncmp(c.term[i], "b:", 2))
			assert_null(strstr(c.term[i], "laval"));
	}
	assert_true(find(&c, "q:laval") >= 0);
	col_free(&c);
	tok_free(t);
}

static void test_zone_prefixes(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct msg m = { 0 };
	m.subject = "";
	m.text = "Je propose un partenariat.\n"
		 "\n"
		 "Cordialement,\n"
		 "Marc Vidal, imprimeur\n"
		 "\n"
		 "Ce message et toutes les pièces jointes sont confidentiels.\n"
		 "\n"
		 "---------- Forwarded message ---------\n"
		 "De : Mairie <contact@mairie.example>\n"
		 "Date: mer. 5 mars 2025 à 11:20\n"
		 "Subject: Subvention\n"
		 "To: <marc@example.fr>\n"
		 "\n"
		 "Dossier de subvention.\n"
		 "> Ancienne demande\n";
	m.text_len = strlen(m.text);
	struct col c = { 0 };
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	char w[64], term[160];
	static const struct {
		const char *word;
		char prefix;
	} want[] = {
		{ "partenariat", 'b' }, { "imprimeur", 'g' }, { "confidentiels", 'x' },
		{ "dossier", 'f' }, { "ancienne", 'q' },
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		tok_word(t, want[i].word, strlen(want[i].word), w, sizeof w);
		snprintf(term, sizeof term, "%c:%s", want[i].prefix, w);
		assert_true(find(&c, term) >= 0);
	}
	col_free(&c);
	tok_free(t);
}

static void test_subject_prefixes(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct msg m = { 0 };
	m.subject = "Re: RE : Fwd: TR:Fw: Réf : AW: Re[2]: Re(3): RE\xc2\xa0: Adhésion 2025";
	m.text = "";
	struct col c = { 0 };
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	char adh[64], term[160];
	tok_word(t, "adhésion", strlen("adhésion"), adh, sizeof adh);
	/* adhésion, 2025 and their bigram, nothing else */
	assert_int_equal(count_prefix(&c, "s:"), 3);
	snprintf(term, sizeof term, "s:%s 2025", adh);
	assert_true(find(&c, term) >= 0);
	/* a word that only looks like a prefix stays */
	col_free(&c);
	m.subject = "Tr\xc3\xa9sorerie: Retour de la Rétrospective";
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	char tres[64], ret[64];
	tok_word(t, "trésorerie", strlen("trésorerie"), tres, sizeof tres);
	tok_word(t, "retour", 6, ret, sizeof ret);
	snprintf(term, sizeof term, "s:%s", tres);
	assert_true(find(&c, term) >= 0);
	snprintf(term, sizeof term, "s:%s", ret);
	assert_true(find(&c, term) >= 0);
	col_free(&c);
	tok_free(t);
}

static void test_header_features(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	char *att[] = { "Bulletin d'adhésion 2025.PDF", "photo.JPG", "noext", ".htaccess",
			"archive.tar.gz", "x.averyveryverylongextension" };
	struct msg m = { 0 };
	m.subject = "";
	m.text = "";
	m.from_domain = "Mairie-Saint-Aubin.fr";
	m.attachments = att;
	m.n_attachments = ARRAY_SIZE(att);
	m.flags = MSG_HTML_ONLY | MSG_TRUNCATED | MSG_AUTO_REPLY | MSG_BULK | MSG_REPORT |
		  MSG_ATTACHMENT | MSG_NO_TEXT | MSG_CHARSET_GUESSED | MSG_TRIAGE;
	struct col c = { 0 };
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	static const char *const want[] = {
		"h:html", "h:auto", "h:bulk", "h:report", "h:attach", "h:notext", "h:truncated",
		"d:mairie-saint-aubin.fr", "a:.pdf", "a:2025", "a:.jpg", "a:.gz",
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		if (find(&c, want[i]) < 0)
			fail_msg("missing %s", want[i]);
	/* the words of the names, normalised as any word */
	static const char *const words[] = { "bulletin", "adhésion", "photo", "noext",
					     "htaccess", "archive", "tar" };
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		char w[64], term[80];
		assert_true(tok_word(t, words[i], strlen(words[i]), w, sizeof w) > 0);
		snprintf(term, sizeof term, "a:%s", w);
		if (find(&c, term) < 0)
			fail_msg("missing %s", term);
	}
	assert_int_equal(count_prefix(&c, "h:"), 7);
	/* attachment names make no bigrams; a long "extension" is no extension */
	for (size_t i = 0; i < c.n; i++)
		if (!strncmp(c.term[i], "a:", 2))
			assert_null(strchr(c.term[i], ' '));
	assert_int_equal(find(&c, "a:.averyveryverylongextension"), -1);
	/* the surface of a feature is the feature without its prefix */
	assert_string_equal(c.surf[find(&c, "d:mairie-saint-aubin.fr")], "mairie-saint-aubin.fr");
	/* header features come first */
	assert_int_equal(find(&c, "h:html"), 0);
	col_free(&c);
	tok_free(t);
}

/* A "TR:" subject turns an Outlook header block's "quote" into the forward. */
static void test_outlook_forward(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct msg m = { 0 };
	m.subject = "TR: Demande de reportage";
	m.text = "Pour toi Hélène.\n\n"
		 "De : Lucas Marchand\nEnvoyé : mardi 4 mars 2025 09:31\nÀ : info\n"
		 "Objet : Demande de reportage\n\nJe prépare un article sur le lavoir.\n";
	m.text_len = strlen(m.text);
	struct col c = { 0 };
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	char art[64], term[160];
	tok_word(t, "article", 7, art, sizeof art);
	snprintf(term, sizeof term, "f:%s", art);
	assert_true(find(&c, term) >= 0);
	assert_int_equal(count_prefix(&c, "q:"), 0);
	col_free(&c);
	/* the same mail as a reply keeps its quote */
	m.subject = "Re: Demande de reportage";
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	snprintf(term, sizeof term, "q:%s", art);
	assert_true(find(&c, term) >= 0);
	col_free(&c);
	tok_free(t);
}

static void test_option_toggles(void **state)
{
	struct msg m = { 0 };
	m.subject = "Les visites";
	m.from_domain = "example.fr";
	m.flags = MSG_HTML_ONLY;
	m.text = "Les visites guidées\n> la question\n";
	m.text_len = strlen(m.text);
	char err[256];
	struct tok_opts o;

	tok_opts_default(&o);
	o.stem = 0;
	struct tokenizer *t = tok_new(&o, err, sizeof err);
	struct col c = { 0 };
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	assert_true(find(&c, "b:guidees") >= 0);
	assert_true(find(&c, "b:visites guidees") >= 0);
	col_free(&c);
	tok_free(t);

	tok_opts_default(&o);
	o.stopwords = 0;
	t = tok_new(&o, err, sizeof err);
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	char les[64], la[64], term[160];
	assert_true(tok_word(t, "les", 3, les, sizeof les) > 0);
	assert_true(tok_word(t, "la", 2, la, sizeof la) > 0);
	snprintf(term, sizeof term, "b:%s", les);
	assert_true(find(&c, term) >= 0);
	snprintf(term, sizeof term, "q:%s", la);
	assert_true(find(&c, term) >= 0);
	col_free(&c);
	tok_free(t);

	tok_opts_default(&o);
	o.bigrams = 0;
	t = tok_new(&o, err, sizeof err);
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	assert_true(c.n > 0);
	for (size_t i = 0; i < c.n; i++)
		assert_null(strchr(c.term[i], ' '));
	col_free(&c);
	tok_free(t);

	tok_opts_default(&o);
	o.zones = 0;
	t = tok_new(&o, err, sizeof err);
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	assert_int_equal(count_prefix(&c, "q:"), 0);
	char quest[64];
	tok_word(t, "question", 8, quest, sizeof quest);
	snprintf(term, sizeof term, "b:%s", quest);
	assert_true(find(&c, term) >= 0);
	col_free(&c);
	tok_free(t);

	tok_opts_default(&o);
	o.headers = 0;
	t = tok_new(&o, err, sizeof err);
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	assert_true(c.n > 0);
	for (size_t i = 0; i < c.n; i++)
		assert_true(c.term[i][0] == 'b' || c.term[i][0] == 'q');
	col_free(&c);
	tok_free(t);
}

/* The hash computed from registers while reading equals the buffer's. */
static void test_word_hash_paths(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_EN);
	static const char *const words[] = {
		"ab", "abcdefg", "abcdefgh", "abcdefghi", "AbCdEfGhIjKlMnOp", "abcdefghijklmnopq",
	};
	char buf[64];
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		/* followed by enough text for the 8-byte path */
		snprintf(buf, sizeof buf, "%s and more text", words[i]);
		struct word wd;
		const unsigned char *p = (const unsigned char *)buf;
		const unsigned char *q = collect(t, p, p + strlen(buf), &wd);
		assert_int_equal(q - p, strlen(words[i]));
		assert_true(wd.hashed);
		assert_int_equal(wd.hash, word_hash(wd.w, wd.n));
		/* at the very end of the text, read byte by byte */
		struct word tail;
		const unsigned char *w = (const unsigned char *)words[i];
		collect(t, w, w + strlen(words[i]), &tail);
		assert_int_equal(tail.n, wd.n);
		assert_int_equal(word_hash(tail.w, tail.n), wd.hash);
	}
	tok_free(t);
}

/* More distinct words than the cache holds: it is cleared and stays right. */
static void test_cache_clear(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_EN);
	char before[64], after[64], w[32];
	assert_true(tok_word(t, "volunteering", 12, before, sizeof before) > 0);
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		snprintf(w, sizeof w, "zq%c%c%c%c", 'a' + i % 26, 'a' + i / 26 % 26,
			 'a' + i / 676 % 26, 'a' + i / 17576 % 26);
		assert_true(tok_word(t, w, strlen(w), after, sizeof after) > 0);
	}
	assert_true(t->used < CACHE_SLOTS);
	assert_true(tok_word(t, "volunteering", 12, after, sizeof after) > 0);
	assert_string_equal(before, after);
	tok_free(t);
}

static void test_bounds(void **state)
{
	struct tokenizer *t = new_tok(TOK_LANG_FR);
	struct col c = { 0 };
	/* a 100 KB word between two ordinary ones */
	size_t big = 100 * 1024;
	char *text = malloc(16 * big);
	assert_non_null(text);
	memcpy(text, "avant ", 6);
	memset(text + 6, 'a', big);
	memcpy(text + 6 + big, " après", strlen(" après") + 1);
	text_terms(t, text, &c);
	assert_int_equal(c.n, 3);  /* avant, après and their bigram */
	col_free(&c);
	/* a 1 MB line of words */
	size_t len = 0;
	while (len + 20 < (1u << 20)) {
		memcpy(text + len, "visite patrimoine ", 18);
		len += 18;
	}
	assert_int_equal(tok_text(t, 'b', text, len, collect_cb, &c), 0);
	assert_int_equal(c.n, 2 * (len / 18) * 2 - 1);
	col_free(&c);
	/* random bytes: every term valid UTF-8 (checked in collect_cb) */
	uint32_t x = 12345;
	for (size_t i = 0; i < 16 * big; i++) {
		x = x * 1103515245u + 12345u;
		text[i] = (char)(x >> 16);
	}
	assert_int_equal(tok_text(t, 'b', text, 16 * big, collect_cb, &c), 0);
	col_free(&c);
	/* valid UTF-8 of every kind, with marks, ideographs and emoji */
	const char *u = "na\xcc\x88ive \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e caf\xc3\xa9\xf0\x9f\x98\x80 "
			"\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xef\xbc\xa1\xef\xbc\xa2 "
			"a\xcc\x81\xcc\x81\xcc\x81\xcc\x81";
	text_terms(t, u, &c);
	assert_true(c.n > 0);
	col_free(&c);
	/* a message whose text_len says more than its NUL: only text_len counts */
	struct msg m = { 0 };
	m.subject = "";
	memcpy(text, "visite\0cotisation", 17);
	m.text = text;
	m.text_len = 17;
	assert_int_equal(tok_message(t, &m, collect_cb, &c), 0);
	assert_int_equal(c.n, 3);
	col_free(&c);
	free(text);
	tok_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts_and_lang),
		cmocka_unit_test(test_stopword_lists_sorted),
		cmocka_unit_test(test_folding_meets),
		cmocka_unit_test(test_stemming),
		cmocka_unit_test(test_stopwords_and_bounds_of_words),
		cmocka_unit_test(test_elisions_hyphens),
		cmocka_unit_test(test_surface),
		cmocka_unit_test(test_digits),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_placeholders_match_full_scan),
		cmocka_unit_test(test_bigrams_and_zones),
		cmocka_unit_test(test_zone_prefixes),
		cmocka_unit_test(test_subject_prefixes),
		cmocka_unit_test(test_header_features),
		cmocka_unit_test(test_outlook_forward),
		cmocka_unit_test(test_option_toggles),
		cmocka_unit_test(test_word_hash_paths),
		cmocka_unit_test(test_cache_clear),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
