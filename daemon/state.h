/*
 * state: what triage has seen and done, in SQLite (WAL, one transaction per
 * batch step), so that a restart, a crash or a kill -9 neither loses a
 * message nor files one twice.
 *
 * - mailbox: per watched mailbox, its UIDVALIDITY and the last UID of which
 *   every message is decided.
 * - message: one row per message triage decided (or chose to leave), keyed by
 *   (mailbox, UIDVALIDITY, UID), with a key that identifies the message itself
 *   (a hash of its Message-ID, or of a few headers when it has none), the
 *   decision, the actions planned and those done, and where it went.
 * - forward: one row per message and route, journaled before and after
 *   sending.
 *
 * - folder_seen, correction, meta: what daemon/learn.c needs to notice
 *   volunteers' corrections (see learn.h).
 *
 * No address, subject or body is stored: senders and Message-IDs only as
 * hashes (SHA-256, truncated), so that `triage forget --address` can find a
 * person's rows without the state holding the address.
 */
#ifndef TRIAGE_STATE_H
#define TRIAGE_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Actions, as bits of state_msg.planned and .done. */
enum state_action {
	ACT_KEYWORD = 1 << 0,   /* $triage_<category> */
	ACT_FLAG = 1 << 1,      /* \Flagged */
	ACT_FORWARD = 1 << 2,   /* see the forward table */
	ACT_TAG = 1 << 3,       /* subject tag: APPEND the rewritten copy, remove the original */
	ACT_MOVE = 1 << 4,      /* to folder */
};

enum state_status {
	ST_DECIDED = 0,  /* decided, actions under way */
	ST_DONE,         /* every planned action done */
	ST_SKIPPED,      /* left alone: sent by triage, already known, deleted */
	ST_BACKLOG,      /* was there at first start, left alone (backlog: none) */
	ST_GONE,         /* vanished before its actions could be done */
};

#define STATE_KEY_LEN 32  /* hex digits of a key */

struct state_msg {
	int64_t id;                 /* row id (set by state_msg_add) */
	uint32_t uidvalidity, uid;
	char key[STATE_KEY_LEN + 1];     /* the message's identity */
	char sender[STATE_KEY_LEN + 1];  /* hash of the sender's address, or "" */
	uint32_t size;
	time_t received;            /* internal date */
	time_t decided;
	char category[65];          /* the model's label, "" when none */
	double confidence;          /* -1 when a rule decided */
	char rule[65];              /* the rule that decided, "" when the model did */
	char folder[256];           /* destination (UTF-8), "" when it stays */
	unsigned planned, done;     /* enum state_action bits */
	enum state_status status;
	uint32_t dest_uid;          /* its UID in folder once there, 0 when unknown */
	uint32_t tagged_uid;        /* the UID of the tagged copy (ACT_TAG), 0 until appended */
	int review;                 /* sent to the review folder */
};

struct state;

/* Opens (creating it and its schema when needed) the database at path, in WAL
 * mode. Returns NULL with err set. */
struct state *state_open(const char *path, char *err, size_t errsz);
void state_close(struct state *s);
const char *state_error(const struct state *s);

int state_begin(struct state *s);
int state_commit(struct state *s);
void state_rollback(struct state *s);

/* Returns 1 and fills the values when the mailbox is known, 0 when not, -1 on error. */
int state_mailbox_get(struct state *s, const char *mailbox, uint32_t *uidvalidity,
		      uint32_t *last_uid);
int state_mailbox_set(struct state *s, const char *mailbox, uint32_t uidvalidity,
		      uint32_t last_uid);

/* Adds a message row (m->id is set). Fails when (mailbox, uidvalidity, uid) is
 * already there. */
int state_msg_add(struct state *s, const char *mailbox, struct state_msg *m);
/* Updates done, status, dest_uid and tagged_uid of row m->id. */
int state_msg_update(struct state *s, const struct state_msg *m);
/* Finds the newest row of mailbox (any UIDVALIDITY) for the message with this
 * key: returns 1 and fills *m (when m is not NULL), 0 when there is none, -1
 * on error. */
int state_key_find(struct state *s, const char *mailbox, const char *key, struct state_msg *m);
/* Moves row id to another UIDVALIDITY and UID (after a UIDVALIDITY change). */
int state_msg_rebind(struct state *s, int64_t id, uint32_t uidvalidity, uint32_t uid);

/* Calls fn for each row of mailbox/uidvalidity whose status is ST_DECIDED
 * (actions not finished: crash recovery), in UID order. fn returning
 * non-zero stops. */
typedef int (*state_msg_fn)(void *ctx, const struct state_msg *m);
int state_unfinished(struct state *s, const char *mailbox, uint32_t uidvalidity,
		     state_msg_fn fn, void *ctx);

enum fwd_state { FWD_PENDING = 0, FWD_SENT = 1, FWD_FAILED = 2 };
/* The forward journal: one row per (message, route). */
int state_forward_set(struct state *s, int64_t msg_id, const char *route, enum fwd_state st);
/* Returns the state, or -1 when there is no row yet (or on error, see state_error). */
int state_forward_get(struct state *s, int64_t msg_id, const char *route);

/* Counts for the status line: messages filed (done, not review) and the time
 * of the last one. */
int state_counts(struct state *s, uint64_t *filed, time_t *last);

/* The database itself, for the learning module and the commands that report
 * on it (daemon/learn.c, triage stats, triage forget), which own their SQL. */
struct sqlite3;
struct sqlite3 *state_db(struct state *s);
/* Sets state_error() from the database's last error: "state database: what: ...". */
void state_set_error(struct state *s, const char *what);

/* Hex of the first 16 bytes of SHA-256(data): the key of a message or the
 * hash of an address (lowercased by the caller). out has STATE_KEY_LEN + 1. */
void state_hash(const void *data, size_t len, char *out);

/* The key of a message with this Message-ID (len bytes, without the angle
 * brackets, as the MIME parser gives it): the hash of "mid:" and the id. */
void state_msgid_key(const char *id, size_t len, char *out);
/* The same from a raw Message-ID header value: blanks and the angle brackets
 * around the id dropped. Returns 0, or -1 (out = "") when it holds no id. */
int state_msgid_header_key(const char *value, char *out);
/* The hash under which the state knows an address (lowercased); "" for "". */
void state_address_hash(const char *addr, char *out);

#endif
