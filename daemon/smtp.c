/*
 * smtp: one message to a few recipients through libcurl's SMTP client.
 *
 * libcurl does the protocol, TLS (GnuTLS here), AUTH and the dot-stuffing of
 * lines that start with '.'; it only recognises line starts after CRLF,
 * though, so the message is given to it with every bare LF turned into CRLF
 * (streamed from the caller's buffer, never copied). The SMTP reply that
 * failed and the command it answered are taken from libcurl's protocol trace
 * (CURLOPT_DEBUGFUNCTION), so that an error can say "recipient 2 of 3" without
 * naming anybody; reply texts have their addresses blanked for the same
 * reason, since errors end up in the log.
 */
#include "daemon/smtp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/util.h"
#include "daemon/curl_dl.h"

#define SMTP_DEFAULT_TIMEOUT 60
#define SMTP_CONNECT_TIMEOUT 20
#define SMTP_MAX_ADDRESS 254      /* RFC 5321 4.5.3.1.3, less the brackets */
#define SMTP_REPLY_KEEP 160       /* bytes of the server's reply kept for err */

/* The message as libcurl reads it: bare LFs become CRLF on the fly. */
struct upload {
	const char *p;
	size_t len;
	size_t off;
	int pending_lf;   /* a CR was sent for a bare LF; the LF is owed */
};

/* What the protocol trace told us: the command in progress and the last reply. */
enum stage { ST_CONNECT, ST_EHLO, ST_STARTTLS, ST_AUTH, ST_MAIL, ST_RCPT, ST_DATA, ST_BODY };

struct trace {
	enum stage stage;
	int quitting;             /* QUIT sent: later replies are not the failure */
	size_t rcpt;              /* RCPT commands sent so far */
	int code;                 /* last reply code, 0 before any */
	char text[SMTP_REPLY_KEEP];
};

static size_t upload_read(char *out, size_t size, size_t nitems, void *ud)
{
	struct upload *u = ud;
	size_t room = size * nitems, n = 0;
	while (n < room) {
		if (u->pending_lf) {
			out[n++] = '\n';
			u->pending_lf = 0;
			continue;
		}
		if (u->off >= u->len)
			break;
		const char *s = u->p + u->off;
		size_t want = u->len - u->off;
		if (want > room - n)
			want = room - n;
		const char *nl = memchr(s, '\n', want);
		size_t run = nl ? (size_t)(nl - s) : want;
		memcpy(out + n, s, run);
		n += run;
		u->off += run;
		if (nl) {
			/* run < want, so there is room for one more byte */
			if (u->off > 0 && u->p[u->off - 1] == '\r') {
				out[n++] = '\n';
			} else {
				out[n++] = '\r';
				u->pending_lf = 1;
			}
			u->off++;
		}
	}
	return n;
}

/* The size on the wire (before dot-stuffing), for the SIZE extension. */
static size_t crlf_size(const char *p, size_t len)
{
	size_t n = len;
	for (const char *q = p, *end = p + len; (q = memchr(q, '\n', (size_t)(end - q))); q++)
		if (q == p || q[-1] != '\r')
			n++;
	return n;
}

static int has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && strncasecmp(s, prefix, k) == 0;
}

/* Keeps a reply's text for err: printable ASCII only, and any word holding an
 * '@' (an address, quoted back by most servers) replaced. */
static void keep_reply_text(struct trace *t, const char *s, size_t n)
{
	size_t o = 0, i = 0;
	while (i < n && o + 1 < sizeof t->text) {
		if (s[i] == '\r' || s[i] == '\n')
			break;
		size_t j = i;
		while (j < n && s[j] != ' ' && s[j] != '\r' && s[j] != '\n')
			j++;
		if (memchr(s + i, '@', j - i)) {
			static const char blank[] = "[address]";
			size_t k = sizeof blank - 1;
			if (o + k >= sizeof t->text)
				break;
			memcpy(t->text + o, blank, k);
			o += k;
		} else {
			for (; i < j && o + 1 < sizeof t->text; i++) {
				unsigned char c = (unsigned char)s[i];
				t->text[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
			}
		}
		i = j;
		if (i < n && s[i] == ' ' && o + 1 < sizeof t->text)
			t->text[o++] = s[i++];
	}
	t->text[o] = '\0';
}

/* libcurl's protocol trace. Commands are matched only in the order SMTP sends
 * them, so that an AUTH LOGIN continuation (base64) is never taken for one. */
static int trace_cb(CURL *h, curl_infotype type, char *data, size_t n, void *ud)
{
	struct trace *t = ud;
	if (t->quitting)
		return 0;
	if (type == CURLINFO_HEADER_OUT) {
		if (has_prefix(data, n, "QUIT"))
			t->quitting = 1;
		else if (has_prefix(data, n, "EHLO ") || has_prefix(data, n, "HELO "))
			t->stage = ST_EHLO;
		else if (has_prefix(data, n, "STARTTLS") && t->stage == ST_EHLO)
			t->stage = ST_STARTTLS;
		else if (has_prefix(data, n, "AUTH ") && t->stage == ST_EHLO)
			t->stage = ST_AUTH;
		else if (has_prefix(data, n, "MAIL FROM:"))
			t->stage = ST_MAIL;
		else if (has_prefix(data, n, "RCPT TO:") && (t->stage == ST_MAIL || t->stage == ST_RCPT)) {
			t->stage = ST_RCPT;
			t->rcpt++;
		} else if (has_prefix(data, n, "DATA") && t->stage == ST_RCPT)
			t->stage = ST_DATA;
	} else if (type == CURLINFO_HEADER_IN) {
		if (n >= 3 && isdigit((unsigned char)data[0]) && isdigit((unsigned char)data[1]) &&
		    isdigit((unsigned char)data[2])) {
			t->code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
			keep_reply_text(t, data + (n > 4 ? 4 : n), n > 4 ? n - 4 : 0);
			if (t->stage == ST_DATA && t->code == 354)
				t->stage = ST_BODY;
		}
	}
	return 0;
}

static const char *stage_name(const struct trace *t, size_t nrcpt, char *tmp, size_t tmpsz)
{
	switch (t->stage) {
	case ST_CONNECT: return "the connection";
	case ST_EHLO: return "EHLO";
	case ST_STARTTLS: return "STARTTLS";
	case ST_AUTH: return "authentication";
	case ST_MAIL: return "the sender (MAIL FROM)";
	case ST_RCPT:
		snprintf(tmp, tmpsz, "recipient %zu of %zu", t->rcpt, nrcpt);
		return tmp;
	case ST_DATA: return "DATA";
	case ST_BODY: return "the message";
	}
	return "?";
}

/* Whether retrying later may help, for failures without an SMTP reply code. */
static int curl_temporary(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_SSL_CONNECT_ERROR:   /* a handshake cut short */
	case CURLE_OUT_OF_MEMORY:
	case CURLE_AGAIN:
		return 1;
	default:
		/* certificate refused, STARTTLS not offered, login denied, bad
		 * URL or option: an administrator has to act */
		return 0;
	}
}

/* An address as it may go in MAIL FROM / RCPT TO: something@something,
 * without controls, spaces or angle brackets that would change the command. */
static int address_ok(const char *a)
{
	if (!a || !*a || strlen(a) > SMTP_MAX_ADDRESS || !strchr(a, '@'))
		return 0;
	for (const unsigned char *s = (const unsigned char *)a; *s; s++)
		if (*s <= ' ' || *s == 0x7f || *s == '<' || *s == '>')
			return 0;
	return 1;
}

/* The system store this libcurl was built with (Debian's GnuTLS build: a
 * directory, /etc/ssl/certs). */
static void system_store(CURL *h, const char **file, const char **dir)
{
	char *f = NULL, *d = NULL;
	curl_easy_getinfo(h, CURLINFO_CAINFO, &f);
	curl_easy_getinfo(h, CURLINFO_CAPATH, &d);
	*file = f;
	*dir = d;
}

static int set_options(CURL *h, const struct smtp_opts *o, struct curl_slist *rcpts,
		       struct upload *up, struct trace *tr, char *cerr, char *err, size_t errsz)
{
	const char *file = NULL, *dir = NULL;
	if (o->system_ca)
		system_store(h, &file, &dir);
	if (o->ca_file)
		file = o->ca_file;
	unsigned timeout = o->timeout_s ? o->timeout_s : SMTP_DEFAULT_TIMEOUT;
	unsigned ctimeout = timeout < SMTP_CONNECT_TIMEOUT ? timeout : SMTP_CONNECT_TIMEOUT;
	CURLcode rc = CURLE_OK;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(h, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, cerr);
	SET(CURLOPT_URL, o->url);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NOPROGRESS, 1L);
	SET(CURLOPT_TIMEOUT, (long)timeout);
	SET(CURLOPT_CONNECTTIMEOUT, (long)ctimeout);
	SET(CURLOPT_USE_SSL, o->tls == SMTP_TLS_NONE ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	/* Set both even when NULL: NULL drops libcurl's built-in default, so that
	 * without system_ca and ca_file nothing at all is trusted. */
	SET(CURLOPT_CAINFO, file);
	SET(CURLOPT_CAPATH, dir);
	if (o->username) {
		SET(CURLOPT_USERNAME, o->username);
		SET(CURLOPT_PASSWORD, o->password ? o->password : "");
	}
	SET(CURLOPT_MAIL_FROM, o->from);
	SET(CURLOPT_MAIL_RCPT, rcpts);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, upload_read);
	SET(CURLOPT_READDATA, up);
	SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)crlf_size(up->p, up->len));
	/* The trace only reaches the callback with VERBOSE on; nothing is printed. */
	SET(CURLOPT_DEBUGFUNCTION, trace_cb);
	SET(CURLOPT_DEBUGDATA, tr);
	SET(CURLOPT_VERBOSE, 1L);
#undef SET
	if (rc != CURLE_OK)
		return errf(err, errsz, "SMTP: cannot set up libcurl: %s", curl_easy_strerror(rc));
	return 0;
}

int smtp_send(const struct smtp_opts *opts, const char *const *rcpts, size_t n,
	      const char *data, size_t len, int *temporary, char *err, size_t errsz)
{
	*temporary = 0;
	if (!opts->url)
		return errf(err, errsz, "SMTP: no server URL");
	int implicit = strncasecmp(opts->url, "smtps://", 8) == 0;
	if (!implicit && strncasecmp(opts->url, "smtp://", 7) != 0)
		return errf(err, errsz, "SMTP: the URL must start with smtp:// or smtps://");
	if (implicit != (opts->tls == SMTP_TLS_IMPLICIT))
		return errf(err, errsz, "SMTP: %s goes with %s", implicit ? "smtps://" : "smtp://",
			    implicit ? "implicit TLS" : "STARTTLS or no TLS");
	if (!address_ok(opts->from))
		return errf(err, errsz, "SMTP: invalid sender address");
	if (n == 0)
		return errf(err, errsz, "SMTP: no recipient");
	if (!data && len)
		return errf(err, errsz, "SMTP: no message");

	struct curl_slist *list = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!address_ok(rcpts[i])) {
			curl_slist_free_all(list);
			return errf(err, errsz, "SMTP: recipient %zu of %zu: invalid address", i + 1, n);
		}
		struct curl_slist *l = curl_slist_append(list, rcpts[i]);
		if (!l) {
			curl_slist_free_all(list);
			*temporary = 1;
			return errf(err, errsz, "SMTP: out of memory");
		}
		list = l;
	}
	CURL *h = curl_easy_init();
	if (!h) {
		curl_slist_free_all(list);
		*temporary = 1;
		return errf(err, errsz, "SMTP: cannot start libcurl");
	}
	char cerr[CURL_ERROR_SIZE] = "";
	struct upload up = { data ? data : "", len, 0, 0 };
	struct trace tr = { ST_CONNECT, 0, 0, 0, "" };
	int ret = -1;
	if (set_options(h, opts, list, &up, &tr, cerr, err, errsz) < 0)
		goto out;
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		ret = 0;
		goto out;
	}
	long code = 0;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code == 0)
		code = tr.code;
	char tmp[64];
	const char *stage = stage_name(&tr, n, tmp, sizeof tmp);
	if (code >= 400 && code < 600) {
		*temporary = code < 500;
		errf(err, errsz, "SMTP server refused %s: %ld %s", stage, code,
		     code == tr.code ? tr.text : "");
	} else {
		*temporary = curl_temporary(rc);
		errf(err, errsz, "SMTP error during %s: %s", stage, *cerr ? cerr : curl_easy_strerror(rc));
	}
out:
	curl_easy_cleanup(h);
	curl_slist_free_all(list);
	return ret;
}

int smtp_global_init(char *err, size_t errsz)
{
	if (curl_dl_open(err, errsz) < 0)
		return -1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return errf(err, errsz, "cannot initialise libcurl");
	return 0;
}

void smtp_global_cleanup(void)
{
	curl_global_cleanup();
}
