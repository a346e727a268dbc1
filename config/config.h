/*
 * config: triage.yaml -> one validated, immutable configuration.
 *
 * The file is edited by volunteers, so the loader never stops at the first
 * mistake: it reports every error it can find, each as FILE:LINE:COL with a
 * message that says what is wrong and what would be right (translated with
 * gettext, domain "triage"). A configuration is returned only when the file
 * has no error at all; after that it cannot change (chrony's conf.h): the rest
 * of the program reads it through the getters below, and the const structs
 * they return live as long as the configuration.
 *
 * The loader reads the password files named in the file (and keeps their
 * contents: never print or log them), compiles the rules' PCRE2 patterns, and
 * touches neither the network nor the mailbox. See triage.yaml(5).
 */
#ifndef TRIAGE_CONFIG_H
#define TRIAGE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* Bounds checked on load. */
#define CFG_MAX_FILE_SIZE ((size_t)1 << 20)
#define CFG_MAX_ERRORS 100          /* more are counted, not kept */
#define CFG_MAX_ROUTES 256
#define CFG_MAX_RULES 500
#define CFG_MAX_FORWARDS 50         /* addresses per route */
#define CFG_MAX_PASSWORD 1024       /* bytes in a password file */
#define CFG_MAX_PATTERN 4096        /* bytes in one rule pattern */

/* ---- errors ------------------------------------------------------------- */

struct cfg_error {
	char *file;
	int line;     /* 1-based; 0 when the error is about the whole file */
	int col;      /* 1-based, in characters */
	char *msg;    /* translated, one line, no trailing newline */
};

struct cfg_errors {
	struct cfg_error *v;   /* sorted by position once the load returns */
	size_t n;
	size_t dropped;        /* errors beyond CFG_MAX_ERRORS */
	size_t cap;
};

void cfg_errors_init(struct cfg_errors *e);
void cfg_errors_release(struct cfg_errors *e);
/* Writes each error as "FILE:LINE:COL: message\n" to f ("FILE: message"
 * for an error about the whole file, such as one that cannot be read). */
void cfg_errors_print(const struct cfg_errors *e, FILE *f);

/* ---- values --------------------------------------------------------------- */

enum cfg_tls { CFG_TLS_IMPLICIT = 0, CFG_TLS_STARTTLS, CFG_TLS_NONE };
enum cfg_auth { CFG_AUTH_AUTO = 0, CFG_AUTH_LOGIN, CFG_AUTH_PLAIN };
enum cfg_backlog { CFG_BACKLOG_NONE = 0, CFG_BACKLOG_ALL, CFG_BACKLOG_DAYS };
enum cfg_fwd_mode { CFG_FWD_ATTACHMENT = 0, CFG_FWD_REDIRECT };
enum cfg_log_level { CFG_LOG_INFO = 0, CFG_LOG_DEBUG };
enum cfg_action {
	CFG_ACTION_MODEL = 0,  /* a rule without route: the model decides */
	CFG_ACTION_CATEGORY,   /* file as the category named */
	CFG_ACTION_REVIEW,     /* to review_folder */
	CFG_ACTION_NONE,       /* leave the mail in the mailbox untouched */
};

/* Paths are as resolved at load: a relative path in the file is taken
 * relative to the file's directory (password files: see password_file). */
struct cfg_imap {
	const char *host;
	unsigned port;               /* default 993 (implicit TLS) or 143 */
	enum cfg_tls tls;
	const char *ca_file;         /* NULL: the system's CAs only */
	const char *username;
	const char *password_file;   /* where the password was found */
	const char *password;        /* the file's content less a final newline */
	enum cfg_auth auth;
	const char *mailbox;         /* default "INBOX" */
	int idle;                    /* default 1 */
	unsigned poll_interval;      /* seconds, 10..3600, default 60 */
	size_t max_message_size;     /* bytes, 64K..1G, default 25M */
};

struct cfg_smtp {
	const char *url;             /* as written: smtp://host[:port] or smtps://... */
	const char *host;            /* from url */
	unsigned port;               /* from url, else curl's default (25, 465) */
	enum cfg_tls tls;            /* default: implicit for smtps, starttls for smtp */
	const char *ca_file;
	const char *username;        /* NULL: no authentication */
	const char *password_file;   /* NULL when username is */
	const char *password;
	const char *from;
};

struct cfg_classifier {
	const char *model;           /* default TRIAGE_DATADIR "/fr.model" */
	int threshold_auto;          /* 1: use the model's recommended threshold */
	double threshold;            /* 0..1 when !threshold_auto */
};

struct cfg_learning {
	int enabled;                 /* default 1 */
	int keep_confirmed;          /* default 0 */
	unsigned confirm_after_days; /* 1..365, default 30 */
	unsigned retention_days;     /* 30..3650, default 400 */
};

struct cfg_route {
	const char *category;
	int configured;              /* 0: the category has no entry under routes */
	const char *folder;          /* NULL: stays in the mailbox */
	const char *keyword;         /* "$triage_adhesion", or NULL (keyword: false) */
	const char *subject_tag;     /* NULL: subject unchanged */
	const char *const *forward;  /* addresses; nforward of them */
	size_t nforward;
	enum cfg_fwd_mode forward_mode;
	int line;                    /* where the route is written, 0 if !configured */
};

struct cfg_rule {
	const char *name;
	const char *from;            /* pattern sources; NULL when not given */
	const char *subject;
	const char *body;
	enum cfg_action action;
	const char *category;        /* when action is CFG_ACTION_CATEGORY */
	int flag;                    /* set \Flagged */
	int line;
};

struct config;

/* ---- loading ------------------------------------------------------------- */

/*
 * Loads and validates the file at path. categories are the model's labels
 * (route keys and rule routes must be among them); NULL skips that check
 * (before a model exists). Returns a configuration the caller frees with
 * cfg_free(), or NULL when the file has any error: errs (initialised by the
 * caller) then holds every error found, sorted by position.
 */
struct config *cfg_load(const char *path, const char *const *categories,
			size_t ncategories, struct cfg_errors *errs);

/* The same from memory (tests, fuzzing): name is the file name used in
 * messages and the directory relative paths are taken from. data is borrowed
 * and need not be NUL-terminated. */
struct config *cfg_load_mem(const char *data, size_t len, const char *name,
			    const char *const *categories, size_t ncategories,
			    struct cfg_errors *errs);

/*
 * Where the categories come from the model the file names. Called once during
 * the load with the resolved classifier.model path; sets *labels and *n
 * (borrowed until the load returns) and returns 0, or returns -1 with err
 * set, which is reported at classifier.model (1:1 when absent) while the rest
 * of the file is still checked.
 */
typedef int (*cfg_labels_fn)(void *ctx, const char *model_path,
			     const char *const **labels, size_t *n,
			     char *err, size_t errsz);
struct config *cfg_load_labels(const char *path, cfg_labels_fn fn, void *ctx,
			       struct cfg_errors *errs);

void cfg_free(struct config *cfg);

/* ---- reading --------------------------------------------------------------- */

const char *cfg_file(const struct config *cfg);
const struct cfg_imap *cfg_imap(const struct config *cfg);
/* NULL when the file has no smtp section (then no route forwards). */
const struct cfg_smtp *cfg_smtp(const struct config *cfg);
const struct cfg_classifier *cfg_classifier(const struct config *cfg);
const struct cfg_learning *cfg_learning(const struct config *cfg);
const char *cfg_review_folder(const struct config *cfg);
/* Default: the first directory of $STATE_DIRECTORY, else /var/lib/triage. */
const char *cfg_state_dir(const struct config *cfg);
int cfg_dry_run(const struct config *cfg);
/* *days is set for CFG_BACKLOG_DAYS (may be NULL). */
enum cfg_backlog cfg_backlog(const struct config *cfg, unsigned *days);
enum cfg_log_level cfg_log_level(const struct config *cfg);

/*
 * Routes. When the load had the model's categories, there is one route per
 * category, in the model's order, and those not written in the file have
 * configured == 0 (stay in the mailbox with their keyword); otherwise the
 * routes are those of the file, in its order.
 */
size_t cfg_nroutes(const struct config *cfg);
const struct cfg_route *cfg_route_at(const struct config *cfg, size_t i);
/* The route of a category, or NULL when there is none. */
const struct cfg_route *cfg_route(const struct config *cfg, const char *category);

size_t cfg_nrules(const struct config *cfg);
const struct cfg_rule *cfg_rule_at(const struct config *cfg, size_t i);

/*
 * The first rule, in file order, whose given conditions all match: from on
 * the sender address, subject on the decoded subject, body on the body text
 * (body_len bytes). NULL strings are matched as empty. Sets *match to that
 * rule (borrowed from cfg) or NULL, and returns 0; returns -1 (ENOMEM) when
 * match data cannot be allocated. A pattern that exceeds PCRE2's match limit
 * on a hostile text counts as not matching. Does not modify cfg: may be called
 * from several threads at once.
 */
int cfg_rules_match(const struct config *cfg, const char *from, const char *subject,
		    const char *body, size_t body_len, const struct cfg_rule **match);

/* Short names for the enums, as written in the file ("implicit", "30d" aside). */
const char *cfg_tls_name(enum cfg_tls t);

#endif
