/*
 * triage stats and triage forget: what the state says about the mail triage
 * handled and the corrections volunteers made, and a person's erasure.
 */
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "classifier/classifier.h"
#include "common/util.h"
#include "config/config.h"
#include "daemon/commands.h"
#include "daemon/learn.h"
#include "daemon/models.h"
#include "daemon/report.h"
#include "daemon/state.h"

/* The configuration, the model in use and the state (which must exist). */
static int open_all(const char *path, struct config **cfg, struct model **model,
		    struct state **st)
{
	struct cfg_errors errs;
	char p[PATH_MAX], err[PATH_MAX + 600];
	int retrained;
	cfg_errors_init(&errs);
	*cfg = models_load_config(path, &errs, model, &retrained, err, sizeof err);
	if (!*cfg) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_release(&errs);
		return cmd_fail(EX_CONFIG, "%s: invalid configuration", path);
	}
	cfg_errors_release(&errs);
	if (*err)
		fprintf(stderr, "triage: %s\n", err);
	snprintf(p, sizeof p, "%s/triage.db", cfg_state_dir(*cfg));
	if (access(p, F_OK) != 0) {
		model_free(*model);
		cfg_free(*cfg);
		return cmd_fail(EX_NOINPUT, "%s: no state yet (triage run has not handled any mail "
				"with this configuration)", p);
	}
	if (!(*st = state_open(p, err, sizeof err))) {
		model_free(*model);
		cfg_free(*cfg);
		return cmd_fail(EX_IOERR, "%s", err);
	}
	return 0;
}

/* ---- stats ---------------------------------------------------------------------- */

struct row {
	char month[8], category[65];
	uint64_t filed, review, forwarded, corrections;
	double conf_sum;
	uint64_t conf_n;
};

struct table {
	struct row *v;
	size_t n, cap;
};

static struct row *row_of(struct table *t, const char *month, const char *category)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i].month, month) && !strcmp(t->v[i].category, category))
			return &t->v[i];
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct row *v = realloc(t->v, cap * sizeof *v);
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	struct row *r = &t->v[t->n++];
	memset(r, 0, sizeof *r);
	snprintf(r->month, sizeof r->month, "%s", month);
	snprintf(r->category, sizeof r->category, "%s", category);
	return r;
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->month, y->month);
	return c ? c : strcmp(x->category, y->category);
}

/* Runs a grouped query (?1 = since): month, category, then up to 3 numbers,
 * handed to fn. */
static int grouped(struct state *st, const char *sql, time_t since, struct table *t,
		   void (*fn)(struct row *, sqlite3_stmt *))
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(state_db(st), sql, -1, &s, NULL) != SQLITE_OK)
		return cmd_fail(EX_SOFTWARE, "state database: %s", sqlite3_errmsg(state_db(st)));
	sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(s, 0);
		const char *c = (const char *)sqlite3_column_text(s, 1);
		struct row *r = row_of(t, m ? m : "?", c ? c : "");
		if (!r) {
			sqlite3_finalize(s);
			return cmd_fail(EX_SOFTWARE, "out of memory");
		}
		fn(r, s);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return cmd_fail(EX_IOERR, "state database: %s", sqlite3_errmsg(state_db(st)));
	return 0;
}

static void put_messages(struct row *r, sqlite3_stmt *s)
{
	r->filed += (uint64_t)sqlite3_column_int64(s, 2);
	r->review += (uint64_t)sqlite3_column_int64(s, 3);
	if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
		r->conf_sum += sqlite3_column_double(s, 4);
		r->conf_n += (uint64_t)sqlite3_column_int64(s, 5);
	}
}

static void put_forwards(struct row *r, sqlite3_stmt *s)
{
	r->forwarded += (uint64_t)sqlite3_column_int64(s, 2);
}

static void put_corrections(struct row *r, sqlite3_stmt *s)
{
	r->corrections += (uint64_t)sqlite3_column_int64(s, 2);
}

static int fill(struct state *st, time_t since, struct table *t)
{
	static const char q_msg[] =
		"SELECT strftime('%Y-%m', decided_at, 'unixepoch'), category, "
		"sum(status = 1 AND review = 0), sum(review = 1), "
		"sum(CASE WHEN confidence >= 0 THEN confidence END), "
		"sum(confidence >= 0) FROM message "
		"WHERE decided_at >= ?1 AND category != '' GROUP BY 1, 2";
	static const char q_fwd[] =
		"SELECT strftime('%Y-%m', m.decided_at, 'unixepoch'), m.category, count(*) "
		"FROM forward f JOIN message m ON f.message = m.id "
		"WHERE f.state = 1 AND m.decided_at >= ?1 GROUP BY 1, 2";
	/* a correction counts against the category triage had chosen */
	static const char q_corr[] =
		"SELECT strftime('%Y-%m', seen_at, 'unixepoch'), predicted, count(*) "
		"FROM correction WHERE kind = 0 AND seen_at >= ?1 GROUP BY 1, 2";
	int r;
	if ((r = grouped(st, q_msg, since, t, put_messages)) ||
	    (r = grouped(st, q_fwd, since, t, put_forwards)) ||
	    (r = grouped(st, q_corr, since, t, put_corrections)))
		return r;
	qsort(t->v, t->n, sizeof *t->v, cmp_row);
	return 0;
}

static void add(struct row *to, const struct row *r)
{
	to->filed += r->filed;
	to->review += r->review;
	to->forwarded += r->forwarded;
	to->corrections += r->corrections;
	to->conf_sum += r->conf_sum;
	to->conf_n += r->conf_n;
}

static double share(const struct row *r)
{
	uint64_t d = r->filed + r->review;
	return d ? (double)r->filed / (double)d : 0;
}

static void json_counts(FILE *f, const struct row *r)
{
	fprintf(f, "\"filed\": %llu, \"review\": %llu, \"forwarded\": %llu, \"corrections\": %llu, ",
		(unsigned long long)r->filed, (unsigned long long)r->review,
		(unsigned long long)r->forwarded, (unsigned long long)r->corrections);
	if (r->conf_n)
		fprintf(f, "\"mean_confidence\": %.4f, ", r->conf_sum / (double)r->conf_n);
	else
		fprintf(f, "\"mean_confidence\": null, ");
	fprintf(f, "\"share_filed\": %.4f", share(r));
}

static const char stats_usage[] =
	"usage: triage stats --config FILE [--since YYYY-MM-DD] [--json]\n"
	"\n"
	"What triage did, per month and category: messages filed, forwarded, sent to\n"
	"review, corrected by a volunteer, the mean confidence, and the share of mail\n"
	"filed without review. Then the correction rate of the last 30 days against\n"
	"what the model's evaluation predicts: more than twice is an ageing model.\n"
	"\n"
	"  --since DATE   only mail decided (and corrections seen) from that day on\n"
	"  --json         one JSON object: all-time \"filed\", \"review\", \"corrections\",\n"
	"                 \"forwarded\", then \"by_category\" and \"by_month\" (from --since),\n"
	"                 and \"last_30_days\"\n";

static int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *since_s = NULL;
	int json = 0, opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 's': since_s = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(stats_usage, stdout); return 0;
		default:
			cmd_fail(EX_USAGE, "%s: unknown option or missing value", argv[optind - 1]);
			fputs(stats_usage, stderr);
			return EX_USAGE;
		}
	}
	if (!config || optind < argc) {
		cmd_fail(EX_USAGE, "--config FILE is required");
		fputs(stats_usage, stderr);
		return EX_USAGE;
	}
	time_t since = 0;
	if (since_s) {
		struct tm tm = { 0 };
		const char *end = strptime(since_s, "%Y-%m-%d", &tm);
		if (!end || *end)
			return cmd_fail(EX_USAGE, "--since %s: a date such as 2026-01-31", since_s);
		since = timegm(&tm);
	}
	struct config *cfg;
	struct model *model;
	struct state *st;
	int rc = open_all(config, &cfg, &model, &st);
	if (rc)
		return rc;
	struct table t = { 0 }, all = { 0 };
	if ((rc = fill(st, since, &t)) || (rc = fill(st, 0, &all)))
		goto out;
	struct row tot = { 0 }, period = { 0 };
	for (size_t i = 0; i < all.n; i++)
		add(&tot, &all.v[i]);
	for (size_t i = 0; i < t.n; i++)
		add(&period, &t.v[i]);
	struct learn_ageing ag;
	if (learn_ageing(st, model, 30, &ag) < 0) {
		rc = cmd_fail(EX_IOERR, "%s", state_error(st));
		goto out;
	}
	/* categories in the model's order */
	size_t nl = model_nlabels(model);
	struct row *bycat = calloc(nl ? nl : 1, sizeof *bycat);
	if (!bycat) {
		rc = cmd_fail(EX_SOFTWARE, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t.n; i++)
		for (size_t k = 0; k < nl; k++)
			if (!strcmp(t.v[i].category, model_label(model, k)))
				add(&bycat[k], &t.v[i]);
	if (json) {
		printf("{");
		if (since_s) {
			printf("\"since\": ");
			json_string(stdout, since_s);
			printf(", ");
		}
		json_counts(stdout, &tot);
		printf(", \"by_category\": {");
		for (size_t k = 0; k < nl; k++) {
			printf("%s", k ? ", " : "");
			json_string(stdout, model_label(model, k));
			printf(": {");
			json_counts(stdout, &bycat[k]);
			printf("}");
		}
		printf("}, \"by_month\": [");
		for (size_t i = 0; i < t.n; i++) {
			printf("%s{\"month\": ", i ? ", " : "");
			json_string(stdout, t.v[i].month);
			printf(", \"category\": ");
			json_string(stdout, t.v[i].category);
			printf(", ");
			json_counts(stdout, &t.v[i]);
			printf("}");
		}
		printf("], \"last_30_days\": {\"filed\": %llu, \"corrected\": %llu, \"rate\": %.4f, "
		       "\"expected\": %.4f, \"enough_mail\": %s, \"ageing\": %s}}\n",
		       (unsigned long long)ag.filed, (unsigned long long)ag.corrected, ag.rate,
		       ag.expected, ag.enough ? "true" : "false", ag.ageing ? "true" : "false");
	} else {
		if (since_s)
			printf("Mail decided since %s:\n\n", since_s);
		else
			printf("All the mail triage handled:\n\n");
		printf("%-8s %-18s %7s %9s %7s %11s %10s\n", "month", "category", "filed",
		       "forwarded", "review", "corrections", "mean conf.");
		for (size_t i = 0; i < t.n; i++) {
			const struct row *r = &t.v[i];
			printf("%-8s %-18s %7llu %9llu %7llu %11llu ", r->month, r->category,
			       (unsigned long long)r->filed, (unsigned long long)r->forwarded,
			       (unsigned long long)r->review, (unsigned long long)r->corrections);
			if (r->conf_n)
				printf("%10.3f\n", r->conf_sum / (double)r->conf_n);
			else
				printf("%10s\n", "-");
		}
		printf("\n%-27s %7s %9s %7s %11s %10s\n", "per category", "filed", "forwarded",
		       "review", "corrections", "filed w/o review");
		for (size_t k = 0; k < nl; k++)
			printf("%-27s %7llu %9llu %7llu %11llu %9.1f%%\n", model_label(model, k),
			       (unsigned long long)bycat[k].filed,
			       (unsigned long long)bycat[k].forwarded,
			       (unsigned long long)bycat[k].review,
			       (unsigned long long)bycat[k].corrections, 100 * share(&bycat[k]));
		printf("%-27s %7llu %9llu %7llu %11llu %9.1f%%\n", "total",
		       (unsigned long long)period.filed, (unsigned long long)period.forwarded,
		       (unsigned long long)period.review, (unsigned long long)period.corrections,
		       100 * share(&period));
		printf("\nLast 30 days: %llu messages filed by the model, %llu corrected (%.1f%%); "
		       "its evaluation predicts %.1f%%.\n",
		       (unsigned long long)ag.filed, (unsigned long long)ag.corrected, 100 * ag.rate,
		       100 * ag.expected);
		if (ag.ageing)
			printf("The model is ageing: corrections are more than twice as frequent as "
			       "expected. Run triage retrain.\n");
		else if (!ag.enough)
			printf("Too little mail or too few corrections to judge the model yet.\n");
		else
			printf("The model holds up.\n");
	}
	free(bycat);
out:
	free(t.v);
	free(all.v);
	state_close(st);
	model_free(model);
	cfg_free(cfg);
	return rc;
}

const struct command command_stats = { "stats", cmd_stats,
	"what triage filed, forwarded, sent to review, and the corrections" };

/* ---- forget ---------------------------------------------------------------------- */

static const char forget_usage[] =
	"usage: triage forget --config FILE --address ADDR\n"
	"\n"
	"Removes every record and every kept training example about the mail of one\n"
	"sender (a person's right to erasure), and says how many. The state knows\n"
	"addresses only by their hash: the address given is hashed the same way.\n"
	"A model already trained keeps weights, not messages; the next triage retrain\n"
	"learns without the removed examples.\n";

static int cmd_forget(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "address", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *address = NULL;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'a': address = optarg; break;
		case 'h': fputs(forget_usage, stdout); return 0;
		default:
			cmd_fail(EX_USAGE, "%s: unknown option or missing value", argv[optind - 1]);
			fputs(forget_usage, stderr);
			return EX_USAGE;
		}
	}
	if (!config || !address || optind < argc) {
		cmd_fail(EX_USAGE, "--config FILE and --address ADDR are required");
		fputs(forget_usage, stderr);
		return EX_USAGE;
	}
	const char *at = strchr(address, '@');
	if (!at || at == address || !at[1] || strpbrk(address, " <>,;"))
		return cmd_fail(EX_USAGE, "--address %s: an address such as marie@example.org",
				address);
	struct config *cfg;
	struct model *model;
	struct state *st;
	int rc = open_all(config, &cfg, &model, &st);
	if (rc)
		return rc;
	size_t nmsg, ncorr, nfiles;
	char err[512];
	if (learn_forget(st, cfg_state_dir(cfg), address, &nmsg, &ncorr, &nfiles, err,
			 sizeof err) < 0)
		rc = cmd_fail(EX_IOERR, "%s", err);
	else
		printf("forgot %zu message records, %zu corrections and %zu kept examples about "
		       "this sender\n", nmsg, ncorr, nfiles);
	state_close(st);
	model_free(model);
	cfg_free(cfg);
	return rc;
}

const struct command command_forget = { "forget", cmd_forget,
	"remove every record and kept example about one sender" };
