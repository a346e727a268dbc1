#include "daemon/state.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define SCHEMA_VERSION 2

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS mailbox ("
	"  name TEXT PRIMARY KEY,"
	"  uidvalidity INTEGER NOT NULL,"
	"  last_uid INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS message ("
	"  id INTEGER PRIMARY KEY,"
	"  mailbox TEXT NOT NULL,"
	"  uidvalidity INTEGER NOT NULL,"
	"  uid INTEGER NOT NULL,"
	"  key TEXT NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  size INTEGER NOT NULL,"
	"  received_at INTEGER NOT NULL,"
	"  decided_at INTEGER NOT NULL,"
	"  category TEXT NOT NULL,"
	"  confidence REAL NOT NULL,"
	"  rule TEXT NOT NULL,"
	"  folder TEXT NOT NULL,"
	"  review INTEGER NOT NULL,"
	"  planned INTEGER NOT NULL,"
	"  done INTEGER NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  dest_uid INTEGER NOT NULL,"
	"  tagged_uid INTEGER NOT NULL,"
	"  UNIQUE (mailbox, uidvalidity, uid));"
	"CREATE INDEX IF NOT EXISTS message_key ON message (mailbox, key);"
	"CREATE INDEX IF NOT EXISTS message_status ON message (mailbox, uidvalidity, status);"
	"CREATE INDEX IF NOT EXISTS message_sender ON message (sender);"
	"CREATE TABLE IF NOT EXISTS forward ("
	"  message INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,"
	"  route TEXT NOT NULL,"
	"  state INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (message, route));"
	/* schema 2: learning (daemon/learn.c) */
	"CREATE TABLE IF NOT EXISTS folder_seen ("
	"  name TEXT PRIMARY KEY,"
	"  uidvalidity INTEGER NOT NULL,"
	"  last_uid INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS correction ("
	"  id INTEGER PRIMARY KEY,"
	"  key TEXT NOT NULL UNIQUE,"
	"  sender TEXT NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  predicted TEXT NOT NULL,"
	"  corrected TEXT NOT NULL,"
	"  confidence REAL NOT NULL,"
	"  was_review INTEGER NOT NULL,"
	"  decided_at INTEGER NOT NULL,"
	"  seen_at INTEGER NOT NULL,"
	"  example TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS correction_sender ON correction (sender);"
	"CREATE INDEX IF NOT EXISTS message_decided ON message (decided_at);"
	"CREATE TABLE IF NOT EXISTS meta ("
	"  name TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL);";

enum {
	Q_MBOX_GET, Q_MBOX_SET, Q_MSG_ADD, Q_MSG_UPDATE, Q_KEY_FIND, Q_REBIND, Q_UNFINISHED,
	Q_FWD_SET, Q_FWD_GET, Q_COUNTS, Q_COUNT
};

static const char *const queries[Q_COUNT] = {
	[Q_MBOX_GET] = "SELECT uidvalidity, last_uid FROM mailbox WHERE name = ?1",
	[Q_MBOX_SET] = "INSERT INTO mailbox (name, uidvalidity, last_uid, updated_at) "
		       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET "
		       "uidvalidity = ?2, last_uid = ?3, updated_at = ?4",
	[Q_MSG_ADD] = "INSERT INTO message (mailbox, uidvalidity, uid, key, sender, size, "
		      "received_at, decided_at, category, confidence, rule, folder, review, "
		      "planned, done, status, dest_uid, tagged_uid) VALUES "
		      "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
	[Q_MSG_UPDATE] = "UPDATE message SET done = ?2, status = ?3, dest_uid = ?4, "
			 "tagged_uid = ?5 WHERE id = ?1",
#define MSG_COLUMNS "id, uidvalidity, uid, key, sender, size, received_at, decided_at, " \
		    "category, confidence, rule, folder, review, planned, done, status, " \
		    "dest_uid, tagged_uid"
	[Q_KEY_FIND] = "SELECT " MSG_COLUMNS " FROM message WHERE mailbox = ?1 AND key = ?2 "
		       "ORDER BY id DESC LIMIT 1",
	[Q_REBIND] = "UPDATE message SET uidvalidity = ?2, uid = ?3 WHERE id = ?1",
	[Q_UNFINISHED] = "SELECT " MSG_COLUMNS " FROM message WHERE mailbox = ?1 AND "
			 "uidvalidity = ?2 AND status = 0 ORDER BY uid",
	[Q_FWD_SET] = "INSERT INTO forward (message, route, state, attempts, updated_at) "
		      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (message, route) DO UPDATE SET "
		      "state = ?3, attempts = attempts + ?4, updated_at = ?5",
	[Q_FWD_GET] = "SELECT state FROM forward WHERE message = ?1 AND route = ?2",
	[Q_COUNTS] = "SELECT count(*), max(decided_at) FROM message WHERE status = 1 AND review = 0",
};

struct state {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	char err[512];
};

static int fail(struct state *s, const char *what)
{
	snprintf(s->err, sizeof s->err, "state database: %s: %s", what, sqlite3_errmsg(s->db));
	return -1;
}

const char *state_error(const struct state *s)
{
	return s->err;
}

void state_hash(const void *data, size_t len, char *out)
{
	unsigned char d[32];
	static const char hex[] = "0123456789abcdef";
	gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d);
	for (int i = 0; i < STATE_KEY_LEN / 2; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[STATE_KEY_LEN] = '\0';
}

void state_msgid_key(const char *id, size_t len, char *out)
{
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "mid:%.*s", (int)len, id);
	state_hash(buf, n < 0 ? 0 : (size_t)n >= sizeof buf ? sizeof buf - 1 : (size_t)n, out);
}

int state_msgid_header_key(const char *v, char *out)
{
	out[0] = '\0';
	if (!v)
		return -1;
	while (isspace((unsigned char)*v))
		v++;
	const char *b = v, *e = v + strlen(v);
	const char *lt = strchr(v, '<');
	if (lt) {
		const char *gt = strchr(lt, '>');
		if (gt) {
			b = lt + 1;
			e = gt;
		}
	}
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	if (e == b)
		return -1;
	state_msgid_key(b, (size_t)(e - b), out);
	return 0;
}

void state_address_hash(const char *addr, char *out)
{
	char buf[512];
	size_t n = 0;
	for (; addr[n] && n + 1 < sizeof buf; n++)
		buf[n] = (char)tolower((unsigned char)addr[n]);
	if (n)
		state_hash(buf, n, out);
	else
		out[0] = '\0';
}

struct state *state_open(const char *path, char *err, size_t errsz)
{
	struct state *s = calloc(1, sizeof *s);
	if (!s) {
		errf(err, errsz, "out of memory");
		return NULL;
	}
	int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					       SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		errf(err, errsz, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		state_close(s);
		return NULL;
	}
	sqlite3_busy_timeout(s->db, 10000);
	/* WAL: a crash loses at most the transaction under way, and readers
	 * (triage stats) do not block the daemon. synchronous=FULL: a committed
	 * decision survives a power cut, which exactly-once needs. */
	char *msg = NULL;
	if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
				"PRAGMA foreign_keys=ON;", NULL, NULL, &msg) != SQLITE_OK) {
		errf(err, errsz, "%s: %s", path, msg ? msg : "cannot set up the database");
		sqlite3_free(msg);
		state_close(s);
		return NULL;
	}
	sqlite3_stmt *v;
	int version = 0;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &v, NULL) == SQLITE_OK) {
		if (sqlite3_step(v) == SQLITE_ROW)
			version = sqlite3_column_int(v, 0);
		sqlite3_finalize(v);
	}
	if (version > SCHEMA_VERSION) {
		errf(err, errsz, "%s: made by a newer triage (schema %d, this one knows %d)", path,
		     version, SCHEMA_VERSION);
		state_close(s);
		return NULL;
	}
	char sql[sizeof schema + 64];
	snprintf(sql, sizeof sql, "BEGIN; %s PRAGMA user_version = %d; COMMIT;", schema,
		 SCHEMA_VERSION);
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		errf(err, errsz, "%s: %s", path, msg ? msg : "cannot create the schema");
		sqlite3_free(msg);
		state_close(s);
		return NULL;
	}
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, queries[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i],
				       NULL) != SQLITE_OK) {
			errf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
			state_close(s);
			return NULL;
		}
	return s;
}

void state_close(struct state *s)
{
	if (!s)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	sqlite3_close(s->db);
	free(s);
}

static int exec(struct state *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(s, sql);
}

int state_begin(struct state *s) { return exec(s, "BEGIN IMMEDIATE"); }
int state_commit(struct state *s) { return exec(s, "COMMIT"); }
void state_rollback(struct state *s) { sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); }

/* Resets a statement for its next use; returns it. */
static sqlite3_stmt *q(struct state *s, int which)
{
	sqlite3_reset(s->q[which]);
	sqlite3_clear_bindings(s->q[which]);
	return s->q[which];
}

int state_mailbox_get(struct state *s, const char *mailbox, uint32_t *uidvalidity,
		      uint32_t *last_uid)
{
	sqlite3_stmt *st = q(s, Q_MBOX_GET);
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*uidvalidity = (uint32_t)sqlite3_column_int64(st, 0);
		*last_uid = (uint32_t)sqlite3_column_int64(st, 1);
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "reading the mailbox");
}

int state_mailbox_set(struct state *s, const char *mailbox, uint32_t uidvalidity,
		      uint32_t last_uid)
{
	sqlite3_stmt *st = q(s, Q_MBOX_SET);
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uidvalidity);
	sqlite3_bind_int64(st, 3, last_uid);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "saving the mailbox");
}

int state_msg_add(struct state *s, const char *mailbox, struct state_msg *m)
{
	sqlite3_stmt *st = q(s, Q_MSG_ADD);
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, m->uidvalidity);
	sqlite3_bind_int64(st, 3, m->uid);
	sqlite3_bind_text(st, 4, m->key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, m->sender, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, m->size);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)m->received);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)m->decided);
	sqlite3_bind_text(st, 9, m->category, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 10, m->confidence);
	sqlite3_bind_text(st, 11, m->rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, m->folder, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 13, m->review);
	sqlite3_bind_int(st, 14, (int)m->planned);
	sqlite3_bind_int(st, 15, (int)m->done);
	sqlite3_bind_int(st, 16, (int)m->status);
	sqlite3_bind_int64(st, 17, m->dest_uid);
	sqlite3_bind_int64(st, 18, m->tagged_uid);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return fail(s, "recording a message");
	m->id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int state_msg_update(struct state *s, const struct state_msg *m)
{
	sqlite3_stmt *st = q(s, Q_MSG_UPDATE);
	sqlite3_bind_int64(st, 1, m->id);
	sqlite3_bind_int(st, 2, (int)m->done);
	sqlite3_bind_int(st, 3, (int)m->status);
	sqlite3_bind_int64(st, 4, m->dest_uid);
	sqlite3_bind_int64(st, 5, m->tagged_uid);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "updating a message");
}

static void copy_col(char *dst, size_t dstsz, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, dstsz, "%s", t ? (const char *)t : "");
}

/* A row of MSG_COLUMNS into m. */
static void read_row(sqlite3_stmt *st, struct state_msg *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	m->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
	m->uid = (uint32_t)sqlite3_column_int64(st, 2);
	copy_col(m->key, sizeof m->key, st, 3);
	copy_col(m->sender, sizeof m->sender, st, 4);
	m->size = (uint32_t)sqlite3_column_int64(st, 5);
	m->received = (time_t)sqlite3_column_int64(st, 6);
	m->decided = (time_t)sqlite3_column_int64(st, 7);
	copy_col(m->category, sizeof m->category, st, 8);
	m->confidence = sqlite3_column_double(st, 9);
	copy_col(m->rule, sizeof m->rule, st, 10);
	copy_col(m->folder, sizeof m->folder, st, 11);
	m->review = sqlite3_column_int(st, 12);
	m->planned = (unsigned)sqlite3_column_int(st, 13);
	m->done = (unsigned)sqlite3_column_int(st, 14);
	m->status = (enum state_status)sqlite3_column_int(st, 15);
	m->dest_uid = (uint32_t)sqlite3_column_int64(st, 16);
	m->tagged_uid = (uint32_t)sqlite3_column_int64(st, 17);
}

int state_key_find(struct state *s, const char *mailbox, const char *key, struct state_msg *m)
{
	sqlite3_stmt *st = q(s, Q_KEY_FIND);
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && m)
		read_row(st, m);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail(s, "looking a message up");
}

int state_msg_rebind(struct state *s, int64_t id, uint32_t uidvalidity, uint32_t uid)
{
	sqlite3_stmt *st = q(s, Q_REBIND);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, uidvalidity);
	sqlite3_bind_int64(st, 3, uid);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "rebinding a message");
}

int state_unfinished(struct state *s, const char *mailbox, uint32_t uidvalidity,
		     state_msg_fn fn, void *ctx)
{
	/* Collected first: fn may write to the database. */
	struct state_msg *rows = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = q(s, Q_UNFINISHED);
	sqlite3_bind_text(st, 1, mailbox, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, uidvalidity);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct state_msg *r = realloc(rows, cap * sizeof *r);
			if (!r) {
				free(rows);
				sqlite3_reset(st);
				snprintf(s->err, sizeof s->err, "state database: out of memory");
				return -1;
			}
			rows = r;
		}
		read_row(st, &rows[n++]);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(rows);
		return fail(s, "reading unfinished messages");
	}
	int r = 0;
	for (size_t i = 0; i < n && !r; i++)
		r = fn(ctx, &rows[i]);
	free(rows);
	return r < 0 ? -1 : 0;
}

int state_forward_set(struct state *s, int64_t msg_id, const char *route, enum fwd_state fs)
{
	sqlite3_stmt *st = q(s, Q_FWD_SET);
	sqlite3_bind_int64(st, 1, msg_id);
	sqlite3_bind_text(st, 2, route, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, (int)fs);
	sqlite3_bind_int(st, 4, fs == FWD_PENDING ? 1 : 0);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "journaling a forward");
}

int state_forward_get(struct state *s, int64_t msg_id, const char *route)
{
	sqlite3_stmt *st = q(s, Q_FWD_GET);
	sqlite3_bind_int64(st, 1, msg_id);
	sqlite3_bind_text(st, 2, route, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		fail(s, "reading the forward journal");
	return v;
}

sqlite3 *state_db(struct state *s)
{
	return s->db;
}

void state_set_error(struct state *s, const char *what)
{
	fail(s, what);
}

int state_counts(struct state *s, uint64_t *filed, time_t *last)
{
	sqlite3_stmt *st = q(s, Q_COUNTS);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*filed = (uint64_t)sqlite3_column_int64(st, 0);
		*last = (time_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : fail(s, "counting");
}
