/*
 * model: a trained classifier as a file. Versioned, written atomically,
 * validated on load: a truncated, corrupted or wrong-version file gives a clear
 * error, never a crash, and every count read is bounded.
 *
 * A model holds the tokenizer settings it was trained with, the labels, the
 * vocabulary (terms, idf, a readable form of each term), the weights of one
 * linear classifier per label (one-vs-rest), the calibration that turns scores
 * into a confidence in [0,1], the recommended threshold, and facts about its
 * training (date, corpus size, cross-validated figures).
 *
 * A loaded model is immutable and may be shared between threads.
 */
#ifndef TRIAGE_MODEL_H
#define TRIAGE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "classifier/tokenize.h"

#define MODEL_MAGIC "TRIAGEMODEL\n"
#define MODEL_VERSION 1
/* Bounds checked on load (and on training). */
#define MODEL_MAX_LABELS 256
#define MODEL_MAX_LABEL_LEN 64
#define MODEL_MAX_FEATURES (1u << 22)
#define MODEL_MAX_TERM_LEN 256
#define MODEL_MAX_FILE_SIZE ((size_t)1 << 30)

enum clf_algo { CLF_SVM = 0, CLF_LOGREG = 1 };

/* What a model knows about its own training (for `triage eval`, `stats`, retrain). */
struct model_info {
	enum clf_algo algo;
	double c;                 /* regularisation parameter */
	uint64_t seed;
	int64_t trained_at;       /* Unix time */
	uint32_t n_docs;          /* training messages */
	uint32_t cv_folds;        /* folds used for calibration */
	double cv_accuracy;       /* cross-validated, on the training corpus */
	double cv_macro_f1;
	double cv_coverage;       /* share filed at the recommended threshold */
	double cv_precision;      /* precision of the filed mail at that threshold */
};

struct model;

/* Loads and validates a model file. Returns a model the caller frees with
 * model_free(), or NULL with err set ("PATH: reason") and errno: that of the
 * failing open or mmap, or EBADMSG when the file's content is wrong. */
struct model *model_load(const char *path, char *err, size_t errsz);
/*
 * model_load with flags: MODEL_SCORING, for scoring only (no explanation):
 * the terms' strings are then neither read nor checked (when the file holds
 * its term table, as files of triage 0.9 and later do), which saves a pass
 * over a third of a large model. model_has_terms() tells which was done.
 */
#define MODEL_SCORING 1u
struct model *model_load_flags(const char *path, unsigned flags, char *err, size_t errsz);
int model_has_terms(const struct model *m);
/* The same from memory (data is copied where needed; borrowed during the call). */
struct model *model_load_mem(const void *data, size_t len, char *err, size_t errsz);
/* Writes m to path atomically (temporary file, fsync, rename). */
int model_save(const struct model *m, const char *path, char *err, size_t errsz);
/*
 * model_save in two steps, for a caller that has a model's vocabulary, idf,
 * weights and labels before its calibration, threshold and information
 * (training): model_save_begin writes the file but for those (its head),
 * and syncs that part in a thread of its own while the caller goes on;
 * model_save_end writes the head from m and ends as model_save does. In
 * between, m's vocabulary, idf, weights and labels must not change (a change
 * of size is refused). model_save_abort (NULL: nothing) drops the file.
 * Errors as model_save's; begin returns NULL on error, and end, like abort,
 * releases what begin returned, on success or failure.
 */
struct model_saving;
struct model_saving *model_save_begin(const struct model *m, const char *path, char *err,
				      size_t errsz);
int model_save_end(struct model_saving *s, const struct model *m, char *err, size_t errsz);
void model_save_abort(struct model_saving *s);
void model_free(struct model *m);

size_t model_nlabels(const struct model *m);
/* Label i (0 <= i < model_nlabels), e.g. "Adhesion"; borrowed from m. */
const char *model_label(const struct model *m, size_t i);
/* Index of the label called name, or -1. */
int model_label_index(const struct model *m, const char *name);
/* The recommended threshold: the lowest confidence at which cross-validated
 * precision of the filed mail reaches 95%. */
double model_threshold(const struct model *m);
const struct model_info *model_get_info(const struct model *m);
const struct tok_opts *model_tok_opts(const struct model *m);
size_t model_nfeatures(const struct model *m);

#endif
