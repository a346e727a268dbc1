/* Unit tests for classifier/zones: every fixture of tests/data/zones (each
 * line prefixed with the zone it must get), and the edge cases of the text
 * itself (empty, no final newline, CRLF, huge lines, invalid UTF-8). */
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

#include <cmocka.h>

#include "classifier/zones.h"
#include "common/util.h"

#define FIXTURE_MAX (1 << 20)

static int setup(void **state)
{
	char err[256];
	*state = zoner_new(err, sizeof err);
	if (!*state)
		fprintf(stderr, "zoner_new: %s\n", err);
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	zoner_free(*state);
	return 0;
}

/* Spans are in order, contiguous, start at 0 and end at len. */
static void check_cover(const struct zones *zs, size_t len)
{
	size_t at = 0;
	for (size_t i = 0; i < zs->n; i++) {
		assert_int_equal(zs->spans[i].off, at);
		assert_true((unsigned)zs->spans[i].zone < ZONE_COUNT);
		if (i)
			assert_int_not_equal(zs->spans[i].zone, zs->spans[i - 1].zone);
		at += zs->spans[i].len;
	}
	assert_int_equal(at, len);
}

/* The zone of the line starting at offset off. */
static enum zone zone_at(const struct zones *zs, size_t off)
{
	for (size_t i = 0; i < zs->n; i++)
		if (off >= zs->spans[i].off && off < zs->spans[i].off + zs->spans[i].len)
			return zs->spans[i].zone;
	fail_msg("offset %zu in no span", off);
	return ZONE_COUNT;
}

static enum zone zone_of_letter(char c)
{
	for (int z = 0; z < ZONE_COUNT; z++)
		if (zone_prefix((enum zone)z) == c)
			return (enum zone)z;
	fail_msg("unknown zone letter '%c'", c);
	return ZONE_COUNT;
}

/* Splits the text and returns the zone of each of its lines (caller frees). */
static enum zone *line_zones(struct zoner *z, const char *text, size_t len, size_t *nlines)
{
	struct zones zs = { 0 };
	assert_int_equal(zones_split(z, text, len, &zs), 0);
	check_cover(&zs, len);
	enum zone *out = malloc((len + 1) * sizeof *out);
	assert_non_null(out);
	size_t n = 0;
	for (size_t off = 0; off < len;) {
		out[n++] = zone_at(&zs, off);
		const char *nl = memchr(text + off, '\n', len - off);
		off = nl ? (size_t)(nl - text) + 1 : len;
	}
	*nlines = n;
	zones_release(&zs);
	return out;
}

static const char *data_dir(void)
{
	static char dir[4096];
	struct stat st;
	if (stat("tests/data/zones", &st) == 0)
		return "tests/data/zones";
	/* run from elsewhere: next to this source file */
	snprintf(dir, sizeof dir, "%s", __FILE__);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return NULL;
	snprintf(slash, sizeof dir - (size_t)(slash - dir), "/../data/zones");
	return stat(dir, &st) == 0 ? dir : NULL;
}

/* One fixture: "Z|text" lines; returns the number of lines checked. */
static size_t check_fixture(struct zoner *z, const char *dir, const char *name)
{
	char path[4096], err[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t flen;
	char *raw = read_file(path, FIXTURE_MAX, &flen, err, sizeof err);
	if (!raw)
		fail_msg("%s", err);
	char *text = malloc(flen + 1);
	enum zone *want = malloc((flen + 1) * sizeof *want);
	assert_non_null(text);
	assert_non_null(want);
	size_t len = 0, n = 0;
	for (char *line = raw; line < raw + flen;) {
		char *nl = memchr(line, '\n', (size_t)(raw + flen - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(raw + flen - line);
		if (ll < 2 || line[1] != '|')
			fail_msg("%s:%zu: line without a \"Z|\" prefix", path, n + 1);
		want[n++] = zone_of_letter(line[0]);
		memcpy(text + len, line + 2, ll - 2);
		len += ll - 2;
		if (nl)
			text[len++] = '\n';
		line += ll + (nl != NULL);
	}
	size_t got_n;
	enum zone *got = line_zones(z, text, len, &got_n);
	assert_int_equal(got_n, n);
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i]) {
			fprintf(stderr, "%s:%zu: want %s, got %s\n", path, i + 1, zone_name(want[i]),
				zone_name(got[i]));
			bad = 1;
		}
	assert_false(bad);
	free(got);
	free(want);
	free(text);
	free(raw);
	return n;
}

static void test_fixtures(void **state)
{
	const char *dir = data_dir();
	if (!dir)
		fail_msg("tests/data/zones not found (run from the repository root)");
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t files = 0, lines = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".txt"))
			continue;
		lines += check_fixture(*state, dir, de->d_name);
		files++;
	}
	closedir(d);
	/* the fixtures are there and were all read */
	assert_true(files >= 15);
	assert_true(lines >= 200);
}

static void test_names(void **state)
{
	static const char letters[] = "bqfgx";
	static const char *const names[] = { "body", "quote", "forward", "signature", "disclaimer" };
	for (int z = 0; z < ZONE_COUNT; z++) {
		assert_int_equal(zone_prefix((enum zone)z), letters[z]);
		assert_string_equal(zone_name((enum zone)z), names[z]);
	}
}

static void test_empty_and_reuse(void **state)
{
	struct zones zs = { 0 };
	assert_int_equal(zones_split(*state, "", 0, &zs), 0);
	assert_int_equal(zs.n, 0);
	/* out is emptied before each use */
	const char *a = "Bonjour\n> cité\n";
	assert_int_equal(zones_split(*state, a, strlen(a), &zs), 0);
	assert_int_equal(zs.n, 2);
	assert_int_equal(zones_split(*state, "x", 1, &zs), 0);
	assert_int_equal(zs.n, 1);
	assert_int_equal(zs.spans[0].zone, ZONE_BODY);
	assert_int_equal(zs.spans[0].len, 1);
	assert_int_equal(zones_split(*state, "", 0, &zs), 0);
	assert_int_equal(zs.n, 0);
	zones_release(&zs);
	zones_release(&zs);
}

static void test_no_final_newline(void **state)
{
	const char *text = "Je serai là samedi.\n\nCordialement,\nJean Dupont";
	size_t n;
	enum zone *z = line_zones(*state, text, strlen(text), &n);
	assert_int_equal(n, 4);
	assert_int_equal(z[0], ZONE_BODY);
	assert_int_equal(z[2], ZONE_SIGNATURE);
	assert_int_equal(z[3], ZONE_SIGNATURE);
	free(z);
	/* a quote header as the very last line, without its newline */
	text = "Je viens samedi.\nLe 3 mars 2025 à 10:12, Odile Ferrand a écrit :";
	z = line_zones(*state, text, strlen(text), &n);
	assert_int_equal(n, 2);
	assert_int_equal(z[0], ZONE_BODY);
	assert_int_equal(z[1], ZONE_QUOTE);
	free(z);
}

static void test_crlf(void **state)
{
	const char *lf = "Oui pour samedi.\n\nBien à vous,\nClaire\n\n"
			 "De : Sophie Laval\nEnvoyé : lundi 3 mars 2025 10:12\nÀ : Claire\n"
			 "Objet : Permanence\n\nPeux-tu venir ?\n-- \nSophie\n";
	char crlf[512];
	size_t k = 0;
	for (const char *p = lf; *p; p++) {
		if (*p == '\n')
			crlf[k++] = '\r';
		crlf[k++] = *p;
	}
	size_t n1, n2;
	enum zone *a = line_zones(*state, lf, strlen(lf), &n1);
	enum zone *b = line_zones(*state, crlf, k, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(a, b, n1 * sizeof *a);
	assert_int_equal(a[2], ZONE_SIGNATURE);
	assert_int_equal(a[5], ZONE_QUOTE);
	assert_int_equal(a[n1 - 1], ZONE_QUOTE);
	free(a);
	free(b);
}

/* A quote header the mail client wrapped over three lines. */
static void test_wrapped_header(void **state)
{
	const char *text = "D'accord, je m'en occupe.\n\n"
			   "Le lun. 3 mars 2025 à 10:12, Jean-Pierre Moulin <\n"
			   "president@amis-vieux-quartier.fr>\n"
			   "a écrit :\n\n> Qui peut tenir le stand ?\n";
	size_t n;
	enum zone *z = line_zones(*state, text, strlen(text), &n);
	assert_int_equal(n, 7);
	assert_int_equal(z[0], ZONE_BODY);
	for (size_t i = 2; i < 7; i++)
		assert_int_equal(z[i], ZONE_QUOTE);
	free(z);
}

/* What looks a little like a marker but is not one stays body. */
static void test_not_markers(void **state)
{
	const char *text =
		"Nouveau message depuis le formulaire de contact\n"
		"Nom : Paul Girard\n"
		"De : paul.girard@example.fr\n"
		"Objet : visite du lavoir\n"
		"Message : pouvez-vous ouvrir le lavoir samedi ?\n"
		"Le texte que Paul a écrit :\n"
		"il souhaite venir avec sa classe.\n"
		"Cordialement n'est pas une fin ici, la phrase continue.\n"
		"--- fin du formulaire ---\n";
	size_t n;
	enum zone *z = line_zones(*state, text, strlen(text), &n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(z[i], ZONE_BODY);
	free(z);
}

static void test_huge_lines(void **state)
{
	size_t big = 1 << 20;
	char *text = malloc(3 * big + 16);
	assert_non_null(text);
	/* one 1 MB line of prose, a 1 MB quoted line, a 1 MB line of dashes */
	size_t k = 0;
	for (size_t i = 0; i < big; i++)
		text[k++] = "Cordialement "[i % 13];
	text[k++] = '\n';
	text[k++] = '>';
	for (size_t i = 1; i < big; i++)
		text[k++] = 'q';
	text[k++] = '\n';
	for (size_t i = 0; i < big; i++)
		text[k++] = '-';
	size_t n;
	enum zone *z = line_zones(*state, text, k, &n);
	assert_int_equal(n, 3);
	assert_int_equal(z[0], ZONE_BODY);
	assert_int_equal(z[1], ZONE_QUOTE);
	free(z);
	/* 100,000 closing formulas: each looks ahead a bounded number of lines */
	k = 0;
	for (size_t i = 0; i < 100000; i++) {
		memcpy(text + k, "Merci\n", 6);
		k += 6;
	}
	z = line_zones(*state, text, k, &n);
	assert_int_equal(n, 100000);
	free(z);
	free(text);
}

static void test_invalid_utf8(void **state)
{
	/* Latin-1 bytes where UTF-8 was expected: no match, no crash */
	const char *text = "Bien \xe0 vous,\nJos\xe9\n\nLe 3 mars 2025 \xe0 10:12, X a \xe9" "crit :\n"
			   "> \xff\xfe\n\xc3\n";
	size_t n;
	enum zone *z = line_zones(*state, text, strlen(text), &n);
	assert_int_equal(n, 6);
	assert_int_equal(z[4], ZONE_QUOTE);
	free(z);
}

/* A message with every kind of zone; the zones of its lines, as wanted. */
static const char shared_text[] =
	"Bonjour,\nje voudrais adh\xc3\xa9rer.\n\nCordialement,\nMarie Dupont\n06 12 34 56 78\n"
	"\nLe lun. 3 mars 2025 \xc3\xa0 10:12, Paul a \xc3\xa9" "crit :\n> Bienvenue\n";

struct split_job {
	int rounds;
	int bad;
};

/* Each thread its own zoner; the patterns are the process's. */
static void *split_many(void *arg)
{
	struct split_job *j = arg;
	char err[256];
	struct zoner *z = zoner_new(err, sizeof err);
	if (!z) {
		j->bad = -1;
		return NULL;
	}
	struct zones zs = { 0 };
	for (int r = 0; r < j->rounds; r++) {
		if (zones_split(z, shared_text, sizeof shared_text - 1, &zs) < 0 ||
		    zone_at(&zs, 0) != ZONE_BODY ||
		    zone_at(&zs, strstr(shared_text, "Marie") - shared_text) != ZONE_SIGNATURE ||
		    zone_at(&zs, strstr(shared_text, "> Bien") - shared_text) != ZONE_QUOTE)
			j->bad++;
	}
	zones_release(&zs);
	zoner_free(z);
	return NULL;
}

/* Zoners share their compiled patterns: freeing one leaves the others (and
 * those made later) whole, and zoners on several threads at once match alike. */
static void test_shared_patterns(void **state)
{
	char err[256];
	assert_int_equal(zones_prepare(err, sizeof err), 0);
	struct zoner *a = zoner_new(err, sizeof err);
	assert_non_null(a);
	zoner_free(a);
	struct split_job once = { 1, 0 };
	split_many(&once);
	assert_int_equal(once.bad, 0);
	size_t n;
	enum zone *z = line_zones(*state, shared_text, sizeof shared_text - 1, &n);
	assert_int_equal(z[0], ZONE_BODY);
	free(z);
	pthread_t th[4];
	struct split_job jobs[4];
	for (int k = 0; k < 4; k++) {
		jobs[k] = (struct split_job){ 300, 0 };
		assert_int_equal(pthread_create(&th[k], NULL, split_many, &jobs[k]), 0);
	}
	for (int k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(jobs[k].bad, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_empty_and_reuse),
		cmocka_unit_test(test_no_final_newline),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_wrapped_header),
		cmocka_unit_test(test_not_markers),
		cmocka_unit_test(test_huge_lines),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_shared_patterns),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
