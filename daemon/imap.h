/*
 * imap: the daemon's one IMAP connection; the only file that uses libetpan's
 * IMAP API (daemon/imap.c).
 *
 * - TLS implicit or STARTTLS; the server's certificate chain and host name are
 *   verified with GnuTLS against ca_file and/or the system store (libetpan
 *   1.9.4 accepts any certificate by itself).
 * - LOGIN or AUTHENTICATE PLAIN; CAPABILITY read again after login.
 * - NAMESPACE: the personal prefix (Cyrus's "INBOX/") and the separator are
 *   applied to folder names, which callers give in UTF-8 relative to the
 *   personal namespace ("À vérifier", "Presse"); they are sent in modified
 *   UTF-7 ("&AMA- v&AOk-rifier"). INBOX is never prefixed.
 * - Every command works on UIDs; a move is UID MOVE when offered, else UID
 *   COPY, checked, then UID STORE +FLAGS (\Deleted) and UID EXPUNGE of those
 *   UIDs only (UIDPLUS). A bare EXPUNGE is never sent.
 *
 * Errors: every function returning int returns 0 on success, or -1 and
 * imap_error() tells the kind and a message. After IMAP_ERR_NET the connection
 * is dead: close it and connect again. Messages never contain a message body
 * or the password.
 *
 * Not thread-safe: one connection per thread.
 */
#ifndef TRIAGE_IMAP_H
#define TRIAGE_IMAP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum imap_tls { IMAP_TLS_IMPLICIT, IMAP_TLS_STARTTLS, IMAP_TLS_NONE };
enum imap_auth { IMAP_AUTH_AUTO, IMAP_AUTH_LOGIN, IMAP_AUTH_PLAIN };

struct imap_opts {
	const char *host;
	unsigned port;
	enum imap_tls tls;
	const char *ca_file;     /* extra trusted CA (PEM), or NULL */
	int system_ca;           /* also trust the system's CAs (default 1) */
	const char *username;
	const char *password;
	enum imap_auth auth;
	unsigned timeout_s;      /* network timeout per operation (default 60) */
};

enum imap_err {
	IMAP_OK = 0,
	IMAP_ERR_NET,      /* connect failed, connection dropped or timed out */
	IMAP_ERR_TLS,      /* TLS failed or the certificate was refused */
	IMAP_ERR_AUTH,     /* the server refused the user name or password */
	IMAP_ERR_NO,       /* the server answered NO to a command */
	IMAP_ERR_BAD,      /* the server answered BAD, or could not be understood */
	IMAP_ERR_UNSUPPORTED, /* the server lacks what the operation needs */
	IMAP_ERR_NOMEM,
};

enum imap_cap {
	IMAP_CAP_IDLE = 1 << 0,
	IMAP_CAP_MOVE = 1 << 1,
	IMAP_CAP_UIDPLUS = 1 << 2,
	IMAP_CAP_CONDSTORE = 1 << 3,
	IMAP_CAP_NAMESPACE = 1 << 4,
	IMAP_CAP_LITERALPLUS = 1 << 5,
};

struct imap;

/*
 * Connects, negotiates TLS and verifies the certificate, logs in, reads the
 * capabilities again and the personal namespace. Returns a connection the
 * caller closes with imap_close(), or NULL with *kind and err set
 * ("imap.example.org:993: certificate not trusted: ..." and the like).
 */
struct imap *imap_connect(const struct imap_opts *o, enum imap_err *kind, char *err,
			  size_t errsz);
/* LOGOUT (when the connection is alive) and frees everything. */
void imap_close(struct imap *c);

enum imap_err imap_error(const struct imap *c);
const char *imap_error_text(const struct imap *c);
unsigned imap_caps(const struct imap *c);         /* enum imap_cap bits */
char imap_separator(const struct imap *c);        /* of the personal namespace */
const char *imap_prefix(const struct imap *c);    /* e.g. "" or "INBOX/" */

/* The wire name of a folder (prefix added, modified UTF-7), caller frees; NULL
 * on ENOMEM or when utf8 is not valid UTF-8. "INBOX" maps to "INBOX". */
char *imap_wire_name(const struct imap *c, const char *utf8);

/* Creates the folder (and its parents) when it does not exist, and subscribes
 * it, so that volunteers' mail clients show it. */
int imap_ensure_folder(struct imap *c, const char *utf8);

/* Lists the personal folders (UTF-8, without the prefix). *names is an array
 * of *n strings the caller frees (each, then the array). */
int imap_list_folders(struct imap *c, char ***names, size_t *n);

struct imap_mailbox {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;
	uint64_t highestmodseq;   /* 0 without CONDSTORE */
	int keywords;             /* PERMANENTFLAGS holds \* : custom keywords kept */
	int read_only;
};

/* SELECT (with CONDSTORE when offered). */
int imap_select(struct imap *c, const char *utf8, struct imap_mailbox *info);
/* STATUS of a folder that is not selected (UIDVALIDITY UIDNEXT MESSAGES, and
 * HIGHESTMODSEQ when offered). */
int imap_status(struct imap *c, const char *utf8, struct imap_mailbox *info);

/* What a fetch returns about one message. */
struct imap_msg {
	uint32_t uid;
	uint32_t size;            /* RFC822.SIZE */
	time_t internaldate;
	uint64_t modseq;          /* 0 without CONDSTORE */
	const char *const *flags; /* system flags and keywords, e.g. "\\Seen",
				     "$triage_presse"; nflags of them */
	size_t nflags;
	const char *data;         /* the message (or only its header, when
				     header_only), or NULL when not asked */
	size_t len;
	int header_only;
	const char *message_id;   /* Message-ID header value, when asked, or NULL */
};

/* Called for each message, in UID order; borrowed data valid during the call.
 * Returning non-zero stops the fetch (the function then returns 0). */
typedef int (*imap_msg_fn)(void *ctx, const struct imap_msg *m);

/*
 * Lists the messages of the selected mailbox with UID > after (at most max):
 * UID, size, flags, internal date, and Message-ID when with_msgid. UIDs <= after
 * that servers return for "N:*" are dropped. When changedsince is not 0 (and
 * CONDSTORE is on), only messages whose flags changed since that modseq.
 */
int imap_fetch_meta(struct imap *c, uint32_t after, size_t max, int with_msgid,
		    uint64_t changedsince, imap_msg_fn fn, void *ctx);

/* The same for the given UIDs (sorted, ascending); those no longer there are
 * skipped. As few commands as the UID sets allow, whatever n is. */
int imap_fetch_meta_uids(struct imap *c, const uint32_t *uids, size_t n, int with_msgid,
			 imap_msg_fn fn, void *ctx);

/*
 * Fetches the given UIDs with BODY.PEEK[] (nothing is marked \Seen), in one
 * command; those of size above max_size only with BODY.PEEK[HEADER]
 * (header_only set). UIDs no longer there are skipped.
 */
int imap_fetch_bodies(struct imap *c, const uint32_t *uids, size_t n, size_t max_size,
		      imap_msg_fn fn, void *ctx);

/* UID SEARCH in the selected mailbox. criteria are ready-made IMAP search
 * keys, e.g. "HEADER Message-ID \"<abc@x>\"" or "SINCE 1-Feb-2025" (the
 * function quotes nothing). *uids (caller frees) gets *n UIDs, ascending. */
int imap_search(struct imap *c, const char *criteria, uint32_t **uids, size_t *n);

/* UID STORE +FLAGS.SILENT (add) or -FLAGS.SILENT (remove) on a UID set. */
int imap_store_flags(struct imap *c, const uint32_t *uids, size_t n,
		     const char *const *flags, size_t nflags, int add);

/*
 * Moves a UID set of the selected mailbox to a folder (UTF-8 name; it must
 * exist). When dest_uids is not NULL and the server tells (COPYUID), it gets
 * the new UID of each message in the order of uids (0 when unknown).
 * Without MOVE: UID COPY, then (when it succeeded) UID STORE +FLAGS (\Deleted)
 * and UID EXPUNGE of these UIDs; without UIDPLUS the originals are left
 * flagged \Deleted, never expunged by triage (IMAP_ERR_UNSUPPORTED is not
 * returned for that: the copy is what matters, and a volunteer's client or the
 * server expunges later).
 */
int imap_move(struct imap *c, const uint32_t *uids, size_t n, const char *utf8_dest,
	      uint32_t *dest_uids);

/* UID EXPUNGE of a set (requires UIDPLUS: IMAP_ERR_UNSUPPORTED otherwise). */
int imap_expunge_uids(struct imap *c, const uint32_t *uids, size_t n);

/*
 * APPEND a message to a folder with its flags and internal date (0: now).
 * *new_uid (may be NULL) gets the APPENDUID, or 0 when the server does not
 * tell.
 */
int imap_append(struct imap *c, const char *utf8_folder, const char *data, size_t len,
		const char *const *flags, size_t nflags, time_t internaldate, uint32_t *new_uid);

/* NOOP: keeps the connection alive and lets the server report new mail. */
int imap_noop(struct imap *c);

/*
 * IDLE on the selected mailbox: waits at most timeout_ms for the server to
 * report a change (EXISTS, EXPUNGE, FETCH), then ends IDLE with DONE.
 * Returns 1 when something changed, 0 on timeout, -1 on error. Also returns 0
 * early, with IDLE properly ended, when *stop becomes non-zero (checked at
 * least every 200 ms; for signals).
 */
int imap_idle(struct imap *c, int timeout_ms, volatile int *stop);

/* Modified UTF-7 (RFC 3501 5.1.3). Each returns a new string the caller
 * frees, or NULL when the input is invalid (or on ENOMEM). */
char *imap_utf7_encode(const char *utf8);
char *imap_utf7_decode(const char *mutf7);

#endif
