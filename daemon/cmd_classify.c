/*
 * triage classify: messages -> category, confidence, decision (and reasons).
 * triage eval: a labelled corpus through a model -> an evaluation report.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "classifier/classifier.h"
#include "classifier/parallel.h"
#include "classifier/readbatch.h"
#include "daemon/cmdline.h"
#include "daemon/commands.h"
#include "daemon/report.h"

static const char classify_usage[] =
	"usage: triage classify --model MODEL [--threshold T] [--explain] [--json] PATH...\n"
	"\n"
	"Classifies messages: PATH is a message file or a directory (recursed). One\n"
	"line per message: PATH, CATEGORY, CONFIDENCE, DECISION separated by tabs;\n"
	"DECISION is 'file' when the confidence reaches the threshold (the model's\n"
	"recommended one, or T), else 'review'.\n"
	"\n"
	"  --model MODEL     the model file\n"
	"  --threshold T     a threshold between 0 and 1 instead of the model's\n"
	"  --explain         add a fifth column: the terms that weighed most, with\n"
	"                    where they came from and their weight\n"
	"  --json            one JSON object per message instead\n"
	"  --threads N       worker threads (default: one per CPU, at most 8)\n";

static const char eval_usage[] =
	"usage: triage eval --model MODEL --corpus DIR [--json]\n"
	"\n"
	"Classifies a labelled corpus (one sub-directory per category) and reports\n"
	"accuracy, macro-F1, per-category precision, recall, F1 and support, the\n"
	"confusion matrix, and the precision/coverage trade-off by threshold.\n"
	"\n"
	"  --model MODEL     the model file\n"
	"  --corpus DIR      the labelled corpus\n"
	"  --json            one JSON object instead of tables\n"
	"  --threads N       worker threads (default: one per CPU, at most 8)\n";

enum { OPT_MODEL = 256, OPT_THRESHOLD, OPT_EXPLAIN, OPT_JSON, OPT_THREADS, OPT_CORPUS, OPT_HELP };

static const struct option options[] = {
	{ "model", required_argument, NULL, OPT_MODEL },
	{ "threshold", required_argument, NULL, OPT_THRESHOLD },
	{ "explain", no_argument, NULL, OPT_EXPLAIN },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "corpus", required_argument, NULL, OPT_CORPUS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* ---- classifying many files on several threads ------------------------------ */

#define NREASONS 5

/*
 * Messages are classified by all the threads, the calling one among them, in
 * runs of consecutive paths (up to RB_FILES, shorter towards the end), and
 * printed in order by the calling thread as soon as the next one is done: no
 * thread waits for the others between groups of messages. At most RING
 * messages are kept between the one to print next and the last started
 * (their results are what bounds memory, whatever the number of paths).
 */
#define RING 512

/*
 * A message in the ring: what printing and evaluating read, copied from its
 * result. The whole result (with the reasons, 4 KB) is kept only to explain:
 * a ring of whole results is 2.3 MB of memory touched, a page per message.
 */
struct item {
	const char *path;
	atomic_int done;             /* classified (or failed), not yet printed */
	int ok;
	char err[256];
	int label, second, degraded;
	double confidence, second_confidence;
	char error[sizeof ((struct clf_result *)0)->error];
	const struct clf_result *r;  /* the whole result when explaining, else NULL */
};

struct batch {
	const struct model *m;
	char *const *paths;
	size_t n;
	unsigned threads;
	struct clf_worker **workers;  /* each made by its own thread, at its first item */
	char **bufs;                  /* and its buffer for the files (CLF_READ_BUF) */
	struct readbatch **rbs;       /* and its batch reader (NULL: one by one) */
	int listed;                   /* the paths are regular files (a directory's) */
	atomic_int broken;            /* a worker could not be made: werr says why */
	char werr[256];
	struct item *items;           /* RING of them: item i in items[i % RING] */
	struct clf_result *full;      /* RING whole results, when explaining */
	struct clf_result *scratch;   /* one per worker, otherwise */
	unsigned nreasons;
	struct msg_limits lim;
	atomic_size_t next;           /* the next item to start */
	atomic_size_t printed;        /* items printed (written by the calling thread) */
	/* Where a thread waits for room in the ring or for the next item to
	 * print; the others wake it only when it said it waits. */
	pthread_mutex_t lock;
	pthread_cond_t moved;
	atomic_int waiting;
};

/* The worker's state, made at its first item: 0, or -1 (b->broken set). */
static int worker_ready(struct batch *b, unsigned worker)
{
	if (b->workers[worker])
		return 0;
	char err[sizeof b->werr];
	if (!(b->workers[worker] = clf_worker_new(b->m, err, sizeof err)) ||
	    !(b->bufs[worker] = malloc(CLF_READ_BUF))) {
		if (b->workers[worker])
			snprintf(err, sizeof err, "out of memory");
		if (!atomic_exchange(&b->broken, 1))
			memcpy(b->werr, err, sizeof err);
		return -1;
	}
	/* Files found in a directory are read in batches where the kernel
	 * allows it (else, and for the others, one by one). */
	if (b->listed)
		b->rbs[worker] = rb_new(CLF_READ_BUF);
	return 0;
}

/* Item i; pre: its bytes when already read (pre_len of them), else NULL. */
static void classify_one(struct batch *b, unsigned worker, size_t i, char *pre, size_t pre_len)
{
	struct item *it = &b->items[i % RING];
	size_t len, total;
	char *buf = b->bufs[worker];
	char *raw;
	if (pre && pre_len <= b->lim.max_size) {
		raw = pre;
		len = total = pre_len;
	} else {
		raw = clf_read_file_into(it->path, b->lim.max_size, buf,
					 b->listed ? CLF_READ_BUF : 0, &len, &total, it->err,
					 sizeof it->err);
		if (!raw) {
			it->ok = 0;
			return;
		}
	}
	struct clf_result *r = b->full ? &b->full[i % RING] : &b->scratch[worker];
	if (clf_classify_raw(b->workers[worker], raw, len, total, &b->lim, b->nreasons, r) < 0) {
		snprintf(it->err, sizeof it->err, "%s: out of memory", it->path);
		it->ok = 0;
	} else {
		it->ok = 1;
		it->label = r->label;
		it->second = r->second;
		it->confidence = r->confidence;
		it->second_confidence = r->second_confidence;
		it->degraded = r->degraded;
		if (r->degraded)
			memcpy(it->error, r->error, sizeof it->error);
		it->r = b->full ? r : NULL;
	}
	if (raw != buf && raw != pre)
		free(raw);
}

static void wake(struct batch *b)
{
	if (atomic_load(&b->waiting)) {
		pthread_mutex_lock(&b->lock);
		pthread_cond_broadcast(&b->moved);
		pthread_mutex_unlock(&b->lock);
	}
}

/* Waits until ready(b) (which reads only atomics). The thread that makes it
 * true changes them first, then calls wake: either this thread sees the
 * change, or wake sees this thread waiting (and takes the lock, which this
 * thread holds until it sleeps). */
static void wait_until(struct batch *b, int (*ready)(struct batch *))
{
	pthread_mutex_lock(&b->lock);
	atomic_fetch_add(&b->waiting, 1);
	while (!ready(b))
		pthread_cond_wait(&b->moved, &b->lock);
	atomic_fetch_sub(&b->waiting, 1);
	pthread_mutex_unlock(&b->lock);
}

static int ring_has_room(struct batch *b)
{
	return atomic_load(&b->broken) || atomic_load(&b->next) >= b->n ||
	       atomic_load(&b->next) < atomic_load(&b->printed) + RING;
}

static int next_is_done(struct batch *b)
{
	return atomic_load(&b->broken) ||
	       atomic_load(&b->items[atomic_load(&b->printed) % RING].done);
}

/*
 * Takes the next run of items: returns its length (its first in *first), or
 * 0 when every item is taken or a worker failed (*full = 0), or when the
 * ring is full (*full = 1).
 */
static size_t take_run(struct batch *b, size_t *first, int *full)
{
	size_t i = atomic_load(&b->next);
	*full = 0;
	for (;;) {
		if (i >= b->n || atomic_load(&b->broken))
			return 0;
		size_t limit = atomic_load(&b->printed) + RING;
		if (i >= limit) {
			*full = 1;
			return 0;
		}
		size_t len = par_run_len(b->n - i, b->threads, RB_FILES);
		if (len > limit - i)
			len = limit - i;
		if (atomic_compare_exchange_weak(&b->next, &i, i + len)) {
			*first = i;
			return len;
		}
	}
}

/* Takes items [i, i + n), n <= RB_FILES, and starts reading their files
 * while the thread works on the run before. */
static void classify_start(struct batch *b, unsigned worker, size_t i, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		b->items[(i + k) % RING].path = b->paths[i + k];
		b->items[(i + k) % RING].ok = 0;
	}
	if (worker_ready(b, worker) < 0)
		return;
	if (b->rbs[worker])
		(void)rb_submit(b->rbs[worker], b->paths + i, (unsigned)n);  /* at most two on their way */
}

/* Classifies items [i, i + n), started by classify_start. */
static void classify_finish(struct batch *b, unsigned worker, size_t i, size_t n)
{
	if (b->workers[worker]) {
		struct readbatch *rb = b->rbs[worker];
		if (rb)
			rb_wait(rb);
		for (size_t k = 0; k < n; k++) {
			size_t len = 0;
			char *pre = rb ? rb_get(rb, (unsigned)k, &len) : NULL;
			classify_one(b, worker, i + k, pre, len);
			atomic_store(&b->items[(i + k) % RING].done, 1);
		}
	}
	wake(b);
}

struct helper {
	struct batch *b;
	unsigned worker;
	pthread_t th;
};

/* A thread's runs, one ahead: it takes and starts the next before it
 * finishes the one it holds, and waits only when it holds none. */
static void *helper_main(void *arg)
{
	struct helper *h = arg;
	struct batch *b = h->b;
	size_t hi = 0, hn = 0;
	for (;;) {
		size_t i = 0;
		int full;
		size_t n = take_run(b, &i, &full);
		if (n)
			classify_start(b, h->worker, i, n);
		if (hn)
			classify_finish(b, h->worker, hi, hn);
		hi = i;
		hn = n;
		if (!n) {
			if (!full)
				return NULL;
			wait_until(b, ring_has_room);
		}
	}
}

typedef void (*item_fn)(void *ctx, size_t index, const struct item *it);

/*
 * Classifies paths[0..n), calling fn for each in order; listed: they are
 * regular files (found in a directory). Returns the number of files that
 * could not be read, or -1 when workers cannot start.
 */
static long classify_all(const struct model *m, char *const *paths, size_t n, int listed,
			 unsigned threads, unsigned nreasons, item_fn fn, void *ctx)
{
	struct batch b = { .m = m, .paths = paths, .n = n, .nreasons = nreasons,
			   .listed = listed };
	msg_limits_default(&b.lim);
	if (threads == 0)
		threads = par_default_threads();
	if (threads > n)
		threads = n ? (unsigned)n : 1;
	b.threads = threads;
	long failed = 0;
	unsigned started = 0;
	struct helper *h = calloc(threads, sizeof *h);
	b.workers = calloc(threads, sizeof *b.workers);
	b.bufs = calloc(threads, sizeof *b.bufs);
	b.rbs = calloc(threads, sizeof *b.rbs);
	b.items = calloc(RING, sizeof *b.items);
	if (nreasons)
		b.full = calloc(RING, sizeof *b.full);
	else
		b.scratch = calloc(threads, sizeof *b.scratch);
	int locks = pthread_mutex_init(&b.lock, NULL) == 0;
	if (locks && pthread_cond_init(&b.moved, NULL) != 0) {
		pthread_mutex_destroy(&b.lock);
		locks = 0;
	}
	if (!h || !b.workers || !b.bufs || !b.rbs || !b.items || !(b.full || b.scratch) || !locks) {
		cmd_fail(EX_OSERR, "out of memory");
		failed = -1;
		goto out;
	}
	size_t hi = 0, hn = 0;  /* the run this thread holds */
	/* The other threads; those that cannot start leave their share to the
	 * ones that did. */
	for (unsigned k = 1; k < threads; k++) {
		h[started].b = &b;
		h[started].worker = k;
		if (pthread_create(&h[started].th, NULL, helper_main, &h[started]) == 0)
			started++;
	}
	for (;;) {
		/* Prints what is done, in order: an item's slot is free for item
		 * + RING once printed says so, after fn has read it. */
		size_t p = atomic_load(&b.printed), p0 = p;
		while (p < n && !atomic_load(&b.broken) && atomic_load(&b.items[p % RING].done)) {
			struct item *it = &b.items[p % RING];
			if (!it->ok) {
				cmd_fail(EX_IOERR, "%s", it->err);
				failed++;
			}
			fn(ctx, p, it);
			atomic_store(&it->done, 0);
			atomic_store(&b.printed, ++p);
		}
		if (p != p0)
			wake(&b);
		if (atomic_load(&b.broken)) {
			cmd_fail(EX_SOFTWARE, "%s", b.werr);
			failed = -1;
			break;
		}
		if (p == n)
			break;
		/* As the other threads (helper_main), then printing again; it
		 * waits for the next item only when it holds no run. */
		size_t i = 0;
		int full;
		size_t len = take_run(&b, &i, &full);
		int worked = hn != 0;
		if (len)
			classify_start(&b, 0, i, len);
		if (hn)
			classify_finish(&b, 0, hi, hn);
		hi = i;
		hn = len;
		if (!len && !worked)
			wait_until(&b, next_is_done);
	}
	if (hn)  /* stopped by a worker's failure: its batch is drained */
		classify_finish(&b, 0, hi, hn);
	for (unsigned k = 0; k < started; k++)
		pthread_join(h[k].th, NULL);
out:
	if (locks) {
		pthread_cond_destroy(&b.moved);
		pthread_mutex_destroy(&b.lock);
	}
	for (unsigned k = 0; k < threads; k++) {
		if (b.workers)
			clf_worker_free(b.workers[k]);
		if (b.bufs)
			free(b.bufs[k]);
		if (b.rbs)
			rb_free(b.rbs[k]);
	}
	free(h);
	free(b.workers);
	free(b.bufs);
	free(b.rbs);
	free(b.items);
	free(b.full);
	free(b.scratch);
	return failed;
}

/* Loads a model; on failure says why and sets *status (66 missing, 65 bad). */
static struct model *load_model(const char *path, unsigned flags, int *status)
{
	char err[512];
	struct model *m = model_load_flags(path, flags, err, sizeof err);
	if (!m) {
		*status = errno == EBADMSG ? EX_DATAERR : EX_NOINPUT;
		cmd_fail(*status, "%s", err);
	}
	return m;
}

/* ---- classify ------------------------------------------------------------------ */

struct classify_out {
	const struct model *m;
	double threshold;
	int json, explain;
};

static void print_item(void *ctx, size_t index, const struct item *it)
{
	struct classify_out *o = ctx;
	(void)index;
	if (!it->ok)
		return;
	const struct clf_result *r = it->r;  /* with the reasons, when explaining */
	const char *decision = it->confidence >= o->threshold && !it->degraded ? "file" : "review";
	const char *label = model_label(o->m, (size_t)it->label);
	if (o->json) {
		fputs("{\"path\":", stdout);
		json_string(stdout, it->path);
		fputs(",\"category\":", stdout);
		json_string(stdout, label);
		printf(",\"confidence\":%.3f,\"decision\":\"%s\",\"second\":", it->confidence, decision);
		json_string(stdout, model_label(o->m, (size_t)it->second));
		printf(",\"second_confidence\":%.3f,\"degraded\":%s", it->second_confidence,
		       it->degraded ? "true" : "false");
		if (it->degraded) {
			fputs(",\"error\":", stdout);
			json_string(stdout, it->error);
		}
		if (o->explain && r) {
			fputs(",\"reasons\":[", stdout);
			for (size_t k = 0; k < r->nreasons; k++) {
				fputs(k ? ",{\"term\":" : "{\"term\":", stdout);
				json_string(stdout, r->reasons[k].term);
				printf(",\"zone\":\"%s\",\"weight\":%.4f}",
				       clf_kind_name(r->reasons[k].kind), r->reasons[k].weight);
			}
			fputc(']', stdout);
		}
		fputs("}\n", stdout);
		return;
	}
	printf("%s\t%s\t%.3f\t%s", it->path, label, it->confidence, decision);
	if (o->explain && r) {
		fputc('\t', stdout);
		for (size_t k = 0; k < r->nreasons; k++)
			printf("%s%s (%s) %+.3f", k ? ", " : "", r->reasons[k].term,
			       clf_kind_name(r->reasons[k].kind), r->reasons[k].weight);
		if (it->degraded)
			printf("%s[%s]", r->nreasons ? " " : "", it->error);
	}
	fputc('\n', stdout);
}

/* The files under one PATH, listed on a thread of its own or not. */
struct listing {
	const char *path;
	char **paths;
	size_t n;
	int rc;
	char err[512];
};

static void *list_run(void *arg)
{
	struct listing *l = arg;
	l->rc = corpus_list_files(l->path, &l->paths, &l->n, l->err, sizeof l->err);
	return NULL;
}

/* The first PATH's listing, then the tokenizers' patterns (a failure there is
 * reported by the workers), while the model loads. */
static void *list_first(void *arg)
{
	char err[256];
	list_run(arg);
	(void)tok_prepare(err, sizeof err);
	return NULL;
}

static void listing_release(struct listing *l)
{
	if (l->rc < 0)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
}

static int cmd_classify(int argc, char **argv)
{
	const char *model_path = NULL;
	struct classify_out o = { .threshold = -1 };
	unsigned long long threads = 0;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_MODEL:
			model_path = optarg;
			break;
		case OPT_THRESHOLD:
			if (parse_double(optarg, 0, 1, &o.threshold) < 0)
				return cmd_fail(EX_USAGE, "--threshold: a number between 0 and 1, not '%s'",
						optarg);
			break;
		case OPT_EXPLAIN:
			o.explain = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_THREADS:
			if (parse_ull(optarg, 1, 64, &threads) < 0)
				return cmd_fail(EX_USAGE, "--threads: 1 to 64, not '%s'", optarg);
			break;
		case OPT_HELP:
			fputs(classify_usage, stdout);
			return 0;
		default:
			cmd_fail(EX_USAGE, "%s: unknown option or missing value", argv[optind - 1]);
			fputs(classify_usage, stderr);
			return EX_USAGE;
		}
	}
	if (!model_path || optind >= argc) {
		cmd_fail(EX_USAGE, "--model and at least one PATH are required");
		fputs(classify_usage, stderr);
		return EX_USAGE;
	}
	int status = 0;
	/* The first PATH is listed while the model loads. */
	struct listing first = { .path = argv[optind] };
	pthread_t lister;
	int listing = pthread_create(&lister, NULL, list_first, &first) == 0;
	struct model *m = load_model(model_path, o.explain ? 0 : MODEL_SCORING, &status);
	if (listing)
		pthread_join(lister, NULL);
	if (!m) {
		listing_release(&first);
		return status;
	}
	o.m = m;
	if (o.threshold < 0)
		o.threshold = model_threshold(m);
	for (int a = optind; a < argc; a++) {
		struct listing l = { .path = argv[a] };
		if (a == optind && listing)
			l = first;
		else
			list_run(&l);
		if (l.rc < 0) {
			cmd_fail(EX_NOINPUT, "%s", l.err);
			status = EX_NOINPUT;
			continue;
		}
		/* A PATH that is not a directory is listed as itself, whatever it is
		 * (a pipe, a device): it is read as such. */
		int listed = !(l.n == 1 && !strcmp(l.paths[0], l.path));
		long failed = classify_all(m, l.paths, l.n, listed, (unsigned)threads,
					   o.explain ? NREASONS : 0, print_item, &o);
		if (failed < 0)
			status = EX_SOFTWARE;
		else if (failed > 0 && !status)
			status = EX_IOERR;
		listing_release(&l);
	}
	model_free(m);
	if (fflush(stdout) != 0 || ferror(stdout))
		return cmd_fail(EX_IOERR, "standard output: %s", strerror(errno));
	return status;
}

/* ---- eval ------------------------------------------------------------------------ */

struct eval_acc {
	int *pred;
	double *conf;
};

static void collect_item(void *ctx, size_t index, const struct item *it)
{
	struct eval_acc *a = ctx;
	a->pred[index] = it->ok ? it->label : -1;
	a->conf[index] = it->ok ? it->confidence : 0;
}

static int cmd_eval(int argc, char **argv)
{
	const char *model_path = NULL, *corpus_path = NULL;
	int json = 0, opt;
	unsigned long long threads = 0;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_MODEL:
			model_path = optarg;
			break;
		case OPT_CORPUS:
			corpus_path = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_THREADS:
			if (parse_ull(optarg, 1, 64, &threads) < 0)
				return cmd_fail(EX_USAGE, "--threads: 1 to 64, not '%s'", optarg);
			break;
		case OPT_HELP:
			fputs(eval_usage, stdout);
			return 0;
		default:
			cmd_fail(EX_USAGE, "%s: unknown option or missing value", argv[optind - 1]);
			fputs(eval_usage, stderr);
			return EX_USAGE;
		}
	}
	if (!model_path || !corpus_path || optind < argc) {
		cmd_fail(EX_USAGE, "--model and --corpus are required");
		fputs(eval_usage, stderr);
		return EX_USAGE;
	}
	int status = 0;
	struct model *m = load_model(model_path, MODEL_SCORING, &status);
	if (!m)
		return status;
	struct corpus c;
	char err[512];
	const char *dirs[1] = { corpus_path };
	if (corpus_scan(&c, dirs, 1, err, sizeof err) < 0) {
		model_free(m);
		return cmd_fail(errno == ENOENT ? EX_NOINPUT : EX_DATAERR, "%s", err);
	}
	int *truth = malloc((c.n ? c.n : 1) * sizeof *truth);
	struct eval_acc acc = { malloc((c.n ? c.n : 1) * sizeof *acc.pred),
				malloc((c.n ? c.n : 1) * sizeof *acc.conf) };
	if (!truth || !acc.pred || !acc.conf) {
		status = cmd_fail(EX_OSERR, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++)
		truth[i] = model_label_index(m, c.label_names[c.labels[i]]);
	for (size_t l = 0; l < c.nlabels; l++)
		if (model_label_index(m, c.label_names[l]) < 0)
			fprintf(stderr, "triage: warning: the model has no category '%s': its messages "
					"count as errors\n", c.label_names[l]);
	long failed = classify_all(m, c.paths, c.n, 1, (unsigned)threads, 0, collect_item, &acc);
	if (failed != 0) {
		status = failed < 0 ? EX_SOFTWARE : EX_IOERR;
		if (failed < 0)
			goto out;
	}
	size_t nl = model_nlabels(m);
	const char **labels = malloc(nl * sizeof *labels);
	struct eval_report r;
	if (!labels || eval_compute(&r, nl, truth, acc.pred, acc.conf, c.n, model_threshold(m)) < 0) {
		free(labels);
		status = cmd_fail(EX_OSERR, "out of memory");
		goto out;
	}
	for (size_t l = 0; l < nl; l++)
		labels[l] = model_label(m, l);
	if (json) {
		report_eval_json(stdout, &r, labels, model_threshold(m));
	} else {
		printf("evaluation of %s on %s\n\n", model_path, corpus_path);
		report_eval_text(stdout, &r, labels, model_threshold(m));
	}
	eval_release(&r);
	free(labels);
out:
	free(truth);
	free(acc.pred);
	free(acc.conf);
	corpus_release(&c);
	model_free(m);
	return status;
}

const struct command command_classify = { "classify", cmd_classify,
					  "classify message files with a model" };
const struct command command_eval = { "eval", cmd_eval, "evaluate a model on a labelled corpus" };
