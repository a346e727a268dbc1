/*
 * classifier: the library's entry points for commands and the daemon.
 *
 *   corpus_scan()   a directory of labelled mail (one sub-directory per label)
 *   clf_train()     corpus -> model (with cross-validated calibration)
 *   clf_worker_*()  model + one raw message -> label, confidence, reasons
 *   eval_*()        predictions -> accuracy, macro-F1, confusion, trade-off
 *
 * Training and service read a message through the same function
 * (clf_featurize), so what the model learned is what it sees.
 */
#ifndef TRIAGE_CLASSIFIER_H
#define TRIAGE_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "classifier/message.h"
#include "classifier/model.h"
#include "classifier/tokenize.h"

/* ---- corpora ---------------------------------------------------------------- */

#define CORPUS_MAX_FILES 2000000

struct corpus {
	size_t n;            /* messages */
	char **paths;        /* n file paths */
	int *labels;         /* n label indexes into label_names */
	size_t nlabels;
	char **label_names;  /* sorted */
};

/*
 * Reads directories laid out as DIR/<label>/<message files> (sub-directories
 * of a label are recursed; hidden files and README* are skipped). Several
 * directories are merged by label name. Paths are sorted, so the result does
 * not depend on the file system's order. Returns 0, or -1 with err set.
 */
int corpus_scan(struct corpus *c, const char *const *dirs, size_t ndirs, char *err,
		size_t errsz);
void corpus_release(struct corpus *c);

/*
 * Lists message files under path (a file, or a directory recursed), sorted.
 * Returns 0 and *paths / *n (the caller frees each path and the array), or -1.
 */
int corpus_list_files(const char *path, char ***paths, size_t *n, char *err, size_t errsz);

/* ---- training ---------------------------------------------------------------- */

struct train_opts {
	struct tok_opts tok;
	enum clf_algo algo;
	double c;                /* regularisation (default 4); 0: chosen by cross-validation
	                            among TRAIN_C_AUTO (1, 2, 4), see clf_train() */
	uint64_t seed;           /* default 1 */
	unsigned folds;          /* cross-validation folds for calibration (default 3) */
	unsigned min_df;         /* a term must be in this many messages (default 2) */
	uint32_t max_features;   /* the vocabulary's bound (default 2^18) */
	unsigned threads;        /* 0: one per CPU, at most 8 */
	double target_precision; /* for the recommended threshold (default 0.95) */
	int skip_final;          /* only cross-validate (triage cv) */
	int64_t trained_at;      /* the date recorded in the model (0: now) */
	struct msg_limits limits;
	/* Progress: called from the calling thread with a stage name ("reading",
	 * "training") and a count; may be NULL. */
	void (*progress)(void *ctx, const char *stage, size_t done, size_t total);
	void *progress_ctx;
	/* Called once from the calling thread (unless skip_final) when the
	 * model's vocabulary, idf, weights and labels are final, before its
	 * calibration, threshold and information are: the train command starts
	 * saving it there (model_save_begin), so that the disk writes while the
	 * model is calibrated. Returns 0, or -1 with err set (training then
	 * fails with that error). May be NULL. */
	int (*model_ready)(void *ctx, const struct model *m, char *err, size_t errsz);
	void *model_ready_ctx;
};

void train_opts_default(struct train_opts *o);

/* The values of C that training tries when opts->c is 0. */
#define TRAIN_C_AUTO { 1.0, 2.0, 4.0 }
#define TRAIN_C_AUTO_N 3

/* Out-of-fold predictions and what training saw (for reports). */
struct train_result {
	size_t n;
	int *truth, *pred;      /* n each */
	double *conf;           /* calibrated confidence of pred */
	size_t n_degraded;      /* messages read from their headers only */
	size_t n_terms_seen;    /* distinct terms before pruning */
	size_t n_features;      /* kept */
	double threshold;
	double seconds_read, seconds_train;
	unsigned n_c;                       /* values of C tried (1 when opts->c was given) */
	double c_tried[TRAIN_C_AUTO_N];     /* in the order tried */
	double c_macro_f1[TRAIN_C_AUTO_N];  /* cross-validated, uncalibrated argmax */
};

void train_result_release(struct train_result *r);

/*
 * Trains a model on c. *out (unless opts->skip_final) gets a model the caller
 * frees with model_free(); res (may be NULL) the out-of-fold predictions.
 * With opts->c 0, the fold models are fitted for C = 1, then 2, then 4, and
 * the first C whose out-of-fold macro-F1 does not beat the previous one stops
 * the search: the model is fitted with the best C, and calibrated on its
 * out-of-fold values.
 * Deterministic for a given seed, whatever the number of threads.
 * Returns 0, or -1 with err set.
 */
int clf_train(const struct corpus *c, const struct train_opts *opts, struct model **out,
	      struct train_result *res, char *err, size_t errsz);

/* ---- classifying ------------------------------------------------------------- */

#define CLF_MAX_REASONS 16

struct clf_reason {
	char term[MODEL_MAX_TERM_LEN + 1];  /* readable form, e.g. "adhésion" */
	char kind;         /* the feature prefix: b q f g x s d u a h */
	double weight;     /* contribution to the chosen label's score */
};

struct clf_result {
	int label;                     /* index of the chosen label */
	double confidence;             /* calibrated, 0..1 */
	int second;                    /* the runner-up label */
	double second_confidence;
	unsigned msg_flags;            /* enum msg_flag */
	int degraded;                  /* the message could not be read whole: decided
					  from its headers (error says why) */
	char error[192];
	size_t nreasons;
	struct clf_reason reasons[CLF_MAX_REASONS];
};

struct clf_worker;

/*
 * Loads now the libraries that classifying opens when first needed (libxml2,
 * at the first HTML part): a service calls it at start to fail there when one
 * is missing. Returns 0, or -1 with err set.
 */
int clf_preload(char *err, size_t errsz);

/* A worker classifies with m (borrowed: m must outlive it); one per thread.
 * Returns NULL with err set. */
struct clf_worker *clf_worker_new(const struct model *m, char *err, size_t errsz);
void clf_worker_free(struct clf_worker *w);

/* Classifies a parsed message; nreasons (up to CLF_MAX_REASONS) explanations.
 * Returns 0, or -1 on ENOMEM. */
int clf_classify_msg(struct clf_worker *w, const struct msg *m, unsigned nreasons,
		     struct clf_result *r);

/* Parses raw (len bytes of a message of total bytes) with lim (NULL:
 * defaults) and classifies it; a message that crosses a limit is classified
 * from its headers (r->degraded, r->error). */
int clf_classify_raw(struct clf_worker *w, const char *raw, size_t len, size_t total,
		     const struct msg_limits *lim, unsigned nreasons, struct clf_result *r);

/* The name of a reason's kind for people: "body", "quote", "subject", ... */
const char *clf_kind_name(char kind);

/*
 * The one road from raw bytes to a parsed message, for training and service
 * alike: msg_parse with lim (NULL: defaults). raw holds len bytes of a message
 * of total bytes (total > len when only its start was read). A message over
 * lim->max_size, or crossing another limit, is read from its headers only
 * (*degraded = 1 and err says why). m is always filled: call msg_release().
 */
void clf_read_message(struct msg *m, const char *raw, size_t len, size_t total,
		      const struct msg_limits *lim, int *degraded, char *err, size_t errsz);

/*
 * Reads a message file: all of it when it is at most max bytes, else only its
 * first MiB (enough for the headers) with *total set to the file's size.
 * Returns the bytes (caller frees) and *len, or NULL with err set.
 */
char *clf_read_file(const char *path, size_t max, size_t *len, size_t *total, char *err,
		    size_t errsz);

/*
 * clf_read_file for a file known to be a regular one (as corpus_list_files
 * lists them), into buf (bufsz bytes, one of them kept for a NUL) when it
 * fits: one open, one read and one close, a regular file's read returning
 * less than asked only at its end. Returns buf; for a file that does not
 * fit, a buffer from clf_read_file (the caller frees what is not buf); or
 * NULL with err set.
 */
#define CLF_READ_BUF (64u << 10)
char *clf_read_file_into(const char *path, size_t max, char *buf, size_t bufsz, size_t *len,
			 size_t *total, char *err, size_t errsz);

/* ---- evaluation ----------------------------------------------------------- */

#define EVAL_NCURVE 21   /* thresholds 0.00, 0.05, ..., 1.00 */

struct eval_class {
	double precision, recall, f1;
	size_t support, predicted, correct;
};

struct eval_report {
	size_t n, nlabels, correct;
	double accuracy, macro_f1;
	struct eval_class *cls;   /* nlabels */
	size_t *confusion;        /* nlabels * nlabels, [truth * nlabels + pred] */
	/* The precision/coverage trade-off: at each threshold, the share of mail
	 * filed (confidence >= t) and the precision of what is filed. */
	struct { double threshold, coverage, precision; size_t filed; } curve[EVAL_NCURVE + 1];
	size_t ncurve;
	double ece;               /* expected calibration error (10 bins) */
};

/*
 * Computes a report from n predictions (truth < 0: a label the model does not
 * know, counted as wrong). threshold (0..1, or < 0 for none) adds the
 * recommended threshold's row to the curve. Returns 0, or -1 on ENOMEM.
 */
int eval_compute(struct eval_report *r, size_t nlabels, const int *truth, const int *pred,
		 const double *conf, size_t n, double threshold);
void eval_release(struct eval_report *r);

/* The lowest confidence at which the precision of filed mail reaches target
 * (1.0 when it never does). *coverage and *precision (may be NULL) get the
 * figures at that threshold. */
double eval_threshold(const int *truth, const int *pred, const double *conf, size_t n,
		      double target, double *coverage, double *precision);

#endif
