/* Listing labelled corpora and message folders. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "classifier/classifier.h"
#include "common/util.h"

struct pathlist {
	char **p;
	size_t n, cap;
};

static int pl_add(struct pathlist *l, const char *path)
{
	if (l->n >= CORPUS_MAX_FILES) {
		errno = E2BIG;
		return -1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		char **p = realloc(l->p, cap * sizeof *p);
		if (!p)
			return -1;
		l->p = p;
		l->cap = cap;
	}
	if (!(l->p[l->n] = strdup(path)))
		return -1;
	l->n++;
	return 0;
}

static void pl_free(struct pathlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->p[i]);
	free(l->p);
	memset(l, 0, sizeof *l);
}

static int skip_name(const char *name)
{
	return name[0] == '.' || !strncmp(name, "README", 6);
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds every regular file under dir (recursing, depth-limited). */
static int walk(struct pathlist *l, const char *dir, int depth, char *err, size_t errsz)
{
	if (depth > 16)
		return errf(err, errsz, "%s: directories nested too deep", dir);
	DIR *d = opendir(dir);
	if (!d)
		return errf(err, errsz, "%s: %s", dir, strerror(errno));
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d))) {
		if (skip_name(e->d_name))
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
			r = errf(err, errsz, "%s/%s: path too long", dir, e->d_name);
			break;
		}
		/* The entry's type when the file system gives it (a stat fewer per
		 * file); a link or an unknown type is looked at through stat. */
		struct stat st;
		if (e->d_type == DT_REG) {
			st.st_mode = S_IFREG;
		} else if (e->d_type == DT_DIR) {
			st.st_mode = S_IFDIR;
		} else if (stat(path, &st) < 0) {
			r = errf(err, errsz, "%s: %s", path, strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			if ((r = walk(l, path, depth + 1, err, errsz)) < 0)
				break;
		} else if (S_ISREG(st.st_mode)) {
			if (pl_add(l, path) < 0) {
				r = errf(err, errsz, errno == E2BIG ? "%s: more than %d files"
								    : "%s: out of memory",
					 dir, CORPUS_MAX_FILES);
				break;
			}
		}
	}
	closedir(d);
	return r;
}

int corpus_list_files(const char *path, char ***paths, size_t *n, char *err, size_t errsz)
{
	struct pathlist l = { 0 };
	struct stat st;
	if (stat(path, &st) < 0)
		return errf(err, errsz, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		if (walk(&l, path, 0, err, errsz) < 0) {
			pl_free(&l);
			return -1;
		}
		qsort(l.p, l.n, sizeof *l.p, by_str);
	} else if (pl_add(&l, path) < 0) {
		pl_free(&l);
		return errf(err, errsz, "out of memory");
	}
	*paths = l.p;
	*n = l.n;
	return 0;
}

void corpus_release(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->paths[i]);
	free(c->paths);
	free(c->labels);
	for (size_t i = 0; i < c->nlabels; i++)
		free(c->label_names[i]);
	free(c->label_names);
	memset(c, 0, sizeof *c);
}

/* A label becomes a folder name and a model label: printable, no '/'. */
static int label_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MODEL_MAX_LABEL_LEN || !utf8_valid(s, n))
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/')
			return 0;
	return 1;
}

int corpus_scan(struct corpus *c, const char *const *dirs, size_t ndirs, char *err, size_t errsz)
{
	memset(c, 0, sizeof *c);
	struct pathlist names = { 0 };
	/* The labels: sub-directories of every dir, merged by name. */
	for (size_t k = 0; k < ndirs; k++) {
		DIR *d = opendir(dirs[k]);
		if (!d)
			return pl_free(&names), errf(err, errsz, "%s: %s", dirs[k], strerror(errno));
		struct dirent *e;
		while ((e = readdir(d))) {
			if (skip_name(e->d_name))
				continue;
			char path[PATH_MAX];
			struct stat st;
			if (snprintf(path, sizeof path, "%s/%s", dirs[k], e->d_name) >= (int)sizeof path ||
			    stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			int dup = 0;
			for (size_t i = 0; i < names.n; i++)
				dup |= !strcmp(names.p[i], e->d_name);
			if (dup)
				continue;
			if (!label_ok(e->d_name)) {
				closedir(d);
				pl_free(&names);
				return errf(err, errsz, "%s: '%s' cannot be a category name (1 to %d "
					    "characters of UTF-8, no control characters)",
					    dirs[k], e->d_name, MODEL_MAX_LABEL_LEN);
			}
			if (names.n >= MODEL_MAX_LABELS || pl_add(&names, e->d_name) < 0) {
				closedir(d);
				pl_free(&names);
				return errf(err, errsz, "%s: too many categories (at most %d)", dirs[k],
					    MODEL_MAX_LABELS);
			}
		}
		closedir(d);
	}
	qsort(names.p, names.n, sizeof *names.p, by_str);
	c->label_names = names.p;
	c->nlabels = names.n;
	struct pathlist files = { 0 };
	size_t cap = 0;
	for (size_t lab = 0; lab < c->nlabels; lab++) {
		for (size_t k = 0; k < ndirs; k++) {
			char dir[PATH_MAX];
			struct stat st;
			snprintf(dir, sizeof dir, "%s/%s", dirs[k], c->label_names[lab]);
			if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			size_t before = files.n;
			if (walk(&files, dir, 0, err, errsz) < 0)
				goto fail;
			qsort(files.p + before, files.n - before, sizeof *files.p, by_str);
		}
		if (files.n > cap) {
			size_t ncap = files.cap;
			int *lb = realloc(c->labels, ncap * sizeof *lb);
			if (!lb) {
				errf(err, errsz, "out of memory");
				goto fail;
			}
			c->labels = lb;
			cap = ncap;
		}
		for (size_t i = c->n; i < files.n; i++)
			c->labels[i] = (int)lab;
		c->n = files.n;
	}
	c->paths = files.p;
	if (c->nlabels == 0)
		return corpus_release(c), errf(err, errsz, "%s: no category folders found (expected "
					       "one sub-directory per category)", ndirs ? dirs[0] : "");
	return 0;
fail:
	pl_free(&files);
	c->n = 0;
	corpus_release(c);
	return -1;
}
