/*
 * triage retrain: the shipped corpus plus the examples the daemon kept from
 * the volunteers' corrections -> a candidate model, compared with the model
 * in use on the dev set and on held-out corrections, installed when it does
 * not do worse.
 * triage rollback: the previous model back in use.
 *
 * Kept examples are STATE_DIR/corrections/<Category>/<KEY>.eml, each a small
 * message whose header carries Example-Kind (correction or confirmed),
 * Example-Predicted and Example-Date (Unix time). They are few (tens) against
 * the corpus (about 1,100 messages), so each correction is given the weight
 * of CORRECTION_COPIES corpus messages: train.c has no sample weights, so the
 * file is listed that many times in the training set. Listing a file k times
 * is, for the linear SVM's loss, exactly a weight of k (for the idf and the
 * min_df count it counts as k messages, which lets a term met only in
 * corrections into the vocabulary). Confirmed examples (the model was right
 * and the volunteers left the mail where it was) only repeat what the model
 * already does: they count once, so that the model does not feed on its own
 * decisions.
 *
 * Held out: among the corrections of the last HELD_OUT_DAYS days, those whose
 * KEY hashes to 0 mod HELD_OUT_MOD (about one in four, always the same ones)
 * are left out of the candidate and used to measure it. The installed model
 * is trained again on everything, held-out corrections included.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "classifier/classifier.h"
#include "common/log.h"
#include "common/util.h"
#include "config/config.h"
#include "daemon/commands.h"
#include "daemon/models.h"
#include "daemon/report.h"

#define CORRECTION_COPIES 4
#define CONFIRMED_COPIES 1
#define HELD_OUT_DAYS 180
#define HELD_OUT_MOD 4
#define MAX_DEV_DROP 0.01        /* dev macro-F1 may lose at most this much */
#define MAX_KEPT 100000
#define HEADER_MAX 65536         /* bytes of a kept example read for its header */

static const char retrain_usage[] =
	"usage: triage retrain --config FILE [--dry-run] [--force] [--corpus DIR] [--dev DIR]\n"
	"                      [--json]\n"
	"\n"
	"Trains a new model on the shipped corpus plus the examples kept from the\n"
	"volunteers' corrections (STATE_DIR/corrections), compares it with the model\n"
	"in use on the dev set and on held-out corrections (about one in four of the\n"
	"last 180 days'), and installs it as STATE_DIR/models/current.model when the\n"
	"dev set's macro-F1 does not drop by more than 0.01. The model it replaces is\n"
	"kept as STATE_DIR/models/previous.model (see `triage rollback`), and a\n"
	"running daemon is told to reload (SIGHUP).\n"
	"\n"
	"  --config FILE   the configuration (see triage.yaml(5))\n"
	"  --dry-run       print the comparison, change nothing\n"
	"  --force         install even when the dev set's macro-F1 drops, or when\n"
	"                  there is no kept example\n"
	"  --corpus DIR    the training corpus (default " TRIAGE_DATADIR "/corpus)\n"
	"  --dev DIR       the dev set (default " TRIAGE_DATADIR "/fr-dev)\n"
	"  --json          one JSON object instead of the table\n"
	"\n"
	"Each correction counts as 4 corpus messages, each confirmed example as one.\n"
	"Exit status: 0 installed, nothing to learn, or --dry-run; 1 refused or\n"
	"failed; 64 misuse; 78 bad configuration.\n";

static const char rollback_usage[] =
	"usage: triage rollback --config FILE\n"
	"\n"
	"Puts the previous model (STATE_DIR/models/previous.model) back in use as\n"
	"STATE_DIR/models/current.model; the one it replaces becomes the previous\n"
	"model, so a second rollback undoes the first. A running daemon is told to\n"
	"reload (SIGHUP).\n"
	"\n"
	"  --config FILE   the configuration (see triage.yaml(5))\n"
	"\n"
	"Exit status: 0 done, 1 no previous model or failed, 64 misuse, 78 bad\n"
	"configuration.\n";

enum { OPT_CONFIG = 256, OPT_DRYRUN, OPT_FORCE, OPT_CORPUS, OPT_DEV, OPT_JSON, OPT_HELP };

static const struct option options[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "dry-run", no_argument, NULL, OPT_DRYRUN },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "corpus", required_argument, NULL, OPT_CORPUS },
	{ "dev", required_argument, NULL, OPT_DEV },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* ---- the configuration and the model in use ---------------------------------- */

struct loaded {
	struct config *cfg;
	struct model *model;      /* the model in use */
	char cur_path[PATH_MAX];  /* where it was read */
	const char *model_path;   /* cur_path */
};

static int give_labels(void *ctx, const char *path, const char *const **labels, size_t *n,
		       char *err, size_t errsz)
{
	(void)path;
	(void)err;
	(void)errsz;
	const char **l = ctx;
	*labels = l;
	for (*n = 0; l[*n]; (*n)++)
		;
	return 0;
}

/*
 * Loads the configuration with the categories of the model in use, as the
 * daemon does. A first pass without categories finds STATE_DIR; then the
 * model in use is loaded (current.model when there is one, which must load:
 * a corrupt one is an error that names `triage rollback`). Returns -1 to go
 * on, or an exit status.
 */
static int load(const char *path, struct loaded *out)
{
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load(path, NULL, 0, &errs);
	if (!cfg) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_release(&errs);
		return EX_CONFIG;
	}
	cfg_errors_release(&errs);
	/* Copied: the path may point into cfg, which is loaded again below. */
	const char *mp = models_current(cfg, out->cur_path, sizeof out->cur_path);
	int is_current = mp == out->cur_path;
	if (!is_current && snprintf(out->cur_path, sizeof out->cur_path, "%s", mp) >=
				   (int)sizeof out->cur_path) {
		cfg_free(cfg);
		return cmd_fail(EX_CONFIG, "%s: path too long", mp);
	}
	out->model_path = out->cur_path;
	char err[512];
	out->model = model_load(out->model_path, err, sizeof err);
	if (!out->model) {
		int st;
		if (is_current)
			st = cmd_fail(1, "%s\nthe installed model cannot be read: `triage rollback "
					 "--config %s` puts the previous one back (or remove %s to "
					 "use the configured %s)",
				      err, path, mp, cfg_classifier(cfg)->model);
		else
			st = cmd_fail(EX_CONFIG, "%s", err);
		cfg_free(cfg);
		return st;
	}
	cfg_free(cfg);
	size_t nl = model_nlabels(out->model);
	const char **labels = calloc(nl + 1, sizeof *labels);
	if (!labels) {
		model_free(out->model);
		return cmd_fail(1, "out of memory");
	}
	for (size_t i = 0; i < nl; i++)
		labels[i] = model_label(out->model, i);
	cfg_errors_init(&errs);
	out->cfg = cfg_load_labels(path, give_labels, labels, &errs);
	free(labels);
	if (!out->cfg) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_release(&errs);
		model_free(out->model);
		return EX_CONFIG;
	}
	cfg_errors_release(&errs);
	return -1;
}

static void loaded_release(struct loaded *l)
{
	cfg_free(l->cfg);
	model_free(l->model);
}

/* ---- kept examples -------------------------------------------------------------- */

enum kind { KIND_CORRECTION, KIND_CONFIRMED };

struct kept {
	char *path;
	char *key;           /* the file name less ".eml" */
	int label;           /* index in the training label list */
	enum kind kind;
	long long date;      /* Example-Date, 0 when absent */
	int held;            /* held out of the candidate */
};

struct kept_set {
	struct kept *v;
	size_t n, cap;
	size_t skipped;      /* files without a usable Example-Kind */
};

static void kept_release(struct kept_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].key);
	}
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* Example-Kind and Example-Date from the header of path (unfolded lines are
 * enough: the daemon writes these fields on one line). Returns 0, or -1 when
 * the file cannot be opened. */
static int read_example_header(const char *path, enum kind *kind, int *has_kind,
			       long long *date)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[1024];
	size_t read = 0;
	*has_kind = 0;
	*date = 0;
	while (fgets(line, sizeof line, f) && read < HEADER_MAX) {
		read += strlen(line);
		if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n'))
			break;
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		char *v = colon + 1;
		v += strspn(v, " \t");
		v[strcspn(v, "\r\n")] = '\0';
		size_t vl = strlen(v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			v[--vl] = '\0';
		*colon = '\0';
		if (!strcasecmp(line, "Example-Kind")) {
			if (!strcasecmp(v, "correction")) {
				*kind = KIND_CORRECTION;
				*has_kind = 1;
			} else if (!strcasecmp(v, "confirmed")) {
				*kind = KIND_CONFIRMED;
				*has_kind = 1;
			}
		} else if (!strcasecmp(line, "Example-Date")) {
			char *end;
			errno = 0;
			long long d = strtoll(v, &end, 10);
			if (!errno && end != v && !*end && d > 0)
				*date = d;
		}
	}
	fclose(f);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A deterministic ~1 in HELD_OUT_MOD choice by key (FNV-1a, then a finaliser
 * so that the low bits depend on every byte). */
static int held_out_key(const char *key)
{
	unsigned long long h = hash64(key, strlen(key));
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h % HELD_OUT_MOD == 0;
}

static int kept_add(struct kept_set *s, const char *dir, const char *name, int label,
		    time_t now)
{
	if (s->n == MAX_KEPT)
		return 0;
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return 0;
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	enum kind kind = KIND_CONFIRMED;
	int has_kind;
	long long date;
	if (read_example_header(path, &kind, &has_kind, &date) < 0) {
		fprintf(stderr, "triage: warning: %s: %s: skipped\n", path, strerror(errno));
		s->skipped++;
		return 0;
	}
	if (!has_kind) {
		s->skipped++;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct kept *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	struct kept *k = &s->v[s->n];
	k->path = strdup(path);
	k->key = strndup(name, strlen(name) - 4);
	if (!k->path || !k->key) {
		free(k->path);
		free(k->key);
		return -1;
	}
	k->label = label;
	k->kind = kind;
	k->date = date;
	k->held = kind == KIND_CORRECTION && date >= (long long)now - HELD_OUT_DAYS * 86400LL &&
		  held_out_key(k->key);
	s->n++;
	return 0;
}

/*
 * Reads STATE_DIR/corrections/<Category>/<KEY>.eml, in sorted order. labels
 * (nl of them) are the categories examples may have; a folder of another name
 * is skipped with one warning. A missing corrections directory is no example.
 */
static int kept_scan(struct kept_set *s, const char *state_dir, char *const *labels, size_t nl)
{
	char root[PATH_MAX];
	if (snprintf(root, sizeof root, "%s/corrections", state_dir) >= (int)sizeof root)
		return cmd_fail(1, "%s: path too long", state_dir);
	DIR *d = opendir(root);
	if (!d) {
		if (errno == ENOENT)
			return -1;
		return cmd_fail(1, "%s: %s", root, strerror(errno));
	}
	time_t now = time(NULL);
	struct dirent *e;
	char **cats = NULL;
	size_t ncats = 0, capc = 0;
	int st = -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (ncats == capc) {
			capc = capc ? 2 * capc : 16;
			char **v = realloc(cats, capc * sizeof *v);
			if (!v) {
				st = cmd_fail(1, "out of memory");
				goto out;
			}
			cats = v;
		}
		if (!(cats[ncats] = strdup(e->d_name))) {
			st = cmd_fail(1, "out of memory");
			goto out;
		}
		ncats++;
	}
	qsort(cats, ncats, sizeof *cats, by_name);
	for (size_t c = 0; c < ncats && st < 0; c++) {
		char dir[PATH_MAX];
		if (snprintf(dir, sizeof dir, "%s/%s", root, cats[c]) >= (int)sizeof dir)
			continue;
		struct stat sb;
		if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
			continue;
		int label = -1;
		for (size_t l = 0; l < nl; l++)
			if (!strcmp(labels[l], cats[c]))
				label = (int)l;
		if (label < 0) {
			fprintf(stderr, "triage: warning: %s: '%s' is not a category of the model: "
					"its examples are skipped\n", dir, cats[c]);
			continue;
		}
		DIR *cd = opendir(dir);
		if (!cd) {
			st = cmd_fail(1, "%s: %s", dir, strerror(errno));
			break;
		}
		char **names = NULL;
		size_t nn = 0, capn = 0;
		int oom = 0;
		while (!oom && (e = readdir(cd))) {
			size_t len = strlen(e->d_name);
			if (e->d_name[0] == '.' || len <= 4 || strcmp(e->d_name + len - 4, ".eml"))
				continue;
			if (nn == capn) {
				capn = capn ? 2 * capn : 64;
				char **v = realloc(names, capn * sizeof *v);
				if (!v) {
					oom = 1;
					break;
				}
				names = v;
			}
			if (!(names[nn] = strdup(e->d_name))) {
				oom = 1;
				break;
			}
			nn++;
		}
		closedir(cd);
		if (oom)
			st = cmd_fail(1, "out of memory");
		qsort(names, nn, sizeof *names, by_name);
		for (size_t i = 0; i < nn; i++) {
			if (st < 0 && kept_add(s, dir, names[i], label, now) < 0)
				st = cmd_fail(1, "out of memory");
			free(names[i]);
		}
		free(names);
	}
out:
	for (size_t c = 0; c < ncats; c++)
		free(cats[c]);
	free(cats);
	closedir(d);
	if (st < 0 && s->skipped)
		fprintf(stderr, "triage: warning: %zu kept files have no Example-Kind "
				"(correction or confirmed): skipped\n", s->skipped);
	return st;
}

/* ---- training sets ----------------------------------------------------------------- */

/* The corpus plus the kept examples (held-out ones only when with_held), each
 * listed as often as its weight. Paths and names are borrowed from base and
 * kept: free with train_set_release. */
static int train_set(struct corpus *out, const struct corpus *base, const struct kept_set *k,
		     int with_held)
{
	size_t n = base->n;
	for (size_t i = 0; i < k->n; i++)
		if (with_held || !k->v[i].held)
			n += k->v[i].kind == KIND_CORRECTION ? CORRECTION_COPIES : CONFIRMED_COPIES;
	memset(out, 0, sizeof *out);
	out->paths = malloc(n * sizeof *out->paths);
	out->labels = malloc(n * sizeof *out->labels);
	if (!out->paths || !out->labels) {
		free(out->paths);
		free(out->labels);
		return -1;
	}
	memcpy(out->paths, base->paths, base->n * sizeof *out->paths);
	memcpy(out->labels, base->labels, base->n * sizeof *out->labels);
	size_t j = base->n;
	for (size_t i = 0; i < k->n; i++) {
		if (!with_held && k->v[i].held)
			continue;
		int copies = k->v[i].kind == KIND_CORRECTION ? CORRECTION_COPIES : CONFIRMED_COPIES;
		for (int c = 0; c < copies; c++) {
			out->paths[j] = k->v[i].path;
			out->labels[j++] = k->v[i].label;
		}
	}
	out->n = j;
	out->nlabels = base->nlabels;
	out->label_names = base->label_names;
	return 0;
}

static void train_set_release(struct corpus *c)
{
	free(c->paths);
	free(c->labels);
}

/* ---- evaluation ------------------------------------------------------------------- */

/* Classifies paths[0..n) with m; pred[] gets label indexes in the training
 * label list (names), -1 for a file that cannot be read. */
static int predict(const struct model *m, char *const *paths, size_t n, char *const *labels,
		   size_t nl, int *pred, double *conf)
{
	char err[512];
	struct clf_worker *w = clf_worker_new(m, err, sizeof err);
	if (!w)
		return cmd_fail(1, "%s", err);
	int *map = malloc((model_nlabels(m) + 1) * sizeof *map);
	if (!map) {
		clf_worker_free(w);
		return cmd_fail(1, "out of memory");
	}
	for (size_t i = 0; i < model_nlabels(m); i++) {
		map[i] = -1;
		for (size_t l = 0; l < nl; l++)
			if (!strcmp(model_label(m, i), labels[l]))
				map[i] = (int)l;
	}
	struct msg_limits lim;
	msg_limits_default(&lim);
	int st = -1;
	for (size_t i = 0; i < n && st < 0; i++) {
		size_t len, total;
		pred[i] = -1;
		conf[i] = 0;
		char *raw = clf_read_file(paths[i], lim.max_size, &len, &total, err, sizeof err);
		if (!raw) {
			fprintf(stderr, "triage: warning: %s\n", err);
			continue;
		}
		struct clf_result r;
		if (clf_classify_raw(w, raw, len, total, &lim, 0, &r) < 0)
			st = cmd_fail(1, "out of memory");
		else {
			pred[i] = map[r.label];
			conf[i] = r.confidence;
		}
		free(raw);
	}
	free(map);
	clf_worker_free(w);
	return st;
}

/* A set of messages with their true labels, and both models' reports on it. */
struct measured {
	size_t n;
	char **paths;            /* borrowed */
	int *truth;
	int *pred[2];            /* 0: the model in use, 1: the candidate */
	double *conf;
	struct eval_report r[2];
	int have[2];
};

static void measured_release(struct measured *s)
{
	free(s->truth);
	free(s->pred[0]);
	free(s->pred[1]);
	free(s->conf);
	for (int k = 0; k < 2; k++)
		if (s->have[k])
			eval_release(&s->r[k]);
}

static int measured_alloc(struct measured *s, size_t n)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	size_t m = n ? n : 1;
	s->truth = malloc(m * sizeof *s->truth);
	s->pred[0] = malloc(m * sizeof *s->pred[0]);
	s->pred[1] = malloc(m * sizeof *s->pred[1]);
	s->conf = malloc(m * sizeof *s->conf);
	return s->truth && s->pred[0] && s->pred[1] && s->conf ? 0 : -1;
}

static int measure(struct measured *s, int which, const struct model *m, char *const *labels,
		   size_t nl)
{
	int st = predict(m, s->paths, s->n, labels, nl, s->pred[which], s->conf);
	if (st >= 0)
		return st;
	if (eval_compute(&s->r[which], nl, s->truth, s->pred[which], s->conf, s->n, -1) < 0)
		return cmd_fail(1, "out of memory");
	s->have[which] = 1;
	return -1;
}

static size_t correct_in(const struct measured *s, int which, int label, size_t *total)
{
	size_t ok = 0, n = 0;
	for (size_t i = 0; i < s->n; i++)
		if (label < 0 || s->truth[i] == label) {
			n++;
			ok += s->pred[which][i] == s->truth[i];
		}
	if (total)
		*total = n;
	return ok;
}

/* ---- the report ------------------------------------------------------------------- */

struct summary {
	const char *corpus, *dev, *model_in_use;
	size_t ncorpus, nkept, ncorr, nconf, nheld;
	char *const *labels;
	size_t nl;
	size_t *kept_per;        /* nl */
	size_t *corr_per;        /* nl */
	const struct measured *dev_set, *held;
	double drop;             /* dev macro-F1 before - after */
	double c;                /* the candidate's regularisation */
};

static void print_table(const struct summary *s)
{
	size_t w = 8;
	for (size_t l = 0; l < s->nl; l++)
		if (strlen(s->labels[l]) > w)
			w = strlen(s->labels[l]);
	printf("model in use: %s\n", s->model_in_use);
	printf("candidate: %zu corpus messages (%s) + %zu kept examples (%zu corrections counted "
	       "%d times each, %zu confirmed counted %s), %zu corrections held out\n",
	       s->ncorpus, s->corpus, s->nkept - s->nheld, s->ncorr - s->nheld, CORRECTION_COPIES,
	       s->nconf, CONFIRMED_COPIES == 1 ? "once" : "twice", s->nheld);
	printf("regularisation: C=%g, chosen by cross-validation\n", s->c);
	printf("dev set: %zu messages (%s)\n\n", s->dev_set->n, s->dev);
	printf("%-*s  %5s  %11s  %6s  %16s  %5s\n", (int)w, "", "kept", "dev F1", "",
	       "held-out correct", "");
	printf("%-*s  %5s  %11s  %6s  %16s  %5s\n", (int)w, "category", "", "before", "after",
	       "before", "after");
	for (size_t l = 0; l < s->nl; l++) {
		size_t nh;
		size_t b = correct_in(s->held, 0, (int)l, &nh), a = correct_in(s->held, 1, (int)l, NULL);
		char hb[32] = "-", ha[32] = "-";
		if (nh) {
			snprintf(hb, sizeof hb, "%zu/%zu", b, nh);
			snprintf(ha, sizeof ha, "%zu/%zu", a, nh);
		}
		printf("%-*s  %5zu  %11.3f  %6.3f  %16s  %5s\n", (int)w, s->labels[l], s->kept_per[l],
		       s->dev_set->r[0].cls[l].f1, s->dev_set->r[1].cls[l].f1, hb, ha);
	}
	size_t nh;
	size_t b = correct_in(s->held, 0, -1, &nh), a = correct_in(s->held, 1, -1, NULL);
	char hb[32] = "-", ha[32] = "-";
	if (nh) {
		snprintf(hb, sizeof hb, "%zu/%zu", b, nh);
		snprintf(ha, sizeof ha, "%zu/%zu", a, nh);
	}
	printf("%-*s  %5zu  %11.3f  %6.3f  %16s  %5s\n", (int)w, "accuracy", s->nkept,
	       s->dev_set->r[0].accuracy, s->dev_set->r[1].accuracy, hb, ha);
	printf("%-*s  %5s  %11.3f  %6.3f\n", (int)w, "macro-F1", "", s->dev_set->r[0].macro_f1,
	       s->dev_set->r[1].macro_f1);
	putchar('\n');
}

static void json_report(FILE *f, const struct eval_report *r)
{
	fprintf(f, "{\"accuracy\":%.6f,\"macro_f1\":%.6f}", r->accuracy, r->macro_f1);
}

static void print_json(const struct summary *s, const char *decision, int installed,
		       int daemon, const struct kept_set *k)
{
	FILE *f = stdout;
	fputs("{\"model_in_use\":", f);
	json_string(f, s->model_in_use);
	fputs(",\"corpus\":", f);
	json_string(f, s->corpus);
	fputs(",\"dev\":", f);
	json_string(f, s->dev);
	fprintf(f, ",\"corpus_messages\":%zu,\"dev_messages\":%zu,\"kept\":%zu,\"corrections\":%zu,"
		   "\"confirmed\":%zu,\"held_out\":%zu,\"correction_weight\":%d,"
		   "\"confirmed_weight\":%d",
		s->ncorpus, s->dev_set->n, s->nkept, s->ncorr, s->nconf, s->nheld, CORRECTION_COPIES,
		CONFIRMED_COPIES);
	fputs(",\"dev_before\":", f);
	json_report(f, &s->dev_set->r[0]);
	fputs(",\"dev_after\":", f);
	json_report(f, &s->dev_set->r[1]);
	size_t nh;
	size_t b = correct_in(s->held, 0, -1, &nh), a = correct_in(s->held, 1, -1, NULL);
	fprintf(f, ",\"held_out_before\":{\"correct\":%zu,\"total\":%zu,\"accuracy\":%.6f,"
		   "\"macro_f1\":%.6f}",
		b, nh, nh ? (double)b / (double)nh : 0.0, s->held->r[0].macro_f1);
	fprintf(f, ",\"held_out_after\":{\"correct\":%zu,\"total\":%zu,\"accuracy\":%.6f,"
		   "\"macro_f1\":%.6f}",
		a, nh, nh ? (double)a / (double)nh : 0.0, s->held->r[1].macro_f1);
	fprintf(f, ",\"dev_macro_f1_drop\":%.6f,\"c\":%g", s->drop, s->c);
	fputs(",\"categories\":[", f);
	for (size_t l = 0; l < s->nl; l++) {
		size_t n;
		size_t hb = correct_in(s->held, 0, (int)l, &n), ha = correct_in(s->held, 1, (int)l, NULL);
		fprintf(f, "%s{\"name\":", l ? "," : "");
		json_string(f, s->labels[l]);
		fprintf(f, ",\"kept\":%zu,\"kept_corrections\":%zu,\"dev_f1_before\":%.6f,"
			   "\"dev_f1_after\":%.6f,\"held_out\":%zu,\"held_out_correct_before\":%zu,"
			   "\"held_out_correct_after\":%zu,\"held_out_f1_before\":%.6f,"
			   "\"held_out_f1_after\":%.6f}",
			s->kept_per[l], s->corr_per[l], s->dev_set->r[0].cls[l].f1,
			s->dev_set->r[1].cls[l].f1, n, hb, ha, s->held->r[0].cls[l].f1,
			s->held->r[1].cls[l].f1);
	}
	fputs("],\"held_out_keys\":[", f);
	size_t j = 0;
	for (size_t i = 0; i < k->n; i++)
		if (k->v[i].held) {
			fputs(j++ ? "," : "", f);
			json_string(f, k->v[i].key);
		}
	fprintf(f, "],\"decision\":\"%s\",\"installed\":%s,\"daemon\":\"%s\"}\n", decision,
		installed ? "true" : "false",
		daemon > 0 ? "signalled" : daemon == 0 ? "none" : daemon == -1 ? "error" : "n/a");
}

/* ---- retrain ----------------------------------------------------------------------- */

struct retrain_args {
	const char *config, *corpus, *dev;
	int dry_run, force, json;
};

static int parse(int argc, char **argv, struct retrain_args *a, const char *usage, int is_rb)
{
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CONFIG:
			a->config = optarg;
			break;
		case OPT_DRYRUN:
			a->dry_run = 1;
			break;
		case OPT_FORCE:
			a->force = 1;
			break;
		case OPT_CORPUS:
			a->corpus = optarg;
			break;
		case OPT_DEV:
			a->dev = optarg;
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			return 0;
		default:
			cmd_fail(EX_USAGE, "%s: unknown option or missing value", argv[optind - 1]);
			fputs(usage, stderr);
			return EX_USAGE;
		}
		if (is_rb && opt != OPT_CONFIG) {
			cmd_fail(EX_USAGE, "%s: unknown option", argv[optind - 1]);
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		cmd_fail(EX_USAGE, "unexpected argument '%s'", argv[optind]);
		fputs(usage, stderr);
		return EX_USAGE;
	}
	if (!a->config) {
		cmd_fail(EX_USAGE, "--config is required");
		fputs(usage, stderr);
		return EX_USAGE;
	}
	return -1;
}

/* Says what happened to the daemon; returns the models_signal_daemon result. */
static int tell_daemon(const char *state_dir, FILE *out, const char *what)
{
	char err[512];
	int r = models_signal_daemon(state_dir, err, sizeof err);
	if (r > 0) {
		fprintf(out, "%s; running daemon told to reload\n", what);
		log_notice("%s; running daemon told to reload", what);
	} else if (r == 0) {
		fprintf(out, "%s; no daemon running: the next start uses it\n", what);
		log_notice("%s; no daemon running", what);
	} else {
		fprintf(out, "%s; the daemon could not be told to reload (%s): restart it or send "
			     "it SIGHUP\n", what, err);
		log_warn("%s; the daemon could not be told to reload: %s", what, err);
	}
	return r;
}

static int cmd_retrain(int argc, char **argv)
{
	struct retrain_args a = { .corpus = TRIAGE_DATADIR "/corpus", .dev = TRIAGE_DATADIR "/fr-dev" };
	int st = parse(argc, argv, &a, retrain_usage, 0);
	if (st >= 0)
		return st;
	log_open("triage", LOG_TO_SYSLOG, LOG_INFO);
	struct loaded L = { 0 };
	if ((st = load(a.config, &L)) >= 0)
		return st;
	const char *state_dir = cfg_state_dir(L.cfg);
	FILE *out = a.json ? stderr : stdout;
	char err[512];
	struct corpus base = { 0 }, tc = { 0 };
	struct kept_set k = { 0 };
	struct measured dev = { 0 }, held = { 0 };
	struct corpus devc = { 0 };
	int have_base = 0, have_dev = 0;
	struct model *cand = NULL, *final = NULL;
	size_t *kept_per = NULL, *corr_per = NULL;

	const char *dirs[2] = { a.corpus, a.dev };
	for (int i = 0; i < 2; i++) {
		struct stat sb;
		if (stat(dirs[i], &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			st = cmd_fail(1, "%s %s: %s%s", i ? "dev set" : "corpus", dirs[i],
				      errno ? strerror(errno) : "not a directory",
				      i ? " (give one with --dev DIR)" : " (give one with --corpus DIR)");
			goto out;
		}
	}
	if (corpus_scan(&base, &a.corpus, 1, err, sizeof err) < 0) {
		st = cmd_fail(1, "%s", err);
		goto out;
	}
	have_base = 1;
	/* The candidate must have the categories of the model in use: the
	 * configuration's routes are checked against them. */
	for (size_t i = 0; i < model_nlabels(L.model); i++) {
		int found = 0;
		for (size_t l = 0; l < base.nlabels; l++)
			found |= !strcmp(base.label_names[l], model_label(L.model, i));
		if (!found) {
			st = cmd_fail(1, "%s: no category '%s', which the model in use has: a model "
					 "trained on it would lose that category", a.corpus,
				      model_label(L.model, i));
			goto out;
		}
	}
	if (base.nlabels != model_nlabels(L.model)) {
		st = cmd_fail(1, "%s: %zu categories, the model in use %zu: retraining keeps the "
				 "model's categories", a.corpus, base.nlabels, model_nlabels(L.model));
		goto out;
	}
	if ((st = kept_scan(&k, state_dir, base.label_names, base.nlabels)) >= 0)
		goto out;
	size_t ncorr = 0, nheld = 0;
	kept_per = calloc(base.nlabels, sizeof *kept_per);
	corr_per = calloc(base.nlabels, sizeof *corr_per);
	if (!kept_per || !corr_per) {
		st = cmd_fail(1, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < k.n; i++) {
		kept_per[k.v[i].label]++;
		if (k.v[i].kind == KIND_CORRECTION) {
			ncorr++;
			corr_per[k.v[i].label]++;
		}
		nheld += k.v[i].held;
	}
	if (k.n == 0 && !a.force) {
		fprintf(out, "no kept example in %s/corrections: nothing to learn, the model in use "
			     "stays (--force retrains on the corpus alone)\n", state_dir);
		log_info("retrain: no kept example, nothing to learn");
		if (a.json)
			printf("{\"kept\":0,\"decision\":\"nothing to learn\",\"installed\":false}\n");
		st = 0;
		goto out;
	}

	/* The candidate: corpus + kept examples, held-out corrections aside. */
	struct train_opts opts;
	train_opts_default(&opts);
	opts.tok.lang = model_tok_opts(L.model)->lang;
	/* The corpus grows with the corrections: C is chosen on it each time, and
	 * the model installed (below) keeps the candidate's C. */
	opts.c = 0;
	if (train_set(&tc, &base, &k, 0) < 0) {
		st = cmd_fail(1, "out of memory");
		goto out;
	}
	if (clf_train(&tc, &opts, &cand, NULL, err, sizeof err) < 0) {
		st = cmd_fail(1, "training: %s", err);
		goto out;
	}
	train_set_release(&tc);
	memset(&tc, 0, sizeof tc);

	/* Both models on the dev set and on the held-out corrections. */
	if (corpus_scan(&devc, &a.dev, 1, err, sizeof err) < 0) {
		st = cmd_fail(1, "%s", err);
		goto out;
	}
	have_dev = 1;
	if (measured_alloc(&dev, devc.n) < 0 || measured_alloc(&held, nheld) < 0) {
		st = cmd_fail(1, "out of memory");
		goto out;
	}
	dev.paths = devc.paths;
	for (size_t i = 0; i < devc.n; i++) {
		dev.truth[i] = -1;
		for (size_t l = 0; l < base.nlabels; l++)
			if (!strcmp(devc.label_names[devc.labels[i]], base.label_names[l]))
				dev.truth[i] = (int)l;
	}
	held.paths = malloc((nheld ? nheld : 1) * sizeof *held.paths);
	if (!held.paths) {
		st = cmd_fail(1, "out of memory");
		goto out;
	}
	for (size_t i = 0, j = 0; i < k.n; i++)
		if (k.v[i].held) {
			held.paths[j] = k.v[i].path;
			held.truth[j++] = k.v[i].label;
		}
	if ((st = measure(&dev, 0, L.model, base.label_names, base.nlabels)) >= 0 ||
	    (st = measure(&dev, 1, cand, base.label_names, base.nlabels)) >= 0 ||
	    (st = measure(&held, 0, L.model, base.label_names, base.nlabels)) >= 0 ||
	    (st = measure(&held, 1, cand, base.label_names, base.nlabels)) >= 0)
		goto out;

	struct summary s = {
		.corpus = a.corpus, .dev = a.dev, .model_in_use = L.model_path,
		.ncorpus = base.n, .nkept = k.n, .ncorr = ncorr, .nconf = k.n - ncorr,
		.nheld = nheld, .labels = base.label_names, .nl = base.nlabels,
		.kept_per = kept_per, .corr_per = corr_per, .dev_set = &dev, .held = &held,
		.drop = dev.r[0].macro_f1 - dev.r[1].macro_f1, .c = model_get_info(cand)->c,
	};
	if (!a.json)
		print_table(&s);
	double before = dev.r[0].macro_f1, after = dev.r[1].macro_f1;
	int worse = s.drop > MAX_DEV_DROP + 1e-9;
	if (a.dry_run) {
		fprintf(out, "dry run: dev macro-F1 %.4f -> %.4f; %s; nothing replaced\n", before,
			after, worse ? (a.force ? "would be installed with --force"
						: "would be refused (drop over 0.01)")
				     : "would be installed");
		if (a.json)
			print_json(&s, "dry-run", 0, -2, &k);
		st = 0;
		goto out;
	}
	if (worse && !a.force) {
		fprintf(out, "refused: the dev set's macro-F1 would drop from %.4f to %.4f (by "
			     "%.4f, more than %.2f); nothing replaced (--force installs it anyway)\n",
			before, after, s.drop, MAX_DEV_DROP);
		log_warn("retrain refused: dev macro-F1 %.4f -> %.4f, %zu kept examples (%zu "
			 "corrections)", before, after, k.n, ncorr);
		if (a.json)
			print_json(&s, "refused", 0, -2, &k);
		st = 1;
		goto out;
	}

	/* The model installed: trained on everything, held-out corrections too. */
	if (nheld == 0) {
		final = cand;
		cand = NULL;
	} else {
		if (train_set(&tc, &base, &k, 1) < 0) {
			st = cmd_fail(1, "out of memory");
			goto out;
		}
		opts.c = model_get_info(cand)->c;
		if (clf_train(&tc, &opts, &final, NULL, err, sizeof err) < 0) {
			st = cmd_fail(1, "training: %s", err);
			goto out;
		}
	}
	if (models_install(state_dir, final, cfg_classifier(L.cfg)->model, err, sizeof err) < 0) {
		log_err("retrain: cannot install the new model: %s", err);
		st = cmd_fail(1, "%s; the model in use is unchanged", err);
		goto out;
	}
	char what[512];
	snprintf(what, sizeof what, "retrain%s: dev macro-F1 %.4f -> %.4f, %zu kept examples (%zu "
		 "corrections, %zu held out): model replaced",
		 worse ? " (forced)" : "", before, after, k.n, ncorr, nheld);
	int d = tell_daemon(state_dir, out, what);
	if (a.json)
		print_json(&s, worse ? "forced" : "accepted", 1, d, &k);
	st = 0;
out:
	if (tc.paths)
		train_set_release(&tc);
	if (have_base)
		corpus_release(&base);
	if (have_dev)
		corpus_release(&devc);
	free(held.paths);
	measured_release(&dev);
	measured_release(&held);
	kept_release(&k);
	free(kept_per);
	free(corr_per);
	model_free(cand);
	model_free(final);
	loaded_release(&L);
	return st;
}

/* ---- rollback -------------------------------------------------------------------- */

static int cmd_rollback(int argc, char **argv)
{
	struct retrain_args a = { 0 };
	int st = parse(argc, argv, &a, rollback_usage, 1);
	if (st >= 0)
		return st;
	log_open("triage", LOG_TO_SYSLOG, LOG_INFO);
	/* Without categories: rollback must work when current.model is corrupt. */
	struct cfg_errors errs;
	cfg_errors_init(&errs);
	struct config *cfg = cfg_load(a.config, NULL, 0, &errs);
	if (!cfg) {
		cfg_errors_print(&errs, stderr);
		cfg_errors_release(&errs);
		return EX_CONFIG;
	}
	cfg_errors_release(&errs);
	const char *state_dir = cfg_state_dir(cfg);
	char err[1024];
	int r = models_rollback(state_dir, cfg_classifier(cfg)->model, err, sizeof err);
	if (r != 0) {
		if (r < 0)
			log_err("rollback failed: %s", err);
		st = cmd_fail(1, "%s", err);
		cfg_free(cfg);
		return st;
	}
	tell_daemon(state_dir, stdout, "rollback: the previous model is back in use");
	cfg_free(cfg);
	return 0;
}

const struct command command_retrain = { "retrain", cmd_retrain,
					 "retrain the model with the volunteers' corrections" };
const struct command command_rollback = { "rollback", cmd_rollback,
					  "put the previous model back in use" };
