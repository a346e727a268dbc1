/*
 * triage train: a labelled corpus -> a model file.
 * triage cv: the same corpus, stratified k-fold cross-validation, a report.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "classifier/classifier.h"
#include "daemon/cmdline.h"
#include "daemon/commands.h"
#include "daemon/report.h"

#define MAX_CORPORA 16

static const char train_usage[] =
	"usage: triage train --corpus DIR [--corpus DIR ...] --out MODEL [OPTIONS]\n"
	"\n"
	"Trains a model on labelled mail: each DIR holds one sub-directory per\n"
	"category, each holding raw messages, one per file.\n"
	"\n"
	"  --corpus DIR         a corpus (repeat to merge several, by category name)\n"
	"  --out MODEL          the model file to write (atomically)\n"
	"  --algo svm|logreg    linear SVM (default) or logistic regression\n"
	"  --lang fr|en         stemmer and stop words (default fr)\n"
	"  --seed N             seed of the folds and of the solver's order (default 1)\n"
	"  --c C|auto           regularisation parameter (default 4); auto: the best\n"
	"                       of 1, 2 and 4 by cross-validated macro-F1, each\n"
	"                       larger value tried only while it improves\n"
	"  --folds K            cross-validation folds for calibration (default 3)\n"
	"  --min-df N           keep terms found in at least N messages (default 2)\n"
	"  --max-features N     vocabulary size bound (default 262144)\n"
	"  --no-bigrams         words only\n"
	"  --share-quotes       quoted words also count as body words (right for\n"
	"                       newsgroups and lists, where quotes stay on topic;\n"
	"                       wrong for mail that quotes other topics: off by default)\n"
	"  --threads N          worker threads (default: one per CPU, at most 8)\n"
	"  --quiet              no progress and no summary\n";

static const char cv_usage[] =
	"usage: triage cv --corpus DIR [--corpus DIR ...] [--folds K] [--json] [OPTIONS]\n"
	"\n"
	"Stratified k-fold cross-validation of the training settings on a corpus:\n"
	"accuracy, macro-F1, per-category precision, recall and F1, the confusion\n"
	"matrix and the precision/coverage trade-off by threshold.\n"
	"\n"
	"  --folds K            folds (default 5)\n"
	"  --json               one JSON object instead of tables\n"
	"  (and --algo, --lang, --seed, --c, --min-df, --max-features, --no-bigrams,\n"
	"   --share-quotes, --threads as for `triage train`)\n"
	"\n"
	"With --c auto, the figures are those of the best C on these same folds,\n"
	"so slightly optimistic.\n";

enum { OPT_CORPUS = 256, OPT_OUT, OPT_ALGO, OPT_LANG, OPT_SEED, OPT_C, OPT_FOLDS, OPT_MINDF,
       OPT_MAXFEAT, OPT_NOBIGRAMS, OPT_SHAREQ, OPT_THREADS, OPT_QUIET, OPT_JSON, OPT_HELP };

static const struct option train_options[] = {
	{ "corpus", required_argument, NULL, OPT_CORPUS },
	{ "out", required_argument, NULL, OPT_OUT },
	{ "algo", required_argument, NULL, OPT_ALGO },
	{ "lang", required_argument, NULL, OPT_LANG },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "c", required_argument, NULL, OPT_C },
	{ "folds", required_argument, NULL, OPT_FOLDS },
	{ "min-df", required_argument, NULL, OPT_MINDF },
	{ "max-features", required_argument, NULL, OPT_MAXFEAT },
	{ "no-bigrams", no_argument, NULL, OPT_NOBIGRAMS },
	{ "share-quotes", no_argument, NULL, OPT_SHAREQ },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct train_args {
	const char *corpora[MAX_CORPORA];
	size_t ncorpora;
	const char *out;
	int quiet, json, is_cv;
	struct train_opts opts;
};

static void progress(void *ctx, const char *stage, size_t done, size_t total)
{
	(void)ctx;
	fprintf(stderr, "\r%s %zu/%zu   ", stage, done, total);
	if (done == total)
		fputc('\n', stderr);
}

/* Parses the options of train and cv. Returns -1 to go on, or an exit status. */
static int parse_args(int argc, char **argv, struct train_args *a)
{
	const char *usage = a->is_cv ? cv_usage : train_usage;
	int opt;
	unsigned long long v;
	double d;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", train_options, NULL)) != -1) {
		switch (opt) {
		case OPT_CORPUS:
			if (a->ncorpora == MAX_CORPORA)
				return cmd_fail(EX_USAGE, "at most %d --corpus", MAX_CORPORA);
			a->corpora[a->ncorpora++] = optarg;
			break;
		case OPT_OUT:
			if (a->is_cv)
				goto bad;
			a->out = optarg;
			break;
		case OPT_ALGO:
			if (!strcmp(optarg, "svm"))
				a->opts.algo = CLF_SVM;
			else if (!strcmp(optarg, "logreg"))
				a->opts.algo = CLF_LOGREG;
			else
				return cmd_fail(EX_USAGE, "--algo: 'svm' or 'logreg', not '%s'", optarg);
			break;
		case OPT_LANG:
			if (tok_lang_parse(optarg, &a->opts.tok.lang) < 0)
				return cmd_fail(EX_USAGE, "--lang: 'fr' or 'en', not '%s'", optarg);
			break;
		case OPT_SEED:
			if (parse_ull(optarg, 0, UINT64_MAX, &v) < 0)
				return cmd_fail(EX_USAGE, "--seed: not a number: '%s'", optarg);
			a->opts.seed = v;
			break;
		case OPT_C:
			if (!strcmp(optarg, "auto"))
				d = 0;
			else if (parse_double(optarg, 1e-6, 1e6, &d) < 0)
				return cmd_fail(EX_USAGE, "--c: 'auto' or a number between 1e-6 and 1e6, not '%s'",
						optarg);
			a->opts.c = d;
			break;
		case OPT_FOLDS:
			if (parse_ull(optarg, 2, 20, &v) < 0)
				return cmd_fail(EX_USAGE, "--folds: 2 to 20, not '%s'", optarg);
			a->opts.folds = (unsigned)v;
			break;
		case OPT_MINDF:
			if (parse_ull(optarg, 1, 1000000, &v) < 0)
				return cmd_fail(EX_USAGE, "--min-df: 1 to 1000000, not '%s'", optarg);
			a->opts.min_df = (unsigned)v;
			break;
		case OPT_MAXFEAT:
			if (parse_ull(optarg, 1, MODEL_MAX_FEATURES, &v) < 0)
				return cmd_fail(EX_USAGE, "--max-features: 1 to %u, not '%s'",
						MODEL_MAX_FEATURES, optarg);
			a->opts.max_features = (uint32_t)v;
			break;
		case OPT_NOBIGRAMS:
			a->opts.tok.bigrams = 0;
			break;
		case OPT_SHAREQ:
			a->opts.tok.share_quotes = 1;
			break;
		case OPT_THREADS:
			if (parse_ull(optarg, 1, 64, &v) < 0)
				return cmd_fail(EX_USAGE, "--threads: 1 to 64, not '%s'", optarg);
			a->opts.threads = (unsigned)v;
			break;
		case OPT_QUIET:
			a->quiet = 1;
			break;
		case OPT_JSON:
			if (!a->is_cv)
				goto bad;
			a->json = 1;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			return 0;
		default:
		bad:
			cmd_fail(EX_USAGE, "%s: unknown option or missing value", argv[optind - 1]);
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		cmd_fail(EX_USAGE, "unexpected argument '%s'", argv[optind]);
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (a->ncorpora == 0 || (!a->is_cv && !a->out)) {
		cmd_fail(EX_USAGE, a->is_cv ? "--corpus is required" : "--corpus and --out are required");
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (!a->quiet && !a->json && isatty(STDERR_FILENO))
		a->opts.progress = progress;
	/* Reproducible builds: the same corpus gives the same file, byte for byte. */
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && parse_ull(sde, 0, INT64_MAX, &v) == 0)
		a->opts.trained_at = (int64_t)v;
	return -1;
}

/* The tokenizers' patterns, compiled while the corpus is listed (a failure
 * there is reported when the tokenizers are made). */
static void *prepare(void *arg)
{
	char err[256];
	(void)arg;
	(void)tok_prepare(err, sizeof err);
	return NULL;
}

static int load_corpus(struct train_args *a, struct corpus *c)
{
	char err[512];
	for (size_t k = 0; k < a->ncorpora; k++)
		if (access(a->corpora[k], R_OK) < 0)
			return cmd_fail(EX_NOINPUT, "%s: %s", a->corpora[k], strerror(errno));
	pthread_t th;
	int preparing = pthread_create(&th, NULL, prepare, NULL) == 0;
	int rc = corpus_scan(c, a->corpora, a->ncorpora, err, sizeof err);
	if (preparing)
		pthread_join(th, NULL);
	if (rc < 0)
		return cmd_fail(EX_DATAERR, "%s", err);
	for (size_t l = 0; l < c->nlabels; l++) {
		size_t n = 0;
		for (size_t i = 0; i < c->n; i++)
			n += c->labels[i] == (int)l;
		if (n == 0) {
			corpus_release(c);
			return cmd_fail(EX_DATAERR, "category '%s' has no message", c->label_names[l]);
		}
	}
	return -1;
}

/* The model file is started as soon as its weights are known (see
 * model_save_begin): the disk writes it while the model is calibrated. */
struct saving {
	const char *path;
	struct model_saving *s;
	int failed;
};

static int start_saving(void *ctx, const struct model *m, char *err, size_t errsz)
{
	struct saving *sv = ctx;
	if (!(sv->s = model_save_begin(m, sv->path, err, errsz)))
		sv->failed = 1;
	return sv->s ? 0 : -1;
}

static int cmd_train(int argc, char **argv)
{
	struct train_args a = { 0 };
	train_opts_default(&a.opts);
	int st = parse_args(argc, argv, &a);
	if (st >= 0)
		return st;
	struct corpus c;
	if ((st = load_corpus(&a, &c)) >= 0)
		return st;
	struct model *m = NULL;
	struct train_result res;
	char err[512];
	struct saving sv = { a.out, NULL, 0 };
	a.opts.model_ready = start_saving;
	a.opts.model_ready_ctx = &sv;
	if (clf_train(&c, &a.opts, &m, &res, err, sizeof err) < 0) {
		model_save_abort(sv.s);
		corpus_release(&c);
		return cmd_fail(sv.failed ? EX_IOERR : EX_DATAERR, "%s", err);
	}
	if (model_save_end(sv.s, m, err, sizeof err) < 0) {
		model_free(m);
		train_result_release(&res);
		corpus_release(&c);
		return cmd_fail(EX_IOERR, "%s", err);
	}
	if (!a.quiet) {
		const struct model_info *mi = model_get_info(m);
		printf("model %s: %zu categories, %zu messages, %zu features (of %zu terms seen), "
		       "%s C=%g, %s\n",
		       a.out, c.nlabels, c.n, res.n_features, res.n_terms_seen,
		       mi->algo == CLF_SVM ? "linear SVM" : "logistic regression", mi->c,
		       tok_lang_name(a.opts.tok.lang));
		if (res.n_degraded)
			printf("%zu messages could not be read whole and were learnt from their headers\n",
			       res.n_degraded);
		if (res.n_c > 1) {
			printf("C chosen by cross-validation: %g (macro-F1", mi->c);
			for (unsigned g = 0; g < res.n_c; g++)
				printf("%s %.4f at C=%g", g ? "," : "", res.c_macro_f1[g], res.c_tried[g]);
			printf(")\n");
		}
		printf("cross-validated (%u folds): accuracy %.4f, macro-F1 %.4f\n", mi->cv_folds,
		       mi->cv_accuracy, mi->cv_macro_f1);
		if (model_threshold(m) < 1.0)
			printf("recommended threshold %.3f: files %.1f%% of the mail with %.1f%% precision\n",
			       model_threshold(m), 100 * mi->cv_coverage, 100 * mi->cv_precision);
		else
			printf("no threshold reaches %.0f%% precision: every message would go to review\n",
			       100 * a.opts.target_precision);
		printf("time: reading %.2f s, training %.2f s\n", res.seconds_read, res.seconds_train);
	}
	model_free(m);
	train_result_release(&res);
	corpus_release(&c);
	return 0;
}

static int cmd_cv(int argc, char **argv)
{
	struct train_args a = { .is_cv = 1 };
	train_opts_default(&a.opts);
	a.opts.folds = 5;
	a.opts.skip_final = 1;
	int st = parse_args(argc, argv, &a);
	if (st >= 0)
		return st;
	struct corpus c;
	if ((st = load_corpus(&a, &c)) >= 0)
		return st;
	struct train_result res;
	char err[512];
	if (clf_train(&c, &a.opts, NULL, &res, err, sizeof err) < 0) {
		corpus_release(&c);
		return cmd_fail(EX_DATAERR, "%s", err);
	}
	struct eval_report r;
	if (eval_compute(&r, c.nlabels, res.truth, res.pred, res.conf, res.n, res.threshold) < 0) {
		train_result_release(&res);
		corpus_release(&c);
		return cmd_fail(EX_SOFTWARE, "out of memory");
	}
	const char *const *labels = (const char *const *)c.label_names;
	if (a.json) {
		report_eval_json(stdout, &r, labels, res.threshold);
	} else {
		printf("%u-fold stratified cross-validation of %zu messages in %zu categories\n\n",
		       a.opts.folds, c.n, c.nlabels);
		report_eval_text(stdout, &r, labels, res.threshold);
	}
	eval_release(&r);
	train_result_release(&res);
	corpus_release(&c);
	return 0;
}

const struct command command_train = { "train", cmd_train, "train a model on labelled mail" };
const struct command command_cv = { "cv", cmd_cv, "cross-validate training settings on a corpus" };
