/*
 * models: where the model in use lives, and how a retrained one replaces it.
 *
 *   STATE_DIR/models/current.model    installed by `triage retrain`; when it
 *                                     exists it is the model in use
 *   STATE_DIR/models/previous.model   the one it replaced (`triage rollback`
 *                                     swaps the two)
 *
 * Without current.model the model in use is the configuration's
 * classifier.model. Every replacement is atomic for a reader (the daemon
 * reloading on SIGHUP): a file is written whole under a temporary name in the
 * same directory, fsynced, then renamed over its final name, and the
 * directory is fsynced.
 */
#ifndef TRIAGE_MODELS_H
#define TRIAGE_MODELS_H

#include <stddef.h>

struct config;
struct model;

#define MODELS_DIR "models"
#define MODELS_CURRENT "current.model"
#define MODELS_PREVIOUS "previous.model"
#define MODELS_PIDFILE "triage.pid"

/* The model in use: STATE_DIR/models/current.model when a retrain installed one, else the configuration's. */
const char *models_current(const struct config *cfg, char *buf, size_t n);

/*
 * Loads the configuration at path, checked against the categories of its
 * classifier.model, and the model in use: current.model when it loads and
 * knows the same categories (*retrained = 1), else the configured model, and
 * why current.model was passed over in why ("" when it was not, or there is
 * none). Returns the configuration and *model, or NULL with errs filled.
 */
struct cfg_errors;
struct config *models_load_config(const char *path, struct cfg_errors *errs,
				  struct model **model, int *retrained, char *why, size_t whysz);

/* SIGHUP to the daemon whose pid is in STATE_DIR/triage.pid, when that process is alive and is triage (/proc/PID/comm); returns 1 signalled, 0 no daemon running, -1 error (err set). */
int models_signal_daemon(const char *state_dir, char *err, size_t errsz);

/* STATE_DIR/models/NAME into buf; returns buf, or NULL when it does not fit. */
char *models_path(const char *state_dir, const char *name, char *buf, size_t n);

/*
 * Installs m as STATE_DIR/models/current.model (the directory is created,
 * mode 0700). The model it replaces becomes previous.model: current.model
 * when there is one, else a copy of configured (the configuration's model).
 * Order: the new model is saved under a temporary name; the old one is
 * hard-linked (or copied) to previous.model atomically; the new one is
 * renamed over current.model. An interruption leaves current.model either
 * the old or the new model, never a partial file. Returns 0, or -1 with err.
 */
int models_install(const char *state_dir, const struct model *m, const char *configured,
		   char *err, size_t errsz);

/*
 * Swaps previous.model and the model in use: previous.model becomes
 * current.model and the one it replaces (current.model, or a copy of
 * configured when there is none) becomes previous.model, so that a second
 * rollback undoes the first. Returns 0, 1 when there is no previous.model
 * (err says so), or -1 with err.
 */
int models_rollback(const char *state_dir, const char *configured, char *err, size_t errsz);

#endif
