/*
 * Unit tests for config/: every bad file under tests/data/config/bad must give
 * exactly the errors of its .expect sidecar ("LINE:COL: part of the message",
 * in order); good files are checked value by value; the rule matcher; limits.
 *
 * Password files are made here with the modes git cannot keep, in a temporary
 * directory given as $CREDENTIALS_DIRECTORY.
 */
#include <errno.h>
#include <glob.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "config/config.c"

#define DATA "tests/data/config"

static const char *const cats[] = { "Adhesion", "Evenement", "Benevolat", "Partenariat",
				    "Presse", "QuestionGenerale", "Autre" };
#define NCATS (sizeof cats / sizeof cats[0])

static char tmpdir[64];

static void put_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/triage-cfg-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	put_file(tmpdir, "imap.password", "s3cret imap\n", 0600);
	put_file(tmpdir, "smtp.password", "smtp-pw\r\n", 0400);
	put_file(tmpdir, "open.password", "x\n", 0644);
	put_file(tmpdir, "empty.password", "", 0600);
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	unsetenv("STATE_DIRECTORY");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct config *load_ok(const char *path, const char *const *c, size_t n)
{
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load(path, c, n, &errs);
	if (!cfg)
		cfg_errors_print(&errs, stderr);
	assert_non_null(cfg);
	assert_int_equal(errs.n, 0);
	cfg_errors_release(&errs);
	return cfg;
}

/* Loads text (written to a file in the temporary directory) and returns the
 * number of errors, leaving them in errs. */
static size_t load_text_errors(const char *text, struct cfg_errors *errs)
{
	cfg_errors_init(errs);
	char name[128];
	snprintf(name, sizeof name, "%s/t.yaml", tmpdir);
	struct config *cfg = cfg_load_mem(text, strlen(text), name, cats, NCATS, errs);
	assert_null(cfg);
	return errs->n;
}

/* ---- bad files ---------------------------------------------------------------- */

static int check_expect(const char *yaml)
{
	char exp[512], line[1024];
	snprintf(exp, sizeof exp, "%.*s.expect", (int)(strlen(yaml) - 5), yaml);
	FILE *f = fopen(exp, "r");
	if (!f) {
		print_error("%s: no .expect file\n", yaml);
		return -1;
	}
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load(yaml, cats, NCATS, &errs);
	int bad = 0;
	size_t i = 0;
	if (cfg) {
		print_error("%s: loaded without error\n", yaml);
		cfg_free(cfg);
		bad = 1;
	}
	while (fgets(line, sizeof line, f)) {
		int l, c, off = 0;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%d:%d: %n", &l, &c, &off) != 2 || !off) {
			print_error("%s: bad line \"%s\"\n", exp, line);
			bad = 1;
			continue;
		}
		if (i >= errs.n) {
			print_error("%s: missing error %s\n", yaml, line);
			bad = 1;
		} else if (errs.v[i].line != l || errs.v[i].col != c ||
			   !strstr(errs.v[i].msg, line + off)) {
			print_error("%s: expected %s\n%*s got %d:%d: %s\n", yaml, line,
				    (int)strlen(yaml), "", errs.v[i].line, errs.v[i].col,
				    errs.v[i].msg);
			bad = 1;
		}
		i++;
	}
	for (; i < errs.n; i++) {
		print_error("%s: unexpected error %d:%d: %s\n", yaml, errs.v[i].line,
			    errs.v[i].col, errs.v[i].msg);
		bad = 1;
	}
	fclose(f);
	cfg_errors_release(&errs);
	return bad ? -1 : 0;
}

static void test_bad_files(void **state)
{
	glob_t g;
	assert_int_equal(glob(DATA "/bad/*.yaml", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 20);
	int failed = 0;
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (check_expect(g.gl_pathv[i]) < 0)
			failed++;
	globfree(&g);
	assert_int_equal(failed, 0);
}

/* ---- good files ---------------------------------------------------------------- */

static void test_good_minimal(void **state)
{
	struct config *cfg = load_ok(DATA "/good/minimal.yaml", cats, NCATS);
	const struct cfg_imap *im = cfg_imap(cfg);
	char pwpath[128];
	snprintf(pwpath, sizeof pwpath, "%s/imap.password", tmpdir);
	assert_string_equal(cfg_file(cfg), DATA "/good/minimal.yaml");
	assert_string_equal(im->host, "imap.example.org");
	assert_int_equal(im->port, 993);
	assert_int_equal(im->tls, CFG_TLS_IMPLICIT);
	assert_null(im->ca_file);
	assert_string_equal(im->username, "info@example.org");
	assert_string_equal(im->password_file, pwpath);
	assert_string_equal(im->password, "s3cret imap");
	assert_int_equal(im->auth, CFG_AUTH_AUTO);
	assert_string_equal(im->mailbox, "INBOX");
	assert_int_equal(im->idle, 1);
	assert_int_equal(im->poll_interval, 60);
	assert_int_equal(im->max_message_size, 25 * 1024 * 1024);
	assert_null(cfg_smtp(cfg));
	assert_string_equal(cfg_classifier(cfg)->model, TRIAGE_DATADIR "/fr.model");
	assert_int_equal(cfg_classifier(cfg)->threshold_auto, 1);
	assert_string_equal(cfg_review_folder(cfg), "À vérifier");
	assert_string_equal(cfg_state_dir(cfg), "/var/lib/triage");
	assert_int_equal(cfg_dry_run(cfg), 0);
	unsigned days = 99;
	assert_int_equal(cfg_backlog(cfg, &days), CFG_BACKLOG_NONE);
	assert_int_equal(cfg_log_level(cfg), CFG_LOG_INFO);
	const struct cfg_learning *le = cfg_learning(cfg);
	assert_int_equal(le->enabled, 1);
	assert_int_equal(le->keep_confirmed, 0);
	assert_int_equal(le->confirm_after_days, 30);
	assert_int_equal(le->retention_days, 400);
	/* one route per category of the model, none written: keyword only */
	assert_int_equal(cfg_nroutes(cfg), NCATS);
	for (size_t i = 0; i < NCATS; i++) {
		const struct cfg_route *r = cfg_route_at(cfg, i);
		assert_string_equal(r->category, cats[i]);
		assert_int_equal(r->configured, 0);
		assert_null(r->folder);
		assert_null(r->subject_tag);
		assert_int_equal(r->nforward, 0);
	}
	assert_string_equal(cfg_route(cfg, "QuestionGenerale")->keyword,
			    "$triage_questiongenerale");
	assert_null(cfg_route(cfg, "Mairie"));
	assert_null(cfg_route_at(cfg, NCATS));
	assert_int_equal(cfg_nrules(cfg), 0);
	const struct cfg_rule *m = (const void *)1;
	assert_int_equal(cfg_rules_match(cfg, "a@b.fr", "x", "y", 1, &m), 0);
	assert_null(m);
	cfg_free(cfg);
}

static void test_good_full(void **state)
{
	struct config *cfg = load_ok(DATA "/good/full.yaml", cats, NCATS);
	const struct cfg_imap *im = cfg_imap(cfg);
	assert_int_equal(im->port, 10993);
	assert_string_equal(im->ca_file, DATA "/good/ca.pem");
	assert_int_equal(im->auth, CFG_AUTH_PLAIN);
	assert_string_equal(im->mailbox, "Boîte commune");
	assert_int_equal(im->idle, 0);
	assert_int_equal(im->poll_interval, 300);
	assert_int_equal(im->max_message_size, 10 * 1024 * 1024);
	const struct cfg_smtp *sm = cfg_smtp(cfg);
	assert_non_null(sm);
	assert_string_equal(sm->url, "smtps://mail.example.org:2465");
	assert_string_equal(sm->host, "mail.example.org");
	assert_int_equal(sm->port, 2465);
	assert_int_equal(sm->tls, CFG_TLS_IMPLICIT);
	assert_string_equal(sm->ca_file, "/etc/passwd");
	assert_string_equal(sm->username, "envoi@example.org");
	assert_string_equal(sm->password, "smtp-pw"); /* CRLF removed */
	assert_string_equal(sm->from, "info@example.org");
	assert_string_equal(cfg_classifier(cfg)->model, DATA "/good/models/fr.model");
	assert_int_equal(cfg_classifier(cfg)->threshold_auto, 0);
	assert_true(cfg_classifier(cfg)->threshold == 0.75);
	assert_string_equal(cfg_review_folder(cfg), "Vérifier/À trier");
	assert_string_equal(cfg_state_dir(cfg), "/srv/triage");
	assert_int_equal(cfg_dry_run(cfg), 1);
	unsigned days = 0;
	assert_int_equal(cfg_backlog(cfg, &days), CFG_BACKLOG_DAYS);
	assert_int_equal(days, 30);
	assert_int_equal(cfg_log_level(cfg), CFG_LOG_DEBUG);
	const struct cfg_learning *le = cfg_learning(cfg);
	assert_int_equal(le->enabled, 0);
	assert_int_equal(le->keep_confirmed, 1);
	assert_int_equal(le->confirm_after_days, 7);
	assert_int_equal(le->retention_days, 730);

	const struct cfg_route *r = cfg_route(cfg, "Adhesion");
	assert_int_equal(r->configured, 1);
	assert_int_equal(r->line, 35);
	assert_string_equal(r->folder, "Adhésions");
	assert_null(r->keyword);
	assert_string_equal(r->subject_tag, "[Adhésion]");
	assert_int_equal(r->nforward, 2);
	assert_string_equal(r->forward[0], "tresorier@example.org");
	assert_string_equal(r->forward[1], "odile.ferrand@example.org");
	assert_int_equal(r->forward_mode, CFG_FWD_ATTACHMENT);
	r = cfg_route(cfg, "Presse");
	assert_string_equal(r->keyword, "$triage_presse");
	assert_int_equal(r->nforward, 1);
	assert_string_equal(r->forward[0], "presse@example.org");
	assert_int_equal(r->forward_mode, CFG_FWD_REDIRECT);
	r = cfg_route(cfg, "Autre");  /* written with no value: keyword only */
	assert_int_equal(r->configured, 1);
	assert_null(r->folder);
	assert_string_equal(r->keyword, "$triage_autre");
	/* routes follow the model's order */
	assert_string_equal(cfg_route_at(cfg, 4)->category, "Presse");
	assert_int_equal(cfg_route_at(cfg, 1)->configured, 0);

	assert_int_equal(cfg_nrules(cfg), 4);
	const struct cfg_rule *ru = cfg_rule_at(cfg, 0);
	assert_string_equal(ru->name, "mairie");
	assert_string_equal(ru->from, "@mairie-[a-z-]+\\.fr$");
	assert_null(ru->subject);
	assert_int_equal(ru->action, CFG_ACTION_CATEGORY);
	assert_string_equal(ru->category, "Partenariat");
	assert_int_equal(ru->flag, 0);
	ru = cfg_rule_at(cfg, 1);
	assert_int_equal(ru->action, CFG_ACTION_MODEL);
	assert_int_equal(ru->flag, 1);
	ru = cfg_rule_at(cfg, 2);
	assert_non_null(ru->from);
	assert_non_null(ru->subject);
	assert_string_equal(ru->body, "ne pas trier");
	assert_int_equal(ru->action, CFG_ACTION_NONE);
	ru = cfg_rule_at(cfg, 3);
	assert_int_equal(ru->action, CFG_ACTION_REVIEW);
	assert_null(ru->category);
	assert_int_equal(ru->flag, 1);
	assert_int_equal(ru->line, 58);
	assert_null(cfg_rule_at(cfg, 4));
	cfg_free(cfg);
}

static void test_good_local(void **state)
{
	struct config *cfg = load_ok(DATA "/good/local.yaml", cats, NCATS);
	const struct cfg_imap *im = cfg_imap(cfg);
	assert_int_equal(im->tls, CFG_TLS_NONE);
	assert_int_equal(im->port, 143);
	assert_int_equal(im->auth, CFG_AUTH_LOGIN);
	const struct cfg_smtp *sm = cfg_smtp(cfg);
	assert_string_equal(sm->host, "::1");
	assert_int_equal(sm->port, 2525);
	assert_int_equal(sm->tls, CFG_TLS_NONE);
	assert_null(sm->username);
	assert_null(sm->password);
	const struct cfg_route *r = cfg_route(cfg, "Benevolat");
	assert_int_equal(r->nforward, 1);
	assert_string_equal(r->forward[0], "benevoles@example.org");
	assert_int_equal(cfg_backlog(cfg, NULL), CFG_BACKLOG_ALL);
	assert_int_equal(cfg_classifier(cfg)->threshold_auto, 0);
	assert_true(cfg_classifier(cfg)->threshold == 0.0);
	cfg_free(cfg);
}

/* The example shipped for the association loads as it is. */
static void test_shipped_example(void **state)
{
	struct config *cfg = load_ok("config/triage.yaml", cats, NCATS);
	assert_string_equal(cfg_imap(cfg)->host, "imap.amis-vieux-quartier.fr");
	assert_non_null(cfg_smtp(cfg));
	assert_int_equal(cfg_nroutes(cfg), NCATS);
	for (size_t i = 0; i < NCATS; i++)
		assert_int_equal(cfg_route_at(cfg, i)->configured, 1);
	assert_true(cfg_nrules(cfg) >= 2);
	cfg_free(cfg);
}

/* Without a model, routes are those of the file, in its order, and any
 * category name is accepted. */
static void test_without_categories(void **state)
{
	const char *text = "imap:\n  host: h.example.org\n  username: u\n"
			   "  password_file: imap.password\n"
			   "routes:\n  Zeta:\n    folder: Z\n  Alpha:\n"
			   "rules:\n  - name: r\n    from: x\n    route: Mairie\n";
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load_mem(text, strlen(text), "mem.yaml", NULL, 0, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg_nroutes(cfg), 2);
	assert_string_equal(cfg_route_at(cfg, 0)->category, "Zeta");
	assert_string_equal(cfg_route_at(cfg, 1)->category, "Alpha");
	assert_string_equal(cfg_rule_at(cfg, 0)->category, "Mairie");
	cfg_free(cfg);
	/* the same with the model's categories: both names are refused */
	assert_null(cfg_load_mem(text, strlen(text), "mem.yaml", cats, NCATS, &errs));
	assert_int_equal(errs.n, 3);
	cfg_errors_release(&errs);
}

/* ---- password files ------------------------------------------------------------ */

static void test_password_next_to_config(void **state)
{
	char dir[128], name[192];
	snprintf(dir, sizeof dir, "%s/etc", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	put_file(dir, "imap.password", "local\n", 0600);
	snprintf(name, sizeof name, "%s/triage.yaml", dir);
	const char *text = "imap:\n  host: h.example.org\n  username: u\n"
			   "  password_file: imap.password\n";
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	/* $CREDENTIALS_DIRECTORY wins over the configuration's directory */
	struct config *cfg = cfg_load_mem(text, strlen(text), name, cats, NCATS, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg_imap(cfg)->password, "s3cret imap");
	cfg_free(cfg);
	unsetenv("CREDENTIALS_DIRECTORY");
	cfg = cfg_load_mem(text, strlen(text), name, cats, NCATS, &errs);
	setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
	assert_non_null(cfg);
	assert_string_equal(cfg_imap(cfg)->password, "local");
	cfg_free(cfg);
	assert_int_equal(errs.n, 0);
}

static void test_password_limits(void **state)
{
	char *big = malloc(CFG_MAX_PASSWORD + 2);
	assert_non_null(big);
	memset(big, 'p', CFG_MAX_PASSWORD);
	strcpy(big + CFG_MAX_PASSWORD, "\n");
	put_file(tmpdir, "max.password", big, 0600);
	big[CFG_MAX_PASSWORD] = 'p';
	big[CFG_MAX_PASSWORD + 1] = 0;
	put_file(tmpdir, "over.password", big, 0600);
	free(big);
	put_file(tmpdir, "two.password", "one\ntwo\n", 0600);
	put_file(tmpdir, "group.password", "x", 0620);

	char text[512], abs[128];
	struct cfg_errors errs;
	snprintf(abs, sizeof abs, "%s/max.password", tmpdir);
	snprintf(text, sizeof text, "imap:\n  host: h.example.org\n  username: u\n"
		 "  password_file: %s\n", abs);
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load_mem(text, strlen(text), "m.yaml", cats, NCATS, &errs);
	assert_non_null(cfg);
	assert_int_equal(strlen(cfg_imap(cfg)->password), CFG_MAX_PASSWORD);
	assert_string_equal(cfg_imap(cfg)->password_file, abs);
	cfg_free(cfg);

	const char *files[] = { "over.password", "two.password", "group.password" };
	const char *want[] = { "too big", "alone, on one line", "(mode 0620)" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(text, sizeof text, "imap:\n  host: h.example.org\n  username: u\n"
			 "  password_file: %s\n", files[i]);
		assert_int_equal(load_text_errors(text, &errs), 1);
		assert_int_equal(errs.v[0].line, 4);
		assert_int_equal(errs.v[0].col, 18);
		assert_non_null(strstr(errs.v[0].msg, want[i]));
		cfg_errors_release(&errs);
	}
}

/* ---- limits ------------------------------------------------------------------ */

static void test_file_size_limit(void **state)
{
	const char *head = "imap:\n  host: h.example.org\n  username: u\n"
			   "  password_file: imap.password\n";
	char path[128];
	snprintf(path, sizeof path, "%s/big.yaml", tmpdir);
	char *text = malloc(CFG_MAX_FILE_SIZE + 2);
	assert_non_null(text);
	size_t hl = strlen(head);
	memcpy(text, head, hl);
	/* comment lines up to exactly the limit */
	for (size_t i = hl; i < CFG_MAX_FILE_SIZE; i++)
		text[i] = (i - hl) % 64 == 0 ? '#' : (i - hl) % 64 == 63 ? '\n' : 'x';
	text[CFG_MAX_FILE_SIZE - 1] = '\n';
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, CFG_MAX_FILE_SIZE, f), CFG_MAX_FILE_SIZE);
	fclose(f);
	struct config *cfg = load_ok(path, cats, NCATS);
	cfg_free(cfg);
	f = fopen(path, "a");
	fputc('\n', f);
	fclose(f);
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	assert_null(cfg_load(path, cats, NCATS, &errs));
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.v[0].line, 0);
	assert_non_null(strstr(errs.v[0].msg, "larger than"));
	cfg_errors_release(&errs);
	/* the same limit from memory */
	text[CFG_MAX_FILE_SIZE] = '\n';
	assert_null(cfg_load_mem(text, CFG_MAX_FILE_SIZE + 1, "m.yaml", cats, NCATS, &errs));
	assert_int_equal(errs.n, 1);
	cfg_errors_release(&errs);
	free(text);
}

static void test_missing_file(void **state)
{
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	assert_null(cfg_load("/nonexistent/triage.yaml", cats, NCATS, &errs));
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.v[0].line, 0);
	assert_string_equal(errs.v[0].file, "/nonexistent/triage.yaml");
	cfg_errors_release(&errs);
}

/* More errors than kept: the first CFG_MAX_ERRORS, and a count of the rest. */
static void test_error_cap(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_appends(&b, "imap:\n  host: h.example.org\n  username: u\n"
				     "  password_file: imap.password\n"), 0);
	for (int i = 0; i < CFG_MAX_ERRORS + 20; i++)
		assert_int_equal(buf_printf(&b, "unknown%d: 1\n", i), 0);
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	assert_null(cfg_load_mem(b.data, b.len, "m.yaml", cats, NCATS, &errs));
	assert_int_equal(errs.n, CFG_MAX_ERRORS);
	assert_int_equal(errs.dropped, 20);
	assert_int_equal(errs.v[0].line, 5);
	assert_int_equal(errs.v[CFG_MAX_ERRORS - 1].line, 4 + CFG_MAX_ERRORS);
	cfg_errors_release(&errs);
	buf_release(&b);
}

static void test_too_many_keys(void **state)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_appends(&b, "imap:\n  host: h.example.org\n  username: u\n"
				     "  password_file: imap.password\nroutes:\n"), 0);
	for (int i = 0; i <= CFG_MAX_ROUTES; i++)
		assert_int_equal(buf_printf(&b, "  C%d:\n", i), 0);
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	assert_null(cfg_load_mem(b.data, b.len, "m.yaml", NULL, 0, &errs));
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.v[0].line, 6);
	assert_non_null(strstr(errs.v[0].msg, "routes has 257 keys; at most 256"));
	cfg_errors_release(&errs);
	/* exactly at the limit: loads */
	b.len -= strlen("  C256:\n");
	b.data[b.len] = 0;
	struct config *cfg = cfg_load_mem(b.data, b.len, "m.yaml", NULL, 0, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg_nroutes(cfg), CFG_MAX_ROUTES);
	cfg_free(cfg);
	buf_release(&b);
}

static void test_deep_nesting(void **state)
{
	char text[1024] = "imap: ";
	size_t n = strlen(text);
	for (int i = 0; i < 200; i++)
		text[n++] = '[';
	text[n] = 0;
	struct cfg_errors errs;
	assert_int_equal(load_text_errors(text, &errs), 1);
	assert_non_null(strstr(errs.v[0].msg, "nested too deeply"));
	assert_int_equal(errs.v[0].col, 7 + YT_MAX_DEPTH - 1);
	cfg_errors_release(&errs);
}

static void test_state_directory(void **state)
{
	setenv("STATE_DIRECTORY", "/var/lib/triage-a:/var/lib/triage-b", 1);
	struct config *cfg = load_ok(DATA "/good/minimal.yaml", cats, NCATS);
	unsetenv("STATE_DIRECTORY");
	assert_string_equal(cfg_state_dir(cfg), "/var/lib/triage-a");
	cfg_free(cfg);
}

/* ---- categories from the model named in the file ----------------------------- */

struct fake_model {
	int fail;
	char seen[256];
};

static int fake_labels(void *ctx, const char *model_path, const char *const **labels,
		       size_t *n, char *err, size_t errsz)
{
	struct fake_model *m = ctx;
	snprintf(m->seen, sizeof m->seen, "%s", model_path);
	if (m->fail)
		return errf(err, errsz, "%s: not a triage model", model_path);
	*labels = cats;
	*n = NCATS;
	return 0;
}

static void test_labels_from_model(void **state)
{
	struct fake_model m = { 0 };
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load_labels(DATA "/good/full.yaml", fake_labels, &m, &errs);
	assert_non_null(cfg);
	assert_string_equal(m.seen, DATA "/good/models/fr.model");
	assert_int_equal(cfg_nroutes(cfg), NCATS);
	cfg_free(cfg);

	/* a model that cannot be loaded: reported at classifier.model, the rest
	 * still checked */
	m.fail = 1;
	assert_null(cfg_load_labels(DATA "/bad/rules.yaml", fake_labels, &m, &errs));
	assert_null(cfg_load_labels(DATA "/good/full.yaml", fake_labels, &m, &errs));
	size_t found = 0;
	for (size_t i = 0; i < errs.n; i++)
		if (strstr(errs.v[i].msg, "cannot use the model") &&
		    !strcmp(errs.v[i].file, DATA "/good/full.yaml")) {
			assert_int_equal(errs.v[i].line, 22);
			assert_int_equal(errs.v[i].col, 10);
			found++;
		}
	assert_int_equal(found, 1);
	/* rules.yaml has its own errors, but its categories are not checked */
	for (size_t i = 0; i < errs.n; i++)
		assert_null(strstr(errs.v[i].msg, "not a category"));
	cfg_errors_release(&errs);

	/* an invalid classifier.model is reported once: the model is not tried */
	const char *text = "imap:\n  host: h.example.org\n  username: u\n"
			   "  password_file: imap.password\nclassifier:\n  model: [a]\n";
	m.seen[0] = 0;
	assert_null(cfg_load_mem(text, strlen(text), "m.yaml", NULL, 0, &errs));
	cfg_errors_release(&errs);
	char path[128];
	snprintf(path, sizeof path, "%s/m.yaml", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_null(cfg_load_labels(path, fake_labels, &m, &errs));
	assert_string_equal(m.seen, "");
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.v[0].line, 6);
	assert_int_equal(errs.v[0].col, 10);
	cfg_errors_release(&errs);

	/* no classifier.model: the default model, and the error at 1:1 */
	assert_null(cfg_load_labels(DATA "/good/minimal.yaml", fake_labels, &m, &errs));
	assert_string_equal(m.seen, TRIAGE_DATADIR "/fr.model");
	assert_int_equal(errs.n, 1);
	assert_int_equal(errs.v[0].line, 1);
	assert_int_equal(errs.v[0].col, 1);
	cfg_errors_release(&errs);
}

/* ---- the rule matcher -------------------------------------------------------------- */

static struct config *rules_config(const char *rules)
{
	char text[4096];
	snprintf(text, sizeof text, "imap:\n  host: h.example.org\n  username: u\n"
		 "  password_file: imap.password\nrules:\n%s", rules);
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load_mem(text, strlen(text), "m.yaml", cats, NCATS, &errs);
	if (!cfg)
		cfg_errors_print(&errs, stderr);
	assert_non_null(cfg);
	cfg_errors_release(&errs);
	return cfg;
}

static const char *matched(const struct config *cfg, const char *from, const char *subject,
			   const char *body)
{
	const struct cfg_rule *r;
	assert_int_equal(cfg_rules_match(cfg, from, subject, body, body ? strlen(body) : 0,
					 &r), 0);
	return r ? r->name : "-";
}

static void test_match_order(void **state)
{
	struct config *cfg = rules_config(
		"  - name: mairie\n    from: '@mairie-[a-z-]+\\.fr$'\n    route: Partenariat\n"
		"  - name: urgent\n    subject: '(?i)\\burgent'\n    flag: true\n"
		"  - name: mairie-urgent\n    from: '@mairie-'\n    subject: urgent\n"
		"    route: review\n");
	/* first match wins, in file order */
	assert_string_equal(matched(cfg, "maire@mairie-lyon.fr", "urgent", ""), "mairie");
	assert_string_equal(matched(cfg, "x@example.org", "Très URGENT", ""), "urgent");
	assert_string_equal(matched(cfg, "x@example.org", "insurgent", ""), "-");
	/* from is matched without regard to case */
	assert_string_equal(matched(cfg, "Maire@Mairie-Lyon.FR", "", ""), "mairie");
	assert_string_equal(matched(cfg, "x@mairie-lyon.fr.evil.com", "", ""), "-");
	/* NULL inputs are empty texts */
	assert_string_equal(matched(cfg, NULL, NULL, NULL), "-");
	cfg_free(cfg);
}

static void test_match_and(void **state)
{
	struct config *cfg = rules_config(
		"  - name: tous\n    from: '@asso\\.fr$'\n    subject: '^\\[AG\\]'\n"
		"    body: 'ordre du jour'\n    route: Evenement\n");
	assert_string_equal(matched(cfg, "p@asso.fr", "[AG] 2025", "voici l'ordre du jour"),
			    "tous");
	assert_string_equal(matched(cfg, "p@asso.fr", "[AG] 2025", "rien"), "-");
	assert_string_equal(matched(cfg, "p@autre.fr", "[AG] 2025", "ordre du jour"), "-");
	assert_string_equal(matched(cfg, "p@asso.fr", "Re: [AG]", "ordre du jour"), "-");
	const struct cfg_rule *r = cfg_rule_at(cfg, 0);
	assert_int_equal(r->action, CFG_ACTION_CATEGORY);
	assert_string_equal(r->category, "Evenement");
	cfg_free(cfg);
}

static void test_match_utf8(void **state)
{
	struct config *cfg = rules_config(
		"  - name: adhesion\n    subject: '(?i)\\badhésion'\n    route: Adhesion\n"
		"  - name: mot\n    body: '\\bété\\b'\n    route: none\n"
		"  - name: emoji\n    subject: '^.🎉$'\n    route: Autre\n");
	/* case-insensitive beyond ASCII */
	assert_string_equal(matched(cfg, "", "ADHÉSION 2025", ""), "adhesion");
	assert_string_equal(matched(cfg, "", "Re: renouvellement adhésion", ""), "adhesion");
	/* \b sees accented letters as letters (UCP) */
	assert_string_equal(matched(cfg, "", "", "cet été, la fête"), "mot");
	assert_string_equal(matched(cfg, "", "", "les étés"), "-");
	/* . is one character, not one byte */
	assert_string_equal(matched(cfg, "", "é🎉", ""), "emoji");
	/* invalid UTF-8 in a message is not an error, only not a match */
	assert_string_equal(matched(cfg, "", "adh\xe9sion", "\xff\xfe"), "-");
	cfg_free(cfg);
}

static void test_match_body_length(void **state)
{
	struct config *cfg = rules_config("  - name: fin\n    body: 'merci$'\n    flag: true\n");
	const char body[] = "merci beaucoup";
	const struct cfg_rule *r;
	/* only body_len bytes are the body: it need not be NUL-terminated */
	assert_int_equal(cfg_rules_match(cfg, "", "", body, 5, &r), 0);
	assert_non_null(r);
	assert_int_equal(cfg_rules_match(cfg, "", "", body, sizeof body - 1, &r), 0);
	assert_null(r);
	cfg_free(cfg);
}

/* A pattern that backtracks exponentially stops at the match limit. */
static void test_match_limit(void **state)
{
	struct config *cfg = rules_config(
		"  - name: lent\n    body: '^(a|aa)+$'\n    flag: true\n"
		"  - name: apres\n    body: 'b'\n    flag: true\n");
	char body[200];
	memset(body, 'a', sizeof body - 2);
	body[sizeof body - 2] = 'b';
	body[sizeof body - 1] = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_string_equal(matched(cfg, "", "", body), "apres");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	cfg_free(cfg);
}

/* ---- small functions ----------------------------------------------------------------- */

static void test_addresses(void **state)
{
	const char *good[] = { "a@example.org", "jean-pierre.moulin@mairie-saint-aubin.fr",
			       "x+tag@sub.example.org", "élodie@exemple.fr", "a_b@x.io" };
	const char *bad[] = { "", "a", "a@", "@example.org", "a@example", "a@@example.org",
			      "a b@example.org", "a.@example.org", ".a@example.org",
			      "a..b@example.org", "a@-x.org", "a@x-.org", "a@x..org",
			      "<a@example.org>", "a@example.org." };
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_true(address_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (address_valid(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_sizes(void **state)
{
	unsigned long long x;
	assert_int_equal(parse_size("25M", &x), 0);
	assert_int_equal(x, 25ULL << 20);
	assert_int_equal(parse_size("64k", &x), 0);
	assert_int_equal(x, 64ULL << 10);
	assert_int_equal(parse_size("1GB", &x), 0);
	assert_int_equal(x, 1ULL << 30);
	assert_int_equal(parse_size("1048576", &x), 0);
	assert_int_equal(x, 1048576);
	assert_int_equal(parse_size("", &x), -1);
	assert_int_equal(parse_size("M", &x), -1);
	assert_int_equal(parse_size("25 M", &x), -1);
	assert_int_equal(parse_size("25MM", &x), -1);
	assert_int_equal(parse_size("99999999999999999999999", &x), -1);
}

static void test_near_miss(void **state)
{
	static const char *const keys[] = { "host", "port", "tls", "password_file",
					    "poll_interval" };
	assert_string_equal(near_miss("hots", keys, 5), "host");
	assert_string_equal(near_miss("Port", keys, 5), "port");
	assert_string_equal(near_miss("tsl", keys, 5), "tls");
	assert_string_equal(near_miss("pasword_fil", keys, 5), "password_file");
	assert_string_equal(near_miss("pollinterval", keys, 5), "poll_interval");
	assert_null(near_miss("colour", keys, 5));
	assert_null(near_miss("x", keys, 5));
}

/* ---- French ----------------------------------------------------------------------------- */

static void test_french(void **state)
{
	const char *build = getenv("BUILD");
	char dir[512], mo[600];
	snprintf(dir, sizeof dir, "%s/locale", build && *build ? build : "build");
	snprintf(mo, sizeof mo, "%s/fr/LC_MESSAGES/triage.mo", dir);
	if (access(mo, R_OK) < 0) {
		print_message("no %s (built by `make` from po/fr.po): skipped\n", mo);
		skip();
	}
	if (!setlocale(LC_ALL, "fr_FR.UTF-8")) {
		print_message("the fr_FR.UTF-8 locale is not installed (scripts/deps.sh "
			      "check makes it): skipped\n");
		skip();
	}
	bindtextdomain(TRIAGE_DOMAIN, dir);
	bind_textdomain_codeset(TRIAGE_DOMAIN, "UTF-8");
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load(DATA "/bad/unknown-keys.yaml", cats, NCATS, &errs);
	setlocale(LC_ALL, "C");
	assert_null(cfg);
	assert_true(errs.n > 0);
	assert_int_equal(errs.v[0].line, 3);
	if (!strstr(errs.v[0].msg, "clé inconnue « hots » dans imap ; vouliez-vous dire « host » ?"))
		fail_msg("not in French: %s", errs.v[0].msg);
	cfg_errors_release(&errs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_good_minimal),
		cmocka_unit_test(test_good_full),
		cmocka_unit_test(test_good_local),
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_without_categories),
		cmocka_unit_test(test_password_next_to_config),
		cmocka_unit_test(test_password_limits),
		cmocka_unit_test(test_file_size_limit),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_too_many_keys),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_state_directory),
		cmocka_unit_test(test_labels_from_model),
		cmocka_unit_test(test_match_order),
		cmocka_unit_test(test_match_and),
		cmocka_unit_test(test_match_utf8),
		cmocka_unit_test(test_match_body_length),
		cmocka_unit_test(test_match_limit),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_near_miss),
		cmocka_unit_test(test_french),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
