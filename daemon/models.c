#include "daemon/models.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classifier/model.h"
#include "common/util.h"
#include "config/config.h"

struct labels_ctx {
	struct model *model;
	const char **labels;
};

static int load_labels(void *ctx, const char *path, const char *const **labels, size_t *n,
		       char *err, size_t errsz)
{
	struct labels_ctx *l = ctx;
	if (!(l->model = model_load(path, err, errsz)))
		return -1;
	size_t nl = model_nlabels(l->model);
	if (!(l->labels = malloc((nl ? nl : 1) * sizeof *l->labels)))
		return errf(err, errsz, "out of memory");
	for (size_t i = 0; i < nl; i++)
		l->labels[i] = model_label(l->model, i);
	*labels = l->labels;
	*n = nl;
	return 0;
}

struct config *models_load_config(const char *path, struct cfg_errors *errs,
				  struct model **model, int *retrained, char *why, size_t whysz)
{
	struct labels_ctx l = { 0 };
	*model = NULL;
	*retrained = 0;
	why[0] = '\0';
	struct config *cfg = cfg_load_labels(path, load_labels, &l, errs);
	free(l.labels);
	if (!cfg) {
		model_free(l.model);
		return NULL;
	}
	*model = l.model;
	char buf[PATH_MAX], err[512];
	const char *cur = models_current(cfg, buf, sizeof buf);
	if (cur != buf)
		return cfg;   /* no retrained model */
	struct model *m = model_load(cur, err, sizeof err);
	int same = m && model_nlabels(m) == model_nlabels(*model);
	for (size_t i = 0; same && i < model_nlabels(m); i++)
		same = !strcmp(model_label(m, i), model_label(*model, i));
	if (!same) {
		snprintf(why, whysz, "%s: %s; using %s (triage rollback puts the previous model "
			 "back)", cur, m ? "other categories than the configured model" : err,
			 cfg_classifier(cfg)->model);
		model_free(m);
		return cfg;
	}
	model_free(*model);
	*model = m;
	*retrained = 1;
	return cfg;
}

char *models_path(const char *state_dir, const char *name, char *buf, size_t n)
{
	int k = snprintf(buf, n, "%s/" MODELS_DIR "/%s", state_dir, name);
	return k < 0 || (size_t)k >= n ? NULL : buf;
}

const char *models_current(const struct config *cfg, char *buf, size_t n)
{
	if (models_path(cfg_state_dir(cfg), MODELS_CURRENT, buf, n) && access(buf, F_OK) == 0)
		return buf;
	return cfg_classifier(cfg)->model;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* Copies src to dst atomically (temporary file, fsync, rename). */
static int copy_atomic(const char *src, const char *dst, char *err, size_t errsz)
{
	size_t len;
	char *data = read_file(src, MODEL_MAX_FILE_SIZE, &len, err, errsz);
	if (!data)
		return -1;
	int r = write_file_atomic(dst, data, len, 0644, err, errsz);
	free(data);
	return r;
}

/* Makes dst name the same file as src, atomically for readers of dst: a hard
 * link under a temporary name renamed over dst (a copy when the file system
 * refuses hard links). */
static int link_atomic(const char *src, const char *dst, char *err, size_t errsz)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.link.%ld", dst, (long)getpid()) >= (int)sizeof tmp)
		return errf(err, errsz, "%s: path too long", dst);
	unlink(tmp);
	if (link(src, tmp) < 0) {
		if (errno == EPERM || errno == EXDEV || errno == EMLINK || errno == ENOTSUP)
			return copy_atomic(src, dst, err, errsz);
		return errf(err, errsz, "%s: %s", tmp, strerror(errno));
	}
	if (rename(tmp, dst) < 0) {
		int saved = errno;
		unlink(tmp);
		return errf(err, errsz, "%s: %s", dst, strerror(saved));
	}
	return 0;
}

/* Creates STATE_DIR and STATE_DIR/models (0700) when missing; dir gets the latter. */
static int models_dir(const char *state_dir, char *dir, size_t n, char *err, size_t errsz)
{
	if (snprintf(dir, n, "%s/" MODELS_DIR, state_dir) >= (int)n)
		return errf(err, errsz, "%s: path too long", state_dir);
	if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
		return errf(err, errsz, "state directory %s: %s", state_dir, strerror(errno));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return errf(err, errsz, "%s: %s", dir, strerror(errno));
	return 0;
}

int models_install(const char *state_dir, const struct model *m, const char *configured,
		   char *err, size_t errsz)
{
	char dir[PATH_MAX], cur[PATH_MAX], prev[PATH_MAX], fresh[PATH_MAX];
	if (models_dir(state_dir, dir, sizeof dir, err, errsz) < 0)
		return -1;
	if (!models_path(state_dir, MODELS_CURRENT, cur, sizeof cur) ||
	    !models_path(state_dir, MODELS_PREVIOUS, prev, sizeof prev) ||
	    !models_path(state_dir, ".new.model", fresh, sizeof fresh))
		return errf(err, errsz, "%s: path too long", state_dir);
	/* 1. the new model, whole and on disk, under a name nobody reads */
	if (model_save(m, fresh, err, errsz) < 0)
		return -1;
	/* 2. the one in use becomes previous.model */
	int r = exists(cur) ? link_atomic(cur, prev, err, errsz)
			    : copy_atomic(configured, prev, err, errsz);
	if (r < 0) {
		unlink(fresh);
		return -1;
	}
	/* 3. the new one becomes current.model */
	if (rename(fresh, cur) < 0) {
		int saved = errno;
		unlink(fresh);
		return errf(err, errsz, "%s: %s", cur, strerror(saved));
	}
	fsync_dir(dir);
	return 0;
}

int models_rollback(const char *state_dir, const char *configured, char *err, size_t errsz)
{
	char dir[PATH_MAX], cur[PATH_MAX], prev[PATH_MAX], swap[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s/" MODELS_DIR, state_dir) >= (int)sizeof dir ||
	    !models_path(state_dir, MODELS_CURRENT, cur, sizeof cur) ||
	    !models_path(state_dir, MODELS_PREVIOUS, prev, sizeof prev) ||
	    !models_path(state_dir, ".rollback.model", swap, sizeof swap))
		return errf(err, errsz, "%s: path too long", state_dir);
	if (!exists(prev)) {
		errf(err, errsz, "%s: no previous model to go back to", prev);
		return 1;
	}
	/* Validate before swapping: putting back a file that cannot be loaded
	 * would leave the daemon on its old model and the next start failing. */
	struct model *m = model_load(prev, err, errsz);
	if (!m)
		return -1;
	model_free(m);
	/* 1. keep the one in use under a temporary name */
	int r = exists(cur) ? link_atomic(cur, swap, err, errsz)
			    : copy_atomic(configured, swap, err, errsz);
	if (r < 0)
		return -1;
	/* 2. previous.model becomes current.model (atomic for readers) */
	if (rename(prev, cur) < 0) {
		int saved = errno;
		unlink(swap);
		return errf(err, errsz, "%s: %s", cur, strerror(saved));
	}
	/* 3. the replaced one becomes previous.model */
	if (rename(swap, prev) < 0) {
		int saved = errno;
		fsync_dir(dir);
		return errf(err, errsz, "%s: %s (the replaced model is left as %s)", prev,
			    strerror(saved), swap);
	}
	fsync_dir(dir);
	return 0;
}

int models_signal_daemon(const char *state_dir, char *err, size_t errsz)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/" MODELS_PIDFILE, state_dir) >= (int)sizeof path)
		return errf(err, errsz, "%s: path too long", state_dir);
	size_t len;
	char e[512];
	char *text = read_file(path, 64, &len, e, sizeof e);
	if (!text) {
		if (errno == ENOENT)
			return 0;
		return errf(err, errsz, "%s", e);
	}
	char *end;
	errno = 0;
	long pid = strtol(text, &end, 10);
	int bad = errno || end == text || pid <= 1 || pid > INT_MAX ||
		  (*end && strcmp(end, "\n") != 0);
	free(text);
	if (bad)
		return errf(err, errsz, "%s: not a process id", path);
	if (pid == (long)getpid())
		return 0;  /* a stale file naming this very command */
	/* Is it triage? A stale file may name a pid since given to another program. */
	char comm_path[64], comm[64];
	snprintf(comm_path, sizeof comm_path, "/proc/%ld/comm", pid);
	FILE *f = fopen(comm_path, "re");
	if (!f)
		return 0;  /* no such process */
	int got = fgets(comm, sizeof comm, f) != NULL;
	fclose(f);
	if (!got)
		return 0;
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "triage") != 0)
		return 0;
	if (kill((pid_t)pid, SIGHUP) < 0) {
		if (errno == ESRCH)
			return 0;
		return errf(err, errsz, "cannot signal process %ld (%s): %s", pid, path,
			    strerror(errno));
	}
	return 1;
}
