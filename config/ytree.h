/*
 * ytree: triage.yaml's text -> a small tree of scalars, lists and mappings,
 * each node with its position, built from libyaml's events (config/ only).
 *
 * libyaml's own document API is not used because it hides what the checks
 * need: it resolves aliases into shared nodes (positions then point at the
 * anchor) and cannot tell a duplicate key. Before parsing, the text is checked
 * for what libyaml would report badly or not at all: bytes that are not
 * UTF-8, NUL bytes, tabs in indentation. libyaml's syntax errors are turned
 * into sentences an admin can act on.
 */
#ifndef TRIAGE_YTREE_H
#define TRIAGE_YTREE_H

#include <stddef.h>

#include "config/config.h"

#define YT_MAX_DEPTH 32

enum yt_type { YT_SCALAR, YT_SEQ, YT_MAP };

struct ynode {
	enum yt_type type;
	int line, col;           /* 1-based */
	char *str;               /* scalar: NUL-terminated value (may hold NULs: len) */
	size_t len;
	int plain;               /* scalar written without quotes */
	struct ynode **kids;     /* seq: items; map: key, value, key, value... */
	size_t n;                /* number of kids */
	size_t cap;
};

/* A plain empty, "~" or "null" scalar. */
int yt_is_null(const struct ynode *n);

/*
 * Parses data (len bytes). Returns the root node, which the caller frees with
 * yt_free(); or NULL after adding the errors found to errs (named file). An
 * empty file (only comments) returns NULL with an error. Errors that do not
 * prevent checking the first document (a second document after it, tabs in
 * an indentation libyaml accepted) are added and the tree is still returned.
 */
struct ynode *yt_parse(const char *data, size_t len, const char *file,
		       struct cfg_errors *errs);
void yt_free(struct ynode *n);

/* Adds an error (file copied); fmt is already translated. Out of memory drops
 * the message but still counts it. */
void cfg_errors_add(struct cfg_errors *e, const char *file, int line, int col,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
