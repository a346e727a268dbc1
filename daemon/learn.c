#include "daemon/learn.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "classifier/example.h"
#include "classifier/redact.h"
#include "common/log.h"
#include "common/util.h"

#define SCAN_MAX 2000        /* new UIDs looked at per folder and pass */
#define CONFIRM_MAX 200      /* messages checked for confirmation per day */
#define DAY 86400

/* A folder that routes map to exactly one category. */
struct fmap {
	const char *folder, *category;
};

/* One message that arrived in a category folder. */
struct arrival {
	uint32_t uid;
	char key[STATE_KEY_LEN + 1];   /* "" when it has no Message-ID */
	const char *kw_category;       /* the category of its $triage_ keyword, or NULL */
	/* the correction, once decided */
	int is_correction;
	char predicted[65];
	double confidence;
	int was_review;
	time_t decided;
	char *data;
	size_t len, size;
	int header_only;
};

static int ex(struct state *st, const char *sql)
{
	if (sqlite3_exec(state_db(st), sql, NULL, NULL, NULL) != SQLITE_OK) {
		state_set_error(st, sql);
		return -1;
	}
	return 0;
}

static sqlite3_stmt *prep(struct state *st, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(state_db(st), sql, -1, &s, NULL) != SQLITE_OK) {
		state_set_error(st, "preparing a query");
		return NULL;
	}
	return s;
}

static size_t folder_maps(const struct config *cfg, struct fmap *out, size_t max)
{
	size_t n = 0, nr = cfg_nroutes(cfg);
	const char *review = cfg_review_folder(cfg);
	for (size_t i = 0; i < nr && n < max; i++) {
		const struct cfg_route *r = cfg_route_at(cfg, i);
		if (!r->folder || (review && !strcmp(r->folder, review)))
			continue;
		/* a folder shared by two categories says nothing about which */
		int shared = 0;
		for (size_t k = 0; k < nr; k++) {
			const struct cfg_route *o = cfg_route_at(cfg, k);
			if (k != i && o->folder && !strcmp(o->folder, r->folder))
				shared = 1;
		}
		if (!shared)
			out[n++] = (struct fmap){ r->folder, r->category };
	}
	return n;
}

static const char *category_of_keyword(const struct config *cfg, const char *kw)
{
	for (size_t i = 0; i < cfg_nroutes(cfg); i++) {
		const struct cfg_route *r = cfg_route_at(cfg, i);
		if (r->keyword && !strcasecmp(r->keyword, kw))
			return r->category;
	}
	return NULL;
}

static int meta_get(struct state *st, const char *name, int64_t *v)
{
	sqlite3_stmt *s = prep(st, "SELECT value FROM meta WHERE name = ?1");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int meta_set(struct state *st, const char *name, int64_t v)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO meta (name, value) VALUES (?1, ?2) "
				   "ON CONFLICT (name) DO UPDATE SET value = ?2");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, v);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		state_set_error(st, "saving a setting");
		return -1;
	}
	return 0;
}

/* folder_seen: returns 1 and the values, 0 when unknown, -1 on error. */
static int seen_get(struct state *st, const char *folder, uint32_t *uidvalidity, uint32_t *last)
{
	sqlite3_stmt *s = prep(st, "SELECT uidvalidity, last_uid FROM folder_seen WHERE name = ?1");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, folder, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*uidvalidity = (uint32_t)sqlite3_column_int64(s, 0);
		*last = (uint32_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	state_set_error(st, "reading a folder's state");
	return -1;
}

static int seen_set(struct state *st, const char *folder, uint32_t uidvalidity, uint32_t last)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO folder_seen (name, uidvalidity, last_uid) "
				   "VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE SET "
				   "uidvalidity = ?2, last_uid = ?3");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, folder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, uidvalidity);
	sqlite3_bind_int64(s, 3, last);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		state_set_error(st, "saving a folder's state");
		return -1;
	}
	return 0;
}

/* The correction row of key: returns 1 (with kind, corrected, example), 0, -1. */
static int corr_get(struct state *st, const char *key, int *kind, char *corrected, size_t csz,
		    char *example, size_t esz)
{
	sqlite3_stmt *s = prep(st, "SELECT kind, corrected, example FROM correction WHERE key = ?1");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*kind = sqlite3_column_int(s, 0);
		snprintf(corrected, csz, "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(example, esz, "%s", (const char *)sqlite3_column_text(s, 2));
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	state_set_error(st, "reading a correction");
	return -1;
}

static int corr_put(struct state *st, const char *key, const char *sender, int kind,
		    const char *predicted, const char *corrected, double confidence, int was_review,
		    time_t decided, const char *example)
{
	sqlite3_stmt *s = prep(st,
		"INSERT INTO correction (key, sender, kind, predicted, corrected, confidence, "
		"was_review, decided_at, seen_at, example) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
		"?9, ?10) ON CONFLICT (key) DO UPDATE SET sender = ?2, kind = ?3, predicted = ?4, "
		"corrected = ?5, confidence = ?6, was_review = ?7, decided_at = ?8, seen_at = ?9, "
		"example = ?10");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, sender, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, kind);
	sqlite3_bind_text(s, 4, predicted, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, corrected, -1, SQLITE_STATIC);
	sqlite3_bind_double(s, 6, confidence);
	sqlite3_bind_int(s, 7, was_review);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)decided);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(s, 10, example, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		state_set_error(st, "recording a correction");
		return -1;
	}
	return 0;
}

static int mkdir_one(const char *path)
{
	return mkdir(path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* Strips a subject tag triage added ("[Presse] ...") so that the example is
 * the message as its sender wrote it. */
static void strip_tag(const struct config *cfg, char *subject)
{
	for (size_t i = 0; i < cfg_nroutes(cfg); i++) {
		const char *t = cfg_route_at(cfg, i)->subject_tag;
		size_t n = t ? strlen(t) : 0;
		if (n && !strncmp(subject, t, n)) {
			size_t skip = n;
			while (subject[skip] == ' ')
				skip++;
			memmove(subject, subject + skip, strlen(subject + skip) + 1);
			return;
		}
	}
}

/*
 * Writes the example of a message (raw bytes) under
 * state_dir/corrections/<category>/<key>.eml; path gets its name. Sets sender
 * to the hash of its From address. Returns 0, or -1 (logged: the correction is
 * still recorded, without an example).
 */
static int keep_example(struct pipeline *p, const char *key, const char *category,
			const char *kind, const char *predicted, double confidence,
			const struct arrival *a, char *sender, char *path, size_t pathsz)
{
	const char *dir = cfg_state_dir(p->cfg);
	struct msg_limits lim;
	msg_limits_default(&lim);
	lim.max_size = cfg_imap(p->cfg)->max_message_size;
	struct msg m;
	int degraded;
	char err[256];
	clf_read_message(&m, a->data, a->len, a->header_only ? a->size : a->len, &lim, &degraded,
			 err, sizeof err);
	state_address_hash(m.from_addr, sender);
	strip_tag(p->cfg, m.subject);
	char extra[512];
	snprintf(extra, sizeof extra,
		 "Example-Kind: %s\r\nExample-Predicted: %s\r\nExample-Confidence: %.3f\r\n"
		 "Example-Date: %lld\r\n",
		 kind, predicted, confidence, (long long)time(NULL));
	char xerr[256];
	struct redactor *r = redact_new(xerr, sizeof xerr);
	size_t len = 0;
	char *out = r ? example_build(&m, r, key, extra, &len, xerr, sizeof xerr) : NULL;
	redact_free(r);
	msg_release(&m);
	path[0] = '\0';
	if (!out) {
		log_err("id=%.12s cannot keep the example: %s", key, xerr);
		return -1;
	}
	char d[PATH_MAX];
	snprintf(d, sizeof d, "%s/corrections", dir);
	int ok = mkdir_one(d) == 0;
	snprintf(d, sizeof d, "%s/corrections/%s", dir, category);
	ok = ok && mkdir_one(d) == 0;
	size_t dl = strlen(d), kl = strlen(key);
	if (dl + kl + 6 > pathsz) {
		ok = 0;
	} else {
		memcpy(path, d, dl);
		path[dl] = '/';
		memcpy(path + dl + 1, key, kl);
		memcpy(path + dl + 1 + kl, ".eml", 5);
	}
	if (!ok || write_file_atomic(path, out, len, 0600, xerr, sizeof xerr) < 0) {
		log_err("id=%.12s cannot keep the example: %s", key, ok ? xerr : strerror(errno));
		path[0] = '\0';
		free(out);
		return -1;
	}
	free(out);
	return 0;
}

struct arr_ctx {
	const struct config *cfg;
	struct arrival *v;
	size_t n, cap;
	uint32_t max_uid;
	int oom;
};

static int arrival_cb(void *ctx, const struct imap_msg *m)
{
	struct arr_ctx *c = ctx;
	if (m->uid > c->max_uid)
		c->max_uid = m->uid;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct arrival *v = realloc(c->v, cap * sizeof *v);
		if (!v) {
			c->oom = 1;
			return 1;
		}
		c->v = v;
		c->cap = cap;
	}
	struct arrival *a = &c->v[c->n];
	memset(a, 0, sizeof *a);
	a->uid = m->uid;
	a->size = m->size;
	state_msgid_header_key(m->message_id, a->key);
	for (size_t k = 0; k < m->nflags; k++) {
		if (!strcasecmp(m->flags[k], "\\Deleted"))
			return 0;   /* on its way out: no label */
		if (!a->kw_category && m->flags[k][0] == '$')
			a->kw_category = category_of_keyword(c->cfg, m->flags[k]);
	}
	c->n++;
	return 0;
}

struct abody_ctx {
	struct arrival *v;
	size_t n;
	int oom;
};

static int abody_cb(void *ctx, const struct imap_msg *m)
{
	struct abody_ctx *b = ctx;
	for (size_t i = 0; i < b->n; i++) {
		struct arrival *a = &b->v[i];
		if (a->uid != m->uid || !m->data)
			continue;
		free(a->data);
		if (!(a->data = malloc(m->len + 1))) {
			b->oom = 1;
			return 1;
		}
		memcpy(a->data, m->data, m->len);
		a->data[m->len] = '\0';
		a->len = m->len;
		a->header_only = m->header_only;
		return 0;
	}
	return 0;
}

/* Decides whether an arrival in the folder of category cat is a correction. */
static int classify_arrival(struct pipeline *p, const char *cat, struct arrival *a)
{
	struct state_msg row;
	int k = *a->key ? state_key_find(p->st, p->mailbox, a->key, &row) : 0;
	if (k < 0)
		return -1;
	if (k == 1 && *row.category && (row.status == ST_DONE || row.status == ST_GONE ||
					 row.status == ST_DECIDED)) {
		if (!row.review && !strcmp(row.category, cat))
			return 0;   /* where triage put it (or its own move arriving) */
		a->is_correction = 1;
		snprintf(a->predicted, sizeof a->predicted, "%s", row.category);
		a->confidence = row.confidence;
		a->was_review = row.review;
		a->decided = row.decided;
		return 0;
	}
	if (k == 0 && a->kw_category && strcmp(a->kw_category, cat)) {
		/* Unknown to the state (no Message-ID, or the state was reset),
		 * but triage's keyword says what it had chosen. */
		a->is_correction = 1;
		snprintf(a->predicted, sizeof a->predicted, "%s", a->kw_category);
		a->confidence = -1;
	}
	return 0;
}

/* One folder: new UIDs since the last look. Returns the number of
 * corrections, or -1. */
static int scan_folder(struct pipeline *p, const struct fmap *f, int *selected)
{
	struct imap_mailbox info;
	if (imap_status(p->imap, f->folder, &info) < 0) {
		log_err("looking at %s: %s", f->folder, imap_error_text(p->imap));
		return -1;
	}
	uint32_t uv = 0, last = 0;
	int known = seen_get(p->st, f->folder, &uv, &last);
	if (known < 0)
		return -1;
	uint32_t top = info.uidnext ? info.uidnext - 1 : 0;
	if (!known || uv != info.uidvalidity) {
		if (known)
			log_warn("UIDVALIDITY of %s changed: corrections made meanwhile are not seen",
				 f->folder);
		return seen_set(p->st, f->folder, info.uidvalidity, top) < 0 ? -1 : 0;
	}
	if (top <= last)
		return 0;
	struct imap_mailbox sel;
	*selected = 1;
	if (imap_select(p->imap, f->folder, &sel) < 0) {
		log_err("looking at %s: %s", f->folder, imap_error_text(p->imap));
		return -1;
	}
	if (sel.uidvalidity != uv)
		return seen_set(p->st, f->folder, sel.uidvalidity, sel.uidnext ? sel.uidnext - 1 : 0);
	struct arr_ctx c = { .cfg = p->cfg, .max_uid = last };
	if (imap_fetch_meta(p->imap, last, SCAN_MAX, 1, 0, arrival_cb, &c) < 0 || c.oom) {
		log_err("looking at %s: %s", f->folder, c.oom ? "out of memory" : imap_error_text(p->imap));
		free(c.v);
		return -1;
	}
	int ret = 0, found = 0;
	for (size_t i = 0; i < c.n && ret == 0; i++)
		if (classify_arrival(p, f->category, &c.v[i]) < 0)
			ret = -1;
	/* the corrected messages' bodies, for their examples */
	size_t nc = 0;
	uint32_t *uids = malloc((c.n ? c.n : 1) * sizeof *uids);
	if (!uids)
		ret = -1;
	for (size_t i = 0; ret == 0 && i < c.n; i++)
		if (c.v[i].is_correction)
			uids[nc++] = c.v[i].uid;
	if (ret == 0 && nc) {
		struct abody_ctx b = { c.v, c.n, 0 };
		if (imap_fetch_bodies(p->imap, uids, nc, cfg_imap(p->cfg)->max_message_size,
				      abody_cb, &b) < 0 || b.oom) {
			log_err("fetching corrected messages in %s: %s", f->folder,
				b.oom ? "out of memory" : imap_error_text(p->imap));
			ret = -1;
		}
	}
	free(uids);
	for (size_t i = 0; ret == 0 && i < c.n; i++) {
		struct arrival *a = &c.v[i];
		if (!a->is_correction || !a->data)
			continue;
		if (!*a->key) {
			/* no Message-ID and unknown to the state: a key from its bytes */
			state_hash(a->data, a->len, a->key);
		}
		int kind = 0;
		char corrected[65] = "", old[PATH_MAX] = "";
		int had = corr_get(p->st, a->key, &kind, corrected, sizeof corrected, old, sizeof old);
		if (had < 0) {
			ret = -1;
			break;
		}
		if (had && kind == LEARN_CORRECTION && !strcmp(corrected, f->category))
			continue;   /* seen already (moved away and back) */
		char sender[STATE_KEY_LEN + 1] = "", path[PATH_MAX];
		keep_example(p, a->key, f->category, "correction", a->predicted,
			     a->confidence, a, sender, path, sizeof path);
		if (*old && strcmp(old, path))
			unlink(old);
		if (corr_put(p->st, a->key, sender, LEARN_CORRECTION, a->predicted, f->category,
			     a->confidence, a->was_review, a->decided, path) < 0) {
			ret = -1;
			break;
		}
		found++;
		log_notice("uid=%u id=%.12s correction: %s -> %s (in %s)%s", a->uid, a->key,
			   a->was_review ? "review" : a->predicted, f->category, f->folder,
			   *path ? "" : ", no example kept");
	}
	if (ret == 0 && seen_set(p->st, f->folder, uv, c.max_uid > last ? c.max_uid : last) < 0)
		ret = -1;
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i].data);
	free(c.v);
	return ret < 0 ? -1 : found;
}

/* Back to the watched mailbox after looking at other folders. */
static int reselect(struct pipeline *p)
{
	struct imap_mailbox info;
	if (imap_select(p->imap, p->mailbox, &info) < 0) {
		log_err("selecting %s: %s", p->mailbox, imap_error_text(p->imap));
		return -1;
	}
	if (info.uidvalidity != p->uidvalidity)
		return pipeline_open(p);
	return 0;
}

int learn_scan(struct pipeline *p)
{
	if (p->dry_run || !cfg_learning(p->cfg)->enabled)
		return 0;
	struct fmap maps[64];
	size_t n = folder_maps(p->cfg, maps, sizeof maps / sizeof *maps);
	int ret = 0, selected = 0;
	for (size_t i = 0; i < n && ret == 0 && !*p->stop; i++) {
		if (scan_folder(p, &maps[i], &selected) < 0) {
			if (imap_error(p->imap) == IMAP_OK)
				log_err("%s", state_error(p->st));
			ret = -1;
		}
	}
	if (selected && imap_error(p->imap) == IMAP_OK && reselect(p) < 0)
		ret = -1;
	return ret;
}

/* ---- housekeeping ---------------------------------------------------------------- */

/* Deletes example files older than cutoff that no row names (left by a crash). */
static size_t sweep_files(const char *state_dir, time_t cutoff)
{
	char d[PATH_MAX];
	snprintf(d, sizeof d, "%s/corrections", state_dir);
	DIR *top = opendir(d);
	if (!top)
		return 0;
	size_t n = 0;
	struct dirent *c;
	while ((c = readdir(top))) {
		if (c->d_name[0] == '.')
			continue;
		char sub[PATH_MAX];
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", d, c->d_name) >= sizeof sub)
			continue;
		DIR *cd = opendir(sub);
		if (!cd)
			continue;
		struct dirent *e;
		while ((e = readdir(cd))) {
			char f[PATH_MAX];
			struct stat sb;
			if (e->d_name[0] == '.')
				continue;
			if ((size_t)snprintf(f, sizeof f, "%s/%s", sub, e->d_name) >= sizeof f)
				continue;
			if (stat(f, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_mtime < cutoff &&
			    unlink(f) == 0)
				n++;
		}
		closedir(cd);
	}
	closedir(top);
	return n;
}

static int retention(struct pipeline *p)
{
	const struct cfg_learning *le = cfg_learning(p->cfg);
	time_t cutoff = time(NULL) - (time_t)le->retention_days * DAY;
	sqlite3_stmt *s = prep(p->st, "SELECT example FROM correction WHERE seen_at < ?1 "
				      "AND example != ''");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)cutoff);
	size_t files = 0;
	while (sqlite3_step(s) == SQLITE_ROW)
		if (unlink((const char *)sqlite3_column_text(s, 0)) == 0)
			files++;
	sqlite3_finalize(s);
	char sql[256];
	snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; DELETE FROM correction WHERE seen_at < %lld; "
		 "DELETE FROM message WHERE decided_at < %lld AND status != 0; COMMIT;",
		 (long long)cutoff, (long long)cutoff);
	if (ex(p->st, sql) < 0) {
		ex(p->st, "ROLLBACK");
		return -1;
	}
	int rows = sqlite3_changes(state_db(p->st));
	files += sweep_files(cfg_state_dir(p->cfg), cutoff);
	if (files || rows)
		log_info("retention (%d days): %zu examples and old records deleted",
			 le->retention_days, files);
	return 0;
}

struct confirm {
	char key[STATE_KEY_LEN + 1], sender[STATE_KEY_LEN + 1], category[65], folder[256];
	double confidence;
	time_t decided;
	uint32_t uid;
	int still_there;
};

struct confirm_ctx {
	struct confirm *v;
	size_t n;
	struct arrival *a;   /* parallel to v, for bodies */
};

static int confirm_meta_cb(void *ctx, const struct imap_msg *m)
{
	struct confirm_ctx *c = ctx;
	char key[STATE_KEY_LEN + 1];
	state_msgid_header_key(m->message_id, key);
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].uid == m->uid && !strcmp(c->v[i].key, key))
			c->v[i].still_there = 1;
	return 0;
}

/* keep_confirmed: mail still where triage put it after confirm_after_days. */
static int confirmations(struct pipeline *p)
{
	const struct cfg_learning *le = cfg_learning(p->cfg);
	if (!le->keep_confirmed)
		return 0;
	time_t now = time(NULL);
	sqlite3_stmt *s = prep(p->st,
		"SELECT key, sender, category, folder, confidence, decided_at, dest_uid FROM message "
		"WHERE mailbox = ?1 AND status = 1 AND review = 0 AND rule = '' AND category != '' "
		"AND folder != '' AND dest_uid > 0 AND decided_at < ?2 AND decided_at >= ?3 "
		"AND key NOT IN (SELECT key FROM correction) ORDER BY folder, dest_uid LIMIT ?4");
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, p->mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)(now - (time_t)le->confirm_after_days * DAY));
	sqlite3_bind_int64(s, 3, (sqlite3_int64)(now - (time_t)le->retention_days * DAY));
	sqlite3_bind_int(s, 4, CONFIRM_MAX);
	struct confirm *v = calloc(CONFIRM_MAX, sizeof *v);
	size_t n = 0;
	while (v && n < CONFIRM_MAX && sqlite3_step(s) == SQLITE_ROW) {
		struct confirm *c = &v[n++];
		snprintf(c->key, sizeof c->key, "%s", (const char *)sqlite3_column_text(s, 0));
		snprintf(c->sender, sizeof c->sender, "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(c->category, sizeof c->category, "%s", (const char *)sqlite3_column_text(s, 2));
		snprintf(c->folder, sizeof c->folder, "%s", (const char *)sqlite3_column_text(s, 3));
		c->confidence = sqlite3_column_double(s, 4);
		c->decided = (time_t)sqlite3_column_int64(s, 5);
		c->uid = (uint32_t)sqlite3_column_int64(s, 6);
	}
	sqlite3_finalize(s);
	if (!v)
		return -1;
	int ret = 0;
	size_t kept = 0;
	for (size_t i = 0; i < n && ret == 0;) {
		size_t j = i;
		while (j < n && !strcmp(v[j].folder, v[i].folder))
			j++;
		/* v[i..j) are in one folder, by UID */
		struct imap_mailbox info;
		uint32_t *uids = malloc((j - i) * sizeof *uids);
		struct arrival *a = calloc(j - i, sizeof *a);
		if (!uids || !a) {
			free(uids);
			free(a);
			ret = -1;
			break;
		}
		for (size_t k = i; k < j; k++) {
			uids[k - i] = v[k].uid;
			a[k - i].uid = v[k].uid;
		}
		if (imap_select(p->imap, v[i].folder, &info) < 0) {
			log_warn("checking confirmations in %s: %s", v[i].folder,
				 imap_error_text(p->imap));
		} else {
			struct confirm_ctx cc = { v + i, j - i, a };
			if (imap_fetch_meta_uids(p->imap, uids, j - i, 1, confirm_meta_cb, &cc) < 0)
				ret = -1;
			size_t nt = 0;
			for (size_t k = i; k < j; k++)
				if (v[k].still_there)
					uids[nt++] = v[k].uid;
			struct abody_ctx b = { a, j - i, 0 };
			if (ret == 0 && nt &&
			    imap_fetch_bodies(p->imap, uids, nt, cfg_imap(p->cfg)->max_message_size,
					      abody_cb, &b) < 0)
				ret = -1;
			for (size_t k = i; k < j && ret == 0; k++) {
				struct arrival *ak = &a[k - i];
				char sender[STATE_KEY_LEN + 1], path[PATH_MAX] = "";
				snprintf(sender, sizeof sender, "%s", v[k].sender);
				if (v[k].still_there && ak->data &&
				    keep_example(p, v[k].key, v[k].category, "confirmed", v[k].category,
						 v[k].confidence, ak, sender, path, sizeof path) == 0)
					kept++;
				if (corr_put(p->st, v[k].key, v[k].sender,
					     *path ? LEARN_CONFIRMED : LEARN_CHECKED, v[k].category,
					     v[k].category, v[k].confidence, 0, v[k].decided, path) < 0)
					ret = -1;
			}
		}
		for (size_t k = 0; k < j - i; k++)
			free(a[k].data);
		free(a);
		free(uids);
		i = j;
	}
	free(v);
	if (n && ret == 0)
		log_info("confirmations: %zu messages checked, %zu kept as examples", n, kept);
	if (n && imap_error(p->imap) == IMAP_OK && reselect(p) < 0)
		ret = -1;
	return ret;
}

int learn_ageing(struct state *st, const struct model *m, int days, struct learn_ageing *out)
{
	memset(out, 0, sizeof *out);
	time_t since = time(NULL) - (time_t)days * DAY;
	sqlite3_stmt *s = prep(st, "SELECT (SELECT count(*) FROM message WHERE decided_at >= ?1 "
				   "AND status = 1 AND review = 0 AND rule = '' AND category != ''), "
				   "(SELECT count(*) FROM correction WHERE kind = 0 AND was_review = 0 "
				   "AND seen_at >= ?1)");
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->filed = (uint64_t)sqlite3_column_int64(s, 0);
		out->corrected = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		state_set_error(st, "counting corrections");
		return -1;
	}
	const struct model_info *mi = m ? model_get_info(m) : NULL;
	double prec = mi && mi->cv_precision > 0 && mi->cv_precision <= 1 ? mi->cv_precision : 0.95;
	out->expected = 1 - prec;
	if (out->expected < 0.005)
		out->expected = 0.005;   /* a perfect cross-validation promises too much */
	out->rate = out->filed ? (double)out->corrected / (double)out->filed : 0;
	/* Too little mail says nothing: a few corrections of a few messages. */
	out->enough = out->filed >= 30 && out->corrected >= 3;
	out->ageing = out->enough && out->rate > 2 * out->expected;
	return 0;
}

int learn_housekeeping(struct pipeline *p, int force)
{
	if (p->dry_run || !cfg_learning(p->cfg)->enabled)
		return 0;
	int64_t at = 0;
	time_t now = time(NULL);
	if (meta_get(p->st, "housekeeping_at", &at) < 0)
		return -1;
	if (!force && now - at < DAY)
		return 0;
	if (retention(p) < 0 || confirmations(p) < 0) {
		if (imap_error(p->imap) == IMAP_OK)
			log_err("%s", state_error(p->st));
		return -1;
	}
	struct learn_ageing ag;
	if (learn_ageing(p->st, p->model, 30, &ag) == 0 && ag.ageing)
		log_warn("the model is ageing: %llu of %llu messages filed in the last 30 days were "
			 "corrected (%.1f%%), more than twice the %.1f%% its evaluation predicts; "
			 "run triage retrain",
			 (unsigned long long)ag.corrected, (unsigned long long)ag.filed, 100 * ag.rate,
			 100 * ag.expected);
	return meta_set(p->st, "housekeeping_at", now);
}

/* ---- forget ------------------------------------------------------------------------ */

int learn_forget(struct state *st, const char *state_dir, const char *address, size_t *nmsg,
		 size_t *ncorr, size_t *nfiles, char *err, size_t errsz)
{
	(void)state_dir;
	char h[STATE_KEY_LEN + 1];
	state_address_hash(address, h);
	*nmsg = *ncorr = *nfiles = 0;
	if (!*h)
		return errf(err, errsz, "an empty address");
	if (ex(st, "BEGIN IMMEDIATE") < 0)
		return errf(err, errsz, "%s", state_error(st));
	sqlite3_stmt *s = prep(st, "SELECT example FROM correction WHERE sender = ?1");
	if (!s)
		goto fail;
	sqlite3_bind_text(s, 1, h, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(s, 0);
		if (f && *f && unlink(f) == 0)
			(*nfiles)++;
	}
	sqlite3_finalize(s);
	const char *dels[] = { "DELETE FROM correction WHERE sender = ?1",
			       "DELETE FROM message WHERE sender = ?1" };
	for (int i = 0; i < 2; i++) {
		if (!(s = prep(st, dels[i])))
			goto fail;
		sqlite3_bind_text(s, 1, h, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			state_set_error(st, "forgetting");
			goto fail;
		}
		*(i ? nmsg : ncorr) = (size_t)sqlite3_changes(state_db(st));
	}
	if (ex(st, "COMMIT") < 0)
		goto fail;
	return 0;
fail:
	ex(st, "ROLLBACK");
	return errf(err, errsz, "%s", state_error(st));
}
