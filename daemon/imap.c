/*
 * imap: the daemon's IMAP connection over libetpan (see imap.h). The only
 * file that uses libetpan's IMAP API; MAILIMAP_ERROR_* codes end here.
 *
 * libetpan leaves a few things to its callers, done here:
 * - certificate checks (its GnuTLS build accepts any certificate): the chain
 *   is taken after the handshake and verified by tlsverify.c;
 * - UID SEARCH with free-form keys (its search API wants a key tree): the
 *   command is written on the stream and the response read by its parser;
 * - AUTHENTICATE PLAIN: its mailimap_authenticate() goes through Cyrus SASL
 *   and needs the libsasl2-modules plugins at run time; PLAIN is one base64
 *   line, sent here with the library's own tag, stream and parser.
 */
#include "daemon/imap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <libetpan/libetpan.h>

#include "common/util.h"
#include "daemon/tlsverify.h"

/* A command's UID set holds at most this many ranges ("4:9" or "12"), so a
 * command line stays under ~5 KB however scattered the UIDs. */
#define SET_RANGES_MAX 200
/* Sum of the message sizes fetched whole by one command; a larger batch is
 * split so that one response never holds more than this (plus one message). */
#define BODY_BATCH_MAX (64u << 20)
/* A server's response text, as quoted in our error messages. */
#define RESP_TEXT_MAX 200
/* Free-form search keys (imap_search). */
#define SEARCH_MAX 2000
/* A Message-ID header value (RFC 5322 line limit). */
#define MSGID_MAX 998
#define IDLE_SLICE_MS 200

struct imap {
	mailimap *s;
	char *host;
	unsigned port;
	unsigned timeout_s;
	unsigned caps;
	char sep;
	char *prefix;          /* personal namespace prefix, wire form */
	int dead;              /* the stream is unusable: only close it */
	int condstore;         /* the selected mailbox was opened with CONDSTORE */
	enum imap_err err;
	char errtext[512];
};

/* ---- errors --------------------------------------------------------------- */

static int set_err(struct imap *c, enum imap_err kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(struct imap *c, enum imap_err kind, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->err = kind;
	snprintf(c->errtext, sizeof c->errtext, "%s:%u: %s", c->host, c->port, msg);
	if (kind == IMAP_ERR_NET)
		c->dead = 1;
	return -1;
}

/* The server's last response text, cut and without control characters. */
static const char *server_said(const struct imap *c, char *out, size_t outsz)
{
	const char *t = c->s && c->s->imap_response ? c->s->imap_response : "";
	size_t j = 0;
	for (size_t i = 0; t[i] && j + 1 < outsz && j < RESP_TEXT_MAX; i++)
		out[j++] = (unsigned char)t[i] < 0x20 || t[i] == 0x7f ? ' ' : t[i];
	out[j] = '\0';
	if (!j)
		snprintf(out, outsz, "(no text)");
	return out;
}

/*
 * libetpan reports a connection closed in the middle of a response as a parse
 * error: nothing was read, or the socket is at its end.
 */
static int stream_closed(const struct imap *c)
{
	if (!c->s || !c->s->imap_stream)
		return 1;
	if (c->s->imap_stream_buffer && c->s->imap_stream_buffer->len == 0)
		return 1;
	int fd = mailstream_low_get_fd(mailstream_get_low(c->s->imap_stream));
	struct pollfd p = { fd, POLLIN, 0 };
	if (fd < 0 || poll(&p, 1, 0) < 0)
		return 1;
	if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
		return 1;
	char b;
	return (p.revents & POLLIN) && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Converts a libetpan result into our kinds; what names the command. */
static int lib_fail(struct imap *c, int r, const char *what)
{
	char said[RESP_TEXT_MAX + 16];
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
		return set_err(c, IMAP_ERR_NET, "%s: connection lost or timed out (%us)", what,
			    c->timeout_s);
	case MAILIMAP_ERROR_FATAL:
	case MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION:
		return set_err(c, IMAP_ERR_NET, "%s: the server closed the connection: %s", what,
			    server_said(c, said, sizeof said));
	case MAILIMAP_ERROR_SSL:
		return set_err(c, IMAP_ERR_TLS, "%s: TLS handshake failed", what);
	case MAILIMAP_ERROR_MEMORY:
		return set_err(c, IMAP_ERR_NOMEM, "%s: %s", what, strerror(ENOMEM));
	case MAILIMAP_ERROR_PARSE:
		if (stream_closed(c))
			return set_err(c, IMAP_ERR_NET, "%s: the connection was closed", what);
		/* The rest of that response is still on the stream: the
		 * connection cannot be trusted for another command. */
		set_err(c, IMAP_ERR_BAD, "%s: the server's response could not be understood", what);
		c->dead = 1;
		return -1;
	case MAILIMAP_ERROR_PROTOCOL:
		return set_err(c, IMAP_ERR_BAD, "%s: the server answered BAD: %s", what,
			    server_said(c, said, sizeof said));
	case MAILIMAP_ERROR_BAD_STATE:
		return set_err(c, IMAP_ERR_BAD, "%s: not possible in this state (no folder selected?)",
			    what);
	default:
		return set_err(c, IMAP_ERR_NO, "%s: the server answered NO: %s", what,
			    server_said(c, said, sizeof said));
	}
}

static int usable(struct imap *c)
{
	if (c->dead) {
		/* Keep the first error's text when it already says NET. */
		if (c->err != IMAP_ERR_NET)
			return set_err(c, IMAP_ERR_NET,
				       "the connection is unusable after an earlier error");
		return -1;
	}
	return 0;
}

static int nomem(struct imap *c)
{
	return set_err(c, IMAP_ERR_NOMEM, "%s", strerror(ENOMEM));
}

enum imap_err imap_error(const struct imap *c)
{
	return c->err;
}

const char *imap_error_text(const struct imap *c)
{
	return c->errtext;
}

unsigned imap_caps(const struct imap *c)
{
	return c->caps;
}

char imap_separator(const struct imap *c)
{
	return c->sep;
}

const char *imap_prefix(const struct imap *c)
{
	return c->prefix;
}

/* ---- UID sets --------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* A sorted copy of uids without duplicates or zeros (caller frees). */
static uint32_t *uids_sorted(const uint32_t *uids, size_t n, size_t *nout)
{
	uint32_t *v = malloc((n ? n : 1) * sizeof *v);
	if (!v)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (uids[i])
			v[k++] = uids[i];
	qsort(v, k, sizeof *v, cmp_u32);
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (m == 0 || v[m - 1] != v[i])
			v[m++] = v[i];
	*nout = m;
	return v;
}

static int uid_in(const uint32_t *sorted, size_t n, uint32_t uid)
{
	return bsearch(&uid, sorted, n, sizeof *sorted, cmp_u32) != NULL;
}

/*
 * The set of the longest prefix of v (sorted, unique) that fits in
 * SET_RANGES_MAX ranges; *used gets its length. NULL on ENOMEM.
 */
static struct mailimap_set *set_chunk(const uint32_t *v, size_t n, size_t *used)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	if (!set)
		return NULL;
	size_t i = 0, ranges = 0;
	while (i < n && ranges < SET_RANGES_MAX) {
		size_t j = i;
		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (mailimap_set_add_interval(set, v[i], v[j]) != MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			return NULL;
		}
		ranges++;
		i = j + 1;
	}
	*used = i;
	return set;
}

/* The UIDs of a set the server sent (COPYUID), at most max of them; -1 when
 * there are more (a hostile "1:4294967295" is not expanded). */
static long set_expand(const struct mailimap_set *set, uint32_t *out, size_t max)
{
	size_t k = 0;
	for (clistiter *it = clist_begin(set->set_list); it; it = clist_next(it)) {
		const struct mailimap_set_item *item = clist_content(it);
		if (item->set_first == 0 || item->set_last == 0)
			return -1;   /* "*" */
		uint32_t a = item->set_first, b = item->set_last;
		int step = a <= b ? 1 : -1;
		for (uint32_t u = a;; u += (uint32_t)step) {
			if (k >= max)
				return -1;
			out[k++] = u;
			if (u == b)
				break;
		}
	}
	return (long)k;
}

/* ---- names ----------------------------------------------------------------- */

char *imap_wire_name(const struct imap *c, const char *utf8)
{
	size_t n = strlen(utf8);
	if (n == 0 || !utf8_valid(utf8, n)) {
		errno = EINVAL;
		return NULL;
	}
	if (strcasecmp(utf8, "INBOX") == 0)
		return strdup("INBOX");
	char *tmp = strdup(utf8);
	if (!tmp)
		return NULL;
	/* Callers write hierarchies with "/"; the server may use another. */
	if (c->sep && c->sep != '/')
		for (char *p = tmp; *p; p++)
			if (*p == '/')
				*p = c->sep;
	char *enc = imap_utf7_encode(tmp);
	free(tmp);
	if (!enc) {
		errno = EINVAL;
		return NULL;
	}
	size_t lp = strlen(c->prefix), le = strlen(enc);
	char *w = malloc(lp + le + 1);
	if (w) {
		memcpy(w, c->prefix, lp);
		memcpy(w + lp, enc, le + 1);
	}
	free(enc);
	return w;
}

/* The UTF-8 name (without the prefix) of a wire name; NULL when the name is
 * outside the personal namespace or not valid modified UTF-7. */
static char *name_from_wire(const struct imap *c, const char *wire)
{
	if (strcasecmp(wire, "INBOX") == 0)
		return strdup("INBOX");
	size_t lp = strlen(c->prefix);
	if (lp && strncmp(wire, c->prefix, lp) != 0)
		return NULL;
	if (!wire[lp])
		return NULL;
	char *u = imap_utf7_decode(wire + lp);
	if (u && c->sep && c->sep != '/')
		for (char *p = u; *p; p++)
			if (*p == c->sep)
				*p = '/';
	return u;
}

/* ---- raw commands -------------------------------------------------------------- */

/*
 * Sends "TAG line" and reads the response with libetpan's parser, which
 * stores untagged data (SEARCH results...) in s->imap_response_info. Returns
 * a MAILIMAP_* code; a NO answer is MAILIMAP_ERROR_CUSTOM_COMMAND.
 */
static int raw_command(mailimap *s, const char *line)
{
	int r = mailimap_send_current_tag(s);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (mailstream_write(s->imap_stream, line, strlen(line)) < 0 ||
	    mailstream_write(s->imap_stream, "\r\n", 2) < 0 ||
	    mailstream_flush(s->imap_stream) < 0)
		return MAILIMAP_ERROR_STREAM;
	if (!mailimap_read_line(s))
		return MAILIMAP_ERROR_STREAM;
	struct mailimap_response *resp;
	r = mailimap_parse_response(s, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	int state = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	mailimap_response_free(resp);
	return state == MAILIMAP_RESP_COND_STATE_OK ? MAILIMAP_NO_ERROR
						    : MAILIMAP_ERROR_CUSTOM_COMMAND;
}

/* AUTHENTICATE PLAIN (RFC 4616): "\0user\0password" in base64, after "+". */
static int auth_plain(struct imap *c, const char *user, const char *password)
{
	mailimap *s = c->s;
	size_t lu = strlen(user), lp = strlen(password);
	size_t len = lu + lp + 2;
	unsigned char *raw = malloc(len);
	if (!raw)
		return MAILIMAP_ERROR_MEMORY;
	raw[0] = 0;
	memcpy(raw + 1, user, lu);
	raw[1 + lu] = 0;
	memcpy(raw + 2 + lu, password, lp);
	gnutls_datum_t in = { raw, (unsigned)len }, b64 = { NULL, 0 };
	int g = gnutls_base64_encode2(&in, &b64);
	gnutls_memset(raw, 0, len);
	free(raw);
	if (g < 0)
		return MAILIMAP_ERROR_MEMORY;

	int r = mailimap_send_current_tag(s);
	if (r != MAILIMAP_NO_ERROR)
		goto out;
	static const char cmd[] = "AUTHENTICATE PLAIN\r\n";
	r = MAILIMAP_ERROR_STREAM;
	if (mailstream_write(s->imap_stream, cmd, sizeof cmd - 1) < 0 ||
	    mailstream_flush(s->imap_stream) < 0)
		goto out;
	const char *line = mailimap_read_line(s);
	if (!line)
		goto out;
	if (line[0] == '+') {
		if (mailstream_write(s->imap_stream, b64.data, b64.size) < 0 ||
		    mailstream_write(s->imap_stream, "\r\n", 2) < 0 ||
		    mailstream_flush(s->imap_stream) < 0 || !mailimap_read_line(s))
			goto out;
	}
	struct mailimap_response *resp;
	r = mailimap_parse_response(s, &resp);
	if (r != MAILIMAP_NO_ERROR)
		goto out;
	int state = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	mailimap_response_free(resp);
	if (state == MAILIMAP_RESP_COND_STATE_OK) {
		s->imap_state = MAILIMAP_STATE_AUTHENTICATED;
		r = MAILIMAP_NO_ERROR;
	} else {
		r = MAILIMAP_ERROR_LOGIN;
	}
out:
	gnutls_memset(b64.data, 0, b64.size);
	gnutls_free(b64.data);
	return r;
}

/* ---- connection -------------------------------------------------------------- */

static int is_ip_literal(const char *host)
{
	unsigned char a[16];
	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Called by libetpan before the handshake: SNI (a DNS name only, RFC 6066). */
static void tls_context_cb(struct mailstream_ssl_context *ctx, void *data)
{
	struct imap *c = data;
	if (!is_ip_literal(c->host))
		mailstream_ssl_set_server_name(ctx, c->host);
}

static int verify_peer(struct imap *c, const struct imap_opts *o)
{
	carray *chain = mailstream_get_certificate_chain(c->s->imap_stream);
	if (!chain)
		return set_err(c, IMAP_ERR_TLS, "the server sent no certificate");
	unsigned n = carray_count(chain);
	struct tls_der *der = calloc(n ? n : 1, sizeof *der);
	if (!der) {
		mailstream_certificate_chain_free(chain);
		return nomem(c);
	}
	for (unsigned i = 0; i < n; i++) {
		const MMAPString *str = carray_get(chain, i);
		der[i].data = (const unsigned char *)str->str;
		der[i].len = str->len;
	}
	char why[300];
	int r = tls_verify_chain(der, n, c->host, o->ca_file, o->system_ca, why, sizeof why);
	free(der);
	mailstream_certificate_chain_free(chain);
	if (r < 0)
		return set_err(c, IMAP_ERR_TLS, "%s", why);
	return 0;
}

static int refresh_caps(struct imap *c)
{
	struct mailimap_capability_data *cap = NULL;
	int r = mailimap_capability(c->s, &cap);
	if (r != MAILIMAP_NO_ERROR)
		return lib_fail(c, r, "CAPABILITY");
	mailimap_capability_data_free(cap);
	static const struct {
		const char *name;
		unsigned bit;
	} known[] = {
		{ "IDLE", IMAP_CAP_IDLE },           { "MOVE", IMAP_CAP_MOVE },
		{ "UIDPLUS", IMAP_CAP_UIDPLUS },     { "CONDSTORE", IMAP_CAP_CONDSTORE },
		{ "NAMESPACE", IMAP_CAP_NAMESPACE }, { "LITERAL+", IMAP_CAP_LITERALPLUS },
	};
	c->caps = 0;
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (mailimap_has_extension(c->s, known[i].name))
			c->caps |= known[i].bit;
	return 0;
}

static int login(struct imap *c, const struct imap_opts *o)
{
	enum imap_auth how = o->auth;
	if (how == IMAP_AUTH_AUTO)
		how = mailimap_has_authentication(c->s, "PLAIN") ? IMAP_AUTH_PLAIN : IMAP_AUTH_LOGIN;
	if (how == IMAP_AUTH_LOGIN && mailimap_has_extension(c->s, "LOGINDISABLED"))
		return set_err(c, IMAP_ERR_UNSUPPORTED, "the server refuses LOGIN here (LOGINDISABLED)%s",
			    o->tls == IMAP_TLS_NONE ? ": use TLS" : "");
	int r = how == IMAP_AUTH_PLAIN ? auth_plain(c, o->username, o->password)
				       : mailimap_login(c->s, o->username, o->password);
	if (r == MAILIMAP_ERROR_LOGIN || r == MAILIMAP_ERROR_CUSTOM_COMMAND) {
		char said[RESP_TEXT_MAX + 16];
		return set_err(c, IMAP_ERR_AUTH, "%s refused: %s",
			    how == IMAP_AUTH_PLAIN ? "AUTHENTICATE PLAIN" : "LOGIN",
			    server_said(c, said, sizeof said));
	}
	if (r == MAILIMAP_ERROR_PROTOCOL && how == IMAP_AUTH_PLAIN)
		return set_err(c, IMAP_ERR_AUTH, "AUTHENTICATE PLAIN refused (BAD)");
	if (r != MAILIMAP_NO_ERROR)
		return lib_fail(c, r, how == IMAP_AUTH_PLAIN ? "AUTHENTICATE" : "LOGIN");
	return 0;
}

/* The personal namespace, or the separator of LIST "" "" without NAMESPACE. */
static int read_namespace(struct imap *c)
{
	const char *prefix = "";
	char sep = 0;
	struct mailimap_namespace_data *ns = NULL;
	if (c->caps & IMAP_CAP_NAMESPACE) {
		int r = mailimap_namespace(c->s, &ns);
		if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_EXTENSION)
			return lib_fail(c, r, "NAMESPACE");
		if (r != MAILIMAP_NO_ERROR)
			ns = NULL;
	}
	if (ns && ns->ns_personal && clist_begin(ns->ns_personal->ns_data_list)) {
		const struct mailimap_namespace_info *info =
			clist_content(clist_begin(ns->ns_personal->ns_data_list));
		prefix = info->ns_prefix;
		sep = info->ns_delimiter;
	} else {
		clist *list = NULL;
		int r = mailimap_list(c->s, "", "", &list);
		if (r != MAILIMAP_NO_ERROR) {
			if (ns)
				mailimap_namespace_data_free(ns);
			return lib_fail(c, r, "LIST");
		}
		if (list && clist_begin(list))
			sep = ((struct mailimap_mailbox_list *)clist_content(clist_begin(list)))
				      ->mb_delimiter;
		if (list)
			mailimap_list_result_free(list);
	}
	c->sep = sep;
	c->prefix = strdup(prefix);
	if (ns)
		mailimap_namespace_data_free(ns);
	return c->prefix ? 0 : nomem(c);
}

/* A TLS failure after the whole timeout is the network, not the certificate. */
static int tls_fail(struct imap *c, double t0, const char *what)
{
	if (now_ms() - t0 >= c->timeout_s * 1000.0 - 100)
		return set_err(c, IMAP_ERR_NET, "%s: timed out (%us)", what, c->timeout_s);
	return set_err(c, IMAP_ERR_TLS, "%s failed (not a TLS server, or no common cipher?)",
		    what);
}

static int open_session(struct imap *c, const struct imap_opts *o)
{
	uint16_t port = (uint16_t)c->port;
	double t0 = now_ms();
	int r;
	if (o->tls == IMAP_TLS_IMPLICIT) {
		r = mailimap_ssl_connect_with_callback(c->s, c->host, port, tls_context_cb, c);
		if (r == MAILIMAP_ERROR_SSL)
			return tls_fail(c, t0, "TLS handshake");
	} else {
		r = mailimap_socket_connect(c->s, c->host, port);
	}
	if (r == MAILIMAP_ERROR_CONNECTION_REFUSED)
		return set_err(c, IMAP_ERR_NET, "cannot connect (refused, unreachable or timed out)");
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		return lib_fail(c, r, "greeting");
	int preauth = r == MAILIMAP_NO_ERROR_AUTHENTICATED;

	if (o->tls == IMAP_TLS_IMPLICIT && verify_peer(c, o) < 0)
		return -1;
	if (o->tls == IMAP_TLS_STARTTLS) {
		if (preauth)
			return set_err(c, IMAP_ERR_TLS,
				    "the server pre-authenticated the clear connection: STARTTLS impossible");
		if (refresh_caps(c) < 0)
			return -1;
		if (!mailimap_has_extension(c->s, "STARTTLS"))
			return set_err(c, IMAP_ERR_TLS, "the server does not offer STARTTLS");
		t0 = now_ms();
		r = mailimap_socket_starttls_with_callback(c->s, tls_context_cb, c);
		if (r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_SSL)
			return tls_fail(c, t0, "STARTTLS handshake");
		if (r != MAILIMAP_NO_ERROR)
			return lib_fail(c, r, "STARTTLS");
		/* Bytes received in clear after the STARTTLS answer would be
		 * read as if they came over TLS (CVE-2011-0411 style). */
		if (c->s->imap_stream->read_buffer_len)
			return set_err(c, IMAP_ERR_TLS, "the server sent data in clear after STARTTLS");
		if (verify_peer(c, o) < 0)
			return -1;
	}
	if (!preauth) {
		if (refresh_caps(c) < 0)
			return -1;
		if (login(c, o) < 0)
			return -1;
	}
	if (refresh_caps(c) < 0)
		return -1;
	return read_namespace(c);
}

struct imap *imap_connect(const struct imap_opts *o, enum imap_err *kind, char *err,
			  size_t errsz)
{
	if (!o->host || !*o->host || !o->username || !o->password || o->port > 65535) {
		*kind = IMAP_ERR_BAD;
		errf(err, errsz, "IMAP: host, port, user name and password are required");
		return NULL;
	}
	struct imap *c = calloc(1, sizeof *c);
	if (!c || !(c->host = strdup(o->host)) || !(c->s = mailimap_new(0, NULL))) {
		*kind = IMAP_ERR_NOMEM;
		errf(err, errsz, "%s: %s", o->host, strerror(ENOMEM));
		if (c)
			free(c->host);
		free(c);
		return NULL;
	}
	c->port = o->port ? o->port : o->tls == IMAP_TLS_IMPLICIT ? 993 : 143;
	c->timeout_s = o->timeout_s ? o->timeout_s : 60;
	/* Per session, rather than libetpan's global mailstream_network_delay:
	 * 1.9.4 passes it to the connect, the TLS handshake and every read and
	 * write of this stream, and other threads are left alone. */
	mailimap_set_timeout(c->s, (time_t)c->timeout_s);
	if (open_session(c, o) < 0) {
		*kind = c->err;
		errf(err, errsz, "%s", c->errtext);
		c->dead = 1;
		imap_close(c);
		return NULL;
	}
	*kind = IMAP_OK;
	return c;
}

void imap_close(struct imap *c)
{
	if (!c)
		return;
	if (c->s) {
		if (c->s->imap_stream && c->dead) {
			/* No LOGOUT on a dead or hung stream: mailimap_free()
			 * would wait for its answer. */
			mailstream_close(c->s->imap_stream);
			c->s->imap_stream = NULL;
		} else if (c->s->imap_stream) {
			mailimap_logout(c->s);
		}
		mailimap_free(c->s);
	}
	free(c->host);
	free(c->prefix);
	free(c);
}

/* ---- folders ----------------------------------------------------------------- */

static int is_noselect(const struct mailimap_mailbox_list *mb)
{
	const struct mailimap_mbx_list_flags *f = mb->mb_flag;
	if (!f)
		return 0;
	if (f->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
	    f->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		return 1;
	for (clistiter *it = clist_begin(f->mbf_oflags); it; it = clist_next(it)) {
		const struct mailimap_mbx_list_oflag *of = clist_content(it);
		if (of->of_type == MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT && of->of_flag_ext &&
		    (strcasecmp(of->of_flag_ext, "NonExistent") == 0 ||
		     strcasecmp(of->of_flag_ext, "Noselect") == 0))
			return 1;
	}
	return 0;
}

/* 1 when the folder exists (and can hold mail), 0 when not, -1 on error. */
static int folder_exists(struct imap *c, const char *wire)
{
	clist *list = NULL;
	int r = mailimap_list(c->s, "", wire, &list);
	if (r != MAILIMAP_NO_ERROR)
		return lib_fail(c, r, "LIST");
	int found = 0;
	for (clistiter *it = list ? clist_begin(list) : NULL; it; it = clist_next(it)) {
		const struct mailimap_mailbox_list *mb = clist_content(it);
		if ((strcmp(mb->mb_name, wire) == 0 ||
		     (strcasecmp(wire, "INBOX") == 0 && strcasecmp(mb->mb_name, "INBOX") == 0)) &&
		    !is_noselect(mb))
			found = 1;
	}
	if (list)
		mailimap_list_result_free(list);
	return found;
}

int imap_ensure_folder(struct imap *c, const char *utf8)
{
	if (usable(c) < 0)
		return -1;
	if (!*utf8)
		return set_err(c, IMAP_ERR_BAD, "empty folder name");
	char *path = strdup(utf8);
	if (!path)
		return nomem(c);
	int ret = -1;
	/* Each level in turn: "A", then "A/B"... so that parents are created
	 * and subscribed too (some servers do not create them, and a client
	 * hides the children of an unsubscribed parent). */
	for (char *p = path;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (*path && p[-1] != '/') {
			char *wire = imap_wire_name(c, path);
			if (!wire) {
				set_err(c, IMAP_ERR_BAD, "folder name not valid UTF-8 or too long");
				goto out;
			}
			int e = folder_exists(c, wire);
			int r = MAILIMAP_NO_ERROR;
			if (e == 0)
				r = mailimap_create(c->s, wire);
			if (e >= 0 && r == MAILIMAP_NO_ERROR)
				r = mailimap_subscribe(c->s, wire);
			free(wire);
			if (e < 0)
				goto out;
			if (r != MAILIMAP_NO_ERROR) {
				lib_fail(c, r, e == 0 ? "CREATE" : "SUBSCRIBE");
				goto out;
			}
		}
		*p = saved;
		if (!saved)
			break;
	}
	ret = 0;
out:
	free(path);
	return ret;
}

int imap_list_folders(struct imap *c, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	if (usable(c) < 0)
		return -1;
	clist *list = NULL;
	int r = mailimap_list(c->s, "", "*", &list);
	if (r != MAILIMAP_NO_ERROR)
		return lib_fail(c, r, "LIST");
	size_t cap = list ? (size_t)clist_count(list) : 0, k = 0;
	char **v = calloc(cap ? cap : 1, sizeof *v);
	if (!v) {
		if (list)
			mailimap_list_result_free(list);
		return nomem(c);
	}
	for (clistiter *it = list ? clist_begin(list) : NULL; it; it = clist_next(it)) {
		const struct mailimap_mailbox_list *mb = clist_content(it);
		if (is_noselect(mb))
			continue;
		errno = 0;
		char *u = name_from_wire(c, mb->mb_name);
		if (u)
			v[k++] = u;
		else if (errno == ENOMEM)
			goto enomem;
	}
	mailimap_list_result_free(list);
	*names = v;
	*n = k;
	return 0;
enomem:
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	mailimap_list_result_free(list);
	return nomem(c);
}

/* ---- SELECT, STATUS -------------------------------------------------------- */

int imap_select(struct imap *c, const char *utf8, struct imap_mailbox *info)
{
	memset(info, 0, sizeof *info);
	if (usable(c) < 0)
		return -1;
	char *wire = imap_wire_name(c, utf8);
	if (!wire)
		return errno == ENOMEM ? nomem(c) : set_err(c, IMAP_ERR_BAD, "folder name not valid");
	uint64_t modseq = 0;
	int condstore = (c->caps & IMAP_CAP_CONDSTORE) != 0;
	int r = condstore ? mailimap_select_condstore(c->s, wire, &modseq)
			  : mailimap_select(c->s, wire);
	free(wire);
	c->condstore = 0;
	if (r != MAILIMAP_NO_ERROR)
		return lib_fail(c, r, "SELECT");
	/* [NOMODSEQ]: the mailbox keeps no modseqs despite the capability. */
	c->condstore = condstore && modseq != 0;
	const struct mailimap_selection_info *sel = c->s->imap_selection_info;
	if (sel) {
		info->uidvalidity = sel->sel_uidvalidity;
		info->uidnext = sel->sel_uidnext;
		info->exists = sel->sel_exists;
		info->read_only = sel->sel_perm == MAILIMAP_MAILBOX_READONLY;
		for (clistiter *it = sel->sel_perm_flags ? clist_begin(sel->sel_perm_flags) : NULL;
		     it; it = clist_next(it)) {
			const struct mailimap_flag_perm *fp = clist_content(it);
			if (fp->fl_type == MAILIMAP_FLAG_PERM_ALL)
				info->keywords = 1;
		}
	}
	info->highestmodseq = modseq;
	return 0;
}

int imap_status(struct imap *c, const char *utf8, struct imap_mailbox *info)
{
	memset(info, 0, sizeof *info);
	if (usable(c) < 0)
		return -1;
	char *wire = imap_wire_name(c, utf8);
	if (!wire)
		return errno == ENOMEM ? nomem(c) : set_err(c, IMAP_ERR_BAD, "folder name not valid");
	struct mailimap_status_att_list *atts = mailimap_status_att_list_new_empty();
	if (!atts ||
	    mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_UIDVALIDITY) != 0 ||
	    mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_UIDNEXT) != 0 ||
	    mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_MESSAGES) != 0 ||
	    ((c->caps & IMAP_CAP_CONDSTORE) &&
	     mailimap_status_att_list_add(atts, MAILIMAP_STATUS_ATT_HIGHESTMODSEQ) != 0)) {
		if (atts)
			mailimap_status_att_list_free(atts);
		free(wire);
		return nomem(c);
	}
	struct mailimap_mailbox_data_status *st = NULL;
	int r = mailimap_status(c->s, wire, atts, &st);
	mailimap_status_att_list_free(atts);
	free(wire);
	if (r != MAILIMAP_NO_ERROR) {
		if (st)
			mailimap_mailbox_data_status_free(st);
		return lib_fail(c, r, "STATUS");
	}
	for (clistiter *it = st && st->st_info_list ? clist_begin(st->st_info_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_status_info *si = clist_content(it);
		switch (si->st_att) {
		case MAILIMAP_STATUS_ATT_UIDVALIDITY:
			info->uidvalidity = si->st_value;
			break;
		case MAILIMAP_STATUS_ATT_UIDNEXT:
			info->uidnext = si->st_value;
			break;
		case MAILIMAP_STATUS_ATT_MESSAGES:
			info->exists = si->st_value;
			break;
		default:
			if (si->st_ext_data &&
			    si->st_ext_data->ext_extension->ext_id == MAILIMAP_EXTENSION_CONDSTORE &&
			    si->st_ext_data->ext_type == MAILIMAP_CONDSTORE_TYPE_STATUS_INFO) {
				const struct mailimap_condstore_status_info *cs =
					si->st_ext_data->ext_data;
				info->highestmodseq = cs->cs_highestmodseq_value;
			}
			break;
		}
	}
	if (st)
		mailimap_mailbox_data_status_free(st);
	return 0;
}

/* ---- flags ------------------------------------------------------------------- */

/* An IMAP atom (RFC 3501 9), as a keyword or a flag name must be. */
static int atom_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 100)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || strchr("(){%*\"\\]", *s))
			return 0;
	return 1;
}

static struct mailimap_flag *flag_new(const char *f)
{
	if (f[0] == '\\') {
		static const struct {
			const char *name;
			struct mailimap_flag *(*make)(void);
		} sys[] = {
			{ "Seen", mailimap_flag_new_seen },       { "Answered", mailimap_flag_new_answered },
			{ "Flagged", mailimap_flag_new_flagged }, { "Deleted", mailimap_flag_new_deleted },
			{ "Draft", mailimap_flag_new_draft },
		};
		for (size_t i = 0; i < ARRAY_SIZE(sys); i++)
			if (strcasecmp(f + 1, sys[i].name) == 0)
				return sys[i].make();
		if (!atom_ok(f + 1))
			return NULL;
		char *ext = strdup(f + 1);
		struct mailimap_flag *fl = ext ? mailimap_flag_new_flag_extension(ext) : NULL;
		if (!fl)
			free(ext);
		return fl;
	}
	if (!atom_ok(f))
		return NULL;
	char *kw = strdup(f);
	struct mailimap_flag *fl = kw ? mailimap_flag_new_flag_keyword(kw) : NULL;
	if (!fl)
		free(kw);
	return fl;
}

/* A libetpan flag list; NULL with the error set. */
static struct mailimap_flag_list *flag_list_new(struct imap *c, const char *const *flags,
						size_t nflags)
{
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	if (!fl) {
		nomem(c);
		return NULL;
	}
	for (size_t i = 0; i < nflags; i++) {
		struct mailimap_flag *f = flag_new(flags[i]);
		if (!f || mailimap_flag_list_add(fl, f) != 0) {
			if (f)
				mailimap_flag_free(f);
			mailimap_flag_list_free(fl);
			if (atom_ok(flags[i][0] == '\\' ? flags[i] + 1 : flags[i]))
				nomem(c);
			else
				set_err(c, IMAP_ERR_BAD, "not a valid IMAP flag or keyword: \"%.40s\"",
				     flags[i]);
			return NULL;
		}
	}
	return fl;
}

/* ---- FETCH ------------------------------------------------------------------- */

/* What one FETCH response says about a message, pointing into libetpan's
 * structures (valid until the fetch list is freed). */
struct fetched {
	uint32_t uid;
	int has_size;
	uint32_t size;
	time_t internaldate;
	uint64_t modseq;
	const struct mailimap_msg_att_dynamic *flags;
	const char *body;
	size_t body_len;
	int has_body;
};

static time_t date_to_time(const struct mailimap_date_time *d)
{
	struct tm tm = { 0 };
	tm.tm_year = d->dt_year - 1900;
	tm.tm_mon = d->dt_month - 1;
	tm.tm_mday = d->dt_day;
	tm.tm_hour = d->dt_hour;
	tm.tm_min = d->dt_min;
	tm.tm_sec = d->dt_sec;
	int z = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	long off = (long)(z / 100) * 3600 + (long)(z % 100) * 60;
	return timegm(&tm) - (d->dt_zone < 0 ? -off : off);
}

static void fetched_read(const struct mailimap_msg_att *att, struct fetched *f)
{
	memset(f, 0, sizeof *f);
	for (clistiter *it = clist_begin(att->att_list); it; it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
			f->flags = item->att_data.att_dyn;
		} else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC) {
			const struct mailimap_msg_att_static *st = item->att_data.att_static;
			switch (st->att_type) {
			case MAILIMAP_MSG_ATT_UID:
				f->uid = st->att_data.att_uid;
				break;
			case MAILIMAP_MSG_ATT_RFC822_SIZE:
				f->size = st->att_data.att_rfc822_size;
				f->has_size = 1;
				break;
			case MAILIMAP_MSG_ATT_INTERNALDATE:
				if (st->att_data.att_internal_date)
					f->internaldate = date_to_time(st->att_data.att_internal_date);
				break;
			case MAILIMAP_MSG_ATT_BODY_SECTION:
				if (st->att_data.att_body_section) {
					f->body = st->att_data.att_body_section->sec_body_part;
					f->body_len = st->att_data.att_body_section->sec_length;
					f->has_body = 1;
				}
				break;
			}
		} else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_EXTENSION) {
			const struct mailimap_extension_data *ext = item->att_data.att_extension_data;
			if (ext && ext->ext_extension->ext_id == MAILIMAP_EXTENSION_CONDSTORE &&
			    ext->ext_type == MAILIMAP_CONDSTORE_TYPE_FETCH_DATA) {
				const struct mailimap_condstore_fetch_mod_resp *m = ext->ext_data;
				f->modseq = m->cs_modseq_value;
			}
		}
	}
}

static int cmp_fetched(const void *a, const void *b)
{
	const struct fetched *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/*
 * The responses to our UIDs that carry what we asked (unsolicited FETCH
 * responses about flags of other messages are dropped), sorted by UID, one
 * per UID. *out (caller frees) gets *nout entries.
 */
static int fetched_list(clist *list, const uint32_t *want, size_t nwant, int need_body,
			struct fetched **out, size_t *nout)
{
	size_t cap = list ? (size_t)clist_count(list) : 0, k = 0;
	struct fetched *v = malloc((cap ? cap : 1) * sizeof *v);
	if (!v)
		return -1;
	for (clistiter *it = list ? clist_begin(list) : NULL; it; it = clist_next(it)) {
		fetched_read(clist_content(it), &v[k]);
		if (v[k].uid && v[k].has_size && (!need_body || v[k].has_body) &&
		    uid_in(want, nwant, v[k].uid))
			k++;
	}
	qsort(v, k, sizeof *v, cmp_fetched);
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (m == 0 || v[m - 1].uid != v[i].uid)
			v[m++] = v[i];
	*out = v;
	*nout = m;
	return 0;
}

/* Flags as strings: system flags are literals, keywords point into
 * libetpan's list, "\\Ext" flags are built in owned (freed by the caller). */
static int flags_strings(const struct mailimap_msg_att_dynamic *dyn, const char ***out,
			 size_t *n, char ***owned, size_t *nowned)
{
	size_t cap = dyn && dyn->att_list ? (size_t)clist_count(dyn->att_list) : 0;
	*out = calloc(cap ? cap : 1, sizeof **out);
	*owned = calloc(cap ? cap : 1, sizeof **owned);
	*n = *nowned = 0;
	if (!*out || !*owned)
		return -1;
	for (clistiter *it = cap ? clist_begin(dyn->att_list) : NULL; it; it = clist_next(it)) {
		const struct mailimap_flag_fetch *ff = clist_content(it);
		if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER || !ff->fl_flag)
			continue;   /* \Recent is the session's, not the message's */
		const struct mailimap_flag *f = ff->fl_flag;
		const char *s = NULL;
		switch (f->fl_type) {
		case MAILIMAP_FLAG_ANSWERED: s = "\\Answered"; break;
		case MAILIMAP_FLAG_FLAGGED: s = "\\Flagged"; break;
		case MAILIMAP_FLAG_DELETED: s = "\\Deleted"; break;
		case MAILIMAP_FLAG_SEEN: s = "\\Seen"; break;
		case MAILIMAP_FLAG_DRAFT: s = "\\Draft"; break;
		case MAILIMAP_FLAG_KEYWORD: s = f->fl_data.fl_keyword; break;
		case MAILIMAP_FLAG_EXTENSION:
			if (f->fl_data.fl_extension) {
				size_t l = strlen(f->fl_data.fl_extension);
				char *e = malloc(l + 2);
				if (!e)
					return -1;
				e[0] = '\\';
				memcpy(e + 1, f->fl_data.fl_extension, l + 1);
				(*owned)[(*nowned)++] = e;
				s = e;
			}
			break;
		}
		if (s)
			(*out)[(*n)++] = s;
	}
	return 0;
}

/* The unfolded, trimmed value of the first header field name in a header
 * block (caller frees); NULL when absent, empty or on ENOMEM. */
static char *header_value(const char *h, size_t len, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < len;) {
		size_t eol = i;
		while (eol < len && h[eol] != '\n')
			eol++;
		if (eol - i > nl && strncasecmp(h + i, name, nl) == 0 && h[i + nl] == ':') {
			char *v = malloc(MSGID_MAX + 1);
			if (!v)
				return NULL;
			size_t k = 0;
			for (size_t j = i + nl + 1; j < len && k < MSGID_MAX; j++) {
				if (h[j] == '\r')
					continue;
				if (h[j] == '\n') {
					if (j + 1 < len && (h[j + 1] == ' ' || h[j + 1] == '\t'))
						continue;   /* folded */
					break;
				}
				if (k == 0 && (h[j] == ' ' || h[j] == '\t'))
					continue;
				v[k++] = h[j] == '\t' ? ' ' : h[j];
			}
			while (k && v[k - 1] == ' ')
				k--;
			v[k] = '\0';
			if (!v[0]) {
				free(v);
				return NULL;
			}
			return v;
		}
		i = eol + 1;
	}
	return NULL;
}

/* Calls fn for one fetched message; 1 when fn asks to stop, -1 on ENOMEM. */
static int deliver(struct imap *c, const struct fetched *f, int header_only, int msgid,
		   imap_msg_fn fn, void *ctx)
{
	struct imap_msg m = { 0 };
	const char **flags;
	char **owned;
	size_t nflags, nowned;
	char *mid = NULL;
	int ret = -1;
	if (flags_strings(f->flags, &flags, &nflags, &owned, &nowned) < 0)
		goto out;
	m.uid = f->uid;
	m.size = f->size;
	m.internaldate = f->internaldate;
	m.modseq = f->modseq;
	m.flags = flags;
	m.nflags = nflags;
	if (msgid) {
		if (f->body && f->body_len)
			mid = header_value(f->body, f->body_len, "Message-ID");
		m.message_id = mid;
	} else if (f->has_body) {
		m.data = f->body ? f->body : "";
		m.len = f->body ? f->body_len : 0;
		m.header_only = header_only;
	}
	ret = fn(ctx, &m) ? 1 : 0;
out:
	free(mid);
	for (size_t i = 0; owned && i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(flags);
	if (ret < 0)
		nomem(c);
	return ret;
}

enum body_kind { BODY_NONE, BODY_MSGID, BODY_WHOLE, BODY_HEADER };

/* UID FETCH of a set, with the attributes every caller wants. */
static int fetch_set(struct imap *c, struct mailimap_set *set, enum body_kind body,
		     uint64_t changedsince, clist **result)
{
	*result = NULL;
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	if (!ft)
		return nomem(c);
	struct mailimap_fetch_att *atts[6] = {
		mailimap_fetch_att_new_uid(), mailimap_fetch_att_new_flags(),
		mailimap_fetch_att_new_internaldate(), mailimap_fetch_att_new_rfc822_size(),
	};
	size_t na = 4;
	if (c->condstore)
		atts[na++] = mailimap_fetch_att_new_modseq();
	if (body != BODY_NONE) {
		struct mailimap_section *sec = NULL;
		if (body == BODY_WHOLE) {
			sec = mailimap_section_new(NULL);
		} else if (body == BODY_HEADER) {
			sec = mailimap_section_new_header();
		} else {
			clist *names = clist_new();
			char *name = strdup("Message-ID");
			struct mailimap_header_list *hl = NULL;
			if (names && name && clist_append(names, name) == 0) {
				name = NULL;
				hl = mailimap_header_list_new(names);
				if (hl)
					names = NULL;
			}
			free(name);
			if (names) {
				for (clistiter *it = clist_begin(names); it; it = clist_next(it))
					free(clist_content(it));
				clist_free(names);
			}
			sec = hl ? mailimap_section_new_header_fields(hl) : NULL;
			if (hl && !sec)
				mailimap_header_list_free(hl);
		}
		atts[na] = sec ? mailimap_fetch_att_new_body_peek_section(sec) : NULL;
		if (sec && !atts[na])
			mailimap_section_free(sec);
		na++;
	}
	int ok = 1;
	for (size_t i = 0; i < na; i++) {
		if (ok && atts[i] &&
		    mailimap_fetch_type_new_fetch_att_list_add(ft, atts[i]) == MAILIMAP_NO_ERROR)
			continue;
		ok = 0;
		if (atts[i])
			mailimap_fetch_att_free(atts[i]);
	}
	if (!ok) {
		mailimap_fetch_type_free(ft);
		return nomem(c);
	}
	int r = mailimap_uid_fetch_changedsince(c->s, set, ft,
						c->condstore ? changedsince : 0, result);
	mailimap_fetch_type_free(ft);
	if (r != MAILIMAP_NO_ERROR) {
		if (*result)
			mailimap_fetch_list_free(*result);
		*result = NULL;
		return lib_fail(c, r, "UID FETCH");
	}
	return 0;
}

/* SEARCH results of the last command: plain, or within a CONDSTORE reply
 * ("* SEARCH 2 5 (MODSEQ 917)"), taken from the session (caller frees). */
static int take_search_result(struct imap *c, uint32_t **uids, size_t *n)
{
	struct mailimap_response_info *ri = c->s->imap_response_info;
	clist *res = ri ? ri->rsp_search_result : NULL;
	struct mailimap_condstore_search *cs = NULL;
	for (clistiter *it = ri && ri->rsp_extension_list ? clist_begin(ri->rsp_extension_list)
							  : NULL;
	     it && !res; it = clist_next(it)) {
		struct mailimap_extension_data *ext = clist_content(it);
		if (ext->ext_extension->ext_id == MAILIMAP_EXTENSION_CONDSTORE &&
		    ext->ext_type == MAILIMAP_CONDSTORE_TYPE_SEARCH_DATA && ext->ext_data) {
			cs = ext->ext_data;
			res = cs->cs_search_result;
		}
	}
	size_t cnt = res ? (size_t)clist_count(res) : 0;
	uint32_t *raw = malloc((cnt ? cnt : 1) * sizeof *raw);
	if (!raw)
		return nomem(c);
	size_t k = 0;
	for (clistiter *it = res ? clist_begin(res) : NULL; it; it = clist_next(it))
		raw[k++] = *(uint32_t *)clist_content(it);
	*uids = uids_sorted(raw, k, n);
	free(raw);
	return *uids ? 0 : nomem(c);
}

int imap_search(struct imap *c, const char *criteria, uint32_t **uids, size_t *n)
{
	*uids = NULL;
	*n = 0;
	if (usable(c) < 0)
		return -1;
	size_t len = strlen(criteria);
	if (len == 0 || len > SEARCH_MAX)
		return set_err(c, IMAP_ERR_BAD, "search criteria empty or longer than %d bytes",
			    SEARCH_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)criteria[i] < 0x20 || criteria[i] == 0x7f)
			return set_err(c, IMAP_ERR_BAD, "control character in the search criteria");
	if (c->s->imap_state != MAILIMAP_STATE_SELECTED)
		return lib_fail(c, MAILIMAP_ERROR_BAD_STATE, "UID SEARCH");
	char *line = malloc(len + 12);
	if (!line)
		return nomem(c);
	memcpy(line, "UID SEARCH ", 11);
	memcpy(line + 11, criteria, len + 1);
	int r = raw_command(c->s, line);
	free(line);
	if (r != MAILIMAP_NO_ERROR)
		return lib_fail(c, r, "UID SEARCH");
	return take_search_result(c, uids, n);
}

/*
 * The UIDs above after whose flags changed since a modseq (sorted, caller
 * frees), with UID FETCH (UID) (CHANGEDSINCE): libetpan 1.9.4 cannot parse
 * the answer to SEARCH MODSEQ ("* SEARCH 3 (MODSEQ 5)").
 */
static int changed_uids(struct imap *c, uint32_t after, uint64_t changedsince, uint32_t **uids,
			size_t *n)
{
	*uids = NULL;
	*n = 0;
	struct mailimap_set *set = mailimap_set_new_interval(after + 1, 0);   /* N:* */
	struct mailimap_fetch_att *att = set ? mailimap_fetch_att_new_uid() : NULL;
	struct mailimap_fetch_type *ft = att ? mailimap_fetch_type_new_fetch_att(att) : NULL;
	if (!ft) {
		if (att)
			mailimap_fetch_att_free(att);
		if (set)
			mailimap_set_free(set);
		return nomem(c);
	}
	clist *list = NULL;
	int r = mailimap_uid_fetch_changedsince(c->s, set, ft, changedsince, &list);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		if (list)
			mailimap_fetch_list_free(list);
		return lib_fail(c, r, "UID FETCH (CHANGEDSINCE)");
	}
	size_t cnt = list ? (size_t)clist_count(list) : 0, k = 0;
	uint32_t *raw = malloc((cnt ? cnt : 1) * sizeof *raw);
	if (raw) {
		for (clistiter *it = list ? clist_begin(list) : NULL; it; it = clist_next(it)) {
			struct fetched f;
			fetched_read(clist_content(it), &f);
			if (f.uid)
				raw[k++] = f.uid;
		}
		*uids = uids_sorted(raw, k, n);
		free(raw);
	}
	if (list)
		mailimap_fetch_list_free(list);
	return *uids ? 0 : nomem(c);
}

/* Fetches the metadata of want[0..count) in chunks; see imap_fetch_meta. */
static int fetch_meta_list(struct imap *c, const uint32_t *want, size_t count, int with_msgid,
			   uint64_t changedsince, imap_msg_fn fn, void *ctx)
{
	int ret = 0;
	for (size_t done = 0; done < count && ret == 0;) {
		size_t used;
		struct mailimap_set *set = set_chunk(want + done, count - done, &used);
		if (!set) {
			ret = nomem(c);
			break;
		}
		clist *list;
		ret = fetch_set(c, set, with_msgid ? BODY_MSGID : BODY_NONE, changedsince, &list);
		mailimap_set_free(set);
		if (ret < 0)
			break;
		struct fetched *f;
		size_t nf;
		if (fetched_list(list, want + done, used, with_msgid, &f, &nf) < 0) {
			mailimap_fetch_list_free(list);
			ret = nomem(c);
			break;
		}
		for (size_t i = 0; i < nf && ret == 0; i++) {
			int d = deliver(c, &f[i], 0, with_msgid, fn, ctx);
			if (d < 0)
				ret = -1;
			else if (d > 0)
				done = count;   /* the caller stops */
		}
		free(f);
		mailimap_fetch_list_free(list);
		if (done < count)
			done += used;
	}
	return ret;
}

int imap_fetch_meta_uids(struct imap *c, const uint32_t *uids, size_t n, int with_msgid,
			 imap_msg_fn fn, void *ctx)
{
	if (usable(c) < 0)
		return -1;
	return fetch_meta_list(c, uids, n, with_msgid, 0, fn, ctx);
}

int imap_fetch_meta(struct imap *c, uint32_t after, size_t max, int with_msgid,
		    uint64_t changedsince, imap_msg_fn fn, void *ctx)
{
	if (usable(c) < 0)
		return -1;
	if (max == 0 || after == UINT32_MAX)
		return 0;
	/* UIDs first, so that at most max messages are fetched however many
	 * arrived (the first run on a full mailbox). */
	uint32_t *uids;
	size_t n;
	if (changedsince && c->condstore) {
		if (changed_uids(c, after, changedsince, &uids, &n) < 0)
			return -1;
	} else {
		char crit[32];
		snprintf(crit, sizeof crit, "UID %u:*", after + 1);
		if (imap_search(c, crit, &uids, &n) < 0)
			return -1;
	}
	/* "N:*" includes the highest UID even when it is below N. */
	size_t first = 0;
	while (first < n && uids[first] <= after)
		first++;
	size_t count = n - first < max ? n - first : max;
	int ret = fetch_meta_list(c, uids + first, count, with_msgid, changedsince, fn, ctx);
	free(uids);
	return ret;
}

/* Merges the whole messages and the headers of one batch in UID order. */
static int deliver_merged(struct imap *c, const struct fetched *a, size_t na,
			  const struct fetched *b, size_t nb, imap_msg_fn fn, void *ctx)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int from_a = j >= nb || (i < na && a[i].uid < b[j].uid);
		int d = from_a ? deliver(c, &a[i++], 0, 0, fn, ctx)
			       : deliver(c, &b[j++], 1, 0, fn, ctx);
		if (d != 0)
			return d;
	}
	return 0;
}

/* One batch: sizes are known; the small ones whole, the others their header. */
static int fetch_batch(struct imap *c, const struct fetched *meta, size_t n, size_t max_size,
		       imap_msg_fn fn, void *ctx)
{
	uint32_t *whole = malloc((n ? n : 1) * sizeof *whole);
	uint32_t *header = malloc((n ? n : 1) * sizeof *header);
	size_t nw = 0, nh = 0;
	clist *lw = NULL, *lh = NULL;
	struct fetched *fw = NULL, *fh = NULL;
	size_t nfw = 0, nfh = 0;
	int ret = -1;
	if (!whole || !header) {
		nomem(c);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (meta[i].size <= max_size)
			whole[nw++] = meta[i].uid;
		else
			header[nh++] = meta[i].uid;
	}
	/* Each part has at most SET_RANGES_MAX UIDs (the caller cut the
	 * batch), hence ranges: one set_chunk() takes them all. */
	struct {
		uint32_t *uids;
		size_t n;
		enum body_kind kind;
		clist **list;
		struct fetched **f;
		size_t *nf;
	} parts[2] = {
		{ whole, nw, BODY_WHOLE, &lw, &fw, &nfw },
		{ header, nh, BODY_HEADER, &lh, &fh, &nfh },
	};
	for (int p = 0; p < 2; p++) {
		if (!parts[p].n)
			continue;
		size_t used;
		struct mailimap_set *set = set_chunk(parts[p].uids, parts[p].n, &used);
		if (!set) {
			nomem(c);
			goto out;
		}
		int r = fetch_set(c, set, parts[p].kind, 0, parts[p].list);
		mailimap_set_free(set);
		if (r < 0)
			goto out;
		if (fetched_list(*parts[p].list, parts[p].uids, parts[p].n, 1, parts[p].f,
				 parts[p].nf) < 0) {
			nomem(c);
			goto out;
		}
	}
	ret = deliver_merged(c, fw, nfw, fh, nfh, fn, ctx);
out:
	free(fw);
	free(fh);
	if (lw)
		mailimap_fetch_list_free(lw);
	if (lh)
		mailimap_fetch_list_free(lh);
	free(whole);
	free(header);
	return ret;
}

int imap_fetch_bodies(struct imap *c, const uint32_t *uids, size_t n, size_t max_size,
		      imap_msg_fn fn, void *ctx)
{
	if (usable(c) < 0)
		return -1;
	size_t nv;
	uint32_t *v = uids_sorted(uids, n, &nv);
	if (!v)
		return nomem(c);
	int ret = 0;
	/* Sizes first: a message above max_size must never be fetched whole. */
	for (size_t done = 0; done < nv && ret == 0;) {
		size_t used;
		struct mailimap_set *set = set_chunk(v + done, nv - done, &used);
		if (!set) {
			ret = nomem(c);
			break;
		}
		clist *list;
		ret = fetch_set(c, set, BODY_NONE, 0, &list);
		mailimap_set_free(set);
		if (ret < 0)
			break;
		struct fetched *meta;
		size_t nm;
		if (fetched_list(list, v + done, used, 0, &meta, &nm) < 0) {
			mailimap_fetch_list_free(list);
			ret = nomem(c);
			break;
		}
		/* Batches of at most BODY_BATCH_MAX bytes fetched whole, and of
		 * at most SET_RANGES_MAX messages, so that each of its two sets
		 * (whole, header only) fits in one command. */
		for (size_t i = 0; i < nm && ret == 0;) {
			size_t j = i;
			uint64_t bytes = 0;
			while (j < nm && j - i < SET_RANGES_MAX) {
				uint64_t sz = meta[j].size <= max_size ? meta[j].size : 0;
				if (j > i && bytes + sz > BODY_BATCH_MAX)
					break;
				bytes += sz;
				j++;
			}
			ret = fetch_batch(c, meta + i, j - i, max_size, fn, ctx);
			i = j;
		}
		free(meta);
		mailimap_fetch_list_free(list);
		done += used;
	}
	free(v);
	/* fetch_batch returned 1: the caller stopped us. */
	return ret > 0 ? 0 : ret;
}

/* ---- STORE, MOVE, EXPUNGE, APPEND --------------------------------------------- */

int imap_store_flags(struct imap *c, const uint32_t *uids, size_t n,
		     const char *const *flags, size_t nflags, int add)
{
	if (usable(c) < 0)
		return -1;
	if (n == 0 || nflags == 0)
		return 0;
	size_t nv;
	uint32_t *v = uids_sorted(uids, n, &nv);
	if (!v)
		return nomem(c);
	int ret = 0;
	for (size_t done = 0; done < nv && ret == 0;) {
		struct mailimap_flag_list *fl = flag_list_new(c, flags, nflags);
		if (!fl) {
			ret = -1;
			break;
		}
		struct mailimap_store_att_flags *sa =
			add ? mailimap_store_att_flags_new_add_flags_silent(fl)
			    : mailimap_store_att_flags_new_remove_flags_silent(fl);
		if (!sa) {
			mailimap_flag_list_free(fl);
			ret = nomem(c);
			break;
		}
		size_t used;
		struct mailimap_set *set = set_chunk(v + done, nv - done, &used);
		if (!set) {
			mailimap_store_att_flags_free(sa);
			ret = nomem(c);
			break;
		}
		int r = mailimap_uid_store(c->s, set, sa);
		mailimap_set_free(set);
		mailimap_store_att_flags_free(sa);
		if (r != MAILIMAP_NO_ERROR)
			ret = lib_fail(c, r, "UID STORE");
		done += used;
	}
	free(v);
	return ret;
}

static int expunge_set(struct imap *c, struct mailimap_set *set)
{
	int r = mailimap_uid_expunge(c->s, set);
	return r == MAILIMAP_NO_ERROR ? 0 : lib_fail(c, r, "UID EXPUNGE");
}

int imap_expunge_uids(struct imap *c, const uint32_t *uids, size_t n)
{
	if (usable(c) < 0)
		return -1;
	if (!(c->caps & IMAP_CAP_UIDPLUS))
		return set_err(c, IMAP_ERR_UNSUPPORTED,
			    "no UIDPLUS: UID EXPUNGE impossible (and a bare EXPUNGE is never sent)");
	size_t nv;
	uint32_t *v = uids_sorted(uids, n, &nv);
	if (!v)
		return nomem(c);
	int ret = 0;
	for (size_t done = 0; done < nv && ret == 0;) {
		size_t used;
		struct mailimap_set *set = set_chunk(v + done, nv - done, &used);
		if (!set) {
			ret = nomem(c);
			break;
		}
		ret = expunge_set(c, set);
		mailimap_set_free(set);
		done += used;
	}
	free(v);
	return ret;
}

/* Fills dest_uids from a COPYUID source/destination pair. */
static void map_copyuid(const uint32_t *uids, size_t n, uint32_t *dest_uids,
			const struct mailimap_set *src, const struct mailimap_set *dst,
			size_t chunk)
{
	if (!src || !dst || !dest_uids)
		return;
	uint32_t *s = malloc(chunk * sizeof *s), *d = malloc(chunk * sizeof *d);
	long ns = s ? set_expand(src, s, chunk) : -1;
	long nd = d ? set_expand(dst, d, chunk) : -1;
	if (ns > 0 && ns == nd)
		for (size_t i = 0; i < n; i++)
			for (long k = 0; k < ns; k++)
				if (s[k] == uids[i]) {
					dest_uids[i] = d[k];
					break;
				}
	free(s);
	free(d);
}

/* MOVE, or COPY + \Deleted + UID EXPUNGE, of one chunk. */
static int move_set(struct imap *c, struct mailimap_set *set, size_t count, const char *wire,
		    const uint32_t *uids, size_t n, uint32_t *dest_uids)
{
	uint32_t uidvalidity = 0;
	struct mailimap_set *src = NULL, *dst = NULL;
	int r;
	if (c->caps & IMAP_CAP_MOVE) {
		r = mailimap_uidplus_uid_move(c->s, set, wire, &uidvalidity, &src, &dst);
		if (r != MAILIMAP_NO_ERROR)
			return lib_fail(c, r, "UID MOVE");
	} else {
		r = mailimap_uidplus_uid_copy(c->s, set, wire, &uidvalidity, &src, &dst);
		if (r != MAILIMAP_NO_ERROR)
			return lib_fail(c, r, "UID COPY");
	}
	map_copyuid(uids, n, dest_uids, src, dst, count);
	if (src)
		mailimap_set_free(src);
	if (dst)
		mailimap_set_free(dst);
	if (c->caps & IMAP_CAP_MOVE)
		return 0;
	fault_point("copied");

	/* The copy is there: now the originals, and only them. */
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	struct mailimap_flag *del = fl ? mailimap_flag_new_deleted() : NULL;
	if (!del || mailimap_flag_list_add(fl, del) != 0) {
		if (del)
			mailimap_flag_free(del);
		if (fl)
			mailimap_flag_list_free(fl);
		return nomem(c);
	}
	struct mailimap_store_att_flags *sa = mailimap_store_att_flags_new_add_flags_silent(fl);
	if (!sa) {
		mailimap_flag_list_free(fl);
		return nomem(c);
	}
	r = mailimap_uid_store(c->s, set, sa);
	mailimap_store_att_flags_free(sa);
	if (r != MAILIMAP_NO_ERROR)
		return lib_fail(c, r, "copied, but UID STORE +FLAGS (\\Deleted)");
	/* Without UIDPLUS the originals stay flagged \Deleted: a bare
	 * EXPUNGE would also remove what volunteers flagged. */
	if (c->caps & IMAP_CAP_UIDPLUS)
		return expunge_set(c, set);
	return 0;
}

int imap_move(struct imap *c, const uint32_t *uids, size_t n, const char *utf8_dest,
	      uint32_t *dest_uids)
{
	if (dest_uids)
		memset(dest_uids, 0, n * sizeof *dest_uids);
	if (usable(c) < 0)
		return -1;
	if (n == 0)
		return 0;
	char *wire = imap_wire_name(c, utf8_dest);
	if (!wire)
		return errno == ENOMEM ? nomem(c) : set_err(c, IMAP_ERR_BAD, "folder name not valid");
	size_t nv;
	uint32_t *v = uids_sorted(uids, n, &nv);
	int ret = v ? 0 : nomem(c);
	for (size_t done = 0; v && done < nv && ret == 0;) {
		size_t used;
		struct mailimap_set *set = set_chunk(v + done, nv - done, &used);
		if (!set) {
			ret = nomem(c);
			break;
		}
		ret = move_set(c, set, used, wire, uids, n, dest_uids);
		mailimap_set_free(set);
		done += used;
	}
	free(v);
	free(wire);
	return ret;
}

int imap_append(struct imap *c, const char *utf8_folder, const char *data, size_t len,
		const char *const *flags, size_t nflags, time_t internaldate, uint32_t *new_uid)
{
	if (new_uid)
		*new_uid = 0;
	if (usable(c) < 0)
		return -1;
	char *wire = imap_wire_name(c, utf8_folder);
	if (!wire)
		return errno == ENOMEM ? nomem(c) : set_err(c, IMAP_ERR_BAD, "folder name not valid");
	struct mailimap_flag_list *fl = NULL;
	struct mailimap_date_time *dt = NULL;
	int ret = -1;
	if (nflags && !(fl = flag_list_new(c, flags, nflags)))
		goto out;
	if (internaldate) {
		struct tm tm;
		if (!gmtime_r(&internaldate, &tm)) {
			set_err(c, IMAP_ERR_BAD, "internal date out of range");
			goto out;
		}
		dt = mailimap_date_time_new(tm.tm_mday, tm.tm_mon + 1, tm.tm_year + 1900,
					    tm.tm_hour, tm.tm_min, tm.tm_sec, 0);
		if (!dt) {
			nomem(c);
			goto out;
		}
	}
	uint32_t uidvalidity = 0, uid = 0;
	int r = mailimap_uidplus_append(c->s, wire, fl, dt, data, len, &uidvalidity, &uid);
	if (r != MAILIMAP_NO_ERROR) {
		lib_fail(c, r, "APPEND");
		goto out;
	}
	if (new_uid)
		*new_uid = uid;
	ret = 0;
out:
	if (fl)
		mailimap_flag_list_free(fl);
	if (dt)
		mailimap_date_time_free(dt);
	free(wire);
	return ret;
}

int imap_noop(struct imap *c)
{
	if (usable(c) < 0)
		return -1;
	int r = mailimap_noop(c->s);
	return r == MAILIMAP_NO_ERROR ? 0 : lib_fail(c, r, "NOOP");
}

/* ---- IDLE ---------------------------------------------------------------------- */

/* After DONE: did the server report EXISTS, EXPUNGE or FETCH? */
static int idle_changes(const struct imap *c, uint32_t exists_before)
{
	const struct mailimap_selection_info *sel = c->s->imap_selection_info;
	const struct mailimap_response_info *ri = c->s->imap_response_info;
	if (sel && (sel->sel_has_exists || sel->sel_exists != exists_before))
		return 1;
	if (ri && ((ri->rsp_expunged && clist_count(ri->rsp_expunged)) ||
		   (ri->rsp_fetch_list && clist_count(ri->rsp_fetch_list))))
		return 1;
	return 0;
}

int imap_idle(struct imap *c, int timeout_ms, volatile int *stop)
{
	if (usable(c) < 0)
		return -1;
	if (!(c->caps & IMAP_CAP_IDLE))
		return set_err(c, IMAP_ERR_UNSUPPORTED, "the server does not offer IDLE");
	if (c->s->imap_state != MAILIMAP_STATE_SELECTED || !c->s->imap_selection_info)
		return lib_fail(c, MAILIMAP_ERROR_BAD_STATE, "IDLE");
	double deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (stop && *stop)
			return 0;
		struct mailimap_selection_info *sel = c->s->imap_selection_info;
		uint32_t exists_before = sel->sel_exists;
		sel->sel_has_exists = 0;
		int r = mailimap_idle(c->s);
		if (r != MAILIMAP_NO_ERROR)
			return lib_fail(c, r, "IDLE");
		int fd = mailimap_idle_get_fd(c->s);
		/* A response may already sit in libetpan's buffer, read with
		 * the "+ idling" line. */
		int readable = c->s->imap_stream->read_buffer_len > 0;
		while (!readable && !(stop && *stop)) {
			double left = deadline - now_ms();
			if (left <= 0)
				break;
			struct pollfd p = { fd, POLLIN, 0 };
			int pr = poll(&p, 1, left < IDLE_SLICE_MS ? (int)left + 1 : IDLE_SLICE_MS);
			if (pr > 0)
				readable = 1;
			else if (pr < 0 && errno != EINTR)
				readable = 1;   /* let DONE find out what is wrong */
		}
		/* DONE reads what the server said since IDLE; libetpan's parser
		 * files EXISTS, EXPUNGE and FETCH in the session. */
		r = mailimap_idle_done(c->s);
		if (r != MAILIMAP_NO_ERROR)
			return lib_fail(c, r, "IDLE (DONE)");
		if (idle_changes(c, exists_before))
			return 1;
		/* A keep-alive ("* OK Still here"): IDLE again until the end. */
		if (!readable || now_ms() >= deadline)
			return 0;
	}
}
