/*
 * config: the schema of triage.yaml, checked over the tree from ytree.c.
 *
 * Every check adds its error and goes on, so that one run shows the admin
 * every mistake; a configuration is built only when there was none. Strings
 * of a configuration live in one pool freed with it, so that no getter's
 * result needs its own owner.
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/util.h"
#include "config/intl.h"
#include "config/ytree.h"

#ifndef TRIAGE_DATADIR
#define TRIAGE_DATADIR "/usr/share/triage"
#endif

#define DEFAULT_MODEL TRIAGE_DATADIR "/fr.model"
#define DEFAULT_STATE_DIR "/var/lib/triage"
#define DEFAULT_REVIEW "À vérifier"
#define MAX_STRING 1024        /* any single value */
#define MAX_FOLDER 255
#define MAX_TAG 64
#define MAX_NAME 64            /* rule names, categories */
#define MAX_ADDRESS 254
#define MAX_KEYS CFG_MAX_ROUTES  /* in any one mapping */
/* Enough for a rule on any sane text; a pattern that backtracks beyond it on
 * a hostile message stops there instead of holding up the mailbox. */
#define MATCH_LIMIT 1000000

struct config {
	char *file;
	struct cfg_imap imap;
	struct cfg_smtp smtp;
	int has_smtp;
	struct cfg_classifier clf;
	struct cfg_learning learning;
	const char *review_folder;
	const char *state_dir;
	int dry_run;
	enum cfg_backlog backlog;
	unsigned backlog_days;
	enum cfg_log_level log_level;
	struct cfg_route *routes;
	size_t nroutes;
	struct cfg_rule *rules;
	size_t nrules;
	pcre2_code **re;             /* 3 per rule: from, subject, body (or NULL) */
	pcre2_match_context *mctx;
	void **pool;                 /* every string the structs point to */
	size_t npool, cappool;
};

/* The loader's state for one file. */
struct ld {
	const char *file;
	char *dir;                   /* relative paths are taken from here */
	struct cfg_errors *errs;
	struct config *cfg;
	const char *const *cats;     /* the model's categories, or NULL */
	size_t ncats;
	const struct ynode *forward_at;  /* the first route that forwards */
	int model_bad;               /* classifier.model written but invalid */
	int oom;
};

/* ---- small helpers ------------------------------------------------------------ */

static void ld_err(struct ld *ld, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ld_err(struct ld *ld, const struct ynode *at, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0) {
		ld->errs->dropped++;
		return;
	}
	cfg_errors_add(ld->errs, ld->file, at ? at->line : 1, at ? at->col : 1, "%s", msg);
	free(msg);
}

static void *pool_keep(struct ld *ld, void *p)
{
	struct config *c = ld->cfg;
	if (!p)
		goto oom;
	if (c->npool == c->cappool) {
		size_t cap = c->cappool ? c->cappool * 2 : 64;
		void **v = realloc(c->pool, cap * sizeof *v);
		if (!v) {
			free(p);
			goto oom;
		}
		c->pool = v;
		c->cappool = cap;
	}
	c->pool[c->npool++] = p;
	return p;
oom:
	if (!ld->oom)
		ld_err(ld, NULL, "%s", strerror(ENOMEM));
	ld->oom = 1;
	return NULL;
}

static const char *pool_str(struct ld *ld, const char *s)
{
	return pool_keep(ld, strdup(s));
}

static const char *pool_printf(struct ld *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *pool_printf(struct ld *ld, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return pool_keep(ld, r < 0 ? NULL : s);
}

/* A value quoted in a message, shortened so that one line stays one line. */
static const char *shown(const struct ynode *v, char *buf, size_t size)
{
	if (v->type != YT_SCALAR)
		return "";
	size_t n = strnlen(v->str, size - 4);
	if (v->str[n]) {
		/* cut at a character boundary */
		while (n > 0 && ((unsigned char)v->str[n] & 0xc0) == 0x80)
			n--;
		snprintf(buf, size, "%.*s...", (int)n, v->str);
	} else {
		snprintf(buf, size, "%s", v->str);
	}
	return buf;
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Edit distance (with transpositions), ASCII case ignored; capped inputs. */
static size_t distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	if (n > 64 || m > 64)
		return SIZE_MAX;
	size_t d[65][65];
	for (size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			size_t cost = lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
			size_t v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

/* The candidate nearest to s when it is a plausible typo of it, or NULL. */
static const char *near_miss(const char *s, const char *const *cands, size_t n)
{
	size_t best = SIZE_MAX, len = strlen(s);
	const char *pick = NULL;
	size_t allowed = len <= 6 ? 1 : 2;
	for (size_t i = 0; i < n; i++) {
		size_t d = distance(s, cands[i]);
		if (d < best) {
			best = d;
			pick = cands[i];
		}
	}
	return best <= allowed ? pick : NULL;
}

/* "a, b, c" from a list (into buf, cut when too long). */
static const char *join(const char *const *v, size_t n, char *buf, size_t size)
{
	size_t at = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && at < size; i++) {
		int r = snprintf(buf + at, size - at, "%s%s", i ? ", " : "", v[i]);
		if (r < 0)
			break;
		at += (size_t)r;
	}
	return buf;
}

static size_t count(const char *const *v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

/* ---- the tree's shapes ------------------------------------------------------------ */

/* The value of key in map (the first, when written twice), or NULL. */
static const struct ynode *get(const struct ynode *map, const char *key)
{
	if (!map || map->type != YT_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->type == YT_SCALAR && !strcmp(map->kids[i]->str, key))
			return map->kids[i + 1];
	return NULL;
}

/*
 * Reports keys of map that are not simple, written twice, or (when allowed is
 * not NULL) unknown in the section called where.
 */
static void check_keys(struct ld *ld, const struct ynode *map, const char *const *allowed,
		       const char *where)
{
	/* the duplicate check is quadratic: no triage mapping comes near this */
	if (map->n / 2 > MAX_KEYS) {
		ld_err(ld, map, _("%s has %zu keys; at most %d are allowed"), where, map->n / 2,
		       MAX_KEYS);
		return;
	}
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i];
		char b[80];
		if (k->type != YT_SCALAR) {
			ld_err(ld, k, _("a key must be a simple name, not a list or mapping"));
			continue;
		}
		for (size_t j = 0; j < i; j += 2)
			if (map->kids[j]->type == YT_SCALAR && !strcmp(map->kids[j]->str, k->str)) {
				ld_err(ld, k, _("\"%s\" is written twice here (first on line "
						"%d); keep one"),
				       shown(k, b, sizeof b), map->kids[j]->line);
				goto next;
			}
		if (allowed) {
			size_t n = count(allowed);
			for (size_t j = 0; j < n; j++)
				if (!strcmp(allowed[j], k->str))
					goto next;
			const char *near = near_miss(k->str, allowed, n);
			char list[512];
			if (near)
				ld_err(ld, k, _("unknown key \"%s\" in %s; did you mean \"%s\"?"),
				       shown(k, b, sizeof b), where, near);
			else
				ld_err(ld, k, _("unknown key \"%s\" in %s; the keys here are: %s"),
				       shown(k, b, sizeof b), where,
				       join(allowed, n, list, sizeof list));
		}
next:;
	}
}

/* The node as a mapping, or an error naming key; NULL values are allowed
 * when null_ok (an empty section). */
static int want_map(struct ld *ld, const struct ynode *v, const char *key, int null_ok)
{
	if (v->type == YT_MAP)
		return 0;
	if (null_ok && yt_is_null(v))
		return -1;
	ld_err(ld, v, _("%s must hold \"key: value\" lines (a mapping)"), key);
	return -1;
}

static int want_scalar(struct ld *ld, const struct ynode *v, const char *key)
{
	if (v->type == YT_SEQ) {
		ld_err(ld, v, _("%s must be a single value, not a list"), key);
		return -1;
	}
	if (v->type == YT_MAP) {
		ld_err(ld, v, _("%s must be a single value, not \"key: value\" lines"), key);
		return -1;
	}
	if (yt_is_null(v)) {
		ld_err(ld, v, _("%s has no value"), key);
		return -1;
	}
	return 0;
}

/* A one-line text of at most max bytes, kept in the pool. */
static int get_string(struct ld *ld, const struct ynode *v, const char *key, size_t max,
		      const char **out)
{
	if (want_scalar(ld, v, key) < 0)
		return -1;
	if (v->len == 0) {
		ld_err(ld, v, _("%s is empty"), key);
		return -1;
	}
	for (size_t i = 0; i < v->len; i++)
		if ((unsigned char)v->str[i] < 0x20 || v->str[i] == 0x7f) {
			if (v->plain)
				ld_err(ld, v, _("%s contains a control character (a tab, a "
						"line break...); write it on one line"), key);
			else
				ld_err(ld, v, _("%s contains a control character (in double "
						"quotes, \\b or \\t is one); write patterns in "
						"single quotes, such as '\\burgent'"), key);
			return -1;
		}
	if (v->len > max) {
		ld_err(ld, v, _("%s is too long (more than %zu bytes)"), key, max);
		return -1;
	}
	const char *s = pool_str(ld, v->str);
	if (!s)
		return -1;
	*out = s;
	return 0;
}

static int get_bool(struct ld *ld, const struct ynode *v, const char *key, int *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	char b[80];
	if (want_scalar(ld, v, key) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(v->str, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(v->str, no[i])) {
			*out = 0;
			return 0;
		}
	}
	ld_err(ld, v, _("%s must be true or false, not \"%s\""), key, shown(v, b, sizeof b));
	return -1;
}

static int parse_uint(const char *s, unsigned long long *out)
{
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long x = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (ULLONG_MAX - 9) / 10)
			return -1;
		x = x * 10 + (unsigned)(*s - '0');
	}
	*out = x;
	return *s ? -1 : 0;
}

static int get_uint(struct ld *ld, const struct ynode *v, const char *key, unsigned min,
		    unsigned max, unsigned *out)
{
	unsigned long long x;
	char b[80];
	if (want_scalar(ld, v, key) < 0)
		return -1;
	if (parse_uint(v->str, &x) < 0 || x < min || x > max) {
		ld_err(ld, v, _("%s must be a whole number from %u to %u, not \"%s\""), key,
		       min, max, shown(v, b, sizeof b));
		return -1;
	}
	*out = (unsigned)x;
	return 0;
}

/* One of names (NULL-terminated): its index in *out. */
static int get_enum(struct ld *ld, const struct ynode *v, const char *key,
		    const char *const *names, int *out)
{
	char b[80], list[256];
	if (want_scalar(ld, v, key) < 0)
		return -1;
	size_t n = count(names);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v->str, names[i])) {
			*out = (int)i;
			return 0;
		}
	const char *near = near_miss(v->str, names, n);
	if (near)
		ld_err(ld, v, _("%s must be one of: %s; not \"%s\" (did you mean \"%s\"?)"),
		       key, join(names, n, list, sizeof list), shown(v, b, sizeof b), near);
	else
		ld_err(ld, v, _("%s must be one of: %s; not \"%s\""), key,
		       join(names, n, list, sizeof list), shown(v, b, sizeof b));
	return -1;
}

/* A path; a relative one is taken from the configuration's directory. */
static int get_path(struct ld *ld, const struct ynode *v, const char *key, const char **out)
{
	const char *s;
	if (get_string(ld, v, key, MAX_STRING, &s) < 0)
		return -1;
	if (s[0] != '/')
		s = pool_printf(ld, "%s/%s", ld->dir, s);
	if (!s)
		return -1;
	*out = s;
	return 0;
}

static int get_readable_path(struct ld *ld, const struct ynode *v, const char *key,
			     const char **out)
{
	if (get_path(ld, v, key, out) < 0)
		return -1;
	if (access(*out, R_OK) < 0) {
		ld_err(ld, v, _("%s: cannot read %s: %s"), key, *out, strerror(errno));
		return -1;
	}
	return 0;
}

static int is_local_host(const char *h)
{
	return !strcmp(h, "127.0.0.1") || !strcmp(h, "::1") || !strcasecmp(h, "localhost");
}

static void tls_none_error(struct ld *ld, const struct ynode *at)
{
	ld_err(ld, at, _("tls: none is only allowed for a server on this machine "
			 "(127.0.0.1, ::1, localhost); use tls: starttls or tls: implicit"));
}

/* A host name or an IP address: no spaces and no URL pieces. */
static int get_host(struct ld *ld, const struct ynode *v, const char *key, const char **out)
{
	char b[80];
	if (get_string(ld, v, key, 253, out) < 0)
		return -1;
	if (strpbrk(*out, " /@[]")) {
		ld_err(ld, v, _("%s must be a server name such as imap.example.org, not "
				"\"%s\""), key, shown(v, b, sizeof b));
		return -1;
	}
	/* one colon is "name:port"; an IPv6 address has several */
	const char *colon = strchr(*out, ':');
	if (colon && !strchr(colon + 1, ':')) {
		ld_err(ld, v, _("write the port in port:, not in %s"), key);
		return -1;
	}
	return 0;
}

/* ---- e-mail addresses -------------------------------------------------------------- */

static int atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("!#$%&'*+-/=?^_`{|}~", c) || c >= 0x80;
}

/* addr-spec with a dot-atom local part and a domain of DNS labels
 * (UTF-8 allowed on both sides, as SMTPUTF8 does). */
static int address_valid(const char *s)
{
	const char *at = strrchr(s, '@');
	if (!at || at == s || !at[1] || strlen(s) > MAX_ADDRESS)
		return 0;
	int prev_dot = 1;
	for (const char *p = s; p < at; p++) {
		if (*p == '.') {
			if (prev_dot)
				return 0;
			prev_dot = 1;
		} else if (atext((unsigned char)*p)) {
			prev_dot = 0;
		} else {
			return 0;
		}
	}
	if (prev_dot)
		return 0;
	size_t label = 0, labels = 0;
	char last = 0;
	for (const char *p = at + 1;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.' || c == 0) {
			if (label == 0 || label > 63 || last == '-')
				return 0;
			labels++;
			label = 0;
			if (!c)
				break;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c >= 0x80 || (c == '-' && label > 0)) {
			label++;
		} else {
			return 0;
		}
		last = (char)c;
	}
	return labels >= 2;
}

static int get_address(struct ld *ld, const struct ynode *v, const char *key,
		       const char **out)
{
	char b[120];
	if (get_string(ld, v, key, MAX_ADDRESS + 64, out) < 0)
		return -1;
	if (address_valid(*out))
		return 0;
	const char *lt = strchr(*out, '<'), *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt) {
		ld_err(ld, v, _("write only the address in %s, without a name or < >: "
				"%.*s"), key, (int)(gt - lt - 1), lt + 1);
		return -1;
	}
	ld_err(ld, v, _("\"%s\" is not an e-mail address (expected name@domain.org)"),
	       shown(v, b, sizeof b));
	return -1;
}

/* ---- password files ----------------------------------------------------------------- */

/*
 * Reads the password file named by v. A relative name is looked up in
 * $CREDENTIALS_DIRECTORY (systemd's LoadCredential=) first, then next to the
 * configuration. The file must be private to its owner (OpenSMTPD's
 * check_file_secrecy).
 */
static int read_password(struct ld *ld, const struct ynode *v, const char *key,
			 const char **path_out, const char **pw_out)
{
	const char *name;
	if (get_string(ld, v, key, MAX_STRING, &name) < 0)
		return -1;
	const char *path = name, *creds = getenv("CREDENTIALS_DIRECTORY");
	int fd = -1;
	if (name[0] != '/') {
		if (creds && *creds) {
			path = pool_printf(ld, "%s/%s", creds, name);
			if (!path)
				return -1;
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
			if (fd < 0 && errno != ENOENT) {
				ld_err(ld, v, _("cannot read the password file %s: %s"), path,
				       strerror(errno));
				return -1;
			}
		}
		if (fd < 0) {
			path = pool_printf(ld, "%s/%s", ld->dir, name);
			if (!path)
				return -1;
		}
	}
	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT && name[0] != '/' && creds && *creds)
			ld_err(ld, v, _("password file \"%s\" not found in %s nor in %s"),
			       name, creds, ld->dir);
		else if (errno == ENOENT)
			ld_err(ld, v, _("password file %s not found"), path);
		else
			ld_err(ld, v, _("cannot read the password file %s: %s"), path,
			       strerror(errno));
		return -1;
	}
	struct stat st;
	char err[256];
	int ret = -1;
	if (fstat(fd, &st) < 0) {
		ld_err(ld, v, _("cannot read the password file %s: %s"), path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ld_err(ld, v, _("password file %s is not a regular file"), path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ld_err(ld, v, _("password file %s can be read by other users (mode %04o); "
				"make it private: chmod 600 %s"),
		       path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	size_t len;
	char *pw = read_fd(fd, path, CFG_MAX_PASSWORD + 2, &len, err, sizeof err);
	if (!pw) {
		if (errno == EFBIG)
			ld_err(ld, v, _("password file %s is too big for a password (more "
					"than %d bytes)"), path, CFG_MAX_PASSWORD);
		else
			ld_err(ld, v, "%s", err);
		goto out;
	}
	if (len && pw[len - 1] == '\n')
		len--;
	if (len && pw[len - 1] == '\r')
		len--;
	pw[len] = 0;
	if (len == 0) {
		ld_err(ld, v, _("password file %s is empty"), path);
	} else if (len > CFG_MAX_PASSWORD) {
		ld_err(ld, v, _("password file %s is too big for a password (more than %d "
				"bytes)"), path, CFG_MAX_PASSWORD);
	} else if (memchr(pw, '\n', len) || memchr(pw, '\r', len) || strlen(pw) != len) {
		ld_err(ld, v, _("password file %s must hold the password alone, on one "
				"line"), path);
	} else {
		*pw_out = pool_keep(ld, pw);
		*path_out = path;
		ret = *pw_out ? 0 : -1;
		pw = NULL;
	}
	if (pw) {
		explicit_bzero(pw, len);
		free(pw);
	}
out:
	close(fd);
	return ret;
}

/* ---- sections ------------------------------------------------------------------------- */

static const char *const tls_names[] = { "implicit", "starttls", "none", NULL };

/* Parses "25M", "64K", "1G", "1048576" (binary multiples). */
static int parse_size(const char *s, unsigned long long *out)
{
	char digits[32];
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n >= sizeof digits)
		return -1;
	memcpy(digits, s, n);
	digits[n] = 0;
	unsigned long long x, mult = 1;
	if (parse_uint(digits, &x) < 0)
		return -1;
	const char *u = s + n;
	switch (lower((unsigned char)*u)) {
	case 'k': mult = 1ULL << 10; u++; break;
	case 'm': mult = 1ULL << 20; u++; break;
	case 'g': mult = 1ULL << 30; u++; break;
	}
	if (lower((unsigned char)*u) == 'b')
		u++;
	if (*u || x > (1ULL << 40))
		return -1;
	*out = x * mult;
	return 0;
}

static void load_imap(struct ld *ld, const struct ynode *key, const struct ynode *m)
{
	static const char *const keys[] = { "host", "port", "tls", "ca_file", "username",
		"password_file", "auth", "mailbox", "idle", "poll_interval",
		"max_message_size", NULL };
	static const char *const auths[] = { "auto", "login", "plain", NULL };
	struct cfg_imap *im = &ld->cfg->imap;
	const struct ynode *v;
	int tls_ok = 0, host_ok = 0, e;

	im->tls = CFG_TLS_IMPLICIT;
	im->auth = CFG_AUTH_AUTO;
	im->mailbox = "INBOX";
	im->idle = 1;
	im->poll_interval = 60;
	im->max_message_size = 25u << 20;
	if (!m || want_map(ld, m, "imap", 0) < 0) {
		if (!m)
			ld_err(ld, NULL, _("the imap section is missing: it says which "
					   "mailbox to watch (see triage.yaml(5))"));
		return;
	}
	check_keys(ld, m, keys, "imap");

	if ((v = get(m, "host")))
		host_ok = get_host(ld, v, "host", &im->host) == 0;
	else
		ld_err(ld, key, _("imap needs a host: the name of the IMAP server, for "
				  "example host: imap.example.org"));
	if ((v = get(m, "tls")) && get_enum(ld, v, "tls", tls_names, &e) == 0) {
		im->tls = (enum cfg_tls)e;
		tls_ok = 1;
	}
	if (tls_ok && im->tls == CFG_TLS_NONE && host_ok && !is_local_host(im->host))
		tls_none_error(ld, v);
	im->port = im->tls == CFG_TLS_IMPLICIT ? 993 : 143;
	if ((v = get(m, "port")))
		get_uint(ld, v, "port", 1, 65535, &im->port);
	if ((v = get(m, "ca_file")))
		get_readable_path(ld, v, "ca_file", &im->ca_file);
	if ((v = get(m, "username")))
		get_string(ld, v, "username", MAX_STRING, &im->username);
	else
		ld_err(ld, key, _("imap needs a username: the login of the mailbox, for "
				  "example username: info@example.org"));
	if ((v = get(m, "password_file")))
		read_password(ld, v, "password_file", &im->password_file, &im->password);
	else
		ld_err(ld, key, _("imap needs a password_file: a file readable only by "
				  "triage that holds the password"));
	if ((v = get(m, "auth")) && get_enum(ld, v, "auth", auths, &e) == 0)
		im->auth = (enum cfg_auth)e;
	if ((v = get(m, "mailbox")))
		get_string(ld, v, "mailbox", MAX_FOLDER, &im->mailbox);
	if ((v = get(m, "idle")))
		get_bool(ld, v, "idle", &im->idle);
	if ((v = get(m, "poll_interval")))
		get_uint(ld, v, "poll_interval", 10, 3600, &im->poll_interval);
	if ((v = get(m, "max_message_size"))) {
		unsigned long long x;
		char b[80];
		if (want_scalar(ld, v, "max_message_size") == 0) {
			if (parse_size(v->str, &x) < 0 || x < (64u << 10) || x > (1u << 30))
				ld_err(ld, v, _("max_message_size must be a size from 64K to "
						"1G, such as 25M; not \"%s\""),
				       shown(v, b, sizeof b));
			else
				im->max_message_size = (size_t)x;
		}
	}
}

/* smtp://host[:port][/] or smtps://...; sets host, port and the scheme's TLS. */
static int parse_smtp_url(struct ld *ld, const struct ynode *v, struct cfg_smtp *s,
			  int *implicit)
{
	char b[120];
	const char *u = s->url, *rest;
	if (!strncasecmp(u, "smtps://", 8)) {
		*implicit = 1;
		rest = u + 8;
	} else if (!strncasecmp(u, "smtp://", 7)) {
		*implicit = 0;
		rest = u + 7;
	} else {
		ld_err(ld, v, _("url must start with smtp:// or smtps://, for example "
				"smtp://mail.example.org:587; not \"%s\""), shown(v, b, sizeof b));
		return -1;
	}
	const char *end = rest + strcspn(rest, "/");
	if (*end && strcmp(end, "/"))
		goto bad;
	if (memchr(rest, '@', (size_t)(end - rest))) {
		ld_err(ld, v, _("put the user name in username, not in the url"));
		return -1;
	}
	const char *host = rest, *host_end, *port = NULL;
	if (*rest == '[') {
		host = rest + 1;
		host_end = memchr(host, ']', (size_t)(end - host));
		if (!host_end)
			goto bad;
		if (host_end + 1 < end) {
			if (host_end[1] != ':')
				goto bad;
			port = host_end + 2;
		}
	} else {
		host_end = memchr(rest, ':', (size_t)(end - rest));
		if (host_end)
			port = host_end + 1;
		else
			host_end = end;
	}
	if (host_end == host || strcspn(host, " \t") < (size_t)(host_end - host))
		goto bad;
	s->host = pool_keep(ld, strndup(host, (size_t)(host_end - host)));
	if (!s->host)
		return -1;
	s->port = *implicit ? 465 : 25;
	if (port) {
		char digits[8];
		unsigned long long x;
		size_t n = (size_t)(end - port);
		if (n == 0 || n >= sizeof digits)
			goto bad;
		memcpy(digits, port, n);
		digits[n] = 0;
		if (parse_uint(digits, &x) < 0 || x < 1 || x > 65535)
			goto bad;
		s->port = (unsigned)x;
	}
	return 0;
bad:
	ld_err(ld, v, _("url must be smtp://host or smtp://host:port (smtps:// for "
			"implicit TLS); not \"%s\""), shown(v, b, sizeof b));
	return -1;
}

static void load_smtp(struct ld *ld, const struct ynode *key, const struct ynode *m)
{
	static const char *const keys[] = { "url", "tls", "ca_file", "username",
		"password_file", "from", NULL };
	struct cfg_smtp *s = &ld->cfg->smtp;
	const struct ynode *v, *tlsv;
	int implicit = 0, url_ok = 0, e;

	if (want_map(ld, m, "smtp", 0) < 0)
		return;
	ld->cfg->has_smtp = 1;
	check_keys(ld, m, keys, "smtp");
	if ((v = get(m, "url"))) {
		if (get_string(ld, v, "url", MAX_STRING, &s->url) == 0)
			url_ok = parse_smtp_url(ld, v, s, &implicit) == 0;
	} else {
		ld_err(ld, key, _("smtp needs a url: the server that sends the copies, "
				  "for example url: smtp://mail.example.org:587"));
	}
	s->tls = implicit ? CFG_TLS_IMPLICIT : CFG_TLS_STARTTLS;
	if ((tlsv = get(m, "tls")) && get_enum(ld, tlsv, "tls", tls_names, &e) == 0 && url_ok) {
		s->tls = (enum cfg_tls)e;
		if (implicit && s->tls != CFG_TLS_IMPLICIT)
			ld_err(ld, tlsv, _("an smtps:// url means tls: implicit; for "
					   "starttls or none write smtp://"));
		else if (!implicit && s->tls == CFG_TLS_IMPLICIT)
			ld_err(ld, tlsv, _("tls: implicit needs an smtps:// url"));
		else if (s->tls == CFG_TLS_NONE && !is_local_host(s->host))
			tls_none_error(ld, tlsv);
	}
	if ((v = get(m, "ca_file")))
		get_readable_path(ld, v, "ca_file", &s->ca_file);
	const struct ynode *user = get(m, "username"), *pwf = get(m, "password_file");
	if (user)
		get_string(ld, user, "username", MAX_STRING, &s->username);
	if (pwf)
		read_password(ld, pwf, "password_file", &s->password_file, &s->password);
	if (user && !pwf)
		ld_err(ld, user, _("a username needs a password_file next to it"));
	if (pwf && !user)
		ld_err(ld, pwf, _("a password_file needs a username next to it"));
	if ((v = get(m, "from")))
		get_address(ld, v, "from", &s->from);
	else
		ld_err(ld, key, _("smtp needs from: the sender address of the copies, for "
				  "example from: info@example.org"));
}

static void load_classifier(struct ld *ld, const struct ynode *m)
{
	static const char *const keys[] = { "model", "threshold", NULL };
	struct cfg_classifier *c = &ld->cfg->clf;
	const struct ynode *v;
	c->model = DEFAULT_MODEL;
	c->threshold_auto = 1;
	if (!m || want_map(ld, m, "classifier", 1) < 0)
		return;
	check_keys(ld, m, keys, "classifier");
	if ((v = get(m, "model")) && get_path(ld, v, "model", &c->model) < 0)
		ld->model_bad = 1;
	if ((v = get(m, "threshold")) && want_scalar(ld, v, "threshold") == 0 &&
	    strcmp(v->str, "auto")) {
		char *end, b[80];
		errno = 0;
		double x = strtod(v->str, &end);
		if (end == v->str || *end || errno || !isfinite(x) || x < 0 || x > 1 ||
		    strpbrk(v->str, "xXnN"))
			ld_err(ld, v, _("threshold must be auto or a number from 0 to 1, such "
					"as 0.7; not \"%s\""), shown(v, b, sizeof b));
		else {
			c->threshold_auto = 0;
			c->threshold = x;
		}
	}
}

static void load_learning(struct ld *ld, const struct ynode *m)
{
	static const char *const keys[] = { "enabled", "keep_confirmed",
		"confirm_after_days", "retention_days", NULL };
	struct cfg_learning *l = &ld->cfg->learning;
	const struct ynode *v;
	l->enabled = 1;
	l->keep_confirmed = 0;
	l->confirm_after_days = 30;
	l->retention_days = 400;
	if (!m || want_map(ld, m, "learning", 1) < 0)
		return;
	check_keys(ld, m, keys, "learning");
	if ((v = get(m, "enabled")))
		get_bool(ld, v, "enabled", &l->enabled);
	if ((v = get(m, "keep_confirmed")))
		get_bool(ld, v, "keep_confirmed", &l->keep_confirmed);
	if ((v = get(m, "confirm_after_days")))
		get_uint(ld, v, "confirm_after_days", 1, 365, &l->confirm_after_days);
	if ((v = get(m, "retention_days")))
		get_uint(ld, v, "retention_days", 30, 3650, &l->retention_days);
}

static int get_folder(struct ld *ld, const struct ynode *v, const char *key,
		      const char **out)
{
	if (get_string(ld, v, key, MAX_FOLDER, out) < 0)
		return -1;
	if (strpbrk(*out, "*%")) {
		ld_err(ld, v, _("folder names cannot contain \"*\" or \"%%\""));
		return -1;
	}
	return 0;
}

/* Index of name among the model's categories, or -1 after an error at at. */
static int find_category(struct ld *ld, const struct ynode *at, const char *name)
{
	for (size_t i = 0; i < ld->ncats; i++)
		if (!strcmp(ld->cats[i], name))
			return (int)i;
	char b[80], list[1024];
	const char *near = near_miss(name, ld->cats, ld->ncats);
	if (near)
		ld_err(ld, at, _("\"%s\" is not a category of the model; did you mean "
				 "\"%s\"?"), shown(at, b, sizeof b), near);
	else
		ld_err(ld, at, _("\"%s\" is not a category of the model, which has: %s"),
		       shown(at, b, sizeof b), join(ld->cats, ld->ncats, list, sizeof list));
	return -1;
}

static int category_name_valid(struct ld *ld, const struct ynode *k)
{
	const char *s;
	if (get_string(ld, k, "category", MAX_NAME, &s) < 0)
		return 0;
	if (ld->cats)
		return find_category(ld, k, s) >= 0;
	return 1;
}

/* "$triage_" and the category in lower case, other characters as "_": an
 * IMAP keyword is an atom. */
static const char *keyword_for(struct ld *ld, const char *category)
{
	char kw[8 + MAX_NAME + 1] = "$triage_";
	size_t at = 8;
	for (const char *p = category; *p && at < sizeof kw - 1; p++) {
		unsigned char c = (unsigned char)lower((unsigned char)*p);
		kw[at++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? (char)c : '_';
	}
	kw[at] = 0;
	return pool_str(ld, kw);
}

static void load_forward(struct ld *ld, const struct ynode *v, struct cfg_route *r)
{
	static const char *const keys[] = { "to", "mode", NULL };
	static const char *const modes[] = { "attachment", "redirect", NULL };
	const struct ynode *to = v;
	if (!ld->forward_at)
		ld->forward_at = v;
	if (v->type == YT_MAP) {
		int e;
		const struct ynode *mode = get(v, "mode");
		check_keys(ld, v, keys, "forward");
		if (mode && get_enum(ld, mode, "mode", modes, &e) == 0)
			r->forward_mode = (enum cfg_fwd_mode)e;
		to = get(v, "to");
		if (!to) {
			ld_err(ld, v, _("forward needs to: the addresses that get a copy"));
			return;
		}
	}
	if (to->type == YT_SCALAR) {
		const char **one = pool_keep(ld, calloc(1, sizeof *one));
		if (one && get_address(ld, to, "forward", &one[0]) == 0) {
			r->forward = one;
			r->nforward = 1;
		}
		return;
	}
	if (to->type != YT_SEQ || to->n == 0) {
		ld_err(ld, to, _("forward must be a list of addresses, such as [tresorier@"
				 "example.org]"));
		return;
	}
	if (to->n > CFG_MAX_FORWARDS) {
		ld_err(ld, to, _("forward has %zu addresses; at most %d are allowed"), to->n,
		       CFG_MAX_FORWARDS);
		return;
	}
	const char **list = pool_keep(ld, calloc(to->n, sizeof *list));
	if (!list)
		return;
	size_t ok = 0;
	for (size_t i = 0; i < to->n; i++)
		if (get_address(ld, to->kids[i], "forward", &list[i]) == 0)
			ok++;
	if (ok == to->n) {
		r->forward = list;
		r->nforward = to->n;
	}
}

/* Routes as written, in file order (checked against the categories). */
static struct cfg_route *load_routes(struct ld *ld, const struct ynode *m, size_t *nout)
{
	static const char *const keys[] = { "folder", "keyword", "subject_tag", "forward",
		NULL };
	*nout = 0;
	if (!m || want_map(ld, m, "routes", 1) < 0)
		return NULL;
	size_t n = m->n / 2;
	check_keys(ld, m, NULL, "routes");
	if (n > CFG_MAX_ROUTES)
		return NULL;
	struct cfg_route *routes = pool_keep(ld, calloc(n ? n : 1, sizeof *routes));
	if (!routes)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct ynode *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
		struct cfg_route *r = &routes[i];
		const struct ynode *x;
		char where[MAX_NAME + 32];
		r->configured = 1;
		r->line = k->line;
		if (k->type != YT_SCALAR || !category_name_valid(ld, k))
			continue;
		r->category = pool_str(ld, k->str);
		r->keyword = keyword_for(ld, k->str);
		if (yt_is_null(v) || want_map(ld, v, k->str, 0) < 0)
			continue;
		snprintf(where, sizeof where, _("the route of %s"), k->str);
		check_keys(ld, v, keys, where);
		if ((x = get(v, "folder")))
			get_folder(ld, x, "folder", &r->folder);
		int kw = 1;
		if ((x = get(v, "keyword")) && get_bool(ld, x, "keyword", &kw) == 0 && !kw)
			r->keyword = NULL;
		if ((x = get(v, "subject_tag")))
			get_string(ld, x, "subject_tag", MAX_TAG, &r->subject_tag);
		if ((x = get(v, "forward")))
			load_forward(ld, x, r);
	}
	*nout = n;
	return routes;
}

static void load_rules(struct ld *ld, const struct ynode *s)
{
	static const char *const keys[] = { "name", "from", "subject", "body", "route",
		"flag", NULL };
	static const char *const fields[] = { "from", "subject", "body" };
	struct config *cfg = ld->cfg;
	if (!s || yt_is_null(s))
		return;
	if (s->type != YT_SEQ) {
		ld_err(ld, s, _("rules must be a list, each rule starting with \"- name:\""));
		return;
	}
	if (s->n > CFG_MAX_RULES) {
		ld_err(ld, s, _("rules has %zu entries; at most %d are allowed"), s->n,
		       CFG_MAX_RULES);
		return;
	}
	cfg->rules = pool_keep(ld, calloc(s->n ? s->n : 1, sizeof *cfg->rules));
	cfg->re = pool_keep(ld, calloc(s->n ? 3 * s->n : 1, sizeof *cfg->re));
	if (!cfg->rules || !cfg->re)
		return;
	cfg->nrules = s->n;
	for (size_t i = 0; i < s->n; i++) {
		const struct ynode *m = s->kids[i], *v;
		struct cfg_rule *r = &cfg->rules[i];
		char where[MAX_NAME + 32];
		r->line = m->line;
		if (m->type != YT_MAP) {
			ld_err(ld, m, _("each rule must hold \"key: value\" lines, starting "
					"with name:"));
			continue;
		}
		if ((v = get(m, "name")) && get_string(ld, v, "name", MAX_NAME, &r->name) == 0) {
			for (size_t j = 0; j < i; j++)
				if (cfg->rules[j].name && !strcmp(cfg->rules[j].name, r->name))
					ld_err(ld, v, _("another rule is already called \"%s\" "
							"(line %d); give each rule its own "
							"name"), r->name, cfg->rules[j].line);
		} else if (!v) {
			ld_err(ld, m, _("this rule needs a name, such as name: mairie"));
		}
		if (r->name)
			snprintf(where, sizeof where, _("rule \"%s\""), r->name);
		else
			snprintf(where, sizeof where, _("rule %zu"), i + 1);
		check_keys(ld, m, keys, where);
		int conditions = 0;
		for (int f = 0; f < 3; f++) {
			const char *pat;
			if (!(v = get(m, fields[f])))
				continue;
			conditions++;
			if (get_string(ld, v, fields[f], CFG_MAX_PATTERN, &pat) < 0)
				continue;
			int code;
			PCRE2_SIZE off;
			uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
			/* addresses are case-insensitive in practice */
			if (f == 0)
				opts |= PCRE2_CASELESS;
			pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, strlen(pat), opts, &code,
						       &off, NULL);
			if (!re) {
				PCRE2_UCHAR msg[256];
				pcre2_get_error_message(code, msg, sizeof msg);
				ld_err(ld, v, _("this %s pattern is not valid: %s (at offset %zu "
						"in the pattern)"),
				       fields[f], (const char *)msg, (size_t)off);
				continue;
			}
			cfg->re[3 * i + (size_t)f] = re;
			if (f == 0)
				r->from = pat;
			else if (f == 1)
				r->subject = pat;
			else
				r->body = pat;
		}
		if (!conditions)
			ld_err(ld, m, _("this rule needs a condition: from, subject or body "
					"(a pattern)"));
		const struct ynode *route = get(m, "route"), *flag = get(m, "flag");
		if (route && get_string(ld, route, "route", MAX_NAME, &r->category) == 0) {
			if (!strcmp(r->category, "review")) {
				r->action = CFG_ACTION_REVIEW;
				r->category = NULL;
			} else if (!strcmp(r->category, "none")) {
				r->action = CFG_ACTION_NONE;
				r->category = NULL;
			} else if (!ld->cats || find_category(ld, route, r->category) >= 0) {
				r->action = CFG_ACTION_CATEGORY;
			}
		}
		int flag_ok = flag && get_bool(ld, flag, "flag", &r->flag) == 0;
		if (!route && (!flag || (flag_ok && !r->flag)))
			ld_err(ld, m, _("this rule does nothing: give it a route (a category, "
					"review or none) or flag: true"));
	}
}

static void load_top(struct ld *ld, const struct ynode *root)
{
	static const char *const keys[] = { "imap", "smtp", "classifier", "review_folder",
		"state_dir", "dry_run", "backlog", "routes", "rules", "learning",
		"log_level", NULL };
	static const char *const levels[] = { "info", "debug", NULL };
	struct config *cfg = ld->cfg;
	const struct ynode *v;
	int e;

	check_keys(ld, root, keys, _("the file"));
	const struct ynode *imap_key = NULL;
	for (size_t i = 0; i + 1 < root->n; i += 2)
		if (root->kids[i]->type == YT_SCALAR && !strcmp(root->kids[i]->str, "imap")) {
			imap_key = root->kids[i];
			break;
		}
	load_imap(ld, imap_key, get(root, "imap"));
	for (size_t i = 0; i + 1 < root->n; i += 2)
		if (root->kids[i]->type == YT_SCALAR && !strcmp(root->kids[i]->str, "smtp")) {
			load_smtp(ld, root->kids[i], root->kids[i + 1]);
			break;
		}
	load_classifier(ld, get(root, "classifier"));
	load_learning(ld, get(root, "learning"));

	cfg->review_folder = DEFAULT_REVIEW;
	if ((v = get(root, "review_folder")))
		get_folder(ld, v, "review_folder", &cfg->review_folder);

	const char *sd = getenv("STATE_DIRECTORY");
	cfg->state_dir = DEFAULT_STATE_DIR;
	if (sd && sd[0] == '/') {
		/* systemd lists one directory per StateDirectory=, separated by ':' */
		cfg->state_dir = pool_keep(ld, strndup(sd, strcspn(sd, ":")));
		if (!cfg->state_dir)
			cfg->state_dir = DEFAULT_STATE_DIR;
	}
	if ((v = get(root, "state_dir")) &&
	    get_string(ld, v, "state_dir", MAX_STRING, &cfg->state_dir) == 0 &&
	    cfg->state_dir[0] != '/')
		ld_err(ld, v, _("state_dir must be a full path starting with /, such as "
				"/var/lib/triage"));
	if ((v = get(root, "dry_run")))
		get_bool(ld, v, "dry_run", &cfg->dry_run);
	if ((v = get(root, "backlog")) && want_scalar(ld, v, "backlog") == 0) {
		unsigned long long d;
		char digits[16], b[80];
		size_t n = strlen(v->str);
		if (!strcmp(v->str, "none")) {
			cfg->backlog = CFG_BACKLOG_NONE;
		} else if (!strcmp(v->str, "all")) {
			cfg->backlog = CFG_BACKLOG_ALL;
		} else if (n >= 2 && n < sizeof digits && v->str[n - 1] == 'd' &&
			   (memcpy(digits, v->str, n - 1), digits[n - 1] = 0,
			    parse_uint(digits, &d) == 0) && d >= 1 && d <= 3650) {
			cfg->backlog = CFG_BACKLOG_DAYS;
			cfg->backlog_days = (unsigned)d;
		} else {
			ld_err(ld, v, _("backlog must be none, all, or a number of days from "
					"1d to 3650d such as 30d; not \"%s\""),
			       shown(v, b, sizeof b));
		}
	}
	if ((v = get(root, "log_level")) && get_enum(ld, v, "log_level", levels, &e) == 0)
		cfg->log_level = (enum cfg_log_level)e;
}

/* Checks that need several sections; then the routes the daemon will read. */
static void cross_check(struct ld *ld, const struct ynode *root, struct cfg_route *written,
			size_t nwritten)
{
	struct config *cfg = ld->cfg;
	const struct ynode *routes = get(root, "routes");
	if (ld->forward_at && !cfg->has_smtp)
		ld_err(ld, ld->forward_at, _("forwarding needs an smtp section (the server "
					     "that sends the copies); add smtp: with url "
					     "and from"));
	for (size_t i = 0; i < nwritten; i++) {
		const struct cfg_route *r = &written[i];
		const struct ynode *at = get(routes->kids[2 * i + 1], "folder");
		if (!r->folder)
			continue;
		if (!strcmp(r->folder, cfg->review_folder))
			ld_err(ld, at, _("folder \"%s\" is also the review_folder; give the "
					 "category its own folder"), r->folder);
		else if (!strcmp(r->folder, cfg->imap.mailbox ? cfg->imap.mailbox : "") ||
			 (!strcasecmp(r->folder, "INBOX") && cfg->imap.mailbox &&
			  !strcasecmp(cfg->imap.mailbox, "INBOX")))
			ld_err(ld, at, _("folder \"%s\" is the watched mailbox; to leave the "
					 "mail there, remove folder:"), r->folder);
	}
	if (cfg->imap.mailbox && !strcmp(cfg->review_folder, cfg->imap.mailbox))
		ld_err(ld, get(root, "review_folder"),
		       _("review_folder must differ from the watched mailbox"));

	if (!ld->cats) {
		cfg->routes = written;
		cfg->nroutes = nwritten;
		return;
	}
	/* One route per category, in the model's order. */
	cfg->routes = pool_keep(ld, calloc(ld->ncats ? ld->ncats : 1, sizeof *cfg->routes));
	if (!cfg->routes)
		return;
	cfg->nroutes = ld->ncats;
	for (size_t i = 0; i < ld->ncats; i++) {
		struct cfg_route *r = &cfg->routes[i];
		for (size_t j = 0; j < nwritten; j++)
			if (written[j].category && !strcmp(written[j].category, ld->cats[i]))
				*r = written[j];
		if (!r->configured) {
			r->category = pool_str(ld, ld->cats[i]);
			r->keyword = keyword_for(ld, ld->cats[i]);
		}
	}
}

/* ---- loading ----------------------------------------------------------------------------- */

static void sort_errors(struct cfg_errors *e, size_t first)
{
	/* insertion sort: stable, and there are at most CFG_MAX_ERRORS */
	for (size_t i = first + 1; i < e->n; i++) {
		struct cfg_error x = e->v[i];
		size_t j = i;
		while (j > first && (e->v[j - 1].line > x.line ||
				     (e->v[j - 1].line == x.line && e->v[j - 1].col > x.col))) {
			e->v[j] = e->v[j - 1];
			j--;
		}
		e->v[j] = x;
	}
}

static struct config *load(const char *data, size_t len, const char *name,
			   const char *const *cats, size_t ncats, cfg_labels_fn fn,
			   void *ctx, struct cfg_errors *errs)
{
	size_t first = errs->n, dropped = errs->dropped;
	struct ld ld = { .file = name, .errs = errs, .cats = cats, .ncats = ncats };
	struct config *cfg = calloc(1, sizeof *cfg);
	char *namecopy = strdup(name);
	struct ynode *root = NULL;
	if (!cfg || !namecopy) {
		cfg_errors_add(errs, name, 0, 0, "%s", strerror(ENOMEM));
		free(cfg);
		free(namecopy);
		return NULL;
	}
	ld.cfg = cfg;
	ld.dir = pool_keep(&ld, strdup(dirname(namecopy)));
	free(namecopy);
	cfg->file = pool_keep(&ld, strdup(name));
	if (ld.oom)
		goto out;
	if (len > CFG_MAX_FILE_SIZE) {
		cfg_errors_add(errs, name, 0, 0,
			       _("the file is larger than %zu bytes: this is not a "
				 "triage configuration"), CFG_MAX_FILE_SIZE);
		goto out;
	}
	root = yt_parse(data, len, name, errs);
	if (!root)
		goto out;
	if (root->type != YT_MAP) {
		ld_err(&ld, root, _("the file must hold \"key: value\" lines, starting with "
				    "imap:"));
		goto out;
	}
	load_top(&ld, root);

	/* an invalid classifier.model is already reported: categories unknown */
	if (fn && !ld.model_bad) {
		const char *const *labels = NULL;
		size_t n = 0;
		char err[512] = "";
		const struct ynode *clf = get(root, "classifier");
		const struct ynode *at = get(clf, "model");
		if (at && at->type != YT_SCALAR)
			at = NULL;
		if (fn(ctx, cfg->clf.model, &labels, &n, err, sizeof err) < 0)
			ld_err(&ld, at, _("cannot use the model: %s"), err);
		else if (n == 0 || !labels)
			ld_err(&ld, at, _("the model has no categories"));
		else {
			/* the labels are borrowed until the load returns: keep copies */
			const char **copy = pool_keep(&ld, calloc(n, sizeof *copy));
			for (size_t i = 0; copy && i < n; i++)
				copy[i] = pool_str(&ld, labels[i]);
			ld.cats = copy;
			ld.ncats = n;
		}
	}
	if (ld.oom)
		goto out;

	size_t nwritten;
	struct cfg_route *written = load_routes(&ld, get(root, "routes"), &nwritten);
	load_rules(&ld, get(root, "rules"));
	cross_check(&ld, root, written, nwritten);
	cfg->mctx = pcre2_match_context_create(NULL);
	if (!cfg->mctx)
		ld_err(&ld, NULL, "%s", strerror(ENOMEM));
	else
		pcre2_set_match_limit(cfg->mctx, MATCH_LIMIT);
out:
	yt_free(root);
	sort_errors(errs, first);
	if (errs->n > first || errs->dropped > dropped || ld.oom) {
		cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *cfg_load_mem(const char *data, size_t len, const char *name,
			    const char *const *categories, size_t ncategories,
			    struct cfg_errors *errs)
{
	return load(data, len, name, categories, categories ? ncategories : 0, NULL, NULL,
		    errs);
}

static struct config *load_file(const char *path, const char *const *cats, size_t ncats,
				cfg_labels_fn fn, void *ctx, struct cfg_errors *errs)
{
	char err[512];
	size_t len;
	char *data = read_file(path, CFG_MAX_FILE_SIZE, &len, err, sizeof err);
	if (!data) {
		if (errno == EFBIG)
			cfg_errors_add(errs, path, 0, 0,
				       _("the file is larger than %zu bytes: this is not a "
					 "triage configuration"), CFG_MAX_FILE_SIZE);
		else
			cfg_errors_add(errs, path, 0, 0, _("cannot read this file: %s"),
				       strerror(errno));
		return NULL;
	}
	struct config *cfg = load(data, len, path, cats, ncats, fn, ctx, errs);
	free(data);
	return cfg;
}

struct config *cfg_load(const char *path, const char *const *categories,
			size_t ncategories, struct cfg_errors *errs)
{
	return load_file(path, categories, categories ? ncategories : 0, NULL, NULL, errs);
}

struct config *cfg_load_labels(const char *path, cfg_labels_fn fn, void *ctx,
			       struct cfg_errors *errs)
{
	return load_file(path, NULL, 0, fn, ctx, errs);
}

void cfg_free(struct config *cfg)
{
	if (!cfg)
		return;
	/* passwords should not linger in freed memory */
	if (cfg->imap.password)
		explicit_bzero((char *)cfg->imap.password, strlen(cfg->imap.password));
	if (cfg->smtp.password)
		explicit_bzero((char *)cfg->smtp.password, strlen(cfg->smtp.password));
	if (cfg->re)
		for (size_t i = 0; i < 3 * cfg->nrules; i++)
			pcre2_code_free(cfg->re[i]);
	pcre2_match_context_free(cfg->mctx);
	for (size_t i = 0; i < cfg->npool; i++)
		free(cfg->pool[i]);
	free(cfg->pool);
	free(cfg);
}

/* ---- reading ------------------------------------------------------------------------------- */

const char *cfg_file(const struct config *cfg) { return cfg->file; }
const struct cfg_imap *cfg_imap(const struct config *cfg) { return &cfg->imap; }
const struct cfg_smtp *cfg_smtp(const struct config *cfg)
{
	return cfg->has_smtp ? &cfg->smtp : NULL;
}
const struct cfg_classifier *cfg_classifier(const struct config *cfg) { return &cfg->clf; }
const struct cfg_learning *cfg_learning(const struct config *cfg) { return &cfg->learning; }
const char *cfg_review_folder(const struct config *cfg) { return cfg->review_folder; }
const char *cfg_state_dir(const struct config *cfg) { return cfg->state_dir; }
int cfg_dry_run(const struct config *cfg) { return cfg->dry_run; }
enum cfg_log_level cfg_log_level(const struct config *cfg) { return cfg->log_level; }

enum cfg_backlog cfg_backlog(const struct config *cfg, unsigned *days)
{
	if (days)
		*days = cfg->backlog_days;
	return cfg->backlog;
}

size_t cfg_nroutes(const struct config *cfg) { return cfg->nroutes; }

const struct cfg_route *cfg_route_at(const struct config *cfg, size_t i)
{
	return i < cfg->nroutes ? &cfg->routes[i] : NULL;
}

const struct cfg_route *cfg_route(const struct config *cfg, const char *category)
{
	for (size_t i = 0; i < cfg->nroutes; i++)
		if (!strcmp(cfg->routes[i].category, category))
			return &cfg->routes[i];
	return NULL;
}

size_t cfg_nrules(const struct config *cfg) { return cfg->nrules; }

const struct cfg_rule *cfg_rule_at(const struct config *cfg, size_t i)
{
	return i < cfg->nrules ? &cfg->rules[i] : NULL;
}

const char *cfg_tls_name(enum cfg_tls t)
{
	return (unsigned)t < 3 ? tls_names[t] : "?";
}

int cfg_rules_match(const struct config *cfg, const char *from, const char *subject,
		    const char *body, size_t body_len, const struct cfg_rule **match)
{
	*match = NULL;
	if (!cfg->nrules)
		return 0;
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md) {
		errno = ENOMEM;
		return -1;
	}
	const char *text[3] = { from ? from : "", subject ? subject : "", body ? body : "" };
	size_t len[3] = { strlen(text[0]), strlen(text[1]), body ? body_len : 0 };
	for (size_t i = 0; i < cfg->nrules && !*match; i++) {
		int all = 1;
		for (size_t f = 0; f < 3 && all; f++) {
			const pcre2_code *re = cfg->re[3 * i + f];
			if (re && pcre2_match(re, (PCRE2_SPTR)text[f], len[f], 0, 0, md,
					      cfg->mctx) < 0)
				all = 0;
		}
		if (all)
			*match = &cfg->rules[i];
	}
	pcre2_match_data_free(md);
	return 0;
}
